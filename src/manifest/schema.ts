// The manifest.toml schema: one zod definition gives validation, the normalised TypeScript type,
// the published JSON Schema (schemas/manifest.schema.json) and the field reference in the docs.
import { z } from 'zod';
import semverParse from 'semver/functions/parse.js';
import semverValid from 'semver/functions/valid.js';
import { DURATION_PATTERN, MIN_STATE_BYTES, SIZE_PATTERN, formatDuration, parseDuration, parseSize, parseStateSize, parsePortMapping, type Parsed, type PortMapping } from './units.js';
import { suggest } from './suggest.js';
import { ARCHES, CAPABILITIES, CONFIG_TARGETS_RESERVED, LIMITS, MOUNT_TARGETS_RESERVED, PRESETS, RUNTIME_NAMES, STOP_SIGNALS, isNormalisedPath, reservedHit, runtimeCommands } from './constants.js';
import { SYSCALL_GROUPS, expandSyscallNames } from '../render/seccomp-syscalls.js';
import { INSTALLABLE_NAMES } from '../runtime/packument.js';
import type { RuntimeName } from '../runtime/types.js';
import { SECRETS_DIR, secretNameProblem, suggestSecretName, targetProblem } from '../secret/names.js';

export { ARCHES, CAPABILITIES, PRESETS, RUNTIME_NAMES, STOP_SIGNALS } from './constants.js';

/** Attach a niso error code and hint to a zod issue; parse.ts turns these into diagnostics. */
export interface NisoIssueParams {
  niso: string;
  hint?: string;
  /** Point at the key rather than its value: the problem is the name (an env var, a volume). */
  at?: 'key';
}

/** The part of zod's refinement context the rules below use (shared with src/stack/schema.ts). */
export type Ctx = { issues: { push(issue: { code: 'custom'; message: string; input: unknown; params: NisoIssueParams; path?: PropertyKey[] }): void } };

export function report(ctx: Ctx, input: unknown, code: string, message: string, hint?: string, path?: PropertyKey[], at?: 'key'): void {
  ctx.issues.push({ code: 'custom', message, input, params: { niso: code, hint, ...(at ? { at } : {}) }, ...(path ? { path } : {}) });
}

export const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A rule across the fields of a table (or the entries of a list). zod skips such rules once any
 * field has failed; these still run, so that one pass reports every problem. Fields that failed
 * hold their raw input, so a rule must check the type of whatever it reads.
 */
export function across(fn: (v: Record<string, unknown>, ctx: Ctx) => void) {
  return z.superRefine((_: unknown, payload) => fn(payload.value as Record<string, unknown>, payload as unknown as Ctx), { when: (p) => isTable(p.value) });
}
export function acrossList(fn: (v: unknown[], ctx: Ctx) => void) {
  return z.superRefine((_: unknown, payload) => fn(payload.value as unknown[], payload as unknown as Ctx), { when: (p) => Array.isArray(p.value) });
}

export function converted<T>(base: z.ZodType<string | number>, parse: (v: string | number) => Parsed<T>) {
  return base.transform((v, ctx): T => {
    const r = parse(v);
    if (r.ok) return r.value;
    report(ctx, v, r.code, r.message, r.hint);
    return z.NEVER;
  });
}

// Examples and patterns of converted values sit on the input side: the JSON Schema describes what
// is written in the file (and drops metadata of the converted side), and so do the hints.
const duration = (description: string, dflt: string) =>
  converted(z.string().meta({ pattern: DURATION_PATTERN, examples: ['30s', '500ms', '1m30s'] }), (v) => parseDuration(String(v))).prefault(dflt).meta({ description });

/** A size of at least `min` bytes (written as a string with a unit, or a number of bytes). */
const size = (description: string, min: number) => {
  const least = min % (1024 * 1024) === 0 ? `${min / 1024 / 1024}M` : `${min / 1024}K`;
  return converted(z.union([z.string().meta({ pattern: SIZE_PATTERN, examples: ['512M', '1G'] }), z.number().meta({ type: 'integer', minimum: min, examples: [1048576] })]), (v) => {
    const r = parseSize(v);
    if (!r.ok || r.value >= min) return r;
    return { ok: false, code: 'NISO1006', message: `${typeof v === 'string' ? `"${v}"` : v} is below the minimum of ${least}`, hint: `use at least "${least}"` };
  }).meta({ description: `${description} At least "${least}".` });
};

export const RESTART_POLICIES = ['no', 'on-failure', 'always', 'unless-stopped'] as const;
export const NETWORK_MODES = ['private', 'none', 'host'] as const;

const isPortMapping = (m: unknown): m is PortMapping => isTable(m) && isTable(m.host) && typeof m.protocol === 'string';

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A program's file name in /usr/bin: no path, nothing a shell or a unit file would read as syntax. */
const TOOL_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._+-]{0,63}$/;

/** The closest valid package name to any text (a directory name, a mistyped name). */
export function toPackageName(text: string): string {
  const s = text.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/-{2,}/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64).replace(/[^a-z0-9]+$/, '');
  return s === '' ? 'my-app' : s;
}

export function isPackageName(text: string): boolean {
  return NAME_RE.test(text);
}

