// Loads generated seccomp programs into real bwrap sandboxes, to prove the kernel accepts them and that node and python still work under them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSeccompFilter, DEFAULT_DENY, type SeccompArch } from '../../src/render/seccomp.js';
import { SYSCALL_TABLES } from '../../src/render/seccomp-syscalls.js';
import { hostArch } from '../../src/host/arch.js';
import { tempDir } from '../helpers/tmp.js';

const ARCH = hostArch();
const bwrapMissing = spawnSync('bwrap', ['--version']).error !== undefined;
const skip = process.platform !== 'linux' ? 'Linux only'
  : ARCH !== 'x86_64' && ARCH !== 'aarch64' ? `no syscall table for ${ARCH}`
    : bwrapMissing ? 'bwrap is not installed' : false;
const arch = ARCH as SeccompArch;

interface Result { status: number | null; stdout: string; stderr: string }

/** Runs a command in a bwrap sandbox like the brief's, with the program on fd 3 when one is given. */
function sandbox(command: string[], program?: Buffer): Result {
  const args = ['--unshare-all', '--die-with-parent', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc'];
  let fd: number | undefined;
  if (program !== undefined) {
    const file = join(tempDir('niso-seccomp-'), 'filter.bpf');
    writeFileSync(file, program);
    fd = openSync(file, 'r');
    args.push('--seccomp', '3');
  }
  try {
    const r = spawnSync('bwrap', [...args, '--', ...command], {
      stdio: ['ignore', 'pipe', 'pipe', ...(fd === undefined ? [] : [fd])],
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.error) throw r.error;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const DEFAULT = skip ? Buffer.alloc(0) : buildSeccompFilter({ arch, deny: DEFAULT_DENY }).program;

test('the kernel loads the default filter: Seccomp 2 inside, 0 without it', { skip }, () => {
  const withFilter = sandbox(['cat', '/proc/self/status'], DEFAULT);
  assert.equal(withFilter.status, 0, withFilter.stderr);
  assert.match(withFilter.stdout, /^Seccomp:\t2$/m);
  assert.match(withFilter.stdout, /^Seccomp_filters:\t1$/m);
  const without = sandbox(['cat', '/proc/self/status']);
  assert.match(without.stdout, /^Seccomp:\t0$/m);
});

test('namespaces and mounts are refused with EPERM, though the same commands work without the filter', { skip }, () => {
  const script = 'unshare -U true; echo "unshare=$?"; mount -t tmpfs x /tmp; echo "mount=$?"';
  const control = sandbox(['sh', '-c', script]);
  assert.match(control.stdout, /unshare=0\nmount=0/, `control: ${control.stderr}`);
  const r = sandbox(['sh', '-c', script], DEFAULT);
  assert.match(r.stdout, /unshare=1\nmount=32/, r.stderr);
  assert.match(r.stderr, /unshare: unshare failed: Operation not permitted/);
  assert.match(r.stderr, /mount: \/tmp: permission denied/);
});

test('setting the clock fails', { skip }, () => {
  // Sets the clock to the current second: harmless even if it went through (and bwrap's user namespace forbids it anyway).
  const r = sandbox(['sh', '-c', 'date -s "@$(date +%s)"'], DEFAULT);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /date: cannot set date: Operation not permitted/);
});

test('node serves HTTP, starts workers and spawns children under the default filter', { skip }, () => {
  const brief = sandbox(['node', '-e', "process.cwd(); require('http').createServer().listen(0, function(){ console.log('ok'); this.close(); })"], DEFAULT);
  assert.equal(brief.stdout, 'ok\n', brief.stderr);
  assert.equal(brief.status, 0);
  const more = sandbox(['node', '-e', `
    const { Worker } = require('worker_threads');
    const os = require('os');
    console.log('uname', os.release().length > 0);
    console.log('child', require('child_process').execFileSync('echo', ['hi']).toString().trim());
    new Worker('require("worker_threads").parentPort.postMessage(42)', { eval: true }).on('message', (m) => { console.log('worker', m); process.exit(0); });
  `], DEFAULT);
  assert.equal(more.stdout, 'uname true\nchild hi\nworker 42\n', more.stderr);
});

test('python runs; raw syscalls get exactly the verdicts the filter promises', { skip }, () => {
  const brief = sandbox(['python3', '-c', 'import os; print(os.getcwd())'], DEFAULT);
  assert.equal(brief.status, 0, brief.stderr);
  assert.equal(brief.stdout, `${process.cwd()}\n`);

  // Every call below would either be harmless or is refused before it runs; a child created by
  // mistake exits at once. The numbers come from niso's table, so this also checks them against the kernel.
  const script = `
import ctypes, errno, json, os, sys, threading
nr = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(name, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr[name]), *[ctypes.c_ulong(a) for a in args])
    if r == 0 and name in ('clone', 'clone3'):
        os._exit(0)
    if r > 0 and name in ('clone', 'clone3'):
        os.waitpid(r, 0)
    return 'ok' if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
uts = ctypes.create_string_buffer(512)
uring = ctypes.create_string_buffer(256)
cargs = (ctypes.c_uint64 * 11)(0x10000000, 0, 0, 0, 17)  # struct clone_args: flags = CLONE_NEWUSER, exit_signal = SIGCHLD
out = {
  'getpid': libc.syscall(ctypes.c_long(nr['getpid'])) == os.getpid(),
  'getppid': libc.syscall(ctypes.c_long(nr['getppid'])) == os.getppid(),
  'uname': sc('uname', ctypes.addressof(uts)),
  'clone_newuser': sc('clone', 0x10000000 | 17, 0, 0, 0, 0),
  'clone_newnet': sc('clone', 0x40000000 | 17, 0, 0, 0, 0),
  'clone3': sc('clone3', ctypes.addressof(cargs), 88),
  'unshare': sc('unshare', 0x10000000),
  'setns': sc('setns', 0, 0),
  'personality_query': sc('personality', 0xffffffff),
  'personality_no_aslr': sc('personality', 0x0040000),
  'io_uring_setup': sc('io_uring_setup', 1, ctypes.addressof(uring)),
  'settimeofday': sc('settimeofday', 0, 0),
  'mount': sc('mount', 0, 0, 0, 0, 0),
  'ptrace': sc('ptrace', 2, os.getppid(), 0, 0),  # PTRACE_PEEKDATA of a process not traced: ESRCH without the filter
  'bpf': sc('bpf', 0, 0, 0),
  'keyctl': sc('keyctl', 0, 0),
}
pid = os.fork()
if pid == 0:
    os._exit(7)
out['fork'] = os.waitpid(pid, 0)[1] >> 8
t = threading.Thread(target=lambda: out.__setitem__('thread', 'ok'))
t.start(); t.join()
print(json.dumps(out))
`;
  const probe = (program: Buffer): unknown => {
    const r = sandbox(['python3', '-c', script, JSON.stringify(SYSCALL_TABLES[arch])], program);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const expected = (err: string) => ({
    getpid: true, getppid: true, uname: 'ok', fork: 7, thread: 'ok',
    clone_newuser: err, clone_newnet: err, clone3: 'ENOSYS', unshare: err, setns: err,
    personality_query: 'ok', personality_no_aslr: err, io_uring_setup: err, settimeofday: err,
    mount: err, ptrace: err, bpf: err, keyctl: err,
  });
  assert.deepEqual(probe(DEFAULT), expected('EPERM'));
  // Several of these fail with EPERM in a user namespace anyway; an errno none of them returns shows that the filter decided.
  assert.deepEqual(probe(buildSeccompFilter({ arch, deny: DEFAULT_DENY, errno: 131 }).program), expected('ENOTRECOVERABLE'));
});

test('a custom deny-list and errno reach the process', { skip }, () => {
  const code = "try { process.cwd(); console.log('allowed') } catch (e) { console.log(e.code) }";
  const eperm = sandbox(['node', '-e', code], buildSeccompFilter({ arch, deny: ['getcwd'] }).program);
  assert.equal(eperm.stdout, 'EPERM\n', eperm.stderr);
  const eacces = sandbox(['node', '-e', code], buildSeccompFilter({ arch, deny: ['getcwd'], errno: 13 }).program);
  assert.equal(eacces.stdout, 'EACCES\n', eacces.stderr);
  const allowed = sandbox(['node', '-e', code], buildSeccompFilter({ arch, deny: [...DEFAULT_DENY, 'getcwd'], allow: ['getcwd'] }).program);
  assert.equal(allowed.stdout, 'allowed\n', allowed.stderr);
});

test('a deny-list of nearly every syscall still loads (long programs, far jumps)', { skip }, () => {
  const keep = new Set(['read', 'write', 'exit', 'exit_group', 'execve', 'brk', 'mmap', 'munmap', 'mprotect', 'arch_prctl', 'set_tid_address',
    'set_robust_list', 'rseq', 'prlimit64', 'getrandom', 'newfstatat', 'fstat', 'openat', 'close', 'pread64', 'access', 'faccessat', 'faccessat2',
    'readlinkat', 'uname', 'fcntl', 'rt_sigaction', 'rt_sigprocmask', 'sigaltstack', 'futex', 'lseek', 'ioctl', 'getuid', 'geteuid', 'getgid', 'getegid',
    // bwrap's own pid 1 runs under the filter too and waits for the command; sh needs vfork and rt_sigreturn.
    'wait4', 'waitid', 'kill', 'getpid', 'getppid', 'vfork', 'fork', 'dup2', 'rt_sigreturn']);
  const deny = Object.keys(SYSCALL_TABLES[arch]).filter((n) => !keep.has(n));
  const f = buildSeccompFilter({ arch, deny });
  assert.ok(f.instructions > 300);
  const r = sandbox(['/bin/echo', 'still here'], f.program);
  assert.equal(r.stdout, 'still here\n', r.stderr);
  const refused = sandbox(['sh', '-c', 'ls /; echo "ls=$?"'], f.program);
  assert.equal(refused.stdout, 'ls=2\n', refused.stderr);
  assert.match(refused.stderr, /ls: cannot access '\/': Operation not permitted/, 'statx is denied');
});
