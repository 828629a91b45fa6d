// Sampling services over time for `niso stats`: a CPU % needs two samples, so `--no-stream`
// waits one short interval, and the stream keeps the previous sample of every service.
import { setTimeout as sleep } from 'node:timers/promises';
import { isNisoError } from '../../errors/niso-error.js';
import type { Cgroup } from '../../sandbox/cgroup.js';
import { boundedUsage } from '../../host/bounded-dir.js';
import { computeStats, type CgroupSample, type HostTotals, type NetSample, type StateSample, type StatsRow } from './compute.js';
import { hostTotals, readServiceSample } from './read.js';

export interface StatsTarget {
  name: string;
  cgroup: Cgroup;
  /** Its state dir and the image that bounds it (none: no state column). */
  state?: { dir: string; image: string };
}

/** The services to sample: a list, or a function asked at every tick (services come and go). */
export type Targets = readonly StatsTarget[] | (() => readonly StatsTarget[] | Promise<readonly StatsTarget[]>);

export interface SampleOptions {
  /** Between the first two samples, so the first rows have a CPU %. Default 500 ms. */
  firstIntervalMs?: number;
  /** Between later samples. Default 1000 ms, as docker stats. */
  intervalMs?: number;
  /** Defaults to the host's cores and memory. */
  host?: HostTotals;
  signal?: AbortSignal;
}

type Sample = CgroupSample & { net: NetSample | null; state: StateSample | null };

/** A sample, or null when the service has no cgroup or no process in it. */
function sampleOf(t: StatsTarget): Sample | null {
  try {
    const s = readServiceSample(t.cgroup);
    if (s.procs.length === 0) return null;
    const u = t.state ? boundedUsage(t.state) : null;
    return { ...s, state: u === null ? null : { usedBytes: u.usedBytes, sizeBytes: u.sizeBytes, limitBytes: u.limitBytes } };
  } catch (e) {
    if (isNisoError(e) && e.code === 'NISO3303') return null;
    throw e;
  }
}

/**
 * Samples and remembers the previous sample per service name, so that a service keeps its
 * history while the target list changes, and a restarted one (new cgroup, counters from 0)
 * shows 0 % for one tick instead of a negative rate.
 */
export class StatsSampler {
  private prev = new Map<string, CgroupSample>();
  constructor(private readonly host: HostTotals = hostTotals()) {}

  /** Rows in the order of targets; cpuPercent is null for a service seen for the first time. */
  sample(targets: readonly StatsTarget[]): StatsRow[] {
    const next = new Map<string, CgroupSample>();
    const rows = targets.map((t) => {
      const s = sampleOf(t);
      if (s === null) return { name: t.name, stats: null };
      next.set(t.name, s);
      return { name: t.name, stats: computeStats(this.prev.get(t.name) ?? null, s, this.host) };
    });
    this.prev = next;
    return rows;
  }
}

async function resolveTargets(targets: Targets): Promise<readonly StatsTarget[]> {
  return typeof targets === 'function' ? await targets() : targets;
}

/** Resolves false when the signal ended the wait. */
async function wait(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return false;
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
    return true;
  } catch (e) {
    if ((e as Error).name === 'AbortError') return false;
    throw e;
  }
}

/** One table's worth (`niso stats --no-stream`): two samples firstIntervalMs apart. */
export async function sampleOnce(targets: Targets, opts: SampleOptions = {}): Promise<StatsRow[]> {
  const sampler = new StatsSampler(opts.host);
  sampler.sample(await resolveTargets(targets));
  await wait(opts.firstIntervalMs ?? 500, opts.signal);
  return sampler.sample(await resolveTargets(targets));
}

/**
 * Streaming `niso stats`: onRows after firstIntervalMs, then every intervalMs (on a fixed
 * rhythm, so a slow onRows does not stretch the period), until the signal aborts; then it
 * resolves. CPU % is over the time actually between two samples, whatever the timers did.
 */
export async function sampleLoop(targets: Targets, onRows: (rows: StatsRow[]) => void | Promise<void>, opts: SampleOptions = {}): Promise<void> {
  const sampler = new StatsSampler(opts.host);
  const intervalMs = opts.intervalMs ?? 1000;
  sampler.sample(await resolveTargets(targets));
  let due = performance.now() + (opts.firstIntervalMs ?? 500);
  for (;;) {
    if (!(await wait(Math.max(0, due - performance.now()), opts.signal))) return;
    const rows = sampler.sample(await resolveTargets(targets));
    if (opts.signal?.aborted) return;
    await onRows(rows);
    due += intervalMs;
    // Far behind (a stopped terminal, a slow onRows): start the rhythm again from now rather
    // than catch up with samples a few ms apart, whose CPU % would be noise.
    const now = performance.now();
    if (due < now + intervalMs / 2) due = now + intervalMs;
  }
}
