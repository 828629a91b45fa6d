// The package tar layer (src/package/tar-codec.ts): what TarWriter writes, TarReader reads back name for name, also
// where a name needs a pax header (node-tar's own decode would put the ustar prefix in front of the pax path and read
// the link target from the truncated ustar field), and GNU tar agrees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { TarReader, TarWriter, type TarHeader } from '../../src/package/tar-codec.js';

function roundTrip(entries: TarHeader[]): { path: string; typeName: string; linkpath: string }[] {
  const chunks: Buffer[] = [];
  const w = new TarWriter((c) => chunks.push(Buffer.from(c)));
  for (const e of entries) w.add(e, e.type === 'file' ? Buffer.from('x') : undefined);
  w.finish(true);
  const r = new TarReader();
  const out: { path: string; typeName: string; linkpath: string }[] = [];
  for (const ev of r.feed(Buffer.concat(chunks))) if (ev.kind === 'entry') out.push({ path: ev.header.path, typeName: ev.header.typeName, linkpath: ev.header.linkpath });
  assert.equal(r.complete, true);
  const gnu = spawnSync('tar', ['-tvf', '-'], { input: Buffer.concat(chunks), encoding: 'utf8' });
  assert.equal(gnu.status, 0, gnu.stderr);
  for (const e of entries) assert.ok(gnu.stdout.includes(e.path), `GNU tar lists ${e.path}`);
  return out;
}

const mtime = new Date('2024-01-01T00:00:00Z');

test('names that need a pax header (past ustar\'s prefix split, or a long basename) read back whole', () => {
  const dir = `app/${'l'.repeat(120)}/${'m'.repeat(120)}`;
  const longBase = `app/${'b'.repeat(140)}.js`;
  const unicode = `app/${'é'.repeat(70)}/${'ü'.repeat(70)}.txt`;
  const entries: TarHeader[] = [
    { path: `${dir}/`, type: 'directory', mode: 0o755, mtime },
    { path: `${dir}/deep.txt`, type: 'file', mode: 0o644, mtime },
    { path: longBase, type: 'file', mode: 0o644, mtime },
    { path: unicode, type: 'file', mode: 0o644, mtime },
  ];
  assert.deepEqual(roundTrip(entries).map((e) => e.path), entries.map((e) => e.path));
});

test('a symlink target longer than ustar\'s 100 bytes reads back whole from its pax header', () => {
  const target = `../${'t'.repeat(150)}/file`;
  const [e] = roundTrip([{ path: 'app/link', type: 'symlink', mode: 0o777, linkpath: target, mtime }]);
  assert.deepEqual(e, { path: 'app/link', typeName: 'SymbolicLink', linkpath: target });
});
