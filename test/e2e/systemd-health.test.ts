// Health checks on the systemd backend, end to end: a real systemd 252 booted in nspawn (test/helpers/nspawn.ts), the
// niso CLI run INSIDE it. The unit's health timers start niso-<svc>-health.service, a oneshot running
// `niso __health-check`, which probes, keeps health.json and restarts the unit when it turns unhealthy; between
// checks no niso process runs. `niso activate --wait` probes from the CLI and fails fast with systemd's reason.
// Activations of apps that crash or turn unhealthy on purpose pass --no-gate: these cases test the restart policy and
// the health verdicts themselves, which SafeSwitch would roll back first (switch.test.ts tests the gate).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SystemdE2E, BIN, sleep } from '../helpers/systemd-e2e.js';
import { until } from '../helpers/wait.js';
import type { Machine } from '../helpers/nspawn.js';
import { usTimestamp } from '../../src/service/systemd/systemctl.js';

const PKG = 'sdh';
const SLOW = 'sdslow';
const PLAIN = 'sdplain';
const REPORT = 'sdreport';
const EXEC = 'sdexec';

let root = '';
let m: Machine | null = null;
const e2e = new SystemdE2E('sdh');
const { figures, niso, nisoOk, nisoProcesses } = e2e;

// /health answers 200 until the file SICK_FILE exists, then 503 (the test makes it once --wait has seen the app
// healthy: a time after the start raced a slow activation on a loaded machine); it listens after START_DELAY ms.
const SERVER = `'use strict';
const http = require('node:http');
const fs = require('node:fs');
const t0 = Date.now();
const sickFile = process.env.SICK_FILE;
const server = http.createServer((req, res) => {
  if (req.url === '/health' && sickFile && fs.existsSync(sickFile)) { res.writeHead(503); res.end('db down\\n'); return; }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(req.url === '/health' ? 'ok\\n' : 'hello\\n');
});
setTimeout(() => server.listen(3000, '127.0.0.1', () => console.log('listening after ' + (Date.now() - t0) + ' ms, at ' + Date.now())), Number(process.env.START_DELAY || 0));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;
const DIE = "console.log('die.js: cannot read /state/config.json'); setTimeout(() => process.exit(4), 50);\n";

const usec = async (unit: string, p: string) => Number(await m!.show(unit, p));

interface Status { name: string; state: string; health: string | null; pid: number | null; restarts: number; uptimeMs: number | null; lastExit: { reason: string; message: string | null } | null; message: string | null }
interface Health { status: string; probes: number; log: { ok: boolean; output: string; at: string; exitCode?: number }[] }
const status = async (name: string) => JSON.parse(await nisoOk(['status', name, '--json'])) as Status;
const healthFile = (name: string) => JSON.parse(readFileSync(join(root, 'var/lib/niso/services', name, 'health.json'), 'utf8')) as Health;

function pack(name: string, manifest: (text: string) => string): void {
  e2e.nodePackage(name, { manifest: (t) => manifest(t).concat('\n[restart]\ndelay = "100ms"\nmax_delay = "5s"\n'), files: { 'server.js': SERVER, 'die.js': DIE } });
}

before(async () => {
  e2e.makeDir();
  root = e2e.root;
  // Short intervals: a probe every second, unhealthy after 2 failures in a row.
  pack(PKG, (t) => t.replace(/^\[healthcheck\]\n.*$/m, (block) => `${block}\ninterval = "1s"\ntimeout = "1s"\nretries = 2`));
  // A check every 5 s: wide enough apart that the first probe's pace (fired when the port listens) is told from the
  // interval's even when the CLI is slow on a loaded machine.
  pack(SLOW, (t) => t.replace(/^\[healthcheck\]\n.*$/m, (block) => `${block}\ninterval = "5s"\ntimeout = "2s"\nretries = 2`));
  pack(PLAIN, (t) => t.replace(/^\[healthcheck\]\n.*\n?/m, ''));
  pack(REPORT, (t) => t.replace(/^\[healthcheck\]\n.*$/m, (block) => `${block}\ninterval = "1s"\ntimeout = "1s"\nretries = 2\non_unhealthy = "none"`));
  // The probe is a node start in a transient unit: its timeout leaves room for a loaded machine, where one took over 2 s.
  pack(EXEC, (t) => t.replace(/^\[healthcheck\]\n.*$/m, '[healthcheck]\nexec = ["node", "-e", "0"]\ninterval = "10s"\ntimeout = "10s"'));
  m = await e2e.boot({ limits: true });
});

after(() => e2e.cleanup());

test('--wait returns once the app is healthy; the check units run beside it and no niso process stays between checks', async () => {
  const t0 = performance.now();
  const s = JSON.parse(await nisoOk(['activate', SLOW, '--name', 'slow', '--network', 'none', '-e', 'START_DELAY=700', '--wait', '--json'])) as Status;
  figures.waitMs = (performance.now() - t0).toFixed(0);
  assert.equal(s.state, 'active');
  assert.equal(s.health, 'healthy');
  const h = healthFile('slow');
  // It listened 700 ms after its node started: the probe fired when the port listens (or the quick start-up pace, 50 ms
  // doubling) saw it soon after, not at the interval's pace (5 s). Measured from the moment it listened, by its own clock
  // (the machine shares the host's), so that a slow node start on a loaded machine does not count.
  const start = usTimestamp((await m!.ok('systemctl', ['show', '--timestamp=us+utc', '-p', 'ExecMainStartTimestamp', '--value', 'niso-slow.service'])).trim())!;
  const firstOkAt = Date.parse(h.log.find((p) => p.ok)!.at);
  figures.firstPassAfterStartMs = (firstOkAt - start).toFixed(0);
  const listened = /listening after \d+ ms, at (\d+)/.exec((await m!.journalctl('-u', 'niso-slow.service', '-o', 'cat')).stdout);
  assert.ok(listened, 'the app logged when it listened');
  const afterListen = firstOkAt - Number(listened[1]);
  figures.firstPassAfterListenMs = afterListen.toFixed(0);
  // (A probe may start a little before the app logs that it listens and pass: its connect comes later.)
  assert.ok(afterListen < 2500, `the first passing probe started ${afterListen} ms after the app listened`);
  assert.equal(h.status, 'healthy');
  // Probes before it listened were refused; on a loaded machine the first probe may come only after it listened.
  assert.ok(h.log.filter((p) => !p.ok).every((p) => /connection refused on 127\.0\.0\.1:3000/.test(p.output)), JSON.stringify(h.log));
  assert.equal(h.log.at(-1)!.ok, true);
  assert.match(h.log.at(-1)!.output, /^HTTP 200 OK: ok$/);
  for (const u of ['niso-slow-health.timer', 'niso-slow-health-start.timer']) assert.equal(await m!.show(u, 'BindsTo'), 'niso-slow.service', u);
  assert.equal((await m!.systemctl('is-active', 'niso-slow-health.timer')).stdout.trim(), 'active');
  // The first passing probe stopped the start-up timer: from now on a check every interval.
  assert.equal((await m!.systemctl('is-active', 'niso-slow-health-start.timer')).stdout.trim(), 'inactive');

  // The timer keeps checking: probes go on, each in a short-lived niso-slow-health.service.
  // (Waited for, not slept on: on a loaded machine the checks' node starts stretch the interval.)
  const probes = h.probes;
  let later = healthFile('slow');
  for (let i = 0; i < 400 && later.probes < probes + 2; i++) { await sleep(100); later = healthFile('slow'); }
  assert.ok(later.probes >= probes + 2, `probes ${probes} → ${later.probes}`);
  assert.equal(later.status, 'healthy');
  const check = 'niso-slow-health.service';
  // Between checks: the check unit is inactive and no niso process is left in the machine. How long the last check
  // ran, by systemd's clock, is read in such a moment too: on a loaded machine the next check may start meanwhile.
  let clean = false;
  let ran = 0;
  for (let i = 0; i < 40 && !clean; i++) {
    const a = await m!.show(check, 'ActiveState');
    const ps = await nisoProcesses();
    ran = (await usec(check, 'ExecMainExitTimestampMonotonic')) - (await usec(check, 'ExecMainStartTimestampMonotonic'));
    const b = await m!.show(check, 'ActiveState');
    clean = a === 'inactive' && b === 'inactive' && ps.length === 0 && ran > 0;
    if (!clean) await sleep(150);
  }
  figures.checkRunMs = (ran / 1000).toFixed(0);
  assert.ok(clean, `a moment with the check inactive (its last run took ${ran} µs) and no niso process`);
  const st = await status('slow');
  assert.equal(st.state, 'active');
  assert.equal(st.health, 'healthy');
  assert.match(await nisoOk(['status']), /slow\s+sdslow@0\.1\.0\s+active\s+healthy\s/);

  assert.match(await nisoOk(['inspect', 'slow']), /^state: +active, healthy$/m);

  // What one check costs, run by hand in the unit's clean environment: node, niso, systemctl, flock, nsenter and curl.
  const timed = await m!.run('bash', ['-c', `TIMEFORMAT='%R %U %S'; time env -i PATH=/usr/bin:/bin NISO_ROOT=${root} ${process.execPath} ${BIN} __health-check slow`]);
  assert.equal(timed.code, 0, timed.stderr);
  const [real, user, sys] = timed.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  figures.checkByHand = `wall ${real}s (waits until due), cpu ${((user! + sys!) * 1000).toFixed(0)} ms`;

  // niso restart: a fresh record for the new run, the probe history kept.
  const beforeRestart = healthFile('slow');
  await nisoOk(['restart', 'slow']);
  const afterRestart = healthFile('slow');
  assert.ok(afterRestart.probes <= 2 && afterRestart.probes < beforeRestart.probes, `probes ${beforeRestart.probes} → ${afterRestart.probes}`);
  assert.ok(afterRestart.log.length >= Math.min(10, beforeRestart.log.length), 'the history stays');

  await nisoOk(['deactivate', 'slow']);
  for (const u of ['niso-slow-health.timer', 'niso-slow-health-start.timer', check]) assert.equal((await m!.systemctl('is-active', u)).stdout.trim(), 'inactive', u);
  const stopped = healthFile('slow').probes;
  await sleep(6000); // longer than its interval (5 s): a timer left behind would have checked by now
  assert.equal(healthFile('slow').probes, stopped, 'no check after deactivate');
  assert.deepEqual(await nisoProcesses(), []);
  await nisoOk(['remove', 'slow']);
  assert.equal((await m!.systemctl('cat', 'niso-slow-health.timer')).code, 1, 'the health units are gone');
});

test('an app whose /health turns 503 is restarted through the check unit after `retries` failures; status shows why', async () => {
  const s = JSON.parse(await nisoOk(['activate', PKG, '--name', 'sick', '--network', 'none', '-e', 'SICK_FILE=/state/sick', '--wait', '--json', '--no-gate'])) as Status;
  assert.equal(s.health, 'healthy');
  const unit = 'niso-sick.service';
  // Sick from now on, this run and the next ones (the file is in its /state, mounted inside the machine).
  await m!.ok('touch', [join(root, 'var/lib/niso/state/sick/sick')]);
  const sickAt = Number(process.hrtime.bigint() / 1000n) / 1000;
  const firstPid = s.pid;
  let st = s;
  // Until the new run is up: while systemd restarts it, the old run is stopping and no run's health applies.
  for (let i = 0; i < 100 && (st.restarts < 1 || st.pid === null || st.pid === firstPid); i++) { await sleep(100); st = await status('sick'); }
  assert.ok(st.restarts >= 1, `restarts ${st.restarts}`);
  const secondStart = (await usec(unit, 'ExecMainStartTimestampMonotonic')) / 1000;
  // From the first 503 to the new run: 2 failed probes one interval (1 s) apart, then the restart; the bound keeps a
  // margin for a machine loaded by two other test files (both clocks are the kernel's monotonic one).
  figures.unhealthyToRestartMs = (secondStart - sickAt).toFixed(0);
  assert.ok(secondStart - sickAt < 30_000, figures.unhealthyToRestartMs);
  assert.notEqual(Number(await m!.show(unit, 'MainPID')), firstPid);
  assert.equal(st.lastExit?.reason, 'unhealthy');
  assert.match(st.lastExit?.message ?? '', /^health check failed 2 times in a row: HTTP 503 Service Unavailable: db down$/);
  assert.ok(st.health === 'starting' || st.health === 'healthy', `the new run's health: ${st.health}`);
  const h = healthFile('sick');
  assert.ok(h.log.filter((p) => /HTTP 503/.test(p.output)).length >= 2, 'the failed probes stay in the history');
  // The check unit's account: it stopped the app, and the restart policy took over (its log).
  const journal = (await m!.journalctl('-u', 'niso-sick-health.service', '-o', 'cat')).stdout;
  assert.match(journal, /sick: unhealthy \(health check failed 2 times in a row: HTTP 503 Service Unavailable: db down\); stopping niso-sick\.service for its restart policy/);
  // ... whose verdict, as on the embedded backend: restarted after the restart delay.
  assert.match(journal, /sick: ended \(exit code \d+\) → restarting until \S+Z/);
  const debug = await nisoOk(['debug', 'sick']);
  assert.match(debug, /stopped: unhealthy( with code \d+)? after \d+(\.\d+)?m?s — health check failed 2 times in a row: HTTP 503/);
  assert.match(debug, /FAIL {2}HTTP 503 Service Unavailable: db down/);
  // It keeps happening, each time counted.
  for (let i = 0; i < 100 && st.restarts < 2; i++) { await sleep(100); st = await status('sick'); }
  assert.ok(st.restarts >= 2, `restarts ${st.restarts}`);
  await nisoOk(['deactivate', 'sick']);
  assert.equal((await m!.systemctl('is-active', 'niso-sick-health.timer')).stdout.trim(), 'inactive');
  assert.deepEqual(await nisoProcesses(), []);
});

