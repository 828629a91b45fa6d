// Summaries of repeated timings (median, min, max) and the number formats the report uses.

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function summarize(samples: number[]): Summary {
  if (samples.length === 0) throw new Error('no samples to summarize');
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { n: s.length, median, min: s[0]!, max: s[s.length - 1]!, samples };
}

/** Milliseconds with a precision that suits their size. */
export function fmtMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function fmtSummary(s: Summary): string {
  return `**${fmtMs(s.median)}** (${fmtMs(s.min)}–${fmtMs(s.max)}, n=${s.n})`;
}

export function fmtBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** niso/peer as "3.21×". */
export function fmtRatio(a: number, b: number): string {
  if (b === 0) return 'n/a';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** a as a percentage of b, with enough digits to show tiny shares ("0.00041%"). */
export function fmtPct(a: number, b: number): string {
  if (b === 0) return 'n/a';
  const r = (a / b) * 100;
  return `${r >= 1 || r === 0 ? r.toFixed(1) : r.toPrecision(2)}%`;
}

/** Markdown table; pipes are escaped and newlines flattened so every row stays one line. */
export function mdTable(head: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
  const line = (cells: string[]) => `| ${cells.map(esc).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}
