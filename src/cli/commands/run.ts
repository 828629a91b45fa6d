// `niso run NAME[:VERSION] | FILE.niso | DIR [-- ARGS...]`: like `docker run --rm`, in the foreground.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isatty } from 'node:tty';
import { NisoError } from '../../errors/niso-error.js';
import { parsePortMapping, parseSize, parseStateSize } from '../../manifest/units.js';
import { CAPABILITIES, CONFIG_TARGETS_RESERVED, LIMITS, MOUNT_TARGETS_RESERVED, isNormalisedPath, reservedHit } from '../../manifest/constants.js';
import { checkEntrypoint, type MountOption, type PlanOptions } from '../../plan/build-plan.js';
import { checkTargets, configTarget, type ConfigRequest } from '../../plan/grants.js';
import { manifestWeakenings, overrideSource } from '../../plan/weakenings.js';
import type { Manifest } from '../../manifest/schema.js';
import type { Plan, PresetName } from '../../plan/plan.js';
import { describeRuntime } from '../../plan/plan.js';
import { shellQuote } from '../../render/bwrap.js';
import { isAlive } from '../../host/liveness.js';
import { readRegularFile, type Bounded } from '../../host/read-bounded.js';
import { runSandbox } from '../../sandbox/run-sandbox.js';
import { compileSeccomp, renderCommand } from '../../sandbox/spawn.js';
import { parseSecretOption } from '../../secret/names.js';
import { installedManifest, preparePlan, replanned, type PrepareMode } from '../../sandbox/prepare.js';
import type { ServiceDefinition } from '../../service/model/types.js';
import { activeCheck, oneOffAttachName, oneOffOptions, serviceNamed } from '../../service/one-off.js';
import { forceRemove } from '../../store/fs-tree.js';

export { preparePlan };
import { layout, serviceDir, stateOf } from '../../store/layout.js';
import { resolveOne } from '../../store/resolve.js';
import type { InstalledPackage } from '../../store/installed.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { notInstalledHere, packageRef } from '../package-ref.js';

export interface RunOptions {
  name?: string;
  env?: string[];
  envFile?: string[];
  preset?: string;
  memory?: string;
  cpus?: string;
  pids?: string;
  stateSize?: string;
  network?: string;
  publish?: string[];
  net?: string[];
  capAdd?: string[];
  allowSyscall?: string[];
  /** -v SRC:DST[:ro|rw|exclusive,...] */
  volume?: string[];
  /** --mount type=volume|bind,src=...,dst=...[,readonly][,exclusive] */
  mount?: string[];
  /** --config NAME=FILE | FILE:TARGET */
  config?: string[];
  /** --secret NAME[,target=PATH] (repeatable). */
  secret?: string[];
  /** embedded (bubblewrap) or systemd (a transient unit); default: systemd where it is PID 1. */
  backend?: string;
  /** Another program of the package or its runtime instead of the manifest's entrypoint. */
  entrypoint?: string;
  dryRun?: boolean;
  json?: boolean;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** An env file is a few NAME=value lines; the whole environment of a process is at most ~2 MiB anyway. */
const ENV_FILE_MAX = 1024 * 1024;

const envError = (message: string, hint: string, where: { file?: string; line?: number } = {}) =>
  new NisoError('NISO9003', message, { exitCode: 2, hint, ...where });

export function parseEnv(ctx: Context, opts: Pick<RunOptions, 'env' | 'envFile'>): Record<string, string> {
  const env: Record<string, string> = {};
  /** `at`: the env file's line, or the --env option the text came from. */
  const add = (line: string, at: { file: string; line: number } | string) => {
    const i = line.indexOf('=');
    const key = i < 0 ? line : line.slice(0, i);
    const fail = (message: string, hint: string) => envError(typeof at === 'string' ? `${at}: ${message}` : message, hint, typeof at === 'string' ? {} : at);
    if (!ENV_NAME.test(key)) throw fail(`"${key}" is not a valid environment variable name`, 'write NAME=value, with letters, digits and "_" in NAME');
    // The manifest may not set them either: the app must be able to trust who it is.
    if (key.startsWith('NISO_')) throw fail(`"${key}" uses the NISO_ prefix, which niso reserves for the variables it sets (NISO_SERVICE, NISO_PACKAGE, NISO_STATE_DIR)`, 'rename the variable');
    // `--env NAME` alone takes the value from niso's own environment, as docker run does.
    const value = i < 0 ? ctx.env[key] : line.slice(i + 1);
    if (value?.includes('\0')) throw fail(`the value of ${key} contains a NUL character`, 'remove it: no program can take a NUL in an environment variable');
    if (value !== undefined) env[key] = value;
  };
  for (const f of opts.envFile ?? []) {
    const path = resolve(ctx.cwd, f);
    let read: Bounded;
    try {
      read = readRegularFile(path, ENV_FILE_MAX);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw envError(`--env-file ${f}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`, 'give the path of a file of NAME=value lines');
    }
    if (!read.ok) throw envError(`--env-file ${f}: not a regular file but ${read.what}`, 'give the path of a file of NAME=value lines');
    if (read.bytes.length > ENV_FILE_MAX) throw envError(`--env-file ${f}: larger than 1 MiB`, 'an env file holds a few NAME=value lines');
    read.bytes.toString('utf8').split('\n').forEach((raw, n) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      add(line, { file: path, line: n + 1 });
    });
  }
  for (const e of opts.env ?? []) add(e, `--env ${e}`);
  return env;
}

