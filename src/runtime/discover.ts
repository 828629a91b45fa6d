// Finding the language runtimes installed on the host and the files each needs inside a sandbox:
// the interpreter, its shared libraries and the language's own standard library, nothing else.
import { existsSync, lstatSync, openSync, readSync, closeSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { runtimeCommands } from '../manifest/constants.js';
import { run } from '../host/exec.js';
import { computeElfClosure, LddCache } from './elf-closure.js';
import { normalizeMounts } from './mounts.js';
import { preferenceOrder } from './select.js';
import type { RuntimeCache } from './cache.js';
import { reachableByOthers } from '../host/reachable.js';
import type { Mount, RuntimeCandidate, RuntimeInfo, RuntimeName, RuntimeSource } from './types.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface DiscoverOptions {
  /** The caller's environment: PATH (and for pyenv shims HOME, PYENV_ROOT, PYENV_VERSION). */
  env?: Env;
  /** Shared ldd answers when several runtimes are computed at once. */
  cache?: LddCache;
  /** Persistent answers across runs (versions and closures of unchanged files). */
  store?: RuntimeCache;
}

/** A directory of the language itself (standard library, extension modules, JDK home). */
interface LanguageDir {
  path: string;
  /** Paths below it that must stay invisible (the host's site-packages). */
  exclude?: string[];
  /** Its shared objects are loaded on demand, so their libraries belong to the closure. */
  elf?: boolean;
}

/** What running the interpreter told us. */
interface Probe {
  version: string;
  /** Real path of the interpreter. */
  binary: string;
  /** The path it runs as; runtimes that find their files relative to it want the same one inside. */
  invokedAs: string;
  /** Run it at its real path (Java finds its home from the executable's location). */
  atRealPath?: boolean;
  commandNames: string[];
  dirs: LanguageDir[];
  env?: Record<string, string>;
}

/** A runtime found on the host, with what its probe said; `completeRuntime` adds the file closure. */
export interface FoundRuntime extends RuntimeCandidate {
  /** Where it was found (a PATH entry, or the configured path). */
  path: string;
  probe: Probe;
}

interface Driver {
  name: RuntimeName;
  program: string;
  /** Directories searched besides PATH, in order. */
  extraDirs(env: Env): string[];
  probe(path: string, env: Env): Promise<Probe>;
  /** Candidates not worth asking (shims whose interpreters are asked directly). */
  skip?(path: string, env: Env): boolean;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PROBE_TIMEOUT_MS = 20_000;

/** /opt/NAME/bin for every NAME: where tarball installs (nodesource, JDKs) usually land. */
function optBins(): string[] {
  try {
    return readdirSync('/opt', { withFileTypes: true }).filter((e) => e.isDirectory() || e.isSymbolicLink()).map((e) => join('/opt', e.name, 'bin')).sort();
  } catch {
    return [];
  }
}

function isElf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === '\x7fELF';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function probeEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = { PATH: env.PATH ?? DEFAULT_PATH, LC_ALL: 'C' };
  // A pyenv shim needs to know where pyenv lives and which version is selected.
  for (const k of ['HOME', 'PYENV_ROOT', 'PYENV_VERSION']) if (env[k] !== undefined) out[k] = env[k]!;
  return out;
}

async function ask(path: string, args: string[], env: Env, name: string): Promise<string> {
  const r = await run(path, args, { env: probeEnv(env), timeout: PROBE_TIMEOUT_MS }).catch((e: unknown) => {
    throw new NisoError('NISO3004', `could not run ${path}: ${e instanceof Error ? e.message : String(e)}`, { path, cause: e });
  });
  if (r.code !== 0) {
    const why = r.signal ? `was killed by ${r.signal}` : `exited with status ${r.code}`;
    throw new NisoError('NISO3004', `${path} ${why} when asked for its ${name} version: ${(r.stderr || r.stdout).trim().split('\n').slice(0, 3).join(' / ')}`, { path });
  }
  return r.stdout + (r.stderr ? `\n${r.stderr}` : '');
}

function badOutput(path: string, what: string, out: string): NisoError {
  return new NisoError('NISO3004', `${path} did not report ${what} as expected (got "${out.trim().slice(0, 120)}")`, { path, hint: 'check that it is the runtime you meant' });
}

const real = (p: string) => realpathSync(p);

