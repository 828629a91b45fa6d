// Which run of a systemd service a health record belongs to. systemd restarts the app by itself, without niso, so
// health.json is about the current run only if its last probe came after that run started; `niso status` and the
// health check (health.ts) both read it through here.
import { readHealth } from '../health/file.js';
import { unitName } from '../../render/systemd-names.js';
import type { HealthState, HealthStatus } from '../health/state.js';
import { showSync, usTimestamp } from './systemctl.js';

/** One run of the unit's main process: what a probe result belongs to. */
export interface UnitRun { pid: number; startedAt: number }

const RUN_PROPERTIES = ['ActiveState', 'SubState', 'MainPID', 'ExecMainStartTimestamp'] as const;

/** The run in `systemctl show` properties (RUN_PROPERTIES among them), or null unless its main process runs. */
export function runOf(p: Record<string, string>): UnitRun | null {
  const pid = Number(p.MainPID);
  // To the microsecond: whole seconds are too coarse to tell a probe's run from the next one's.
  const started = usTimestamp(p.ExecMainStartTimestamp);
  if (p.ActiveState !== 'active' || p.SubState !== 'running' || !pid || started === null) return null;
  return { pid, startedAt: started };
}

/** The unit's current run, or null unless its main process runs (auto-restart, failed, stopping, inactive). */
export function unitRun(service: string): UnitRun | null {
  // systemd did not answer: nothing is known to run (a check then probes nothing, status shows no health).
  try { return runOf(showSync(unitName(service), RUN_PROPERTIES)); } catch { return null; }
}

export const sameRun = (a: UnitRun | null, b: UnitRun): boolean => a !== null && a.pid === b.pid && a.startedAt === b.startedAt;

/** health.json if it is about the run that started at startedAt (one never probed is as good as a new one: null). */
export function healthOfRun(h: HealthState | null, startedAt: number): HealthState | null {
  return h !== null && h.lastProbeAt !== null && h.lastProbeAt >= startedAt ? h : null;
}

/**
 * The health `niso status` shows for the unit's run (runOf of the properties status read already): null without a
 * check that runs on systemd (no health.json) or without a run.
 */
export function unitHealth(root: string, service: string, run: UnitRun | null): HealthStatus | null {
  const h = readHealth(root, service);
  if (h === null || run === null) return null;
  return healthOfRun(h, run.startedAt)?.status ?? 'starting';
}
