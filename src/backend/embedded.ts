// The embedded backend behind the Backend interface: services are bubblewrap sandboxes that niso starts itself
// (service/launch.ts), restarted and watched by its supervisor. Each transition happens under the service's lock.
import { crashPoint } from '../host/crash-point.js';
import type { PortMapping } from '../manifest/units.js';
import { cleanupRun, reconcileLocked, requestStart, serviceRunning, startService, stopService } from '../service/launch.js';
import { initialState, withExit, type ExitRecord, type ServiceDefinition, type ServiceState } from '../service/model/types.js';
import { pendingStart } from '../service/model/reconcile.js';
import { recordUnrecordedEnd, ensureSupervisor } from '../service/supervisor.js';
import { recordEnd } from '../service/record-end.js';
import {
  listServiceNames, readDefinition, readPlan, readState, removeServiceFiles, requireDefinition, withServiceLock, withServicesLock,
  writeDefinition, writePlan, writeState,
} from '../service/store.js';
import { serviceStatus } from '../service/view.js';
import { releaseServiceData } from '../volume/service-data.js';
import type { Backend, Deactivated, DefineOptions, Host, ServiceEntry } from './types.js';
import { startOrder } from '../generation/order.js';
import { waitForDependencies } from '../generation/dependencies.js';
import { defineEntry, definitionOf, dryPlan, remapRunning, replaceWith, stillActive, withPorts } from './common.js';

/** Starts the service now; a start that fails leaves it failed and not desired (so boot does not retry it). */
async function startLocked(host: Host, def: ServiceDefinition, state: ServiceState): Promise<ServiceState> {
  try {
    return await startService(host, def, { ...state, restartsInARow: 0 });
  } catch (e) {
    const exit: ExitRecord = { at: new Date().toISOString(), exitCode: null, signal: null, reason: 'start-failed', uptimeMs: 0, message: (e as Error).message };
    await writeDefinition(host.root, { ...def, desired: 'inactive' });
    await writeState(host.root, def.name, { ...state, pid: null, initPid: null, pidStart: null, state: 'failed', since: exit.at, message: exit.message, exits: withExit(state.exits, exit, def.package.digest), nextRestartAt: null });
    throw e;
  }
}

/** Under the lock: what an interrupted start left is reconciled, then the start is requested (desired active) and made. */
async function requestAndStart(host: Host, name: string, before: (s: ServiceState) => Promise<ServiceState> = async (s) => s): Promise<ServiceState> {
  const { def, state } = await reconcileLocked(host.root, name);
  const d: ServiceDefinition = { ...def, desired: 'active', start: requestStart(def.desired) };
  await writeDefinition(host.root, d);
  const s = await before(state);
  return startLocked(host, d, { ...s, start: d.start!.id });
}

const define = (host: Host, entry: ServiceEntry, opts: DefineOptions = {}): Promise<void> => defineEntry(host, entry, opts);

async function start(host: Host, name: string): Promise<ServiceState> {
  const state = await withServiceLock(host.root, name, async () => {
    const def = requireDefinition(host.root, name);
    const prev = readState(host.root, name);
    const pending = pendingStart(def, prev);
    // Requested by this very command with the definition (define's requestStart): a new activation, whose counters
    // start over (the exit history stays for `niso debug`).
    if (pending && pending.by.pid === process.pid && !serviceRunning(host.root, name)) {
      return startLocked(host, def, { ...(prev.version ? prev : initialState(new Date())), restarts: 0, restartsInARow: 0, start: pending.id });
    }
    // It runs (maybe started by a command that was killed before it said so): adopted, wanted, and left as it is.
    if (serviceRunning(host.root, name)) {
      const { def: d, state: s } = await reconcileLocked(host.root, name);
      if (d.desired !== 'active') await writeDefinition(host.root, { ...d, desired: 'active' });
      return s;
    }
    return requestAndStart(host, name);
  });
  crashPoint(host.env, 'recorded');
  await ensureSupervisor(host, host.entry);
  return state;
}

async function stop(host: Host, name: string): Promise<Deactivated> {
  requireDefinition(host.root, name);
  return withServiceLock(host.root, name, async () => {
    // A run nobody recorded is adopted first, so that it gets its stop signal and its end is told.
    const { def: d, state } = await reconcileLocked(host.root, name);
    const before = serviceStatus(host.root, name)!;
    await writeDefinition(host.root, { ...d, desired: 'inactive' });
    const exit = await stopService(host.root, name, state, 'stopped');
    const now = new Date().toISOString();
    await writeState(host.root, name, { ...state, state: 'inactive', since: now, pid: null, pidStart: null, initPid: null, nextRestartAt: null, message: null, exits: withExit(state.exits, exit, d.package.digest) });
    return { exit, before: { state: before.state, message: before.message } };
  });
}

async function restart(host: Host, name: string): Promise<ServiceState> {
  const def = requireDefinition(host.root, name);
  const state = await withServiceLock(host.root, name, () => requestAndStart(host, name, async (s) => {
    const exit = await stopService(host.root, name, s, 'stopped');
    return { ...s, exits: withExit(s.exits, exit, def.package.digest), restartsInARow: 0 };
  }));
  await ensureSupervisor(host, host.entry);
  return state;
}

const replace = (host: Host, from: ServiceEntry, to: ServiceEntry): Promise<void> => replaceWith(host, from, to, { stop, define, start });

