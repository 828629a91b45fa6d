// `niso rollback [--to N]` and `niso switch N`, and what every changing verb shares about a switch: its options
// (--dry-run, --no-gate, --settle), its dry-run report, and the exit status 3 when the gate took the host back.
import { NisoError } from '../../errors/niso-error.js';
import { parseDuration } from '../../manifest/units.js';
import type { SwitchOptions, SwitchResult } from '../../generation/switch.js';
import type { Generation } from '../../generation/store.js';
import type { ServiceAction } from '../../generation/types.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { hostOf } from './host-of.js';
import type { AuditFields } from '../../audit/entry.js';

export interface SwitchFlags { dryRun?: boolean; gate?: boolean; settle?: string; json?: boolean; snapshot?: boolean; snapshotCopy?: boolean; withData?: boolean }

export function switchOptions(ctx: Context, flags: SwitchFlags): SwitchOptions {
  let settleMs: number | undefined;
  if (flags.settle !== undefined) {
    const r = parseDuration(flags.settle);
    if (!r.ok) throw new NisoError('NISO9001', `--settle ${flags.settle}: ${r.message}`, { exitCode: 2, hint: r.hint });
    settleMs = r.value;
  }
  const data = {
    snapshots: flags.snapshot !== false, forceCopy: flags.snapshotCopy === true, withData: flags.withData === true,
    note: (line: string) => { ctx.stderr.write(`${line}\n`); },
  };
  return { command: ctx.command ?? ['niso'], dryRun: flags.dryRun === true, gate: flags.gate !== false, data, ...(settleMs !== undefined ? { settleMs } : {}) };
}

const VERB: Record<ServiceAction['kind'], string> = {
  keep: 'keep', update: 'update', ports: 'update the ports of', replace: 'restart', start: 'start', stop: 'stop', add: 'start', remove: 'stop and remove',
};

/** One action as a dry run says it: "would restart app (package 1.0.0 → 2.0.0)". */
async function dryLine(a: ServiceAction): Promise<string> {
  const { describeAction } = await import('../../generation/diff.js');
  const text = describeAction(a);
  const detail = text.slice(text.indexOf(a.service) + a.service.length);
  const verb = a.kind === 'add' && !a.to?.active ? 'add' : VERB[a.kind];
  return `${a.kind === 'keep' ? '' : 'would '}${verb} ${a.service}${detail}`;
}

const actionJson = (a: ServiceAction) => ({ kind: a.kind, service: a.service, changed: a.changed, from: a.from?.package ?? null, to: a.to?.package ?? null });

/** What a dry run prints: each action (keeps included, so that what stays untouched is said too). */
export async function printDryRun(ctx: Context, r: SwitchResult, json: boolean): Promise<void> {
  if (json) return printJson(ctx, { dryRun: true, from: r.from, to: r.to, actions: r.actions.map(actionJson), data: r.dryData ?? [] });
  if (r.status === 'noop') { ctx.stdout.write('nothing to change\n'); return; }
  for (const a of r.actions) ctx.stdout.write(`${await dryLine(a)}\n`);
  for (const l of r.dryData ?? []) ctx.stdout.write(`${l}\n`);
}

/** What the data phase did, as --json has it. */
const dataJson = (r: SwitchResult) => {
  const d = r.data;
  return d ? { taken: d.taken, skipped: d.skipped, restored: d.restored, notRestored: d.notRestored, restorable: d.restorable } : null;
};

/** What a verb's audit entry says of its switch: the generations it moved between and what it did to each service. */
export function switchFields(r: SwitchResult): AuditFields {
  return withSwitch({}, r);
}

/** `fields` with the switch's part added (details merged). */
export function withSwitch(fields: AuditFields, r: SwitchResult): AuditFields {
  return {
    ...fields,
    ...(r.from !== null ? { from: { gen: r.from } } : {}),
    ...(r.to !== null ? { to: { gen: r.to } } : {}),
    details: {
      ...fields.details, switch: r.status, actions: r.actions.filter((a) => a.kind !== 'keep').map((a) => `${a.kind} ${a.service}`),
      // Which snapshots belong to this switch (and which volumes it restored), so that they can be found from the log.
      ...(r.data && (r.data.taken.length + r.data.skipped.length + r.data.restored.length) > 0 ? {
        snapshots: r.data.taken.map((t) => `${t.volume}@${t.id}`), snapshotsSkipped: r.data.skipped.map((t) => t.volume),
        restored: r.data.restored.map((t) => `${t.volume}@${t.snapshot}`),
      } : {}),
    },
  };
}

