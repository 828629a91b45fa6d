// Bringing a host back to the generation a switch started from, after the switch was refused by its gate, failed, or
// was killed at any step (SIGKILL, power loss). The way back is not a replay of the journal backwards: it compares what
// is installed and runs NOW with the `from` generation, for each service the switch meant to touch, and applies the
// difference through the same actions (apply.ts). So it works from any point, also from the middle of a step, and
// ends with exactly the old generation: every touched service with its `from` definition, running if it ran when the
// switch began and is active in `from`; services that only the new generation has stopped and forgotten.
import type { Host } from '../backend/index.js';
import { runningAmong } from '../backend/index.js';
import { NisoError } from '../errors/niso-error.js';
import { crashPoint } from '../host/crash-point.js';
import { sameProcess } from '../host/liveness.js';
import { readDefinition } from '../service/store.js';
import { applyAction } from './apply.js';
import { undoRestores } from './data.js';
import { contentOf, entryOf } from './hash.js';
import { diffGenerations } from './diff.js';
import { appendJournal, readJournal, retireJournal, type JournalLine } from './journal.js';
import { currentNumber, generationPaths, listGenerations, readMeta, setCurrent, setStatus } from './store.js';
import type { GenerationService, ServiceAction } from './types.js';

export type BeginLine = Extract<JournalLine, { t: 'begin' }>;

/** What is installed and running now, for the services the switch touches, as generation entries. */
async function observed(host: Host, names: readonly string[]): Promise<GenerationService[]> {
  const defs = names.flatMap((name) => readDefinition(host.root, name) ?? []);
  const live = await runningAmong(host, defs);
  return defs.map((def) => entryOf(def, live.has(def.name)));
}

/** The actions that take the touched services from what is there now back to `from` (as it ran at the begin). */
export async function actionsBack(host: Host, begin: BeginLine): Promise<ServiceAction[]> {
  const touched = begin.actions.filter((a) => a.kind !== 'keep');
  const names = touched.map((a) => a.service);
  const wanted = touched.map((a) => a.from).filter((f): f is GenerationService => f !== null)
    // Running again only what ran: an active service that had failed before the switch is not started by its undoing.
    .map((f) => ({ ...f, active: f.active && begin.running.includes(f.name) }));
  return diffGenerations(contentOf(await observed(host, names)), contentOf(wanted));
}

/**
 * Applies the way back under the journal: a `revert` line with its actions, then a step line before and after each.
 * An action that fails does not stop the others (each leaves its service as close to `from` as it can); the first
 * failure is thrown at the end.
 */
export async function revert(host: Host, journal: string, begin: BeginLine, opts: { keepAdded?: boolean } = {}): Promise<ServiceAction[]> {
  // Data first: a --with-data restore is taken back while what holds the volume is stopped.
  await undoRestores(host, journal);
  const added = new Set(begin.actions.filter((a) => a.kind === 'add').map((a) => a.service));
  // A refused or failed switch keeps a service it added defined, stopped and failed, for `niso debug` and `niso logs`
  // (nothing of it runs, as in `from`); a dead switch's recovery forgets it.
  const back = (await actionsBack(host, begin)).map((a) => (opts.keepAdded && a.kind === 'remove' && added.has(a.service) && a.from
    ? { ...a, kind: 'stop' as const, to: { ...a.from, active: false }, changed: ['active'] }
    : a));
  appendJournal(journal, { t: 'revert', actions: back });
  let first: unknown = null;
  for (const [i, a] of back.entries()) {
    if (a.kind === 'keep') continue;
    appendJournal(journal, { t: 'revert-step', i, phase: 'start' });
    crashPoint(host.env, `switch:revert:${i}:start`);
    try { await applyAction(host, a); } catch (e) { first ??= e; continue; }
    appendJournal(journal, { t: 'revert-step', i, phase: 'done' });
    crashPoint(host.env, `switch:revert:${i}:done`);
  }
  if (first !== null) throw first;
  return back;
}

/** The commit's bookkeeping (idempotent): `to` good, the generation left behind by a rollback rolled-back, `current`. */
export function finishCommit(root: string, begin: Pick<BeginLine, 'kind' | 'from' | 'to'>): void {
  if (readMeta(root, begin.to.n).status !== 'good') setStatus(root, begin.to.n, 'good');
  if (begin.kind === 'rollback' && begin.from && begin.from.n !== begin.to.n && readMeta(root, begin.from.n).status === 'good') {
    setStatus(root, begin.from.n, 'rolled-back', `rolled back to generation ${begin.to.n}`);
  }
  if (currentNumber(root) !== begin.to.n) setCurrent(root, begin.to.n);
}

export interface Recovered {
  /** The switch that was interrupted: from, to, and what recovery did. */
  from: number | null;
  to: number;
  outcome: 'committed' | 'reverted';
  actions: ServiceAction[];
}

/**
 * Under the switch lock: settles a switch that a dead process left (its journal without an end). A commit line means
 * the new generation ran: only its bookkeeping is finished. Otherwise the host goes back to `from` and `to` is marked
 * failed ("interrupted") if the switch made it. Also fails pending generations that no journal names (a switch killed
 * between writing the metadata and the begin line). Returns null when there was nothing to do.
 */
export async function recoverLocked(host: Host): Promise<Recovered | null> {
  const paths = generationPaths(host.root);
  failOrphanPending(host.root);
  const parsed = readJournal(paths.journal);
  if (!parsed) return null;
  const begin = parsed.lines.find((l): l is BeginLine => l.t === 'begin');
  // Cut short in its first line: the switch did nothing yet.
  if (!begin) { retireJournal(paths.journal, paths.history, `torn-${Date.now()}`); failOrphanPending(host.root); return null; }
  if (begin.pid !== process.pid && sameProcess({ pid: begin.pid, startTime: begin.pidStart })) {
    throw new NisoError('NISO6031', `a switch (to generation ${begin.to.n}) is under way by niso pid ${begin.pid}`, { hint: 'wait for it to finish; `niso generation list` shows its outcome' });
  }
  const committed = parsed.lines.some((l) => l.t === 'commit');
  const ended = parsed.lines.some((l) => l.t === 'end');
  if (committed) {
    finishCommit(host.root, begin);
    if (!ended) appendJournal(paths.journal, { t: 'end', at: new Date().toISOString(), result: 'committed' });
    retireJournal(paths.journal, paths.history, begin.id);
    return { from: begin.from?.n ?? null, to: begin.to.n, outcome: 'committed', actions: [] };
  }
  // audit: switch.recover
  const back = ended ? [] : await revert(host, paths.journal, begin);
  if (begin.created && readMeta(host.root, begin.to.n).status === 'pending') setStatus(host.root, begin.to.n, 'failed', 'interrupted: the switch did not finish, and the host went back to the generation before');
  if (!ended) appendJournal(paths.journal, { t: 'end', at: new Date().toISOString(), result: 'recovered' });
  retireJournal(paths.journal, paths.history, begin.id);
  return { from: begin.from?.n ?? null, to: begin.to.n, outcome: 'reverted', actions: back };
}

/** Pending generations that no live switch applies (no journal names them) failed before they began. */
function failOrphanPending(root: string): void {
  const paths = generationPaths(root);
  const journal = readJournal(paths.journal);
  const named = journal?.lines.find((l): l is BeginLine => l.t === 'begin')?.to.n ?? null;
  for (const m of listGenerations(root)) {
    if (m.status === 'pending' && m.number !== named) setStatus(root, m.number, 'failed', 'interrupted before the switch began');
  }
}
