// buildPlan: manifest + options + host facts → Plan. Pure: every decision about isolation is
// made here (preset, overrides, mounts, user, environment, limits), none in the renderers.
import { NisoError } from '../errors/niso-error.js';
import type { Manifest } from '../manifest/schema.js';
import type { PortMapping } from '../manifest/units.js';
import type { HealthProbe, Plan, PlanHealth, PlanInit, PlanRuntime, PlanMount, PlanOverride, PlanPrepare, PlanRestart, PresetName, NetworkMode, RestartPolicy } from './plan.js';
import { DEFAULT_STATE_BYTES, PRESETS } from './presets.js';
import { allowedWeakenings, type Trust, type Weakening } from './weakenings.js';
import { bindGrants, checkTargets, configGrants, volumeGrants } from './grants.js';
import { secretGrants, secretMounts, type SecretGrant } from './secrets.js';

export interface RuntimeFacts {
  name: string;
  version: string;
  binary: string;
  commands: Record<string, string>;
  mounts: { source: string; target: string }[];
  env: Record<string, string>;
  /** Where it came from, recorded in the plan (plan.runtime) so that inspect and --dry-run show it. */
  source?: PlanRuntime['source'];
  digest?: string;
  origin?: string;
  /** The runtime the package was packed with, and the manifest's digest pin: shown beside the one it gets. */
  packed?: PlanRuntime['packed'];
  pinned?: string;
}

/** The plan's record of the runtime, when the host said where it came from. */
function runtimeOf(r: RuntimeFacts | null): { runtime?: PlanRuntime } {
  if (!r?.source) return {};
  return {
    runtime: {
      name: r.name, version: r.version, source: r.source, binary: r.binary, ...(r.digest ? { digest: r.digest } : {}), ...(r.origin ? { origin: r.origin } : {}),
      ...(r.packed ? { packed: { version: r.packed.version, source: r.packed.source, ...(r.packed.digest ? { digest: r.packed.digest } : {}) } } : {}),
      ...(r.pinned ? { pinned: r.pinned } : {}),
    },
  };
}

/** A host program the sandbox gets ([isolation] tools): mounted at /usr/bin/NAME and /bin/NAME with its libraries. */
export interface ToolFacts {
  name: string;
  source: string;
  libraries: { source: string; target: string }[];
}

/** Where a tool appears in the sandbox: both spellings, since scripts name /bin/sh and /usr/bin/env alike. */
export const toolTargets = (name: string): string[] => [`/bin/${name}`, `/usr/bin/${name}`];

/** The manifest's tools; a package installed by a niso before them stored a manifest without the key. */
export const manifestTools = (m: Manifest): string[] => (m.isolation as { tools?: string[] }).tools ?? [];

export interface HostFacts {
  /** The resolved runtime, when the manifest asks for one. */
  runtime: RuntimeFacts | null;
  /** Library closure of a runtime-less entrypoint (its binary lives in the package). */
  binaryMounts: { source: string; target: string }[];
  /**
   * Host files shared read-only when present: zone info, CA bundle, DNS config; the time zone database
   * (/usr/share/zoneinfo) and glibc's C.UTF-8 locale (/usr/lib/locale/C.utf8), as real paths.
   */
  hostFiles: { localtime: string | null; caCertificates: string | null; resolvConf: string | null; zoneinfo: string | null; locale: string | null };
  /**
   * The manifest's [isolation] tools as found on this host (sandbox/tools.ts), in the manifest's order: the real file
   * of each and the shared libraries it loads (target: where the loader looks, source: the real file).
   */
  tools?: ToolFacts[];
  /**
   * A package built from Debian packages ([debian]): what its root holds, read from the installed package. usr: the
   * merged-/usr directories present (bin, sbin, lib, lib64, ...); etc: the names below its /etc; libraryPath: the
   * library directories its ld.so.conf.d adds.
   */
  debianRoot?: { usr: string[]; etc: string[]; libraryPath: string[] };
  uid: number;
  gid: number;
  /** The service's former uid, when it had to get a new one: its files in the state dir are given over at start. */
  previousUid?: number | null;
  stateDir: string;
  /** Where the image that bounds the state dir lives (made at the first start). */
  stateImage: string;
  /**
   * A run's own /state, gone when it ends: a tmpfs of the bound inside the sandbox (no image, no mount on the host);
   * stateDir is used only where there is no sandbox to make one in.
   */
  stateTemporary?: boolean;
  /** The host's bound for a state dir whose manifest and command line set none; null: unbounded ("unlimited"). */
  stateDefaultBytes: number | null;
  /**
   * The volumes its grants name (plan/grants.ts volumeGrants), as the host has them: the directory that is mounted and
   * the volume's group, which the service joins. Made and checked (exclusive grants) by the caller before the plan.
   */
  volumes?: Record<string, { dir: string; gid: number }>;
  /** Host paths of its binds as the kernel finds them (symlinks resolved, checked: sandbox/grants-host.ts), by the path asked for. */
  bindSources?: Record<string, string>;
  /** The secrets it is granted, by name: their sha256 (the bytes never enter a plan) and size; absent: no such secret. */
  secrets?: Record<string, { digest: string; size?: number }>;
  /**
   * The service's private network, once niso has prepared it: the namespace to run in and the
   * /etc/hosts naming the services it shares networks with. Without it, "private" falls back to
   * loopback only.
   */
  network?: { netns: string; hosts: string } | null;
}

