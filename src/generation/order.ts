// The order of a switch when services depend on each other (a stack's depends_on), and what a dependency's condition
// says of a service's status. Pure, and used by every path that changes what runs (a switch, its way back, a dead
// switch's recovery, `niso boot`), so that a dependency always comes up before its dependents and goes after them.
import type { ExitRecord, ServiceStateName } from '../service/model/types.js';
import type { DependencyCondition } from '../stack/types.js';
import type { GenerationService, ServiceAction, ServiceActionKind } from './types.js';

/** The mark in `changed` of a service restarted only because a dependency it asked to follow (`restart = true`) was. */
export const RESTART_WITH = 'restart-with:';

/** One dependency by its host name (`shop.db`). */
export interface HostDependency { service: string; condition: DependencyCondition; restart: boolean; required: boolean }

/** A stack service's dependencies by their host names; none for a plain service. */
export function dependenciesOf(e: Pick<GenerationService, 'stack'> | null | undefined): HostDependency[] {
  if (!e?.stack) return [];
  const stack = e.stack.name;
  return e.stack.dependsOn.map((d) => ({ service: `${stack}.${d.service}`, condition: d.condition, restart: d.restart, required: d.required }));
}

/**
 * Items in an order where every `before(a, b)` edge holds, choosing among the ready ones by `tie` (a stable
 * topological sort). Edges to items not in the list do not hold anything back; what a cycle leaves is appended in
 * `tie` order (the stack's checks refuse cycles; this only keeps a damaged generation from being refused here).
 */
export function topoSort<T>(items: readonly T[], dependsOn: (item: T) => readonly T[], tie: (a: T, b: T) => number): T[] {
  const index = new Map(items.map((x, i) => [x, i]));
  const pending = items.map(() => 0);
  const dependents: number[][] = items.map(() => []);
  items.forEach((x, i) => {
    for (const d of new Set(dependsOn(x))) {
      const j = index.get(d);
      if (j === undefined || j === i) continue;
      pending[i]!++;
      dependents[j]!.push(i);
    }
  });
  const out: T[] = [];
  const done = new Set<number>();
  const ready = items.map((_, i) => i).filter((i) => pending[i] === 0);
  while (ready.length > 0) {
    ready.sort((a, b) => tie(items[a]!, items[b]!));
    const i = ready.shift()!;
    out.push(items[i]!);
    done.add(i);
    for (const j of dependents[i]!) if (--pending[j]! === 0) ready.push(j);
  }
  const left = items.filter((_, i) => !done.has(i)).sort(tie);
  return [...out, ...left];
}

const STARTS: ReadonlySet<ServiceActionKind> = new Set(['replace', 'start', 'add']);
const STOPS: ReadonlySet<ServiceActionKind> = new Set(['stop', 'remove']);

/** Whether the action (re)starts the service: after it, the service runs anew. */
export const startsService = (a: ServiceAction): boolean => STARTS.has(a.kind) && a.to?.active === true;

/**
 * The actions of a switch (sorted by rank, then name: diff.ts) in the order they run with dependencies:
 * - a running service that follows a dependency the switch restarts (`restart = true`) is restarted after it (a
 *   `replace` of itself, marked in `changed`), also along a chain;
 * - what stops goes dependents first (by the dependencies it had);
 * - what starts goes dependencies first (by the dependencies it will have), otherwise by rank and name as before.
 * In-place changes stay between the two, and `keep`s last, as before.
 */
export function orderByDependencies(actions: readonly ServiceAction[], rank: Record<ServiceActionKind, number>): ServiceAction[] {
  const byName = new Map(actions.map((a) => [a.service, a]));
  // Restarts that follow a dependency's, to a fixed point (a chain of restart = true).
  const restarted = new Set(actions.filter(startsService).map((a) => a.service));
  for (let grew = true; grew;) {
    grew = false;
    for (const [name, a] of byName) {
      if (restarted.has(name) || !a.to?.active || !a.from?.active || !(a.kind === 'keep' || a.kind === 'update' || a.kind === 'ports')) continue;
      const cause = dependenciesOf(a.to).find((d) => d.restart && restarted.has(d.service));
      if (!cause) continue;
      byName.set(name, { ...a, kind: 'replace', changed: [...a.changed, `${RESTART_WITH}${cause.service}`] });
      restarted.add(name);
      grew = true;
    }
  }
  const all = [...byName.values()];
  const tie = (x: ServiceAction, y: ServiceAction) => rank[x.kind] - rank[y.kind] || (x.service < y.service ? -1 : x.service > y.service ? 1 : 0);
  const pick = (f: (a: ServiceAction) => boolean) => all.filter(f);
  const downs = pick((a) => STOPS.has(a.kind));
  const ups = pick((a) => STARTS.has(a.kind));
  const middle = pick((a) => !STOPS.has(a.kind) && !STARTS.has(a.kind) && a.kind !== 'keep');
  const keeps = pick((a) => a.kind === 'keep');
  const named = (list: ServiceAction[]) => new Map(list.map((a) => [a.service, a]));
  const downByName = named(downs);
  const upByName = named(ups);
  // A stopping service waits for its stopping dependents; a starting one for its starting dependencies.
  const stoppingDependents = (a: ServiceAction) => downs.filter((b) => dependenciesOf(b.from).some((d) => d.service === a.service));
  const orderedDowns = topoSort(downs, (a) => stoppingDependents(a).filter((b) => downByName.has(b.service)), tie);
  const orderedUps = topoSort(ups, (a) => dependenciesOf(a.to).map((d) => upByName.get(d.service)).filter((b): b is ServiceAction => b !== undefined), tie);
  return [...orderedDowns, ...middle.sort(tie), ...orderedUps, ...keeps.sort(tie)];
}