export function parseOptions(ctx: Context, opts: RunOptions, args: string[]): PlanOptions {
  const o: PlanOptions = { env: parseEnv(ctx, opts), args };
  // What it may name is the plan's to decide (build-plan.ts entrypointOverride), for every command alike.
  if (opts.entrypoint !== undefined) o.entrypoint = opts.entrypoint;
  if (opts.preset !== undefined) {
    if (!['server', 'strict', 'unsafe-none'].includes(opts.preset)) throw new NisoError('NISO9001', `--preset ${opts.preset}: expected server, strict or unsafe-none`, { exitCode: 2 });
    o.preset = opts.preset as PresetName;
  }
  if (opts.memory !== undefined) {
    const r = parseSize(opts.memory);
    if (!r.ok) throw new NisoError('NISO9001', `--memory ${opts.memory}: ${r.message}`, { exitCode: 2, hint: r.hint });
    if (r.value < LIMITS.memoryBytes.min) throw new NisoError('NISO9001', `--memory ${opts.memory}: below the minimum of ${LIMITS.memoryBytes.min / 1024 / 1024}M`, { exitCode: 2, hint: 'no process starts in less; use e.g. --memory 256M' });
    o.memoryBytes = r.value;
  }
  if (opts.cpus !== undefined) {
    const n = Number(opts.cpus);
    if (!(n >= LIMITS.cpus.min && n <= LIMITS.cpus.max)) throw new NisoError('NISO9001', `--cpus ${opts.cpus}: expected a number of cores from ${LIMITS.cpus.min} to ${LIMITS.cpus.max}, such as 0.5 or 2`, { exitCode: 2, hint: 'the kernel takes no less than 1% of a core' });
    o.cpus = n;
  }
  if (opts.pids !== undefined) {
    const n = /^\d+$/.test(opts.pids) ? Number(opts.pids) : NaN;
    if (!(n >= LIMITS.pids.min && n <= LIMITS.pids.max)) throw new NisoError('NISO9001', `--pids ${opts.pids}: expected a whole number from ${LIMITS.pids.min} to ${LIMITS.pids.max} (the kernel's maximum)`, { exitCode: 2, hint: 'e.g. --pids 64' });
    o.pids = n;
  }
  if (opts.stateSize !== undefined) {
    const r = parseStateSize(opts.stateSize);
    if (!r.ok) throw new NisoError('NISO9001', `--state-size ${opts.stateSize}: ${r.message}`, { exitCode: 2, hint: r.hint });
    o.stateBytes = r.value;
  }
  if (opts.network !== undefined) {
    if (opts.network !== 'none' && opts.network !== 'host' && opts.network !== 'private') throw new NisoError('NISO9001', `--network ${opts.network}: expected private, none or host`, { exitCode: 2 });
    o.network = opts.network;
  }
  if (opts.publish && opts.publish.length > 0) {
    o.ports = opts.publish.map((p) => {
      const r = parsePortMapping(p);
      if (!r.ok) throw new NisoError('NISO9001', `-p ${p}: ${r.message}`, { exitCode: 2, hint: r.hint });
      return r.value;
    });
  }
  if (opts.net && opts.net.length > 0) o.networks = opts.net;
  if (opts.capAdd && opts.capAdd.length > 0) {
    for (const c of opts.capAdd) {
      if (!(CAPABILITIES as readonly string[]).includes(c)) throw new NisoError('NISO9001', `--cap-add ${c}: not a capability`, { exitCode: 2, hint: `write its full name, e.g. --cap-add CAP_NET_BIND_SERVICE${closest(c, CAPABILITIES) ? ` (did you mean ${closest(c, CAPABILITIES)}?)` : ''}` });
    }
    o.capabilities = [...new Set(opts.capAdd)];
  }
  const mounts = [...(opts.volume ?? []).map((v) => parseVolumeFlag(ctx, v)), ...(opts.mount ?? []).map((v) => parseMountFlag(ctx, v))];
  if (mounts.length > 0) {
    // Before anything is installed or made: two of them at one place (buildPlan checks them with the manifest's too).
    checkTargets(mounts.map((x) => ({ target: x.target, what: `${x.type === 'volume' ? 'volume' : 'host path'} ${x.source}` })));
    o.mounts = mounts;
  }
  if (opts.allowSyscall && opts.allowSyscall.length > 0) {
    for (const n of opts.allowSyscall) {
      if (!SYSCALL_NAME.test(n)) throw new NisoError('NISO9001', `--allow-syscall ${n}: not a system call name or @group`, { exitCode: 2, hint: 'write a lower-case name such as mlock, or a group such as @clock' });
    }
    o.syscalls = [...new Set(opts.allowSyscall)];
  }
  if (opts.secret && opts.secret.length > 0) o.secrets = opts.secret.map(parseSecretOption);
  return o;
}

