// A corpus of hostile and broken packages: each must be refused with its own error code and
// leave nothing behind in the store (no object, no pooled content, no work dir).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Pax } from 'tar';
import { installPackage } from '../../src/store/install.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/package/read-package.js';
import { isNisoError } from '../../src/errors/niso-error.js';
import { serializeIndex } from '../../src/package/format/package-index.js';
import { tempDir } from '../helpers/tmp.js';
import { appEntries, craftPackage, indexFor, manifestText, sha, tarBytes, zstd, type RawEntry } from '../helpers/craft.js';
import { layout } from '../../src/store/layout.js';

const FILES = { 'server.js': 'console.log("hi")\n', 'lib/a.js': 'module.exports = 1\n' };
const DIRS: RawEntry[] = [{ name: 'app/lib/', type: 'directory', mode: 0o755 }];
const withDirs = () => indexFor(FILES, { extra: [{ path: 'lib', type: 'dir' }] });

/** A package whose manifest (recorded in its index, so that only the manifest is wrong) is `m`. */
const withManifest = (f: string, m: string | Buffer) => craftPackage(f, indexFor(FILES, { manifest: m, extra: [{ path: 'lib', type: 'dir' }] }), [...DIRS, ...appEntries(FILES)], { manifest: m });

interface Case { name: string; code: string; detail?: RegExp; limits?: Partial<Limits>; build(file: string): Promise<void> }

/** The tar of the well-formed control package, to wrap in other framings. */
const controlTar = () => tarBytes([{ name: 'niso/index.json', data: serializeIndex(withDirs()) }, { name: 'niso/manifest.toml', data: manifestText() }, ...DIRS, ...appEntries(FILES)]);
/** A zstd skippable frame (magic 0x184D2A50, length, payload): zstd skips it without a word. */
const skippableFrame = (payload: Buffer) => Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18]), Buffer.from(new Uint32Array([payload.length]).buffer), payload]);

