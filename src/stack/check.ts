// The rules of a stack that look across its services: unique names, dependencies that exist and are not circular,
// `healthy` only on a service that has a health check, no host port mapped twice, an exclusive volume mounted by one
// service only, networks that are declared. They read the file's values as written (after interpolation) with care
// for every type, because they run even where single fields failed: one pass reports every problem.
import type { Diagnostic } from '../errors/niso-error.js';
import { parsePortMapping, type PortMapping } from '../manifest/units.js';
import { suggest } from '../manifest/suggest.js';
import { formatPath, locate, type PathKey, type TomlDocument } from '../manifest/toml-positions.js';
import { findCycles } from './graph.js';
import { DEFAULT_NETWORK_KEY, HOST_NETWORK_RE, HOST_VOLUME_RE, KEY_RE, NETWORK_NAME_MAX, SERVICE_NAME_RE, STACK_NAME_RE, VOLUME_NAME_MAX, hostNetworkName, hostVolumeName } from './names.js';
import type { DependencyCondition } from './types.js';

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

const CONDITIONS: Record<string, DependencyCondition> = { started: 'started', healthy: 'healthy', completed: 'completed', service_started: 'started', service_healthy: 'healthy', service_completed_successfully: 'completed' };

export interface LooseDependency { service: string; path: PathKey[]; condition: DependencyCondition | undefined; required: boolean }
export interface LooseMount { kind: 'volume' | 'bind'; key?: string; target: string; exclusive: boolean; path: PathKey[]; prefer: 'key' | 'value' }
export interface LooseService {
  index: number;
  name: string | undefined;
  profiles: string[];
  dependsOn: LooseDependency[];
  /** The stack's own word on its health check: "none", a table of its own, or nothing (the package's). */
  health: 'none' | 'own' | undefined;
  ports: { mapping: PortMapping; path: PathKey[] }[];
  mounts: LooseMount[];
  networks: { key: string; path: PathKey[]; prefer: 'key' | 'value' }[];
  networkMode: string | undefined;
}

/** What each service says, as far as its values can be read. */
export function looseServices(root: Record<string, unknown>): LooseService[] {
  const list = Array.isArray(root.service) ? root.service : [];
  return list.map((raw, index): LooseService => {
    const s = isTable(raw) ? raw : {};
    const at = (...p: PathKey[]): PathKey[] => ['service', index, ...p];
    const dependsOn: LooseDependency[] = [];
    if (Array.isArray(s.depends_on)) s.depends_on.forEach((d, i) => { if (typeof d === 'string') dependsOn.push({ service: d, path: at('depends_on', i), condition: 'started', required: true }); });
    else if (isTable(s.depends_on)) {
      for (const [k, v] of Object.entries(s.depends_on)) {
        const c = typeof v === 'string' ? CONDITIONS[v] : isTable(v) ? (v.condition === undefined ? 'started' : CONDITIONS[String(v.condition)]) : undefined;
        dependsOn.push({ service: k, path: at('depends_on', k), condition: c, required: !(isTable(v) && v.required === false) });
      }
    }
    const ports: LooseService['ports'] = [];
    if (Array.isArray(s.ports)) {
      s.ports.forEach((p, i) => {
        let text: string | undefined;
        if (typeof p === 'string') text = p;
        else if (isTable(p) && (typeof p.published === 'number' || typeof p.published === 'string') && (typeof p.target === 'number' || typeof p.target === 'string')) {
          const ip = typeof p.host_ip === 'string' ? (p.host_ip.includes(':') ? `[${p.host_ip}]:` : `${p.host_ip}:`) : '';
          text = `${ip}${p.published}:${p.target}/${typeof p.protocol === 'string' ? p.protocol : 'tcp'}`;
        }
        const r = text === undefined ? undefined : parsePortMapping(text);
        if (r?.ok) ports.push({ mapping: r.value, path: at('ports', i) });
      });
    }
    const mounts: LooseMount[] = [];
    if (isTable(s.volumes)) {
      for (const [k, v] of Object.entries(s.volumes)) {
        const target = typeof v === 'string' ? v : isTable(v) ? str(v.mount) : undefined;
        if (target !== undefined) mounts.push({ kind: 'volume', key: k, target, exclusive: isTable(v) && v.exclusive === true, path: at('volumes', k), prefer: 'key' });
      }
    } else if (Array.isArray(s.volumes)) {
      s.volumes.forEach((v, i) => {
        if (typeof v !== 'string') return;
        const parts = v.split(':');
        if (parts.length < 2 || parts.length > 3) return;
        const isBind = /^(\/|\.\.?(\/|$)|~)/.test(parts[0]!);
        mounts.push({ kind: isBind ? 'bind' : 'volume', ...(isBind ? {} : { key: parts[0] }), target: parts[1]!, exclusive: (parts[2] ?? '').split(',').includes('exclusive'), path: at('volumes', i), prefer: 'value' });
      });
    }
    if (Array.isArray(s.binds)) s.binds.forEach((b, i) => { if (isTable(b) && typeof b.target === 'string') mounts.push({ kind: 'bind', target: b.target, exclusive: false, path: at('binds', i, 'target'), prefer: 'value' }); });
    const networks: LooseService['networks'] = [];
    if (Array.isArray(s.networks)) s.networks.forEach((n, i) => { if (typeof n === 'string') networks.push({ key: n, path: at('networks', i), prefer: 'value' }); });
    else if (isTable(s.networks)) for (const k of Object.keys(s.networks)) networks.push({ key: k, path: at('networks', k), prefer: 'key' });
    return {
      index,
      name: str(s.name),
      profiles: Array.isArray(s.profiles) ? s.profiles.filter((p): p is string => typeof p === 'string') : [],
      dependsOn,
      health: s.healthcheck === 'none' ? 'none' : isTable(s.healthcheck) ? 'own' : undefined,
      ports,
      mounts,
      networks,
      networkMode: str(s.network_mode),
    };
  });
}

