// A resolved stack written back as stack.toml, as `docker compose config` writes a compose file: every variable
// resolved, every env_file merged in, defaults made explicit, paths absolute. What it prints resolves to the same
// services again (a test holds it to that), so it can be kept as the frozen form of a deployment or diffed.
import { formatDuration } from '../manifest/units.js';
import type { PortMapping } from '../manifest/units.js';
import { formatRange } from '../net/model/ports.js';
import { DEFAULT_NETWORK_KEY, hostNetworkName, hostVolumeName } from './names.js';
import { formatPackageRef } from './package-ref.js';
import type { ResolvedStack, StackHealthcheck, StackService } from './types.js';

const BARE = /^[A-Za-z0-9_-]+$/;
const key = (k: string) => (BARE.test(k) ? k : str(k));
/** A TOML basic string; "$" doubled, since the file is interpolated when it is read again. */
const str = (s: string) => JSON.stringify(s.replace(/\$/g, '$$$$'));

function value(v: unknown): string {
  if (typeof v === 'string') return str(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(value).join(', ')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    return entries.length === 0 ? '{}' : `{ ${entries.map(([k, x]) => `${key(k)} = ${value(x)}`).join(', ')} }`;
  }
  return String(v);
}

export function formatPort(m: PortMapping): string {
  const ip = m.hostIp === null ? '' : m.hostIp.includes(':') ? `[${m.hostIp}]:` : `${m.hostIp}:`;
  return `${ip}${formatRange(m.host)}:${formatRange(m.container)}/${m.protocol}`;
}

function health(h: StackHealthcheck): string {
  if (h === null) return str('none');
  const { interval, timeout, start_period, start_interval, ...rest } = h;
  return value({ ...rest, interval: formatDuration(interval), timeout: formatDuration(timeout), start_period: formatDuration(start_period), start_interval: formatDuration(start_interval) });
}

function serviceLines(stack: ResolvedStack, s: StackService, note: string | undefined): string[] {
  const o = s.options;
  const lines = ['[[service]]', `name = ${str(s.service)}`, `package = ${str(formatPackageRef(s.package))}${note ? `  # ${note.replace(/\n/g, ' ')}` : ''}`];
  const kv = (k: string, v: unknown) => lines.push(`${k} = ${value(v)}`);
  if (o.entrypoint !== undefined) kv('entrypoint', o.entrypoint);
  if (o.args !== undefined && (o.args.length > 0 || o.entrypoint === undefined)) kv('command', o.args);
  if (o.ports !== undefined) kv('ports', o.ports.map(formatPort));
  if (o.network !== undefined) kv('network_mode', o.network);
  if (o.network !== 'host' && o.network !== 'none') {
    const withAliases = s.networks.some((n) => n.aliases.length > 1);
    if (withAliases) kv('networks', Object.fromEntries(s.networks.map((n) => [n.key, { aliases: n.aliases.filter((a) => a !== s.service) }])));
    else kv('networks', s.networks.map((n) => n.key));
  }
  if (s.dependsOn.length > 0) {
    kv('depends_on', Object.fromEntries(s.dependsOn.map((d) => [d.service, d.restart || !d.required ? { condition: d.condition, restart: d.restart, required: d.required } : d.condition])));
  }
  if (s.healthcheck !== undefined) lines.push(`healthcheck = ${health(s.healthcheck)}`);
  if (o.restart !== undefined) kv('restart', o.restart.maxRetries === null ? o.restart.policy : `${o.restart.policy}:${o.restart.maxRetries}`);
  const resources = { memory: o.memoryBytes, cpus: o.cpus, pids: o.pids, state_size: o.stateBytes };
  if (Object.values(resources).some((x) => x !== undefined)) kv('resources', resources);
  if (o.preset !== undefined) kv('preset', o.preset);
  if (o.capabilities !== undefined) kv('cap_add', o.capabilities);
  const mounts = o.mounts ?? [];
  if (mounts.length > 0) {
    const keyOf = (name: string) => stack.volumes.find((v) => v.name === name)?.key ?? name;
    // The short form keeps the order of mounts (nested targets depend on it); a ":" in a path needs the tables.
    if (mounts.every((m) => !m.source.includes(':') && !m.target.includes(':'))) {
      kv('volumes', mounts.map((m) => {
        const opts = [m.readOnly ? 'ro' : '', m.type === 'volume' && m.exclusive ? 'exclusive' : ''].filter((x) => x !== '').join(',');
        return `${m.type === 'volume' ? keyOf(m.source) : m.source}:${m.target}${opts ? `:${opts}` : ''}`;
      }));
    } else {
      const vols = mounts.flatMap((m) => (m.type === 'volume' ? [[keyOf(m.source), { mount: m.target, read_only: m.readOnly, exclusive: m.exclusive }] as const] : []));
      if (vols.length > 0) kv('volumes', Object.fromEntries(vols));
      const binds = mounts.flatMap((m) => (m.type === 'bind' ? [{ source: m.source, target: m.target, read_only: m.readOnly }] : []));
      if (binds.length > 0) kv('binds', binds);
    }
  }
  if (s.configs.length > 0) kv('configs', Object.fromEntries(s.configs.map((c) => [c.name ?? c.target!, c.file])));
  if (o.secrets !== undefined) kv('secrets', o.secrets.every((x) => x.target === undefined) ? o.secrets.map((x) => x.name) : Object.fromEntries(o.secrets.map((x) => [x.name, x.target === undefined ? {} : { target: x.target }])));
  if (s.profiles.length > 0) kv('profiles', s.profiles);
  const env = Object.entries(o.env ?? {});
  if (env.length > 0) lines.push('[service.environment]', ...env.map(([k, v]) => `${key(k)} = ${str(v)}`));
  return lines;
}

/** The stack as stack.toml text; `notes` adds a comment after a service's package (e.g. what it resolved to). */
export function renderStackToml(stack: ResolvedStack, notes: Readonly<Record<string, string>> = {}): string {
  const out: string[] = [`# ${stack.name}, resolved from ${stack.file}${stack.profiles.length > 0 ? ` with the profiles ${stack.profiles.join(', ')}` : ''}: every variable is resolved ("$" is written "$$")`];
  if (stack.inactive.length > 0) out.push(`# left out by the profiles: ${stack.inactive.map((s) => `${s.service} (${s.profiles.join(', ')})`).join(', ')}`);
  out.push('', '[stack]', `name = ${str(stack.name)}`);
  if (stack.description !== undefined) out.push(`description = ${str(stack.description)}`);
  if (stack.profiles.length > 0) out.push(`profiles = ${value(stack.profiles)}`);
  for (const s of stack.services) out.push('', ...serviceLines(stack, s, notes[s.service]));
  for (const n of stack.networks) {
    const own = n.name !== (n.external ? n.key : hostNetworkName(stack.name, n.key));
    if (n.key === DEFAULT_NETWORK_KEY && !n.external && !own && n.egress) continue;
    out.push('', `[network.${key(n.key)}]`);
    if (n.external) out.push('external = true');
    if (own) out.push(`name = ${str(n.name)}`);
    if (!n.egress) out.push('egress = false');
  }
  for (const v of stack.volumes) {
    const own = v.name !== (v.external ? v.key : hostVolumeName(stack.name, v.key));
    if (!v.external && !own) continue;
    out.push('', `[volume.${key(v.key)}]`);
    if (v.external) out.push('external = true');
    if (own) out.push(`name = ${str(v.name)}`);
  }
  return out.join('\n') + '\n';
}
