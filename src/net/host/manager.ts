// The network operations niso's commands call: create/remove networks, attach/detach a service,
// prune what dead services left. Each runs under one lock, records its intent before touching the
// kernel, and ends by re-applying the whole nft table from the recorded state.
import { createHash, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { withLock } from '../../host/lock.js';
import { bridgeAlias, bridgeState, replanNetwork } from '../model/bridge.js';
import { renderHosts } from '../model/hosts.js';
import { DEFAULT_NETWORK } from '../model/names.js';
import { planNetwork, planRemoveNetwork, type NetworkRequest } from '../model/network.js';
import { DEFAULT_TABLE, renderNftRuleset } from '../model/nft.js';
import { assertNoListenerConflicts, assertNoPortConflicts, portMapsFor, type PortMappingInput } from '../model/ports.js';
import { planAttach, stateOf, type AttachmentRecord } from '../model/state.js';
import { DEFAULT_POOL } from '../model/subnet.js';
import type { IpLink } from '../model/tool-json.js';
import type { Attachment, Network, PortMap } from '../model/types.js';
import { bridgeLink, createEndpoint, ensureBridge, ensureForwarding, hostNetFacts, listLinks, removeBridge, removeEndpoint, uplinkMtu } from './ip.js';
import { applyRuleset, deleteTable, forwardBlockers } from './nft.js';
import { hostListeners } from './ss.js';
import { HOST_NET_LOCK, netPaths, ownerAlive, ownerOf, readNetworks, readRecords, removeRecord, writeNetworks, writeRecord, type NetPaths } from './state-files.js';

export interface NetContext {
  /** NISO_ROOT: networks.json and the attachment records live below it. */
  root: string;
  /** The nft table (family ip) niso owns. */
  table: string;
  /** Bridges are `<bridgePrefix>N`. */
  bridgePrefix: string;
  /** Network namespaces are `<netnsPrefix>-<service>-<id>`. */
  netnsPrefix: string;
  /** Where subnets are chosen from when none is given. */
  pool: readonly string[];
}

/**
 * The defaults for a NISO_ROOT. The nft table is global to the host, so an installation under
 * another root (a demo, a test) gets a table of its own (`niso_<hash of the root>`) instead of
 * replacing the real one; bridge and netns names cannot clash, they are checked or random.
 */
export function netContext(root: string, overrides: Partial<Omit<NetContext, 'root'>> = {}): NetContext {
  const abs = resolve(root);
  const table = abs === '/' ? DEFAULT_TABLE : `${DEFAULT_TABLE}_${createHash('sha256').update(abs).digest('hex').slice(0, 8)}`;
  return { root, table, bridgePrefix: 'niso', netnsPrefix: 'niso', pool: DEFAULT_POOL, ...overrides };
}

const now = () => new Date().toISOString();
const hex8 = () => randomBytes(4).toString('hex');

function locked<T>(paths: NetPaths, fn: () => Promise<T>): Promise<T> {
  return withLock(paths.lock, 'the network state', fn);
}

/** The ruleset for the recorded state (what `niso net inspect --rules` shows). */
export async function renderRules(ctx: NetContext): Promise<string> {
  const paths = netPaths(ctx.root);
  return renderNftRuleset(stateOf(await readNetworks(paths), await readRecords(paths)), { table: ctx.table });
}

/** Lock held. With no service attached the table is removed, so niso leaves no rule behind (applyState). */
async function applyLocked(ctx: NetContext, paths: NetPaths): Promise<void> {
  await applyState(ctx, await readRecords(paths), await readNetworks(paths));
}

/** Re-applies the whole table from the recorded state (idempotent). */
export async function applyRules(ctx: NetContext): Promise<void> {
  const paths = netPaths(ctx.root);
  await locked(paths, () => applyLocked(ctx, paths));
}

/**
 * Lock held. The bridge's name and subnet are chosen from what the kernel shows and then made, under the host's
 * network lock: the root's own lock does not keep another NISO_ROOT from choosing the same free name and subnet in
 * between (two roots creating a network at once both got niso0 and 10.89.0.0/24, or one failed on "File exists").
 */
async function createNetworkLocked(ctx: NetContext, paths: NetPaths, req: NetworkRequest): Promise<Network> {
  const networks = await readNetworks(paths);
  return withLock(HOST_NET_LOCK, 'the host\'s network names', async () => {
    const network = planNetwork(req, await hostNetFacts(), networks, ctx.bridgePrefix, now(), ctx.pool);
    await writeNetworks(paths, [...networks, network]);
    try {
      const { mtu, links } = await uplinkMtu(networks.map((n) => n.bridge));
      await ensureBridge(network, aliasOf(ctx, network), mtu, links);
      await ensureForwarding();
    } catch (e) {
      await removeBridge(network, aliasOf(ctx, network)).catch(() => undefined);
      await writeNetworks(paths, networks);
      throw e;
    }
    return network;
  });
}

/** The alias that marks a bridge as this root's network's own (model/bridge.ts). */
const aliasOf = (ctx: NetContext, network: Network) => bridgeAlias(ctx.table, network.name);

/**
 * Root lock held: the bridges of the networks `names`, each the network's own and up, and the networks as they are
 * now. A bridge that is there and carries the network's mark is only checked (the usual case: no other lock, no
 * other process). One that is missing (a reboot, a machine's network namespace gone) or whose name another root has
 * taken since is made again under the host's network lock, on a free name, and on a free subnet if its own is taken
 * now (replanNetwork), and the new name or subnet is recorded. `records`: the live attachments (pruned).
 */
async function bringUpBridges(ctx: NetContext, paths: NetPaths, names: readonly string[], records: readonly AttachmentRecord[], mtu: number, links: readonly IpLink[]): Promise<Network[]> {
  const networks = await readNetworks(paths);
  const used = networks.filter((n) => names.includes(n.name));
  const states = await Promise.all(used.map(async (n) => bridgeState(await bridgeLink(n.bridge, links), n, aliasOf(ctx, n))));
  if (states.every((s) => s === 'ours')) {
    for (const n of used) await ensureBridge(n, aliasOf(ctx, n), mtu, links);
    return networks;
  }
  return withLock(HOST_NET_LOCK, 'the host\'s network names', async () => {
    let current = networks;
    for (const name of names) {
      const network = current.find((n) => n.name === name);
      if (!network) continue;
      const fresh = await listLinks();
      const state = bridgeState(await bridgeLink(network.bridge, fresh), network, aliasOf(ctx, network));
      if (state === 'ours') { await ensureBridge(network, aliasOf(ctx, network), mtu, fresh); continue; }
      const live = [...new Set(records.filter((r) => r.attachment.network === name).map((r) => r.attachment.service))].sort();
      const next = replanNetwork(network, state, await hostNetFacts(), current.filter((n) => n.name !== name), live, ctx.bridgePrefix, ctx.pool);
      if (next !== network) {
        current = current.map((n) => (n.name === name ? next : n));
        await writeNetworks(paths, current);
      }
      await ensureBridge(next, aliasOf(ctx, next), mtu, fresh);
    }
    return current;
  });
}

/** `niso net create NAME [--subnet CIDR]`: records the network, creates its bridge, applies the rules. */
export async function createNetwork(ctx: NetContext, req: NetworkRequest): Promise<Network> {
  const paths = netPaths(ctx.root);
  return locked(paths, async () => {
    const network = await createNetworkLocked(ctx, paths, req);
    await applyLocked(ctx, paths);
    return network;
  });
}

export interface NetworkInfo { network: Network; attachments: Attachment[]; ports: PortMap[] }

/** `niso net list` / `inspect`: every network with its live attachments. */
export async function listNetworks(ctx: NetContext): Promise<NetworkInfo[]> {
  const paths = netPaths(ctx.root);
  const [networks, records] = [await readNetworks(paths), await readRecords(paths)];
  return networks.map((network) => {
    const mine = records.filter((r) => r.attachment.network === network.name);
    return { network, attachments: mine.map((r) => r.attachment), ports: mine.flatMap((r) => r.ports) };
  });
}

/** `niso net remove NAME`: refused while services use it (after pruning dead ones). */
export async function removeNetwork(ctx: NetContext, name: string): Promise<Network> {
  const paths = netPaths(ctx.root);
  return locked(paths, async () => {
    await pruneLocked(paths);
    const networks = await readNetworks(paths);
    const records = await readRecords(paths);
    const network = planRemoveNetwork(name, networks, records);
    const rest = networks.filter((n) => n.name !== name);
    // Rules first, so none points at the bridge once it is gone; the record last, so a crash in
    // between leaves the network listed and `niso net remove` can simply be run again.
    await applyState(ctx, records, rest);
    await removeBridge(network, aliasOf(ctx, network));
    await writeNetworks(paths, rest);
    return network;
  });
}

/** Removes the attachments (and their netns) of dead owners. Lock held; rules not re-applied. */
async function pruneLocked(paths: NetPaths): Promise<Attachment[]> {
  const records = await readRecords(paths);
  const dead: AttachmentRecord[] = [];
  for (const r of records) if (!(await ownerAlive(r.owner))) dead.push(r);
  await teardown(paths, dead, records);
  return dead.map((r) => r.attachment);
}

/**
 * Removes veths, then each netns no longer used by a surviving record, then the records. The
 * records go last: if this is interrupted, the next prune finds them and finishes the job.
 */
async function teardown(paths: NetPaths, gone: readonly AttachmentRecord[], all: readonly AttachmentRecord[]): Promise<void> {
  const goneVeths = new Set(gone.map((r) => r.attachment.vethHost));
  const byNetns = new Map<string, string[]>();
  for (const r of gone) byNetns.set(r.attachment.netns, [...(byNetns.get(r.attachment.netns) ?? []), r.attachment.vethHost]);
  for (const [netns, veths] of byNetns) {
    const stillUsed = all.some((r) => r.attachment.netns === netns && !goneVeths.has(r.attachment.vethHost));
    await removeEndpoint(stillUsed ? null : netns, veths);
  }
  for (const r of gone) await removeRecord(paths, r.attachment.vethHost);
}

export interface PruneResult { removed: Attachment[] }

/**
 * `niso net prune`: removes attachments whose owner process died (netns, veth, port maps) and
 * re-applies the table, which also restores it after a reboot or a foreign `nft flush ruleset`.
 */
export async function pruneNetwork(ctx: NetContext): Promise<PruneResult> {
  const paths = netPaths(ctx.root);
  return locked(paths, async () => {
    const removed = await pruneLocked(paths);
    await applyLocked(ctx, paths);
    return { removed };
  });
}

export interface AttachOptions {
  service: string;
  /** Networks to join; the first carries the default route and the port maps. Default: ["default"]. */
  networks?: readonly string[];
  ports?: readonly PortMappingInput[];
  egress?: boolean;
  /** More names the service answers to, by network (a stack's service name and aliases). */
  aliases?: Readonly<Record<string, readonly string[]>>;
  /** The process whose life the attachment lasts (the supervisor or `niso run`); default: this one. */
  ownerPid?: number;
  /**
   * 8 hex digits for the netns name instead of random ones: a systemd unit names its namespace in
   * NetworkNamespacePath=, so the same service must get the same path at every start.
   */
  netnsId?: string;
}

export interface Endpoint {
  service: string;
  /** The netns to run the service in: `/run/netns/<netns>`. */
  netns: string;
  attachments: Attachment[];
  ports: PortMap[];
}

/**
 * Puts a service on its networks: prunes dead attachments, decides addresses and port maps,
 * records them, then creates bridge, netns and veths and applies the rules. Any failure removes
 * what was created; a crash leaves records from which prune removes it.
 */
export async function attachService(ctx: NetContext, opts: AttachOptions): Promise<Endpoint> {
  const paths = netPaths(ctx.root);
  const names = opts.networks && opts.networks.length > 0 ? opts.networks : [DEFAULT_NETWORK];
  const ports = opts.ports ?? [];
  const owner = await ownerOf(opts.ownerPid ?? process.pid);
  // An owner that is not running would make the attachment prunable at once, or immortal if its pid came back.
  if (owner.startTime === null) throw new Error(`attachService: owner pid ${owner.pid} is not running`);
  return locked(paths, async () => {
    await pruneLocked(paths);
    if (names.includes(DEFAULT_NETWORK) && !(await readNetworks(paths)).some((n) => n.name === DEFAULT_NETWORK)) {
      await createNetworkLocked(ctx, paths, { name: DEFAULT_NETWORK });
    }
    const records = await readRecords(paths);
    // Read on every attach: the uplink may have changed since the network was made (a VPN came up).
    const { mtu, links } = await uplinkMtu((await readNetworks(paths)).map((n) => n.bridge));
    // Before the addresses are planned: a bridge made again may have had to move to a free subnet.
    const networks = await bringUpBridges(ctx, paths, names, records, mtu, links);
    const protocols = [...new Set(ports.map((p) => p.protocol))];
    const listeners = protocols.length > 0 ? await hostListeners(protocols, ports.map((p) => p.host)) : [];
    const ids = { netns: opts.netnsId ?? hex8(), veths: names.map(() => hex8()) };
    const planned = planAttach({ service: opts.service, networks: names, ports, egress: opts.egress ?? true, owner, ...(opts.aliases ? { aliases: opts.aliases } : {}) }, ids, networks, records, listeners, ctx.netnsPrefix, now());
    for (const r of planned) await writeRecord(paths, r);
    try {
      await ensureForwarding();
      await createEndpoint(planned.map((r) => r.attachment), networks, mtu);
      await applyLocked(ctx, paths);
    } catch (e) {
      await teardown(paths, planned, [...records, ...planned]).catch(() => undefined);
      await applyLocked(ctx, paths).catch(() => undefined);
      throw e;
    }
    return { service: opts.service, netns: planned[0]!.attachment.netns, attachments: planned.map((r) => r.attachment), ports: planned[0]!.ports };
  });
}

/**
 * A running service's host-side port maps changed and nothing else: its primary attachment record gets the new maps
 * and the whole table is applied as one nft transaction (`nft -f`), so the service keeps its process, address and
 * connections, and there is no moment without either the old or the new maps. Conflicts (another service's map, a
 * host listener) are refused before anything is written; the service's own current maps do not count against it.
 * false: the service is not attached (nothing to remap; its next start maps the ports from its plan).
 */
export async function remapPorts(ctx: NetContext, service: string, ports: readonly PortMappingInput[]): Promise<boolean> {
  const paths = netPaths(ctx.root);
  return locked(paths, async () => {
    const records = await readRecords(paths);
    const mine = records.filter((r) => r.attachment.service === service);
    // The maps live in the record of the first network (eth0), whose address they target.
    const primary = mine.find((r) => r.attachment.ifname === 'eth0') ?? mine[0];
    if (!primary) return false;
    const maps = portMapsFor(service, primary.attachment.address, ports);
    assertNoPortConflicts(maps, records.filter((r) => r.attachment.service !== service).flatMap((r) => r.ports));
    // A host listener on a port the service maps already is the map itself seen by ss (it is not), or a process that
    // came after it: only ports new to the service are checked against listeners.
    const held = (p: { hostIp: string | null; hostPort: { from: number; to: number }; protocol: string }) => primary.ports.some((o) => o.protocol === p.protocol && o.hostIp === p.hostIp && o.hostPort.from === p.hostPort.from && o.hostPort.to === p.hostPort.to);
    const fresh = maps.filter((m) => !held(m));
    const protocols = [...new Set(fresh.map((p) => p.protocol))];
    if (protocols.length > 0) assertNoListenerConflicts(fresh, await hostListeners(protocols, fresh.map((m) => m.hostPort)));
    const before = primary.ports;
    await writeRecord(paths, { ...primary, ports: maps });
    try {
      await applyLocked(ctx, paths);
    } catch (e) {
      // The kernel kept the old table (one transaction): the record says so again.
      await writeRecord(paths, { ...primary, ports: before });
      throw e;
    }
    return true;
  });
}

/**
 * Other firewalls' FORWARD drops that niso's networks are not exempt from (see model/firewall.ts),
 * as messages for the admin. Not part of attach: `nft list chains` takes ~1 ms without other tables
 * but ~20 ms with 40 of them, so callers ask where a warning is worth it (`niso net create/inspect`,
 * a service's start).
 */
export async function firewallWarnings(ctx: NetContext): Promise<string[]> {
  const networks = await readNetworks(netPaths(ctx.root));
  if (networks.length === 0) return [];
  return forwardBlockers(ctx.table, networks.map((n) => n.bridge), ctx.bridgePrefix);
}

/** Normal teardown when a service stops: its veths, netns, port maps and records. false: it had none. */
export async function detachService(ctx: NetContext, service: string): Promise<boolean> {
  const paths = netPaths(ctx.root);
  return locked(paths, async () => {
    const records = await readRecords(paths);
    const mine = records.filter((r) => r.attachment.service === service);
    if (mine.length === 0) return false;
    // Rules first, so no packet is forwarded to an address that is about to be freed; the records
    // go last (in teardown), so a crash in between still leaves them for prune.
    await applyState(ctx, records.filter((r) => r.attachment.service !== service), await readNetworks(paths));
    await teardown(paths, mine, records);
    return true;
  });
}

/**
 * Lock held: applies the rules for the given state instead of the recorded one. A table exists only while a service
 * is attached: its base chains run for every packet the host forwards or sends, and without a service on any network
 * there is nothing to map, masquerade or keep apart (a bridge with nothing on it sends nothing), so networks that
 * are idle, or none at all, leave no table.
 */
async function applyState(ctx: NetContext, records: readonly AttachmentRecord[], networks: readonly Network[]): Promise<void> {
  const state = stateOf(networks, records);
  if (!state.attachments.some((a) => networks.some((n) => n.name === a.network))) return deleteTable(ctx.table);
  await applyRuleset(renderNftRuleset(state, { table: ctx.table }));
}

/** The /etc/hosts a service gets: itself and the services it shares a network with. */
export async function hostsFor(ctx: NetContext, service: string): Promise<string> {
  const records = await readRecords(netPaths(ctx.root));
  return renderHosts(service, records.map((r) => r.attachment));
}