const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An absolute, normalised path inside the sandbox. */
function sandboxPath(description: string, example: string, forbidden: readonly string[] = [], placeHint = 'mount volumes at a path of their own, e.g. "/data"') {
  return z.string().meta({ description, examples: [example] }).check((ctx) => {
    const p = ctx.value;
    const forbiddenBy = (q: string) => reservedHit(q, forbidden);
    if (!isNormalisedPath(p)) {
      const fixed = normalisePath(p);
      const example = fixed !== null && fixed !== '/' && !forbiddenBy(fixed) ? fixed : forbidden.length ? '/data' : '/app';
      report(ctx, p, 'NISO1402', `"${p}" is not an absolute, normalised path`, `write an absolute path without ".", ".." or "//", e.g. "${example}"`);
      return;
    }
    const hit = forbiddenBy(p);
    if (!hit) return;
    const what = p === hit ? `would hide ${hit === '/' ? 'the whole file system' : hit}` : `is inside ${hit}`;
    report(ctx, p, 'NISO1402', `"${p}" ${what}, which niso manages`, placeHint);
  });
}

/** "./app" → "/app", "/data/../etc" → "/etc"; null when ".." climbs above the root. */
function normalisePath(p: string): string | null {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') { if (out.pop() === undefined) return null; } else out.push(seg);
  }
  return '/' + out.join('/');
}

function relativePattern(s: string): { why: string; hint?: string } | null {
  if (s.trim() === '') return { why: 'is empty', hint: 'remove it' };
  if (s.startsWith('/')) return { why: 'is absolute', hint: `patterns are relative to the app directory, e.g. "${s.replace(/^\/+/, '') || '**'}"` };
  const segs = s.split('/');
  if (segs.includes('..')) return { why: 'climbs out of the app with ".."' };
  // Paths are matched without a leading "./", so such a pattern would silently match nothing.
  if (segs.includes('.')) return { why: 'has a "." path segment, which never matches', hint: `write "${segs.filter((x) => x !== '.').join('/')}"` };
  return null;
}

const patternList = (description: string) =>
  z.array(z.string()).meta({ description }).check((ctx) => {
    ctx.value.forEach((s, i) => {
      const bad = relativePattern(s);
      if (bad) report(ctx, s, 'NISO1403', `pattern "${s}" ${bad.why}`, bad.hint ?? 'write a pattern relative to the app directory, e.g. "src/**"', [i]);
    });
  });

const packageSection = z.strictObject({
  name: z.string().meta({ description: 'Package name: 1-64 lower-case letters, digits, ".", "_" or "-". Used in file names, store paths and registry names.', examples: ['my-app'], pattern: NAME_RE.source })
    .check((ctx) => { if (!NAME_RE.test(ctx.value)) report(ctx, ctx.value, 'NISO1101', `"${ctx.value}" is not a valid package name`, `use lower-case letters, digits, ".", "_" and "-", e.g. "${toPackageName(ctx.value)}"`); }),
  version: z.string().meta({ description: 'Package version, Semantic Versioning 2.0 (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]).', examples: ['1.0.0', '2.1.0-rc.1'] })
    .check((ctx) => {
      // semver.parse also accepts "v1.2.3" and " 1.2.3"; the manifest takes only the canonical form.
      const v = semverParse(ctx.value);
      const canonical = v === null ? null : v.version + (v.build.length > 0 ? `+${v.build.join('.')}` : '');
      if (canonical !== ctx.value) {
        const parts = ctx.value.split('.');
        const guess = canonical ?? (/^\d+(\.\d+)?$/.test(ctx.value) ? [...parts, '0', '0'].slice(0, 3).join('.') : semverValid(ctx.value, { loose: true }) ?? '1.0.0');
        report(ctx, ctx.value, 'NISO1102', `"${ctx.value}" is not a semantic version`, `write MAJOR.MINOR.PATCH, e.g. "${guess}"`);
      }
    }),
  description: z.string().max(1000).default('').meta({ description: 'One line on what the app does; shown by `niso inspect`.' }),
  license: z.string().max(200).optional().meta({ description: 'SPDX license expression of the app, e.g. "MIT" or "Apache-2.0 OR MIT".' }),
  arch: z.enum(ARCHES).optional().meta({ description: 'CPU architecture the package runs on. Defaults to the architecture of the machine that packs it; "any" for apps without native code.' }),
  homepage: z.string().optional().meta({ description: 'URL of the project\'s home page.' }),
  authors: z.array(z.string()).default([]).meta({ description: 'Authors or maintainers, e.g. ["Ada <ada@example.com>"].' }),
}).meta({ description: 'What the package is.' });

