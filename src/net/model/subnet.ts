// Choosing and checking a network's subnet against everything the host already routes: a niso
// network that shadows a VPN, a LAN or another tool's bridge would silently break them.
import { NisoError } from '../../errors/niso-error.js';
import { cidrOf, formatCidr, formatIpv4, overlaps, parseCidr, sizeOf, type Cidr } from './cidr.js';
import type { HostNetFacts, Network } from './types.js';

/**
 * Where niso looks for free /24s: 10.89.0.0-10.95.255.255. It starts above 10.88.0.0/16, which
 * podman's default network uses, so the two coexist even before podman has created its bridge.
 */
export const DEFAULT_POOL: readonly string[] = ['10.89.0.0/16', '10.90.0.0/15', '10.92.0.0/14'];
export const DEFAULT_PREFIX = 24;
export const MIN_PREFIX = 16;
export const MAX_PREFIX = 29;

export interface SubnetChoice {
  subnet: string;
  gateway: string;
}

interface Occupant { cidr: Cidr; what: string }

/** Every block the host or niso already uses, with words for an error message. */
function occupants(host: HostNetFacts, networks: readonly Network[]): Occupant[] {
  const out: Occupant[] = [];
  for (const r of host.routes) {
    const p = parseCidr(r);
    if (p.ok && p.cidr.prefix > 0) out.push({ cidr: p.cidr, what: `the host's route to ${formatCidr(p.cidr)}` });
  }
  for (const a of host.addresses) {
    const p = parseCidr(a);
    if (p.ok) out.push({ cidr: p.cidr, what: `the host's address ${a}` });
  }
  for (const n of networks) out.push({ cidr: cidrOf(n.subnet), what: `niso network "${n.name}" (${n.subnet})` });
  return out;
}

function choiceOf(c: Cidr): SubnetChoice {
  return { subnet: formatCidr(c), gateway: formatIpv4(c.base + 1) };
}

/** Checks an explicit `--subnet`: syntax, size, host bits and overlaps. */
export function validateSubnet(text: string, host: HostNetFacts, networks: readonly Network[]): SubnetChoice {
  const p = parseCidr(text);
  const hint = 'write a subnet like 10.89.5.0/24 (a prefix from /16 to /29, host bits zero)';
  if (!p.ok || !text.includes('/')) {
    throw new NisoError('NISO4004', `"${text}" is not a subnet: ${p.ok ? 'the prefix length is missing' : p.reason}`, { hint, exitCode: 2 });
  }
  const { cidr } = p;
  if (cidr.prefix < MIN_PREFIX || cidr.prefix > MAX_PREFIX) {
    throw new NisoError('NISO4004', `subnet ${text}: a /${cidr.prefix} is ${cidr.prefix < MIN_PREFIX ? 'too large' : 'too small'} for a niso network`, { hint: `use a prefix from /${MIN_PREFIX} to /${MAX_PREFIX}`, exitCode: 2 });
  }
  if (p.hostBitsSet) {
    throw new NisoError('NISO4004', `subnet ${text} has host bits set`, { hint: `did you mean ${formatCidr(cidr)}?`, exitCode: 2 });
  }
  const hit = occupants(host, networks).find((o) => overlaps(o.cidr, cidr));
  if (hit) {
    throw new NisoError('NISO4005', `subnet ${formatCidr(cidr)} overlaps ${hit.what}`, { hint: 'choose another subnet, or leave out --subnet and niso picks a free one', exitCode: 2 });
  }
  return choiceOf(cidr);
}

/** What on the host (a route or an address; not niso's networks) overlaps `subnet`, in words; null when nothing does. */
export function hostOccupant(subnet: string, host: HostNetFacts): string | null {
  const cidr = cidrOf(subnet);
  return occupants(host, []).find((o) => overlaps(o.cidr, cidr))?.what ?? null;
}

/**
 * The first block of `prefix` bits in the pool that overlaps nothing the host routes or holds
 * and no other niso network. Deterministic: the same facts give the same subnet.
 */
export function chooseSubnet(host: HostNetFacts, networks: readonly Network[], pool: readonly string[] = DEFAULT_POOL, prefix = DEFAULT_PREFIX): SubnetChoice {
  const taken = occupants(host, networks);
  for (const blockText of pool) {
    const block = cidrOf(blockText);
    if (block.prefix > prefix) continue;
    const step = sizeOf(prefix);
    for (let base = block.base; base < block.base + sizeOf(block.prefix); base += step) {
      const candidate: Cidr = { base, prefix };
      // Skip past the whole occupant at once: a /8 VPN route must not cost 65,536 iterations.
      const hit = taken.find((o) => overlaps(o.cidr, candidate));
      if (!hit) return choiceOf(candidate);
      const end = hit.cidr.base + sizeOf(hit.cidr.prefix);
      const nextFree = block.base + Math.ceil((end - block.base) / step) * step;
      if (nextFree > base + step) base = nextFree - step;
    }
  }
  throw new NisoError('NISO4006', `no free /${prefix} subnet is left in ${pool.join(', ')}`, { hint: 'give one explicitly: niso net create NAME --subnet CIDR' });
}
