// Turns an installed package into a plan on this host: finds the runtime (or the binary's
// library closure), the service's uid and state dir, and hands them with the options to the pure
// buildPlan. Shared by `niso run` and services.
import { chownSync, existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import type { Manifest } from '../manifest/schema.js';
import { buildPlan, manifestTools as manifestToolNames, type HostFacts, type PlanOptions } from '../plan/build-plan.js';
import type { Plan } from '../plan/plan.js';
import { reachableByOthers } from '../host/reachable.js';
import { DEBIAN_RECORD, MERGED_DIRS, type DebianRecord } from '../package/format/debian-record.js';
import { bindGrants, configGrants, volumeGrants } from '../plan/grants.js';
import { checkConfigSources, resolveBinds } from './grants-host.js';
import { serviceUid } from './uids.js';
import { factsKey, readFacts, writeFacts, type CachedFacts } from './facts-cache.js';
import { readStateDefault } from '../store/host-config.js';
import { layout, stateOf, volumeOf } from '../store/layout.js';
import type { InstalledPackage } from '../store/installed.js';
import { NORMALIZED_MANIFEST, NORMALIZED_MANIFEST_VERSION, packedRuntimeOf } from '../store/installed.js';
import { secretNamesAsked } from '../plan/secrets.js';
import { secretFacts } from '../secret/store.js';

function hostFile(path: string): string | null {
  try { return realpathSync(path); } catch { return null; }
}

/**
 * `temporaryState`: a run without a service of its name (run.ts) gets a /state of its own that goes with it, instead
 * of the service's, which is kept across runs, restarts and versions; the path is the host dir for the unsandboxed
 * preset (a sandbox gets a tmpfs).
 */
export async function preparePlan(ctx: { root: string; env: NodeJS.ProcessEnv }, pkg: InstalledPackage, manifest: Manifest, service: string, options: PlanOptions, network: HostFacts['network'] = null, temporaryState: string | null = null, mode: PrepareMode = { run: false, dryRun: false }): Promise<Plan> {
  const facts = await hostFactsOf(ctx, pkg, manifest);
  const { runtime, binaryMounts, tools } = facts;
  const debianRoot = facts.debianRoot ?? undefined;
  if (!reachableByOthers(join(pkg.path, 'app', 'x'))) {
    throw new NisoError('NISO3104', `the package at ${pkg.path} is inside a directory that other users cannot enter, so the service's uid cannot read it`, {
      hint: `let others through every directory above it (chmod o+x), or use a NISO_ROOT that is not below a private directory`,
    });
  }
  const { uid, previous } = await serviceUid(ctx.root, service);
  const grants = await hostGrants(ctx.root, pkg, manifest, service, options, uid, mode);
  const kept = stateOf(layout(ctx.root), service);
  const state = temporaryState === null ? { ...kept, temporary: false } : { dir: temporaryState, image: kept.image, temporary: true };
  const plan = buildPlan({
    service,
    manifest,
    package: { name: pkg.name, version: pkg.version, digest: pkg.digest, path: pkg.path },
    options,
    host: {
      runtime,
      binaryMounts,
      ...(debianRoot ? { debianRoot } : {}),
      hostFiles: {
        localtime: hostFile('/etc/localtime'), caCertificates: hostFile('/etc/ssl/certs/ca-certificates.crt'), resolvConf: hostFile('/etc/resolv.conf'),
        zoneinfo: hostFile('/usr/share/zoneinfo'), locale: hostFile('/usr/lib/locale/C.utf8'),
      },
      tools,
      uid,
      gid: uid,
      previousUid: previous,
      stateDir: state.dir,
      stateImage: state.image,
      stateTemporary: state.temporary,
      stateDefaultBytes: await readStateDefault(layout(ctx.root).config),
      network,
      volumes: grants.volumes,
      bindSources: grants.bindSources,
      secrets: secretFacts(ctx.root, secretNamesAsked(manifest, options)),
    },
  });
  const notes = [...facts.runtimeNotes, ...grants.notes];
  return notes.length > 0 ? { ...plan, notes: [...plan.notes, ...notes] } : plan;
}

/**
 * What the plan needs to know of the host for this package: remembered per package and host (facts-cache.ts) while
 * the files they came from are unchanged; the discovery modules are loaded only when they must look again. The
 * runtime's own directory is checked for other users' access at every start, since a directory above it may change.
 */
async function hostFactsOf(ctx: { root: string; env: NodeJS.ProcessEnv }, pkg: InstalledPackage, manifest: Manifest): Promise<CachedFacts> {
  const key = factsKey({ digest: pkg.digest, path: pkg.path, manifest, envPath: ctx.env.PATH });
  const known = readFacts(ctx.root, key);
  if (known) {
    if (known.runtime) runtimeReachable(known.runtime);
    return known;
  }
  // The dynamic loader's cache decides which library a closure (ldd) finds: a library installed or removed anywhere
  // changes it.
  const deps: string[] = ['/etc/ld.so.cache'];
  let facts: CachedFacts;
  let cacheable = true;
  if (manifest.runtime) {
    const [{ resolveRuntime }, { discoveryInputs }] = await Promise.all([import('../runtime/registry.js'), import('../runtime/discover.js')]);
    const inputs = discoveryInputs(manifest.runtime.use.name, ctx.env);
    if (inputs === null) cacheable = false;
    else deps.push(...inputs, layout(ctx.root).runtimes, layout(ctx.root).installedRuntimes);
    // What the package pins: the manifest's digest, and the runtime it was packed with (refused on another line).
    const packed = packedRuntimeOf(pkg.path);
    const pin = { ...(manifest.runtime.digest ? { digest: manifest.runtime.digest } : {}), ...(packed ? { packed } : {}) };
    const found = await resolveRuntime(ctx.root, manifest.runtime.use, { env: ctx.env, pin });
    runtimeReachable(found);
    deps.push(found.binary, ...found.mounts.map((m) => m.source));
    facts = { runtime: found, runtimeNotes: found.notes ?? [], binaryMounts: [], debianRoot: null, tools: [] };
  } else if (!manifest.debian) {
    const { elfClosure } = await import('../runtime/elf-closure.js');
    const ep = manifest.binary.entrypoint.replace(/^\/app\//, '').replace(/^\.\//, '');
    const binaryMounts = await elfClosure(join(pkg.path, 'app', ep));
    deps.push(...binaryMounts.map((m) => m.source));
    facts = { runtime: null, runtimeNotes: [], binaryMounts, debianRoot: null, tools: [] };
  } else {
    // A Debian root brings its loader and libraries: nothing of the host's /usr is mounted.
    facts = { runtime: null, runtimeNotes: [], binaryMounts: [], debianRoot: readDebianRoot(join(pkg.path, 'app')), tools: [] };
  }
  const { resolveTools, TOOL_DIRS } = await import('./tools.js');
  facts.tools = await resolveTools(manifest, join(pkg.path, 'niso/manifest.toml'));
  for (const t of facts.tools) deps.push(t.source, ...t.libraries.map((l) => l.source));
  for (const t of manifestToolNames(manifest)) deps.push(...TOOL_DIRS.map((d) => join(d, t)));
  if (cacheable) await writeFacts(ctx.root, key, deps, facts);
  return facts;
}

/** NISO3103 for a runtime the service's own uid could not run. */
function runtimeReachable(found: NonNullable<HostFacts['runtime']>): void {
  if (reachableByOthers(found.binary)) return;
  throw new NisoError('NISO3103', `the ${found.name} ${found.version} runtime at ${found.binary} is inside a directory other users cannot enter, so the service's own uid cannot run it`, {
    exitCode: 1, hint: `install ${found.name} system-wide (e.g. under /usr or /opt) and add it with \`niso runtime add ${found.name}:${found.version} PATH\``,
  });
}

/** What a Debian root holds (pack/deb/stage.ts): its merged-/usr directories, its /etc entries and library path. */
export function readDebianRoot(appDir: string): NonNullable<HostFacts['debianRoot']> {
  const list = (dir: string) => { try { return readdirSync(dir).sort(); } catch { return []; } };
  const usr = MERGED_DIRS.filter((d) => existsSync(join(appDir, 'usr', d)));
  let libraryPath: string[] = [];
  try {
    libraryPath = (JSON.parse(readFileSync(join(appDir, DEBIAN_RECORD), 'utf8')) as DebianRecord).libraryPath ?? [];
  } catch { /* an older layout: no extra directories */ }
  return { usr, etc: list(join(appDir, 'etc')), libraryPath };
}

/**
 * A plan made again for the network niso attached meanwhile keeps what the first one told: the volumes the first made
 * are there now, so only its notes say that they were made.
 */
export function replanned(first: Plan, again: Plan): Plan {
  const notes = [...new Set([...first.notes, ...again.notes])];
  return notes.length === again.notes.length ? again : { ...again, notes };
}

/** The gid a dry run shows for a volume that has none yet (nogroup). */
const NOGROUP = 65534;

/**
 * How a plan is made: for a run (its grants last while it does) or a service; a dry run changes nothing. `oneOff`: the
 * run is a one-off of the existing service of its name, which keeps an exclusive volume to itself while it is active.
 */
export interface PrepareMode { run: boolean; dryRun: boolean; oneOff?: { serviceActive: () => boolean } }

/**
 * What the host must do before the plan can mount a service's grants (plan/grants.ts): its volumes made, recorded and
 * checked against other services' exclusive ones; host paths resolved and checked; config files checked and given to
 * the service's group. Nothing at all for a service without grants.
 */
async function hostGrants(root: string, pkg: InstalledPackage, manifest: Manifest, service: string, options: PlanOptions, uid: number, mode: PrepareMode): Promise<{ volumes: Record<string, { dir: string; gid: number }>; bindSources: Record<string, string>; notes: string[] }> {
  const volumes = volumeGrants(service, manifest, options);
  const binds = bindGrants(manifest, options, options.trust?.mounts ?? []);
  const appDir = join(pkg.path, 'app');
  const configs = configGrants(manifest, options, appDir);
  const out = { volumes: {} as Record<string, { dir: string; gid: number }>, bindSources: {} as Record<string, string>, notes: [] as string[] };
  if (volumes.length > 0) {
    const { readMeta, resolveVolumes } = await import('../volume/store.js');
    if (mode.dryRun) {
      // Shown, not made: a volume that does not exist yet has no group yet either.
      for (const v of volumes) {
        const meta = readMeta(root, v.volume);
        out.volumes[v.volume] = { dir: volumeOf(layout(root), v.volume).data, gid: meta?.gid ?? NOGROUP };
        if (!meta) out.notes.push(`volume ${v.volume} does not exist yet: it is made at the start (its group, shown as ${NOGROUP}, is assigned then)`);
      }
    } else {
      const r = await resolveVolumes(root, service, volumes.map((v) => ({ volume: v.volume, readOnly: v.readOnly, exclusive: v.exclusive })), { run: mode.run ? process.pid : null, uid, ...(mode.oneOff ? { oneOff: mode.oneOff } : {}) });
      out.volumes = r.volumes;
      out.notes.push(...r.notes);
    }
  }
  if (binds.length > 0) {
    const l = layout(root);
    out.bindSources = resolveBinds(binds, [join(l.root, 'var/lib/niso'), l.run]);
  }
  if (configs.length > 0) {
    checkConfigSources(configs, appDir);
    // A copy belongs to the service's group; its uid (and so its gid) changes only when another root took it. A dry
    // run shows the user's own files, which are never touched.
    if (!mode.dryRun) for (const c of options.configs ?? []) if (statSync(c.source).gid !== uid) chownSync(c.source, 0, uid);
  }
  return out;
}

/** The manifest as validated at install; parsed from TOML only for objects of older formats. */
export async function installedManifest(pkg: InstalledPackage): Promise<Manifest> {
  try {
    const stored = JSON.parse(await readFile(join(pkg.path, NORMALIZED_MANIFEST), 'utf8')) as { version: number; manifest: Manifest };
    if (stored.version === NORMALIZED_MANIFEST_VERSION) return stored.manifest;
  } catch { /* older store object: fall through */ }
  const { parseManifest } = await import('../manifest/parse.js');
  const file = join(pkg.path, 'niso/manifest.toml');
  const r = parseManifest(await readFile(file), file);
  if (!r.manifest) throw new NisoError('NISO2204', `${file} no longer validates`, { hint: 'remove the package and install it again' });
  return r.manifest;
}

