// `niso remove` and `niso gc`: store objects are moved aside atomically, then deleted; pooled
// content is freed when no store object links to it any more (its link count drops to 1).
import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { contentCopies, contentPath, layout, type StoreLayout } from './layout.js';
import { withLock } from '../host/lock.js';
import { readInstalledIndex, type InstalledPackage } from './query.js';
import { sweepTmp } from './sweep.js';
import { ensureDirs } from './install.js';
import { removeAside } from './work-dir.js';

export interface RemoveResult { removed: { name: string; version: string; digest: string }[]; freedBytes: number; freedFiles: number }

async function freeIfUnused(path: string): Promise<number> {
  const st = await lstat(path).catch(() => null);
  if (!st || st.nlink > 1) return -1;
  await unlink(path);
  return st.size;
}

/** Removes shard directories that freeing left empty (a full one stays: ENOTEMPTY). */
async function pruneShards(shards: Iterable<string>): Promise<void> {
  for (const d of shards) {
    await rmdir(d).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST' && e.code !== 'ENOENT') throw e; });
  }
}

export async function removePackages(root: string, pkgs: InstalledPackage[]): Promise<RemoveResult> {
  const l = layout(root);
  await ensureDirs(l);
  return withLock(l.lock, 'the store', async () => {
    const result: RemoveResult = { removed: [], freedBytes: 0, freedFiles: 0 };
    const shards = new Map<string, string[]>();
    for (const pkg of pkgs) {
      const { index } = await readInstalledIndex(pkg);
      // Renamed aside first: the package disappears atomically even if the deletion is interrupted.
      await removeAside(l, pkg.path);
      // Every copy of each content: one with too many links for the filesystem got a second.
      const seen = new Set<string>();
      for (const e of index.entries) {
        if (e.type !== 'file') continue;
        const first = contentPath(l, e.sha256, e.mode);
        if (seen.has(first)) continue;
        seen.add(first);
        const shard = dirname(first);
        let names = shards.get(shard);
        if (!names) shards.set(shard, names = await readdir(shard).catch(() => [] as string[]));
        for (const name of contentCopies(names, e.sha256, e.mode)) {
          const freed = await freeIfUnused(join(shard, name));
          if (freed >= 0) { result.freedBytes += freed; result.freedFiles++; }
        }
      }
      result.removed.push({ name: pkg.name, version: pkg.version, digest: pkg.digest });
    }
    await pruneShards(shards.keys());
    return result;
  });
}

export interface GcResult { freedBytes: number; freedFiles: number; sweptTmp: string[]; dryRun: boolean }

async function poolShards(l: StoreLayout): Promise<{ dir: string; names: string[] }[]> {
  const out: { dir: string; names: string[] }[] = [];
  for (const sub of await readdir(l.content).catch(() => [] as string[])) {
    const dir = join(l.content, sub);
    out.push({ dir, names: await readdir(dir).catch(() => [] as string[]) });
  }
  return out;
}

export async function collectGarbage(root: string, dryRun = false): Promise<GcResult> {
  const l = layout(root);
  await ensureDirs(l);
  return withLock(l.lock, 'the store', async () => {
    const sweptTmp = await sweepTmp(l, dryRun);
    const result: GcResult = { freedBytes: 0, freedFiles: 0, sweptTmp, dryRun };
    const emptied: string[] = [];
    for (const { dir, names } of await poolShards(l)) {
      let left = names.length;
      for (const name of names) {
        const st = await lstat(join(dir, name));
        if (st.nlink > 1) continue;
        result.freedBytes += st.size;
        result.freedFiles++;
        left--;
        if (!dryRun) await unlink(join(dir, name));
      }
      if (left === 0) emptied.push(dir);
    }
    if (!dryRun) await pruneShards(emptied);
    // The host facts planning remembered (sandbox/facts-cache.ts) and the package files' digests push remembered
    // (registry/host/digest-cache.ts) are caches: emptied, so that entries of removed packages and files, older PATHs
    // and older nisos do not pile up; the next start of each package looks at the host again, the next push of a file
    // hashes it again.
    for (const cacheDir of [l.hostFacts, l.packageDigests]) {
      let cached: string[] = [];
      try { cached = (await readdir(cacheDir)).filter((n) => n.endsWith('.json')); } catch { /* none yet */ }
      for (const name of cached) {
        try {
          const st = await lstat(join(cacheDir, name));
          result.freedBytes += st.size;
          result.freedFiles++;
          if (!dryRun) await unlink(join(cacheDir, name));
        } catch { /* gone meanwhile */ }
      }
    }
    return result;
  });
}
