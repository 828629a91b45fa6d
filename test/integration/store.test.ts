// The store as a user sees it: install, dedupe across versions, list, remove, gc, and what
// a crash or a concurrent install leaves behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packApp } from '../../src/package/pack.js';
import { installPackage } from '../../src/store/install.js';
import { DEFAULT_LIMITS } from '../../src/package/read-package.js';
import { listInstalled, readInstalledIndex, resolveOne } from '../../src/store/query.js';
import { collectGarbage, removePackages } from '../../src/store/remove.js';
import { contentCopies, contentPath, layout } from '../../src/store/layout.js';
import { isNisoError } from '../../src/errors/niso-error.js';
import { NODE_MANIFEST, tempDir, writeTree } from '../helpers/tmp.js';
import { appEntries, craftPackage, indexFor, sha } from '../helpers/craft.js';

const BIN = join(import.meta.dirname, '../../bin/niso');

async function makeVersion(dir: string, version: string, serverText: string, extra: Record<string, string> = {}): Promise<string> {
  const app = join(dir, `app-${version}`);
  await writeTree(app, {
    'manifest.toml': NODE_MANIFEST('web', version),
    'server.js': serverText,
    'node_modules/big/data.bin': 'x'.repeat(200_000),
    'node_modules/big/index.js': 'module.exports = require("./data.bin")\n',
    ...extra,
  });
  return (await packApp({ appDir: app, cwd: dir, output: join(dir, `web-${version}.niso`) })).file;
}

async function poolCount(root: string): Promise<number> {
  const l = layout(root);
  let n = 0;
  for (const sub of await readdir(l.content)) n += (await readdir(join(l.content, sub))).length;
  return n;
}

/** Every file of a store object matches the index: complete and unmodified. */
async function verifyObject(path: string): Promise<void> {
  const { index } = await readInstalledIndex({ path } as Parameters<typeof readInstalledIndex>[0]);
  for (const e of index.entries) {
    const p = join(path, 'app', e.path);
    const st = await lstat(p);
    if (e.type === 'file') {
      assert.equal(createHash('sha256').update(await readFile(p)).digest('hex'), e.sha256, e.path);
      assert.equal(st.mode & 0o777, e.mode & 0o111 ? 0o555 : 0o444, `${e.path} is read-only`);
    } else if (e.type === 'dir') assert.ok(st.isDirectory());
    else assert.ok(st.isSymbolicLink());
  }
}

test('install places a read-only, verified object; the same package twice is a no-op', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const file = await makeVersion(dir, '1.0.0', 'v1');
  const r = await installPackage(root, file, DEFAULT_LIMITS);
  assert.equal(r.alreadyInstalled, false);
  assert.equal(r.path, join(root, 'var/lib/niso/store', `${r.digest.slice(7)}-web-1.0.0`));
  await verifyObject(r.path);
  assert.equal((await stat(join(r.path, 'app'))).mode & 0o777, 0o555);
  const again = await installPackage(root, file, DEFAULT_LIMITS);
  assert.equal(again.alreadyInstalled, true);
  assert.equal(again.newBytes, 0);
  assert.equal((await listInstalled(root)).length, 1);
});

