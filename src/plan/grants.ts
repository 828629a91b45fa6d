// What a service may see besides its package and its /state: volumes, host paths and config files, from the
// manifest and the command line. Pure: the host layer (sandbox/prepare.ts) makes and checks the volumes, resolves the
// host paths and copies the configs, then buildPlan turns the same grants into mounts.
import { NisoError } from '../errors/niso-error.js';
import type { Manifest } from '../manifest/schema.js';
import type { MountOption, PlanOptions } from './build-plan.js';
import { serviceVolumeName } from '../volume/names.js';

/** A volume a service is granted, by its name in `niso volume ls`. */
export interface VolumeGrant {
  volume: string;
  target: string;
  readOnly: boolean;
  exclusive: boolean;
  from: 'manifest' | 'command line';
}

/** A host path bound into the sandbox. */
export interface BindGrant {
  source: string;
  target: string;
  readOnly: boolean;
  from: 'manifest' | 'command line';
}

/** A config file from the command line: for the manifest's [configs.NAME] (name), or for any path (target). */
export interface ConfigRequest { name: string | null; file: string; target: string | null; flag: string }


/** Where a command line's config file goes: its own target, or the place the manifest gives the config it names. */
export function configTarget(r: ConfigRequest, m: Manifest): string {
  if (r.name === null) return r.target!;
  const declared = m.configs[r.name];
  if (declared) return declared.target;
  const names = Object.keys(m.configs);
  throw new NisoError('NISO5056', `${r.flag}: the package declares no config "${r.name}"`, {
    exitCode: 2, hint: names.length > 0 ? `its configs are ${names.join(', ')}; or give a path: --config FILE:/path/in/sandbox` : 'give the path in the sandbox instead: --config FILE:/path/in/sandbox',
  });
}

/**
 * The volumes of a service: each of its manifest's `[volumes.KEY]` is its own volume `SERVICE/KEY`, unless the command
 * line mounts a volume at that place (then that one, still exclusive if the manifest says so: the app needs its files
 * to itself); then every other `-v NAME:/path` of the command line, in its order.
 */
export function volumeGrants(service: string, m: Manifest, o: Pick<PlanOptions, 'mounts'>): VolumeGrant[] {
  const fromCli = (o.mounts ?? []).filter((x): x is Extract<MountOption, { type: 'volume' }> => x.type === 'volume');
  const out: VolumeGrant[] = [];
  for (const [key, v] of Object.entries(m.volumes)) {
    const cli = fromCli.find((x) => x.target === v.mount);
    if (cli) continue;
    out.push({ volume: serviceVolumeName(service, key), target: v.mount, readOnly: v.read_only, exclusive: v.exclusive, from: 'manifest' });
  }
  for (const x of fromCli) {
    const declared = Object.values(m.volumes).find((v) => v.mount === x.target);
    out.push({ volume: x.source, target: x.target, readOnly: x.readOnly, exclusive: x.exclusive || (declared?.exclusive ?? false), from: 'command line' });
  }
  return out;
}

/**
 * The host paths of a service: the command line's, and the manifest's `[[mounts]]` that the operator confirmed
 * (weakenings.ts: the same source on the command line replaces it; [trust] `mounts` lets it through as written).
 */
export function bindGrants(m: Manifest, o: Pick<PlanOptions, 'mounts'>, trusted: readonly string[]): BindGrant[] {
  const fromCli = (o.mounts ?? []).filter((x): x is Extract<MountOption, { type: 'bind' }> => x.type === 'bind');
  const out: BindGrant[] = [];
  for (const x of m.mounts) {
    if (fromCli.some((c) => c.source === x.source || c.target === x.target)) continue;
    if (trusted.includes(x.source)) out.push({ source: x.source, target: x.target, readOnly: x.read_only, from: 'manifest' });
  }
  for (const x of fromCli) out.push({ source: x.source, target: x.target, readOnly: x.readOnly, from: 'command line' });
  return out;
}

/**
 * The config files of a service: the command line's (niso's copies, made at activation) win at their target; a
 * manifest's `[configs.NAME]` without one falls back to its `source` in the package. One with neither cannot start.
 */
export function configGrants(m: Manifest, o: Pick<PlanOptions, 'configs'>, appDir: string): { source: string; target: string }[] {
  const given = o.configs ?? [];
  const out: { source: string; target: string }[] = [];
  for (const [name, c] of Object.entries(m.configs)) {
    if (given.some((g) => g.target === c.target)) continue;
    if (c.source === undefined) {
      throw new NisoError('NISO5053', `the app needs the config file "${name}" (${c.target}), and none was given`, {
        exitCode: 2, hint: `give it with --config ${name}=FILE; niso copies FILE at activation and mounts it read-only at ${c.target}`,
      });
    }
    out.push({ source: `${appDir}/${c.source}`, target: c.target });
  }
  out.push(...given);
  return out;
}

/**
 * Host trees no bind mount may show a service: the path itself, anything below it, and anything above it (binding
 * /var would show /var/lib/niso). `roots`: niso's own state dirs (var/lib/niso of every NISO_ROOT in use).
 */
export const SENSITIVE_HOST_PATHS = ['/etc', '/proc', '/sys', '/dev', '/boot', '/root', '/run/niso', '/var/lib/niso', '/var/run/docker.sock', '/run/docker.sock', '/run/containerd', '/run/systemd', '/run/dbus'] as const;

/** The sensitive tree a host path (already resolved: no symlinks) reaches, or null. "/" reaches all of them. */
export function sensitiveHit(real: string, extra: readonly string[] = []): string | null {
  const within = (p: string, tree: string) => p === tree || p.startsWith(`${tree}/`);
  for (const tree of [...SENSITIVE_HOST_PATHS, ...extra]) {
    if (within(real, tree) || real === '/' || within(tree, real)) return tree;
  }
  return null;
}

/** Every mount a grant adds must have a place of its own: two at one target would hide one another. */
export function checkTargets(items: readonly { target: string; what: string }[]): void {
  const seen = new Map<string, string>();
  for (const i of items) {
    const other = seen.get(i.target);
    if (other !== undefined) {
      throw new NisoError('NISO5054', `${other} and ${i.what} are both mounted at ${i.target}`, { exitCode: 2, hint: 'give each its own path inside the sandbox' });
    }
    seen.set(i.target, i.what);
  }
}
