// `niso __after-exit SERVICE`, run by niso-SERVICE-exit.service each time the app's unit ends (OnFailure=/OnSuccess=,
// render/systemd-exit.ts): the end is read from systemd, recorded in state.json and judged by the embedded backend's
// own policy (model/policy.ts via recordEnd); a restart is a transient timer that starts the unit after the delay.
import { netUnitName, retryTimerName, unitName } from '../../render/systemd-names.js';
import type { ExitRecord, ServiceState } from '../model/types.js';
import { signalName } from '../running.js';
import { recordEnd } from '../supervisor.js';
import { readDefinition, readState, withServiceLock, writeState } from '../store.js';
import { execStatusMeaning } from './debug.js';
import { showSync, tool, unixTimestamp } from './systemctl.js';

export const END_PROPERTIES = [
  'ActiveState', 'Result', 'ExecMainCode', 'ExecMainStatus', 'ExecMainStartTimestamp', 'ExecMainExitTimestamp',
  'ExecMainExitTimestampMonotonic', 'ActiveExitTimestampMonotonic',
] as const;

/**
 * How the unit's last run ended, from `systemctl show` (END_PROPERTIES); null while it is (again) starting or running,
 * or when it never ran. A stop that someone asked for (deactivate, `systemctl stop`, a restart, the shutdown) leaves
 * the active state before the main process exits; an app that ends by itself exits first: that order, in systemd's
 * own monotonic timestamps, tells "stopped" from an exit.
 */
export function unitEnd(p: Record<string, string>): ExitRecord | null {
  if (['active', 'activating', 'reloading', 'deactivating'].includes(p.ActiveState ?? '')) return null;
  const ended = unixTimestamp(p.ExecMainExitTimestamp);
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
  const base = { at: ended.toISOString(), exitCode, signal: killed ? signalName(exitCode) : null, uptimeMs: Math.max(0, ended.getTime() - started.getTime()) };
  if (requested) return { ...base, reason: 'stopped', message: null };
  if (refused) return { ...base, exitCode: null, reason: 'start-failed', message: `systemd could not start it (status ${status}/${refused.name}): ${refused.meaning}` };
  return { ...base, reason: 'exited', message: null };
}

/** The transient timer that starts the unit after `delayMs` (an earlier one is replaced). */
export async function scheduleStart(service: string, delayMs: number): Promise<void> {
  const timer = retryTimerName(service);
  await tool('systemctl', ['stop', timer]);
  // A timer named after the service, with no command, starts that service; gone once elapsed.
  const r = await tool('systemd-run', [`--unit=${timer.replace(/\.timer$/, '')}`, `--on-active=${Math.max(1, Math.round(delayMs))}ms`,
    '--timer-property=AccuracySec=1ms', '--timer-property=RemainAfterElapse=no', '--description', `niso: restart ${service}`]);
  if (r.code !== 0) throw new Error(`systemd-run could not set the restart timer: ${(r.stderr || r.stdout).trim()}`);
}

/** Whether the restart timer waits (deactivate takes back the restart it had counted). */
export const restartPending = (service: string): boolean => showSync(retryTimerName(service), ['ActiveState']).ActiveState === 'active';

/** The line the embedded supervisor logs for an end, here in the exit unit's journal. */
function endLine(service: string, exit: ExitRecord, state: ServiceState): string {
  return `${new Date().toISOString()} ${service}: ended (${exit.exitCode === null ? 'no exit code' : `exit code ${exit.exitCode}`}) → ${state.state}${state.nextRestartAt ? ` until ${state.nextRestartAt}` : ''}`;
}

export async function afterExit(root: string, service: string, log: (line: string) => void): Promise<void> {
  await withServiceLock(root, service, async () => {
    const def = readDefinition(root, service);
    // Removed, or not a systemd service (any more): nothing to decide.
    if (!def || def.backend !== 'systemd') return;
    const exit = unitEnd(showSync(unitName(service), END_PROPERTIES));
    // Started again meanwhile (niso restart, a health restart), or never ran.
    if (!exit) return;
    const state = readState(root, service);
    // OnFailure= and OnSuccess= run it once per end; a second run for the same end (by hand) changes nothing.
    if (state.exits.some((e) => e.at === exit.at)) return;
    const next = await recordEnd(root, service, { ...state, pid: null }, exit, def);
    if (next.nextRestartAt) {
      await scheduleStart(service, Date.parse(next.nextRestartAt) - Date.now());
      await writeState(root, service, { ...next, restarts: next.restarts + 1 });
    } else {
      // Down for good: its private network goes too (between restarts it stays, with its address and port maps).
      // --no-block: __net-down must not wait for this process.
      await tool('systemctl', ['stop', '--no-block', netUnitName(service)]);
    }
    log(endLine(service, exit, next));
  });
}