test('a new version costs only its changed files; remove and gc free exactly the unshared content', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const v1 = await installPackage(root, await makeVersion(dir, '1.0.0', 'console.log(1)\n'), DEFAULT_LIMITS);
  const v2 = await installPackage(root, await makeVersion(dir, '1.0.1', 'console.log(2)\n'), DEFAULT_LIMITS);
  assert.equal(v2.newBytes, 'console.log(2)\n'.length, 'only server.js was new');
  const big1 = await stat(join(v1.path, 'app/node_modules/big/data.bin'));
  const big2 = await stat(join(v2.path, 'app/node_modules/big/data.bin'));
  assert.equal(big1.ino, big2.ino, 'identical files share one inode');
  assert.equal(big1.nlink, 3, 'pool + two packages');

  const all = await listInstalled(root);
  assert.deepEqual(all.map((p) => p.version), ['1.0.1', '1.0.0'], 'newest first');
  assert.equal((await resolveOne(root, 'web')).version, '1.0.1', 'a bare name means the newest');
  assert.equal((await resolveOne(root, 'web:1.0.0')).digest, v1.digest);
  assert.equal((await resolveOne(root, v1.digest.slice(0, 19))).version, '1.0.0', 'digest prefixes work');
  await assert.rejects(resolveOne(root, 'web:9.9.9'), (e: unknown) => isNisoError(e) && e.code === 'NISO2201' && /1\.0\.1, 1\.0\.0/.test(e.hint ?? ''));

  const before = await poolCount(root);
  const removed = await removePackages(root, [await resolveOne(root, 'web:1.0.0')]);
  assert.equal(removed.freedFiles, 1, 'only v1 server.js was unshared');
  assert.equal(await poolCount(root), before - 1);
  await verifyObject(v2.path);
  assert.equal((await stat(join(v2.path, 'app/node_modules/big/data.bin'))).nlink, 2);

  await removePackages(root, [await resolveOne(root, 'web')]);
  assert.equal(await poolCount(root), 0, 'removing the last package frees all its content');
  assert.deepEqual(await listInstalled(root), []);
  const gc = await collectGarbage(root);
  assert.equal(gc.freedFiles, 0);
});

test('another build of an installed name and version is refused unless the caller keeps both; then NAME:VERSION means the newest', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const a = await installPackage(root, await makeVersion(dir, '1.0.0', 'v1'), DEFAULT_LIMITS);
  // A fix packed without raising the version: same name and version, another digest.
  const fix = await makeVersion(join(dir, 'fix'), '1.0.0', 'v1 with a fix');
  await assert.rejects(installPackage(root, fix, DEFAULT_LIMITS), (e: unknown) => {
    assert.ok(isNisoError(e));
    assert.equal(e.code, 'NISO2206');
    assert.ok(e.message.includes(fix) && e.message.includes(a.digest.slice(0, 19)), e.message);
    assert.match(e.hint ?? '', /niso install --replace .*fix\/web-1\.0\.0\.niso/);
    return true;
  });
  assert.deepEqual((await listInstalled(root)).map((p) => p.digest), [a.digest], 'the store is unchanged');
  assert.deepEqual(await readdir(layout(root).tmp), []);

  const b = await installPackage(root, fix, DEFAULT_LIMITS, { otherBuilds: 'keep' });
  assert.deepEqual(b.otherBuilds.map((p) => p.digest), [a.digest]);
  assert.equal((await resolveOne(root, 'web:1.0.0')).digest, b.digest, 'NAME:VERSION is the newest build');
  assert.equal((await resolveOne(root, 'web')).digest, b.digest);
  assert.deepEqual((await listInstalled(root)).map((p) => p.digest), [b.digest, a.digest]);
  assert.equal((await installPackage(root, fix, DEFAULT_LIMITS)).alreadyInstalled, true, 'installing a build again is no conflict');
});

test('gc frees content and work dirs that interrupted operations left behind', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  await installPackage(root, await makeVersion(dir, '1.0.0', 'v1'), DEFAULT_LIMITS);
  const l = layout(root);
  // What a killed install or remove leaves: a work dir of a dead process and an unlinked pool file.
  await writeTree(l.tmp, { 'install-999999-deadbeef/app/x': 'partial', 'trash-999998-cafe/app/y': 'old', 'run-999997-abcdef.json': '{"digest":"sha256:00"}' });
  await writeTree(l.content, { 'ab/abababababababababababababababababababababababababababababababab': 'orphan' });
  const dry = await collectGarbage(root, true);
  assert.deepEqual(dry.sweptTmp.sort(), ['install-999999-deadbeef', 'trash-999998-cafe']);
  assert.equal(dry.freedFiles, 1);
  assert.equal((await readdir(l.tmp)).length, 3, 'a dry run changes nothing');
  const real = await collectGarbage(root);
  assert.equal(real.freedFiles, 1);
  assert.equal(real.freedBytes, 'orphan'.length);
  for (const sub of await readdir(l.content)) assert.notDeepEqual(await readdir(join(l.content, sub)), [], `gc removes the shard directory it emptied (${sub})`);
  assert.equal(await poolCount(root), 3, 'the package\'s own content stays');
  assert.deepEqual(await readdir(l.tmp), ['run-999997-abcdef.json'], 'a run\'s marker is left to niso run, which also removes its package');
  await verifyObject((await resolveOne(root, 'web')).path);
});

