// niso's whole nftables table as text, rendered from the network state. niso never edits rules
// one by one: it re-renders the table and `nft -f` replaces it in one atomic transaction, so the
// kernel always holds exactly what the state says, and applying it twice changes nothing.
// The shape follows docs PLATFORM.md §2 (verified): DNAT maps in prerouting and output, the
// 127/8 masquerade, hairpin masquerade per subnet, egress masquerade, plus a forward filter.
import { cidrOf, formatCidr, parseIpv4 } from './cidr.js';
import { validateTableName } from './names.js';
import { assertNoPortConflicts, describeHostSide, formatRange } from './ports.js';
import type { Attachment, NetState, Network, PortMap, PortRange } from './types.js';

export const DEFAULT_TABLE = 'niso';

export interface RenderOptions {
  /** nft table name (family ip); tests use their own so they never touch the real one. */
  table?: string;
}

interface Element { sortKey: number[]; key: string; value: string; comment: string }

const q = (s: string) => JSON.stringify(s);

function ipKey(ip: string): number {
  const n = parseIpv4(ip);
  if (n === null) throw new Error(`not an IPv4 address: ${ip}`);
  return n;
}

/** One element per host port: ranges are expanded so that port N goes to container port N+offset. */
function elementsOf(ports: readonly PortMap[], protocol: 'tcp' | 'udp', withAddress: boolean): Element[] {
  const out: Element[] = [];
  for (const p of ports) {
    if (p.protocol !== protocol || (p.hostIp !== null) !== withAddress) continue;
    for (let i = 0; i <= p.hostPort.to - p.hostPort.from; i++) {
      const hostPort = p.hostPort.from + i;
      const value = `${p.target} . ${p.containerPort.from + i}`;
      if (p.hostIp === null) out.push({ sortKey: [hostPort], key: String(hostPort), value, comment: p.service });
      else out.push({ sortKey: [ipKey(p.hostIp), hostPort], key: `${p.hostIp} . ${hostPort}`, value, comment: p.service });
    }
  }
  return out.sort((a, b) => a.sortKey[0]! - b.sortKey[0]! || (a.sortKey[1] ?? 0) - (b.sortKey[1] ?? 0));
}

function elementBlock(lines: string[], indent: string): string[] {
  if (lines.length === 0) return [];
  return [`${indent}elements = {`, ...lines.map((l, i) => `${indent}\t${l}${i < lines.length - 1 ? ',' : ''}`), `${indent}}`];
}

function mapBlock(name: string, type: string, elements: Element[], what: string): string[] {
  return [
    `\t# ${what}`,
    `\tmap ${name} {`,
    `\t\ttype ${type}`,
    ...elementBlock(elements.map((e) => `${e.key} comment ${q(e.comment)} : ${e.value}`), '\t\t'),
    '\t}',
  ];
}

function setBlock(name: string, type: string, elements: string[], what: string): string[] {
  return [`\t# ${what}`, `\tset ${name} {`, `\t\ttype ${type}`, ...elementBlock(elements, '\t\t'), '\t}'];
}

function dnatRules(): string[] {
  const out: string[] = [];
  for (const proto of ['tcp', 'udp']) {
    out.push(`\t\tfib daddr type local dnat ip addr . port to ip daddr . ${proto} dport map @${proto}_addr_ports`);
    out.push(`\t\tfib daddr type local dnat ip addr . port to ${proto} dport map @${proto}_ports`);
  }
  return out;
}

const egressOf = (n: Network) => n.egress !== false;

const BRIDGE_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const SERVICE_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Every value that is written into the ruleset text must be what its type says: the state comes
 * from niso's own files, but a damaged file must not be able to smuggle nft syntax in.
 */
