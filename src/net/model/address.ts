// Handing out service addresses: lowest free first, so allocation is deterministic and a freed
// address is reused before the subnet's end is reached.
import { NisoError } from '../../errors/niso-error.js';
import { cidrOf, formatIpv4, lastAddress, parseIpv4 } from './cidr.js';
import type { Network } from './types.js';

/** Host addresses a service can get: all but the network and broadcast addresses and the gateway. */
export function usableCount(network: Network): number {
  const c = cidrOf(network.subnet);
  return lastAddress(c) - c.base - 2;
}

/** The lowest host address of the network that is neither the gateway nor in `taken`. */
export function allocateAddress(network: Network, taken: Iterable<string>): string {
  const c = cidrOf(network.subnet);
  const used = new Set<number>();
  for (const t of taken) {
    const n = parseIpv4(t);
    if (n !== null) used.add(n);
  }
  const gateway = parseIpv4(network.gateway);
  if (gateway !== null) used.add(gateway);
  // base is the network address and lastAddress the broadcast address; neither is a host.
  for (let a = c.base + 1; a < lastAddress(c); a++) {
    if (!used.has(a)) return formatIpv4(a);
  }
  throw new NisoError('NISO4007', `network "${network.name}" (${network.subnet}) has no free address: all ${usableCount(network)} are taken`, { hint: 'stop services you no longer use, run `niso net prune`, or use a network with a larger subnet' });
}