test('a content with more links than the filesystem allows gets another pool copy; remove frees each copy once unused', async () => {
  // On disk (ext4 allows 65,000 links to one inode; /tmp is ext4 here), not tmpfs, which has no such limit.
  const dir = tempDir();
  const root = join(dir, 'root');
  const l = layout(root);
  // 70,000 empty files, as node_modules is full of: more than one inode can be linked from.
  const files: Record<string, string> = {};
  for (let i = 0; i < 70_000; i++) files[`d${i % 70}/f${i}`] = '';
  const dirs = Array.from({ length: 70 }, (_, i) => ({ path: `d${i}`, type: 'dir' as const }));
  await craftPackage(join(dir, 'many.niso'), indexFor(files, { name: 'many', extra: dirs }), [...dirs.map((d) => ({ name: `app/${d.path}/`, type: 'directory' as const, mode: 0o755 })), ...appEntries(files)]);
  const many = await installPackage(root, join(dir, 'many.niso'), DEFAULT_LIMITS);
  assert.equal(many.newBytes, 0);

  const empty = sha('');
  const shard = join(l.content, empty.slice(0, 2));
  const copies = async () => Promise.all(contentCopies(await readdir(shard).catch(() => []), empty, 0o644).sort().map(async (n) => ({ name: n, st: await stat(join(shard, n)) })));
  const after = await copies();
  assert.ok(after.length >= 2, `one pool copy holds all links: this test needs a filesystem with a link limit (ext4), got ${after.map((c) => c.st.nlink).join(', ')}`);
  assert.equal(after.reduce((n, c) => n + c.st.nlink - 1, 0), 70_000, 'every file links to one pool copy, and each copy is in the pool once');
  const f0 = await stat(join(many.path, 'app/d0/f0'));
  assert.equal(f0.ino, after[0]!.st.ino, 'the first files share copy 0');
  assert.equal(f0.mode & 0o777, 0o444);

  // A later package with an empty file: copy 0 is full, so it links to the next copy.
  const small = { 'empty.txt': '', 'server.js': 'x' };
  const other = await installPackage(root, await craftPackage(join(dir, 'other.niso'), indexFor(small, { name: 'other' }), appEntries(small)).then(() => join(dir, 'other.niso')), DEFAULT_LIMITS);
  const linked = await stat(join(other.path, 'app/empty.txt'));
  assert.ok(after.slice(1).some((c) => c.st.ino === linked.ino), 'linked to a copy with room');

  await removePackages(root, [await resolveOne(root, 'many')]);
  const left = await copies();
  assert.deepEqual(left.map((c) => [c.st.ino, c.st.nlink]), [[linked.ino, 2]], 'the copies only "many" used are freed; the one "other" uses stays');
  await removePackages(root, [await resolveOne(root, 'other')]);
  assert.deepEqual(await readdir(l.content), [], 'no content and no empty shard directory is left');
  assert.equal(contentPath(l, empty, 0o644, 2), join(shard, `${empty}.2`));
});

