// Remembers what a package file is (its sha256 and size, and its index's name, version, arch and package digest) per
// file identity (device, inode, size, mtime and ctime in nanoseconds), so that `niso push` of a file this host packed,
// or pushed before, neither hashes its bytes nor reads its head again: the registry is asked for the blob at once
// (issue 16). An entry is written only by `niso pack` for the file it wrote and by a push once it has read and checked
// the whole head and hashed the whole file; any change to the file changes its ctime (which only the kernel sets), so
// a changed file is read and hashed again. `niso gc` empties it. Root's lives below NISO_ROOT; another user's in their
// cache directory, since they cannot write root's.
import { readFileSync, statSync, type BigIntStats } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempName } from '../../host/fs-atomic.js';
import { layout } from '../../store/layout.js';
import { DIGEST } from '../reference.js';

/** Bumped when what an entry holds, or how a package's facts follow from a file, changes. */
const FORMAT = 1;

export interface PackageFileFacts {
  name: string;
  version: string;
  arch: string;
  /** sha256 of the package's canonical index. */
  packageId: string;
  /** The file's own bytes. */
  file: { digest: string; size: number };
}

interface Entry extends PackageFileFacts { format: number; identity: string }

/** Counts of this process's lookups: for the test that pins when the cache is used (no timing is asserted). */
export const digestCacheStats = { hits: 0, misses: 0, writes: 0 };

export function digestCacheDir(root: string, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const uid = process.geteuid?.() ?? 0;
  if (uid === 0) return layout(root).packageDigests;
  return join(env.XDG_CACHE_HOME || join(env.HOME ?? '/', '.cache'), 'niso/package-digests');
}

/** What changes whenever the file's bytes can have: its inode, size, and mtime and ctime to the nanosecond. */
export function fileIdentity(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

const entryFile = (dir: string, st: BigIntStats) => join(dir, `${st.dev}-${st.ino}.json`);

const isFacts = (e: Entry) => typeof e.name === 'string' && typeof e.version === 'string' && typeof e.arch === 'string'
  && typeof e.packageId === 'string' && DIGEST.test(e.packageId)
  && typeof e.file === 'object' && e.file !== null && typeof e.file.digest === 'string' && DIGEST.test(e.file.digest) && typeof e.file.size === 'number';

/** The remembered facts of the file `st` describes, or null (none, damaged, another format, or the file changed). */
export function lookupPackageFile(dir: string, st: BigIntStats): PackageFileFacts | null {
  let e: Entry;
  try { e = JSON.parse(readFileSync(entryFile(dir, st), 'utf8')) as Entry; } catch { digestCacheStats.misses++; return null; }
  if (e === null || typeof e !== 'object' || e.format !== FORMAT || e.identity !== fileIdentity(st) || !isFacts(e) || BigInt(e.file.size) !== st.size) {
    digestCacheStats.misses++;
    return null;
  }
  digestCacheStats.hits++;
  return { name: e.name, version: e.version, arch: e.arch, packageId: e.packageId, file: { digest: e.file.digest, size: e.file.size } };
}

/**
 * Remembers the facts of `path`, read and checked while its identity was `before`: nothing is written when the file
 * changed meanwhile (its identity now differs). No fsync: a lost or torn entry is a miss, which costs one hash.
 * A cache that cannot be written costs the next push that hash, nothing else.
 */
export async function rememberPackageFile(dir: string, path: string, before: BigIntStats, facts: PackageFileFacts): Promise<void> {
  let now: BigIntStats;
  try { now = statSync(path, { bigint: true }); } catch { return; }
  if (fileIdentity(now) !== fileIdentity(before) || BigInt(facts.file.size) !== now.size) return;
  const entry: Entry = { format: FORMAT, identity: fileIdentity(now), ...facts, file: { ...facts.file } };
  const target = entryFile(dir, now);
  const tmp = tempName(target);
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(tmp, JSON.stringify(entry), { mode: 0o644, flag: 'wx' });
    await rename(tmp, target);
    digestCacheStats.writes++;
  } catch {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}
