// A systemd service's private network, set up by systemd itself: niso-<service>-net.service (render/systemd-net.ts)
// runs `niso __net-up` before the service starts and `niso __net-down` once it is stopped, at every boot too, so the
// namespace, addresses, port maps and /etc/hosts come back after a reboot without a niso command. The attachment is
// recorded as owned by PID 1 (systemd), which lives as long as the unit can be up.
import { createHash } from 'node:crypto';
import { netReadyFile } from '../../render/systemd-names.js';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { NisoError, isNisoError } from '../../errors/niso-error.js';
import { writeFileAtomic } from '../../host/fs-atomic.js';
import { netnsExists, removeEndpoint } from '../../net/host/ip.js';
import { attachService, detachService, hostsFor, netContext } from '../../net/host/manager.js';
import { netPaths, readRecords } from '../../net/host/state-files.js';
import { netnsName } from '../../net/model/names.js';
import { liveNet } from '../net.js';
import { filesDirOf } from './unit-end.js';
import { errorFileOf } from './net-error.js';


export { liveNet };
import { SERVICE_NAME_RE, readDefinition, readPlan, readState, writeState } from '../store.js';

/** The host directory with the unit's generated files (RootDirectory= skeleton, the sandbox's /etc files): unit-end.ts. */
export { filesDirOf };

/** The file the unit binds as the sandbox's /etc/hosts. */
const hostsFileOf = (root: string, service: string) => join(filesDirOf(root, service), 'etc/hosts');

/**
 * The namespace of a systemd service: its name is fixed in the unit (NetworkNamespacePath=), so the id is derived
 * from the root and the service instead of being random; /run/netns is shared by every NISO_ROOT on the host.
 */
export function systemdNetnsId(root: string, service: string): string {
  return createHash('sha256').update(`${resolve(root)}\0${service}`).digest('hex').slice(0, 8);
}

export function systemdNetnsPath(root: string, service: string): string {
  return `/run/netns/${netnsName(netContext(root).netnsPrefix, service, systemdNetnsId(root, service))}`;
}

/** The /etc/hosts the service gets now: its peers by name once it is attached, only localhost before. */
export function currentHosts(root: string, service: string): Promise<string> {
  return hostsFor(netContext(root), service);
}

/**
 * Rewrites, in place, the /etc/hosts of the other systemd services that share a network with `service`: a unit binds
 * the file itself, so a running sandbox sees a rewrite of the same inode (a rename would not reach it).
 */
async function refreshPeers(root: string, service: string, networks: ReadonlySet<string>): Promise<void> {
  const ctx = netContext(root);
  const records = await readRecords(netPaths(root));
  const peers = new Set(records.filter((r) => r.attachment.service !== service && networks.has(r.attachment.network)).map((r) => r.attachment.service));
  for (const peer of peers) {
    const file = hostsFileOf(root, peer);
    if (readDefinition(root, peer)?.backend !== 'systemd' || !existsSync(file)) continue;
    writeFileSync(file, await hostsFor(ctx, peer));
  }
}

/** Removes whatever an earlier start left: records (a /run on disk keeps them across a reboot) and the namespace. */
async function clearLeftovers(root: string, service: string): Promise<Set<string>> {
  const ctx = netContext(root);
  const networks = new Set((await readRecords(netPaths(root))).filter((r) => r.attachment.service === service).map((r) => r.attachment.network));
  await detachService(ctx, service);
  // A namespace without a record (or a stale file of a former boot): `ip netns del` unmounts what there is and unlinks.
  await removeEndpoint(basename(systemdNetnsPath(root, service)), []);
  return networks;
}

function checkName(service: string): void {
  if (!SERVICE_NAME_RE.test(service)) throw new NisoError('NISO9001', `"${service}" is not a valid service name`, { exitCode: 2 });
}

/** `niso __net-up SERVICE` (ExecStart= of niso-SERVICE-net.service): attaches the service as its plan.json says. */
export async function netUp(root: string, service: string): Promise<void> {
  checkName(service);
  rmSync(errorFileOf(root, service), { force: true });
  try {
    const plan = readPlan(root, service);
    if (plan === null || plan.network.mode !== 'private') {
      throw new NisoError('NISO3304', `service "${service}" has no private network to set up (no plan with network mode "private")`, { hint: `activate it again: niso restart ${service}` });
    }
    const want = systemdNetnsPath(root, service);
    if (plan.network.netns !== want) {
      throw new NisoError('NISO3304', `the unit of "${service}" joins ${plan.network.netns ?? 'no namespace'}, not ${want}`, { hint: `write its unit again: niso restart ${service}` });
    }
    const before = await clearLeftovers(root, service);
    const endpoint = await attachService(netContext(root), {
      service, networks: plan.network.networks, ports: plan.network.ports, egress: plan.network.egress, ...(plan.network.aliases ? { aliases: plan.network.aliases } : {}),
      // systemd owns it: the attachment outlives this process and goes with PID 1 (or with __net-down).
      ownerPid: 1, netnsId: systemdNetnsId(root, service),
    });
    await writeFileAtomic(hostsFileOf(root, service), await currentHosts(root, service), 0o644);
    await refreshPeers(root, service, new Set([...before, ...endpoint.attachments.map((a) => a.network)]));
    const live = await liveNet(root, service);
    await writeState(root, service, { ...readState(root, service), ...live });
  } catch (e) {
    const err = isNisoError(e) ? { code: e.code, message: e.message, hint: e.hint ?? null } : { code: 'NISO4011', message: (e as Error).message, hint: null };
    writeFileSync(errorFileOf(root, service), JSON.stringify(err) + '\n');
    throw e;
  }
}

/**
 * The niso command that is about to start the service's unit attaches its network itself, as `__net-up` would, and
 * leaves netReadyFile, with which the network unit's start is done at once (render/systemd-net.ts): no node process of
 * its own on the start's path. The caller saw the network unit and the app inactive and no restart timer waiting.
 * false when it did nothing, and the unit attaches as it does at boot: a network attached already (the unit was
 * started meanwhile, by a dependent) is left to it, and a failure is left for the unit to meet again, so that it fails
 * where `systemctl` and the exit unit see it (net-error.json says why), as at boot.
 */
export async function prepareNetUp(root: string, service: string): Promise<boolean> {
  const plan = readPlan(root, service);
  const netns = plan?.network.mode === 'private' ? plan.network.netns : undefined;
  if (netns === undefined) return false;
  if (netnsExists(basename(netns)) || (await readRecords(netPaths(root))).some((r) => r.attachment.service === service)) return false;
  try {
    await netUp(root, service);
  } catch {
    return false;
  }
  const ready = netReadyFile(netns);
  mkdirSync(dirname(ready), { recursive: true, mode: 0o700 });
  writeFileSync(ready, '');
  return true;
}

/** netReadyFile gone, once the start it was left for is over (or never came). */
export function dropNetReady(root: string, service: string): void {
  rmSync(netReadyFile(systemdNetnsPath(root, service)), { force: true });
}

/** `niso __net-down SERVICE` (ExecStop=): the namespace, veths, addresses and port maps go; peers forget the name. */
export async function netDown(root: string, service: string): Promise<void> {
  checkName(service);
  dropNetReady(root, service);
  const networks = await clearLeftovers(root, service);
  await refreshPeers(root, service, networks);
}