test('installs killed at any moment leave nothing or a complete object, and the next run succeeds', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const many = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`node_modules/m${i % 30}/f${i}.js`, `module.exports = ${i};\n`.repeat(20 + (i % 50))]));
  const file = await makeVersion(dir, '1.0.0', 'v1', many);
  const env = { ...process.env, NISO_ROOT: root };
  // The exit is awaited from the moment of spawning: a late kill may find the child gone already.
  const runInstall = (e: NodeJS.ProcessEnv) => {
    const child = spawn(process.execPath, [BIN, 'install', file], { env: e, stdio: 'ignore' });
    return { child, closed: new Promise<number | null>((r) => child.on('close', r)) };
  };
  // How long one whole install takes here, so the kills land across its whole span.
  const t0 = performance.now();
  const full = runInstall({ ...process.env, NISO_ROOT: join(dir, 'timing-root') });
  assert.equal(await full.closed, 0);
  const span = performance.now() - t0;
  let sawPartial = 0;
  let sawComplete = 0;
  let sawWorkDir = 0;
  for (const fraction of [0.15, 0.3, 0.45, 0.6, 0.7, 0.8, 0.9, 0.95, 1.2]) {
    const { child, closed } = runInstall(env);
    await new Promise((r) => setTimeout(r, span * fraction));
    child.kill('SIGKILL');
    await closed;
    const objects = await readdir(layout(root).store).catch(() => [] as string[]);
    if ((await readdir(layout(root).tmp).catch(() => [] as string[])).some((n) => n.startsWith('install-'))) sawWorkDir++;
    if (objects.length === 0) sawPartial++;
    else {
      sawComplete++;
      assert.equal(objects.length, 1);
      await verifyObject(join(layout(root).store, objects[0]!));
      break;
    }
  }
  assert.ok(sawPartial > 0, 'at least one kill came before the object was complete');
  assert.ok(sawWorkDir > 0, 'at least one kill landed mid-install, leaving a work dir behind');
  const r = await installPackage(root, file, DEFAULT_LIMITS);
  await verifyObject(r.path);
  assert.equal(sawComplete > 0 ? r.alreadyInstalled : !r.alreadyInstalled, true);
  await collectGarbage(root);
  assert.deepEqual(await readdir(layout(root).tmp), [], 'no leftovers after gc');
  // The pool holds exactly the package's distinct contents: nothing leaked by the killed runs.
  const { index } = await readInstalledIndex(r as unknown as Parameters<typeof readInstalledIndex>[0]);
  const distinct = new Set(index.entries.filter((e) => e.type === 'file').map((e) => e.type === 'file' ? `${e.sha256}${e.mode}` : ''));
  assert.equal(await poolCount(root), distinct.size);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`an install stopped by ${signal} removes its work dir and exits by that signal`, async () => {
    const dir = tempDir();
    const root = join(dir, 'root');
    const files = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`m${i % 50}/f${i}.js`, `module.exports = ${i};\n`]));
    const file = join(dir, 'big.niso');
    await craftPackage(file, indexFor(files, { name: 'big' }), appEntries(files));
    const child = spawn(process.execPath, [BIN, 'install', file], { env: { ...process.env, NISO_ROOT: root }, stdio: 'ignore' });
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, sig) => r({ code, signal: sig })));
    // The signal comes once extraction has begun: the work dir holds the first files.
    const tmp = layout(root).tmp;
    for (;;) {
      const work = (await readdir(tmp).catch(() => [] as string[])).find((n) => n.startsWith('install-'));
      if (work && (await readdir(join(tmp, work, 'app')).catch(() => [] as string[])).length > 0) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    child.kill(signal);
    assert.deepEqual(await closed, { code: null, signal }, 'niso ends by the signal it got');
    assert.deepEqual(await readdir(tmp), [], 'no work dir is left');
    assert.deepEqual(await readdir(layout(root).store), [], 'no store object');
  });
}

