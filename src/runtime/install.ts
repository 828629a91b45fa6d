// `niso runtime install nodejs:22`: the official binary from the npm registry (the package
// node-linux-<arch> ships it), checked against the registry's sha512 before a byte is unpacked,
// unpacked into a work dir with every entry checked, proven to run, then renamed into the store
// under the store's lock. A crash leaves a complete runtime or none; a stop signal removes the
// work dir, and what a SIGKILL leaves is swept with the store's other leftovers.
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, createReadStream, createWriteStream, existsSync, fchmodSync, lstatSync, mkdirSync, openSync, renameSync, symlinkSync, writeSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { arch } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { isNisoError, NisoError } from '../errors/niso-error.js';
import { resolvesInside } from '../package/format/package-index.js';
import { TarFormatError, TarReader, type ReadHeader } from '../package/tar-codec.js';
import { run } from '../host/exec.js';
import { fsyncPath, syncFilesystem, tempName } from '../host/fs-atomic.js';
import { withLock } from '../host/lock.js';
import { sealDirs } from '../store/fs-tree.js';
import { layout } from '../store/layout.js';
import { sweepTmp } from '../store/sweep.js';
import { withWorkDir } from '../store/work-dir.js';
import { listInstalledRuntimes, RUNTIME_INFO, type InstalledRuntime, type InstalledRuntimeInfo } from './installed.js';
import { parsePackument, pickVersion, registryPackage, sha512Of, unsafeTarEntry, type DistVersion } from './packument.js';
import { parseRuntimeSpec } from './select.js';

export const DEFAULT_REGISTRY = 'https://registry.npmjs.org';
/** A node tarball is ~30 MB and unpacks to ~120 MB; more than this is not a runtime but an attack or a mistake. */
const MAX_UNPACKED_BYTES = 1024 ** 3;
const MAX_ENTRIES = 20_000;
const PACKUMENT_TIMEOUT_MS = 60_000;
/** A download that receives nothing for this long is given up. */
const STALL_TIMEOUT_MS = 60_000;

export interface RuntimeInstallOptions {
  env?: Readonly<Record<string, string | undefined>>;
  /** Before the download: the version chosen, the tarball's size when known, and whether it comes from the cache. */
  onStart?: (d: { version: string; tarball: string; cached: boolean; bytes: number | null }) => void;
  onProgress?: (done: number, total: number) => void;
  now?: Date;
}

export interface RuntimeInstallResult { runtime: InstalledRuntime; alreadyInstalled: boolean; cached: boolean }

export function registryOf(env: Readonly<Record<string, string | undefined>>): string {
  return (env.NPM_CONFIG_REGISTRY || env.npm_config_registry || DEFAULT_REGISTRY).replace(/\/+$/, '');
}

async function fetchPackument(registry: string, pkg: string): Promise<unknown> {
  const url = `${registry}/${pkg}`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8' }, signal: AbortSignal.timeout(PACKUMENT_TIMEOUT_MS) });
  } catch (e) {
    throw new NisoError('NISO3009', `cannot reach the npm registry at ${registry} to look up ${pkg}: ${reason(e)}`, { cause: e, hint: 'check the network and NPM_CONFIG_REGISTRY (default https://registry.npmjs.org)' });
  }
  if (!res.ok) {
    throw new NisoError('NISO3009', `the npm registry answered ${res.status} ${res.statusText} for ${url}`, { hint: res.status === 404 ? `the registry at ${registry} does not have ${pkg}` : 'try again later, or set NPM_CONFIG_REGISTRY to another registry' });
  }
  try {
    return await res.json();
  } catch (e) {
    throw new NisoError('NISO3009', `the npm registry's answer for ${pkg} is not JSON: ${reason(e)}`, { cause: e, hint: 'check NPM_CONFIG_REGISTRY: it must be an npm registry' });
  }
}

const reason = (e: unknown): string => {
  const c = (e as { cause?: { code?: string; message?: string } }).cause;
  return c?.code ?? c?.message ?? (e instanceof Error ? e.message : String(e));
};

interface Hashed { sha512: string; sha256: string; bytes: number }

async function hashFile(path: string): Promise<Hashed> {
  const h512 = createHash('sha512');
  const h256 = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) { h512.update(chunk as Buffer); h256.update(chunk as Buffer); bytes += (chunk as Buffer).length; }
  return { sha512: h512.digest('base64'), sha256: h256.digest('hex'), bytes };
}

