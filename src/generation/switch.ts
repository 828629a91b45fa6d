// The switch engine: moves the host from its current generation to a target one, in phases.
// P0 plan: diff (pure) and preflight; a dry run stops here. P1 begin: the target's number (new, pending) and the
// journal's begin line. P1b data (data.ts): writers stopped, their volumes snapshotted, --with-data restores. P2
// apply: each action between two journal lines. P3 gate (SafeSwitch). P4 commit: the target
// good, `current` moved, the journal retired. A refusal by the gate or a failed action takes the host back to the
// generation it came from (recover.ts revert); a crash anywhere is settled by the next command (recoverLocked).
import { randomBytes } from 'node:crypto';
import type { Host } from '../backend/index.js';
import { runningAmong } from '../backend/index.js';
import { NisoError, isNisoError } from '../errors/niso-error.js';
import { crashPoint } from '../host/crash-point.js';
import { processStartTimeSync } from '../host/liveness.js';
import { listServiceNames, readDefinition } from '../service/store.js';
import { applyAction, ensureStackNetworks, preflight, type ActionResult } from './apply.js';
import { dataPhase, dryRunData, type DataOptions, type DataReport } from './data.js';
import { waitForDependencies } from './dependencies.js';
import { changesAnything, diffGenerations, summarize } from './diff.js';
import { startsService } from './order.js';
import { DEFAULT_SETTLE_MS, safeSwitchGate } from './gate.js';
import { generationHash } from './hash.js';
import { appendJournal, retireJournal, type SwitchKind } from './journal.js';
import { finishCommit, recoverLocked, revert, type BeginLine, type Recovered } from './recover.js';
import { actorOf, adoptInstalled, createGeneration, generationPaths, readCurrent, readGeneration, setStatus, withSwitchLock, type Generation } from './store.js';
import type { GenerationContent, ServiceAction } from './types.js';

export interface SwitchOptions {
  /** The command line that asked for it, redacted (recorded in the new generation's metadata). */
  command: string[];
  dryRun?: boolean;
  /** SafeSwitch; default on. */
  gate?: boolean;
  settleMs?: number;
  /** `niso remove --volumes`: the removed services' data goes with them. */
  deleteData?: readonly string[];
  /** Volumes across generations (generation/data.ts): snapshots before writers stop, --with-data. */
  data?: DataOptions;
}

/** The target: new content made from the current one, or an existing generation (rollback, switch N). */
export type SwitchTarget =
  | { kind: 'content'; edit: (current: GenerationContent | null) => GenerationContent }
  | { kind: 'generation'; pick: (current: Generation | null) => number; rollback: boolean };

export interface SwitchResult {
  /** noop: the target is what runs; dry-run: nothing done; committed; reverted: the gate refused it, the host is back. */
  status: 'noop' | 'dry-run' | 'committed' | 'reverted';
  from: number | null;
  /** The target's number (null for a no-op or dry run of new content). */
  to: number | null;
  actions: ServiceAction[];
  /** Per service, what its action did (how a stopped service ended). */
  results: Map<string, ActionResult>;
  /** Why the gate refused it. */
  reason?: string;
  /** What recovery settled before this switch began. */
  recovered: Recovered | null;
  /** What the data phase did (snapshots taken or skipped, restores), once the switch began. */
  data?: DataReport;
  /** A dry run: what the data phase would do, a line each. */
  dryData?: string[];
}

const EMPTY: GenerationContent = { version: 1, services: [] };

/** Runs the whole switch under the switch lock. Exits (throws) with NISO6032 when an action failed and the host went back. */
export function switchGeneration(host: Host, target: SwitchTarget, opts: SwitchOptions): Promise<SwitchResult> {
  return withSwitchLock(host.root, () => switchLocked(host, target, opts));
}

