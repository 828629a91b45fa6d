// The verbs of the embedded backend that change what runs: activate, deactivate, restart, remove,
// boot. Each transition happens under the service's lock; the supervisor is started afterwards
// for restarts, health checks and logs.
import { NisoError } from '../errors/niso-error.js';
import { crashPoint } from '../host/crash-point.js';
import { sameProcess } from '../host/liveness.js';
import { pendingStart } from './model/reconcile.js';
import type { PlanOptions } from '../plan/build-plan.js';
import type { InstalledPackage } from '../store/installed.js';
import { cleanupRun, reconcileLocked, requestStart, serviceProcesses, startService, stopService, lastOutput, type HostEnv } from './launch.js';
import { SERVICE_FORMAT, initialState, withExit, type BackendName, type ExitRecord, type ServiceDefinition, type ServiceState, type ServiceStateName } from './model/types.js';
import { ensureSupervisor, recordEnd } from './supervisor.js';
import { releaseServiceData } from '../volume/service-data.js';
import {
  SERVICE_NAME_RE, listServiceNames, readDefinition, readPlan, readState, removeServiceFiles, requireDefinition,
  withServiceLock, withServicesLock, writeDefinition, writeState,
} from './store.js';
import { isActive, serviceStatus } from './view.js';

export interface Host extends HostEnv {
  /** niso's own executable, to start the supervisor with. */
  entry: string;
}

export interface ActivateRequest {
  pkg: InstalledPackage;
  name: string;
  options: PlanOptions;
  logs: { maxBytes: number; files: number };
  /** Default embedded; systemd hands the service to systemd (systemd/ops.ts). */
  backend?: BackendName;
}

/** The systemd backend's verbs, loaded only for its services. */
const systemdOps = () => import('./systemd/ops.js');

function checkName(name: string): void {
  if (!SERVICE_NAME_RE.test(name)) throw new NisoError('NISO9001', `"${name}" is not a valid service name`, { exitCode: 2, hint: 'use 1-64 lower-case letters, digits, ".", "_" and "-", starting with a letter or digit' });
}

/** Starts the service now; a start that fails leaves it failed and not desired (so boot does not retry it). */
async function startLocked(host: Host, def: ServiceDefinition, state: ServiceState): Promise<ServiceState> {
  try {
    return await startService(host, def, { ...state, restartsInARow: 0 });
  } catch (e) {
    const exit: ExitRecord = { at: new Date().toISOString(), exitCode: null, signal: null, reason: 'start-failed', uptimeMs: 0, message: (e as Error).message };
    await writeDefinition(host.root, { ...def, desired: 'inactive' });
    await writeState(host.root, def.name, { ...state, pid: null, initPid: null, pidStart: null, state: 'failed', since: exit.at, message: exit.message, exits: withExit(state.exits, exit), nextRestartAt: null });
    throw e;
  }
}

/**
 * `niso activate PACKAGE [--name N]`: a new service (or a new definition for an inactive one), started. The start
 * request goes into service.json with the definition, before anything else (model/reconcile.ts): a command killed at
 * any later step leaves a service that is told and recovered truthfully.
 */
export async function activate(host: Host, req: ActivateRequest): Promise<ServiceState> {
  checkName(req.name);
  if (req.backend === 'systemd') return (await systemdOps()).activate(host, req);
  const def: ServiceDefinition = {
    version: SERVICE_FORMAT, name: req.name, package: { name: req.pkg.name, version: req.pkg.version, digest: req.pkg.digest },
    options: req.options, backend: 'embedded', createdAt: new Date().toISOString(), desired: 'active', logs: req.logs,
  };
  await withServicesLock(host.root, async () => {
    const existing = readDefinition(host.root, req.name);
    // As status shows it: what runs, and what an interrupted start left (not "active" just because it was asked for).
    const now = existing ? serviceStatus(host.root, req.name) : null;
    if (existing && now && isActive(now)) throw alreadyActive(req.name, existing);
    def.start = requestStart(now?.desired ?? 'inactive');
    await writeDefinition(host.root, existing ? { ...def, createdAt: existing.createdAt } : def);
  });
  crashPoint(host.env, 'defined');
  const state = await withServiceLock(host.root, req.name, async () => {
    const prev = readState(host.root, req.name);
    // A new activation starts its counters over; the exit history stays for `niso debug`.
    return startLocked(host, def, { ...(prev.version ? prev : initialState(new Date())), restarts: 0, restartsInARow: 0, start: def.start!.id });
  });
  crashPoint(host.env, 'recorded');
  await ensureSupervisor(host, host.entry);
  return state;
}

