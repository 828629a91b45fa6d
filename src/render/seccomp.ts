// Builds the classic-BPF seccomp program that `bwrap --seccomp FD` loads, in plain TypeScript, so niso needs no libseccomp.
//
// Program shape (all jumps are forward, as classic BPF requires):
//   ld arch; jeq AUDIT_ARCH_* else ret KILL_PROCESS       a foreign ABI (i386, arm32) could bypass the numbers below
//   ld nr; [x86_64] jge 0x40000000 → ret ERRNO            the x32 ABI reuses x86_64's entry points under other numbers
//   a binary search over the denied numbers (jge), ending in short jeq chains; each jeq jumps to a ret or a handler
//   handlers: clone → ld arg0; jset CLONE_NEW* → ERRNO; personality → ld arg0; jeq each default persona → ALLOW
// The code is emitted back to front, so every jump target already has a position. jt/jf are u8, so a target
// that ended up out of reach gets a nearby copy of its `ret` (or a `ja` trampoline for a handler).
import { NisoError } from '../errors/niso-error.js';
import { expandSyscallNames, syscallNumber, SECCOMP_ARCHES, type SeccompArch } from './seccomp-syscalls.js';

export type { SeccompArch } from './seccomp-syscalls.js';

export interface SeccompOptions {
  arch: SeccompArch;
  /** Syscall names and @groups to refuse. */
  deny: readonly string[];
  /** Names and @groups taken back out of `deny`. */
  allow?: readonly string[];
  /** The errno a denied syscall returns; EPERM by default. */
  errno?: number;
}

export interface SeccompFilter {
  /** struct sock_filter records (u16 code, u8 jt, u8 jf, u32 k), little-endian, ready for `bwrap --seccomp FD`. */
  program: Buffer;
  /** The syscalls this program refuses on its architecture (fully or, for clone and personality, by argument), sorted. */
  denied: string[];
  instructions: number;
}

// <linux/audit.h>, <linux/seccomp.h>, <linux/sched.h>, <linux/filter.h>
export const AUDIT_ARCH: Readonly<Record<SeccompArch, number>> = Object.freeze({ x86_64: 0xc000003e, aarch64: 0xc00000b7 });
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const X32_SYSCALL_BIT = 0x40000000;
export const EPERM = 1;
export const ENOSYS = 38;
/**
 * CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME. In clone(2), 0x80 lies in the
 * exit-signal byte, so the kernel never reads it as NEWTIME there; refusing it costs nothing, as no signal is >= 128.
 */
export const CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;
/** What Docker's profile lets personality(2) set: PER_LINUX, PER_LINUX32, UNAME26, both, and 0xffffffff (query only). */
export const ALLOWED_PERSONAS: readonly number[] = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** The server preset: everything a network service never needs and a container escape often does. */
export const DEFAULT_DENY: readonly string[] = Object.freeze([
  '@clock', '@cpu-emulation', '@debug', '@io-uring', '@keyring', '@module', '@mount', '@namespaces',
  '@obsolete', '@raw-io', '@reboot', '@swap', '@sysadmin', 'personality',
]);

// seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]. Both arches are little-endian,
// so an argument's low 32 bits (all that clone's flags and personality's persona use) sit at its offset.
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG0 = 16;

const BPF_LD_W_ABS = 0x20;
const BPF_JA = 0x05;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_JSET_K = 0x45;
const BPF_RET_K = 0x06;
const BPF_MAXINSNS = 4096;
const MAX_JUMP = 255;
const MAX_ERRNO = 4095;
/** Up to this many denied numbers are tested one by one; more are split by a jge first. */
const LEAF_SIZE = 4;

interface Insn { code: number; jt: number; jf: number; k: number }

/** A place to jump to: a `ret` (which may be duplicated to stay within reach) or an emitted instruction. */
type Target = { ret: number } | { at: number };

