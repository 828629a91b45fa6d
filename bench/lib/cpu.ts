// CPU time from /proc, so a load bench can say where the CPU went (the server, the load client,
// anything else on the machine) and flag rounds that other work disturbed.
import { readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/** Clock ticks per second of /proc's times (USER_HZ; 100 on Linux). */
export const CLK_TCK = 100;
const tickMs = 1000 / CLK_TCK;

/** Busy (everything but idle and iowait) and total CPU time of the machine, in ms, all CPUs together. */
export function machineCpu(): { busyMs: number; totalMs: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq + steal;
  return { busyMs: busy * tickMs, totalMs: (busy + idle + iowait) * tickMs };
}

/** Fields of /proc/PID/stat after the command name (field 3 onwards, 0-based here from "state"). */
function statFields(pid: number | 'self'): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of a process (all its threads), in ms. With tick accounting this includes softirq work done in its context. */
export function processCpuMs(pid: number): number {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) * tickMs;
}

/** cutime + cstime of this process: the CPU of children it has waited for (spawnSync's), in ms. */
export function waitedChildrenCpuMs(): number {
  const f = statFields('self');
  return (Number(f[13]) + Number(f[14])) * tickMs;
}

export function parentOf(pid: number): number | null {
  try {
    return Number(statFields(pid)[1]);
  } catch {
    return null;
  }
}

/** Every live descendant of `pid` (children, grandchildren, ...). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = parentOf(Number(name));
    if (ppid !== null) children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    for (const c of children.get(todo.pop()!) ?? []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Pins every thread of a process to one CPU (`taskset -a -p -c`). */
export function pinProcess(pid: number, cpu: number): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset -a -p -c ${cpu} ${pid}: ${r.stderr || r.error}`);
}

/** CPU time (utime + stime, ms), command name and start time of every process now. */
export function allProcessCpu(): Map<number, { comm: string; ms: number; start: string }> {
  const out = new Map<number, { comm: string; ms: number; start: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      out.set(Number(name), { comm, ms: (Number(f[11]) + Number(f[12])) * tickMs, start: f[19]! });
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/**
 * Per process, the CPU used between two snapshots; a process that started in between (a new
 * start time under the pid) counts from zero. Matched by start time, not name: a kworker's name
 * changes with the work queue it serves. Kernel workers are named by kind (`kworker`).
 */
export function cpuDelta(before: Map<number, { comm: string; ms: number; start: string }>, after: Map<number, { comm: string; ms: number; start: string }>): { pid: number; comm: string; ms: number }[] {
  const out: { pid: number; comm: string; ms: number }[] = [];
  for (const [pid, a] of after) {
    const b = before.get(pid);
    const ms = a.ms - (b && b.start === a.start ? b.ms : 0);
    if (ms > 0) out.push({ pid, comm: a.comm.startsWith('kworker/') ? 'kworker' : a.comm, ms });
  }
  return out;
}
