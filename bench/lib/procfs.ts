// Memory and CPU time of one process from /proc: resident (RSS), its proportional share (PSS:
// shared pages divided among the processes mapping them), private (USS), the peak RSS, and the
// CPU it and its waited-for children used; plus the processes of a cgroup and their parents.
import { readFileSync } from 'node:fs';
import { CLK_TCK } from './cpu.js';

export interface ProcMem {
  rssKb: number;
  /** null when smaps_rollup cannot be read (kernel < 4.14, or no permission). */
  pssKb: number | null;
  ussKb: number | null;
  hwmKb: number;
  /** RSS split: anonymous memory (heap, stacks) and file pages (mostly the node binary, shared with every node process). */
  anonKb: number;
  fileKb: number;
}

function kbField(text: string, name: string): number | null {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

export function procMem(pid: number): ProcMem {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  let pssKb: number | null = null;
  let ussKb: number | null = null;
  try {
    const roll = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    pssKb = kbField(roll, 'Pss');
    const pc = kbField(roll, 'Private_Clean');
    const pd = kbField(roll, 'Private_Dirty');
    ussKb = pc !== null && pd !== null ? pc + pd : null;
  } catch { /* not readable */ }
  return { rssKb: kbField(status, 'VmRSS') ?? 0, pssKb, ussKb, hwmKb: kbField(status, 'VmHWM') ?? 0, anonKb: kbField(status, 'RssAnon') ?? 0, fileKb: kbField(status, 'RssFile') ?? 0 };
}

/** The command name (comm) of a process, or '?' when it is gone. */
export function comm(pid: number): string {
  try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return '?'; }
}

export function fmtKb(kb: number | null): string {
  if (kb === null) return 'n/a';
  return kb >= 1024 ? `${(kb / 1024).toFixed(1)} MiB` : `${kb} KiB`;
}

/** utime + stime of the process (all threads) and cutime + cstime of the children it has reaped, in ms. */
export function procTimesMs(pid: number): { selfMs: number; childrenMs: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const tick = 1000 / CLK_TCK;
  return { selfMs: (Number(f[11]) + Number(f[12])) * tick, childrenMs: (Number(f[13]) + Number(f[14])) * tick };
}

/** The pids listed in a cgroup.procs file (empty when it is gone). */
export function cgroupProcs(file: string): number[] {
  try { return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number); } catch { return []; }
}

export function ppidOf(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  } catch { return null; }
}
