// Volumes on real directories (src/volume/): the data dir's group, setgid bit and default ACL let two uids with
// different umasks share files; grants are recorded and checked under a lock (two activations at once never both win
// an exclusive volume); an exclusive holder owns the data dir; rm and prune refuse what is held; removing a service
// ends its grants and, asked to, deletes its own volumes; group ids go back to the registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNisoError } from '../../src/errors/niso-error.js';
import { readClaim, HOST_REGISTRY } from '../../src/sandbox/uids.js';
import { layout, stateOf, volumeOf } from '../../src/store/layout.js';
import { pruneVolumes, removeVolumes, allVolumes, inspectVolume } from '../../src/volume/catalog.js';
import { parseFilters } from '../../src/volume/filters.js';
import { releaseServiceData } from '../../src/volume/service-data.js';
import { createVolume, readRegistry, resolveVolumes, revokeGrants, type GrantRequest } from '../../src/volume/store.js';
import { tempDir } from '../helpers/tmp.js';

function newRoot(): string {
  const root = join(tempDir(), 'root');
  mkdirSync(join(root, 'var/lib/niso'), { recursive: true });
  return root;
}

/** A service that exists (inactive): what `niso activate` would have written, without running anything. */
function defineService(root: string, name: string): void {
  const dir = join(layout(root).services, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'service.json'), JSON.stringify({
    version: 1, name, package: { name: 'app', version: '1.0.0', digest: 'sha256:' + '0'.repeat(64) }, options: {}, backend: 'embedded',
    createdAt: new Date().toISOString(), desired: 'inactive', logs: { maxBytes: 1 << 20, files: 2 },
  }));
}
const undefineService = (root: string, name: string) => spawnSync('rm', ['-rf', join(layout(root).services, name)]);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { assert.ok(isNisoError(e), String((e as Error).stack)); return `${e.code}: ${e.message}`; }
  assert.fail('no error');
}

const rw = (volume: string, exclusive = false): GrantRequest => ({ volume, readOnly: false, exclusive });
const asService = (uid: number) => ({ run: null, uid });

/** Runs a shell command as a uid with a supplementary group, as a sandbox would (plan.user.groups). */
function asUid(uid: number, group: number, cmd: string) {
  return spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, `--groups=${group}`, 'sh', '-c', cmd], { encoding: 'utf8' });
}

test('a volume is root\'s and its own group\'s, setgid 2770 with a default ACL: two writers with umask 077 read and write each other\'s files', async () => {
  const root = newRoot();
  const meta = await createVolume(root, 'shared', { app: 'shop' });
  const v = volumeOf(layout(root), 'shared');
  const st = statSync(v.data);
  assert.deepEqual([st.uid, st.gid, (st.mode & 0o7777).toString(8)], [0, meta.gid, '2770']);
  assert.equal(statSync(layout(root).volumes).mode & 0o777, 0o711, 'the volumes are not listable by others');
  assert.equal(statSync(v.meta).mode & 0o777, 0o600);
  assert.match(spawnSync('getfacl', ['-cp', v.data], { encoding: 'utf8' }).stdout, /default:user::rwx\ndefault:group::rwx\ndefault:other::---/);
  // The group is a claim in the host-wide registry, as a service's uid is.
  assert.deepEqual({ root: readClaim(HOST_REGISTRY, meta.gid)?.root, service: readClaim(HOST_REGISTRY, meta.gid)?.service }, { root, service: 'volume/shared' });

  const [a, b] = [60991, 60992];
  const w1 = asUid(a, meta.gid, `umask 077; mkdir ${v.data}/dir && echo one > ${v.data}/dir/f`);
  assert.equal(w1.status, 0, w1.stderr);
  const w2 = asUid(b, meta.gid, `umask 077; echo two >> ${v.data}/dir/f && echo new > ${v.data}/dir/g`);
  assert.equal(w2.status, 0, w2.stderr);
  assert.equal(readFileSync(join(v.data, 'dir/f'), 'utf8'), 'one\ntwo\n');
  const f = statSync(join(v.data, 'dir/f'));
  assert.deepEqual([f.uid, f.gid, (f.mode & 0o777).toString(8)], [a, meta.gid, '660'], 'the group keeps rw whatever the umask; others get nothing');
  assert.equal((statSync(join(v.data, 'dir')).mode & 0o7777).toString(8), '2770', 'new directories are setgid too');
  const stranger = asUid(60993, 60993, `cat ${v.data}/dir/f`);
  assert.notEqual(stranger.status, 0, 'a uid without the group reads nothing');

  assert.deepEqual(await removeVolumes(root, ['shared'], { force: false }), ['shared']);
  assert.equal(existsSync(v.dir), false);
  assert.equal(readClaim(HOST_REGISTRY, meta.gid)?.service === 'volume/shared' && readClaim(HOST_REGISTRY, meta.gid)?.root === root, false, 'the gid went back');
  assert.match(await codeOf(createVolume(root, 'Bad')), /^NISO5001/);
  await createVolume(root, 'again');
  assert.match(await codeOf(createVolume(root, 'again')), /^NISO5003: volume again already exists/);
});

