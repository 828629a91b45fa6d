// The manifest.toml schema: one zod definition gives validation, the normalised TypeScript type,
// the published JSON Schema (schemas/manifest.schema.json) and the field reference in the docs.
import { z } from 'zod';
import semverValid from 'semver/functions/valid.js';
import { parseDuration, parseSize, parsePortMapping, type Parsed } from './units.js';

/** Attach a niso error code and hint to a zod issue; parse.ts turns these into diagnostics. */
export interface NisoIssueParams { niso: string; hint?: string }

type Ctx = { issues: { push(issue: { code: 'custom'; message: string; input: unknown; params: NisoIssueParams; path?: PropertyKey[] }): void } };

function report(ctx: Ctx, input: unknown, code: string, message: string, hint?: string, path?: PropertyKey[]): void {
  ctx.issues.push({ code: 'custom', message, input, params: { niso: code, hint }, ...(path ? { path } : {}) });
}

function converted<T>(base: z.ZodType<string | number>, parse: (v: string | number) => Parsed<T>) {
  return base.transform((v, ctx): T => {
    const r = parse(v);
    if (r.ok) return r.value;
    report(ctx, v, r.code, r.message, r.hint);
    return z.NEVER;
  });
}

const duration = (description: string, dflt?: string) => {
  const t = converted(z.string(), (v) => parseDuration(String(v))).meta({ description, examples: ['30s', '500ms', '1m30s'] });
  return dflt === undefined ? t : t.prefault(dflt);
};

const size = (description: string) =>
  converted(z.union([z.string(), z.number().int()]), parseSize).meta({ description, examples: ['512M', '1G'] });

export const RUNTIME_NAMES = ['nodejs', 'python', 'ruby', 'java', 'php', 'deno', 'bun'] as const;
export const PRESETS = ['server', 'strict', 'unsafe-none'] as const;
export const ARCHES = ['x86_64', 'aarch64', 'any'] as const;
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;
export const CAPABILITIES = [
  'CAP_AUDIT_CONTROL', 'CAP_AUDIT_READ', 'CAP_AUDIT_WRITE', 'CAP_BLOCK_SUSPEND', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_KILL', 'CAP_LEASE', 'CAP_LINUX_IMMUTABLE', 'CAP_MAC_ADMIN', 'CAP_MAC_OVERRIDE', 'CAP_MKNOD', 'CAP_NET_ADMIN',
  'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_RAW', 'CAP_PERFMON', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP',
  'CAP_SETUID', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_CHROOT', 'CAP_SYS_MODULE', 'CAP_SYS_NICE', 'CAP_SYS_PACCT',
  'CAP_SYS_PTRACE', 'CAP_SYS_RAWIO', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
] as const;

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An absolute, normalised path inside the sandbox. */
function sandboxPath(description: string, forbidden: readonly string[] = []) {
  return z.string().meta({ description }).check((ctx) => {
    const p = ctx.value;
    const segs = p.split('/').slice(1);
    if (!p.startsWith('/') || (p !== '/' && segs.some((s) => s === '' || s === '.' || s === '..'))) {
      report(ctx, p, 'NISO1402', `"${p}" is not an absolute, normalised path`, 'write an absolute path without ".", ".." or "//", e.g. "/data"');
      return;
    }
    const hit = forbidden.find((f) => p === f || (f !== '/' && p.startsWith(f + '/')));
    if (hit) report(ctx, p, 'NISO1402', `"${p}" would hide ${hit === '/' ? 'the whole root' : hit}, which niso manages`, 'mount volumes at a path of their own, e.g. "/data"');
  });
}

function relativePattern(s: string): string | null {
  if (s.startsWith('/')) return 'is absolute';
  if (s.split('/').includes('..')) return 'climbs out of the app with ".."';
  if (s.trim() === '') return 'is empty';
  return null;
}

const patternList = (description: string) =>
  z.array(z.string()).meta({ description }).check((ctx) => {
    ctx.value.forEach((s, i) => {
      const why = relativePattern(s);
      if (why) report(ctx, s, 'NISO1403', `pattern "${s}" ${why}`, 'write a pattern relative to the app directory, e.g. "src/**"', [i]);
    });
  });