const mountError = (flag: string, message: string, hint: string) => new NisoError('NISO5050', `${flag}: ${message}`, { exitCode: 2, hint });

/** A path inside the sandbox for a mount: absolute, normalised, and not where niso's own mounts are. */
function mountTarget(flag: string, target: string): string {
  if (target.includes('\0')) throw mountError(flag, 'the path contains a NUL character', 'write it like /data');
  if (!isNormalisedPath(target)) throw mountError(flag, `"${target}" is not an absolute, normalised path inside the sandbox`, 'write it like /data');
  const hit = reservedHit(target, MOUNT_TARGETS_RESERVED);
  if (hit) throw mountError(flag, `${target} ${target === hit ? 'is' : 'is inside'} ${hit}, which niso mounts itself`, 'mount it at a path of its own, such as /data');
  return target;
}

/** A source that is a host path (Docker's rule: a path starts with / or .), made absolute; otherwise a volume name. */
function hostSource(ctx: Context, source: string): string {
  if (source.includes('\0')) throw mountError('a mount', 'the source contains a NUL character', 'name a volume or a host path');
  return resolve(ctx.cwd, source);
}
const isHostPath = (source: string) => source.startsWith('/') || source === '.' || source === '..' || source.startsWith('./') || source.startsWith('../');

/** `-v SRC:DST[:OPTIONS]` as docker run reads it: SRC a volume name or a host path; OPTIONS ro, rw, exclusive. */
export function parseVolumeFlag(ctx: Context, spec: string): MountOption {
  const flag = `-v ${spec}`;
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || parts[0] === '' || parts[1] === '') {
    throw mountError(flag, parts.length === 1 ? 'a volume needs a place in the sandbox' : 'expected SOURCE:TARGET[:OPTIONS]', 'write -v NAME:/data for a volume, -v /srv/media:/media:ro for a host path');
  }
  const [source, target, options] = parts as [string, string, string | undefined];
  let readOnly = false;
  let exclusive = false;
  for (const opt of options === undefined ? [] : options.split(',')) {
    if (opt === 'ro' || opt === 'readonly') readOnly = true;
    else if (opt === 'rw') readOnly = false;
    else if (opt === 'exclusive') exclusive = true;
    else throw mountError(flag, `unknown option "${opt}"`, 'the options are ro, rw and exclusive, separated by commas');
  }
  const bind = isHostPath(source);
  if (bind && exclusive) throw mountError(flag, '"exclusive" applies to volumes, not host paths', 'remove it');
  const t = mountTarget(flag, target);
  return bind ? { type: 'bind', source: hostSource(ctx, source), target: t, readOnly } : { type: 'volume', source, target: t, readOnly, exclusive };
}

