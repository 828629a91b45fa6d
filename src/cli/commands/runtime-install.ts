// `niso runtime install nodejs:22`: put an official runtime into niso's store, so that apps can
// ask for a version the host does not have.
import { join } from 'node:path';
import { formatSize } from '../../manifest/units.js';
import { installRuntime } from '../../runtime/install.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { progressBar } from '../progress.js';

export async function run(ctx: Context, spec: string, opts: { json?: boolean }): Promise<void> {
  const bar = progressBar(ctx, 'downloading', opts.json, 1024 * 1024);
  const say = (s: string) => { if (!opts.json) ctx.stderr.write(s); };
  const r = await installRuntime(ctx.root, spec, {
    env: ctx.env,
    onStart: (d) => say(d.cached ? `using ${d.version} from the download cache (${formatSize(d.bytes ?? 0)}, integrity checked)\n` : `downloading ${spec.split(':')[0]} ${d.version} from ${d.tarball}\n`),
    onProgress: (done, total) => bar.update(done, total),
  }).finally(() => bar.stop());
  const { runtime } = r;
  const binary = join(runtime.path, runtime.binary);
  if (opts.json) {
    return printJson(ctx, {
      name: runtime.name, version: runtime.version, digest: runtime.digest, integrity: runtime.integrity, source: 'installed',
      origin: runtime.origin, path: runtime.path, binary, installedAt: runtime.installedAt, alreadyInstalled: r.alreadyInstalled, cached: r.cached,
    });
  }
  ctx.stdout.write(r.alreadyInstalled
    ? `${runtime.name} ${runtime.version} is already installed (${runtime.digest})\n`
    : `installed ${runtime.name} ${runtime.version} (${runtime.digest}) at ${binary}\n`);
}