/** A grant from the command line: a volume by name (made on first use), or a host path (`-v /srv/media:/media:ro`). */
export type MountOption =
  | { type: 'volume'; source: string; target: string; readOnly: boolean; exclusive: boolean }
  | { type: 'bind'; source: string; target: string; readOnly: boolean };

export interface PlanOptions {
  preset?: PresetName;
  network?: NetworkMode;
  /** Networks to join (private mode), replacing the manifest's. */
  networks?: string[];
  /** Port mappings from the command line (private mode); they replace the manifest's, so that a second service of one package does not map the same host ports. */
  ports?: PortMapping[];
  /**
   * false: no port is mapped at all, neither the manifest's nor `ports`: a one-off run beside its service (`niso run
   * SERVICE -- CMD`), whose ports stay the service's, as `docker compose run` leaves them without --service-ports.
   */
  publish?: false;
  env?: Record<string, string>;
  memoryBytes?: number;
  cpus?: number;
  pids?: number;
  stateBytes?: number;
  /** Replace the manifest's args (like `docker run IMAGE ARGS`). */
  args?: string[];
  /** Run another program of the package (or of its runtime) instead of the manifest's entrypoint, without its args (`--entrypoint`, as Docker's). */
  entrypoint?: string;
  /** Replace the manifest's restart policy (`--restart`). */
  restart?: { policy: RestartPolicy; maxRetries: number | null };
  /** Capabilities to grant besides the manifest's (`--cap-add`); the operator's confirmation of the manifest's own. */
  capabilities?: string[];
  /** System calls or @groups to let through the filter besides the manifest's (`--allow-syscall`). */
  syscalls?: string[];
  /** Volumes and host paths from the command line (-v, --mount), in its order. */
  mounts?: MountOption[];
  /** Config files (--config): source is niso's own copy (made at activation, or per run), mounted read-only at target. */
  configs?: { source: string; target: string }[];
  /** Secrets granted on the command line (--secret NAME[,target=PATH]); target defaults to /run/secrets/NAME. */
  secrets?: { name: string; target?: string }[];
  /**
   * What the host configuration trusts this package with ([trust.NAME]), copied at activation so that a service
   * keeps what was confirmed when it was made.
   */
  trust?: Trust;
  /** A stack's health check instead of the manifest's; null: none at all (`healthcheck = "none"`). */
  healthcheck?: Manifest['healthcheck'] | null;
  /** More names the service answers to on a network (a stack's service name and aliases), by network name. */
  aliases?: Record<string, string[]>;
}

export interface PlanInput {
  service: string;
  manifest: Manifest;
  package: { name: string; version: string; digest: string; path: string };
  options: PlanOptions;
  host: HostFacts;
}

const APP = '/app';

function restartOf(m: Manifest, options: PlanOptions, overrides: PlanOverride[]): PlanRestart {
  const fromManifest = { policy: m.restart.policy, maxRetries: m.restart.max_retries ?? null };
  const chosen = options.restart ?? fromManifest;
  if (options.restart && (options.restart.policy !== fromManifest.policy || options.restart.maxRetries !== fromManifest.maxRetries)) {
    overrides.push({ property: 'restart.policy', preset: fromManifest, value: options.restart, from: 'command line' });
  }
  return { policy: chosen.policy, maxRetries: chosen.policy === 'on-failure' ? chosen.maxRetries : null, delayMs: m.restart.delay, maxDelayMs: Math.max(m.restart.max_delay, m.restart.delay) };
}

