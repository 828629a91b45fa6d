// The embedded backend's supervisor: one small process per NISO_ROOT, started on demand by the
// CLI while services are active and exiting when none is. It restarts services by their policy,
// runs their health checks and moves their output into the logs. It is not in the services'
// way: they run in their own sessions and write their output to files, so killing it (even with
// SIGKILL) leaves them running; the next niso command starts a new one, which picks up where the
// state on disk says (running services are found by their cgroups).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, constants as FS } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { writeFileAtomic } from '../host/fs-atomic.js';
import { withLock } from '../host/lock.js';
import { CRASH_ENV } from '../host/crash-point.js';
import { processStartTime } from '../net/host/state-files.js';
import { layout } from '../store/layout.js';
import { pendingStart, startOutcome } from './model/reconcile.js';
import { withLimitEvents, type ExitRecord, type ServiceDefinition, type ServiceState } from './model/types.js';
import type { HostEnv } from './launch.js';
import { cgroupOf, endedRun, serviceRunning, startFacts } from './running.js';
import { readLimitEvents } from './stats/read.js';
import { listServiceNames, readDefinition, readState, withServiceLock } from './store.js';
import { Wakeups } from './wakeups.js';
import { needsSupervision, readRecord, supervisorFiles, supervisorPid } from './supervisor-record.js';
import { recordEnd } from './record-end.js';

/**
 * The start path (plan, sandbox, network, seccomp: most of niso's code) is loaded when a service must be started,
 * stopped or adopted, not while the supervisor only watches: what a process loads stays in its heap (issue 17).
 */
const launch = () => import('./launch.js');

export const TICK_MS = 200;
export const SUPERVISOR_NODE_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size'];
const FAST_TICK_MS = 20;
/** The supervisor exits after this long with nothing to do. */
const IDLE_EXIT_MS = 2_000;

/**
 * Starts the supervisor unless one runs (cheap when one does: a file read and a /proc lookup).
 * `entry` is niso's own bin, run as `niso __supervise`.
 */
export async function ensureSupervisor(host: HostEnv, entry: string): Promise<number | null> {
  if (await supervisorPid(host.root) !== null) return supervisorPid(host.root);
  if (!needsSupervision(host.root)) return null;
  const files = supervisorFiles(host.root);
  mkdirSync(layout(host.root).run, { recursive: true });
  const log = openSync(files.log, FS.O_WRONLY | FS.O_APPEND | FS.O_CREAT, 0o600);
  try {
    // A small young generation: the supervisor allocates little per tick, and V8's default
    // (16 MiB semi-spaces) would otherwise hold tens of MiB of garbage between collections.
    // Without the test-only crash point (host/crash-point.ts): it is meant for the command that was given it.
    const env: NodeJS.ProcessEnv = { ...host.env, NISO_ROOT: host.root };
    delete env[CRASH_ENV];
    const child = spawn(process.execPath, [...SUPERVISOR_NODE_FLAGS, entry, '__supervise'], {
      detached: true, stdio: ['ignore', log, log], cwd: '/', env,
    });
    child.unref();
    // Wait until it registered (or lost the race to another one, which is as good).
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const pid = await supervisorPid(host.root);
      if (pid !== null) return pid;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const pid = await supervisorPid(host.root);
    if (pid !== null) return pid;
    throw new NisoError('NISO3307', `the supervisor did not start (see ${files.log})`, { hint: 'services keep running; run any niso command to try again' });
  } finally {
    closeSync(log);
  }
}

/** Hooks the supervisor calls each tick; logs and health checks plug in here. */
export interface SupervisorHooks {
  /** Moves the service's output into its logs; final: the service ended. */
  drainLogs?: (root: string, name: string, final: boolean, unwrittenUntil?: number) => Promise<void>;
  /** Runs the health check if one is due; returns 'unhealthy' when the service should be restarted for it. */
  checkHealth?: (root: string, name: string, state: ServiceState) => Promise<'unhealthy-restart' | null>;
  /** Called after the service (re)started, to reset its health. */
  onStarted?: (root: string, name: string, state: ServiceState) => Promise<void>;
  /** The service is gone (removed): drop what is kept for it. */
  forget?: (name: string) => void;
  /** How long the hooks can do without a look at a settled service (its next health probe); Infinity: no need. */
  quietFor?: (name: string, now: number) => number;
}

/** `at`: when what the line tells was decided (an end's line carries its decision's time, as the systemd backend's does). */
function log(msg: string, at: string = new Date().toISOString()): void {
  process.stdout.write(`${at} ${msg}\n`);
}

/**
 * An end nobody recorded yet, recorded now as a run of `def` (the definition it ran with), with what its cgroup
 * counted (an OOM kill, the pids limit) before the cgroup goes: until then status reads the same counters to show the
 * verdict to come. (What a crash in between leaves, the next start, deactivate or remove cleans up.) A definition
 * rewritten while a run's end is unrecorded records it first (backend/embedded.ts updateDefinition), so the end is
 * never told as a run of the new one. Lock held; null when it runs or its end is recorded.
 */
