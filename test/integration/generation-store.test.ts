// The generations store on a real file system: numbering, status, the `current` link, adoption of installed services,
// retention and pruning (with the config copies only old generations name), and damaged files (cut short, edited, a missing object, a link that leaves the directory),
// each refused with an error that names the file.
import { userInfo } from 'node:os';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NisoError } from '../../src/errors/niso-error.js';
import { contentOf } from '../../src/generation/hash.js';
import {
  CONFIG_GRACE_MS, actorOf, adoptInstalled, createGeneration, deleteGenerations, generationPaths, listGenerations, pruneGenerations, readCurrent, readGeneration,
  retained, retainedPackages, setCurrent, setStatus, withSwitchLock, writeObject, type Actor,
} from '../../src/generation/store.js';
import type { GenerationService } from '../../src/generation/types.js';
import { removeServiceFiles } from '../../src/service/store.js';
import { tempDir } from '../helpers/tmp.js';

const ACTOR: Actor = { uid: 0, user: 'root', sudoUser: 'ana', ssh: null };
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const svc = (name: string, version = '1.0.0', d = '1', active = true): GenerationService => ({
  name, package: { name: 'app', version, digest: digest(d) }, options: { env: { TOKEN: 'hunter2' } }, backend: 'embedded', logs: { maxBytes: 1 << 20, files: 3 }, active,
});
const make = (root: string, services: GenerationService[], at?: Date) => createGeneration(root, contentOf(services), { command: ['activate', 'app'], actor: ACTOR, parent: null, summary: ['web: added'], ...(at ? { now: at } : {}) });

function code(fn: () => unknown): { code: string; message: string; path?: string } {
  try { fn(); } catch (e) {
    assert.ok(e instanceof NisoError, `not a NisoError: ${(e as Error).stack}`);
    return { code: e.code, message: e.message, path: e.path };
  }
  assert.fail('no error');
}

test('numbers count up from the highest, objects are shared and written once, status and current change as told', () => {
  const root = tempDir();
  const p = generationPaths(root);
  assert.equal(readCurrent(root), null);
  assert.deepEqual(listGenerations(root), []);
  const g1 = make(root, [svc('web')]);
  const g2 = make(root, [svc('web', '2.0.0', '2')]);
  const g3 = make(root, [svc('web')]);
  assert.deepEqual([g1.number, g2.number, g3.number], [1, 2, 3]);
  assert.equal(g1.status, 'pending');
  assert.equal(g1.hash, g3.hash);
  assert.deepEqual(readdirSync(p.objects).sort(), [`${g1.hash}.json`, `${g2.hash}.json`].sort());
  // Root's alone: contents hold services' environments.
  assert.equal(statSync(p.object(g1.hash)).mode & 0o777, 0o600);
  assert.equal(statSync(p.meta(1)).mode & 0o777, 0o600);
  const before = statSync(p.object(g1.hash)).mtimeMs;
  assert.equal(writeObject(root, contentOf([svc('web')])), g1.hash);
  assert.equal(statSync(p.object(g1.hash)).mtimeMs, before, 'an intact object was written again');

  setStatus(root, 2, 'failed', 'web unhealthy');
  assert.equal(readGeneration(root, 2).meta.reason, 'web unhealthy');
  setStatus(root, 2, 'rolled-back');
  assert.equal(readGeneration(root, 2).meta.reason, undefined);
  setCurrent(root, 1);
  assert.equal(readlinkSync(p.current), 'system-1.json');
  assert.equal(readCurrent(root)!.meta.number, 1);
  assert.deepEqual(readCurrent(root)!.content.services.map((s) => s.package.version), ['1.0.0']);
  setCurrent(root, 2);
  assert.equal(readCurrent(root)!.meta.number, 2);
  assert.equal(code(() => setCurrent(root, 9)).code, 'NISO6005');
  assert.equal(code(() => readGeneration(root, 7)).code, 'NISO6005');
  // No temporary names are left behind.
  assert.deepEqual(readdirSync(p.dir).filter((n) => n.startsWith('.')), []);
});

