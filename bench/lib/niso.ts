// Runs the niso CLI from the built bundle when dist/niso.mjs exists, else from src/ through tsx.
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run, type Ran, type RunOptions } from './proc.js';

export interface NisoCli {
  mode: 'dist' | 'tsx';
  cmd: string;
  /** Arguments placed before niso's own arguments. */
  prefix: string[];
  describe: string;
}

/**
 * With a build, copies bin/ and dist/ (a self-contained bundle) to `snapshot` and runs that copy,
 * so a rebuild by someone else during the bench cannot swap the code under test halfway.
 */
export function resolveNiso(repo: string, snapshot: string): NisoCli {
  if (existsSync(join(repo, 'dist/niso.mjs'))) {
    mkdirSync(snapshot, { recursive: true });
    cpSync(join(repo, 'dist'), join(snapshot, 'dist'), { recursive: true });
    cpSync(join(repo, 'bin'), join(snapshot, 'bin'), { recursive: true });
    return { mode: 'dist', cmd: process.execPath, prefix: [join(snapshot, 'bin/niso')], describe: 'built bundle: node bin/niso (dist/niso.mjs, copied aside when the bench started)' };
  }
  const tsx = join(repo, 'node_modules/tsx/dist/esm/index.mjs');
  if (!existsSync(tsx)) throw new Error(`neither ${join(repo, 'dist/niso.mjs')} (run npm run build) nor ${tsx} (run npm ci) exists`);
  return {
    mode: 'tsx',
    cmd: process.execPath,
    prefix: ['--import', tsx, join(repo, 'src/cli/main.ts')],
    describe: 'sources through tsx: node --import tsx src/cli/main.ts (dist/niso.mjs was missing)',
  };
}

/** The environment niso runs in: the bench's own, without settings that would change its output. */
export function nisoEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.SOURCE_DATE_EPOCH; // pack must use mtime 0, like the tar peer's --mtime=@0
  if (!('NISO_ROOT' in extra)) delete env.NISO_ROOT;
  return env;
}

export function niso(cli: NisoCli, args: string[], opts: RunOptions = {}): Ran {
  return run(cli.cmd, [...cli.prefix, ...args], { ...opts, env: opts.env ?? nisoEnv() });
}

export interface PackJson { file: string; digest: string; files: number; appBytes: number; packageBytes: number }
export interface InstallJson { digest: string; path: string; alreadyInstalled: boolean; files: number; bytes: number; newBytes: number }

export function parseJson<T>(r: Ran, what: string): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`${what} did not print JSON:\n${r.stdout.slice(0, 500)}\n${r.stderr.slice(0, 500)}`);
  }
}

/** Removes what a bench's private networks left (`net prune`, then the default network); failures are logged, not thrown. */
export function removeBenchNetworks(cli: NisoCli, env: NodeJS.ProcessEnv, log: (line: string) => void): void {
  try {
    niso(cli, ['net', 'prune'], { env });
    niso(cli, ['net', 'remove', 'default'], { env });
  } catch (e) {
    log(`removing the bench's network: ${String(e).slice(0, 300)}`);
  }
}

/**
 * The bench's work dir (made reachable for the services' own uids, which read the store below NISO_ROOT) and a
 * snapshot of the niso CLI in it, so that a rebuild during the bench cannot change what is measured.
 */
export function prepareBenchWork(repo: string, work: string, log: (line: string) => void): NisoCli {
  mkdirSync(work, { recursive: true });
  chmodSync(work, 0o755);
  const cli = resolveNiso(repo, join(work, 'niso'));
  log(`niso: ${cli.describe}`);
  return cli;
}

/** Removes the bench's work dir, after what its NISO_ROOTs hold on the host (mounted state images, uid claims). */
export async function removeBenchWork(work: string): Promise<void> {
  const { releaseRootsBelow } = await import('../../src/store/release-root.js');
  await releaseRootsBelow(work);
  rmSync(work, { recursive: true, force: true });
}
