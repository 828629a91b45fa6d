// Runs commands synchronously timed with performance.now(), so niso and its peers pay the same spawn cost.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createServer } from 'node:net';

export interface Ran {
  ms: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command after this long (default 10 minutes). */
  timeoutMs?: number;
}

/** Runs a command to completion; a non-zero exit or signal throws with the tail of stderr. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Ran {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
    timeout: opts.timeoutMs ?? 10 * 60 * 1000,
  });
  const ms = performance.now() - t0;
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    const why = r.status === null ? `signal ${r.signal ?? '?'}` : `exit ${r.status}`;
    throw new Error(`${cmd} ${args.join(' ')} failed (${why}):\n${(r.stderr || r.stdout).slice(-2000)}`);
  }
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a shell pipeline under bash with pipefail, so a failing tar or zstd is not hidden. */
export function bash(script: string, opts: RunOptions = {}): Ran {
  return run('bash', ['-c', `set -euo pipefail; ${script}`], opts);
}

/** Quotes one word for bash. */
export function q(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The first line a command prints, or "unknown" when it cannot run. */
export function firstLine(cmd: string, args: string[]): string {
  try {
    const r = run(cmd, args, { timeoutMs: 30_000 });
    return (r.stdout || r.stderr).trim().split('\n')[0] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `du -sb` of a path: apparent size in bytes, files plus directory entries. */
export function duBytes(path: string): number {
  return Number(run('du', ['-sb', path]).stdout.split(/\s/)[0]);
}

/**
 * Ctrl-C or SIGTERM during a bench runs `cleanup` (services, networks, containers it made) before
 * exiting with 130. Returns the function that takes the handlers off again.
 */
export function cleanupOnInterrupt(cleanup: () => Promise<void>, log: (s: string) => void): () => void {
  const onSignal = (sig: NodeJS.Signals) => { log(`${sig}: cleaning up`); void cleanup().finally(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); };
}

/** A free TCP port on the host, found by binding it. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    }).on('error', rej);
  });
}
