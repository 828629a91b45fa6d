// The verbs of the embedded backend that change what runs: activate, deactivate, restart, remove,
// boot. Each transition happens under the service's lock; the supervisor is started afterwards
// for restarts, health checks and logs.
import { NisoError } from '../errors/niso-error.js';
import type { PlanOptions } from '../plan/build-plan.js';
import type { InstalledPackage } from '../store/installed.js';
import { serviceProcesses, startService, stopService, lastOutput, type HostEnv } from './launch.js';
import { SERVICE_FORMAT, initialState, withExit, type BackendName, type ExitRecord, type ServiceDefinition, type ServiceState } from './model/types.js';
import { ensureSupervisor, recordEnd } from './supervisor.js';
import { releaseState } from './state-dir.js';
import {
  SERVICE_NAME_RE, listServiceNames, readDefinition, readPlan, readState, removeServiceFiles, requireDefinition,
  withServiceLock, withServicesLock, writeDefinition, writeState,
} from './store.js';

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

/** `niso activate PACKAGE [--name N]`: a new service (or a new definition for an inactive one), started. */
export async function activate(host: Host, req: ActivateRequest): Promise<ServiceState> {
  checkName(req.name);
  if (req.backend === 'systemd') return (await systemdOps()).activate(host, req);
  const def: ServiceDefinition = {
    version: SERVICE_FORMAT, name: req.name, package: { name: req.pkg.name, version: req.pkg.version, digest: req.pkg.digest },
    options: req.options, backend: 'embedded', createdAt: new Date().toISOString(), desired: 'active', logs: req.logs,
  };
  await withServicesLock(host.root, async () => {
    const existing = readDefinition(host.root, req.name);
    if (existing && (existing.desired === 'active' || serviceProcesses(host.root, req.name).length > 0)) {
      throw new NisoError('NISO3302', `service "${req.name}" already exists and is active (${existing.package.name} ${existing.package.version})`, {
        exitCode: 1, hint: `restart it with \`niso restart ${req.name}\`, give the new one another name with --name, or stop it first with \`niso deactivate ${req.name}\``,
      });
    }
    await writeDefinition(host.root, existing ? { ...def, createdAt: existing.createdAt } : def);
  });
  const state = await withServiceLock(host.root, req.name, async () => {
    const prev = readState(host.root, req.name);
    // A new activation starts its counters over; the exit history stays for `niso debug`.
    return startLocked(host, def, { ...(prev.version ? prev : initialState(new Date())), restarts: 0, restartsInARow: 0 });
  });
  await ensureSupervisor(host, host.entry);
  return state;
}

/** `niso activate SERVICE` for an existing, inactive service: starts it again as it was defined. */
export async function start(host: Host, name: string): Promise<ServiceState> {
  const def = requireDefinition(host.root, name);
  if (def.backend === 'systemd') return (await systemdOps()).start(host, name);
  const state = await withServiceLock(host.root, name, async () => {
    const d = { ...def, desired: 'active' as const };
    await writeDefinition(host.root, d);
    const prev = readState(host.root, name);
    if (serviceProcesses(host.root, name).length > 0) return prev;
    return startLocked(host, d, prev);
  });
  await ensureSupervisor(host, host.entry);
  return state;
}

/** `niso deactivate SERVICE`: stop signal, stop timeout, SIGKILL; cgroup and network removed. */
export async function deactivate(host: Host, name: string): Promise<ExitRecord | null> {
  const def = requireDefinition(host.root, name);
  if (def.backend === 'systemd') return (await systemdOps()).deactivate(host, name);
  return withServiceLock(host.root, name, async () => {
    await writeDefinition(host.root, { ...def, desired: 'inactive' });
    const state = readState(host.root, name);
    const exit = await stopService(host.root, name, state, 'stopped');
    const now = new Date().toISOString();
    await writeState(host.root, name, { ...state, state: 'inactive', since: now, pid: null, pidStart: null, initPid: null, nextRestartAt: null, message: null, exits: withExit(state.exits, exit) });
    return exit;
  });
}

/** `niso restart SERVICE`: stops it if it runs, starts it again; the restart counters start over. */
export async function restart(host: Host, name: string): Promise<ServiceState> {
  const def = requireDefinition(host.root, name);
  if (def.backend === 'systemd') return (await systemdOps()).restart(host, name);
  const state = await withServiceLock(host.root, name, async () => {
    const d = { ...def, desired: 'active' as const };
    await writeDefinition(host.root, d);
    let s = readState(host.root, name);
    const exit = await stopService(host.root, name, s, 'stopped');
    s = { ...s, exits: withExit(s.exits, exit) };
    return startLocked(host, d, { ...s, restartsInARow: 0, restarts: s.restarts });
  });
  await ensureSupervisor(host, host.entry);
  return state;
}

/**
 * `niso remove SERVICE`: forgets an inactive service. Its state, with the app's data, stays (unmounted) unless
 * `deleteState`; then its uid is given back too.
 */
export async function removeService(host: Host, name: string, deleteState = false): Promise<void> {
  if (requireDefinition(host.root, name).backend === 'systemd') return (await systemdOps()).remove(host, name, deleteState);
  await withServicesLock(host.root, () => withServiceLock(host.root, name, async () => {
    const def = readDefinition(host.root, name);
    if (def?.desired === 'active' || serviceProcesses(host.root, name).length > 0) {
      throw new NisoError('NISO3302', `service "${name}" is active`, { exitCode: 1, hint: `stop it first with \`niso deactivate ${name}\`` });
    }
    await releaseState(host.root, name, deleteState);
    await removeServiceFiles(host.root, name);
  }));
}

/**
 * `niso boot`: after a reboot, starts every service that should run (desired active, and, as
 * Docker does, "always" ones even if they were stopped by hand). Returns what it started.
 */
export async function boot(host: Host): Promise<{ started: string[]; failed: { name: string; message: string }[] }> {
  const started: string[] = [];
  const failed: { name: string; message: string }[] = [];
  for (const name of listServiceNames(host.root)) {
    const def = readDefinition(host.root, name);
    // systemd starts its enabled units at boot itself.
    if (!def || def.backend === 'systemd') continue;
    // The policy of the last run's plan (it includes the manifest's), or the command line's.
    let policy = def.options.restart?.policy;
    if (!policy) { try { policy = readPlan(host.root, name)?.restart.policy; } catch { /* a damaged plan: not "always" */ } }
    if (def.desired !== 'active' && policy !== 'always') continue;
    try {
      await withServiceLock(host.root, name, async () => {
        const d = { ...def, desired: 'active' as const };
        await writeDefinition(host.root, d);
        const s = readState(host.root, name);
        if (serviceProcesses(host.root, name).length > 0) return;
        // What the state says ran before the reboot is gone: record it, then start afresh.
        const cleaned = s.pid !== null ? await recordEnd(host.root, name, s, { at: new Date().toISOString(), exitCode: null, signal: null, reason: 'vanished', uptimeMs: 0, message: 'the host restarted' }, { ...d, desired: 'inactive' }) : s;
        await startLocked(host, d, { ...cleaned, restartsInARow: 0 });
        started.push(name);
      });
    } catch (e) {
      failed.push({ name, message: (e as Error).message });
    }
  }
  await ensureSupervisor(host, host.entry);
  return { started, failed };
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
