// The stack.toml schema: one zod definition gives the validation of each table (with a niso code, a hint and a
// position for every problem, through manifest/validate.ts), the normalised types and the published JSON Schema
// (schemas/stack.schema.json). Rules across services (names, dependencies, ports, volumes) are in check.ts: they need
// the whole stack and run even where single fields failed.
import { z } from 'zod';
import { CAPABILITIES, CONFIG_TARGETS_RESERVED, LIMITS, MOUNT_TARGETS_RESERVED, PRESETS, isNormalisedPath, reservedHit } from '../manifest/constants.js';
import { acrossList, across, converted, manifestSchema, NETWORK_MODES, report, type Ctx } from '../manifest/schema.js';
import { suggest } from '../manifest/suggest.js';
import { SIZE_PATTERN, MIN_STATE_BYTES, parsePortMapping, parseSize, parseStateSize, type Parsed, type PortMapping } from '../manifest/units.js';
import { SECRETS_DIR, secretNameProblem, suggestSecretName, targetProblem } from '../secret/names.js';
import { KEY_RE, PROFILE_RE, SERVICE_NAME_MAX, SERVICE_NAME_RE, STACK_NAME_MAX, STACK_NAME_RE, nameProblem, suggestName } from './names.js';
import { parsePackageRef, type PackageRef } from './package-ref.js';
import type { DependencyCondition } from './types.js';

const nameCheck = (what: string, re: RegExp, max: number, code: string, fallback: string) => (ctx: { value: string } & Ctx) => {
  const why = nameProblem(ctx.value, re, max);
  if (why) report(ctx, ctx.value, code, `${what} ${JSON.stringify(ctx.value)} ${why}`, `use 1-${max} lower-case letters, digits and "-", starting with a letter or digit, e.g. "${suggestName(ctx.value, max, fallback)}"`);
};

/** An absolute, normalised path inside the sandbox, away from what niso mounts itself. */
function sandboxPath(description: string, example: string, reserved: readonly string[]) {
  return z.string().meta({ description, examples: [example] }).check((ctx) => {
    const p = ctx.value;
    if (!isNormalisedPath(p)) {
      report(ctx, p, 'NISO1402', `"${p}" is not an absolute, normalised path inside the sandbox`, `write an absolute path without ".", ".." or "//", e.g. "${example}"`);
      return;
    }
    const hit = reservedHit(p, reserved);
    if (hit) report(ctx, p, 'NISO1402', `"${p}" ${p === hit ? `would hide ${hit === '/' ? 'the whole file system' : hit}` : `is inside ${hit}`}, which niso manages`, `mount it at a path of its own, e.g. "${example}"`);
  });
}

/** A host path: absolute, or relative to the stack file's directory ("./media", "../shared"). */
const hostPath = (description: string) => z.string().meta({ description, examples: ['./config', '/srv/media'] }).check((ctx) => {
  const p = ctx.value;
  if (p === '') report(ctx, p, 'NISO1402', 'the host path is empty', 'write an absolute path or one relative to the stack file, e.g. "./data"');
  else if (p.startsWith('~')) report(ctx, p, 'NISO1402', `"${p}": "~" is not expanded`, 'write the absolute path, e.g. "/home/ana/media", or one relative to the stack file');
});

const size = (description: string, min: number, parse: (v: string | number) => Parsed<number> = parseSize) => {
  const least = min % (1024 * 1024) === 0 ? `${min / 1024 / 1024}M` : `${min / 1024}K`;
  return converted(z.union([z.string().meta({ pattern: SIZE_PATTERN, examples: ['512M', '1G'] }), z.number().meta({ type: 'integer', minimum: min, examples: [536870912] })]), (v) => {
    const r = parse(v);
    if (!r.ok || r.value >= min) return r;
    return { ok: false, code: 'NISO1006', message: `${typeof v === 'string' ? `"${v}"` : v} is below the minimum of ${least}`, hint: `use at least "${least}"` };
  }).meta({ description: `${description} At least "${least}".` });
};

// --- [stack] ------------------------------------------------------------------------------------

