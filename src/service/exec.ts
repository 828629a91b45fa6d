// `niso exec SERVICE [-it] -- CMD...` and exec health checks: runs a command inside a running
// sandbox, in the app's namespaces, mount tree, uid, cgroup and seccomp filter (see renderBwrapJoin
// for how and why), with its exit code, signals and, with a TTY, a fresh pseudo-terminal.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { NisoError } from '../errors/niso-error.js';
import { missingTool, run } from '../host/exec.js';
import type { Plan } from '../plan/plan.js';
import { renderBwrap, renderBwrapJoin, shellQuote, type JoinHostFacts } from '../render/bwrap.js';
import { RenderError } from '../render/render-error.js';
import { isLoaderPath, parseLddOutput } from '../runtime/ldd-output.js';
// The same first step as the app's: join the cgroup and set the open-files limit, as root.
import { compileSeccomp, JOIN } from '../sandbox/spawn.js';
import { SIGNAL_NUMBERS } from '../sandbox/signals.js';
import { findCommand } from './exec-resolve.js';
import { followStatus } from '../sandbox/bwrap-status.js';

export interface ExecInServiceOptions {
  plan: Plan;
  /** Host pid of the sandbox's init (bubblewrap's pid 1 inside; runSandbox's onStart). Ignored for an unsandboxed plan. */
  initPid: number;
  /** Host pid of the app, the child of init; found from initPid when left out. Required for an unsandboxed plan (no init). */
  appPid?: number;
  /** The cgroup.procs files of the service's cgroup; the app's own cgroups when left out. */
  cgroupProcsFiles?: string[];
  argv: string[];
  /** A fresh pseudo-terminal for the command (`-t`). */
  tty?: boolean;
  /** Pass niso's stdin on (`-i`); otherwise the command reads /dev/null. */
  interactive?: boolean;
  /** Added to (and overriding) the plan's environment. */
  env?: Record<string, string>;
  /** Kill the command (and what it started in its process group) after this long. */
  timeoutMs?: number;
  /** inherit: niso's own stdio (the CLI); pipe: stdout and stderr are collected into `output` (health checks). */
  stdio?: 'inherit' | 'pipe';
  /** The compiled seccomp filter; built from the plan (as `niso run` does) when left out. */
  seccomp?: Buffer | null;
  /** Forward SIGINT, SIGTERM, SIGHUP, ... that niso receives to the command; default: with stdio inherit. */
  forwardSignals?: boolean;
  /** pipe: how much of the output to keep, in characters (the end of it). Default 65536. */
  maxOutputBytes?: number;
}

export interface ExecInServiceResult {
  /** The command's exit code; 128+N when signal N ended it. */
  exitCode: number;
  /** The signal that ended the command, if any (SIGKILL after a timeout). */
  signal: string | null;
  timedOut: boolean;
  /** stdio pipe: stdout and stderr as they came, at most maxOutputBytes characters (the end). */
  output?: string;
  /** Milliseconds from the call until bubblewrap reported the command's process. */
  startMs: number | null;
}

const HOST_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

// With a TTY, this shell is the session leader on script's fresh pty. Job control (set -m) runs
// the command's chain in a background process group, so keys that raise signals (^C, ^\) and
// window-size changes reach only this shell, which hands them to niso ($1); niso forwards them to
// the command, which runs in a session of its own (bwrap --new-session) and so never holds a
// terminal that another session controls.
const PTY_SESSION = 'set -m; n=$1; shift; for s in INT QUIT WINCH; do trap "kill -$s $n 2>/dev/null" $s; done; "$@" & c=$!; wait $c; r=$?; while kill -0 $c 2>/dev/null; do wait $c; r=$?; done; exit $r';

// Ends the command if niso dies, even by SIGKILL: it reads the command's pid, then waits for the
// pipe from niso to close, and kills the command's process group (the command leads one: bwrap
// --new-session). bwrap's --die-with-parent cannot do this here: its monitor runs as root without
// capabilities while the command runs as the service's uid, and the kernel drops a parent-death
// signal the dying parent would not be allowed to send (verified). niso kills this shell itself
// when the command ends normally.
const WATCHDOG = 'read p || exit 0; while read x; do :; done; kill -KILL -"$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

