// The host-wide uid registry (src/sandbox/uids.ts) on real files: uids unique across NISO_ROOTs, atomic claims under
// contention, host accounts skipped, exhaustion, stale claims taken back, a clash of two old roots resolved. A
// registry of its own (a small range in a temp dir) keeps these cases apart from the host's real one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNisoError } from '../../src/errors/niso-error.js';
import { readClaim, releaseRootUids, releaseUid, serviceUid, type UidRegistry } from '../../src/sandbox/uids.js';
import { tempDir } from '../helpers/tmp.js';

function registry(dir: string, first: number, last: number, host: number[] = []): UidRegistry {
  return { dir: join(dir, 'uids'), range: { first, last }, hostIds: () => Promise.resolve(new Set(host)) };
}

function newRoot(dir: string, name: string): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'var/lib/niso'), { recursive: true });
  return root;
}

test('two NISO_ROOTs never get the same uid for their services; each claim names its root and service', async () => {
  const dir = tempDir();
  const reg = registry(dir, 70000, 70009);
  const a = newRoot(dir, 'a');
  const b = newRoot(dir, 'b');
  const ua = await serviceUid(a, 'web', reg);
  const ub = await serviceUid(b, 'web', reg);
  assert.deepEqual(ua, { uid: 70000, previous: null });
  assert.deepEqual(ub, { uid: 70001, previous: null });
  assert.equal(readClaim(reg, 70000)?.root, a);
  assert.equal(readClaim(reg, 70001)?.root, b);
  assert.equal(readClaim(reg, 70001)?.service, 'web');
  // Stable: asked again, each keeps its own.
  assert.equal((await serviceUid(a, 'web', reg)).uid, 70000);
  assert.equal((await serviceUid(b, 'web', reg)).uid, 70001);
  // The root's own table records it too (read on every start).
  assert.deepEqual(JSON.parse(readFileSync(join(b, 'var/lib/niso/users.json'), 'utf8')), { services: { web: 70001 } });
});

test('many roots allocating at once all get different uids (the claim is an atomic link, no lock between roots)', async () => {
  const dir = tempDir();
  const reg = registry(dir, 70000, 70099);
  const roots = Array.from({ length: 24 }, (_, i) => newRoot(dir, `r${i}`));
  const uids = await Promise.all(roots.map((r) => serviceUid(r, 'svc', reg)));
  assert.equal(new Set(uids.map((u) => u.uid)).size, roots.length);
  assert.equal(readdirSync(reg.dir).filter((f) => /^\d+$/.test(f)).length, roots.length, 'one claim per uid, no temporary file left');
  assert.deepEqual(readdirSync(reg.dir).filter((f) => f.startsWith('.claim-')), []);
});

test('host accounts and groups in the range are never given out', async () => {
  const dir = tempDir();
  const reg = registry(dir, 70000, 70004, [70000, 70001, 70003]);
  const root = newRoot(dir, 'r');
  assert.equal((await serviceUid(root, 'a', reg)).uid, 70002);
  assert.equal((await serviceUid(root, 'b', reg)).uid, 70004);
});

test('a full range is NISO3204 with a hint; claims of a deleted root and of a service removed with its state are taken back', async () => {
  const dir = tempDir();
  const reg = registry(dir, 70000, 70002);
  const gone = newRoot(dir, 'gone');
  const kept = newRoot(dir, 'kept');
  await serviceUid(gone, 'a', reg);
  await serviceUid(kept, 'b', reg);
  await serviceUid(kept, 'c', reg);
  const other = newRoot(dir, 'other');
  await assert.rejects(serviceUid(other, 'x', reg), (e: unknown) => {
    assert.ok(isNisoError(e) && e.code === 'NISO3204', String(e));
    assert.match(e.message, /no free uid left in niso's range 70000-70002: 3 are claimed by services of 2 NISO_ROOT/);
    assert.match(e.hint ?? '', /niso remove SERVICE --volumes/);
    return true;
  });
  // The root is deleted without niso: its claim is stale and goes to the next service that needs one.
  rmSync(gone, { recursive: true });
  assert.deepEqual(await serviceUid(other, 'x', reg), { uid: 70000, previous: null });
  assert.equal(readClaim(reg, 70000)?.root, other);
  // A service given up with its state releases its uid at once.
  assert.equal(await releaseUid(kept, 'b', reg), 70001);
  assert.equal(readClaim(reg, 70001), null);
  assert.equal((await serviceUid(other, 'y', reg)).uid, 70001);
});

test('a claim missing from its root\'s table is taken back only once it is old (a claimer writes its table right after)', async () => {
  const dir = tempDir();
  const reg = registry(dir, 70000, 70000);
  const a = newRoot(dir, 'a');
  const b = newRoot(dir, 'b');
  await serviceUid(a, 'web', reg);
  // As if a's niso had claimed and not yet written its table.
  writeFileSync(join(a, 'var/lib/niso/users.json'), '{"services": {}}\n');
  await assert.rejects(serviceUid(b, 'web', reg), /NISO3204|no free uid/);
  const old = new Date(Date.now() - 10 * 60_000);
  utimesSync(join(reg.dir, '70000'), old, old);
  assert.equal((await serviceUid(b, 'web', reg)).uid, 70000);
});

test('two roots of an older niso that both recorded uid 70000: the second to start gets a new uid and is told to give its files over', async () => {
  const dir = tempDir();
  const reg = registry(dir, 70000, 70009);
  const a = newRoot(dir, 'a');
  const b = newRoot(dir, 'b');
  for (const r of [a, b]) writeFileSync(join(r, 'var/lib/niso/users.json'), '{"services": {"web": 70000}}\n');
  assert.deepEqual(await serviceUid(a, 'web', reg), { uid: 70000, previous: null });
  assert.deepEqual(await serviceUid(b, 'web', reg), { uid: 70001, previous: 70000 });
  assert.deepEqual(await serviceUid(b, 'web', reg), { uid: 70001, previous: null }, 'only once');
  // A root whose recorded uid is held by a root that is gone takes it back as it is: no files to give over.
  const c = newRoot(dir, 'c');
  writeFileSync(join(c, 'var/lib/niso/users.json'), '{"services": {"api": 70000}}\n');
  rmSync(a, { recursive: true });
  assert.deepEqual(await serviceUid(c, 'api', reg), { uid: 70000, previous: null });
});

test('releasing a root gives back every claim it holds, and only its own', async () => {
  const dir = tempDir();
  const reg = registry(dir, 70000, 70009);
  const a = newRoot(dir, 'a');
  const b = newRoot(dir, 'b');
  await serviceUid(a, 'x', reg);
  await serviceUid(a, 'y', reg);
  await serviceUid(b, 'z', reg);
  assert.equal(await releaseRootUids(a, reg), 2);
  assert.deepEqual(readdirSync(reg.dir).filter((f) => /^\d+$/.test(f)), ['70002']);
});