async function updatePorts(host: Host, name: string, ports: PortMapping[] | undefined): Promise<void> {
  await withServiceLock(host.root, name, async () => {
    const next = withPorts(requireDefinition(host.root, name), ports);
    // The definition first: a start from here on maps the new ports.
    await writeDefinition(host.root, next);
    const plan = readPlan(host.root, name);
    // What runs keeps its plan but maps these ports now (status, a restart by the supervisor, adoption read it).
    const wanted = ports ?? (await dryPlan(host, next)).network.ports ?? [];
    if (plan) await writePlan(host.root, name, { ...plan, network: { ...plan.network, ports: wanted } });
    if (serviceRunning(host.root, name)) await remapRunning(host.root, name, wanted);
  });
}

async function updateDefinition(host: Host, entry: ServiceEntry): Promise<void> {
  await withServiceLock(host.root, entry.name, async () => {
    const def = requireDefinition(host.root, entry.name);
    // A run that ended before the supervisor looked is recorded as the run of the definition it ran with.
    await recordUnrecordedEnd(host.root, entry.name, def, readState(host.root, entry.name));
    const next = { ...definitionOf(entry, def, def.start), desired: def.desired, ...(def.deactivatedAt ? { deactivatedAt: def.deactivatedAt } : {}) };
    await writeDefinition(host.root, next);
    // The supervisor reads the restart policy of the run from its plan: the running one gets the new policy.
    const plan = readPlan(host.root, entry.name);
    if (plan) await writePlan(host.root, entry.name, { ...plan, restart: (await dryPlan(host, next)).restart });
  });
}

async function remove(host: Host, name: string, opts: { deleteState: boolean }): Promise<{ removedVolumes: string[] }> {
  return withServicesLock(host.root, () => withServiceLock(host.root, name, async () => {
    await reconcileLocked(host.root, name);
    stillActive(serviceStatus(host.root, name), name, false);
    // What its last run left if the supervisor was killed as it recorded the end: its cgroup, its network.
    await cleanupRun(host.root, name);
    const released = await releaseServiceData(host.root, name, opts.deleteState);
    await removeServiceFiles(host.root, name);
    return released;
  }));
}

async function reconcile(host: Host, name: string): Promise<void> {
  await withServiceLock(host.root, name, async () => { await reconcileLocked(host.root, name); });
}

export const embedded: Backend = {
  name: 'embedded', define, start, stop, restart, replace, updatePorts, updateDefinition, remove, reconcile,
  running: (host, name) => serviceRunning(host.root, name),
  runningOf: (host, names) => new Set(names.filter((n) => serviceRunning(host.root, n))),
};

/** The end of a run that the host's restart took away. */
const vanished = (): ExitRecord => ({ at: new Date().toISOString(), exitCode: null, signal: null, reason: 'vanished', uptimeMs: 0, message: 'the host restarted' });

/**
 * `niso boot`: after a reboot, starts every embedded service that should run (desired active, and, as
 * Docker does, "always" ones that ran before even if they were stopped by hand), a stack's dependencies first and
 * each dependent once its dependencies meet their conditions. Returns what it started.
 */
export async function bootEmbedded(host: Host): Promise<{ started: string[]; failed: { name: string; message: string }[] }> {
  const started: string[] = [];
  const failed: { name: string; message: string }[] = [];
  const defs = listServiceNames(host.root).map((n) => readDefinition(host.root, n)).filter((d): d is ServiceDefinition => d !== null);
  // What ran before the reboot is recorded as gone, with no restart due, before a supervisor runs (a dependent below
  // waits for its health checks): a supervisor that found these runs ended would restart each on its own policy, a
  // dependent before its dependency is healthy, and this boot would then find it running and not start it in order.
  for (const def of defs) {
    if (def.backend !== 'embedded') continue;
    try {
      await withServiceLock(host.root, def.name, async () => {
        const { def: d, state: s } = await reconcileLocked(host.root, def.name);
        if (s.pid === null || serviceRunning(host.root, def.name)) return;
        await recordEnd(host.root, def.name, s, vanished(), { ...d, desired: 'inactive' });
      });
    } catch (e) {
      failed.push({ name: def.name, message: (e as Error).message });
    }
  }
  for (const name of startOrder(defs)) {
    if (failed.some((f) => f.name === name)) continue;
    const def = defs.find((d) => d.name === name);
    // systemd starts its enabled units at boot itself.
    if (!def || def.backend !== 'embedded') continue;
    try {
      if (def.stack && def.stack.dependsOn.length > 0 && def.desired === 'active') {
        // Health checks are the supervisor's: it must run before a dependent waits for a dependency to be healthy.
        await ensureSupervisor(host, host.entry);
        await waitForDependencies(host.root, def);
      }
      await withServiceLock(host.root, name, async () => {
        // An activation killed before it started anything is not wanted: taken back here, not started.
        const { def: d, state: s } = await reconcileLocked(host.root, name);
        if (serviceRunning(host.root, name)) return;
        // The policy of the last run's plan (it includes the manifest's), or the command line's.
        let policy = d.options.restart?.policy;
        if (!policy) { try { policy = readPlan(host.root, name)?.restart.policy; } catch { /* a damaged plan: not "always" */ } }
        // Never started (its activation was killed first): not "stopped by hand", so "always" does not apply.
        if (d.desired !== 'active' && !(policy === 'always' && s.startedAt !== null)) return;
        await requestAndStart(host, name, async (s1) => {
          // What the state says ran before the reboot is gone: record it, then start afresh.
          const cleaned = s1.pid !== null ? await recordEnd(host.root, name, s1, vanished(), { ...d, desired: 'inactive' }) : s1;
          return { ...cleaned, restartsInARow: 0 };
        });
        started.push(name);
      });
    } catch (e) {
      failed.push({ name, message: (e as Error).message });
    }
  }
  await ensureSupervisor(host, host.entry);
  return { started, failed };
}