/** `--mount type=volume|bind,source=...,target=...[,readonly][,exclusive]`, Docker's long form. */
export function parseMountFlag(ctx: Context, spec: string): MountOption {
  const flag = `--mount ${spec}`;
  const fields = new Map<string, string | true>();
  for (const part of spec.split(',')) {
    const i = part.indexOf('=');
    const key = (i < 0 ? part : part.slice(0, i)).trim();
    const canonical = ({ src: 'source', dst: 'target', destination: 'target', ro: 'readonly' } as Record<string, string>)[key] ?? key;
    if (!['type', 'source', 'target', 'readonly', 'exclusive'].includes(canonical)) throw mountError(flag, `unknown field "${key}"`, 'the fields are type, source (src), target (dst), readonly (ro) and exclusive');
    if (fields.has(canonical)) throw mountError(flag, `"${canonical}" is given twice`, 'give each field once');
    fields.set(canonical, i < 0 ? true : part.slice(i + 1));
  }
  const flagValue = (key: string): boolean => {
    const v = fields.get(key);
    if (v === undefined || v === 'false' || v === '0') return false;
    if (v === true || v === 'true' || v === '1') return true;
    throw mountError(flag, `${key}=${v}: expected true or false`, `write ${key} or ${key}=true`);
  };
  const type = fields.get('type') ?? 'volume';
  if (type !== 'volume' && type !== 'bind') throw mountError(flag, `type=${String(type)}: niso mounts volumes and host paths (bind)`, 'write type=volume or type=bind; /tmp is a tmpfs already');
  const source = fields.get('source');
  const target = fields.get('target');
  if (typeof source !== 'string' || source === '') throw mountError(flag, 'no source', `write source=${type === 'bind' ? '/srv/media' : 'NAME'}`);
  if (typeof target !== 'string' || target === '') throw mountError(flag, 'no target', 'write target=/data');
  const readOnly = flagValue('readonly');
  const exclusive = flagValue('exclusive');
  const t = mountTarget(flag, target);
  if (type === 'bind') {
    if (exclusive) throw mountError(flag, '"exclusive" applies to volumes, not host paths', 'remove it');
    return { type: 'bind', source: hostSource(ctx, source), target: t, readOnly };
  }
  if (isHostPath(source)) throw mountError(flag, `type=volume takes a volume name, not the path ${source}`, `write type=bind,source=${source},... for a host path`);
  return { type: 'volume', source, target: t, readOnly, exclusive };
}


/** `--config NAME=FILE` (a config the manifest declares) or `--config FILE:TARGET`. */
export function parseConfigFlags(ctx: Context, specs: readonly string[]): ConfigRequest[] {
  return specs.map((spec) => {
    const flag = `--config ${spec}`;
    const named = /^([a-z0-9][a-z0-9._-]{0,63})=(.+)$/.exec(spec);
    if (named) return { name: named[1]!, file: resolve(ctx.cwd, named[2]!), target: null, flag };
    const i = spec.lastIndexOf(':');
    if (i <= 0 || !spec.slice(i + 1).startsWith('/')) {
      throw new NisoError('NISO5056', `${flag}: expected NAME=FILE (a config of the manifest) or FILE:TARGET`, { exitCode: 2, hint: 'e.g. --config app=./app.toml or --config ./nginx.conf:/etc/nginx/nginx.conf' });
    }
    const target = spec.slice(i + 1);
    if (!isNormalisedPath(target)) throw new NisoError('NISO5056', `${flag}: "${target}" is not an absolute, normalised path`, { exitCode: 2, hint: 'write it like /etc/app/config.toml' });
    const hit = reservedHit(target, CONFIG_TARGETS_RESERVED);
    if (hit) throw new NisoError('NISO5056', `${flag}: ${target} ${target === hit ? 'is' : 'is inside'} ${hit}, which niso provides itself`, { exitCode: 2, hint: 'put the file at a path of its own, such as /etc/app/config.toml' });
    return { name: null, file: resolve(ctx.cwd, spec.slice(0, i)), target, flag };
  });
}

/** The manifest's syntax for syscall names (schema.ts); which ones exist is the filter's to check. */
const SYSCALL_NAME = /^@?[a-z0-9_]+$/;

/** The capability meant by a name in another spelling (net_admin, NET_ADMIN), if there is one. */
function closest(word: string, among: readonly string[]): string | null {
  const w = word.toUpperCase().replace(/^(CAP_)?/, 'CAP_');
  return among.includes(w) ? w : null;
}

/**
 * Copies the host configuration's [trust.NAME] into the options when the manifest asks for less isolation than the
 * server preset (weakenings.ts): read only then, so that a plain run does not parse the host config twice.
 */
export async function withTrust(ctx: Context, manifest: Manifest, pkgName: string, options: PlanOptions): Promise<PlanOptions> {
  if (manifestWeakenings(manifest, options).length === 0) return options;
  const { readTrust } = await import('../../store/host-config.js');
  const trust = await readTrust(layout(ctx.root).config, pkgName);
  return trust ? { ...options, trust } : options;
}