const runtimeSection = z.strictObject({
  use: z.string().meta({ description: 'The runtime the app needs, as NAME:VERSION. NAME is one of ' + RUNTIME_NAMES.join(', ') + '; VERSION is a major ("20"), major.minor ("3.12") or full version ("22.11.0"): every part it names must equal the runtime\'s. The runtime may be the host\'s, one added with `niso runtime add`, or one installed with `niso runtime install`. Leave out [runtime] for a self-contained binary.', examples: ['nodejs:20', 'python:3.12', 'nodejs:22.11.0'] })
    .transform((s, ctx) => {
      const m = /^([a-z][a-z0-9]*):(\d+(?:\.\d+){0,2})$/.exec(s);
      if (!m) {
        const known = (RUNTIME_NAMES as readonly string[]).includes(s);
        report(ctx, s, 'NISO1103', `"${s}" is not a runtime of the form NAME:VERSION`, known ? `add the version, e.g. "${s}:${s === 'python' ? '3.12' : '20'}"` : 'e.g. "nodejs:20" or "python:3.12"');
        return z.NEVER;
      }
      if (!(RUNTIME_NAMES as readonly string[]).includes(m[1]!)) {
        const best = suggest(m[1]!, RUNTIME_NAMES);
        report(ctx, s, 'NISO1103', `unknown runtime "${m[1]}"`, best ? `did you mean "${best}:${m[2]}"?` : `use one of ${RUNTIME_NAMES.join(', ')}`);
        return z.NEVER;
      }
      return { name: m[1] as (typeof RUNTIME_NAMES)[number], version: m[2]! };
    }),
  digest: z.string()
    .check((ctx) => { if (!/^sha256:[0-9a-f]{64}$/.test(ctx.value)) report(ctx, ctx.value, 'NISO1103', `"${ctx.value.slice(0, 80)}" is not a runtime digest`, 'write "sha256:" and the 64 hex digits `niso runtime ls` shows for the installed runtime'); })
    .optional().meta({ description: 'Pins one build of the runtime: the sha256 of the tarball `niso runtime install` installed it from, as `niso runtime ls` shows it. Only that installed runtime then runs the app; `use` must name its full version (e.g. "nodejs:22.11.0"). Without it, any runtime that `use` matches will do (the one the package was packed with first).', examples: ['sha256:4f0e4a3c94e9d1a4e0f7a3f1d8bb7e2c5a9d6b0e1f2a3b4c5d6e7f8091a2b3c4'] }),
}).meta({ description: 'The language runtime, mounted read-only into the sandbox. A package records the runtime it was packed with; at start, a runtime of another release line (another major; for python, ruby and php another major.minor) is refused, and the very build it was packed with is preferred when the host has it.' })
  .check(across((r, ctx) => {
    // A digest names one tarball, so one version of a runtime niso installs; say which, so that the error can say how to get it.
    if (typeof r.digest !== 'string' || !isTable(r.use) || typeof r.use.name !== 'string' || typeof r.use.version !== 'string') return;
    const use = r.use as { name: RuntimeName; version: string };
    if (!INSTALLABLE_NAMES.includes(use.name)) {
      report(ctx, r.digest, 'NISO1103', `a digest pins a runtime installed with \`niso runtime install\`, which ${use.name} cannot be (only ${INSTALLABLE_NAMES.join(', ')})`, use.version.split('.').length === 3 ? `remove digest: use = "${use.name}:${use.version}" pins the version already` : `remove digest, and write the full version in use to pin it, e.g. "${use.name}:${use.version}${'.0'.repeat(3 - use.version.split('.').length)}"`, ['digest']);
    } else if (use.version.split('.').length !== 3) {
      report(ctx, r.digest, 'NISO1103', `with a digest, use names the full version of that build, not "${use.name}:${use.version}"`, `e.g. use = "${use.name}:${use.version}${'.0'.repeat(3 - use.version.split('.').length)}"; \`niso runtime ls\` shows each installed runtime's version and digest`, ['digest']);
    }
  }));

const binarySection = z.strictObject({
  entrypoint: z.string().min(1).meta({ description: 'The program to start: a path inside the package (e.g. "bin/my-app"), or with a [runtime] one of the runtime\'s commands ("node"; "python3", "python" or "python3.MINOR"; "java", "ruby", "php", "deno", "bun"). Nothing else of the host is in the sandbox.', examples: ['node', 'bin/my-app'] }),
  args: z.array(z.string()).default([]).meta({ description: 'Arguments passed to the entrypoint.', examples: [['server.js']] }),
  workdir: sandboxPath('Working directory inside the sandbox.', '/app').default('/app'),
  stop_signal: z.enum(STOP_SIGNALS).default('SIGTERM').meta({ description: 'Signal sent to stop the app gracefully.' }),
  stop_timeout: duration('How long to wait after the stop signal before killing the app.', '10s'),
}).meta({ description: 'How to start the app.' });

const initSection = z.strictObject({
  command: z.array(z.string()).min(1).meta({ description: 'The program to run before the entrypoint, and its arguments: like the entrypoint, a path inside the package or a command of the [runtime]. It runs in the service\'s own sandbox (its user, volumes, network, system call filter and environment) and must exit 0 for the service to start.', examples: [['bin/migrate', '--up'], ['node', 'init.js']] }),
  if_empty: sandboxPath('Run only while this directory (a volume or /state, as the service sees it) is empty or missing: a first-run initialisation such as initdb.', '/data').optional(),
  unless_exists: sandboxPath('Run only while this path (in a volume or /state, as the service sees it) does not exist: the file the initialisation makes last.', '/data/PG_VERSION').optional(),
  timeout: duration('How long it may run before it is killed and the start fails.', '5m'),
}).meta({ description: 'A first-run or every-start step: a command run in the service\'s sandbox before the entrypoint, every start (migrations) or only while a condition holds (if_empty, unless_exists).' })
  .check(across((v, ctx) => {
    if (v.if_empty !== undefined && v.unless_exists !== undefined) report(ctx, v.unless_exists, 'NISO1405', 'the init step has both if_empty and unless_exists', 'keep one condition', ['unless_exists']);
  }));

/** A Debian package name (Debian policy 5.6.1), optionally pinned to a version with "=". */
const DEB_NAME_RE = /^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$/;

const debNameList = (description: string) =>
  z.array(z.string()).meta({ description }).check((ctx) => {
    ctx.value.forEach((s, i) => {
      if (!DEB_NAME_RE.test(s)) report(ctx, s, 'NISO1601', `"${s}" is not a Debian package name`, 'write the name as apt knows it, e.g. "redis-server", or pin a version with "redis-server=5:7.0.15-1~deb12u10"', [i]);
    });
  });

