// Volumes on the host: each one a directory below var/lib/niso/volumes (never in the store) with its metadata
// (volume.json, written atomically) and its data dir, made whole under a temporary name and renamed into place; the
// grants registry (grants.json) beside them. Every change to either happens under one lock, so two activations at
// once cannot both win an exclusive volume. resolveVolumes is what a start calls (sandbox/prepare.ts).
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmdirSync, chmodSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { fsyncPath, writeFileAtomic } from '../host/fs-atomic.js';
import { isAlive, processStartTimeSync, sameProcess } from '../host/liveness.js';
import { withLock } from '../host/lock.js';
import { bindersOf } from '../host/mounts.js';
import { releaseUid, serviceUid } from '../sandbox/uids.js';
import { listServiceNames } from '../service/store.js';
import { layout, volumeOf, type StoreLayout } from '../store/layout.js';
import { makeDataDir, removeTree, setDataOwner, treeBytes } from './data-dir.js';
import { VOLUME_NAME_RE, parseVolumeName, shown, type VolumeRef } from './names.js';
import {
  conflictError, conflicts, describeHolder, emptyRegistry, forgetVolume, holdersOf, mergeRequests, ownerOf, recordGrants, revokeService, sameGrants,
  volumesOf, type GrantRegistry, type GrantRequest, type Holder, type Liveness, type Requester, type VolumeFacts,
} from './policy.js';

export type { GrantRequest } from './policy.js';

/** volume.json: what a volume is, apart from its data. */
export interface VolumeMeta {
  format: 1;
  name: string;
  kind: 'named' | 'service';
  createdAt: string;
  labels: Record<string, string>;
  /** The volume's group, claimed host-wide in the uid registry as `volume/NAME`. */
  gid: number;
}

/** What a start gets: each granted volume's data dir and group, and what the user should be told. */
export interface ResolvedVolumes { volumes: Record<string, { dir: string; gid: number }>; notes: string[] }

/**
 * Who asks, as which uid: a service (run null; its grants persist) or a `niso run` (its pid; its grants end with it).
 * `oneOff`: that run is a one-off of the existing service of its name (`niso run SERVICE -- CMD`); whether the service
 * is active is asked under the volumes' lock, where a start of the service records its grants too, so that the two
 * cannot both take an exclusive volume.
 */
export interface VolumeHolder { run: number | null; uid: number; oneOff?: { serviceActive: () => boolean } }

const META_FORMAT = 1;
/** The key of a volume's group in the uid registry: no service name contains "/". */
export const gidKey = (name: string) => `volume/${name}`;
const registryPath = (l: StoreLayout) => join(l.volumes, 'grants.json');

/** The volumes' directory: traversable (a service without a sandbox reaches its data dir through it), not listable. */
function ensureVolumesDir(l: StoreLayout): void {
  mkdirSync(dirname(l.volumes), { recursive: true, mode: 0o755 });
  if (!existsSync(l.volumes)) {
    mkdirSync(l.volumes, { mode: 0o711 });
    chmodSync(l.volumes, 0o711);
  }
}

/** Every change to volumes and grants, one at a time. Order: the services' and a service's lock before this one. */
export function withVolumesLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const l = layout(root);
  ensureVolumesDir(l);
  return withLock(join(l.volumes, '.lock'), 'the volumes', fn);
}

export function readMeta(root: string, name: string): VolumeMeta | null {
  const file = volumeOf(layout(root), name).meta;
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw new NisoError('NISO5012', `cannot read ${file}: ${(e as Error).message}`, { path: file, cause: e });
  }
  try {
    const m = JSON.parse(text) as VolumeMeta;
    if (m.format !== META_FORMAT || m.name !== name || !Number.isInteger(m.gid) || typeof m.labels !== 'object' || m.labels === null) throw new Error('unexpected content');
    return m;
  } catch (e) {
    throw new NisoError('NISO5012', `${file} (the metadata of volume ${name}) is damaged: ${(e as Error).message}`, { path: file, hint: '`niso explain NISO5012`: its data/ directory is untouched' });
  }
}

