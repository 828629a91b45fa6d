// `niso __after-exit SERVICE`, run by an instance of niso-SERVICE-exit@.service each time the app's unit ends
// (OnFailure=/OnSuccess=, render/systemd-exit.ts) or its network unit fails: the end is read from systemd, recorded in state.json and judged by the embedded backend's
// own policy (model/policy.ts via recordEnd); a restart is a transient timer that starts the unit after the delay.
import { LIMIT_COUNTERS_FILE, netUnitName, retryTimerName, unitName } from '../../render/systemd-names.js';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { withLimitEvents, type ExitRecord, type ServiceDefinition, type ServiceState } from '../model/types.js';
import { parseFileDump, parseLimitEvents, type LimitEvents } from '../stats/parse.js';
import { signalName } from '../running.js';
import { recordEnd } from '../supervisor.js';
import { readDefinition, readState, withServiceLock, writeState } from '../store.js';
import { execStatusMeaning } from './debug.js';
import { filesDirOf, netUpError } from './net.js';
import { showSync, tool, unitFileEnabled, unixTimestamp } from './systemctl.js';

/** The unit's states while a run of it is under way. */
const LIVE_STATES = ['active', 'activating', 'reloading', 'deactivating'];

export const END_PROPERTIES = [
  'ActiveState', 'Result', 'ExecMainCode', 'ExecMainStatus', 'ExecMainStartTimestamp', 'ExecMainExitTimestamp',
  'ExecMainExitTimestampMonotonic', 'ActiveExitTimestampMonotonic',
] as const;

/**
 * How the unit's last run ended, from `systemctl show` (END_PROPERTIES); null while it is (again) starting or running
 * (its main process not ended), or when it never ran. A stop that someone asked for (deactivate, `systemctl stop`, a restart, the shutdown) leaves
 * the active state before the main process exits; an app that ends by itself exits first: that order, in systemd's
 * own monotonic timestamps, tells "stopped" from an exit. `definedAt`: when the service was defined (its createdAt); a
 * run that started before belongs to a service of the same name that was removed, whose unit systemd still remembers
 * (another unit's After= keeps it loaded), and is no end of this one.
 */
export function unitEnd(p: Record<string, string>, definedAt?: string): ExitRecord | null {
  const ended = unixTimestamp(p.ExecMainExitTimestamp);
  if (definedAt !== undefined && ended !== null && (unixTimestamp(p.ExecMainStartTimestamp) ?? ended).getTime() < Date.parse(definedAt)) return null;
  // While it deactivates after its main process ended (its ExecStopPost= keeps the limit counters), that run is over.
  const over = p.ActiveState === 'deactivating' && ended !== null && ended.getTime() >= (unixTimestamp(p.ExecMainStartTimestamp)?.getTime() ?? Infinity);
  if (LIVE_STATES.includes(p.ActiveState ?? '') && !over) return null;
  if (!ended) return null;
  const started = unixTimestamp(p.ExecMainStartTimestamp) ?? ended;
  const code = Number(p.ExecMainCode);
  const status = Number(p.ExecMainStatus);
  // CLD_EXITED = 1 carries the exit status; CLD_KILLED = 2 and CLD_DUMPED = 3 the signal number.
  const killed = code === 2 || code === 3;
  const exitCode = killed ? 128 + status : status;
  const requested = Number(p.ActiveExitTimestampMonotonic) > 0 && Number(p.ActiveExitTimestampMonotonic) < Number(p.ExecMainExitTimestampMonotonic);
  // systemd's own 2xx statuses: it could not set the sandbox up (no user, a mount that failed, ...).
  const refused = !killed && code === 1 ? execStatusMeaning(status) : null;
  // systemd says so where it can tell (cgroup v2); elsewhere the unit's counters do (stopCounters).
  const base = { at: ended.toISOString(), exitCode, signal: killed ? signalName(exitCode) : null, uptimeMs: Math.max(0, ended.getTime() - started.getTime()), ...(p.Result === 'oom-kill' ? { oom: true } : {}) };
  if (requested) return { ...base, reason: 'stopped', message: null };
  if (refused) return { ...base, exitCode: null, reason: 'start-failed', message: `systemd could not start it (status ${status}/${refused.name}): ${refused.meaning}` };
  return { ...base, reason: 'exited', message: null };
}

/**
 * Whether the service should run. `deactivate` leaves an `always` service's unit enabled (Docker's `always` comes
 * back at boot even after a stop by hand), so a run that systemd started after the deactivation, at a boot, is
 * wanted, as the embedded backend's `niso boot` makes it. `enabled`: whether the unit is (unitFileEnabled).
 */
export function desiredOf(def: ServiceDefinition, p: Record<string, string>, enabled: boolean): 'active' | 'inactive' {
  if (def.desired === 'active') return 'active';
  const started = unixTimestamp(p.ExecMainStartTimestamp);
  return enabled && started !== null && started.getTime() > Date.parse(def.deactivatedAt ?? def.createdAt) ? 'active' : 'inactive';
}

