// Volume snapshots (`niso volume snapshot`, and later a generation switch before it stops a writer): the volume's
// data copied where its file system makes that cheap (a btrfs subvolume snapshot, a reflink copy on XFS or btrfs),
// otherwise copied in full only when small or asked, else skipped with the reason. Each lives in
// var/lib/niso/snapshots/<volume>/<id>/ (data/ or data.img, meta.json), made whole under a hidden temporary name and
// renamed into place, so that a killed snapshot leaves nothing that is listed. A restore puts a snapshot back in
// place of the live data, which moves aside (never deleted), while nothing runs with the volume.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants as FS, copyFileSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, statfsSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { NisoError, isNisoError } from '../errors/niso-error.js';
import { run } from '../host/exec.js';
import { crashPoint } from '../host/crash-point.js';
import { fsyncPath, syncFilesystem, writeFileAtomic } from '../host/fs-atomic.js';
import { isAlive } from '../host/liveness.js';
import { bindersOf, mountAt, mountContaining, readMounts, type MountEntry } from '../host/mounts.js';
import type { Host } from '../service/ops.js';
import { readDefinition } from '../service/store.js';
import { layout, stateOf, volumeOf } from '../store/layout.js';
import { BTRFS_MAGIC, isSubvolume, removeTree, setDataOwner, treeBytes } from './data-dir.js';
import { parseVolumeName, type VolumeRef } from './names.js';
import { describeHolder, holdersOf, ownerOf } from './policy.js';
import {
  DEFAULT_COPY_LIMIT, DEFAULT_KEEP, REPLACED_RE, SNAPSHOT_ID_RE, cheapMethod, consistencyProblem, copyDecision, parseSnapshotMeta, parseSnapshotRef, replacedName,
  retentionVictims, snapshotId, type SnapshotFacts, type SnapshotMeta, type SnapshotMethod, type SourceKind, type SwitchOfSnapshot,
} from './snapshot-policy.js';
import { checkUnused, liveness, notFound, readMeta, readRegistry, withVolumesLock } from './store.js';

const TOOL_ENV = { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } };

/** statfs magic numbers of the file systems a message may name. */
const FS_NAMES: Record<number, string> = {
  [BTRFS_MAGIC]: 'btrfs', 0x58465342: 'xfs', 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x6969: 'nfs', 0x2fc12fc1: 'zfs', 0x65735546: 'fuse', 0x794c7630: 'overlayfs', 0xf2f52010: 'f2fs',
};
const fsName = (path: string) => { const t = statfsSync(path).type; return FS_NAMES[t] ?? `file system 0x${t.toString(16)}`; };

/** var/lib/niso/snapshots, beside volumes/ (on the same file system unless the admin mounted one of them apart). */
export const snapshotsRoot = (root: string) => join(dirname(layout(root).volumes), 'snapshots');
/** One volume's snapshots: NAME, or @SERVICE/KEY as volumes/ has it (no volume name starts with "@"). */
export function snapshotsOf(root: string, name: string): string {
  const slash = name.indexOf('/');
  return slash < 0 ? join(snapshotsRoot(root), name) : join(snapshotsRoot(root), `@${name.slice(0, slash)}`, name.slice(slash + 1));
}

/** A temporary entry (being made, or being removed) of a process, swept once that process is gone. */
const WORK_RE = /^\..+\.(?:tmp|trash)-(\d+)-[0-9a-f]{8}$/;
const workName = (what: string, kind: 'tmp' | 'trash') => `.${what}.${kind}-${process.pid}-${randomBytes(4).toString('hex')}`;

/** Where a volume's data is, what it is, who writes it now, and how a restore puts other data in its place. */
interface Source {
  ref: VolumeRef;
  kind: SourceKind;
  /** The data dir, or the image file of a bounded /state. */
  path: string;
  /** The last part of the name, for the replaced entry: "pgdata", KEY, "state". */
  key: string;
  gid: number | null;
  /** Running writers: active services with a read-write grant (a /state: its service), live runs. */
  writers: string[];
  /** Runs among them: niso cannot stop and start those again. */
  runs: string[];
  /** A mounted image's directory, flushed before the image is copied. */
  mountedOn: string | null;
}

async function activeServices(root: string, services: readonly string[]): Promise<string[]> {
  if (services.length === 0) return [];
  const { serviceStatus, isActive } = await import('../service/view.js');
  return services.filter((s) => { const st = serviceStatus(root, s); return st !== null && isActive(st); });
}

