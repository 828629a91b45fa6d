// Which shared libraries a binary loads, as mounts: the host's ldd runs the real loader, so the
// answer matches what the loader will do inside the sandbox, where only these files exist.
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, normalize } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { run } from '../host/exec.js';
import { findLibraryOwners } from '../host/deb-owner.js';
import { describeMissingLibraries } from '../package/deb/apt-output.js';
import { isLoaderPath, parseLddOutput, parseLoaderSearchPath, type LddReport } from './ldd-output.js';
import type { Mount } from './types.js';

/**
 * ldd answers (and other per-host facts) for one computation. Each file is asked about once,
 * even when several runtimes or extension modules share it; nothing is kept across processes.
 */
export class LddCache {
  private readonly reports = new Map<string, Promise<LddReport>>();
  private searchPaths = new Map<string, Promise<string[]>>();
  private cacheDirs?: Promise<Set<string>>;
  readonly concurrency: number;

  constructor(opts: { concurrency?: number } = {}) {
    this.concurrency = Math.max(1, opts.concurrency ?? availableParallelism());
  }

  /**
   * Reports for many files, in one batch per core. Without a loader, ldd is asked (it picks the
   * right loader for each file); with the loader ldd chose for the binary, each file is traced
   * through it the way ldd does, without ldd's extra --verify run of the loader per file and its
   * shell per call (Python's 46 extension modules: 130 ms through ldd, 32 ms this way).
   */
  reportsFor(files: readonly string[], loader?: string): Promise<LddReport[]> {
    const unknown = [...new Set(files)].filter((f) => !this.reports.has(f));
    if (unknown.length > 0) {
      const batches = Math.min(this.concurrency, unknown.length);
      const size = Math.ceil(unknown.length / batches);
      for (let i = 0; i < unknown.length; i += size) {
        const batch = unknown.slice(i, i + size);
        const done = loader === undefined ? runLdd(batch) : traceWith(loader, batch);
        batch.forEach((f, j) => this.reports.set(f, done.then((r) => r[j]!)));
      }
    }
    return Promise.all(files.map((f) => this.reports.get(f)!));
  }

  /** The loader's built-in search directories (used when the sandbox has no ld.so.cache). */
  loaderSearchPath(loader: string): Promise<string[]> {
    let p = this.searchPaths.get(loader);
    if (!p) {
      p = run(loader, ['--help'], { env: {} }).then((r) => parseLoaderSearchPath(r.stdout), () => []);
      this.searchPaths.set(loader, p);
    }
    return p;
  }

  /** Directories that hold libraries listed in the host's /etc/ld.so.cache. */
  ldconfigDirs(): Promise<Set<string>> {
    this.cacheDirs ??= (async () => {
      const tool = ['/sbin/ldconfig', '/usr/sbin/ldconfig'].find((p) => existsSync(p)) ?? 'ldconfig';
      const r = await run(tool, ['-p'], { env: {} }).catch(() => undefined);
      const dirs = new Set<string>();
      for (const line of r?.stdout.split('\n') ?? []) {
        const m = / => (\/.+)$/.exec(line);
        if (m) dirs.add(dirname(m[1]!));
      }
      return dirs;
    })();
    return this.cacheDirs;
  }
}

async function runLdd(files: string[]): Promise<LddReport[]> {
  // LC_ALL=C: the "not found" and "not a dynamic executable" texts are translated otherwise.
  const r = await run('ldd', files, { env: { LC_ALL: 'C', PATH: '/usr/bin:/bin' } });
  const reports = parseLddOutput(r.stdout, files);
  // ldd exits 1 when any file is not dynamic; that is an answer, not a failure. A failure is a
  // file ldd could not read at all.
  for (const rep of reports) {
    if (!rep.dynamic && rep.libraries.length === 0 && new RegExp(`${escapeRe(rep.file)}: (?:No such file|Permission denied)`).test(r.stderr)) {
      throw new NisoError('NISO3004', `ldd could not read ${rep.file}: ${r.stderr.trim().split('\n')[0]}`, { path: rep.file });
    }
  }
  return reports;
}

/**
 * What `ldd FILE...` does for ELF files of the loader's class: run the loader on each with
 * LD_TRACE_LOADED_OBJECTS=1. One shell per batch, because a spawn from Node costs more than the
 * trace itself.
 */
const TRACE_SCRIPT = 'L=$1; shift; for f do printf \'%s:\\n\' "$f"; LD_TRACE_LOADED_OBJECTS=1 "$L" "$f" 2>&1; done';