/**
 * Emits instructions back to front. A position is the number of instructions that follow it in the
 * final program, so it never changes once emitted, and a jump from the instruction being emitted
 * (at position `length`) to position p has the offset length - p - 1.
 */
class BackwardEmitter {
  private readonly rev: Insn[] = [];
  private readonly nearest = new Map<string, number>();

  get length(): number { return this.rev.length; }

  private put(code: number, jt: number, jf: number, k: number): number {
    this.rev.push({ code, jt, jf, k });
    return this.rev.length - 1;
  }

  private reach(at: number): number { return this.rev.length - at - 1; }

  ret(k: number): number {
    const at = this.put(BPF_RET_K, 0, 0, k);
    this.nearest.set(`r${k}`, at);
    return at;
  }

  load(offset: number): number { return this.put(BPF_LD_W_ABS, 0, 0, offset); }

  /** A position within `limit` of the next emitted instruction that behaves like `t`, adding one instruction at most. */
  private resolve(t: Target, limit: number): number {
    if ('at' in t && this.reach(t.at) <= limit) return t.at;
    const key = 'ret' in t ? `r${t.ret}` : `a${t.at}`;
    const near = this.nearest.get(key);
    if (near !== undefined && this.reach(near) <= limit) return near;
    if ('ret' in t) return this.ret(t.ret);
    const at = this.put(BPF_JA, 0, 0, this.reach(t.at));
    this.nearest.set(key, at);
    return at;
  }

  /** A conditional jump; returns the position control reaches first (no instruction if both ways agree). */
  jump(code: number, k: number, whenTrue: Target, whenFalse: Target): number {
    // Resolving the second target may add one instruction, pushing the first one step further away.
    const t = this.resolve(whenTrue, MAX_JUMP - 1);
    const f = this.resolve(whenFalse, MAX_JUMP);
    if (t === f) return t;
    return this.put(code, this.reach(t), this.reach(f), k);
  }

  program(): Insn[] { return [...this.rev].reverse(); }
}

interface Rule { nr: number; target: Target }

function emitSearch(e: BackwardEmitter, rules: readonly Rule[], otherwise: Target): number {
  if (rules.length <= LEAF_SIZE) {
    let next = otherwise;
    for (let i = rules.length - 1; i >= 0; i--) {
      const r = rules[i]!;
      next = { at: e.jump(BPF_JEQ_K, r.nr, r.target, next) };
    }
    return 'at' in next ? next.at : e.ret(next.ret);
  }
  const mid = rules.length >>> 1;
  const high = emitSearch(e, rules.slice(mid), otherwise);
  const low = emitSearch(e, rules.slice(0, mid), otherwise);
  return e.jump(BPF_JGE_K, rules[mid]!.nr, { at: high }, { at: low });
}

function resolveDenied(deny: readonly string[], allow: readonly string[]): Set<string> {
  const d = expandSyscallNames(deny);
  const a = expandSyscallNames(allow);
  const unknown = [...d.unknown, ...a.unknown];
  // manifest.toml refuses such names; a manifest stored by an older niso may still hold them.
  if (unknown.length > 0) throw new NisoError('NISO1005', `unknown syscall names or groups: ${unknown.join(', ')}`, { exitCode: 2, hint: 'remove them from [isolation] syscalls, then pack and install the package again' });
  for (const name of a.names) d.names.delete(name);
  return d.names;
}

function checkErrno(errno: number): void {
  if (!Number.isInteger(errno) || errno < 1 || errno > MAX_ERRNO) {
    throw new Error(`errno must be an integer from 1 to ${MAX_ERRNO}, got ${errno}`);
  }
}

