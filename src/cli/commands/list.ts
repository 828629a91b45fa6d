// `niso list`: installed packages, like `docker image ls`.
import { formatSize } from '../../manifest/units.js';
import { listInstalled } from '../../store/installed.js';
import type { Context } from '../context.js';
import { printJson, relativeTime } from '../output.js';

export async function run(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const pkgs = await listInstalled(ctx.root);
  // Services are listed too (like `docker ps` next to `docker image ls`); only their small files are read.
  const { allStatuses, STATUS_HEADERS, statusRows } = await import('../../service/view.js');
  const services = allStatuses(ctx.root);
  const usedBy = (digest: string) => services.filter((s) => s.package.digest === digest).map((s) => s.name);
  if (opts.json) {
    return printJson(ctx, pkgs.map((p) => ({ name: p.name, version: p.version, arch: p.arch, digest: p.digest, files: p.files, bytes: p.bytes, installedAt: p.installedAt, path: p.path, services: usedBy(p.digest) })));
  }
  // The table library only for a table: `list --json` does without it.
  const { printTable } = await import('../table.js');
  if (pkgs.length === 0) {
    ctx.stdout.write('no packages installed (install one with `niso install FILE.niso`)\n');
  } else {
    const now = new Date();
    printTable(ctx.stdout, ['name', 'version', 'arch', 'digest', 'size', 'installed', 'services'],
      pkgs.map((p) => [p.name, p.version, p.arch, p.digest.slice(7, 19), formatSize(p.bytes), relativeTime(new Date(p.installedAt), now), usedBy(p.digest).join(', ') || '-']));
  }
  if (services.length > 0) {
    ctx.stdout.write('\n');
    printTable(ctx.stdout, STATUS_HEADERS, statusRows(services));
  }
}
