// From two samples to what `niso stats` shows: CPU % over the interval as docker computes it,
// memory against the limit or the host. Pure: the samples and host totals are parameters.

export interface CgroupSample {
  /** Monotonic time of the sample (performance.now()), in milliseconds. */
  atMs: number;
  cpuUsageNs: number;
  /** Usage minus inactive file cache, like docker stats. */
  memoryBytes: number;
  /** null: the cgroup has no memory limit. */
  memoryLimitBytes: number | null;
  /** Tasks, threads included (the pids controller counts tasks, and so does docker's PIDS). */
  pids: number;
  /** null: no limit (max). */
  pidsLimit: number | null;
  /** Sums of /proc/PID/io over the processes in the cgroup now (see readCgroupSample). */
  blockReadBytes: number;
  blockWriteBytes: number;
  /** The processes (thread-group ids) in the cgroup when it was read, ascending. */
  procs: number[];
}

export interface NetSample {
  rxBytes: number;
  txBytes: number;
}

/** The service's bounded /state (host/bounded-dir.ts): used as statfs counts it, and the bound. */
export interface StateSample {
  usedBytes: number | null;
  /** What the file system can hold: its bound less what ext4 keeps for itself (journal, inode tables). */
  sizeBytes: number | null;
  limitBytes: number;
}

export interface HostTotals {
  hostCpus: number;
  hostMemoryBytes: number;
}

export interface Stats {
  /** 100 = one core busy; up to 100 × cores. null: no earlier sample to compare with yet. */
  cpuPercent: number | null;
  memoryBytes: number;
  /** The cgroup's limit, or the host's memory when there is none or it is larger. */
  memoryLimitBytes: number;
  memoryPercent: number;
  /** null: the service uses the host's network, whose traffic is not its own. */
  netRxBytes: number | null;
  netTxBytes: number | null;
  blockReadBytes: number;
  blockWriteBytes: number;
  pids: number;
  pidsLimit: number | null;
  /** What /state holds and its bound; null when it has no bound (or, for used, is not mounted). */
  stateUsedBytes: number | null;
  stateSizeBytes: number | null;
  stateLimitBytes: number | null;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export function computeStats(prev: CgroupSample | null, cur: CgroupSample & { net?: NetSample | null; state?: StateSample | null }, host: HostTotals): Stats {
  let cpuPercent: number | null = null;
  if (prev !== null) {
    const dtNs = (cur.atMs - prev.atMs) * 1e6;
    const dCpu = cur.cpuUsageNs - prev.cpuUsageNs;
    // A counter that went back (a recreated cgroup under the same name) gives 0, not a negative.
    cpuPercent = dtNs > 0 ? round2(Math.min(Math.max(dCpu, 0) / dtNs, host.hostCpus) * 100) : 0;
  }
  const memoryLimitBytes = cur.memoryLimitBytes === null ? host.hostMemoryBytes : Math.min(cur.memoryLimitBytes, host.hostMemoryBytes);
  return {
    cpuPercent,
    memoryBytes: cur.memoryBytes,
    memoryLimitBytes,
    memoryPercent: memoryLimitBytes > 0 ? round2((cur.memoryBytes / memoryLimitBytes) * 100) : 0,
    netRxBytes: cur.net?.rxBytes ?? null,
    netTxBytes: cur.net?.txBytes ?? null,
    blockReadBytes: cur.blockReadBytes,
    blockWriteBytes: cur.blockWriteBytes,
    pids: cur.pids,
    pidsLimit: cur.pidsLimit,
    stateUsedBytes: cur.state?.usedBytes ?? null,
    stateSizeBytes: cur.state?.sizeBytes ?? null,
    stateLimitBytes: cur.state?.limitBytes ?? null,
  };
}

/** One line of `niso stats`: stats is null when the service has no running processes. */
export interface StatsRow {
  name: string;
  stats: Stats | null;
}

/** The `--json` shape: flat, numbers in bytes and percent; null where a value does not apply. */
export interface StatsJson {
  name: string;
  running: boolean;
  cpuPercent: number | null;
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
  memoryPercent: number | null;
  netRxBytes: number | null;
  netTxBytes: number | null;
  blockReadBytes: number | null;
  blockWriteBytes: number | null;
  pids: number | null;
  pidsLimit: number | null;
  stateUsedBytes: number | null;
  stateSizeBytes: number | null;
  stateLimitBytes: number | null;
}

export function statsJson(rows: StatsRow[]): StatsJson[] {
  return rows.map(({ name, stats: s }) => ({
    name,
    running: s !== null,
    cpuPercent: s?.cpuPercent ?? null,
    memoryBytes: s?.memoryBytes ?? null,
    memoryLimitBytes: s?.memoryLimitBytes ?? null,
    memoryPercent: s?.memoryPercent ?? null,
    netRxBytes: s?.netRxBytes ?? null,
    netTxBytes: s?.netTxBytes ?? null,
    blockReadBytes: s?.blockReadBytes ?? null,
    blockWriteBytes: s?.blockWriteBytes ?? null,
    pids: s?.pids ?? null,
    pidsLimit: s?.pidsLimit ?? null,
    stateUsedBytes: s?.stateUsedBytes ?? null,
    stateSizeBytes: s?.stateSizeBytes ?? null,
    stateLimitBytes: s?.stateLimitBytes ?? null,
  }));
}
