// Runs the generated seccomp programs in a small classic-BPF interpreter, so every syscall, flag and arch case is checked without a kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNisoError } from '../../src/errors/niso-error.js';
import { existsSync, readFileSync } from 'node:fs';
import {
  ALLOWED_PERSONAS, AUDIT_ARCH, buildSeccompFilter, CLONE_NEW_FLAGS, DEFAULT_DENY, describeFilter, ENOSYS, EPERM,
  SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, type SeccompOptions,
} from '../../src/render/seccomp.js';
import { expandSyscallNames, SECCOMP_ARCHES, SYSCALL_GROUPS, SYSCALL_TABLES, syscallNumber, type SeccompArch } from '../../src/render/seccomp-syscalls.js';

// ---- a classic BPF interpreter with the checks the kernel makes when the filter is loaded ----

interface SeccompData { nr: number; arch: number; args?: readonly (number | bigint)[] }

function seccompData(d: SeccompData): Buffer {
  const b = Buffer.alloc(64);
  b.writeInt32LE(d.nr | 0, 0);
  b.writeUInt32LE(d.arch >>> 0, 4);
  (d.args ?? []).forEach((a, i) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + i * 8));
  return b;
}

interface Insn { code: number; jt: number; jf: number; k: number }

function decode(program: Buffer): Insn[] {
  assert.equal(program.length % 8, 0, 'whole sock_filter records');
  const out: Insn[] = [];
  for (let i = 0; i < program.length; i += 8) {
    out.push({ code: program.readUInt16LE(i), jt: program.readUInt8(i + 2), jf: program.readUInt8(i + 3), k: program.readUInt32LE(i + 4) });
  }
  return out;
}

/** What the kernel's bpf_check_classic and seccomp_check_filter would refuse. */
function verify(insns: Insn[]): void {
  assert.ok(insns.length >= 1 && insns.length <= 4096, `length ${insns.length}`);
  insns.forEach((ins, pc) => {
    switch (ins.code) {
      case 0x20: // ld [k]: aligned, inside struct seccomp_data
        assert.ok(ins.k % 4 === 0 && ins.k < 64, `pc ${pc}: load offset ${ins.k}`);
        break;
      case 0x05: // ja
        assert.ok(pc + 1 + ins.k < insns.length, `pc ${pc}: ja out of the program`);
        break;
      case 0x15: case 0x25: case 0x35: case 0x45: // jeq jgt jge jset (k)
        assert.ok(pc + 1 + ins.jt < insns.length && pc + 1 + ins.jf < insns.length, `pc ${pc}: jump out of the program`);
        break;
      case 0x06: // ret k
        break;
      default:
        assert.fail(`pc ${pc}: unexpected opcode 0x${ins.code.toString(16)}`);
    }
  });
  assert.equal(insns[insns.length - 1]!.code, 0x06, 'the program ends in ret');
}

/** Runs the program like the kernel does; returns the 32-bit seccomp return value. */
function run(program: Buffer, d: SeccompData): number {
  const insns = decode(program);
  verify(insns);
  const data = seccompData(d);
  let a = 0;
  let pc = 0;
  for (let steps = 0; steps <= insns.length; steps++) {
    const ins = insns[pc]!;
    switch (ins.code) {
      case 0x20: a = data.readUInt32LE(ins.k); pc += 1; break;
      case 0x05: pc += 1 + ins.k; break;
      case 0x15: pc += 1 + (a === ins.k ? ins.jt : ins.jf); break;
      case 0x25: pc += 1 + (a > ins.k ? ins.jt : ins.jf); break;
      case 0x35: pc += 1 + (a >= ins.k ? ins.jt : ins.jf); break;
      case 0x45: pc += 1 + ((a & ins.k) !== 0 ? ins.jt : ins.jf); break;
      case 0x06: return ins.k;
      default: assert.fail(`opcode 0x${ins.code.toString(16)}`);
    }
  }
  return assert.fail('no ret reached');
}

