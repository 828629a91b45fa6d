// A stack service's `package`: an installed package by name (NAME, NAME:VERSION with VERSION whole or a prefix such as
// "15" or "15.4", as a Docker tag names a release line; NAME@sha256:DIGEST pins one build), or a path to a FILE.niso or
// an app directory, relative to the stack file. Which installed build a reference means is decided here too, from the
// store's list given as data, so that `stack config` and `stack up` cannot pick differently.
import { posix } from 'node:path';
import semverParse from 'semver/functions/parse.js';
import { isPackageName } from '../manifest/schema.js';

export type PackageRef =
  | { kind: 'store'; name: string; version: string | null; digest: string | null }
  | { kind: 'path'; path: string };

export type RefParse = { ok: true; ref: PackageRef } | { ok: false; message: string; hint: string };

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const PARTIAL_VERSION_RE = /^\d+(\.\d+)?$/;

/** A path is written as one, as on niso's command line: it starts with "/", "./" or "../", or holds a "/". */
export const isPathRef = (text: string): boolean => text === '.' || text === '..' || text.includes('/');

export function parsePackageRef(text: string): RefParse {
  const example = 'e.g. "postgres:15", "my-api:1.0.0", "my-api@sha256:<64 hex digits>", "./api" or "./my-api-1.0.0-x86_64.niso"';
  if (text.trim() === '') return { ok: false, message: 'the package reference is empty', hint: `name an installed package or a path, ${example}` };
  if (isPathRef(text)) return { ok: true, ref: { kind: 'path', path: text } };
  let rest = text;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) {
      const hint = /^[0-9a-f]{64}$/.test(digest) ? `write it as @sha256:${digest}` : 'write @sha256: and the 64 hex digits `niso list --json` shows as the digest';
      return { ok: false, message: `"${text}": "${digest}" is not a package digest`, hint };
    }
  }
  const colon = rest.indexOf(':');
  const name = colon < 0 ? rest : rest.slice(0, colon);
  const version = colon < 0 ? null : rest.slice(colon + 1);
  if (!isPackageName(name)) {
    const lower = name.toLowerCase();
    return { ok: false, message: `"${text}": "${name}" is not a package name`, hint: isPackageName(lower) ? `package names are lower case: "${lower}"` : `package names are lower-case letters, digits, ".", "_" and "-"; ${example}` };
  }
  if (version !== null) {
    if (version === 'latest') return { ok: false, message: `"${text}": niso has no "latest" tag`, hint: `write "${name}" alone for the newest installed version` };
    const v = semverParse(version);
    const canonical = v !== null && v.version + (v.build.length > 0 ? `+${v.build.join('.')}` : '') === version;
    if (!canonical && !PARTIAL_VERSION_RE.test(version)) {
      return { ok: false, message: `"${text}": "${version}" is not a version`, hint: `write a whole version ("${name}:1.4.2") or its major or major.minor ("${name}:1", "${name}:1.4") for the newest installed of that line` };
    }
  }
  return { ok: true, ref: { kind: 'store', name, version, digest } };
}

/** The reference as written back into a stack file (`stack config`). */
export function formatPackageRef(ref: PackageRef): string {
  if (ref.kind === 'path') return ref.path;
  return `${ref.name}${ref.version === null ? '' : `:${ref.version}`}${ref.digest === null ? '' : `@${ref.digest}`}`;
}

/** A path reference made absolute against the stack file's directory. */
export function absoluteRefPath(ref: Extract<PackageRef, { kind: 'path' }>, baseDir: string): string {
  return posix.resolve(baseDir, ref.path);
}

export interface InstalledBuild { name: string; version: string; digest: string }

/** Whether an installed version is on the line a reference names: "15" takes 15.20.0, not 150.0.0. */
export function versionMatches(wanted: string, version: string): boolean {
  return version === wanted || (PARTIAL_VERSION_RE.test(wanted) && version.startsWith(`${wanted}.`));
}

/**
 * The installed build a store reference means, given the store's list in niso's order (newest version first, and of
 * one version the newest install first, as `niso list` sorts it); null when none matches.
 */
export function matchInstalled<T extends InstalledBuild>(ref: Extract<PackageRef, { kind: 'store' }>, installed: readonly T[]): T | null {
  return installed.find((p) => p.name === ref.name && (ref.version === null || versionMatches(ref.version, p.version)) && (ref.digest === null || p.digest === ref.digest)) ?? null;
}