/** Host names in the order to start them: dependencies first, otherwise by name (`niso boot`). */
export function startOrder(services: readonly Pick<GenerationService, 'name' | 'stack'>[]): string[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const ordered = topoSort(services, (s) => dependenciesOf(s).map((d) => byName.get(d.service)).filter((x): x is Pick<GenerationService, 'name' | 'stack'> => x !== undefined), (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return ordered.map((s) => s.name);
}

/** What a dependency's condition needs to know of the dependency now (a part of service/view.ts ServiceStatus). */
export interface DependencyFacts {
  state: ServiceStateName;
  pid: number | null;
  health: 'starting' | 'healthy' | 'unhealthy' | null;
  /**
   * Its last end of a run of the package it is defined with now (model/types.ts lastExitOf): after a switch that ran
   * a new job and was undone, the job defined again is judged by its own last run, not by the undone job's.
   */
  lastExit: Pick<ExitRecord, 'exitCode' | 'reason' | 'signal'> | null;
  /** Whether its plan has a health check. */
  checked: boolean;
  /** The health record of its last run (health.json is made anew at each start), also once it ended. */
  lastHealth?: 'starting' | 'healthy' | 'unhealthy' | null;
}

export type ConditionVerdict = { kind: 'met' } | { kind: 'wait' } | { kind: 'failed'; reason: string };

const exited = (e: DependencyFacts['lastExit']) => (e === null ? 'it is not running' : e.reason === 'start-failed' ? 'its start failed' : e.signal ? `it ended by ${e.signal}` : e.exitCode === null ? 'it is not running' : `it exited ${e.exitCode}`);

/**
 * Whether a dependency meets its condition now, will never (and why), or may yet. The health verdict is read before
 * liveness: a service that its health check failed and whose policy stopped it to restart it shows as not running
 * until its restart (on systemd, inactive until the restart timer fires), and the reason is still its health check.
 */
export function conditionVerdict(condition: DependencyCondition, f: DependencyFacts | null): ConditionVerdict {
  if (f === null) return { kind: 'failed', reason: 'it is not defined on this host' };
  const running = f.pid !== null;
  // Its health check ended it (the record says so before systemd's exit is judged, and the exit says so after).
  const endedUnhealthy = !running && (f.lastExit?.reason === 'unhealthy' || f.lastHealth === 'unhealthy');
  const ended = !running && (f.state === 'inactive' || f.state === 'failed');
  // Whatever state the last run of another package left (failed, for an undone job that exited 3).
  const completedOk = ended && f.lastExit?.exitCode === 0;
  switch (condition) {
    case 'completed':
      if (completedOk) return { kind: 'met' };
      // No run of its package on record and none under way: nothing to wait for. A job runs only when a switch or a
      // boot starts it, and both order its dependents after it; a way back defines a job that had completed again
      // without running it (a removed one has no record left), and must not block its dependents.
      if (!running && f.lastExit === null && f.state === 'inactive') return { kind: 'met' };
      if (ended) return { kind: 'failed', reason: f.lastExit ? exited(f.lastExit) : 'it did not run' };
      return { kind: 'wait' };
    case 'started':
      if (running || completedOk) return { kind: 'met' };
      if (ended) return { kind: 'failed', reason: `it is not running (${exited(f.lastExit).replace(/^it /, '')})`.replace('(is not running)', `(${f.state})`) };
      return { kind: 'wait' };
    case 'healthy':
      if (f.health === 'unhealthy' || f.state === 'unhealthy' || endedUnhealthy) return { kind: 'failed', reason: 'its health check fails' };
      if (running && !f.checked && f.state !== 'activating') return { kind: 'met' };
      if (running && f.health === 'healthy') return { kind: 'met' };
      if (ended) return { kind: 'failed', reason: `it is not running (${exited(f.lastExit).replace(/^it /, '')})`.replace('(is not running)', `(${f.state})`) };
      return { kind: 'wait' };
  }
}
