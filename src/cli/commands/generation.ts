// `niso generation list|diff|gc|rm`: the host's generations, as `nix-env --list-generations` and
// `--delete-generations` show and forget a profile's. The store (generation/store.ts) does the work.
import { NisoError } from '../../errors/niso-error.js';
import { describeActions, diffGenerations } from '../../generation/diff.js';
import {
  adoptInstalled, compactRanges, currentNumber, deleteGenerations, generationNumbers, listGenerations, pruneGenerations, readGeneration,
  retainedPackages, withSwitchLock, type Actor, type Generation, type PruneResult,
} from '../../generation/store.js';
import type { GenerationService, ServiceAction } from '../../generation/types.js';
import { listServiceNames } from '../../service/store.js';
import type { Context } from '../context.js';
import { printJson, relativeTime } from '../output.js';
import { printTable } from '../table.js';

const HIDDEN = '<hidden>';

/**
 * A host that has services but no generation yet gets generation 1 from them (adoption) at its first listing. Only
 * then is the switch lock taken, so that listing never waits for a switch under way.
 */
async function adoptIfNeeded(ctx: Context): Promise<void> {
  if (currentNumber(ctx.root) !== null || listServiceNames(ctx.root).length === 0) return;
  const { actorOf } = await import('../../generation/store.js');
  await withSwitchLock(ctx.root, async () => { adoptInstalled(ctx.root, { actor: actorOf(ctx.env) }); });
}

/** "ana (sudo) from 203.0.113.7", "root", "uid 1000". */
function who(a: Actor): string {
  const name = a.sudoUser !== null ? `${a.sudoUser} (sudo)` : a.user ?? `uid ${a.uid}`;
  return a.ssh !== null ? `${name} from ${a.ssh.split(' ')[0]}` : name;
}

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** `niso __recover` (niso-recover.service at boot, render/systemd-recover.ts): settles an interrupted switch, says what it did. */
export async function recoverNow(ctx: Context): Promise<void> {
  const [{ recoverIfNeeded }, { hostOf }] = await Promise.all([import('../../generation/switch.js'), import('./host-of.js')]);
  const r = await recoverIfNeeded(hostOf(ctx));
  if (r === null) { ctx.stdout.write('no interrupted switch to settle\n'); return; }
  const did = r.actions.filter((a) => a.kind !== 'keep').map((a) => `${a.kind} ${a.service}`).join(', ') || 'nothing to change';
  ctx.stdout.write(r.outcome === 'committed'
    ? `the interrupted switch to generation ${r.to} had committed: finished (${did})\n`
    : `the interrupted switch to generation ${r.to} was undone: generation ${r.from ?? '(none)'} runs again (${did})\n`);
}

export async function list(ctx: Context, opts: { json?: boolean }): Promise<void> {
  // A switch a killed niso left is settled first (a stat when there is none), so that its outcome is what is listed.
  const [{ recoverIfNeeded }, { hostOf }] = await Promise.all([import('../../generation/switch.js'), import('./host-of.js')]);
  await recoverIfNeeded(hostOf(ctx));
  await adoptIfNeeded(ctx);
  const metas = listGenerations(ctx.root);
  const current = currentNumber(ctx.root);
  if (opts.json) {
    // The snapshots switches took when the host left each generation (its data), found by their meta.json.
    const { listSnapshots } = await import('../../volume/snapshot.js');
    const taken = listSnapshots(ctx.root).filter((s) => s.kind === 'snapshot' && s.switch !== null);
    const of = (n: number) => taken.filter((s) => s.generation === n).map((s) => ({
      volume: s.volume, id: s.id, method: s.method, bytes: s.bytes, takenAt: s.takenAt, switchId: s.switch!.id, to: s.switch!.to, ownData: s.switch!.own,
    }));
    return printJson(ctx, metas.map((m) => ({ ...m, current: m.number === current, snapshots: of(m.number) })));
  }
  if (metas.length === 0) { ctx.stdout.write('no generations yet: the first `niso activate` makes one\n'); return; }
  const now = new Date();
  printTable(ctx.stdout, ['gen', 'created', 'status', 'current', 'by', 'summary'], metas.map((m) => [
    m.number, relativeTime(new Date(m.createdAt), now), m.status, m.number === current ? '*' : '', who(m.actor),
    cut([m.summary.join('; ') || (m.command[0] === 'adopted' ? 'adopted' : '-'), ...(m.reason ? [`(${m.reason})`] : [])].join(' '), 100),
  ]));
}

