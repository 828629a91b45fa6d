// Volume snapshots as data: how a snapshot is named, which method a volume's file system allows (and why another one
// was not taken), what meta.json holds, and which snapshots retention removes. snapshot.ts probes the host and
// applies the answer; everything decided here is testable without a file system.
import { NisoError } from '../errors/niso-error.js';

/**
 * subvolume: `btrfs subvolume snapshot -r` of a data dir that is a subvolume (atomic, point in time);
 * reflink: a copy whose files share their blocks with the volume's (FICLONE: XFS with reflink, btrfs);
 * copy: every byte copied (any file system).
 */
export type SnapshotMethod = 'subvolume' | 'reflink' | 'copy';

/** What holds a volume's data: a directory, a btrfs subvolume, or an ext4 image file mounted on the dir (a /state). */
export type SourceKind = 'dir' | 'subvolume' | 'image';

/** What the host told about a volume's data and the snapshots directory. */
export interface SnapshotFacts {
  source: SourceKind;
  /** The file system of the data (of the image file, for an image), by statfs magic: "btrfs", "xfs", "ext4", ... */
  fsType: string;
  /** Whether the snapshots directory is on the same file system (one superblock), so blocks can be shared. */
  sameFs: boolean;
  /** Whether a FICLONE between two files of the snapshots directory's file system worked. */
  reflink: boolean;
  /** Whether the `btrfs` tool is installed. */
  btrfsTool: boolean;
}

export interface MethodOptions {
  /** A full copy even beyond the limit (`--copy`, `snapshot = "always"`). */
  forceCopy: boolean;
  /** A full copy is taken without being asked up to this many bytes. */
  copyLimitBytes: number;
}

/** 1 GiB: beyond it a copy costs real time and space, and is taken only when asked. */
export const DEFAULT_COPY_LIMIT = 1024 * 1024 * 1024;
/** Snapshots kept per volume unless the volume says otherwise. */
export const DEFAULT_KEEP = 3;
export const KEEP_MAX = 1000;

/** The cheap method the file system allows, or why it has none; a copy needs the size, so it is decided in two steps. */
export function cheapMethod(f: SnapshotFacts): { method: 'subvolume' | 'reflink'; atomic: boolean } | { method: null; why: string } {
  if (!f.sameFs) return { method: null, why: `the snapshots directory is on another file system than the volume's data (${f.fsType}), so no blocks can be shared` };
  if (f.source === 'subvolume' && f.btrfsTool) return { method: 'subvolume', atomic: true };
  if (f.reflink) return { method: 'reflink', atomic: false };
  if (f.source === 'subvolume') return { method: null, why: 'the data is a btrfs subvolume but the btrfs tool is not installed (apt-get install btrfs-progs)' };
  return { method: null, why: `${f.fsType === 'btrfs' || f.fsType === 'xfs' ? `this ${f.fsType} file system does not share blocks (reflink)` : `${f.fsType} cannot share blocks between files (no reflink)`}` };
}

/** Whether a full copy is taken: when asked, or when the data is at most the limit. */
export function copyDecision(bytes: number | null, why: string, o: MethodOptions): { method: 'copy'; note: string } | { method: null; reason: string } {
  if (o.forceCopy) return { method: 'copy', note: `${why}: a full copy, as asked` };
  if (bytes !== null && bytes <= o.copyLimitBytes) return { method: 'copy', note: `${why}: a full copy (${bytes} bytes, at most the limit of ${o.copyLimitBytes})` };
  return { method: null, reason: `${why}, and a full copy of ${bytes === null ? 'an unmeasured volume' : `${bytes} bytes`} is more than the limit of ${o.copyLimitBytes} bytes` };
}

/**
 * Whether a snapshot may be taken now: a copy of files (reflink or not) read while an app writes them is not a state
 * the app ever had, so only an atomic method (a btrfs subvolume snapshot: the state after a power loss, which a
 * database recovers from) or stopped writers make it consistent.
 */
export function consistencyProblem(method: SnapshotMethod, writers: readonly string[], writersStopped: boolean): string | null {
  if (writers.length === 0 || writersStopped || method === 'subvolume') return null;
  return `${writers.join(', ')} ${writers.length > 1 ? 'write' : 'writes'} to it, and a ${method === 'copy' ? 'full' : method} copy is taken file by file, not at one point in time`;
}

// --- names -------------------------------------------------------------------------------------------------------

/** A snapshot's id: `g<N>-<UTC>` before a switch of generation N, `manual-<UTC>` when a user took it. */
export const SNAPSHOT_ID_RE = /^(?:g(0|[1-9][0-9]{0,8})|manual)-(\d{8}T\d{6}Z)(?:-([1-9][0-9]{0,2}))?$/;
/** Live data a restore moved aside: `<key>@<id>-replaced-<UTC>` (`.img` for a state image), beside it (a rename). */
export const REPLACED_RE = /^([a-z0-9][a-z0-9._-]{0,63})@(.+)-replaced-(\d{8}T\d{6}Z)(?:\.img)?$/;

/** 2026-01-02T03:04:05.678Z → 20260102T030405Z (sortable, no characters a shell or a path treats specially). */
export function utcStamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