function healthOf(m: Manifest, options: PlanOptions): PlanHealth | null {
  const h = options.healthcheck === null ? undefined : options.healthcheck ?? m.healthcheck;
  if (!h) return null;
  let probe: HealthProbe;
  if (h.http !== undefined) probe = { kind: 'http', url: h.http };
  else if (h.exec !== undefined) probe = { kind: 'exec', argv: [...h.exec] };
  else {
    const t = h.tcp!;
    if (typeof t === 'number') probe = { kind: 'tcp', host: '127.0.0.1', port: t };
    else {
      const i = t.lastIndexOf(':');
      probe = { kind: 'tcp', host: t.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(t.slice(i + 1)) };
    }
  }
  return { probe, intervalMs: h.interval, timeoutMs: h.timeout, retries: h.retries, startPeriodMs: h.start_period, startIntervalMs: h.start_interval, onUnhealthy: h.on_unhealthy };
}
const STATE = '/state';

function etcFiles(service: string, user: string, uid: number, gid: number, hosts: string | null): PlanMount[] {
  const file = (target: string, content: string): PlanMount => ({ type: 'file', target, content, purpose: 'etc' });
  return [
    file('/etc/passwd', `root:x:0:0:root:/root:/usr/sbin/nologin\n${user}:x:${uid}:${gid}:niso service ${service}:${STATE}:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`),
    file('/etc/group', `root:x:0:\n${user}:x:${gid}:\nnogroup:x:65534:\n`),
    file('/etc/hosts', hosts ?? `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${service}\n`),
    file('/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n'),
  ];
}

/** What niso writes into a sandbox's /etc itself, or mounts from the host: a package's own never goes over them. */
export const ETC_RESERVED: readonly string[] = ['passwd', 'group', 'shadow', 'gshadow', 'hosts', 'hostname', 'nsswitch.conf', 'resolv.conf', 'localtime', 'ssl', 'ld.so.cache', 'mtab'];

/**
 * The root of a package built from Debian packages, at the paths its programs expect: its /usr read-only, the merged-/usr
 * links (/bin -> usr/bin, /lib64 -> usr/lib64, ...), and what it ships in /etc, one entry at a time, so that niso's
 * own passwd, group, hosts and nsswitch.conf (and the host's zone and CA files) stay in place.
 */
export function debianRootMounts(appDir: string, root: { usr: string[]; etc: string[] }): PlanMount[] {
  const out: PlanMount[] = [{ type: 'bind', source: `${appDir}/usr`, target: '/usr', readOnly: true, purpose: 'package-root' }];
  for (const d of [...root.usr].sort()) out.push({ type: 'symlink', target: `/${d}`, linkTo: `usr/${d}` });
  for (const e of [...root.etc].sort()) if (!ETC_RESERVED.includes(e)) out.push({ type: 'bind', source: `${appDir}/etc/${e}`, target: `/etc/${e}`, readOnly: true, purpose: 'package-root' });
  return out;
}

/** The sandbox path of a program of the manifest (the entrypoint, the init command). */
function resolveProgram(ep: string, runtime: RuntimeFacts | null, what = 'the entrypoint', debian = false): string {
  const inApp = (p: string) => (p.startsWith(`${APP}/`) ? p : `${APP}/${p.replace(/^\.\//, '')}`);
  // A Debian root is mounted where its programs expect it: a program is its own absolute path.
  if (debian) return ep;
  if (ep.startsWith('/') && !ep.startsWith(`${APP}/`)) {
    throw new NisoError('NISO1402', `${what} "${ep}" is not a path inside the package`, { exitCode: 2, hint: 'the host\'s programs are not in the sandbox: give a file of the package ("bin/tool" or "/app/bin/tool") or a command of its runtime' });
  }
  if (!runtime) return inApp(ep);
  const cmd = runtime.commands[ep];
  if (cmd) return cmd;
  if (ep.includes('/')) return inApp(ep);
  throw new NisoError('NISO3102', `${what} "${ep}" is not a command of the ${runtime.name} runtime`, {
    exitCode: 2, hint: `use one of ${Object.keys(runtime.commands).join(', ')}, or a path inside the package such as "bin/start"`,
  });
}

/**
 * `--entrypoint` (and the program of `niso run SERVICE -- CMD`): every rule for it is here, so that run, activate and
 * a one-off cannot disagree. It names a program of the package or of its runtime, never a way out of the package.
 */
