// `niso volume snapshot NAME`, `snapshots [NAME]`, `snapshot-restore NAME SNAPSHOT --yes`, `snapshot-rm NAME SNAPSHOT...`:
// the same functions a generation switch calls (src/volume/snapshot.ts), for users.
import { NisoError } from '../../errors/niso-error.js';
import { printable } from '../../errors/render.js';
import { formatDuration, formatSize } from '../../manifest/units.js';
import type { Context } from '../context.js';
import { printJson, relativeTime } from '../output.js';
import { audited } from '../../audit/host/log.js';

const hostOf = (ctx: Context) => ({ root: ctx.root, env: ctx.env as NodeJS.ProcessEnv, entry: ctx.entry ?? process.argv[1]! });

export async function take(ctx: Context, name: string, opts: { copy?: boolean; stop?: boolean; keep?: string; json?: boolean }): Promise<void> {
  const [{ takeSnapshot, takeSnapshotStopping, setKeep }, { parseKeep }] = await Promise.all([import('../../volume/snapshot.js'), import('../../volume/snapshot-policy.js')]);
  const keep = opts.keep === undefined ? undefined : parseKeep(opts.keep);
  const { parseVolumeName } = await import('../../volume/names.js');
  parseVolumeName(name);
  const o = { forceCopy: opts.copy === true, keep };
  const r = await audited(ctx.root, 'volume.snapshot', { target: name }, async () => (opts.stop ? takeSnapshotStopping(hostOf(ctx), name, o) : { ...(await takeSnapshot(ctx.root, name, o)), downtimeMs: null }),
    (x) => (x.taken ? { details: { id: x.snapshot.id, method: x.snapshot.method, bytes: x.snapshot.bytes, stopped: x.snapshot.servicesStopped } } : { result: 'failed', reason: x.reason }));
  if (keep !== undefined && r.taken) await setKeep(ctx.root, name, keep);
  if (!r.taken) {
    if (opts.json) { printJson(ctx, r); ctx.exitCode = 1; return; }
    throw new NisoError('NISO5201', `no snapshot of ${name}: ${r.reason}`, { exitCode: 1, hint: `\`niso volume snapshot ${name} --copy\` copies it anyway; \`niso explain NISO5201\`` });
  }
  if (opts.json) return printJson(ctx, r);
  const s = r.snapshot;
  ctx.stdout.write(`${s.id}\n`);
  ctx.stderr.write(`snapshot of ${name}: ${s.method}${s.method === 'subvolume' ? ' (atomic)' : ''}, ${s.bytes === null ? '-' : formatSize(s.bytes)}, in ${formatDuration(Math.round(r.ms))}\n`);
  if (r.note) ctx.stderr.write(`note: ${r.note}\n`);
  if (s.servicesStopped.length > 0) ctx.stderr.write(`${s.servicesStopped.join(', ')} ${s.servicesStopped.length > 1 ? 'were' : 'was'} stopped for it and started again: down ${formatDuration(Math.round(r.downtimeMs ?? 0))}\n`);
  if (r.pruned.length > 0) ctx.stderr.write(`removed by retention: ${r.pruned.join(', ')}\n`);
}

export async function list(ctx: Context, name: string | undefined, opts: { json?: boolean }): Promise<void> {
  const { listSnapshots } = await import('../../volume/snapshot.js');
  const all = listSnapshots(ctx.root, name);
  if (opts.json) return printJson(ctx, all);
  if (all.length === 0) { ctx.stdout.write(`no snapshots${name ? ` of ${name}` : ''} (\`niso volume snapshot NAME\` takes one)\n`); return; }
  const { printTable } = await import('../table.js');
  const now = new Date();
  printTable(ctx.stdout, ['volume', 'snapshot', 'method', 'size', 'taken', 'generation', 'note'], all.map((s) => [
    s.volume, s.id, s.kind === 'replaced' ? 'replaced' : s.method!, s.bytes === null ? '-' : formatSize(s.bytes), relativeTime(new Date(s.takenAt), now),
    s.generation === null ? '-' : String(s.generation),
    s.kind === 'replaced' ? 'live data a restore moved aside' : [s.lastGood ? 'last good' : '', s.servicesStopped.length > 0 ? `stopped: ${s.servicesStopped.join(', ')}` : '', s.reason === 'taken by hand' ? '' : printable(s.reason)].filter(Boolean).join('; ') || '-',
  ]));
}

export async function restore(ctx: Context, name: string, snapshot: string, opts: { yes?: boolean; json?: boolean }): Promise<void> {
  const { parseSnapshotRef } = await import('../../volume/snapshot-policy.js');
  parseSnapshotRef(snapshot);
  if (!opts.yes) {
    throw new NisoError('NISO5207', `restoring ${snapshot} replaces what ${name} holds now`, { exitCode: 2, hint: `the live data is moved aside, not deleted; pass --yes to go ahead: \`niso volume snapshot-restore ${name} ${snapshot} --yes\`` });
  }
  const { restoreSnapshot } = await import('../../volume/snapshot.js');
  const r = await audited(ctx.root, 'volume.snapshot-restore', { target: name, details: { snapshot } }, () => restoreSnapshot(ctx.root, name, snapshot));
  if (opts.json) return printJson(ctx, r);
  ctx.stdout.write(`restored ${name} from ${r.snapshot} (${r.method}, ${formatDuration(Math.round(r.ms))}); the data it held is kept at ${r.replaced}\n`);
}

export async function remove(ctx: Context, name: string, snapshots: string[], opts: { json?: boolean }): Promise<void> {
  const [{ removeSnapshot }, { parseSnapshotRef }] = await Promise.all([import('../../volume/snapshot.js'), import('../../volume/snapshot-policy.js')]);
  for (const s of snapshots) parseSnapshotRef(s);
  const removed: string[] = [];
  for (const s of snapshots) { await audited(ctx.root, 'volume.snapshot-rm', { target: name, details: { snapshot: s } }, () => removeSnapshot(ctx.root, name, s)); removed.push(s); }
  if (opts.json) return printJson(ctx, { volume: name, removed });
  for (const s of removed) ctx.stdout.write(`${s}\n`);
}
