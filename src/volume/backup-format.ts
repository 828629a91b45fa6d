// The volume backup format, as data. A backup is a zstd-compressed tar (ustar with pax headers, written by niso's
// backup-tar.ts; backups of earlier versions are GNU format, written by the host's tar) whose
// entries are the volume's tree under `data/` and whose last entry is `niso-backup.json`: the manifest, with every
// entry's type and every file's size and sha256, hashed from the very bytes that went into the archive. Trailing,
// because it is known only once every file went by; restore unpacks into a temporary directory and checks the tree
// against it before anything enters the volume. `zstd -d | tar -x` still unpacks a backup by hand.
import { NisoError } from '../errors/niso-error.js';
import { resolvesInside, symlinkStaysInside, unsafePathReason } from '../package/format/package-index.js';

export const BACKUP_DATA = 'data';
export const BACKUP_MANIFEST = 'niso-backup.json';
export const BACKUP_FORMAT = 'niso-volume-backup';
export const BACKUP_VERSION = 1;
/** The manifest is held in memory to be checked: ~150 bytes per entry, so this is millions of files. */
export const MANIFEST_MAX_BYTES = 512 * 1024 * 1024;
/** A GNU long name ('L'/'K' entry) longer than any path niso accepts is refused before it is buffered. */
export const LONG_NAME_MAX = 8192;

export type EntryType = 'dir' | 'file' | 'symlink' | 'link';

export interface BackupEntry {
  /** Relative to the volume's root, "/"-separated, normalised. */
  path: string;
  type: EntryType;
  /** file (and link: its target's) */
  size?: number;
  sha256?: string;
  /** symlink: where it points; link: the earlier file it is a hard link of. */
  target?: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  version: typeof BACKUP_VERSION;
  volume: string;
  kind: 'named' | 'service' | 'state';
  labels: Record<string, string>;
  createdAt: string;
  /** Taken while services wrote to it (--live). */
  live: boolean;
  /** The volume's root dir as it was: its owner and group are mapped to the restored volume's. */
  root: { uid: number; gid: number; mode: number };
  /** The volume's own group when it was backed up (null for a /state): files of that group get the new volume's. */
  gid: number | null;
  totals: { entries: number; files: number; bytes: number };
  entries: BackupEntry[];
}

/** What a tar entry's name means in a backup. */
export type ArchiveName = { kind: 'root' } | { kind: 'entry'; path: string } | { kind: 'manifest' } | { kind: 'outside'; why: string };

export function classifyName(name: string): ArchiveName {
  if (name === BACKUP_MANIFEST) return { kind: 'manifest' };
  const n = name.endsWith('/') ? name.slice(0, -1) : name;
  if (n === BACKUP_DATA || n === `${BACKUP_DATA}/.`) return { kind: 'root' };
  if (n.startsWith('/')) return { kind: 'outside', why: 'is absolute' };
  if (!n.startsWith(`${BACKUP_DATA}/`)) return { kind: 'outside', why: n.split('/').includes('..') ? 'climbs out with ".."' : `is not below ${BACKUP_DATA}/` };
  const path = n.slice(BACKUP_DATA.length + 1);
  const why = unsafePathReason(path);
  if (why !== null) return { kind: 'outside', why };
  return { kind: 'entry', path };
}

/** node-tar's names for tar's entry types, as a backup reads them. */
export function entryKind(typeName: string): EntryType | 'long-name' | 'long-link' | 'special' | 'other' {
  switch (typeName) {
    case 'File': case 'OldFile': case 'ContiguousFile': return 'file';
    case 'Directory': return 'dir';
    case 'SymbolicLink': return 'symlink';
    case 'Link': return 'link';
    case 'NextFileHasLongPath': return 'long-name';
    case 'NextFileHasLongLinkpath': return 'long-link';
    case 'CharacterDevice': case 'BlockDevice': case 'FIFO': return 'special';
    default: return 'other';
  }
}

/**
 * GNU long names as a backup's reader meets them: an 'L' or 'K' entry's data is the next entry's path or link target.
 * niso's own backups use pax headers instead; restore still reads the GNU format of backups the host's tar wrote.
 */
export class GnuLongNames {
  private pending: { which: 'name' | 'link'; parts: Buffer[] } | null = null;
  private name: string | null = null;
  private link: string | null = null;

  /** An 'L' or 'K' entry begins (its size checked against LONG_NAME_MAX by the caller). */
  begin(kind: 'long-name' | 'long-link'): void {
    this.pending = { which: kind === 'long-name' ? 'name' : 'link', parts: [] };
  }

  /** Takes a data chunk if an 'L' or 'K' entry is being read (copied: the reader's buffer is reused). */
  data(chunk: Uint8Array): boolean {
    if (this.pending === null) return false;
    this.pending.parts.push(Buffer.from(chunk));
    return true;
  }

  /** Ends an 'L' or 'K' entry if one is being read. */
  end(): boolean {
    if (this.pending === null) return false;
    const text = Buffer.concat(this.pending.parts).toString('utf8').replace(/\0+$/, '');
    if (this.pending.which === 'name') this.name = text; else this.link = text;
    this.pending = null;
    return true;
  }

  /** The path and link target of the entry that follows, long ones applied (and then forgotten). */
  take(h: { path: string; linkpath: string }): { name: string; link: string } {
    const out = { name: this.name ?? h.path, link: this.link ?? h.linkpath };
    this.name = this.link = null;
    return out;
  }
}

export const notABackup = (source: string, why: string) => new NisoError('NISO5031', `${source} is not a niso volume backup: ${why}`, { path: source, exitCode: 2, hint: '`niso explain NISO5031`; nothing was written into the volume' });

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32;

