// Volumes across generations: the data phase of a switch (after its begin line, before its first action). It stops the
// writers the switch would stop or restart anyway, snapshots their volumes (volume/snapshot.ts: cheap where the file
// system allows, a copy only when small or asked, else skipped with a note), and with --with-data restores each volume
// from the snapshot taken when the host left the target generation. Every step is a journal line first, so that the
// way back (recover.ts revert) can take a restore back: the host ends with exactly the old or exactly the new data.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { backendFor, type Deactivated, type Host } from '../backend/index.js';
import { NisoError, isNisoError } from '../errors/niso-error.js';
import { crashPoint } from '../host/crash-point.js';
import { readDefinition } from '../service/store.js';
import { layout, stateOf } from '../store/layout.js';
import { describeHolder, holdersOf, type GrantRegistry } from '../volume/policy.js';
import { dataSnapshotOf, type SwitchOfSnapshot } from '../volume/snapshot-policy.js';
import { dataPlan, type DataPlan } from './data-plan.js';
import type { ServiceAction } from './types.js';
import { appendJournal, readJournal, type JournalLine } from './journal.js';
import { generationPaths, readMeta } from './store.js';

type BeginLine = Extract<JournalLine, { t: 'begin' }>;

export interface DataOptions {
  /** Snapshots before writers stop (default on; `--no-snapshot` turns them off). */
  snapshots?: boolean;
  /** A full copy however large where the file system has no cheap method (`--snapshot-copy`). */
  forceCopy?: boolean;
  /** Restore each volume from the snapshot taken when the host left the target generation (`--with-data`). */
  withData?: boolean;
  /** Where the phase says what it did as it goes (a line each), for the terminal. */
  note?: (line: string) => void;
}

export interface DataReport {
  taken: { volume: string; id: string; method: string; note: string | null }[];
  skipped: { volume: string; reason: string }[];
  restored: { volume: string; snapshot: string; replaced: string }[];
  /** With --with-data: volumes that stay as they are, and why. */
  notRestored: { volume: string; reason: string }[];
  /** Without --with-data, switching to an existing generation: the snapshots --with-data would restore. */
  restorable: { volume: string; snapshot: string }[];
  /** Services the phase stopped, with how each ended (the action that follows finds them stopped). */
  stopped: Map<string, Deactivated>;
}

export const emptyDataReport = (): DataReport => ({ taken: [], skipped: [], restored: [], notRestored: [], restorable: [], stopped: new Map() });

/** The volumes a service may write: its read-write grants (grants.json) and its /state, where the host has them. */
function writesOf(root: string, service: string, reg: GrantRegistry): string[] {
  const out = (reg.services[service] ?? []).filter((g) => !g.readOnly).map((g) => g.volume);
  const st = stateOf(layout(root), service);
  if (existsSync(st.dir) || existsSync(st.image)) out.push(`${service}/state`);
  return [...new Set(out)];
}

async function runningService(host: Host, name: string): Promise<boolean> {
  const def = readDefinition(host.root, name);
  return def !== null && (await backendFor(def.backend)).running(host, name);
}

/** The plan of the data phase for these actions, from what the host has now (grants, /state dirs, what runs). */
export async function planData(host: Host, actions: readonly ServiceAction[]): Promise<DataPlan> {
  const { readRegistry, liveness } = await import('../volume/store.js');
  const reg = readRegistry(host.root);
  const live = liveness(host.root);
  const facts = new Map<string, { writes: string[]; running: boolean }>();
  for (const a of actions) {
    if (!readDefinition(host.root, a.service)) continue;
    facts.set(a.service, { writes: writesOf(host.root, a.service, reg), running: await runningService(host, a.service) });
  }
  const writers = new Map<string, string[]>();
  for (const v of new Set([...facts.values()].flatMap((f) => f.writes))) {
    const state = /^(.+)\/state$/.exec(v);
    if (state) { writers.set(v, (await runningService(host, state[1]!)) ? [`service ${state[1]}`] : []); continue; }
    const out: string[] = [];
    for (const h of holdersOf(reg, v, live).filter((x) => !x.readOnly)) {
      if (h.run !== null) out.push(describeHolder(h));
      else if (await runningService(host, h.service)) out.push(`service ${h.service}`);
    }
    writers.set(v, [...new Set(out)]);
  }
  return dataPlan(actions, (s) => facts.get(s) ?? null, (v) => writers.get(v) ?? []);
}

/** The snapshot --with-data restores for each volume (or why none), for the target generation. */
async function restoreSources(root: string, plan: DataPlan, target: number): Promise<{ volume: string; snapshot: string | null; reason: string }[]> {
  const { snapshotsOfVolumeInfo } = await import('../volume/snapshot.js');
  return plan.volumes.map((v) => {
    const s = dataSnapshotOf(snapshotsOfVolumeInfo(root, v.volume).map((x) => ({ ...x, switch: x.switch ?? undefined })), target);
    return { volume: v.volume, snapshot: s?.id ?? null, reason: s ? '' : `no snapshot was taken when the host left generation ${target}` };
  });
}