/** Streams the tarball to `out`, hashing as it comes; never trusts it before the caller compared the hash. */
async function download(dist: DistVersion, out: string, onProgress?: (done: number, total: number) => void): Promise<Hashed> {
  const ac = new AbortController();
  let stall = setTimeout(() => ac.abort(new Error(`no data for ${STALL_TIMEOUT_MS / 1000} s`)), STALL_TIMEOUT_MS);
  const h512 = createHash('sha512');
  const h256 = createHash('sha256');
  let bytes = 0;
  try {
    const res = await fetch(dist.tarball, { signal: ac.signal });
    if (!res.ok || !res.body) throw new Error(`${res.status} ${res.statusText}`);
    const total = Number(res.headers.get('content-length') ?? 0);
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => {
      h512.update(chunk); h256.update(chunk); bytes += chunk.length;
      clearTimeout(stall);
      stall = setTimeout(() => ac.abort(new Error(`no data for ${STALL_TIMEOUT_MS / 1000} s`)), STALL_TIMEOUT_MS);
      onProgress?.(bytes, total || bytes);
    });
    await pipeline(body, createWriteStream(out, { flags: 'wx', mode: 0o600 }));
  } catch (e) {
    throw new NisoError('NISO3009', `download of ${dist.tarball} failed: ${reason(e)}`, { cause: e, hint: 'check the network and try again; nothing was installed' });
  } finally {
    clearTimeout(stall);
  }
  return { sha512: h512.digest('base64'), sha256: h256.digest('hex'), bytes };
}

/**
 * Unpacks the tarball (its integrity already checked) into `files` in one pass: each entry is checked before it is
 * written (paths, types, sizes, nothing below a symlink or a file), files are created with O_EXCL in directories niso
 * made, and symlinks only at the end, once every entry is known and each link stays inside also through the others
 * (a -> .., then b -> a/..). So nothing is ever written through a link, and a refused tarball leaves only the work
 * dir, which goes with it. Returns the directories made, to be sealed.
 */
async function unpackTarball(file: string, files: string, what: string): Promise<string[]> {
  const reader = new TarReader();
  const problems: string[] = [];
  /** What each path below package/ is so far: an entry, or a directory an entry lies in. */
  const kinds = new Map<string, 'file' | 'dir' | 'link'>([['', 'dir']]);
  const links = new Map<string, string>();
  const dirs = new Set<string>();
  let bytes = 0;
  let entries = 0;
  let out: { fd: number; mode: number } | null = null;
  const refuse = (path: string, why: string) => {
    problems.push(`"${path}" ${why}`);
    if (problems.length >= 5) throw new Refused();
  };
  const parentOf = (rel: string) => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
  const makeDir = (rel: string) => {
    const dir = join(files, rel);
    if (rel === '' || dirs.has(dir)) return;
    makeDir(parentOf(rel));
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    dirs.add(dir);
  };
  const close = () => {
    if (!out) return;
    const { fd, mode } = out;
    out = null;
    try { fchmodSync(fd, mode); } finally { closeSync(fd); }
  };
  const entry = (h: ReadHeader) => {
    entries++;
    bytes += h.size;
    if (bytes > MAX_UNPACKED_BYTES || entries > MAX_ENTRIES) {
      throw new NisoError('NISO3011', `${what} unpacks to more than a runtime has (at most ${MAX_ENTRIES} entries and ${MAX_UNPACKED_BYTES} bytes)`, { hint: 'nothing was installed; do not install runtimes from this registry' });
    }
    const path = h.path.replace(/\/+$/, '');
    const bad = unsafeTarEntry(path, h.typeName, h.linkpath);
    if (bad) return refuse(path, bad);
    const rel = path.split('/').slice(1).join('/');
    const parents = rel.split('/').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('/'));
    const above = parents.find((p) => kinds.get(p) === 'link' || kinds.get(p) === 'file');
    if (above !== undefined) return refuse(path, `is below ${kinds.get(above) === 'link' ? 'a symlink' : 'a file'} (package/${above})`);
    const type = h.typeName === 'Directory' ? 'dir' : h.typeName === 'SymbolicLink' ? 'link' : 'file';
    const before = kinds.get(rel);
    if (before !== undefined && (before !== 'dir' || type !== 'dir')) return refuse(path, 'appears twice');
    for (const p of parents) kinds.set(p, 'dir');
    kinds.set(rel, type);
    if (problems.length > 0) return; // refused already: only looking for more reasons
    if (type === 'link') links.set(rel, h.linkpath);
    else if (type === 'dir') makeDir(rel);
    else {
      makeDir(parentOf(rel));
      out = { fd: openSync(join(files, rel), 'wx', 0o600), mode: h.mode & 0o111 ? 0o555 : 0o444 };
    }
  };
  try {
    mkdirSync(files, { mode: 0o755 });
    await pipeline(createReadStream(file), createGunzip(), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        for (const ev of reader.feed(chunk)) {
          if (ev.kind === 'entry') entry(ev.header);
          else if (ev.kind === 'data' && out) for (let off = 0; off < ev.chunk.length;) off += writeSync(out.fd, ev.chunk, off);
          else if (ev.kind === 'entry-end') close();
        }
      }
    });
    if (!reader.complete) throw new TarFormatError('it ends before its end-of-archive blocks');
  } catch (e) {
    if (isNisoError(e)) throw e;
    if (!(e instanceof Refused)) throw new NisoError('NISO3011', `${what} is not a readable tar.gz: ${reason(e)}`, { cause: e, hint: 'nothing was installed; the registry or a proxy served something else than the package' });
  } finally {
    close();
  }
  // Each link stays inside on its own (unsafeTarEntry); through the others too?
  for (const [path, target] of links) {
    if (problems.length < 5 && !resolvesInside(links, path)) problems.push(`"package/${path}" is a symlink that leaves the package through other symlinks (${target})`);
  }
  if (problems.length > 0) {
    throw new NisoError('NISO3011', `${what} has entries niso refuses to unpack: ${problems.join('; ')}`, { hint: 'nothing was installed; do not install runtimes from this registry' });
  }
  for (const [rel, target] of links) {
    makeDir(parentOf(rel));
    symlinkSync(target, join(files, rel));
  }
  return [files, ...dirs];
}

