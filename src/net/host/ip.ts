// Typed wrappers over iproute2 and /proc/sys for niso's bridges, network namespaces and veth
// pairs. Each step batches its commands (`ip -batch -`) so an attachment costs a few processes.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { bridgeState, type BridgeLink } from '../model/bridge.js';
import { cidrOf } from '../model/cidr.js';
import { chooseMtu, type MtuChoice } from '../model/mtu.js';
import { parseDefaultRoutes, parseIpAddresses, parseIpLinks, parseIpRoutes, parseNetnsList, type IpLink } from '../model/tool-json.js';
import { macFor } from '../model/names.js';
import type { Attachment, HostNetFacts, Network } from '../model/types.js';
import { must, mustJson } from './tools.js';

/** What chooseSubnet and chooseBridgeName must avoid: every IPv4 route of every table, every address, every link. */
export async function hostNetFacts(): Promise<HostNetFacts> {
  const [routes, addrs] = await Promise.all([
    mustJson('ip', ['-4', '-j', 'route', 'show', 'table', 'all']),
    mustJson('ip', ['-j', 'addr', 'show']),
  ]);
  return { routes: parseIpRoutes(routes), addresses: parseIpAddresses(addrs), links: parseIpLinks(addrs).map((l) => l.ifname).sort() };
}

/**
 * The MTU niso's bridges and veths get: the uplink's (model/mtu.ts), read from the default routes now. With it, the
 * host's links with their addresses (`ip -j addr show` is `link show` plus addresses), for ensureBridge: one ip
 * process fewer on every attach.
 */
export async function uplinkMtu(ownBridges: readonly string[] = []): Promise<MtuChoice & { links: IpLink[] }> {
  const [routes, addrs] = await Promise.all([mustJson('ip', ['-4', '-j', 'route', 'show', 'default']), mustJson('ip', ['-j', 'addr', 'show'])]);
  const links = parseIpLinks(addrs);
  return { ...chooseMtu(parseDefaultRoutes(routes), links, ownBridges), links };
}

