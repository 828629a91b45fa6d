// /etc/niso/runtimes.toml (under NISO_ROOT): runtimes added by hand, which win over discovered
// ones, and resolving a manifest's `nodejs:20` to one runtime with its file closure.
import { readFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isNisoError, NisoError } from '../errors/niso-error.js';
import { writeFileAtomic } from '../host/fs-atomic.js';
import { layout } from '../store/layout.js';
import { completeRuntime, countFiles, findRuntimes, probeRuntime, RUNTIME_DRIVER_NAMES, type DiscoverOptions, type FoundRuntime } from './discover.js';
import { LddCache } from './elf-closure.js';
import { RuntimeCache } from './cache.js';
import { compareVersions, isPackedBuild, keepsPackedLine, noRuntimeError, packedLineMissing, parseRuntimeSpec, pinNotes, pinnedDigestMissing, preferenceOrder, RUNTIME_PROGRAM, versionMatches, type PinCandidate, type RuntimePin, type RuntimeWant } from './select.js';
import { listInstalledRuntimes, matchInstalled, originText, removeInstalledRuntime, type InstalledRuntime } from './installed.js';
import type { RuntimeCandidate, RuntimeInfo, RuntimeName, RuntimeSource } from './types.js';
import { releaseLine } from './version.js';

export interface ConfiguredRuntime {
  name: RuntimeName;
  /** The full version the binary reported when it was added. */
  version: string;
  path: string;
}

const HEADER = '# Runtimes added with `niso runtime add`; they take precedence over the ones niso discovers.\n# Edit with `niso runtime add|remove`.\n';

export async function readRuntimeConfig(root: string): Promise<ConfiguredRuntime[]> {
  const file = layout(root).runtimes;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  // The validator (zod, TOML with positions) loads only when the file exists: most hosts have
  // none, and `niso run` resolves a runtime on every start.
  const { parseRuntimeConfig } = await import('./registry-config.js');
  return parseRuntimeConfig(text, file);
}

export async function writeRuntimeConfig(root: string, entries: readonly ConfiguredRuntime[]): Promise<void> {
  const sorted = [...entries].sort((a, b) => (a.name !== b.name ? (a.name < b.name ? -1 : 1) : compareVersions(b.version, a.version)));
  const { stringify } = await import('smol-toml');
  const body = sorted.length > 0 ? stringify({ runtime: sorted.map((e) => ({ name: e.name, version: e.version, path: e.path })) }) : '';
  await writeFileAtomic(layout(root).runtimes, HEADER + (body ? `\n${body}` : ''));
}

const configuredCandidate = (e: ConfiguredRuntime): RuntimeCandidate => ({ name: e.name, version: e.version, binary: e.path, source: 'configured' });

/** Probes a configured runtime and checks that it is still the version recorded for it. */
async function probeConfigured(e: ConfiguredRuntime, opts: DiscoverOptions): Promise<FoundRuntime> {
  let found: FoundRuntime;
  try {
    found = await probeRuntime(e.name, e.path, { ...opts, source: 'configured' });
  } catch (err) {
    if (isNisoError(err) && err.code === 'NISO3004') {
      throw new NisoError('NISO3004', `the configured runtime ${e.name} ${e.version} is not usable: ${err.message}`, {
        path: e.path, cause: err, hint: `fix it, or remove it: niso runtime remove ${e.name}:${e.version}`,
      });
    }
    throw err;
  }
  if (found.version !== e.version) {
    throw new NisoError('NISO3008', `the configured runtime ${e.path} was ${e.name} ${e.version} when it was added, but is now ${found.version}`, {
      path: e.path,
      hint: `record the new version: niso runtime remove ${e.name}:${e.version} && niso runtime add ${e.name}:${found.version} ${e.path}`,
    });
  }
  return found;
}

/**
 * The runtime a manifest's `[runtime] use = "NAME:VERSION"` gets on this host, with its file closure. With a digest
 * pinned, only the runtime installed from that tarball. Otherwise, of the runtimes `use` matches and that keep the
 * release line the package was packed with: the very build it was packed with when the host has it, else a
 * configured one (the operator's choice), an installed one, the highest discovered one. Only the chosen runtime's
 * closure is computed, and the host is searched only when the store and the configuration do not decide (or the
 * package was packed with a host runtime, whose version only the host can show).
 */
