// `niso list`: installed packages, like `docker image ls`.
import { formatSize } from '../../manifest/units.js';
import { listInstalled } from '../../store/installed.js';
import type { Context } from '../context.js';
import { printJson, relativeTime } from '../output.js';
import { printTable } from '../table.js';

export async function run(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const pkgs = await listInstalled(ctx.root);
  if (opts.json) {
    return printJson(ctx, pkgs.map((p) => ({ name: p.name, version: p.version, arch: p.arch, digest: p.digest, files: p.files, bytes: p.bytes, installedAt: p.installedAt, path: p.path })));
  }
  if (pkgs.length === 0) {
    ctx.stdout.write('no packages installed (install one with `niso install FILE.niso`)\n');
    return;
  }
  const now = new Date();
  printTable(ctx.stdout, ['name', 'version', 'arch', 'digest', 'size', 'installed'],
    pkgs.map((p) => [p.name, p.version, p.arch, p.digest.slice(7, 19), formatSize(p.bytes), relativeTime(new Date(p.installedAt), now)]));
}