const cases: Case[] = [
  { name: 'path traversal with ..', code: 'NISO2102', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES), { name: 'app/../../etc/cron.d/evil', data: 'x' }]) },
  { name: 'absolute path', code: 'NISO2102', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES), { name: '/etc/passwd', data: 'root::0:0::/:/bin/sh\n' }]) },
  { name: 'entry outside app/', code: 'NISO2102', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES), { name: 'niso/extra', data: 'x' }]) },
  { name: 'traversal hidden in the index', code: 'NISO2102', build: (f) => craftPackage(f, indexFor({ ...FILES, '../x': 'x' }), appEntries(FILES)) },
  { name: 'absolute symlink', code: 'NISO2103', build: (f) => craftPackage(f, indexFor(FILES, { extra: [{ path: 'shadow', type: 'symlink', target: '/etc/shadow' }] }), [...appEntries(FILES), { name: 'app/shadow', type: 'symlink', linkname: '/etc/shadow' }]) },
  { name: 'symlink climbing out', code: 'NISO2103', build: (f) => craftPackage(f, indexFor(FILES, { extra: [{ path: 'up', type: 'symlink', target: '../../..' }] }), [...appEntries(FILES), { name: 'app/up', type: 'symlink', linkname: '../../..' }]) },
  { name: 'symlink escaping through another symlink', code: 'NISO2103', build: (f) => craftPackage(f, indexFor(FILES, { extra: [{ path: 'b', type: 'symlink', target: '.' }, { path: 's', type: 'symlink', target: 'b/..' }] }), [...appEntries(FILES), { name: 'app/b', type: 'symlink', linkname: '.' }, { name: 'app/s', type: 'symlink', linkname: 'b/..' }]) },
  { name: 'file below a symlink', code: 'NISO2103', build: (f) => craftPackage(f, indexFor({ ...FILES, 'd/x': 'x' }, { extra: [{ path: 'd', type: 'symlink', target: 'lib' }] }), [...appEntries(FILES), { name: 'app/d', type: 'symlink', linkname: 'lib' }, { name: 'app/d/x', data: 'x' }]) },
  { name: 'symlink in the archive but not in the index', code: 'NISO2103', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES), { name: 'app/etc', type: 'symlink', linkname: '/etc' }]) },
  { name: 'hard link', code: 'NISO2103', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES), { name: 'app/pw', type: 'link', linkname: '/etc/passwd' }]) },
  { name: 'character device', code: 'NISO2104', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES), { name: 'app/mem', type: 'character-device' }]) },
  { name: 'block device', code: 'NISO2104', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES), { name: 'app/sda', type: 'block-device' }]) },
  { name: 'fifo', code: 'NISO2104', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES), { name: 'app/pipe', type: 'fifo' }]) },
  { name: 'setuid file', code: 'NISO2105', build: (f) => craftPackage(f, withDirs(), [...DIRS, { name: 'app/lib/a.js', data: FILES['lib/a.js'], mode: 0o4755 }, { name: 'app/server.js', data: FILES['server.js'] }]) },
  { name: 'setgid directory', code: 'NISO2105', build: (f) => craftPackage(f, withDirs(), [{ name: 'app/lib/', type: 'directory', mode: 0o2755 }, ...appEntries(FILES)]) },
  { name: 'duplicate entry', code: 'NISO2106', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES), { name: 'app/server.js', data: 'evil()\n' }]) },
  { name: 'duplicate entry in the index', code: 'NISO2106', build: async (f) => { const i = withDirs(); i.entries.push({ ...i.entries[0]! }); await craftPackage(f, i, appEntries(FILES), { indexText: serializeIndex(i) }); } },
  { name: 'content does not match its hash', code: 'NISO2107', build: (f) => craftPackage(f, withDirs(), [...DIRS, { name: 'app/server.js', data: 'console.log("HI")\n' }, { name: 'app/lib/a.js', data: FILES['lib/a.js'] }]) },
  { name: 'size differs from the index', code: 'NISO2107', build: (f) => craftPackage(f, withDirs(), [...DIRS, { name: 'app/server.js', data: 'console.log("hi!!")\n' }, { name: 'app/lib/a.js', data: FILES['lib/a.js'] }]) },
  { name: 'file missing from the index', code: 'NISO2107', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES), { name: 'app/extra.js', data: 'x' }]) },
  { name: 'file in the index missing from the archive', code: 'NISO2107', build: (f) => craftPackage(f, withDirs(), [...DIRS, { name: 'app/server.js', data: FILES['server.js'] }]) },
  { name: 'mode differs from the index', code: 'NISO2107', build: (f) => craftPackage(f, withDirs(), [...DIRS, { name: 'app/server.js', data: FILES['server.js'], mode: 0o755 }, { name: 'app/lib/a.js', data: FILES['lib/a.js'] }]) },
  { name: 'manifest does not match its hash', code: 'NISO2107', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES)], { manifest: manifestText() + '\n[env]\nEVIL = "1"\n' }) },
  { name: 'index and manifest disagree on the name', code: 'NISO2107', build: async (f) => { const m = manifestText('other'); await craftPackage(f, indexFor(FILES, { manifest: m, extra: [{ path: 'lib', type: 'dir' }] }), [...DIRS, ...appEntries(FILES)], { manifest: m }); } },
  { name: 'manifest that does not validate', code: 'NISO2111', build: (f) => withManifest(f, '[package]\nname = "evil"\nversion = "1.0.0"\nentrypoint = 3\n') },
  { name: 'manifest bomb: a dotted key of 100,000 parts', code: 'NISO2111', detail: /NISO1406: .*:14:32: a dotted key or table name has more than 16 parts/, build: (f) => withManifest(f, `${manifestText()}\n[env]\n${Array(100_000).fill('a').join('.')} = "1"\n`) },
  { name: 'manifest bomb: a string of 150,000 characters', code: 'NISO2111', detail: /NISO1406: .*:14:5: a string of 150,002 characters/, build: (f) => withManifest(f, `${manifestText()}\n[env]\nA = "${'x'.repeat(150_000)}"\n`) },
  { name: 'manifest that is not UTF-8', code: 'NISO2111', detail: /NISO1407: .*:14:9: .*byte 0xe9/, build: (f) => withManifest(f, Buffer.concat([Buffer.from(manifestText()), Buffer.from('\n[env]\nA = "caf\xe9"\n', 'latin1')])) },
  { name: 'index is not JSON', code: 'NISO2110', build: (f) => craftPackage(f, withDirs(), appEntries(FILES), { indexText: '{"format": 1,' }) },
  { name: 'index totals lie', code: 'NISO2110', build: async (f) => { const i = withDirs(); i.totals.bytes = 1; await craftPackage(f, i, [...DIRS, ...appEntries(FILES)]); } },
  { name: 'manifest before the index', code: 'NISO2110', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES)], { head: [{ name: 'niso/manifest.toml', data: manifestText() }, { name: 'niso/index.json', data: serializeIndex(withDirs()) }] }) },
  { name: 'newer package format', code: 'NISO2112', build: (f) => craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES)], { indexText: serializeIndex({ ...withDirs(), format: 99 }) }) },
  { name: 'wrong architecture', code: 'NISO2113', build: async (f) => {
    const m = manifestText('evil', '1.0.0', 'aarch64').replace('arch = "aarch64"\n', '');
    const i = indexFor(FILES, { arch: process.arch === 'arm64' ? 'x86_64' : 'aarch64', manifest: m, extra: [{ path: 'lib', type: 'dir' }] });
    await craftPackage(f, i, [...DIRS, ...appEntries(FILES)], { manifest: m });
  } },
  { name: 'truncated package file', code: 'NISO2108', build: async (f) => { await craftPackage(f, withDirs(), [...DIRS, ...appEntries(FILES)]); const b = await readFile(f); await writeFile(f, b.subarray(0, Math.floor(b.length * 0.6))); } },
  { name: 'truncated file inside the archive', code: 'NISO2108', build: async (f) => {
    const big = 'x'.repeat(4000);
    const i = indexFor({ 'big.txt': big });
    const tar = await tarBytes([{ name: 'niso/index.json', data: serializeIndex(i) }, { name: 'niso/manifest.toml', data: manifestText() }, { name: 'app/big.txt', data: big }]);
    // Cut inside big.txt's data: a valid zstd frame of an incomplete tar.
    await writeFile(f, zstd(tar.subarray(0, 512 * 3 + 1024 + 1500)));
  } },
  { name: 'not zstd at all', code: 'NISO2101', build: (f) => writeFile(f, 'this is not a package\n'.repeat(10)) },
  { name: 'zstd but not a tar', code: 'NISO2101', build: (f) => writeFile(f, zstd(Buffer.from('hello world, not a tar archive'.repeat(40)))) },
  { name: 'decompression bomb (declared size over the limit)', code: 'NISO2109', limits: { maxBytes: 1024 * 1024 }, build: async (f) => {
    const zeros = Buffer.alloc(8 * 1024 * 1024);
    const i = indexFor({}, { extra: [{ path: 'zeros', type: 'file', mode: 0o644, size: zeros.length, sha256: sha(zeros) }] });
    i.totals = { files: 1, bytes: zeros.length };
    await craftPackage(f, i, [{ name: 'app/zeros', data: zeros }]);
  } },
  // 64 MiB of zeros after the end: refused at the first chunk past a tar record, not decompressed to the end.
  { name: 'zeros after the end of the archive (64 MiB)', code: 'NISO2114', build: async (f) => writeFile(f, zstd(Buffer.concat([await controlTar(), Buffer.alloc(64 * 1024 * 1024)]))) },
  { name: 'zeros one byte past the tar record padding', code: 'NISO2114', build: async (f) => { const t = await controlTar(); await writeFile(f, zstd(Buffer.concat([t, Buffer.alloc(10240 - (t.length % 10240) + 1)]))); } },
  { name: 'data after the end of the archive', code: 'NISO2114', build: async (f) => writeFile(f, zstd(Buffer.concat([await controlTar(), Buffer.from('#!/bin/sh\nevil\n')]))) },
  { name: 'two packages concatenated', code: 'NISO2114', build: async (f) => {
    await craftPackage(`${f}.1`, withDirs(), [...DIRS, ...appEntries(FILES)]);
    const other = { 'server.js': 'evil()\n' };
    await craftPackage(`${f}.2`, indexFor(other), appEntries(other));
    await writeFile(f, Buffer.concat([await readFile(`${f}.1`), await readFile(`${f}.2`)]));
  } },
  { name: 'gzip-compressed tar', code: 'NISO2101', build: async (f) => writeFile(f, gzipSync(await controlTar())) },
  { name: 'gzip data after the zstd frames', code: 'NISO2114', build: async (f) => writeFile(f, Buffer.concat([zstd(await controlTar()), gzipSync(Buffer.from('more'))])) },
  { name: 'zstd skippable frame between the frames', code: 'NISO2114', build: async (f) => {
    const t = await controlTar();
    await writeFile(f, Buffer.concat([zstd(t.subarray(0, 1024)), skippableFrame(Buffer.from('hidden')), zstd(t.subarray(1024))]));
  } },
  { name: 'junk after the last zstd frame', code: 'NISO2114', build: async (f) => writeFile(f, Buffer.concat([zstd(await controlTar()), Buffer.from('junk after the frames')])) },
  { name: 'base-256 size of 2^62', code: 'NISO2101', build: async (f) => {
    const tar = await tarBytes([{ name: 'niso/index.json', data: serializeIndex(withDirs()) }, { name: 'niso/manifest.toml', data: manifestText() }, ...DIRS, { name: 'app/lib/a.js', data: FILES['lib/a.js'], base256Size: 2n ** 62n }]);
    await writeFile(f, zstd(tar));
  } },
  { name: 'path longer than a package holds (3,263 bytes)', code: 'NISO2102', build: async (f) => { const files = { [Array(13).fill('d'.repeat(250)).join('/')]: 'x' }; await craftPackage(f, indexFor(files), appEntries(files)); } },
  { name: 'pax headers in a row (a bomb that no limit counts)', code: 'NISO2101', build: async (f) => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
    const files = { [long]: 'x' };
    const tar = await tarBytes([{ name: 'niso/index.json', data: serializeIndex(indexFor(files)) }, { name: 'niso/manifest.toml', data: manifestText() }, ...appEntries(files)]);
    const pax = new Pax({ path: `app/${long}` }).encode();
    const at = tar.indexOf(pax);
    assert.ok(at > 0);
    await writeFile(f, zstd(Buffer.concat([tar.subarray(0, at), ...Array<Buffer>(1000).fill(pax), tar.subarray(at)])));
  } },
  { name: 'a file below a file (f and f/g)', code: 'NISO2110', build: async (f) => { const files = { f: 'x', 'f/g': 'y' }; await craftPackage(f, indexFor(files), appEntries(files)); } },
  // The structure check walks up from each entry only to its nearest listed directory: these hide the bad parent
  // behind a listed directory, an unlisted one, or an index out of order.
  { name: 'file below a symlink inside a listed directory (lib/s -> ., lib/s/x)', code: 'NISO2103', build: (f) => craftPackage(f, indexFor({ ...FILES, 'lib/s/x': 'x' }, { extra: [{ path: 'lib', type: 'dir' }, { path: 'lib/s', type: 'symlink', target: '.' }] }), [...DIRS, ...appEntries(FILES)]) },
  { name: 'file two levels below a symlink, the directory between not listed', code: 'NISO2103', build: (f) => craftPackage(f, indexFor({ ...FILES, 'd/e/x': 'x' }, { extra: [{ path: 'lib', type: 'dir' }, { path: 'd', type: 'symlink', target: 'lib' }] }), [...DIRS, ...appEntries(FILES)]) },
  { name: 'file below a symlink that the index lists after it', code: 'NISO2103', build: async (f) => {
    const i = indexFor({ ...FILES, 'd/x': 'x' }, { extra: [{ path: 'lib', type: 'dir' }, { path: 'd', type: 'symlink', target: 'lib' }] });
    await craftPackage(f, i, [...DIRS, ...appEntries(FILES)], { indexText: JSON.stringify(i) });
  } },
  { name: '"." component in the index', code: 'NISO2102', build: (f) => craftPackage(f, indexFor({ ...FILES, 'lib/./b.js': 'x' }), appEntries(FILES)) },
  { name: 'empty component in the index (lib//b.js)', code: 'NISO2102', build: (f) => craftPackage(f, indexFor({ ...FILES, 'lib//b.js': 'x' }), appEntries(FILES)) },
  { name: 'trailing slash in the index (lib/b/)', code: 'NISO2102', build: (f) => craftPackage(f, indexFor({ ...FILES, 'lib/b/': 'x' }), appEntries(FILES)) },
  { name: 'a component of 256 bytes in 128 characters', code: 'NISO2102', detail: /component longer than 255 bytes/, build: (f) => craftPackage(f, indexFor({ ...FILES, [`lib/${'é'.repeat(128)}`]: 'x' }), appEntries(FILES)) },
  { name: 'too many files', code: 'NISO2109', limits: { maxFiles: 50 }, build: async (f) => {
    const files = Object.fromEntries(Array.from({ length: 60 }, (_, n) => [`f${n}`, `${n}`]));
    await craftPackage(f, indexFor(files), appEntries(files));
  } },
];