export async function recordUnrecordedEnd(root: string, name: string, def: ServiceDefinition, state: ServiceState): Promise<{ state: ServiceState; exit: ExitRecord } | null> {
  if (state.pid === null || serviceRunning(root, name)) return null;
  const exit = withLimitEvents(endedRun(root, name, state, 'exited', new Date()), readLimitEvents(cgroupOf(root, name)));
  const next = await recordEnd(root, name, state, exit, def);
  await (await launch()).cleanupRun(root, name);
  return { state: next, exit };
}

/**
 * One look at one service: notice an end, restart when due, check health. 'hurry': it waits for
 * its first passing health check, whose probes are due within tens of milliseconds.
 */
export async function superviseOne(host: HostEnv, name: string, hooks: SupervisorHooks, opts: { unwrittenUntil?: number } = {}): Promise<'busy' | 'idle' | 'hurry' | 'steady'> {
  const { root } = host;
  let def = readDefinition(root, name);
  if (!def) { hooks.forget?.(name); return 'idle'; }
  let state = readState(root, name);
  const facts = startFacts(root, def, state);
  const outcome = startOutcome(def, state, facts);
  // A command that starts it is at work: its result comes soon.
  if (outcome === 'starting') return 'hurry';
  // A command was killed in the middle of a start: a run nobody recorded is adopted, a start that never ran taken back.
  if (outcome !== 'settled') {
    const before = state;
    ({ def, state } = await withServiceLock(root, name, async () => (await launch()).reconcileLocked(root, name)));
    if (outcome === 'interrupted' && pendingStart(def, state) === null) log(`${name}: ${state.message}`);
    else if (state.pid !== null && state.pid !== before.pid) log(`${name}: adopted a run that was not recorded (pid ${state.pid})`);
  }
  const running = facts.running;
  if (running || state.pid !== null) await hooks.drainLogs?.(root, name, !running, opts.unwrittenUntil);
  if (def.desired !== 'active') return 'idle';

  if (state.pid !== null && !running) {
    await withServiceLock(root, name, async () => {
      const ended = await recordUnrecordedEnd(root, name, def!, readState(root, name));
      if (ended === null) return;
      state = ended.state;
      log(`${name}: ended (${ended.exit.exitCode === null ? 'no exit code' : `exit code ${ended.exit.exitCode}`}) → ${state.state}${state.nextRestartAt ? ` until ${state.nextRestartAt}` : ''}`, state.since);
    });
  }
  if ((state.state === 'restarting' || state.state === 'crash-loop') && state.nextRestartAt && Date.now() >= Date.parse(state.nextRestartAt)) {
    await withServiceLock(root, name, async () => {
      state = readState(root, name);
      const d = readDefinition(root, name);
      if (!d || d.desired !== 'active' || !(state.state === 'restarting' || state.state === 'crash-loop')) return;
      try {
        state = await (await launch()).startService(host, d, { ...state, restarts: state.restarts + 1 });
        log(`${name}: restarted (restart ${state.restarts}, ${state.restartsInARow} in a row)`);
        await hooks.onStarted?.(root, name, state);
      } catch (e) {
        const exit: ExitRecord = { at: new Date().toISOString(), exitCode: null, signal: null, reason: 'start-failed', uptimeMs: 0, message: (e as Error).message };
        state = await recordEnd(root, name, { ...state, restarts: state.restarts + 1 }, exit, d);
        log(`${name}: could not restart: ${(e as Error).message}`);
      }
    });
    return 'busy';
  }
  if (running && state.pid !== null && hooks.checkHealth) {
    const verdict = await hooks.checkHealth(root, name, state);
    if (verdict === 'unhealthy-restart') {
      await withServiceLock(root, name, async () => {
        state = readState(root, name);
        const exit = await (await launch()).stopService(root, name, state, 'unhealthy');
        if (exit) state = await recordEnd(root, name, state, { ...exit, message: state.message }, def);
        log(`${name}: unhealthy, stopped → ${state.state}`);
      });
    }
  }
  if (state.state === 'activating') return 'hurry';
  if (state.state === 'failed' || state.state === 'inactive') return 'idle';
  // Running and settled: what changes next is written to a file (an exit status, a command's state) or is the next probe.
  return running && state.pid !== null && (state.state === 'active' || state.state === 'unhealthy') && state.nextRestartAt === null ? 'steady' : 'busy';
}

/**
 * A settled service is looked at after at most this long when no file of it changed (what no file records: a sandbox
 * killed whole, bwrap included, so that it wrote no exit status).
 */
export const STEADY_MS = 2_000;
/** Settled services due this soon are looked at in the same pass: one wake-up for all of them, not one each. */
const STEADY_BATCH_MS = 500;
/** How much earlier than its callback ran a watched write may have happened (the loop was in a pass). */
const WAKE_SLACK_MS = 50;

