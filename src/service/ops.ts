// The service verbs on one service (start, deactivate, restart, remove, boot), on whichever backend it has: each goes through the Backend interface (src/backend/), so nothing here knows how a backend works.
import { backendFor, type Deactivated, type Host } from '../backend/index.js';
import { interruptedStarts } from './interrupted.js';
import type { ServiceState } from './model/types.js';
import { lastOutput } from './running.js';
import { readState, requireDefinition } from './store.js';

export type { Deactivated, Host };


/** `niso activate SERVICE` for an existing, inactive service: starts it again as it was defined. */
export async function start(host: Host, name: string): Promise<ServiceState> {
  return (await backendFor(requireDefinition(host.root, name).backend)).start(host, name);
}

/** `niso deactivate SERVICE`: stop signal, stop timeout, SIGKILL; cgroup and network removed. */
export async function deactivate(host: Host, name: string): Promise<Deactivated> {
  return (await backendFor(requireDefinition(host.root, name).backend)).stop(host, name);
}

/** `niso restart SERVICE`: stops it if it runs, starts it again; the restart counters start over. */
export async function restart(host: Host, name: string): Promise<ServiceState> {
  return (await backendFor(requireDefinition(host.root, name).backend)).restart(host, name);
}

/**
 * `niso remove SERVICE`: forgets a service that is not active (inactive, or failed and not restarted). Its volume grants
 * end. Its state and own volumes, with the app's data, stay (unmounted) unless `deleteState` (`--volumes`); then its
 * uid is given back too.
 */
export async function removeService(host: Host, name: string, deleteState = false): Promise<{ removedVolumes: string[] }> {
  return (await backendFor(requireDefinition(host.root, name).backend)).remove(host, name, { deleteState });
}

/** `niso boot`: after a reboot, starts what should run (systemd starts its enabled units itself). */
export async function boot(host: Host): Promise<{ started: string[]; failed: { name: string; message: string }[] }> {
  return (await import('../backend/embedded.js')).bootEmbedded(host);
}

/**
 * For `niso status`: the starts whose command was killed are reconciled now (model/reconcile.ts), under each one's
 * lock, so that what status shows is also what is recorded (a run recorded, a unit enabled, a start taken back).
 */
export async function reconcileInterrupted(host: Host, names: readonly string[]): Promise<void> {
  for (const { name, def } of interruptedStarts(host.root, names)) await (await backendFor(def.backend)).reconcile(host, name);
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
