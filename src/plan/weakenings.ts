// What a package's manifest asks for below the server preset's isolation, and whether the operator allowed it. A
// downloaded manifest must not switch its own sandbox off: each weakening takes effect only when the command line
// asks for the same (the operator's own flags) or the host configuration trusts the package for it
// ([trust.NAME] in /etc/niso/config.toml). Pure: the caller reads the host configuration.
import { NisoError, type Diagnostic } from '../errors/niso-error.js';
import type { Manifest } from '../manifest/schema.js';
import type { NetworkMode, PlanOverride, PresetName } from './plan.js';
import type { MountOption } from './build-plan.js';
import { PRESETS } from './presets.js';

/** What the operator allows one package on this host: [trust.NAME] in /etc/niso/config.toml, with the keys of the flags. */
export interface Trust {
  preset?: 'unsafe-none';
  network?: 'host';
  capabilities?: string[];
  syscalls?: string[];
  /** The highest task limit the package may set above the server preset's. */
  pids?: number;
  networks?: string[];
  /** Host paths of the manifest's [[mounts]], by source. */
  mounts?: string[];
  /** Secrets of the host ([secrets] in the manifest) the package may read. */
  secrets?: string[];
}

/** The command line's choices that decide whether the manifest's settings apply at all (they replace them). */
export interface OperatorChoices {
  preset?: PresetName;
  network?: NetworkMode;
  networks?: string[];
  pids?: number;
  /** --cap-add */
  capabilities?: string[];
  /** --allow-syscall */
  syscalls?: string[];
  /** -v / --mount: a host path there confirms the manifest's [[mounts]] of the same source (or replaces one at the same target). */
  mounts?: MountOption[];
  /** --secret: grants the secret, and confirms the manifest's of the same name. */
  secrets?: readonly { name: string }[];
}

export type Weakening =
  | { kind: 'preset'; value: 'unsafe-none' }
  | { kind: 'network'; value: 'host' }
  | { kind: 'capability'; value: string }
  | { kind: 'syscall'; value: string }
  | { kind: 'pids'; value: number }
  | { kind: 'networks'; value: string }
  | { kind: 'mount'; value: string; target: string; readOnly: boolean }
  /** description: what the manifest says the app uses it for, shown to the operator who is asked to confirm it. */
  | { kind: 'secret'; value: string; description?: string };

const DEFAULT_NETWORK = 'default';

/**
 * The manifest's settings below the server preset that the command line does not already decide: a flag that
 * replaces a setting (--preset, --network, --net, --pids) or grants the same (--cap-add, --allow-syscall) is the
 * operator's own choice.
 */
export function manifestWeakenings(m: Manifest, o: OperatorChoices): Weakening[] {
  const out: Weakening[] = [];
  const preset = o.preset ?? m.isolation.preset;
  const sandboxed = PRESETS[preset].sandboxed;
  if (m.isolation.preset === 'unsafe-none' && o.preset === undefined) out.push({ kind: 'preset', value: 'unsafe-none' });
  // The strict preset has no network at all (a manifest's "host" is refused there); unsafe-none is the host's anyway.
  const networked = sandboxed && preset !== 'strict';
  if (networked && o.network === undefined && m.network.mode === 'host') out.push({ kind: 'network', value: 'host' });
  for (const c of m.isolation.capabilities) if (!(o.capabilities ?? []).includes(c)) out.push({ kind: 'capability', value: c });
  if (sandboxed) for (const s of m.isolation.syscalls) if (!(o.syscalls ?? []).includes(s)) out.push({ kind: 'syscall', value: s });
  const serverPids = PRESETS.server.limits.pids!;
  if (sandboxed && o.pids === undefined && m.resources.pids !== undefined && m.resources.pids > serverPids) out.push({ kind: 'pids', value: m.resources.pids });
  // Another network than the default puts the app beside the services there; --net replaces the manifest's.
  if (networked && (o.network ?? m.network.mode) === 'private' && (o.networks ?? []).length === 0) {
    for (const n of m.network.networks) if (n !== DEFAULT_NETWORK) out.push({ kind: 'networks', value: n });
  }
  // A host path is the host's data: the package may name it, only the operator may open it. Unsandboxed, the app sees the host anyway.
  if (sandboxed) {
    const binds = (o.mounts ?? []).filter((x) => x.type === 'bind');
    for (const x of m.mounts ?? []) {
      if (!binds.some((b) => b.source === x.source || b.target === x.target)) out.push({ kind: 'mount', value: x.source, target: x.target, readOnly: x.read_only });
    }
  }
  // A host's secret, named by the package: the app could read any secret of the host whose name it guesses.
  for (const [name, entry] of Object.entries(m.secrets ?? {})) {
    if (!(o.secrets ?? []).some((s) => s.name === name)) out.push({ kind: 'secret', value: name, ...(entry.description !== undefined ? { description: entry.description } : {}) });
  }
  return out;
}

