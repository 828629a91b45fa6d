// Aligned tables of any text (wide characters, emoji) through cli-table3, which knows their widths; table.ts draws the
// common all-ASCII case itself and comes here for the rest, and so do the few callers that need a string at once.
import Table from 'cli-table3';
import { printable } from '../errors/render.js';

export function renderTable(headers: string[], rows: (string | number)[][]): string {
  const t = new Table({
    head: headers.map((h) => h.toUpperCase()),
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '   ' },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  // Cells may hold a package's text (file names, descriptions): never raw control characters.
  for (const r of rows) t.push(r.map((c) => printable(String(c))));
  return t.toString().split('\n').map((l) => l.trimEnd()).join('\n') + '\n';
}
