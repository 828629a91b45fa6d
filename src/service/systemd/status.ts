// `niso status` of a systemd service: systemd's view of the unit (`systemctl show`) in the shape the embedded
// backend reports (view.ts ServiceStatus). Synchronous, like the embedded reader.
import { execFileSync } from 'node:child_process';
import { unitName } from '../../render/systemd-names.js';
import { SIGNAL_NUMBERS } from '../../sandbox/signals.js';
import { withLimitEvents, type ExitRecord, type ServiceDefinition, type ServiceState, type ServiceStateName } from '../model/types.js';
import { readState } from '../store.js';
import type { ServiceStatus } from '../view.js';
import { showManySync, showSync, unitFileEnabled, unixTimestamp } from './systemctl.js';
import { signalName } from '../running.js';
import { runOf, unitHealth } from './health-run.js';
import { END_PROPERTIES, desiredOf, stopCounters, unitEnd } from './unit-end.js';
import { sameProcess } from '../../host/liveness.js';
import { afterInterrupted, pendingStart, startOutcome, type StartFacts } from '../model/reconcile.js';
import { judgeEnd } from '../running.js';

export const STATUS_PROPERTIES = ['LoadState', 'SubState', 'MainPID', ...END_PROPERTIES] as const;

/** ActiveState as niso's state names (before niso's exit unit judged an end: restarting, crash-loop). */
function mapState(p: Record<string, string>): ServiceStateName {
  const active = p.ActiveState ?? 'inactive';
  if (active === 'active' || active === 'reloading' || active === 'deactivating') return 'active';
  if (active === 'activating') return 'activating';
  return active === 'failed' ? 'failed' : 'inactive';
}

/** systemd's "Main process exited" message (SD_MESSAGE_UNIT_PROCESS_EXIT). */
const PROCESS_EXIT_ID = '98e322203f7a4ed290d09fe03c09fe15';

/**
 * The unit's last exits from the journal, oldest first: after an automatic restart, systemd 252 resets
 * ExecMainCode= and ExecMainStatus= to the new run, but its own log of each exit keeps EXIT_CODE= and EXIT_STATUS=.
 */
export function journalExits(name: string, count: number): ExitRecord[] {
  let out: string;
  try {
    out = execFileSync('journalctl', ['--no-pager', '-o', 'json', '-n', String(count), `MESSAGE_ID=${PROCESS_EXIT_ID}`, `UNIT=${unitName(name)}`, '_PID=1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', SYSTEMD_PAGER: '' } });
  } catch { return []; }
  const exits: ExitRecord[] = [];
  for (const line of out.split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as { EXIT_CODE?: string; EXIT_STATUS?: string; __REALTIME_TIMESTAMP?: string; MESSAGE?: string };
    if (!e.EXIT_CODE || e.EXIT_STATUS === undefined || !e.__REALTIME_TIMESTAMP) continue;
    // code=exited carries the exit status; code=killed or dumped the signal's name without "SIG" (or its number).
    let exitCode: number | null = Number(e.EXIT_STATUS);
    let signal: string | null = null;
    if (e.EXIT_CODE !== 'exited') {
      signal = /^\d+$/.test(e.EXIT_STATUS) ? signalName(128 + Number(e.EXIT_STATUS)) : `SIG${e.EXIT_STATUS}`;
      const n = signal ? SIGNAL_NUMBERS[signal] : undefined;
      exitCode = n === undefined ? null : 128 + n;
    }
    exits.push({ at: new Date(Math.floor(Number(e.__REALTIME_TIMESTAMP) / 1000)).toISOString(), exitCode, signal, reason: 'exited', uptimeMs: 0, message: e.MESSAGE ?? null });
  }
  return exits;
}

/** The facts model/reconcile.ts judges a systemd service by: the unit's state, and when its main process last started. */
export function unitStartFacts(def: ServiceDefinition, state: ServiceState, p: Record<string, string>): StartFacts {
  const pending = pendingStart(def, state);
  const started = unixTimestamp(p.ExecMainStartTimestamp);
  return {
    running: ['active', 'activating', 'reloading', 'deactivating'].includes(p.ActiveState ?? ''),
    ranSinceRequest: () => pending !== null && started !== null && started.getTime() >= Date.parse(pending.at),
    requesterAlive: () => pending !== null && sameProcess(pending.by),
  };
}

