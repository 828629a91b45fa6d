// Services against real sandboxes: activate, status, deactivate, restart, restart policies with backoff and crash
// loops, health checks, logs, exec, a SIGKILLed supervisor, boot after a "reboot". Written once for both backends:
// on the host it runs the embedded backend; test/e2e/services-systemd.test.ts runs this same file inside a booted
// systemd with NISO_E2E_BACKEND=systemd, where each service is a unit. Where the backends work differently (who
// supervises, where the cgroup is, what keeps the logs), a case checks each backend's own way, and says why.
import { test as nodeTest, after, type TestOptions } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_MANIFEST, removeTestDir, writeTree } from '../helpers/tmp.js';
import { freePort, freePorts } from '../helpers/ports.js';
import { sleep, until } from '../helpers/wait.js';

const BIN = join(import.meta.dirname, '../../bin/niso');

/**
 * NISO_E2E_SHARD=K/N registers only the K-th of every N cases, in the order written, so that services-systemd.test.ts
 * can run the suite in N machines at once (the cases are independent: each has its own root and service names).
 * Unset, every case runs.
 */
const SHARD = (() => {
  const m = /^(\d+)\/(\d+)$/.exec(process.env.NISO_E2E_SHARD ?? '');
  if (!m && process.env.NISO_E2E_SHARD) throw new Error(`NISO_E2E_SHARD must be K/N: ${process.env.NISO_E2E_SHARD}`);
  return m ? { k: Number(m[1]), n: Number(m[2]) } : null;
})();
let caseNo = 0;
type CaseFn = () => Promise<void>;
function test(name: string, a: TestOptions | CaseFn, b?: CaseFn): void {
  if (SHARD && caseNo++ % SHARD.n !== SHARD.k - 1) return;
  if (typeof a === 'function') void nodeTest(name, a);
  else void nodeTest(name, a, b);
}

const BACKEND = process.env.NISO_E2E_BACKEND === 'systemd' ? 'systemd' : 'embedded';
const onSystemd = BACKEND === 'systemd';

// One app for every case: MODE=serve answers HTTP on PORT; MODE=crash exits 3 after 50 ms;
// MODE=once exits 0 at once. It logs a line to each stream when it starts.
const MAIN = `
const mode = process.argv[2] === 'init' ? 'init' : process.env.MODE || 'serve';
console.log('start ' + mode + ' pid=' + process.pid + ' uid=' + process.getuid());
console.error('err line');
if (mode === 'crash') setTimeout(() => process.exit(3), 50);
else if (mode === 'stubborn') {
  // It notes in /state when the stop signal came and, every 50 ms, that it still lives: the stop timeout as the app saw it.
  const note = (f) => { try { require('fs').writeFileSync('/state/' + f, String(Date.now())); } catch {} };
  process.on('SIGTERM', () => { console.log('ignoring SIGTERM'); note('sigterm-at'); });
  process.on('SIGINT', () => { console.log('got SIGINT'); process.exit(0); });
  setInterval(() => note('alive-at'), 50);
}
else if (mode === 'readonly') { require('fs').writeFileSync('/app/out.txt', 'x'); }
else if (mode === 'chatty') {
  // LINES numbered lines of ~100 bytes in bursts, then one line per SIGUSR1, and stays up.
  let i = 0;
  const total = Number(process.env.LINES || 10);
  const burst = () => { for (let k = 0; k < 50 && i < total; k++) console.log('line ' + (i++) + ' ' + 'x'.repeat(90)); if (i < total) setTimeout(burst, 5); };
  // After a pause: between stdout and stderr, order is exact only across the pump's ticks.
  setTimeout(burst, 400);
  process.on('SIGUSR1', () => console.log('line ' + (i++) + ' after signal'));
  setInterval(() => {}, 1000);
}
else if (mode === 'once') process.exit(0);
// The init step: a line per run into the volume, or a failure when INIT_FAIL says so, or no end when INIT_HANG does.
else if (mode === 'init') {
  if (process.env.INIT_FAIL) { console.error('init failed: ' + process.env.INIT_FAIL); process.exit(3); }
  if (process.env.INIT_HANG) setInterval(() => {}, 1000);
  else require('fs').appendFileSync('/data/init-runs', process.getuid() + '\\n');
}
else if (mode === 'fill') {
  // Writes /state full, says how it ended, and stays up.
  const fs = require('fs');
  let n = 0;
  try { const fd = fs.openSync('/state/fill', 'w'); const b = Buffer.alloc(1 << 20, 7); for (;;) n += fs.writeSync(fd, b); } catch (e) { console.log('fill ' + e.code + ' ' + n); }
  setInterval(() => {}, 1000);
}
// Memory until the kernel's OOM killer ends it (each buffer is written, so it is really used).
else if (mode === 'hog') { const held = []; setInterval(() => held.push(Buffer.alloc(16 << 20, 1)), 20); }
// Children until the pids limit refuses them; it keeps trying.
else if (mode === 'forkbomb') setInterval(() => require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']).on('error', (e) => console.log('spawn failed: ' + e.code)), 50);
// A privileged port, which the sandbox does not grant.
else if (mode === 'port80') require('http').createServer(() => {}).listen(80);
else {
  const port = Number(process.env.PORT || 3000);
  if (process.env.READY_FILE_AFTER_MS) setTimeout(() => require('fs').writeFileSync('/state/ready', 'yes'), Number(process.env.READY_FILE_AFTER_MS));
  const started = Date.now();
  const sickAfter = Number(process.env.SICK_AFTER_MS || 0);
  // SICK_FILE: /health fails once that file exists, which the test makes when it is ready for it (not on a clock).
  const sick = () => (sickAfter && Date.now() - started > sickAfter) || (process.env.SICK_FILE && require('fs').existsSync(process.env.SICK_FILE));
  require('http').createServer((q, s) => {
    if (q.url === '/health' && sick()) { s.statusCode = 503; s.end('db down'); return; }
    s.end(q.url === '/health' ? 'ok' : 'up ' + process.getuid());
  }).listen(port, '0.0.0.0');
  process.on('SIGTERM', () => { console.log('got SIGTERM'); if (process.env.STOP_MARK) require('fs').writeFileSync('/state/' + process.env.STOP_MARK, 'stopped'); process.exit(0); });
}
`;

const manifest = (name: string, extra = '') => NODE_MANIFEST(name, '1.0.0', `stop_timeout = "2s"\n${extra}`, ['main.js']);

interface Env { root: string; dir: string; id?: string }
const envs: Env[] = [];

/**
 * This suite is about services, not about switching generations (generations.test.ts is): activate runs without
 * SafeSwitch's gate, so that a service that is meant to crash is not rolled back, and no case waits a settle window.
 */
const withoutGate = (args: string[]) => (args[0] === 'activate' && !args.includes('--gate') ? ['activate', '--no-gate', ...args.slice(1)] : args);

function niso(e: Env, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...withoutGate(args)], { cwd: e.dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: e.root, ...env } });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function ok(e: Env, args: string[]): string {
  const r = niso(e, args);
  assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function setup(name: string, extra = ''): Promise<Env> {
  // Not tempDir(): its clean-up runs when the test ends, and the services must be stopped
  // before their root goes (see the after hook below).
  const dir = mkdtempSync(join(tmpdir(), 'niso-svc-'));
  chmodSync(dir, 0o755);
  const { rootId } = await import('../../src/service/store.js');
  const e: Env = { root: join(dir, 'root'), dir };
  e.id = rootId(e.root);
  envs.push(e);
  await writeTree(join(dir, name), { 'manifest.toml': manifest(name, extra), 'main.js': MAIN });
  ok(e, ['pack', name, '-o', `${name}.niso`, '-q']);
  ok(e, ['install', `${name}.niso`]);
  return e;
}

interface Status { name: string; state: string; pid: number | null; restarts: number; message: string | null; health: string | null; ports: string[]; addresses: string[]; lastExit: { exitCode: number | null; reason: string; oom?: boolean; message: string | null } | null }
const status = (e: Env, name: string): Status => JSON.parse(ok(e, ['status', name, '--json'])) as Status;


function supervisorPid(e: Env): number | null {
  try {
    const r = JSON.parse(readFileSync(join(e.root, 'run/niso/supervisor.json'), 'utf8')) as { pid: number };
    process.kill(r.pid, 0);
    return r.pid;
  } catch { return null; }
}

/** The one case this file does not run on systemd, and why (services-systemd.test.ts allows exactly this skip). */
const BOOT_SKIP = 'niso boot is the embedded backend\'s boot; systemd boots its units itself (systemd-network.test.ts reboots a machine)';


/** niso processes besides this test (on systemd, where ps sees only the machine's). */
function nisoProcesses(): string[] {
  return spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(BIN));
}

/** The service's cgroups: niso's own (svc.<root id>.<service>) on the embedded backend, the unit's on systemd. */
function serviceCgroups(e: Env, service: string): string[] {
  if (onSystemd) return ['memory', 'pids', 'cpu'].map((c) => `/sys/fs/cgroup/${c}/system.slice/niso-${service}.service`).filter((d) => existsSync(d));
  return cgroupDirs(e, service);
}