const packageSection = z.strictObject({
  name: z.string().meta({ description: 'Package name: 1-64 lower-case letters, digits, ".", "_" or "-". Used in file names, store paths and registry names.', examples: ['my-app'], pattern: NAME_RE.source })
    .check((ctx) => { if (!NAME_RE.test(ctx.value)) report(ctx, ctx.value, 'NISO1101', `"${ctx.value}" is not a valid package name`, `use lower-case letters, digits, ".", "_" and "-", e.g. "${ctx.value.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64) || 'my-app'}"`); }),
  version: z.string().meta({ description: 'Package version, Semantic Versioning 2.0 (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]).', examples: ['1.0.0', '2.1.0-rc.1'] })
    .check((ctx) => {
      if (semverValid(ctx.value) !== ctx.value) {
        const parts = ctx.value.split('.');
        const guess = /^\d+(\.\d+)?$/.test(ctx.value) ? [...parts, '0', '0'].slice(0, 3).join('.') : '1.0.0';
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
  use: z.string().meta({ description: 'Host runtime the app needs, as NAME:VERSION. NAME is one of ' + RUNTIME_NAMES.join(', ') + '; VERSION is a major ("20") or major.minor ("3.12") version the host runtime must match. Leave out [runtime] for a self-contained binary.', examples: ['nodejs:20', 'python:3.12'] })
    .transform((s, ctx) => {
      const m = /^([a-z][a-z0-9]*):(\d+(?:\.\d+){0,2})$/.exec(s);
      if (!m) {
        report(ctx, s, 'NISO1103', `"${s}" is not a runtime of the form NAME:VERSION`, 'e.g. "nodejs:20" or "python:3.12"');
        return z.NEVER;
      }
      if (!(RUNTIME_NAMES as readonly string[]).includes(m[1]!)) {
        report(ctx, s, 'NISO1103', `unknown runtime "${m[1]}"`, `use one of ${RUNTIME_NAMES.join(', ')}`);
        return z.NEVER;
      }
      return { name: m[1] as (typeof RUNTIME_NAMES)[number], version: m[2]! };
    }),
}).meta({ description: 'The language runtime taken from the host and mounted read-only into the sandbox.' });

const binarySection = z.strictObject({
  entrypoint: z.string().min(1).meta({ description: 'The program to start. With a [runtime], the runtime\'s command (e.g. "node", "python3"); without one, a path inside the package (e.g. "bin/my-app").', examples: ['node', 'bin/my-app'] }),
  args: z.array(z.string()).default([]).meta({ description: 'Arguments passed to the entrypoint.', examples: [['server.js']] }),
  workdir: sandboxPath('Working directory inside the sandbox.').default('/app'),
  stop_signal: z.enum(STOP_SIGNALS).default('SIGTERM').meta({ description: 'Signal sent to stop the app gracefully.' }),
  stop_timeout: duration('How long to wait after the stop signal before killing the app.', '10s'),
}).meta({ description: 'How to start the app.' });

const copySection = z.strictObject({
  include: patternList('Glob patterns (relative to the app directory) of the files to package. Directories match with everything below them.').default(['**']),
  exclude: patternList('Glob patterns of files to leave out, applied after include. A .nisoignore file (gitignore syntax) in the app directory adds more.').default([]),
}).meta({ description: 'Which files of the app directory go into the package. `.git`, `.nisoignore`-listed files and `*.niso` files are always left out.' });

const envSection = z.record(z.string(), z.string()).meta({ description: 'Environment variables for the app. Values are strings; the sandbox starts from an empty environment.' })
  .check((ctx) => {
    for (const k of Object.keys(ctx.value)) {
      if (!ENV_RE.test(k)) report(ctx, k, 'NISO1401', `"${k}" is not a valid environment variable name`, 'use letters, digits and "_", not starting with a digit', [k]);
      else if (k.startsWith('NISO_')) report(ctx, k, 'NISO1401', `"${k}" uses the NISO_ prefix, which niso reserves for the variables it sets`, 'rename the variable', [k]);
    }
  });

const networkSection = z.strictObject({
  mode: z.enum(['private', 'none', 'host']).default('private').meta({ description: '"private": own network namespace, reachable only through mapped ports and from services on the same networks; "none": loopback only; "host": the host\'s network (trusted tools only).' }),
  ports: z.array(converted(z.string(), (v) => parsePortMapping(String(v))).meta({ examples: ['8080:3000', '127.0.0.1:8080:3000', '5353:53/udp', '9000-9010:9000-9010'] }))
    .default([]).meta({ description: 'Ports mapped from the host to the app: "[ADDRESS:]HOST:CONTAINER[/tcp|/udp]", with equal-length ranges allowed on both sides.' })
    .check((ctx) => {
      const seen = new Map<string, number>();
      ctx.value.forEach((p, i) => {
        for (let port = p.host.from; port <= p.host.to; port++) {
          const key = `${p.hostIp ?? '*'}|${port}/${p.protocol}`;
          const prev = seen.get(key);
          if (prev !== undefined) { report(ctx, p, 'NISO1203', `host port ${port}/${p.protocol} is mapped by both ports[${prev}] and ports[${i}]`, 'map each host port once', [i]); return; }
          seen.set(key, i);
        }
      });
    }),
  networks: z.array(z.string().regex(NAME_RE)).default([]).meta({ description: 'Named niso networks to join (mode "private"); services on a shared network reach each other by name.' }),
  egress: z.boolean().default(true).meta({ description: 'Whether the app may open connections to the outside world.' }),
}).meta({ description: 'The app\'s network.' });

const healthSection = z.strictObject({
  http: z.string().optional().meta({ description: 'Probe by HTTP GET; healthy on a 2xx or 3xx status.', examples: ['http://127.0.0.1:3000/health'] }),
  tcp: z.union([z.number().int().min(1).max(65535), z.string()]).optional().meta({ description: 'Probe by opening a TCP connection to a port (or "ADDRESS:PORT").', examples: [3000, '127.0.0.1:3000'] }),
  exec: z.array(z.string()).min(1).optional().meta({ description: 'Probe by running a command inside the sandbox; healthy when it exits 0.', examples: [['bin/check', '--quick']] }),
  interval: duration('Time between probes.', '30s'),
  timeout: duration('How long one probe may take before it counts as failed.', '5s'),
  retries: z.number().int().min(1).max(100).default(3).meta({ description: 'Consecutive failures before the app is unhealthy.' }),
  start_period: duration('Grace period after start during which failures do not count.', '0s'),
  start_interval: duration('Time between probes during the start period.', '5s'),
  on_unhealthy: z.enum(['restart', 'none']).default('restart').meta({ description: 'What to do when the app turns unhealthy: restart it, or only report it.' }),
}).meta({ description: 'How niso checks that the app works. Give exactly one of http, tcp or exec.' })
  .check((ctx) => {
    const v = ctx.value;
    const probes = (['http', 'tcp', 'exec'] as const).filter((k) => v[k] !== undefined);
    if (probes.length !== 1) {
      report(ctx, v, 'NISO1404', probes.length === 0 ? 'the health check has no probe' : `the health check has ${probes.length} probes (${probes.join(', ')})`, 'give exactly one of http, tcp or exec');
    }
    if (v.http !== undefined && !/^http:\/\/[^/\s]+(\/\S*)?$/.test(v.http)) {
      report(ctx, v.http, 'NISO1404', `"${v.http}" is not an http:// URL`, 'write e.g. "http://127.0.0.1:3000/health"', ['http']);
    }
    if (typeof v.tcp === 'string' && !/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(v.tcp)) {
      report(ctx, v.tcp, 'NISO1404', `"${v.tcp}" is not a port or ADDRESS:PORT`, 'write e.g. 3000 or "127.0.0.1:3000"', ['tcp']);
    }
    if (v.timeout > v.interval) report(ctx, v.timeout, 'NISO1405', 'the health check timeout is longer than its interval', 'make timeout at most the interval', ['timeout']);
  });

const isolationSection = z.strictObject({
  preset: z.enum(PRESETS).default('server').meta({ description: '"server" (default): own user and namespaces, no capabilities, a syscall filter, read-only except /tmp and the state dir. "strict": also no network and default resource limits. "unsafe-none": no sandbox at all, for trusted tools only.' }),
  capabilities: z.array(z.enum(CAPABILITIES)).default([]).meta({ description: 'Capabilities to grant on top of the preset (normally none), e.g. ["CAP_NET_BIND_SERVICE"] to listen on ports below 1024.' }),
  syscalls: z.array(z.string().regex(/^@?[a-z0-9_]+$/)).default([]).meta({ description: 'System calls or @groups to allow on top of the preset\'s filter.', examples: [['@clock']] }),
  tmp_size: size('Size of the private /tmp (a tmpfs).').prefault('64M'),
}).meta({ description: 'How strictly the app is sandboxed. The preset sets everything; the other keys adjust single properties and are recorded in the plan.' });

const resourcesSection = z.strictObject({
  memory: size('Memory limit; the app is killed by the kernel when it uses more.').optional(),
  cpus: z.number().gt(0).max(1024).optional().meta({ description: 'CPU limit in cores, e.g. 0.5 for half a core.' }),
  pids: z.number().int().min(1).max(4_194_304).optional().meta({ description: 'Limit on processes and threads (node uses about 10 when idle; allow at least 32).' }),
  nofile: z.number().int().min(16).max(1_048_576).optional().meta({ description: 'Limit on open files (RLIMIT_NOFILE).' }),
}).meta({ description: 'Resource limits, enforced with cgroups.' });

const restartSection = z.strictObject({
  policy: z.enum(['no', 'on-failure', 'always', 'unless-stopped']).default('on-failure').meta({ description: 'When to restart the app: never, when it exits with an error, always, or always unless it was stopped by hand.' }),
  max_retries: z.number().int().min(0).optional().meta({ description: 'With "on-failure": give up after this many restarts in a row.' }),
  delay: duration('First delay before a restart; it doubles on each crash in a row.', '1s'),
  max_delay: duration('Cap for the growing restart delay.', '1m'),
}).meta({ description: 'The restart policy, as in docker run --restart.' })
  .check((ctx) => {
    if (ctx.value.max_retries !== undefined && ctx.value.policy !== 'on-failure') {
      report(ctx, ctx.value.max_retries, 'NISO1405', `max_retries applies only to policy "on-failure", not "${ctx.value.policy}"`, 'remove max_retries or set policy = "on-failure"', ['max_retries']);
    }
    if (ctx.value.max_delay < ctx.value.delay) report(ctx, ctx.value.max_delay, 'NISO1405', 'max_delay is shorter than delay', 'make max_delay at least delay', ['max_delay']);
  });

const volumeEntry = z.strictObject({
  mount: sandboxPath('Where the volume appears inside the sandbox.', ['/', '/app', '/proc', '/dev', '/sys', '/tmp', '/etc', '/usr']),
  read_only: z.boolean().default(false).meta({ description: 'Mount the volume read-only.' }),
  description: z.string().optional().meta({ description: 'What the app keeps there.' }),
});

const volumesSection = z.record(z.string(), volumeEntry).meta({ description: 'Volumes the app expects, by name. A volume is mounted only when the service is granted one (on the command line or in stack.toml).' })
  .check((ctx) => {
    const mounts = new Map<string, string>();
    for (const [name, v] of Object.entries(ctx.value)) {
      if (!NAME_RE.test(name)) report(ctx, name, 'NISO1101', `"${name}" is not a valid volume name`, 'use lower-case letters, digits, ".", "_" and "-"', [name]);
      const other = mounts.get(v.mount);
      if (other !== undefined) report(ctx, v.mount, 'NISO1402', `volumes "${other}" and "${name}" both mount at ${v.mount}`, 'give each volume its own mount point', [name, 'mount']);
      mounts.set(v.mount, name);
    }
  });

export const manifestSchema = z.strictObject({
  package: packageSection,
  runtime: runtimeSection.optional(),
  binary: binarySection,
  copy: copySection.prefault({}),
  env: envSection.default({}),
  network: networkSection.prefault({}),
  healthcheck: healthSection.optional(),
  isolation: isolationSection.prefault({}),
  resources: resourcesSection.prefault({}),
  restart: restartSection.prefault({}),
  volumes: volumesSection.default({}),
}).meta({ title: 'niso manifest.toml', description: 'Describes an app for `niso pack`: what it is, what it runs with, and how it is sandboxed.' });

/** The normalised manifest: defaults applied, durations in ms, sizes in bytes, ports parsed. */
export type Manifest = z.output<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;
