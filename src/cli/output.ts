// Rendering results for people (aligned tables) and for programs (--json), the same data for both.
import Table from 'cli-table3';
import type { Context, Output } from './context.js';

export function printJson(ctx: Context, data: unknown): void {
  ctx.stdout.write(JSON.stringify(data, null, 2) + '\n');
}

/** A borderless table like `docker ps`: upper-case headers, columns separated by spaces. */
export function renderTable(headers: string[], rows: (string | number)[][]): string {
  const t = new Table({
    head: headers.map((h) => h.toUpperCase()),
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '   ' },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  for (const r of rows) t.push(r.map(String));
  return t.toString().split('\n').map((l) => l.trimEnd()).join('\n') + '\n';
}

export function printTable(out: Output, headers: string[], rows: (string | number)[][]): void {
  out.write(renderTable(headers, rows));
}

export function relativeTime(from: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  const ago = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  if (s < 60) return ago(s, 'second');
  if (s < 3600) return ago(Math.round(s / 60), 'minute');
  if (s < 86400) return ago(Math.round(s / 3600), 'hour');
  return ago(Math.round(s / 86400), 'day');
}