const debianSection = z.strictObject({
  packages: debNameList('Debian packages the package is built from (`apt-get` names, optionally `NAME=VERSION`). `niso pack` downloads them and their `Depends` closure with the host\'s apt, checks them against the signed archive, unpacks them into the package (merged /usr) and adds every library they load, so that the package runs on any host of the same architecture.').min(1),
  exclude: debNameList('Packages of the dependency closure to leave out (with what only they pull in). Packages that serve only maintainer scripts (adduser, debconf, perl-base, init-system-helpers, ...) are left out by default unless named in `packages`.').default([]),
}).meta({ description: 'Build the package from the distribution\'s binaries. The entrypoint is then an absolute path of the Debian root, e.g. "/usr/bin/redis-server".' });

const copySection = z.strictObject({
  include: patternList('Glob patterns (relative to the app directory) of the files to package. Directories match with everything below them.').default(['**']),
  exclude: patternList('Glob patterns of files to leave out, applied after include. A .nisoignore file (gitignore syntax) in the app directory adds more.').default([]),
}).meta({ description: 'Which files of the app directory go into the package. `.git`, `.nisoignore`-listed files and `*.niso` files are always left out.' });

const envSection = z.record(z.string(), z.string()).meta({ description: 'Environment variables for the app. Values are strings; the sandbox starts from an empty environment. Names starting with NISO_ are reserved.', examples: [{ NODE_ENV: 'production', PORT: '3000' }] })
  .check(across((env, ctx) => {
    for (const k of Object.keys(env)) {
      if (!ENV_RE.test(k)) report(ctx, k, 'NISO1401', `"${k}" is not a valid environment variable name`, `use letters, digits and "_", not starting with a digit, e.g. "${k.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^(?=\d)/, '_')}"`, [k], 'key');
      else if (k.startsWith('NISO_')) report(ctx, k, 'NISO1401', `"${k}" uses the NISO_ prefix, which niso reserves for the variables it sets`, 'rename the variable', [k], 'key');
    }
  }));

const networkSection = z.strictObject({
  mode: z.enum(NETWORK_MODES).default('private').meta({ description: '"private": own network namespace, reachable only through mapped ports and from services on the same networks; "none": loopback only; "host": the host\'s network (trusted tools only).' }),
  ports: z.array(converted(z.string().meta({ examples: ['8080:3000', '127.0.0.1:8080:3000', '[::1]:8080:3000', '5353:53/udp', '9000-9010:9000-9010'] }), (v) => parsePortMapping(String(v))).meta({ description: 'One port mapping.' }))
    .check(acrossList((list, ctx) => {
      // A mapping without an address listens on every address, so it collides with any mapping
      // of the same port and protocol; two mappings on different addresses do not collide.
      const seen: { m: PortMapping; i: number }[] = [];
      list.forEach((m, i) => {
        if (!isPortMapping(m)) return;
        const prev = seen.find(({ m: o }) => o.protocol === m.protocol && (o.hostIp === null || m.hostIp === null || o.hostIp === m.hostIp)
          && o.host.from <= m.host.to && m.host.from <= o.host.to);
        if (prev) {
          const port = Math.max(prev.m.host.from, m.host.from);
          const where = prev.m.hostIp === m.hostIp ? '' : ` (a mapping without an address takes the port on every address)`;
          report(ctx, m, 'NISO1203', `host port ${port}/${m.protocol} is mapped by both ports[${prev.i}] and ports[${i}]${where}`, 'map each host port once', [i]);
        } else seen.push({ m, i });
      });
    })).default([]).meta({ description: 'Ports mapped from the host to the app: "[ADDRESS:]HOST:CONTAINER[/tcp|/udp]", with equal-length ranges allowed on both sides. Without an ADDRESS the port is opened on every address of the host.', examples: [['8080:3000', '127.0.0.1:9090:9090', '5353:53/udp']] }),
  networks: z.array(z.string().check((ctx) => {
    if (!NAME_RE.test(ctx.value)) report(ctx, ctx.value, 'NISO1101', `"${ctx.value}" is not a valid network name`, `use lower-case letters, digits, ".", "_" and "-", e.g. "${toPackageName(ctx.value)}"`);
  })).default([]).meta({ description: 'Named niso networks to join (mode "private"); services on a shared network reach each other by name.' }),
  egress: z.boolean().default(true).meta({ description: 'Whether the app may open connections to the outside world.' }),
}).meta({ description: 'The app\'s network.' })
  .check(across((v, ctx) => {
    // Ports and networks are wired into the app's own namespace, which only "private" has.
    if (v.mode !== 'none' && v.mode !== 'host') return;
    for (const key of ['ports', 'networks'] as const) {
      const list = v[key];
      if (Array.isArray(list) && list.length > 0) report(ctx, list, 'NISO1405', `${key} need network mode "private", not "${v.mode}"`, v.mode === 'host' ? `remove ${key}: with mode "host" the app listens on the host's ports directly` : `remove ${key} or set mode = "private"`, [key]);
    }
  }));