/** The volume's data as it is now; NISO5002 when there is no such volume. */
async function sourceOf(root: string, name: string): Promise<Source> {
  const ref = parseVolumeName(name);
  if (ref.kind === 'state') {
    const s = stateOf(layout(root), ref.service);
    if (!existsSync(s.dir) && !existsSync(s.image)) throw new NisoError('NISO5002', `no volume named ${name}: ${ref.service} has no /state on this host`, { exitCode: 1, hint: '`niso volume ls --filter kind=state` lists them' });
    const writers = (readDefinition(root, ref.service) ? await activeServices(root, [ref.service]) : []).map((w) => `service ${w}`);
    if (existsSync(s.image)) {
      const m = mountAt(s.dir);
      return { ref, kind: 'image', path: s.image, key: 'state', gid: null, writers, runs: [], mountedOn: m ? s.dir : null };
    }
    return { ref, kind: isSubvolume(s.dir) ? 'subvolume' : 'dir', path: s.dir, key: 'state', gid: null, writers, runs: [], mountedOn: null };
  }
  const meta = readMeta(root, name);
  if (meta === null) throw notFound(root, name);
  const data = volumeOf(layout(root), name).data;
  if (!existsSync(data)) {
    const aside = replacedOf(root, name).sort((a, b) => Date.parse(b.takenAt) - Date.parse(a.takenAt))[0];
    throw new NisoError('NISO5210', `volume ${name} has no data directory (${data})`, { exitCode: 1, hint: aside ? `a restore was cut short after it moved the live data aside: put it back with \`mv ${aside.path} ${data}\`` : 'its data/ was removed by hand: remove the volume (`niso volume rm`) and create it again' });
  }
  const holders = holdersOf(readRegistry(root), name, liveness(root)).filter((h) => !h.readOnly);
  const runs = holders.filter((h) => h.run !== null).map(describeHolder);
  const services = await activeServices(root, [...new Set(holders.filter((h) => h.run === null).map((h) => h.service))]);
  return { ref, kind: isSubvolume(data) ? 'subvolume' : 'dir', path: data, key: ref.key ?? ref.name, gid: meta.gid, writers: [...services.map((s) => `service ${s}`), ...runs], runs, mountedOn: null };
}

/** The mount (file system) a path is on: the longest mount point above its real path. */
function mountOf(path: string, mounts: readonly MountEntry[]): MountEntry | null {
  return mountContaining(realpathSync(path), mounts);
}

/** Whether FICLONE works on dir's file system: one byte cloned between two files of its own. */
function reflinkWorks(dir: string): boolean {
  const a = join(dir, workName('probe', 'tmp'));
  const b = `${a}.clone`;
  try {
    const fd = openSync(a, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, 0o600);
    try { writeSync(fd, 'x'); } finally { closeSync(fd); }
    copyFileSync(a, b, FS.COPYFILE_FICLONE_FORCE);
    return true;
  } catch { return false; } finally {
    rmSync(a, { force: true });
    rmSync(b, { force: true });
  }
}

const hasBtrfsTool = () => run('btrfs', ['--version'], TOOL_ENV).then((r) => r.code === 0, () => false);

/** What the host allows for this source, probed (the snapshots dir must exist). */
async function factsOf(src: Source, dir: string): Promise<SnapshotFacts> {
  const mounts = readMounts();
  const a = mountOf(src.path, mounts);
  const b = mountOf(dir, mounts);
  const sameFs = a !== null && b !== null && a.device === b.device;
  return { source: src.kind, fsType: fsName(src.path), sameFs, reflink: sameFs && reflinkWorks(dir), btrfsTool: src.kind === 'subvolume' ? await hasBtrfsTool() : false };
}

async function tool(cmd: string, args: string[], what: string): Promise<string> {
  const r = await run(cmd, args, TOOL_ENV);
  if (r.code !== 0) {
    const lines = (r.stderr || r.stdout).trim().split('\n').filter(Boolean);
    throw new NisoError('NISO5203', `${what}: ${cmd} failed: ${lines.slice(0, 5).join('; ') || `exit ${r.code ?? r.signal}`}${lines.length > 5 ? ` (and ${lines.length - 5} more lines)` : ''}`, { hint: '`niso explain NISO5203`; nothing was listed as a snapshot' });
  }
  return r.stdout;
}