/** The supervisor's main loop (`niso __supervise`). Returns when nothing is left to supervise. */
export async function supervise(host: HostEnv, hooks: SupervisorHooks): Promise<void> {
  const files = supervisorFiles(host.root);
  const claimed = await withLock(files.lock, 'the supervisor', async () => {
    if (await supervisorPid(host.root) !== null) return false;
    await writeFileAtomic(files.record, JSON.stringify({ pid: process.pid, startTime: await processStartTime(process.pid), startedAt: new Date().toISOString() }), 0o600);
    return true;
  });
  if (!claimed) return;
  log(`supervisor ${process.pid} started for ${host.root}`);
  let idleSince = Date.now();
  let known = new Set<string>();
  let stopping = false;
  const wakeups = new Wakeups(host.root, layout(host.root).services, { fast: FAST_TICK_MS, regular: TICK_MS });
  const watched = wakeups.start();
  /** When each settled service is looked at next unless a file of it changes first. */
  const nextLook = new Map<string, number>();
  /**
   * Settled services whose next look is only STEADY_MS's check for what no file records (no probe due before it): that
   * look needs only whether the cgroup still has processes, one small read, instead of the records, the logs and the
   * policy (~0.5 ms each, 20 services every 2 s: most of the supervisor's idle CPU, issue 17).
   */
  const onlyAlive = new Set<string>();
  const stop = () => { stopping = true; };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    while (!stopping) {
      const started = Date.now();
      let busy = false;
      let hurry = false;
      const marked = wakeups.take();
      const names = listServiceNames(host.root);
      for (const gone of [...known].filter((n) => !names.includes(n))) { hooks.forget?.(gone); wakeups.forget(gone); nextLook.delete(gone); onlyAlive.delete(gone); }
      known = new Set(names);
      for (const name of names) {
        const next = nextLook.get(name);
        const mark = marked.get(name);
        if (next !== undefined && next > started + STEADY_BATCH_MS && !mark) { busy = true; continue; }
        if (next !== undefined && !mark && onlyAlive.has(name) && serviceRunning(host.root, name)) {
          nextLook.set(name, Date.now() + STEADY_MS);
          busy = true;
          continue;
        }
        nextLook.delete(name);
        onlyAlive.delete(name);
        // Left alone while watched: until the first change it was told of (or until now), nothing was written.
        const unwrittenUntil = next === undefined ? undefined : mark ? mark.at - WAKE_SLACK_MS : started;
        try {
          const r = await superviseOne(host, name, hooks, { unwrittenUntil });
          if (r !== 'idle') busy = true;
          if (r === 'hurry') hurry = true;
          // Watched before it is left alone, so that no change between this look and the watch goes unseen.
          if (r === 'steady' && watched && wakeups.watching(name)) {
            const quiet = Math.min(STEADY_MS, hooks.quietFor?.(name, Date.now()) ?? 0);
            if (quiet > TICK_MS) nextLook.set(name, Date.now() + quiet);
            if (quiet >= STEADY_MS) onlyAlive.add(name);
          }
        } catch (e) {
          busy = true;
          log(`${name}: ${(e as Error).stack ?? String(e)}`);
        }
      }
      // Its root was deleted (a test's, or `rm -rf` of a NISO_ROOT): nothing to supervise, and a lock taken now would
      // make its directory again.
      if (!existsSync(dirname(files.lock))) break;
      if (busy || needsSupervision(host.root)) idleSince = Date.now();
      else if (Date.now() - idleSince > IDLE_EXIT_MS) {
        // Leave only if, under the lock, still nothing needs us: a command that activates a
        // service writes its definition before it looks for a supervisor, so either we see the
        // service here, or it sees that we are gone and starts a new supervisor.
        const leave = await withLock(files.lock, 'the supervisor', async () => {
          if (needsSupervision(host.root)) return false;
          if (readRecord(host.root)?.pid === process.pid) await rm(files.record, { force: true });
          return true;
        });
        if (leave) break;
        idleSince = Date.now();
      }
      // While a service waits for its first passing health check, look more often: its probes
      // are due within tens of milliseconds (and `niso activate --wait` waits for them).
      const tick = hurry ? FAST_TICK_MS : TICK_MS;
      // Only settled services left: sleep until the first of them is due (or a file of one changes).
      const allQuiet = names.length > 0 && names.every((n) => nextLook.has(n));
      const until = allQuiet ? Math.min(...names.map((n) => nextLook.get(n)!)) : started + tick;
      await wakeups.sleep(started, Math.max(started + tick, until));
    }
  } finally {
    wakeups.close();
    if (existsSync(dirname(files.lock))) {
      await withLock(files.lock, 'the supervisor', async () => {
        if (readRecord(host.root)?.pid === process.pid) await rm(files.record, { force: true });
      });
    }
    log(`supervisor ${process.pid} exits`);
  }
}