/**
 * The host's time zone database: Python's zoneinfo, Debian's PHP and glibc (for TZ=Area/City in
 * Ruby) read it instead of shipping their own; Node and Java carry theirs.
 */
const zoneinfo = (): LanguageDir[] => (existsSync('/usr/share/zoneinfo') ? [{ path: '/usr/share/zoneinfo' }] : []);
const exists = (p: string) => { try { lstatSync(p); return true; } catch { return false; } };

// --- the runtimes -------------------------------------------------------------------------------

const nodejs: Driver = {
  name: 'nodejs',
  program: 'node',
  extraDirs: () => ['/usr/bin', '/usr/local/bin', ...optBins(), '/opt/niso/node/bin'],
  async probe(path, env) {
    const binary = real(path);
    // `--version` returns before V8 starts (about 10 ms); a wrapper script is asked where the real binary is.
    if (isElf(binary)) {
      const out = (await ask(path, ['--version'], env, 'nodejs')).trim();
      const m = /^v(\d+\.\d+\.\d+\S*)$/m.exec(out);
      if (!m) throw badOutput(path, 'a Node.js version', out);
      return { version: m[1]!, binary, invokedAs: path, commandNames: runtimeCommands('nodejs'), dirs: [] };
    }
    const out = await ask(path, ['-p', 'process.version + "\\n" + process.execPath'], env, 'nodejs');
    const [v, exe] = out.trim().split('\n');
    if (!v?.startsWith('v') || !exe) throw badOutput(path, 'a Node.js version', out);
    return { version: v.slice(1), binary: real(exe), invokedAs: exe, commandNames: runtimeCommands('nodejs'), dirs: [] };
  },
};

const PYTHON_PROBE = [
  'import sys, sysconfig, json',
  'p = sysconfig.get_paths()',
  'print(json.dumps({"version": "%d.%d.%d" % sys.version_info[:3], "implementation": sys.implementation.name,',
  ' "executable": sys.executable, "prefix": sys.prefix, "base_prefix": sys.base_prefix,',
  ' "stdlib": p.get("stdlib"), "platstdlib": p.get("platstdlib"), "purelib": p.get("purelib"), "platlib": p.get("platlib"),',
  ' "dynload": sysconfig.get_config_var("DESTSHARED"), "path": sys.path}))',
].join('\n');

interface PythonFacts {
  version: string; implementation: string; executable: string; prefix: string; base_prefix: string;
  stdlib?: string; platstdlib?: string; purelib?: string; platlib?: string; dynload?: string | null; path: string[];
}

/**
 * Every interpreter pyenv has installed. Asking them directly finds python:3.12 even when the
 * shim on PATH selects 3.11, and costs less than running the shim (bash plus pyenv, ~150 ms).
 */
function pyenvBins(env: Env): string[] {
  const root = env.PYENV_ROOT ?? (env.HOME ? join(env.HOME, '.pyenv') : undefined);
  if (!root) return [];
  try {
    return readdirSync(join(root, 'versions')).sort().reverse().map((v) => join(root, 'versions', v, 'bin'));
  } catch {
    return [];
  }
}

const python: Driver = {
  name: 'python',
  program: 'python3',
  extraDirs: (env) => ['/usr/bin', '/usr/local/bin', ...optBins(), ...pyenvBins(env)],
  skip: (path, env) => pyenvBins(env).length > 0 && isShim(path),
  async probe(path, env) {
    // -I: ignore PYTHON* variables and the user's site dir; -S: no site import, so no host
    // site-packages on sys.path. A pyenv shim runs the selected interpreter, whose answer says
    // where the real binary is.
    const out = await ask(path, ['-I', '-S', '-c', PYTHON_PROBE], env, 'python');
    let f: PythonFacts;
    try { f = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '') as PythonFacts; } catch { throw badOutput(path, 'its paths', out); }
    if (!f.executable) throw badOutput(path, 'sys.executable', out);
    const siteDirs = [f.purelib, f.platlib].filter((d): d is string => !!d);
    const libDirs = [f.stdlib, f.platstdlib].filter((d): d is string => !!d && existsSync(d));
    const exclude = [...siteDirs];
    for (const d of libDirs) for (const n of ['site-packages', 'dist-packages']) exclude.push(join(d, n));
    const dynload = [f.dynload, ...f.path.filter((p) => p.endsWith('/lib-dynload'))].filter((d): d is string => !!d && existsSync(d));
    // sys.path entries of the standard library itself (python311.zip when present), never site dirs.
    const extra = f.path.filter((p) => isAbsolute(p) && existsSync(p) && !siteDirs.some((s) => p === s || p.startsWith(s + '/')) && !/[/-]packages(\/|$)/.test(p));
    const dirs: LanguageDir[] = [...[...new Set([...libDirs, ...extra, ...dynload])].map((d) => ({ path: d, exclude, elf: dynload.includes(d) })), ...zoneinfo()];
    const [maj, min] = f.version.split('.');
    return { version: f.version, binary: real(f.executable), invokedAs: f.executable, commandNames: runtimeCommands('python', `${maj}.${min}`), dirs };
  },
};