const healthSection = z.strictObject({
  http: z.string().check((ctx) => {
    if (!/^http:\/\/[^/\s]+(\/\S*)?$/.test(ctx.value)) report(ctx, ctx.value, 'NISO1404', `"${ctx.value}" is not an http:// URL`, 'the probe runs inside the app\'s network; write e.g. "http://127.0.0.1:3000/health"');
  }).optional().meta({ description: 'Probe by HTTP GET (plain http://, from inside the app\'s network); healthy on a 2xx or 3xx status.', examples: ['http://127.0.0.1:3000/health'] }),
  tcp: z.union([z.number().int().min(1).max(65535), z.string().check((ctx) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(ctx.value);
    if (!m) report(ctx, ctx.value, 'NISO1404', `"${ctx.value}" is not a port or ADDRESS:PORT`, 'write e.g. 3000 or "127.0.0.1:3000"');
    else if (Number(m[2]) < 1 || Number(m[2]) > 65535) report(ctx, ctx.value, 'NISO1202', `"${ctx.value}": port ${m[2]} is outside 1-65535`, 'use a port from 1 to 65535');
  })]).optional().meta({ description: 'Probe by opening a TCP connection to a port (or "ADDRESS:PORT").', examples: [3000, '127.0.0.1:3000'] }),
  exec: z.array(z.string()).min(1).optional().meta({ description: 'Probe by running a command inside the sandbox; healthy when it exits 0.', examples: [['bin/check', '--quick']] }),
  interval: duration('Time between probes.', '30s'),
  timeout: duration('How long one probe may take before it counts as failed.', '5s'),
  retries: z.number().int().min(1).max(100).default(3).meta({ description: 'Consecutive failures before the app is unhealthy.' }),
  start_period: duration('Grace period after start during which failures do not count.', '0s'),
  start_interval: duration('Time between probes during the start period.', '5s'),
  on_unhealthy: z.enum(['restart', 'none']).default('restart').meta({ description: 'What to do when the app turns unhealthy: restart it, or only report it.' }),
}).meta({ description: 'How niso checks that the app works. Give exactly one of http, tcp or exec.' })
  .check(across((v, ctx) => {
    const probes = (['http', 'tcp', 'exec'] as const).filter((k) => v[k] !== undefined);
    if (probes.length === 0) report(ctx, v, 'NISO1404', 'the health check has no probe', 'add one of http, tcp or exec, e.g. tcp = 3000');
    // Point at the second probe: the first one is the one the author most likely meant.
    else if (probes.length > 1) report(ctx, v, 'NISO1404', `the health check has ${probes.length} probes (${probes.join(', ')})`, `keep exactly one of ${probes.join(', ')}`, [probes[1]!]);
    if (typeof v.timeout === 'number' && typeof v.interval === 'number' && v.timeout > v.interval) {
      report(ctx, v.timeout, 'NISO1405', `the health check timeout (${formatDuration(v.timeout)}) is longer than its interval (${formatDuration(v.interval)})`, 'make timeout at most the interval', ['timeout']);
    }
  }));

const isolationSection = z.strictObject({
  preset: z.enum(PRESETS).default('server').meta({ description: '"server" (default): own user and namespaces, no capabilities, a syscall filter, read-only except /tmp and the state dir. "strict": also no network and default resource limits. "unsafe-none": no sandbox at all, for trusted tools only.' }),
  capabilities: z.array(z.enum(CAPABILITIES)).default([]).meta({ description: 'Capabilities to grant on top of the preset (normally none), e.g. ["CAP_NET_BIND_SERVICE"] to listen on ports below 1024.' }),
  syscalls: z.array(z.string().check((ctx) => {
    if (!/^@?[a-z0-9_]+$/.test(ctx.value)) report(ctx, ctx.value, 'NISO1005', `"${ctx.value}" is not a system call name or @group`, 'write a lower-case name such as "mlock" or a group such as "@clock"');
    else if (expandSyscallNames([ctx.value]).unknown.length > 0) {
      const group = ctx.value.startsWith('@');
      const best = group ? suggest(ctx.value, Object.keys(SYSCALL_GROUPS)) : undefined;
      report(ctx, ctx.value, 'NISO1005', group ? `"${ctx.value}" is not a syscall group niso knows` : `"${ctx.value}" is not a system call of x86_64 or aarch64`, best ? `did you mean "${best}"?` : group ? `the groups are ${Object.keys(SYSCALL_GROUPS).join(', ')}` : 'check the spelling against `man 2 syscalls`');
    }
  })).default([]).meta({ description: 'System calls or @groups to allow on top of the preset\'s filter.', examples: [['@clock']] }),
  tmp_size: size('Size of the private /tmp (a tmpfs).', LIMITS.tmpBytes.min).prefault('64M'),
  tools: z.array(z.string().check((ctx) => {
    if (!TOOL_NAME_RE.test(ctx.value)) {
      const name = ctx.value.split('/').filter((x) => x !== '').pop() ?? '';
      report(ctx, ctx.value, 'NISO1410', `"${ctx.value}" is not the name of a host program`, TOOL_NAME_RE.test(name) ? `write the program's name without its directory, e.g. "${name}"` : 'write a program\'s name as it is found in /usr/bin or /bin, e.g. "sh" or "env"');
    }
  })).check(acrossList((list, ctx) => {
    list.forEach((t, i) => { if (typeof t === 'string' && list.indexOf(t) !== i) report(ctx, t, 'NISO1410', `tool "${t}" is listed twice`, 'list each tool once', [i]); });
  })).default([]).meta({ description: 'Programs of the host the app runs (a shell for popen()/system() and start scripts, env, coreutils), by name: each is found in the host\'s /usr/bin, /bin, /usr/sbin or /sbin and mounted read-only at /usr/bin/NAME and /bin/NAME, with the shared libraries it needs. Nothing else of the host comes with them. A tool missing on the host fails the start (NISO3106).', examples: [['sh', 'env', 'cat']] }),
}).meta({ description: 'How strictly the app is sandboxed. The preset sets everything; the other keys adjust single properties and are recorded in the plan.' });

