// `niso gc`
import { formatSize } from '../../manifest/units.js';
import { collectGarbage } from '../../store/remove.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

export async function run(ctx: Context, opts: { dryRun?: boolean; json?: boolean }): Promise<void> {
  const r = await collectGarbage(ctx.root, opts.dryRun);
  if (opts.json) return printJson(ctx, r);
  const verb = r.dryRun ? 'would free' : 'freed';
  ctx.stdout.write(`${verb} ${formatSize(r.freedBytes)} in ${r.freedFiles} unused files${r.sweptTmp.length ? `; ${r.dryRun ? 'would remove' : 'removed'} ${r.sweptTmp.length} leftovers of interrupted operations` : ''}\n`);
}