const ALLOW = SECCOMP_RET_ALLOW;
const KILL = SECCOMP_RET_KILL_PROCESS;
const ERR = (errno: number) => (SECCOMP_RET_ERRNO | errno) >>> 0;
const show = (r: number) => r === ALLOW ? 'ALLOW' : r === KILL ? 'KILL' : (r & 0xffff0000) >>> 0 === SECCOMP_RET_ERRNO ? `ERRNO(${r & 0xffff})` : `0x${r.toString(16)}`;

const SIGCHLD = 17;
const PTHREAD_FLAGS = 0x3d0f00; // glibc pthread_create: VM FS FILES SIGHAND THREAD SYSVSEM SETTLS PARENT_SETTID CHILD_CLEARTID
const FORK_FLAGS = 0x01200000 | SIGCHLD; // glibc fork: CHILD_SETTID CHILD_CLEARTID
const SPAWN_FLAGS = 0x00004100 | SIGCHLD; // posix_spawn: VM VFORK
const NEW_FLAGS: Record<string, number> = {
  CLONE_NEWNS: 0x20000, CLONE_NEWCGROUP: 0x02000000, CLONE_NEWUTS: 0x04000000, CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000, CLONE_NEWPID: 0x20000000, CLONE_NEWNET: 0x40000000, CLONE_NEWTIME: 0x80,
};

function nr(arch: SeccompArch, name: string): number {
  const n = syscallNumber(arch, name);
  assert.ok(n !== undefined, `${name} on ${arch}`);
  return n;
}

/** The expected verdict, written independently of the generator: a plain lookup. */
function model(arch: SeccompArch, denied: Set<string>, errno: number, d: SeccompData): number {
  if (d.arch >>> 0 !== AUDIT_ARCH[arch]) return KILL;
  const n = d.nr >>> 0;
  if (arch === 'x86_64' && n >= 0x40000000) return ERR(errno);
  const name = Object.entries(SYSCALL_TABLES[arch]).find(([, v]) => v === n)?.[0];
  if (name === undefined || !denied.has(name)) return ALLOW;
  const arg0 = Number(BigInt.asUintN(32, BigInt(d.args?.[0] ?? 0)));
  if (name === 'clone') return (arg0 & CLONE_NEW_FLAGS) !== 0 ? ERR(errno) : ALLOW;
  if (name === 'clone3') return ERR(ENOSYS);
  if (name === 'personality') return ALLOWED_PERSONAS.includes(arg0) ? ALLOW : ERR(errno);
  return ERR(errno);
}

function checkAgainstModel(opts: SeccompOptions, cases: SeccompData[]): void {
  const f = buildSeccompFilter(opts);
  const denied = new Set(f.denied);
  for (const d of cases) {
    const got = run(f.program, d);
    const want = model(opts.arch, denied, opts.errno ?? EPERM, d);
    assert.equal(show(got), show(want), `${opts.arch} nr=${d.nr} arch=0x${d.arch.toString(16)} args=${d.args?.join(',') ?? ''}`);
  }
}

const everySyscall = (arch: SeccompArch): SeccompData[] => Object.values(SYSCALL_TABLES[arch]).map((n) => ({ nr: n, arch: AUDIT_ARCH[arch], args: [0] }));

// ---- the syscall tables ----

test('syscall tables: well-known numbers, no number used twice', () => {
  const known: Record<SeccompArch, Record<string, number>> = {
    x86_64: { read: 0, write: 1, mmap: 9, clone: 56, uname: 63, ptrace: 101, personality: 135, iopl: 172, mount: 165, unshare: 272, setns: 308, bpf: 321, io_uring_setup: 425, clone3: 435, mount_setattr: 442, open_tree_attr: 467 },
    aarch64: { io_setup: 0, openat: 56, read: 63, unshare: 97, personality: 92, mount: 40, ptrace: 117, uname: 160, clone: 220, bpf: 280, io_uring_setup: 425, clone3: 435, mseal: 462 },
  };
  for (const arch of SECCOMP_ARCHES) {
    for (const [name, n] of Object.entries(known[arch])) assert.equal(syscallNumber(arch, name), n, `${arch} ${name}`);
    const numbers = Object.values(SYSCALL_TABLES[arch]);
    assert.equal(new Set(numbers).size, numbers.length, `${arch}: numbers are unique`);
  }
  assert.equal(syscallNumber('aarch64', 'iopl'), undefined);
  assert.equal(syscallNumber('x86_64', 'toString'), undefined, 'no prototype lookups');
});

