// Tree helpers for store objects, whose directories are read-only: sealing and forced removal.
import { chmod, lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Makes every directory below (and including) `dir` read-only, deepest first. */
export async function sealTree(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const p = join(dir, name);
    if ((await lstat(p)).isDirectory()) await sealTree(p);
  }
  await chmod(dir, 0o555);
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