/**
 * Copies the data (a tree or an image file) to `to`, which must not exist, by `method`: a read-only (or, with
 * `writable`, a writable) subvolume snapshot, a reflink copy, or a full copy. `cp -a` keeps owners, modes, ACLs,
 * xattrs, times, hard links and symlinks.
 */
async function copyData(from: string, to: string, method: SnapshotMethod, kind: SourceKind, what: string, writable = false): Promise<void> {
  if (method === 'subvolume') { await tool('btrfs', ['subvolume', 'snapshot', ...(writable ? [] : ['-r']), '--', from, to], what); return; }
  const reflink = method === 'reflink' ? '--reflink=always' : '--reflink=auto';
  if (kind === 'image') await tool('cp', ['--preserve=all', reflink, ...(method === 'copy' ? ['--sparse=always'] : []), '--', from, to], what);
  else await tool('cp', ['-a', reflink, '--', from, to], what);
}

/** Sockets in a copied tree: nothing listens on them there, and their server makes them again. */
async function dropSockets(dir: string): Promise<number> {
  const out = await tool('find', [dir, '-xdev', '-type', 's', '-printf', '.', '-delete'], `cannot drop the sockets of ${dir}`);
  return out.length;
}

/** Removes what killed snapshot commands of this volume left (hidden work entries of processes that are gone). */
async function sweep(dir: string): Promise<string[]> {
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  const swept: string[] = [];
  for (const n of names) {
    const m = WORK_RE.exec(n);
    if (m && !isAlive(Number(m[1]))) { await removeTree(join(dir, n)); swept.push(n); }
  }
  return swept;
}

/** What killed snapshot commands left in every volume's snapshots dir (for `niso gc`); removed unless `dryRun`. */
export async function snapshotLeftovers(root: string, dryRun: boolean): Promise<string[]> {
  const out: string[] = [];
  for (const v of snapshotVolumes(root)) {
    const dir = snapshotsOf(root, v);
    let names: string[];
    try { names = readdirSync(dir); } catch { continue; }
    for (const n of names) {
      const m = WORK_RE.exec(n);
      if (m && !isAlive(Number(m[1]))) out.push(join(dir, n));
    }
  }
  if (!dryRun) for (const p of out) await removeTree(p);
  return out.sort();
}

export interface TakeOptions {
  /** The generation whose data this is (a switch away from it is about to stop its writers); null: by hand. */
  generation?: number | null;
  reason?: string;
  /** A full copy however large, when the file system has no cheap method (`--copy`). */
  forceCopy?: boolean;
  copyLimitBytes?: number;
  /** The caller stopped the writers (and names them here, for meta.json); with running writers a copy is refused. */
  writersStopped?: boolean;
  servicesStopped?: string[];
  lastGood?: boolean;
  /** Retention after it: keep this many (default: what the volume keeps, else 3). */
  keep?: number;
  /** The generation switch that takes it (generation/data.ts), recorded in meta.json. */
  switch?: SwitchOfSnapshot;
  /** TEST-ONLY crash points (host/crash-point.ts): the environment that may name one. */
  crashEnv?: Readonly<Record<string, string | undefined>>;
}

export interface SnapshotInfo {
  volume: string;
  /** A snapshot (restorable), or live data a restore moved aside. */
  kind: 'snapshot' | 'replaced';
  id: string;
  path: string;
  generation: number | null;
  method: SnapshotMethod | null;
  source: SourceKind | null;
  bytes: number | null;
  takenAt: string;
  reason: string;
  servicesStopped: string[];
  lastGood: boolean;
  /** The generation switch that took it, if one did. */
  switch: SwitchOfSnapshot | null;
}

export type TakeResult =
  | { taken: true; snapshot: SnapshotInfo; note: string | null; ms: number; pruned: string[] }
  | { taken: false; volume: string; reason: string };

const infoOf = (dir: string, m: SnapshotMeta): SnapshotInfo => ({
  volume: m.volume, kind: 'snapshot', id: m.id, path: dir, generation: m.generation, method: m.method, source: m.source, bytes: m.bytes,
  takenAt: m.takenAt, reason: m.reason, servicesStopped: m.servicesStopped, lastGood: m.lastGood, switch: m.switch ?? null,
});

