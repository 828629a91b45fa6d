// Who may hold which volume, as data: the grants registry (grants.json), the exclusive rule, the owner an exclusive
// holder gets, and what `prune` takes. The host side (store.ts) reads the registry, asks what lives, and applies the
// answer under the volumes' lock; everything decided here is testable without a file or a process.
import { NisoError } from '../errors/niso-error.js';

/** What a service or run asks for: P's plan/grants.ts makes these from the manifest and -v/--mount. */
export interface GrantRequest { volume: string; readOnly: boolean; exclusive: boolean }

/** A recorded grant: who holds it as which uid (an exclusive holder owns the data dir), since when. */
export interface ServiceGrant extends GrantRequest { uid: number; since: string }

/**
 * A `niso run`'s grant counts while that very process lives (start time: a reused pid is another process). `oneOff`: a
 * one-off of an existing service (`niso run SERVICE -- CMD`), which has the service's uid and grants but is another
 * process beside it: an exclusive grant keeps the two apart (conflicts()).
 */
export interface RunGrant extends ServiceGrant { service: string; pid: number; startTime: number | null; oneOff?: true }

export interface GrantRegistry {
  version: 1;
  /** A service's grants persist until `niso remove SERVICE`, stopped or not. */
  services: Record<string, ServiceGrant[]>;
  runs: RunGrant[];
}

export const emptyRegistry = (): GrantRegistry => ({ version: 1, services: {}, runs: [] });

/** What the host knows about liveness, handed in: which services exist, whether a run's process is still that run. */
export interface Liveness {
  services: ReadonlySet<string>;
  runAlive: (r: Pick<RunGrant, 'pid' | 'startTime'>) => boolean;
}

/** Someone who holds a volume now. */
export interface Holder { service: string; run: number | null; oneOff?: boolean; readOnly: boolean; exclusive: boolean; uid: number; since: string }

/** Several grants of one volume in one request (mounted at two places) are one grant: read-only only if all are. */
export function mergeRequests(grants: readonly GrantRequest[]): GrantRequest[] {
  const by = new Map<string, GrantRequest>();
  for (const g of grants) {
    const had = by.get(g.volume);
    by.set(g.volume, had ? { volume: g.volume, readOnly: had.readOnly && g.readOnly, exclusive: had.exclusive || g.exclusive } : { ...g });
  }
  return [...by.values()].sort((a, b) => (a.volume < b.volume ? -1 : a.volume > b.volume ? 1 : 0));
}

/** Every live holder of a volume: grants of services that exist, grants of runs whose process lives. */
export function holdersOf(reg: GrantRegistry, volume: string, live: Liveness): Holder[] {
  const out: Holder[] = [];
  for (const [service, grants] of Object.entries(reg.services)) {
    if (!live.services.has(service)) continue;
    for (const g of grants) if (g.volume === volume) out.push({ service, run: null, readOnly: g.readOnly, exclusive: g.exclusive, uid: g.uid, since: g.since });
  }
  for (const r of reg.runs) {
    if (r.volume === volume && live.runAlive(r)) out.push({ service: r.service, run: r.pid, ...(r.oneOff ? { oneOff: true } : {}), readOnly: r.readOnly, exclusive: r.exclusive, uid: r.uid, since: r.since });
  }
  return out;
}

export const describeHolder = (h: Pick<Holder, 'service' | 'run' | 'oneOff'>) => (h.run === null ? `service ${h.service}` : `${h.oneOff === true ? 'a one-off run' : 'a run'} of ${h.service} (pid ${h.run})`);

/**
 * Who asks for grants: a service (its start), a run under a name (`niso run PACKAGE --name NAME`, which is that
 * service: same uid, same data), or a one-off of an existing service, with whether that service is active (running,
 * being started, or waiting for a restart: service/view.ts isActive), since only then does it hold its volumes.
 */
export type Requester = { kind: 'service' } | { kind: 'run'; pid: number } | { kind: 'one-off'; pid: number; serviceActive: boolean };