for (const c of cases) {
  test(`refuses: ${c.name}`, async () => {
    const dir = tempDir();
    const root = join(dir, 'root');
    const file = join(dir, 'evil.niso');
    await c.build(file);
    await assert.rejects(installPackage(root, file, { ...DEFAULT_LIMITS, ...c.limits }), (e: unknown) => {
      assert.ok(isNisoError(e), `expected a NisoError, got ${String(e)}`);
      assert.equal(e.code, c.code, `wrong code; message: ${e.message}`);
      assert.ok(e.message.includes(file), 'the message names the package file');
      if (c.detail) assert.match(e.message, c.detail);
      return true;
    });
    const l = layout(root);
    assert.deepEqual(await readdir(l.store), [], 'no store object is left');
    assert.deepEqual(await readdir(l.tmp), [], 'no work dir is left');
    for (const sub of await readdir(l.content)) assert.deepEqual(await readdir(join(l.content, sub)), [], 'no pooled content is left');
  });
}

test('zero padding up to a whole tar record after the archive is accepted (what tar writers add)', async () => {
  const dir = tempDir();
  const file = join(dir, 'padded.niso');
  const t = await controlTar();
  await writeFile(file, zstd(Buffer.concat([t, Buffer.alloc(10240 - (t.length % 10240))])));
  const r = await installPackage(join(dir, 'root'), file, DEFAULT_LIMITS);
  assert.equal(await readFile(join(r.path, 'app/server.js'), 'utf8'), FILES['server.js']);
});

test('the well-formed control package of this corpus installs', async () => {
  const dir = tempDir();
  const file = join(dir, 'ok.niso');
  await craftPackage(file, withDirs(), [...DIRS, ...appEntries(FILES)]);
  const r = await installPackage(join(dir, 'root'), file, DEFAULT_LIMITS);
  assert.equal(r.files, 2);
  assert.equal(await readFile(join(r.path, 'app/server.js'), 'utf8'), FILES['server.js']);
});
