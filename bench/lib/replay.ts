// Replays the exact setpriv+bwrap argv that `niso run --json NAME` prints, with the same extra fds
// (3 = seccomp program, 4 = json status, 5.. = --ro-bind-data contents, then the environment), but without niso:
// the fds are regular files opened before the clock starts, not pipes, which bwrap reads the same way.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Plan } from '../../src/plan/plan.js';

export interface RunJsonFd { fd: number; kind: 'seccomp' | 'status' | 'file' | 'env'; content: string | null }

/** The parts of `niso run --json` this bench reads. */
export interface RunJson {
  plan: Plan;
  command: string[];
  fds: RunJsonFd[];
}

export interface Replay {
  argv: string[];
  /** Per fd from 3 upwards: the file to open, how, or null to leave the fd closed. */
  fds: ({ path: string; flags: 'r' | 'w' } | null)[];
  statusFile: string;
  seccomp: boolean;
}

/**
 * `niso run --json` shows the values of the manifest's and the command line's variables as <hidden> (they may be
 * secrets); a replay needs the real ones, which the bench knows: `known` (the --env it passed, the manifest's [env]).
 */
export function revealEnv(j: RunJson, known: Record<string, string>): RunJson {
  const reveal = (k: string, v: string) => (v === HIDDEN && known[k] !== undefined ? known[k] : v);
  const env = Object.fromEntries(Object.entries(j.plan.command.env).map(([k, v]) => [k, reveal(k, v)]));
  const fds = j.fds.map((f) => {
    if (f.kind !== 'env' || f.content === null) return f;
    // bwrap's options, NUL-separated: --clearenv, then --setenv NAME VALUE per variable.
    const o = f.content.split('\0');
    for (let i = 0; i + 2 < o.length; i++) if (o[i] === '--setenv') o[i + 2] = reveal(o[i + 1]!, o[i + 2]!);
    return { ...f, content: o.join('\0') };
  });
  const left = Object.entries(env).filter(([, v]) => v === HIDDEN).map(([k]) => k);
  if (left.length > 0) throw new Error(`niso run --json hid ${left.join(', ')}, which the bench does not know`);
  return { ...j, plan: { ...j.plan, command: { ...j.plan.command, env } }, fds };
}

const HIDDEN = '<hidden>';

/**
 * Writes the fd contents to `dir` and returns how to start the sandbox. With `seccomp` null the
 * `--seccomp N` pair is dropped from the argv and fd N stays closed.
 */
export function prepareReplay(j: RunJson, dir: string, seccomp: Buffer | null, tag: string): Replay {
  let argv = [...j.command];
  const fds: Replay['fds'] = [];
  let statusFile = '';
  j.fds.forEach((f, i) => {
    if (f.fd !== 3 + i) throw new Error(`niso run --json: fd ${f.fd} is not 3 + ${i}`);
    const path = join(dir, `${tag}-fd${f.fd}.${f.kind}`);
    if (f.kind === 'seccomp') {
      const at = argv.findIndex((a, k) => a === '--seccomp' && argv[k + 1] === String(f.fd));
      if (at < 0) throw new Error(`niso run --json: no --seccomp ${f.fd} in the argv`);
      if (seccomp === null) {
        argv = [...argv.slice(0, at), ...argv.slice(at + 2)];
        fds.push(null);
      } else {
        writeFileSync(path, seccomp);
        fds.push({ path, flags: 'r' });
      }
    } else if (f.kind === 'status') {
      statusFile = path;
      fds.push({ path, flags: 'w' });
    } else {
      writeFileSync(path, f.content ?? '');
      fds.push({ path, flags: 'r' });
    }
  });
  if (!statusFile) throw new Error('niso run --json: no status fd');
  return { argv, fds, statusFile, seccomp: seccomp !== null };
}

/**
 * Runs the sandbox once, after `prefix` (e.g. niso's `sh -c JOIN sh PROCS... --`) when given;
 * throws unless it and the app exited 0. Returns the wall time in ms.
 */
export function runReplay(r: Replay, env: NodeJS.ProcessEnv, prefix: string[] = []): number {
  const open = r.fds.map((f) => (f === null ? null : openSync(f.path, f.flags)));
  let ms: number;
  let res;
  try {
    const stdio = ['ignore', 'pipe', 'pipe', ...open.map((fd) => fd ?? 'ignore')] as ('ignore' | 'pipe' | number)[];
    const t0 = performance.now();
    const argv = [...prefix, ...r.argv];
    res = spawnSync(argv[0]!, argv.slice(1), { stdio, env, encoding: 'utf8', timeout: 60_000 });
    ms = performance.now() - t0;
  } finally {
    for (const fd of open) if (fd !== null) closeSync(fd);
  }
  if (res.error) throw new Error(`${r.argv[0]}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`the replayed sandbox exited ${res.status ?? res.signal}: ${(res.stderr || res.stdout).slice(-1000)}`);
  const status = readFileSync(r.statusFile, 'utf8');
  if (!/"exit-code"\s*:\s*0\b/.test(status)) throw new Error(`the replayed sandbox's status did not report exit-code 0: ${status.slice(0, 500)}`);
  return ms;
}
