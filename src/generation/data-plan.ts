// Which volumes a switch must snapshot (and, with --with-data, restore), decided from its actions and what the host
// told about each service's grants: pure, so that the engine, `--dry-run` and the unit tests cannot disagree.
import type { ServiceAction } from './types.js';

/**
 * Whether an action stops or restarts what ran (or starts a changed definition on the data): a replacement, a stop,
 * and a start whose definition changed (a new version meets the old data). Not a removal: `remove` refuses a service
 * that runs, so it stops no writer, and `remove --volumes` deletes what the user asked to delete, with no copy kept
 * behind their back. Ports-only and update actions restart nothing; a keep touches nothing; an added service had no
 * data of the generation left behind.
 */
export function touchesData(a: ServiceAction): boolean {
  switch (a.kind) {
    case 'replace': case 'stop': return true;
    case 'start': return a.changed.some((c) => c !== 'active');
    default: return false;
  }
}

/** What the host knows of one service: the volumes it may write (read-write grants and its /state), whether it runs. */
export interface WriterFacts { writes: readonly string[]; running: boolean }

export interface DataVolume {
  volume: string;
  /** The switch's services that write it (stopped for the snapshot, if they run). */
  writers: string[];
  /** Writers that run and that the switch does not stop: a copy taken beside them would not be consistent. */
  others: string[];
}

export interface DataPlan {
  volumes: DataVolume[];
  /** The running services the data phase stops before it copies anything, by name. */
  stop: string[];
}

/**
 * The volumes of the services a switch touches (touchesData), each with its writers, and which of those run now.
 * `facts(service)` is null for a service the host does not have (nothing to snapshot); `runningWriters(volume)` names
 * every running holder that may write the volume (services and `niso run`s, as `service NAME` or `a run of ...`).
 */
export function dataPlan(
  actions: readonly ServiceAction[],
  facts: (service: string) => WriterFacts | null,
  runningWriters: (volume: string) => readonly string[],
): DataPlan {
  const byVolume = new Map<string, Set<string>>();
  const stop = new Set<string>();
  for (const a of actions) {
    if (!touchesData(a)) continue;
    const f = facts(a.service);
    if (!f || f.writes.length === 0) continue;
    if (f.running) stop.add(a.service);
    for (const v of f.writes) {
      const set = byVolume.get(v) ?? new Set<string>();
      set.add(a.service);
      byVolume.set(v, set);
    }
  }
  const volumes = [...byVolume.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([volume, writers]) => ({
    volume,
    writers: [...writers].sort(),
    others: runningWriters(volume).filter((w) => !(w.startsWith('service ') && writers.has(w.slice('service '.length)))),
  }));
  return { volumes, stop: [...stop].sort() };
}
