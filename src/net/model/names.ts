// Names niso gives to networks and kernel objects: valid, at most 15 characters where the kernel
// says so (IFNAMSIZ), and recognisable as niso's so an admin (and prune) can tell them apart.
import { NisoError } from '../../errors/niso-error.js';
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

/** The interface inside the service's netns for its n-th network. */
export function innerIfname(index: number): string {
  return `eth${index}`;
}
