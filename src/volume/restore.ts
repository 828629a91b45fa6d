// `niso volume restore NAME FILE`: a backup into a new or empty volume (or a /state). The archive is hostile until
// proven otherwise: its compressed bytes must be zstd frames only (checked before zstd sees them), and it is unpacked
// by niso itself into a temporary directory beside the data (same file system), entry by entry: no path leaves it
// (absolute, `..`, below a symlink or a file), no symlink points out (also through other symlinks), no hard link
// reaches a file that is not an earlier one of the archive, no device or FIFO, no size beyond the free space. Only when
// every file matches the manifest's sha256 does anything move into the volume, by rename.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import {
  closeSync, constants as FS, existsSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync,
  readFileSync, readSync, renameSync, rmdirSync, statSync, statfsSync, symlinkSync, chmodSync, chownSync, utimesSync, writeSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { NisoError, isNisoError } from '../errors/niso-error.js';
import { fsyncPath, syncFilesystem, writeFileAtomic } from '../host/fs-atomic.js';
import { missingTool, run, spawnTool } from '../host/exec.js';
import { ZstdFrameChecker, ZstdFramingError } from '../package/format/zstd-frames.js';
import { TarFormatError, TarReader } from '../package/tar-codec.js';
import { serviceUid } from '../sandbox/uids.js';
import { layout, stateOf, volumeOf } from '../store/layout.js';
import { readDefinition } from '../service/store.js';
import {
  GnuLongNames, LONG_NAME_MAX, MANIFEST_MAX_BYTES, classifyName, compareWithManifest, entryKind, mapOwner, notABackup, parseBackupManifest, restoredMode, symlinkProblem,
  type BackupEntry, type BackupManifest, type EntryType,
} from './backup-format.js';
import { setDefaultAcl } from './data-dir.js';
import { parseVolumeName } from './names.js';
import { holdersOf } from './policy.js';
import { checkUnused, deleteVolumeLocked, liveness, readMeta, readRegistry, withVolumesLock, createVolume, type VolumeMeta } from './store.js';

export interface RestoreResult {
  volume: string;
  /** Whether the volume was made for the restore. */
  created: boolean;
  entries: number;
  files: number;
  dataBytes: number;
  /** What the backup says about itself. */
  from: { volume: string; kind: string; createdAt: string; live: boolean };
}

/** More entries than this is not a volume anyone backed up; each costs memory while it is checked. */
export const RESTORE_MAX_ENTRIES = 5_000_000;
/** Free space left on the file system whatever an archive claims: the host must go on working (less on a small one). */
const RESERVE_BYTES = 64 * 1024 * 1024;
/** What a file costs beyond its bytes (an inode, a block's rounding), counted against the free space. */
const PER_FILE_BYTES = 4096;

interface Target {
  name: string;
  /** Where the files go. */
  data: string;
  /** The temporary directory's parent: on the data dir's file system, never in it (or, for a mounted /state, in it). */
  tmpParent: string;
  /** Volumes carry their group's default ACL, so that new directories inherit it. */
  acl: boolean;
  created: boolean;
  /**
   * The ids of the backed-up volume that are this volume's own, from its root dir's owner in the archive: its group
   * (and an exclusive holder's uid); a /state's uid.
   */
  ids(root: { uid: number; gid: number }): { uids: Map<number, number>; gids: Map<number, number> };
  /** Just before the files move in: still empty, still unused. */
  recheck(): Promise<void>;
  /** The move itself, under whatever lock keeps starts out. */
  locked<T>(fn: () => Promise<T>): Promise<T>;
  /** After success (labels of a volume made for the restore); after failure (a volume made for it goes). */
  done(m: BackupManifest): Promise<void>;
  undo(): Promise<void>;
}

/** A directory with nothing in it; a new file system's empty lost+found does not count. */
function isEmpty(dir: string): boolean {
  let names: string[];
  try { names = readdirSync(dir); } catch { return true; }
  // A restore's own temporary directory (inside a mounted /state, the only place on its file system) does not count.
  return names.every((n) => (n === 'lost+found' && readdirSync(join(dir, n)).length === 0) || n.startsWith(`.restore-${process.pid}-`));
}

