// What `niso list` reads: the installed packages' records. Kept free of heavy imports (zod,
// the TOML parser, tar) because `niso list` must start as fast as `niso --version`.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import semverRcompare from 'semver/functions/rcompare.js';
import { STORE_OBJECT_RE, layout } from './layout.js';
import type { PackageIndex } from '../package/format/package-index.js';

export const INSTALLED_INFO = 'niso/installed.json';
/**
 * The manifest as validated at install, normalised (defaults applied). `niso run` reads this
 * instead of parsing TOML, which keeps zod and the TOML parser off its start-up path. Bump the
 * version whenever the normalised form changes; older files are then parsed from TOML again.
 */
export const NORMALIZED_MANIFEST = 'niso/manifest.json';
export const NORMALIZED_MANIFEST_VERSION = 2;

export interface InstalledInfo {
  digest: string;
  name: string;
  version: string;
  arch: string;
  installedAt: string;
  source: string;
  files: number;
  bytes: number;
  packageBytes: number;
}

export interface InstalledPackage extends InstalledInfo { path: string }

export async function listInstalled(root: string): Promise<InstalledPackage[]> {
  const l = layout(root);
  const names = await readdir(l.store).catch(() => [] as string[]);
  const out: InstalledPackage[] = [];
  for (const name of names) {
    if (!STORE_OBJECT_RE.test(name) || name.endsWith('-generation')) continue;
    const path = join(l.store, name);
    try {
      const info = JSON.parse(await readFile(join(path, INSTALLED_INFO), 'utf8')) as InstalledInfo;
      out.push({ ...info, path });
    } catch {
      // Not a finished package object (or damaged); such entries are skipped.
    }
  }
  // Builds of one version (a fix installed with --replace while a service kept the old one):
  // the newest install first, so NAME and NAME:VERSION mean it.
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : semverRcompare(a.version, b.version) || (a.installedAt > b.installedAt ? -1 : a.installedAt < b.installedAt ? 1 : 0)));
}

/** What a package recorded of the runtime it was packed with (its index's `runtime`), as install checked it. */
export type PackedRuntime = NonNullable<PackageIndex['runtime']>;

/**
 * The runtime an installed package was packed with, read at every start. The index niso writes has it on its first
 * line, before the entries, so that line is all that is read; an index laid out otherwise (another packer) is read
 * whole. Undefined when none was recorded.
 */
export function packedRuntimeOf(pkgPath: string): PackedRuntime | undefined {
  const file = join(pkgPath, 'niso/index.json');
  let text: string;
  try {
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      const n = readSync(fd, buf, 0, buf.length, 0);
      text = buf.toString('utf8', 0, n);
    } finally { closeSync(fd); }
  } catch {
    return undefined;
  }
  const line = text.slice(0, text.indexOf('\n'));
  let head: { runtime?: unknown } | undefined;
  if (line.endsWith(',"entries":[')) {
    try { head = JSON.parse(`${line.slice(0, -',"entries":['.length)}}`) as { runtime?: unknown }; } catch { head = undefined; }
  }
  if (head === undefined) {
    try { head = JSON.parse(readFileSync(file, 'utf8')) as { runtime?: unknown }; } catch { return undefined; }
  }
  const r = head.runtime as Partial<PackedRuntime> | undefined;
  if (!r || typeof r.name !== 'string' || typeof r.version !== 'string' || !['configured', 'installed', 'discovered'].includes(r.source as string)) return undefined;
  return { name: r.name, version: r.version, source: r.source!, ...(typeof r.digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(r.digest) ? { digest: r.digest } : {}) };
}