const java: Driver = {
  name: 'java',
  program: 'java',
  extraDirs: () => {
    let jvms: string[] = [];
    try { jvms = readdirSync('/usr/lib/jvm').sort().map((d) => join('/usr/lib/jvm', d, 'bin')); } catch { /* no JDK packages */ }
    return ['/usr/bin', '/usr/local/bin', ...jvms, ...optBins()];
  },
  async probe(path, env) {
    const out = await ask(path, ['-XshowSettings:properties', '-version'], env, 'java');
    const prop = (k: string) => new RegExp(`^\\s*${k.replace(/\./g, '\\.')} = (.*)$`, 'm').exec(out)?.[1]?.trim();
    const home = prop('java.home');
    let version = prop('java.version');
    if (!home || !version) throw badOutput(path, 'java.home and java.version', out);
    // Java 8 calls itself 1.8.0_392; manifests say java:8.
    const legacy = /^1\.(\d+)\.(\d+)(?:_(\d+))?/.exec(version);
    if (legacy) version = `${legacy[1]}.${legacy[2]}.${legacy[3] ?? '0'}`;
    // java.home/bin/java, not `path`: a version manager's shim is not the VM.
    const inHome = join(home, 'bin', 'java');
    const binary = real(existsSync(inHome) ? inHome : path);
    return { version, binary, invokedAs: binary, atRealPath: true, commandNames: runtimeCommands('java'), dirs: [{ path: home, elf: true }] };
  },
};

const ruby: Driver = {
  name: 'ruby',
  program: 'ruby',
  extraDirs: () => ['/usr/bin', '/usr/local/bin', ...optBins()],
  async probe(path, env) {
    const script = 'c = RbConfig::CONFIG; puts RUBY_VERSION, c["rubylibdir"], (c["rubyarchdir"] || c["archdir"]), (defined?(Gem) ? Gem.default_specifications_dir : ""), RbConfig.ruby';
    const out = await ask(path, ['-e', script], env, 'ruby');
    const [version, libdir, archdir, specs, exe] = out.split('\n').map((l) => l.trim());
    if (!version || !/^\d+\.\d+/.test(version) || !libdir) throw badOutput(path, 'RUBY_VERSION and RbConfig', out);
    const self = exe && existsSync(exe) ? exe : path;
    // Default gems' code is in rubylibdir/archdir; their specifications let rubygems activate them.
    // Installed gems (the gem home, vendor_ruby, site_ruby) are the app's to bring.
    const dirs: LanguageDir[] = [{ path: libdir }, ...(archdir ? [{ path: archdir, elf: true }] : []), ...(specs ? [{ path: specs }] : []), ...zoneinfo()].filter((d) => existsSync(d.path));
    return { version, binary: real(self), invokedAs: self, commandNames: runtimeCommands('ruby'), dirs };
  },
};

const php: Driver = {
  name: 'php',
  program: 'php',
  extraDirs: () => ['/usr/bin', '/usr/local/bin', ...optBins()],
  async probe(path, env) {
    const out = await ask(path, ['-n', '-r', 'echo PHP_VERSION, "\\n", PHP_BINARY, "\\n", ini_get("extension_dir"), "\\n", PHP_CONFIG_FILE_PATH, "\\n", PHP_CONFIG_FILE_SCAN_DIR, "\\n";'], env, 'php');
    const [version, binary, extDir, iniDir, scanDir] = out.split('\n').map((l) => l.trim());
    if (!version || !/^\d+\.\d+/.test(version) || !binary) throw badOutput(path, 'PHP_VERSION', out);
    // php.ini and conf.d decide which of the extension_dir modules load, so they come along.
    const dirs: LanguageDir[] = [...(extDir ? [{ path: extDir, elf: true }] : []), ...(iniDir ? [{ path: iniDir }] : []), ...(scanDir ? [{ path: scanDir }] : []), ...zoneinfo()].filter((d) => existsSync(d.path));
    return { version: version.replace(/-.*$/, ''), binary: real(binary), invokedAs: binary, commandNames: runtimeCommands('php'), dirs };
  },
};