async function traceWith(loader: string, files: string[]): Promise<LddReport[]> {
  const r = await run('/bin/sh', ['-c', TRACE_SCRIPT, 'sh', loader, ...files], { env: { LC_ALL: 'C', PATH: '/usr/bin:/bin' } });
  const reports = parseLddOutput(r.stdout, files);
  // Not ELF, or another class than the loader's ("invalid ELF header"): ldd knows what to say.
  const odd = reports.filter((rep) => rep.libraries.length === 0 && rep.unparsed.length > 0).map((rep) => rep.file);
  if (odd.length === 0) return reports;
  const again = new Map((await runLdd(odd)).map((rep) => [rep.file, rep]));
  return reports.map((rep) => again.get(rep.file) ?? rep);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface SkippedObject {
  file: string;
  /** Libraries it needs that the host does not have. */
  missing: string[];
}

export interface ElfClosure {
  /** Every library and the loader, target = the path the loader looks it up under, source = the real file. */
  mounts: Mount[];
  /** Optional objects left out because a library they need is missing on the host. */
  skipped: SkippedObject[];
  /** Environment the loader needs inside the sandbox (LD_LIBRARY_PATH for libraries found only through ld.so.cache). */
  env: Record<string, string>;
}

export interface ElfClosureOptions {
  cache?: LddCache;
  /**
   * Objects the runtime loads only on demand (Python extension modules, JNI libraries). One whose
   * libraries are missing is skipped instead of failing the whole runtime: it fails on the host too.
   */
  optional?: readonly string[];
}

/**
 * The libraries and the loader that one binary or shared object needs, as mounts; empty for a
 * static binary or a non-ELF file. A library missing on the host is an error (NISO3003).
 */
export async function elfClosure(path: string, opts: { cache?: LddCache } = {}): Promise<Mount[]> {
  return (await computeElfClosure([path], opts)).mounts;
}

/**
 * The shared-library closure of some ELF files. ldd already follows dependencies recursively, so
 * one answer per file is the whole closure; static binaries and non-ELF files add nothing.
 */
export async function computeElfClosure(files: readonly string[], opts: ElfClosureOptions = {}): Promise<ElfClosure> {
  const cache = opts.cache ?? new LddCache();
  const optional = new Set(opts.optional ?? []);
  const all = [...new Set([...files, ...optional])];
  const main = await cache.reportsFor(files);
  const loader = main.flatMap((r) => r.libraries).map((l) => l.path).find((p): p is string => p !== null && isLoaderPath(p));
  const rest = all.filter((f) => !files.includes(f));
  const reports = [...main, ...(rest.length > 0 ? await cache.reportsFor(rest, loader) : [])];
  const skipped: SkippedObject[] = [];
  const targets = new Set<string>();
  // An object loaded on demand may leave a dependency to the process that loads it: Java's JNI
  // libraries need libjvm.so without saying where it is, because the JVM has loaded it already.
  // Such a name is satisfied when another object of the closure has it as its file name.
  const provided = new Set<string>(all.map((f) => basename(f)));
  for (const rep of reports) for (const l of rep.libraries) if (l.path !== null) provided.add(basename(l.path));
  for (const rep of reports) {
    const missing = [...new Set(rep.libraries.filter((l) => l.path === null).map((l) => l.name))]
      .filter((name) => !(optional.has(rep.file) && provided.has(name)));
    if (missing.length > 0) {
      if (optional.has(rep.file) && !files.includes(rep.file)) { skipped.push({ file: rep.file, missing }); continue; }
      throw await missingLibraries(rep.file, missing);
    }
    for (const lib of rep.libraries) if (lib.path !== null) targets.add(normalize(lib.path));
  }
  const sorted = [...targets].sort();
  const mounts = await Promise.all(sorted.map(async (target) => ({ source: await realpath(target), target })));
  return { mounts, skipped, env: await loaderEnv(sorted, cache) };
}

/** The libraries the host's loader does not find for one ELF file (none for a static binary, a script, or a file ldd cannot read). */
export async function librariesNotFound(file: string, cache = new LddCache()): Promise<string[]> {
  try {
    const [rep] = await cache.reportsFor([file]);
    return [...new Set(rep!.libraries.filter((l) => l.path === null).map((l) => l.name))];
  } catch {
    return [];
  }
}

/**
 * NISO3003 for libraries the host's loader does not find, each with the Debian package that has it where the host can
 * tell (dpkg, apt-file, apt's Contents indexes; bounded in time), so that the fix is one apt-get away.
 */
export async function missingLibraries(file: string, missing: readonly string[]): Promise<NisoError> {
  const { text, hint } = describeMissingLibraries(await findLibraryOwners(missing));
  return new NisoError('NISO3003', `${file} needs ${missing.length === 1 ? 'the shared library' : 'shared libraries'} ${text}, which the host's loader does not find`, {
    path: file, hint: `${hint}; \`ldd ${file}\` shows the same "not found"`,
  });
}

/**
 * The sandbox has no /etc/ld.so.cache, so the loader finds libraries only in its built-in
 * directories, through RPATH/RUNPATH, or through LD_LIBRARY_PATH. A library that the host's cache
 * found elsewhere (/usr/local/lib, an ld.so.conf.d entry) needs its directory named explicitly.
 */
async function loaderEnv(libs: string[], cache: LddCache): Promise<Record<string, string>> {
  const loader = libs.find(isLoaderPath);
  if (!loader) return {};
  const system = new Set(await cache.loaderSearchPath(loader));
  if (system.size === 0) return {};
  // hwcaps subdirectories of a system directory are searched by the loader on its own.
  const searched = (d: string) => system.has(d) || system.has(d.replace(/\/glibc-hwcaps\/[^/]+$/, '')) || system.has(d.replace(/\/(?:tls|x86_64|aarch64|haswell|avx512_1)$/, ''));
  const outside = [...new Set(libs.filter((l) => !isLoaderPath(l)).map((l) => dirname(l)))].filter((d) => !searched(d));
  if (outside.length === 0) return {};
  const cached = await cache.ldconfigDirs();
  const needed = outside.filter((d) => cached.has(d)).sort();
  return needed.length > 0 ? { LD_LIBRARY_PATH: needed.join(':') } : {};
}
