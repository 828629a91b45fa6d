// A service's private network: attached before its sandbox starts (owned by the starting process
// for that moment), then handed to the sandbox's own process, so that the attachment lives exactly
// as long as the service and not as long as whoever started it.
import { withLock } from '../host/lock.js';
import type { Plan } from '../plan/plan.js';
import type { PortMappingInput } from '../net/model/ports.js';
import { netPaths, ownerOf, readRecords, writeRecord } from '../net/host/state-files.js';
import type { PortMap } from '../net/model/types.js';

/**
 * The network manager (addresses, bridges, nft, ss), loaded when an attachment is made, changed or removed: a service
 * without a private network, or one whose records say it has none, never needs it (issue 17: a deactivate on systemd).
 */
const manager = () => import('../net/host/manager.js');

export interface AttachedNet {
  netnsPath: string;
  hosts: string;
  addresses: string[];
  ports: string[];
  reown: (pid: number) => Promise<void>;
}

const range = (r: { from: number; to: number }) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`);

export function describePort(p: PortMap): string {
  return `${p.hostIp ?? '0.0.0.0'}:${range(p.hostPort)}->${range(p.containerPort)}/${p.protocol}`;
}

export async function attachServiceNet(root: string, plan: Plan): Promise<AttachedNet> {
  const { attachService, hostsFor, netContext } = await manager();
  const ctx = netContext(root);
  const endpoint = await attachService(ctx, { service: plan.service, networks: plan.network.networks, ports: plan.network.ports, egress: plan.network.egress, ownerPid: process.pid, ...(plan.network.aliases ? { aliases: plan.network.aliases } : {}) });
  return {
    netnsPath: endpoint.netns.startsWith('/') ? endpoint.netns : `/run/netns/${endpoint.netns}`,
    hosts: await hostsFor(ctx, plan.service),
    addresses: endpoint.attachments.map((a) => `${a.address} on ${a.network}`),
    ports: endpoint.ports.map(describePort),
    reown: (pid: number) => reownServiceNet(root, plan.service, pid),
  };
}

/** Hands the service's attachment to `pid`: it lasts as long as that process (the sandbox), not as whoever started it. */
export async function reownServiceNet(root: string, service: string, pid: number): Promise<void> {
  const paths = netPaths(root);
  const owner = await ownerOf(pid);
  await withLock(paths.lock, 'the network state', async () => {
    for (const r of await readRecords(paths)) {
      if (r.attachment.service === service) await writeRecord(paths, { ...r, owner });
    }
  });
}

/** What the service is attached with now (from the records): for state.json and `niso status`. */
export async function liveNet(root: string, service: string): Promise<{ addresses: string[]; ports: string[] }> {
  const mine = (await readRecords(netPaths(root)).catch(() => [])).filter((r) => r.attachment.service === service);
  return { addresses: mine.map((r) => `${r.attachment.address} on ${r.attachment.network}`), ports: mine.flatMap((r) => r.ports.map(describePort)) };
}

/** Removes the service's attachment if it has one (reading the records first avoids the lock otherwise). */
export async function detachServiceNet(root: string, service: string): Promise<void> {
  const records = await readRecords(netPaths(root)).catch(() => []);
  if (!records.some((r) => r.attachment.service === service)) return;
  const { detachService, netContext } = await manager();
  await detachService(netContext(root), service);
}

/** A ports-only change of a running service: its maps are rewritten in one nft transaction (manager.ts remapPorts). */
export async function remapServicePorts(root: string, service: string, ports: readonly PortMappingInput[]): Promise<boolean> {
  const { netContext, remapPorts } = await manager();
  return remapPorts(netContext(root), service, ports);
}
