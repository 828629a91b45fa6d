// `niso remove NAME[:VERSION]...`
import { NisoError } from '../../errors/niso-error.js';
import { formatSize } from '../../manifest/units.js';
import { removePackages } from '../../store/remove.js';
import { listInstalled, matchRef, parseRef, resolveOne, type InstalledPackage } from '../../store/query.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

export async function run(ctx: Context, refs: string[], opts: { allVersions?: boolean; json?: boolean }): Promise<void> {
  const chosen = new Map<string, InstalledPackage>();
  for (const ref of refs) {
    const all = await listInstalled(ctx.root);
    const hits = matchRef(all, ref);
    const { version } = parseRef(ref);
    if (hits.length > 1 && version === undefined && !opts.allVersions && hits.every((h) => h.name === hits[0]!.name)) {
      throw new NisoError('NISO2202', `${ref} has ${hits.length} installed versions: ${hits.map((h) => h.version).join(', ')}`, { exitCode: 2, hint: `name one (${ref}:${hits[0]!.version}) or pass --all-versions` });
    }
    const pkgs = hits.length > 1 && opts.allVersions ? hits : [await resolveOne(ctx.root, ref)];
    for (const p of pkgs) chosen.set(p.path, p);
  }
  const r = await removePackages(ctx.root, [...chosen.values()]);
  if (opts.json) return printJson(ctx, r);
  for (const p of r.removed) ctx.stdout.write(`removed ${p.name} ${p.version} (${p.digest})\n`);
  ctx.stdout.write(`freed ${formatSize(r.freedBytes)} (${r.freedFiles} files not shared with other packages)\n`);
}