test('the x86_64 table agrees with this machine\'s kernel headers', { skip: !existsSync('/usr/include/x86_64-linux-gnu/asm/unistd_64.h') }, () => {
  const header = readFileSync('/usr/include/x86_64-linux-gnu/asm/unistd_64.h', 'utf8');
  let n = 0;
  for (const m of header.matchAll(/^#define __NR_(\w+) (\d+)$/gm)) {
    assert.equal(syscallNumber('x86_64', m[1]!), Number(m[2]), m[1]);
    n++;
  }
  assert.ok(n > 300);
});

test('groups: every member exists on some architecture, and nothing node or python needs is in the default', () => {
  for (const [group, members] of Object.entries(SYSCALL_GROUPS)) {
    assert.match(group, /^@[a-z0-9-]+$/);
    for (const m of members) assert.ok(SECCOMP_ARCHES.some((a) => syscallNumber(a, m) !== undefined), `${group}: ${m}`);
  }
  const { names, unknown } = expandSyscallNames(DEFAULT_DENY);
  assert.deepEqual(unknown, []);
  const needed = ['uname', 'read', 'write', 'openat', 'mmap', 'mprotect', 'munmap', 'madvise', 'futex', 'clone', 'execve', 'wait4',
    'pkey_alloc', 'pkey_mprotect', 'pkey_free', 'membarrier', 'rseq', 'getrandom', 'epoll_pwait', 'epoll_ctl', 'eventfd2', 'statx',
    'prlimit64', 'set_robust_list', 'sched_getaffinity', 'prctl', 'seccomp', 'ioctl', 'getcwd', 'socket', 'bind', 'listen', 'accept4',
    'setuid', 'setgid', 'setgroups', 'capset', 'memfd_create', 'mseal', 'map_shadow_stack', 'uretprobe', 'get_mempolicy', 'landlock_create_ruleset'];
  for (const n of needed) assert.ok(!names.has(n) || n === 'clone', `${n} must stay allowed`);
});

// ---- the program ----

test('default filter: every syscall of each architecture gets the expected verdict', () => {
  for (const arch of SECCOMP_ARCHES) {
    const cases = [...everySyscall(arch), { nr: 1000, arch: AUDIT_ARCH[arch] }, { nr: 0x3fffffff, arch: AUDIT_ARCH[arch] }];
    checkAgainstModel({ arch, deny: DEFAULT_DENY }, cases);
  }
});

test('default filter: named cases', () => {
  for (const arch of SECCOMP_ARCHES) {
    const { program } = buildSeccompFilter({ arch, deny: DEFAULT_DENY });
    const call = (name: string, ...args: (number | bigint)[]) => show(run(program, { nr: nr(arch, name), arch: AUDIT_ARCH[arch], args }));
    for (const n of ['uname', 'read', 'write', 'getcwd', 'mmap', 'futex', 'pkey_alloc', 'pkey_mprotect', 'membarrier', 'rseq', 'getrandom', 'seccomp', 'setuid'])
      assert.equal(call(n), 'ALLOW', `${arch} ${n}`);
    for (const n of ['mount', 'umount2', 'pivot_root', 'chroot', 'unshare', 'setns', 'ptrace', 'process_vm_readv', 'perf_event_open', 'bpf', 'userfaultfd',
      'kexec_load', 'init_module', 'finit_module', 'keyctl', 'add_key', 'swapon', 'reboot', 'settimeofday', 'clock_settime', 'adjtimex', 'clock_adjtime',
      'sethostname', 'setdomainname', 'open_by_handle_at', 'name_to_handle_at', 'acct', 'quotactl', 'syslog', 'fsopen', 'fsconfig', 'fsmount', 'fspick',
      'move_mount', 'open_tree', 'mount_setattr', 'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'lookup_dcookie'])
      assert.equal(call(n), 'ERRNO(1)', `${arch} ${n}`);
    if (arch === 'x86_64') for (const n of ['iopl', 'ioperm', 'modify_ldt', 'uselib', '_sysctl']) assert.equal(call(n), 'ERRNO(1)', n);
    // clone: threads, fork and posix_spawn pass; any namespace flag is refused, alone or mixed in.
    for (const flags of [0, PTHREAD_FLAGS, FORK_FLAGS, SPAWN_FLAGS, 0xffffffff00000000n | BigInt(FORK_FLAGS)]) assert.equal(call('clone', flags), 'ALLOW', `clone 0x${flags.toString(16)}`);
    for (const [flag, bit] of Object.entries(NEW_FLAGS)) {
      assert.equal(call('clone', bit), 'ERRNO(1)', flag);
      assert.equal(call('clone', bit | FORK_FLAGS), 'ERRNO(1)', `${flag} with fork flags`);
      assert.equal(call('clone', (bit | PTHREAD_FLAGS) >>> 0), 'ERRNO(1)', `${flag} with thread flags`);
    }
    assert.equal(call('clone3'), `ERRNO(${ENOSYS})`, 'clone3 → ENOSYS, whatever the errno option');
    assert.equal(call('clone3', 0x10000000), `ERRNO(${ENOSYS})`);
    for (const p of ALLOWED_PERSONAS) assert.equal(call('personality', p), 'ALLOW', `personality 0x${p.toString(16)}`);
    for (const p of [0x0040000 /* ADDR_NO_RANDOMIZE */, 0x0400000 /* READ_IMPLIES_EXEC */, 0x0200000 /* MMAP_PAGE_ZERO */, 0x1, 0x10])
      assert.equal(call('personality', p), 'ERRNO(1)', `personality 0x${p.toString(16)}`);
  }
});

test('a foreign architecture is killed; x32 numbers get the errno on x86_64', () => {
  const x86 = buildSeccompFilter({ arch: 'x86_64', deny: DEFAULT_DENY }).program;
  const arm = buildSeccompFilter({ arch: 'aarch64', deny: DEFAULT_DENY }).program;
  const I386 = 0x40000003;
  const ARM = 0x40000028;
  for (const arch of [I386, ARM, AUDIT_ARCH.aarch64, 0xc000003e ^ 1, 0]) assert.equal(show(run(x86, { nr: 0, arch })), 'KILL', `arch 0x${arch.toString(16)} on x86_64`);
  for (const arch of [I386, ARM, AUDIT_ARCH.x86_64, 0x800000b7 /* aarch64 big-endian */]) assert.equal(show(run(arm, { nr: 63, arch })), 'KILL', `arch 0x${arch.toString(16)} on aarch64`);
  for (const n of [0x40000000, 0x40000000 + 63, 0x40000000 + 512, 0x40000000 + 547, 0x7fffffff, -1])
    assert.equal(show(run(x86, { nr: n, arch: AUDIT_ARCH.x86_64 })), 'ERRNO(1)', `x32 nr 0x${(n >>> 0).toString(16)}`);
  assert.equal(show(run(arm, { nr: 0x40000000, arch: AUDIT_ARCH.aarch64 })), 'ALLOW', 'aarch64 has no x32 bit; the kernel answers ENOSYS');
});

test('errno option, allow list, empty deny-list', () => {
  const arch = 'x86_64';
  const f = buildSeccompFilter({ arch, deny: DEFAULT_DENY, errno: 13 });
  assert.equal(show(run(f.program, { nr: nr(arch, 'mount'), arch: AUDIT_ARCH[arch] })), 'ERRNO(13)');
  assert.equal(show(run(f.program, { nr: 0x40000001, arch: AUDIT_ARCH[arch] })), 'ERRNO(13)');
  assert.equal(show(run(f.program, { nr: nr(arch, 'clone'), arch: AUDIT_ARCH[arch], args: [0x10000000] })), 'ERRNO(13)');
  assert.equal(show(run(f.program, { nr: nr(arch, 'clone3'), arch: AUDIT_ARCH[arch] })), 'ERRNO(38)');

  const g = buildSeccompFilter({ arch, deny: DEFAULT_DENY, allow: ['@io-uring', 'ptrace', 'clone'] });
  assert.ok(!g.denied.includes('io_uring_setup') && !g.denied.includes('ptrace') && !g.denied.includes('clone'));
  checkAgainstModel({ arch, deny: DEFAULT_DENY, allow: ['@io-uring', 'ptrace', 'clone'] }, [...everySyscall(arch), { nr: nr(arch, 'clone'), arch: AUDIT_ARCH[arch], args: [0x10000000] }]);
  assert.equal(show(run(g.program, { nr: nr(arch, 'clone'), arch: AUDIT_ARCH[arch], args: [0x10000000] })), 'ALLOW');

  for (const a of SECCOMP_ARCHES) {
    const empty = buildSeccompFilter({ arch: a, deny: [] });
    assert.deepEqual(empty.denied, []);
    assert.equal(show(run(empty.program, { nr: nr(a, 'mount'), arch: AUDIT_ARCH[a] })), 'ALLOW');
    assert.equal(show(run(empty.program, { nr: 0, arch: 0x40000003 })), 'KILL');
    assert.ok(empty.instructions <= 7, `${a}: ${empty.instructions} instructions`);
  }
});

test('unknown names and bad options throw, naming the culprits', () => {
  assert.throws(() => buildSeccompFilter({ arch: 'x86_64', deny: ['mount', 'frobnicate', '@nope'] }), (e: unknown) => isNisoError(e) && e.code === 'NISO1005' && /unknown syscall names or groups: frobnicate, @nope/.test(e.message));
  assert.throws(() => buildSeccompFilter({ arch: 'x86_64', deny: ['mount'], allow: ['mount2'] }), /mount2/);
  assert.throws(() => buildSeccompFilter({ arch: 'x86_64', deny: ['__proto__'] }), /__proto__/);
  for (const errno of [0, -1, 4096, 1.5, Number.NaN]) assert.throws(() => buildSeccompFilter({ arch: 'x86_64', deny: [], errno }), /errno/);
  assert.throws(() => buildSeccompFilter({ arch: 'riscv64' as SeccompArch, deny: [] }), /riscv64/);
  // A name that exists elsewhere is skipped, not refused: a shared deny-list works on both architectures.
  const f = buildSeccompFilter({ arch: 'aarch64', deny: ['iopl', 'ioperm', 'mount'] });
  assert.deepEqual(f.denied, ['mount']);
});

test('program format: 8-byte little-endian records, deterministic, order of the deny-list does not matter', () => {
  const f = buildSeccompFilter({ arch: 'x86_64', deny: DEFAULT_DENY });
  assert.equal(f.program.length, f.instructions * 8);
  assert.deepEqual([...f.program.subarray(0, 16)], [0x20, 0, 0, 0, 4, 0, 0, 0, 0x15, 0, 1, 0, 0x3e, 0, 0, 0xc0]);
  const again = buildSeccompFilter({ arch: 'x86_64', deny: [...DEFAULT_DENY].reverse() });
  assert.ok(again.program.equals(f.program));
  assert.deepEqual(f.denied, [...f.denied].sort());
});

test('each syscall denied alone is refused, and only it', () => {
  for (const arch of SECCOMP_ARCHES) {
    for (const [name, n] of Object.entries(SYSCALL_TABLES[arch])) {
      const f = buildSeccompFilter({ arch, deny: [name] });
      const args = name === 'clone' ? [0x10000000] : name === 'personality' ? [0x0040000] : [0];
      assert.notEqual(show(run(f.program, { nr: n, arch: AUDIT_ARCH[arch], args })), 'ALLOW', `${arch} ${name}`);
      assert.equal(show(run(f.program, { nr: n === 0 ? 1 : n - 1, arch: AUDIT_ARCH[arch] })), 'ALLOW', `${arch} neighbour of ${name}`);
      assert.equal(show(run(f.program, { nr: n + 1, arch: AUDIT_ARCH[arch] })), 'ALLOW', `${arch} neighbour of ${name}`);
    }
  }
});

test('long deny-lists keep every jump within a u8 (ret copies and ja trampolines) and stay correct', () => {
  for (const arch of SECCOMP_ARCHES) {
    const keep = new Set(['read', 'write', 'exit_group', 'uname']);
    const all = Object.keys(SYSCALL_TABLES[arch]).filter((n) => !keep.has(n));
    const f = buildSeccompFilter({ arch, deny: all });
    assert.ok(f.instructions > 300 && f.instructions < 1000, `${arch}: ${f.instructions}`);
    const cases = everySyscall(arch).flatMap((d) => [d, { ...d, args: [0x10000000] }, { ...d, args: [0x8] }]);
    checkAgainstModel({ arch, deny: all }, cases);
    const insns = decode(f.program);
    assert.ok(insns.some((i) => i.code === 0x35), 'uses a binary search');
    assert.ok(insns.filter((i) => i.code === 0x06 && i.k === ERR(EPERM)).length > 1, 'copies of ret ERRNO keep jumps short');
    assert.ok(insns.some((i) => i.code === 0x05), 'a ja reaches the far clone/personality handlers');
  }
});

test('random deny-lists agree with the model', () => {
  let seed = 42;
  const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
  for (let round = 0; round < 60; round++) {
    const arch = SECCOMP_ARCHES[round % 2]!;
    const names = Object.keys(SYSCALL_TABLES[arch]);
    const share = rand();
    const deny = names.filter(() => rand() < share);
    if (rand() < 0.5) deny.push('clone', 'personality');
    const errno = 1 + Math.floor(rand() * 200);
    const cases: SeccompData[] = [...everySyscall(arch)];
    for (let i = 0; i < 50; i++) cases.push({ nr: nr(arch, 'clone'), arch: AUDIT_ARCH[arch], args: [Math.floor(rand() * 0x100000000)] });
    for (let i = 0; i < 20; i++) cases.push({ nr: Math.floor(rand() * 600), arch: AUDIT_ARCH[arch], args: [ALLOWED_PERSONAS[i % 5]!] });
    checkAgainstModel({ arch, deny, errno }, cases);
  }
});

test('describeFilter lists the default deny-list for documentation', () => {
  const d = describeFilter();
  const names = d.map((x) => x.name);
  assert.deepEqual(names, [...names].sort());
  assert.deepEqual(names, [...expandSyscallNames(DEFAULT_DENY).names].sort());
  assert.ok(!names.includes('uname'));
  const by = Object.fromEntries(d.map((x) => [x.name, x]));
  assert.deepEqual(by.iopl?.arches, ['x86_64']);
  assert.deepEqual(by.mount?.arches, ['x86_64', 'aarch64']);
  assert.equal(by.mount?.effect, 'EPERM');
  assert.match(by.clone?.effect ?? '', /CLONE_NEW/);
  assert.match(by.clone3?.effect ?? '', /^ENOSYS/);
  assert.match(by.personality?.effect ?? '', /0x20008/);
  // The union over both arches: x86_64's filter denies exactly the names that exist there.
  assert.deepEqual(buildSeccompFilter({ arch: 'x86_64', deny: DEFAULT_DENY }).denied, d.filter((x) => x.arches.includes('x86_64')).map((x) => x.name));
});