/** What a dry run of the data phase would do: snapshots of which volumes, restores from which snapshot. */
export async function dryRunData(host: Host, actions: readonly ServiceAction[], target: number | null, opts: DataOptions): Promise<string[]> {
  const plan = await planData(host, actions);
  const lines: string[] = [];
  if (opts.snapshots !== false) {
    for (const v of plan.volumes) lines.push(`would snapshot ${v.volume}${v.others.length > 0 ? ` (if atomic: ${v.others.join(', ')} keeps writing)` : ''}`);
  }
  if (target !== null) {
    for (const r of await restoreSources(host.root, plan, target)) {
      if (!opts.withData) { if (r.snapshot) lines.push(`data of ${r.volume} stays (snapshot ${r.snapshot} exists: --with-data restores it)`); continue; }
      lines.push(r.snapshot ? `would restore ${r.volume} from snapshot ${r.snapshot}` : `would not restore ${r.volume}: ${r.reason}`);
    }
  }
  return lines;
}

/**
 * Whether the data the volumes hold now is generation `n`'s own: `n` was entered by a switch that made it, or that
 * restored its data (--with-data). A rollback without data leaves the newer generation's data in place, and a snapshot
 * taken when the host leaves `n` again holds that. Read from the finished journals (history/); with none that entered
 * `n` (adopted, or older than the history keeps), the data counts as its own.
 */
function ownData(root: string, n: number): boolean {
  const hist = generationPaths(root).history;
  let names: { name: string; mtime: number }[];
  try { names = readdirSync(hist).filter((x) => x.endsWith('.jsonl')).map((name) => ({ name, mtime: statSync(join(hist, name)).mtimeMs })); } catch { return true; }
  names.sort((a, b) => b.mtime - a.mtime || (a.name < b.name ? 1 : -1));
  for (const { name } of names) {
    let lines: JournalLine[];
    try { lines = readJournal(join(hist, name))?.lines ?? []; } catch { continue; }
    const begin = lines.find((l): l is BeginLine => l.t === 'begin');
    const committed = lines.some((l) => l.t === 'end' && l.result === 'committed');
    if (!begin || !committed || begin.to.n !== n) continue;
    return begin.created || lines.some((l) => l.t === 'data' && l.withData && lines.some((r) => r.t === 'restore' && r.phase === 'done'));
  }
  return true;
}

/**
 * The data phase. Throws (after the way back, through `goBack`) NISO6051 when a snapshot or a restore failed: a switch
 * that promised a snapshot never runs the new version without it (a skip for a reason niso states is not a failure).
 */
export async function dataPhase(host: Host, begin: BeginLine, opts: DataOptions, goBack: (reason: string) => Promise<void>): Promise<DataReport> {
  const report = emptyDataReport();
  const journal = generationPaths(host.root).journal;
  const snapshots = opts.snapshots !== false && begin.from !== null;
  const target = begin.created ? null : begin.to.n;
  if (!snapshots && target === null) return report;
  const plan = await planData(host, begin.actions);
  if (plan.volumes.length === 0) return report;
  const sources = target !== null ? await restoreSources(host.root, plan, target) : [];
  if (!opts.withData) report.restorable = sources.filter((s) => s.snapshot !== null).map((s) => ({ volume: s.volume, snapshot: s.snapshot! }));
  if (!snapshots && !opts.withData) return report;
  const say = opts.note ?? (() => undefined);
  appendJournal(journal, { t: 'data', withData: opts.withData === true, volumes: plan.volumes.map((v) => v.volume), stop: plan.stop });
  crashPoint(host.env, 'switch:data:begin');
  try {
    for (const s of plan.stop) {
      const def = readDefinition(host.root, s);
      if (def) report.stopped.set(s, await (await backendFor(def.backend)).stop(host, s));
    }
    crashPoint(host.env, 'switch:data:stopped');
    if (snapshots) await takeAll(host, begin, plan, opts, report, say);
    if (opts.withData && target !== null) await restoreAll(host, plan, sources, report, say);
  } catch (e) {
    const reason = `${isNisoError(e) ? `${e.code}: ` : ''}${(e as Error).message}`;
    appendJournal(journal, { t: 'apply-failed', i: -1, reason: `data: ${reason}` });
    await goBack(`data: ${reason}`);
    throw new NisoError('NISO6051', `the switch to generation ${begin.to.n} was undone before any service changed: ${reason}`, {
      exitCode: 1, cause: e,
      hint: '`niso explain NISO6051`; free space or fix the cause and run it again, or switch without snapshots (`--no-snapshot`)',
    });
  }
  return report;
}