export function trusts(t: Trust | undefined, w: Weakening): boolean {
  if (!t) return false;
  switch (w.kind) {
    case 'preset': return t.preset === w.value;
    case 'network': return t.network === w.value;
    case 'capability': return (t.capabilities ?? []).includes(w.value);
    case 'syscall': return (t.syscalls ?? []).includes(w.value);
    case 'pids': return t.pids !== undefined && t.pids >= w.value;
    case 'networks': return (t.networks ?? []).includes(w.value);
    case 'mount': return (t.mounts ?? []).includes(w.value);
    case 'secret': return (t.secrets ?? []).includes(w.value);
  }
}

/** What the weakening gives the app, the manifest's line that asks for it, the flag and the [trust] line that allow it. */
function describe(w: Weakening): { field: string; asked: string; gives: string; flag: string; trust: string } {
  const q = JSON.stringify;
  switch (w.kind) {
    case 'preset': return { field: 'isolation.preset', asked: `[isolation] preset = ${q(w.value)}`, gives: 'no sandbox at all: the host\'s filesystem, processes and network', flag: `--preset ${w.value}`, trust: `preset = ${q(w.value)}` };
    case 'network': return { field: 'network.mode', asked: `[network] mode = ${q(w.value)}`, gives: 'the host\'s network: every port and interface of the host, and no isolation from it', flag: `--network ${w.value}`, trust: `network = ${q(w.value)}` };
    case 'capability': return { field: 'isolation.capabilities', asked: `[isolation] capabilities = [${q(w.value)}]`, gives: `the capability ${w.value}`, flag: `--cap-add ${w.value}`, trust: `capabilities = [${q(w.value)}]` };
    case 'syscall': return { field: 'isolation.syscalls', asked: `[isolation] syscalls = [${q(w.value)}]`, gives: `${w.value.startsWith('@') ? 'the system calls' : 'the system call'} ${w.value}, which the filter refuses`, flag: `--allow-syscall ${w.value}`, trust: `syscalls = [${q(w.value)}]` };
    case 'pids': return { field: 'resources.pids', asked: `[resources] pids = ${w.value}`, gives: `up to ${w.value} tasks instead of the server preset's ${PRESETS.server.limits.pids}, the bound that stops a fork bomb`, flag: `--pids ${w.value}`, trust: `pids = ${w.value}` };
    case 'networks': return { field: 'network.networks', asked: `[network] networks = [${q(w.value)}]`, gives: `a place on network ${q(w.value)}, beside the services there, instead of the default network`, flag: `--net ${w.value}`, trust: `networks = [${q(w.value)}]` };
    case 'mount': return { field: 'mounts', asked: `[[mounts]] source = ${q(w.value)}`, gives: `the host's ${w.value}${w.readOnly ? ' to read' : ', to read and write'}`, flag: `-v ${w.value}:${w.target}${w.readOnly ? ':ro' : ''}`, trust: `mounts = [${q(w.value)}]` };
    case 'secret': return { field: 'secrets', asked: `[secrets.${/^[A-Za-z0-9_-]+$/.test(w.value) ? w.value : q(w.value)}]`, gives: `the host's secret ${q(w.value)} (niso secret), readable by the app${w.description ? ` (${q(w.description)})` : ''}`, flag: `--secret ${w.value}`, trust: `secrets = [${q(w.value)}]` };
  }
}

/** A TOML table header for the package's [trust] entry: names with dots need quotes there. */
const trustTable = (name: string) => `[trust.${/^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name)}]`;

/** The refusal: every weakening the operator has not allowed, each with the flag and the host configuration that would. */
export function weakeningError(pkg: { name: string; version: string }, missing: readonly Weakening[]): NisoError {
  const diagnostics: Diagnostic[] = missing.map((w) => {
    const d = describe(w);
    return {
      code: 'NISO3105', field: d.field,
      message: `${d.asked} in its manifest: ${d.gives}`,
      hint: `if you trust ${pkg.name}, confirm it with ${d.flag}, or for every run and service of it on this host with \`${d.trust}\` under ${trustTable(pkg.name)} in /etc/niso/config.toml`,
    };
  });
  const flags = missing.map((w) => describe(w).flag).join(' ');
  return new NisoError('NISO3105', `package ${pkg.name} ${pkg.version} asks for less isolation than niso's default, which only you can allow (${flags})`, { exitCode: 2, diagnostics });
}

/**
 * The manifest's weakenings that the command line leaves to it, all allowed by `options.trust`; otherwise the refusal
 * (NISO3105) naming each one that is not, with the flag and the [trust] line that would allow it.
 */
export function allowedWeakenings(m: Manifest, o: OperatorChoices & { trust?: Trust }, pkg: { name: string; version: string }): Weakening[] {
  const asked = manifestWeakenings(m, o);
  const missing = asked.filter((w) => !trusts(o.trust, w));
  if (missing.length > 0) throw weakeningError(pkg, missing);
  return asked;
}

/** Where an override came from, for people: "manifest, allowed by [trust] in the host config" when the operator allowed it there. */
export function overrideSource(o: PlanOverride): string {
  return o.confirmedBy === 'host config' ? `${o.from}, allowed by [trust] in the host config` : o.from;
}
