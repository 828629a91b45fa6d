// Turns diagnostics into the lines a user reads (`error NISO1203: file:12:9: ...` + hint) or JSON.
import type { Diagnostic } from './niso-error.js';

export function formatLocation(d: Pick<Diagnostic, 'file' | 'line' | 'column'>): string {
  if (!d.file) return '';
  if (d.line === undefined) return `${d.file}: `;
  return `${d.file}:${d.line}${d.column === undefined ? '' : `:${d.column}`}: `;
}

/**
 * Text for a terminal: control characters (C0, DEL, C1) and bidirectional overrides written as
 * escapes, so that text from a package (a description, a file name, a value in an error) cannot
 * move the cursor, retitle the window or reorder what is shown. A line break too: one value stays
 * on its line. JSON output needs none of this; JSON.stringify escapes controls itself.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    const n = c.charCodeAt(0);
    return named[c] ?? (n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`);
  });
}

/** Lines of text, each made printable (a message may span lines on purpose). */
const printableLines = (text: string) => text.split('\n').map(printable).join('\n');

export function formatDiagnostic(d: Diagnostic, severity = 'error'): string {
  // An error about a whole file often names it in its own words ("X is damaged"): the place is not said twice.
  const place = d.file !== undefined && d.line === undefined && d.message.includes(d.file) ? '' : formatLocation(d);
  const lines = [`${severity} ${d.code}: ${printableLines(place + d.message)}`];
  if (d.hint) lines.push(`  hint: ${printableLines(d.hint)}`);
  return lines.join('\n');
}

export function formatDiagnostics(ds: Diagnostic[]): string {
  return ds.map((d) => formatDiagnostic(d)).join('\n');
}

/** Stable JSON shape for `--json` consumers: never includes stacks or internal objects. */
export function diagnosticToJson(d: Diagnostic): Record<string, unknown> {
  const out: Record<string, unknown> = { code: d.code, message: d.message };
  for (const k of ['file', 'line', 'column', 'field', 'hint'] as const) if (d[k] !== undefined) out[k] = d[k];
  return out;
}