/** Whether the profiles in effect enable a service: one with no profiles always runs. */
export const enabledBy = (active: readonly string[]) => (s: { profiles: readonly string[] }): boolean => s.profiles.length === 0 || s.profiles.some((p) => active.includes(p));

export interface HostNames {
  volume(key: string): string;
  network(key: string): string;
}

/** The host names of the stack's volumes and networks, from `[volume.KEY]`/`[network.KEY]` where they say so. */
export function hostNames(root: Record<string, unknown>): HostNames {
  const stack = isTable(root.stack) ? str(root.stack.name) ?? '' : '';
  const decl = (table: unknown, key: string) => (isTable(table) && isTable(table[key]) ? table[key] : undefined);
  const name = (table: unknown, key: string, prefixed: (s: string, k: string) => string) => {
    const d = decl(table, key);
    const own = d ? str(d.name) : undefined;
    return own ?? (d?.external === true ? key : prefixed(stack, key));
  };
  return { volume: (k) => name(root.volume, k, hostVolumeName), network: (k) => name(root.network, k, hostNetworkName) };
}

export interface CheckInput {
  doc: TomlDocument;
  /** The interpolated document without its `x-` keys. */
  root: Record<string, unknown>;
  file: string;
  profiles: readonly string[];
  /** The package's answer where the stack does not override the health check; undefined: not known here. */
  hasHealthcheck?: (service: string) => boolean | undefined;
}

export interface CheckResult { errors: Diagnostic[]; warnings: Diagnostic[] }

const rangesOverlap = (a: PortMapping['host'], b: PortMapping['host']) => a.from <= b.to && b.from <= a.to;
const ipOf = (m: PortMapping) => (m.hostIp === '0.0.0.0' ? null : m.hostIp);
export const portsOverlap = (a: PortMapping, b: PortMapping): boolean => a.protocol === b.protocol && rangesOverlap(a.host, b.host) && (ipOf(a) === null || ipOf(b) === null || ipOf(a) === ipOf(b));
export const describePort = (m: PortMapping): string => `${m.hostIp ?? ''}${m.hostIp ? ':' : ''}${m.host.from === m.host.to ? m.host.from : `${m.host.from}-${m.host.to}`}/${m.protocol}`;