test('on_unhealthy = "none": status shows unhealthy with the reason, and nothing is restarted', async () => {
  const s = JSON.parse(await nisoOk(['activate', REPORT, '--name', 'report', '--network', 'none', '-e', 'SICK_FILE=/state/sick', '--wait', '--json', '--no-gate'])) as Status;
  assert.equal(s.health, 'healthy');
  await m!.ok('touch', [join(root, 'var/lib/niso/state/report/sick')]);
  let st = s;
  await until('report to be unhealthy', async () => { st = await status('report'); return st.state === 'unhealthy'; }, 30_000, 100).catch(() => undefined);
  assert.equal(st.state, 'unhealthy');
  assert.equal(st.health, 'unhealthy');
  assert.equal(st.message, 'health check failed 2 times in a row: HTTP 503 Service Unavailable: db down');
  assert.equal(st.pid, s.pid, 'the same process');
  assert.equal(st.restarts, 0);
  const table = await nisoOk(['status']);
  assert.match(table, /report\s+sdreport@0\.1\.0\s+unhealthy\s+unhealthy\s/);
  assert.match(table, /^report: health check failed 2 times in a row: HTTP 503/m);
  // A second --wait on it says so at once.
  const again = await niso(['activate', 'report', '--wait', '--no-gate']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /NISO3305.*report is unhealthy: HTTP 503 Service Unavailable: db down/);
  await nisoOk(['deactivate', 'report']);

  // exec probes run as `niso exec` does on systemd: a transient unit beside the service, its output collected.
  const t0 = performance.now();
  const ex = JSON.parse(await nisoOk(['activate', EXEC, '--name', 'execcheck', '--network', 'none', '--wait', '--json'])) as Status;
  figures.execWaitMs = (performance.now() - t0).toFixed(0);
  assert.equal(ex.health, 'healthy');
  assert.doesNotMatch(readFileSync(`/proc/${m!.systemdPid}/root/etc/systemd/system/niso-execcheck.service`, 'utf8'), /not in this unit: the health check/);
  // The timers' check unit runs it too, and records it.
  await until('the check unit to run the exec probe', () => healthFile('execcheck').log.length >= 2, 60_000, 100).catch(() => undefined);
  assert.ok(healthFile('execcheck').log.length >= 2, 'the check unit ran the exec probe');
  assert.ok(healthFile('execcheck').log.every((p) => p.exitCode === 0), JSON.stringify(healthFile('execcheck').log));
  await nisoOk(['deactivate', 'execcheck']);
});