/** What the restart policy logged: the supervisor's log, or on systemd the journal of niso-NAME-exit@.service (same lines). */
function policyLog(e: Env, service: string): string {
  if (onSystemd) return spawnSync('journalctl', ['--no-pager', '-o', 'cat', '-u', `niso-${service}-exit@*.service`], { encoding: 'utf8' }).stdout;
  return readFileSync(join(e.root, 'run/niso/supervisor.log'), 'utf8');
}

/**
 * The journals' total size, from a listing that did not change while their sizes were read: the pump rotates
 * meanwhile, so a journal listed may be gone by its stat (a rotation always changes the names: seqs only grow).
 */
function journalBytes(logsDir: string): number {
  const list = () => readdirSync(logsDir).filter((f) => f.startsWith('journal') && !f.endsWith('.pos')).sort();
  for (;;) {
    const names = list();
    const total = names.reduce((n, f) => n + (statSync(join(logsDir, f), { throwIfNoEntry: false })?.size ?? 0), 0);
    if (list().join('/') === names.join('/')) return total;
  }
}

/** Who holds a uid in the host-wide registry (root and service), or null when nobody does. */
function claimOf(uid: number): { root: string; service: string } | null {
  try {
    const c = JSON.parse(readFileSync(`/var/lib/niso/uids/${uid}`, 'utf8')) as { root: string; service: string };
    return { root: c.root, service: c.service };
  } catch { return null; }
}

function cgroupDirs(e: Env, service: string): string[] {
  const out: string[] = [];
  for (const c of ['memory', 'pids', 'cpu']) {
    const base = join('/sys/fs/cgroup', c, 'niso');
    try { for (const n of readdirSync(base)) if (n.startsWith('svc.') && n.endsWith(`.${service}`) && e.id && n.includes(e.id)) out.push(join(base, n)); } catch { /* no such hierarchy */ }
  }
  return out;
}

// Stops every service of the test roots, then removes the roots. Also kills what a failed test
// left running, found by the cgroups of the root (svc.<root id>.<service>).
// One root's failure does not keep the others from being cleaned; the first is reported at the end.
after(async () => {
  const { rootId } = await import('../../src/service/store.js');
  let first: unknown = null;
  for (const e of envs) {
    try { await cleanRoot(e, rootId); } catch (err) { first ??= err; }
  }
  if (first !== null) throw first;
});