const resourcesSection = z.strictObject({
  memory: size('Memory limit; the app is killed by the kernel when it uses more.', LIMITS.memoryBytes.min).optional(),
  cpus: z.number().min(LIMITS.cpus.min).max(LIMITS.cpus.max).optional().meta({ description: 'CPU limit in cores, e.g. 0.5 for half a core.' }),
  pids: z.number().int().min(LIMITS.pids.min).max(LIMITS.pids.max).optional().meta({ description: 'Limit on processes and threads (node uses about 10 when idle; allow at least 32).' }),
  nofile: z.number().int().min(16).max(1_048_576).optional().meta({ description: 'Limit on open files (RLIMIT_NOFILE).' }),
  state_size: converted(z.union([z.string().meta({ pattern: SIZE_PATTERN, examples: ['1G', '256M'] }), z.number().meta({ type: 'integer', minimum: MIN_STATE_BYTES, examples: [1073741824] })]), parseStateSize).optional()
    .meta({ description: 'Size limit of /state, the app\'s persistent directory (at least "8M"): writes past it fail with "no space left on device". Without it, the host\'s default applies ([state] max_size in /etc/niso/config.toml, 10G unless set).' }),
}).meta({ description: 'Resource limits, enforced with cgroups (memory, cpus, pids), rlimits (nofile) and a file system of its own (state_size).' });

const restartSection = z.strictObject({
  policy: z.enum(RESTART_POLICIES).default('on-failure').meta({ description: 'When to restart the app: never, when it exits with an error, always, or always unless it was stopped by hand.' }),
  max_retries: z.number().int().min(0).optional().meta({ description: 'With "on-failure": give up after this many restarts in a row.' }),
  delay: duration('First delay before a restart; it doubles on each crash in a row.', '1s'),
  max_delay: duration('Cap for the growing restart delay.', '1m'),
}).meta({ description: 'The restart policy, as in docker run --restart.' })
  .check(across((v, ctx) => {
    // Only judge a policy that is itself valid; a misspelt one already has its own diagnostic.
    if (v.max_retries !== undefined && typeof v.policy === 'string' && RESTART_POLICIES.includes(v.policy as never) && v.policy !== 'on-failure') {
      report(ctx, v.max_retries, 'NISO1405', `max_retries applies only to policy "on-failure", not "${v.policy}"`, 'remove max_retries or set policy = "on-failure"', ['max_retries']);
    }
    if (typeof v.delay === 'number' && typeof v.max_delay === 'number' && v.max_delay < v.delay) {
      report(ctx, v.max_delay, 'NISO1405', `max_delay (${formatDuration(v.max_delay)}) is shorter than delay (${formatDuration(v.delay)})`, 'make max_delay at least delay', ['max_delay']);
    }
  }));

const volumeEntry = z.strictObject({
  mount: sandboxPath('Where the volume appears inside the sandbox.', '/data', MOUNT_TARGETS_RESERVED),
  read_only: z.boolean().default(false).meta({ description: 'Mount the volume read-only.' }),
  exclusive: z.boolean().default(false).meta({ description: 'No other service on the host may mount this volume at all (a database\'s files): a grant to another one is refused.' }),
  description: z.string().optional().meta({ description: 'What the app keeps there.' }),
}).meta({ description: 'One volume: where the app expects it and how it is mounted.' });

const volumesSection = z.record(z.string(), volumeEntry).meta({ description: 'Volumes the app keeps data in, by name. Each is the service\'s own volume, `SERVICE/NAME` in `niso volume ls`, made at its first start and kept across restarts, upgrades and `niso remove` (unless `--volumes`). `-v VOLUME:MOUNT` on the command line mounts another volume at that place instead.', examples: [{ data: { mount: '/data', description: 'the database files', exclusive: true }, seed: { mount: '/srv/seed', read_only: true } }] })
  .check(across((volumes, ctx) => {
    const mounts = new Map<string, string>();
    for (const [name, v] of Object.entries(volumes)) {
      if (!NAME_RE.test(name)) report(ctx, name, 'NISO1101', `"${name}" is not a valid volume name`, `use lower-case letters, digits, ".", "_" and "-", e.g. "${toPackageName(name)}"`, [name], 'key');
      else if (name === 'state') report(ctx, name, 'NISO1101', '"state" is the name of the service\'s own /state', 'give the volume another name, e.g. "data"', [name], 'key');
      const mount = isTable(v) ? v.mount : undefined;
      if (typeof mount !== 'string') continue;
      const other = mounts.get(mount);
      if (other !== undefined) report(ctx, mount, 'NISO1402', `volumes "${other}" and "${name}" both mount at ${mount}`, 'give each volume its own mount point', [name, 'mount']);
      else mounts.set(mount, name);
    }
  }));

/** An absolute, normalised path on the host (a bind mount's source). */
const hostPath = z.string().meta({ description: 'The host path, absolute.', examples: ['/srv/media'] }).check((ctx) => {
  const p = ctx.value;
  if (!p.startsWith('/') || normalisePath(p) !== p) report(ctx, p, 'NISO1402', `"${p}" is not an absolute, normalised host path`, `write it as "${normalisePath(p.startsWith('/') ? p : `/${p}`) ?? '/srv/data'}"`);
});

