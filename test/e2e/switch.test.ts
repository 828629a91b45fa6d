// Generations through the built CLI against real services: an upgrade in place and `niso rollback` (a real client sees
// the old version again, its port mapping and hosts entries back), SafeSwitch rolling back a version whose health check
// fails (exit 3), a no-op switch that restarts nothing, a ports-only change without a restart, and a SIGKILL after
// every journal line of an upgrade, after which recovery leaves exactly the old or exactly the new generation. Written
// for both backends, as services-suite.ts: switch-systemd.test.ts runs it inside a booted systemd.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_MANIFEST, writeTree } from '../helpers/tmp.js';
import { freePorts } from '../helpers/ports.js';
import { teardownRoots } from '../helpers/switch-teardown.js';
import { until } from '../helpers/wait.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const onSystemd = process.env.NISO_E2E_BACKEND === 'systemd';

// VERSION answers HTTP on 3000 with its version; /health fails when SICK is set (a version whose check never passes).
const MAIN = (version: string) => `
const sick = process.env.SICK === '1';
console.log('start version ${version}');
require('http').createServer((q, s) => {
  if (q.url === '/health') { s.statusCode = sick ? 503 : 200; s.end(sick ? 'sick' : 'ok'); return; }
  s.end('version ${version}');
}).listen(3000, '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
`;

const HEALTH = '\n[healthcheck]\nhttp = "http://127.0.0.1:3000/health"\ninterval = "1s"\ntimeout = "1s"\nretries = 2\nstart_period = "1s"\nstart_interval = "200ms"\n';

interface Env { root: string; dir: string; id: string }
const envs: Env[] = [];

function niso(e: Env, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: e.dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: e.root, ...env } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function ok(e: Env, args: string[]): string {
  const r = niso(e, args);
  assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A root with app 1.0.0 and 2.0.0 installed (and 3.0.0, whose health check fails). */
async function setup(): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'niso-gen-'));
  chmodSync(dir, 0o755);
  const { rootId } = await import('../../src/service/store.js');
  const e: Env = { root: join(dir, 'root'), dir, id: '' };
  e.id = rootId(e.root);
  envs.push(e);
  for (const [v, sick] of [['1.0.0', false], ['2.0.0', false], ['3.0.0', true]] as const) {
    await writeTree(join(dir, `app-${v}`), {
      'manifest.toml': NODE_MANIFEST('app', v, `stop_timeout = "2s"\n\n[env]\nSICK = "${sick ? '1' : '0'}"\n${HEALTH}`, ['main.js']),
      'main.js': MAIN(v),
    });
    ok(e, ['pack', `app-${v}`, '-o', `app-${v}.niso`, '-q']);
    ok(e, ['install', `app-${v}.niso`]);
  }
  return e;
}

interface Status { name: string; state: string; pid: number | null; startedAt: string | null; package: { version: string }; ports: string[]; health: string | null }
const statuses = (e: Env): Status[] => JSON.parse(ok(e, ['status', '--json'])) as Status[];
const statusOf = (e: Env, name: string) => statuses(e).find((s) => s.name === name) ?? null;

interface Meta { number: number; status: string; reason?: string; summary: string[]; current: boolean }
/** The generations as `niso generation list --json` shows them. */
const generations = (e: Env): Meta[] => JSON.parse(ok(e, ['generation', 'list', '--json'])) as Meta[];
const currentNumber = (e: Env) => generations(e).find((g) => g.current)?.number ?? null;