/** The package to run, installing a FILE.niso or packing a DIR first. `temporary` ones are removed after. */
async function locate(ctx: Context, ref: string): Promise<{ pkg: InstalledPackage; temporary: boolean }> {
  const target = packageRef(ctx.cwd, ref);
  if (target.kind !== 'installed') {
    let file = target.path;
    let scratch: string | null = null;
    // Packing and installing need the manifest parser and the package reader: loaded only here,
    // so that running an installed package starts without them.
    const [{ packApp }, { ensureDirs, installPackage }, { readInstallLimits }] = await Promise.all([
      import('../../package/pack.js'), import('../../store/install.js'), import('../../store/host-config.js'),
    ]);
    if (target.kind === 'dir') {
      await ensureDirs(layout(ctx.root));
      scratch = await mkdtemp(join(layout(ctx.root).tmp, `pack-${process.pid}-`));
      file = (await packApp({ appDir: target.path, cwd: scratch, output: join(scratch, 'app.niso') })).file;
    }
    try {
      const limits = await readInstallLimits(layout(ctx.root).config, {});
      // Run by digest and removed after: another build of an installed version may run too.
      const r = await installPackage(ctx.root, file, limits, { otherBuilds: 'keep' });
      if (!r.alreadyInstalled) {
        // Recorded so that a later run removes it if this one is killed before it can.
        await writeFile(join(layout(ctx.root).tmp, `run-${process.pid}-${r.digest.slice(7, 19)}.json`), JSON.stringify({ digest: r.digest }));
      }
      return { pkg: await resolveOne(ctx.root, r.digest), temporary: !r.alreadyInstalled };
    } finally {
      if (scratch) await rm(scratch, { recursive: true, force: true });
    }
  }
  return { pkg: await resolveOne(ctx.root, target.ref).catch((e: unknown) => { throw notInstalledHere(ctx.cwd, target.ref, e); }), temporary: false };
}

/**
 * Where a run's /state comes from. `niso run` is `docker run --rm`: a package run without a service of its name gets
 * a /state of its own that goes with the run (a tmpfs in the sandbox; for the unsandboxed preset, this host dir,
 * removed after). A service of that name, or a state someone kept (`niso remove` of a service leaves its data), is
 * used as it is and never removed: a run with `--name SERVICE` sees and keeps that service's /state. Null: that one.
 */
function temporaryStateDir(ctx: Context, service: string): string | null {
  const kept = stateOf(layout(ctx.root), service);
  if (existsSync(kept.dir) || existsSync(kept.image) || existsSync(join(serviceDir(layout(ctx.root), service), 'service.json'))) return null;
  return join(layout(ctx.root).tmp, `run-${process.pid}-state-${service}-${randomBytes(3).toString('hex')}`);
}

/** Removes what runs left that could not remove it themselves (niso was killed): packages of app directories, state dirs. */
async function sweepTemporaryInstalls(ctx: Context): Promise<void> {
  const dir = layout(ctx.root).tmp;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const state = /^run-(\d+)-(?:state|configs)-/.exec(name);
    if (state && !isAlive(Number(state[1]))) await forceRemove(join(dir, name));
    const m = /^run-(\d+)-[0-9a-f]+\.json$/.exec(name);
    if (!m) continue;
    if (isAlive(Number(m[1]))) continue;
    try {
      const { digest } = JSON.parse(await readFile(join(dir, name), 'utf8')) as { digest: string };
      const pkg = await resolveOne(ctx.root, digest).catch(() => null);
      if (pkg) {
        const { removePackages } = await import('../../store/remove.js');
        await removePackages(ctx.root, [pkg]);
      }
    } finally {
      await rm(join(dir, name), { force: true });
    }
  }
}

/** Shown instead of a value that may be a secret. */
export const HIDDEN = '<hidden>';

/** The plan as `--dry-run` and `--json` show it: the values of `hidden` variables replaced by HIDDEN. */
export function redactedPlan(plan: Plan, hidden: readonly string[]): Plan {
  const env = Object.fromEntries(Object.entries(plan.command.env).map(([k, v]) => [k, hidden.includes(k) ? HIDDEN : v]));
  return { ...plan, command: { ...plan.command, env } };
}

/** A secret's fd in --dry-run: which secret and its digest, filled by niso when it runs; never the bytes. */
function describeSecretFd(plan: Plan, name: string | undefined): string {
  const m = plan.mounts.find((x) => x.type === 'secret' && x.name === name);
  return m?.type === 'secret' ? `secret ${m.name} (${m.digest}), read by niso from its store when it runs` : 'a secret';
}

