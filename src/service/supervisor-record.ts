// Where the running supervisor is recorded (run/supervisor.json: its pid and start time), whether it still runs and
// whether one is needed: what `niso status` asks before anything else, in a module of its own so that asking does not
// load the supervisor and the whole start path behind it (issue 17).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sameProcess } from '../host/liveness.js';
import { layout } from '../store/layout.js';
import { pendingStart } from './model/reconcile.js';
import type { ServiceDefinition, ServiceState } from './model/types.js';
import { serviceRunning } from './running.js';
import { listServiceNames, readDefinition, readState } from './store.js';

export interface SupervisorRecord { pid: number; startTime: number | null; startedAt: string }

export function supervisorFiles(root: string) {
  const run = layout(root).run;
  return { record: join(run, 'supervisor.json'), lock: join(run, 'supervisor.lock'), log: join(run, 'supervisor.log') };
}

export function readRecord(root: string): SupervisorRecord | null {
  try { return JSON.parse(readFileSync(supervisorFiles(root).record, 'utf8')) as SupervisorRecord; } catch { return null; }
}

/** The running supervisor's pid, or null (a pid reused by another process has another start time). */
export async function supervisorPid(root: string): Promise<number | null> {
  const r = readRecord(root);
  if (!r || !Number.isInteger(r.pid) || r.pid <= 0) return null;
  return sameProcess({ pid: r.pid, startTime: r.startTime ?? null }) ? r.pid : null;
}

/**
 * Whether anything needs a supervisor: a service that should run and did not give up, one waiting to restart, one
 * whose processes run (whatever its records say: its output is moved, a run nobody recorded is adopted), or a start
 * whose command was killed (it is taken back).
 */
export function needsSupervision(root: string): boolean {
  for (const name of listServiceNames(root)) {
    let def: ServiceDefinition | null;
    try { def = readDefinition(root, name); } catch { continue; }
    // systemd restarts and logs its own units: nothing for a supervisor to do.
    if (!def || def.backend === 'systemd') continue;
    if (serviceRunning(root, name)) return true;
    let state: ServiceState;
    try { state = readState(root, name); } catch { return true; }
    if (pendingStart(def, state) !== null) return true;
    if (def.desired === 'active' && state.state !== 'failed' && state.state !== 'inactive') return true;
  }
  return false;
}
