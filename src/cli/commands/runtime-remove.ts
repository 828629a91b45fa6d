// `niso runtime remove NAME:VERSION`: forget a runtime added with `niso runtime add`, or delete one
// installed with `niso runtime install`.
import { removeAnyRuntime } from '../../runtime/registry.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

export async function run(ctx: Context, spec: string, opts: { json?: boolean }): Promise<void> {
  const r = await removeAnyRuntime(ctx.root, spec);
  if (r.kind === 'installed') {
    const { name, version, digest, path } = r.runtime;
    if (opts.json) return printJson(ctx, { removed: { name, version, source: 'installed', digest, path } });
    ctx.stdout.write(`removed the installed runtime ${name} ${version} (${digest})\n`);
    return;
  }
  const removed = r.entry;
  if (opts.json) return printJson(ctx, { removed });
  ctx.stdout.write(`removed ${removed.name} ${removed.version} (${removed.path}) from the configured runtimes\n`);
}