export function readRegistry(root: string): GrantRegistry {
  const file = registryPath(layout(root));
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyRegistry();
    throw new NisoError('NISO5013', `cannot read ${file}: ${(e as Error).message}`, { path: file, cause: e });
  }
  try {
    const r = JSON.parse(text) as GrantRegistry;
    if (r.version !== 1 || typeof r.services !== 'object' || r.services === null || !Array.isArray(r.runs)) throw new Error('unexpected content');
    return r;
  } catch (e) {
    throw new NisoError('NISO5013', `${file} (the volume grants) is damaged: ${(e as Error).message}`, { path: file, hint: '`niso explain NISO5013`' });
  }
}

async function writeRegistry(root: string, reg: GrantRegistry): Promise<void> {
  await writeFileAtomic(registryPath(layout(root)), JSON.stringify(reg, null, 2) + '\n', 0o600);
}

/** Which services exist and which runs live, as the policy needs it. */
export function liveness(root: string): Liveness {
  return { services: new Set(listServiceNames(root)), runAlive: (r) => sameProcess(r) };
}

/** Named volumes and services' own volumes that exist (volume.json in place), sorted. */
export function listVolumeNames(root: string): string[] {
  const l = layout(root);
  const names: string[] = [];
  let top: string[];
  try { top = readdirSync(l.volumes); } catch { return []; }
  for (const n of top) {
    if (VOLUME_NAME_RE.test(n)) { if (existsSync(join(l.volumes, n, 'volume.json'))) names.push(n); continue; }
    if (!n.startsWith('@') || !VOLUME_NAME_RE.test(n.slice(1))) continue;
    let keys: string[];
    try { keys = readdirSync(join(l.volumes, n)); } catch { continue; }
    for (const k of keys) if (VOLUME_NAME_RE.test(k) && existsSync(join(l.volumes, n, k, 'volume.json'))) names.push(`${n.slice(1)}/${k}`);
  }
  return names.sort();
}

/** The own volumes of a service (SERVICE/KEY) that exist. */
export function ownVolumeNames(root: string, service: string): string[] {
  return listVolumeNames(root).filter((n) => n.startsWith(`${service}/`));
}

/**
 * Makes a volume, lock held: its group claimed, its directory made complete under a temporary name (data dir with
 * group, setgid, ACL; volume.json) and renamed into place, so that a volume is all there or not there at all.
 */
async function createLocked(root: string, ref: VolumeRef, labels: Record<string, string>): Promise<VolumeMeta> {
  if (ref.kind === 'state') throw new NisoError('NISO5004', `${ref.name} is the /state of service ${ref.service}, not a volume that can be made`, { exitCode: 2, hint: 'a service\'s /state is made when the service starts' });
  const l = layout(root);
  const v = volumeOf(l, ref.name);
  if (existsSync(v.dir)) throw new NisoError('NISO5003', `volume ${ref.name} already exists`, { exitCode: 1, hint: `use it as it is, or remove it first with \`niso volume rm ${ref.name}\`` });
  const parent = dirname(v.dir);
  if (!existsSync(parent)) { mkdirSync(parent, { mode: 0o711 }); chmodSync(parent, 0o711); }
  const { uid: gid } = await serviceUid(root, gidKey(ref.name));
  const tmp = join(parent, `.${basename(v.dir)}.new-${process.pid}-${randomBytes(4).toString('hex')}`);
  const meta: VolumeMeta = { format: META_FORMAT, name: ref.name, kind: ref.kind, createdAt: new Date().toISOString(), labels, gid };
  try {
    mkdirSync(tmp, { mode: 0o711 });
    chmodSync(tmp, 0o711);
    await makeDataDir(join(tmp, 'data'), gid);
    await writeFileAtomic(join(tmp, 'volume.json'), JSON.stringify(meta, null, 2) + '\n', 0o600);
    renameSync(tmp, v.dir);
    await fsyncPath(parent);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    await releaseUid(root, gidKey(ref.name));
    throw e;
  }
  return meta;
}

/** `niso volume create NAME [--label K=V]...`. */
export async function createVolume(root: string, name: string, labels: Record<string, string> = {}): Promise<VolumeMeta> {
  const ref = parseVolumeName(name);
  return withVolumesLock(root, () => createLocked(root, ref, labels));
}