const profileName = z.string().check((ctx) => {
  if (!PROFILE_RE.test(ctx.value)) report(ctx, ctx.value, 'NISO5320', `${JSON.stringify(ctx.value)} is not a profile name`, 'use letters, digits, ".", "_" and "-", starting with a letter or digit, e.g. "debug"');
});

const stackSection = z.strictObject({
  name: z.string().meta({ description: `The stack's name: 1-${STACK_NAME_MAX} lower-case letters, digits and "-". Its services are the niso services "NAME.SERVICE" on the host, its networks and volumes "NAME_KEY".`, examples: ['my-platform'], pattern: STACK_NAME_RE.source })
    .check(nameCheck('the stack name', STACK_NAME_RE, STACK_NAME_MAX, 'NISO5302', 'my-stack')),
  description: z.string().max(1000).optional().meta({ description: 'One line on what the stack is; shown by `niso stack config`.' }),
  profiles: z.array(profileName).default([]).meta({ description: 'Profiles in effect by default; `--profile` adds more. A service with `profiles` runs only when one of its profiles is in effect.', examples: [['debug']] }),
}).meta({ description: 'The stack as a whole.' });

// --- [[service]] ----------------------------------------------------------------------------------

const portTable = z.strictObject({
  target: z.union([z.number().int().min(1).max(65535), z.string()]).meta({ description: 'The port (or range "A-B") the app listens on.', examples: [3000] }),
  published: z.union([z.number().int().min(1).max(65535), z.string()]).meta({ description: 'The host port (or range of the same length) that forwards to it.', examples: [8080] }),
  host_ip: z.string().optional().meta({ description: 'The host address to forward from; every address when left out.', examples: ['127.0.0.1'] }),
  protocol: z.enum(['tcp', 'udp']).default('tcp').meta({ description: 'tcp or udp.' }),
}).meta({ description: 'A port mapping in Compose\'s long form.' }).transform((t, ctx): PortMapping => {
  const ip = t.host_ip === undefined ? '' : t.host_ip.includes(':') ? `[${t.host_ip}]:` : `${t.host_ip}:`;
  const r = parsePortMapping(`${ip}${t.published}:${t.target}/${t.protocol}`);
  if (r.ok) return r.value;
  report(ctx, t, r.code, r.message, r.hint);
  return z.NEVER;
});

const portString = converted(z.string().meta({ examples: ['8080:3000', '127.0.0.1:8080:3000', '5353:53/udp'] }), (v) => parsePortMapping(String(v)));

const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
function envNameProblem(k: string): { message: string; hint: string } | null {
  if (!ENV_RE.test(k)) return { message: `${JSON.stringify(k)} is not a valid environment variable name`, hint: `use letters, digits and "_", not starting with a digit, e.g. "${k.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^(?=\d)/, '_') || 'NAME'}"` };
  if (k.startsWith('NISO_')) return { message: `${JSON.stringify(k)} uses the NISO_ prefix, which niso reserves for the variables it sets`, hint: 'rename the variable' };
  return null;
}

const environment = z.union([
  z.record(z.string(), z.string()).meta({ description: 'NAME = "value" entries.' }),
  z.array(z.string()).meta({ description: 'Compose\'s list form: "NAME=value", or "NAME" alone for the value of NAME where the stack is resolved (left out when it is not set there).' }),
]).meta({ description: 'Environment variables of the app; they win over env_file. Values are strings and may use ${VAR} interpolation.', examples: [{ DATABASE_URL: 'postgres://app:${DB_PASSWORD:?set DB_PASSWORD}@db:5432/app' }] })
  .check(across((env, ctx) => {
    for (const k of Object.keys(env)) {
      const p = envNameProblem(k);
      if (p) report(ctx, k, 'NISO1401', p.message, p.hint, [k], 'key');
    }
  }))
  .check(acrossList((list, ctx) => {
    list.forEach((e, i) => {
      if (typeof e !== 'string') return;
      const eq = e.indexOf('=');
      const p = envNameProblem(eq < 0 ? e : e.slice(0, eq));
      if (p) report(ctx, e, 'NISO1401', p.message, p.hint, [i]);
    });
  }));

