// The systemd backend behind the Backend interface: each service is a unit (service/systemd/ops.ts) that systemd
// starts, restarts and logs; niso writes the units and asks systemctl. Loaded only for systemd services.
import { crashPoint } from '../host/crash-point.js';
import type { PortMapping } from '../manifest/units.js';
import { requestStart } from '../service/running.js';
import { remapServicePorts, liveNet } from '../service/net.js';
import { deactivate, reconcileUnitLocked, remove, restart, rewriteUnit, startDefined, unitActive } from '../service/systemd/ops.js';
import { readDefinition, readState, requireDefinition, servicePaths, withServiceLock, withServicesLock, writeDefinition, writeState } from '../service/store.js';
import { serviceStatus } from '../service/view.js';
import { mkdirSync } from 'node:fs';
import type { Backend, DefineOptions, Host, ServiceEntry } from './types.js';
import { definitionOf, dryPlan } from './common.js';

async function define(host: Host, entry: ServiceEntry, opts: DefineOptions = {}): Promise<void> {
  await withServicesLock(host.root, async () => {
    const existing = readDefinition(host.root, entry.name);
    const now = existing ? serviceStatus(host.root, entry.name) : null;
    mkdirSync(servicePaths(host.root, entry.name).dir, { recursive: true, mode: 0o700 });
    // The intent first (model/reconcile.ts): a command killed at any later step leaves a service told truthfully.
    await writeDefinition(host.root, definitionOf(entry, existing, opts.requestStart ? requestStart(now?.desired ?? 'inactive') : undefined));
  });
  crashPoint(host.env, 'defined');
}

async function replace(host: Host, from: ServiceEntry, to: ServiceEntry): Promise<void> {
  if (readDefinition(host.root, from.name)) await deactivate(host, from.name);
  await define(host, to, { requestStart: to.active });
  if (to.active) await startDefined(host, to.name);
}

async function updatePorts(host: Host, name: string, ports: PortMapping[] | undefined): Promise<void> {
  await withServiceLock(host.root, name, async () => {
    const def = requireDefinition(host.root, name);
    const options = { ...def.options };
    if (ports === undefined) delete options.ports; else options.ports = ports;
    const next = { ...def, options };
    await writeDefinition(host.root, next);
    // The network unit reads its ports from plan.json at its next start: the unit and plan are written anew.
    const plan = await rewriteUnit(host, next);
    const wanted = (plan ?? await dryPlan(host, next)).network.ports ?? [];
    if (unitActive(name) && await remapServicePorts(host.root, name, wanted)) {
      await writeState(host.root, name, { ...readState(host.root, name), ports: (await liveNet(host.root, name)).ports });
    }
  });
}

async function updateDefinition(host: Host, entry: ServiceEntry): Promise<void> {
  await withServiceLock(host.root, entry.name, async () => {
    const def = requireDefinition(host.root, entry.name);
    const next = { ...definitionOf(entry, def, def.start), desired: def.desired, ...(def.deactivatedAt ? { deactivatedAt: def.deactivatedAt } : {}) };
    await writeDefinition(host.root, next);
    // The restart policy is the unit's companions' (the exit unit) and plan.json's: written again, no restart.
    await rewriteUnit(host, next);
  });
}

export const systemd: Backend = {
  name: 'systemd',
  define,
  start: startDefined,
  stop: deactivate,
  restart,
  replace,
  updatePorts,
  updateDefinition,
  remove: (host, name, opts) => remove(host, name, opts.deleteState),
  reconcile: async (host, name) => { await withServiceLock(host.root, name, async () => { await reconcileUnitLocked(host.root, name); }); },
  running: (_host, name) => unitActive(name),
};