export function alreadyActive(name: string, def: ServiceDefinition): NisoError {
  return new NisoError('NISO3302', `service "${name}" already exists and is active (${def.package.name} ${def.package.version})`, {
    exitCode: 1, hint: `restart it with \`niso restart ${name}\`, give the new one another name with --name, or stop it first with \`niso deactivate ${name}\``,
  });
}

/** Under the lock: what an interrupted start left is reconciled, then the start is requested (desired active) and made. */
async function requestAndStart(host: Host, name: string, before: (s: ServiceState) => Promise<ServiceState> = async (s) => s): Promise<ServiceState> {
  const { def, state } = await reconcileLocked(host.root, name);
  const d: ServiceDefinition = { ...def, desired: 'active', start: requestStart(def.desired) };
  await writeDefinition(host.root, d);
  const s = await before(state);
  return startLocked(host, d, { ...s, start: d.start!.id });
}

/** `niso activate SERVICE` for an existing, inactive service: starts it again as it was defined. */
export async function start(host: Host, name: string): Promise<ServiceState> {
  const def = requireDefinition(host.root, name);
  if (def.backend === 'systemd') return (await systemdOps()).start(host, name);
  const state = await withServiceLock(host.root, name, async () => {
    // It runs (maybe started by a command that was killed before it said so): adopted, wanted, and left as it is.
    if (serviceProcesses(host.root, name).length > 0) {
      const { def, state } = await reconcileLocked(host.root, name);
      if (def.desired !== 'active') await writeDefinition(host.root, { ...def, desired: 'active' });
      return state;
    }
    return requestAndStart(host, name);
  });
  await ensureSupervisor(host, host.entry);
  return state;
}

/** What `deactivate` did: how the run ended, or what the service was when nothing ran. */
export interface Deactivated { exit: ExitRecord | null; before: { state: ServiceStateName; message: string | null } }

/** `niso deactivate SERVICE`: stop signal, stop timeout, SIGKILL; cgroup and network removed. */
export async function deactivate(host: Host, name: string): Promise<Deactivated> {
  const def = requireDefinition(host.root, name);
  if (def.backend === 'systemd') return (await systemdOps()).deactivate(host, name);
  return withServiceLock(host.root, name, async () => {
    // A run nobody recorded is adopted first, so that it gets its stop signal and its end is told.
    const { def: d, state } = await reconcileLocked(host.root, name);
    const before = serviceStatus(host.root, name)!;
    await writeDefinition(host.root, { ...d, desired: 'inactive' });
    const exit = await stopService(host.root, name, state, 'stopped');
    const now = new Date().toISOString();
    await writeState(host.root, name, { ...state, state: 'inactive', since: now, pid: null, pidStart: null, initPid: null, nextRestartAt: null, message: null, exits: withExit(state.exits, exit) });
    return { exit, before: { state: before.state, message: before.message } };
  });
}

/** `niso restart SERVICE`: stops it if it runs, starts it again; the restart counters start over. */
export async function restart(host: Host, name: string): Promise<ServiceState> {
  const def = requireDefinition(host.root, name);
  if (def.backend === 'systemd') return (await systemdOps()).restart(host, name);
  const state = await withServiceLock(host.root, name, () => requestAndStart(host, name, async (s) => {
    const exit = await stopService(host.root, name, s, 'stopped');
    return { ...s, exits: withExit(s.exits, exit), restartsInARow: 0 };
  }));
  await ensureSupervisor(host, host.entry);
  return state;
}