const get = (port: number) => spawnSync('curl', ['-s', '-m', '2', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout;
async function answers(port: number, version: string): Promise<void> {
  let last = '';
  await until(`${version} to answer on ${port}`, () => (last = get(port)) === `version ${version}`, 15_000).catch((e: Error) => {
    throw new Error(`${e.message}; it answered ${JSON.stringify(last)}`);
  });
}
const refused = (port: number) => spawnSync('curl', ['-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout === '000';

/** The service's cgroups: niso's own on the embedded backend, the unit's on systemd. */
function cgroups(e: Env, service: string): string[] {
  const out: string[] = [];
  for (const c of ['memory', 'pids', 'cpu']) {
    if (onSystemd) { const d = `/sys/fs/cgroup/${c}/system.slice/niso-${service}.service`; if (existsSync(d)) out.push(d); continue; }
    const base = join('/sys/fs/cgroup', c, 'niso');
    try { for (const n of readdirSync(base)) if (n.startsWith(`svc.${e.id}.`) && n.endsWith(`.${service}`)) out.push(join(base, n)); } catch { /* no hierarchy */ }
  }
  return out;
}

/** The host-side ports niso maps now, from its attachment records (what the nft table is rendered from). */
function mappedPorts(e: Env): number[] {
  const dir = join(e.root, 'run/niso/net');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).flatMap((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { ports: { hostPort: { from: number } }[] }).ports.map((p) => p.hostPort.from)).sort();
}

after(() => teardownRoots(envs, (e, name) => { niso(e as Env, ['deactivate', name]); }));

test('upgrade in place and rollback: 2.0.0 replaces 1.0.0 under its name; rollback brings 1.0.0 back with its port and hosts entry; generations record it', async () => {
  const e = await setup();
  const [port, peerPort] = await freePorts(2);
  ok(e, ['activate', 'app:1.0.0', '--name', 'app', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s']);
  await answers(port!, '1.0.0');
  // A peer on the same network reads app's address from its /etc/hosts.
  ok(e, ['activate', 'app:1.0.0', '--name', 'peer', '-p', `127.0.0.1:${peerPort}:3000`, '--settle', '1s']);
  const hostsOfPeer = () => ok(e, ['exec', 'peer', '--', 'node', '-e', 'process.stdout.write(require("fs").readFileSync("/etc/hosts", "utf8"))']);
  const appAddress = () => /^(\S+)\s+app$/m.exec(hostsOfPeer())?.[1];
  const before = appAddress();
  assert.ok(before, hostsOfPeer());
  const peerPid = statusOf(e, 'peer')!.pid;

  // What the upgrade would do, without doing it.
  const dry = ok(e, ['activate', 'app:2.0.0', '--name', 'app', '-p', `127.0.0.1:${port}:3000`, '--dry-run']);
  // The /state of the writer the switch stops is snapshotted first (switch-data.test.ts tests the data across generations).
  assert.equal(dry, 'would restart app (package 1.0.0 → 2.0.0)\nkeep peer\nwould snapshot app/state\n');
  assert.equal(get(port!), 'version 1.0.0');
  assert.equal(generations(e).length, 2);

  const up = ok(e, ['activate', 'app:2.0.0', '--name', 'app', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s']);
  assert.match(up, /^app is active: app 2\.0\.0 /);
  await answers(port!, '2.0.0');
  assert.equal(statusOf(e, 'peer')!.pid, peerPid, 'the peer was not touched');
  assert.deepEqual(generations(e).map((g) => [g.number, g.status]), [[1, 'good'], [2, 'good'], [3, 'good']]);
  assert.deepEqual(generations(e)[2]!.summary, ['app: 1.0.0 → 2.0.0']);
  assert.equal(currentNumber(e), 3);

  assert.match(ok(e, ['rollback', '--dry-run']), /^would restart app \(package 2\.0\.0 → 1\.0\.0\)\nkeep peer\nwould snapshot app\/state\ndata of app\/state stays \(snapshot g2-\S+ exists: --with-data restores it\)\n$/);
  const back = ok(e, ['rollback', '--settle', '1s']);
  assert.equal(back, 'generation 2 is current (was 3): replace app\n');
  await answers(port!, '1.0.0');
  assert.equal(statusOf(e, 'app')!.package.version, '1.0.0');
  assert.deepEqual(statusOf(e, 'app')!.ports, [`127.0.0.1:${port}->3000/tcp`]);
  assert.ok(appAddress(), 'the peer resolves app again');
  assert.equal(statusOf(e, 'peer')!.pid, peerPid, 'the peer was not touched by the rollback either');
  // No new generation: current moved back to 2, and the one left behind is rolled-back.
  assert.deepEqual(generations(e).map((g) => [g.number, g.status]), [[1, 'good'], [2, 'good'], [3, 'rolled-back']]);
  assert.equal(currentNumber(e), 2);
  // `switch N` goes to any generation: forward to 3 again.
  assert.equal(ok(e, ['switch', '3', '--settle', '1s']), 'generation 3 is current (was 2): replace app\n');
  await answers(port!, '2.0.0');
  const json = JSON.parse(ok(e, ['rollback', '--no-gate', '--json'])) as { status: string; from: number; to: number; actions: { kind: string; service: string }[] };
  assert.deepEqual([json.status, json.from, json.to, json.actions.map((a) => `${a.kind} ${a.service}`)], ['committed', 3, 2, ['replace app']]);
  await answers(port!, '1.0.0');
  ok(e, ['deactivate', 'app', 'peer']);
  assert.ok(refused(port!));
  assert.deepEqual(cgroups(e, 'app'), []);
});

test('SafeSwitch: a version whose health check fails is rolled back by itself (exit 3); the old version serves again; the generation is listed failed; debug keeps its story', async () => {
  const e = await setup();
  const [port] = await freePorts(1);
  ok(e, ['activate', 'app:1.0.0', '--name', 'gated', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s']);
  await answers(port!, '1.0.0');
  const r = niso(e, ['activate', 'app:3.0.0', '--name', 'gated', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s']);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /NISO6034: the switch to generation 2 was rolled back: gated: /);
  await answers(port!, '1.0.0');
  // The way back restarts 1.0.0 without a gate of its own: it answers before its health check has recorded a pass (on
  // systemd the check is a unit of its own, writing moments later), and is active once it has.
  const s = await until('gated active again', () => { const x = statusOf(e, 'gated'); return x?.state === 'active' && x; }, 60_000);
  assert.equal(s.package.version, '1.0.0');
  const gens = generations(e);
  assert.deepEqual(gens.map((g) => [g.number, g.status]), [[1, 'good'], [2, 'failed']]);
  assert.match(gens[1]!.reason ?? '', /^gated: (its health check fails|it is [a-z-]+)/);
  assert.equal(currentNumber(e), 1);
  // What the failed version did stays for debug and logs: its run, its output.
  assert.match(ok(e, ['logs', 'gated']), /start version 3\.0\.0[^]*start version 1\.0\.0/);
  assert.match(ok(e, ['debug', 'gated']), /last exits/);
  // rollback skips the failed generation: there is nothing good before 1.
  const rb = niso(e, ['rollback']);
  assert.equal(rb.code, 1);
  assert.match(rb.stderr, /NISO6035: there is no good generation before generation 1/);
  ok(e, ['deactivate', 'gated']);
});

test('a no-op switch restarts nothing and makes no generation; a ports-only change remaps without a restart: the new port answers, the old one does not', async () => {
  const e = await setup();
  const [p1, p2] = await freePorts(2);
  ok(e, ['activate', 'app:1.0.0', '--name', 'still', '-p', `127.0.0.1:${p1}:3000`, '--settle', '1s']);
  await answers(p1!, '1.0.0');
  const first = statusOf(e, 'still')!;
  const n = generations(e).length;
  // The same definition again: nothing to change.
  assert.equal(ok(e, ['activate', 'app:1.0.0', '--name', 'still', '-p', `127.0.0.1:${p1}:3000`, '--dry-run']), 'nothing to change\n');
  ok(e, ['activate', 'app:1.0.0', '--name', 'still', '-p', `127.0.0.1:${p1}:3000`, '--settle', '1s']);
  assert.equal(generations(e).length, n, 'no new generation');
  assert.deepEqual([statusOf(e, 'still')!.pid, statusOf(e, 'still')!.startedAt], [first.pid, first.startedAt], 'not restarted');

  // Only the host port changes: one nft transaction, the same process.
  assert.equal(ok(e, ['activate', 'app:1.0.0', '--name', 'still', '-p', `127.0.0.1:${p2}:3000`, '--dry-run']), `would update the ports of still (options.ports: 127.0.0.1:${p1}:3000/tcp → 127.0.0.1:${p2}:3000/tcp)\n`);
  ok(e, ['activate', 'app:1.0.0', '--name', 'still', '-p', `127.0.0.1:${p2}:3000`, '--settle', '1s']);
  await answers(p2!, '1.0.0');
  assert.ok(refused(p1!), 'the old port no longer answers');
  const now = statusOf(e, 'still')!;
  assert.deepEqual([now.pid, now.startedAt], [first.pid, first.startedAt], 'not restarted');
  assert.deepEqual(now.ports, [`127.0.0.1:${p2}->3000/tcp`]);
  assert.deepEqual(mappedPorts(e), [p2]);
  assert.equal(generations(e).length, n + 1);
  // And back, by rollback: the first port again, still the same process.
  ok(e, ['rollback', '--settle', '1s']);
  await answers(p1!, '1.0.0');
  assert.ok(refused(p2!));
  assert.equal(statusOf(e, 'still')!.pid, first.pid);
  // deactivate and remove are switches too (a dry run first).
  assert.equal(ok(e, ['deactivate', 'still', '--dry-run']), 'would stop still\nwould snapshot still/state\n');
  assert.equal(statusOf(e, 'still')!.state, 'active');
  ok(e, ['deactivate', 'still']);
  assert.equal(ok(e, ['remove', 'still', '--dry-run']), 'would stop and remove still (app 1.0.0, inactive)\n');
  assert.match(ok(e, ['remove', 'still']), /^removed service still/);
  assert.deepEqual(generations(e).map((g) => g.summary), [['still: added'], ['still: options.ports'], ['still: stopped'], ['still: removed']]);
});

// The journal lines of an upgrade (one action: replace app) after which NISO_TEST_CRASH_AT kills the switch.
const ALL_POINTS = ['switch:begin', 'switch:step:0:start', 'switch:step:0:done', 'switch:gate', 'switch:commit'];
// Every point, on both backends (issue 14); on systemd a power cut in the middle is switch-reboot-systemd.test.ts.
const POINTS = ALL_POINTS;

test('crash injection: the upgrade SIGKILLed after every journal line; recovery (at niso status) leaves exactly the old or exactly the new generation, never a mix, and nothing behind', async () => {
  const e = await setup();
  const [port, peerPort] = await freePorts(2);
  ok(e, ['activate', 'app:1.0.0', '--name', 'crashed', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s']);
  ok(e, ['activate', 'app:1.0.0', '--name', 'bystander', '-p', `127.0.0.1:${peerPort}:3000`, '--settle', '1s']);
  await answers(port!, '1.0.0');
  for (const point of POINTS) {
    const before = currentNumber(e);
    // 3.0.0 fails its gate, so that the gate's own line is reached; the others upgrade to 2.0.0.
    const version = point === 'switch:gate' ? '3.0.0' : '2.0.0';
    const r = niso(e, ['activate', `app:${version}`, '--name', 'crashed', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s'], { NISO_TEST_CRASH_AT: point });
    assert.equal(r.signal, 'SIGKILL', `${point}: ${r.stderr}`);
    const all = statuses(e);
    const app = all.find((s) => s.name === 'crashed')!;
    const committed = point === 'switch:commit';
    const want = committed ? version : '1.0.0';
    assert.deepEqual(all.map((s) => [s.name, s.package.version]).sort(), [['bystander', '1.0.0'], ['crashed', want]], point);
    await answers(port!, want).catch((err: Error) => { throw new Error(`${point}: ${err.message}`); });
    assert.ok(['active', 'activating'].includes(app.state), `${point}: ${app.state}`);
    assert.equal(cgroups(e, 'crashed').length > 0, true, point);
    assert.deepEqual(mappedPorts(e), [port!, peerPort!].sort(), `${point}: exactly the two mappings`);
    const gens = generations(e);
    const last = gens.at(-1)!;
    assert.equal(last.status, committed ? 'good' : 'failed', point);
    if (!committed) assert.match(last.reason ?? '', /interrupted/, point);
    assert.equal(currentNumber(e), committed ? last.number : before, point);
    assert.ok(!existsSync(join(e.root, 'var/lib/niso/generations/journal.jsonl')), `${point}: the journal is retired`);
    // Back to 1.0.0 for the next point (the committed one is the last).
    if (committed) { ok(e, ['rollback', '--settle', '1s']); await answers(port!, '1.0.0'); }
  }
  ok(e, ['deactivate', 'crashed', 'bystander']);
});