/** The data dir of each of a service's volumes gets the owner the grants say (its exclusive holder, or root). */
function settleOwners(root: string, reg: GrantRegistry, volumes: Iterable<string>, live: Liveness): void {
  for (const name of new Set(volumes)) {
    const meta = readMeta(root, name);
    if (meta === null) continue;
    setDataOwner(volumeOf(layout(root), name).data, ownerOf(reg, name, live), meta.gid);
  }
}

/**
 * What a start of `service` mounts, for sandbox/prepare.ts: the grants' volumes (made when missing, with the note
 * "created volume NAME"), recorded in the registry (a service's until `niso remove SERVICE`, a run's while its pid
 * lives), exclusive conflicts refused (NISO5007/NISO5008, naming the holder). Idempotent: a restart of the same
 * service with the same grants reads one file and stats each volume, takes no lock and writes nothing. No grants: no
 * cost at all.
 */
export async function resolveVolumes(root: string, service: string, grants: readonly GrantRequest[], holder: VolumeHolder): Promise<ResolvedVolumes> {
  if (grants.length === 0) return { volumes: {}, notes: [] };
  const merged = mergeRequests(grants);
  const refs = merged.map((g) => parseVolumeName(g.volume));
  for (const r of refs) {
    if (r.kind === 'state') {
      throw new NisoError('NISO5004', `${r.name} is the /state of service ${r.service}; it cannot be granted${r.service === service ? ' (the service has it at /state already)' : ` to ${service}`}`, {
        exitCode: 2, hint: 'share data through a named volume: `niso volume create NAME`, then `-v NAME:/path` for each service',
      });
    }
  }
  const l = layout(root);
  const result = (metas: VolumeMeta[]): Record<string, { dir: string; gid: number }> =>
    Object.fromEntries(metas.map((m) => [m.name, { dir: volumeOf(l, m.name).data, gid: m.gid }]));
  if (holder.run === null) {
    const metas = merged.map((g) => readMeta(root, g.volume));
    const reg = readRegistry(root);
    // Not while a one-off of the service may hold one of them: that is checked under the lock.
    const quiet = !reg.runs.some((r) => r.service === service && r.oneOff === true);
    if (quiet && sameGrants(reg.services[service], merged, holder.uid) && metas.every((m) => m !== null)) return { volumes: result(metas as VolumeMeta[]), notes: [] };
  }
  const run = holder.run === null ? null : { pid: holder.run, startTime: processStartTimeSync(holder.run), ...(holder.oneOff ? { oneOff: true } : {}) };
  return withVolumesLock(root, async () => {
    const reg = readRegistry(root);
    const live = liveness(root);
    // The service being started counts as existing even if its definition is not written yet.
    if (holder.run === null) live.services = new Set([...live.services, service]);
    const who: Requester = holder.run === null ? { kind: 'service' } : holder.oneOff ? { kind: 'one-off', pid: holder.run, serviceActive: holder.oneOff.serviceActive() } : { kind: 'run', pid: holder.run };
    const found = conflicts(reg, service, merged, live, who);
    if (found.length > 0) {
      const errors = found.map((c) => conflictError(service, c, who.kind === 'one-off'));
      throw errors.length === 1 ? errors[0]! : new NisoError(errors[0]!.code, `${errors.length} volumes cannot be granted to ${service}`, { exitCode: 1, diagnostics: errors.map((e) => ({ code: e.code, message: e.message, hint: e.hint })) });
    }
    const notes: string[] = [];
    const metas: VolumeMeta[] = [];
    for (const r of refs) {
      let meta = readMeta(root, r.name);
      if (meta === null) {
        if (r.kind === 'service' && r.service !== service) {
          throw new NisoError('NISO5005', `volume ${r.name} does not exist, and only service ${r.service} makes it (it is that service's own volume)`, { exitCode: 1, hint: `start ${r.service} first, or grant ${service} a named volume instead` });
        }
        meta = await createLocked(root, r, {});
        notes.push(`created volume ${r.name}`);
      }
      metas.push(meta);
    }
    const before = volumesOf(reg, service);
    const next = recordGrants(reg, service, merged, { run, uid: holder.uid }, new Date().toISOString(), live);
    if (JSON.stringify(next) !== JSON.stringify(reg)) await writeRegistry(root, next);
    settleOwners(root, next, [...before, ...merged.map((g) => g.volume)], live);
    return { volumes: result(metas), notes };
  });
}

