// `niso runtime remove NAME:VERSION`: forget a runtime added with `niso runtime add`.
import { removeRuntime } from '../../runtime/registry.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

export async function run(ctx: Context, spec: string, opts: { json?: boolean }): Promise<void> {
  const removed = await removeRuntime(ctx.root, spec);
  if (opts.json) return printJson(ctx, { removed });
  ctx.stdout.write(`removed ${removed.name} ${removed.version} (${removed.path}) from the configured runtimes\n`);
}
