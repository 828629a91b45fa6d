// The isolation presets, side by side as data: what each one grants. The README's table is
// written from this, and the conformance suite checks the promises it makes.
import type { NetworkMode, PresetName } from './plan.js';

export interface Preset {
  description: string;
  sandboxed: boolean;
  network: NetworkMode;
  namespaces: { user: boolean; mount: boolean; pid: boolean; ipc: boolean; uts: boolean; net: boolean; cgroup: boolean };
  capabilities: string[];
  noNewPrivileges: boolean;
  seccomp: boolean;
  allowUserNamespaces: boolean;
  limits: { memoryBytes: number | null; cpus: number | null; pids: number | null; nofile: number | null };
}

const ALL_NS = { user: true, mount: true, pid: true, ipc: true, uts: true, net: true, cgroup: true };

export const PRESETS: Record<PresetName, Preset> = {
  server: {
    description: 'own user and namespaces, no capabilities, no_new_privs, a syscall filter, read-only except /tmp and the state dir',
    sandboxed: true,
    network: 'none',
    namespaces: ALL_NS,
    capabilities: [],
    noNewPrivileges: true,
    seccomp: true,
    allowUserNamespaces: false,
    // No memory or CPU default (apps differ too much), but a task limit, so that a fork bomb
    // cannot exhaust the host's pids.
    limits: { memoryBytes: null, cpus: null, pids: 4096, nofile: null },
  },
  strict: {
    description: 'server, plus no network at all (not even host or mapped ports) and default resource limits',
    sandboxed: true,
    network: 'none',
    namespaces: ALL_NS,
    capabilities: [],
    noNewPrivileges: true,
    seccomp: true,
    allowUserNamespaces: false,
    limits: { memoryBytes: 512 * 1024 * 1024, cpus: 1, pids: 256, nofile: 1024 },
  },
  'unsafe-none': {
    description: 'no sandbox at all: the app runs as the service user with the host\'s filesystem and network; for trusted tools only',
    sandboxed: false,
    network: 'host',
    namespaces: { user: false, mount: false, pid: false, ipc: false, uts: false, net: false, cgroup: false },
    capabilities: [],
    noNewPrivileges: true,
    seccomp: false,
    allowUserNamespaces: true,
    limits: { memoryBytes: null, cpus: null, pids: null, nofile: null },
  },
};

/** The bound of a /state whose manifest, command line and host set none: 10 GiB, a sparse image that takes on disk only what is written. */
export const DEFAULT_STATE_BYTES = 10 * 1024 ** 3;