export function buildSeccompFilter(options: SeccompOptions): SeccompFilter {
  const { arch, deny, allow = [], errno = EPERM } = options;
  if (!SECCOMP_ARCHES.includes(arch)) throw new Error(`unsupported seccomp architecture: ${String(arch)}`);
  checkErrno(errno);
  const names = resolveDenied(deny, allow);

  const ALLOW: Target = { ret: SECCOMP_RET_ALLOW };
  const DENY: Target = { ret: SECCOMP_RET_ERRNO | errno };
  const e = new BackwardEmitter();

  // Sorted first, so that the program depends only on the set of names, not on their order.
  const present = [...names].flatMap((name) => {
    const nr = syscallNumber(arch, name);
    return nr === undefined ? [] : [{ name, nr }];
  }).sort((a, b) => a.nr - b.nr);
  const rules: Rule[] = [];
  for (const { name, nr } of present) {
    let target: Target;
    if (name === 'clone') {
      e.jump(BPF_JSET_K, CLONE_NEW_FLAGS, DENY, ALLOW);
      target = { at: e.load(OFF_ARG0) };
    } else if (name === 'personality') {
      let next: Target = DENY;
      for (const p of [...ALLOWED_PERSONAS].reverse()) next = { at: e.jump(BPF_JEQ_K, p, ALLOW, next) };
      target = { at: e.load(OFF_ARG0) };
    } else if (name === 'clone3') {
      // clone3 passes its flags in memory, out of a filter's sight; ENOSYS makes glibc retry with clone.
      target = { ret: SECCOMP_RET_ERRNO | ENOSYS };
    } else {
      target = DENY;
    }
    rules.push({ nr, target });
  }

  // Each load falls through to the instruction emitted just before it, i.e. the one after it in the program.
  const search = emitSearch(e, rules, ALLOW);
  if (arch === 'x86_64') e.jump(BPF_JGE_K, X32_SYSCALL_BIT, DENY, { at: search });
  const loadNr = e.load(OFF_NR);
  e.jump(BPF_JEQ_K, AUDIT_ARCH[arch], { at: loadNr }, { ret: SECCOMP_RET_KILL_PROCESS });
  e.load(OFF_ARCH);

  const insns = e.program();
  if (insns.length > BPF_MAXINSNS) throw new Error(`seccomp program has ${insns.length} instructions; the kernel takes at most ${BPF_MAXINSNS}`);
  const program = Buffer.alloc(insns.length * 8);
  insns.forEach((ins, i) => {
    program.writeUInt16LE(ins.code, i * 8);
    program.writeUInt8(ins.jt, i * 8 + 2);
    program.writeUInt8(ins.jf, i * 8 + 3);
    program.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return { program, denied: present.map((p) => p.name).sort(), instructions: insns.length };
}

export interface DeniedSyscall {
  name: string;
  /** The architectures that have this syscall (iopl, for one, is x86_64 only). */
  arches: SeccompArch[];
  /** What a call gets, in words. */
  effect: string;
}

const ERRNO_NAMES: Readonly<Record<number, string>> = { 1: 'EPERM', 13: 'EACCES', 38: 'ENOSYS', 95: 'EOPNOTSUPP' };

/** The denied syscalls of a deny-list over every architecture, sorted by name, for documentation. */
export function describeFilter(options: { deny?: readonly string[]; allow?: readonly string[]; errno?: number } = {}): DeniedSyscall[] {
  const { deny = DEFAULT_DENY, allow = [], errno = EPERM } = options;
  checkErrno(errno);
  const err = ERRNO_NAMES[errno] ?? `errno ${errno}`;
  const out: DeniedSyscall[] = [];
  for (const name of [...resolveDenied(deny, allow)].sort()) {
    const arches = SECCOMP_ARCHES.filter((a) => syscallNumber(a, name) !== undefined);
    const effect = name === 'clone' ? `${err} when a CLONE_NEW* flag is set; threads and fork are unaffected`
      : name === 'clone3' ? 'ENOSYS, so that glibc falls back to clone'
        : name === 'personality' ? `${err} unless the persona is one of ${ALLOWED_PERSONAS.map((p) => `0x${p.toString(16)}`).join(', ')}`
          : err;
    out.push({ name, arches, effect });
  }
  return out;
}
