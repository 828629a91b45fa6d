// The activation plan: every decision about how a service runs, as plain serialisable data.
// buildPlan makes the decisions; renderers (bwrap argv, systemd units) only translate them.

import type { PortMapping } from '../manifest/units.js';

export type PresetName = 'server' | 'strict' | 'unsafe-none';
export type NetworkMode = 'none' | 'host' | 'private';

export type PlanMount =
  /** A host path made visible inside the sandbox. */
  | { type: 'bind'; source: string; target: string; readOnly: boolean; purpose: 'app' | 'runtime' | 'tool' | 'package-root' | 'state' | 'host-file' | 'volume' | 'bind' | 'config'; volume?: string }
  /** A symlink niso makes in the sandbox's root (merged /usr: /bin -> usr/bin), for a package that brings its own /usr. */
  | { type: 'symlink'; target: string; linkTo: string }
  /**
   * A secret the operator granted (`niso secret`): its bytes never enter the plan, an argv or a unit. The starter
   * reads the stored secret and hands it over (bwrap: an fd bound as a file; systemd: a credential), owned by the
   * service's uid with mode 0400. digest: its sha256, so that a plan shows which value it gets.
   */
  | { type: 'secret'; name: string; target: string; digest: string }
  /** A file niso writes for the sandbox (passwd, hosts, ...), mounted read-only. */
  | { type: 'file'; target: string; content: string; purpose: 'etc' }
  /** owner: the tmpfs's root belongs to the service user with this mode (a run's own /state); else the backend's default. */
  | { type: 'tmpfs'; target: string; sizeBytes: number; owner?: { uid: number; gid: number; mode: number } }
  | { type: 'proc'; target: '/proc' }
  | { type: 'dev'; target: '/dev' };

export interface PlanOverride {
  /** Dotted name of the property, e.g. `resources.memory` or `isolation.capabilities`. */
  property: string;
  preset: unknown;
  value: unknown;
  /** Where the change came from. */
  from: 'manifest' | 'command line';
  /** A manifest's weakening of the server preset that the operator allowed in the host configuration ([trust.NAME]). */
  confirmedBy?: 'host config';
}

export type RestartPolicy = 'no' | 'on-failure' | 'always' | 'unless-stopped';

export interface PlanRestart {
  policy: RestartPolicy;
  /** on-failure: restarts in a row before giving up; null: no limit. */
  maxRetries: number | null;
  /** First delay before a restart; doubles with each crash in a row up to maxDelayMs. */
  delayMs: number;
  maxDelayMs: number;
}

export type HealthProbe =
  /** GET from inside the service's network; healthy on 2xx/3xx. */
  | { kind: 'http'; url: string }
  /** A TCP connect from inside the service's network. */
  | { kind: 'tcp'; host: string; port: number }
  /** A command run inside the sandbox; healthy on exit 0. */
  | { kind: 'exec'; argv: string[] };

export interface PlanHealth {
  probe: HealthProbe;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
  startIntervalMs: number;
  onUnhealthy: 'restart' | 'none';
}

/**
 * How a bounded directory's image is mounted, by either backend (host/bounded-dir.ts, render/systemd-mount.ts):
 * nosuid and nodev so that a service cannot plant setuid files or device nodes for the host, discard so that space
 * it frees goes back to the host's file system.
 */
export const BOUND_MOUNT = { type: 'ext4', options: 'loop,discard,nosuid,nodev' } as const;

/** A host directory the caller makes before the start, owned by the service. */
export interface PlanPrepare {
  path: string;
  uid: number;
  gid: number;
  mode: number;
  /**
   * Files below it owned by this uid are given to uid/gid first: the service's uid changed (its old one turned out to
   * be another NISO_ROOT's, sandbox/uids.ts). null almost always.
   */
  chownFrom: number | null;
  /** Its size bound: an ext4 image of sizeBytes at `image`, mounted on path (host/bounded-dir.ts); null: unbounded. */
  bound: { image: string; sizeBytes: number } | null;
}