export async function listLinks(netns?: string): Promise<IpLink[]> {
  return parseIpLinks(await mustJson('ip', [...(netns ? ['-n', netns] : []), '-j', 'addr', 'show']));
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

export function netnsExists(name: string): boolean {
  return name !== '' && !name.includes('/') && existsSync(`/run/netns/${name}`);
}

export async function listNetns(): Promise<string[]> {
  return parseNetnsList(await mustJson('ip', ['-j', 'netns', 'list']));
}

async function sysctl(path: string): Promise<string> {
  return (await readFile(`/proc/sys/${path}`, 'utf8')).trim();
}

/**
 * Turns IPv4 forwarding on if it is off; never turns it off (other tools on the host rely on it).
 * Returns whether it changed anything.
 */
export async function ensureForwarding(): Promise<boolean> {
  if ((await sysctl('net/ipv4/ip_forward')) !== '0') return false;
  await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
  return true;
}

/**
 * What the kernel shows under a bridge's name (model/bridge.ts judges whose it is): its alias and type from /sys,
 * its addresses from `links` (as just read by uplinkMtu) or read here.
 */
export async function bridgeLink(name: string, links?: readonly IpLink[]): Promise<BridgeLink> {
  if (!linkExists(name)) return { exists: false, isBridge: false, alias: '', addresses: [] };
  const link = (links ?? await listLinks()).find((l) => l.ifname === name);
  return { exists: true, isBridge: existsSync(`/sys/class/net/${name}/bridge`), alias: await linkAlias(name), addresses: link?.addresses ?? [] };
}

/** A link's alias (`ip link set NAME alias ...`), '' when it has none or is gone. */
const linkAlias = (name: string) => readFile(`/sys/class/net/${name}/ifalias`, 'utf8').then((t) => t.trim(), () => '');

/**
 * The network's bridge, up, with the gateway address, the uplink's MTU, `alias` (its owner, model/bridge.ts) and
 * route_localnet=1, which lets the host's own 127.0.0.1:PORT be forwarded onto it (PLATFORM §2). `links`: the host's
 * links as just read (uplinkMtu), else they are read here. Idempotent: run on every attach, since bridges do not
 * survive a reboot but networks.json does. The caller has made sure that a bridge of that name is the network's own
 * (bridgeState 'ours') or that there is none. An MTU set explicitly stays on the bridge whatever its ports have (the
 * kernel would otherwise follow the smallest port).
 */
export async function ensureBridge(network: Network, alias: string, mtu: number, links?: readonly IpLink[]): Promise<void> {
  const prefix = cidrOf(network.subnet).prefix;
  const want = `${network.gateway}/${prefix}`;
  const link = linkExists(network.bridge) ? (links ?? await listLinks()).find((l) => l.ifname === network.bridge) : undefined;
  const lines: string[] = [];
  if (!link) lines.push(`link add ${network.bridge} mtu ${mtu} type bridge`);
  else if (link.mtu !== mtu) lines.push(`link set ${network.bridge} mtu ${mtu}`);
  // A bridge made before niso marked its bridges gets the mark now.
  if (!link || (await linkAlias(network.bridge)) !== alias) lines.push(`link set ${network.bridge} alias ${alias}`);
  if (!link?.addresses.includes(want)) lines.push(`addr add ${want} dev ${network.bridge}`);
  if (!link?.up) lines.push(`link set ${network.bridge} up`);
  if (lines.length > 0) await must('ip', ['-batch', '-'], lines.join('\n') + '\n');
  await writeFile(`/proc/sys/net/ipv4/conf/${network.bridge}/route_localnet`, '1');
  // No IPv6 on the bridge (this also drops its link-local address): niso's rules are IPv4 (table
  // ip), so an IPv6 address would let services reach the host around them, egress = false included.
  const v6 = `/proc/sys/net/ipv6/conf/${network.bridge}/disable_ipv6`;
  if (existsSync(v6)) await writeFile(v6, '1');
}

/**
 * Deletes the network's bridge if it is its own (model/bridge.ts): a bridge of that name that another root made after
 * this one's went (a reboot, a machine's network namespace) is left alone. Returns whether one was deleted.
 */
export async function removeBridge(network: Network, alias: string): Promise<boolean> {
  if (bridgeState(await bridgeLink(network.bridge), network, alias) !== 'ours') return false;
  await must('ip', ['link', 'del', network.bridge]);
  return true;
}

/**
 * Creates a service's netns (if new) and one veth pair per attachment, both ends with `mtu`: the
 * host end on the network's bridge with hairpin on (a service calling its own mapped port), the
 * other end inside with the address and the MAC that follows it (names.ts macFor); loopback up, and the default route
 * via the first network's gateway.
 */
export async function createEndpoint(attachments: readonly Attachment[], networks: readonly Network[], mtu: number): Promise<void> {
  const netns = attachments[0]!.netns;
  // A new netns is made by the same `ip -batch` that makes the veths into it: one process fewer.
  const host: string[] = netnsExists(netns) ? [] : [`netns add ${netns}`];
  const inside: string[] = ['link set lo up'];
  attachments.forEach((a, i) => {
    const n = networks.find((x) => x.name === a.network);
    if (!n) throw new Error(`createEndpoint: network ${a.network} unknown`);
    host.push(
      `link add ${a.vethHost} mtu ${mtu} type veth peer name ${a.ifname} mtu ${mtu} address ${macFor(a.address)} netns ${netns}`,
      `link set ${a.vethHost} master ${n.bridge}`,
      `link set ${a.vethHost} type bridge_slave hairpin on`,
      `link set ${a.vethHost} up`,
    );
    inside.push(`addr add ${a.address}/${cidrOf(n.subnet).prefix} dev ${a.ifname}`, `link set ${a.ifname} up`);
    if (i === 0) inside.push(`route add default via ${n.gateway}`);
  });
  await must('ip', ['-batch', '-'], host.join('\n') + '\n');
  await must('ip', ['-n', netns, '-batch', '-'], inside.join('\n') + '\n');
}

/**
 * Removes veths (deleting one end removes its peer) and the netns. Each step is skipped when
 * already gone, so it also finishes a removal or a creation that was interrupted.
 */
export async function removeEndpoint(netns: string | null, veths: readonly string[]): Promise<void> {
  const present = veths.filter((v) => linkExists(v));
  if (present.length > 0) await must('ip', ['-batch', '-'], present.map((v) => `link del ${v}`).join('\n') + '\n');
  if (netns !== null && netnsExists(netns)) await must('ip', ['netns', 'del', netns]);
}
