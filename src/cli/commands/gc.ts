// `niso gc`
import { formatSize } from '../../manifest/units.js';
import { compactRanges } from '../../generation/store.js';
import { collectGarbage } from '../../store/remove.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { audited } from '../../audit/host/log.js';
import { gcFields, orphansFields } from '../../audit/fields.js';

export async function run(ctx: Context, opts: { dryRun?: boolean; volumes?: boolean; json?: boolean }): Promise<void> {
  // Generations first: those retention drops stop being GC roots (of `niso remove`) and their objects go.
  const { pruneByRetention } = await import('./generation.js');
  const g = await pruneByRetention(ctx.root, opts.dryRun === true);
  const r = await audited(ctx.root, 'gc', opts.dryRun ? null : {}, () => collectGarbage(ctx.root, opts.dryRun), gcFields);
  // Data of removed services is reported, and deleted only when asked: it is the one thing gc cannot take back.
  const { collectOrphans } = await import('../../volume/orphans.js');
  const o = await audited(ctx.root, 'volume.prune', opts.volumes === true && opts.dryRun !== true ? {} : null, () => collectOrphans(ctx.root, { delete: opts.volumes === true && opts.dryRun !== true, dryRun: opts.dryRun === true }), orphansFields);
  if (opts.json) return printJson(ctx, { ...r, orphans: o.orphans, orphansDeleted: o.deleted, leftovers: o.leftovers, generations: { removed: g.removed, objects: g.objects.length } });
  const verb = r.dryRun ? 'would free' : 'freed';
  ctx.stdout.write(`${verb} ${formatSize(r.freedBytes)} in ${r.freedFiles} unused files${r.sweptTmp.length ? `; ${r.dryRun ? 'would remove' : 'removed'} ${r.sweptTmp.length} leftovers of interrupted operations` : ''}\n`);
  if (g.removed.length > 0) ctx.stdout.write(`${r.dryRun ? 'would remove' : 'removed'} generation${g.removed.length > 1 ? 's' : ''} ${compactRanges(g.removed)}, which retention no longer keeps\n`);
  if (o.leftovers.length > 0) ctx.stdout.write(`${r.dryRun ? 'would remove' : 'removed'} ${o.leftovers.length} leftovers of interrupted volume operations\n`);
  if (o.orphans.length === 0) return;
  const total = formatSize(o.orphans.reduce((n, v) => n + (v.sizeBytes ?? 0), 0));
  const list = o.orphans.map((v) => `  ${v.name} (${v.kind === 'state' ? '/state' : 'own volume'}, ${v.sizeBytes === null ? 'size unknown' : formatSize(v.sizeBytes)})\n`).join('');
  if (o.deleted) ctx.stdout.write(`deleted the data of services that no longer exist, ${total}:\n${list}`);
  else ctx.stdout.write(`data of services that no longer exist, ${total}, kept:\n${list}${opts.dryRun ? '' : '`niso gc --volumes` deletes it (or `niso volume rm NAME` one by one)\n'}`);
  for (const s of o.skipped) ctx.stderr.write(`niso: kept ${s.name}: ${s.reason}\n`);
}