/** The gate took the host back: exit 3, with the reason. */
export function gateRefused(r: SwitchResult): NisoError {
  return new NisoError('NISO6034', `the switch to generation ${r.to} was rolled back: ${r.reason}`, {
    exitCode: 3, hint: `the host runs generation ${r.from ?? '(none)'} again; \`niso debug ${/^([^:]+):/.exec(r.reason ?? '')?.[1] ?? 'SERVICE'}\` shows why; --no-gate skips the check`,
  });
}

/** A refused gate as the error it is (exit 3), so that the audit entry records it as failed with its reason. */
async function gated(p: Promise<SwitchResult>): Promise<SwitchResult> {
  const r = await p;
  if (r.status === 'reverted') throw gateRefused(r);
  return r;
}

/** A switch's outcome as rollback and switch print it. */
async function report(ctx: Context, r: SwitchResult, json: boolean, verb: 'rollback' | 'switch'): Promise<void> {
  if (r.status === 'dry-run') return printDryRun(ctx, r, json);
  if (r.status === 'reverted') throw gateRefused(r);
  if (json) return printJson(ctx, { status: r.status, from: r.from, to: r.to, actions: r.actions.filter((a) => a.kind !== 'keep').map(actionJson), data: dataJson(r) });
  if (r.status === 'noop') { ctx.stdout.write(`nothing to change: generation ${r.to} is current\n`); return; }
  const done = r.actions.filter((a) => a.kind !== 'keep');
  ctx.stdout.write(`generation ${r.to} is current (was ${r.from ?? 'none'})${done.length > 0 ? `: ${done.map((a) => `${a.kind} ${a.service}`).join(', ')}` : ''}\n`);
  const restorable = r.data?.restorable ?? [];
  if (restorable.length > 0) {
    ctx.stderr.write(`note: data was not ${verb === 'rollback' ? 'rolled back' : 'switched'}; snapshots of generation ${r.to} exist (${restorable.map((x) => `${x.volume}: ${x.snapshot}`).join(', ')}): use --with-data to restore them\n`);
  }
}

/** The newest generation before the current one whose status is good. */
function previousGood(current: Generation | null, metas: { number: number; status: string }[]): number {
  const cur = current?.meta.number ?? null;
  const pick = metas.filter((m) => m.status === 'good' && cur !== null && m.number < cur).at(-1);
  if (!pick) {
    throw new NisoError('NISO6035', cur === null ? 'there is no generation to roll back from' : `there is no good generation before generation ${cur}`, {
      hint: '`niso generation list` shows the generations; `niso switch N` switches to any of them',
    });
  }
  return pick.number;
}

function parseNumber(text: string, what: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(text)) throw new NisoError('NISO6006', `${what} ${text}: a generation is named by its number, as \`niso generation list\` shows it`, { exitCode: 2 });
  return Number(text);
}

export async function rollback(ctx: Context, flags: SwitchFlags & { to?: string }): Promise<void> {
  const { audited } = await import('../../audit/host/log.js');
  const [{ switchGeneration }, { listGenerations, readMeta }] = await Promise.all([import('../../generation/switch.js'), import('../../generation/store.js')]);
  const to = flags.to !== undefined ? parseNumber(flags.to, '--to') : null;
  const r = await audited(ctx.root, 'switch.rollback', flags.dryRun ? null : {}, () => gated(switchGeneration(hostOf(ctx), {
    kind: 'generation', rollback: true,
    pick: (current) => {
      if (to !== null) { readMeta(ctx.root, to); return to; }
      return previousGood(current, listGenerations(ctx.root));
    },
  }, switchOptions(ctx, flags))), switchFields);
  await report(ctx, r, flags.json === true, 'rollback');
}

export async function switchTo(ctx: Context, n: string, flags: SwitchFlags): Promise<void> {
  const { audited } = await import('../../audit/host/log.js');
  const [{ switchGeneration }, { readMeta }] = await Promise.all([import('../../generation/switch.js'), import('../../generation/store.js')]);
  const number = parseNumber(n, 'generation');
  const r = await audited(ctx.root, 'switch.commit', flags.dryRun ? null : {}, () => gated(switchGeneration(hostOf(ctx), { kind: 'generation', rollback: false, pick: () => { readMeta(ctx.root, number); return number; } }, switchOptions(ctx, flags))), switchFields);
  await report(ctx, r, flags.json === true, 'switch');
}