async function cleanRoot(e: Env, rootId: (root: string) => string): Promise<void> {
  const killSupervisor = () => { const pid = supervisorPid(e); if (pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } } };
  killSupervisor();
  for (const n of (() => { try { return readdirSync(join(e.root, 'var/lib/niso/services')); } catch { return []; } })()) {
    if (!n.startsWith('.')) niso(e, ['deactivate', n]);
  }
  // deactivate may have started a supervisor again: it must not hold anything of the root while it goes.
  killSupervisor();
  const id = rootId(e.root);
  for (const c of ['pids', 'memory', 'cpu']) {
    const base = join('/sys/fs/cgroup', c, 'niso');
    for (const n of (() => { try { return readdirSync(base); } catch { return []; } })()) {
      if (!n.startsWith(`svc.${id}.`)) continue;
      try { for (const p of readFileSync(join(base, n, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ }
      await sleep(50);
      try { rmdirSync(join(base, n)); } catch { /* busy */ }
    }
  }
  await removeTestDir(e.dir);
}

test('activate: a service that keeps running, reachable on its mapped port; deactivate stops it with SIGTERM and leaves nothing', async () => {
  const e = await setup('svcweb');
  const port = await freePort();
  const out = ok(e, ['activate', 'svcweb', '-p', `127.0.0.1:${port}:3000`, '--env', 'MODE=serve']);
  assert.match(out, /^svcweb is active: svcweb 1\.0\.0 \(sha256:[0-9a-f]{12}\), pid \d+, 10\.\d+\.\d+\.\d+ on default, ports 127\.0\.0\.1:\d+->3000\/tcp/);
  const s = status(e, 'svcweb');
  assert.equal(s.state, 'active');
  assert.ok(s.pid && s.pid > 1);
  const body = await until('the app to answer', () => spawnSync('curl', ['-sf', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout);
  assert.match(body, /^up 6\d{4}$/, 'the app answers as its own uid');
  // The app survives the command that started it, and nothing but its sandbox and the supervisor runs.
  const table = ok(e, ['status']);
  assert.match(table, /^NAME\s+PACKAGE\s+STATE\s+HEALTH\s+PID\s+UPTIME\s+RESTARTS\s+PORTS\s+BACKEND\n/);
  assert.match(table, new RegExp(`\\nsvcweb\\s+svcweb@1\\.0\\.0\\s+active\\s+-\\s+\\d+\\s+\\d+s\\s+0\\s+127\\.0\\.0\\.1:\\d+->3000\\/tcp\\s+${BACKEND}\\n`));
  if (onSystemd) assert.deepEqual(nisoProcesses(), [], 'systemd runs the unit: no niso process stays');
  else assert.ok(supervisorPid(e), 'a supervisor runs while a service is active');
  // Activating an active service again changes nothing; a new definition under its name replaces it (an upgrade in
  // place: stopped, defined anew, started).
  assert.match(ok(e, ['activate', 'svcweb']), /^svcweb is already active/);
  assert.match(ok(e, ['activate', 'svcweb', '-p', `127.0.0.1:${port}:3000`, '--env', 'MODE=serve']), new RegExp(`^svcweb is active: .*pid ${s.pid}`), 'the same definition again: nothing restarted');
  const again = ok(e, ['activate', 'svcweb', '-p', `127.0.0.1:${port}:3000`, '--env', 'MODE=other']);
  assert.match(again, /^svcweb is active: svcweb 1\.0\.0/);
  assert.notEqual(status(e, 'svcweb').pid, s.pid, 'replaced: a new process');
  assert.match(await until('the new definition to answer', () => spawnSync('curl', ['-sf', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout), /^up 6\d{4}$/);

  const records = readdirSync(join(e.root, 'run/niso/net')).filter((f) => f.endsWith('.json'));
  assert.equal(records.length, 1);
  const netns = (JSON.parse(readFileSync(join(e.root, 'run/niso/net', records[0]!), 'utf8')) as { attachment: { netns: string } }).attachment.netns;
  assert.ok(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes(netns));

  const stop = ok(e, ['deactivate', 'svcweb']);
  assert.equal(stop, 'svcweb stopped (exit code 0)\n');
  assert.equal(status(e, 'svcweb').state, 'inactive');
  assert.equal(spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout, '000');
  assert.deepEqual(serviceCgroups(e, 'svcweb'), [], 'the cgroup is gone');
  assert.ok(!spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes(netns), 'its network namespace is gone');
  assert.equal(readdirSync(join(e.root, 'run/niso/net')).filter((f) => f.endsWith('.json')).length, 0, 'no attachment record is left');
  // The supervisor leaves once nothing needs it.
  if (!onSystemd) await until('the supervisor to exit', () => supervisorPid(e) === null, 10_000);
  // `niso activate SERVICE` starts it again as it was defined.
  assert.match(ok(e, ['activate', 'svcweb']), /^svcweb is active/);
  ok(e, ['deactivate', 'svcweb']);
});

test('on-failure with backoff: restarts with growing delays, then gives up after max_retries and says why', async () => {
  const e = await setup('crashy', '\n[restart]\npolicy = "on-failure"\nmax_retries = 3\ndelay = "200ms"\nmax_delay = "2s"\n');
  const out = niso(e, ['activate', 'crashy', '--env', 'MODE=crash', '--network', 'none']);
  assert.equal(out.code, 0, out.stderr);
  const s = await until('the service to give up', () => { const x = status(e, 'crashy'); return x.state === 'failed' ? x : null; }, 20_000);
  const log = policyLog(e, 'crashy');
  assert.equal(s.restarts, 3, log);
  assert.match(s.message ?? '', /exited with code 3; gave up after 3 restarts in a row \(max_retries\)/);
  const times = [...log.matchAll(/^(\S+) crashy: ended .*until (\S+)$/gm)].map((m) => Date.parse(m[2]!) - Date.parse(m[1]!));
  assert.equal(times.length, 3, log);
  // 200 ms, 400 ms, 800 ms (each within a tick of the planned delay)
  for (const [i, want] of [200, 400, 800].entries()) assert.ok(Math.abs(times[i]! - want) < 60, `delay ${i + 1} was ${times[i]} ms, expected ${want}`);
  const table = ok(e, ['status']);
  assert.match(table, /crashy: it exited with code 3; gave up after 3 restarts/);
});

test('a crash loop: policy always keeps restarting, but after 5 quick crashes only every max_delay, and status says so', async () => {
  const e = await setup('loop', '\n[restart]\npolicy = "always"\ndelay = "50ms"\nmax_delay = "3s"\n');
  ok(e, ['activate', 'loop', '--env', 'MODE=crash', '--network', 'none']);
  const s = await until('the crash loop', () => { const x = status(e, 'loop'); return x.state === 'crash-loop' ? x : null; }, 20_000);
  // The fifth quick crash in a row starts the loop. status may be read a crash later (each reading is a niso command,
  // slow on a busy machine), so the count it shows is at least 5, and the policy's log says which end started it.
  const inARow = /it exited with code 3, (\d+) times in a row within 10 s of starting; restarting every 3 s/.exec(s.message ?? '');
  assert.ok(inARow && Number(inARow[1]) >= 5, s.message ?? '');
  const ends = await until('five ends in the policy\'s log', () => { const x = [...policyLog(e, 'loop').matchAll(/ loop: ended \(exit code 3\) → (\S+)/g)].map((m) => m[1]!); return x.length >= 5 ? x : null; });
  assert.deepEqual(ends.slice(0, 5), ['restarting', 'restarting', 'restarting', 'restarting', 'crash-loop'], policyLog(e, 'loop'));
  // Restarts every max_delay (3 s) now: over the time between the two readings, at most one per 3 s started (a busy
  // machine stretches that time, since each reading is a niso command; at full speed it would be one per 50 ms).
  const t0 = Date.now();
  const restarts = status(e, 'loop').restarts;
  await sleep(1500);
  const later = status(e, 'loop').restarts;
  const window = Date.now() - t0;
  assert.ok(later - restarts <= Math.ceil(window / 3000), `no longer restarting at full speed: ${later - restarts} restarts in ${window} ms`);
  ok(e, ['deactivate', 'loop']);
  assert.equal(status(e, 'loop').state, 'inactive');
});

test('niso is no single point of failure: with the supervisor SIGKILLed (or, on systemd, no niso process at all) the service runs on, and is restarted when it dies', async () => {
  const e = await setup('sturdy', '\n[restart]\npolicy = "always"\ndelay = "100ms"\n');
  ok(e, ['activate', 'sturdy', '--env', 'MODE=serve', '--network', 'none']);
  const before = status(e, 'sturdy');
  if (onSystemd) assert.deepEqual(nisoProcesses(), [], 'nothing of niso runs beside the unit');
  else await supervisorGoesAndComesBack(e, before);
  // ... and the app is restarted when it dies.
  process.kill(before.pid!, 'SIGKILL');
  const s = await until('a restart', () => { const x = status(e, 'sturdy'); return x.state === 'active' && x.pid !== before.pid ? x : null; });
  assert.equal(s.restarts, 1);
  assert.equal(s.lastExit?.exitCode, 137);
});

/** The embedded supervisor SIGKILLed: the service runs on unsupervised; the next command brings a new supervisor. */
async function supervisorGoesAndComesBack(e: Env, before: Status): Promise<void> {
  const sup = await until('a supervisor', () => supervisorPid(e));
  process.kill(sup, 'SIGKILL');
  await until('the supervisor to be gone', () => supervisorPid(e) === null);
  await sleep(300);
  const pidFile = join(e.root, 'run/niso/supervisor.json');
  // Nothing supervises now, yet the service still runs, unchanged.
  assert.ok(existsSync(pidFile), 'the stale record stays until a new supervisor replaces it');
  assert.match(readFileSync(`/proc/${before.pid}/cmdline`, 'utf8').split('\0')[0]!, /node$/);
  // Any command brings supervision back, without restarting the service.
  const after1 = status(e, 'sturdy');
  assert.equal(after1.pid, before.pid);
  assert.equal(after1.restarts, 0);
  const sup2 = await until('a new supervisor', () => supervisorPid(e));
  assert.notEqual(sup2, sup);
}

test('two services from one package never share a uid, a state dir or a cgroup; restart gives a new process', async () => {
  const e = await setup('twin');
  ok(e, ['activate', 'twin', '--name', 'twin-a', '--network', 'none']);
  ok(e, ['activate', 'twin', '--name', 'twin-b', '--network', 'none']);
  const a = status(e, 'twin-a');
  const b = status(e, 'twin-b');
  const uid = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1];
  assert.notEqual(uid(a.pid!), uid(b.pid!));
  const cg = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, 'utf8').match(/:pids:(.*)$/m)?.[1];
  // niso's own cgroup per service, or systemd's per unit.
  assert.match(cg(a.pid!) ?? '', onSystemd ? /^\/system\.slice\/niso-twin-a\.service$/ : /\/niso\/svc\.[0-9a-f]{8}\.twin-a$/);
  assert.match(cg(b.pid!) ?? '', onSystemd ? /^\/system\.slice\/niso-twin-b\.service$/ : /\/niso\/svc\.[0-9a-f]{8}\.twin-b$/);
  assert.ok(existsSync(join(e.root, 'var/lib/niso/state/twin-a')) && existsSync(join(e.root, 'var/lib/niso/state/twin-b')));
  ok(e, ['restart', 'twin-a']);
  const a2 = status(e, 'twin-a');
  assert.notEqual(a2.pid, a.pid);
  assert.equal(a2.state, 'active');
  ok(e, ['deactivate', 'twin-a', 'twin-b']);
});

// On systemd, systemd itself starts the enabled units at boot and `niso boot` leaves them alone: a machine really
// rebooted, after a clean shutdown and after a power cut, is in test/e2e/systemd-network.test.ts.
test('boot: after a "reboot" (every process gone) niso boot starts what should run, and not what was stopped', { skip: onSystemd && BOOT_SKIP }, async () => {
  const e = await setup('bootme');
  ok(e, ['activate', 'bootme', '--name', 'on', '--network', 'none']);
  ok(e, ['activate', 'bootme', '--name', 'off', '--network', 'none']);
  // As with Docker, "always" brings a service back at boot even after it was stopped by hand.
  ok(e, ['activate', 'bootme', '--name', 'all', '--network', 'none', '--restart', 'always']);
  ok(e, ['deactivate', 'off']);
  ok(e, ['deactivate', 'all']);
  const bad = niso(e, ['activate', 'bootme', '--name', 'bad', '--restart', 'sometimes']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--restart sometimes: expected no, on-failure\[:MAX_RETRIES\], always or unless-stopped/);
  const sup = await until('a supervisor', () => supervisorPid(e));
  process.kill(sup, 'SIGKILL');
  // The reboot: every process of the service dies at once. (No niso command in between: it would
  // bring a supervisor back, which would see the end and restart the service itself.)
  const pid = (JSON.parse(readFileSync(join(e.root, 'var/lib/niso/services/on/state.json'), 'utf8')) as { pid: number }).pid;
  const procs = readFileSync(cgroupDirs(e, 'on').find((d) => d.includes('/pids/'))! + '/cgroup.procs', 'utf8').trim().split('\n').map(Number);
  for (const p of procs) { try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ } }
  // (It may stay a zombie if the host's init does not reap it: gone means not running.)
  await until('the old process to go', () => !existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')));
  // A reboot unmounts every state image too.
  const stateOf = (n: string) => join(e.root, 'var/lib/niso/state', n);
  for (const n of ['on', 'off', 'all']) assert.equal(spawnSync('umount', [stateOf(n)]).status, 0);
  const out = ok(e, ['boot']);
  assert.equal(out, 'started all, on\n');
  const s = status(e, 'on');
  assert.equal(s.state, 'active');
  assert.notEqual(s.pid, pid);
  assert.equal(status(e, 'off').state, 'inactive');
  assert.equal(status(e, 'all').state, 'active');
  assert.equal(s.lastExit?.reason, 'vanished');
  assert.deepEqual(['on', 'off', 'all'].map((n) => fsAt(stateOf(n))), ['ext4', null, 'ext4'], 'boot mounted the state of what it started');
});

/** Whether systemd would start the unit at boot (`systemctl is-enabled`). */
const unitEnabled = (service: string) => spawnSync('systemctl', ['is-enabled', `niso-${service}.service`], { encoding: 'utf8' }).stdout.trim() === 'enabled';

/** The attachment records of a service (embedded: its private network as niso recorded it). */
const netRecords = (e: Env, service: string) => {
  const dir = join(e.root, 'run/niso/net');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json') && readFileSync(join(dir, f), 'utf8').includes(`"service": "${service}"`)) : [];
};

// The steps of a start where the test-only NISO_TEST_CRASH_AT (src/host/crash-point.ts) kills `activate`: before the
// start did anything (the definition written, the network attached, the unit installed), or after the app started
// (before state.json or the supervisor, or before the unit was enabled and recorded).
const NOT_STARTED = onSystemd ? ['defined', 'installed'] : ['defined', 'attached'];
const STARTED = onSystemd ? ['started'] : ['started', 'recorded'];

test('activate killed at any step of its start: the next command takes the host back to the generation before (the new service is gone, nothing of it runs, stays attached or would start at boot); activate then works', async () => {
  const e = await setup('halfway', '\n[restart]\ndelay = "100ms"\n');
  for (const step of [...NOT_STARTED, ...STARTED]) {
    const name = `half-${step}`;
    const port = await freePort();
    const r = niso(e, ['activate', 'halfway', '--name', name, '-p', `127.0.0.1:${port}:3000`], { NISO_TEST_CRASH_AT: step });
    assert.equal(r.signal, 'SIGKILL', `${step}: ${r.stderr}`);
    // status settles the interrupted switch first: exactly the generation before it, which had no such service.
    const all = JSON.parse(ok(e, ['status', '--json'])) as Status[];
    assert.deepEqual(all.filter((x) => x.name === name), [], step);
    assert.match(niso(e, ['status', name]).stderr, new RegExp(`NISO3301.*no service named "${name}"`), step);
    assert.deepEqual(serviceCgroups(e, name), [], step);
    if (onSystemd) assert.equal(unitEnabled(name), false, `${step}: no unit is enabled`);
    else assert.deepEqual(netRecords(e, name), [], `${step}: the network it attached is detached`);
    assert.equal(spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout, '000', step);
    assert.equal(ok(e, ['boot']), 'nothing to start\n', step);
    // The name is free for a new activation, which runs and is supervised.
    assert.match(ok(e, ['activate', 'halfway', '--name', name, '-p', `127.0.0.1:${port}:3000`]), new RegExp(`^${name} is active`));
    assert.match(await until(`${name} to answer`, () => spawnSync('curl', ['-sf', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout), /^up 6\d{4}$/);
    const s = status(e, name);
    process.kill(s.pid!, 'SIGKILL');
    await until('a restart', () => { const x = status(e, name); return x.state === 'active' && x.pid !== null && x.pid !== s.pid ? x : null; });
    assert.equal(ok(e, ['deactivate', name]), `${name} stopped (exit code 0)\n`);
    assert.match(ok(e, ['remove', name]), new RegExp(`^removed service ${name}`));
  }
});

test('--restart no: an app that dies is failed, never "restarting", also before its end is recorded; deactivate says it had failed; remove forgets a failed service', async () => {
  const e = await setup('mortal');
  for (const n of ['mortal-a', 'mortal-b']) ok(e, ['activate', 'mortal', '--name', n, '--network', 'none', '--restart', 'no']);
  const pids = ['mortal-a', 'mortal-b'].map((n) => status(e, n).pid!);
  // On the embedded backend nobody records the ends while the supervisor is gone: status tells the policy's verdict.
  if (!onSystemd) {
    process.kill(await until('a supervisor', () => supervisorPid(e)), 'SIGKILL');
    await until('the supervisor to be gone', () => supervisorPid(e) === null);
  }
  for (const p of pids) process.kill(p, 'SIGKILL');
  if (!onSystemd) {
    await until('the sandboxes to end', () => ['mortal-a', 'mortal-b'].every((n) => cgroupDirs(e, n).every((d) => readFileSync(join(d, 'cgroup.procs'), 'utf8') === '')));
    // `niso list` starts no supervisor: the end is not recorded, and shows as what the policy will make of it.
    assert.match(ok(e, ['list']), /\nmortal-a\s+mortal@1\.0\.0\s+failed\s/);
    // inspect records nothing either: the end is in no record yet, and status still tells it as its last exit.
    const seen = JSON.parse(ok(e, ['inspect', 'mortal-a', '--json'])) as { status: Status; state: { exits: unknown[] } };
    assert.deepEqual(seen.state.exits, [], 'not recorded');
    assert.equal(seen.status.state, 'failed');
    assert.ok(seen.status.lastExit !== null, 'the unrecorded end is the last exit status shows');
    assert.equal(seen.status.lastExit.message, seen.status.message, 'with the verdict it will be recorded with');
    // debug lists and explains it as status tells it (it listed no exit until the record came).
    assert.match(ok(e, ['debug', 'mortal-a']), /\nlast exits \(newest last\):\n {2}\S+ {2}ended by SIGKILL \(137\) after \S+ — it was killed by signal 9; restart policy "no"\n\n/);
    assert.deepEqual((JSON.parse(ok(e, ['inspect', 'mortal-a', '--json'])) as { state: { exits: unknown[] } }).state.exits, [], 'debug recorded nothing');
  }
  const a = await until('the verdict', () => { const x = status(e, 'mortal-a'); return x.state === 'failed' && x.lastExit ? x : null; });
  assert.equal(a.message, 'it was killed by signal 9; restart policy "no"');
  assert.equal(ok(e, ['deactivate', 'mortal-a']), 'mortal-a had already failed (it was killed by signal 9; restart policy "no"); it is inactive now\n');
  await until('mortal-b failed', () => status(e, 'mortal-b').state === 'failed');
  assert.match(ok(e, ['remove', 'mortal-b']), /^removed service mortal-b/);
});

test('limits: an OOM kill is told as one, a fork bomb at its pids limit is named by debug, a bind to port 80 gets the privileged-port advice', async () => {
  const e = await setup('limited');
  ok(e, ['activate', 'limited', '--name', 'hog', '--network', 'none', '--restart', 'no', '--memory', '64M', '--env', 'MODE=hog']);
  // Until the end is recorded: before that, status shows the verdict to come (with its message), while debug lists
  // only the exits that were recorded (the first version of this wait took status's message for the record, and
  // debug, asked in between, listed no exit).
  const dbg = await until('the OOM kill recorded', () => { const d = ok(e, ['debug', 'hog']); return /ended: out of memory \(the kernel's OOM killer, at its memory limit\)/.test(d) && d; }, 30_000);
  const hog = status(e, 'hog');
  assert.equal(hog.state, 'failed');
  assert.equal(hog.message, 'it ran out of memory (the kernel\'s OOM killer ended it at its memory limit); restart policy "no"');
  assert.deepEqual({ code: hog.lastExit?.exitCode, oom: hog.lastExit?.oom }, { code: 137, oom: true });
  assert.match(dbg, /- it ran out of memory: the kernel's OOM killer ended it at its memory limit \(64\.0 MiB\)/);

  ok(e, ['activate', 'limited', '--name', 'bomb', '--network', 'none', '--pids', '32', '--env', 'MODE=forkbomb']);
  await until('the pids limit in debug', () => /- it reached its limit of 32 processes and threads: the kernel refused \d+ forks? or new threads? \(EAGAIN\)/.test(ok(e, ['debug', 'bomb'])), 30_000);
  ok(e, ['deactivate', 'bomb']);

  ok(e, ['activate', 'limited', '--name', 'low', '--network', 'none', '--restart', 'no', '--env', 'MODE=port80']);
  await until('it to fail', () => status(e, 'low').state === 'failed');
  // Only the last lines of node's error, whose first line ("listen EACCES ... :80") is cut off.
  const low = ok(e, ['debug', 'low', '--lines', '8']);
  assert.match(low, /- binding port 80 was refused: ports below 1024 need the capability CAP_NET_BIND_SERVICE, which the sandbox does not grant; listen on a port of 1024 or above and map it, e\.g\. `-p 80:8080`/);
  assert.doesNotMatch(low, /a file was not accessible/);
});

test('--wait waits for niso\'s own verdict on a check that never passes, and --timeout says that niso has not decided', async () => {
  // An interval long enough that niso cannot decide within the 100 ms of --timeout even when a busy machine delays
  // the CLI between the start and its wait (at 300 ms it had decided first, under load).
  const e = await setup('neverok', '\n[healthcheck]\ntcp = 3000\ninterval = "2s"\ntimeout = "200ms"\nretries = 2\non_unhealthy = "none"\n');
  // MODE=stubborn stays up without listening: the check never passes.
  const gaveUp = niso(e, ['activate', 'neverok', '--name', 'impatient', '--network', 'none', '--env', 'MODE=stubborn', '--wait', '--timeout', '100ms']);
  assert.equal(gaveUp.code, 1);
  assert.match(gaveUp.stderr, /error NISO3304: impatient did not become healthy within --timeout 100ms, and niso has not decided yet \(/);
  assert.match(gaveUp.stderr, /hint: without --timeout, --wait waits for niso's own verdict, which its health check reaches within \S+ of the start/);
  const verdict = niso(e, ['activate', 'neverok', '--name', 'patient', '--network', 'none', '--env', 'MODE=stubborn', '--wait']);
  assert.equal(verdict.code, 1);
  assert.match(verdict.stderr, /error NISO3305: patient is unhealthy: connection refused on 127\.0\.0\.1:3000/);
  assert.equal(status(e, 'patient').state, 'unhealthy', 'niso itself says so');
  ok(e, ['deactivate', 'impatient', 'patient']);
});

test('health: --wait returns once the check passes; a service that turns unhealthy is restarted, and debug tells the story', async () => {
  const e = await setup('checked', '\n[healthcheck]\nhttp = "http://127.0.0.1:3000/health"\ninterval = "300ms"\ntimeout = "200ms"\nretries = 2\n\n[restart]\ndelay = "100ms"\n');
  const t0 = Date.now();
  const out = ok(e, ['activate', 'checked', '--wait', '--network', 'none', '--env', 'SICK_FILE=/state/sick']);
  assert.match(out, /^checked is active/);
  const waited = Date.now() - t0;
  const s = status(e, 'checked');
  assert.equal(s.health, 'healthy');
  // Not a fixed wait: --wait's own bound is a minute, and the check passes within its first few probes (300 ms apart).
  assert.ok(waited < 30_000, `--wait took ${waited} ms`);
  // Now its /health answers 503: two failures in a row make it unhealthy, and it is restarted. (It fell sick 1.5 s
  // after it started before; on a loaded host that came before --wait and status had read it healthy.)
  writeFileSync(join(e.root, 'var/lib/niso/state/checked/sick'), 'yes');
  const restarted = await until('a restart for being unhealthy', () => { const x = status(e, 'checked'); return x.restarts >= 1 && x.lastExit?.reason === 'unhealthy' ? x : null; }, 20_000);
  assert.notEqual(restarted.pid, s.pid);
  const dbg = ok(e, ['debug', 'checked']);
  assert.match(dbg, /stopped: unhealthy/);
  assert.match(dbg, /FAIL {2}HTTP 503 Service Unavailable: db down/);
  assert.match(dbg, /the health endpoint answers with an error status/);
  const json = JSON.parse(ok(e, ['inspect', 'checked', '--json'])) as { plan: { health: { retries: number } }; definition: { package: { name: string } } };
  assert.equal(json.plan.health.retries, 2);
  assert.equal(json.definition.package.name, 'checked');
});

test('--wait fails with the reason when the app dies at start; debug points at the read-only file system', async () => {
  const e = await setup('broken', '\n[restart]\npolicy = "no"\n');
  const r = niso(e, ['activate', 'broken', '--wait', '--network', 'none', '--env', 'MODE=readonly']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /NISO3304.*broken did not come up: .*exited with code 1/s);
  assert.match(r.stderr, /EROFS/);
  const dbg = ok(e, ['debug', 'broken']);
  assert.match(dbg, /^broken: failed/);
  assert.match(dbg, /only \/state .* and \/tmp are writable/);
});

/** The file system mounted on a path (in this mount namespace: the host's, or on systemd the machine's), or null. */
function fsAt(path: string): string | null {
  const r = spawnSync('findmnt', ['-n', '-o', 'FSTYPE', '--mountpoint', path], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

test('/state is bounded: past --state-size the app gets ENOSPC, stats, inspect and debug show it; remove unmounts it, remove --state deletes it and gives the uid back', async () => {
  const e = await setup('full');
  const MiB = 1024 * 1024;
  ok(e, ['activate', 'full', '--network', 'none', '--env', 'MODE=fill', '--state-size', '32M']);
  const line = await until('the app to fill /state', () => /^fill (\w+) (\d+)$/m.exec(ok(e, ['logs', 'full'])));
  assert.equal(line[1], 'ENOSPC', 'writing past the bound is "no space left on device" inside the app');
  assert.ok(Number(line[2]) <= 32 * MiB && Number(line[2]) > 16 * MiB, `${line[2]} bytes got in under a 32 MiB bound`);
  assert.equal(status(e, 'full').state, 'active', 'a full /state does not stop the service');
  const dir = join(e.root, 'var/lib/niso/state/full');
  assert.equal(fsAt(dir), 'ext4', 'the state dir is the mounted image');

  const [st] = JSON.parse(ok(e, ['stats', 'full', '--json'])) as { stateUsedBytes: number; stateSizeBytes: number; stateLimitBytes: number }[];
  assert.equal(st!.stateLimitBytes, 32 * MiB);
  assert.ok(st!.stateUsedBytes >= Number(line[2]) && st!.stateUsedBytes <= st!.stateSizeBytes && st!.stateSizeBytes <= 32 * MiB, JSON.stringify(st));
  assert.match(ok(e, ['stats', 'full', '--no-stream']), /STATE \/ LIMIT\n.*\s\d+(\.\d+)?MiB \/ 32MiB\n/);
  const insp = JSON.parse(ok(e, ['inspect', 'full', '--json'])) as { stateDir: { dir: string; mounted: boolean; limitBytes: number; usedBytes: number }; plan: { limits: { stateBytes: number } } };
  assert.deepEqual([insp.stateDir.dir, insp.stateDir.mounted, insp.stateDir.limitBytes, insp.plan.limits.stateBytes], [dir, true, 32 * MiB, 32 * MiB]);
  assert.match(ok(e, ['inspect', 'full']), /\n\/state: +\S+\/state\/full, [\d.]+ MiB used of 32\.0 MiB \(ext4 image \S+\/state\/\.images\/full\.img\)\n/);
  assert.match(ok(e, ['debug', 'full']), /\/state is full or nearly \([\d.]+ MiB used of its 32\.0 MiB bound\): raise \[resources\] state_size/);

  // Stopped, the image stays mounted (the next start costs nothing); removed, it is unmounted and its data kept.
  ok(e, ['deactivate', 'full']);
  assert.equal(fsAt(dir), 'ext4');
  const uid = (JSON.parse(readFileSync(join(e.root, 'var/lib/niso/users.json'), 'utf8')) as { services: Record<string, number> }).services.full!;
  assert.match(ok(e, ['remove', 'full']), /^removed service full \(its data stays: full\/state; `niso remove full --volumes` would delete it\)/);
  assert.equal(fsAt(dir), null, 'unmounted');
  assert.deepEqual(claimOf(uid), { root: e.root, service: 'full' }, 'the uid stays claimed while its files exist');
  ok(e, ['activate', 'full', '--network', 'none', '--state-size', '32M']);
  assert.equal(statSync(join(dir, 'fill')).size, Number(line[2]), 'the data came back with the service');
  ok(e, ['deactivate', 'full']);
  assert.equal(ok(e, ['remove', 'full', '--state']), 'removed service full and its state\n');
  assert.equal(fsAt(dir), null);
  assert.ok(!existsSync(dir) && !existsSync(join(e.root, 'var/lib/niso/state/.images/full.img')), 'state dir and image are gone');
  // Free again: this root's claim is gone (another test's service may take the uid at once, as the lowest free one).
  assert.notDeepEqual(claimOf(uid), { root: e.root, service: 'full' }, 'and the uid is free again');
  const bad = niso(e, ['activate', 'full', '--state-size', '1M']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /NISO9001: --state-size 1M: "1M" is below the smallest state size, 8M/);
});

test('an unbounded /state of an earlier niso moves into its image at the first start; a larger bound grows it, data kept', async () => {
  const e = await setup('legacy');
  const dir = join(e.root, 'var/lib/niso/state/legacy');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'sub/old.txt'), 'from before');
  ok(e, ['activate', 'legacy', '--network', 'none', '--state-size', '16M']);
  assert.equal(fsAt(dir), 'ext4');
  assert.equal(ok(e, ['exec', 'legacy', '--', 'node', '-e', 'process.stdout.write(require("fs").readFileSync("/state/sub/old.txt", "utf8"))']), 'from before');
  ok(e, ['deactivate', 'legacy']);
  // A new definition of the inactive service, with a larger bound.
  ok(e, ['activate', 'legacy', '--name', 'legacy', '--network', 'none', '--state-size', '48M']);
  const [st] = JSON.parse(ok(e, ['stats', 'legacy', '--json'])) as { stateLimitBytes: number; stateSizeBytes: number }[];
  assert.equal(st!.stateLimitBytes, 48 * 1024 * 1024);
  assert.ok(st!.stateSizeBytes > 32 * 1024 * 1024, 'the file system grew with its image');
  assert.equal(readFileSync(join(dir, 'sub/old.txt'), 'utf8'), 'from before');
  ok(e, ['deactivate', 'legacy']);
});

/** Writes the root's host config with a [state] max_size (etc/niso/config.toml); returns the writer for later values. */
function hostStateMaxSize(e: Env): (size: string) => void {
  mkdirSync(join(e.root, 'etc/niso'), { recursive: true });
  return (size) => writeFileSync(join(e.root, 'etc/niso/config.toml'), `[state]\nmax_size = "${size}"\n`);
}

test('a running service of a host that had no bound: at its restart its /state moves into an image, with what it wrote until it stopped', async () => {
  const e = await setup('moved');
  const setMaxSize = hostStateMaxSize(e);
  setMaxSize('unlimited');
  ok(e, ['activate', 'moved', '--network', 'none', '--env', 'STOP_MARK=last-words']);
  const dir = join(e.root, 'var/lib/niso/state/moved');
  assert.equal(fsAt(dir), null, 'unbounded: a plain directory');
  setMaxSize('32M');
  ok(e, ['restart', 'moved']);
  assert.equal(fsAt(dir), 'ext4');
  // The old app wrote its last file on SIGTERM: it stopped before the move, so the file moved with the rest.
  assert.equal(readFileSync(join(dir, 'last-words'), 'utf8'), 'stopped');
  ok(e, ['deactivate', 'moved']);
});

test('a service without a size of its own follows the host\'s [state] max_size: a new one applies at the next restart', async () => {
  const e = await setup('follow');
  const setMaxSize = hostStateMaxSize(e);
  setMaxSize('16M');
  ok(e, ['activate', 'follow', '--network', 'none']);
  const limit = () => (JSON.parse(ok(e, ['stats', 'follow', '--json'])) as { stateLimitBytes: number }[])[0]!.stateLimitBytes;
  assert.equal(limit(), 16 * 1024 * 1024);
  writeFileSync(join(e.root, 'var/lib/niso/state/follow/kept'), 'yes');
  setMaxSize('24M');
  ok(e, ['restart', 'follow']);
  assert.equal(status(e, 'follow').state, 'active');
  assert.equal(limit(), 24 * 1024 * 1024);
  assert.equal(readFileSync(join(e.root, 'var/lib/niso/state/follow/kept'), 'utf8'), 'yes');
  ok(e, ['deactivate', 'follow']);
});

/** Generations keep the packages they name (GC roots); a host that keeps only the current one frees the others. */
const keepOnlyCurrentGeneration = (e: Env) => writeTree(join(e.root, 'etc/niso'), { 'config.toml': '[generations]\nkeep_last = 1\nkeep_days = 0\n' });

test('remove: a package a service uses is refused; an active service is refused; an inactive one is forgotten', async () => {
  const e = await setup('keep');
  await keepOnlyCurrentGeneration(e);
  ok(e, ['activate', 'keep', '--network', 'none']);
  const pkg = niso(e, ['remove', 'keep:1.0.0']);
  assert.equal(pkg.code, 1);
  assert.match(pkg.stderr, /NISO3306.*keep 1\.0\.0 is used by service keep/);
  const svc = niso(e, ['remove', 'keep']);
  assert.equal(svc.code, 1);
  assert.match(svc.stderr, /NISO3302.*service "keep" is active/);
  const list = ok(e, ['list']);
  assert.match(list, /^NAME\s+VERSION\s+ARCH\s+DIGEST\s+SIZE\s+INSTALLED\s+SERVICES\n/);
  assert.match(list, /\nkeep\s+keep@1\.0\.0\s+active\s/);
  // stats and top see the running service.
  const st = JSON.parse(ok(e, ['stats', 'keep', '--json'])) as { name: string; running: boolean; pids: number; memoryBytes: number }[];
  assert.equal(st[0]!.running, true);
  assert.ok(st[0]!.pids >= 3 && st[0]!.memoryBytes > 1_000_000, JSON.stringify(st));
  const top = ok(e, ['top', 'keep']);
  assert.match(top, /\n\d+\s+\d+\s+niso-keep\s+.*node main\.js\n/);
  ok(e, ['deactivate', 'keep']);
  const topAfter = niso(e, ['top', 'keep']);
  assert.match(topAfter.stderr, /NISO3303/);
  assert.match(ok(e, ['remove', 'keep']), /^removed service keep/);
  assert.match(ok(e, ['remove', 'keep']), /^removed keep 1\.0\.0/);
});

test('a fix under the same version: --replace keeps the build a service uses; activate says which build it runs and how to run the new one', async () => {
  const e = await setup('fixed');
  await keepOnlyCurrentGeneration(e);
  const short = (d: string) => d.slice(0, 19);
  const first = JSON.parse(ok(e, ['activate', 'fixed', '--network', 'none', '--json'])) as { package: { digest: string } };
  ok(e, ['deactivate', 'fixed']);
  await writeTree(join(e.dir, 'fixed'), { 'main.js': `${MAIN}// the fix\n` });
  const fix = JSON.parse(ok(e, ['pack', 'fixed', '-o', 'fixed.niso', '--json'])) as { digest: string };
  assert.match(niso(e, ['install', 'fixed.niso']).stderr, /NISO2206: .*fixed 1\.0\.0 is already installed as another build[^]*hint: to replace the installed build: `niso install --replace /);

  const replaced = ok(e, ['install', '--replace', 'fixed.niso']);
  assert.ok(replaced.includes(`the earlier build ${short(first.package.digest)} of fixed 1.0.0 stays while service fixed uses it; \`niso deactivate fixed && niso activate fixed:1.0.0 --name fixed\` switches it to this build`), replaced);
  const removing = niso(e, ['remove', 'fixed:1.0.0']);
  assert.match(removing.stderr, new RegExp(`NISO2202: fixed:1\\.0\\.0 has 2 installed builds[^]*hint: name one of them: ${short(fix.digest)}, ${short(first.package.digest)}`), 'removing by a version that names two builds is refused');

  // `niso activate SERVICE` starts it as it was defined (like `docker start`), and says so.
  const again = niso(e, ['activate', 'fixed']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^fixed is active: fixed 1\\.0\\.0 \\(${short(first.package.digest)}\\)`));
  assert.ok(again.stderr.includes(`the build installed since is ${short(fix.digest)}: \`niso deactivate fixed && niso activate fixed:1.0.0 --name fixed\` runs it`), again.stderr);
  ok(e, ['deactivate', 'fixed']);
  const switched = JSON.parse(ok(e, ['activate', 'fixed:1.0.0', '--name', 'fixed', '--network', 'none', '--json'])) as { package: { digest: string } };
  assert.equal(switched.package.digest, fix.digest);
  ok(e, ['deactivate', 'fixed']);
  assert.match(ok(e, ['remove', first.package.digest]), /^removed fixed 1\.0\.0/, 'the earlier build goes once no service uses it');
});

test('logs: both streams in order, -n, --timestamps, prefixes for several services, -f; kept while the supervisor is dead; bounded by rotation', async () => {
  const e = await setup('talk');
  ok(e, ['activate', 'talk', '--network', 'none', '--env', 'MODE=chatty', '--env', 'LINES=3']);
  ok(e, ['activate', 'talk', '--name', 'talk2', '--network', 'none', '--env', 'MODE=chatty', '--env', 'LINES=2']);
  await until('the lines', () => ok(e, ['logs', 'talk']).includes('line 2'));
  const all = ok(e, ['logs', 'talk']).split('\n').filter(Boolean);
  // stdout in its order; stderr's line among them (between streams, order is exact only to the pump's ~250 ms).
  assert.deepEqual(all.filter((l) => !l.startsWith('err')).map((l) => l.slice(0, 6)), ['start ', 'line 0', 'line 1', 'line 2']);
  assert.equal(all.filter((l) => l === 'err line').length, 1);
  assert.deepEqual(ok(e, ['logs', 'talk', '-n', '1']).trim(), all[all.length - 1]);
  const stamped = ok(e, ['logs', 'talk', '-n', '2', '--timestamps']).trim().split('\n');
  for (const l of stamped) assert.match(l, /^~?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (line \d|err line)/);
  const both = ok(e, ['logs', 'talk', 'talk2', '-n', '1']).trim().split('\n').sort();
  assert.match(both[0]!, /^talk {2}\| (line 2 |err line)/);
  assert.match(both[1]!, /^talk2 \| (line 1 |err line)/);
  // The last record as JSON: its stream is the one its text came from (stderr's line is last when the pump first
  // looked after the burst: both streams then get one time). journald does not keep the stream: all is stdout.
  const json = JSON.parse(ok(e, ['logs', 'talk', '--json', '-n', '1'])) as { stream: string; text: string };
  assert.deepEqual({ stream: json.stream, text: json.text }, { stream: all.at(-1) === 'err line' && !onSystemd ? 'stderr' : 'stdout', text: all.at(-1) });
  assert.equal(niso(e, ['logs', 'talk', '--since', 'yesterday-ish']).code, 2);
  assert.equal(ok(e, ['logs', 'talk', '--since', '1h']).trim().split('\n').length, 5);
  assert.equal(ok(e, ['logs', 'talk', '--until', '1h']), '');

  // -f prints the last -n lines, then what comes next, and ends on an interrupt. The app's line is asked for once the
  // follower has printed the last one: it follows from there (a fixed wait for a CLI that starts in seconds on a
  // loaded machine let the line come before the follower, which then waited for it in vain).
  const { spawn } = await import('node:child_process');
  const follower = spawn(process.execPath, [BIN, 'logs', '-f', '-n', '1', 'talk'], { env: { ...process.env, NISO_ROOT: e.root } });
  let followed = '';
  follower.stdout.on('data', (d) => { followed += d; });
  await until('the follower to print the last line', () => followed.includes('\n'), 60_000);
  assert.equal(followed, `${all.at(-1)}\n`, 'the last line, no other');
  const appPid = status(e, 'talk').pid!;
  process.kill(appPid, 'SIGUSR1');
  await until('the followed line', () => followed.includes('line 3 after signal'));
  follower.kill('SIGINT');
  const code = await new Promise((r) => follower.on('close', r));
  assert.equal(code, 0);
  assert.equal(followed, `${all.at(-1)}\nline 3 after signal\n`, 'then only the new line');

  if (onSystemd) {
    // journald keeps the output, within its own limits: niso's rotation flags do not apply, and activate says so.
    ok(e, ['deactivate', 'talk', 'talk2']);
    const r = niso(e, ['activate', 'talk', '--name', 'flood', '--network', 'none', '--log-max-size', '4K', '--log-files', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /--log-max-size and --log-files do not apply on the systemd backend: journald keeps flood's output/);
    ok(e, ['deactivate', 'flood']);
    return;
  }
  // With no supervisor, the app's output still lands on disk and shows; the next supervisor files it.
  const sup = await until('a supervisor', () => supervisorPid(e));
  process.kill(sup, 'SIGKILL');
  await until('the supervisor to be gone', () => supervisorPid(e) === null);
  process.kill(appPid, 'SIGUSR1');
  // Written straight to its file (polled: a loaded machine takes its time to run the app's handler).
  await until('the line in the app\'s file', () => readFileSync(join(e.root, 'var/lib/niso/services/talk/logs/out.raw')).includes('line 4 after signal'));
  assert.match(ok(e, ['logs', 'talk', '-n', '1', '--timestamps']), /line 4 after signal/);
  ok(e, ['deactivate', 'talk', 'talk2']);

  // Rotation: 4 KiB × 2 files, and an app that writes ~200 KiB.
  ok(e, ['activate', 'talk', '--name', 'flood', '--network', 'none', '--env', 'MODE=chatty', '--env', 'LINES=2000', '--log-max-size', '4K', '--log-files', '2']);
  await until('the last line', () => ok(e, ['logs', 'flood', '-n', '1']).startsWith('line 1999 '), 20_000);
  const logsDir = join(e.root, 'var/lib/niso/services/flood/logs');
  await until('the raw output to be freed', () => {
    const journal = journalBytes(logsDir);
    const rawBlocks = ['out.raw', 'err.raw'].reduce((n, f) => n + statSync(join(logsDir, f)).blocks * 512, 0);
    return journal <= 2 * 4096 + 1024 && rawBlocks < 1024 * 1024 + 64 * 1024;
  }, 20_000);
  // `logs` also shows output the pump has not moved yet: the bound holds once it has moved all of it.
  let kept: string[] = [];
  await until('only the newest lines to be kept', () => (kept = ok(e, ['logs', 'flood']).trim().split('\n')).length < 200, 20_000).catch(() => {
    assert.fail(`only the newest lines are kept (${kept.length})`);
  });
  assert.match(kept[kept.length - 1]!, /^line 1999 /);
  ok(e, ['deactivate', 'flood']);
});

/** Every lock file below a root: `lock`, `.lock` and `*.lock`, as paths relative to it. */
function lockFiles(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[]).filter((f) => /(^|\/)(\.?lock|[^/]+\.lock)$/.test(f) && statSync(join(root, f)).isFile()).sort();
}

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

test('locks: no other user can open a lock file niso made, so none can stall it; a 0644 one an older niso left, held by another user, is named at once and made private', async () => {
  const e = await setup('locky');
  // The store (install), the uid table, the services, the service, the networks (a private network), the supervisor.
  ok(e, ['activate', 'locky', '--env', 'MODE=serve']);
  ok(e, ['deactivate', 'locky']);
  const locks = lockFiles(e.root);
  const lib = 'var/lib/niso/';
  for (const want of ['store.lock', 'users.lock', 'services/.lock', 'services/locky/lock', 'net/net.lock']) assert.ok(locks.includes(lib + want), `${want} in ${locks.join(', ')}`);
  if (!onSystemd) assert.ok(locks.includes('run/niso/supervisor.lock'), locks.join(', '));
  for (const f of locks) {
    const st = statSync(join(e.root, f));
    assert.deepEqual({ f, mode: st.mode & 0o7777, uid: st.uid }, { f, mode: 0o600, uid: 0 });
    const r = spawnSync('setpriv', [...NOBODY, 'flock', '--shared', '--nonblock', join(e.root, f), 'true'], { encoding: 'utf8' });
    assert.equal(r.status, 66, `nobody could open ${f}: ${r.stderr}`);
    assert.match(r.stderr, /Permission denied/);
  }
  // The store's lock as an older niso left it (0644), and a process of nobody's that opened it then and holds it.
  const storeLock = join(e.root, lib, 'store.lock');
  chmodSync(storeLock, 0o644);
  const { spawn } = await import('node:child_process');
  const holder = spawn('setpriv', [...NOBODY, 'flock', '--shared', storeLock, 'sh', '-c', 'echo held; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  try {
    await new Promise<void>((res) => holder.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('held')) res(); }));
    const gc = niso(e, ['gc']);
    assert.equal(gc.code, 1, gc.stdout);
    assert.match(gc.stderr, new RegExp(`error NISO3314: could not lock the store: \\S+store\\.lock is locked by process ${holder.pid} \\(uid 65534: flock --shared`));
    assert.match(gc.stderr, new RegExp(`hint: .*kill ${holder.pid}`));
    assert.equal(statSync(storeLock).mode & 0o7777, 0o600, 'made private on the way');
  } finally {
    process.kill(-holder.pid!, 'SIGKILL');
    await new Promise((res) => holder.on('close', res));
  }
  ok(e, ['gc']);
});

test('exec: a command inside the running sandbox, as the service; exit codes pass; exec health checks use it', async () => {
  // A node started by the check takes well under a second on a quiet machine and several on a loaded CI machine; the
  // bound is not what this case tests (the first probes come quickly until one passes, whatever the interval).
  const e = await setup('inside', '\n[healthcheck]\nexec = ["/usr/bin/node", "-e", "process.exit(require(\'fs\').existsSync(\'/state/ready\') ? 0 : 1)"]\ninterval = "5s"\ntimeout = "5s"\n');
  ok(e, ['activate', 'inside', '--network', 'none', '--env', 'READY_FILE_AFTER_MS=300', '--wait']);
  const s = status(e, 'inside');
  assert.equal(s.health, 'healthy', 'the exec probe found the file the app wrote in its /state');
  const out = ok(e, ['exec', 'inside', '--', 'node', '-e', 'console.log(process.getuid(), require("fs").readFileSync("/state/ready", "utf8"), process.env.MODE ?? "-")']);
  const uid = readFileSync(`/proc/${s.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1];
  assert.equal(out, `${uid} yes -\n`);
  assert.equal(ok(e, ['exec', 'inside', '-e', 'MODE=x', '--', 'node', '-e', 'console.log(process.env.MODE)']), 'x\n');
  assert.equal(niso(e, ['exec', 'inside', '--', 'node', '-e', 'process.exit(7)']).code, 7);
  const missing = niso(e, ['exec', 'inside', '--', 'sh', '-c', 'true']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /NISO3311.*"sh" is not in the sandbox's PATH/);
  ok(e, ['deactivate', 'inside']);
  const stopped = niso(e, ['exec', 'inside', '--', 'node', '-e', '0']);
  assert.match(stopped.stderr, /NISO3303/);
});

test('an unsandboxed service (unsafe-none, confirmed by the operator) starts, is health-checked and stops like any other', async () => {
  const port = await freePort();
  const e = await setup('bare', `\n[healthcheck]\ntcp = ${port}\n`);
  // It has no sandbox and so no bubblewrap to report one; its start is its process (it used to wait 30 s and fail).
  const out = ok(e, ['activate', 'bare', '--preset', 'unsafe-none', '--env', 'MODE=serve', '--env', `PORT=${port}`, '--wait']);
  assert.match(out, /^bare is active: /);
  const s = status(e, 'bare');
  assert.deepEqual([s.state, s.health], ['active', 'healthy']);
  assert.ok(s.pid !== null && readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0').includes('main.js'), 'the pid status shows is the app\'s');
  assert.equal(spawnSync('curl', ['-s', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout, `up ${JSON.parse(readFileSync(join(e.root, 'var/lib/niso/users.json'), 'utf8')).services.bare}`, 'on the host\'s network, as its own uid');
  ok(e, ['deactivate', 'bare']);
  assert.equal(status(e, 'bare').state, 'inactive');
  assert.match(ok(e, ['logs', 'bare']), /got SIGTERM/, 'the stop signal reached the app');
});

test('deactivate: the stop signal, then SIGKILL after stop_timeout; a custom stop_signal is honoured', async () => {
  const e = await setup('stubborn');
  ok(e, ['activate', 'stubborn', '--network', 'none', '--env', 'MODE=stubborn']);
  assert.equal(ok(e, ['deactivate', 'stubborn']), 'stubborn stopped (killed after the stop timeout)\n');
  // From the stop signal to the kill as the app lived it (its own clock, not the command's, which a loaded machine
  // stretches): the 2 s of its stop_timeout, well short of the default 10 s.
  const noted = (f: string) => Number(readFileSync(join(e.root, 'var/lib/niso/state/stubborn', f), 'utf8'));
  const lived = noted('alive-at') - noted('sigterm-at');
  assert.ok(lived >= 1700 && lived < 5000, `stop_timeout is 2s; the app lived ${lived} ms after the stop signal`);
  assert.match(ok(e, ['logs', 'stubborn']), /ignoring SIGTERM/);
  assert.equal(status(e, 'stubborn').lastExit?.exitCode, 137);
  const p = await setup('polite', 'stop_signal = "SIGINT"\n');
  ok(p, ['activate', 'polite', '--network', 'none', '--env', 'MODE=stubborn']);
  assert.equal(ok(p, ['deactivate', 'polite']), 'polite stopped (exit code 0)\n');
  assert.match(ok(p, ['logs', 'polite']), /got SIGINT/);
});

test('a second service of one package with -p maps only its own ports (the command line replaces the manifest\'s)', async () => {
  const [p1, p2] = await freePorts(2);
  const e = await setup('porty', `\n[network]\nports = ["127.0.0.1:${p1}:3000"]\n`);
  ok(e, ['activate', 'porty', '--wait']);
  ok(e, ['activate', 'porty', '--name', 'porty-2', '-p', `127.0.0.1:${p2}:3000`, '--wait']);
  assert.deepEqual(status(e, 'porty-2').ports, [`127.0.0.1:${p2}->3000/tcp`]);
  for (const p of [p1, p2]) assert.match(await until(`port ${p}`, () => spawnSync('curl', ['-sf', `http://127.0.0.1:${p}/`], { encoding: 'utf8' }).stdout), /^up /);
  ok(e, ['deactivate', 'porty', 'porty-2']);
});

test('an init step runs in the service\'s sandbox before the app while its volume is empty, then no more; a failing one keeps the app from starting (NISO3315, with its output)', async () => {
  const e = await setup('seeded', '\n[init]\ncommand = ["node", "main.js", "init"]\nif_empty = "/data"\ntimeout = "3s"\n\n[volumes.data]\nmount = "/data"\n');
  ok(e, ['activate', 'seeded', '--network', 'none']);
  const uid = inside(e, 'seeded', 'process.stdout.write(String(process.getuid()))').out;
  assert.match(uid, /^\d+$/);
  // Run once, as the service's own user, writing into the service's volume.
  assert.equal(inside(e, 'seeded', cat('/data/init-runs')).out, `${uid}\n`);
  ok(e, ['restart', 'seeded']);
  assert.equal(inside(e, 'seeded', cat('/data/init-runs')).out, `${uid}\n`, 'the volume holds data: not run again');
  assert.match(ok(e, ['logs', 'seeded']), /start init/, 'its output is the service\'s');
  ok(e, ['deactivate', 'seeded']);
  // Another service of the package, with a volume of its own that is empty: the step runs, fails, and the app never starts.
  const r = niso(e, ['activate', 'seeded', '--name', 'seeded-2', '--network', 'none', '-e', 'INIT_FAIL=no disk']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /NISO3315: seeded-2: the init step .* exited with code 3/);
  assert.match(r.stderr, /init failed: no disk/);
  assert.notEqual(status(e, 'seeded-2').state, 'active');
  assert.doesNotMatch(ok(e, ['logs', 'seeded-2']), /start serve/, 'the app did not start');
  // One that never ends is killed at its timeout, and the app does not start either.
  const hung = niso(e, ['activate', 'seeded', '--name', 'seeded-3', '--network', 'none', '-e', 'INIT_HANG=1']);
  assert.notEqual(hung.code, 0);
  assert.match(hung.stderr, /NISO3315: seeded-3: the init step .* did not end within its timeout/);
  assert.notEqual(status(e, 'seeded-3').state, 'active');
  assert.doesNotMatch(ok(e, ['logs', 'seeded-3']), /start serve/, 'the app did not start');
});

test('an init step whose if_empty names what became a file cannot be checked: the start fails with NISO3315 saying so, rather than skipping or running the step', async () => {
  // The step appends to /data/init-runs, the very path its condition names: missing at the first start, a file after.
  const e = await setup('seedfile', '\n[init]\ncommand = ["node", "main.js", "init"]\nif_empty = "/data/init-runs"\ntimeout = "3s"\n\n[volumes.data]\nmount = "/data"\n');
  ok(e, ['activate', 'seedfile', '--network', 'none']);
  assert.match(inside(e, 'seedfile', cat('/data/init-runs')).out, /^\d+\n$/);
  ok(e, ['deactivate', 'seedfile']);
  const r = niso(e, ['activate', 'seedfile']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /NISO3315: .*could not be checked/);
  assert.match(r.stderr, /the init step's condition if_empty = "\/data\/init-runs" could not be checked: \S+\/init-runs is not a directory/);
  assert.notEqual(status(e, 'seedfile').state, 'active');
  assert.equal(inside(e, 'seedfile', '1').code, 1, 'nothing runs');
});

/** Runs node inside a service's sandbox (`niso exec`): its stdout, or how it failed. */
function inside(e: Env, service: string, script: string): { code: number | null; out: string; err: string } {
  const r = niso(e, ['exec', service, '--', 'node', '-e', script]);
  return { code: r.code, out: r.stdout, err: r.stderr };
}
const append = (path: string, text: string) => `require('fs').appendFileSync(${JSON.stringify(path)}, ${JSON.stringify(text)})`;
const cat = (path: string) => `process.stdout.write(require('fs').readFileSync(${JSON.stringify(path)}, 'utf8'))`;

test('volumes: a service\'s own volume outlives remove and comes back; two services share one; exclusive and read-only grants hold; a config file is a copy', async () => {
  const e = await setup('vols', '\n[volumes.data]\nmount = "/data"\n');
  const run = ['--network', 'none'];
  ok(e, ['activate', 'vols', ...run]);
  assert.equal(inside(e, 'vols', append('/data/db.json', 'one\n')).code, 0);
  ok(e, ['deactivate', 'vols']);
  ok(e, ['remove', 'vols']);
  const listed = JSON.parse(ok(e, ['volume', 'ls', '--json'])) as { name: string; kind: string }[];
  assert.ok(listed.some((v) => v.name === 'vols/data' && v.kind === 'service'), `the service's own volume is kept after remove: ${JSON.stringify(listed)}`);
  ok(e, ['activate', 'vols', ...run]);
  assert.equal(inside(e, 'vols', cat('/data/db.json')).out, 'one\n', 'the data came back with a new service of the same name');

  // Two services granted one volume both write, each to the other's file (the volume's group and default ACL).
  ok(e, ['volume', 'create', 'shared']);
  ok(e, ['activate', 'vols', '--name', 'va', ...run, '-v', 'shared:/shared']);
  ok(e, ['activate', 'vols', '--name', 'vb', ...run, '--mount', 'type=volume,src=shared,dst=/shared']);
  assert.equal(inside(e, 'va', append('/shared/log', 'from a\n')).code, 0);
  const b = inside(e, 'vb', `${append('/shared/log', 'from b\n')}; ${cat('/shared/log')}`);
  assert.equal(b.out, 'from a\nfrom b\n', b.err);
  // A read-only grant cannot be written; an ungranted volume is not there at all.
  ok(e, ['activate', 'vols', '--name', 'vr', ...run, '-v', 'shared:/shared:ro']);
  const ro = inside(e, 'vr', append('/shared/log', 'from r\n'));
  assert.notEqual(ro.code, 0);
  assert.match(ro.err, /EROFS/);
  assert.equal(inside(e, 'vr', cat('/shared/log')).out, 'from a\nfrom b\n');
  assert.match(inside(e, 'vols', `require('fs').readdirSync('/shared')`).err, /ENOENT/, 'a service without the grant does not see the volume');
  const inspected = JSON.parse(ok(e, ['volume', 'inspect', 'shared', '--json'])) as { grants: { service: string; readOnly: boolean }[] }[];
  assert.deepEqual(inspected[0]!.grants.map((g) => [g.service, g.readOnly]).sort(), [['va', false], ['vb', false], ['vr', true]]);

  // exclusive: a second service is refused, naming the holder; so is an exclusive grant of a shared volume.
  const made = niso(e, ['activate', 'vols', '--name', 'vx', ...run, '-v', 'solo:/solo:exclusive']);
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stderr, /^note: created volume solo$/m, 'a volume named but missing is made, and activate says so');
  assert.match(ok(e, ['inspect', 'vx']), /\nvolume: +solo at \/solo\n/, 'inspect lists the service\'s volumes');
  const second = niso(e, ['activate', 'vols', '--name', 'vy', ...run, '-v', 'solo:/solo']);
  assert.notEqual(second.code, 0);
  assert.match(second.stderr, /NISO50\d\d.*solo.*vx/);
  const grab = niso(e, ['activate', 'vols', '--name', 'vz', ...run, '-v', 'shared:/shared:exclusive']);
  assert.notEqual(grab.code, 0);
  assert.match(grab.stderr, /NISO50\d\d.*shared/);

  // A config file: copied at activation and mounted read-only; editing the original changes nothing until then.
  const conf = join(e.dir, 'app.json');
  writeFileSync(conf, '{"v":1}\n', { mode: 0o600 });
  // A dry run shows the user's file where it would go, and neither copies nor touches it.
  const dry = ok(e, ['run', '--dry-run', '--network', 'none', '--config', `${conf}:/etc/vols/app.json`, 'vols:1.0.0']);
  // bubblewrap's argv, or on systemd the transient unit's property.
  assert.ok(dry.includes(onSystemd ? ` -p BindReadOnlyPaths=${conf}:/etc/vols/app.json ` : ` --ro-bind ${conf} /etc/vols/app.json `), dry);
  assert.deepEqual([statSync(conf).uid, statSync(conf).gid, statSync(conf).mode & 0o777], [0, 0, 0o600], 'the dry run left the user\'s file as it was');
  ok(e, ['activate', 'vols', '--name', 'vc', ...run, '--config', `${conf}:/etc/vols/app.json`]);
  writeFileSync(conf, '{"v":2}\n');
  assert.equal(inside(e, 'vc', cat('/etc/vols/app.json')).out, '{"v":1}\n');
  assert.match(inside(e, 'vc', append('/etc/vols/app.json', 'x')).err, /EROFS|EACCES/);

  // remove --volumes takes the service's own volume and its state with it; named volumes stay.
  for (const s of ['vols', 'va', 'vb', 'vr', 'vx', 'vc']) ok(e, ['deactivate', s]);
  ok(e, ['remove', 'vols', '--volumes']);
  const after = (JSON.parse(ok(e, ['volume', 'ls', '--json'])) as { name: string }[]).map((v) => v.name);
  assert.ok(!after.includes('vols/data') && !after.includes('vols/state'), `gone with --volumes: ${after.join(' ')}`);
  assert.ok(after.includes('shared') && after.includes('solo'), 'named volumes stay');
});
