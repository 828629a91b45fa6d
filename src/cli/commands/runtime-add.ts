// `niso runtime add NAME:VERSION PATH`: use a runtime niso does not find by itself.
import { resolve } from 'node:path';
import { countFiles } from '../../runtime/discover.js';
import { addRuntime } from '../../runtime/registry.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

export async function run(ctx: Context, spec: string, path: string, opts: { json?: boolean }): Promise<void> {
  const { info, entry } = await addRuntime(ctx.root, spec, resolve(ctx.cwd, path), { env: ctx.env });
  const files = countFiles(info.mounts);
  if (opts.json) return printJson(ctx, { ...entry, source: 'configured', binary: info.binary, command: info.command, commands: info.commands, files, env: info.env, mounts: info.mounts, ...(info.warnings ? { warnings: info.warnings } : {}) });
  ctx.stdout.write(`added ${entry.name} ${entry.version} at ${entry.path} (${files} files in its closure)\n`);
  for (const w of info.warnings ?? []) ctx.stderr.write(`warning: ${w}\n`);
}
