// Aligned tables like `docker ps` for people; a module of its own so that commands printing no
// table (niso run) do not load it at start-up.
import type { Output } from './context.js';
import { printable } from '../errors/render.js';

/** Printable ASCII: one column per character, so a width is a length. */
const ASCII = /^[\x20-\x7e]*$/;

/**
 * The table as cli-table3 draws it (table-wide.ts: no borders, no padding, three spaces between columns, upper-case
 * headers, lines trimmed), for cells of printable ASCII, which is all that `status` and `list` print: cli-table3 and
 * its width tables (string-width, emoji, East Asian widths, colours) took ~15 ms of CPU of a read command's work
 * (issue 17). test/unit/table.test.ts holds the two to the same output. null when a cell is not printable ASCII.
 */
export function asciiTable(headers: string[], rows: (string | number)[][]): string | null {
  const head = headers.map((h) => h.toUpperCase());
  // Cells may hold a package's text (file names, descriptions): never raw control characters.
  const cells = rows.map((r) => r.map((c) => printable(String(c))));
  if (head.length === 0 || !head.every((h) => ASCII.test(h)) || !cells.every((r) => r.every((c) => ASCII.test(c)))) return null;
  const n = Math.max(head.length, ...cells.map((r) => r.length));
  const width = Array.from({ length: n }, (_, i) => Math.max(head[i]?.length ?? 0, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) => Array.from({ length: n }, (_, i) => (r[i] ?? '').padEnd(width[i]!)).join('   ').trimEnd();
  return [head, ...cells].map(line).join('\n') + '\n';
}

export async function printTable(out: Output, headers: string[], rows: (string | number)[][]): Promise<void> {
  out.write(asciiTable(headers, rows) ?? (await import('./table-wide.js')).renderTable(headers, rows));
}
