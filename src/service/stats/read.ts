// Reading a service's resource counters from its cgroup and /proc: the host side of `niso stats`.
// Synchronous reads: a sample is a few dozen small pseudo-files, and a thread-pool round trip per
// file would cost more than the reads (see CONTRIBUTING, synchronous filesystem calls).
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { NisoError } from '../../errors/niso-error.js';
import type { Cgroup } from '../../sandbox/cgroup.js';
import type { CgroupSample, HostTotals, NetSample } from './compute.js';
import { CGROUP_FILES, LIMIT_FILES, parseCgroupV1, parseCgroupV2, parseLimitEvents, parseNetDev, parseProcIo, type CgroupTexts, type LimitEvents } from './parse.js';

function readOrNull(path: string): string | null {
  try { return readFileSync(path, 'utf8'); } catch { return null; }
}

function notRunning(cg: Cgroup): NisoError {
  return new NisoError('NISO3303', `the cgroup ${cg.dirs[0] ?? '(none)'} does not exist: the service is not running`, { hint: '`niso status NAME` shows its state' });
}

/**
 * The processes (thread-group ids) in the cgroup, ascending. In v1 each hierarchy has its own
 * cgroup.procs; niso puts a service into all of them, and the union also covers a process that
 * was moved into only some. Throws NISO3303 when none of them exists any more.
 */
export function cgroupProcs(cg: Cgroup): number[] {
  const pids = new Set<number>();
  let found = false;
  for (const f of cg.procsFiles) {
    const text = readOrNull(f);
    if (text === null) continue;
    found = true;
    for (const l of text.split('\n')) if (l) pids.add(Number(l));
  }
  if (!found) throw notRunning(cg);
  return [...pids].sort((a, b) => a - b);
}

interface DirLayout { version: 1 | 2; files: readonly string[] }
const layouts = new Map<string, DirLayout>();

/**
 * Which of the files a sample needs the directory has (a directory with cgroup.controllers is
 * v2). Remembered per path, since a path's hierarchy never changes: listing a directory costs
 * more than reading the files (40 µs against 10-15 µs each here).
 */
function layoutOf(dir: string): DirLayout | null {
  const known = layouts.get(dir);
  if (known) return known;
  let names: Set<string>;
  try { names = new Set(readdirSync(dir)); } catch { return null; }
  const version = names.has('cgroup.controllers') ? 2 : 1;
  const l = { version, files: CGROUP_FILES[version].filter((f) => names.has(f)) } as const;
  layouts.set(dir, l);
  return l;
}

/**
 * The counters of one cgroup, v1 or v2 (a directory with cgroup.controllers is v2).
 *
 * Block I/O: niso does not put services into the v1 blkio hierarchy (and enables no io
 * controller in v2), so the bytes are the sum of /proc/PID/io (read_bytes, write_bytes) over
 * the processes in the cgroup now. The kernel adds a child's counters to its parent when the
 * parent reaps it, so work done by short-lived children stays counted as long as their parent
 * is in the cgroup; the counters of a process that exits while its parent is outside the
 * cgroup (the service's first process, after a restart) are lost, and the total can go down.
 */
export function readCgroupSample(cg: Cgroup): CgroupSample {
  const procs = cgroupProcs(cg);
  const texts: CgroupTexts = {};
  let version: 1 | 2 = 1;
  for (const dir of cg.dirs) {
    const l = layoutOf(dir);
    if (l === null) continue;
    if (l.version === 2) version = 2;
    for (const f of l.files) {
      if (texts[f] !== undefined) continue;
      const t = readOrNull(join(dir, f));
      if (t !== null) texts[f] = t;
    }
  }
  const atMs = performance.now();
  const c = version === 2 ? parseCgroupV2(texts) : parseCgroupV1(texts);
  let blockReadBytes = 0;
  let blockWriteBytes = 0;
  for (const pid of procs) {
    const io = readOrNull(`/proc/${pid}/io`);
    if (io === null) continue; // exited since cgroup.procs was read
    const b = parseProcIo(io);
    blockReadBytes += b.readBytes;
    blockWriteBytes += b.writeBytes;
  }
  return {
    atMs,
    cpuUsageNs: c.cpuUsageNs,
    memoryBytes: c.memoryBytes,
    memoryLimitBytes: c.memoryLimitBytes,
    // Without a pids controller, at least the processes (threads are not counted then).
    pids: c.pids ?? procs.length,
    pidsLimit: c.pidsLimit,
    blockReadBytes,
    blockWriteBytes,
    procs,
  };
}

/** The cgroup's limit counters (LIMIT_FILES: OOM kills, memory and pids limit hits), or null when none of it exists. */
export function readLimitEvents(cg: Cgroup): LimitEvents | null {
  const texts: CgroupTexts = {};
  let found = false;
  for (const dir of cg.dirs) {
    const version = readOrNull(join(dir, 'cgroup.controllers')) !== null ? 2 : 1;
    for (const f of LIMIT_FILES[version]) {
      if (texts[f] !== undefined) continue;
      const t = readOrNull(join(dir, f));
      if (t !== null) { texts[f] = t; found = true; }
    }
  }
  return found ? parseLimitEvents(texts) : null;
}

/** Bytes received and sent in the network namespace of pid, loopback excluded; null if pid is gone. */
export function readNetSample(pid: number): NetSample | null {
  const text = readOrNull(`/proc/${pid}/net/dev`);
  return text === null ? null : parseNetDev(text);
}

/** The network namespace of pid ("net:[4026531840]"), null if the process is gone. */
export function netnsOf(pid: number | 'self'): string | null {
  try { return readlinkSync(`/proc/${pid}/ns/net`); } catch { return null; }
}

let hostNetns: string | null | undefined;

/**
 * The traffic of the service whose processes are procs: that of the network namespace most of
 * them share, other than niso's own. Processes in niso's namespace are skipped, since there
 * the counters are the host's: bwrap's outer process stays there when the sandbox unshares
 * the network. null when every process uses the host's network (its traffic is not the
 * service's own; docker shows nothing for --network host either) or all are gone.
 */
export function readProcsNet(procs: number[]): NetSample | null {
  hostNetns ??= netnsOf('self');
  const byNs = new Map<string, number[]>();
  for (const pid of procs) {
    const ns = netnsOf(pid);
    if (ns === null || ns === hostNetns) continue;
    const list = byNs.get(ns);
    if (list) list.push(pid); else byNs.set(ns, [pid]);
  }
  const groups = [...byNs.values()].sort((a, b) => b.length - a.length);
  for (const g of groups) {
    for (const pid of g) {
      const s = readNetSample(pid);
      if (s !== null) return s;
    }
  }
  return null;
}

/** A cgroup sample with the traffic of the service's network namespace. */
export function readServiceSample(cg: Cgroup): CgroupSample & { net: NetSample | null } {
  const s = readCgroupSample(cg);
  return { ...s, net: readProcsNet(s.procs) };
}

/** What limits fall back to: every core and all of the host's memory. */
export function hostTotals(): HostTotals {
  return { hostCpus: availableParallelism(), hostMemoryBytes: totalmem() };
}
