// The one way a sandbox is started: `sh -c JOIN` (the cgroup and the open-files limit, as root) execs the rendered
// chain (nsenter, setpriv, bwrap), and niso hands bubblewrap its fds (--args, the environment, the seccomp filter,
// secrets) and reads its status. A service's start (service/launch.ts), a foreground run (run-sandbox.ts) and an init
// step (service/init-step.ts) differ only in where the output and the status go and in how they wait.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { NisoError } from '../errors/niso-error.js';
import { hostArch } from '../host/arch.js';
import type { Plan } from '../plan/plan.js';
import { renderBwrap, type BwrapCommand } from '../render/bwrap.js';
import { RenderError } from '../render/render-error.js';
import { buildSeccompFilter, DEFAULT_DENY } from '../render/seccomp.js';
import { followStatus, type BwrapStatus } from './bwrap-status.js';
import { SIGNAL_NUMBERS } from './signals.js';

// Joins the cgroup before exec'ing setpriv → bwrap, so everything started inherits it (v1 moves
// only the writing process), and sets the open-files limit (bwrap has no rlimit option; limits
// survive exec and the uid change). Arguments: NOFILE-or-"-", cgroup.procs paths, "--", command.
export const JOIN = 'n=$1; shift; if [ "$n" != - ]; then ulimit -n "$n" || exit 124; fi; while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

/** JOIN's own exit codes, before anything of the sandbox ran: the open-files limit, the cgroup. */
export const JOIN_NOFILE_FAILED = 124;
export const JOIN_CGROUP_FAILED = 125;

const HOST_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

/** The plan's seccomp filter as bubblewrap loads it, or null for a plan without one. */
export function compileSeccomp(plan: Plan): Buffer | null {
  return plan.seccomp ? buildSeccompFilter({ arch: hostArch() as 'x86_64' | 'aarch64', deny: DEFAULT_DENY, allow: plan.seccomp.allow }).program : null;
}

export function renderCommand(plan: Plan, seccomp: Buffer | null, dieWithParent: boolean): BwrapCommand {
  try {
    return renderBwrap(plan, { seccomp: seccomp !== null, dieWithParent });
  } catch (e) {
    if (e instanceof RenderError && plan.capabilities.length > 0) throw new NisoError('NISO3201', e.message, { exitCode: 2, hint: 'remove [isolation] capabilities; to listen on a port below 1024, listen on a high port and map it' });
    throw e;
  }
}

/**
 * What the starter writes into each fd it hands bubblewrap: the rendered content, the seccomp filter, or a secret's
 * bytes (secret/store.ts secretValues, read before the start). Checked before anything is spawned.
 */
export function fdContents(cmd: BwrapCommand, seccomp: Buffer | null, secrets: ReadonlyMap<string, Buffer>): (string | Buffer | null)[] {
  return cmd.fds.map((f) => {
    if (f.kind === 'status') return null;
    if (f.kind === 'seccomp') return seccomp;
    if (f.kind === 'secret') {
      const bytes = secrets.get(f.secret ?? '');
      if (bytes === undefined) throw new Error(`the bytes of secret ${f.secret} were not read before the start`);
      return bytes;
    }
    return f.content ?? '';
  });
}

export interface SandboxSpawn {
  cmd: BwrapCommand;
  /** fdContents(cmd, ...): what is written into each of cmd's fds. */
  contents: readonly (string | Buffer | null)[];
  /** The open-files limit set before the chain runs, or null for the host's. */
  nofile: number | null;
  /** The cgroup.procs files the chain joins before anything of the sandbox runs. */
  procsFiles: readonly string[];
  stdin: 'ignore' | 'inherit';
  /** niso's own, or an open file (a service's log). */
  stdout: 'inherit' | number;
  stderr: 'inherit' | number;
  /** Where bubblewrap reports: an open file (a service's status file, read by whoever comes next), or niso follows a pipe. */
  status: { file: number } | { follow: (status: BwrapStatus) => void };
}

/** How the chain's first process (JOIN's shell, which execs into the chain) ended; `error`: it could not be spawned. */
export interface ChainEnd { code: number | null; signal: NodeJS.Signals | null; error: Error | null }

export interface SpawnedSandbox {
  child: ChildProcess;
  ended: Promise<ChainEnd>;
}

/**
 * Spawns the sandbox in a process group of its own (detached): a terminal's Ctrl-C, sent to the whole foreground
 * group, then reaches only niso, which passes it on to the app; otherwise the outer bwrap would die of the signal and
 * take the app down before its handler ran. The fds' contents are written at once; a reader that went away is no error.
 */
export function spawnSandbox(s: SandboxSpawn): SpawnedSandbox {
  const statusFile = 'file' in s.status ? s.status.file : null;
  const stdio = [s.stdin, s.stdout, s.stderr, ...s.cmd.fds.map((f) => (f.kind === 'status' && statusFile !== null ? statusFile : 'pipe' as const))] as ('ignore' | 'inherit' | 'pipe' | number)[];
  const nofile = s.nofile === null ? '-' : String(s.nofile);
  const child = spawn('sh', ['-c', JOIN, 'sh', nofile, ...s.procsFiles, '--', ...s.cmd.argv], { stdio, detached: true, env: { PATH: HOST_PATH } });
  const ended = new Promise<ChainEnd>((res) => {
    child.on('error', (error) => res({ code: null, signal: null, error }));
    child.on('exit', (code, signal) => res({ code, signal, error: null }));
  });
  s.cmd.fds.forEach((f, i) => {
    const stream = child.stdio[3 + i] as (Writable & Readable) | null;
    if (!stream) return;
    stream.on('error', () => undefined);
    if (f.kind !== 'status') stream.end(s.contents[i]);
    else if ('follow' in s.status) followStatus(stream, s.status.follow);
  });
  return { child, ended };
}

/** The exit code of a sandbox: what bubblewrap reported for the app, else the chain's own, 128+N for signal N. */
export function exitCodeOf(fromStatus: number | null, end: Pick<ChainEnd, 'code' | 'signal'>): number {
  return fromStatus ?? end.code ?? (end.signal ? 128 + (SIGNAL_NUMBERS[end.signal] ?? 0) : 1);
}

/** The signal an exit code of 128+N stands for, if niso knows it. */
export function signalOfExitCode(exitCode: number): string | null {
  return exitCode > 128 && exitCode < 160 ? Object.entries(SIGNAL_NUMBERS).find(([, n]) => n === exitCode - 128)?.[0] ?? null : null;
}
