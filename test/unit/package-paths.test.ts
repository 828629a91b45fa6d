// unsafePathReason decides most paths with one regex test; this pins that the shortcut gives the exact rules' answer
// at every boundary it relies on (total length, component length in bytes, empty, "." and ".." components).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PATH_BYTES, unsafePathReason } from '../../src/package/format/package-index.js';

/** The rules written out one by one, as the shortcut must reproduce them. */
function rules(path: string): string | null {
  if (path === '') return 'is empty';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (path.startsWith('/')) return 'is absolute';
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
  const segs = path.split('/');
  if (segs.includes('..')) return 'contains ".."';
  if (segs.some((s) => s === '' || s === '.')) return 'is not normalised (empty or "." component)';
  if (segs.some((s) => Buffer.byteLength(s) > 255)) return 'has a component longer than 255 bytes';
  return null;
}

const CASES = [
  '', 'a', 'a/b', '/a', 'a/', 'a//b', '.', '..', './a', 'a/.', 'a/./b', 'a/../b', '../a', 'a/..', '.a', 'a.', '...', 'a/.../b',
  '..a', 'a/..b', '.a/b.', 'a\0b', 'x'.repeat(85), 'x'.repeat(86), 'x'.repeat(255), 'x'.repeat(256), 'é'.repeat(127), 'é'.repeat(128),
  '€'.repeat(85), '€'.repeat(86), `a/${'😀'.repeat(63)}`, `a/${'😀'.repeat(64)}`, 'a'.repeat(1024), 'a/'.repeat(512), `${'a/'.repeat(511)}a`,
  'ab/'.repeat(1024), `${'abcd/'.repeat(614)}ab`, `${'abcd/'.repeat(614)}abc`, ('€'.repeat(80) + '/').repeat(12) + 'x', 'é'.repeat(1536), 'é'.repeat(1537),
];

test('unsafePathReason gives the exact rules\' answer at their boundaries', () => {
  for (const p of CASES) assert.equal(unsafePathReason(p), rules(p), JSON.stringify(p.length > 40 ? `${p.slice(0, 40)}… (${p.length})` : p));
});

test('unsafePathReason agrees with the rules on random paths built from the characters that matter', () => {
  const parts = ['a', 'é', '€', '😀', '.', '..', '/', '//', '\0', 'x'.repeat(84), 'y'.repeat(86), '€'.repeat(86), 'z'.repeat(300), 'w/'.repeat(400)];
  let seed = 17;
  const next = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let i = 0; i < 20_000; i++) {
    let p = '';
    for (let n = next() % 9; n > 0; n--) p += parts[next() % parts.length];
    assert.equal(unsafePathReason(p), rules(p), JSON.stringify(p.slice(0, 60)));
  }
});