function entrypointOverride(ep: string, runtime: RuntimeFacts | null, debian: boolean): string {
  if (ep === '' || ep.includes('\0') || ep.split('/').includes('..')) {
    throw new NisoError('NISO1402', `the --entrypoint ${JSON.stringify(ep)} is not a program of the package`, {
      exitCode: 2, hint: 'give a file of the package ("bin/psql", "/app/bin/psql", or an absolute path of a [debian] package\'s root) or a command of its runtime ("node")',
    });
  }
  return resolveProgram(ep, runtime, 'the --entrypoint', debian);
}

/**
 * The same rules before a plan is made (a command checks them before it writes a service's definition or installs
 * anything for a run): what needs no runtime to tell, as a path that leaves the package.
 */
export function checkEntrypoint(manifest: Manifest, ep: string): void {
  entrypointOverride(ep, null, manifest.debian !== undefined);
}

/**
 * The init step, its condition's path found on the host through the mounts: the deepest bind or tmpfs that holds it.
 * A path in neither (the package, a file niso writes) could never change between starts: NISO3107.
 */
function initOf(m: Manifest, runtime: RuntimeFacts | null, mounts: PlanMount[] | null, stateDir: string): PlanInit | undefined {
  const i = m.init;
  if (!i) return undefined;
  const argv = [resolveProgram(i.command[0]!, runtime, 'the init command', m.debian !== undefined), ...i.command.slice(1)];
  const path = i.if_empty ?? i.unless_exists;
  if (path === undefined) return { argv, when: { kind: 'always' }, timeoutMs: i.timeout };
  const kind = i.if_empty !== undefined ? 'if-empty' : 'unless-exists';
  const under = (target: string) => path === target || path.startsWith(`${target === '/' ? '' : target}/`);
  if (mounts === null) {
    // No sandbox (unsafe-none): only the state dir has a place; other paths are the host's own.
    return { argv, when: { kind, path, hostPath: under(STATE) ? stateDir + path.slice(STATE.length) : path }, timeoutMs: i.timeout };
  }
  const holder = mounts
    .filter((x): x is Extract<PlanMount, { type: 'bind' | 'tmpfs' }> => (x.type === 'bind' && x.purpose !== 'app' && x.purpose !== 'runtime' && x.purpose !== 'config' && x.purpose !== 'host-file') || x.type === 'tmpfs')
    .filter((x) => under(x.target))
    .sort((a, b) => b.target.length - a.target.length)[0];
  if (!holder) {
    throw new NisoError('NISO3107', `the init step's condition ${kind === 'if-empty' ? 'if_empty' : 'unless_exists'} = "${path}" is not in a volume or /state of the service`, {
      exitCode: 2, field: `init.${kind === 'if-empty' ? 'if_empty' : 'unless_exists'}`,
      hint: 'point it into a volume the service mounts ([volumes] or -v), or into /state: only there can it change between starts',
    });
  }
  const hostPath = holder.type === 'tmpfs' ? null : holder.source + path.slice(holder.target.length);
  return { argv, when: { kind, path, hostPath }, timeoutMs: i.timeout };
}

/**
 * The volumes, host paths and config files of the plan (plan/grants.ts), as mounts sorted by target, and the volumes'
 * groups that the service joins.
 */
function grantMounts(input: PlanInput, appDir: string): { mounts: PlanMount[]; groups: number[] } {
  const { manifest: m, options: o, host } = input;
  const volumes = volumeGrants(input.service, m, o);
  const binds = bindGrants(m, o, o.trust?.mounts ?? []);
  const configs = configGrants(m, o, appDir);
  checkTargets([
    ...volumes.map((v) => ({ target: v.target, what: `volume ${v.volume}` })),
    ...binds.map((b) => ({ target: b.target, what: `host path ${b.source}` })),
    ...configs.map((c) => ({ target: c.target, what: `config file ${c.source}` })),
  ]);
  const groups = new Set<number>();
  const mounts: PlanMount[] = [];
  for (const v of volumes) {
    const found = host.volumes?.[v.volume];
    if (!found) throw new Error(`volume ${v.volume} was not prepared for the plan`);
    groups.add(found.gid);
    mounts.push({ type: 'bind', source: found.dir, target: v.target, readOnly: v.readOnly, purpose: 'volume', volume: v.volume });
  }
  for (const b of binds) {
    const real = host.bindSources?.[b.source];
    if (real === undefined) throw new Error(`host path ${b.source} was not checked for the plan`);
    mounts.push({ type: 'bind', source: real, target: b.target, readOnly: b.readOnly, purpose: 'bind' });
  }
  for (const c of configs) mounts.push({ type: 'bind', source: c.source, target: c.target, readOnly: true, purpose: 'config' });
  mounts.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  return { mounts, groups: [...groups].sort((a, b) => a - b) };
}