export function snapshotId(generation: number | null, at: Date, taken: ReadonlySet<string> = new Set()): string {
  const base = `${generation === null ? 'manual' : `g${generation}`}-${utcStamp(at)}`;
  if (!taken.has(base)) return base;
  for (let i = 1; i < 1000; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
  throw new Error(`too many snapshots named ${base}`);
}

export function replacedName(key: string, id: string, at: Date): string {
  return `${key}@${id}-replaced-${utcStamp(at)}`;
}

/** The snapshot argument of the CLI: an id, or a replaced entry; anything else is NISO5206. */
export function parseSnapshotRef(text: string): { kind: 'snapshot' | 'replaced'; id: string } {
  if (SNAPSHOT_ID_RE.test(text)) return { kind: 'snapshot', id: text };
  if (REPLACED_RE.test(text)) return { kind: 'replaced', id: text };
  throw new NisoError('NISO5206', `"${text.length > 80 ? `${text.slice(0, 60)}…` : text}" is not a snapshot name`, { exitCode: 2, hint: 'snapshots are named g<N>-<UTC> or manual-<UTC>; `niso volume snapshots NAME` lists them' });
}

// --- meta.json ---------------------------------------------------------------------------------------------------

export interface SnapshotMeta {
  format: 1;
  volume: string;
  id: string;
  /** The generation whose data it holds (taken before a switch away from it); null when a user took it. */
  generation: number | null;
  reason: string;
  method: SnapshotMethod;
  source: SourceKind;
  /** Bytes the data takes (du of the snapshot, hard links once); shared blocks of a reflink or subvolume count too. */
  bytes: number | null;
  takenAt: string;
  /** Services stopped for it (by niso or by the caller, who says so). */
  servicesStopped: string[];
  /** The snapshot of the last generation known good: retention never removes the newest such one. */
  lastGood: boolean;
  /** The volume's group when it was taken: a volume made again has another, which the files would not have. */
  gid: number | null;
  /** Sockets left out (a copy) or kept inert (a subvolume snapshot cannot be changed). */
  socketsSkipped: number;
  /** Taken by a generation switch (generation/data.ts): which one, and whether the data was the generation's own. */
  switch?: SwitchOfSnapshot;
}

/**
 * The switch that took a snapshot. `own`: the data was generation `from`'s own, i.e. `from` had been entered by a
 * switch that made it or that restored its data (`--with-data`); after a rollback without data the volumes hold the
 * newer generation's data, and a snapshot taken when the host leaves again is not what `--with-data` brings back.
 */
export interface SwitchOfSnapshot { id: string; from: number; to: number; kind: 'switch' | 'rollback'; own: boolean }

export function parseSnapshotMeta(text: string, volume: string, id: string): SnapshotMeta {
  const m = JSON.parse(text) as SnapshotMeta;
  const ok = m !== null && typeof m === 'object' && m.format === 1 && m.volume === volume && m.id === id
    && (m.generation === null || Number.isInteger(m.generation)) && typeof m.reason === 'string'
    && ['subvolume', 'reflink', 'copy'].includes(m.method) && ['dir', 'subvolume', 'image'].includes(m.source)
    && (m.bytes === null || Number.isFinite(m.bytes)) && typeof m.takenAt === 'string' && !Number.isNaN(Date.parse(m.takenAt))
    && Array.isArray(m.servicesStopped) && typeof m.lastGood === 'boolean' && (m.gid === null || Number.isInteger(m.gid));
  if (!ok) throw new Error('unexpected content');
  const sw = m.switch;
  if (sw !== undefined && !(sw !== null && typeof sw === 'object' && typeof sw.id === 'string' && Number.isInteger(sw.from) && Number.isInteger(sw.to) && ['switch', 'rollback'].includes(sw.kind) && typeof sw.own === 'boolean')) throw new Error('unexpected content in "switch"');
  return { ...m, socketsSkipped: Number.isInteger(m.socketsSkipped) ? m.socketsSkipped : 0 };
}

// --- retention ---------------------------------------------------------------------------------------------------

export function parseKeep(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > KEEP_MAX) throw new NisoError('NISO5209', `--keep "${text}" is not a number of snapshots from 1 to ${KEEP_MAX}`, { exitCode: 2, hint: `the default is ${DEFAULT_KEEP}` });
  return n;
}

type Ordered = Pick<SnapshotMeta, 'id' | 'takenAt'>;
const newestFirst = <T extends Ordered>(snaps: readonly T[]): T[] =>
  [...snaps].sort((a, b) => Date.parse(b.takenAt) - Date.parse(a.takenAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));

/**
 * The snapshot `niso rollback --with-data` (or `switch N --with-data`) restores a volume from: the newest one a switch
 * took when the host left generation N with N's own data (SwitchOfSnapshot.own); null when there is none.
 */
export function dataSnapshotOf<T extends Ordered & Pick<SnapshotMeta, 'generation' | 'switch'>>(snaps: readonly T[], generation: number): T | null {
  return newestFirst(snaps).find((s) => s.generation === generation && s.switch !== undefined && s.switch.own) ?? null;
}

/**
 * Which snapshots retention removes: all but the `keep` newest, and never the newest one marked last-good, nor the one
 * `--with-data` would restore for a generation in `retainedGood` (the good generations that generation retention
 * keeps: a rollback with data needs that snapshot for as long as the rollback can happen). Newest by takenAt, then id.
 */
export function retentionVictims<T extends Ordered & Pick<SnapshotMeta, 'lastGood'> & Partial<Pick<SnapshotMeta, 'generation' | 'switch'>>>(
  snaps: readonly T[], keep: number, retainedGood: ReadonlySet<number> = new Set(),
): T[] {
  const sorted = newestFirst(snaps);
  const kept = new Set<T>();
  const good = sorted.find((s) => s.lastGood);
  if (good) kept.add(good);
  for (const g of retainedGood) {
    const d = dataSnapshotOf(sorted.map((s) => ({ ...s, generation: s.generation ?? null })), g);
    if (d) kept.add(sorted.find((s) => s.id === d.id)!);
  }
  return sorted.slice(Math.max(0, keep)).filter((s) => !kept.has(s));
}
