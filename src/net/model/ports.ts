// Port mappings as niso forwards them, and the rule that each host port goes to one place only:
// a second mapping, or a host process listening there, is an error that names who holds it.
import { NisoError } from '../../errors/niso-error.js';
import { isIpv4 } from './cidr.js';
import type { Listener, PortMap, PortRange } from './types.js';

/** The manifest's (and `-p`'s) port mapping, as src/manifest/units.ts parses it. */
export interface PortMappingInput {
  hostIp: string | null;
  host: PortRange;
  container: PortRange;
  protocol: 'tcp' | 'udp';
}

/** Turns a service's mappings into PortMaps to its address. "0.0.0.0" means every address. */
export function portMapsFor(service: string, target: string, mappings: readonly PortMappingInput[]): PortMap[] {
  return mappings.map((m) => {
    let hostIp = m.hostIp;
    if (hostIp === '0.0.0.0') hostIp = null;
    if (hostIp !== null && !isIpv4(hostIp)) {
      throw new NisoError('NISO4014', `port mapping ${hostIp}:${formatRange(m.host)}:${formatRange(m.container)} of service "${service}": IPv6 host addresses are not supported yet`, { hint: 'use 127.0.0.1, an IPv4 address of the host, or no address (every address)', exitCode: 2 });
    }
    if (m.host.to - m.host.from !== m.container.to - m.container.from) {
      throw new NisoError('NISO1201', `port mapping of service "${service}": host ports ${formatRange(m.host)} and container ports ${formatRange(m.container)} differ in length`, { exitCode: 2 });
    }
    return { service, hostIp, hostPort: { ...m.host }, protocol: m.protocol, target, containerPort: { ...m.container } };
  });
}

export function formatRange(r: PortRange): string {
  return r.from === r.to ? String(r.from) : `${r.from}-${r.to}`;
}

/** `127.0.0.1:8080/tcp`, `*:9000-9010/udp`. */
export function describeHostSide(p: Pick<PortMap, 'hostIp' | 'hostPort' | 'protocol'>): string {
  return `${p.hostIp ?? '*'}:${formatRange(p.hostPort)}/${p.protocol}`;
}

function rangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.from <= b.to && b.from <= a.to;
}

/** null (every address) overlaps everything; two addresses overlap only when equal. */
function hostIpsOverlap(a: string | null, b: string | null): boolean {
  return a === null || b === null || a === b;
}

export interface PortConflict { wanted: PortMap; heldBy: PortMap }

/** Mappings of `wanted` that clash with `existing` or with each other. */
export function findPortConflicts(wanted: readonly PortMap[], existing: readonly PortMap[]): PortConflict[] {
  const out: PortConflict[] = [];
  const seen: PortMap[] = [...existing];
  for (const w of wanted) {
    const held = seen.find((e) => e.protocol === w.protocol && rangesOverlap(e.hostPort, w.hostPort) && hostIpsOverlap(e.hostIp, w.hostIp));
    if (held) out.push({ wanted: w, heldBy: held });
    seen.push(w);
  }
  return out;
}

export function assertNoPortConflicts(wanted: readonly PortMap[], existing: readonly PortMap[]): void {
  const c = findPortConflicts(wanted, existing)[0];
  if (!c) return;
  const who = c.heldBy.service === c.wanted.service ? `another mapping of service "${c.heldBy.service}"` : `service "${c.heldBy.service}"`;
  throw new NisoError('NISO4008', `host port ${describeHostSide(c.wanted)} is already mapped by ${who} (${describeHostSide(c.heldBy)} → ${c.heldBy.target}:${formatRange(c.heldBy.containerPort)})`, { hint: 'map another host port, or stop the service that holds it' });
}

const WILDCARDS = new Set(['0.0.0.0', '*', '::', '[::]']);

/**
 * Host sockets that a mapping would shadow. A wildcard listener (0.0.0.0, ::, *) clashes with every
 * mapping of its port; a listener on one address clashes with mappings of that address or of all.
 * IPv6-only addresses other than :: never receive the IPv4 traffic niso maps, so they do not clash.
 */
export function findListenerConflicts(wanted: readonly PortMap[], listeners: readonly Listener[]): { wanted: PortMap; listener: Listener }[] {
  const out: { wanted: PortMap; listener: Listener }[] = [];
  for (const w of wanted) {
    const l = listeners.find((x) => x.protocol === w.protocol && x.port >= w.hostPort.from && x.port <= w.hostPort.to
      && (WILDCARDS.has(x.address) || (isIpv4(x.address) && (w.hostIp === null || w.hostIp === x.address))));
    if (l) out.push({ wanted: w, listener: l });
  }
  return out;
}

export function assertNoListenerConflicts(wanted: readonly PortMap[], listeners: readonly Listener[]): void {
  const c = findListenerConflicts(wanted, listeners)[0];
  if (!c) return;
  const who = c.listener.process ?? 'a process ss could not name';
  throw new NisoError('NISO4009', `host port ${describeHostSide(c.wanted)} of service "${c.wanted.service}" is in use on the host by ${who}, listening on ${c.listener.address}:${c.listener.port}`, { hint: 'map another host port, or stop that process' });
}

/**
 * Parses `ss -H -l -n -p -t` (or `-u`) output. Columns: State Recv-Q Send-Q Local Peer [Process];
 * Local is `ADDR:PORT`, `[V6]:PORT`, `*:PORT` or `ADDR%IFACE:PORT`.
 */
export function parseSsListeners(text: string, protocol: 'tcp' | 'udp'): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    const local = cols[3]!;
    const colon = local.lastIndexOf(':');
    if (colon < 0) continue;
    const port = Number(local.slice(colon + 1));
    if (!Number.isInteger(port)) continue;
    let address = local.slice(0, colon);
    if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
    address = address.replace(/%.*$/, '');
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) address = mapped[1]!;
    const rest = cols.slice(5).join(' ');
    const users = /\(\("([^"]*)",pid=(\d+)/.exec(rest);
    out.push({ protocol, address, port, process: users ? `${users[1]} (pid ${users[2]})` : null });
  }
  return out;
}
