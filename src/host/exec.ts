// Running the host's own tools (zstd, sync, ...) with errors that say which tool is missing.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { NisoError } from '../errors/niso-error.js';

export interface ExecResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

const INSTALL_HINT: Record<string, string> = { zstd: 'apt-get install zstd', sync: 'apt-get install coreutils', flock: 'apt-get install util-linux', ldd: 'apt-get install libc-bin' };

export function missingTool(cmd: string, cause?: unknown): NisoError {
  return new NisoError('NISO2901', `the host tool "${cmd}" is not installed or not on PATH`, { hint: INSTALL_HINT[cmd] ? `install it: ${INSTALL_HINT[cmd]}` : `install ${cmd}`, cause });
}

/** Spawns a tool; a missing binary becomes NISO2901 instead of a bare ENOENT. */
export function spawnTool(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  return child;
}

export function run(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<ExecResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawnTool(cmd, args, opts);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? missingTool(cmd, e) : e));
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
}
