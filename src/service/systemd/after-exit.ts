// `niso __after-exit SERVICE`, run by an instance of niso-SERVICE-exit@.service each time the app's unit ends
// (OnFailure=/OnSuccess=, render/systemd-exit.ts) or its network unit fails: the end is read from systemd, recorded in state.json and judged by the embedded backend's
// own policy (model/policy.ts via recordEnd); a restart is a transient timer that starts the unit after the delay.
import { netUnitName, retryTimerName, unitName } from '../../render/systemd-names.js';
import { rmSync } from 'node:fs';
import { withLimitEvents, type ExitRecord, type ServiceDefinition, type ServiceState } from '../model/types.js';
import { recordEnd } from '../record-end.js';
import { readDefinition, readState, withServiceLock, writeState } from '../store.js';
import { netUpError } from './net-error.js';
import { showSync, tool, unitFileEnabled, unixTimestamp } from './systemctl.js';
import { countersFile, desiredOf, END_PROPERTIES, LIVE_STATES, stopCounters, unitEnd } from './unit-end.js';

export { desiredOf, END_PROPERTIES, stopCounters, unitEnd };

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