/** Reads the manifest of an archive from a hostile source: its shape checked field by field. */
export function parseBackupManifest(text: string, source: string): BackupManifest {
  let raw: unknown;
  try { raw = JSON.parse(text); } catch (e) { throw notABackup(source, `${BACKUP_MANIFEST} is not JSON (${(e as Error).message})`); }
  const bad = (what: string) => notABackup(source, `${BACKUP_MANIFEST} ${what}`);
  if (!isObj(raw) || raw.format !== BACKUP_FORMAT) throw bad(`does not say format "${BACKUP_FORMAT}"`);
  if (raw.version !== BACKUP_VERSION) throw new NisoError('NISO5031', `${source} is a volume backup of format version ${String(raw.version)}; this niso reads version ${BACKUP_VERSION}`, { path: source, exitCode: 2, hint: 'restore it with the niso that wrote it, or a newer one' });
  const root = raw.root;
  if (!isObj(root) || !isId(root.uid) || !isId(root.gid) || !isId(root.mode)) throw bad('has no valid root owner');
  if (!(raw.gid === null || isId(raw.gid))) throw bad('has an invalid gid');
  if (!isObj(raw.labels) || !Object.values(raw.labels).every((v) => typeof v === 'string')) throw bad('has invalid labels');
  if (typeof raw.volume !== 'string' || typeof raw.createdAt !== 'string' || typeof raw.live !== 'boolean') throw bad('lacks volume, createdAt or live');
  if (raw.kind !== 'named' && raw.kind !== 'service' && raw.kind !== 'state') throw bad('has an unknown kind');
  if (!Array.isArray(raw.entries)) throw bad('has no entries');
  const entries: BackupEntry[] = [];
  for (const e of raw.entries as unknown[]) {
    if (!isObj(e) || typeof e.path !== 'string' || unsafePathReason(e.path) !== null) throw bad(`has an entry with an unsafe path (${JSON.stringify(isObj(e) ? e.path : e).slice(0, 80)})`);
    const type = e.type;
    if (type === 'dir') entries.push({ path: e.path, type });
    else if (type === 'file' || type === 'link') {
      if (!Number.isSafeInteger(e.size) || (e.size as number) < 0 || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) throw bad(`has a file entry without size and sha256 (${e.path})`);
      if (type === 'link' && typeof e.target !== 'string') throw bad(`has a hard link without target (${e.path})`);
      entries.push({ path: e.path, type, size: e.size as number, sha256: e.sha256, ...(type === 'link' ? { target: e.target as string } : {}) });
    } else if (type === 'symlink') {
      if (typeof e.target !== 'string') throw bad(`has a symlink without target (${e.path})`);
      entries.push({ path: e.path, type, target: e.target });
    } else throw bad(`has an entry of unknown type (${e.path})`);
  }
  const totals = isObj(raw.totals) ? raw.totals : {};
  return {
    format: BACKUP_FORMAT, version: BACKUP_VERSION, volume: raw.volume, kind: raw.kind, labels: raw.labels as Record<string, string>, createdAt: raw.createdAt, live: raw.live,
    root: { uid: root.uid, gid: root.gid, mode: root.mode }, gid: raw.gid as number | null,
    totals: { entries: Number(totals.entries) || entries.length, files: Number(totals.files) || 0, bytes: Number(totals.bytes) || 0 }, entries,
  };
}

/**
 * Where a symlink at `path` pointing at `target` would lead outside the volume, on its own or through the archive's
 * other symlinks (`b -> .` then `s -> b/..`): the reason, or null.
 */
export function symlinkProblem(path: string, target: string, links: ReadonlyMap<string, string>): string | null {
  if (target === '') return 'has an empty target';
  if (target.startsWith('/')) return `points at the absolute path "${target}"`;
  if (!symlinkStaysInside(path, target)) return `points above the volume ("${target}")`;
  if (!resolvesInside(links, path)) return `points above the volume through other symlinks ("${target}")`;
  return null;
}

/** The differences between what was unpacked and what the manifest lists, a few of them named. */
export function compareWithManifest(manifest: readonly BackupEntry[], unpacked: ReadonlyMap<string, BackupEntry>): string[] {
  const out: string[] = [];
  const listed = new Set<string>();
  for (const m of manifest) {
    listed.add(m.path);
    const u = unpacked.get(m.path);
    if (!u) { out.push(`${m.path} is in the manifest but not in the archive`); continue; }
    if (u.type !== m.type) out.push(`${m.path} is a ${u.type} in the archive, a ${m.type} in the manifest`);
    else if ((m.type === 'file' || m.type === 'link') && (u.size !== m.size || u.sha256 !== m.sha256)) out.push(`${m.path} differs from the manifest (${u.size} bytes, sha256 ${u.sha256?.slice(0, 12)}…; manifest: ${m.size} bytes, ${m.sha256?.slice(0, 12)}…)`);
    else if ((m.type === 'symlink' || m.type === 'link') && u.target !== m.target) out.push(`${m.path} points at "${u.target}" in the archive, "${m.target}" in the manifest`);
  }
  if (listed.size !== manifest.length) out.push('the manifest lists a path twice');
  for (const p of unpacked.keys()) if (!listed.has(p)) out.push(`${p} is in the archive but not in the manifest`);
  return out;
}

/** A restored file never keeps setuid or setgid (directories keep setgid, which volumes share their group by). */
export function restoredMode(type: EntryType, mode: number): number {
  return type === 'dir' ? mode & 0o3777 : mode & 0o1777;
}

/** The owner a restored entry gets: the old volume's own ids become the new one's, other ids stay as they were. */
export function mapOwner(id: number, map: ReadonlyMap<number, number>): number {
  return map.get(id) ?? id;
}