const describeEnv = (env: Record<string, string>) => Object.entries(env).map(([k, v]) => `${k}=${v === HIDDEN ? v : shellQuote([v])}`).join(' ');

/** What a one-off of a service (`niso run SERVICE -- CMD`) adds to a run: for the dry run's heading and --json. */
interface OneOffInfo { service: string; argv: string[] }

/** A run made ready: the package and options to plan it with, where it runs, and what goes with it. */
interface RunSetup {
  pkg: InstalledPackage;
  manifest: Manifest;
  /** The service whose identity it has (uid, /state, hostname). */
  service: string;
  options: PlanOptions;
  temporaryState: string | null;
  backend: 'embedded' | 'systemd';
  /** The name its network attachment goes by: the service's own for a package run, another for a one-off. */
  attachAs: string;
  mode: PrepareMode;
  oneOff: OneOffInfo | null;
}

/** The dry run's first line for a one-off. */
const oneOffHeading = (o: OneOffInfo) => `# a one-off run of service ${o.service}: ${shellQuote(o.argv)} (its ports are not published, no [init] step)\n`;

/** The run as a transient systemd unit with a service unit's sandbox (service/systemd/run.ts). */
async function runAsUnit(ctx: Context, plan: Plan, runtime: string | null, opts: RunOptions, shown: Plan, oneOff: OneOffInfo | null): Promise<void> {
  const sd = await import('../../service/systemd/run.js');
  const terminal = isatty(0);
  if (opts.dryRun || opts.json) {
    const command = sd.runCommandLine(sd.planRunUnit(ctx.root, plan, runtime), terminal ? 'pty' : 'pipe');
    if (opts.json) { printJson(ctx, { plan: shown, backend: 'systemd', command, ...(oneOff ? { oneOff } : {}) }); return; }
    if (oneOff) ctx.stdout.write(oneOffHeading(oneOff));
    ctx.stdout.write(`# ${plan.package.name} ${plan.package.version} as service ${plan.service} (uid ${plan.user.uid}), preset ${plan.preset}, network ${plan.network.mode}, as a transient systemd unit\n`);
    if (plan.runtime) ctx.stdout.write(`# runtime ${describeRuntime(plan.runtime)}\n`);
    ctx.stdout.write('# the unit\'s root skeleton, /etc files and user are made when it runs, and removed after it\n');
    ctx.stdout.write(`# its EnvironmentFile= (root only): ${describeEnv(shown.command.env)}\n`);
    ctx.stdout.write(`${shellQuote(command)}\n`);
    return;
  }
  const r = await sd.runOnSystemd(ctx.root, plan, runtime, { terminal, ...(ctx.env.TERM ? { term: ctx.env.TERM } : {}) });
  if (r.signal) ctx.stderr.write(`niso: ${plan.service} ended by ${r.signal}\n`);
  ctx.exitCode = r.exitCode;
}

export async function run(ctx: Context, ref: string, args: string[], opts: RunOptions): Promise<void> {
  // A service of that name wins over a package of it: `niso run SERVICE -- CMD` is a one-off of that service.
  const def = serviceNamed(ctx.root, ref, packageRef(ctx.cwd, ref).kind === 'installed');
  if (def) return runOneOff(ctx, def, args, opts);
  const parsed = parseOptions(ctx, opts, args);
  const configRequests = parseConfigFlags(ctx, opts.config ?? []);
  const dryRun = opts.dryRun === true || opts.json === true;
  let configDir: string | null = null;
  await sweepTemporaryInstalls(ctx);
  const { pkg, temporary } = await locate(ctx, ref);
  let temporaryState: string | null = null;
  try {
    const manifest = await installedManifest(pkg);
    if (parsed.entrypoint !== undefined) checkEntrypoint(manifest, parsed.entrypoint);
    const options = await withTrust(ctx, manifest, pkg.name, parsed);
    const service = opts.name ?? pkg.name;
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(service)) throw new NisoError('NISO9001', `--name ${service}: not a valid service name`, { exitCode: 2, hint: 'use lower-case letters, digits, ".", "_" and "-"' });
    const { selectBackend } = await import('../../service/systemd/backend.js');
    const backend = await selectBackend(ctx.root, opts.backend);
    temporaryState = temporaryStateDir(ctx, service);
    if (configRequests.length > 0) {
      // A run's copies go with it; a dry run shows the files as they are.
      if (dryRun) options.configs = configRequests.map((r) => ({ source: r.file, target: configTarget(r, manifest) }));
      else {
        configDir = join(layout(ctx.root).tmp, `run-${process.pid}-configs-${randomBytes(3).toString('hex')}`);
        const [{ copyConfigs }, { serviceUid }] = await Promise.all([import('../../sandbox/grants-host.js'), import('../../sandbox/uids.js')]);
        options.configs = await copyConfigs(configDir, configRequests, manifest, (await serviceUid(ctx.root, service)).uid);
      }
    }
    await runPrepared(ctx, { pkg, manifest, service, options, temporaryState, backend, attachAs: service, mode: { run: true, dryRun }, oneOff: null }, opts);
  } finally {
    if (configDir !== null) await forceRemove(configDir).catch(() => undefined);
    const dir = temporaryState;
    if (dir !== null) await forceRemove(dir).catch((e: unknown) => { ctx.stderr.write(`niso: could not remove the state dir of this run (${dir}): ${String(e)}\n`); });
    if (temporary) {
      const { removePackages } = await import('../../store/remove.js');
      await removePackages(ctx.root, [pkg]).catch(() => undefined);
      await rm(join(layout(ctx.root).tmp, `run-${process.pid}-${pkg.digest.slice(7, 19)}.json`), { force: true });
    }
  }
}