const notEmpty = (name: string, dir: string) => new NisoError('NISO5030', `volume ${name} is not empty (${dir})`, { exitCode: 1, hint: `restore into a new volume (\`niso volume restore NEWNAME FILE\`), or remove this one first (\`niso volume rm ${name}\`)` });

async function volumeTarget(root: string, name: string): Promise<Target> {
  const v = volumeOf(layout(root), name);
  let created = false;
  let meta: VolumeMeta | null = readMeta(root, name);
  if (meta === null) {
    try { meta = await createVolume(root, name); created = true; } catch (e) {
      // Made meanwhile by someone else: then it is checked like any existing one.
      if (!(isNisoError(e) && e.code === 'NISO5003')) throw e;
      meta = readMeta(root, name);
      if (meta === null) throw e;
    }
  }
  const gid = meta.gid;
  const check = async () => {
    if (!isEmpty(v.data)) throw notEmpty(name, v.data);
    // Not under a running app (read-write or not): files would appear under it. Stopped holders keep their grants.
    await checkUnused(root, name, holdersOf(readRegistry(root), name, liveness(root)), true, 'restore into');
  };
  await withVolumesLock(root, check);
  return {
    name, data: v.data, tmpParent: v.dir, acl: true, created,
    ids: (root) => {
      const owner = lstatSync(v.data).uid;
      const uids = new Map<number, number>();
      if (root.uid !== 0 && owner !== 0) uids.set(root.uid, owner);
      return { uids, gids: new Map([[root.gid, gid]]) };
    },
    recheck: check,
    locked: (fn) => withVolumesLock(root, fn),
    done: async (m) => {
      if (!created || Object.keys(m.labels).length === 0) return;
      await withVolumesLock(root, async () => {
        const now = readMeta(root, name);
        if (now) await writeFileAtomic(v.meta, JSON.stringify({ ...now, labels: m.labels }, null, 2) + '\n', 0o600);
      });
    },
    undo: async () => { if (created) await withVolumesLock(root, () => deleteVolumeLocked(root, name)); },
  };
}

/**
 * A /state: restored only while its service does not run, into an empty state (mounted image or plain dir) or a new
 * plain dir, which the service's next start moves into its bounded image (host/bounded-dir.ts). A kept image that is
 * not mounted cannot be told empty without mounting it: refused with how to proceed.
 */
async function stateTarget(root: string, name: string, service: string): Promise<Target> {
  const s = stateOf(layout(root), service);
  const { boundedUsage } = await import('../host/bounded-dir.js');
  const usage = boundedUsage(s);
  if (usage && !usage.mounted) {
    throw new NisoError('NISO5030', `${name} is kept in an image that is not mounted (${s.image}), and may hold data`, { exitCode: 1, hint: `remove it first (\`niso volume rm ${name}\`), then restore` });
  }
  const running = async () => {
    if (readDefinition(root, service) === null) return;
    const { serviceStatus, isActive } = await import('../service/view.js');
    const st = serviceStatus(root, service);
    if (st && isActive(st)) throw new NisoError('NISO5006', `${name} is the /state of service ${service}, which is ${st.state}`, { exitCode: 1, hint: `stop it first (\`niso deactivate ${service}\`), restore, then start it again` });
  };
  await running();
  if (!isEmpty(s.dir)) throw notEmpty(name, s.dir);
  const { uid } = await serviceUid(root, service);
  const created = !existsSync(s.dir);
  if (created) {
    mkdirSync(layout(root).state, { recursive: true, mode: 0o755 });
    mkdirSync(s.dir, { mode: 0o700 });
    chownSync(s.dir, uid, uid);
  }
  return {
    name, data: s.dir, tmpParent: s.dir, acl: false, created,
    ids: (root) => ({ uids: new Map([[root.uid, uid]]), gids: new Map([[root.gid, uid]]) }),
    recheck: async () => { await running(); if (!isEmpty(s.dir)) throw notEmpty(name, s.dir); },
    locked: (fn) => fn(),
    done: async () => undefined,
    undo: async () => { if (created) await rm(s.dir, { recursive: true, force: true }); },
  };
}