function singleBinary(name: RuntimeName, program: string, extra: (env: Env) => string[], pattern: RegExp): Driver {
  return {
    name,
    program,
    extraDirs: (env) => ['/usr/bin', '/usr/local/bin', ...extra(env), ...optBins()],
    async probe(path, env) {
      if (!isElf(real(path))) throw new NisoError('NISO3004', `${path} is a script, not the ${name} binary`, { path, hint: `give the path of the ${program} executable itself` });
      const out = await ask(path, ['--version'], env, name);
      const m = pattern.exec(out);
      if (!m) throw badOutput(path, `a ${name} version`, out);
      return { version: m[1]!, binary: real(path), invokedAs: path, commandNames: runtimeCommands(name), dirs: [] };
    },
  };
}

const homeBin = (sub: string) => (env: Env) => (env.HOME ? [join(env.HOME, sub)] : []);
const deno = singleBinary('deno', 'deno', homeBin('.deno/bin'), /^deno (\d+\.\d+\.\d+\S*)/m);
const bun = singleBinary('bun', 'bun', homeBin('.bun/bin'), /^(\d+\.\d+\.\d+\S*)/m);

const DRIVERS: Record<RuntimeName, Driver> = { nodejs, python, ruby, java, php, deno, bun };

// --- finding ------------------------------------------------------------------------------------