async function switchLocked(host: Host, target: SwitchTarget, opts: SwitchOptions): Promise<SwitchResult> {
  const root = host.root;
  const paths = generationPaths(root);
  // What an earlier switch left is settled first; a host from before generations gets generation 1 from what it has.
  const recovered = await recoverLocked(host);
  adoptInstalled(root, { actor: actorOf(host.env) });
  const current = readCurrent(root);
  const from = current?.content ?? null;

  // P0: the target, its actions, the preflight.
  let toContent: GenerationContent;
  let existing: number | null = null;
  if (target.kind === 'content') {
    toContent = target.edit(from);
  } else {
    existing = target.pick(current);
    toContent = readGeneration(root, existing).content;
  }
  const actions = diffGenerations(from, toContent);
  const base: Omit<SwitchResult, 'status' | 'to'> = { from: current?.meta.number ?? null, actions, results: new Map<string, ActionResult>(), recovered };
  const same = current !== null && generationHash(toContent) === current.meta.hash;
  if (!changesAnything(actions) || same) {
    // Nothing to stop or start. A rollback to a generation of the same content still moves `current` to it.
    if (!opts.dryRun && existing !== null && current && existing !== current.meta.number) {
      finishCommit(root, { kind: target.kind === 'generation' && target.rollback ? 'rollback' : 'switch', from: { n: current.meta.number, hash: current.meta.hash }, to: { n: existing, hash: current.meta.hash } });
      return { ...base, status: 'committed', to: existing };
    }
    return { ...base, status: 'noop', to: existing ?? current?.meta.number ?? null };
  }
  await preflight(host, actions);
  if (opts.dryRun) return { ...base, status: 'dry-run', to: existing, dryData: await dryRunData(host, actions, existing, opts.data ?? {}) };
  // Networks a stack's `down` removed, for a switch back to where the stack ran; an external one missing stops it here.
  await ensureStackNetworks(host, actions);

  // P1: the target's number, then the journal's begin line (flushed) before anything changes.
  const kind: SwitchKind = target.kind === 'generation' && target.rollback ? 'rollback' : 'switch';
  const meta = existing !== null ? { number: existing, hash: generationHash(toContent) } : createGeneration(root, toContent, {
    command: opts.command, actor: actorOf(host.env), parent: current?.meta.number ?? null, summary: summarize(actions),
  });
  const defs = [...new Set([...(from ?? EMPTY).services.map((s) => s.name), ...listServiceNames(root)])].flatMap((name) => readDefinition(root, name) ?? []);
  const live = await runningAmong(host, defs);
  const running = defs.map((d) => d.name).filter((n) => live.has(n));
  const begin: BeginLine = {
    t: 'begin', id: `${Date.now()}-${randomBytes(4).toString('hex')}`, at: new Date().toISOString(), kind,
    pid: process.pid, pidStart: processStartTimeSync(process.pid),
    from: current ? { n: current.meta.number, hash: current.meta.hash } : null, to: { n: meta.number, hash: meta.hash },
    created: existing === null, actions, running,
  };
  appendJournal(paths.journal, begin);
  crashPoint(host.env, 'switch:begin');

  // P1b: the data phase (generation/data.ts): the writers stopped, their volumes snapshotted, --with-data restores.
  const data = await dataPhase(host, begin, opts.data ?? {}, (reason) => goBack(host, begin, reason));
  base.data = data;

  // P2: each action between its two journal lines.
  const results = new Map<string, ActionResult>([...data.stopped].map(([s, stopped]) => [s, { stopped }]));
  for (const [i, a] of actions.entries()) {
    if (a.kind === 'keep') continue;
    appendJournal(paths.journal, { t: 'step', i, phase: 'start' });
    crashPoint(host.env, `switch:step:${i}:start`);
    try {
      // A stack's service starts once its dependencies meet their conditions (order.ts put them first).
      if (startsService(a)) await waitForDependencies(root, a.to!);
      const done = await applyAction(host, a, { deleteData: opts.deleteData });
      // A writer the data phase stopped: how it ended is told from that stop.
      results.set(a.service, done.stopped === undefined && results.get(a.service)?.stopped ? { ...done, stopped: results.get(a.service)!.stopped } : done);
    } catch (e) {
      const reason = `${a.kind} ${a.service}: ${(e as Error).message}`;
      appendJournal(paths.journal, { t: 'apply-failed', i, reason });
      await goBack(host, begin, reason);
      const back = `the switch to generation ${meta.number} was undone: the host is back at ${begin.from ? `generation ${begin.from.n}` : 'no services'}`;
      // The action's own error keeps its code (a taken port, an init step that failed): scripts key on it.
      if (isNisoError(e) && e.diagnostics.length === 0) {
        throw new NisoError(e.code, `${e.message}\n(${back})`, { exitCode: e.exitCode, hint: e.hint, path: e.path, cause: e });
      }
      throw new NisoError('NISO6032', `${back}: ${reason}`, {
        exitCode: 1, hint: `\`niso debug ${a.service}\` shows what happened; \`niso generation list\` shows generation ${meta.number} as failed`, cause: e,
      });
    }
    appendJournal(paths.journal, { t: 'step', i, phase: 'done' });
    crashPoint(host.env, `switch:step:${i}:done`);
  }

  // P3: SafeSwitch.
  if (opts.gate !== false) {
    const gated = actions.filter((a) => (a.kind === 'add' || a.kind === 'start' || a.kind === 'replace') && a.to?.active).map((a) => a.service);
    const verdict = await safeSwitchGate(root, gated, { settleMs: opts.settleMs ?? DEFAULT_SETTLE_MS });
    if (!verdict.ok) {
      appendJournal(paths.journal, { t: 'gate-failed', reason: verdict.reason });
      crashPoint(host.env, 'switch:gate');
      await goBack(host, begin, verdict.reason);
      return { ...base, status: 'reverted', to: meta.number, results, reason: verdict.reason };
    }
  }

  // P4: commit.
  appendJournal(paths.journal, { t: 'commit', at: new Date().toISOString() });
  crashPoint(host.env, 'switch:commit');
  finishCommit(root, begin);
  appendJournal(paths.journal, { t: 'end', at: new Date().toISOString(), result: 'committed' });
  retireJournal(paths.journal, paths.history, begin.id);
  return { ...base, status: 'committed', to: meta.number, results };
}