/** What a run on the command line may set that a one-off takes from its service's definition instead. */
const PACKAGE_RUN_ONLY: readonly (readonly [keyof RunOptions, string])[] = [
  ['name', '--name'], ['preset', '--preset'], ['memory', '--memory'], ['cpus', '--cpus'], ['pids', '--pids'], ['stateSize', '--state-size'],
  ['network', '--network'], ['publish', '-p'], ['net', '--net'], ['capAdd', '--cap-add'], ['allowSyscall', '--allow-syscall'],
  ['volume', '-v'], ['mount', '--mount'], ['config', '--config'], ['secret', '--secret'], ['entrypoint', '--entrypoint'],
];

/**
 * `niso run SERVICE -- CMD`: a new sandbox from the service's own definition, with its uid, volumes and networks (an
 * address of its own; the service's ports stay the service's), CMD as the program, in the foreground, on the
 * service's backend. Only -e/--env-file add to it; the rest of the definition is the service's.
 */
async function runOneOff(ctx: Context, def: ServiceDefinition, argv: string[], opts: RunOptions): Promise<void> {
  const name = def.name;
  const given = PACKAGE_RUN_ONLY.filter(([k]) => { const v = opts[k]; return Array.isArray(v) ? v.length > 0 : v !== undefined; }).map(([, flag]) => flag);
  if (opts.backend !== undefined && opts.backend !== def.backend) given.push(`--backend ${opts.backend}`);
  if (given.length > 0) {
    throw new NisoError('NISO3321', `${given.join(', ')}: a one-off of service ${name} runs with the service's own definition (${def.backend} backend); only -e and --env-file add to it`, {
      exitCode: 2, hint: `to run the package ${def.package.name} with other options, name it: \`niso run ${def.package.name}:${def.package.version} ${given[0]} ...\`; to change the service, activate it again`,
    });
  }
  if (argv.length === 0 || argv[0] === '') {
    throw new NisoError('NISO3320', `${name} is a service here: \`niso run ${name}\` runs a command of its package against it, and none was given`, {
      exitCode: 2, hint: `write the command after --, \`niso run ${name} -- PROGRAM [ARGS...]\` (a program of its package or runtime); to run the package itself: \`niso run ${def.package.name}:${def.package.version}\``,
    });
  }
  const env = parseEnv(ctx, opts);
  await sweepTemporaryInstalls(ctx);
  const pkg = await resolveOne(ctx.root, def.package.digest);
  // The same name is a package too: say which one was meant, and how to mean the other.
  if (await resolveOne(ctx.root, name).catch(() => null)) {
    ctx.stderr.write(`note: ${name} is a service here, so this runs ${argv[0]} as a one-off of it; to run the package ${name} instead, write ${name}:VERSION or its path\n`);
  }
  const manifest = await installedManifest(pkg);
  checkEntrypoint(manifest, argv[0]!);
  const dryRun = opts.dryRun === true || opts.json === true;
  await runPrepared(ctx, {
    pkg, manifest, service: name, options: oneOffOptions(def, argv, env), temporaryState: null, backend: def.backend, attachAs: oneOffAttachName(name),
    mode: { run: true, dryRun, oneOff: { serviceActive: await activeCheck(ctx.root, name) } }, oneOff: { service: name, argv },
  }, opts);
}