/** `niso remove SERVICE`: its grants end; a volume it held exclusively goes back to root (its group keeps access). */
export async function revokeGrants(root: string, service: string): Promise<void> {
  if (!existsSync(registryPath(layout(root))) || readRegistry(root).services[service] === undefined) return;
  await withVolumesLock(root, async () => {
    const reg = readRegistry(root);
    const held = volumesOf(reg, service);
    if (held.length === 0) return;
    const next = revokeService(reg, service);
    await writeRegistry(root, next);
    const live = liveness(root);
    live.services = new Set([...live.services].filter((s) => s !== service));
    settleOwners(root, next, held, live);
  });
}

/** One recorded grant, as inspect shows it; `active`: it counts now (its service exists, its run lives). */
export interface GrantView { service: string; run: number | null; oneOff?: true; readOnly: boolean; exclusive: boolean; since: string; active: boolean }

export interface VolumeInfo extends VolumeFacts {
  /** The directory the data is in (what is mounted). */
  dir: string;
  createdAt: string | null;
  gid: number | null;
  /** The data dir's owner, group and mode as stat says. */
  owner: { uid: number; gid: number; mode: string } | null;
  grants: GrantView[];
  /** The service (or run) that holds it exclusively now. */
  exclusiveHolder: string | null;
  /** Bytes on disk; null when not measured (`ls` without --size) or not measurable (an unmounted image). */
  sizeBytes: number | null;
  /** A service's /state: its image (null: unbounded), whether it is mounted, its bound and usage. */
  state?: { image: string | null; mounted: boolean; limitBytes: number | null; usedBytes: number | null };
}

export function ownerOfPath(path: string): VolumeInfo['owner'] {
  try {
    const st = lstatSync(path);
    return { uid: st.uid, gid: st.gid, mode: (st.mode & 0o7777).toString(8).padStart(4, '0') };
  } catch { return null; }
}

export function grantViews(reg: GrantRegistry, volume: string, live: Liveness): GrantView[] {
  const out: GrantView[] = [];
  for (const [service, gs] of Object.entries(reg.services)) {
    for (const g of gs) if (g.volume === volume) out.push({ service, run: null, readOnly: g.readOnly, exclusive: g.exclusive, since: g.since, active: live.services.has(service) });
  }
  for (const r of reg.runs) if (r.volume === volume) out.push({ service: r.service, run: r.pid, ...(r.oneOff ? { oneOff: true as const } : {}), readOnly: r.readOnly, exclusive: r.exclusive, since: r.since, active: live.runAlive(r) });
  return out.sort((a, b) => a.service.localeCompare(b.service) || (a.run ?? 0) - (b.run ?? 0));
}

/** What list and inspect show of a named or service volume. */
export async function volumeInfo(root: string, name: string, ctx: { reg: GrantRegistry; live: Liveness; sizes: boolean }): Promise<VolumeInfo | null> {
  const meta = readMeta(root, name);
  if (meta === null) return null;
  const ref = parseVolumeName(name);
  const data = volumeOf(layout(root), name).data;
  const holders = holdersOf(ctx.reg, name, ctx.live);
  const excl = holders.find((h) => h.exclusive);
  return {
    name, kind: meta.kind, service: ref.service, serviceExists: ref.service === null ? null : ctx.live.services.has(ref.service),
    labels: meta.labels, holders, dir: data, createdAt: meta.createdAt, gid: meta.gid, owner: ownerOfPath(data),
    grants: grantViews(ctx.reg, name, ctx.live), exclusiveHolder: excl ? describeHolder(excl) : null,
    sizeBytes: ctx.sizes ? await treeBytes(data) : null,
  };
}

export function notFound(root: string, name: string): NisoError {
  return new NisoError('NISO5002', `no volume named ${shown(name)}`, { exitCode: 1, hint: listVolumeNames(root).length > 0 || existsSync(layout(root).state) ? '`niso volume ls` lists the volumes' : 'create one with `niso volume create NAME`' });
}