/** The secrets granted (plan/secrets.ts), recorded as overrides; a sandbox is needed to mount them as files. */
function secretsOf(m: Manifest, o: PlanOptions, preset: PresetName, overrides: PlanOverride[], confirmed: { confirmedBy?: 'host config' }): SecretGrant[] {
  const grants = secretGrants(m, o);
  if (grants.length === 0) return grants;
  if (!PRESETS[preset].sandboxed) {
    throw new NisoError('NISO5108', `secrets (${[...new Set(grants.map((g) => g.name))].join(', ')}) are files mounted in the sandbox, and the preset "${preset}" has none`, { exitCode: 2, hint: 'use the server or strict preset, or pass the value another way (--env-file)' });
  }
  const names = (from: SecretGrant['from']) => [...new Set(grants.filter((g) => g.from === from).map((g) => g.name))].sort();
  if (names('manifest').length > 0) overrides.push({ property: 'secrets', preset: [], value: names('manifest'), from: 'manifest', ...confirmed });
  if (names('command line').length > 0) overrides.push({ property: 'secrets', preset: [], value: names('command line'), from: 'command line' });
  return grants;
}

const ZONEINFO = '/usr/share/zoneinfo';
const LOCALE = '/usr/lib/locale/C.utf8';

/**
 * The mounts of the manifest's tools: each program at both of its usual paths, then its libraries. The host layer
 * found them (sandbox/tools.ts); a plan whose facts lack one was made without asking the host, which is a bug.
 */
function toolsOf(m: Manifest, host: HostFacts): { source: string; target: string }[] {
  const out: { source: string; target: string }[] = [];
  for (const name of manifestTools(m)) {
    const found = host.tools?.find((t) => t.name === name);
    if (!found) throw new Error(`tool ${name} was not looked up on the host for the plan`);
    for (const target of toolTargets(name)) out.push({ source: found.source, target });
    out.push(...found.libraries);
  }
  return out;
}

