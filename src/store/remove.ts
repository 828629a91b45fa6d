// `niso remove` and `niso gc`: store objects are moved aside atomically, then deleted; pooled
// content is freed when no store object links to it any more (its link count drops to 1).
import { randomBytes } from 'node:crypto';
import { lstat, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from '../host/fs-atomic.js';
import { forceRemove } from './fs-tree.js';
import { contentPath, layout, type StoreLayout } from './layout.js';
import { withLock } from '../host/lock.js';
import { readInstalledIndex, type InstalledPackage } from './query.js';
import { sweepTmp } from './sweep.js';
import { ensureDirs } from './install.js';

export interface RemoveResult { removed: { name: string; version: string; digest: string }[]; freedBytes: number; freedFiles: number }

async function freeIfUnused(path: string): Promise<number> {
  const st = await lstat(path).catch(() => null);
  if (!st || st.nlink > 1) return -1;
  await unlink(path);
  return st.size;
}

export async function removePackages(root: string, pkgs: InstalledPackage[]): Promise<RemoveResult> {
  const l = layout(root);
  await ensureDirs(l);
  return withLock(l.lock, 'the store', async () => {
    const result: RemoveResult = { removed: [], freedBytes: 0, freedFiles: 0 };
    for (const pkg of pkgs) {
      const { index } = await readInstalledIndex(pkg);
      // Rename first: the package disappears atomically even if the deletion is interrupted.
      const trash = join(l.tmp, `trash-${process.pid}-${randomBytes(6).toString('hex')}`);
      await rename(pkg.path, trash);
      await fsyncPath(l.store);
      await forceRemove(trash);
      for (const e of index.entries) {
        if (e.type !== 'file') continue;
        const freed = await freeIfUnused(contentPath(l, e.sha256, e.mode));
        if (freed >= 0) { result.freedBytes += freed; result.freedFiles++; }
      }
      result.removed.push({ name: pkg.name, version: pkg.version, digest: pkg.digest });
    }
    return result;
  });
}

export interface GcResult { freedBytes: number; freedFiles: number; sweptTmp: string[]; dryRun: boolean }

async function poolFiles(l: StoreLayout): Promise<string[]> {
  const out: string[] = [];
  for (const sub of await readdir(l.content).catch(() => [] as string[])) {
    for (const name of await readdir(join(l.content, sub)).catch(() => [] as string[])) out.push(join(l.content, sub, name));
  }
  return out;
}

export async function collectGarbage(root: string, dryRun = false): Promise<GcResult> {
  const l = layout(root);
  await ensureDirs(l);
  return withLock(l.lock, 'the store', async () => {
    const sweptTmp = await sweepTmp(l, dryRun);
    const result: GcResult = { freedBytes: 0, freedFiles: 0, sweptTmp, dryRun };
    for (const p of await poolFiles(l)) {
      const st = await lstat(p);
      if (st.nlink > 1) continue;
      result.freedBytes += st.size;
      result.freedFiles++;
      if (!dryRun) await unlink(p);
    }
    return result;
  });
}
