// A parsed stack.toml + the variables it may read (given as data) → a ResolvedStack, or every problem at once, each
// with file:line:column. In order: `x-` keys dropped, every value interpolated, each table validated (schema.ts),
// the rules across services checked (check.ts), and each enabled service mapped to the PlanOptions that `niso activate`
// would build from the equivalent command line. The result is frozen: nothing is looked up again, so a switch back to
// a generation never depends on the shell or the files of the day.
import { posix } from 'node:path';
import type { Diagnostic } from '../errors/niso-error.js';
import type { MountOption, PlanOptions } from '../plan/build-plan.js';
import { formatPath, locate, type PathKey, type Pos } from '../manifest/toml-positions.js';
import { validateDocument } from '../manifest/validate.js';
import { checkStack, enabledBy, hostNames, type CheckResult } from './check.js';
import { parseDotenv } from './dotenv.js';
import { stripExtensions } from './extensions.js';
import { interpolate, type Lookup } from './interpolate.js';
import { DEFAULT_NETWORK_KEY, hostServiceName } from './names.js';
import { absoluteRefPath } from './package-ref.js';
import type { StackSource } from './parse.js';
import { stackSchema, type StackFile, type StackFileService } from './schema.js';
import { STACK_FORMAT, type ResolvedStack, type StackConfig, type StackDependency, type StackNetwork, type StackService, type StackServiceNetwork, type StackVolume } from './types.js';

export interface ResolveOptions {
  /** The stack file's absolute path: relative paths in it are taken from its directory. */
  path: string;
  /** Profiles asked for on the command line, besides `[stack] profiles`. */
  profiles?: readonly string[];
  /**
   * The env_file files the services name (envFilesOf lists them), by absolute path: their text, or null for a file
   * that does not exist. One not given counts as missing.
   */
  envFiles?: Readonly<Record<string, string | null>>;
  /**
   * Whether a service's package has a health check, where the stack does not set one: known only where the package is
   * (host-side); undefined: not known, and `healthy` on it is not judged here.
   */
  hasHealthcheck?: (service: string) => boolean | undefined;
}

export type VariableSource = 'environment' | '.env' | 'unset';

export interface ResolveResult {
  stack?: ResolvedStack;
  /** Errors: with any, there is no stack. */
  diagnostics: Diagnostic[];
  warnings: Diagnostic[];
  /** Every variable the file reads, and where its value came from (never the value). */
  variables: { name: string; from: VariableSource }[];
  /** Where a path of the file stands, for problems found later (host-side checks). */
  locate(path: readonly PathKey[], prefer?: 'key' | 'value'): { file: string } & Pos;
  /** The same for a field of a service named in the stack (`api`, ["ports", 1]). */
  locateService(service: string, path: readonly PathKey[], prefer?: 'key' | 'value'): { file: string } & Pos;
}

type Vars = Readonly<Record<string, string | undefined>>;