function checkState(state: NetState): void {
  const bad = (what: string) => { throw new Error(`network state: ${what}`); };
  for (const n of state.networks) {
    let c;
    try { c = cidrOf(n.subnet); } catch { c = null; }
    if (!c || formatCidr(c) !== n.subnet) bad(`network ${n.name}: subnet ${JSON.stringify(n.subnet)}`);
    if (parseIpv4(n.gateway) === null) bad(`network ${n.name}: gateway ${JSON.stringify(n.gateway)}`);
    if (!BRIDGE_RE.test(n.bridge)) bad(`network ${n.name}: bridge ${JSON.stringify(n.bridge)}`);
    if (!/^[a-z0-9][a-z0-9._-]{0,31}$/.test(n.name)) bad(`network name ${JSON.stringify(n.name)}`);
  }
  for (const a of state.attachments) {
    if (parseIpv4(a.address) === null) bad(`attachment of ${a.service}: address ${JSON.stringify(a.address)}`);
  }
  const portOk = (r: PortRange) => Number.isInteger(r.from) && Number.isInteger(r.to) && r.from >= 1 && r.to <= 65535 && r.from <= r.to;
  for (const p of state.ports) {
    if (!SERVICE_RE.test(p.service)) bad(`port map: service ${JSON.stringify(p.service)}`);
    if (parseIpv4(p.target) === null || (p.hostIp !== null && parseIpv4(p.hostIp) === null)) bad(`port map of ${p.service}: address`);
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') bad(`port map of ${p.service}: protocol`);
    if (!portOk(p.hostPort) || !portOk(p.containerPort) || p.hostPort.to - p.hostPort.from !== p.containerPort.to - p.containerPort.from) bad(`port map of ${p.service}: ports`);
  }
}

/** A summary of the state, as comments at the top of the file, for the admin reading it. */
function header(table: string, networks: Network[], ports: PortMap[]): string[] {
  const lines = [
    `# The nftables table of niso: port mappings and network isolation.`,
    `# Rendered from niso's state and replaced as a whole by \`nft -f\`; do not edit it by hand,`,
    `# \`niso net inspect --rules\` shows it. Other tables are never touched.`,
  ];
  for (const n of networks) lines.push(`# network ${n.name}: ${n.subnet} on bridge ${n.bridge}, gateway ${n.gateway}${egressOf(n) ? '' : ', no egress'}`);
  for (const p of ports) lines.push(`# port ${describeHostSide(p)} -> ${p.service} ${p.target}:${formatRange(p.containerPort)}`);
  lines.push(`add table ip ${table}`, `delete table ip ${table}`);
  return lines;
}