test('two writers at once never get one number (link(2), not a rename)', async () => {
  const root = tempDir();
  await mkdir(generationPaths(root).dir, { recursive: true });
  // Separate processes: the store is synchronous, so only processes can race it.
  const script = `import { createGeneration } from ${JSON.stringify(join(import.meta.dirname, '../../src/generation/store.ts'))};
import { contentOf } from ${JSON.stringify(join(import.meta.dirname, '../../src/generation/hash.ts'))};
for (let i = 0; i < 10; i++) createGeneration(process.argv[1], contentOf([]), { command: ['x', String(i)], actor: { uid: 0, user: null, sudoUser: null, ssh: null }, parent: null, summary: [] });`;
  const runs = [1, 2, 3].map(() => new Promise<number | null>((res) => {
    const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, root], { stdio: ['ignore', 'ignore', 'inherit'] });
    c.on('close', res);
  }));
  assert.deepEqual(await Promise.all(runs), [0, 0, 0]);
  assert.deepEqual(listGenerations(root).map((m) => m.number), Array.from({ length: 30 }, (_, i) => i + 1));
});

test('damaged files are refused with the file named: cut short, edited, missing object, links that leave', () => {
  const root = tempDir();
  const p = generationPaths(root);
  const g1 = make(root, [svc('web')]);
  make(root, [svc('db')]);
  setCurrent(root, 1);

  // A metadata file cut short.
  const meta2 = readFileSync(p.meta(2));
  truncateSync(p.meta(2), 40);
  let e = code(() => listGenerations(root));
  assert.equal(e.code, 'NISO6001');
  assert.equal(e.path, p.meta(2));
  assert.match(e.message, /cut short/);
  writeFileSync(p.meta(2), '');
  assert.match(code(() => readGeneration(root, 2)).message, /empty/);
  // A field that is wrong is named.
  writeFileSync(p.meta(2), JSON.stringify({ ...JSON.parse(meta2.toString()), status: 'great' }));
  assert.match(code(() => readGeneration(root, 2)).message, /"status"/);
  writeFileSync(p.meta(2), JSON.stringify({ ...JSON.parse(meta2.toString()), number: 3 }));
  assert.match(code(() => readGeneration(root, 2)).message, /"number"/);
  writeFileSync(p.meta(2), meta2);

  // An object edited: its hash no longer matches its name.
  const obj = readFileSync(p.object(g1.hash), 'utf8');
  writeFileSync(p.object(g1.hash), obj.replace('hunter2', 'hunter3'));
  e = code(() => readCurrent(root));
  assert.equal(e.code, 'NISO6004');
  assert.equal(e.path, p.object(g1.hash));
  // A value of the environment never appears in an error.
  writeFileSync(p.object(g1.hash), obj.slice(0, obj.indexOf('hunter2') + 4));
  e = code(() => readCurrent(root));
  assert.equal(e.code, 'NISO6001');
  assert.ok(!e.message.includes('hunt'), e.message);
  // writeObject repairs what its name promises.
  writeObject(root, contentOf([svc('web')]));
  assert.equal(readCurrent(root)!.meta.number, 1);

  // A metadata whose object is gone.
  unlinkSync(p.object(g1.hash));
  e = code(() => readCurrent(root));
  assert.equal(e.code, 'NISO6002');
  assert.equal(e.path, p.object(g1.hash));
  writeObject(root, contentOf([svc('web')]));

  // `current` pointing outside, or being no link, or dangling.
  for (const target of ['../../../etc/passwd', '/etc/passwd', 'system-1.json/..', 'objects/x.json']) {
    unlinkSync(p.current);
    symlinkSync(target, p.current);
    e = code(() => readCurrent(root));
    assert.equal(e.code, 'NISO6003', target);
    assert.equal(e.path, p.current);
  }
  unlinkSync(p.current);
  symlinkSync('system-5.json', p.current);
  assert.match(code(() => readCurrent(root)).message, /system-5\.json, which does not exist/);
  unlinkSync(p.current);
  writeFileSync(p.current, 'system-1.json');
  assert.match(code(() => readCurrent(root)).message, /not a symlink/);
  unlinkSync(p.current);
  setCurrent(root, 1);
  assert.equal(readCurrent(root)!.meta.number, 1);

  // A metadata file that is a symlink (to a file niso did not write) is not followed.
  unlinkSync(p.meta(2));
  symlinkSync('/etc/passwd', p.meta(2));
  assert.match(code(() => readGeneration(root, 2)).message, /symlink/);
  unlinkSync(p.meta(2));
  writeFileSync(p.meta(2), meta2);
});