/** Variables are looked up in the environment first, then in the .env file beside the stack file (Compose's order). */
function mappingOf(env: Vars, dotenv: Vars): { lookup: Lookup; sources: Map<string, VariableSource> } {
  const sources = new Map<string, VariableSource>();
  const lookup: Lookup = (name) => {
    const e = Object.hasOwn(env, name) ? env[name] : undefined;
    const d = Object.hasOwn(dotenv, name) ? dotenv[name] : undefined;
    const v = e ?? d;
    if (!sources.has(name)) sources.set(name, e !== undefined ? 'environment' : d !== undefined ? '.env' : 'unset');
    return v;
  };
  return { lookup, sources };
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Every string value interpolated in place (keys never are), with each problem at its place in the file. */
function interpolateAll(value: unknown, source: StackSource, lookup: Lookup, out: CheckResult): unknown {
  const { doc, file } = source;
  const walk = (v: unknown, path: PathKey[]): unknown => {
    if (typeof v === 'string') {
      if (!v.includes('$')) return v;
      const r = interpolate(v, lookup);
      if (r.issues.length > 0) {
        const pos = doc.positionOf(path);
        const raw = pos?.raw;
        // A plain one-line string without escapes: point at the very character; otherwise at the value.
        const exact = raw !== undefined && /^(["'])[^\n\\]*\1$/.test(raw) && !/^("""|''')/.test(raw);
        const base = locate(doc, path);
        for (const x of r.issues) {
          const where = exact ? { line: base.line, column: base.column + 1 + x.offset } : base;
          const code = x.kind === 'invalid' ? 'NISO5313' : x.kind === 'required' ? 'NISO5314' : 'NISO5315';
          const d: Diagnostic = { code, file, ...where, field: formatPath(path), message: `${formatPath(path)}: ${x.message}`, hint: x.hint };
          (x.kind === 'unset' ? out.warnings : out.errors).push(d);
        }
      }
      return r.value;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (isTable(v)) {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = walk(x, [...path, k]);
      return o;
    }
    return v;
  };
  return walk(value, []);
}

/** A service's env_file entries as the file gives them: the path as written, whether it must exist, and where. */
function envFileEntries(raw: unknown, index: number): { path: string; required: boolean; at: PathKey[] }[] {
  const one = (e: unknown, at: PathKey[]) => (typeof e === 'string' ? [{ path: e, required: true, at }] : isTable(e) && typeof e.path === 'string' ? [{ path: e.path, required: e.required !== false, at: [...at, 'path'] }] : []);
  const base: PathKey[] = ['service', index, 'env_file'];
  return Array.isArray(raw) ? raw.flatMap((e, i) => one(e, [...base, i])) : one(raw, base);
}

/** The env_file files a stack names (after interpolation), absolute: what the caller reads before resolveStack. */
export function envFilesOf(source: StackSource, env: Vars, dotenv: Vars, path: string): string[] {
  const { lookup } = mappingOf(env, dotenv);
  const root = interpolateAll(stripExtensions(source.doc.value, stackSchema), source, lookup, { errors: [], warnings: [] });
  const services = isTable(root) && Array.isArray(root.service) ? root.service : [];
  const dir = posix.dirname(path);
  return [...new Set(services.flatMap((s, i) => envFileEntries(isTable(s) ? s.env_file : undefined, i).map((e) => posix.resolve(dir, e.path))))];
}


export function resolveStack(source: StackSource, env: Vars, dotenv: Vars, options: ResolveOptions): ResolveResult {
  const { doc, file } = source;
  const where = (path: readonly PathKey[], prefer: 'key' | 'value' = 'value') => ({ file, ...locate(doc, path, prefer) });
  const { lookup, sources } = mappingOf(env, dotenv);
  const found: CheckResult = { errors: [], warnings: [] };
  const root = interpolateAll(stripExtensions(doc.value, stackSchema), source, lookup, found) as Record<string, unknown>;
  const validated = validateDocument(stackSchema, { ...doc, value: root }, file);
  for (const d of validated.diagnostics) {
    // validate.ts speaks of manifests in a few hints; say it for a stack file.
    let hint = d.hint?.replace(/see the manifest reference/g, 'see "Stacks" in the README').replace(/ under \[service\[\d+\]\]$/, ' in that [[service]] table');
    if (d.code === 'NISO1004' && d.field === 'service') hint = 'add a [[service]] table with its name and package';
    found.errors.push({ ...d, ...(hint === undefined ? {} : { hint }) });
  }
  const rawStack = isTable(root.stack) ? root.stack : {};
  const fileProfiles = Array.isArray(rawStack.profiles) ? rawStack.profiles.filter((p): p is string => typeof p === 'string') : [];
  const profiles = [...new Set([...fileProfiles, ...(options.profiles ?? [])])];
  const cross = checkStack({ doc, root, file, profiles, ...(options.hasHealthcheck ? { hasHealthcheck: options.hasHealthcheck } : {}) });
  found.errors.push(...cross.errors);
  found.warnings.push(...cross.warnings);

  // env_files of the services that run, read from what the file says (also where other fields failed).
  const dir = posix.dirname(options.path);
  const enabled = enabledBy(profiles);
  const fileEnv = new Map<number, Record<string, string>>();
  (Array.isArray(root.service) ? root.service : []).forEach((raw, index) => {
    const svc = isTable(raw) ? raw : {};
    const own = Array.isArray(svc.profiles) ? svc.profiles.filter((p): p is string => typeof p === 'string') : [];
    if (svc.env_file === undefined || !enabled({ profiles: own })) return;
    const name = typeof svc.name === 'string' ? svc.name : `service[${index}]`;
    fileEnv.set(index, envFromFiles(svc.env_file, index, name, (p) => posix.resolve(dir, p), lookup, options.envFiles ?? {}, found, where));
  });

  let stack: ResolvedStack | undefined;
  if (validated.value !== undefined && found.errors.length === 0) stack = build(validated.value, { ...options, profiles }, lookup, root, fileEnv);
  const variables = [...sources].map(([name, from]) => ({ name, from }));
  const byPlace = (a: Diagnostic, b: Diagnostic) => (a.file === b.file ? 0 : a.file === file ? -1 : b.file === file ? 1 : (a.file ?? '') < (b.file ?? '') ? -1 : 1) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
  const errors = dedupe(found.errors).sort(byPlace);
  const rawServices = Array.isArray(root.service) ? root.service : [];
  const locateService = (service: string, path: readonly PathKey[], prefer: 'key' | 'value' = 'value') => {
    const i = rawServices.findIndex((x) => isTable(x) && x.name === service);
    return where(i < 0 ? [] : ['service', i, ...path], prefer);
  };
  return { ...(errors.length === 0 && stack ? { stack } : {}), diagnostics: errors, warnings: dedupe(found.warnings).sort(byPlace), variables, locate: where, locateService };
}

function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = `${d.code}|${d.file}|${d.line}|${d.column}|${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function build(file: StackFile, options: ResolveOptions & { profiles: string[] }, lookup: Lookup, root: Record<string, unknown>, fileEnv: ReadonlyMap<number, Record<string, string>>): ResolvedStack {
  const stackName = file.stack.name;
  const dir = posix.dirname(options.path);
  const abs = (p: string) => posix.resolve(dir, p);
  const names = hostNames(root);
  const enabled = enabledBy(options.profiles);
  const enabledNames = new Set(file.service.filter((s) => enabled({ profiles: s.profiles ?? [] })).map((s) => s.name));
  const services: StackService[] = [];
  const usedNetworks = new Map<string, StackNetwork>();
  const usedVolumes = new Map<string, StackVolume>();
  file.service.forEach((s, index) => {
    if (!enabledNames.has(s.name)) return;
    const env = serviceEnv(s, fileEnv.get(index) ?? {}, lookup);
    const o: PlanOptions = {};
    if (Object.keys(env).length > 0) o.env = env;
    const ep = s.entrypoint === undefined ? undefined : Array.isArray(s.entrypoint) ? s.entrypoint : [s.entrypoint];
    if (ep) o.entrypoint = ep[0]!;
    const args = [...(ep?.slice(1) ?? []), ...(s.command ?? [])];
    // With an entrypoint of its own the manifest's args are dropped (as --entrypoint does), so [] is meant.
    if (s.command !== undefined || ep) o.args = args;
    if (s.network_mode !== undefined) o.network = s.network_mode;
    const isolatedNet = s.network_mode === 'host' || s.network_mode === 'none';
    const netKeys = isolatedNet ? [] : s.networks === undefined ? [DEFAULT_NETWORK_KEY] : Array.isArray(s.networks) ? s.networks : Object.keys(s.networks);
    const networks: StackServiceNetwork[] = [...new Set(netKeys)].map((key) => {
      const aliases = !Array.isArray(s.networks) && s.networks?.[key] ? s.networks[key]!.aliases : [];
      const decl = file.network[key];
      const name = names.network(key);
      if (!usedNetworks.has(key)) usedNetworks.set(key, { key, name, external: decl?.external ?? false, egress: decl?.egress ?? true });
      return { key, name, aliases: [...new Set([s.name, ...aliases])], ...(decl?.external ? { external: true as const } : decl?.egress === false ? { egress: false as const } : {}) };
    });
    if (networks.length > 0) o.networks = networks.map((n) => n.name);
    if (s.ports !== undefined) o.ports = s.ports;
    const mounts: MountOption[] = [];
    const volume = (key: string, target: string, readOnly: boolean, exclusive: boolean) => {
      const name = names.volume(key);
      if (!usedVolumes.has(key)) usedVolumes.set(key, { key, name, external: file.volume[key]?.external ?? false });
      mounts.push({ type: 'volume', source: name, target, readOnly, exclusive });
    };
    if (Array.isArray(s.volumes)) {
      for (const m of s.volumes) {
        if (m.kind === 'volume') volume(m.key, m.target, m.readOnly, m.exclusive);
        else mounts.push({ type: 'bind', source: abs(m.source), target: m.target, readOnly: m.readOnly });
      }
    } else if (s.volumes) {
      for (const [key, v] of Object.entries(s.volumes)) {
        if (typeof v === 'string') volume(key, v, false, false);
        else volume(key, v.mount, v.read_only, v.exclusive);
      }
    }
    for (const b of s.binds ?? []) mounts.push({ type: 'bind', source: abs(b.source), target: b.target, readOnly: b.read_only });
    if (mounts.length > 0) o.mounts = mounts;
    if (s.secrets !== undefined) {
      o.secrets = Array.isArray(s.secrets) ? [...new Set(s.secrets)].map((name) => ({ name })) : Object.entries(s.secrets).map(([name, v]) => (v.target === undefined ? { name } : { name, target: v.target }));
    }
    if (s.restart !== undefined) o.restart = s.restart;
    if (s.resources?.memory !== undefined) o.memoryBytes = s.resources.memory;
    if (s.resources?.cpus !== undefined) o.cpus = s.resources.cpus;
    if (s.resources?.pids !== undefined) o.pids = s.resources.pids;
    if (s.resources?.state_size !== undefined) o.stateBytes = s.resources.state_size;
    if (s.preset !== undefined) o.preset = s.preset;
    if (s.cap_add !== undefined) o.capabilities = [...new Set(s.cap_add)];
    const configs: StackConfig[] = Object.entries(s.configs ?? {}).map(([key, f]) => (key.startsWith('/') ? { name: null, target: key, file: abs(f) } : { name: key, target: null, file: abs(f) }));
    const dependsOn: StackDependency[] = [];
    if (Array.isArray(s.depends_on)) {
      for (const d of new Set(s.depends_on)) dependsOn.push({ service: d, condition: 'started', restart: false, required: true });
    } else if (s.depends_on) {
      for (const [d, v] of Object.entries(s.depends_on)) dependsOn.push(typeof v === 'string' ? { service: d, condition: v, restart: false, required: true } : { service: d, condition: v.condition, restart: v.restart, required: v.required });
    }
    services.push({
      service: s.name,
      name: hostServiceName(stackName, s.name),
      stack: stackName,
      package: s.package,
      ...(s.package.kind === 'path' ? { packagePath: absoluteRefPath(s.package, dir) } : {}),
      options: o,
      configs,
      ...(s.healthcheck === undefined ? {} : { healthcheck: s.healthcheck === 'none' ? null : s.healthcheck }),
      // An optional dependency the profiles leave out is not waited for (check.ts warned about it).
      dependsOn: dependsOn.filter((d) => enabledNames.has(d.service)),
      networks,
      profiles: s.profiles ?? [],
    });
  });
  const byKey = <T extends { key: string }>(m: Map<string, T>) => [...m.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return deepFreeze({
    format: STACK_FORMAT,
    name: stackName,
    ...(file.stack.description === undefined ? {} : { description: file.stack.description }),
    file: options.path,
    profiles: options.profiles,
    services,
    inactive: file.service.filter((s) => !enabledNames.has(s.name)).map((s) => ({ service: s.name, profiles: s.profiles ?? [] })),
    networks: byKey(usedNetworks),
    volumes: byKey(usedVolumes),
  });
}

/**
 * What the env_files of a service give, in order (later files win): read from the file's values as written, so that
 * a missing or broken env file is reported with every other problem, not only once the rest is right.
 */
function envFromFiles(raw: unknown, index: number, name: string, abs: (p: string) => string, lookup: Lookup, files: Readonly<Record<string, string | null>>, found: CheckResult, where: ResolveResult['locate']): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of envFileEntries(raw, index)) {
    const path = abs(e.path);
    const text = Object.hasOwn(files, path) ? files[path] : null;
    if (text === null || text === undefined) {
      if (e.required) found.errors.push({ code: 'NISO5317', ...where(e.at), field: formatPath(e.at), message: `${name}: env_file ${e.path} (${path}) does not exist`, hint: 'create it, fix the path (relative paths start at the stack file\'s directory), or write { path = "...", required = false }' });
      continue;
    }
    const parsed = parseDotenv(text, { lookup, prefer: 'file' });
    for (const p of parsed.problems) (p.warning ? found.warnings : found.errors).push({ code: p.warning ? 'NISO5315' : 'NISO5316', file: path, line: p.line, column: p.column, message: p.message, hint: p.hint });
    for (const x of parsed.entries) {
      if (x.name.startsWith('NISO_')) found.errors.push({ code: 'NISO1401', file: path, line: x.line, column: 1, message: `${JSON.stringify(x.name)} uses the NISO_ prefix, which niso reserves for the variables it sets`, hint: 'rename the variable' });
    }
    for (const [k, v] of Object.entries(parsed.vars)) if (!k.startsWith('NISO_')) env[k] = v;
  }
  return env;
}

/** The env_files' variables, then `environment` over them. */
function serviceEnv(s: StackFileService, fromFiles: Readonly<Record<string, string>>, lookup: Lookup): Record<string, string> {
  const env: Record<string, string> = { ...fromFiles };
  if (Array.isArray(s.environment)) {
    for (const e of s.environment) {
      const eq = e.indexOf('=');
      if (eq >= 0) env[e.slice(0, eq)] = e.slice(eq + 1);
      else {
        const v = lookup(e);
        if (v !== undefined) env[e] = v;
      }
    }
  } else if (s.environment) Object.assign(env, s.environment);
  return env;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