/**
 * Whether a holder under the requester's own name stands against it. A service and its named runs share what they
 * hold, as before; a one-off does not share an exclusive volume with its service while that is active, nor with
 * another run of its name, and a service does not start onto what a one-off of it holds.
 */
function sameNameHolds(h: Holder, who: Requester): boolean {
  if (who.kind === 'service') return h.oneOff === true;
  if (who.kind === 'run') return false;
  return h.run === null ? who.serviceActive : h.run !== who.pid;
}

export type Conflict =
  /** Another service (or a run of another name) holds the volume exclusively. */
  | { kind: 'exclusive-held'; volume: string; holder: Holder }
  /** An exclusive grant was asked for, but others hold the volume already. */
  | { kind: 'shared-held'; volume: string; holders: Holder[] };

/**
 * What stands against `service` holding these grants. Holders are told apart by service name: a run under a service's
 * own name is that service (same uid, same data), so it may use what its service holds exclusively; a one-off of the
 * service is not (sameNameHolds), and `who` says which one asks.
 */
export function conflicts(reg: GrantRegistry, service: string, grants: readonly GrantRequest[], live: Liveness, who: Requester = { kind: 'service' }): Conflict[] {
  const out: Conflict[] = [];
  for (const g of grants) {
    const others = holdersOf(reg, g.volume, live).filter((h) => h.service !== service || sameNameHolds(h, who));
    const excl = others.find((h) => h.exclusive);
    if (excl) out.push({ kind: 'exclusive-held', volume: g.volume, holder: excl });
    else if (g.exclusive && others.length > 0) out.push({ kind: 'shared-held', volume: g.volume, holders: others });
  }
  return out;
}

/** A conflict as the coded error the user sees: who holds it, and what to do. `oneOff`: a one-off of `service` asked. */
export function conflictError(service: string, c: Conflict, oneOff = false): NisoError {
  const asker = oneOff ? `a one-off run of ${service}` : service;
  if (c.kind === 'exclusive-held') {
    const h = c.holder;
    if (oneOff && h.service === service && h.run === null) {
      return new NisoError('NISO5007', `volume ${c.volume} is exclusive to service ${service}, which is active; ${asker} cannot mount it beside it`, {
        exitCode: 1,
        hint: `stop it first (\`niso deactivate ${service}\`), then run the command again; or run it inside the service: \`niso exec ${service} -- CMD\``,
      });
    }
    return new NisoError('NISO5007', `volume ${c.volume} is exclusive to ${describeHolder(h)}; ${asker} cannot mount it`, {
      exitCode: 1,
      hint: h.run !== null
        ? `wait for that run to end (pid ${h.run}), or give ${service} a volume of its own`
        : `remove ${h.service} first (\`niso deactivate ${h.service} && niso remove ${h.service}\`), or give ${service} a volume of its own; \`niso volume inspect ${c.volume}\` shows its grants`,
    });
  }
  const names = [...new Set(c.holders.map(describeHolder))];
  return new NisoError('NISO5008', `volume ${c.volume} cannot be granted exclusively to ${asker}: ${names.join(', ')} ${names.length === 1 ? 'holds' : 'hold'} it already`, {
    exitCode: 1,
    hint: `grant it without exclusive, or remove ${c.holders[0]!.run === null ? `the other service${names.length > 1 ? 's' : ''} first (\`niso remove ${c.holders[0]!.service}\`)` : 'the other holders first'}; \`niso volume inspect ${c.volume}\` shows its grants`,
  });
}

/** Whether a service's recorded grants are exactly these, as this uid: a restart of the same service changes nothing. */
export function sameGrants(recorded: readonly ServiceGrant[] | undefined, grants: readonly GrantRequest[], uid: number): boolean {
  if (recorded === undefined || recorded.length !== grants.length) return false;
  const by = new Map(recorded.map((g) => [g.volume, g]));
  return grants.every((g) => { const r = by.get(g.volume); return r !== undefined && r.readOnly === g.readOnly && r.exclusive === g.exclusive && r.uid === uid; });
}

/**
 * The registry with `service`'s grants recorded: a service's set replaces what it held before (a new definition may
 * name other volumes); a run's are added under its pid. Grants of services that no longer exist and of runs that
 * ended are dropped on the way.
 */
