// Aligned tables like `docker ps` for people; a module of its own so that commands printing no
// table (niso run) do not load cli-table3 at start-up.
import Table from 'cli-table3';
import type { Output } from './context.js';
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

export function printTable(out: Output, headers: string[], rows: (string | number)[][]): void {
  out.write(renderTable(headers, rows));
}

