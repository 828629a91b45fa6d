// Choosing a host runtime for a manifest's `nodejs:20`: version matching, preference order and
// the error that tells the user what the host has instead (pure: candidates in, choice out).
import { NisoError } from '../errors/niso-error.js';
import { RUNTIME_NAMES } from '../manifest/constants.js';
import { suggest } from '../manifest/suggest.js';
import { INSTALLABLE_NAMES } from './packument.js';
import type { RuntimeCandidate, RuntimeName } from './types.js';
import { compareVersions, SPEC_VERSION_RE, versionMatches } from './version.js';

export { compareVersions, SPEC_VERSION_RE, versionMatches } from './version.js';

export interface RuntimeWant { name: RuntimeName; version: string }

/** The program a user passes to `niso runtime add` for each runtime, for hints. */
export const RUNTIME_PROGRAM: Readonly<Record<RuntimeName, string>> = {
  nodejs: 'node', python: 'python3', ruby: 'ruby', java: 'java', php: 'php', deno: 'deno', bun: 'bun',
};

/**
 * Reads `NAME:VERSION` as given to `niso runtime add|remove`. Common aliases (node, python3) are
 * refused with a suggestion rather than guessed, like the manifest does.
 */
export function parseRuntimeSpec(spec: string, opts: { versionOptional?: boolean } = {}): { name: RuntimeName; version?: string } {
  const m = /^([a-z0-9]+)(?::(.*))?$/.exec(spec.trim());
  const name = m?.[1];
  const alias: Record<string, RuntimeName> = { node: 'nodejs', python3: 'python', py: 'python', jdk: 'java', jre: 'java' };
  if (!m || !name || !(RUNTIME_NAMES as readonly string[]).includes(name)) {
    const best = name ? alias[name] ?? suggest(name, RUNTIME_NAMES) : undefined;
    const ver = m?.[2] ?? '20';
    throw new NisoError('NISO3006', `"${spec}" is not a runtime of the form NAME:VERSION`, {
      exitCode: 2,
      hint: best ? `did you mean "${best}:${ver}"?` : `NAME is one of ${RUNTIME_NAMES.join(', ')}; e.g. nodejs:20 or python:3.12`,
    });
  }
  const version = m[2];
  if (version === undefined || version === '') {
    if (opts.versionOptional) return { name: name as RuntimeName };
    throw new NisoError('NISO3006', `"${spec}" names no version`, { exitCode: 2, hint: `add the version, e.g. ${name}:${name === 'python' ? '3.12' : name === 'java' ? '17' : '20'}` });
  }
  if (!SPEC_VERSION_RE.test(version)) {
    throw new NisoError('NISO3006', `"${version}" in "${spec}" is not a version`, { exitCode: 2, hint: 'write MAJOR, MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 20 or 3.12' });
  }
  return { name: name as RuntimeName, version };
}

const SOURCE_RANK: Readonly<Record<RuntimeCandidate['source'], number>> = { configured: 0, installed: 1, discovered: 2 };

/** Configured runtimes first, then installed ones (both the operator's choice), then the highest version. */
export function preferenceOrder(a: RuntimeCandidate, b: RuntimeCandidate): number {
  if (a.source !== b.source) return SOURCE_RANK[a.source] - SOURCE_RANK[b.source];
  if ((a.shared ?? true) !== (b.shared ?? true)) return a.shared === false ? 1 : -1;
  return compareVersions(b.version, a.version);
}

/**
 * The runtime to use for `want`: a configured one if any matches, else the highest matching
 * discovered one. `available` lists every runtime of that name the host has.
 */
export function selectRuntime(want: RuntimeWant, available: readonly RuntimeCandidate[]): RuntimeCandidate {
  const same = available.filter((c) => c.name === want.name);
  const hit = same.filter((c) => versionMatches(want.version, c.version)).sort(preferenceOrder)[0];
  if (hit) return hit;
  throw noRuntimeError(want, same);
}

export function describeCandidate(c: RuntimeCandidate): string {
  return `${c.name} ${c.version} at ${c.binary} (${c.source})`;
}

export function noRuntimeError(want: RuntimeWant, available: readonly RuntimeCandidate[]): NisoError {
  const ref = `${want.name}:${want.version}`;
  const hint = INSTALLABLE_NAMES.includes(want.name)
    ? `install it into niso's store: niso runtime install ${ref}; or install it on the host, or tell niso where one is: niso runtime add ${ref} /path/to/node`
    : `install ${want.name} ${want.version} on the host, or tell niso where one is: niso runtime add ${ref} /path/to/${RUNTIME_PROGRAM[want.name]}`;
  if (available.length === 0) {
    return new NisoError('NISO3001', `the app needs ${ref}, but this host has no ${want.name} runtime`, { hint });
  }
  const list = [...available].sort(preferenceOrder).map((c) => `  - ${describeCandidate(c)}`).join('\n');
  const versions = [...new Set(available.map((c) => c.version))].sort((a, b) => compareVersions(b, a));
  return new NisoError('NISO3002',
    `the app needs ${ref}, but this host has ${want.name} ${versions.join(', ')}, which does not match version ${want.version}:\n${list}`,
    { hint });
}