test('resolveVolumes: nothing for no grants; a missing volume is made with a note; a restart changes nothing; names and kinds are checked', async () => {
  const root = newRoot();
  assert.deepEqual(await resolveVolumes(root, 'web', [], asService(60100)), { volumes: {}, notes: [] });
  assert.equal(existsSync(layout(root).volumes), false, 'the no-volume path touches nothing');
  defineService(root, 'web');
  const first = await resolveVolumes(root, 'web', [rw('data'), rw('web/uploads'), { volume: 'data', readOnly: true, exclusive: false }], asService(60100));
  assert.deepEqual(first.notes, ['created volume data', 'created volume web/uploads']);
  assert.deepEqual(Object.keys(first.volumes), ['data', 'web/uploads']);
  assert.equal(first.volumes['web/uploads']!.dir, join(layout(root).volumes, '@web/uploads/data'));
  assert.equal(statSync(first.volumes.data!.dir).gid, first.volumes.data!.gid);
  const grants = join(layout(root).volumes, 'grants.json');
  const before = statSync(grants).mtimeMs;
  const again = await resolveVolumes(root, 'web', [rw('web/uploads'), rw('data')], asService(60100));
  assert.deepEqual(again, { volumes: first.volumes, notes: [] });
  assert.equal(statSync(grants).mtimeMs, before, 'a restart writes nothing');
  assert.deepEqual(readRegistry(root).services.web!.map((g) => g.volume), ['data', 'web/uploads']);

  assert.match(await codeOf(resolveVolumes(root, 'api', [rw('web/state')], asService(60101))), /^NISO5004: web\/state is the \/state of service web/);
  assert.match(await codeOf(resolveVolumes(root, 'api', [rw('db/files')], asService(60101))), /^NISO5005: volume db\/files does not exist, and only service db makes it/);
  assert.match(await codeOf(resolveVolumes(root, 'api', [rw('../../etc')], asService(60101))), /^NISO5001/);
  // Another service may be granted web's own volume once it exists (the operator's -v).
  defineService(root, 'api');
  assert.deepEqual((await resolveVolumes(root, 'api', [rw('web/uploads')], asService(60101))).notes, []);
  // A run: its grant is recorded under its pid and counts while it lives.
  await resolveVolumes(root, 'tool', [{ volume: 'data', readOnly: true, exclusive: false }], { run: process.pid, uid: 60102 });
  assert.deepEqual(readRegistry(root).runs.map((r) => [r.service, r.pid, r.volume]), [['tool', process.pid, 'data']]);
  const info = await inspectVolume(root, 'data');
  assert.deepEqual(info.grants.map((g) => [g.service, g.run, g.readOnly, g.active]), [['tool', process.pid, true, true], ['web', null, false, true]]);
});

