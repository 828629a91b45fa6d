// The isolation promises of each preset as one table of data, checked by the conformance suite against probes run inside the sandbox; backend-neutral, so it can drive the systemd backend too.
//
// A row names a result that a probe reports (test/fixtures/conformance/probe.c, probe.js) or that
// the test measures on the host, and what each profile promises about it. Expectations speak of
// the plan (`$plan.user.uid`), never of bubblewrap: a backend conforms when every row holds.

/** tools: the C probe packaged with `[isolation] tools = TOOLS_PROBE_TOOLS` (host programs in the sandbox). */
export type ProbeKind = 'c' | 'node' | 'host' | 'tools';

/** The host programs the tools probe asks for: a shell (popen, system), env and cat (exec through env). */
export const TOOLS_PROBE_TOOLS = ['sh', 'env', 'cat'] as const;

/**
 * - 'ok': the operation worked.
 * - 'fails': it failed, with any errno.
 * - 'hidden': it failed with ENOENT: the path does not exist for the app.
 * - 'refused': it failed with EPERM, EACCES or ENOSYS; never EINVAL, which the probe's privileged
 *   calls get only after the kernel's privilege check has passed.
 * - { errno }: it failed with one of these.
 * - { equals }, { sameMembers (+ optional extras) }, { subsetOf }, { includes }, { excludes },
 *   { atMost }, { eachAtMost }: about the reported value; strings starting with "$" are references
 *   (see resolveRef in harness.ts): $plan.PATH, $envKeys, $host.NAME, $mounted:TARGET.
 * - { fields }: the value is an object whose named fields meet these expectations.
 * - 'withinMounts': every reported path (directories end in "/") is a mount target of the plan,
 *   below one, or a directory on the way to one.
 * - null: this profile promises nothing here.
 */
export type Expect =
  | 'ok' | 'fails' | 'hidden' | 'refused' | 'withinMounts'
  | { withinMountsOr: string[] }
  | { errno: string[] }
  | { equals: unknown }
  | { sameMembers: unknown; optional?: string[] }
  | { subsetOf: unknown }
  | { includes: unknown[] }
  | { excludes: unknown[] }
  | { atMost: unknown }
  | { eachAtMost: unknown }
  | { fields: Record<string, Expect> }
  | null;

export interface Property {
  /** The probe's check name (the same name may be reported by both probes). */
  check: string;
  probe: ProbeKind;
  /** The promise, in words. */
  promise: string;
  /** Default for every sandboxed profile (server, strict, server with host network). */
  sandboxed?: Expect;
  /** The server preset as it comes: on a private network (niso's default network). */
  server?: Expect;
  strict?: Expect;
  /** `--network host` on the server preset, where it differs from `sandboxed`. */
  hostNetwork?: Expect;
  /** `--network none` on the server preset (loopback only), where it differs from `sandboxed`. */
  none?: Expect;
  unsafe?: Expect;
  /**
   * Where the systemd backend (a unit built from systemd 252's own directives) cannot keep the promise as bubblewrap
   * does: the expectation there, per profile column (`sandboxed` for all sandboxed ones), and why.
   */
  systemd?: { why: string } & Partial<Record<Profile['key'] | 'sandboxed', Expect>>;
}

export interface Profile {
  /** Shown in test names. */
  name: string;
  preset: 'server' | 'strict' | 'unsafe-none';
  /** Extra `niso run` options. */
  options: string[];
  sandboxed: boolean;
  key: 'server' | 'strict' | 'hostNetwork' | 'unsafe' | 'none';
}

export const PROFILES: readonly Profile[] = [
  { name: 'server', preset: 'server', options: [], sandboxed: true, key: 'server' },
  { name: 'strict', preset: 'strict', options: [], sandboxed: true, key: 'strict' },
  { name: 'server --network host', preset: 'server', options: ['--network', 'host'], sandboxed: true, key: 'hostNetwork' },
  { name: 'server --network none', preset: 'server', options: ['--network', 'none'], sandboxed: true, key: 'none' },
  { name: 'unsafe-none', preset: 'unsafe-none', options: [], sandboxed: false, key: 'unsafe' },
];

/** The backend the suite judges: NISO_CONFORMANCE_BACKEND=systemd when it runs inside a booted systemd (systemd.test.ts). */
export const BACKEND: 'embedded' | 'systemd' = process.env.NISO_CONFORMANCE_BACKEND === 'systemd' ? 'systemd' : 'embedded';