export async function resolveRuntime(root: string, want: RuntimeWant, opts: DiscoverOptions & { pin?: RuntimePin } = {}): Promise<RuntimeInfo> {
  const cache = opts.cache ?? new LddCache();
  const store = opts.store ?? new RuntimeCache(layout(root).runtimeCache);
  const pin = opts.pin ?? {};
  try {
    const configured = (await readRuntimeConfig(root)).filter((e) => e.name === want.name);
    const installed = listInstalledRuntimes(root).filter((r) => r.name === want.name);
    let discovered: FoundRuntime[] | undefined;
    const discover = async () => (discovered ??= await findRuntimes(want.name, { ...opts, cache, store }));
    const everything = async (): Promise<PinCandidate[]> => [...configured.map(configuredCandidate), ...installed.map(installedCandidate), ...await discover()];
    const done = async (info: RuntimeInfo): Promise<RuntimeInfo> => {
      const notes = pinNotes(pin, info as PinCandidate);
      const packed = pin.packed?.name === want.name ? pin.packed : undefined;
      return { ...info, ...(notes.length > 0 ? { notes } : {}), ...(packed ? { packed } : {}), ...(pin.digest ? { pinned: pin.digest } : {}) };
    };
    if (pin.digest !== undefined) {
      const hit = installed.find((r) => r.digest === pin.digest && versionMatches(want.version, r.version));
      if (!hit) throw pinnedDigestMissing(want, pin.digest, await everything());
      return await done(await completeInstalled(hit, { ...opts, cache, store }));
    }
    const fits = (v: string) => versionMatches(want.version, v) && keepsPackedLine(pin, want.name, v);
    const conf = configured.filter((e) => fits(e.version)).sort((a, b) => compareVersions(b.version, a.version));
    const inst = installed.filter((r) => fits(r.version));
    const packedBuild = (c: { version: string; digest?: string }) => isPackedBuild(pin, { name: want.name, ...c });
    const useConfigured = async (e: ConfiguredRuntime) => done(await completeRuntime(await probeConfigured(e, opts), { cache, store }));
    const useInstalled = async (r: InstalledRuntime) => done(await completeInstalled(r, { ...opts, cache, store }));
    // The build it was packed with first: in the configuration, in the store, then (a host runtime's version) on the host.
    const confPacked = conf.find((e) => packedBuild(e));
    if (confPacked) return await useConfigured(confPacked);
    const instPacked = inst.find((r) => packedBuild(r));
    if (instPacked) return await useInstalled(instPacked);
    if (pin.packed?.name === want.name && pin.packed.digest === undefined) {
      const hostPacked = (await discover()).filter((f) => fits(f.version) && packedBuild(f)).sort(preferenceOrder)[0];
      if (hostPacked) return await done(await completeRuntime(hostPacked, { cache, store }));
    }
    if (conf[0]) return await useConfigured(conf[0]);
    if (inst[0]) return await useInstalled(inst[0]);
    const hit = (await discover()).filter((f) => fits(f.version)).sort(preferenceOrder)[0];
    if (hit) return await done(await completeRuntime(hit, { cache, store }));
    const all = await everything();
    const matching = all.filter((c) => versionMatches(want.version, c.version));
    if (matching.length > 0 && pin.packed?.name === want.name) throw packedLineMissing(want, pin.packed, matching);
    throw noRuntimeError(want, all);
  } finally {
    await store.save();
  }
}

/** Where an installed runtime's files appear inside a sandbox. */
export const installedHome = (r: { name: string; version: string }): string => `/opt/niso/runtimes/${r.name}-${r.version}`;

const installedCandidate = (r: InstalledRuntime): RuntimeCandidate & { digest: string } => ({ name: r.name, version: r.version, binary: join(r.path, r.binary), source: 'installed', digest: r.digest });

/**
 * An installed runtime with its file closure: the binary from the store (mounted at its store
 * path), the host's libc and friends it links against, as for a host runtime. Its version is
 * checked against its record, so a changed store object is not used.
 */
async function completeInstalled(r: InstalledRuntime, opts: DiscoverOptions): Promise<RuntimeInfo> {
  const bin = join(r.path, r.binary);
  const probe = () => probeRuntime(r.name, bin, { ...opts, source: 'installed' });
  const found = opts.store ? await opts.store.probe(`${r.name}|installed|${bin}`, bin, probe) : await probe();
  if (found.version !== r.version) {
    throw new NisoError('NISO2204', `the installed runtime ${r.name} ${r.version} (${r.digest}) reports version ${found.version}`, {
      path: bin, hint: `remove it and install it again: niso runtime remove ${r.digest} && niso runtime install ${r.name}:${r.version}`,
    });
  }
  const info = await completeRuntime(found, { cache: opts.cache, store: opts.store });
  // Inside the sandbox the runtime's directory is at a fixed path: its store path may be below a
  // directory the sandbox covers (a NISO_ROOT in /tmp), and need not be shown to the app.
  const files = realpathSync(dirname(dirname(bin)));
  const home = installedHome(r);
  const inSandbox = (p: string) => (p.startsWith(files + '/') ? home + p.slice(files.length) : p);
  const mounts = [{ source: files, target: home }, ...info.mounts.filter((m) => !m.source.startsWith(files + '/'))]
    .sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  const commands = Object.fromEntries(Object.entries(info.commands).map(([k, v]) => [k, inSandbox(v)]));
  return { ...info, command: inSandbox(info.command), commands, mounts, digest: r.digest, origin: originText(r) };
}