test('exclusive: the holder owns the data dir (not what is in it); others are refused, naming it; revoked at remove, the dir is root\'s again', async () => {
  const root = newRoot();
  defineService(root, 'pg');
  defineService(root, 'web');
  const r = await resolveVolumes(root, 'pg', [rw('pgdata', true)], asService(60110));
  const data = r.volumes.pgdata!.dir;
  writeFileSync(join(data, 'inside'), 'x');
  await resolveVolumes(root, 'pg', [rw('pgdata', true)], asService(60110));
  assert.deepEqual([statSync(data).uid, statSync(data).gid, (statSync(data).mode & 0o7777).toString(8)], [60110, r.volumes.pgdata!.gid, '2770']);
  assert.equal(statSync(join(data, 'inside')).uid, 0, 'never a recursive chown');
  const refused = await codeOf(resolveVolumes(root, 'web', [{ volume: 'pgdata', readOnly: true, exclusive: false }], asService(60111)));
  assert.match(refused, /^NISO5007: volume pgdata is exclusive to service pg; web cannot mount it/);
  assert.match(await codeOf(resolveVolumes(root, 'web', [rw('pgdata')], { run: process.pid, uid: 60111 })), /^NISO5007/, 'a run of another name too');
  await resolveVolumes(root, 'web', [rw('shared')], asService(60111));
  assert.match(await codeOf(resolveVolumes(root, 'pg', [rw('pgdata', true), rw('shared', true)], asService(60110))), /^NISO5008: volume shared cannot be granted exclusively to pg: service web holds it already/);
  // The refused start changed nothing: pg still holds what it held.
  assert.deepEqual(readRegistry(root).services.pg!.map((g) => g.volume), ['pgdata']);
  await revokeGrants(root, 'pg');
  undefineService(root, 'pg');
  assert.equal(statSync(data).uid, 0);
  assert.deepEqual((await resolveVolumes(root, 'web', [rw('pgdata')], asService(60111))).notes, []);
});

test('two activations at once never both win an exclusive volume: one holds it, the other is told who does', async () => {
  const root = newRoot();
  for (let i = 0; i < 4; i++) {
    const [a, b] = [`a${i}`, `b${i}`];
    defineService(root, a);
    defineService(root, b);
    const results = await Promise.allSettled([
      resolveVolumes(root, a, [rw(`db${i}`, true)], asService(60120)),
      resolveVolumes(root, b, [rw(`db${i}`, true)], asService(60121)),
    ]);
    const won = results.filter((x) => x.status === 'fulfilled');
    const lost = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
    assert.equal(won.length, 1, JSON.stringify(results.map((x) => x.status)));
    assert.match((lost[0]!.reason as Error).message, new RegExp(`volume db${i} (is exclusive to service|cannot be granted exclusively)`));
    assert.equal(Object.keys(readRegistry(root).services).filter((s) => readRegistry(root).services[s]!.some((g) => g.volume === `db${i}`)).length, 1);
    // The volume was made once, by the winner.
    assert.equal((await allVolumes(root, { sizes: false })).filter((v) => v.name === `db${i}`).length, 1);
  }
});