test('adoption: generation 1 from the installed service.json files, status good, current; once', async () => {
  const root = tempDir();
  assert.equal(adoptInstalled(root), null, 'nothing to adopt on an empty host');
  const def = (name: string, desired: 'active' | 'inactive', extra: object = {}) => ({
    version: 1, name, package: { name: 'app', version: '1.0.0', digest: digest('a') }, options: { env: {}, args: [], ports: [] },
    backend: 'embedded', createdAt: '2024-01-01T00:00:00.000Z', desired, logs: { maxBytes: 1 << 20, files: 3 }, ...extra,
  });
  for (const [name, desired, extra] of [['web', 'active', { start: { id: 'r1', by: { pid: 1, startTime: 1 }, at: 'x', desiredBefore: 'inactive' } }], ['db', 'inactive', {}]] as const) {
    const dir = join(root, 'var/lib/niso/services', name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'service.json'), JSON.stringify(def(name, desired, extra)));
  }
  const m = await withSwitchLock(root, async () => adoptInstalled(root, { actor: ACTOR }));
  assert.ok(m);
  assert.equal(m.number, 1);
  assert.equal(m.status, 'good');
  assert.deepEqual(m.command, ['adopted']);
  assert.deepEqual(m.summary, ['db: added (inactive)', 'web: added']);
  const cur = readCurrent(root)!;
  assert.equal(cur.meta.number, 1);
  assert.deepEqual(cur.content.services.map((s) => [s.name, s.active, s.options]), [['db', false, {}], ['web', true, {}]]);
  assert.equal(adoptInstalled(root), null, 'adopted twice');
  assert.equal(listGenerations(root).length, 1);

  // An adoption cut short before `current` was set is finished, not made again.
  unlinkSync(generationPaths(root).current);
  const again = adoptInstalled(root, { actor: ACTOR });
  assert.equal(again!.number, 1);
  assert.equal(listGenerations(root).length, 1);
  assert.equal(readCurrent(root)!.meta.number, 1);
});

test('retention: current, the newest N, the young ones and pending ones are kept; pruning drops the rest and their objects', async () => {
  const root = tempDir();
  const p = generationPaths(root);
  const now = new Date('2025-06-30T00:00:00Z');
  const old = new Date('2025-01-01T00:00:00Z');
  // 1: v1 (old, current later), 2: v2 (old), 3: v2 (old, pending), 4..6: v3 (old), 7: v4 (young)
  make(root, [svc('web', '1.0.0', '1')], old);
  make(root, [svc('web', '2.0.0', '2')], old);
  make(root, [svc('web', '2.0.0', '2'), svc('x', '9.0.0', '9')], old);
  for (let i = 0; i < 3; i++) make(root, [svc('web', '3.0.0', '3')], old);
  make(root, [svc('web', '4.0.0', '4')], new Date('2025-06-29T00:00:00Z'));
  for (const n of [1, 2, 4, 5, 6, 7]) setStatus(root, n, 'good');
  setCurrent(root, 1);
  const policy = { keepLast: 2, keepDays: 14 };
  assert.deepEqual((await retained(root, now, policy)).map((m) => m.number), [1, 3, 6, 7]);
  const roots = await retainedPackages(root, now, policy);
  assert.deepEqual([...roots.entries()].sort(), [[digest('1'), [1]], [digest('2'), [3]], [digest('3'), [6]], [digest('4'), [7]], [digest('9'), [3]]]);

  const dry = await pruneGenerations(root, { now, policy, dryRun: true });
  assert.deepEqual(dry.removed, [2, 4, 5]);
  const hash2 = readGeneration(root, 2).meta.hash;
  // 4 and 5 share their content with 6, which stays; 2's is its own.
  assert.deepEqual(dry.objects, [hash2]);
  assert.ok(existsSync(p.object(hash2)));
  assert.equal(listGenerations(root).length, 7);
  // A temporary file of a killed writer (pid 2^22+1 never exists) is swept, a live one's is not.
  writeFileSync(join(p.dir, '.system-9.json.tmp-4194305-abcd1234'), '{');
  writeFileSync(join(p.objects, `.${'f'.repeat(64)}.json.tmp-${process.pid}-abcd1234`), '{');
  const r = await pruneGenerations(root, { now, policy });
  assert.deepEqual(r.removed, [2, 4, 5]);
  assert.deepEqual(r.objects, [hash2]);
  assert.ok(!existsSync(p.object(hash2)));
  assert.ok(existsSync(p.object(readGeneration(root, 6).meta.hash)), 'an object still named by a kept generation went');
  assert.deepEqual(r.leftovers, [join(p.dir, '.system-9.json.tmp-4194305-abcd1234')]);
  assert.ok(existsSync(join(p.objects, `.${'f'.repeat(64)}.json.tmp-${process.pid}-abcd1234`)));
  assert.deepEqual(listGenerations(root).map((m) => m.number), [1, 3, 6, 7]);

  // Pending 3 fails; with the newest kept whatever the policy, and the next number counting on from it.
  setStatus(root, 3, 'failed', 'interrupted');
  const r2 = await pruneGenerations(root, { now: new Date('2026-01-01T00:00:00Z'), policy: { keepLast: 1, keepDays: 0 } });
  assert.deepEqual(r2.removed, [3, 6]);
  assert.equal(r2.objects.length, 2);
  assert.deepEqual(listGenerations(root).map((m) => m.number), [1, 7]);
  assert.equal(make(root, [svc('web')]).number, 8);
  assert.deepEqual(readdirSync(p.objects).filter((n) => !n.startsWith('.')).length, 2);
});

