// Boots a real systemd 252 in systemd-nspawn, the way PLATFORM.md §4 verified it, so that the systemd backend can be
// tested on hosts where systemd is not PID 1. Each machine has its own name, cgroup and directories, so tests can
// boot several at once.
//
// The recipe: the host's own root with --volatile=yes (a tmpfs root and /etc, the host's /usr read-only), started
// from a cgroup of its own in every v1 hierarchy (nspawn with --keep-unit and no host systemd puts payload/ and
// supervisor/ under the launching process's cgroup), a preset dir that disables every unit but journald, dbus
// and logind (first boot would enable all of Debian's), systemd-firstboot masked (it fails without a console),
// and a host dir on /etc/systemd/system.attached for the units. CAP_NET_ADMIN lets PrivateNetwork= bring up lo.
// niso's uid registry is the host's own (bound in), as uids are one kernel's; so are the loop devices that state images
// are mounted through.
// Options: a network namespace of the machine's own (to build networks in), and /etc/systemd/system plus
// /etc/sysusers.d from host dirs, so that a second machine booted with them is the first one after a reboot.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, realpathSync, rmSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { HOST_REGISTRY } from '../../src/sandbox/uids.js';
import { HOST_NET_LOCK } from '../../src/net/host/state-files.js';

const UID_REGISTRY = HOST_REGISTRY.dir;

export interface Exec { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs a command without blocking the event loop; killed after the timeout. */
export function exec(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    // Killed at its timeout, nsenter is gone, but what it started inside a machine may live on with the output pipes
    // open, so 'close' would wait for it: its end is the answer then.
    child.on('exit', (code, signal) => { if (timedOut) resolve({ code, signal, stdout, stderr }); });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The v1 hierarchies (and the unified one) the machine's cgroup is made in; PLATFORM.md §0 lists this host's. */
const HIERARCHIES = ['memory', 'pids', 'cpu', 'cpuacct', 'systemd', 'unified'];
/** Controllers that nspawn mounts read-only inside; made writable on request so MemoryMax= and friends apply. */
const LIMIT_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct'];

export interface MachineOptions {
  /** Host directories bound writable at the same path inside (store, state, generated files). */
  binds?: string[];
  /** Host paths bound read-only at the same path (e.g. /etc/ssl, which the volatile /etc lacks). */
  bindsRo?: string[];
  /** Make the v1 memory/pids/cpu controllers writable inside (remount + daemon-reexec, ~0.25 s; PLATFORM.md §4). */
  limits?: boolean;
  /**
   * A network namespace of the machine's own (--private-network: only lo), so that what runs inside may create
   * namespaces, bridges and nft tables without touching the host's network; its /run/netns is its own too.
   */
  privateNetwork?: boolean;
  /**
   * A host dir whose `systemd/` and `sysusers.d/` are bound onto /etc/systemd/system and /etc/sysusers.d (created
   * if missing), so that units and users that were written or enabled inside outlive the machine: a second machine
   * booted with the same dir starts them (the volatile root's /etc is otherwise a fresh tmpfs at every boot).
   */
  persistentEtc?: string;
  bootTimeoutMs?: number;
}

export interface Machine {
  name: string;
  /** The machine's own temp dir: units/, preset/, boot.log. */
  dir: string;
  /** Host dir bound onto /etc/systemd/system.attached (units put here survive a machine restart). */
  unitsDir: string;
  /** Name of the machine's cgroup in each hierarchy. */
  cgroup: string;
  nspawnPid: number;
  /** Host pid of the machine's systemd (its PID 1). */
  systemdPid: number;
  /** From starting nspawn until `systemctl is-system-running` answered "running". */
  bootMs: number;
  /** Runs a command inside the machine: every namespace of its PID 1 (nsenter -a). */
  run(cmd: string, args: string[], opts?: { timeoutMs?: number; input?: string }): Promise<Exec>;
  /** Like run, but fails with the output when the command does. */
  ok(cmd: string, args: string[], opts?: { timeoutMs?: number; input?: string }): Promise<string>;
  systemctl(...args: string[]): Promise<Exec>;
  journalctl(...args: string[]): Promise<Exec>;
  /** Writes a unit into the attached dir and reloads systemd. */
  installUnits(units: { name: string; text: string }[]): Promise<void>;
  /** A unit property (`systemctl show -p NAME --value`). */
  show(unit: string, property: string): Promise<string>;
  /**
   * A temp dir inside the machine (on its own tmpfs /tmp) for what runs there. The uid claims of NISO_ROOTs below it
   * are written into the host's registry but their roots vanish with the machine: shutdown gives them back.
   */
  scratch: string;
  /**
   * SIGTERM to nspawn (a clean poweroff), SIGKILL to everything in its cgroup on timeout, then the cgroups go.
   * `powerLoss`: SIGKILL to everything at once, nothing told (what the machine's files look like after a power cut).
   */
  shutdown(timeoutMs?: number, opts?: { powerLoss?: boolean }): Promise<{ clean: boolean; ms: number; log: string }>;
}

function childrenOf(pid: number): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // comm may hold blanks and parentheses: the fields after it start at the last ')'.
      const close = stat.lastIndexOf(')');
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (ppid === pid) out.push({ pid: Number(name), comm: stat.slice(stat.indexOf('(') + 1, close) });
    } catch { /* exited */ }
  }
  return out;
}