/** Holders that are running now: a live run, or a service that is active. Their volume must not go. */
async function runningHolders(root: string, holders: readonly Holder[]): Promise<Holder[]> {
  if (holders.length === 0) return [];
  const { serviceStatus, isActive } = await import('../service/view.js');
  return holders.filter((h) => {
    if (h.run !== null) return true;
    const s = serviceStatus(root, h.service);
    return s !== null && isActive(s);
  });
}

/** Refuses (NISO5006) while something holds the volume: running holders always, others unless forced. */
export async function checkUnused(root: string, name: string, holders: readonly Holder[], force: boolean, verb: string): Promise<void> {
  const running = await runningHolders(root, holders);
  const blocking = force ? running : holders;
  if (blocking.length > 0) {
    const who = [...new Set(blocking.map(describeHolder))].join(', ');
    const first = blocking[0]!;
    const isRunning = running.includes(first);
    throw new NisoError('NISO5006', `volume ${name} is in use by ${who}; cannot ${verb} it`, {
      exitCode: 1,
      hint: first.run !== null ? `wait for that run to end (pid ${first.run})`
        : isRunning ? `stop it first (\`niso deactivate ${first.service}\`), then remove the service (\`niso remove ${first.service}\`)${force ? '' : ' or pass -f to drop the grants of services that do not run'}`
          : `remove the service first (\`niso remove ${first.service}\`), or pass -f to drop its grant (it gets a new, empty volume at its next start)`,
    });
  }
  const data = volumeOf(layout(root), name).data;
  const binders = existsSync(data) ? bindersOf(data) : [];
  if (binders.length > 0) throw new NisoError('NISO5006', `volume ${name} is still mounted by process ${binders.slice(0, 5).join(', ')}`, { exitCode: 1, hint: 'stop what runs with it first' });
}

/** Deletes a volume, lock held: renamed aside first (it disappears at once), then deleted; its group given back. */
export async function deleteVolumeLocked(root: string, name: string): Promise<void> {
  const v = volumeOf(layout(root), name);
  const parent = dirname(v.dir);
  const trash = join(parent, `.${basename(v.dir)}.trash-${process.pid}-${randomBytes(4).toString('hex')}`);
  renameSync(v.dir, trash);
  await fsyncPath(parent);
  await writeRegistry(root, forgetVolume(readRegistry(root), name));
  await removeTree(trash);
  await releaseUid(root, gidKey(name));
  // A service's own volumes share "@SERVICE": it goes with its last one.
  if (name.includes('/')) { try { rmdirSync(parent); } catch { /* other volumes, or leftovers, in it */ } }
}

/** `niso volume rm NAME` for a named or service volume. Returns whether it existed. */
export async function removeVolume(root: string, name: string, opts: { force: boolean }): Promise<boolean> {
  return withVolumesLock(root, async () => {
    if (readMeta(root, name) === null) {
      if (opts.force) return false;
      throw notFound(root, name);
    }
    await checkUnused(root, name, holdersOf(readRegistry(root), name, liveness(root)), opts.force, 'remove');
    await deleteVolumeLocked(root, name);
    return true;
  });
}

const LEFTOVER_RE = /^(?:\..+\.(?:new|trash|tmp)|\.restore)-(\d+)-[0-9a-f]{8}$/;

/**
 * What creations, removals and restores that were killed left: `.NAME.new-PID-*`, `.NAME.trash-PID-*` beside the
 * volumes, `.restore-PID-*` and a snapshot restore's `.data.tmp-PID-*` inside one; only those of processes that are gone.
 */
export function volumeLeftovers(root: string): string[] {
  const l = layout(root);
  const dirs = [l.volumes];
  try { for (const n of readdirSync(l.volumes)) if (n.startsWith('@')) dirs.push(join(l.volumes, n)); } catch { return []; }
  for (const n of listVolumeNames(root)) dirs.push(volumeOf(l, n).dir);
  const out: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try { names = readdirSync(dir); } catch { continue; }
    for (const n of names) {
      const m = LEFTOVER_RE.exec(n);
      if (m && !isAlive(Number(m[1]))) out.push(join(dir, n));
    }
  }
  return out.sort();
}
