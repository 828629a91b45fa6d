// Names niso gives to networks and kernel objects: valid, at most 15 characters where the kernel
// says so (IFNAMSIZ), and recognisable as niso's so an admin (and prune) can tell them apart.
import { NisoError } from '../../errors/niso-error.js';
import { parseIpv4 } from './cidr.js';
import type { Network } from './types.js';

export const DEFAULT_NETWORK = 'default';
const NETWORK_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,31}$/;
/** Linux interface names: at most 15 bytes, no '/', ':' or whitespace. */
export const IFNAME_MAX = 15;
const NFT_TABLE_RE = /^[a-z][a-z0-9_]{0,31}$/;

export function validateNetworkName(name: string): void {
  if (!NETWORK_NAME_RE.test(name)) {
    throw new NisoError('NISO4001', `"${name}" is not a valid network name`, { hint: 'use 1-32 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit', exitCode: 2 });
  }
}

export function validateTableName(name: string): void {
  if (!NFT_TABLE_RE.test(name)) throw new Error(`invalid nft table name: ${name}`);
}

/** `<prefix>N` with the lowest N that neither a niso network nor a host interface uses. */
export function chooseBridgeName(prefix: string, networks: readonly Network[], hostLinks: readonly string[]): string {
  const used = new Set([...networks.map((n) => n.bridge), ...hostLinks]);
  for (let i = 0; ; i++) {
    const name = `${prefix}${i}`;
    if (name.length > IFNAME_MAX) break;
    if (!used.has(name)) return name;
  }
  throw new NisoError('NISO4015', `no free bridge name of the form ${prefix}N is left`, { hint: 'remove niso networks you no longer use: niso net list, niso net remove NAME' });
}

/** The service's network namespace: `niso-<service>-<id>`, a file name under /run/netns. */
export function netnsName(prefix: string, service: string, id: string): string {
  return `${prefix}-${service}-${id}`;
}

/** Host side of an attachment's veth pair: `vn` + 8 hex digits, 10 characters. */
export function vethName(id: string): string {
  if (!/^[0-9a-f]{8}$/.test(id)) throw new Error(`veth id must be 8 hex digits: ${id}`);
  return `vn${id}`;
}

/**
 * The MAC address of a service's interface with IPv4 `address`: locally administered (02), `6e` ('n'), then the four
 * bytes of the address. Addresses are given again as services come and go; with a MAC that follows the address, the
 * neighbour entries that the host and the other services keep for it (reachable for half a minute, then reused
 * while they are checked) stay right, where a random MAC would send their packets to an interface that is gone.
 * Docker and Kubernetes' bridge plugin derive theirs from the address for the same reason.
 */
export function macFor(address: string): string {
  const n = parseIpv4(address);
  if (n === null) throw new Error(`macFor: not an IPv4 address: ${address}`);
  return ['02', '6e', ...[24, 16, 8, 0].map((shift) => ((n >>> shift) & 0xff).toString(16).padStart(2, '0'))].join(':');
}

/** The interface inside the service's netns for its n-th network. */
export function innerIfname(index: number): string {
  return `eth${index}`;
}
