// What niso records about a service: the definition (what should run, written by `niso activate`)
// and the state (what runs, written by whoever starts, stops or watches it, under the service's
// lock). Both are plain JSON under /var/lib/niso/services/<name>/.
import type { PlanOptions } from '../../plan/build-plan.js';
import type { StackEntry } from '../../stack/generation.js';

export const SERVICE_FORMAT = 1;

export type BackendName = 'embedded' | 'systemd';

export interface ServiceDefinition {
  version: typeof SERVICE_FORMAT;
  name: string;
  /** Pinned by digest: a newer install of the same name does not change what the service runs. */
  package: { name: string; version: string; digest: string };
  /** The command line's choices (env, ports, limits, restart...), replayed at every start. */
  options: PlanOptions;
  backend: BackendName;
  createdAt: string;
  /** What the user asked for last: activate → active, deactivate → inactive. Boot starts the active ones. */
  desired: 'active' | 'inactive';
  /** When `niso deactivate` last stopped it (systemd: an `always` unit that systemd started after this, at a boot, is wanted). */
  deactivatedAt?: string;
  /** The journal's bound: `files` files of at most `maxBytes` each (host config [logs], or --log-max-size/--log-files). */
  logs: { maxBytes: number; files: number };
  /** The start the last activate, restart or boot asked for (model/reconcile.ts), written with `desired`. */
  start?: StartRequest;
  /** A stack's service: what `niso boot` and the systemd units order it by (its dependencies). */
  stack?: StackEntry;
}

/**
 * A start a command asked for, recorded before it does anything else (intent first): until state.json records the
 * start's outcome (ServiceState.start === id), it is under way while `by` lives, and was interrupted once `by` is gone.
 */
export interface StartRequest {
  id: string;
  /** The process making the start, with its start time in clock ticks (a reused pid is another process). */
  by: { pid: number; startTime: number | null };
  at: string;
  /** `desired` before the request: what an interrupted start falls back to. */
  desiredBefore: 'active' | 'inactive';
}

/**
 * activating: started, health check not passed yet; active: running (and healthy, if checked);
 * unhealthy: running, check failing; restarting: ended, waiting for its restart delay;
 * crash-loop: ended again and again soon after starting, restarting at the longest delay;
 * failed: ended and will not be restarted (policy, retries exhausted, or could not start);
 * inactive: stopped by the user, or ended cleanly under a policy that does not restart.
 */
export type ServiceStateName = 'activating' | 'active' | 'unhealthy' | 'restarting' | 'crash-loop' | 'failed' | 'inactive';

export type ExitReason = 'exited' | 'unhealthy' | 'stopped' | 'start-failed' | 'vanished';

export interface ExitRecord {
  at: string;
  /** The app's exit code, or 128+N when a signal ended it; null when unknown (niso did not see it end). */
  exitCode: number | null;
  signal: string | null;
  reason: ExitReason;
  uptimeMs: number;
  message: string | null;
  /** The kernel's OOM killer ended it: its cgroup counted an OOM kill, and it died of SIGKILL. */
  oom?: boolean;
  /** Forks and new threads its cgroup refused at the pids limit during the run. */
  pidsLimitHits?: number;
  /**
   * The digest of the package the run ran. A one-shot job's completion belongs to its package: after a switch that
   * ran a new job and was undone, the job defined again is judged by its own last run, not by the undone one's.
   */
  digest?: string;
}

/** An end with what its cgroup's counters said about the limits (read before the cgroup goes). */
export function withLimitEvents(exit: ExitRecord, ev: { oomKills: number; pidsLimitHits: number } | null): ExitRecord {
  if (ev === null) return exit;
  return {
    ...exit,
    ...(ev.oomKills > 0 && exit.exitCode === 137 ? { oom: true } : {}),
    ...(ev.pidsLimitHits > 0 ? { pidsLimitHits: ev.pidsLimitHits } : {}),
  };
}

export interface ServiceState {
  version: typeof SERVICE_FORMAT;
  state: ServiceStateName;
  /** When `state` last changed. */
  since: string;
  /** The sandbox's outer process (bubblewrap) and its start time in clock ticks (pid reuse check). */
  pid: number | null;
  pidStart: number | null;
  /** The sandbox's pid 1 (bubblewrap's init); the app is its child. */
  initPid: number | null;
  startedAt: string | null;
  /** Restarts since the service last ran long enough to count as started well. */
  restartsInARow: number;
  restarts: number;
  nextRestartAt: string | null;
  /** Most recent last; at most EXIT_HISTORY. */
  exits: ExitRecord[];
  /** Where the service can be reached, for status: "10.89.0.2 on default", "127.0.0.1:8080->3000/tcp". */
  addresses: string[];
  ports: string[];
  stop: { signal: string; timeoutMs: number };
  message: string | null;
  /** The id of the last requested start (ServiceDefinition.start) whose outcome, a run or a failure, is recorded here. */
  start?: string;
}

export const EXIT_HISTORY = 10;

/** The exit history with one more end of a run of package `digest`, keeping the newest EXIT_HISTORY. */
export function withExit(exits: readonly ExitRecord[], exit: ExitRecord | null, digest: string): ExitRecord[] {
  return exit ? [...exits, { ...exit, digest: exit.digest ?? digest }].slice(-EXIT_HISTORY) : [...exits];
}

/**
 * The last end of a run of package `digest`: an end recorded without a digest (before niso kept it) counts as one,
 * since it cannot be told apart.
 */
export function lastExitOf(exits: readonly ExitRecord[], digest: string): ExitRecord | null {
  for (let i = exits.length - 1; i >= 0; i--) if (exits[i]!.digest === undefined || exits[i]!.digest === digest) return exits[i]!;
  return null;
}

export function initialState(now: Date): ServiceState {
  return {
    version: SERVICE_FORMAT, state: 'inactive', since: now.toISOString(), pid: null, pidStart: null, initPid: null,
    startedAt: null, restartsInARow: 0, restarts: 0, nextRestartAt: null, exits: [], addresses: [], ports: [],
    stop: { signal: 'SIGTERM', timeoutMs: 10_000 }, message: null,
  };
}