export function checkStack(input: CheckInput): CheckResult {
  const { doc, root, file } = input;
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const at = (path: PathKey[], prefer: 'key' | 'value' = 'value') => ({ file, ...locate(doc, path, prefer) });
  const services = looseServices(root);
  const names = hostNames(root);
  const stackName = isTable(root.stack) ? str(root.stack.name) : undefined;
  const field = formatPath;

  // Names: each once.
  const byName = new Map<string, LooseService>();
  for (const s of services) {
    if (s.name === undefined || !SERVICE_NAME_RE.test(s.name)) continue;
    const first = byName.get(s.name);
    if (first) {
      const p = first.index;
      errors.push({ code: 'NISO5304', ...at(['service', s.index, 'name']), field: field(['service', s.index, 'name']), message: `two services are named "${s.name}" (the first is service[${p}], line ${locate(doc, ['service', p, 'name']).line})`, hint: 'give each service a name of its own' });
    } else byName.set(s.name, s);
  }
  const known = [...byName.keys()];
  const enabled = enabledBy(input.profiles);

  // Dependencies: they exist, are enabled with their dependents, and `healthy` has something to wait for.
  for (const s of services) {
    for (const d of s.dependsOn) {
      const f = field(d.path);
      const target = byName.get(d.service);
      if (!target) {
        if (d.service === s.name) continue; // a service that names itself: a cycle, reported below
        const best = suggest(d.service, known.filter((k) => k !== s.name));
        errors.push({ code: 'NISO5306', ...at(d.path, 'key'), field: f, message: `${s.name ?? `service[${s.index}]`} depends on "${d.service}", which is no service of this stack`, hint: best ? `did you mean "${best}"?` : known.length > 1 ? `the services are ${known.join(', ')}` : 'add a [[service]] of that name, or remove the dependency' });
        continue;
      }
      if (enabled(s) && !enabled(target)) {
        const msg = `${s.name} depends on "${d.service}", which the profiles in effect leave out (it runs with ${target.profiles.map((p) => `"${p}"`).join(' or ')})`;
        if (d.required) errors.push({ code: 'NISO5309', ...at(d.path, 'key'), field: f, message: msg, hint: `add --profile ${target.profiles[0]}, give ${s.name} the same profiles, or mark the dependency required = false` });
        else warnings.push({ code: 'NISO5309', ...at(d.path, 'key'), field: f, message: `${msg}; it is optional (required = false), so ${s.name} starts without it`, hint: `add --profile ${target.profiles[0]} to run it` });
      }
      if (d.condition === 'healthy') {
        const has = target.health === 'none' ? false : target.health === 'own' ? true : input.hasHealthcheck?.(d.service);
        if (has === false) {
          const why = target.health === 'none' ? 'its healthcheck is "none"' : 'its package has no health check';
          errors.push({ code: 'NISO5308', ...at(d.path, 'key'), field: f, message: `${s.name} waits for "${d.service}" to be healthy, but ${why}: it would never be`, hint: `give ${d.service} a healthcheck (e.g. healthcheck = { tcp = PORT }), or wait for condition "started"` });
        }
      }
    }
  }
  for (const cycle of findCycles(services.filter((s) => s.name !== undefined && byName.get(s.name) === s).map((s) => ({ service: s.name!, dependsOn: s.dependsOn })))) {
    const first = byName.get(cycle[0]!)!;
    const edge = first.dependsOn.find((d) => d.service === (cycle[1] ?? cycle[0]))!;
    const loop = [...cycle, cycle[0]].join(' → ');
    errors.push({
      code: 'NISO5307', ...at(edge.path, 'key'), field: field(edge.path),
      message: cycle.length === 1 ? `${cycle[0]} depends on itself` : `dependency cycle: ${loop}`,
      hint: cycle.length === 1 ? 'remove the dependency' : `no order can start them; remove one of the dependencies (e.g. ${cycle.at(-1)} → ${cycle[0]})`,
    });
  }

  // Networks: declared (or the implicit default), with host names niso can make.
  const netDecl = isTable(root.network) ? root.network : {};
  const declared = [DEFAULT_NETWORK_KEY, ...Object.keys(netDecl)];
  for (const s of services) {
    for (const n of s.networks) {
      if (n.key === DEFAULT_NETWORK_KEY || Object.hasOwn(netDecl, n.key) || !KEY_RE.test(n.key)) continue;
      const best = suggest(n.key, declared);
      errors.push({ code: 'NISO5318', ...at(n.path, n.prefer), field: field(n.path), message: `network "${n.key}" is not declared`, hint: best ? `did you mean "${best}"? Otherwise add a [network.${n.key}] table` : `add a [network.${n.key}] table (a service joins "default" without one)` });
    }
  }
  if (stackName !== undefined && STACK_NAME_RE.test(stackName)) {
    const usedNets = new Map<string, PathKey[]>();
    for (const s of services) for (const n of s.networks.length > 0 ? s.networks : [{ key: DEFAULT_NETWORK_KEY, path: ['service', s.index, 'name'] as PathKey[], prefer: 'value' as const }]) if (!usedNets.has(n.key)) usedNets.set(n.key, n.path);
    const volDecl = isTable(root.volume) ? root.volume : {};
    const usedVols = new Map<string, PathKey[]>();
    for (const s of services) for (const m of s.mounts) if (m.kind === 'volume' && m.key !== undefined && !usedVols.has(m.key)) usedVols.set(m.key, m.path);
    /** Each key of a kind, as used or declared, must make a valid host name of that kind once the stack's name is put in front. */
    const hostNames = (kind: 'network' | 'volume', used: Map<string, PathKey[]>, decl: Record<string, unknown>, re: RegExp, max: number, limits: string) => {
      for (const k of Object.keys(decl)) used.set(k, [kind, k]);
      for (const [k, path] of used) {
        if (!KEY_RE.test(k)) continue;
        const name = names[kind](k);
        if (re.test(name)) continue;
        const own = isTable(decl[k]) && typeof (decl[k] as Record<string, unknown>).name === 'string';
        errors.push({ code: 'NISO5319', ...at(own ? [kind, k, 'name'] : path, 'key'), field: field(path), message: `${kind} ${JSON.stringify(k)} would be the host ${kind} ${JSON.stringify(name)}, which is ${name.length > max ? `longer than ${max} characters` : `not a valid ${kind} name`}`, hint: own ? `give it a name of ${limits} lower-case letters, digits, ".", "_" and "-"` : `shorten the stack's name or the ${kind}'s key: "${stackName}_${k}" must fit in ${max} characters` });
      }
    };
    hostNames('network', usedNets, netDecl, HOST_NETWORK_RE, NETWORK_NAME_MAX, '1-32');
    hostNames('volume', usedVols, volDecl, HOST_VOLUME_RE, VOLUME_NAME_MAX, '1-64');
  }

  // What runs together must not collide: host ports, exclusive volumes, two mounts at one place.
  const running = services.filter((s) => enabled(s) && (s.name === undefined || byName.get(s.name) === s));
  const seenPorts: { mapping: PortMapping; path: PathKey[]; service: LooseService }[] = [];
  for (const s of running) {
    for (const p of s.ports) {
      const other = seenPorts.find((o) => portsOverlap(o.mapping, p.mapping));
      if (other) {
        const who = other.service === s ? `its own ${field(other.path).replace(/^service\[\d+\]\./, '')}` : `${other.service.name ?? `service[${other.service.index}]`} (${field(other.path).replace(/^service\[\d+\]\./, '')}, line ${locate(doc, other.path).line})`;
        errors.push({ code: 'NISO5310', ...at(p.path), field: field(p.path), message: `${s.name ?? `service[${s.index}]`} maps host port ${describePort(p.mapping)}, which ${who} maps already`, hint: 'map each host port once in the stack; a mapping without an address takes the port on every address' });
      } else seenPorts.push({ ...p, service: s });
    }
  }
  const holders = new Map<string, { service: LooseService; mount: LooseMount }[]>();
  for (const s of running) for (const m of s.mounts) if (m.kind === 'volume' && m.key !== undefined) {
    const host = names.volume(m.key);
    const list = holders.get(host) ?? [];
    const exclusiveHolder = list.find((h) => h.mount.exclusive);
    if (list.length > 0 && (m.exclusive || exclusiveHolder)) {
      const h = exclusiveHolder ?? list[0]!;
      const me = s.name ?? `service[${s.index}]`;
      const them = `${h.service.name ?? `service[${h.service.index}]`} (line ${locate(doc, h.mount.path).line})`;
      const message = h.service === s ? `${me} mounts volume "${m.key}" twice, exclusively`
        : exclusiveHolder ? `${me} mounts volume "${m.key}", which ${them} mounts exclusively`
          : `${me} mounts volume "${m.key}" exclusively, but ${them} mounts it too`;
      errors.push({ code: 'NISO5312', ...at(m.path, m.prefer), field: field(m.path), message, hint: 'an exclusive volume is one service\'s alone: give each service its own volume, or drop exclusive = true where sharing is meant' });
    }
    list.push({ service: s, mount: m });
    holders.set(host, list);
  }
  for (const s of services) {
    const targets = new Map<string, LooseMount>();
    for (const m of s.mounts) {
      const prev = targets.get(m.target);
      if (prev) errors.push({ code: 'NISO5054', ...at(m.path, m.prefer), field: field(m.path), message: `${s.name ?? `service[${s.index}]`}: ${field(prev.path).replace(/^service\[\d+\]\./, '')} and ${field(m.path).replace(/^service\[\d+\]\./, '')} both mount at ${m.target}`, hint: 'give each mount its own place' });
      else targets.set(m.target, m);
    }
  }
  return { errors, warnings };
}