interface ProcStat { ppid: number; startTime: string }

function procStat(pid: number): ProcStat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The name in parentheses may hold blanks and parentheses itself.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), startTime: f[19]! };
  } catch { return null; }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try { tasks = readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const t of tasks) {
    try { for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c)); } catch { /* gone */ }
  }
  return out;
}

/** The host pid of the descendant of `root` whose innermost pid is `nsPid` (bwrap reports that one). */
function hostPidOf(root: number, nsPid: number): number | null {
  const queue = childrenOf(root);
  for (let seen = 0; queue.length > 0 && seen < 64; seen++) {
    const p = queue.shift()!;
    try {
      const ids = /^NSpid:\s+(.+)$/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1]?.trim().split(/\s+/) ?? [];
      if (ids.length > 1 && Number(ids[ids.length - 1]) === nsPid) return p;
    } catch { continue; }
    queue.push(...childrenOf(p));
  }
  return null;
}

function onHostPath(tool: string): string {
  for (const d of HOST_PATH.split(':')) if (existsSync(`${d}/${tool}`)) return `${d}/${tool}`;
  throw missingTool(tool);
}

let tools: Promise<JoinHostFacts['bwrap']> | null = null;

/** bwrap, its loader and its libraries as real paths, asked once per process (ldd runs the real loader). */
function bwrapFiles(): Promise<JoinHostFacts['bwrap']> {
  tools ??= (async () => {
    const binary = realpathSync(onHostPath('bwrap'));
    const r = await run('ldd', [binary], { env: { PATH: HOST_PATH, LC_ALL: 'C' } });
    const [report] = parseLddOutput(r.stdout, [binary]);
    if (!report || !report.dynamic) return { binary, loader: null, libraries: [] };
    const missing = report.libraries.filter((l) => l.path === null).map((l) => l.name);
    if (missing.length > 0) throw new NisoError('NISO2901', `bwrap cannot load ${missing.join(', ')}`, { hint: 'reinstall bubblewrap: apt-get install --reinstall bubblewrap' });
    const paths = report.libraries.map((l) => realpathSync(l.path!));
    const loader = paths.find((p, i) => isLoaderPath(report.libraries[i]!.path!)) ?? null;
    if (loader === null) throw new NisoError('NISO2901', `ldd names no loader for ${binary}`, { hint: 'reinstall bubblewrap: apt-get install --reinstall bubblewrap' });
    return { binary, loader, libraries: paths.filter((p) => p !== loader) };
  })();
  tools.catch(() => { tools = null; });
  return tools;
}

/** The app's own niso cgroups (paths in /proc/PID/cgroup are relative to our cgroup namespace: the host's). */
function appCgroupProcs(appPid: number): string[] {
  const files: string[] = [];
  let text: string;
  try { text = readFileSync(`/proc/${appPid}/cgroup`, 'utf8'); } catch { return files; }
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.+)$/.exec(line);
    if (!m || !m[3]!.includes('/niso/')) continue;
    const base = m[1] === '0' && m[2] === '' ? '/sys/fs/cgroup' : `/sys/fs/cgroup/${m[2]!.replace(/^name=/, '')}`;
    const f = `${base}${m[3]}/cgroup.procs`;
    if (existsSync(f)) files.push(f);
  }
  return files;
}

function notRunning(plan: Plan, why: string): NisoError {
  return new NisoError('NISO3303', `service ${plan.service} is not running: ${why}`, { hint: `\`niso status ${plan.service}\` shows its state` });
}