export function recordGrants(reg: GrantRegistry, service: string, grants: readonly GrantRequest[], holder: { run: { pid: number; startTime: number | null; oneOff?: boolean } | null; uid: number }, now: string, live: Liveness): GrantRegistry {
  const services: Record<string, ServiceGrant[]> = {};
  for (const [s, gs] of Object.entries(reg.services)) if (live.services.has(s)) services[s] = gs;
  let runs = reg.runs.filter((r) => live.runAlive(r));
  const since = (recorded: readonly { volume: string; since: string }[] | undefined, volume: string) => recorded?.find((r) => r.volume === volume)?.since ?? now;
  if (holder.run === null) {
    const before = reg.services[service];
    if (grants.length === 0) delete services[service];
    else services[service] = grants.map((g) => ({ volume: g.volume, readOnly: g.readOnly, exclusive: g.exclusive, uid: holder.uid, since: since(before, g.volume) }));
  } else {
    const run = holder.run;
    const before = runs.filter((r) => r.pid === run.pid && r.startTime === run.startTime);
    runs = runs.filter((r) => !(r.pid === run.pid && r.startTime === run.startTime));
    for (const g of grants) runs.push({ service, pid: run.pid, startTime: run.startTime, volume: g.volume, readOnly: g.readOnly, exclusive: g.exclusive, uid: holder.uid, since: since(before, g.volume), ...(run.oneOff ? { oneOff: true as const } : {}) });
  }
  return { version: 1, services, runs };
}

/** The registry without a service's grants (`niso remove SERVICE`); its runs' grants end with their processes. */
export function revokeService(reg: GrantRegistry, service: string): GrantRegistry {
  const services = { ...reg.services };
  delete services[service];
  return { ...reg, services };
}

/** The registry without any grant of a volume (it was removed). */
export function forgetVolume(reg: GrantRegistry, volume: string): GrantRegistry {
  const services: Record<string, ServiceGrant[]> = {};
  for (const [s, gs] of Object.entries(reg.services)) {
    const kept = gs.filter((g) => g.volume !== volume);
    if (kept.length > 0) services[s] = kept;
  }
  return { version: 1, services, runs: reg.runs.filter((r) => r.volume !== volume) };
}

/** Volumes a service holds a grant on (live or not): those whose owner may change when its grants do. */
export function volumesOf(reg: GrantRegistry, service: string): string[] {
  return (reg.services[service] ?? []).map((g) => g.volume);
}

/**
 * The owner of a volume's data dir: its exclusive holder's uid (apps like PostgreSQL insist on owning their data dir),
 * else root; the volume's group gives every holder its access either way.
 */
export function ownerOf(reg: GrantRegistry, volume: string, live: Liveness): number {
  return holdersOf(reg, volume, live).find((h) => h.exclusive)?.uid ?? 0;
}

/** What list, inspect and prune know of a volume. */
export interface VolumeFacts {
  name: string;
  kind: 'named' | 'service' | 'state';
  /** The service a service's or state volume belongs to. */
  service: string | null;
  /** Whether that service exists; null for a named volume. */
  serviceExists: boolean | null;
  labels: Record<string, string>;
  /** Live holders (services that exist, runs that live). */
  holders: Holder[];
}

/** Docker's "dangling": nothing holds it. A state or service volume of an existing service is its service's. */
export const isDangling = (v: VolumeFacts) => v.holders.length === 0 && v.serviceExists !== true;

/**
 * `niso volume prune`: without `all`, what Docker calls anonymous, the own volumes and /state of services that no
 * longer exist; with `all`, unused named volumes too. Never what something holds.
 */
export function pruneSelection<T extends VolumeFacts>(volumes: readonly T[], opts: { all: boolean; keep?: (v: T) => boolean }): T[] {
  return volumes.filter((v) => {
    if (!isDangling(v) || opts.keep?.(v)) return false;
    if (v.kind === 'named') return opts.all;
    return v.serviceExists === false;
  });
}
