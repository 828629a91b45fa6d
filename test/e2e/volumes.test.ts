// `niso volume ...`, `remove --volumes` and `gc` as a user runs them, through the built CLI with its own NISO_ROOT:
// the --json shapes, coded errors for hostile names, prune's question, a service's /state listed, kept, noted when a
// new service inherits it, deleted with --volumes (also while a mount namespace made meanwhile holds a copy of the
// host's mounts), reported by gc; a backup of a running service's /state stops it
// for the copy and says how long, and restores byte for byte; a snapshot of it is refused while it runs unless
// --stop stops it, and is restored only while it is stopped.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_MANIFEST, removeTestDir, writeTree } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const BIN = join(import.meta.dirname, '../../bin/niso');

interface Env { root: string; dir: string }
const envs: Env[] = [];

function niso(e: Env, args: string[], opts: { input?: string } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: e.dir, encoding: 'utf8', input: opts.input ?? '', env: { ...process.env, NISO_ROOT: e.root }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}
function ok(e: Env, args: string[]): string {
  const r = niso(e, args);
  assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}
const json = (e: Env, args: string[]) => JSON.parse(ok(e, [...args, '--json']));

function env(): Env {
  // Not tempDir(): services must be stopped before their root goes (the after hook).
  const dir = mkdtempSync(join(tmpdir(), 'niso-vol-'));
  chmodSync(dir, 0o755);
  const e = { root: join(dir, 'root'), dir };
  envs.push(e);
  return e;
}

after(async () => {
  for (const e of envs) {
    for (const n of (() => { try { return readdirSync(join(e.root, 'var/lib/niso/services')); } catch { return []; } })()) if (!n.startsWith('.')) niso(e, ['deactivate', n]);
    try { const s = JSON.parse(readFileSync(join(e.root, 'run/niso/supervisor.json'), 'utf8')) as { pid: number }; process.kill(s.pid, 'SIGKILL'); } catch { /* none */ }
    await removeTestDir(e.dir);
  }
});

