// The health state machine driven by real probes against a real app in a namespace of this test's own,
// the way the supervisor drives it (state persisted as JSON and read back before every probe): an app
// that starts late is "starting" and then healthy soon after it listens; one that stops turns unhealthy
// after `retries` failures; one that never starts turns unhealthy only after the start period.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { PlanHealth } from '../../src/plan/plan.js';
import { runProbe } from '../../src/service/health/probe.js';
import { initialHealth, parseHealthState, probeDelay, recordProbe, unhealthyAction, type HealthState, type HealthTransition, type ProbeResult } from '../../src/service/health/state.js';

const NS = `niso-ht-${randomBytes(4).toString('hex')}`;
const CLEAN_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
const APP = `require('node:http').createServer((q, r) => r.end('up')).listen(3000, '127.0.0.1', () => console.log('ready'));`;
const apps: ChildProcess[] = [];

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000, env: CLEAN_ENV });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout || r.error}`);
}
before(() => {
  sh('ip', ['netns', 'add', NS]);
  sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
});

after(async () => {
  for (const a of apps) if (a.exitCode === null && a.signalCode === null) { a.kill('SIGKILL'); await once(a, 'exit'); }
  spawnSync('ip', ['netns', 'delete', NS], { env: CLEAN_ENV });
});

/** Starts the app in the namespace; resolves once it listens, with the time it did. */
async function startApp(): Promise<{ proc: ChildProcess; listeningAt: number }> {
  const proc = spawn('nsenter', [`--net=/run/netns/${NS}`, '--', process.execPath, '-e', APP], { stdio: ['ignore', 'pipe', 'inherit'], env: CLEAN_ENV });
  apps.push(proc);
  proc.stdout!.setEncoding('utf8');
  const [line] = await once(proc.stdout!, 'data') as [string];
  assert.match(line, /ready/);
  return { proc, listeningAt: Date.now() };
}

interface Step { result: ProbeResult; state: HealthState; transition: HealthTransition }

/** The supervisor's loop, until `stop` says so or maxMs passed. */
async function drive(h: PlanHealth, startedAt: number, from: HealthState, stop: (s: Step) => boolean, maxMs: number): Promise<Step[]> {
  const steps: Step[] = [];
  let saved = JSON.stringify(from);
  const deadline = Date.now() + maxMs;
  for (;;) {
    const state = parseHealthState(JSON.parse(saved));
    assert.ok(state, 'the persisted state reads back');
    await new Promise((r) => setTimeout(r, probeDelay(state, Date.now())));
    const result = await runProbe(h.probe, { netns: `/run/netns/${NS}` }, h.timeoutMs);
    const r = recordProbe(state, result, h, startedAt, Date.now());
    saved = JSON.stringify(r.state);
    const step = { result, ...r };
    steps.push(step);
    if (stop(step)) return steps;
    assert.ok(Date.now() < deadline, `no end after ${maxMs} ms: ${steps.map((s) => `${s.state.status}/${s.result.output}`).join(', ')}`);
  }
}

const REFUSED = 'connection refused on 127.0.0.1:3000';

test('an app that starts late is starting, then healthy soon after it listens; when it stops it turns unhealthy after retries', async () => {
  const h: PlanHealth = { probe: { kind: 'http', url: 'http://127.0.0.1:3000/' }, intervalMs: 300, timeoutMs: 250, retries: 2, startPeriodMs: 5000, startIntervalMs: 400, onUnhealthy: 'restart' };
  const startedAt = Date.now();
  const late = new Promise<{ proc: ChildProcess; listeningAt: number }>((resolve, reject) => { setTimeout(() => startApp().then(resolve, reject), 700); });
  const rising = await drive(h, startedAt, initialHealth(startedAt, h), (s) => s.transition !== null, 4000);
  const app = await late;

  const last = rising.pop()!;
  assert.deepEqual([last.transition, last.state.status, last.result.output], ['healthy', 'healthy', 'HTTP 200 OK: up']);
  assert.ok(rising.length >= 3, `probed ${rising.length} times before the app listened`);
  for (const s of rising) assert.deepEqual([s.result.ok, s.result.output, s.state.status, s.state.failingStreak, s.transition], [false, REFUSED, 'starting', 0, null]);
  // Fast start: the first probe ~50 ms after start, and healthy well before one start_interval + the first gaps would give.
  assert.ok(Date.parse(rising[0]!.result.at) - startedAt < 200, `first probe ${Date.parse(rising[0]!.result.at) - startedAt} ms after start`);
  const seenAfter = Date.parse(last.result.at) - app.listeningAt;
  assert.ok(seenAfter < h.startIntervalMs + 150, `healthy ${seenAfter} ms after the app listened`);
  // After the first success, one interval between probes.
  assert.equal(last.state.nextProbeAt - last.state.lastProbeAt!, h.intervalMs);

  app.proc.kill('SIGKILL');
  await once(app.proc, 'exit');
  const stoppedAt = Date.now();
  const falling = await drive(h, startedAt, last.state, (s) => s.transition !== null, 3000);
  assert.deepEqual(falling.map((s) => [s.result.ok, s.result.output, s.state.status, s.state.failingStreak, s.transition]), [
    [false, REFUSED, 'healthy', 1, null],
    [false, REFUSED, 'unhealthy', 2, 'unhealthy'],
  ]);
  assert.equal(unhealthyAction(falling[1]!.transition, h), 'restart');
  const gap = Date.parse(falling[1]!.result.at) - Date.parse(falling[0]!.result.at);
  assert.ok(gap >= h.intervalMs && gap < h.intervalMs + 200, `${gap} ms between the failing probes`);
  assert.ok(Date.now() - stoppedAt < 2 * h.intervalMs + 2 * h.timeoutMs + 300);
  const log = falling[1]!.state.log;
  assert.deepEqual(log.slice(-3).map((e) => [e.ok, e.output]), [[true, 'HTTP 200 OK: up'], [false, REFUSED], [false, REFUSED]]);
});

test('an app that never listens stays starting through the start period, then turns unhealthy after retries', async () => {
  const h: PlanHealth = { probe: { kind: 'tcp', host: '127.0.0.1', port: 3000 }, intervalMs: 200, timeoutMs: 150, retries: 2, startPeriodMs: 600, startIntervalMs: 100, onUnhealthy: 'none' };
  const startedAt = Date.now();
  const steps = await drive(h, startedAt, initialHealth(startedAt, h), (s) => s.transition !== null, 4000);
  const last = steps.at(-1)!;
  assert.deepEqual([last.transition, last.state.status, last.state.failingStreak], ['unhealthy', 'unhealthy', 2]);
  assert.equal(unhealthyAction(last.transition, h), null, 'on_unhealthy = "none" only reports');
  for (const s of steps) {
    const inStart = Date.parse(s.result.at) - startedAt < h.startPeriodMs;
    assert.equal(s.result.output, REFUSED);
    if (inStart) assert.deepEqual([s.state.status, s.state.failingStreak], ['starting', 0], 'failures in the start period do not count');
  }
  const counted = steps.filter((s) => Date.parse(s.result.at) - startedAt >= h.startPeriodMs);
  assert.equal(counted.length, 2, 'exactly retries failures after the start period');
  assert.ok(steps.length >= 5, `${steps.length} probes`);
});
