// What both backends share: a definition made from a generation's entry and written (define), a replace in terms of
// a backend's own stop, define and start, a definition with other ports and the live remap of them, the plan a
// definition would get (without touching the host), and the refusal to forget a service that is active.
import { mkdirSync } from 'node:fs';
import { NisoError } from '../errors/niso-error.js';
import { crashPoint } from '../host/crash-point.js';
import type { PortMapping } from '../manifest/units.js';
import type { Plan } from '../plan/plan.js';
import { SERVICE_FORMAT, type ServiceDefinition, type StartRequest } from '../service/model/types.js';
import { requestStart } from '../service/running.js';
import { readDefinition, readState, servicePaths, withServicesLock, writeDefinition, writeState } from '../service/store.js';
import { isActive, serviceStatus, type ServiceStatus } from '../service/view.js';
import { resolveOne } from '../store/resolve.js';
import type { Backend, DefineOptions, Host, ServiceEntry } from './types.js';

/** service.json for an entry: `existing` keeps its creation time; a start request makes it desired active. */
export function definitionOf(entry: ServiceEntry, existing: ServiceDefinition | null, start: StartRequest | undefined): ServiceDefinition {
  return {
    version: SERVICE_FORMAT, name: entry.name, package: { ...entry.package }, options: entry.options, backend: entry.backend,
    createdAt: existing?.createdAt ?? new Date().toISOString(), desired: start ? 'active' : 'inactive', logs: entry.logs,
    ...(start ? { start } : {}),
    ...(entry.stack ? { stack: entry.stack } : {}),
  };
}

/** The plan the definition would run with, planned as a dry run (nothing made on the host): its restart policy and ports. */
export async function dryPlan(host: Host, def: ServiceDefinition): Promise<Plan> {
  const pkg = await resolveOne(host.root, def.package.digest);
  // The planner is loaded only by the switches that plan (a deactivate or a remove does not).
  const { installedManifest, preparePlan } = await import('../sandbox/prepare.js');
  const manifest = await installedManifest(pkg);
  return preparePlan(host, pkg, manifest, def.name, def.options, { netns: '/run/netns/(prepared at start)', hosts: '' }, null, { run: false, dryRun: true });
}

/** `niso remove` forgets only a service that is not active (NISO3302 otherwise, as before generations). */
export function stillActive(now: ServiceStatus | null, name: string, unitActive: boolean): void {
  if ((now && isActive(now)) || unitActive) {
    throw new NisoError('NISO3302', `service "${name}" is ${now?.state ?? 'active'}`, { exitCode: 1, hint: `stop it first with \`niso deactivate ${name}\`` });
  }
}

/**
 * Writes the entry's definition under the services lock, the intent first (model/reconcile.ts): a command killed at
 * any later step leaves a service told truthfully. A start request falls back to what status shows (an interrupted
 * start's). `privateDir`: the service's dir is made 0700 first (systemd's units read files below it as root only).
 */
export async function defineEntry(host: Host, entry: ServiceEntry, opts: DefineOptions, privateDir = false): Promise<void> {
  await withServicesLock(host.root, async () => {
    const existing = readDefinition(host.root, entry.name);
    const now = existing ? serviceStatus(host.root, entry.name) : null;
    if (privateDir) mkdirSync(servicePaths(host.root, entry.name).dir, { recursive: true, mode: 0o700 });
    await writeDefinition(host.root, definitionOf(entry, existing, opts.requestStart ? requestStart(now?.desired ?? 'inactive') : undefined));
  });
  crashPoint(host.env, 'defined');
}

/** A replace in a backend's own terms: the old definition stopped (if any), the new one defined, and started if active. */
export async function replaceWith(host: Host, from: ServiceEntry, to: ServiceEntry, b: { stop(host: Host, name: string): Promise<unknown>; define: Backend['define']; start(host: Host, name: string): Promise<unknown> }): Promise<void> {
  if (readDefinition(host.root, from.name)) await b.stop(host, from.name);
  await b.define(host, to, { requestStart: to.active });
  if (to.active) await b.start(host, to.name);
}

/** The definition with other host ports (`undefined`: the manifest's own). */
export function withPorts(def: ServiceDefinition, ports: PortMapping[] | undefined): ServiceDefinition {
  const options = { ...def.options };
  if (ports === undefined) delete options.ports; else options.ports = ports;
  return { ...def, options };
}

/** Remaps a running service's ports to `wanted` in one nft transaction and records what its attachment maps now. */
export async function remapRunning(root: string, name: string, wanted: PortMapping[]): Promise<void> {
  const { liveNet, remapServicePorts } = await import('../service/net.js');
  if (await remapServicePorts(root, name, wanted)) await writeState(root, name, { ...readState(root, name), ports: (await liveNet(root, name)).ports });
}
