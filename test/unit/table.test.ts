// niso draws all-ASCII tables itself (issue 17: cli-table3 cost read commands ~15 ms) and must draw them exactly as
// cli-table3 does, which still draws every table with other text: the two side by side on many tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asciiTable, printTable } from '../../src/cli/table.js';
import { renderTable } from '../../src/cli/table-wide.js';

/** A deterministic generator (mulberry32), so that a failure is reproducible. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('an all-ASCII table is drawn as cli-table3 draws it: widths, padding, empty cells, spaces, numbers, no rows', () => {
  const rnd = random(17);
  const int = (n: number) => Math.floor(rnd() * n);
  const text = () => {
    const alphabet = ' abcdefghijklmnopqrstuvwxyzABC0123456789-_.:/@,()[]{}*#%&+=<>?!"\'`~^|\\$';
    return Array.from({ length: int(4) === 0 ? 0 : int(14) }, () => alphabet[int(alphabet.length)]).join('');
  };
  for (let i = 0; i < 400; i++) {
    const cols = 1 + int(8);
    const headers = Array.from({ length: cols }, () => text() || 'h');
    const rows = Array.from({ length: int(6) }, () => Array.from({ length: cols }, () => (int(5) === 0 ? int(100000) : text())));
    assert.equal(asciiTable(headers, rows), renderTable(headers, rows), JSON.stringify({ headers, rows }));
  }
  assert.equal(asciiTable(['name', 'state'], [['web', 'active'], ['db', '']]), 'NAME   STATE\nweb    active\ndb\n');
});

test('a table with other text goes to cli-table3, which knows the widths of wide characters and emoji', async () => {
  const rows = [['日本語', 'x'], ['a', '🙂']];
  assert.equal(asciiTable(['name', 'v'], rows), null);
  let out = '';
  await printTable({ write: (s: string) => { out += s; } }, ['name', 'v'], rows);
  assert.equal(out, renderTable(['name', 'v'], rows));
  assert.equal(out, 'NAME     V\n日本語   x\na        🙂\n');
  // Control characters are escaped before widths are taken, on either path.
  assert.equal(asciiTable(['name'], [['a\x1b[31mb']]), renderTable(['name'], [['a\x1b[31mb']]));
});
