// systemd's own SystemCallFilter= sets, so that the plan's seccomp deny list can be written in systemd's words.
//
// Members as printed by `systemd-analyze syscall-filter @SET` of systemd 252.39 (the version PLATFORM.md §4
// tested); members of other architectures (s390_*, pciconfig_*, vm86, ...) are listed too, because systemd
// resolves them per architecture itself. Only the sets that a deny list of niso's can cover whole are here:
// @privileged, @resources, @system-service and friends allow-list too much or too little to be a deny-list term.
import { isKnownSyscall } from './seccomp-syscalls.js';

export const SYSTEMD_SYSCALL_SETS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  '@clock': ['adjtimex', 'clock_adjtime', 'clock_adjtime64', 'clock_settime', 'clock_settime64', 'settimeofday'],
  '@cpu-emulation': ['modify_ldt', 'subpage_prot', 'switch_endian', 'vm86', 'vm86old'],
  '@debug': ['lookup_dcookie', 'perf_event_open', 'pidfd_getfd', 'ptrace', 'rtas', 's390_runtime_instr', 'sys_debug_setcontext'],
  '@keyring': ['add_key', 'keyctl', 'request_key'],
  '@module': ['delete_module', 'finit_module', 'init_module'],
  '@mount': ['chroot', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'mount', 'mount_setattr', 'move_mount', 'open_tree', 'pivot_root', 'umount', 'umount2'],
  '@obsolete': ['_sysctl', 'afs_syscall', 'bdflush', 'break', 'create_module', 'ftime', 'get_kernel_syms', 'getpmsg', 'gtty', 'idle', 'lock', 'mpx', 'prof', 'profil', 'putpmsg', 'query_module', 'security', 'sgetmask', 'ssetmask', 'stime', 'stty', 'sysfs', 'tuxcall', 'ulimit', 'uselib', 'ustat', 'vserver'],
  '@raw-io': ['ioperm', 'iopl', 'pciconfig_iobase', 'pciconfig_read', 'pciconfig_write', 's390_pci_mmio_read', 's390_pci_mmio_write'],
  '@reboot': ['kexec_file_load', 'kexec_load', 'reboot'],
  '@swap': ['swapoff', 'swapon'],
});

/**
 * Syscalls niso's tables know (kernel 6.18) but systemd 252 and libseccomp 2.5.4 do not: a SystemCallFilter=
 * naming one is ignored with a warning, so a deny list cannot hold them. Found by comparing the tables with
 * `systemd-analyze syscall-filter @known` (and @obsolete, which @known includes).
 */
export const UNKNOWN_TO_SYSTEMD_252: ReadonlySet<string> = new Set([
  'uretprobe', 'uprobe', 'cachestat', 'statmount', 'listmount', 'lsm_get_self_attr', 'lsm_set_self_attr', 'lsm_list_modules',
  'mseal', 'setxattrat', 'getxattrat', 'listxattrat', 'removexattrat', 'open_tree_attr', 'file_getattr', 'file_setattr',
]);

/** Refused by RestrictNamespaces= (systemd filters clone/clone3/unshare/setns by flag), not by name. */
export const NAMESPACE_SYSCALLS: readonly string[] = ['clone', 'clone3', 'setns', 'unshare'];

export interface SystemdSyscallDenyList {
  /** Terms for `SystemCallFilter=~...`: systemd sets first, then single names, each sorted. */
  terms: string[];
  /** Denied names systemd cannot name (UNKNOWN_TO_SYSTEMD_252); they stay allowed under this unit. */
  inexpressible: string[];
}

/**
 * Writes a set of denied syscall names as systemd deny-list terms. A systemd set is used when every member
 * niso's tables know is denied (members of other architectures do not count), so the unit denies exactly the
 * plan's list on x86_64 and aarch64. Names handled by other directives (namespaces, personality) are left
 * to the caller.
 */
export function systemdDenyTerms(denied: ReadonlySet<string>): SystemdSyscallDenyList {
  const left = new Set(denied);
  const sets: string[] = [];
  for (const [set, members] of Object.entries(SYSTEMD_SYSCALL_SETS)) {
    const ours = members.filter((m) => isKnownSyscall(m));
    if (ours.length === 0 || !ours.every((m) => denied.has(m))) continue;
    sets.push(set);
    for (const m of ours) left.delete(m);
  }
  const inexpressible = [...left].filter((n) => UNKNOWN_TO_SYSTEMD_252.has(n)).sort();
  const names = [...left].filter((n) => !UNKNOWN_TO_SYSTEMD_252.has(n)).sort();
  return { terms: [...sets.sort(), ...names], inexpressible };
}
