// Volumes across generations through the built CLI, against real services: an upgrade snapshots the volume and the
// /state the old version wrote (after it stopped), `niso rollback` keeps the new data and says that snapshots exist,
// `niso rollback --with-data` brings the old data back and the old version answers from it, and a SIGKILL at every
// step of the data phase (and inside a snapshot and a restore) leaves exactly the old or exactly the new generation with
// its data, and no half-made snapshot listed. Written for both backends: switch-data-systemd.test.ts runs it inside a
// booted systemd.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NODE_MANIFEST, writeTree } from '../helpers/tmp.js';
import { freePorts } from '../helpers/ports.js';
import { teardownRoots } from '../helpers/switch-teardown.js';
import { MAIN } from '../helpers/data-app.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const onSystemd = process.env.NISO_E2E_BACKEND === 'systemd';


interface Env { root: string; dir: string; id: string }
const envs: Env[] = [];

function niso(e: Env, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: e.dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: e.root, ...env } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function ok(e: Env, args: string[]): { stdout: string; stderr: string } {
  const r = niso(e, args);
  assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r;
}

/** A root with app 1.0.0 and 2.0.0 installed, both with a volume at /data. */
async function setup(): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'niso-gendata-'));
  chmodSync(dir, 0o755);
  const { rootId } = await import('../../src/service/store.js');
  const e: Env = { root: join(dir, 'root'), dir, id: '' };
  e.id = rootId(e.root);
  envs.push(e);
  for (const [v, migrates] of [['1.0.0', false], ['2.0.0', true]] as const) {
    await writeTree(join(dir, `app-${v}`), {
      'manifest.toml': NODE_MANIFEST('app', v, 'stop_timeout = "2s"\n\n[volumes.data]\nmount = "/data"\n', ['main.js']),
      'main.js': MAIN(v, migrates),
    });
    ok(e, ['pack', `app-${v}`, '-o', `app-${v}.niso`, '-q']);
    ok(e, ['install', `app-${v}.niso`]);
  }
  return e;
}