/** The backup file as niso reads it: a regular file (NISO5038). */
function checkSource(file: string): number {
  let st;
  try { st = statSync(file); } catch (e) {
    throw new NisoError('NISO5038', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { path: file, exitCode: 2 });
  }
  if (!st.isFile()) throw new NisoError('NISO5038', `${file} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}`, { path: file, exitCode: 2, hint: 'give the .tar.zst that `niso volume backup` wrote' });
  return st.size;
}

/** The decompressed archive as niso reads it: blocking reads into one buffer, and how far zstd got in the file. */
interface Decompressed { read(buf: Buffer): number; compressedRead(): number; finish(): Promise<{ code: number | null; stderr: string }>; stop(): void }

/**
 * Checks the file's framing (zstd frames only: the CLI would also take gzip, xz or lz4, and skip skippable frames),
 * then has zstd decompress it into a FIFO that niso reads synchronously into one reused buffer. A child's stdout
 * stream would hand niso a new 64 KiB buffer per read; allocating and collecting those cost more than parsing the tar.
 */
async function decompress(file: string, fifo: string): Promise<Decompressed> {
  const src = openSync(file, FS.O_RDONLY);
  try {
    const frames = new ZstdFrameChecker();
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (let pos = 0, n; (n = readSync(src, buf, 0, buf.length, pos)) > 0; pos += n) frames.push(buf.subarray(0, n));
    frames.end();
  } catch (e) {
    closeSync(src);
    throw e instanceof ZstdFramingError ? notABackup(file, e.message) : e;
  }
  const made = await run('mkfifo', ['-m', '600', '--', fifo]);
  if (made.code !== 0) { closeSync(src); throw new Error(`mkfifo ${fifo}: ${made.stderr.trim()}`); }
  // Our own read-write end first, so that opening the read end does not wait for a writer; closed once zstd has its.
  const keep = openSync(fifo, FS.O_RDWR);
  let child: ReturnType<typeof spawnTool>;
  try { child = spawnTool('zstd', ['-q', '-d', '-c', '--no-progress'], { stdio: [src, keep, 'pipe'] }); } catch (e) { closeSync(keep); closeSync(src); throw e; }
  const rd = openSync(fifo, FS.O_RDONLY);
  closeSync(keep);
  closeSync(src);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 64 * 1024) stderr += d; });
  const ended = new Promise<{ code: number | null; stderr: string }>((res, rej) => {
    child.on('error', (e: NodeJS.ErrnoException) => rej(e.code === 'ENOENT' ? missingTool('zstd', e) : e));
    child.on('close', (code) => res({ code, stderr: stderr.trim() }));
  });
  ended.catch(() => undefined);
  let open = true;
  const close = () => { if (open) { open = false; closeSync(rd); } };
  return {
    read: (b) => readSync(rd, b, 0, b.length, null),
    compressedRead: () => {
      try { return Number(/^pos:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid}/fdinfo/0`, 'utf8'))?.[1] ?? 0); } catch { return 0; }
    },
    finish: async () => { close(); return ended; },
    stop: () => { child.kill('SIGKILL'); close(); },
  };
}

interface Unpacked {
  manifest: BackupManifest;
  /** What was unpacked, as the manifest would list it. */
  entries: Map<string, BackupEntry>;
  dataBytes: number;
}

/** Unpacks the archive into tmp, refusing whatever could reach outside it. */
async function unpack(file: string, tmp: string, aclDir: boolean, fifo: string, idsFor: Target['ids'], onProgress: (read: number) => void): Promise<Unpacked> {
  const refuse = (code: string, what: string, hint?: string) => new NisoError(code, `${file}: ${what}`, { path: file, exitCode: 2, hint: hint ?? `\`niso explain ${code}\`; nothing was written into the volume` });
  const z = await decompress(file, fifo);
  const reader = new TarReader();
  const kinds = new Map<string, EntryType>();
  const entries = new Map<string, BackupEntry>();
  const dirTimes = new Map<string, number>();
  const links = new Map<string, string>();
  // What the file system has free, less a reserve: the host's 64 MiB, or 2% of a small file system (a /state image).
  let budget = (() => { const f = statfsSync(tmp); return Math.max(0, f.bavail * f.bsize - Math.min(RESERVE_BYTES, (f.blocks * f.bsize) / 50)); })();
  const long = new GnuLongNames();
  let current: { fd: number; hash: Hash; path: string; size: number; mtime: Date } | null = null;
  let ids: ReturnType<Target['ids']> | null = null;
  /** Owners: the backed-up volume's own ids become this volume's, others stay (numeric, as tar --numeric-owner). */
  const owner = (h: { uid: number; gid: number }): [number, number] => [mapOwner(h.uid, ids!.uids), mapOwner(h.gid, ids!.gids)];
  let manifestParts: Buffer[] | null = null;
  let manifestText: string | null = null;
  let sawRoot = false;
  let dataBytes = 0;
  // Paths are checked (unsafePathReason) before they get here: a plain join.
  const at = (p: string) => `${tmp}/${p}`;
  const addParents = (path: string) => {
    for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) {
      const parent = path.slice(0, i);
      const k = kinds.get(parent);
      if (k === undefined) {
        mkdirSync(at(parent), { mode: 0o700 });
        kinds.set(parent, 'dir');
        entries.set(parent, { path: parent, type: 'dir' });
      } else if (k !== 'dir') throw refuse(k === 'symlink' ? 'NISO5033' : 'NISO5032', `"${path}" lies below the ${k === 'symlink' ? 'symlink' : 'file'} "${parent}"; unpacking it would write through it`);
    }
  };
  const fsError = (path: string, e: unknown): NisoError => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return refuse('NISO5036', `no space left while unpacking "${path}"`);
    return refuse('NISO5031', `cannot unpack "${path}": ${(e as Error).message}`);
  };
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    let sinceYield = 0;
    for (let n; (n = z.read(buf)) > 0;) {
      // Every event is handled before the next read reuses the buffer: TarReader copies what it keeps.
      const chunk = buf.subarray(0, n);
      if ((sinceYield += n) > 16 * 1024 * 1024) {
        sinceYield = 0;
        onProgress(z.compressedRead());
        // The progress bar's timer and zstd's stderr get their turn.
        await new Promise((res) => setImmediate(res));
      }
      for (const ev of reader.feed(chunk)) {
        if (ev.kind === 'entry') {
          const h = ev.header;
          if (manifestText !== null || manifestParts !== null) throw refuse('NISO5031', `"${h.path}" follows the manifest, which ends a backup`);
          const kind = entryKind(h.typeName);
          if (kind === 'long-name' || kind === 'long-link') {
            if (h.size > LONG_NAME_MAX) throw refuse('NISO5032', `an entry's name is ${h.size} bytes long (at most ${LONG_NAME_MAX})`);
            long.begin(kind);
            continue;
          }
          const { name, link } = long.take(h);
          if (kind === 'special') throw refuse('NISO5035', `"${name}" is a ${h.typeName === 'FIFO' ? 'FIFO' : h.typeName === 'CharacterDevice' ? 'character device' : 'block device'}`);
          if (kind === 'other') throw refuse('NISO5031', `"${name}" is an entry of type ${h.typeName}, which a backup does not hold`);
          const c = classifyName(name);
          if (c.kind === 'outside') throw refuse('NISO5032', `the entry "${name}" ${c.why}; it would be written outside the volume`);
          if (c.kind === 'manifest') {
            if (kind !== 'file') throw refuse('NISO5031', 'its manifest is not a file');
            if (h.size > MANIFEST_MAX_BYTES) throw refuse('NISO5036', `its manifest is ${h.size} bytes (at most ${MANIFEST_MAX_BYTES})`);
            manifestParts = [];
            continue;
          }
          if (c.kind === 'root') {
            if (kind !== 'dir' || sawRoot || kinds.size > 0) throw refuse('NISO5031', 'its root "data/" is not a directory that comes first');
            sawRoot = true;
            ids = idsFor({ uid: h.uid, gid: h.gid });
            continue;
          }
          if (!sawRoot) throw refuse('NISO5031', `"${name}" comes before the root "data/"`);
          const path = c.path;
          if (kinds.get(path) === 'dir' && kind === 'dir' && !dirTimes.has(path)) {
            // A directory made for an entry below it that came first (tar writes parents first; others may not).
          } else if (kinds.has(path)) throw refuse('NISO5032', `"${path}" appears twice`);
          if (entries.size >= RESTORE_MAX_ENTRIES) throw refuse('NISO5036', `it holds more than ${RESTORE_MAX_ENTRIES} entries`);
          addParents(path);
          try {
            // Owner and mode as the entry is made (chown before chmod, which chown would clear setgid after); a
            // directory's time once everything below it is in place.
            if (kind === 'dir') {
              if (!kinds.has(path)) mkdirSync(at(path), { mode: 0o700 });
              lchownSync(at(path), ...owner(h));
              chmodSync(at(path), restoredMode('dir', h.mode));
              kinds.set(path, 'dir');
              entries.set(path, { path, type: 'dir' });
              dirTimes.set(path, h.mtimeMs);
            } else if (kind === 'file') {
              budget -= h.size + PER_FILE_BYTES;
              if (budget < 0) throw refuse('NISO5036', `"${path}" (${h.size} bytes) does not fit: the volume's file system has not that much free beside what the archive unpacked so far`);
              // Made with its mode where the temporary directory's default ACL (no umask, nothing for others) gives
              // exactly that mode; else chmod'ed. Owned by root as made: chown'ed only to another owner.
              const mode = restoredMode('file', h.mode);
              const exact = aclDir && (mode & 0o7007) === 0;
              const fd = openSync(at(path), FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, exact ? mode : 0o600);
              current = { fd, hash: createHash('sha256'), path, size: 0, mtime: new Date(h.mtimeMs) };
              kinds.set(path, 'file');
              const [uid, gid] = owner(h);
              if (uid !== 0 || gid !== 0) fchownSync(fd, uid, gid);
              if (!exact) fchmodSync(fd, mode);
            } else if (kind === 'symlink') {
              const why = symlinkProblem(path, link, new Map());
              if (why !== null) throw refuse('NISO5033', `the symlink "${path}" ${why}`);
              symlinkSync(link, at(path));
              lchownSync(at(path), ...owner(h));
              lutimesSync(at(path), new Date(h.mtimeMs), new Date(h.mtimeMs));
              kinds.set(path, 'symlink');
              links.set(path, link);
              entries.set(path, { path, type: 'symlink', target: link });
            } else {
              const t = classifyName(link);
              const target = t.kind === 'entry' ? entries.get(t.path) : undefined;
              if (t.kind !== 'entry' || !target || (target.type !== 'file' && target.type !== 'link')) {
                throw refuse('NISO5034', `the hard link "${path}" names "${link}", which is not an earlier file of the archive`);
              }
              linkSync(at(t.path), at(path));
              kinds.set(path, 'link');
              entries.set(path, { path, type: 'link', size: target.size, sha256: target.sha256, target: t.path });
            }
          } catch (e) {
            throw isNisoError(e) ? e : fsError(path, e);
          }
        } else if (ev.kind === 'data') {
          if (long.data(ev.chunk)) continue;
          if (manifestParts) manifestParts.push(Buffer.from(ev.chunk));
          else if (current) {
            const cur = current;
            try {
              for (let off = 0; off < ev.chunk.length;) off += writeSync(cur.fd, ev.chunk, off, ev.chunk.length - off);
            } catch (e) { throw fsError(cur.path, e); }
            cur.hash.update(ev.chunk);
            cur.size += ev.chunk.length;
            dataBytes += ev.chunk.length;
          }
        } else if (ev.kind === 'entry-end') {
          if (long.end()) continue;
          if (manifestParts) {
            manifestText = Buffer.concat(manifestParts).toString('utf8');
            manifestParts = null;
          } else if (current) {
            futimesSync(current.fd, current.mtime, current.mtime);
            closeSync(current.fd);
            entries.set(current.path, { path: current.path, type: 'file', size: current.size, sha256: current.hash.digest('hex') });
            current = null;
          }
        }
      }
    }
    const zr = await z.finish();
    if (zr.code !== 0) throw notABackup(file, `zstd could not decompress it (${zr.stderr || `exit ${zr.code}`})`);
    if (!reader.complete) throw notABackup(file, 'the archive ends before its end (truncated)');
    if (manifestText === null) throw notABackup(file, 'it has no manifest (niso-backup.json)');
    if (!sawRoot) throw notABackup(file, 'it has no data/ directory');
  } catch (e) {
    if (current) closeSync(current.fd);
    z.stop();
    await z.finish().catch(() => undefined);
    if (e instanceof TarFormatError) throw notABackup(file, e.message);
    if (isNisoError(e) && e.code === 'NISO2901') throw e;
    if (e instanceof ZstdFramingError) throw notABackup(file, e.message);
    throw e;
  }
  const manifest = parseBackupManifest(manifestText, file);
  const diffs = compareWithManifest(manifest.entries, entries);
  if (diffs.length > 0) {
    throw new NisoError('NISO5037', `${file} does not match its manifest: ${diffs.slice(0, 3).join('; ')}${diffs.length > 3 ? `; and ${diffs.length - 3} more` : ''}`, { path: file, exitCode: 2, hint: 'the archive was changed or damaged after it was written; nothing was put into the volume' });
  }
  // Symlinks through each other, now that all of them are known.
  for (const [path, target] of links) {
    const why = symlinkProblem(path, target, links);
    if (why !== null) throw refuse('NISO5033', `the symlink "${path}" ${why}`);
  }
  // Directories' times last, deepest first: making their entries changed them.
  for (const path of [...dirTimes.keys()].sort((a, b) => b.split('/').length - a.split('/').length)) {
    const t = new Date(dirTimes.get(path)!);
    utimesSync(at(path), t, t);
  }
  return { manifest, entries, dataBytes };
}