test('rm refuses a volume a service holds (naming it), -f drops the grant of one that does not run; a live run always keeps its volume', async () => {
  const root = newRoot();
  defineService(root, 'web');
  await resolveVolumes(root, 'web', [rw('data')], asService(60130));
  const refused = await codeOf(removeVolumes(root, ['data'], { force: false }));
  assert.match(refused, /^NISO5006: volume data is in use by service web; cannot remove it/);
  assert.deepEqual(await removeVolumes(root, ['data'], { force: true }), ['data']);
  assert.equal(readRegistry(root).services.web, undefined, 'its grant went with it');
  assert.deepEqual(await removeVolumes(root, ['nothing'], { force: true }), [], '-f: a missing volume is no error');
  assert.match(await codeOf(removeVolumes(root, ['nothing'], { force: false })), /^NISO5002: no volume named nothing/);
  await resolveVolumes(root, 'tool', [rw('scratch')], { run: process.pid, uid: 60131 });
  assert.match(await codeOf(removeVolumes(root, ['scratch'], { force: true })), /^NISO5006: volume scratch is in use by a run of tool \(pid \d+\)/);
  // A /state: only once its service is gone.
  mkdirSync(stateOf(layout(root), 'web').dir, { recursive: true });
  assert.match(await codeOf(removeVolumes(root, ['web/state'], { force: false })), /^NISO5015: web\/state is the \/state of service web, which exists/);
});

test('removing a service ends its grants; with --volumes its own volumes and /state go too, other volumes stay', async () => {
  const root = newRoot();
  defineService(root, 'web');
  defineService(root, 'api');
  await resolveVolumes(root, 'web', [rw('web/uploads'), rw('web/cache'), rw('shared', false)], asService(60140));
  await resolveVolumes(root, 'api', [rw('api/files')], asService(60141));
  mkdirSync(stateOf(layout(root), 'web').dir, { recursive: true });
  const kept = await releaseServiceData(root, 'web', false);
  assert.deepEqual(kept.removedVolumes, []);
  assert.equal(readRegistry(root).services.web, undefined);
  undefineService(root, 'web');
  const names = (await allVolumes(root, { sizes: false })).map((v) => `${v.name}:${v.kind}:${v.serviceExists}`);
  assert.deepEqual(names, ['api/files:service:true', 'shared:named:null', 'web/cache:service:false', 'web/state:state:false', 'web/uploads:service:false']);
  const deleted = await releaseServiceData(root, 'web', true);
  assert.deepEqual(deleted.removedVolumes, ['web/cache', 'web/uploads']);
  assert.equal(existsSync(stateOf(layout(root), 'web').dir), false);
  assert.equal(existsSync(join(layout(root).volumes, '@web')), false, 'its directory goes with its last volume');
  assert.deepEqual((await allVolumes(root, { sizes: false })).map((v) => v.name), ['api/files', 'shared']);
});

test('prune takes the data of services that no longer exist; -a also unused named volumes; labels filter; what is held stays', async () => {
  const root = newRoot();
  defineService(root, 'web');
  await resolveVolumes(root, 'web', [rw('held')], asService(60150));
  await createVolume(root, 'spare', { keep: 'yes' });
  await createVolume(root, 'junk');
  defineService(root, 'old');
  await resolveVolumes(root, 'old', [rw('old/files')], asService(60151));
  writeFileSync(join(volumeOf(layout(root), 'old/files').data, 'blob'), Buffer.alloc(64 * 1024, 1));
  await revokeGrants(root, 'old');
  undefineService(root, 'old');
  mkdirSync(stateOf(layout(root), 'old').dir, { recursive: true });
  const dry = await pruneVolumes(root, { all: false, dryRun: true });
  assert.deepEqual(dry.removed.map((v) => v.name), ['old/files', 'old/state']);
  assert.ok(dry.reclaimedBytes >= 64 * 1024);
  assert.ok(existsSync(volumeOf(layout(root), 'old/files').dir), 'a dry run deletes nothing');
  assert.deepEqual((await pruneVolumes(root, { all: false })).removed.map((v) => v.name), ['old/files', 'old/state']);
  assert.deepEqual((await pruneVolumes(root, { all: true, filters: parseFilters(['label!=keep'], ['label']) })).removed.map((v) => v.name), ['junk']);
  assert.deepEqual((await allVolumes(root, { sizes: false })).map((v) => v.name), ['held', 'spare']);
  assert.equal(lstatSync(volumeOf(layout(root), 'held').data).isDirectory(), true);
});
