// The systemd backend behind the Backend interface: each service is a unit (service/systemd/ops.ts) that systemd
// starts, restarts and logs; niso writes the units and asks systemctl. Loaded only for systemd services.
import type { PortMapping } from '../manifest/units.js';
import { deactivate, reconcileUnitLocked, remove, restart, rewriteUnit, startDefined, unitActive, unitsActive } from '../service/systemd/ops.js';
import { afterExitLocked } from '../service/systemd/after-exit.js';
import { requireDefinition, withServiceLock, writeDefinition } from '../service/store.js';
import type { Backend, DefineOptions, Host, ServiceEntry } from './types.js';
import { defineEntry, definitionOf, dryPlan, remapRunning, replaceWith, withPorts } from './common.js';

// The service's dir is root's alone before anything is written into it: its units read files below it.
const define = (host: Host, entry: ServiceEntry, opts: DefineOptions = {}): Promise<void> => defineEntry(host, entry, opts, true);

const replace = (host: Host, from: ServiceEntry, to: ServiceEntry): Promise<void> => replaceWith(host, from, to, { stop: deactivate, define, start: startDefined });

async function updatePorts(host: Host, name: string, ports: PortMapping[] | undefined): Promise<void> {
  await withServiceLock(host.root, name, async () => {
    const next = withPorts(requireDefinition(host.root, name), ports);
    await writeDefinition(host.root, next);
    // The network unit reads its ports from plan.json at its next start: the unit and plan are written anew.
    const plan = await rewriteUnit(host, next);
    const wanted = (plan ?? await dryPlan(host, next)).network.ports ?? [];
    if (unitActive(name)) await remapRunning(host.root, name, wanted);
  });
}

async function updateDefinition(host: Host, entry: ServiceEntry): Promise<void> {
  await withServiceLock(host.root, entry.name, async () => {
    const def = requireDefinition(host.root, entry.name);
    // An end the exit unit has not judged yet is recorded first, as the run of the definition it ran with.
    await afterExitLocked(host.root, entry.name, () => undefined);
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
  runningOf: (_host, names) => unitsActive(names),
};