function readSnapshot(root: string, volume: string, id: string): { dir: string; meta: SnapshotMeta } | null {
  const dir = join(snapshotsOf(root, volume), id);
  let text: string;
  try { text = readFileSync(join(dir, 'meta.json'), 'utf8'); } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    if (c === 'ENOENT' || c === 'ENOTDIR') return null;
    throw e;
  }
  try { return { dir, meta: parseSnapshotMeta(text, volume, id) }; } catch (e) {
    throw new NisoError('NISO5205', `${join(dir, 'meta.json')} (snapshot ${id} of ${volume}) is damaged: ${(e as Error).message}`, { path: join(dir, 'meta.json'), hint: '`niso explain NISO5205`' });
  }
}

/** The snapshots of one volume, oldest first (damaged ones are errors, half-made ones are not there). */
function snapshotsOfVolume(root: string, volume: string): { dir: string; meta: SnapshotMeta }[] {
  let names: string[];
  try { names = readdirSync(snapshotsOf(root, volume)); } catch { return []; }
  const out: { dir: string; meta: SnapshotMeta }[] = [];
  for (const n of names) {
    if (!SNAPSHOT_ID_RE.test(n)) continue;
    const s = readSnapshot(root, volume, n);
    if (s) out.push(s);
  }
  return out.sort((a, b) => Date.parse(a.meta.takenAt) - Date.parse(b.meta.takenAt) || (a.meta.id < b.meta.id ? -1 : 1));
}

/** Where a restore puts live data aside: beside it, so that a rename moves it. */
function replacedDirOf(root: string, ref: VolumeRef, kind: SourceKind): string {
  if (ref.kind !== 'state') return volumeOf(layout(root), ref.name).dir;
  const s = stateOf(layout(root), ref.service);
  return kind === 'image' ? dirname(s.image) : dirname(s.dir);
}

/** Live data earlier restores moved aside. */
function replacedOf(root: string, volume: string): SnapshotInfo[] {
  const ref = parseVolumeName(volume);
  const places = ref.kind === 'state' ? [replacedDirOf(root, ref, 'image'), replacedDirOf(root, ref, 'dir')] : [replacedDirOf(root, ref, 'dir')];
  const key = ref.kind === 'state' ? ref.service : ref.key ?? ref.name;
  const out: SnapshotInfo[] = [];
  for (const place of places) {
    let names: string[];
    try { names = readdirSync(place); } catch { continue; }
    for (const n of names) {
      const m = REPLACED_RE.exec(n);
      if (!m || m[1] !== key) continue;
      const t = m[3]!;
      const takenAt = `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`;
      out.push({ volume, kind: 'replaced', id: n, path: join(place, n), generation: null, method: null, source: n.endsWith('.img') ? 'image' : null, bytes: null, takenAt, reason: `the live data, moved aside when snapshot ${m[2]} was restored`, servicesStopped: [], lastGood: false, switch: null });
    }
  }
  return out;
}

/** A volume's retention: `keep` in its snapshots dir (retention.json), else the default. */
function keepOf(dir: string): number {
  try {
    const k = (JSON.parse(readFileSync(join(dir, 'retention.json'), 'utf8')) as { keep?: unknown }).keep;
    return typeof k === 'number' && Number.isInteger(k) && k >= 1 ? k : DEFAULT_KEEP;
  } catch { return DEFAULT_KEEP; }
}

/** Sets how many snapshots a volume keeps from now on (`niso volume snapshot NAME --keep N`). */
export async function setKeep(root: string, volume: string, keep: number): Promise<void> {
  const dir = snapshotsOf(root, volume);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(dir, 'retention.json'), JSON.stringify({ keep }) + '\n', 0o600);
}

/**
 * Takes a snapshot of a volume (or SERVICE/state). Writes nothing and says why when the file system has no cheap
 * method and a full copy is neither small enough nor asked for. Refused (NISO5202) while writers run, unless the
 * method is atomic (a btrfs subvolume) or the caller says they are stopped. Then prunes by retention.
 */