function cgroupProcs(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string) => {
    try { for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l) pids.push(Number(l)); } catch { /* gone */ }
    let entries: string[] = [];
    try { entries = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { /* gone */ }
    for (const e of entries) walk(join(d, e));
  };
  walk(dir);
  return pids;
}

/**
 * The host registry's uid claims of NISO_ROOTs below `dir`, a path that exists only inside a machine that is gone
 * (a suite cut short there never gave them back). Only claims naming such a root are removed.
 */
function releaseClaimsBelow(dir: string): void {
  let names: string[];
  try { names = readdirSync(UID_REGISTRY).filter((n) => /^\d+$/.test(n)); } catch { return; }
  for (const n of names) {
    try {
      const claim = JSON.parse(readFileSync(join(UID_REGISTRY, n), 'utf8')) as { root?: unknown };
      if (typeof claim.root === 'string' && claim.root.startsWith(`${dir}/`)) unlinkSync(join(UID_REGISTRY, n));
    } catch { /* gone meanwhile, or not a claim */ }
  }
}

/** rmdir depth-first; a cgroup directory goes only once it and its children are empty. */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  try { rmdirSync(dir); } catch { /* still busy: left for the next run to see */ }
}

/**
 * The read-only binds, plus the target of a bound checkout's node_modules where that is a symlink out of it (a git
 * worktree sharing another checkout's): inside the machine only what is bound exists.
 */
function readOnlyBinds(binds: readonly string[]): string[] {
  const out = [...binds];
  for (const b of binds) {
    const nm = join(b, 'node_modules');
    if (!lstatSync(nm, { throwIfNoEntry: false })?.isSymbolicLink()) continue;
    const target = realpathSync(nm);
    if (!out.includes(target) && !target.startsWith(b + '/')) out.push(target);
  }
  return out;
}

