// Whether the process that owns a leftover (a work dir, a cgroup, a temporary package) still runs:
// leftovers of dead owners are swept, those of live ones never.
import { readFileSync } from 'node:fs';

/** EPERM means the process exists but belongs to someone else: alive. */
export function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The start time (clock ticks since boot, field 22) in the text of /proc/PID/stat; null for a zombie, which has exited. */
export function parseStartTime(stat: string): number | null {
  // The command name (field 2) may contain spaces and parentheses; fields after the last ')' are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // A zombie has exited; only its parent has not collected it yet.
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : null;
}

/** A process's start time in clock ticks since boot; null if it has exited. For callers that cannot wait (status). */
export function processStartTimeSync(pid: number): number | null {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return null; }
  return parseStartTime(text);
}

/** The parent of a process (field 4 of /proc/PID/stat); null if it has exited. */
export function parentPid(pid: number): number | null {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return null; }
  const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
}

/** Whether this is still the process that was recorded (a reused pid has another start time). */
export function sameProcess(p: { pid: number; startTime: number | null }): boolean {
  const start = processStartTimeSync(p.pid);
  return start !== null && (p.startTime === null || p.startTime === start);
}