/** The transient timer that starts the unit after `delayMs` (an earlier one is replaced); systemd-run's complaint if it could not. */
export async function scheduleStart(service: string, delayMs: number): Promise<string | null> {
  const timer = retryTimerName(service);
  await tool('systemctl', ['stop', timer]);
  // A timer named after the service, with no command, starts that service; gone once elapsed.
  const r = await tool('systemd-run', [`--unit=${timer.replace(/\.timer$/, '')}`, `--on-active=${Math.max(1, Math.round(delayMs))}ms`,
    '--timer-property=AccuracySec=1ms', '--timer-property=RemainAfterElapse=no', '--description', `niso: restart ${service}`]);
  return r.code === 0 ? null : (r.stderr || r.stdout).trim() || `systemd-run exited with ${r.code}`;
}

/** Whether the restart timer waits (deactivate takes back the restart it had counted). */
export const restartPending = (service: string): boolean => showSync(retryTimerName(service), ['ActiveState']).ActiveState === 'active';

/**
 * The line the embedded supervisor logs for an end, here in the exit unit's journal. Stamped with the time of the
 * decision (`since`), which the restart delay counts from, not with the time of writing: scheduling the timer came
 * in between, and the line would make the delay look shorter than it was.
 */
export function endLine(service: string, exit: ExitRecord, state: ServiceState): string {
  return `${state.since} ${service}: ended (${exit.exitCode === null ? 'no exit code' : `exit code ${exit.exitCode}`}) → ${state.state}${state.nextRestartAt ? ` until ${state.nextRestartAt}` : ''}`;
}

export async function afterExit(root: string, service: string, log: (line: string) => void): Promise<void> {
  await withServiceLock(root, service, () => afterExitLocked(root, service, log));
}

/**
 * afterExit with the service's lock held. A definition rewritten while an end is unjudged calls it first
 * (backend/systemd.ts updateDefinition): the end is recorded as the run of the definition it ran with.
 */
export async function afterExitLocked(root: string, service: string, log: (line: string) => void): Promise<void> {
  const def = readDefinition(root, service);
  // Removed, or not a systemd service (any more): nothing to decide.
  if (!def || def.backend !== 'systemd') return;
  const p = showSync(unitName(service), END_PROPERTIES);
  const end = unitEnd(p, def.createdAt);
  const desired = desiredOf(def, p, unitFileEnabled(unitName(service)));
  // Its network unit failed (OnFailure= of niso-NAME-net.service): the app could not start, at boot or at a restart.
  const net = desired === 'active' && !LIVE_STATES.includes(p.ActiveState ?? '') ? netFailure(root, service) : null;
  const exit = net !== null && (end === null || Date.parse(net.at) > Date.parse(end.at)) ? net : end && withLimitEvents(end, stopCounters(root, service));
  // Started again meanwhile (niso restart, a health restart), or never ran.
  if (!exit) return;
  // OnFailure= and OnSuccess= run it once per end; a second run for the same end (by hand, or after the health
  // check stopped an unhealthy app and judged the end itself) changes nothing.
  if (readState(root, service).exits.some((e) => e.at === exit.at)) return;
  log(endLine(service, exit, await judgeEnd(root, service, { ...def, desired }, exit)));
  // Only now, with the end recorded: until then status reads the counters too, to show the verdict to come.
  rmSync(countersFile(root, service), { force: true });
}

const countersFile = (root: string, service: string) => join(filesDirOf(root, service), LIMIT_COUNTERS_FILE);

/**
 * What the run's cgroup counted against its limits, as the unit's ExecStopPost= kept it (render/systemd.ts) before
 * systemd removed the cgroup. The exit unit removes the file once it recorded the end, so that it never speaks for a
 * later run (a start also makes the files dir anew). null without one.
 */
export function stopCounters(root: string, service: string): LimitEvents | null {
  let text: string;
  try { text = readFileSync(countersFile(root, service), 'utf8'); } catch { return null; }
  const texts = parseFileDump(text);
  return Object.keys(texts).length > 0 ? parseLimitEvents(texts) : null;
}

/** The failed start of the service's network unit, with the reason __net-up left, or null if it is not failed. */
function netFailure(root: string, service: string): ExitRecord | null {
  const n = showSync(netUnitName(service), ['ActiveState', 'StateChangeTimestamp']);
  if (n.ActiveState !== 'failed') return null;
  const at = unixTimestamp(n.StateChangeTimestamp) ?? new Date();
  const why = netUpError(root, service)?.message ?? `its network unit ${netUnitName(service)} failed (journalctl -u ${netUnitName(service)})`;
  return { at: at.toISOString(), exitCode: null, signal: null, reason: 'start-failed', uptimeMs: 0, message: why };
}

/**
 * Records an end and carries out the policy's verdict: a restart is a transient timer (counted now), staying
 * down takes the private network down too (between restarts it stays, with its address and port maps). Lock held.
 */
export async function judgeEnd(root: string, service: string, def: ServiceDefinition, exit: ExitRecord): Promise<ServiceState> {
  const next = await recordEnd(root, service, { ...readState(root, service), pid: null }, exit, def);
  if (next.nextRestartAt === null) {
    // --no-block: __net-down must not wait for this process.
    await tool('systemctl', ['stop', '--no-block', netUnitName(service)]);
    return next;
  }
  const refused = await scheduleStart(service, Date.parse(next.nextRestartAt) - Date.now());
  // No timer, no restart: say so rather than wait for one that never comes.
  const after: ServiceState = refused === null
    ? { ...next, restarts: next.restarts + 1 }
    : { ...next, state: 'failed', nextRestartAt: null, message: `${next.message ?? 'it ended'}; its restart could not be scheduled: ${refused}` };
  await writeState(root, service, after);
  return after;
}