function isExecutableFile(p: string): boolean {
  try {
    const st = statSync(p);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Every existing `program` on PATH and in the usual install directories, in search order. */
function candidatePaths(d: Driver, env: Env): string[] {
  const dirs = [...(env.PATH ?? DEFAULT_PATH).split(delimiter).filter((x) => isAbsolute(x)), ...d.extraDirs(env)];
  const seen = new Set<string>();
  const out: string[] = [];
  for (const dir of dirs) {
    const p = join(dir, d.program);
    if (seen.has(p)) continue;
    seen.add(p);
    if (isExecutableFile(p) && !d.skip?.(p, env)) out.push(p);
  }
  return out;
}

/**
 * What findRuntimes' answer depends on besides the programs' contents: each place the program may be (a runtime
 * upgraded in place changes its file) and each directory looked in (one added or removed changes its mtime), /opt for
 * its runtime directories. null where a shim chooses the interpreter when run: no answer of its can be remembered.
 */
export function discoveryInputs(name: RuntimeName, env: Env = { PATH: DEFAULT_PATH }): string[] | null {
  const d = DRIVERS[name];
  const dirs = [...(env.PATH ?? DEFAULT_PATH).split(delimiter).filter((x) => isAbsolute(x)), ...d.extraDirs(env)];
  const programs = dirs.map((dir) => join(dir, d.program));
  if (programs.some((p) => isShim(p) && existsSync(p))) return null;
  return [...new Set(['/opt', ...dirs, ...programs])];
}

/**
 * Finds every installed version of one runtime and asks each for its version: enough to choose
 * one. Only this runtime's programs are run.
 */
export async function findRuntimes(name: RuntimeName, opts: DiscoverOptions = {}): Promise<FoundRuntime[]> {
  const d = DRIVERS[name];
  const env = opts.env ?? { PATH: DEFAULT_PATH };
  // The same binary is often reachable as /usr/bin/node and /bin/node: ask it once.
  // A shim is a script that picks the interpreter when run, so each shim is asked on its own.
  const byReal = new Map<string, string>();
  for (const p of candidatePaths(d, env)) {
    const key = isShim(p) ? p : real(p);
    if (!byReal.has(key)) byReal.set(key, p);
  }
  // Shims choose an interpreter from the environment when run, so their answers are not cached.
  const ask = (p: string) => (opts.store && !isShim(p) ? opts.store.probe(`${name}|${p}|${real(p)}`, real(p), () => d.probe(p, env)) : d.probe(p, env));
  const probes = await Promise.all([...byReal.values()].map((p) => ask(p).then((probe) => ({ p, probe }), () => undefined)));
  const found = new Map<string, FoundRuntime>();
  for (const x of probes) {
    if (!x || found.has(x.probe.binary)) continue;
    found.set(x.probe.binary, { name, version: x.probe.version, binary: x.probe.binary, source: 'discovered', shared: reachableByOthers(x.probe.binary), path: x.p, probe: x.probe });
  }
  return [...found.values()].sort(preferenceOrder);
}

/** A script that hands over to the real interpreter (pyenv, asdf, rbenv shims). */
function isShim(p: string): boolean {
  return /\/shims\/[^/]+$/.test(p);
}

/** Asks the runtime at `path` (a configured one, or one being added) for its version and paths. */
export async function probeRuntime(name: RuntimeName, path: string, opts: DiscoverOptions & { source?: RuntimeSource } = {}): Promise<FoundRuntime> {
  if (!existsSync(path)) throw new NisoError('NISO3004', `${path} does not exist`, { path, hint: `give the path of the ${name} interpreter, e.g. /opt/node-20/bin/node` });
  if (!isExecutableFile(path)) throw new NisoError('NISO3004', `${path} is not an executable file`, { path, hint: `give the path of the ${name} interpreter itself, not its directory` });
  const probe = await DRIVERS[name].probe(path, opts.env ?? { PATH: DEFAULT_PATH });
  return { name, version: probe.version, binary: probe.binary, source: opts.source ?? 'configured', shared: reachableByOthers(probe.binary), path, probe };
}

// --- the file closure ---------------------------------------------------------------------------

const SHARED_OBJECT = /\.so(?:\.\d+)*$/;

interface Walked { soFiles: string[]; escapes: string[] }

/**
 * Walks a language directory: its shared objects, and the symlinks that leave it (Debian points
 * JDK and Python config files into /etc), which would dangle inside the sandbox.
 */
function walk(root: string, exclude: ReadonlySet<string>): Walked {
  const rootReal = real(root);
  const out: Walked = { soFiles: [], escapes: [] };
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { continue; }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (exclude.has(p)) continue;
      if (e.isDirectory()) stack.push(p);
      else if (e.isSymbolicLink()) {
        let target: string;
        try { target = real(p); } catch { continue; } // dangling on the host too
        if (target !== rootReal && !target.startsWith(rootReal + '/')) out.escapes.push(p);
      } else if (e.isFile() && SHARED_OBJECT.test(e.name)) out.soFiles.push(p);
    }
  }
  return out;
}

/**
 * A symlink that leaves its directory keeps its text inside the sandbox, so the file it names is
 * mounted where the text points (e.g. /etc/java-17-openjdk/security/java.security).
 */
function escapeMount(link: string, insideRoot: string): { mount: Mount; dir: boolean } | undefined {
  let p = link;
  for (let hops = 0; hops < 40; hops++) {
    const next = resolve(dirname(p), readlinkSync(p));
    let st;
    try { st = lstatSync(next); } catch { return undefined; }
    if (st.isSymbolicLink()) { p = next; continue; }
    // Landing inside the mounted directory again: the link chain's last hop is itself an escape
    // that the walk reports separately.
    if (next === insideRoot || next.startsWith(insideRoot + '/')) return undefined;
    return { mount: { source: real(next), target: next }, dir: st.isDirectory() };
  }
  return undefined;
}

/** Mounts that show `dir` without the excluded paths below it: the directory whole when nothing is excluded, else its other children. */
function dirWithout(dir: string, exclude: readonly string[], dirTargets: Set<string>): Mount[] {
  const inside = exclude.filter((x) => x.startsWith(dir + '/') && exists(x));
  if (inside.length === 0) {
    dirTargets.add(dir);
    return [{ source: real(dir), target: dir }];
  }
  const out: Mount[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (inside.includes(p)) continue;
    if (e.isDirectory() && inside.some((x) => x.startsWith(p + '/'))) { out.push(...dirWithout(p, inside, dirTargets)); continue; }
    let source: string;
    try { source = real(p); } catch { continue; }
    if (statSync(source).isDirectory()) dirTargets.add(p);
    out.push({ source, target: p });
  }
  return out;
}