test('create, ls, inspect, rm with --json; hostile names, unknown volumes and bad filters are coded errors', () => {
  const e = env();
  const created = json(e, ['volume', 'create', 'pgdata', '--label', 'app=shop']);
  assert.equal(created.name, 'pgdata');
  assert.equal(created.kind, 'named');
  assert.deepEqual(created.labels, { app: 'shop' });
  assert.equal(created.dir, join(e.root, 'var/lib/niso/volumes/pgdata/data'));
  assert.deepEqual(created.owner, { uid: 0, gid: created.gid, mode: '2770' });
  assert.deepEqual(created.grants, []);
  assert.equal(created.inUse, false);
  assert.equal(ok(e, ['volume', 'create', 'cache']), 'cache\n');
  const list = json(e, ['volume', 'ls']);
  assert.deepEqual(list.map((v: { name: string }) => v.name), ['cache', 'pgdata']);
  assert.deepEqual(Object.keys(list[0]).sort(), ['createdAt', 'dir', 'exclusiveHolder', 'gid', 'grants', 'inUse', 'kind', 'labels', 'name', 'owner', 'service', 'serviceExists', 'sizeBytes'].sort());
  assert.equal(list[0].sizeBytes, null, 'ls measures only with --size');
  assert.ok(json(e, ['volume', 'ls', '--size'])[0].sizeBytes > 0);
  assert.equal(ok(e, ['volume', 'ls', '-q', '--filter', 'label=app=shop']), 'pgdata\n');
  assert.equal(ok(e, ['volume', 'ls', '-q', '-f', 'name=ach', '-f', 'dangling=true']), 'cache\n');
  assert.match(ok(e, ['volume', 'ls']), /^KIND\s+NAME\s+USED BY\s+SIZE\s+CREATED\nnamed\s+cache\s+-\s+-\s+\d+ seconds? ago\n/);
  const insp = json(e, ['volume', 'inspect', 'pgdata', 'cache']);
  assert.deepEqual(insp.map((v: { name: string }) => v.name), ['pgdata', 'cache']);
  assert.equal(typeof insp[0].sizeBytes, 'number');
  assert.match(ok(e, ['volume', 'inspect', 'pgdata']), /^pgdata\n {2}kind: {7}named\n[\s\S]* {2}owner: {6}uid 0, gid \d+, mode 2770\n[\s\S]* {2}label: {6}app=shop\n {2}grants: {5}none\n$/);

  for (const [name, re] of [
    ['a/b/c', /error NISO5001: volume name "a\/b\/c" has 2 "\/"/],
    ['..', /error NISO5001: volume name "\.\." is "\.\.", which would climb the directory tree/],
    ['x'.repeat(300), /error NISO5001: volume name "x{60}…\(300 characters\)" is 300 characters long/],
    ['UPPER', /error NISO5001: .*has upper-case letters\n {2}hint: .*e\.g\. "upper"/],
  ] as const) {
    const r = niso(e, ['volume', 'create', name]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
  const missing = niso(e, ['volume', 'inspect', 'nope', '--json']);
  assert.equal(missing.code, 1);
  assert.equal(missing.json().error.code, 'NISO5002');
  assert.equal(niso(e, ['volume', 'create', 'cache']).stderr.split('\n')[0], 'error NISO5003: volume cache already exists');
  const filter = niso(e, ['volume', 'ls', '--filter', 'driver=local']);
  assert.equal(filter.code, 2);
  assert.match(filter.stderr, /error NISO5009: --filter "driver=local": "driver" is not a filter here/);
  assert.deepEqual(json(e, ['volume', 'rm', 'cache', 'pgdata']), { removed: ['cache', 'pgdata'] });
  assert.equal(niso(e, ['volume', 'rm', 'cache']).code, 1);
  assert.equal(ok(e, ['volume', 'rm', '-f', 'cache']), '');
  assert.match(ok(e, ['explain', 'NISO5007']), /^NISO5007: volume exclusive to another service\n\n/);
});

test('prune asks on a terminal and needs -f without one; -a takes unused named volumes, --dry-run nothing', () => {
  const e = env();
  ok(e, ['volume', 'create', 'spare']);
  const noTty = niso(e, ['volume', 'prune', '-a']);
  assert.equal(noTty.code, 2);
  assert.match(noTty.stderr, /error NISO5011: niso volume prune deletes data and asks first, but there is no terminal to ask on\n {2}hint: pass -f \(--force\)/);
  assert.deepEqual(json(e, ['volume', 'prune', '-a', '--dry-run']).removed.map((v: { name: string }) => v.name), ['spare']);
  assert.ok(existsSync(join(e.root, 'var/lib/niso/volumes/spare')));
  assert.deepEqual(json(e, ['volume', 'prune', '-f']).removed, [], 'without -a a named volume stays');
  // On a terminal (script(1) gives niso one): "n" keeps, "y" deletes.
  const onTty = (answer: string) => spawnSync('script', ['-qec', `${process.execPath} ${BIN} volume prune -a`, '/dev/null'], { input: `${answer}\n`, encoding: 'utf8', env: { ...process.env, NISO_ROOT: e.root } });
  const no = onTty('n');
  assert.match(no.stdout, /WARNING! This will remove every volume nothing uses[\s\S]*Are you sure you want to continue\? \[y\/N\][\s\S]*nothing removed/);
  assert.ok(existsSync(join(e.root, 'var/lib/niso/volumes/spare')));
  const yes = onTty('y');
  assert.match(yes.stdout, /Deleted volumes:\r?\nspare\r?\n[\s\S]*Total reclaimed space: /);
  assert.equal(existsSync(join(e.root, 'var/lib/niso/volumes/spare')), false);
});

const MAIN = `
const fs = require('fs');
fs.writeFileSync('/state/hello.txt', 'written by ' + process.getuid() + '\\n');
if (!fs.existsSync('/state/first')) fs.writeFileSync('/state/first', String(Date.now()));
fs.mkdirSync('/state/db', { recursive: true });
fs.writeFileSync('/state/db/rows', Buffer.alloc(100000, 'r'));
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1000);
`;

async function installApp(e: Env, name: string): Promise<void> {
  await writeTree(join(e.dir, name), { 'manifest.toml': NODE_MANIFEST(name, '1.0.0', 'stop_timeout = "2s"\n', ['main.js']), 'main.js': MAIN });
  ok(e, ['pack', name, '-o', `${name}.niso`, '-q']);
  ok(e, ['install', `${name}.niso`]);
}

test('a service\'s /state is the volume SERVICE/state: kept by remove, noted when a new service inherits it, reported by gc, deleted with --volumes', async () => {
  const e = env();
  await installApp(e, 'web');
  ok(e, ['activate', 'web', '--network', 'none', '--state-size', '16M']);
  const stateFile = join(e.root, 'var/lib/niso/state/web/hello.txt');
  await until('the app to write /state', () => existsSync(stateFile));
  const listed = json(e, ['volume', 'ls', '--filter', 'kind=state']);
  assert.equal(listed.length, 1);
  assert.deepEqual({ name: listed[0].name, kind: listed[0].kind, service: listed[0].service, serviceExists: listed[0].serviceExists, inUse: listed[0].inUse }, { name: 'web/state', kind: 'state', service: 'web', serviceExists: true, inUse: true });
  assert.ok(listed[0].sizeBytes > 100000, 'the image\'s usage');
  assert.equal(listed[0].state.mounted, true);
  assert.equal(listed[0].state.limitBytes, 16 * 1024 * 1024);
  assert.match(ok(e, ['volume', 'ls']), /\nstate\s+web\/state\s+web\s+\d/);
  const refused = niso(e, ['volume', 'rm', 'web/state']);
  assert.match(refused.stderr, /error NISO5015: web\/state is the \/state of service web, which exists/);

  ok(e, ['deactivate', 'web']);
  assert.equal(ok(e, ['remove', 'web']), 'removed service web (its data stays: web/state; `niso remove web --volumes` would delete it)\n');
  const kept = json(e, ['volume', 'inspect', 'web/state'])[0];
  assert.equal(kept.serviceExists, false);
  assert.equal(kept.state.mounted, false);
  const gc = json(e, ['gc']);
  assert.deepEqual(gc.orphans.map((o: { name: string; kind: string }) => `${o.name}:${o.kind}`), ['web/state:state']);
  assert.equal(gc.orphansDeleted, false);
  assert.match(ok(e, ['gc']), /data of services that no longer exist, .*, kept:\n {2}web\/state \(\/state, .*\)\n`niso gc --volumes` deletes it/);

  // A new service of the name takes the kept /state, and says so.
  const again = niso(e, ['activate', 'web', '--network', 'none', '--state-size', '16M']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /^note: web uses the \/state kept from an earlier service web \([\d.]+ [KMG]iB, since \d{4}-\d\d-\d\d\); `niso volume rm web\/state` first to start empty\n/);
  ok(e, ['deactivate', 'web']);
  const gone = niso(e, ['remove', 'web', '--volumes', '--json']);
  assert.equal(gone.code, 0, gone.stderr);
  assert.deepEqual({ services: gone.json().removedServices, state: gone.json().removedState, volumes: gone.json().removedVolumes }, { services: ['web'], state: ['web'], volumes: [] });
  assert.deepEqual(json(e, ['volume', 'ls']), []);
  // --state is still accepted for --volumes; gc --volumes deletes what removed services kept.
  await installApp(e, 'api');
  ok(e, ['activate', 'api', '--network', 'none', '--state-size', '16M']);
  await until('api to write /state', () => existsSync(join(e.root, 'var/lib/niso/state/api/hello.txt')));
  ok(e, ['deactivate', 'api']);
  ok(e, ['remove', 'api']);
  assert.match(ok(e, ['gc', '--volumes']), /deleted the data of services that no longer exist, .*:\n {2}api\/state/);
  assert.equal(existsSync(join(e.root, 'var/lib/niso/state/api')), false);
  const none = niso(e, ['remove', 'api', '--state']);
  assert.match(none.stderr, /error NISO9001: --volumes: there is no service, no \/state and no service volume named "api"/);
});

test('two services with a bounded /state: a mount namespace made while both images are mounted (as systemd-nspawn and `ip netns exec` make theirs) keeps neither, and remove --volumes of one succeeds while it lives', async () => {
  const e = env();
  await installApp(e, 'pair');
  for (const name of ['left', 'right']) ok(e, ['activate', 'pair', '--name', name, '--network', 'none', '--state-size', '16M']);
  for (const name of ['left', 'right']) await until(`${name} to write /state`, () => existsSync(join(e.root, `var/lib/niso/state/${name}/hello.txt`)));
  // Every mount copied, then made a slave of the host's: a host whose / is private (init is not systemd) kept the
  // copy of left's image attached for as long as this namespace lived, and remove --volumes was NISO3210.
  const holder = spawn('unshare', ['--mount', '--propagation', 'slave', 'sh', '-c', 'echo ready && exec sleep 120'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.setEncoding('utf8').on('data', (d: string) => { if (d.includes('ready')) resolve(); });
      holder.on('close', (code) => reject(new Error(`unshare ended (${code}) before its namespace was made`)));
    });
    ok(e, ['deactivate', 'left']);
    const gone = niso(e, ['remove', 'left', '--volumes', '--json']);
    assert.equal(gone.code, 0, gone.stderr);
    assert.deepEqual(gone.json().removedState, ['left']);
    const image = join(e.root, 'var/lib/niso/state/.images/left.img');
    assert.equal(existsSync(image), false);
    assert.equal(spawnSync('losetup', ['-j', image, '-n'], { encoding: 'utf8' }).stdout, '', 'no loop device left on the image');
    assert.equal(holder.exitCode, null, 'the namespace still lives');
    // The other service is untouched: running, its /state mounted with what it wrote.
    assert.equal(json(e, ['status', 'right']).state, 'active');
    assert.ok(existsSync(join(e.root, 'var/lib/niso/state/right/hello.txt')));
  } finally {
    holder.kill('SIGKILL');
    if (holder.exitCode === null && holder.signalCode === null) await new Promise((r) => holder.on('close', r));
  }
});

test('backup of a running service\'s /state stops it for the copy, starts it again and says how long it was down; restore is byte for byte', async () => {
  const e = env();
  await installApp(e, 'db');
  ok(e, ['activate', 'db', '--network', 'none', '--state-size', '16M']);
  const state = join(e.root, 'var/lib/niso/state/db');
  await until('the app to write /state', () => existsSync(join(state, 'db/rows')));
  const out = join(e.dir, 'db.tar.zst');
  const b = json(e, ['volume', 'backup', 'db/state', '-o', out]);
  assert.deepEqual({ volume: b.volume, output: b.output, stopped: b.stopped, live: b.live }, { volume: 'db/state', output: out, stopped: ['db'], live: false });
  assert.equal(typeof b.downtimeMs, 'number');
  assert.equal(b.files, 3);
  assert.equal(JSON.parse(ok(e, ['status', 'db', '--json'])).state, 'active', 'started again');
  const text = ok(e, ['volume', 'backup', 'db/state', '-o', join(e.dir, 'again.tar.zst')]);
  assert.match(text, /^backed up db\/state: 3 files, .* into .*again\.tar\.zst \(.*\)\ndb was stopped for the copy and started again: down \d/);
  const live = json(e, ['volume', 'backup', 'db/state', '-o', join(e.dir, 'live.tar.zst'), '--live']);
  assert.deepEqual(live.stopped, []);
  assert.equal(live.downtimeMs, null);

  const r = json(e, ['volume', 'restore', 'copy', out]);
  assert.deepEqual({ volume: r.volume, created: r.created, files: r.files, from: r.from.volume, live: r.from.live }, { volume: 'copy', created: true, files: 3, from: 'db/state', live: false });
  const copy = join(e.root, 'var/lib/niso/volumes/copy/data');
  for (const f of ['hello.txt', 'first', 'db/rows']) assert.deepEqual(readFileSync(join(copy, f)), readFileSync(join(state, f)), f);
  const again = niso(e, ['volume', 'restore', 'copy', out]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^error NISO5030: volume copy is not empty/);
  writeFileSync(join(e.dir, 'junk.tar.zst'), 'not an archive');
  const junk = niso(e, ['volume', 'restore', 'other', join(e.dir, 'junk.tar.zst'), '--json']);
  assert.equal(junk.code, 2);
  assert.equal(junk.json().error.code, 'NISO5031');
  assert.deepEqual(json(e, ['volume', 'ls', '-f', 'kind=named']).map((v: { name: string }) => v.name), ['copy'], 'the refused restore left no volume');
});

test('snapshot of a running service\'s /state: refused while it writes, taken with --stop (stopped and started again); snapshot-restore only while it is stopped, and the app sees the old data', async () => {
  const e = env();
  await installApp(e, 'snap');
  ok(e, ['activate', 'snap', '--network', 'none', '--state-size', '16M']);
  const state = join(e.root, 'var/lib/niso/state/snap');
  await until('the app to write /state', () => existsSync(join(state, 'db/rows')));
  const first = readFileSync(join(state, 'first'), 'utf8');
  const refused = niso(e, ['volume', 'snapshot', 'snap/state']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^error NISO5202: cannot snapshot snap\/state now: service snap writes to it, and a (full|reflink) copy is taken file by file/);
  assert.match(refused.stderr, /--stop/);
  const t = json(e, ['volume', 'snapshot', 'snap/state', '--stop']);
  assert.equal(t.taken, true);
  assert.deepEqual([t.snapshot.source, t.snapshot.servicesStopped], ['image', ['snap']]);
  assert.ok(['copy', 'reflink'].includes(t.snapshot.method));
  assert.equal(typeof t.downtimeMs, 'number');
  assert.equal(JSON.parse(ok(e, ['status', 'snap', '--json'])).state, 'active', 'started again');
  const listed = json(e, ['volume', 'snapshots']);
  assert.deepEqual(listed.map((s: { volume: string; id: string }) => [s.volume, s.id]), [['snap/state', t.snapshot.id]]);
  assert.match(ok(e, ['volume', 'snapshots', 'snap/state']), /^VOLUME\s+SNAPSHOT\s+METHOD\s+SIZE\s+TAKEN\s+GENERATION\s+NOTE\nsnap\/state\s+manual-\d{8}T\d{6}Z\s+(copy|reflink)\s+.*stopped: snap\n$/);

  writeFileSync(join(state, 'first'), 'changed');
  const busy = niso(e, ['volume', 'snapshot-restore', 'snap/state', t.snapshot.id, '--yes']);
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /^error NISO5006: snap\/state is the \/state of service snap, which runs/);
  // Without the snapshot a deactivation takes of /state itself (switch-data.test.ts tests those).
  ok(e, ['deactivate', 'snap', '--no-snapshot']);
  const r = json(e, ['volume', 'snapshot-restore', 'snap/state', t.snapshot.id, '--yes']);
  assert.equal(r.snapshot, t.snapshot.id);
  ok(e, ['activate', 'snap']);
  await until('the app to start again', () => existsSync(join(state, 'hello.txt')));
  assert.equal(readFileSync(join(state, 'first'), 'utf8'), first, 'the data of the snapshot');
  const after = json(e, ['volume', 'snapshots', 'snap/state']);
  assert.deepEqual(after.map((s: { kind: string }) => s.kind), ['snapshot', 'replaced']);
  ok(e, ['volume', 'snapshot-rm', 'snap/state', after[1].id, t.snapshot.id]);
  assert.deepEqual(json(e, ['volume', 'snapshots', 'snap/state']), []);
  // Each change is in the audit log; the refused snapshot too, with its code.
  const log = (json(e, ['audit', '--json']) as { event: string; target: string; result: string; code?: string; details?: { id?: string; method?: string; snapshot?: string } }[])
    .filter((x) => x.event.startsWith('volume.snapshot'));
  assert.deepEqual(log.map((x) => [x.event, x.target, x.result, x.code ?? null]), [
    ['volume.snapshot', 'snap/state', 'failed', 'NISO5202'],
    ['volume.snapshot', 'snap/state', 'ok', null],
    ['volume.snapshot-restore', 'snap/state', 'failed', 'NISO5006'],
    ['volume.snapshot-restore', 'snap/state', 'ok', null],
    ['volume.snapshot-rm', 'snap/state', 'ok', null],
    ['volume.snapshot-rm', 'snap/state', 'ok', null],
  ]);
  assert.deepEqual([log[1]!.details?.id, log[1]!.details?.method], [t.snapshot.id, t.snapshot.method]);
});
