// Whether a service runs and how its last run ended, read from its cgroup and its files. Light on
// purpose: `niso status` and `niso list` load only this, not the machinery that starts services.
import { readFileSync } from 'node:fs';
import { cgroupPids, serviceCgroup, type Cgroup } from '../sandbox/cgroup.js';
import { SIGNAL_NUMBERS } from '../sandbox/signals.js';
import { parseStatusLine } from '../sandbox/bwrap-status.js';
import { rootId, servicePaths } from './store.js';

export function cgroupOf(root: string, name: string): Cgroup {
  return serviceCgroup(rootId(root), name);
}

/** The processes of the service (empty: it does not run). */
export function serviceProcesses(root: string, name: string): number[] {
  return cgroupPids(cgroupOf(root, name));
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