export interface AddedRuntime { info: RuntimeInfo; entry: ConfiguredRuntime }

/**
 * Records a runtime at `path` for `NAME:VERSION` after running it: its version must match and its
 * file closure must be complete, so that a later `niso run` does not discover the problem.
 */
export async function addRuntime(root: string, spec: string, path: string, opts: DiscoverOptions = {}): Promise<AddedRuntime> {
  const want = parseRuntimeSpec(spec);
  const entries = await readRuntimeConfig(root);
  const found = await probeRuntime(want.name, path, { ...opts, source: 'configured' });
  if (!versionMatches(want.version!, found.version)) {
    throw new NisoError('NISO3002', `${path} is ${want.name} ${found.version}, which does not match version ${want.version} (asked for ${want.name}:${want.version})`, {
      exitCode: 2, path, hint: `add it as ${want.name}:${releaseLine(want.name, found.version)}, or give the path of a ${want.name} ${want.version} ${RUNTIME_PROGRAM[want.name]}`,
    });
  }
  const realOf = (p: string) => { try { return realpathSync(p); } catch { return p; } };
  const dup = entries.find((e) => e.name === want.name && (e.version === found.version || e.path === path || realOf(e.path) === found.binary));
  if (dup) {
    throw new NisoError('NISO3005', `${want.name} ${dup.version} at ${dup.path} is already configured${dup.path !== path && dup.version === found.version ? ` (the same version as ${path})` : ''}`, {
      exitCode: 2, hint: `remove it first: niso runtime remove ${dup.name}:${dup.version}`,
    });
  }
  const info = await completeRuntime(found);
  const entry: ConfiguredRuntime = { name: want.name, version: found.version, path };
  await writeRuntimeConfig(root, [...entries, entry]);
  return { info, entry };
}

/** Removes the configured runtime named by `NAME:VERSION` (or by its path); the version must pick exactly one. */
export async function removeRuntime(root: string, spec: string): Promise<ConfiguredRuntime> {
  const entries = await readRuntimeConfig(root);
  const byPath = spec.startsWith('/') ? entries.filter((e) => e.path === spec) : undefined;
  const want = byPath ? undefined : parseRuntimeSpec(spec, { versionOptional: true });
  const hits = byPath ?? entries.filter((e) => e.name === want!.name && (want!.version === undefined || versionMatches(want!.version, e.version)));
  const listing = (es: ConfiguredRuntime[]) => es.map((e) => `${e.name}:${e.version} (${e.path})`).join(', ');
  if (hits.length === 0) {
    throw new NisoError('NISO3007', `no configured runtime matches ${spec}`, {
      exitCode: 2,
      hint: entries.length > 0 ? `configured: ${listing(entries)}` : 'no runtimes are configured; `niso runtime list` shows the discovered ones, which need no removing',
    });
  }
  if (hits.length > 1) {
    throw new NisoError('NISO3006', `${spec} matches ${hits.length} configured runtimes: ${listing(hits)}`, { exitCode: 2, hint: `name the full version, e.g. ${hits[0]!.name}:${hits[0]!.version}` });
  }
  await writeRuntimeConfig(root, entries.filter((e) => e !== hits[0]));
  return hits[0]!;
}

export interface ListedRuntime {
  name: RuntimeName;
  version: string;
  /** Where it was found or configured. */
  path: string;
  source: RuntimeSource;
  /** An installed runtime's digest (sha256 of its tarball) and where it came from. */
  digest?: string;
  origin?: string;
  /** Files the sandbox sees (directories counted by their contents). */
  files?: number;
  info?: RuntimeInfo;
  /** Why a configured runtime is not usable now. */
  error?: { code: string; message: string };
}

/**
 * Configured runtimes (checked) and every discovered one, configured first, then by name and
 * version. A runtime that cannot be used is listed with its error instead of failing the list.
 */
