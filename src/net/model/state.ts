// What niso records about its networks, and the decisions of attaching a service to them: names,
// addresses and port maps are all chosen here, from the recorded state, before anything is created.
import { NisoError } from '../../errors/niso-error.js';
import { allocateAddress } from './address.js';
import { innerIfname, netnsName, vethName } from './names.js';
import { assertNoListenerConflicts, assertNoPortConflicts, portMapsFor, type PortMappingInput } from './ports.js';
import type { Attachment, Listener, NetState, Network, PortMap } from './types.js';

/** /var/lib/niso/net/networks.json */
export interface NetworksFile {
  version: 1;
  networks: Network[];
}

/** The process whose life the attachment lasts; startTime (from /proc/PID/stat) guards against pid reuse. */
export interface Owner { pid: number; startTime: number | null }

/** /run/niso/net/<vethHost>.json: one live attachment, written before any of it is created. */
export interface AttachmentRecord {
  version: 1;
  attachment: Attachment;
  /** The service's port maps; only in the record of its first network (they target that address). */
  ports: PortMap[];
  owner: Owner;
  createdAt: string;
}

export function stateOf(networks: readonly Network[], records: readonly AttachmentRecord[]): NetState {
  return {
    networks: [...networks],
    attachments: records.map((r) => r.attachment),
    ports: records.flatMap((r) => r.ports),
  };
}

const damaged = (what: string, path: string) => new NisoError('NISO4013', `${path}: ${what}`, { path, hint: 'restore the file from a backup, or remove it and run `niso net prune`' });
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const str = (x: unknown) => typeof x === 'string' && x.length > 0;

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw damaged(`not valid JSON (${(e as Error).message})`, path);
  }
}

export function parseNetworksFile(text: string, path: string): NetworksFile {
  const j = parseJson(text, path);
  if (!isObj(j) || j.version !== 1 || !Array.isArray(j.networks)) throw damaged('not a niso networks file (version 1)', path);
  for (const n of j.networks) {
    if (!isObj(n) || !str(n.name) || !str(n.subnet) || !str(n.gateway) || !str(n.bridge) || !str(n.createdAt)) throw damaged(`a network entry lacks name, subnet, gateway, bridge or createdAt: ${JSON.stringify(n)}`, path);
  }
  return j as unknown as NetworksFile;
}

export function parseAttachmentRecord(text: string, path: string): AttachmentRecord {
  const j = parseJson(text, path);
  if (!isObj(j) || j.version !== 1 || !isObj(j.attachment) || !Array.isArray(j.ports) || !isObj(j.owner) || typeof j.owner.pid !== 'number') throw damaged('not a niso attachment record (version 1)', path);
  const a = j.attachment;
  if (!str(a.service) || !str(a.network) || !str(a.address) || !str(a.vethHost) || !str(a.netns) || !str(a.ifname) || typeof a.egress !== 'boolean') throw damaged('the attachment lacks a field', path);
  return j as unknown as AttachmentRecord;
}

export interface AttachRequest {
  service: string;
  /** Networks to join, the first one carrying the default route and the port maps. */
  networks: readonly string[];
  ports: readonly PortMappingInput[];
  egress: boolean;
  owner: Owner;
  /** More names the service answers to, by network (a stack's service name and aliases). */
  aliases?: Readonly<Record<string, readonly string[]>>;
}

export interface AttachIds {
  /** 8 hex digits for the netns name. */
  netns: string;
  /** 8 hex digits per network, for the veth names; must be unique among live attachments. */
  veths: readonly string[];
}

/**
 * Decides everything about a service's attachments: one netns, one veth and the lowest free
 * address per network, its port maps. Refuses unknown networks, a service already attached,
 * and host ports that another service maps or a host process listens on.
 */
export function planAttach(req: AttachRequest, ids: AttachIds, networks: readonly Network[], records: readonly AttachmentRecord[], listeners: readonly Listener[], netnsPrefix: string, now: string): AttachmentRecord[] {
  if (req.networks.length === 0) throw new Error('planAttach: no network');
  if (new Set(req.networks).size !== req.networks.length) throw new NisoError('NISO4001', `service "${req.service}" names a network twice: ${req.networks.join(', ')}`, { exitCode: 2 });
  if (ids.veths.length !== req.networks.length) throw new Error('planAttach: one veth id per network');
  const live = records.find((r) => r.attachment.service === req.service);
  if (live) {
    throw new NisoError('NISO4016', `service "${req.service}" is already attached to network "${live.attachment.network}" (netns ${live.attachment.netns}, owner pid ${live.owner.pid})`, { hint: 'stop it first, or give this instance another service name (--name)' });
  }
  const netns = netnsName(netnsPrefix, req.service, ids.netns);
  const out: AttachmentRecord[] = [];
  req.networks.forEach((name, i) => {
    const network = networks.find((n) => n.name === name);
    if (!network) throw new NisoError('NISO4002', `network "${name}" does not exist`, { hint: `create it: niso net create ${name}` });
    const vethHost = vethName(ids.veths[i]!);
    if (records.some((r) => r.attachment.vethHost === vethHost)) throw new Error(`veth name ${vethHost} is in use`);
    const taken = records.filter((r) => r.attachment.network === name).map((r) => r.attachment.address);
    const address = allocateAddress(network, taken);
    const aliases = [...(req.aliases?.[name] ?? [])];
    out.push({
      version: 1,
      attachment: { service: req.service, network: name, address, vethHost, netns, ifname: innerIfname(i), egress: req.egress, ...(aliases.length > 0 ? { aliases } : {}) },
      ports: [],
      owner: req.owner,
      createdAt: now,
    });
  });
  const primary = out[0]!;
  const ports = portMapsFor(req.service, primary.attachment.address, req.ports);
  assertNoPortConflicts(ports, records.flatMap((r) => r.ports));
  assertNoListenerConflicts(ports, listeners);
  primary.ports = ports;
  return out;
}