const mountEntry = z.strictObject({
  source: hostPath,
  target: sandboxPath('Where the host path appears inside the sandbox.', '/media', MOUNT_TARGETS_RESERVED, 'mount it at a path of its own, e.g. "/media"'),
  read_only: z.boolean().default(false).meta({ description: 'Mount it read-only.' }),
}).meta({ description: 'A host path the app needs (a media library, a socket directory). It takes effect only when the operator confirms it, with `-v SOURCE:TARGET` or `mounts = ["SOURCE"]` under [trust.NAME] in /etc/niso/config.toml: a package must not choose host files to read.' });

const mountsSection = z.array(mountEntry).meta({ description: 'Host paths bound into the sandbox (`[[mounts]]`); confirmed by the operator.', examples: [[{ source: '/srv/media', target: '/media', read_only: true }]] })
  .check(acrossList((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((m, i) => {
      const target = isTable(m) ? m.target : undefined;
      if (typeof target !== 'string') return;
      if (seen.has(target)) report(ctx, target, 'NISO1402', `two mounts at ${target}`, 'give each mount its own target', [i, 'target']);
      seen.add(target);
    });
  }));

const configEntry = z.strictObject({
  target: sandboxPath('The file the app reads its configuration from.', '/etc/app/config.toml', CONFIG_TARGETS_RESERVED, 'put the file at a path of its own, e.g. "/etc/app/config.toml"'),
  source: z.string().check((ctx) => {
    const p = ctx.value;
    const bad = relativePattern(p) ?? (/[*?[\]{}]/.test(p) ? { why: 'is a pattern, not a file' } : null);
    if (bad) report(ctx, p, 'NISO1402', `"${p}" ${bad.why}`, bad.hint ?? 'name a file of the package relative to the app directory, e.g. "config/default.toml"');
  }).optional().meta({ description: 'The default: a file of the package (relative to the app directory), used when no `--config NAME=FILE` is given.', examples: ['config/default.toml'] }),
  description: z.string().optional().meta({ description: 'What the file configures.' }),
}).meta({ description: 'A configuration file the app reads: mounted read-only at `target` from the file given at activation (`--config NAME=FILE`, copied then), or the package\'s `source`. Change it with `niso activate SERVICE --config NAME=FILE`; no repacking.' });

const configsSection = z.record(z.string(), configEntry).meta({ description: 'Configuration files the app reads, by name.', examples: [{ app: { target: '/etc/app/config.toml', source: 'config/default.toml' } }] })
  .check(across((configs, ctx) => {
    const targets = new Map<string, string>();
    for (const [name, c] of Object.entries(configs)) {
      if (!NAME_RE.test(name)) report(ctx, name, 'NISO1101', `"${name}" is not a valid config name`, `use lower-case letters, digits, ".", "_" and "-", e.g. "${toPackageName(name)}"`, [name], 'key');
      const target = isTable(c) ? c.target : undefined;
      if (typeof target !== 'string') continue;
      const other = targets.get(target);
      if (other !== undefined) report(ctx, target, 'NISO1402', `configs "${other}" and "${name}" both go to ${target}`, 'give each config its own file', [name, 'target']);
      else targets.set(target, name);
    }
  }));
// [secrets.NAME]: a secret of the host the app reads as a file. Its key is the host's name for it, so it takes effect
// only when the operator confirms it (plan/weakenings.ts): a downloaded package must not pick a host secret and read it.
const secretEntry = z.strictObject({
  target: z.string().check((ctx) => {
    const p = targetProblem(ctx.value);
    if (p) report(ctx, ctx.value, 'NISO5105', `the secret's target ${JSON.stringify(ctx.value)} ${p.why}`, p.hint);
  }).optional().meta({ description: `Where the secret's file appears inside the sandbox (read-only, mode 0400, owned by the app's user). Default "${SECRETS_DIR}/NAME".`, examples: [`${SECRETS_DIR}/db-password`] }),
  description: z.string().max(1000).optional().meta({ description: 'What the app uses it for; shown to the operator who grants it.' }),
}).meta({ description: 'One secret: where the app reads it' });

const secretsSection = z.record(z.string(), secretEntry).meta({
  description: `Secrets of the host (\`niso secret create NAME\`) that the app reads as files, by name; never in its environment. A package cannot read a host's secret by itself: each one takes effect only when the operator grants it, with \`--secret NAME\` or with \`secrets = ["NAME"]\` under [trust.PACKAGE] in /etc/niso/config.toml; until then \`niso run\` and \`niso activate\` refuse the package (NISO3105).`,
  examples: [{ 'db-password': { description: 'the PostgreSQL password' }, 'tls-key': { target: `${SECRETS_DIR}/tls/key.pem` } }],
}).check(across((secrets, ctx) => {
  const targets = new Map<string, string>();
  for (const [name, v] of Object.entries(secrets)) {
    const problem = secretNameProblem(name);
    if (problem) report(ctx, name, 'NISO5100', `secret name ${JSON.stringify(name)} ${problem}`, `use 1-64 lower-case letters, digits, ".", "_" and "-", e.g. "${suggestSecretName(name)}"`, [name], 'key');
    const target = isTable(v) && typeof v.target === 'string' ? v.target : isTable(v) && v.target === undefined ? `${SECRETS_DIR}/${name}` : undefined;
    if (target === undefined) continue;
    const other = targets.get(target);
    if (other !== undefined) report(ctx, target, 'NISO5105', `secrets "${other}" and "${name}" are both mounted at ${target}`, 'give each secret its own target', isTable(v) && v.target !== undefined ? [name, 'target'] : [name]);
    else targets.set(target, name);
  }
}));