/**
 * `niso remove SERVICE`: forgets a service that is not active (inactive, or failed and not restarted). Its volume grants
 * end. Its state and own volumes, with the app's data, stay (unmounted) unless `deleteState` (`--volumes`); then its
 * uid is given back too.
 */
export async function removeService(host: Host, name: string, deleteState = false): Promise<{ removedVolumes: string[] }> {
  if (requireDefinition(host.root, name).backend === 'systemd') return (await systemdOps()).remove(host, name, deleteState);
  return withServicesLock(host.root, () => withServiceLock(host.root, name, async () => {
    await reconcileLocked(host.root, name);
    const now = serviceStatus(host.root, name);
    if (now && isActive(now)) {
      throw new NisoError('NISO3302', `service "${name}" is ${now.state}`, { exitCode: 1, hint: `stop it first with \`niso deactivate ${name}\`` });
    }
    // What its last run left if the supervisor was killed as it recorded the end: its cgroup, its network.
    await cleanupRun(host.root, name);
    const released = await releaseServiceData(host.root, name, deleteState);
    await removeServiceFiles(host.root, name);
    return released;
  }));
}

/**
 * `niso boot`: after a reboot, starts every service that should run (desired active, and, as
 * Docker does, "always" ones that ran before even if they were stopped by hand). Returns what it started.
 */
export async function boot(host: Host): Promise<{ started: string[]; failed: { name: string; message: string }[] }> {
  const started: string[] = [];
  const failed: { name: string; message: string }[] = [];
  for (const name of listServiceNames(host.root)) {
    const def = readDefinition(host.root, name);
    // systemd starts its enabled units at boot itself.
    if (!def || def.backend === 'systemd') continue;
    try {
      await withServiceLock(host.root, name, async () => {
        // An activation killed before it started anything is not wanted: taken back here, not started.
        const { def: d, state: s } = await reconcileLocked(host.root, name);
        if (serviceProcesses(host.root, name).length > 0) return;
        // The policy of the last run's plan (it includes the manifest's), or the command line's.
        let policy = d.options.restart?.policy;
        if (!policy) { try { policy = readPlan(host.root, name)?.restart.policy; } catch { /* a damaged plan: not "always" */ } }
        // Never started (its activation was killed first): not "stopped by hand", so "always" does not apply.
        if (d.desired !== 'active' && !(policy === 'always' && s.startedAt !== null)) return;
        await requestAndStart(host, name, async (s1) => {
          // What the state says ran before the reboot is gone: record it, then start afresh.
          const cleaned = s1.pid !== null ? await recordEnd(host.root, name, s1, { at: new Date().toISOString(), exitCode: null, signal: null, reason: 'vanished', uptimeMs: 0, message: 'the host restarted' }, { ...d, desired: 'inactive' }) : s1;
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

/**
 * For `niso status`: the starts whose command was killed are reconciled now (model/reconcile.ts), under each one's
 * lock, so that what status shows is also what is recorded (a run recorded, a unit enabled, a start taken back).
 */
export async function reconcileInterrupted(host: Host, names: readonly string[]): Promise<void> {
  for (const name of names) {
    let def: ServiceDefinition | null;
    try { def = readDefinition(host.root, name); } catch { continue; }
    const pending = def ? pendingStart(def, readState(host.root, name)) : null;
    if (!def || pending === null || sameProcess(pending.by)) continue;
    const backend = def.backend;
    await withServiceLock(host.root, name, async () => {
      if (backend === 'systemd') await (await systemdOps()).reconcileUnitLocked(host.root, name);
      else await reconcileLocked(host.root, name);
    });
  }
}

/** The output of a service that failed, for error messages. */
export async function failureDetail(root: string, name: string): Promise<string> {
  const s = readState(root, name);
  const last = s.exits[s.exits.length - 1];
  const parts = [s.message ?? (last ? `exit code ${last.exitCode ?? 'unknown'}` : 'no exit recorded')];
  const out = await lastOutput(root, name);
  if (out) parts.push(`its last output:\n${out}`);
  return parts.join('; ');
}
