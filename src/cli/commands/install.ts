// `niso install FILE.niso [--replace]`
import { resolve } from 'node:path';
import { formatSize } from '../../manifest/units.js';
import { readInstallLimits } from '../../store/host-config.js';
import { installPackage, type InstallResult } from '../../store/install.js';
import { layout } from '../../store/layout.js';
import { shortDigest } from '../../store/resolve.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { progressBar } from '../progress.js';
import { audit } from '../../audit/host/log.js';

interface Replaced { digest: string; removed: boolean; usedBy: string[]; keptForGenerations?: number[] }

/**
 * --replace: the earlier builds of this name and version go, except those a service is defined
 * to run (it would lose its files, as with `niso remove`); they stay until the service changes.
 * So do those a retained generation names (a rollback needs them), until retention lets them go.
 */
async function replaceOthers(ctx: Context, r: InstallResult): Promise<{ replaced: Replaced[]; freedBytes: number }> {
  if (r.otherBuilds.length === 0) return { replaced: [], freedBytes: 0 };
  const { servicesUsing } = await import('../../service/store.js');
  const { packagesKeptForGenerations } = await import('./generation.js');
  const kept = await packagesKeptForGenerations(ctx.root);
  const replaced = r.otherBuilds.map((p) => ({ pkg: p, usedBy: servicesUsing(ctx.root, p.digest), generations: kept.get(p.digest) ?? [] }));
  const stays = (x: (typeof replaced)[number]) => x.usedBy.length > 0 || x.generations.length > 0;
  const unused = replaced.filter((x) => !stays(x)).map((x) => x.pkg);
  const { removePackages } = await import('../../store/remove.js');
  const freed = unused.length > 0 ? (await removePackages(ctx.root, unused)).freedBytes : 0;
  return { replaced: replaced.map((x) => ({ digest: x.pkg.digest, removed: !stays(x), usedBy: x.usedBy, ...(x.generations.length > 0 ? { keptForGenerations: x.generations } : {}) })), freedBytes: freed };
}

export async function run(ctx: Context, file: string, opts: { maxSize?: string; maxFiles?: string; replace?: boolean; insecureSkipVerify?: boolean; json?: boolean }): Promise<void> {
  const limits = await readInstallLimits(layout(ctx.root).config, opts);
  const path = resolve(ctx.cwd, file);
  // A trust policy with a "file:" scope asks local packages for a signature too (registry/host/local.ts).
  const { verifyLocalPackage } = await import('../../registry/host/local.js');
  const { verification, checkHead } = await verifyLocalPackage(ctx.root, path, opts.insecureSkipVerify === true);
  if (verification.status === 'skipped') {
    ctx.stderr.write(`niso: WARNING: --insecure-skip-verify: the signature of ${file} is not checked\n`);
    await audit(ctx.root, 'verify.skip', { target: path, result: 'ok', details: { scope: verification.scope } });
  }
  const bar = progressBar(ctx, 'installing', opts.json);
  const r = await installPackage(ctx.root, path, limits, { otherBuilds: opts.replace ? 'keep' : 'refuse', onProgress: (d, t) => bar.update(d, t), checkHead }).finally(() => bar.stop());
  if (verification.status === 'verified' && !opts.json) ctx.stdout.write(`verified: signed by ${verification.keyid} (trust policy scope file:)\n`);
  const { replaced, freedBytes } = opts.replace ? await replaceOthers(ctx, r) : { replaced: [], freedBytes: 0 };
  const { otherBuilds: _others, ...result } = r;
  if (opts.json) return printJson(ctx, { ...result, replaced });
  if (r.alreadyInstalled) ctx.stdout.write(`${r.name} ${r.version} is already installed (${r.digest})\n`);
  else {
    const shared = r.bytes - r.newBytes;
    ctx.stdout.write(`installed ${r.name} ${r.version} (${r.arch}): ${r.files} files, ${formatSize(r.bytes)}${shared > 0 ? ` (${formatSize(shared)} deduplicated: already in the store or repeated in the package)` : ''}\n${r.digest}\n${r.path}\n`);
  }
  const removed = replaced.filter((x) => x.removed).map((x) => shortDigest(x.digest));
  if (removed.length > 0) ctx.stdout.write(`replaced the earlier build${removed.length > 1 ? 's' : ''} ${removed.join(', ')} of ${r.name} ${r.version} (removed, freeing ${formatSize(freedBytes)})\n`);
  for (const x of replaced) {
    if (!x.removed && x.usedBy.length === 0) {
      const g = x.keptForGenerations ?? [];
      ctx.stdout.write(`the earlier build ${shortDigest(x.digest)} of ${r.name} ${r.version} stays for generation${g.length > 1 ? 's' : ''} ${g.join(', ')} (a rollback needs it) until retention lets ${g.length > 1 ? 'them' : 'it'} go\n`);
      continue;
    }
    if (!x.removed) ctx.stdout.write(`the earlier build ${shortDigest(x.digest)} of ${r.name} ${r.version} stays while service${x.usedBy.length > 1 ? 's' : ''} ${x.usedBy.join(', ')} use${x.usedBy.length > 1 ? '' : 's'} it; \`niso deactivate ${x.usedBy[0]} && niso activate ${r.name}:${r.version} --name ${x.usedBy[0]}\` switches ${x.usedBy.length > 1 ? 'one' : 'it'} to this build\n`);
  }
}