/** `shown`: the unit's STATUS_PROPERTIES when the caller read them already (a listing reads all units at once). */
export function systemdStatus(root: string, d: ServiceDefinition, now = Date.now(), shown?: Record<string, string>): ServiceStatus {
  const name = d.name;
  const p = shown ?? showSync(unitName(name), STATUS_PROPERTIES);
  const pid = Number(p.MainPID) || null;
  const running = pid !== null && (p.ActiveState === 'active' || p.ActiveState === 'deactivating' || p.ActiveState === 'reloading');
  // The health check's record (health.json, kept by niso-NAME-health.service): activating until a probe passes, as on
  // the embedded backend. Read before state.json, which the check writes first, so an unhealthy record has its message.
  const health = running ? unitHealth(root, name, runOf(p)) : null;
  let def = d;
  let s = readState(root, name);
  // A start whose command was killed (model/reconcile.ts): under way while that command lives; if it never started the
  // unit, what it falls back to. (A run it did not record is systemd's to tell: the unit's own state below.)
  const outcome = startOutcome(def, s, unitStartFacts(def, s, p));
  if (outcome === 'interrupted') ({ def, state: s } = afterInterrupted(def, s, new Date(now)));
  const startedAt = running ? unixTimestamp(p.ExecMainStartTimestamp) : null;
  // The last end as systemd saw it. niso's exit unit records each end with the policy's verdict (restarting,
  // crash-loop, failed, inactive) in state.json moments later; until it has, systemd's own state shows.
  const end = unitEnd(p, def.createdAt);
  const judged = end === null || s.exits.some((e) => e.at === end.at);
  const desired = desiredOf(def, p, unitFileEnabled(unitName(name)));
  let state = mapState(p);
  let message: string | null = null;
  let predictedRestart: string | null | undefined;
  if (outcome === 'starting' && !running) { state = 'activating'; message = `being started by niso (pid ${def.start!.by.pid})`; }
  // A start that was interrupted (before or after niso recorded that), or failed, before the unit ever ran: why.
  else if (outcome === 'interrupted' || (end === null && !running && s.message !== null && (s.state === 'inactive' || s.state === 'failed'))) ({ state, message } = s);
  // A verdict the exit unit recorded for an end systemd no longer shows: a start that failed before the app ran (its
  // network unit, at boot), or an end of a unit that systemd has since forgotten (an inactive unit that nothing
  // loaded wants is unloaded, and its ExecMain*= with it; niso enables without a reload, so multi-user.target does
  // not hold a new unit until the next one). It waits for the retry timer.
  else if (end === null && (state === 'inactive' || state === 'failed') && (s.state === 'restarting' || s.state === 'crash-loop')) ({ state, message } = s);
  else if (p.LoadState && p.LoadState !== 'loaded') message = `unit ${p.LoadState}`;
  else if (end !== null && judged) ({ state, message } = s);
  // An end the exit unit has not judged yet shows with the verdict the restart policy will give (as on the embedded
  // backend before the supervisor's).
  else if (end !== null && desired === 'active') {
    const verdict = judgeEnd(root, name, s, withLimitEvents(end, stopCounters(root, name)), 'active');
    ({ state, message } = verdict);
    predictedRestart = verdict.action === 'restart' ? new Date(Date.parse(end.at) + verdict.delayMs).toISOString() : null;
  }
  // Never ran since it was defined: what activate recorded (a start that failed says why).
  else if (s.state === 'failed' && (state === 'inactive' || state === 'failed')) ({ state, message } = s);
  if (state === 'active' && health === 'starting') state = 'activating';
  else if (state === 'active' && health === 'unhealthy') { state = 'unhealthy'; message = s.message; }
  const waiting = state === 'restarting' || state === 'crash-loop';
  return {
    name, package: def.package, state, health,
    pid: running ? pid : null,
    startedAt: startedAt ? startedAt.toISOString() : null,
    uptimeMs: startedAt ? Math.max(0, now - startedAt.getTime()) : null,
    // niso counts restarts itself: systemd restarts nothing on its own (Restart=no), the exit unit's timer does.
    restarts: s.restarts,
    ports: running ? s.ports : [], addresses: running ? s.addresses : [],
    backend: 'systemd', desired, message, nextRestartAt: waiting ? predictedRestart ?? s.nextRestartAt : null,
    lastExit: (judged ? s.exits.at(-1) : end) ?? null,
  };
}

/** The status of several systemd services, their units read in one `systemctl show`. */
export function systemdStatuses(root: string, defs: readonly ServiceDefinition[], now = Date.now()): ServiceStatus[] {
  const shown = showManySync(defs.map((d) => unitName(d.name)), STATUS_PROPERTIES);
  return defs.map((d, i) => systemdStatus(root, d, now, shown?.[i]));
}