test('generation rm: never the current, the newest or a pending one', () => {
  const root = tempDir();
  for (let i = 0; i < 4; i++) make(root, [svc('web', `${i}.0.0`, String(i))]);
  setStatus(root, 2, 'good');
  setCurrent(root, 2);
  assert.equal(code(() => deleteGenerations(root, [2])).code, 'NISO6008');
  assert.equal(code(() => deleteGenerations(root, [4])).code, 'NISO6008');
  assert.equal(code(() => deleteGenerations(root, [1])).code, 'NISO6008', 'pending');
  assert.equal(code(() => deleteGenerations(root, [12])).code, 'NISO6005');
  setStatus(root, 1, 'failed');
  setStatus(root, 3, 'rolled-back');
  const r = deleteGenerations(root, [1, 3]);
  assert.deepEqual(r.removed, [1, 3]);
  assert.equal(r.objects.length, 2);
  assert.deepEqual(listGenerations(root).map((m) => m.number), [2, 4]);
});

test('actorOf: the audit log\'s actor (the uid and its own name, not $USER), SUDO_USER, SSH_CLIENT; one bounded line each', () => {
  const me = { uid: process.getuid!(), user: userInfo().username };
  assert.deepEqual(actorOf({ USER: 'mallory', SUDO_USER: 'ana', SSH_CLIENT: '203.0.113.7 51234 22' }), { ...me, sudoUser: 'ana', ssh: '203.0.113.7 51234 22' });
  assert.deepEqual(actorOf({ SUDO_USER: '' }), { ...me, sudoUser: null, ssh: null });
  assert.equal(actorOf({ SUDO_USER: `a\nb${'x'.repeat(400)}` }).sudoUser!.length, 256);
  assert.ok(!actorOf({ SSH_CLIENT: 'a\nb' }).ssh!.includes('\n'));
});

test('the layout: generations beside the store, not in it; current is a relative link', () => {
  const root = tempDir();
  const p = generationPaths(root);
  assert.equal(p.dir, join(root, 'var/lib/niso/generations'));
  make(root, []);
  setCurrent(root, 1);
  assert.ok(lstatSync(p.current).isSymbolicLink());
  assert.equal(readlinkSync(p.current), 'system-1.json');
});

test('config copies: a removed service\'s stay while a generation names them (a rollback to it), and go with the last such generation once nothing names them', async () => {
  const root = tempDir();
  const dir = join(root, 'var/lib/niso/configs/shop.web');
  await mkdir(dir, { recursive: true });
  const file = (c: string) => join(dir, c.repeat(64));
  const old = new Date(Date.now() - CONFIG_GRACE_MS - 60_000);
  for (const c of ['a', 'b', 'c', 'd']) { writeFileSync(file(c), `${c}\n`); if (c !== 'd') utimesSync(file(c), old, old); }
  const web = (c: string): GenerationService => ({ ...svc('shop.web'), options: { configs: [{ source: file(c), target: '/etc/web.conf' }] } });
  make(root, [web('a')]);
  make(root, [web('b')]);
  make(root, []);
  for (const n of [1, 2, 3]) setStatus(root, n, 'good');
  setCurrent(root, 3);
  // The service is removed (generation 3 has none): what generations 1 and 2 name stays, the rest goes.
  await removeServiceFiles(root, 'shop.web');
  assert.deepEqual(readdirSync(dir).sort(), ['a'.repeat(64), 'b'.repeat(64)]);
  writeFileSync(file('c'), 'c\n');
  utimesSync(file('c'), old, old);
  writeFileSync(file('d'), 'd\n');
  // Generation 1 goes: its copy and an old one nothing names go, a fresh one (a `stack up` about to switch) stays.
  const r = deleteGenerations(root, [1]);
  assert.deepEqual(r.configs, [file('a'), file('c')]);
  assert.deepEqual(readdirSync(dir).sort(), ['b'.repeat(64), 'd'.repeat(64)]);
  utimesSync(file('d'), old, old);
  deleteGenerations(root, [2]);
  assert.ok(!existsSync(dir), 'the dir of a service that is gone, once empty');
});
