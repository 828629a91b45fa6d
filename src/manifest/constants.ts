// The manifest's fixed vocabularies, apart from the zod schema so that code which only needs
// the lists (runtime selection on `niso run`'s start-up path) does not load zod.

export const RUNTIME_NAMES = ['nodejs', 'python', 'ruby', 'java', 'php', 'deno', 'bun'] as const;

/**
 * The commands a runtime provides inside the sandbox (discovery mounts them; with a [runtime], the
 * entrypoint must be one of them). `version` is the manifest's or the host's MAJOR.MINOR.
 */
export function runtimeCommands(name: (typeof RUNTIME_NAMES)[number], version = ''): string[] {
  if (name === 'nodejs') return ['node'];
  const majorMinor = /^\d+\.\d+/.exec(version)?.[0];
  if (name === 'python') return ['python3', 'python', ...(majorMinor ? [`python${majorMinor}`] : [])];
  return [name];
}

/**
 * Bounds of the resource limits, shared by manifest.toml and the command line: what the kernel's
 * cgroup files and bubblewrap accept, and for memory the least a process can start in (Docker's 6M).
 */
export const LIMITS = Object.freeze({
  /** cpu.max / cpu.cfs_quota_us refuse a quota below 1 ms per 100 ms period. */
  cpus: { min: 0.01, max: 1024 },
  /** pids.max refuses more than the kernel's PID_MAX_LIMIT. */
  pids: { min: 1, max: 4_194_304 },
  memoryBytes: { min: 6 * 1024 * 1024 },
  /** bubblewrap's --size refuses 0; a tmpfs is made of pages. */
  tmpBytes: { min: 4096 },
});

export const PRESETS = ['server', 'strict', 'unsafe-none'] as const;

export const ARCHES = ['x86_64', 'aarch64', 'any'] as const;

export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;

export const CAPABILITIES = [
  'CAP_AUDIT_CONTROL', 'CAP_AUDIT_READ', 'CAP_AUDIT_WRITE', 'CAP_BLOCK_SUSPEND', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_KILL', 'CAP_LEASE', 'CAP_LINUX_IMMUTABLE', 'CAP_MAC_ADMIN', 'CAP_MAC_OVERRIDE', 'CAP_MKNOD', 'CAP_NET_ADMIN',
  'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_RAW', 'CAP_PERFMON', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP',
  'CAP_SETUID', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_CHROOT', 'CAP_SYS_MODULE', 'CAP_SYS_NICE', 'CAP_SYS_PACCT',
  'CAP_SYS_PTRACE', 'CAP_SYS_RAWIO', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
] as const;

/**
 * Sandbox paths a volume, host path or config may not be mounted at or below: what niso itself puts there (the app,
 * its /state, /tmp, the runtime's /usr, the kernel's file systems). `/etc` is refused for volumes (it holds niso's
 * passwd, hosts, ...) but a config file may go to a path of its own below it (CONFIG_TARGETS_RESERVED).
 */
export const MOUNT_TARGETS_RESERVED = ['/', '/app', '/state', '/proc', '/dev', '/sys', '/tmp', '/etc', '/usr', '/run/secrets'] as const;

/** A config file may go anywhere but these (and /app only over a file the package has, checked at activation). */
export const CONFIG_TARGETS_RESERVED = ['/', '/state', '/proc', '/dev', '/sys', '/tmp', '/usr', '/run/secrets',
  '/etc/passwd', '/etc/group', '/etc/hosts', '/etc/nsswitch.conf', '/etc/localtime', '/etc/resolv.conf', '/etc/ssl/certs/ca-certificates.crt'] as const;

/** Where `path` hits a reserved one: equal to it or below it. "/" is reserved only as itself. */
export function reservedHit(path: string, reserved: readonly string[]): string | null {
  return reserved.find((r) => path === r || (r !== '/' && path.startsWith(`${r}/`))) ?? null;
}

/** An absolute path without empty, "." or ".." segments ("/" itself included): how a manifest and flags name a place. */
export function isNormalisedPath(p: string): boolean {
  return p === '/' || (p.startsWith('/') && !p.split('/').slice(1).some((s) => s === '' || s === '.' || s === '..'));
}
