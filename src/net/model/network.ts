// The decisions of creating and removing a network: its name, subnet and bridge, and whether it
// may go (not while a service is attached to it).
import { NisoError } from '../../errors/niso-error.js';
import { chooseBridgeName, validateNetworkName } from './names.js';
import type { AttachmentRecord } from './state.js';
import { chooseSubnet, validateSubnet, DEFAULT_POOL } from './subnet.js';
import type { HostNetFacts, Network } from './types.js';

export interface NetworkRequest {
  name: string;
  /** Explicit CIDR (`--subnet`); otherwise the first free /24 of the pool. */
  subnet?: string;
  egress?: boolean;
}

export function planNetwork(req: NetworkRequest, host: HostNetFacts, networks: readonly Network[], bridgePrefix: string, now: string, pool: readonly string[] = DEFAULT_POOL): Network {
  validateNetworkName(req.name);
  const existing = networks.find((n) => n.name === req.name);
  if (existing) throw new NisoError('NISO4003', `network "${req.name}" already exists (${existing.subnet} on ${existing.bridge})`, { hint: 'choose another name, or remove it first: niso net remove ' + req.name, exitCode: 2 });
  const { subnet, gateway } = req.subnet === undefined ? chooseSubnet(host, networks, pool) : validateSubnet(req.subnet, host, networks);
  const bridge = chooseBridgeName(bridgePrefix, networks, host.links);
  const network: Network = { name: req.name, subnet, gateway, bridge, createdAt: now };
  if (req.egress === false) network.egress = false;
  return network;
}

/** The network to remove; refused while live attachments use it. */
export function planRemoveNetwork(name: string, networks: readonly Network[], records: readonly AttachmentRecord[]): Network {
  const network = networks.find((n) => n.name === name);
  if (!network) throw new NisoError('NISO4002', `network "${name}" does not exist`, { hint: 'niso net list shows the networks' });
  const users = [...new Set(records.filter((r) => r.attachment.network === name).map((r) => r.attachment.service))].sort();
  if (users.length > 0) throw new NisoError('NISO4010', `network "${name}" is in use by ${users.map((u) => `"${u}"`).join(', ')}`, { hint: 'stop those services first; `niso net prune` removes attachments of services that died' });
  return network;
}