/**
 * The init step ([init] of the manifest). The condition's path is the sandbox's; hostPath is where it is on the host
 * (in a volume or the state dir), which the backend checks before each start (systemd: Condition*= of the init unit);
 * null where it lies in a tmpfs made anew at each start (empty, so the step runs).
 */
export interface PlanInit {
  argv: string[];
  when: { kind: 'always' } | { kind: 'if-empty' | 'unless-exists'; path: string; hostPath: string | null };
  timeoutMs: number;
}

/**
 * Which runtime a service gets and from where: a host path (configured or discovered) or niso's store (installed, with
 * the digest of the tarball it came from). binary: the host's file; command: where the sandbox runs it.
 */
export interface PlanRuntime {
  name: string;
  version: string;
  source: 'configured' | 'installed' | 'discovered';
  binary: string;
  digest?: string;
  origin?: string;
  /** What the package recorded as the runtime it was packed with. */
  packed?: { version: string; source: 'configured' | 'installed' | 'discovered'; digest?: string };
  /** The manifest's `[runtime] digest`: only the runtime installed from that tarball runs the app. */
  pinned?: string;
}

/** Which runtime and from where, in a line: the host's path, or niso's store with the digest; and how it compares with what the package was packed with. */
export function describeRuntime(r: PlanRuntime): string {
  const where = r.source === 'installed' ? `${r.name} ${r.version} from niso's store (${r.digest ?? '?'}, ${r.origin ?? 'installed'})` : `${r.name} ${r.version} from the host: ${r.binary} (${r.source})`;
  const p = r.packed;
  const same = p && (p.digest !== undefined ? p.digest === r.digest : p.version === r.version);
  const packed = !p ? '' : same ? '; the build it was packed with' : `; packed with ${r.name} ${p.version}${p.digest ? ` (${p.digest})` : ` (the host's, ${p.source})`}`;
  return `${where}${r.pinned ? '; pinned by digest' : ''}${packed}`;
}

export interface Plan {
  planVersion: 1;
  service: string;
  package: { name: string; version: string; digest: string; path: string };
  /** The runtime chosen for `[runtime] use`, when the host told where it came from. */
  runtime?: PlanRuntime;
  preset: PresetName;
  /** Every property that differs from the preset, and why. */
  overrides: PlanOverride[];
  /** groups: supplementary gids, one per granted volume (volumes are shared through their group, never chown). */
  user: { uid: number; gid: number; name: string; home: string; groups?: number[] };
  command: { argv: string[]; cwd: string; env: Record<string, string> };
  hostname: string;
  namespaces: { user: boolean; mount: boolean; pid: boolean; ipc: boolean; uts: boolean; net: boolean; cgroup: boolean };
  network: {
    mode: NetworkMode;
    /** private: the network namespace niso prepared (/run/netns/...), and what it joins and maps. */
    netns?: string;
    networks?: string[];
    ports?: PortMapping[];
    egress?: boolean;
    /** More names it answers to on its networks, by network (a stack's service name and aliases). */
    aliases?: Record<string, string[]>;
  };
  mounts: PlanMount[];
  capabilities: string[];
  noNewPrivileges: boolean;
  /** null: no syscall filter (only the unsafe preset). The profile's deny list lives with the renderer. */
  seccomp: { profile: 'default'; allow: string[]; errno: 'EPERM' } | null;
  /** stateBytes: the bound of the state dir (prepare[].bound); null: unbounded (the host said "unlimited"). */
  limits: { memoryBytes: number | null; cpus: number | null; pids: number | null; nofile: number | null; stateBytes: number | null };
  /** Whether the sandbox may create new privileges through user namespaces inside. */
  allowUserNamespaces: boolean;
  stop: { signal: string; timeoutMs: number };
  /** When a service (not a foreground run) is started again after it ended. */
  restart: PlanRestart;
  /** How a service is checked; null: no check (the service is healthy while it runs). */
  health: PlanHealth | null;
  /** A command run in this same sandbox before command, each start or while a condition holds; absent: none. */
  init?: PlanInit;
  /** Host paths the caller must create before start (state dir), with owner. */
  prepare: PlanPrepare[];
  /** Things the user should know: settings not in effect yet, defaults chosen. */
  notes: string[];
}