const envFileEntry = z.union([
  hostPath('A file of NAME=value lines (.env syntax).'),
  z.strictObject({
    path: hostPath('A file of NAME=value lines (.env syntax).'),
    required: z.boolean().default(true).meta({ description: 'false: a missing file is skipped instead of an error.' }),
  }).meta({ description: 'A file with its `required` flag.' }),
]);

const envFile = z.union([envFileEntry, z.array(envFileEntry)]).meta({ description: 'Files of NAME=value lines (.env syntax) read when the stack is resolved, in order, later files winning; `environment` wins over them. Paths are relative to the stack file.', examples: ['./api.env', ['./common.env', { path: './local.env', required: false }]] });

const KEY_HINT = 'use lower-case letters, digits and "-", starting with a letter or digit';
const keyCheck = (what: string) => (ctx: Ctx, key: string, path: PropertyKey[]) => {
  if (!KEY_RE.test(key)) report(ctx, key, 'NISO5319', `${what} ${JSON.stringify(key)} is not a valid key`, `${KEY_HINT}, e.g. "${suggestName(key, 24, 'data')}"`, path, 'key');
};

const networks = z.union([
  z.array(z.string()).meta({ description: 'The stack networks to join, by key.' }),
  z.record(z.string(), z.strictObject({
    aliases: z.array(z.string().check((ctx) => {
      if (!SERVICE_NAME_RE.test(ctx.value)) report(ctx, ctx.value, 'NISO5303', `alias ${JSON.stringify(ctx.value)} is not a host name a peer could use`, `use lower-case letters, digits and "-", e.g. "${suggestName(ctx.value, SERVICE_NAME_MAX, 'api')}"`);
    })).default([]).meta({ description: 'More names the service is reached by on this network, besides its service name.' }),
  }).meta({ description: 'How the service joins one network.' })).meta({ description: 'The stack networks to join, by key, with aliases.' }),
]).meta({ description: 'Stack networks the service joins (by key; each is `[network.KEY]` or the implicit "default"). Default: ["default"]. Peers on a shared network reach the service by its name.', examples: [['default', 'backend'], { backend: { aliases: ['api-v1'] } }] })
  .check(across((nets, ctx) => { for (const k of Object.keys(nets)) keyCheck('network')(ctx, k, [k]); }))
  .check(acrossList((list, ctx) => {
    list.forEach((k, i) => { if (typeof k === 'string' && !KEY_RE.test(k)) report(ctx, k, 'NISO5319', `network ${JSON.stringify(k)} is not a valid key`, `${KEY_HINT}, e.g. "${suggestName(k, 24, 'backend')}"`, [i]); });
  }));

const CONDITIONS: Record<string, DependencyCondition> = { started: 'started', healthy: 'healthy', completed: 'completed', service_started: 'started', service_healthy: 'healthy', service_completed_successfully: 'completed' };
const condition = z.enum(Object.keys(CONDITIONS) as [string, ...string[]]).transform((c) => CONDITIONS[c]!)
  .meta({ description: 'started: the dependency runs; healthy: its health check passed; completed: it ran and exited 0. Compose\'s service_started, service_healthy and service_completed_successfully are accepted.' });

const dependsLong = z.strictObject({
  condition: condition.default('started'),
  restart: z.boolean().default(false).meta({ description: 'Restart this service after a switch restarted the dependency.' }),
  required: z.boolean().default(true).meta({ description: 'false: a dependency that is missing or left out by the profiles is only a warning.' }),
}).meta({ description: 'A dependency in the long form.' });

export interface ParsedDependency { condition: DependencyCondition; restart: boolean; required: boolean }

const dependsOn = z.union([
  z.array(z.string()).meta({ description: 'Services that must run first (condition "started").' }),
  z.record(z.string(), z.union([condition, dependsLong])).meta({ description: 'Services that must be ready first, each with its condition.' }),
]).meta({ description: 'Services this one needs: started in dependency order, and a switch waits for each condition before it starts this one.', examples: [['db'], { db: 'healthy' }, { db: { condition: 'healthy', restart: true } }] });