export async function takeSnapshot(root: string, name: string, opts: TakeOptions = {}): Promise<TakeResult> {
  const t0 = performance.now();
  const src = await sourceOf(root, name);
  ensureSnapshotsRoot(root);
  const dir = snapshotsOf(root, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await sweep(dir);
  const facts = await factsOf(src, dir);
  const cheap = cheapMethod(facts);
  let method: SnapshotMethod;
  let note: string | null = null;
  if (cheap.method !== null) method = cheap.method;
  else {
    const bytes = src.kind === 'image' ? lstatSync(src.path).blocks * 512 : await treeBytes(src.path);
    const d = copyDecision(bytes, cheap.why, { forceCopy: opts.forceCopy === true, copyLimitBytes: opts.copyLimitBytes ?? DEFAULT_COPY_LIMIT });
    if (d.method === null) return { taken: false, volume: name, reason: d.reason };
    method = d.method;
    note = d.note;
  }
  const problem = consistencyProblem(method, src.writers, opts.writersStopped === true);
  if (problem !== null) {
    throw new NisoError('NISO5202', `cannot snapshot ${name} now: ${problem}`, {
      exitCode: 1,
      hint: src.runs.length > 0 ? 'wait for the run to end' : `stop ${src.writers.length > 1 ? 'them' : 'it'} for the snapshot: \`niso volume snapshot ${name} --stop\` stops and starts ${src.writers.length > 1 ? 'them' : 'it'} again`,
    });
  }
  const taken = new Set(readdirSync(dir));
  const at = new Date();
  const id = snapshotId(opts.generation ?? null, at, taken);
  const tmp = join(dir, workName(id, 'tmp'));
  mkdirSync(tmp, { mode: 0o700 });
  let socketsSkipped = 0;
  try {
    // A mounted image's dirty pages reach the image file first; its writers are stopped, so it is a clean state.
    if (src.mountedOn) await syncFilesystem(src.mountedOn);
    const data = join(tmp, src.kind === 'image' ? 'data.img' : 'data');
    await copyData(src.path, data, method, src.kind, `cannot snapshot ${name}`);
    if (method !== 'subvolume' && src.kind !== 'image') socketsSkipped = await dropSockets(data);
    await syncFilesystem(tmp);
    const meta: SnapshotMeta = {
      format: 1, volume: name, id, generation: opts.generation ?? null, reason: opts.reason ?? 'taken by hand', method, source: src.kind,
      bytes: await treeBytes(data), takenAt: at.toISOString(), servicesStopped: opts.servicesStopped ?? [], lastGood: opts.lastGood === true, gid: src.gid, socketsSkipped,
      ...(opts.switch ? { switch: opts.switch } : {}),
    };
    await writeFileAtomic(join(tmp, 'meta.json'), JSON.stringify(meta, null, 2) + '\n', 0o600);
    // Whole but not yet in place: a crash here must leave nothing listed (the next take sweeps it).
    if (opts.crashEnv) crashPoint(opts.crashEnv, 'snapshot:complete');
    renameSync(tmp, join(dir, id));
    await fsyncPath(dir);
    const pruned = await pruneSnapshots(root, name, opts.keep);
    if (socketsSkipped > 0) note = `${note ? `${note}; ` : ''}${socketsSkipped} socket${socketsSkipped > 1 ? 's' : ''} left out (their server makes them again)`;
    return { taken: true, snapshot: infoOf(join(dir, id), meta), note, ms: performance.now() - t0, pruned };
  } catch (e) {
    await removeTree(tmp).catch(() => undefined);
    throw e;
  }
}

/**
 * `niso volume snapshot NAME --stop`: the running services that write to it are stopped for the snapshot (not for an
 * atomic one, which needs no stop) and started again whatever happens, as `niso volume backup` does.
 */
export async function takeSnapshotStopping(host: Host, name: string, opts: TakeOptions): Promise<TakeResult & { downtimeMs: number | null }> {
  const src = await sourceOf(host.root, name);
  let atomic = false;
  if (src.kind === 'subvolume') {
    const dir = snapshotsOf(host.root, name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    atomic = cheapMethod(await factsOf(src, dir)).method === 'subvolume';
  }
  if (atomic || src.writers.length === 0) return { ...(await takeSnapshot(host.root, name, opts)), downtimeMs: null };
  if (src.runs.length > 0) throw new NisoError('NISO5202', `cannot snapshot ${name} now: ${src.runs.join(', ')} writes to it, and niso cannot stop and start a run again`, { exitCode: 1, hint: 'wait for the run to end' });
  const services = src.writers.map((w) => w.replace(/^service /, ''));
  const ops = await import('../service/ops.js');
  const stopped: string[] = [];
  const t0 = performance.now();
  let result: TakeResult;
  const restartErrors: NisoError[] = [];
  try {
    for (const s of services) { await ops.deactivate(host, s); stopped.push(s); }
    result = await takeSnapshot(host.root, name, { ...opts, writersStopped: true, servicesStopped: stopped });
  } finally {
    for (const s of stopped) {
      try { await ops.start(host, s); } catch (e) { restartErrors.push(isNisoError(e) ? e : new NisoError('NISO3304', `${s} did not start again after the snapshot: ${(e as Error).message}`)); }
    }
  }
  const downtimeMs = performance.now() - t0;
  if (restartErrors.length > 0) {
    const e = restartErrors[0]!;
    throw new NisoError(e.code, `${result.taken ? `the snapshot ${result.snapshot.id} is taken` : 'no snapshot was taken'}, but ${e.message}`, { hint: e.hint ?? `\`niso activate ${stopped[0]}\` starts it again` });
  }
  return { ...result, downtimeMs };
}

/** Every snapshot of one volume (or of every volume that has any), newest last, then live data restores moved aside. */
export function listSnapshots(root: string, name?: string): SnapshotInfo[] {
  const volumes = name !== undefined ? [parseVolumeName(name).name] : snapshotVolumes(root);
  const out: SnapshotInfo[] = [];
  for (const v of volumes) {
    out.push(...snapshotsOfVolume(root, v).map((s) => infoOf(s.dir, s.meta)));
    out.push(...replacedOf(root, v));
  }
  if (name !== undefined && out.length === 0 && !volumeExists(root, volumes[0]!)) {
    throw volumes[0]!.endsWith('/state') ? new NisoError('NISO5002', `no volume named ${name}`, { exitCode: 1, hint: '`niso volume ls` lists the volumes' }) : notFound(root, volumes[0]!);
  }
  return out.sort((a, b) => (a.volume < b.volume ? -1 : a.volume > b.volume ? 1 : a.kind !== b.kind ? (a.kind === 'snapshot' ? -1 : 1) : Date.parse(a.takenAt) - Date.parse(b.takenAt)));
}

function volumeExists(root: string, name: string): boolean {
  const ref = parseVolumeName(name);
  if (ref.kind !== 'state') return readMeta(root, name) !== null;
  const s = stateOf(layout(root), ref.service);
  return existsSync(s.dir) || existsSync(s.image);
}

/** Volumes that have a snapshots directory (whether or not the volume still exists). */
function snapshotVolumes(root: string): string[] {
  const top = snapshotsRoot(root);
  const out: string[] = [];
  let names: string[];
  try { names = readdirSync(top); } catch { return []; }
  for (const n of names) {
    if (n.startsWith('@')) {
      try { for (const k of readdirSync(join(top, n))) if (!k.startsWith('.')) out.push(`${n.slice(1)}/${k}`); } catch { /* not a dir */ }
    } else if (!n.startsWith('.')) out.push(n);
  }
  // Volumes without a snapshots dir may still have replaced data (a restore, then every snapshot removed).
  return [...new Set(out)].sort();
}

function findSnapshot(root: string, volume: string, id: string): { dir: string; meta: SnapshotMeta } {
  const s = readSnapshot(root, volume, id);
  if (s === null) throw new NisoError('NISO5200', `volume ${volume} has no snapshot ${id}`, { exitCode: 1, hint: `\`niso volume snapshots ${volume}\` lists them` });
  return s;
}

/** Deletes a snapshot (or replaced data): renamed aside first, so that it is gone from the list at once. */
export async function removeSnapshot(root: string, volume: string, snapshot: string): Promise<SnapshotInfo> {
  const ref = parseSnapshotRef(snapshot);
  const name = parseVolumeName(volume).name;
  if (ref.kind === 'replaced') {
    const r = replacedOf(root, name).find((x) => x.id === snapshot);
    if (!r) throw new NisoError('NISO5200', `volume ${name} has no replaced data ${snapshot}`, { exitCode: 1, hint: `\`niso volume snapshots ${name}\` lists it` });
    const trash = join(dirname(r.path), workName(basename(r.path), 'trash'));
    renameSync(r.path, trash);
    await removeTree(trash);
    return r;
  }
  const s = findSnapshot(root, name, ref.id);
  await deleteSnapshotDir(s.dir);
  return infoOf(s.dir, s.meta);
}

async function deleteSnapshotDir(dir: string): Promise<void> {
  const trash = join(dirname(dir), workName(basename(dir), 'trash'));
  renameSync(dir, trash);
  await fsyncPath(dirname(dir));
  await removeTree(trash);
}

/**
 * Retention: all but the `keep` newest snapshots go, never the newest last-good one, nor the one a rollback with data
 * to a retained good generation would restore. Nothing goes while the generations cannot be read (fail closed).
 */
export async function pruneSnapshots(root: string, volume: string, keep?: number): Promise<string[]> {
  const dir = snapshotsOf(root, volume);
  const k = keep ?? keepOf(dir);
  let good: Set<number>;
  try {
    const { retained } = await import('../generation/store.js');
    good = new Set((await retained(root, new Date())).filter((m) => m.status === 'good').map((m) => m.number));
  } catch { return []; }
  const victims = retentionVictims(snapshotsOfVolume(root, volume).map((s) => ({ ...s.meta, dir: s.dir })), k, good);
  for (const v of victims) await deleteSnapshotDir(v.dir);
  return victims.map((v) => v.id);
}

export interface RestoreSnapshotResult { volume: string; snapshot: string; method: SnapshotMethod; replaced: string; ms: number }

/**
 * Puts a snapshot back as the volume's data. Stopping what writes is the caller's: refused (NISO5006) while a holder
 * runs. The snapshot is copied (a writable subvolume snapshot, a reflink copy, or a full copy) beside the data, then
 * the live data moves aside to `<key>@<id>-replaced-<UTC>` and the copy takes its name. The snapshot stays.
 */
export async function restoreSnapshot(root: string, volume: string, snapshot: string, opts: {
  crashEnv?: Readonly<Record<string, string | undefined>>;
  /**
   * The caller (a switch's data phase) stopped the service itself, and the stop waited for its processes to end: a
   * loop device still attached to the old image then belongs to a mount namespace that outlived it elsewhere on the
   * host (a copy of the mount table, held by an unrelated process), and it keeps only the inode that moves aside.
   */
  serviceStopped?: boolean;
} = {}): Promise<RestoreSnapshotResult> {
  const t0 = performance.now();
  const ref = parseSnapshotRef(snapshot);
  if (ref.kind === 'replaced') throw new NisoError('NISO5206', `${snapshot} is live data a restore moved aside, not a snapshot`, { exitCode: 2, hint: 'to go back to it, take a snapshot of the volume now, then move it into place by hand, or remove it with `niso volume snapshot-rm`' });
  const name = parseVolumeName(volume).name;
  const s = findSnapshot(root, name, ref.id);
  const src = await sourceOf(root, name);
  if (s.meta.source === 'image' ? src.kind !== 'image' : src.kind === 'image') {
    throw new NisoError('NISO5204', `snapshot ${ref.id} of ${name} holds ${s.meta.source === 'image' ? 'a state image' : 'a directory'}, but the volume's data is now ${src.kind === 'image' ? 'a state image' : 'a directory'}`, { exitCode: 1, hint: 'the service\'s state bound was switched on or off since; restore with `niso volume backup`/`restore` instead' });
  }
  if (s.meta.gid !== null && src.gid !== null && s.meta.gid !== src.gid) {
    throw new NisoError('NISO5204', `snapshot ${ref.id} was taken of an earlier volume ${name} (group ${s.meta.gid}); this one has group ${src.gid}, which its files would not have`, { exitCode: 1, hint: 'back the snapshot\'s data up and restore it (`niso volume restore` maps the group), or restore into a new volume by hand' });
  }
  const apply = async (): Promise<RestoreSnapshotResult> => {
    const place = replacedDirOf(root, src.ref, src.kind);
    if (src.kind !== 'image' && mountAt(src.path) !== null) {
      throw new NisoError('NISO5208', `${src.path} is a mount point: its data cannot be moved aside`, { exitCode: 1, hint: 'copy the snapshot\'s data into it by hand, or keep volumes on the file system of /var/lib/niso' });
    }
    const facts = await factsOf(src.kind === 'image' ? src : { ...src, kind: s.meta.method === 'subvolume' ? 'subvolume' : 'dir' }, s.dir);
    const method: SnapshotMethod = s.meta.method === 'subvolume' && facts.sameFs && facts.btrfsTool ? 'subvolume' : facts.reflink ? 'reflink' : 'copy';
    await sweep(place);
    const stage = join(place, workName(basename(src.path), 'tmp'));
    try {
      await copyData(join(s.dir, src.kind === 'image' ? 'data.img' : 'data'), stage, method, src.kind, `cannot restore snapshot ${ref.id} of ${name}`, true);
      await syncFilesystem(stage);
      const aside = join(place, `${replacedName(src.ref.kind === 'state' ? src.ref.service : src.key, ref.id, new Date())}${src.kind === 'image' ? '.img' : ''}`);
      renameSync(src.path, aside);
      // Between the two renames the volume has no data dir (NISO5210); a switch's recovery puts the aside data back.
      if (opts.crashEnv) crashPoint(opts.crashEnv, 'snapshot-restore:aside');
      renameSync(stage, src.path);
      await fsyncPath(place);
      if (src.ref.kind !== 'state' && src.gid !== null) setDataOwner(src.path, ownerOf(readRegistry(root), name, liveness(root)), src.gid);
      return { volume: name, snapshot: ref.id, method, replaced: aside, ms: performance.now() - t0 };
    } catch (e) {
      await removeTree(stage).catch(() => undefined);
      throw e;
    }
  };
  if (src.ref.kind === 'state') {
    const service = src.ref.service;
    if (src.writers.length > 0) throw new NisoError('NISO5006', `${name} is the /state of service ${service}, which runs`, { exitCode: 1, hint: `stop it first (\`niso deactivate ${service}\`), restore, then start it again` });
    if (src.kind === 'image') {
      const { unmountBounded, stillAttached } = await import('../host/bounded-dir.js');
      const st = stateOf(layout(root), service);
      await unmountBounded(st);
      // A sandbox that just ended lets go of the loop device a moment later (bounded-dir.ts stillAttached).
      const held = await stillAttached(st.image, opts.serviceStopped ? 2_000 : undefined);
      if (held !== null && !opts.serviceStopped) throw new NisoError('NISO5006', `${name} is still used by a sandbox (loop device ${held})`, { exitCode: 1, hint: `stop what runs under the name ${service} first` });
    } else if (bindersOf(src.path).length > 0) {
      throw new NisoError('NISO5006', `${name} is still mounted by process ${bindersOf(src.path).slice(0, 5).join(', ')}`, { exitCode: 1, hint: `stop the \`niso run\` of ${service} first` });
    }
    return apply();
  }
  return withVolumesLock(root, async () => {
    await checkUnused(root, name, holdersOf(readRegistry(root), name, liveness(root)), true, 'restore a snapshot into');
    return apply();
  });
}

/** chmod of the snapshots root: root's alone (snapshots hold every volume's data). */
export function ensureSnapshotsRoot(root: string): void {
  const top = snapshotsRoot(root);
  mkdirSync(top, { recursive: true, mode: 0o700 });
  if ((statSync(top).mode & 0o777) !== 0o700) chmodSync(top, 0o700);
}

/** The snapshots of a volume (none when it has none, or no longer exists), oldest first. */
export function snapshotsOfVolumeInfo(root: string, volume: string): SnapshotInfo[] {
  return snapshotsOfVolume(root, parseVolumeName(volume).name).map((s) => infoOf(s.dir, s.meta));
}

/**
 * Takes back a restore of `snapshot` into `volume` that began at `since` (a switch's way back, generation/data.ts):
 * the live data the restore moved aside goes back into place, and what the restore put there (a copy of a snapshot,
 * which stays) is removed. Nothing may run with the volume (the caller stopped its holders). False when the restore
 * never moved the live data (nothing to take back).
 */
export async function undoRestore(root: string, volume: string, snapshot: string, since: Date, replaced?: string): Promise<boolean> {
  const name = parseVolumeName(volume).name;
  const floor = Math.floor(since.getTime() / 1000) * 1000;
  const aside = replaced !== undefined && existsSync(replaced) ? replaced : replacedOf(root, name)
    .filter((r) => REPLACED_RE.exec(basename(r.path))?.[2] === snapshot && Date.parse(r.takenAt) >= floor)
    .sort((a, b) => Date.parse(b.takenAt) - Date.parse(a.takenAt))[0]?.path;
  if (aside === undefined || !existsSync(aside)) return false;
  const ref = parseVolumeName(name);
  let live: string;
  if (ref.kind === 'state') {
    const st = stateOf(layout(root), ref.service);
    if (aside.endsWith('.img')) {
      live = st.image;
      const { unmountBounded } = await import('../host/bounded-dir.js');
      await unmountBounded(st);
    } else live = st.dir;
  } else live = volumeOf(layout(root), name).data;
  let trash: string | null = null;
  if (existsSync(live)) {
    trash = join(dirname(live), workName(basename(live), 'trash'));
    renameSync(live, trash);
  }
  renameSync(aside, live);
  await fsyncPath(dirname(live));
  if (trash !== null) await removeTree(trash);
  return true;
}