/**
 * Restores `file` into the volume `name` (made if it does not exist; it must be empty otherwise and used by no running
 * service). Returns what was restored; on any refusal the temporary directory goes, and so does a volume made for it.
 */
export async function restoreVolume(root: string, name: string, file: string, opts: { onProgress?: (done: number, total: number) => void } = {}): Promise<RestoreResult> {
  const ref = parseVolumeName(name);
  const total = checkSource(file);
  const target = ref.kind === 'state' ? await stateTarget(root, name, ref.service) : await volumeTarget(root, name);
  const tmp = join(target.tmpParent, `.restore-${process.pid}-${randomBytes(4).toString('hex')}`);
  // Beside niso's other work files (swept by gc once this process is gone), never in what is being unpacked.
  const fifo = join(layout(root).tmp, `restore-${process.pid}-${randomBytes(4).toString('hex')}.fifo`);
  try {
    mkdirSync(tmp, { mode: 0o700 });
    if (target.acl) await setDefaultAcl(tmp);
    mkdirSync(layout(root).tmp, { recursive: true });
    const u = await unpack(file, tmp, target.acl, fifo, target.ids, (read) => opts.onProgress?.(read, total));
    await syncFilesystem(tmp);
    await target.locked(async () => {
      await target.recheck();
      for (const n of readdirSync(tmp)) renameSync(join(tmp, n), join(target.data, n));
      await fsyncPath(target.data);
    });
    rmdirSync(tmp);
    await target.done(u.manifest);
    const files = [...u.entries.values()].filter((e) => e.type === 'file').length;
    const m = u.manifest;
    return { volume: name, created: target.created, entries: u.entries.size, files, dataBytes: u.dataBytes, from: { volume: m.volume, kind: m.kind, createdAt: m.createdAt, live: m.live } };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    await target.undo().catch(() => undefined);
    throw e;
  } finally {
    await rm(fifo, { force: true });
  }
}