/** The complete ruleset file for `nft -f`: deterministic for a given state (inputs are sorted). */
export function renderNftRuleset(state: NetState, options: RenderOptions = {}): string {
  const table = options.table ?? DEFAULT_TABLE;
  validateTableName(table);
  checkState(state);
  assertNoPortConflicts(state.ports, []);
  const networks = [...state.networks].sort((a, b) => a.name.localeCompare(b.name));
  const ports = [...state.ports].sort((a, b) => a.protocol.localeCompare(b.protocol) || (a.hostIp === null ? 0 : ipKey(a.hostIp)) - (b.hostIp === null ? 0 : ipKey(b.hostIp)) || a.hostPort.from - b.hostPort.from);
  const known = new Set(networks.map((n) => n.name));
  const noEgress = state.attachments.filter((a: Attachment) => !a.egress && known.has(a.network));
  const noEgressAddrs = [...new Set(noEgress.map((a) => a.address))].sort((a, b) => ipKey(a) - ipKey(b));
  const noEgressNets = new Set(noEgress.map((a) => a.network));
  const bridges = networks.map((n) => n.bridge).sort();

  const L: string[] = [...header(table, networks, ports), `table ip ${table} {`];
  L.push(`\tcomment ${q('niso: mapped ports and network isolation; rendered by niso, do not edit')}`);
  L.push(...mapBlock('tcp_ports', 'inet_service : ipv4_addr . inet_service', elementsOf(ports, 'tcp', false), 'TCP host port (every host address) -> service address . port'));
  L.push(...mapBlock('tcp_addr_ports', 'ipv4_addr . inet_service : ipv4_addr . inet_service', elementsOf(ports, 'tcp', true), 'TCP host address . port -> service address . port'));
  L.push(...mapBlock('udp_ports', 'inet_service : ipv4_addr . inet_service', elementsOf(ports, 'udp', false), 'UDP host port (every host address) -> service address . port'));
  L.push(...mapBlock('udp_addr_ports', 'ipv4_addr . inet_service : ipv4_addr . inet_service', elementsOf(ports, 'udp', true), 'UDP host address . port -> service address . port'));
  L.push(...setBlock('bridges', 'ifname', bridges.map(q), 'the bridges of all niso networks'));
  L.push(...setBlock('no_egress', 'ipv4_addr', noEgressAddrs, 'addresses of services with egress = false'));

  L.push('', '\t# Mapped ports, for packets from outside and from the networks (prerouting) and from the host itself (output).');
  L.push('\t# `fib daddr type local`: only packets addressed to the host are rewritten, never traffic passing through.');
  L.push('\tchain prerouting {', '\t\ttype nat hook prerouting priority dstnat; policy accept;', ...dnatRules(), '\t}');
  L.push('\tchain output {', '\t\ttype nat hook output priority -100; policy accept;', ...dnatRules(), '\t}');

  L.push('', '\tchain postrouting {', '\t\ttype nat hook postrouting priority srcnat; policy accept;');
  L.push('\t\t# the host connecting to 127.0.0.1:PORT: a service cannot answer 127.0.0.1, so it sees the gateway');
  L.push('\t\toifname @bridges ip saddr 127.0.0.0/8 ct status dnat masquerade');
  for (const n of networks) {
    L.push(`\t\t# ${n.name}: a service reaching its own network through a mapped port (hairpin) gets the answer back through the host`);
    L.push(`\t\toifname ${q(n.bridge)} ct status dnat ip saddr ${n.subnet} ip daddr ${n.subnet} masquerade`);
    if (egressOf(n)) {
      L.push(`\t\t# ${n.name}: outbound traffic leaves with the host's address`);
      L.push(`\t\tip saddr ${n.subnet} oifname != ${q(n.bridge)} masquerade`);
    }
  }
  L.push('\t}');

  L.push('', '\t# Isolation: a network reaches only itself and mapped ports; egress = false keeps traffic on the bridge.');
  L.push('\tchain forward {', '\t\ttype filter hook forward priority filter; policy accept;', '\t\tct state established,related accept');
  for (const n of networks) {
    if (!egressOf(n)) L.push(`\t\tiifname ${q(n.bridge)} oifname != ${q(n.bridge)} drop comment ${q(`${n.name}: no egress`)}`);
    else if (noEgressNets.has(n.name)) L.push(`\t\tiifname ${q(n.bridge)} oifname != ${q(n.bridge)} ip saddr @no_egress drop comment ${q(`${n.name}: services without egress`)}`);
  }
  L.push('\t\tct status dnat accept comment "mapped ports are open to every network"');
  for (const n of networks) {
    if (networks.length > 1) L.push(`\t\tiifname ${q(n.bridge)} oifname @bridges oifname != ${q(n.bridge)} drop comment ${q(`${n.name} does not reach other niso networks`)}`);
  }
  // A LAN host (or another tool's container) that routes a niso subnet via this host would
  // otherwise reach every port of every service directly, mapped or not.
  if (networks.length > 0) L.push('\t\toifname @bridges iifname != @bridges drop comment "from outside, only mapped ports reach a network"');
  L.push('\t}');

  L.push('', '\t# From the networks to the host: never its loopback; nothing at all from services without egress (only answers to them).');
  L.push('\tchain input {', '\t\ttype filter hook input priority filter; policy accept;', '\t\tct state established,related accept');
  // route_localnet=1 on the bridges (for mapped 127.0.0.1 ports) would also let a packet from a
  // network to 127.0.0.1 in: the host's loopback-only services must stay its own (CVE-2020-8558).
  L.push('\t\tiifname @bridges ip daddr 127.0.0.0/8 drop comment "the host\'s loopback is not reachable from the networks"');
  for (const n of networks) if (!egressOf(n)) L.push(`\t\tiifname ${q(n.bridge)} drop comment ${q(`${n.name}: no egress`)}`);
  L.push('\t\tiifname @bridges ip saddr @no_egress drop');
  L.push('\t}');
  L.push('}');
  return L.join('\n') + '\n';
}
