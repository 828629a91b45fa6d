// How a systemd service's last run ended, read from `systemctl show` and the counters its unit's ExecStopPost= kept:
// what `niso status` needs of the exit unit's logic (after-exit.ts), in a module of its own so that reading a status
// loads neither the network code nor the supervisor.
import { LIMIT_COUNTERS_FILE } from '../../render/systemd-names.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExitRecord, ServiceDefinition } from '../model/types.js';
import { parseFileDump, parseLimitEvents, type LimitEvents } from '../stats/parse.js';
import { signalName } from '../running.js';
import { servicePaths } from '../store.js';
import { execStatusMeaning } from './debug.js';
import { unixTimestamp } from './systemctl.js';

/** Where a systemd service's unit keeps its files (hosts, the limit counters, why the network failed). */
export function filesDirOf(root: string, service: string): string {
  return join(servicePaths(root, service).dir, 'systemd');
}

/** The unit's states while a run of it is under way. */
export const LIVE_STATES = ['active', 'activating', 'reloading', 'deactivating'];

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

export const countersFile = (root: string, service: string) => join(filesDirOf(root, service), LIMIT_COUNTERS_FILE);

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