/** A generation by number (as listed) or `current`. */
function parseGenerationRef(ctx: Context, ref: string): number {
  if (ref === 'current') {
    const n = currentNumber(ctx.root);
    if (n === null) throw new NisoError('NISO6005', 'there is no current generation yet', { hint: '`niso generation list` makes generation 1 from the services there are' });
    return n;
  }
  if (!/^[1-9][0-9]{0,15}$/.test(ref)) throw new NisoError('NISO6006', `"${ref}" is not a generation: give its number (as \`niso generation list\` shows it) or "current"`, { exitCode: 2 });
  return Number(ref);
}

/** An entry as --json shows it: the names of its environment, never the values. */
function redacted(s: GenerationService | null): GenerationService | null {
  if (s === null || s.options.env === undefined) return s;
  return { ...s, options: { ...s.options, env: Object.fromEntries(Object.keys(s.options.env).map((k) => [k, HIDDEN])) } };
}

const ref = (g: Generation) => ({ number: g.meta.number, hash: g.meta.hash, createdAt: g.meta.createdAt, status: g.meta.status });

export async function diff(ctx: Context, a: string, b: string, opts: { json?: boolean }): Promise<void> {
  await adoptIfNeeded(ctx);
  const from = readGeneration(ctx.root, parseGenerationRef(ctx, a));
  const to = readGeneration(ctx.root, parseGenerationRef(ctx, b));
  const actions: ServiceAction[] = diffGenerations(from.content, to.content);
  if (opts.json) {
    return printJson(ctx, { from: ref(from), to: ref(to), actions: actions.map((x) => ({ ...x, from: redacted(x.from), to: redacted(x.to) })) });
  }
  ctx.stdout.write(`generation ${from.meta.number} → ${to.meta.number}${from.meta.hash === to.meta.hash ? ': the same services' : ''}\n`);
  const lines = describeActions(actions.filter((x) => x.kind !== 'keep'));
  for (const l of lines) ctx.stdout.write(`  ${l}\n`);
  const kept = actions.filter((x) => x.kind === 'keep').map((x) => x.service);
  if (kept.length > 0) ctx.stdout.write(`  unchanged: ${kept.join(', ')}\n`);
  if (actions.length === 0) ctx.stdout.write('  (no services in either)\n');
}

function reportPrune(ctx: Context, r: PruneResult, nothing: string): void {
  const would = r.dryRun ? 'would remove' : 'removed';
  if (r.removed.length === 0 && r.objects.length === 0 && r.configs.length === 0 && r.leftovers.length === 0) { ctx.stdout.write(`${nothing}\n`); return; }
  if (r.removed.length > 0) ctx.stdout.write(`${would} generation${r.removed.length > 1 ? 's' : ''} ${compactRanges(r.removed)}\n`);
  if (r.objects.length > 0) ctx.stdout.write(`${would} ${r.objects.length} content object${r.objects.length > 1 ? 's' : ''} no generation names any more\n`);
  if (r.configs.length > 0) ctx.stdout.write(`${would} ${r.configs.length} config file cop${r.configs.length > 1 ? 'ies' : 'y'} no generation or service names any more\n`);
  if (r.leftovers.length > 0) ctx.stdout.write(`${would} ${r.leftovers.length} leftover${r.leftovers.length > 1 ? 's' : ''} of interrupted writes\n`);
}

/** Prunes by the retention policy; also run by `niso gc`. Nothing to do (and no lock) on a host without generations. */
export async function pruneByRetention(root: string, dryRun: boolean): Promise<PruneResult> {
  const { generationPaths } = await import('../../generation/store.js');
  const { existsSync } = await import('node:fs');
  if (!existsSync(generationPaths(root).dir)) return { removed: [], objects: [], configs: [], leftovers: [], dryRun };
  return withSwitchLock(root, () => pruneGenerations(root, { dryRun }));
}

export async function gc(ctx: Context, opts: { dryRun?: boolean; json?: boolean }): Promise<void> {
  const r = await pruneByRetention(ctx.root, opts.dryRun === true);
  if (opts.json) return printJson(ctx, r);
  reportPrune(ctx, r, generationNumbers(ctx.root).length === 0 ? 'no generations yet' : 'no generation to remove: retention keeps every one (the current one, the newest, those younger than the bound)');
}

export async function remove(ctx: Context, refs: string[], opts: { json?: boolean }): Promise<void> {
  const numbers = refs.map((x) => parseGenerationRef(ctx, x));
  const r = await withSwitchLock(ctx.root, async () => deleteGenerations(ctx.root, numbers));
  if (opts.json) return printJson(ctx, r);
  reportPrune(ctx, r, 'nothing removed');
}

/**
 * GC roots for `niso remove` and `install --replace`: package digest → the retained generations that name it. A host
 * without generations pays one readdir.
 */
export async function packagesKeptForGenerations(root: string): Promise<Map<string, number[]>> {
  if (generationNumbers(root).length === 0) return new Map();
  return retainedPackages(root, new Date());
}
