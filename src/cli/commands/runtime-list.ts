// `niso runtime list`: the language runtimes apps can use on this host, configured and discovered.
import { listRuntimes } from '../../runtime/registry.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { printTable } from '../table.js';

export async function run(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const rows = await listRuntimes(ctx.root, { env: ctx.env });
  if (opts.json) {
    return printJson(ctx, rows.map((r) => ({
      name: r.name,
      version: r.version,
      path: r.path,
      source: r.source,
      ...(r.digest ? { digest: r.digest, origin: r.origin } : {}),
      ...(r.info ? { binary: r.info.binary, command: r.info.command, commands: r.info.commands, files: r.files, env: r.info.env, mounts: r.info.mounts } : {}),
      ...(r.info?.warnings ? { warnings: r.info.warnings } : {}),
      ...(r.error ? { error: r.error } : {}),
    })));
  }
  if (rows.length === 0) {
    ctx.stdout.write('no runtimes found (install one on the host, or add one with `niso runtime add nodejs:20 /path/to/node`)\n');
    return;
  }
  printTable(ctx.stdout, ['name', 'version', 'path', 'source', 'files'],
    rows.map((r) => [r.name, r.version, r.path, r.digest ? `installed (${r.origin})` : r.source, r.error ? `unusable: ${r.error.code}` : r.files ?? '']));
  for (const r of rows) if (r.error) ctx.stderr.write(`warning ${r.error.code}: ${r.error.message}\n`);
}