test('concurrent installs of one package all succeed and make one object', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const file = await makeVersion(dir, '1.0.0', 'v1');
  const runs = await Promise.all([1, 2, 3, 4].map(() => new Promise<{ code: number | null; out: string }>((res) => {
    const child = spawn(process.execPath, [BIN, 'install', file, '--json'], { env: { ...process.env, NISO_ROOT: root } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('close', (code) => res({ code, out }));
  })));
  assert.deepEqual(runs.map((r) => r.code), [0, 0, 0, 0]);
  const results = runs.map((r) => JSON.parse(r.out) as { alreadyInstalled: boolean; digest: string });
  assert.equal(results.filter((r) => !r.alreadyInstalled).length, 1, 'exactly one run installed it');
  assert.equal(new Set(results.map((r) => r.digest)).size, 1);
  assert.equal((await listInstalled(root)).length, 1);
  await verifyObject((await resolveOne(root, 'web')).path);
});

test('install limits come from /etc/niso/config.toml under NISO_ROOT and flags', async () => {
  const { readInstallLimits } = await import('../../src/store/host-config.js');
  const dir = tempDir();
  const cfg = join(dir, 'config.toml');
  await writeFile(cfg, '[install]\nmax_size = "1G"\nmax_files = 1000\n');
  assert.deepEqual(await readInstallLimits(cfg, {}), { maxBytes: 1024 ** 3, maxFiles: 1000 });
  assert.deepEqual(await readInstallLimits(cfg, { maxSize: '2M', maxFiles: '5' }), { maxBytes: 2 * 1024 ** 2, maxFiles: 5 });
  await writeFile(cfg, '[install]\nmax_sise = "1G"\n');
  await assert.rejects(readInstallLimits(cfg, {}), (e: unknown) => isNisoError(e) && e.diagnostics[0]?.code === 'NISO1002' && e.diagnostics[0]?.line === 2);
  await assert.rejects(readInstallLimits(join(dir, 'none.toml'), { maxSize: 'lots' }), (e: unknown) => isNisoError(e) && e.code === 'NISO2205');
});

test('the default bound of /state: 10G, [state] max_size in the host config, or "unlimited"; a bound too small is refused with its line', async () => {
  const { readStateDefault } = await import('../../src/store/host-config.js');
  const dir = tempDir();
  const cfg = join(dir, 'config.toml');
  assert.equal(await readStateDefault(join(dir, 'none.toml')), 10 * 1024 ** 3);
  await writeFile(cfg, '[state]\nmax_size = "2G"\n');
  assert.equal(await readStateDefault(cfg), 2 * 1024 ** 3);
  await writeFile(cfg, '[state]\nmax_size = "unlimited"\n');
  assert.equal(await readStateDefault(cfg), null);
  await writeFile(cfg, '[state]\n\nmax_size = "1M"\n');
  await assert.rejects(readStateDefault(cfg), (e: unknown) => isNisoError(e) && e.diagnostics[0]?.code === 'NISO1006' && e.diagnostics[0]?.line === 3 && /below the smallest state size, 8M/.test(e.diagnostics[0]?.message ?? '') && /or "unlimited"/.test(e.diagnostics[0]?.hint ?? ''));
  await writeFile(cfg, '[state]\nmax_size = "infinite"\n');
  await assert.rejects(readStateDefault(cfg), (e: unknown) => isNisoError(e) && e.diagnostics.length > 0);
});

test('log limits come from [logs] in the host config, flags win, bad values name the flag', async () => {
  const { readLogLimits } = await import('../../src/store/host-config.js');
  const dir = tempDir();
  const cfg = join(dir, 'config.toml');
  assert.deepEqual(await readLogLimits(join(dir, 'none.toml'), {}), { maxBytes: 10 * 1024 ** 2, files: 3 });
  await writeFile(cfg, '[logs]\nmax_size = "64K"\nfiles = 5\n');
  assert.deepEqual(await readLogLimits(cfg, {}), { maxBytes: 64 * 1024, files: 5 });
  assert.deepEqual(await readLogLimits(cfg, { logMaxSize: '1M' }), { maxBytes: 1024 ** 2, files: 5 });
  assert.deepEqual(await readLogLimits(cfg, { logFiles: '2' }), { maxBytes: 64 * 1024, files: 2 });
  await assert.rejects(readLogLimits(cfg, { logFiles: '0' }), (e: unknown) => isNisoError(e) && e.code === 'NISO9001' && /--log-files 0/.test(e.message));
  await assert.rejects(readLogLimits(cfg, { logMaxSize: '10' }), (e: unknown) => isNisoError(e) && e.code === 'NISO9001' && /too small/.test(e.message));
  await writeFile(cfg, '[logs]\nfiles = 1000\n');
  await assert.rejects(readLogLimits(cfg, {}), (e: unknown) => isNisoError(e) && e.diagnostics[0]?.line === 2);
});
