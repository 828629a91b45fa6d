// Tree helpers for store objects, whose directories are read-only: sealing and forced removal.
import { chmodSync } from 'node:fs';
import { chmod, lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Makes the given directories read-only, deepest first (children before their parents). */
export function sealDirs(dirs: string[]): void {
  const byDepth = [...dirs].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const d of byDepth) chmodSync(d, 0o555);
}

/** Removes a tree even where its directories were sealed read-only. */
export async function forceRemove(path: string): Promise<void> {
  const st = await lstat(path).catch(() => null);
  if (!st) return;
  if (st.isDirectory()) {
    await chmod(path, 0o755);
    for (const name of await readdir(path)) await forceRemove(join(path, name));
  }
  await rm(path, { recursive: true, force: true });
}