export function buildPlan(input: PlanInput): Plan {
  const { manifest: m, options: o, host } = input;
  const overrides: PlanOverride[] = [];
  const notes: string[] = [];
  const presetName: PresetName = o.preset ?? m.isolation.preset;
  if (o.preset && o.preset !== m.isolation.preset) overrides.push({ property: 'isolation.preset', preset: m.isolation.preset, value: o.preset, from: 'command line' });
  const preset = PRESETS[presetName];
  if (presetName === 'strict' && (o.network === 'host' || o.network === 'private' || m.network.mode === 'host')) {
    throw new NisoError('NISO3101', `the strict preset allows no network, but network mode "${o.network ?? m.network.mode}" was asked for`, { exitCode: 2, hint: 'use the server preset, or network mode "none"' });
  }
  // What the manifest asks for below the server preset takes effect only if the operator allowed it (weakenings.ts).
  const weakenings = allowedWeakenings(m, o, input.package);
  // What is left was allowed by the host configuration: the plan says so beside each of the manifest's changes.
  const confirmation = (kind: Weakening['kind']) => (weakenings.some((w) => w.kind === kind) ? { confirmedBy: 'host config' as const } : {});
  if (weakenings.some((w) => w.kind === 'preset')) overrides.push({ property: 'isolation.preset', preset: 'server', value: m.isolation.preset, from: 'manifest', confirmedBy: 'host config' });

  // Network: the command line wins over the manifest; strict allows none at all.
  let network: NetworkMode = preset.network;
  const wanted: NetworkMode = o.network ?? m.network.mode;
  if (presetName !== 'strict' && preset.sandboxed && wanted !== network) {
    if (wanted === 'private' && !host.network) {
      notes.push('network "private" was asked for, but no network was prepared for this plan: it gets loopback only');
      if (m.network.ports.length > 0 || (o.ports ?? []).length > 0) notes.push('the manifest\'s ports are mapped only on a private network (e.g. niso run -p HOST:CONTAINER)');
    } else {
      if (o.network) overrides.push({ property: 'network.mode', preset: network, value: wanted, from: 'command line' });
      else if (wanted === 'host') overrides.push({ property: 'network.mode', preset: network, value: wanted, from: 'manifest', ...confirmation('network') });
      network = wanted;
    }
  }
  const privateNet = network === 'private' && host.network
    ? { netns: host.network.netns, networks: o.networks && o.networks.length > 0 ? o.networks : m.network.networks.length > 0 ? m.network.networks : ['default'], ports: o.publish === false ? [] : o.ports && o.ports.length > 0 ? [...o.ports] : [...m.network.ports], egress: m.network.egress, ...(o.aliases && Object.keys(o.aliases).length > 0 ? { aliases: o.aliases } : {}) }
    : null;
  if (o.publish === false) overrides.push({ property: 'network.ports', preset: m.network.ports.length, value: 0, from: 'command line' });
  else if (o.ports && o.ports.length > 0) overrides.push({ property: 'network.ports', preset: m.network.ports.length, value: o.ports.length, from: 'command line' });
  const networksConfirmed = confirmation('networks');
  if (privateNet && networksConfirmed.confirmedBy) overrides.push({ property: 'network.networks', preset: ['default'], value: m.network.networks, from: 'manifest', ...networksConfirmed });

  // The state's bound is the host's default (not the preset's) unless the manifest or the command line set one.
  const limits: Plan['limits'] = { ...preset.limits, stateBytes: host.stateDefaultBytes };
  const limit = (key: keyof typeof limits, fromManifest: number | undefined, fromCli: number | undefined, property: string) => {
    const base = limits[key];
    for (const [value, from] of [[fromManifest, 'manifest'], [fromCli, 'command line']] as const) {
      if (value === undefined || value === limits[key]) continue;
      overrides.push({ property, preset: base, value, from });
      limits[key] = value;
    }
  };
  limit('memoryBytes', m.resources.memory, o.memoryBytes, 'resources.memory');
  limit('cpus', m.resources.cpus, o.cpus, 'resources.cpus');
  limit('pids', m.resources.pids, o.pids, 'resources.pids');
  const pidsOverride = overrides.find((x) => x.property === 'resources.pids' && x.from === 'manifest');
  if (pidsOverride) Object.assign(pidsOverride, confirmation('pids'));
  limit('nofile', m.resources.nofile, undefined, 'resources.nofile');
  limit('stateBytes', m.resources.state_size, o.stateBytes, 'resources.state_size');

  const capabilities = [...new Set([...preset.capabilities, ...m.isolation.capabilities, ...(o.capabilities ?? [])])].sort();
  if (m.isolation.capabilities.length > 0) overrides.push({ property: 'isolation.capabilities', preset: preset.capabilities, value: [...m.isolation.capabilities].sort(), from: 'manifest', ...confirmation('capability') });
  if ((o.capabilities ?? []).length > 0) overrides.push({ property: 'isolation.capabilities', preset: preset.capabilities, value: [...o.capabilities!].sort(), from: 'command line' });
  const allowed = [...new Set([...m.isolation.syscalls, ...(o.syscalls ?? [])])];
  if (m.isolation.syscalls.length > 0) overrides.push({ property: 'isolation.syscalls', preset: [], value: m.isolation.syscalls, from: 'manifest', ...confirmation('syscall') });
  if ((o.syscalls ?? []).length > 0) overrides.push({ property: 'isolation.syscalls', preset: [], value: o.syscalls, from: 'command line' });

  // systemd-sysusers refuses "." in a user name, which a stack's service has (`shop.db`): "_" instead, which no stack
  // or stack service name holds (names.ts); only a plain service named `shop_db` could share it, as the 32-character
  // cut already lets two long names share one (the uid, which is what counts, stays each service's own).
  const userName = `niso-${input.service.replace(/\./g, '_')}`.slice(0, 32);
  const { uid, gid } = host;
  const command = o.entrypoint !== undefined ? entrypointOverride(o.entrypoint, host.runtime, m.debian !== undefined) : resolveProgram(m.binary.entrypoint, host.runtime, 'the entrypoint', m.debian !== undefined);
  if (o.entrypoint !== undefined) overrides.push({ property: 'binary.entrypoint', preset: m.binary.entrypoint, value: o.entrypoint, from: 'command line' });
  // Another entrypoint drops the manifest's args, as Docker's --entrypoint drops the image's CMD.
  const argv = [command, ...(o.args && o.args.length > 0 ? o.args : o.entrypoint !== undefined ? [] : m.binary.args)];
  const env: Record<string, string> = {
    PATH: [...new Set([...Object.values(host.runtime?.commands ?? {}).map((c) => c.slice(0, c.lastIndexOf('/'))), ...(m.debian ? [] : [`${APP}/bin`]), '/usr/local/bin', '/usr/bin', '/bin', ...(m.debian ? ['/usr/sbin', '/sbin'] : [])])].join(':'),
    ...(host.debianRoot && host.debianRoot.libraryPath.length > 0 ? { LD_LIBRARY_PATH: host.debianRoot.libraryPath.join(':') } : {}),
    HOME: STATE,
    // A promise only where it can be kept: setlocale(LC_ALL, "") fails without the locale's files (mounted below).
    ...(host.hostFiles.locale || !preset.sandboxed ? { LANG: 'C.UTF-8' } : {}),
    NISO_SERVICE: input.service,
    NISO_PACKAGE: `${input.package.name}@${input.package.version}`,
    NISO_STATE_DIR: STATE,
    // OpenSSL in python, ruby and php looks for /usr/lib/ssl/cert.pem, which the sandbox lacks.
    ...(host.hostFiles.caCertificates ? { SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt' } : {}),
    ...host.runtime?.env,
    ...m.env,
    ...o.env,
  };
  if (o.env && Object.keys(o.env).length > 0) overrides.push({ property: 'env', preset: null, value: Object.keys(o.env).sort(), from: 'command line' });
  // Manifests and env files refuse NUL themselves; a package installed before they did must
  // still not reach execve, which cannot pass it (a string ends at a NUL: the rest would be lost,
  // or read as another option by bwrap, which takes its options NUL-separated).
  const nul = [...argv.map((a, i) => [`argument ${i} of the command`, a] as const), ...Object.entries(env).map(([k, v]) => [`environment variable ${k.replace(/\0/g, '\\0')}`, k + v] as const)].find(([, v]) => v.includes('\0'));
  if (nul) throw new NisoError('NISO1408', `the ${nul[0]} contains a NUL character`, { exitCode: 2, hint: 'remove it from the manifest (and pack and install the package again) or from the env file' });

  const secrets = secretsOf(m, o, presetName, overrides, confirmation('secret'));

  const restart = restartOf(m, input.options, overrides);
  const health = healthOf(m, input.options);
  const appDir = `${input.package.path}/app`;
  const granted = grantMounts(input, appDir);
  if (granted.mounts.length > 0 && !preset.sandboxed) {
    throw new NisoError('NISO5051', `the preset unsafe-none has no sandbox to mount ${granted.mounts.map((g) => g.target).join(', ')} in`, { exitCode: 2, hint: 'use the server preset (the default) for an app with volumes, host paths or config files' });
  }
  const temporaryState = host.stateTemporary === true;
  const prepare: PlanPrepare[] = temporaryState && preset.sandboxed ? [] : [{
    path: host.stateDir, uid, gid, mode: 0o700, chownFrom: host.previousUid ?? null,
    // Without a sandbox a run's own state is a plain dir: an app that can write anywhere on the host is bounded nowhere.
    bound: limits.stateBytes === null || temporaryState ? null : { image: host.stateImage, sizeBytes: limits.stateBytes },
  }];

  if (!preset.sandboxed) {
    // No sandbox: host paths as they are, run as the service user in the app's own directory.
    // A program as the host has it: a runtime's command is its binary, a file of the package is below the app's dir.
    const onHost = (program: string, inSandbox: string) => (host.runtime?.commands[program] ? host.runtime.binary : m.debian ? `${appDir}${inSandbox}` : inSandbox.replace(APP, appDir));
    const hostCommand = onHost(o.entrypoint ?? m.binary.entrypoint, command);
    const init = o.entrypoint === undefined ? initOf(m, host.runtime, null, host.stateDir) : undefined;
    return {
      planVersion: 1, service: input.service, package: input.package, ...runtimeOf(host.runtime), preset: presetName, overrides,
      user: { uid, gid, name: userName, home: host.stateDir },
      command: { argv: [hostCommand, ...argv.slice(1)], cwd: m.binary.workdir === APP ? appDir : m.binary.workdir, env: { ...env, HOME: host.stateDir, NISO_STATE_DIR: host.stateDir, PATH: '/usr/local/bin:/usr/bin:/bin' } },
      hostname: input.service, namespaces: preset.namespaces, network: { mode: 'host' }, mounts: [], capabilities,
      noNewPrivileges: preset.noNewPrivileges, seccomp: null, limits, allowUserNamespaces: true,
      stop: { signal: m.binary.stop_signal, timeoutMs: m.binary.stop_timeout }, restart, health, prepare,
      ...(init ? { init: { ...init, argv: [onHost(m.init!.command[0]!, init.argv[0]!), ...init.argv.slice(1)] } } : {}),
      notes: [...notes, 'preset "unsafe-none": the app is not sandboxed'],
    };
  }

  const runtimeMounts = [...(host.runtime?.mounts ?? []), ...host.binaryMounts].map((r) => ({ ...r, purpose: 'runtime' as const }));
  // Tools after the runtime: a library both need is the runtime's mount (the same file, found by the same loader).
  const toolMounts = toolsOf(m, host).map((r) => ({ ...r, purpose: 'tool' as const }));
  const seen = new Set<string>();
  const mounts: PlanMount[] = [];
  for (const r of [...runtimeMounts, ...toolMounts].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0))) {
    if (seen.has(r.target)) continue;
    seen.add(r.target);
    mounts.push({ type: 'bind', source: r.source, target: r.target, readOnly: true, purpose: r.purpose });
  }
  if (host.debianRoot) mounts.push(...debianRootMounts(appDir, host.debianRoot));
  mounts.push(
    { type: 'bind', source: appDir, target: APP, readOnly: true, purpose: 'app' },
    temporaryState
      ? { type: 'tmpfs', target: STATE, sizeBytes: limits.stateBytes ?? DEFAULT_STATE_BYTES, owner: { uid, gid, mode: 0o700 } }
      : { type: 'bind', source: host.stateDir, target: STATE, readOnly: false, purpose: 'state' },
    { type: 'tmpfs', target: '/tmp', sizeBytes: m.isolation.tmp_size },
    { type: 'proc', target: '/proc' },
    { type: 'dev', target: '/dev' },
    ...etcFiles(input.service, userName, uid, gid, privateNet ? host.network!.hosts : null),
  );
  // Time zone names (TZ=Europe/Berlin, node's and glibc's lookups) and the C.UTF-8 locale that LANG names.
  // A Debian root has its own /usr (read-only): what it needs of these, its packages bring (tzdata, libc-bin).
  if (host.hostFiles.zoneinfo && !host.debianRoot) mounts.push({ type: 'bind', source: host.hostFiles.zoneinfo, target: ZONEINFO, readOnly: true, purpose: 'host-file' });
  if (host.hostFiles.locale && !host.debianRoot) mounts.push({ type: 'bind', source: host.hostFiles.locale, target: LOCALE, readOnly: true, purpose: 'host-file' });
  if (host.hostFiles.localtime) mounts.push({ type: 'bind', source: host.hostFiles.localtime, target: '/etc/localtime', readOnly: true, purpose: 'host-file' });
  if (host.hostFiles.caCertificates) mounts.push({ type: 'bind', source: host.hostFiles.caCertificates, target: '/etc/ssl/certs/ca-certificates.crt', readOnly: true, purpose: 'host-file' });
  if ((network === 'host' || (privateNet && privateNet.egress)) && host.hostFiles.resolvConf) mounts.push({ type: 'bind', source: host.hostFiles.resolvConf, target: '/etc/resolv.conf', readOnly: true, purpose: 'host-file' });
  // Granted mounts last, parents before what is inside them: a config may go over a file of /app, a volume inside a host path.
  mounts.push(...granted.mounts);
  // Last, once every other mount is known: a secret's target must not clash with one.
  mounts.push(...secretMounts(secrets, host.secrets ?? {}, mounts));

  // Another entrypoint is a one-off program (a client, a dump): the init step belongs to the manifest's, as Docker's
  // --entrypoint replaces an image's entrypoint script with whatever it initialises.
  const sandboxedInit = o.entrypoint === undefined ? initOf(m, host.runtime, mounts, host.stateDir) : undefined;
  return {
    planVersion: 1,
    service: input.service,
    package: input.package,
    ...runtimeOf(host.runtime),
    preset: presetName,
    overrides,
    user: { uid, gid, name: userName, home: STATE, ...(granted.groups.length > 0 ? { groups: granted.groups } : {}) },
    command: { argv, cwd: m.binary.workdir, env },
    hostname: input.service,
    namespaces: { ...preset.namespaces, net: network !== 'host' },
    network: privateNet ? { mode: 'private', ...privateNet } : { mode: network },
    mounts,
    capabilities,
    noNewPrivileges: preset.noNewPrivileges,
    seccomp: preset.seccomp ? { profile: 'default', allow: allowed, errno: 'EPERM' } : null,
    limits,
    allowUserNamespaces: preset.allowUserNamespaces,
    stop: { signal: m.binary.stop_signal, timeoutMs: m.binary.stop_timeout },
    restart,
    health,
    ...(sandboxedInit ? { init: sandboxedInit } : {}),
    prepare,
    notes,
  };
}