export async function listRuntimes(root: string, opts: DiscoverOptions = {}): Promise<ListedRuntime[]> {
  const cache = opts.cache ?? new LddCache();
  const entries = await readRuntimeConfig(root);
  const [probed, discovered] = await Promise.all([
    Promise.all(entries.map((e) => probeConfigured(e, opts).catch((err: unknown) => err))),
    Promise.all(RUNTIME_DRIVER_NAMES.map((n) => findRuntimes(n, { ...opts, cache }))).then((x) => x.flat()),
  ]);
  const configuredBinaries = new Set(probed.flatMap((p) => (isFound(p) ? [p.binary] : [])));
  const complete = async (f: FoundRuntime, path: string): Promise<ListedRuntime> => {
    const base = { name: f.name, version: f.version, path, source: f.source };
    try {
      const info = await completeRuntime(f, { cache });
      return { ...base, path: f.source === 'discovered' ? info.command : path, files: countFiles(info.mounts), info };
    } catch (err) {
      if (!isNisoError(err)) throw err;
      return { ...base, error: { code: err.code, message: err.message } };
    }
  };
  const order = (a: ListedRuntime, b: ListedRuntime) => (a.name !== b.name ? (a.name < b.name ? -1 : 1) : compareVersions(b.version, a.version));
  const configuredRows = Promise.all(entries.map(async (e, i): Promise<ListedRuntime> => {
    const p = probed[i];
    if (isFound(p)) return complete(p, e.path);
    if (!isNisoError(p)) throw p;
    return { name: e.name, version: e.version, path: e.path, source: 'configured', error: { code: p.code, message: p.message } };
  }));
  const discoveredRows = Promise.all(discovered.filter((d) => !configuredBinaries.has(d.binary)).map((d) => complete(d, d.path)));
  const installedRows = Promise.all(listInstalledRuntimes(root).map(async (r): Promise<ListedRuntime> => {
    const base = { name: r.name, version: r.version, path: join(r.path, r.binary), source: 'installed' as const, digest: r.digest, origin: originText(r) };
    try {
      const info = await completeInstalled(r, { ...opts, cache });
      return { ...base, files: countFiles(info.mounts), info };
    } catch (err) {
      if (!isNisoError(err)) throw err;
      return { ...base, error: { code: err.code, message: err.message } };
    }
  }));
  const [configured, installed, rest] = await Promise.all([configuredRows, installedRows, discoveredRows]);
  return [...configured.sort(order), ...installed.sort(order), ...rest.sort(order)];
}

const isFound = (x: unknown): x is FoundRuntime => typeof x === 'object' && x !== null && 'probe' in x;

export type RemovedRuntime = { kind: 'configured'; entry: ConfiguredRuntime } | { kind: 'installed'; runtime: InstalledRuntime };

/**
 * `niso runtime remove SPEC`: an entry of runtimes.toml, or an installed runtime (named by
 * NAME:VERSION, its `sha256:` digest or its path). A spec that matches both kinds is refused.
 */
export async function removeAnyRuntime(root: string, spec: string): Promise<RemovedRuntime> {
  const installed = listInstalledRuntimes(root);
  const listing = (rs: InstalledRuntime[]) => rs.map((r) => `${r.name}:${r.version} (${r.digest})`).join(', ');
  let hits: InstalledRuntime[];
  if (spec.startsWith('sha256:')) {
    hits = matchInstalled(installed, { digest: spec });
    if (hits.length === 0) throw new NisoError('NISO3013', `no installed runtime has the digest ${spec}`, { exitCode: 2, hint: installed.length > 0 ? `installed: ${listing(installed)}` : 'no runtimes are installed' });
  } else {
    const configured = await readRuntimeConfig(root);
    const want = spec.startsWith('/') ? undefined : parseRuntimeSpec(spec, { versionOptional: true });
    const inConfig = configured.filter((e) => (want ? e.name === want.name && (want.version === undefined || versionMatches(want.version, e.version)) : e.path === spec));
    hits = matchInstalled(installed, want ?? { path: spec });
    if (hits.length === 0) return { kind: 'configured', entry: await removeRuntime(root, spec) };
    if (inConfig.length > 0) {
      throw new NisoError('NISO3006', `${spec} matches both a configured runtime (${inConfig.map((e) => `${e.name}:${e.version} at ${e.path}`).join(', ')}) and an installed one (${listing(hits)})`, {
        exitCode: 2, hint: `name the configured one by its path, or the installed one by its digest, e.g. niso runtime remove ${hits[0]!.digest}`,
      });
    }
  }
  if (hits.length > 1) {
    throw new NisoError('NISO3006', `${spec} matches ${hits.length} installed runtimes: ${listing(hits)}`, { exitCode: 2, hint: `name the full version or the digest, e.g. niso runtime remove ${hits[0]!.digest}` });
  }
  await removeInstalledRuntime(root, hits[0]!);
  return { kind: 'installed', runtime: hits[0]! };
}
