// The host side of a service's grants (plan/grants.ts): host paths resolved and checked at every start (a path may
// have become a symlink into /etc since activation), config files copied at activation, so that a service keeps the
// file it was given while the user edits theirs.
import { createHash } from 'node:crypto';
import { chownSync, lstatSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { writeFileAtomic } from '../host/fs-atomic.js';
import { readRegularFile } from '../host/read-bounded.js';
import { reachableByOthers } from '../host/reachable.js';
import type { Manifest } from '../manifest/schema.js';
import { configTarget, sensitiveHit, type BindGrant, type ConfigRequest } from '../plan/grants.js';

/** A config file is a few KiB of text; what a service reads at start is bounded like an env file. */
export const CONFIG_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Host paths as the kernel will find them, by the path asked for: symlinks resolved, then checked against the host's sensitive trees (and
 * niso's own state below NISO_ROOT, `ownTrees`). A path that does not exist is refused: Docker's -v makes an empty
 * directory owned by root, which the service's uid could not write anyway.
 */
export function resolveBinds(binds: readonly BindGrant[], ownTrees: readonly string[]): Record<string, string> {
  return Object.fromEntries(binds.map((b) => {
    let real: string;
    try { real = realpathSync(b.source); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new NisoError('NISO5055', `the host path ${b.source} (mounted at ${b.target}) ${code === 'ENOENT' ? 'does not exist' : `cannot be resolved: ${code ?? String(e)}`}`, {
        exitCode: 2, hint: `create it first (mkdir -p ${b.source}), and let the service's uid read${b.readOnly ? '' : ' and write'} it`,
      });
    }
    const hit = sensitiveHit(real, ownTrees);
    if (hit) {
      throw new NisoError('NISO5052', `the host path ${b.source}${real !== b.source ? ` (${real})` : ''} ${real === hit ? 'is' : hit.startsWith(`${real}/`) || real === '/' ? 'contains' : 'is inside'} ${hit}, which no service may see`, {
        exitCode: 2, hint: 'bind a directory of its own (e.g. /srv/NAME), or copy a single file in with --config FILE:TARGET',
      });
    }
    const st = statSync(real);
    if (!st.isDirectory() && !st.isFile()) {
      throw new NisoError('NISO5055', `the host path ${b.source} is neither a directory nor a regular file`, { exitCode: 2, hint: 'bind a directory or a file; a socket is reached through the directory that holds it' });
    }
    // bubblewrap binds it as the service's uid, which must get there.
    if (!reachableByOthers(real)) {
      throw new NisoError('NISO5055', `the host path ${b.source} is inside a directory other users cannot enter, so the service's uid cannot reach it`, { exitCode: 2, hint: 'let others through every directory above it (chmod o+x), or bind a path outside private directories' });
    }
    return [b.source, real];
  }));
}

/**
 * The command line's config files, copied into `dir` under their sha256 (root's, group the service's gid, 0440: the
 * app reads them, nobody else), with their place in the sandbox: a NAME= config goes where the manifest says.
 * Copies by content, so that a failed activation never changes what a running service has mounted.
 */
export async function copyConfigs(dir: string, requests: readonly ConfigRequest[], m: Manifest, gid: number): Promise<{ source: string; target: string }[]> {
  if (requests.length === 0) return [];
  // The service's uid must pass through the parent (its siblings are other services' and closed to it).
  mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  chownSync(dir, 0, gid);
  const out: { source: string; target: string }[] = [];
  for (const r of requests) {
    const target = configTarget(r, m);
    let read;
    try { read = readRegularFile(r.file, CONFIG_MAX_BYTES); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new NisoError('NISO5056', `${r.flag}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`, { exitCode: 2, hint: 'give the path of the file to copy in' });
    }
    if (!read.ok) throw new NisoError('NISO5056', `${r.flag}: not a regular file but ${read.what}`, { exitCode: 2, hint: 'give the path of a regular file' });
    if (read.bytes.length > CONFIG_MAX_BYTES) throw new NisoError('NISO5056', `${r.flag}: larger than ${CONFIG_MAX_BYTES / 1024 / 1024} MiB`, { exitCode: 2, hint: 'a config file this large belongs in a volume (-v NAME:/path)' });
    const path = join(dir, createHash('sha256').update(read.bytes).digest('hex'));
    await writeFileAtomic(path, read.bytes, 0o440);
    chownSync(path, 0, gid);
    out.push({ source: path, target });
  }
  return out;
}

/**
 * A config's source must be a regular file, and one over a file of /app needs that file in the package (the
 * package is read-only: there is no place to make a new one). `appDir`: the package's app directory on the host.
 */
export function checkConfigSources(configs: readonly { source: string; target: string }[], appDir: string): void {
  for (const c of configs) {
    let st;
    try { st = lstatSync(c.source); } catch { st = null; }
    if (!st || !st.isFile()) {
      throw new NisoError('NISO5056', `the config file for ${c.target} (${c.source}) is ${st ? 'not a regular file' : 'missing'}`, {
        exitCode: 2, hint: c.source.startsWith(appDir) ? 'the manifest\'s [configs] source must name a regular file of the package' : 'activate the service again with --config',
      });
    }
    if (c.target.startsWith('/app/')) {
      let inPackage;
      try { inPackage = lstatSync(join(appDir, c.target.slice('/app/'.length))); } catch { inPackage = null; }
      if (!inPackage || !inPackage.isFile()) {
        throw new NisoError('NISO5057', `a config can replace a file of /app, but the package has no file ${c.target}`, {
          exitCode: 2, hint: 'give the path the app reads, or put the config outside /app (e.g. /etc/APP/config) and point the app at it',
        });
      }
    }
  }
}