export async function bootMachine(opts: MachineOptions = {}): Promise<Machine> {
  const id = randomBytes(4).toString('hex');
  const name = `niso-test-${id}`;
  const cgroup = `niso-test-${id}`;
  const dir = mkdtempSync(join(tmpdir(), `niso-machine-${id}-`));
  const unitsDir = join(dir, 'units');
  const presetDir = join(dir, 'preset');
  mkdirSync(unitsDir);
  mkdirSync(presetDir);
  writeFileSync(join(presetDir, '99-niso-test.preset'), 'enable systemd-journald.service\nenable dbus.service\nenable systemd-logind.service\ndisable *\n');
  symlinkSync('/dev/null', join(unitsDir, 'systemd-firstboot.service'));
  // nspawn's /dev has no block devices, and no devtmpfs makes the loop device nodes that util-linux opens after
  // asking /dev/loop-control for a free one (for the ext4 images that bound services' /state). A unit makes them
  // early at boot, before mount units run (which order after local-fs-pre.target); 256 mknod(1) calls took 4 s here.
  if (existsSync('/dev/loop-control')) {
    writeFileSync(join(unitsDir, 'niso-test-loop-nodes.py'), 'import os, stat\nfor i in range(256):\n    p = f"/dev/loop{i}"\n    if not os.path.exists(p):\n        os.mknod(p, 0o660 | stat.S_IFBLK, os.makedev(7, i))\n');
    writeFileSync(join(unitsDir, 'niso-test-loop-nodes.service'), '[Unit]\nDescription=loop device nodes, as devtmpfs gives a host\nDefaultDependencies=no\nBefore=local-fs-pre.target\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/bin/python3 /etc/systemd/system.attached/niso-test-loop-nodes.py\n');
    mkdirSync(join(unitsDir, 'local-fs-pre.target.wants'));
    symlinkSync('../niso-test-loop-nodes.service', join(unitsDir, 'local-fs-pre.target.wants/niso-test-loop-nodes.service'));
  }
  for (const h of HIERARCHIES) mkdirSync(`/sys/fs/cgroup/${h}/${cgroup}`, { recursive: true });
  const persistent: string[] = [];
  if (opts.persistentEtc !== undefined) {
    for (const [sub, inside] of [['systemd', '/etc/systemd/system'], ['sysusers.d', '/etc/sysusers.d']] as const) {
      mkdirSync(join(opts.persistentEtc, sub), { recursive: true, mode: 0o755 });
      persistent.push(`--bind=${join(opts.persistentEtc, sub).replace(/:/g, '\\:')}:${inside}`);
    }
  }

  // niso's uid registry is host-wide (one kernel, one set of uids): the machine writes its claims into the host's.
  mkdirSync(dirname(UID_REGISTRY), { recursive: true, mode: 0o755 });
  mkdirSync(UID_REGISTRY, { recursive: true, mode: 0o700 });
  // A machine on the host's network makes its bridges among the host's: it takes the host's network lock, whose
  // directory is bound in (niso's lock in a machine of its own network is the machine's own).
  if (!opts.privateNetwork) mkdirSync(dirname(HOST_NET_LOCK), { recursive: true, mode: 0o755 });
  const args = [
    '--directory=/', '--volatile=yes', `--machine=${name}`, '--register=no', '--keep-unit', '-b', '--console=pipe',
    `--bind=${UID_REGISTRY}`,
    ...(opts.privateNetwork ? [] : [`--bind=${dirname(HOST_NET_LOCK)}`]),
    // Loop devices, for the ext4 images that bound services' /state (their nodes: niso-test-loop-nodes.service).
    ...(existsSync('/dev/loop-control') ? ['--bind=/dev/loop-control'] : []),
    `--bind-ro=${presetDir}:/etc/systemd/system-preset`, `--bind=${unitsDir}:/etc/systemd/system.attached`,
    '--capability=CAP_NET_ADMIN',
    ...(opts.privateNetwork ? ['--private-network'] : []),
    ...persistent,
    ...(opts.binds ?? []).map((b) => `--bind=${b}`),
    ...readOnlyBinds(opts.bindsRo ?? []).map((b) => `--bind-ro=${b}`),
  ];
  // The shell joins the machine's cgroups and becomes nspawn; setpriv makes nspawn power the machine off
  // (SIGTERM) if this test process dies without shutting it down.
  const join_ = `for c in ${HIERARCHIES.join(' ')}; do echo $$ > /sys/fs/cgroup/$c/${cgroup}/cgroup.procs || exit 125; done; exec setpriv --pdeathsig SIGTERM -- systemd-nspawn "$@"`;
  const log = openSync(join(dir, 'boot.log'), 'w');
  const t0 = performance.now();
  const nspawn: ChildProcess = spawn('sh', ['-c', join_, 'sh', ...args], { stdio: ['ignore', log, log] });
  closeSync(log);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitedP = new Promise<void>((r) => nspawn.on('exit', (code, signal) => { exited = { code, signal }; r(); }));
  const nspawnPid = nspawn.pid!;
  const bootLog = () => { try { return readFileSync(join(dir, 'boot.log'), 'utf8').split('\n').slice(-30).join('\n'); } catch { return ''; } };

  let systemdPid = 0;
  const run = (cmd: string, a: string[], o: { timeoutMs?: number; input?: string } = {}) => exec('nsenter', ['-t', String(systemdPid), '-a', cmd, ...a], o);
  const ok = async (cmd: string, a: string[], o: { timeoutMs?: number; input?: string } = {}) => {
    const r = await run(cmd, a, o);
    if (r.code !== 0) throw new Error(`${cmd} ${a.join(' ')} in ${name} failed (${r.code ?? r.signal}):\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const scratch = `/tmp/${name}`;
  const cleanupCgroups = () => { for (const h of HIERARCHIES) removeCgroupTree(`/sys/fs/cgroup/${h}/${cgroup}`); };

  // A clean poweroff takes a second or two when quiet; the bound leaves room for a machine busy beside other files.
  const shutdown = async (timeoutMs = 30_000, sopts: { powerLoss?: boolean } = {}) => {
    const s0 = performance.now();
    if (sopts.powerLoss && exited === null) {
      for (const p of [...cgroupProcs(`/sys/fs/cgroup/systemd/${cgroup}`), nspawnPid]) { try { process.kill(p, 'SIGKILL'); } catch { /* exited */ } }
    } else if (exited === null) {
      try { process.kill(nspawnPid, 'SIGTERM'); } catch { /* gone */ }
      await Promise.race([exitedP, sleep(timeoutMs)]);
    }
    // nspawn exits 0 once the machine's systemd has powered off.
    const clean = (exited as { code: number | null } | null)?.code === 0;
    if (!clean) {
      for (let i = 0; i < 50; i++) {
        const left = cgroupProcs(`/sys/fs/cgroup/systemd/${cgroup}`);
        if (left.length === 0) break;
        for (const p of left) { try { process.kill(p, 'SIGKILL'); } catch { /* exited */ } }
        await sleep(20);
      }
      await Promise.race([exitedP, sleep(2000)]);
    }
    cleanupCgroups();
    releaseClaimsBelow(scratch);
    const tail = bootLog();
    rmSync(dir, { recursive: true, force: true });
    return { clean, ms: performance.now() - s0, log: tail };
  };

  try {
    // Generous: several machines may boot at once beside other test files (a quiet boot takes a few seconds).
    const deadline = t0 + (opts.bootTimeoutMs ?? 60_000);
    let state = '';
    for (;;) {
      if (exited !== null) throw new Error(`systemd-nspawn exited (${JSON.stringify(exited)}) during boot:\n${bootLog()}`);
      if (performance.now() > deadline) throw new Error(`${name} did not reach "running" (last: ${state || 'no answer'}):\n${bootLog()}`);
      if (systemdPid === 0) systemdPid = childrenOf(nspawnPid).find((c) => c.comm === 'systemd')?.pid ?? 0;
      if (systemdPid !== 0) {
        const r = await run('systemctl', ['is-system-running'], { timeoutMs: 5000 });
        state = r.stdout.trim();
        if (state === 'running') break;
        if (state === 'degraded') {
          const failed = await run('systemctl', ['--failed', '--no-legend', '--plain']);
          throw new Error(`${name} booted degraded; failed units:\n${failed.stdout}`);
        }
      }
      await sleep(25);
    }
    const bootMs = performance.now() - t0;
    if (opts.limits) {
      for (const c of LIMIT_CONTROLLERS) {
        const r = await exec('nsenter', ['-t', String(systemdPid), '-m', 'mount', '-o', 'remount,bind,rw', `/sys/fs/cgroup/${c}`]);
        if (r.code !== 0) throw new Error(`could not make /sys/fs/cgroup/${c} writable in ${name}: ${r.stderr}`);
      }
      await ok('systemctl', ['daemon-reexec']);
    }
    const machine: Machine = {
      name, dir, unitsDir, cgroup, nspawnPid, systemdPid, bootMs, scratch, run, ok,
      systemctl: (...a) => run('systemctl', a),
      journalctl: (...a) => run('journalctl', ['--no-pager', ...a]),
      installUnits: async (units) => {
        for (const u of units) writeFileSync(join(unitsDir, u.name), u.text);
        await ok('systemctl', ['daemon-reload']);
      },
      show: async (unit, property) => (await ok('systemctl', ['show', '-p', property, '--value', unit])).trim(),
      shutdown,
    };
    return machine;
  } catch (e) {
    await shutdown(5000).catch(() => undefined);
    throw e;
  }
}
