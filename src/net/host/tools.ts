// Running ip, nft and ss for the network code: a failure becomes NISO4011 with the command and
// its stderr, and commands can be fed on stdin (`ip -batch -`, `nft -f -`).
import { run, spawnTool, missingTool, type ExecResult } from '../../host/exec.js';
import { NisoError, isNisoError } from '../../errors/niso-error.js';

const PACKAGE: Record<string, string> = { ip: 'iproute2', bridge: 'iproute2', ss: 'iproute2', nft: 'nftables' };

function toolMissing(cmd: string, cause: unknown): NisoError {
  return new NisoError('NISO4011', `the host tool "${cmd}" is not installed or not on PATH`, { hint: `install it: apt-get install ${PACKAGE[cmd] ?? cmd}`, cause });
}

/** Runs a tool, optionally writing `input` to its stdin. Never throws for a non-zero exit. */
export async function exec(cmd: string, args: string[], input?: string): Promise<ExecResult> {
  try {
    if (input === undefined) return await run(cmd, args);
    return await new Promise<ExecResult>((resolve, reject) => {
      const child = spawnTool(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      child.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? missingTool(cmd, e) : e));
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      // A tool that exits early (bad first line) closes its stdin; that is reported by its exit code.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(input);
    });
  } catch (e) {
    if (isNisoError(e) && e.code === 'NISO2901') throw toolMissing(cmd, e);
    throw e;
  }
}

export function commandText(cmd: string, args: string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Runs a tool that must succeed; its stdout is returned. */
export async function must(cmd: string, args: string[], input?: string, code = 'NISO4011'): Promise<string> {
  const r = await exec(cmd, args, input);
  if (r.code !== 0) {
    const detail = (r.stderr || r.stdout).trim() || `exit ${r.code ?? r.signal}`;
    throw new NisoError(code, `${commandText(cmd, args)} failed: ${detail}`, { hint: code === 'NISO4011' ? 'niso needs root, iproute2 and nftables; `niso explain NISO4011` says more' : undefined });
  }
  return r.stdout;
}

/** Runs a tool that prints JSON (`ip -j`, `nft -j`) and parses it; empty output is null. */
export async function mustJson(cmd: string, args: string[]): Promise<unknown> {
  const out = (await must(cmd, args)).trim();
  if (out === '') return null;
  try {
    return JSON.parse(out);
  } catch (e) {
    throw new NisoError('NISO4011', `${commandText(cmd, args)} printed something that is not JSON: ${out.slice(0, 200)}`, { cause: e });
  }
}