const healthSection = manifestSchema.shape.healthcheck.unwrap();
const healthcheck = z.union([
  z.literal('none').meta({ description: '"none": no health check, even if the package has one.' }),
  healthSection,
]).meta({ description: 'Replaces the package\'s health check (the keys of manifest.toml\'s [healthcheck]), or "none" to have none.', examples: ['none', { tcp: 5432, interval: '5s' }] });

const RESTART_RE = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/;
const restart = z.string().meta({ description: 'Restart policy, as Docker writes it: "no", "always", "on-failure", "on-failure:MAX_RETRIES" or "unless-stopped". Default: the package\'s.', examples: ['unless-stopped', 'on-failure:5'] })
  .transform((s, ctx) => {
    const m = RESTART_RE.exec(s);
    if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) {
      const best = suggest(s.split(':')[0]!, ['no', 'always', 'on-failure', 'unless-stopped']);
      report(ctx, s, 'NISO1005', `restart policy ${JSON.stringify(s)} is not one of no, always, on-failure[:MAX_RETRIES], unless-stopped`, best && best !== s ? `did you mean "${best}"?` : m ? 'a number of retries goes only with on-failure' : 'use one of no, always, on-failure, on-failure:5, unless-stopped');
      return z.NEVER;
    }
    return { policy: m[1] as 'no' | 'always' | 'on-failure' | 'unless-stopped', maxRetries: m[2] === undefined ? null : Number(m[2]) };
  });

const resources = z.strictObject({
  memory: size('Memory limit; the app is killed by the kernel when it uses more.', LIMITS.memoryBytes.min).optional(),
  cpus: z.number().min(LIMITS.cpus.min).max(LIMITS.cpus.max).optional().meta({ description: 'CPU limit in cores, e.g. 0.5.' }),
  pids: z.number().int().min(LIMITS.pids.min).max(LIMITS.pids.max).optional().meta({ description: 'Limit on processes and threads.' }),
  state_size: size('Size limit of the service\'s /state.', MIN_STATE_BYTES, parseStateSize).optional(),
}).meta({ description: 'Resource limits, replacing the package\'s (`--memory`, `--cpus`, `--pids`, `--state-size`).', examples: [{ memory: '512M', cpus: 0.5, pids: 256 }] });

const capAdd = z.array(z.string().transform((s, ctx) => {
  const canonical = s.toUpperCase().replace(/^(CAP_)?/, 'CAP_');
  if ((CAPABILITIES as readonly string[]).includes(canonical)) return canonical;
  const best = suggest(canonical, CAPABILITIES);
  report(ctx, s, 'NISO1005', `${JSON.stringify(s)} is not a capability`, best ? `did you mean "${best}"?` : 'write a capability such as "NET_BIND_SERVICE" or "CAP_NET_BIND_SERVICE"');
  return z.NEVER;
})).meta({ description: 'Capabilities to grant, or to confirm where the package asks for them (`--cap-add`); "NET_ADMIN" and "CAP_NET_ADMIN" alike.', examples: [['NET_BIND_SERVICE']] });

const volumeEntry = z.strictObject({
  mount: sandboxPath('Where the volume appears inside the sandbox.', '/data', MOUNT_TARGETS_RESERVED),
  read_only: z.boolean().default(false).meta({ description: 'Mount it read-only.' }),
  exclusive: z.boolean().default(false).meta({ description: 'No other service (of any stack on the host) may mount this volume: a database\'s files.' }),
}).meta({ description: 'A volume and how it is mounted.' });

/** A volume or bind from Compose's short form "SOURCE:TARGET[:OPTIONS]". */
export type ShortMount = { kind: 'volume'; key: string; target: string; readOnly: boolean; exclusive: boolean } | { kind: 'bind'; source: string; target: string; readOnly: boolean };

const isHostPathText = (s: string) => s.startsWith('/') || s.startsWith('./') || s.startsWith('../') || s === '.' || s === '..' || s.startsWith('~');