/** Enough reasons to refuse a tarball were found: reading on would add nothing. */
class Refused extends Error {}

/**
 * The cached tarball, copied into the work dir first and checked there: what is hashed is what is unpacked, whoever
 * can write to the cache afterwards. A copy that does not match the registry's integrity is dropped, and so is the
 * cached file, which is downloaded anew.
 */
async function fromCache(cacheDir: string | undefined, name: string, want: string, dest: string): Promise<{ file: string; hashed: Hashed } | null> {
  if (!cacheDir) return null;
  const file = join(cacheDir, name);
  if (!existsSync(file)) return null;
  await copyFile(file, dest);
  const hashed = await hashFile(dest);
  if (hashed.sha512 === want) return { file: dest, hashed };
  await rm(dest, { force: true });
  await rm(file, { force: true });
  return null;
}

async function toCache(cacheDir: string | undefined, name: string, from: string): Promise<void> {
  if (!cacheDir) return;
  try {
    await mkdir(cacheDir, { recursive: true });
    const tmp = tempName(join(cacheDir, name));
    await copyFile(from, tmp);
    await rename(tmp, join(cacheDir, name));
  } catch { /* a cache that cannot be written only costs the next download */ }
}

/**
 * Installs `NAME:VERSION` (22, 22.11 or 22.11.0: the newest release that matches) from the npm
 * registry. `NISO_DOWNLOAD_CACHE` names a directory where verified tarballs are kept (their
 * integrity is checked again at each use).
 */
