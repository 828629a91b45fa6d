// The host's apt, asked for a closure of Debian packages as if nothing were installed, and for the .debs themselves:
// apt checks the archive's signatures and the hashes of what it fetches; niso checks each .deb against the signed
// index again (a cached file too) and records its sha256 in the package.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { run } from '../../host/exec.js';
import { debFileName, parseDependsGraph, parseIndexRecords, parseSimulatedInstall, pruneClosure, type DebRef } from './apt-output.js';

export interface DebFile extends DebRef { sha256: string; size: number; file: string }

const APT_ENV = { LC_ALL: 'C', PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive' };

/** The closure of `packages` (Depends and Pre-Depends, no Recommends), with `exclude` and script-only packages cut. */
export async function resolveDebClosure(packages: readonly string[], exclude: readonly string[], workDir: string): Promise<{ debs: DebRef[]; dropped: string[] }> {
  // An empty dpkg status: apt answers for a root with nothing installed, whatever this host has.
  const status = join(workDir, 'status');
  writeFileSync(status, '');
  const sim = await run('apt-get', ['-s', '-o', `Dir::State::status=${status}`, '-o', 'Debug::NoLocking=1', '-o', 'APT::Install-Recommends=false', '-o', 'APT::Install-Suggests=false', 'install', '--', ...packages], { env: APT_ENV });
  if (sim.code !== 0) {
    const why = sim.stderr.split('\n').filter((l) => l.startsWith('E:')).join('; ') || sim.stderr.trim() || `apt-get exited with ${sim.code}`;
    throw new NisoError('NISO2301', `apt cannot resolve [debian] packages ${packages.join(', ')}: ${why}`, { exitCode: 1, hint: /Unable to locate|has no installation candidate/.test(why) ? 'check the names with `apt-cache policy NAME`; if they are right, refresh the lists with `apt-get update`' : 'run `apt-get update`, then pack again' });
  }
  const set = parseSimulatedInstall(sim.stdout);
  const names = packages.map((p) => p.replace(/=.*$/, ''));
  for (const n of names) if (!set.some((d) => d.name === n)) throw new NisoError('NISO2301', `apt did not plan to install "${n}"`, { exitCode: 1, hint: 'check the name with `apt-cache policy NAME` (a virtual package must be named by one of its providers)' });
  const deps = await run('apt-cache', ['depends', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', '--', ...set.map((d) => `${d.name}=${d.version}`)], { env: APT_ENV });
  if (deps.code !== 0) throw new NisoError('NISO2301', `apt-cache depends failed: ${deps.stderr.trim()}`, { exitCode: 1, hint: 'run `apt-get update`, then pack again' });
  const { kept, dropped } = pruneClosure(set, names, parseDependsGraph(deps.stdout), exclude);
  return { debs: kept, dropped };
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Each .deb from the cache, or downloaded into it by `apt-get download` (which checks it against the signed index);
 * either way checked against the index's SHA256 before it is used.
 */
export async function fetchDebs(debs: readonly DebRef[], cacheDir: string, onProgress?: (done: number, total: number) => void): Promise<DebFile[]> {
  mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
  const out: DebFile[] = [];
  // One call for all: apt-cache loads its caches each time it starts.
  const show = await run('apt-cache', ['show', '--no-all-versions', '--', ...debs.map((d) => `${d.name}:${d.arch}=${d.version}`)], { env: APT_ENV });
  if (show.code !== 0) throw new NisoError('NISO2302', `apt-cache show failed: ${show.stderr.trim() || `exit ${show.code}`}`, { exitCode: 1, hint: 'run `apt-get update`, then pack again' });
  const records = parseIndexRecords(show.stdout);
  for (const [i, d] of debs.entries()) {
    const rec = records.get(`${d.name}=${d.version}`);
    if (!rec) throw new NisoError('NISO2302', `the archive index has no record of ${d.name} ${d.version} (${d.arch})`, { exitCode: 1, hint: 'run `apt-get update`, then pack again' });
    const file = join(cacheDir, debFileName(d));
    if (existsSync(file) && (await sha256File(file)) !== rec.sha256) {
      throw new NisoError('NISO2303', `${file} does not have the SHA256 the archive lists for ${d.name} ${d.version} (${rec.sha256})`, { path: file, exitCode: 1, hint: `delete it (rm ${file}) and pack again` });
    }
    if (!existsSync(file)) {
      const tmp = mkdtempSync(join(cacheDir, '.download-'));
      try {
        const r = await run('apt-get', ['-o', 'Debug::NoLocking=1', '-q', 'download', '--', `${d.name}:${d.arch}=${d.version}`], { env: APT_ENV, cwd: tmp });
        const got = join(tmp, debFileName(d));
        if (r.code !== 0 || !existsSync(got)) {
          throw new NisoError('NISO2302', `apt-get download ${d.name}=${d.version} failed: ${r.stderr.trim().split('\n').filter((l) => l.startsWith('E:') || l.startsWith('W:')).join('; ') || `exit ${r.code}`}`, { exitCode: 1, hint: 'check the network and /etc/apt/sources.list, run `apt-get update`, then pack again' });
        }
        const sum = await sha256File(got);
        if (sum !== rec.sha256) throw new NisoError('NISO2303', `the downloaded ${debFileName(d)} has SHA256 ${sum}, the archive lists ${rec.sha256}`, { exitCode: 1, hint: 'pack again; if it recurs, the mirror or a proxy serves altered files' });
        renameSync(got, file);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    out.push({ ...d, sha256: rec.sha256, size: rec.size, file });
    onProgress?.(i + 1, debs.length);
  }
  return out;
}
