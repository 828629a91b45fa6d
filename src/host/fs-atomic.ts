// Crash-safe file writing: write to a temporary name, flush, rename over the target, flush the
// directory. A reader (or a crash) sees the old file or the new one, never half of one.
import { open, rename, rm, mkdir } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from './exec.js';

export function tempName(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

export async function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempName(target);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncPath(dirname(target));
}

/**
 * Flushes a whole filesystem with syncfs(2) (`sync -f`). One call replaces thousands of fsyncs
 * when a store object of many files must be durable before it is renamed into place.
 */
export async function syncFilesystem(path: string): Promise<void> {
  const r = await run('sync', ['-f', path]);
  if (r.code !== 0) throw new Error(`sync -f ${path} failed: ${r.stderr.trim()}`);
}