const shortMount = z.string().meta({ examples: ['pgdata:/data', 'pgdata:/data:exclusive', './nginx:/etc/nginx/conf.d:ro'] }).transform((s, ctx): ShortMount => {
  const parts = s.split(':');
  const fail = (message: string, hint: string) => { report(ctx, s, 'NISO5050', `${JSON.stringify(s)}: ${message}`, hint); return z.NEVER; };
  if (parts.length < 2 || parts.length > 3 || parts[0] === '' || parts[1] === '') return fail(parts.length === 1 ? 'a volume needs a place in the sandbox' : 'expected SOURCE:TARGET[:OPTIONS]', 'write "NAME:/data" for a volume of the stack, "./dir:/path:ro" for a host path');
  const [source, target, options] = parts as [string, string, string | undefined];
  let readOnly = false;
  let exclusive = false;
  for (const o of options === undefined ? [] : options.split(',')) {
    if (o === 'ro') readOnly = true;
    else if (o === 'rw') readOnly = false;
    else if (o === 'exclusive') exclusive = true;
    else if (o === 'z' || o === 'Z') continue; // SELinux relabelling: nothing to do without SELinux.
    else return fail(`unknown option "${o}"`, 'the options are ro, rw and exclusive, separated by commas');
  }
  if (!isNormalisedPath(target)) return fail(`"${target}" is not an absolute, normalised path inside the sandbox`, 'write an absolute path without ".", ".." or "//", e.g. "/data"');
  const hit = reservedHit(target, MOUNT_TARGETS_RESERVED);
  if (hit) return fail(`${target} ${target === hit ? `would hide ${hit === '/' ? 'the whole file system' : hit}` : `is inside ${hit}`}, which niso manages`, hit === '/etc' ? 'mount it at a path of its own, e.g. "/data"; a configuration file goes below /etc with configs = { "/etc/app/app.conf" = "./app.conf" }' : 'mount it at a path of its own, e.g. "/data"');
  if (isHostPathText(source)) {
    if (source.startsWith('~')) return fail('"~" is not expanded', 'write the absolute path, or one relative to the stack file');
    if (exclusive) return fail('"exclusive" applies to volumes, not host paths', 'remove it');
    return { kind: 'bind', source, target, readOnly };
  }
  if (!KEY_RE.test(source)) return fail(`"${source}" is neither a volume key nor a host path`, `${KEY_HINT} for a volume, or start a host path with "/" or "./"`);
  return { kind: 'volume', key: source, target, readOnly, exclusive };
});

const volumes = z.union([
  z.record(z.string(), z.union([sandboxPath('Where the volume appears (read-write, not exclusive).', '/app/uploads', MOUNT_TARGETS_RESERVED), volumeEntry])).meta({ description: 'Volumes by key: `KEY = "/path"` or `KEY = { mount, read_only, exclusive }`.' }),
  z.array(shortMount).meta({ description: 'Compose\'s short form: "KEY:/path[:ro|rw|exclusive]" for a volume, "./dir:/path[:ro]" or "/dir:/path" for a host path.' }),
]).meta({ description: 'Volumes the service mounts. A key is a volume of the stack, `<stack>_KEY` on the host (made on first use and kept by `stack down`), unless `[volume.KEY]` says otherwise.', examples: [{ pgdata: { mount: '/data', exclusive: true } }, ['pgdata:/data', './conf:/etc/app:ro']] })
  .check(across((v, ctx) => { for (const k of Object.keys(v)) keyCheck('volume')(ctx, k, [k]); }));

const bindEntry = z.strictObject({
  source: hostPath('The host path: absolute, or relative to the stack file.'),
  target: sandboxPath('Where it appears inside the sandbox.', '/media', MOUNT_TARGETS_RESERVED),
  read_only: z.boolean().default(false).meta({ description: 'Mount it read-only.' }),
}).meta({ description: 'A host path bound into the sandbox.' });