/** The way back after a refusal or a failure: `to` failed (with the reason), `current` unchanged, the journal retired. */
async function goBack(host: Host, begin: BeginLine, reason: string): Promise<void> {
  const paths = generationPaths(host.root);
  try {
    await revert(host, paths.journal, begin, { keepAdded: true });
  } catch (e) {
    // The journal stays: the next command tries the way back again.
    setStatus(host.root, begin.to.n, 'failed', `${reason}; going back failed too: ${(e as Error).message}`);
    throw new NisoError('NISO6033', `the switch to generation ${begin.to.n} failed (${reason}), and going back to ${begin.from ? `generation ${begin.from.n}` : 'no services'} failed too: ${(e as Error).message}`, {
      exitCode: 1, hint: 'the next niso command tries to go back again; `niso status` and `niso debug SERVICE` show what runs', cause: e,
    });
  }
  setStatus(host.root, begin.to.n, 'failed', reason);
  appendJournal(paths.journal, { t: 'end', at: new Date().toISOString(), result: 'reverted' });
  retireJournal(paths.journal, paths.history, begin.id);
}

/**
 * For readers (`niso status`, `generation list`) and `niso boot`: settles an interrupted switch, when there is one to
 * settle (a stat otherwise). A switch under way in another process is left alone.
 */
export async function recoverIfNeeded(host: Host): Promise<Recovered | null> {
  const { readJournal } = await import('./journal.js');
  const { sameProcess } = await import('../host/liveness.js');
  const parsed = readJournal(generationPaths(host.root).journal);
  if (!parsed) return null;
  const begin = parsed.lines.find((l): l is BeginLine => l.t === 'begin');
  if (begin && begin.pid !== process.pid && sameProcess({ pid: begin.pid, startTime: begin.pidStart })) return null;
  return withSwitchLock(host.root, () => recoverLocked(host));
}
