// Choosing a host runtime for a manifest's `nodejs:20`: version matching, preference order and
// the error that tells the user what the host has instead (pure: candidates in, choice out).
import { NisoError } from '../errors/niso-error.js';
import { RUNTIME_NAMES } from '../manifest/constants.js';
import { suggest } from '../manifest/suggest.js';
import { INSTALLABLE_NAMES } from './packument.js';
import type { RuntimeCandidate, RuntimeName, RuntimeSource } from './types.js';
import { compareVersions, releaseLine, SPEC_VERSION_RE, versionMatches } from './version.js';

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

/**
 * What pins a package's runtime beyond `[runtime] use`: the manifest's `digest` (one installed build), and the runtime
 * `niso pack` found where it packed (recorded in the index): its release line must be kept, and its very build is
 * preferred.
 */
export interface RuntimePin {
  digest?: string;
  packed?: { name: string; version: string; source: RuntimeSource; digest?: string };
}

/** A runtime as the pin rules see it: its version, and the digest of an installed one. */
export interface PinCandidate { name: RuntimeName; version: string; source: RuntimeSource; binary: string; digest?: string }

const packedOf = (pin: RuntimePin, name: RuntimeName) => (pin.packed?.name === name ? pin.packed : undefined);

/** Whether a runtime of this version keeps the release line the package was packed with (any, when none was recorded). */
export function keepsPackedLine(pin: RuntimePin, name: RuntimeName, version: string): boolean {
  const p = packedOf(pin, name);
  return p === undefined || releaseLine(name, version) === releaseLine(name, p.version);
}

/** The very runtime the package was packed with: the same tarball (digest), or for a host runtime the same version. */
export function isPackedBuild(pin: RuntimePin, c: Pick<PinCandidate, 'name' | 'version' | 'digest'>): boolean {
  const p = packedOf(pin, c.name);
  if (p === undefined) return false;
  return p.digest !== undefined ? c.digest === p.digest : c.version === p.version;
}

const short = (digest: string) => `${digest.slice(0, 'sha256:'.length + 12)}…`;
const whereIs = (c: PinCandidate) => (c.source === 'installed' ? `installed in niso's store, ${c.digest ? short(c.digest) : 'no digest'}` : `the host's, ${c.binary} (${c.source})`);

/**
 * What a start should say about the runtime it got: another build of the very version the package was packed with
 * (a different tarball, or a host runtime where an installed one was packed) runs, but is not what was tested.
 */
export function pinNotes(pin: RuntimePin, chosen: PinCandidate): string[] {
  const p = packedOf(pin, chosen.name);
  if (p?.digest === undefined || chosen.version !== p.version || chosen.digest === p.digest) return [];
  const get = INSTALLABLE_NAMES.includes(chosen.name) ? `; \`niso runtime install ${chosen.name}:${p.version}\` installs the registry's build` : '';
  return [`runtime ${chosen.name} ${chosen.version} here is ${whereIs(chosen)}, not the build the package was packed with (${short(p.digest)}): the same version, another build${get}`];
}

const listing = (available: readonly PinCandidate[]) => [...available].sort((a, b) => compareVersions(b.version, a.version))
  .map((c) => `  - ${c.name} ${c.version} ${c.source === 'installed' ? `installed in niso's store (${c.digest ?? 'no digest'})` : `at ${c.binary} (${c.source})`}`).join('\n');

/** NISO3016: the manifest pins an installed build by digest, and this host has no runtime from that tarball. */
export function pinnedDigestMissing(want: RuntimeWant, digest: string, available: readonly PinCandidate[]): NisoError {
  const has = available.length > 0 ? `; this host has:\n${listing(available)}` : `; this host has no ${want.name} runtime at all`;
  return new NisoError('NISO3016', `the app pins ${want.name} ${want.version} to the build ${digest}, which is not installed${has}`, {
    hint: `\`niso runtime install ${want.name}:${want.version}\` installs the registry's build of ${want.version}; if the pin names another build (\`niso runtime ls\` shows each digest), install that one or change [runtime] digest and pack again`,
  });
}

/** NISO3017: `use` matches runtimes of this host, but none of the release line the package was packed with. */
export function packedLineMissing(want: RuntimeWant, packed: NonNullable<RuntimePin['packed']>, matching: readonly PinCandidate[]): NisoError {
  const line = releaseLine(want.name, packed.version);
  const get = INSTALLABLE_NAMES.includes(want.name)
    ? `install one: niso runtime install ${want.name}:${line}`
    : `add one: niso runtime add ${want.name}:${line} /path/to/${RUNTIME_PROGRAM[want.name]}`;
  return new NisoError('NISO3017', `the package was packed with ${want.name} ${packed.version} and runs only on the ${want.name} ${line} line, but this host gives ${want.name}:${want.version} only another line:\n${listing(matching)}`, {
    hint: `${get}; or pack the app again where ${want.name} ${releaseLine(want.name, matching[0]?.version ?? packed.version)} is what it is tested with`,
  });
}
