// `niso install FILE.niso`
import { resolve } from 'node:path';
import { formatSize } from '../../manifest/units.js';
import { readInstallLimits } from '../../store/host-config.js';
import { installPackage } from '../../store/install.js';
import { layout } from '../../store/layout.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { progressBar } from '../progress.js';

export async function run(ctx: Context, file: string, opts: { maxSize?: string; maxFiles?: string; json?: boolean }): Promise<void> {
  const limits = await readInstallLimits(layout(ctx.root).config, opts);
  const bar = progressBar(ctx, 'installing', opts.json);
  const r = await installPackage(ctx.root, resolve(ctx.cwd, file), limits, { onProgress: (d, t) => bar.update(d, t) }).finally(() => bar.stop());
  if (opts.json) return printJson(ctx, r);
  if (r.alreadyInstalled) {
    ctx.stdout.write(`${r.name} ${r.version} is already installed (${r.digest})\n`);
    return;
  }
  const shared = r.bytes - r.newBytes;
  ctx.stdout.write(`installed ${r.name} ${r.version} (${r.arch}): ${r.files} files, ${formatSize(r.bytes)}${shared > 0 ? ` (${formatSize(shared)} deduplicated: already in the store or repeated in the package)` : ''}\n${r.digest}\n${r.path}\n`);
}