/** What a profile expects of a row on a backend: its own column, else the sandboxed default, else nothing. */
export function expectationFor(p: Property, profile: Profile, backend = BACKEND): Expect {
  if (backend === 'systemd' && p.systemd) {
    const sd = p.systemd[profile.key] ?? (profile.sandboxed ? p.systemd.sandboxed : undefined);
    if (sd !== undefined) return sd;
  }
  const own = p[profile.key];
  if (own !== undefined) return own;
  return profile.sandboxed ? p.sandboxed ?? null : null;
}

const ZERO_CAPS = { equals: '0000000000000000' };
/** /dev entries a service may have: the pseudo devices, ptys, shm and the fd links. */
const SAFE_DEV = ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'console', 'pts', 'ptmx', 'shm', 'mqueue', 'hugepages', 'log', 'fd', 'stdin', 'stdout', 'stderr', 'core'];

export const PROPERTIES: readonly Property[] = [
  // --- identity and privileges -------------------------------------------------------------
  { check: 'uid', probe: 'c', promise: 'runs as the service uid, not 0', sandboxed: { equals: '$plan.user.uid' }, unsafe: { equals: '$plan.user.uid' } },
  { check: 'euid', probe: 'c', promise: 'the effective uid is the service uid', sandboxed: { equals: '$plan.user.uid' }, unsafe: { equals: '$plan.user.uid' } },
  { check: 'gid', probe: 'c', promise: 'runs as the service gid, not 0', sandboxed: { equals: '$plan.user.gid' }, unsafe: { equals: '$plan.user.gid' } },
  { check: 'egid', probe: 'c', promise: 'the effective gid is the service gid', sandboxed: { equals: '$plan.user.gid' }, unsafe: { equals: '$plan.user.gid' } },
  { check: 'groups', probe: 'c', promise: 'no supplementary groups', sandboxed: { equals: [] }, unsafe: { equals: [] } , systemd: { sandboxed: { sameMembers: ['$plan.user.gid'] }, unsafe: { sameMembers: ['$plan.user.gid'] }, why: 'User=/Group= give the process its own primary group as its one supplementary group (initgroups); no other group' } },
  { check: 'cap_eff', probe: 'c', promise: 'no effective capabilities', sandboxed: ZERO_CAPS, unsafe: ZERO_CAPS },
  { check: 'cap_prm', probe: 'c', promise: 'no permitted capabilities', sandboxed: ZERO_CAPS, unsafe: ZERO_CAPS },
  { check: 'cap_inh', probe: 'c', promise: 'no inheritable capabilities', sandboxed: ZERO_CAPS, unsafe: ZERO_CAPS },
  { check: 'cap_amb', probe: 'c', promise: 'no ambient capabilities', sandboxed: ZERO_CAPS, unsafe: ZERO_CAPS },
  { check: 'cap_bnd', probe: 'c', promise: 'an empty capability bounding set', sandboxed: ZERO_CAPS },
  { check: 'no_new_privs', probe: 'c', promise: 'no_new_privs is set (/proc/self/status)', sandboxed: { equals: '1' }, unsafe: { equals: '1' } },
  { check: 'prctl_no_new_privs', probe: 'c', promise: 'no_new_privs is set (prctl)', sandboxed: { equals: 1 }, unsafe: { equals: 1 } },
  { check: 'seccomp', probe: 'c', promise: 'a seccomp filter is loaded', sandboxed: { equals: '2' } },
  { check: 'setuid_0', probe: 'c', promise: 'setuid(0) fails', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'setgid_0', probe: 'c', promise: 'setgid(0) fails', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'setresuid_0', probe: 'c', promise: 'setresuid(-1, 0, -1) fails', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'setgroups_0', probe: 'c', promise: 'setgroups([0]) fails', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'exec_setuid_root', probe: 'c', promise: 'a setuid-root binary grants nothing', sandboxed: { fields: { euid: { equals: '$plan.user.uid' }, egid: { equals: '$plan.user.gid' }, cap_eff: ZERO_CAPS } }, unsafe: { fields: { euid: { equals: '$plan.user.uid' }, cap_eff: ZERO_CAPS } } },
  // Unsandboxed, the bounding set is empty, so the kernel refuses to exec such a file at all.
  { check: 'exec_file_caps', probe: 'c', promise: 'a binary with file capabilities grants nothing', sandboxed: { fields: { euid: { equals: '$plan.user.uid' }, cap_eff: ZERO_CAPS } }, unsafe: 'fails' , systemd: { unsafe: { fields: { euid: { equals: '$plan.user.uid' }, cap_eff: ZERO_CAPS } }, why: 'under NoNewPrivileges= the kernel ignores file capabilities: the binary runs and gains nothing (bubblewrap\'s unsafe-none run refuses the exec)' } },
  { check: 'setid_files', probe: 'c', promise: 'no setuid/setgid files outside /app', sandboxed: { equals: [] } },
  { check: 'rlimit_nofile', probe: 'c', promise: 'the open-files limit of the plan is in force', strict: { eachAtMost: '$plan.limits.nofile' } },
  { check: 'user_info', probe: 'node', promise: 'os.userInfo() names the service user from the plan', sandboxed: { fields: { username: { equals: '$plan.user.name' }, uid: { equals: '$plan.user.uid' }, homedir: { equals: '$plan.user.home' } } } },
  { check: 'uid', probe: 'node', promise: 'the runtime runs as the service uid', sandboxed: { equals: '$plan.user.uid' }, unsafe: { equals: '$plan.user.uid' } },

  // --- environment ---------------------------------------------------------------------------
  { check: 'env_keys', probe: 'c', promise: 'the environment is exactly the plan\'s', sandboxed: { sameMembers: '$envKeys', optional: ['PWD'] }, unsafe: { sameMembers: '$envKeys', optional: ['PWD'] } },
  { check: 'env_keys', probe: 'node', promise: 'the runtime\'s environment is exactly the plan\'s', sandboxed: { sameMembers: '$envKeys', optional: ['PWD'] }, unsafe: { sameMembers: '$envKeys', optional: ['PWD'] } },
  { check: 'cwd', probe: 'c', promise: 'starts in the plan\'s working directory', sandboxed: { equals: '$plan.command.cwd' }, unsafe: { equals: '$plan.command.cwd' } },
  { check: 'hostname', probe: 'c', promise: 'the hostname is the plan\'s', sandboxed: { equals: '$plan.hostname' } , systemd: { sandboxed: null, why: 'ProtectHostname= gives a UTS namespace but systemd 252 cannot set a hostname in it: the app sees the host\'s name' } },
  { check: 'hostname', probe: 'node', promise: 'os.hostname() is the plan\'s', sandboxed: { equals: '$plan.hostname' } , systemd: { sandboxed: null, why: 'ProtectHostname= gives a UTS namespace but systemd 252 cannot set a hostname in it: the app sees the host\'s name' } },

  // --- processes and namespaces --------------------------------------------------------------
  { check: 'proc_pid_count', probe: 'c', promise: 'host processes are invisible (only the sandbox\'s few)', sandboxed: { atMost: 3 } },
  { check: 'proc_host_pid', probe: 'c', promise: 'the test\'s own pid is not in /proc', sandboxed: 'hidden' },
  { check: 'kill_host_pid', probe: 'c', promise: 'host processes cannot be signalled', sandboxed: { errno: ['ESRCH'] }, unsafe: 'fails' , systemd: { sandboxed: 'refused', why: 'no PID namespace in systemd 252: host processes exist for the app (hidden from /proc by ProtectProc=), so the kernel refuses the signal with EPERM instead of ESRCH' } },
  { check: 'ns_user', probe: 'c', promise: 'a user namespace of its own', sandboxed: { equals: 'private' }, unsafe: { equals: 'host' } },
  { check: 'ns_mnt', probe: 'c', promise: 'a mount namespace of its own', sandboxed: { equals: 'private' }, unsafe: { equals: 'host' } },
  { check: 'ns_pid', probe: 'c', promise: 'a pid namespace of its own', sandboxed: { equals: 'private' }, unsafe: { equals: 'host' } , systemd: { sandboxed: { equals: 'host' }, why: 'systemd 252 has no PrivatePIDs= (added in 257); ProtectProc=invisible and ProcSubset=pid hide other users\' processes instead' } },
  { check: 'ns_ipc', probe: 'c', promise: 'an IPC namespace of its own', sandboxed: { equals: 'private' }, unsafe: { equals: 'host' } },
  { check: 'ns_uts', probe: 'c', promise: 'a UTS namespace of its own', sandboxed: { equals: 'private' }, unsafe: { equals: 'host' } },
  { check: 'ns_cgroup', probe: 'c', promise: 'a cgroup namespace of its own', sandboxed: { equals: 'private' }, unsafe: { equals: 'host' } , systemd: { sandboxed: { equals: 'host' }, why: 'systemd 252 has no private cgroup namespace (ProtectControlGroups=private came in 257); /sys/fs/cgroup is read-only' } },
  { check: 'ns_net', probe: 'c', promise: 'a network namespace of its own, unless the network is the host\'s', sandboxed: { equals: 'private' }, hostNetwork: { equals: 'host' }, unsafe: { equals: 'host' } },
  { check: 'sysv_shm_used_ids', probe: 'c', promise: 'the host\'s SysV shared memory is invisible', sandboxed: { equals: 0 } },
  { check: 'ptrace_pid1', probe: 'c', promise: 'cannot ptrace pid 1', sandboxed: 'refused', unsafe: 'fails' },
  { check: 'ptrace_traceme', probe: 'c', promise: 'PTRACE_TRACEME is refused', sandboxed: 'refused' },
  { check: 'ptrace_child', probe: 'c', promise: 'cannot ptrace even its own child', sandboxed: 'refused' },
  { check: 'process_vm_readv', probe: 'c', promise: 'cannot read another process\'s memory', sandboxed: 'refused' },
  { check: 'pidfd_getfd', probe: 'c', promise: 'cannot steal another process\'s file descriptors', sandboxed: 'refused' },

  // --- the host's files ----------------------------------------------------------------------
  { check: 'read_etc_shadow', probe: 'c', promise: 'cannot read /etc/shadow', sandboxed: 'hidden', unsafe: 'fails' },
  { check: 'read_etc_gshadow', probe: 'c', promise: 'cannot read /etc/gshadow', sandboxed: 'hidden', unsafe: 'fails' },
  { check: 'read_root', probe: 'c', promise: 'cannot read /root', sandboxed: 'hidden', unsafe: 'fails' , systemd: { sandboxed: 'refused', why: 'with RootDirectory= systemd 252 creates its base file system in the root: an empty /root owned by root (0750), so EACCES instead of ENOENT' } },
  { check: 'read_home', probe: 'c', promise: '/home is not visible', sandboxed: 'hidden' },
  { check: 'read_usr_bin_bash', probe: 'c', promise: 'the host\'s /usr/bin/bash is not visible', sandboxed: 'hidden' },
  { check: 'read_bin_sh', probe: 'c', promise: 'no /bin/sh', sandboxed: 'hidden' },
  { check: 'read_usr_sbin', probe: 'c', promise: 'the host\'s /usr/sbin is not visible', sandboxed: 'hidden' },
  { check: 'usr_share_entries', probe: 'c', promise: 'of the host\'s /usr/share only the time zone database is visible', sandboxed: { subsetOf: ['zoneinfo'] } },
  { check: 'read_usr_bin_ls', probe: 'c', promise: 'no coreutils unless the manifest asks for them', sandboxed: 'hidden' },
  { check: 'popen_sh', probe: 'c', promise: 'without [isolation] tools there is no shell: popen() fails', sandboxed: 'fails' },
  { check: 'system_sh', probe: 'c', promise: 'without [isolation] tools, system() finds no shell', sandboxed: 'fails' },
  { check: 'exec_env', probe: 'c', promise: 'without [isolation] tools there is no /usr/bin/env', sandboxed: 'hidden' },
  { check: 'setlocale_env', probe: 'c', promise: 'setlocale(LC_ALL, "") succeeds: the C.UTF-8 locale that LANG names is there', sandboxed: { equals: 'UTF-8' }, unsafe: { equals: 'UTF-8' } },
  { check: 'tz_named', probe: 'c', promise: 'a time zone name (TZ=America/New_York) resolves: /usr/share/zoneinfo is there', sandboxed: { equals: 'EST/EDT' }, unsafe: { equals: 'EST/EDT' } },
  { check: 'read_usr_bin_su', probe: 'c', promise: 'no su', sandboxed: 'hidden' },
  { check: 'read_usr_bin_sudo', probe: 'c', promise: 'no sudo', sandboxed: 'hidden' },
  { check: 'read_usr_bin_python3', probe: 'c', promise: 'no python outside the runtime closure', sandboxed: 'hidden' },
  { check: 'read_etc_ssh', probe: 'c', promise: 'the host\'s /etc/ssh is not visible', sandboxed: 'hidden' },
  { check: 'read_boot', probe: 'c', promise: '/boot is not visible', sandboxed: 'hidden' },
  { check: 'read_var_lib_niso', probe: 'c', promise: 'niso\'s own state is not visible', sandboxed: 'hidden' },
  { check: 'read_host_state', probe: 'c', promise: 'the host path of the state dir is not visible', sandboxed: 'hidden' },
  { check: 'read_host_store', probe: 'c', promise: 'the package\'s store path is not visible', sandboxed: 'hidden' },
  { check: 'read_host_niso_root', probe: 'c', promise: 'NISO_ROOT is not visible', sandboxed: 'hidden' },
  { check: 'read_host_tmp_marker', probe: 'c', promise: '/tmp is private: a file in the host\'s /tmp is not visible', sandboxed: 'hidden' },
  { check: 'read_proc_kcore', probe: 'c', promise: '/proc/kcore is not readable', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'read_dev_mem', probe: 'c', promise: '/dev/mem is not readable', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'read_dev_kmsg', probe: 'c', promise: 'the kernel log is not readable', sandboxed: 'fails' },
  { check: 'dev_block_devices', probe: 'c', promise: 'no block devices in /dev', sandboxed: { equals: 0 } },
  { check: 'dev_entries', probe: 'c', promise: '/dev holds only the pseudo devices', sandboxed: { subsetOf: SAFE_DEV } , systemd: { sandboxed: { subsetOf: [...SAFE_DEV, 'char'] }, why: 'PrivateDevices= adds /dev/char, links by number to the same pseudo devices' } },
  { check: 'read_etc_passwd', probe: 'c', promise: '/etc/passwd is readable (the sandbox\'s own)', sandboxed: 'ok', unsafe: 'ok' },
  { check: 'etc_passwd_users', probe: 'c', promise: '/etc/passwd lists root, the service user and nobody, not the host\'s accounts', sandboxed: { sameMembers: ['root', '$plan.user.name', 'nobody'] } },
  { check: 'visible_files', probe: 'c', promise: 'a runtime-less binary sees only its plan\'s mounts', sandboxed: 'withinMounts' },
  { check: 'visible_files', probe: 'node', promise: 'the node runtime sees only its plan\'s mounts (the runtime closure)', sandboxed: 'withinMounts' },
  { check: 'visible_dirs', probe: 'node', promise: 'no directories but those leading to the plan\'s mounts', sandboxed: 'withinMounts' , systemd: { sandboxed: { withinMountsOr: ['/root/', '/run/', '/run/systemd/', '/run/systemd/incoming/', '/var/'] }, why: 'systemd 252 creates empty /root, /var and its mount-propagation directory /run/systemd/incoming in the root; nothing is in them' } },
  { check: 'usr_share_entries', probe: 'node', promise: 'the runtime sees nothing of /usr/share but the time zone database', sandboxed: { subsetOf: ['zoneinfo'] } },
  { check: 'spawn_sh', probe: 'node', promise: 'no shell to spawn', sandboxed: 'fails' },
  { check: 'spawn_bash', probe: 'node', promise: 'no bash on PATH', sandboxed: 'fails' },
  { check: 'spawn_python3', probe: 'node', promise: 'no python3 on PATH', sandboxed: 'fails' },
  { check: 'spawn_node', probe: 'node', promise: 'the runtime can start itself again', sandboxed: 'ok', unsafe: 'ok' },
  { check: 'ca_certificates', probe: 'node', promise: 'the CA bundle is there exactly when the plan mounts it', sandboxed: { equals: '$mounted:/etc/ssl/certs/ca-certificates.crt' } },
  { check: 'etc_resolv_conf', probe: 'node', promise: 'resolv.conf is there exactly when the plan mounts it (host network)', sandboxed: { equals: '$mounted:/etc/resolv.conf' } },

  // --- writes --------------------------------------------------------------------------------
  { check: 'write_app', probe: 'c', promise: '/app is read-only', sandboxed: { errno: ['EROFS'] }, unsafe: 'fails' },
  { check: 'write_app', probe: 'node', promise: 'the app cannot write its own code (EROFS)', sandboxed: { errno: ['EROFS'] }, unsafe: 'fails' },
  { check: 'write_usr_bin', probe: 'c', promise: 'cannot write the runtime\'s /usr/bin', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_usr_bin', probe: 'node', promise: 'cannot add files next to the runtime in /usr/bin', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_lib', probe: 'c', promise: 'cannot write /lib', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_etc_new', probe: 'c', promise: 'cannot create files in /etc', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_etc_new', probe: 'node', promise: 'cannot create files in /etc (runtime)', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_etc_passwd', probe: 'c', promise: 'cannot write /etc/passwd', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_root_dir', probe: 'c', promise: 'cannot create directories in /', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_root_dir', probe: 'node', promise: 'cannot create files in / (runtime)', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_proc_sys_hostname', probe: 'c', promise: '/proc/sys is not writable', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_proc_sys_drop_caches', probe: 'c', promise: '/proc/sys/vm is not writable', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_proc_sysrq_trigger', probe: 'c', promise: '/proc/sysrq-trigger is not writable', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_sys_kernel', probe: 'c', promise: '/sys is not writable', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_cgroup', probe: 'c', promise: 'cannot create cgroups', sandboxed: 'fails', unsafe: 'fails' },
  { check: 'write_tmp', probe: 'c', promise: '/tmp is writable', sandboxed: 'ok', unsafe: 'ok' },
  { check: 'write_tmp', probe: 'node', promise: 'os.tmpdir() is writable', sandboxed: 'ok', unsafe: 'ok' },
  { check: 'write_state', probe: 'c', promise: 'the state dir is writable', sandboxed: 'ok', unsafe: 'ok' },
  { check: 'write_state', probe: 'node', promise: 'the state dir is writable (runtime)', sandboxed: 'ok', unsafe: 'ok' },
  { check: 'write_dev_null', probe: 'c', promise: '/dev/null works', sandboxed: 'ok', unsafe: 'ok' },
  { check: 'state_full', probe: 'c', promise: 'writing past the state\'s bound fails with ENOSPC: /state cannot fill the host\'s disk', sandboxed: { fields: { errno: { equals: 'ENOSPC' }, bytes: { atMost: '$plan.limits.stateBytes' } } }, unsafe: { fields: { errno: { equals: 'ENOSPC' }, bytes: { atMost: '$plan.limits.stateBytes' } } } },
  // The node probe runs without a service of its name: its /state is the run's own, a tmpfs of the bound in a sandbox;
  // unsandboxed, a plain host dir (an app that can write anywhere on the host is bounded nowhere), so no ENOSPC there.
  { check: 'state_full', probe: 'node', promise: 'the runtime\'s writes past the bound of a run\'s own /state (a tmpfs) fail with ENOSPC', sandboxed: { fields: { errno: { equals: 'ENOSPC' }, bytes: { atMost: '$plan.limits.stateBytes' } } }, unsafe: null },
  // Volumes (the node probe runs with -v conf-shared:/vol/shared -v conf-ro:/vol/ro:ro; another service, conf-peer,
  // wrote a file into conf-shared first). Unsandboxed runs get no volumes at all (NISO5051).
  { check: 'volume_write', probe: 'node', promise: 'a granted volume is writable', sandboxed: 'ok', unsafe: null },
  { check: 'volume_ro_write', probe: 'node', promise: 'a read-only grant of a volume cannot be written', sandboxed: { errno: ['EROFS'] }, unsafe: null },
  { check: 'volume_peer_append', probe: 'node', promise: 'two services granted one volume both write: one appends to the file the other made (the volume\'s group, not a chown)', sandboxed: { equals: 'peer\nnode\n' }, unsafe: null },
  { check: 'volume_ungranted', probe: 'node', promise: 'a volume the service is not granted is not there at all', sandboxed: 'hidden', unsafe: null },
  { check: 'state_file_owner', probe: 'host', promise: 'files written to the state dir belong to the service uid on the host', sandboxed: { equals: '$plan.user.uid' }, unsafe: { equals: '$plan.user.uid' } },
  { check: 'mknod_char', probe: 'c', promise: 'cannot create character devices', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'mknod_block', probe: 'c', promise: 'cannot create block devices', sandboxed: 'refused', unsafe: 'refused' },

  // --- mounts and new namespaces -------------------------------------------------------------
  { check: 'mount_tmpfs', probe: 'c', promise: 'cannot mount', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'umount_tmp', probe: 'c', promise: 'cannot unmount', sandboxed: 'refused', unsafe: 'fails' },
  { check: 'fsopen_tmpfs', probe: 'c', promise: 'cannot mount with the new mount API (fsopen)', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'open_tree_clone', probe: 'c', promise: 'cannot clone mounts (open_tree)', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'pivot_root', probe: 'c', promise: 'cannot pivot_root', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'chroot', probe: 'c', promise: 'cannot chroot', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'unshare_user', probe: 'c', promise: 'cannot create user namespaces', sandboxed: 'refused' },
  { check: 'clone_newuser', probe: 'c', promise: 'cannot create user namespaces with clone', sandboxed: 'refused' },
  { check: 'clone3_newuser', probe: 'c', promise: 'cannot create user namespaces with clone3', sandboxed: 'fails' },
  { check: 'unshare_net', probe: 'c', promise: 'cannot create network namespaces', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'unshare_mount', probe: 'c', promise: 'cannot create mount namespaces', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'unshare_pid', probe: 'c', promise: 'cannot create pid namespaces', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'unshare_ipc', probe: 'c', promise: 'cannot create IPC namespaces', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'unshare_uts', probe: 'c', promise: 'cannot create UTS namespaces', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'unshare_cgroup', probe: 'c', promise: 'cannot create cgroup namespaces', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'clone_newpid', probe: 'c', promise: 'cannot clone into a new pid namespace', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'setns_mount', probe: 'c', promise: 'cannot join mount namespaces', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'setns_net', probe: 'c', promise: 'cannot join network namespaces', sandboxed: 'refused', unsafe: 'refused' },

  // --- the kernel ----------------------------------------------------------------------------
  { check: 'init_module', probe: 'c', promise: 'cannot load kernel modules (init_module)', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'finit_module', probe: 'c', promise: 'cannot load kernel modules (finit_module)', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'delete_module', probe: 'c', promise: 'cannot unload kernel modules', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'reboot', probe: 'c', promise: 'cannot reboot or power off', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'kexec_load', probe: 'c', promise: 'cannot load a new kernel', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'swapon', probe: 'c', promise: 'cannot add swap', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'settimeofday', probe: 'c', promise: 'cannot set the clock (settimeofday)', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'clock_settime', probe: 'c', promise: 'cannot set the clock (clock_settime)', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'adjtimex_set', probe: 'c', promise: 'cannot adjust the clock (adjtimex)', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'sethostname', probe: 'c', promise: 'cannot set the hostname', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'acct', probe: 'c', promise: 'cannot switch process accounting', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'iopl', probe: 'c', promise: 'no raw I/O port access (iopl; x86 only)', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'ioperm', probe: 'c', promise: 'no raw I/O port access (ioperm; x86 only)', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'syslog_read', probe: 'c', promise: 'cannot use the kernel log (syslog)', sandboxed: 'refused' },
  { check: 'open_by_handle_at', probe: 'c', promise: 'cannot open files by handle (the shocker escape)', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'name_to_handle_at', probe: 'c', promise: 'cannot make file handles', sandboxed: 'refused' },
  { check: 'userfaultfd', probe: 'c', promise: 'no userfaultfd', sandboxed: 'refused' },
  { check: 'bpf_map_create', probe: 'c', promise: 'no bpf()', sandboxed: 'refused' },
  { check: 'perf_event_open', probe: 'c', promise: 'no perf_event_open', sandboxed: 'refused' },
  { check: 'keyctl', probe: 'c', promise: 'no kernel keyring (keyctl)', sandboxed: 'refused' },
  { check: 'add_key', probe: 'c', promise: 'no kernel keyring (add_key)', sandboxed: 'refused' },
  { check: 'io_uring_setup', probe: 'c', promise: 'no io_uring', sandboxed: 'refused' },
  { check: 'personality_read_implies_exec', probe: 'c', promise: 'cannot change the personality to READ_IMPLIES_EXEC', sandboxed: 'refused' },
  { check: 'personality_query', probe: 'c', promise: 'querying the personality still works (the filter is not blanket)', sandboxed: 'ok', unsafe: 'ok' , systemd: { sandboxed: 'refused', why: 'LockPersonality= in systemd 252 refuses every personality() call that is not the current persona, the query 0xffffffff included' } },

  // --- network -------------------------------------------------------------------------------
  { check: 'net_interfaces', probe: 'c', promise: 'no interfaces but loopback under network none; loopback and its own eth0 on a private network; the host\'s under host', sandboxed: { sameMembers: ['lo'] }, server: { sameMembers: ['lo', 'eth0'] }, hostNetwork: { sameMembers: '$host.interfaces' }, unsafe: { sameMembers: '$host.interfaces' } , systemd: { sandboxed: 'hidden', why: 'ProcSubset=pid hides /proc/net, which the C probe reads; the node probe\'s row checks the interfaces through netlink' } },
  { check: 'net_interfaces', probe: 'node', promise: 'the runtime sees only loopback under network none, and its own eth0 on a private network', sandboxed: { sameMembers: ['lo'] }, server: { sameMembers: ['lo', 'eth0'] }, hostNetwork: null },
  { check: 'loopback_usable', probe: 'c', promise: 'the loopback interface works', sandboxed: 'ok', unsafe: 'ok' },
  { check: 'http_loopback', probe: 'node', promise: 'an HTTP server on loopback answers', sandboxed: { equals: 200 }, unsafe: { equals: 200 } },
  { check: 'dns_localhost', probe: 'node', promise: 'localhost resolves', sandboxed: { equals: '127.0.0.1' } },
  { check: 'dns_service', probe: 'node', promise: 'the service\'s own name resolves', sandboxed: 'ok' },
  { check: 'connect_host_loopback', probe: 'c', promise: 'the host\'s 127.0.0.1 is out of reach under network none, reachable under host', sandboxed: 'fails', hostNetwork: 'ok', unsafe: 'ok' },
  { check: 'connect_host_loopback', probe: 'node', promise: 'the runtime cannot reach the host\'s 127.0.0.1 under network none', sandboxed: 'fails', hostNetwork: 'ok', unsafe: 'ok' },
  { check: 'connect_host_address', probe: 'c', promise: 'the host\'s own address is out of reach under network none; a private network reaches it through its gateway, as Docker\'s bridge does (egress = false cuts it)', sandboxed: 'fails', server: 'ok', hostNetwork: 'ok', unsafe: 'ok' },
  { check: 'connect_host_abstract_socket', probe: 'c', promise: 'the host\'s abstract unix sockets are out of reach under network none', sandboxed: 'fails', hostNetwork: 'ok', unsafe: 'ok' },
  { check: 'bind_port_80', probe: 'c', promise: 'cannot bind a privileged port', sandboxed: 'refused', hostNetwork: null },
  { check: 'socket_raw', probe: 'c', promise: 'no raw IP sockets', sandboxed: 'refused', unsafe: 'refused' },
  { check: 'socket_packet', probe: 'c', promise: 'no packet sockets', sandboxed: 'refused', unsafe: 'refused' , systemd: { sandboxed: { errno: ['EAFNOSUPPORT'] }, why: 'RestrictAddressFamilies= refuses packet sockets with EAFNOSUPPORT rather than EPERM' } },

  // --- after the run -------------------------------------------------------------------------
  { check: 'exit_code', probe: 'host', promise: 'niso run exits with the app\'s code', sandboxed: { equals: 0 }, unsafe: { equals: 0 } },
  { check: 'cgroups_left', probe: 'host', promise: 'the run\'s cgroups are gone afterwards', sandboxed: { equals: [] }, unsafe: { equals: [] } },
  { check: 'processes_left', probe: 'host', promise: 'no process of the service uid survives the run', sandboxed: { equals: 0 }, unsafe: { equals: 0 } },

  // --- host tools ([isolation] tools = TOOLS_PROBE_TOOLS: the C probe packaged asking for sh, env and cat) --------------
  { check: 'popen_sh', probe: 'tools', promise: 'a granted shell runs: popen() reads its output', sandboxed: { equals: 'popen-ok' } },
  { check: 'system_sh', probe: 'tools', promise: 'system() runs the granted shell (its exit status comes back)', sandboxed: { equals: 3 } },
  { check: 'exec_env', probe: 'tools', promise: 'a granted tool runs another one through /usr/bin/env', sandboxed: 'ok' },
  { check: 'read_bin_sh', probe: 'tools', promise: 'the granted shell is at /bin/sh', sandboxed: 'ok' },
  { check: 'write_bin_sh', probe: 'tools', promise: 'a granted tool\'s file is read-only', sandboxed: { errno: ['EROFS', 'EACCES'] } },
  { check: 'write_usr_bin', probe: 'tools', promise: 'cannot add files next to the tools in /usr/bin', sandboxed: 'fails' },
  { check: 'read_usr_bin_ls', probe: 'tools', promise: 'a tool that was not asked for is absent', sandboxed: 'hidden' },
  { check: 'read_usr_bin_bash', probe: 'tools', promise: 'no other shell comes with the granted one', sandboxed: 'hidden' },
  { check: 'visible_files', probe: 'tools', promise: 'with tools the app still sees only its plan\'s mounts (the tools and their libraries)', sandboxed: 'withinMounts' },
  { check: 'seccomp', probe: 'tools', promise: 'the syscall filter stays loaded with tools', sandboxed: { equals: '2' } },
  { check: 'cap_eff', probe: 'tools', promise: 'tools bring no capabilities', sandboxed: ZERO_CAPS },
  { check: 'setid_files', probe: 'tools', promise: 'tools bring no setuid/setgid files', sandboxed: { equals: [] } },
  { check: 'setlocale_env', probe: 'tools', promise: 'the C.UTF-8 locale is there beside the tools', sandboxed: { equals: 'UTF-8' } },
];
