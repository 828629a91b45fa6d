// `niso volume backup NAME -o FILE.tar.zst [--live]` and `niso volume restore NAME FILE`, with progress on a terminal.
import { formatDuration, formatSize } from '../../manifest/units.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { progressBar } from '../progress.js';
import { audited } from '../../audit/host/log.js';
import { backupFields, restoreFields } from '../../audit/fields.js';

export async function backup(ctx: Context, name: string, opts: { output: string; live?: boolean; json?: boolean }): Promise<void> {
  const { backupVolume, backupTotal } = await import('../../volume/backup.js');
  const { resolve } = await import('node:path');
  const bar = progressBar(ctx, `backing up ${name}`, opts.json === true);
  // The total costs a walk of the volume (du): only where a bar can show.
  const total = (ctx.stderr as { isTTY?: boolean }).isTTY && !opts.json ? await backupTotal(ctx.root, name).catch(() => null) : null;
  // The service verbs' host, without loading the service commands (they pull in the whole planner).
  const host = { root: ctx.root, env: ctx.env as NodeJS.ProcessEnv, entry: ctx.entry ?? process.argv[1]! };
  const r = await audited(ctx.root, 'volume.backup', { target: name }, () => backupVolume(host, name, resolve(ctx.cwd, opts.output), { live: opts.live === true, onProgress: (done) => { if (total) bar.update(done, total); } })
    .finally(() => bar.stop()), backupFields);
  if (opts.json) return printJson(ctx, r);
  for (const w of r.warnings) ctx.stderr.write(`niso: warning: ${w}\n`);
  ctx.stdout.write(`backed up ${name}: ${r.files} files, ${formatSize(r.dataBytes)} into ${r.output} (${formatSize(r.archiveBytes)})\n`);
  if (r.stopped.length > 0) ctx.stdout.write(`${r.stopped.join(', ')} ${r.stopped.length > 1 ? 'were' : 'was'} stopped for the copy and started again: down ${formatDuration(Math.round(r.downtimeMs ?? 0))}\n`);
  else if (r.live) ctx.stdout.write('copied live (--live): files written during the copy may not match each other\n');
}

export async function restore(ctx: Context, name: string, file: string, opts: { json?: boolean }): Promise<void> {
  const { restoreVolume } = await import('../../volume/restore.js');
  const { resolve } = await import('node:path');
  const bar = progressBar(ctx, `restoring ${name}`, opts.json === true);
  const r = await audited(ctx.root, 'volume.restore', { target: name }, () => restoreVolume(ctx.root, name, resolve(ctx.cwd, file), { onProgress: (done, total) => bar.update(done, total) }).finally(() => bar.stop()), restoreFields(resolve(ctx.cwd, file)));
  if (opts.json) return printJson(ctx, r);
  ctx.stdout.write(`restored ${r.files} files, ${formatSize(r.dataBytes)} into ${r.created ? 'the new volume' : 'volume'} ${name} (backup of ${r.from.volume}, ${r.from.createdAt}${r.from.live ? ', taken live' : ''}); every file matched its sha256\n`);
}