interface Snap { volume: string; kind: string; id: string; generation: number | null; method: string | null; switch: { from: number; to: number; own: boolean } | null }
const snapshots = (e: Env): Snap[] => (JSON.parse(ok(e, ['volume', 'snapshots', '--json']).stdout) as Snap[]);
interface Meta { number: number; status: string; current: boolean; snapshots: { volume: string; id: string; to: number; ownData: boolean }[] }
const generations = (e: Env): Meta[] => JSON.parse(ok(e, ['generation', 'list', '--json']).stdout) as Meta[];
const currentNumber = (e: Env) => generations(e).find((g) => g.current)?.number ?? null;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const get = (port: number) => spawnSync('curl', ['-s', '-m', '2', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout;
async function answers(port: number, text: string): Promise<void> {
  // Generous: the service may still be starting (a recovered generation's node, at a load of 20 once over 20 s).
  const deadline = Date.now() + 90_000;
  for (;;) {
    const last = get(port);
    if (last === text) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${JSON.stringify(text)} on ${port}; it answered ${JSON.stringify(last)}`);
    await sleep(50);
  }
}
const OLD = 'version 1.0.0 data=row of 1.0.0 state=state of 1.0.0';
const NEW = 'version 2.0.0 data=row of 2.0.0 state=state of 2.0.0';
const OLD_ON_NEW = 'version 1.0.0 data=row of 2.0.0 state=state of 2.0.0';

/** Hidden entries (a snapshot or a restore under way) of this root's snapshots and volumes: none may be left once recovered and taken again. */
function listedIds(e: Env): string[] {
  return snapshots(e).filter((s) => s.kind === 'snapshot').map((s) => `${s.volume}@${s.id}`).sort();
}

after(() => teardownRoots(envs, (e, name) => { niso(e as Env, ['deactivate', name, '--no-snapshot']); }));

test('data across generations: the upgrade snapshots the volume and /state; rollback keeps the new data and says so; rollback --with-data brings the old data back and 1.0.0 answers from it', async () => {
  const e = await setup();
  const [port] = await freePorts(1);
  const activate = (v: string, extra: string[] = []) => ok(e, ['activate', `app:${v}`, '--name', 'app', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s', ...extra]);
  activate('1.0.0');
  await answers(port!, OLD);
  assert.deepEqual(snapshots(e), [], 'the first switch has no generation to snapshot');

  // The upgrade's dry run names the volumes it would snapshot.
  assert.equal(activate('2.0.0', ['--dry-run']).stdout, 'would restart app (package 1.0.0 → 2.0.0)\nwould snapshot app/data\nwould snapshot app/state\n');
  const up = activate('2.0.0');
  // Snapshots are taken quietly (ext4 here: small volumes are copied in full, under the limit); only a skip is said.
  assert.doesNotMatch(up.stderr, /snapshot/);
  await answers(port!, NEW);
  const first = snapshots(e);
  assert.deepEqual(first.map((s) => [s.volume, s.generation, s.switch?.from, s.switch?.to, s.switch?.own]), [['app/data', 1, 1, 2, true], ['app/state', 1, 1, 2, true]]);
  assert.ok(first.every((s) => ['copy', 'reflink', 'subvolume'].includes(s.method ?? '')), JSON.stringify(first));
  const g1 = first.find((s) => s.volume === 'app/data')!.id;
  // generation list --json names what the switch took, under the generation whose data it is.
  const gens = generations(e);
  assert.deepEqual(gens.find((g) => g.number === 1)!.snapshots.map((s) => [s.volume, s.to]), [['app/data', 2], ['app/state', 2]]);
  assert.deepEqual(gens.find((g) => g.number === 2)!.snapshots, []);

  // A rollback without --with-data switches the services only, and says that the data could come back.
  const back = ok(e, ['rollback', '--settle', '1s']);
  assert.equal(back.stdout, 'generation 1 is current (was 2): replace app\n');
  assert.match(back.stderr, new RegExp(`note: data was not rolled back; snapshots of generation 1 exist \\(app/data: ${g1}, app/state: g1-[^)]+\\): use --with-data`));
  await answers(port!, OLD_ON_NEW);

  // Forward again (the data stays the newer one), then back with the data.
  assert.match(ok(e, ['switch', '2', '--dry-run']).stdout, /^would restart app \(package 1\.0\.0 → 2\.0\.0\)\nwould snapshot app\/data\nwould snapshot app\/state\ndata of app\/data stays \(snapshot g2-\S+ exists: --with-data restores it\)\n/);
  ok(e, ['switch', '2', '--settle', '1s']);
  await answers(port!, NEW);
  // The snapshot of generation 1 taken now holds 2.0.0's data (the rollback kept it): not generation 1's own.
  assert.deepEqual(snapshots(e).filter((s) => s.generation === 1 && s.volume === 'app/data').map((s) => s.switch?.own), [true, false]);
  const dry = ok(e, ['rollback', '--with-data', '--dry-run']).stdout;
  assert.match(dry, new RegExp(`^would restore app/data from snapshot ${g1}$`, 'm'));
  assert.match(dry, /^would restore app\/state from snapshot g1-/m);
  await answers(port!, NEW);

  const withData = ok(e, ['rollback', '--with-data', '--settle', '1s']);
  assert.equal(withData.stdout, 'generation 1 is current (was 2): replace app\n');
  assert.match(withData.stderr, new RegExp(`^restored app/data from snapshot ${g1}; the data it held is kept at \\S+/@app/data/data@${g1}-replaced-\\d{8}T\\d{6}Z`, 'm'));
  assert.doesNotMatch(withData.stderr, /data was not rolled back/);
  await answers(port!, OLD);
  // The data it replaced is listed, never deleted.
  assert.deepEqual(snapshots(e).filter((s) => s.kind === 'replaced').map((s) => s.volume).sort(), ['app/data', 'app/state']);
  // The audit entry of the switch names its snapshots and restores.
  const audit = JSON.parse(ok(e, ['audit', '--json']).stdout) as { event: string; details?: { snapshots?: string[]; restored?: string[] } }[];
  const last = audit.filter((a) => a.event === 'switch.rollback').at(-1)!;
  assert.ok(last.details?.restored?.includes(`app/data@${g1}`), JSON.stringify(last));
  assert.equal(last.details?.snapshots?.length, 2, JSON.stringify(last));

  // Retention: keep 1 for app/data from now on; what --with-data to a retained good generation restores stays.
  const g1Copy = snapshots(e).filter((s) => s.volume === 'app/data' && s.generation === 1 && s.switch?.own === false).map((s) => s.id);
  assert.equal(g1Copy.length, 1);
  ok(e, ['volume', 'snapshot', 'app/data', '--stop', '--keep', '1']);
  const kept = snapshots(e).filter((s) => s.kind === 'snapshot' && s.volume === 'app/data').map((s) => s.id);
  assert.ok(kept.includes(g1), `generation 1's own snapshot ${g1} is kept: ${kept.join(' ')}`);
  assert.ok(!kept.includes(g1Copy[0]!), `the snapshot of 2.0.0's data taken when generation 1 was left is pruned: ${kept.join(' ')}`);
  // Another round trip with the data: the snapshot of generation 1 taken now is its own again (it was entered with its data).
  ok(e, ['switch', '2', '--settle', '1s']);
  await answers(port!, NEW);
  ok(e, ['rollback', '--with-data', '--settle', '1s']);
  await answers(port!, OLD);

  // --no-snapshot: nothing is taken.
  const n = listedIds(e).length;
  ok(e, ['switch', '2', '--settle', '1s', '--no-snapshot']);
  assert.equal(listedIds(e).length, n);
  ok(e, ['deactivate', 'app', '--no-snapshot']);
});

test('a volume over the copy limit where only a full copy is possible (ext4, tmpfs) is skipped with a note and recorded; --with-data names it and restores the rest', async () => {
  const e = await setup();
  const [port] = await freePorts(1);
  const activate = (v: string) => ok(e, ['activate', `app:${v}`, '--name', 'big', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s']);
  activate('1.0.0');
  await answers(port!, OLD);
  // 1.03 GiB allocated (fallocate: instant, and du counts it) beside the app's row: over the 1 GiB a switch copies
  // unasked. ext4 on the host; tmpfs in the systemd machine's scratch dir.
  const data = join(e.root, 'var/lib/niso/volumes/@big/data/data');
  assert.equal(spawnSync('fallocate', ['-l', '1030M', join(data, 'blob')]).status, 0);
  const fsType = spawnSync('stat', ['-f', '-c', '%T', data], { encoding: 'utf8' }).stdout.trim();
  const cheap = fsType === 'xfs' || fsType === 'btrfs';
  const up = activate('2.0.0');
  await answers(port!, NEW);
  const taken = snapshots(e).filter((s) => s.kind === 'snapshot').map((s) => s.volume);
  if (cheap) {
    // Where the file system shares blocks, size does not matter: it is taken.
    assert.deepEqual(taken, ['big/data', 'big/state']);
    ok(e, ['deactivate', 'big', '--no-snapshot']);
    return;
  }
  assert.match(up.stderr, /^no snapshot of big\/data \(NISO5201\): (ext4|tmpfs) cannot share blocks between files \(no reflink\), and a full copy of \d+ bytes is more than the limit of 1073741824 bytes; --snapshot-copy copies it anyway$/m);
  assert.deepEqual(taken, ['big/state'], 'the /state is small: copied');
  const audit = JSON.parse(ok(e, ['audit', '--json']).stdout) as { event: string; details?: { snapshotsSkipped?: string[] } }[];
  assert.deepEqual(audit.filter((a) => a.event === 'service.activate').at(-1)!.details?.snapshotsSkipped, ['big/data']);
  const dry = ok(e, ['rollback', '--with-data', '--dry-run']).stdout;
  assert.match(dry, /^would not restore big\/data: no snapshot was taken when the host left generation 1$/m);
  assert.match(dry, /^would restore big\/state from snapshot g1-/m);
  const back = ok(e, ['rollback', '--with-data', '--settle', '1s']);
  assert.match(back.stderr, /^data of big\/data not restored: no snapshot was taken when the host left generation 1$/m);
  // The volume keeps 2.0.0's row; /state is 1.0.0's again.
  await answers(port!, 'version 1.0.0 data=row of 2.0.0 state=state of 1.0.0');
  ok(e, ['deactivate', 'big', '--no-snapshot']);
});

test('a snapshot that fails undoes the switch before anything changed (NISO6051): the old version serves, the new generation is failed; fixed, the upgrade goes through', async () => {
  const e = await setup();
  const [port] = await freePorts(1);
  const activate = (v: string) => niso(e, ['activate', `app:${v}`, '--name', 'failing', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s']);
  assert.equal(activate('1.0.0').code, 0);
  await answers(port!, OLD);
  // A file where the volume's snapshots directory must be: the snapshot fails (as a full disk would), it is not skipped.
  const blocker = join(e.root, 'var/lib/niso/snapshots/@failing/data');
  mkdirSync(dirname(blocker), { recursive: true });
  writeFileSync(blocker, 'in the way');
  const r = activate('2.0.0');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^error NISO6051: the switch to generation 2 was undone before any service changed: /m);
  await answers(port!, OLD);
  assert.deepEqual(generations(e).map((g) => [g.number, g.status, g.current]), [[1, 'good', true], [2, 'failed', false]]);
  assert.ok(!existsSync(join(e.root, 'var/lib/niso/generations/journal.jsonl')), 'the journal is retired');
  rmSync(blocker);
  assert.equal(activate('2.0.0').code, 0);
  await answers(port!, NEW);
  assert.deepEqual(snapshots(e).filter((s) => s.kind === 'snapshot').map((s) => [s.volume, s.generation]), [['failing/data', 1], ['failing/state', 1]]);
  ok(e, ['deactivate', 'failing', '--no-snapshot']);
});

// The data phase's points (and one inside a snapshot and one inside a restore) of `rollback --with-data`, in order
// (crashed/data is the first volume, crashed/state the second). Each is a line of the journal or a fixed place in a
// snapshot or restore, so where the SIGKILL lands never depends on timing.
const ALL_POINTS = [
  'switch:data:begin', 'switch:data:stopped', 'snapshot:complete', 'switch:data:snapshot:0', 'switch:data:snapshot:1',
  'switch:data:restore:0:start', 'snapshot-restore:aside', 'switch:data:restore:0:done', 'switch:data:restore:1:done', 'switch:step:0:done', 'switch:commit',
];
// Inside the systemd machine (slower by far): a point inside the restore and the one after the new version ran.
const POINTS = onSystemd ? ['snapshot-restore:aside', 'switch:step:0:done'] : ALL_POINTS;

test('crash injection in the data phase: rollback --with-data SIGKILLed at each step; recovery leaves exactly the old generation with its data or exactly the new with the restored data, and no half-made snapshot is listed', async () => {
  const e = await setup();
  const [port] = await freePorts(1);
  ok(e, ['activate', 'app:1.0.0', '--name', 'crashed', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s']);
  await answers(port!, OLD);
  ok(e, ['activate', 'app:2.0.0', '--name', 'crashed', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s']);
  await answers(port!, NEW);
  for (const point of POINTS) {
    const before = listedIds(e);
    const r = niso(e, ['rollback', '--with-data', '--settle', '1s'], { NISO_TEST_CRASH_AT: point });
    assert.equal(r.signal, 'SIGKILL', `${point}: ${r.stderr}`);
    const committed = point === 'switch:commit';
    // niso status settles the interrupted switch.
    const status = JSON.parse(ok(e, ['status', '--json']).stdout) as { name: string; package: { version: string } }[];
    assert.deepEqual(status.map((s) => [s.name, s.package.version]), [['crashed', committed ? '1.0.0' : '2.0.0']], point);
    await answers(port!, committed ? OLD : NEW).catch((err: Error) => { throw new Error(`${point}: ${err.message}`); });
    assert.equal(currentNumber(e), committed ? 1 : 2, point);
    assert.ok(!existsSync(join(e.root, 'var/lib/niso/generations/journal.jsonl')), `${point}: the journal is retired`);
    // What is listed is whole: every id has its meta.json (listing reads it), and no hidden work entry is left listed.
    const now = listedIds(e);
    assert.ok(now.every((id) => !id.includes('.tmp-') && !id.includes('.trash-')), `${point}: ${now.join(' ')}`);
    // The snapshots listed before are still listed (retention keeps 3, and none was taken in full yet at the first points).
    if (point === 'switch:data:begin' || point === 'switch:data:stopped' || point === 'snapshot:complete') assert.deepEqual(now, before, point);
    // The volume has its data dir (a restore cut between its two renames was put back).
    assert.ok(existsSync(join(e.root, 'var/lib/niso/volumes/@crashed/data/data/rows')), `${point}: crashed/data has its data`);
    if (committed) {
      // Back to 2.0.0 for the next point (the committed one is the last).
      ok(e, ['switch', '2', '--settle', '1s']);
      await answers(port!, NEW);
    }
  }
  // A later snapshot sweeps what the killed ones left in their hidden work entries.
  ok(e, ['volume', 'snapshot', 'crashed/data', '--stop']);
  const hidden = readdirSync(join(e.root, 'var/lib/niso/snapshots/@crashed/data')).filter((n) => n.startsWith('.'));
  assert.deepEqual(hidden, []);
  ok(e, ['deactivate', 'crashed', '--no-snapshot']);
});
