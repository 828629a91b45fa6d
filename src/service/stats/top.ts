// The processes of a service for `niso top` (docker top): read from /proc for every process in
// the service's cgroup, with host pids, since those are what kill, strace and perf take.
import { readFileSync } from 'node:fs';
import type { Cgroup } from '../../sandbox/cgroup.js';
import { cgroupProcs } from './read.js';
import { commandLine, parsePasswd, parseProcStat, parseProcStatus, parseUptime } from './parse.js';

/** USER_HZ, the unit of times in /proc/PID/stat: 100 on every architecture Node runs on. */
const CLOCK_TICKS = 100;

export interface ProcessRow {
  /** The host's pid. */
  pid: number;
  ppid: number;
  /** Effective uid. */
  uid: number;
  /** The service's user name where the caller named the uid, else the host's name, else the uid. */
  user: string;
  /** CPU time over the process's lifetime, as ps's %CPU: 100 = one core all the time. */
  cpuPercent: number;
  rssBytes: number;
  threads: number;
  elapsedMs: number;
  /** The full command line, arguments joined by spaces; [name] when there is none (a zombie). */
  command: string;
}

export interface ProcessFacts {
  stat: string;
  status: string;
  cmdline: string;
}

/** One row from the texts of a process's /proc files; null when they are not a process's. Pure. */
export function processRow(f: ProcessFacts, uptimeSeconds: number, names: ReadonlyMap<number, string>): ProcessRow | null {
  const stat = parseProcStat(f.stat);
  const status = parseProcStatus(f.status);
  if (!stat || !status) return null;
  const elapsedSeconds = Math.max(0, uptimeSeconds - stat.startTicks / CLOCK_TICKS);
  const cpuSeconds = (stat.utimeTicks + stat.stimeTicks) / CLOCK_TICKS;
  const uid = status.uids[1];
  return {
    pid: stat.pid,
    ppid: stat.ppid,
    uid,
    user: names.get(uid) ?? String(uid),
    cpuPercent: elapsedSeconds > 0 ? Math.round((cpuSeconds / elapsedSeconds) * 1000) / 10 : 0,
    rssBytes: status.rssBytes,
    threads: status.threads,
    elapsedMs: Math.round(elapsedSeconds * 1000),
    command: commandLine(f.cmdline, stat.comm),
  };
}

export interface ListProcessesOptions {
  /** Names for uids, e.g. the service's uid → the service's name (service uids have no passwd entry). */
  userNames?: ReadonlyMap<number, string>;
}

/**
 * The processes in the cgroup, by pid. Processes that exit while being read are left out.
 * Throws NISO3303 when the cgroup does not exist (the service is not running).
 */
export function listProcesses(cg: Cgroup, opts: ListProcessesOptions = {}): ProcessRow[] {
  const pids = cgroupProcs(cg);
  let passwd = '';
  try { passwd = readFileSync('/etc/passwd', 'utf8'); } catch { /* numeric uids then */ }
  const names = new Map([...parsePasswd(passwd), ...(opts.userNames ?? [])]);
  const uptime = parseUptime(readFileSync('/proc/uptime', 'utf8'));
  const rows: ProcessRow[] = [];
  for (const pid of pids) {
    let facts: ProcessFacts;
    try {
      facts = {
        stat: readFileSync(`/proc/${pid}/stat`, 'utf8'),
        status: readFileSync(`/proc/${pid}/status`, 'utf8'),
        cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8'),
      };
    } catch { continue; }
    const row = processRow(facts, uptime, names);
    if (row) rows.push(row);
  }
  return rows;
}