export async function installRuntime(root: string, spec: string, opts: RuntimeInstallOptions = {}): Promise<RuntimeInstallResult> {
  const env = opts.env ?? {};
  const want = parseRuntimeSpec(spec);
  const pkg = registryPackage(want.name, arch());
  const registry = registryOf(env);
  const versions = parsePackument(await fetchPackument(registry, pkg), pkg);
  const dist = pickVersion(want.version!, versions);
  if (!dist) {
    const majors = [...new Set(versions.map((v) => v.version.split('.')[0]))].slice(0, 8).join(', ');
    throw new NisoError('NISO3012', `the npm registry has no ${want.name} release matching ${want.version} (${pkg})`, {
      exitCode: 2, hint: versions.length > 0 ? `newest releases: ${versions.slice(0, 3).map((v) => v.version).join(', ')}; major versions available include ${majors}` : `the registry at ${registry} lists no releases of ${pkg}`,
    });
  }
  const sri = sha512Of(dist.integrity)!;
  const l = layout(root);
  const done = listInstalledRuntimes(root).find((r) => r.name === want.name && r.version === dist.version && r.integrity === dist.integrity);
  if (done) return { runtime: done, alreadyInstalled: true, cached: false };

  return withWorkDir(l, async ({ path: work, commit }) => {
    const cacheDir = env.NISO_DOWNLOAD_CACHE || undefined;
    const cacheName = `${pkg}-${dist.version}.tgz`;
    const cached = await fromCache(cacheDir, cacheName, sri, join(work, 'download.tgz'));
    let tarball: string;
    let hashed: Hashed;
    if (cached) {
      opts.onStart?.({ version: dist.version, tarball: dist.tarball, cached: true, bytes: cached.hashed.bytes });
      ({ file: tarball, hashed } = cached);
    } else {
      opts.onStart?.({ version: dist.version, tarball: dist.tarball, cached: false, bytes: null });
      tarball = join(work, 'download.tgz');
      hashed = await download(dist, tarball, opts.onProgress);
      if (hashed.sha512 !== sri) {
        throw new NisoError('NISO3010', `the tarball of ${pkg}@${dist.version} does not match the registry's integrity: expected sha512-${sri}, got sha512-${hashed.sha512} (${hashed.bytes} bytes from ${dist.tarball})`, {
          hint: 'nothing was installed; a proxy or mirror changed the download, or it broke on the way. Try again, or use another registry (NPM_CONFIG_REGISTRY)',
        });
      }
    }
    const what = `the tarball of ${pkg}@${dist.version}`;
    const files = join(work, 'files');
    const dirs = await unpackTarball(tarball, files, what);
    if (!cached) await toCache(cacheDir, cacheName, tarball);
    await rm(join(work, 'download.tgz'), { force: true });
    const binary = 'files/bin/node';
    const bin = join(work, binary);
    if (!existsSync(bin) || !lstatSync(bin).isFile()) {
      throw new NisoError('NISO3011', `${what} has no bin/node`, { hint: 'nothing was installed; the registry served another package than node\'s binary' });
    }
    // It must run here, and be what the registry said it is, before anything depends on it.
    const r = await run(bin, ['--version'], { env: { PATH: '/usr/bin:/bin' }, timeout: 30_000 }).catch((e: unknown) => ({ code: null, signal: null, stdout: '', stderr: reason(e) }));
    if (r.code !== 0 || r.stdout.trim() !== `v${dist.version}`) {
      throw new NisoError('NISO3004', `the downloaded node ${dist.version} does not run on this host: ${r.code === 0 ? `it reports ${r.stdout.trim()}` : (r.stderr || r.stdout).trim().split('\n').slice(0, 3).join(' / ') || `status ${r.code}`}`, {
        hint: 'nothing was installed; `ldd` on the binary shows a missing or too old library (node 22 needs glibc 2.28 or newer)',
      });
    }
    const info: InstalledRuntimeInfo = {
      name: want.name, version: dist.version, integrity: dist.integrity,
      origin: { registry, package: pkg, version: dist.version, tarball: dist.tarball },
      binary, installedAt: (opts.now ?? new Date()).toISOString(),
    };
    await writeFile(join(work, RUNTIME_INFO), JSON.stringify(info, null, 2) + '\n', { mode: 0o444 });
    chmodSync(work, 0o755);
    sealDirs(dirs);
    await mkdir(l.installedRuntimes, { recursive: true });
    const final = join(l.installedRuntimes, `${hashed.sha256}-${want.name}-${dist.version}`);
    return await withLock(l.lock, 'the store', async () => {
      await sweepTmp(l);
      if (existsSync(final)) return { runtime: listInstalledRuntimes(root).find((x) => x.path === final)!, alreadyInstalled: true, cached: cached !== null };
      commit();
      await syncFilesystem(work);
      renameSync(work, final);
      await fsyncPath(l.installedRuntimes);
      return { runtime: { ...info, path: final, digest: `sha256:${hashed.sha256}` }, alreadyInstalled: false, cached: cached !== null };
    });
  });
}