test('--wait on an app that dies at start fails fast with the reason and its last output', async () => {
  for (const pkg of [PKG, PLAIN]) {
    const t0 = performance.now();
    const r = await niso(['activate', pkg, '--name', `dies-${pkg}`, '--network', 'none', '--wait', '--no-gate', '--', 'die.js']);
    const ms = performance.now() - t0;
    figures[`diesFailMs_${pkg}`] = ms.toFixed(0);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /NISO3304/);
    // The restart policy's verdict, as on the embedded backend: the default on-failure restarts it.
    assert.match(r.stderr, new RegExp(`dies-${pkg} did not come up: it exited with code 4; its last output`));
    assert.match(r.stderr, /its last output:\ndie\.js: cannot read \/state\/config\.json/);
    // Fast: at the app's exit, which the message above names. Waiting out the check's verdict would say "did not
    // become healthy within" instead. No time bound: a loaded machine stretched this to 28 s once, the app's own
    // start and restarts included.
    await nisoOk(['deactivate', `dies-${pkg}`]);
  }
  // Without a health check, --wait asks the app to keep running for a second.
  const s = JSON.parse(await nisoOk(['activate', PLAIN, '--name', 'plain', '--network', 'none', '--wait', '--json'])) as Status;
  assert.equal(s.state, 'active');
  assert.equal(s.health, null);
  assert.ok(s.uptimeMs !== null && s.uptimeMs >= 1000, `uptime ${s.uptimeMs}`);
  assert.equal((await m!.systemctl('cat', 'niso-plain-health.timer')).code, 1, 'no health units without a check');
  await nisoOk(['deactivate', 'plain']);
});
