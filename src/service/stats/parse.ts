// The texts of cgroup (v1 and v2) and /proc files turned into numbers. Pure, so that both cgroup
// versions are tested from fixtures: this project's machines have no v2 controllers.

/** Which cgroup files a sample needs, by version. The reader reads those that exist. */
export const CGROUP_FILES = {
  1: ['memory.usage_in_bytes', 'memory.limit_in_bytes', 'memory.stat', 'cpuacct.usage', 'pids.current', 'pids.max'],
  2: ['memory.current', 'memory.max', 'memory.stat', 'cpu.stat', 'pids.current', 'pids.max'],
} as const;

export type CgroupTexts = Partial<Record<string, string>>;

export interface CgroupCounters {
  cpuUsageNs: number;
  /** Usage minus inactive file cache, as docker shows it: cache the kernel can drop is not "use". */
  memoryBytes: number;
  /** null: no limit (the effective limit, including those of parent cgroups where the file tells). */
  memoryLimitBytes: number | null;
  /** Tasks (threads included), as the pids controller counts them; null when not readable. */
  pids: number | null;
  pidsLimit: number | null;
}

/** v1 writes "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 with 4 KiB pages). */
const UNLIMITED_FROM = 2 ** 62;

function num(text: string | undefined): number | null {
  if (text === undefined) return null;
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  return Number(t);
}

/** "max" or a number; anything at or above the v1 sentinel is no limit either. */
function limit(text: string | undefined): number | null {
  const n = num(text);
  return n === null || n >= UNLIMITED_FROM ? null : n;
}

/** `key value` lines (memory.stat, cpu.stat) as a map. */
export function parseKeyValues(text: string | undefined): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const v = Number(line.slice(sp + 1).trim());
    if (Number.isFinite(v)) m.set(line.slice(0, sp), v);
  }
  return m;
}

function withoutInactiveFile(usage: number | null, inactiveFile: number | undefined): number {
  if (usage === null) return 0;
  // As docker: subtract only when it makes sense (the two files are not read atomically).
  return inactiveFile !== undefined && inactiveFile < usage ? usage - inactiveFile : usage;
}

function minLimit(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/** Counters from the v1 files (memory, cpuacct and pids live in different hierarchies). */
export function parseCgroupV1(t: CgroupTexts): CgroupCounters {
  const stat = parseKeyValues(t['memory.stat']);
  const hier = stat.get('hierarchical_memory_limit');
  return {
    cpuUsageNs: num(t['cpuacct.usage']) ?? 0,
    // total_* are hierarchical (children included); v1 memory.usage_in_bytes is too.
    memoryBytes: withoutInactiveFile(num(t['memory.usage_in_bytes']), stat.get('total_inactive_file')),
    memoryLimitBytes: minLimit(limit(t['memory.limit_in_bytes']), hier === undefined || hier >= UNLIMITED_FROM ? null : hier),
    pids: num(t['pids.current']),
    pidsLimit: limit(t['pids.max']),
  };
}

/** Counters from the v2 files of one cgroup directory. */
export function parseCgroupV2(t: CgroupTexts): CgroupCounters {
  const stat = parseKeyValues(t['memory.stat']);
  const usec = parseKeyValues(t['cpu.stat']).get('usage_usec');
  return {
    cpuUsageNs: usec === undefined ? 0 : usec * 1000,
    memoryBytes: withoutInactiveFile(num(t['memory.current']), stat.get('inactive_file')),
    memoryLimitBytes: limit(t['memory.max']),
    pids: num(t['pids.current']),
    pidsLimit: limit(t['pids.max']),
  };
}

/** The cgroup files that tell whether a run hit its limits, by version: read at its end, and by `niso debug`. */
export const LIMIT_FILES = {
  1: ['memory.oom_control', 'memory.failcnt', 'memory.max_usage_in_bytes', 'memory.limit_in_bytes', 'pids.events', 'pids.max'],
  2: ['memory.events', 'memory.peak', 'memory.max', 'pids.events', 'pids.max'],
} as const;

export interface LimitEvents {
  /** Processes the kernel's OOM killer ended in the cgroup. */
  oomKills: number;
  /** How often usage reached the memory limit (v1 memory.failcnt, v2 the "max" of memory.events). */
  memoryLimitHits: number;
  memoryPeakBytes: number | null;
  memoryLimitBytes: number | null;
  /** Forks and new threads refused at the pids limit (the "max" of pids.events). */
  pidsLimitHits: number;
  pidsLimit: number | null;
}

/** The limit counters from the files of LIMIT_FILES that exist (v2 when memory.events is among them). */
export function parseLimitEvents(t: CgroupTexts): LimitEvents {
  const v2 = t['memory.events'] !== undefined;
  const mem = parseKeyValues(v2 ? t['memory.events'] : t['memory.oom_control']);
  return {
    oomKills: mem.get('oom_kill') ?? 0,
    memoryLimitHits: (v2 ? mem.get('max') : num(t['memory.failcnt'])) ?? 0,
    memoryPeakBytes: num(v2 ? t['memory.peak'] : t['memory.max_usage_in_bytes']),
    memoryLimitBytes: limit(v2 ? t['memory.max'] : t['memory.limit_in_bytes']),
    pidsLimitHits: parseKeyValues(t['pids.events']).get('max') ?? 0,
    pidsLimit: limit(t['pids.max']),
  };
}

/** `== NAME` headers, each followed by the file's text: how a unit's ExecStopPost= keeps its cgroup's counters. */
export function parseFileDump(text: string): CgroupTexts {
  const out: CgroupTexts = {};
  let name: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^== (\S+)$/.exec(line);
    if (m) { name = m[1]!; out[name] = ''; continue; }
    if (name !== null) out[name] += `${line}\n`;
  }
  return out;
}

