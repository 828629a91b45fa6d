// The one interface through which every change to what runs goes (DESIGN.md §2 `backend/`): the switch engine and
// the service verbs call these, and each backend (the embedded supervisor, systemd) implements them its own way, so
// that nothing above this line branches on `def.backend`.
import type { GenerationService } from '../generation/types.js';
import type { PortMapping } from '../manifest/units.js';
import type { HostEnv } from '../service/launch.js';
import type { BackendName, ExitRecord, ServiceState, ServiceStateName } from '../service/model/types.js';

export interface Host extends HostEnv {
  /** niso's own executable, to start the supervisor (embedded) or to name in units (systemd) with. */
  entry: string;
}

/** What a stop did: how the run ended, or what the service was when nothing ran. */
export interface Deactivated { exit: ExitRecord | null; before: { state: ServiceStateName; message: string | null } }

/** One service as a generation holds it (the spec part of service.json). */
export type ServiceEntry = GenerationService;

export interface DefineOptions {
  /**
   * Record a start request with the definition (desired active, intent first: model/reconcile.ts), for a `start`
   * that follows at once. Without it the service is defined inactive.
   */
  requestStart?: boolean;
}

export interface Backend {
  readonly name: BackendName;
  /** Writes the service's definition (service.json; a unit is written by its start) without starting it. */
  define(host: Host, entry: ServiceEntry, opts?: DefineOptions): Promise<void>;
  /** Starts a defined service as it is defined (adopting a run nobody recorded); desired becomes active. */
  start(host: Host, name: string): Promise<ServiceState>;
  /** Stops it (stop signal, timeout, SIGKILL); its cgroup and network go; desired becomes inactive. */
  stop(host: Host, name: string): Promise<Deactivated>;
  /** Stops it if it runs and starts it again with the same definition (`niso restart`, not a switch). */
  restart(host: Host, name: string): Promise<ServiceState>;
  /** Stop with the old definition, write the new one, start (when `to` is active). */
  replace(host: Host, from: ServiceEntry, to: ServiceEntry): Promise<void>;
  /** Only the host-side port maps of a running service changed: one nft transaction, no restart. */
  updatePorts(host: Host, name: string, ports: PortMapping[] | undefined): Promise<void>;
  /** Only what is read at the next start or end changed (restart policy, log bounds): rewritten, no restart. */
  updateDefinition(host: Host, entry: ServiceEntry): Promise<void>;
  /** Forgets an inactive service; its state and own volumes stay unless `deleteState`. */
  remove(host: Host, name: string, opts: { deleteState: boolean }): Promise<{ removedVolumes: string[] }>;
  /** Settles what a killed command left of one start (model/reconcile.ts), under the service's lock. */
  reconcile(host: Host, name: string): Promise<void>;
  /** Whether anything of the service runs now (a process in its cgroup, an active unit). */
  running(host: Host, name: string): boolean;
  /** Which of these services run now, asked at once (on systemd one `systemctl show` for all, not one per service). */
  runningOf(host: Host, names: readonly string[]): Set<string>;
}