const CONFIG_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const configs = z.record(z.string(), hostPath('The host file to copy in.')).meta({
  description: 'Config files copied in when the stack is deployed and mounted read-only (`--config`). A key is a config the package declares ([configs.NAME] in its manifest) or an absolute path in the sandbox; the value is the host file, relative to the stack file.',
  examples: [{ app: './app.toml', '/etc/nginx/nginx.conf': './nginx.conf' }],
}).check(across((c, ctx) => {
  for (const k of Object.keys(c)) {
    if (k.startsWith('/')) {
      const hit = isNormalisedPath(k) ? reservedHit(k, CONFIG_TARGETS_RESERVED) : null;
      if (!isNormalisedPath(k)) report(ctx, k, 'NISO5056', `${JSON.stringify(k)} is not an absolute, normalised path`, 'write it like "/etc/app/config.toml"', [k], 'key');
      else if (hit) report(ctx, k, 'NISO5056', `${k} ${k === hit ? 'is' : 'is inside'} ${hit}, which niso provides itself`, 'put the file at a path of its own, e.g. "/etc/app/config.toml"', [k], 'key');
    } else if (!CONFIG_NAME_RE.test(k)) {
      report(ctx, k, 'NISO5056', `${JSON.stringify(k)} is neither a config name nor an absolute path`, 'name a config of the package ([configs.NAME] in its manifest) or write the path in the sandbox, e.g. "/etc/app/config.toml"', [k], 'key');
    }
  }
}));

const secretTarget = z.string().check((ctx) => {
  const p = targetProblem(ctx.value);
  if (p) report(ctx, ctx.value, 'NISO5105', `the secret's target ${JSON.stringify(ctx.value)} ${p.why}`, p.hint);
});
const secretNames = (names: string[], ctx: Ctx, path: (i: number, n: string) => PropertyKey[], at?: 'key') => names.forEach((n, i) => {
  const p = secretNameProblem(n);
  if (p) report(ctx, n, 'NISO5100', `secret name ${JSON.stringify(n)} ${p}`, `use 1-64 lower-case letters, digits, ".", "_" and "-", e.g. "${suggestSecretName(n)}"`, path(i, n), at);
});
const secrets = z.union([
  z.array(z.string()).meta({ description: 'Secret names.' }),
  z.record(z.string(), z.strictObject({ target: secretTarget.optional().meta({ description: `Where the file appears; default "${SECRETS_DIR}/NAME".` }) }).meta({ description: 'Where one secret appears.' })).meta({ description: 'Secrets by name, each with its target.' }),
]).meta({ description: `Secrets of the host (\`niso secret create NAME\`) the service reads as files, at ${SECRETS_DIR}/NAME unless a target says otherwise (\`--secret\`).`, examples: [['db-password'], { 'db-password': { target: '/run/secrets/pg' } }] })
  .check(acrossList((list, ctx) => secretNames(list.filter((x): x is string => typeof x === 'string'), ctx, (i) => [i])))
  .check(across((t, ctx) => secretNames(Object.keys(t), ctx, (_, n) => [n], 'key')));

const packageRef = z.string().meta({ description: 'The package: an installed one as NAME, NAME:VERSION (a whole version, or its major or major.minor for the newest installed of that line) or NAME@sha256:DIGEST; or a path to a FILE.niso or an app directory, relative to the stack file.', examples: ['postgres:15', 'my-api:1.0.0', './api'] })
  .transform((s, ctx): PackageRef => {
    const r = parsePackageRef(s);
    if (r.ok) return r.ref;
    report(ctx, s, 'NISO5305', r.message, r.hint);
    return z.NEVER;
  });

