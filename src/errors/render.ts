// Turns diagnostics into the lines a user reads (`error NISO1203: file:12:9: ...` + hint) or JSON.
import type { Diagnostic } from './niso-error.js';

export function formatLocation(d: Pick<Diagnostic, 'file' | 'line' | 'column'>): string {
  if (!d.file) return '';
  if (d.line === undefined) return `${d.file}: `;
  return `${d.file}:${d.line}${d.column === undefined ? '' : `:${d.column}`}: `;
}

export function formatDiagnostic(d: Diagnostic, severity = 'error'): string {
  const lines = [`${severity} ${d.code}: ${formatLocation(d)}${d.message}`];
  if (d.hint) lines.push(`  hint: ${d.hint}`);
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
