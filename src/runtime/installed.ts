// Runtimes installed into niso's store (`niso runtime install`): one read-only directory each,
// named by the sha256 of the tarball it came from, with a runtime.json that says what it is.
// Listing, choosing and removing them; installing is runtime/install.ts.
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { withLock } from '../host/lock.js';
import { layout } from '../store/layout.js';
import { removeAside } from '../store/work-dir.js';
import { compareVersions, versionMatches } from './version.js';
import type { RuntimeName } from './types.js';

export const RUNTIME_INFO = 'runtime.json';
export const RUNTIME_OBJECT_RE = /^([0-9a-f]{64})-([a-z0-9]+)-(\d+\.\d+\.\d+)$/;

export interface InstalledRuntimeInfo {
  name: RuntimeName;
  version: string;
  /** The registry's integrity of that tarball (sha512 SRI), as checked at install. */
  integrity: string;
  /** Where it came from: the registry, package and tarball URL. */
  origin: { registry: string; package: string; version: string; tarball: string };
  /** The interpreter, relative to the object's directory. */
  binary: string;
  installedAt: string;
}

export interface InstalledRuntime extends InstalledRuntimeInfo {
  /** The object's directory. */
  path: string;
  /** `sha256:` of the tarball, verified at install: the first part of the directory's name, which says it once. */
  digest: string;
}

export const originText = (r: InstalledRuntimeInfo): string => `npm:${r.origin.package}@${r.origin.version}`;

/** Every finished runtime object, newest version first; unfinished or damaged entries are skipped. */
export function listInstalledRuntimes(root: string): InstalledRuntime[] {
  const dir = layout(root).installedRuntimes;
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  const out: InstalledRuntime[] = [];
  for (const n of names) {
    const m = RUNTIME_OBJECT_RE.exec(n);
    if (!m) continue;
    const path = join(dir, n);
    try {
      // Objects made before the digest was left to the name still carry it in the file: the name decides.
      const { digest: _, ...info } = JSON.parse(readFileSync(join(path, RUNTIME_INFO), 'utf8')) as InstalledRuntimeInfo & { digest?: string };
      if (info.name !== m[2] || info.version !== m[3]) continue;
      out.push({ ...info, path, digest: `sha256:${m[1]}` });
    } catch { /* not a finished object */ }
  }
  return out.sort((a, b) => (a.name !== b.name ? (a.name < b.name ? -1 : 1) : compareVersions(b.version, a.version)));
}

/** Installed runtimes that `NAME[:VERSION]`, a `sha256:` digest (prefix) or a path names. */
export function matchInstalled(all: readonly InstalledRuntime[], spec: { name?: RuntimeName; version?: string; digest?: string; path?: string }): InstalledRuntime[] {
  return all.filter((r) => {
    if (spec.path !== undefined) return r.path === spec.path || join(r.path, r.binary) === spec.path;
    if (spec.digest !== undefined) return r.digest.startsWith(spec.digest);
    return r.name === spec.name && (spec.version === undefined || versionMatches(spec.version, r.version));
  });
}

/**
 * Removes one installed runtime: renamed aside under the store's lock (it is gone at once, even if
 * the deletion is interrupted), then deleted. A sandbox that runs it keeps the files it has open.
 */
export async function removeInstalledRuntime(root: string, r: InstalledRuntime): Promise<void> {
  const l = layout(root);
  await mkdir(l.tmp, { recursive: true });
  await withLock(l.lock, 'the store', async () => {
    try {
      await removeAside(l, r.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NisoError('NISO3013', `${r.name} ${r.version} (${r.digest}) was removed meanwhile`, { exitCode: 1 });
      throw e;
    }
  });
}