export interface CompleteOptions { cache?: LddCache; store?: RuntimeCache }

/** Computes the whole file closure of a found runtime: binary, libraries, language directories. */
export async function completeRuntime(found: FoundRuntime, opts: CompleteOptions = {}): Promise<RuntimeInfo> {
  if (opts.store) {
    const { store, ...rest } = opts;
    return store.closure(`${found.name}|${found.binary}|${found.version}|${found.source}`, () => completeRuntime(found, rest));
  }
  const { probe } = found;
  const cache = opts.cache ?? new LddCache();
  const mounts: Mount[] = [];
  const dirTargets = new Set<string>();

  // The command: where it was invoked when its real file sits in the same directory
  // (/usr/bin/python3 -> python3.11), else the real path (/usr/bin/java -> /usr/lib/jvm/...).
  const command = probe.atRealPath || dirname(probe.invokedAs) !== dirname(probe.binary) ? probe.binary : probe.invokedAs;
  mounts.push({ source: probe.binary, target: command });
  const commands: Record<string, string> = {};
  for (const n of probe.commandNames) {
    const alias = join(dirname(command), n);
    if (alias === command) commands[n] = command;
    else if (existsSync(alias) && real(alias) === probe.binary) { commands[n] = alias; mounts.push({ source: probe.binary, target: alias }); }
    else commands[n] = command;
  }

  // Language directories: skip ones inside another listed one (lib-dynload inside the stdlib).
  const dirs = [...probe.dirs].sort((a, b) => a.path.length - b.path.length);
  const top = dirs.filter((d) => !dirs.some((o) => o !== d && d.path.startsWith(o.path + '/')));
  const soFiles: string[] = [];
  for (const d of top) {
    const exclude = d.exclude ?? [];
    const w = walk(d.path, new Set(exclude));
    const elfRoots = dirs.filter((x) => x.elf && (x.path === d.path || x.path.startsWith(d.path + '/'))).map((x) => x.path);
    soFiles.push(...w.soFiles.filter((f) => elfRoots.some((r) => f.startsWith(r + '/'))));
    mounts.push(...dirWithout(d.path, exclude, dirTargets));
    for (const link of w.escapes) {
      const m = escapeMount(link, d.path);
      if (!m) continue;
      mounts.push(m.mount);
      if (m.dir) dirTargets.add(m.mount.target);
    }
  }

  const closure = await computeElfClosure([probe.binary], { cache, optional: soFiles.sort() });
  mounts.push(...closure.mounts);
  const warnings = closure.skipped.map((s) => `${s.file} is left out: the host lacks ${s.missing.join(', ')}`);
  return {
    name: found.name,
    version: found.version,
    binary: probe.binary,
    command,
    commands,
    mounts: normalizeMounts(mounts, dirTargets),
    env: { ...closure.env, ...probe.env },
    source: found.source,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/** Every installed version of one runtime, with file closures. Runs only that runtime's programs. */
export async function discoverRuntime(name: RuntimeName, opts: DiscoverOptions = {}): Promise<RuntimeInfo[]> {
  const cache = opts.cache ?? new LddCache();
  const found = await findRuntimes(name, opts);
  return Promise.all(found.map((f) => completeRuntime(f, { cache })));
}

/** Every runtime niso knows how to find, with file closures. */
export async function discoverAll(opts: DiscoverOptions = {}): Promise<RuntimeInfo[]> {
  const cache = opts.cache ?? new LddCache();
  const names = Object.keys(DRIVERS) as RuntimeName[];
  const all = await Promise.all(names.map((n) => discoverRuntime(n, { ...opts, cache })));
  return all.flat();
}

export const RUNTIME_DRIVER_NAMES = Object.keys(DRIVERS) as RuntimeName[];

/** How many files a runtime's mounts show (directories counted by their contents). */
export function countFiles(mounts: readonly Mount[]): number {
  let n = 0;
  for (const m of mounts) {
    let st;
    try { st = statSync(m.source); } catch { continue; }
    if (!st.isDirectory()) { n++; continue; }
    const stack = [m.source];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let entries;
      try { entries = readdirSync(dir, { withFileTypes: true }); } catch { continue; }
      for (const e of entries) {
        if (e.isDirectory()) stack.push(join(dir, e.name));
        else n++;
      }
    }
  }
  return n;
}