export const serviceSchema = z.strictObject({
  name: z.string().meta({ description: `The service's name in the stack: 1-${SERVICE_NAME_MAX} lower-case letters, digits and "-". Peers reach it by this name; on the host it is the niso service "STACK.NAME".`, examples: ['api'] })
    .check(nameCheck('the service name', SERVICE_NAME_RE, SERVICE_NAME_MAX, 'NISO5303', 'api')),
  package: packageRef,
  entrypoint: z.union([z.string().min(1), z.array(z.string()).min(1)]).optional().meta({ description: 'Another program of the package (or of its runtime) to run instead of the manifest\'s entrypoint, without the manifest\'s args (`--entrypoint`); a list gives the program and its first arguments. Compose\'s `entrypoint`.', examples: ['bin/worker', ['node', 'worker.js']] }),
  command: z.array(z.string()).optional().meta({ description: 'Arguments replacing the manifest\'s args (`niso activate PKG -- ARGS`); with `entrypoint`, they follow its list. Compose\'s `command`.', examples: [['--port', '8080']] }),
  environment: environment.optional(),
  env_file: envFile.optional(),
  ports: z.array(z.union([portString, portTable])).optional().meta({ description: 'Host ports forwarded to the app: "[ADDRESS:]HOST:CONTAINER[/tcp|/udp]", or Compose\'s long form { target, published, host_ip, protocol }. They replace the package\'s.', examples: [['8080:3000', '127.0.0.1:9090:9090/udp']] }),
  network_mode: z.enum(NETWORK_MODES).optional().meta({ description: '"private" (the default: its own network namespace on the stack\'s networks), "none" (loopback only) or "host" (the host\'s network, for trusted tools).' }),
  networks: networks.optional(),
  depends_on: dependsOn.optional(),
  healthcheck: healthcheck.optional(),
  restart: restart.optional(),
  resources: resources.optional(),
  preset: z.enum(PRESETS).optional().meta({ description: 'The isolation preset (`--preset`): "server" (the default), "strict" or "unsafe-none".' }),
  cap_add: capAdd.optional(),
  volumes: volumes.optional(),
  binds: z.array(bindEntry).optional().meta({ description: 'Host paths bound into the sandbox (`-v /path:/target`). Paths are relative to the stack file.', examples: [[{ source: '/srv/media', target: '/media', read_only: true }]] }),
  configs: configs.optional(),
  secrets: secrets.optional(),
  profiles: z.array(profileName).optional().meta({ description: 'Profiles this service belongs to: it runs only when one of them is in effect. Without it, the service always runs.', examples: [['debug']] }),
}).meta({ description: 'One service of the stack.' })
  .check(across((s, ctx) => {
    const mode = s.network_mode;
    for (const key of ['ports', 'networks'] as const) {
      if ((mode === 'host' || mode === 'none') && s[key] !== undefined) report(ctx, s[key], 'NISO1405', `${key} need network_mode "private", not "${mode}"`, mode === 'host' ? `remove ${key}: with "host" the app uses the host's network directly` : `remove ${key} or network_mode`, [key]);
    }
  }));

const volumeDecl = z.strictObject({
  external: z.boolean().default(false).meta({ description: 'The volume exists on the host already and is used as it is: the stack never makes or removes it.' }),
  name: z.string().optional().meta({ description: 'The host volume\'s own name (default "<stack>_KEY"); with it, several stacks can share one volume on purpose.', examples: ['shared-media'] }),
}).meta({ description: 'A volume of the stack, where it differs from the default.' });

const networkDecl = z.strictObject({
  external: z.boolean().default(false).meta({ description: 'The network exists on the host already (`niso net create`) and is joined as it is.' }),
  name: z.string().optional().meta({ description: 'The host network\'s own name (default "<stack>_KEY").', examples: ['shared'] }),
  egress: z.boolean().default(true).meta({ description: 'false: services on it reach nothing beyond their networks (`niso net create --no-egress`).' }),
}).meta({ description: 'A network of the stack, where it differs from the default.' });

export const stackSchema = z.strictObject({
  stack: stackSection,
  service: z.array(serviceSchema).min(1).meta({ description: 'The services, each a `[[service]]` table.' }),
  volume: z.record(z.string(), volumeDecl).default({}).meta({ description: 'Volume declarations (`[volume.KEY]`); a volume a service names needs none unless it is external or shared under its own name.', examples: [{ media: { external: true, name: 'shared-media' } }] })
    .check(across((v, ctx) => { for (const k of Object.keys(v)) keyCheck('volume')(ctx, k, [k]); })),
  network: z.record(z.string(), networkDecl).default({}).meta({ description: 'Network declarations (`[network.KEY]`). Every service joins "default" unless it lists networks; any other key a service names must be declared here.', examples: [{ backend: { egress: false } }] })
    .check(across((v, ctx) => { for (const k of Object.keys(v)) keyCheck('network')(ctx, k, [k]); })),
}).meta({ title: 'niso stack.toml', description: 'Services that run together on one host: their packages, how they are wired and in which order they start. `x-` keys are ignored anywhere.' });

export type StackFile = z.output<typeof stackSchema>;
export type StackFileService = StackFile['service'][number];