/** Runs `argv` inside the running sandbox of `plan`; resolves when the command has ended. */
export async function execInService(opts: ExecInServiceOptions): Promise<ExecInServiceResult> {
  const t0 = performance.now();
  const { plan } = opts;
  if (opts.argv.length === 0 || opts.argv[0] === '') throw new NisoError('NISO3311', 'no command given', { exitCode: 2, hint: `write the command after --, e.g. \`niso exec ${plan.service} -- node -e "..."\`` });
  for (const k of Object.keys(opts.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new NisoError('NISO9001', `"${k}" is not a valid environment variable name`, { exitCode: 2, hint: 'write NAME=value' });
  }
  const tty = opts.tty === true;
  const stdioMode = opts.stdio ?? 'inherit';
  const env: Record<string, string> = { ...opts.env };
  // As `docker exec -t` does: full-screen programs need a terminal type; the plan's or caller's wins.
  if (tty && env.TERM === undefined && plan.command.env.TERM === undefined) env.TERM = 'xterm';

  // The app is the process whose namespaces are joined: it must be init's child, and the same
  // process before and after its namespaces are opened (pids are reused).
  const sandboxed = !(plan.mounts.length === 0 && !plan.namespaces.mount);
  const appPid = opts.appPid ?? (sandboxed ? childrenOf(opts.initPid)[0] : undefined);
  if (appPid === undefined) throw notRunning(plan, sandboxed ? `no app process under the sandbox's init (pid ${opts.initPid})` : 'no app pid given');
  const before = procStat(appPid);
  if (before === null || (sandboxed && before.ppid !== opts.initPid)) throw notRunning(plan, `pid ${appPid} is not the app of the sandbox whose init is pid ${opts.initPid}`);

  const merged = { ...plan.command.env, ...env };
  const lookup = findCommand(`/proc/${appPid}/root`, opts.argv[0]!, { path: merged.PATH ?? '/usr/local/bin:/usr/bin:/bin', cwd: plan.command.cwd, uid: plan.user.uid, gid: plan.user.gid });
  if (!lookup.found) {
    throw new NisoError('NISO3311', `cannot run ${opts.argv[0]} in service ${plan.service}: ${lookup.detail}`, {
      hint: `the sandbox holds only the app, its runtime and what the plan mounts; run a program from the app or the runtime, e.g. \`niso exec ${plan.service} -- ${plan.command.argv[0] ?? 'node'} ...\``,
    });
  }

  // Missing host tools are named here rather than failing half-way through the chain.
  for (const t of ['setpriv', ...(sandboxed ? ['nsenter'] : []), ...(tty ? ['script'] : [])]) onHostPath(t);
  const procsFiles = opts.cgroupProcsFiles ?? appCgroupProcs(appPid);
  const nofile = plan.limits.nofile === null ? '-' : String(plan.limits.nofile);
  const pinned: number[] = [];
  let chain: string[];
  // `pass`: an fd of niso's that the child gets at that position, instead of a pipe.
  let fds: { kind: 'userns' | 'args' | 'env' | 'seccomp' | 'status'; content: string | null; pass?: number }[];
  let seccomp: Buffer | null = null;
  try {
    if (sandboxed) {
      // Opened here and named to nsenter as /proc/<niso>/fd/N: pinned to this app, and never
      // inherited (node opens with O_CLOEXEC), so the command holds none of them.
      const ns: Record<string, string> = {};
      for (const n of ['pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup', 'user']) {
        const fd = openSync(`/proc/${appPid}/ns/${n}`, 'r');
        pinned.push(fd);
        ns[n] = `/proc/${process.pid}/fd/${fd}`;
      }
      const after = procStat(appPid);
      if (after === null || after.startTime !== before.startTime) throw notRunning(plan, `the app (pid ${appPid}) ended`);
      seccomp = opts.seccomp !== undefined ? opts.seccomp
        : compileSeccomp(plan);
      const cmd = renderBwrapJoin(plan, {
        argv: opts.argv, env, seccomp: seccomp !== null,
        host: { namespaces: { pid: ns.pid!, mnt: ns.mnt!, net: ns.net!, ipc: ns.ipc!, uts: ns.uts!, cgroup: ns.cgroup! }, bwrap: await bwrapFiles() },
      });
      chain = cmd.argv;
      fds = cmd.fds.map((f) => (f.kind === 'userns' ? { kind: f.kind, content: null, pass: pinned[pinned.length - 1]! } : { kind: f.kind, content: f.content }));
    } else {
      // The unsandboxed preset runs on the host as the service's user: the same again, like `niso run`.
      const cmd = renderBwrap({ ...plan, command: { ...plan.command, argv: opts.argv, env: merged } }, { seccomp: false, dieWithParent: false });
      chain = cmd.argv;
      // Unsandboxed, the environment is the chain's only fd.
      fds = cmd.fds.map((f) => ({ kind: 'env' as const, content: f.content }));
    }
  } catch (e) {
    for (const fd of pinned) closeSync(fd);
    if (e instanceof RenderError) throw new NisoError('NISO3311', `cannot run a command in service ${plan.service}: ${e.message}`);
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') throw notRunning(plan, `the app (pid ${appPid}) ended`);
    throw e;
  }

  const joined = ['sh', '-c', JOIN, 'sh', nofile, ...procsFiles, '--', ...chain];
  const extra = fds.map((f) => (f.pass !== undefined ? f.pass : 'pipe' as const));
  const stdin = opts.interactive ? 'inherit' : 'ignore';
  const out = stdioMode === 'pipe' ? 'pipe' : 'inherit';
  let child: ChildProcess;
  try {
    child = tty
      // script(1) holds the pty outside the sandbox: the command never gets niso's own terminal.
      ? spawn('script', ['-q', '-e', '-c', shellQuote(['sh', '-c', PTY_SESSION, 'sh', String(process.pid), ...joined]), '/dev/null'],
        { stdio: [stdin, out, out, ...extra], env: { PATH: HOST_PATH, SHELL: '/bin/sh' } })
      // A process group of its own: a terminal's ^C reaches niso, which forwards it to the command.
      : spawn(joined[0]!, joined.slice(1), { stdio: [stdin, out, out, ...extra], env: { PATH: HOST_PATH }, detached: true });
  } catch (e) {
    for (const fd of pinned) closeSync(fd);
    throw e;
  }
  // nsenter opens the namespaces by these fds' /proc links after it starts: they stay open until
  // bwrap reports the command (nsenter has long entered them then) or the chain has ended.
  let unpinned = false;
  const unpin = () => { if (unpinned) return; unpinned = true; for (const fd of pinned) closeSync(fd); };

  let output = '';
  const maxOut = opts.maxOutputBytes ?? 65_536;
  const collect = (d: string) => { output += d; if (output.length > maxOut * 2) output = output.slice(-maxOut); };
  child.stdout?.setEncoding('utf8').on('data', collect);
  child.stderr?.setEncoding('utf8').on('data', collect);

  let nsPid: number | null = null;
  let startMs: number | null = null;
  let exitFromStatus: number | null = null;
  fds.forEach((f, i) => {
    if (f.pass !== undefined) return;
    const s = child.stdio[3 + i] as (Writable & Readable) | null;
    if (!s) return;
    s.on('error', () => undefined);
    if (f.kind === 'args' || f.kind === 'env') s.end(f.content ?? '');
    else if (f.kind === 'seccomp') s.end(seccomp);
    else if (f.kind === 'status') {
      followStatus(s, (st) => {
        if (st.childPid !== undefined) { nsPid = st.childPid; startMs = performance.now() - t0; unpin(); guard(); }
        if (st.exitCode !== undefined) exitFromStatus = st.exitCode;
      });
    }
  });

  // The command's host pid: found when first needed (bwrap reports the pid inside the sandbox).
  let hostPid: number | null = null;
  const commandPid = (): number | null => {
    // Unsandboxed, the chain execs into the command: it is the spawned process, or with a TTY
    // the one process the pty's session shell started (script → shell → command).
    if (!sandboxed) return tty ? (childrenOf(childrenOf(child.pid ?? -1)[0] ?? -1)[0] ?? null) : child.pid ?? null;
    if (hostPid === null && nsPid !== null && child.pid !== undefined) hostPid = hostPidOf(child.pid, nsPid);
    return hostPid;
  };
  let watchdog: ChildProcess | null = null;
  const guard = () => {
    if (watchdog !== null) return;
    const p = commandPid();
    if (p === null) return;
    watchdog = spawn('sh', ['-c', WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'], detached: true, env: { PATH: HOST_PATH } });
    watchdog.on('error', () => undefined);
    watchdog.stdin!.on('error', () => undefined);
    watchdog.stdin!.write(`${p}\n`);
    watchdog.unref();
  };
  // Unsandboxed with a TTY the command appears a moment after script starts.
  const polling = !sandboxed ? setInterval(() => { guard(); if (watchdog) clearInterval(polling!); }, 20) : null;
  const killAll = () => {
    const p = commandPid();
    // The command leads its own process group (--new-session): take what it started with it.
    if (p !== null) { try { process.kill(-p, 'SIGKILL'); } catch { /* gone */ } try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    // Without a command yet, ending the chain ends bwrap (setpriv --pdeathsig, --die-with-parent).
    child.kill('SIGKILL');
  };
  const forward = (sig: NodeJS.Signals) => {
    const p = commandPid();
    if (p !== null) { try { process.kill(p, sig); } catch { /* ended */ } } else if (sig !== 'SIGWINCH') killAll();
  };
  // With a TTY the pty's session shell reports ^C and resizes to niso as signals, so they are
  // forwarded whatever the caller chose.
  const forwardAll = opts.forwardSignals ?? stdioMode === 'inherit';
  const signals: NodeJS.Signals[] = forwardAll ? FORWARDED : tty ? ['SIGINT', 'SIGQUIT', 'SIGWINCH'] : [];
  for (const s of signals) process.on(s, forward);

  let timedOut = false;
  const timer = opts.timeoutMs !== undefined ? setTimeout(() => { timedOut = true; killAll(); }, opts.timeoutMs) : null;

  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
    child.on('error', (e: NodeJS.ErrnoException) => rej(e.code === 'ENOENT' ? missingTool(tty ? 'script' : 'sh', e) : e));
    child.on('close', (c, s) => res({ code: c, signal: s }));
  }).finally(() => {
    unpin();
    if (polling) clearInterval(polling);
    // Not needed any more; its end must not kill a reused pid.
    (watchdog as ChildProcess | null)?.kill('SIGKILL');
    for (const s of signals) process.off(s, forward);
    if (timer) clearTimeout(timer);
  });

  if (sandboxed && nsPid === null && !timedOut) {
    if (code === 124) throw new NisoError('NISO3205', `could not set the open-files limit to ${plan.limits.nofile}`, { hint: 'the hard limit of this host may be lower; choose a smaller [resources] nofile' });
    if (code === 125) throw new NisoError('NISO3202', `could not put the command into the cgroup of service ${plan.service} (${procsFiles.join(', ')})`, { hint: 'check that the service still runs and that the cgroup filesystem is writable' });
    const said = output.trim().split('\n').slice(-3).join('\n');
    throw new NisoError('NISO3311', `could not start ${opts.argv[0]} inside service ${plan.service} (exit ${code ?? signal})${said ? `:\n${said}` : ''}`, {
      hint: `\`niso status ${plan.service}\` shows whether it still runs`,
    });
  }
  const exitCode = exitFromStatus ?? code ?? (signal ? 128 + (SIGNAL_NUMBERS[signal] ?? 0) : 1);
  const bySignal = exitCode > 128 && exitCode < 160 ? Object.entries(SIGNAL_NUMBERS).find(([, n]) => n === exitCode - 128)?.[0] ?? null : null;
  return { exitCode, signal: bySignal, timedOut, ...(stdioMode === 'pipe' ? { output: output.length > maxOut ? output.slice(-maxOut) : output } : {}), startMs };
}
