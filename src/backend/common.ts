// What both backends share: a definition made from a generation's entry, the plan a definition would get (without
// touching the host), and the refusal to forget a service that is active.
import { NisoError } from '../errors/niso-error.js';
import type { Plan } from '../plan/plan.js';
import { installedManifest, preparePlan } from '../sandbox/prepare.js';
import { SERVICE_FORMAT, type ServiceDefinition, type StartRequest } from '../service/model/types.js';
import { isActive, type ServiceStatus } from '../service/view.js';
import { resolveOne } from '../store/resolve.js';
import type { Host, ServiceEntry } from './types.js';

/** service.json for an entry: `existing` keeps its creation time; a start request makes it desired active. */
export function definitionOf(entry: ServiceEntry, existing: ServiceDefinition | null, start: StartRequest | undefined): ServiceDefinition {
  return {
    version: SERVICE_FORMAT, name: entry.name, package: { ...entry.package }, options: entry.options, backend: entry.backend,
    createdAt: existing?.createdAt ?? new Date().toISOString(), desired: start ? 'active' : 'inactive', logs: entry.logs,
    ...(start ? { start } : {}),
  };
}

/** The plan the definition would run with, planned as a dry run (nothing made on the host): its restart policy and ports. */
export async function dryPlan(host: Host, def: ServiceDefinition): Promise<Plan> {
  const pkg = await resolveOne(host.root, def.package.digest);
  const manifest = await installedManifest(pkg);
  return preparePlan(host, pkg, manifest, def.name, def.options, { netns: '/run/netns/(prepared at start)', hosts: '' }, null, { run: false, dryRun: true });
}

/** `niso remove` forgets only a service that is not active (NISO3302 otherwise, as before generations). */
export function stillActive(now: ServiceStatus | null, name: string, unitActive: boolean): void {
  if ((now && isActive(now)) || unitActive) {
    throw new NisoError('NISO3302', `service "${name}" is ${now?.state ?? 'active'}`, { exitCode: 1, hint: `stop it first with \`niso deactivate ${name}\`` });
  }
}