/** Plans a run, attaches its network (unless it only shows itself), and runs it on its backend; its network goes after. */
async function runPrepared(ctx: Context, s: RunSetup, opts: RunOptions): Promise<void> {
  const { pkg, manifest, service, options, temporaryState } = s;
  let detach: (() => Promise<void>) | null = null;
  try {
    // The plan is made with a placeholder network first: whether the app gets a private network
    // (the manifest's default) is the plan's decision, and a dry run never creates one.
    let plan = await preparePlan(ctx, pkg, manifest, service, options, { netns: '/run/netns/(prepared at start)', hosts: '' }, temporaryState, s.mode);
    if (plan.network.mode === 'private' && !s.mode.dryRun) {
      const net = await import('../../net/host/manager.js');
      const netCtx = net.netContext(ctx.root);
      const endpoint = await net.attachService(netCtx, { service: s.attachAs, networks: plan.network.networks, ports: plan.network.ports, egress: plan.network.egress, ownerPid: process.pid });
      detach = () => net.detachService(netCtx, s.attachAs).then(() => undefined);
      const netnsPath = endpoint.netns.startsWith('/') ? endpoint.netns : `/run/netns/${endpoint.netns}`;
      plan = replanned(plan, await preparePlan(ctx, pkg, manifest, service, options, { netns: netnsPath, hosts: await net.hostsFor(netCtx, s.attachAs) }, temporaryState, s.mode));
      for (const a of endpoint.attachments) ctx.stderr.write(`niso: ${s.attachAs} is ${a.address} on network ${a.network}\n`);
    }
    for (const n of plan.notes) ctx.stderr.write(`note: ${n}\n`);
    // What --dry-run and --json show: the values of the manifest's and the command line's variables are hidden, as
    // they are often secrets, and such output ends up in terminals, CI logs and bug reports.
    const shown = redactedPlan(plan, [...Object.keys(manifest.env), ...Object.keys(options.env ?? {})]);
    if (s.backend === 'systemd') {
      await runAsUnit(ctx, plan, manifest.runtime ? manifest.runtime.use.name : null, opts, shown, s.oneOff);
      return;
    }
    const seccomp = compileSeccomp(plan);
    if (opts.dryRun || opts.json) {
      // renderCommand, as a real run: a plan bubblewrap cannot carry (capabilities) is NISO3201, not a crash.
      const cmd = renderCommand(shown, seccomp, true);
      if (opts.json) { printJson(ctx, { plan: shown, command: cmd.argv, fds: cmd.fds, ...(s.oneOff ? { oneOff: s.oneOff } : {}) }); return; }
      if (s.oneOff) ctx.stdout.write(oneOffHeading(s.oneOff));
      ctx.stdout.write(`# ${plan.package.name} ${plan.package.version} as service ${plan.service} (uid ${plan.user.uid}), preset ${plan.preset}, network ${plan.network.mode}\n`);
      if (plan.runtime) ctx.stdout.write(`# runtime ${describeRuntime(plan.runtime)}\n`);
      for (const o of plan.overrides) ctx.stdout.write(`# override ${o.property}: ${JSON.stringify(o.preset)} -> ${JSON.stringify(o.value)} (${overrideSource(o)})\n`);
      for (const f of cmd.fds) ctx.stdout.write(`# fd ${f.fd}: ${f.kind === 'seccomp' ? `seccomp filter (${seccomp?.length ?? 0} bytes)` : f.kind === 'status' ? 'bwrap status (read by niso)' : f.kind === 'env' ? `the environment: ${describeEnv(shown.command.env)}` : f.kind === 'secret' ? describeSecretFd(plan, f.secret) : `contents of ${plan.mounts.find((m) => m.type === 'file' && m.content === f.content)?.target ?? 'a file'}`}\n`);
      ctx.stdout.write(`${shellQuote(cmd.argv)}\n`);
      return;
    }
    const { secretValues } = await import('../../secret/store.js');
    const r = await runSandbox(plan, seccomp, { secrets: secretValues(ctx.root, plan) });
    if (r.signal) ctx.stderr.write(`niso: ${plan.service} ended by ${r.signal}\n`);
    ctx.exitCode = r.exitCode;
  } finally {
    if (detach) await detach().catch((e: unknown) => { ctx.stderr.write(`niso: could not remove the network of this run: ${String(e)}\n`); });
  }
}