async function takeAll(host: Host, begin: BeginLine, plan: DataPlan, opts: DataOptions, report: DataReport, say: (l: string) => void): Promise<void> {
  const { takeSnapshot } = await import('../volume/snapshot.js');
  const from = begin.from!.n;
  const sw: SwitchOfSnapshot = { id: begin.id, from, to: begin.to.n, kind: begin.kind, own: ownData(host.root, from) };
  let lastGood = false;
  try { lastGood = readMeta(host.root, from).status === 'good'; } catch { /* unreadable: not marked */ }
  const journal = generationPaths(host.root).journal;
  for (const [i, v] of plan.volumes.entries()) {
    let line: Extract<JournalLine, { t: 'snapshot' }>;
    try {
      const r = await takeSnapshot(host.root, v.volume, {
        generation: from, reason: `before the switch to generation ${begin.to.n}`, forceCopy: opts.forceCopy === true,
        servicesStopped: v.writers.filter((w) => report.stopped.has(w)), lastGood, switch: sw, crashEnv: host.env,
      });
      if (r.taken) {
        report.taken.push({ volume: v.volume, id: r.snapshot.id, method: r.snapshot.method ?? 'copy', note: r.note });
        // Quiet: every deactivate and upgrade takes some; `volume snapshots`, `generation list --json` and the audit log list them.
        line = { t: 'snapshot', volume: v.volume, id: r.snapshot.id, method: r.snapshot.method ?? 'copy' };
      } else {
        report.skipped.push({ volume: v.volume, reason: r.reason });
        say(`no snapshot of ${v.volume} (NISO5201): ${r.reason}; --snapshot-copy copies it anyway`);
        line = { t: 'snapshot', volume: v.volume, id: null, reason: r.reason };
      }
    } catch (e) {
      // Writers the switch does not stop (NISO5202), or a volume that is gone: stated and skipped, never a failure.
      if (!isNisoError(e) || (e.code !== 'NISO5202' && e.code !== 'NISO5002')) throw e;
      report.skipped.push({ volume: v.volume, reason: e.message });
      say(`no snapshot of ${v.volume} (${e.code}): ${e.message}`);
      line = { t: 'snapshot', volume: v.volume, id: null, reason: e.message };
    }
    appendJournal(journal, line);
    crashPoint(host.env, `switch:data:snapshot:${i}`);
  }
}

async function restoreAll(host: Host, plan: DataPlan, sources: Awaited<ReturnType<typeof restoreSources>>, report: DataReport, say: (l: string) => void): Promise<void> {
  const { restoreSnapshot } = await import('../volume/snapshot.js');
  const journal = generationPaths(host.root).journal;
  for (const [i, v] of plan.volumes.entries()) {
    const src = sources[i]!;
    if (src.snapshot === null) { report.notRestored.push({ volume: v.volume, reason: src.reason }); say(`data of ${v.volume} not restored: ${src.reason}`); continue; }
    if (v.others.length > 0) {
      const reason = `${v.others.join(', ')} writes to it and is not restarted by this switch`;
      report.notRestored.push({ volume: v.volume, reason });
      say(`data of ${v.volume} not restored: ${reason}`);
      continue;
    }
    appendJournal(journal, { t: 'restore', i, volume: v.volume, snapshot: src.snapshot, phase: 'start', at: new Date().toISOString() });
    crashPoint(host.env, `switch:data:restore:${i}:start`);
    const r = await restoreSnapshot(host.root, v.volume, src.snapshot, { crashEnv: host.env, serviceStopped: true });
    appendJournal(journal, { t: 'restore', i, volume: v.volume, snapshot: src.snapshot, phase: 'done', replaced: r.replaced });
    crashPoint(host.env, `switch:data:restore:${i}:done`);
    report.restored.push({ volume: v.volume, snapshot: src.snapshot, replaced: r.replaced });
    say(`restored ${v.volume} from snapshot ${src.snapshot}; the data it held is kept at ${r.replaced}`);
  }
}

/**
 * The way back's first step (recover.ts revert): every restore of this switch that moved live data aside is taken back,
 * newest first, after whatever holds the volume was stopped (the actions back then start what ran at the begin).
 */
export async function undoRestores(host: Host, journal: string): Promise<void> {
  const lines = readJournal(journal)?.lines ?? [];
  const undone = new Set(lines.filter((l): l is Extract<JournalLine, { t: 'restore-undone' }> => l.t === 'restore-undone').map((l) => l.i));
  const starts = lines.filter((l): l is Extract<JournalLine, { t: 'restore'; phase: 'start' }> => l.t === 'restore' && l.phase === 'start' && !undone.has(l.i));
  if (starts.length === 0) return;
  const { undoRestore } = await import('../volume/snapshot.js');
  const { readRegistry, liveness } = await import('../volume/store.js');
  for (const s of starts.reverse()) {
    const done = lines.find((l): l is Extract<JournalLine, { t: 'restore'; phase: 'done' }> => l.t === 'restore' && l.phase === 'done' && l.i === s.i);
    const state = /^(.+)\/state$/.exec(s.volume);
    const holders = state ? [state[1]!] : holdersOf(readRegistry(host.root), s.volume, liveness(host.root)).filter((h) => h.run === null).map((h) => h.service);
    for (const h of new Set(holders)) {
      const def = readDefinition(host.root, h);
      if (def && (await backendFor(def.backend)).running(host, h)) await (await backendFor(def.backend)).stop(host, h);
    }
    await undoRestore(host.root, s.volume, s.snapshot, new Date(s.at), done?.replaced);
    appendJournal(journal, { t: 'restore-undone', i: s.i });
  }
}