/**
 * Without a runtime a program (the entrypoint, the init command) is a file of the package, found below /app; with one,
 * it is one of the runtime's commands, or still a file of the package when it holds a "/". Nothing else of the host
 * is in the sandbox, so anything else could not start.
 */
function checkProgram(ctx: Parameters<typeof report>[0], prog: unknown, at: (string | number)[], what: string, hasRuntime: boolean, use: { name: (typeof RUNTIME_NAMES)[number]; version: string } | undefined): void {
  if (typeof prog !== 'string' || prog === '') return;
  const key = what === 'entrypoint' ? 'entrypoint' : 'command';
  if (hasRuntime && !prog.includes('/')) {
    if (!use) return; // [runtime] has its own diagnostic
    const commands = runtimeCommands(use.name, use.version);
    if (!commands.includes(prog)) {
      report(ctx, prog, 'NISO3102', `"${prog}" is not a command of the ${use.name} runtime`, `the sandbox holds only the runtime: use ${key} = ${what === 'entrypoint' ? `"${commands[0]}" with the script in args (e.g. args = ["server.js"])` : `["${commands[0]}", "init.js"]`}, or a file of the package such as "bin/start"`, at);
    }
    return;
  }
  const segs = prog.split('/');
  if (prog.startsWith('/') || segs.includes('..') || segs.includes('.') || segs.includes('')) {
    const name = prog.split('/').filter((x) => x !== '' && x !== '.' && x !== '..').pop() ?? 'my-app';
    report(ctx, prog, 'NISO1402', `"${prog}" is not a path inside the package`, use
      ? `the host's programs are not in the sandbox: use ${key} = "${runtimeCommands(use.name, use.version)[0]}" with the script ${what === 'entrypoint' ? 'in args' : 'as an argument'}, or a file of the app such as "bin/${name}"`
      : `without a [runtime], the ${what} is a file of the app, e.g. "bin/${name}"; to use a host program, add a [runtime]`, at);
  }
}

export const manifestSchema = z.strictObject({
  package: packageSection,
  runtime: runtimeSection.optional(),
  debian: debianSection.optional(),
  binary: binarySection,
  init: initSection.optional(),
  copy: copySection.prefault({}),
  env: envSection.default({}),
  network: networkSection.prefault({}),
  healthcheck: healthSection.optional(),
  isolation: isolationSection.prefault({}),
  resources: resourcesSection.prefault({}),
  restart: restartSection.prefault({}),
  secrets: secretsSection.optional(),
  volumes: volumesSection.default({}),
  mounts: mountsSection.default([]),
  configs: configsSection.default({}),
}).meta({ title: 'niso manifest.toml', description: 'Describes an app for `niso pack`: what it is, what it runs with, and how it is sandboxed.' })
  .check(across((m, ctx) => {
    // Without a runtime the entrypoint is a file of the package, found below /app; with one, it is
    // one of the runtime's commands, or still a file of the package when it holds a "/". Nothing
    // else of the host is in the sandbox, so anything else could not start.
    if (m.debian !== undefined) {
      // The Debian root is mounted at the paths its programs expect: the entrypoint and the init command are of them.
      if (m.runtime !== undefined) report(ctx, m.runtime, 'NISO1601', '[debian] and [runtime] cannot be combined: a package built from Debian packages brings its own programs and libraries', 'remove [runtime], or add the runtime\'s Debian package to [debian] packages', ['runtime']);
      const programs: [unknown, (string | number)[], string][] = [
        [isTable(m.binary) ? m.binary.entrypoint : undefined, ['binary', 'entrypoint'], 'entrypoint'],
        [isTable(m.init) && Array.isArray(m.init.command) ? m.init.command[0] : undefined, ['init', 'command', 0], 'init command'],
      ];
      for (const [prog, at, what] of programs) {
        if (typeof prog !== 'string' || prog === '') continue;
        if (!prog.startsWith('/') || normalisePath(prog) !== prog) report(ctx, prog, 'NISO1601', `with [debian], the ${what} is an absolute path of the Debian packages, not "${prog}"`, `e.g. "/usr/bin/${prog.split('/').filter((x) => x !== '' && x !== '.' && x !== '..').pop() ?? 'redis-server'}"`, at);
      }
      return;
    }
    const parsed = isTable(m.runtime) && isTable(m.runtime.use) ? m.runtime.use : undefined;
    const use = typeof parsed?.name === 'string' && typeof parsed.version === 'string' ? { name: parsed.name as (typeof RUNTIME_NAMES)[number], version: parsed.version } : undefined;
    const entry = isTable(m.binary) ? m.binary.entrypoint : undefined;
    checkProgram(ctx, entry, ['binary', 'entrypoint'], 'entrypoint', m.runtime !== undefined, use);
    const initCmd = isTable(m.init) && Array.isArray(m.init.command) ? m.init.command[0] : undefined;
    checkProgram(ctx, initCmd, ['init', 'command', 0], 'init command', m.runtime !== undefined, use);
  }));

/** The normalised manifest: defaults applied, durations in ms, sizes in bytes, ports parsed. */
export type Manifest = z.output<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;
