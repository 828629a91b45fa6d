// Whether a service runs and how its last run ended, read from its cgroup and its files. Light on
// purpose: `niso status` and `niso list` load only this, not the machinery that starts services.
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { processStartTimeSync, sameProcess } from '../host/liveness.js';
import { cgroupHasProcesses, cgroupPids, serviceCgroup, type Cgroup } from '../sandbox/cgroup.js';
import { SIGNAL_NUMBERS } from '../sandbox/signals.js';
import { parseStatusLine } from '../sandbox/bwrap-status.js';
import type { PlanRestart } from '../plan/plan.js';
import { afterExit, type AfterExit } from './model/policy.js';
import { pendingStart, startRequest, type StartFacts } from './model/reconcile.js';
import type { ExitRecord, ServiceDefinition, ServiceState, StartRequest } from './model/types.js';
import { readPlan, rootId, servicePaths } from './store.js';

export function cgroupOf(root: string, name: string): Cgroup {
  return serviceCgroup(rootId(root), name);
}

/** The processes of the service (empty: it does not run). */
export function serviceProcesses(root: string, name: string): number[] {
  return cgroupPids(cgroupOf(root, name));
}

/** Whether the service has any process: what most callers want, at a fraction of the cost of listing them. */
export function serviceRunning(root: string, name: string): boolean {
  return cgroupHasProcesses(cgroupOf(root, name));
}

/** What bubblewrap wrote to its status file: the sandbox's init pid, and the exit code at the end. */
export function readSandboxStatus(file: string): { initPid: number | null; exitCode: number | null } {
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { /* not written yet */ }
  let initPid: number | null = null;
  let exitCode: number | null = null;
  for (const line of text.split('\n')) {
    const st = parseStatusLine(line);
    if (st.childPid !== undefined) initPid = st.childPid;
    if (st.exitCode !== undefined) exitCode = st.exitCode;
  }
  return { initPid, exitCode };
}

/**
 * The sandbox's start as its status file tells it: bubblewrap's init pid, and when the file was made (each start makes
 * a new one, just before the sandbox is spawned). null while no sandbox made since `since` (ISO time) has reported.
 */
export function sandboxStart(root: string, name: string, since?: string): { initPid: number; at: Date } | null {
  const file = servicePaths(root, name).status;
  const { initPid } = readSandboxStatus(file);
  const st = statSync(file, { throwIfNoEntry: false });
  if (initPid === null || st === undefined) return null;
  // Without birth times (some filesystems), the last write: the start's line, or the end's.
  const made = st.birthtimeMs > 0 ? st.birthtimeMs : st.mtimeMs;
  if (since !== undefined && made < Date.parse(since)) return null;
  return { initPid, at: new Date(made) };
}

/** The facts model/reconcile.ts judges a service by, on the embedded backend. */
export function startFacts(root: string, def: ServiceDefinition, state: ServiceState): StartFacts {
  const pending = pendingStart(def, state);
  return {
    running: serviceRunning(root, def.name),
    ranSinceRequest: () => pending !== null && sandboxStart(root, def.name, pending.at) !== null,
    requesterAlive: () => pending !== null && sameProcess(pending.by),
  };
}

/** A start request by this process (the intent, written into service.json before the start does anything). */
export function requestStart(desiredBefore: StartRequest['desiredBefore']): StartRequest {
  return startRequest(desiredBefore, { pid: process.pid, startTime: processStartTimeSync(process.pid) }, randomBytes(6).toString('hex'), new Date());
}

export function signalName(exitCode: number | null): string | null {
  if (exitCode === null || exitCode <= 128 || exitCode >= 160) return null;
  return Object.entries(SIGNAL_NUMBERS).find(([, n]) => n === exitCode - 128)?.[0] ?? `signal ${exitCode - 128}`;
}

/** The last lines the service wrote, both streams in time order (from its logs, pumped or not). */
export async function lastOutput(root: string, name: string, lines = 10): Promise<string> {
  const { readLogs } = await import('./logs/reader.js');
  const out: string[] = [];
  try {
    for await (const r of readLogs([{ service: name, logsDir: servicePaths(root, name).logs }], { tail: lines })) out.push(r.text);
  } catch { /* no logs yet */ }
  return out.join('\n');
}


/** Facts about a run that ended, from the sandbox's status file. */
export function endedRun(root: string, name: string, state: ServiceState, reason: ExitRecord['reason'], now: Date): ExitRecord {
  const { exitCode } = readSandboxStatus(servicePaths(root, name).status);
  return {
    at: now.toISOString(), exitCode, signal: signalName(exitCode), reason,
    uptimeMs: state.startedAt ? Math.max(0, now.getTime() - Date.parse(state.startedAt)) : 0, message: null,
  };
}

const DEFAULT_RESTART: PlanRestart = { policy: 'on-failure', maxRetries: null, delayMs: 1_000, maxDelayMs: 60_000 };

/** The restart policy of the service's current run (its plan includes the manifest's and the command line's). */
export function restartOf(root: string, name: string): PlanRestart {
  try { return readPlan(root, name)?.restart ?? DEFAULT_RESTART; } catch { return DEFAULT_RESTART; }
}

/** What the restart policy makes of an end: recordEnd writes it, and status shows it before anyone has. */
export function judgeEnd(root: string, name: string, state: ServiceState, exit: ExitRecord, desired: ServiceDefinition['desired']): AfterExit {
  return afterExit(restartOf(root, name), { exitCode: exit.exitCode, reason: exit.reason, uptimeMs: exit.uptimeMs, restartsInARow: state.restartsInARow, desired, oom: exit.oom });
}