/**
 * read_bytes and write_bytes of /proc/PID/io: bytes the process made the block layer read, and
 * bytes it dirtied for writing (counted when dirtied, so before the flush; cancelled_write_bytes,
 * dirty pages truncated before they were written, are left in, as pidstat shows them).
 */
export function parseProcIo(text: string): { readBytes: number; writeBytes: number } {
  const kv = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s*(\d+)/.exec(line);
    if (m) kv.set(m[1]!, Number(m[2]));
  }
  return { readBytes: kv.get('read_bytes') ?? 0, writeBytes: kv.get('write_bytes') ?? 0 };
}

/** Bytes received and sent over every interface of /proc/PID/net/dev except loopback. */
export function parseNetDev(text: string): { rxBytes: number; txBytes: number } {
  let rxBytes = 0;
  let txBytes = 0;
  for (const line of text.split('\n')) {
    // Interface names cannot contain ':' and long ones touch it ("vethabcdef12:1234 ...").
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const iface = line.slice(0, colon).trim();
    if (iface === 'lo' || iface === '' || iface.includes('|')) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/);
    if (f.length < 16) continue;
    rxBytes += Number(f[0]);
    txBytes += Number(f[8]);
  }
  return { rxBytes, txBytes };
}

export interface ProcStat {
  pid: number;
  /** The kernel's short name (15 bytes), as it appears between the parentheses. */
  comm: string;
  state: string;
  ppid: number;
  /** User and system time in clock ticks. */
  utimeTicks: number;
  stimeTicks: number;
  /** Start time in clock ticks after boot. */
  startTicks: number;
}

/**
 * /proc/PID/stat. The name may hold spaces and parentheses ("(sd-pam)", "a) b (c"), and only
 * the last ')' ends it: the kernel writes the name unescaped.
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).trim().split(' ');
  // Fields 3.. of proc(5) start at rest[0]: state(3) ppid(4) ... utime(14) stime(15) ... starttime(22).
  if (rest.length < 20) return null;
  const n = (i: number) => Number(rest[i]);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0]!,
    ppid: n(1),
    utimeTicks: n(11),
    stimeTicks: n(12),
    startTicks: n(19),
  };
}

export interface ProcStatus {
  /** Real, effective, saved and filesystem uid. */
  uids: [number, number, number, number];
  /** Resident memory in bytes; 0 for kernel threads and zombies (no VmRSS line). */
  rssBytes: number;
  threads: number;
}

export function parseProcStatus(text: string): ProcStatus | null {
  let uids: number[] | null = null;
  let rssBytes = 0;
  let threads = 1;
  for (const line of text.split('\n')) {
    const tab = line.indexOf(':');
    if (tab < 0) continue;
    const key = line.slice(0, tab);
    const value = line.slice(tab + 1).trim();
    if (key === 'Uid') uids = value.split(/\s+/).map(Number);
    else if (key === 'VmRSS') { const m = /^(\d+)\s*kB$/.exec(value); if (m) rssBytes = Number(m[1]) * 1024; }
    else if (key === 'Threads') threads = Number(value);
  }
  if (!uids || uids.length < 4 || uids.some((u) => !Number.isInteger(u))) return null;
  return { uids: uids.slice(0, 4) as ProcStatus['uids'], rssBytes, threads };
}

/** /proc/PID/cmdline: arguments separated (and usually ended) by NUL; empty for zombies and kernel threads. */
export function parseCmdline(text: string): string[] {
  const parts = text.split('\0');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

/** The command as ps shows it: the arguments joined by spaces, or [comm] when there are none. */
export function commandLine(cmdline: string, comm: string): string {
  const args = parseCmdline(cmdline);
  return args.length === 0 ? `[${comm}]` : args.join(' ');
}

/** Seconds since boot, the first number of /proc/uptime. */
export function parseUptime(text: string): number {
  return Number(text.trim().split(/\s+/)[0]);
}

/** uid → name from an /etc/passwd text. */
export function parsePasswd(text: string): Map<number, string> {
  const m = new Map<number, string>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || !f[0] || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    if (Number.isInteger(uid) && !m.has(uid)) m.set(uid, f[0]);
  }
  return m;
}
