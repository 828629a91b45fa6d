// Whose bridge is it? A bridge's name is recorded in the root's networks.json when the network is made, but the
// bridge itself lives in the kernel: it is gone after a reboot, or when the network namespace it was made in (a
// machine's own, booted with --private-network) goes, while the record stays. By then another NISO_ROOT may have
// made a bridge of the same name, and often of the same subnet, since both take the first free ones. niso marks
// each bridge it makes with an alias naming its root's table and the network, and acts only on a bridge that carries
// its own: removing another root's bridge by name took down that root's services (their mapped ports refused
// connections), and re-using it would have joined two roots' networks.
import { NisoError } from '../../errors/niso-error.js';
import { chooseBridgeName, DEFAULT_NETWORK } from './names.js';
import { chooseSubnet, hostOccupant } from './subnet.js';
import type { HostNetFacts, Network } from './types.js';

/** The alias (`ip link set NAME alias ...`, /sys/class/net/NAME/ifalias) on a bridge of `network` in the root whose nft table is `table`. */
export function bridgeAlias(table: string, network: string): string {
  return `${table}/${network}`;
}

/** What the kernel shows under the bridge's name. */
export interface BridgeLink {
  exists: boolean;
  /** A bridge (not a veth, a dummy, another tool's interface of that name). */
  isBridge: boolean;
  /** Its alias, '' when it has none. */
  alias: string;
  /** Its IPv4 addresses with their prefixes. */
  addresses: readonly string[];
}

/**
 * 'ours': the bridge carries this network's alias, or is a bridge without an alias that holds the network's gateway
 * (made by a niso from before the aliases; it gets the alias on its next attach). 'foreign': the name is taken by
 * something else. 'missing': nothing has the name.
 */
export type BridgeState = 'ours' | 'foreign' | 'missing';

export function bridgeState(link: BridgeLink, network: Network, alias: string): BridgeState {
  if (!link.exists) return 'missing';
  if (!link.isBridge) return 'foreign';
  if (link.alias === alias) return 'ours';
  if (link.alias !== '') return 'foreign';
  const prefix = network.subnet.split('/')[1];
  return link.addresses.includes(`${network.gateway}/${prefix}`) ? 'ours' : 'foreign';
}

/**
 * The network as it can be made again when its bridge is missing or its name is taken: a free bridge name when the
 * recorded one is another's, and, when the host now routes or holds its subnet (another root's network took it),
 * a free subnet for `default`, which niso chose itself and which nothing else uses at the moment (`live`: services
 * attached to it). A subnet the user chose, or one in use, is not changed behind their back: NISO4017 says what to do.
 */
export function replanNetwork(network: Network, state: Exclude<BridgeState, 'ours'>, host: HostNetFacts, others: readonly Network[], live: readonly string[], bridgePrefix: string, pool?: readonly string[]): Network {
  let next = network;
  if (state === 'foreign') next = { ...next, bridge: chooseBridgeName(bridgePrefix, [...others, network], host.links) };
  const occupant = hostOccupant(network.subnet, host);
  if (occupant === null) return next;
  if (network.name === DEFAULT_NETWORK && live.length === 0) return { ...next, ...chooseSubnet(host, others, pool) };
  const stop = live.length > 0 ? `stop ${live.map((s) => `"${s}"`).join(', ')}, then ` : '';
  throw new NisoError('NISO4017', `network "${network.name}" cannot be brought back: its bridge ${network.bridge} is gone, and its subnet ${network.subnet} is now taken by ${occupant}`, {
    hint: `${stop}make the network again on a free subnet: niso net remove ${network.name} && niso net create ${network.name} [--subnet CIDR]`,
  });
}
