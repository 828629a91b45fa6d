// `niso volume backup NAME -o FILE.tar.zst`: the host's tar reads the volume (`--sort=name`, GNU format, numeric
// owners) and zstd -3 -T0 compresses, as a user would pipe them; niso sits between the two, hashing every file from
// the bytes going by (no second read), and replaces tar's end-of-archive with the manifest entry and its own end
// (backup-format.ts). Consistent by default: the services that hold a read-write grant are stopped for the copy and
// started again, and the result says how long they were down.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, constants as FS, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, readlinkSync, realpathSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { StdioOptions } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { NisoError, isNisoError } from '../errors/niso-error.js';
import { spawnTool, missingTool, run } from '../host/exec.js';
import { fsyncPath, tempName } from '../host/fs-atomic.js';
import { TarFormatError, TarReader, TarWriter } from '../package/tar-codec.js';
import { layout, stateOf, volumeOf } from '../store/layout.js';
import type { Host } from '../service/ops.js';
import { readDefinition } from '../service/store.js';
import { BACKUP_DATA, BACKUP_FORMAT, BACKUP_MANIFEST, BACKUP_VERSION, GnuLongNames, LONG_NAME_MAX, classifyName, entryKind, type BackupEntry, type BackupManifest } from './backup-format.js';
import { parseVolumeName, type VolumeKind } from './names.js';
import { describeHolder, holdersOf } from './policy.js';
import { liveness, notFound, readMeta, readRegistry } from './store.js';

const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

export interface BackupResult {
  volume: string;
  output: string;
  /** The archive's size, and what it holds. */
  archiveBytes: number;
  entries: number;
  files: number;
  dataBytes: number;
  live: boolean;
  /** The services stopped for the copy, and for how long they were down (ms); empty with --live or when none ran. */
  stopped: string[];
  downtimeMs: number | null;
  /** What tar said about files that changed while it read them (--live). */
  warnings: string[];
}

interface Source {
  name: string;
  kind: VolumeKind;
  dir: string;
  gid: number | null;
  labels: Record<string, string>;
  /** Services that write to it and run (stopped for the copy unless --live). */
  writers: string[];
  /** Undoes what was done to reach the data (an image mounted for the copy). */
  release: () => Promise<void>;
}

/** The output replaces only a regular file, never inside what is being copied (tar would read its own output). */
function checkOutput(output: string, dataDir: string): void {
  const st = lstatSync(output, { throwIfNoEntry: false });
  if (st && !st.isFile()) throw new NisoError('NISO5020', `${output} is ${st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symlink' : 'not a regular file'}; a backup replaces only a regular file`, { path: output, exitCode: 2, hint: st.isDirectory() ? `name the file: -o ${join(output, 'backup.tar.zst')}` : 'give a path that does not exist yet' });
  const dir = statSync(dirname(output), { throwIfNoEntry: false });
  if (!dir?.isDirectory()) throw new NisoError('NISO5020', `${dirname(output)} is not a directory`, { path: output, exitCode: 2, hint: 'create the directory first, or give another path' });
  let inside = false;
  try {
    const rel = relative(realpathSync(dataDir), realpathSync(dirname(output)));
    inside = rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  } catch { /* the data dir is not there yet */ }
  if (inside) throw new NisoError('NISO5020', `${output} is inside the volume it would back up`, { path: output, exitCode: 2, hint: 'write the backup outside the volume' });
}

/** The volume's data dir, who writes to it, and how to leave it as it was. */
async function sourceOf(root: string, name: string, live: boolean): Promise<Source> {
  const ref = parseVolumeName(name);
  const nothing = async () => undefined;
  if (ref.kind === 'state') {
    const s = stateOf(layout(root), ref.service);
    if (!existsSync(s.dir) && !existsSync(s.image)) throw new NisoError('NISO5002', `no volume named ${name}: ${ref.service} has no /state on this host`, { exitCode: 1 });
    const { serviceStatus, isActive } = await import('../service/view.js');
    const status = readDefinition(root, ref.service) ? serviceStatus(root, ref.service) : null;
    const writers = status && isActive(status) ? [ref.service] : [];
    const { boundedUsage } = await import('../host/bounded-dir.js');
    const usage = boundedUsage(s);
    if (usage === null || usage.mounted) return { name, kind: 'state', dir: s.dir, gid: null, labels: {}, writers, release: nothing };
    // A kept image that is not mounted (its service was removed): mounted read-only beside it for the copy, through
    // mount -o loop, which reuses a loop device already attached to it (one superblock per image).
    const mnt = `${s.image}.backup-${process.pid}-${randomBytes(4).toString('hex')}`;
    mkdirSync(mnt, { mode: 0o700 });
    const r = await run('mount', ['-o', 'loop,ro,nosuid,nodev', '--', s.image, mnt], { env: TOOL_ENV });
    if (r.code !== 0) {
      rmdirSync(mnt);
      throw new NisoError('NISO3209', `cannot mount the state image ${s.image} to back it up: ${r.stderr.trim()}`, { hint: `check it with \`e2fsck -f ${s.image}\`` });
    }
    return { name, kind: 'state', dir: mnt, gid: null, labels: {}, writers, release: async () => { await run('umount', ['--', mnt], { env: TOOL_ENV }); try { rmdirSync(mnt); } catch { /* still mounted: left to see */ } } };
  }
  const meta = readMeta(root, name);
  if (meta === null) throw notFound(root, name);
  const holders = holdersOf(readRegistry(root), name, liveness(root)).filter((h) => !h.readOnly);
  const runs = holders.filter((h) => h.run !== null);
  if (runs.length > 0 && !live) {
    throw new NisoError('NISO5022', `volume ${name} is written by ${runs.map(describeHolder).join(', ')}, which niso cannot stop and start again for a consistent copy`, { exitCode: 1, hint: 'wait until it ends, or copy it while it writes with --live' });
  }
  const services = [...new Set(holders.filter((h) => h.run === null).map((h) => h.service))];
  const { serviceStatus, isActive } = services.length > 0 ? await import('../service/view.js') : { serviceStatus: () => null, isActive: () => false };
  const writers = services.filter((s) => { const st = serviceStatus(root, s); return st !== null && isActive(st); });
  return { name, kind: meta.kind, dir: volumeOf(layout(root), name).data, gid: meta.gid, labels: meta.labels, writers, release: nothing };
}

/** A host tool started with its stderr collected and its end awaited; a missing tool is NISO2901. */
function tool(cmd: string, args: string[], stdio: StdioOptions) {
  const child = spawnTool(cmd, args, { stdio, env: TOOL_ENV });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const done = new Promise<number | null>((res, rej) => {
    child.on('error', (e: NodeJS.ErrnoException) => rej(e.code === 'ENOENT' ? missingTool(cmd, e) : e));
    child.on('close', (code) => res(code));
  });
  // A tool that fails once per file says so once per file: a message shows the first few lines.
  const lines = () => stderr.trim().split('\n').filter(Boolean);
  const shortStderr = () => { const l = lines(); return l.length > 5 ? `${l.slice(0, 5).join('\n')}\n(and ${l.length - 5} more lines)` : l.join('\n'); };
  child.stderr?.on('data', () => { if (stderr.length > 1024 * 1024) stderr = stderr.slice(0, 1024 * 1024); });
  return { child, done, stderr: shortStderr, lines };
}

/** GNU format (no pax header per file), numeric owners, the tree below `data/`; symlink targets left as they are. */
const TAR_FLAGS = ['--format=gnu', '--numeric-owner', `--transform=s,^\\.,${BACKUP_DATA},S`];

interface Walked { entries: BackupEntry[]; root: BackupManifest['root']; checks: { path: string; size: number; mtimeMs: number; ctimeMs: number; ino: number }[] }

/**
 * The tree as tar will archive it from the list: every entry, parents first and names sorted, what each is, and for
 * files and symlinks what lstat said, to tell afterwards that nothing changed. Hard links are told as tar tells them:
 * the first name of an inode is the file, later ones link to it. Other file systems mounted inside are not entered
 * (as --one-file-system). Special files are NISO5021, names that are not UTF-8 NISO5024.
 */
function walk(dir: string, onName: (name: string) => void): Walked {
  const rootSt = lstatSync(dir);
  onName('.');
  const out: Walked = { entries: [], root: { uid: rootSt.uid, gid: rootSt.gid, mode: rootSt.mode & 0o7777 }, checks: [] };
  const inodes = new Map<number, string>();
  const visit = (rel: string) => {
    const abs = rel === '' ? dir : `${dir}/${rel}`;
    const raw = readdirSync(abs, { encoding: 'buffer' });
    const names = raw.map((b) => b.toString('utf8'));
    // Paths are compared as text in the manifest and by restore: a name that is not UTF-8 would come back as another.
    const bad = names.findIndex((n, i) => !Buffer.from(n).equals(raw[i]!));
    if (bad >= 0) {
      const shown = [...raw[bad]!].map((c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');
      throw new NisoError('NISO5024', `${abs}/${shown} has a name that is not UTF-8`, { path: `${abs}/${shown}`, hint: 'rename it (e.g. with convmv), then back the volume up' });
    }
    names.sort();
    for (const n of names) {
      const path = rel === '' ? n : `${rel}/${n}`;
      const full = `${dir}/${path}`;
      const st = lstatSync(full);
      onName(`./${path}`);
      if (st.isDirectory()) {
        out.entries.push({ path, type: 'dir' });
        if (st.dev === rootSt.dev) visit(path);
      } else if (st.isFile()) {
        const first = st.nlink > 1 ? inodes.get(st.ino) : undefined;
        if (first !== undefined) out.entries.push({ path, type: 'link', target: first });
        else {
          if (st.nlink > 1) inodes.set(st.ino, path);
          out.entries.push({ path, type: 'file', size: st.size, sha256: '' });
        }
        out.checks.push({ path, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino });
      } else if (st.isSymbolicLink()) {
        out.entries.push({ path, type: 'symlink', target: readlinkSync(full) });
        out.checks.push({ path, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino });
      } else {
        const what = st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device node';
        throw new NisoError('NISO5021', `${full} is ${what}; a backup holds no special files`, { path: full, hint: '`niso explain NISO5021`: remove it from the volume, then back it up' });
      }
    }
  };
  visit('');
  return out;
}

/** Hashes the `size` bytes lstat saw, through a reused buffer; null if the file ended sooner (it changed). */
function hashFile(abs: string, size: number, buf: Buffer): string | null {
  let fd: number;
  try { fd = openSync(abs, FS.O_RDONLY | FS.O_NOFOLLOW); } catch { return null; }
  try {
    const h = createHash('sha256');
    for (let done = 0; done < size;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - done), null);
      if (n === 0) return null;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      done += n;
    }
    return h.digest('hex');
  } finally { closeSync(fd); }
}

/**
 * The same work as hashFile, for a worker thread: a string of its own, since the bundle's names are not the source's.
 * Answers each batch of [path, size] with one sha256 (hex) or null per file.
 */
const HASH_WORKER = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const buf = Buffer.allocUnsafe(1 << 20);
function hash(abs, size) {
  let fd;
  try { fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW); } catch { return null; }
  try {
    const h = createHash('sha256');
    for (let done = 0; done < size;) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - done), null);
      if (n === 0) return null;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      done += n;
    }
    return h.digest('hex');
  } catch { return null; } finally { fs.closeSync(fd); }
}
parentPort.on('message', ({ dir, batch }) => parentPort.postMessage(batch.map(([p, size]) => hash(dir + '/' + p, size))));
`;

/**
 * Hashes files from disk on this thread and worker threads at once, taking batches from one list in order (so that
 * the page cache tar reads from stays warm): on a machine of few cores, one thread could not keep up with tar and
 * zstd, and the copy would wait for it. null: the file ended sooner than listed or vanished (it changed).
 */
async function hashAll(dir: string, files: readonly BackupEntry[], onProgress: (bytes: number) => void): Promise<(string | null)[]> {
  const out: (string | null)[] = new Array<string | null>(files.length).fill(null);
  let next = 0;
  let hashedBytes = 0;
  const take = (): [number, number] => {
    const start = next;
    let bytes = 0;
    while (next < files.length && next - start < 256 && bytes < 8 * 1024 * 1024) bytes += files[next++]!.size! + 4096;
    return [start, next];
  };
  const workers = Array.from({ length: Math.max(1, Math.min(3, availableParallelism() - 1)) }, () => new Worker(HASH_WORKER, { eval: true }));
  try {
    const working = workers.map((worker) => new Promise<void>((res, rej) => {
      let batch: [number, number] = [0, 0];
      const give = () => {
        batch = take();
        if (batch[0] === batch[1]) return res();
        worker.postMessage({ dir, batch: files.slice(batch[0], batch[1]).map((f) => [f.path, f.size]) });
      };
      worker.on('message', (hashes: (string | null)[]) => {
        hashes.forEach((h, i) => { out[batch[0] + i] = h; hashedBytes += files[batch[0] + i]!.size!; });
        onProgress(hashedBytes);
        give();
      });
      worker.on('error', rej);
      give();
    }));
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const [a, b] = take();
      if (a === b) break;
      for (let i = a; i < b; i++) { out[i] = hashFile(`${dir}/${files[i]!.path}`, files[i]!.size!, buf); hashedBytes += files[i]!.size!; }
      onProgress(hashedBytes);
      // Lets the workers' answers in (they take the next batch), and queued names reach tar.
      await new Promise((res) => setImmediate(res));
    }
    await Promise.all(working);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}

const changedError = (src: Source, paths: string[]) => new NisoError('NISO5023', `${paths.length} file${paths.length > 1 ? 's' : ''} of ${src.name} changed while it was copied (${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ', ...' : ''})`, {
  hint: 'something other than the stopped services writes to it; stop that too, or copy it while it changes with --live',
});

/**
 * The copy while nothing writes (the writers are stopped): tar | zstd -3 -T0 as a user would pipe them, tar taking the
 * names niso walks (it reads them as they come) and, once the list ends, the manifest from niso's work dir as its last
 * entry. niso meanwhile hashes each file from disk (the page cache tar reads too), and afterwards checks with lstat that
 * no file changed since it was listed (size, times, inode), so the hashes are those of the bytes tar read.
 */
async function archiveStopped(src: Source, fd: number, work: string, onProgress: (bytes: number) => void): Promise<{ manifest: BackupManifest; warnings: string[] }> {
  // -C before -T: tar applies it to the names that follow; the second -C to the manifest, after the list's end.
  const tar = tool('tar', ['-C', src.dir, ...TAR_FLAGS, '--no-recursion', '--null', '--verbatim-files-from', '-T', '-', '-C', work, BACKUP_MANIFEST, '-cf', '-'], ['pipe', 'pipe', 'pipe']);
  const z = tool('zstd', ['-q', '-3', '-T0', '-c', '--no-progress'], [tar.child.stdout!, fd, 'pipe']);
  (tar.child.stdout as Readable).destroy();
  const stdin = tar.child.stdin!;
  let failed: unknown = null;
  stdin.on('error', (e) => { failed ??= e; });
  try {
    let batch: string[] = [];
    let batchBytes = 0;
    const flush = () => { if (batch.length > 0) stdin.write(batch.join('')); batch = []; batchBytes = 0; };
    const w = walk(src.dir, (name) => {
      batch.push(`${name}\0`);
      batchBytes += name.length + 1;
      if (batchBytes > 64 * 1024) flush();
    });
    flush();
    const toHash = w.entries.filter((e) => e.type === 'file');
    const hashes = await hashAll(src.dir, toHash, onProgress);
    let dataBytes = 0;
    toHash.forEach((e, i) => {
      if (hashes[i] === null) throw changedError(src, [e.path]);
      e.sha256 = hashes[i]!;
      dataBytes += e.size!;
    });
    const files = new Map(w.entries.filter((e) => e.type === 'file').map((e) => [e.path, e]));
    for (const e of w.entries) if (e.type === 'link') { const t = files.get(e.target!)!; e.size = t.size; e.sha256 = t.sha256; }
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT, version: BACKUP_VERSION, volume: src.name, kind: src.kind, labels: src.labels, createdAt: new Date().toISOString(), live: false,
      root: w.root, gid: src.gid, totals: { entries: w.entries.length, files: files.size, bytes: dataBytes }, entries: w.entries,
    };
    writeFileSync(join(work, BACKUP_MANIFEST), JSON.stringify(manifest), { mode: 0o644 });
    stdin.end();
    const [tc, zc] = await Promise.all([tar.done, z.done]);
    if (failed) throw failed;
    if (tc !== 0) throw new NisoError('NISO5023', `tar could not read ${src.name}: ${tar.stderr() || `exit ${tc}`}`, { hint: tc === 1 ? 'a file changed or vanished while it was read: stop what writes to the volume, or use --live' : '`niso explain NISO5023`' });
    if (zc !== 0) throw new NisoError('NISO5023', `zstd failed: ${z.stderr() || `exit ${zc}`}`);
    const changed = w.checks.filter((c) => {
      try {
        // Growth past what was hashed, or any write (ctime), since the walk: tar may have read other bytes.
        const st = lstatSync(`${src.dir}/${c.path}`);
        return st.size !== c.size || st.mtimeMs !== c.mtimeMs || st.ctimeMs !== c.ctimeMs || st.ino !== c.ino;
      } catch { return true; }
    }).map((c) => c.path);
    if (changed.length > 0) throw changedError(src, changed);
    return { manifest, warnings: [] };
  } catch (e) {
    tar.child.kill('SIGKILL');
    z.child.kill('SIGKILL');
    await Promise.allSettled([tar.done, z.done]);
    throw e;
  }
}

/**
 * The copy while services write (--live): tar's own walk, its output through niso to zstd; niso hashes each file from
 * the bytes going by, so the manifest is what the archive holds even for a file that changed while tar read it.
 */
async function archiveLive(src: Source, fd: number, onProgress: (bytes: number) => void): Promise<{ manifest: BackupManifest; warnings: string[] }> {
  const tar = tool('tar', ['--sort=name', '--one-file-system', ...TAR_FLAGS, '-C', src.dir, '-cf', '-', '.'], ['ignore', 'pipe', 'pipe']);
  const z = tool('zstd', ['-q', '-3', '-T0', '-c', '--no-progress'], ['pipe', fd, 'pipe']);
  const write = async (b: Buffer) => { if (!z.child.stdin!.write(b)) await new Promise((r) => z.child.stdin!.once('drain', r)); };
  const reader = new TarReader();
  const entries: BackupEntry[] = [];
  const files = new Map<string, BackupEntry>();
  let root: BackupManifest['root'] | null = null;
  const long = new GnuLongNames();
  let current: { entry: BackupEntry; hash: Hash } | null = null;
  let dataBytes = 0;
  let pos = 0;
  let tail = Buffer.alloc(0);
  let ended = false;
  try {
    for await (const chunk of tar.child.stdout! as AsyncIterable<Buffer>) {
      for (const ev of reader.feed(chunk)) {
        if (ev.kind === 'entry') {
          const h = ev.header;
          const kind = entryKind(h.typeName);
          if (kind === 'long-name' || kind === 'long-link') {
            if (h.size > LONG_NAME_MAX) throw new NisoError('NISO5023', `a path in ${src.name} is longer than ${LONG_NAME_MAX} bytes`, { hint: 'shorten it' });
            long.begin(kind);
            continue;
          }
          const { name, link } = long.take(h);
          const where = name.startsWith(`${BACKUP_DATA}/`) ? join(src.dir, name.slice(BACKUP_DATA.length + 1)) : src.dir;
          if (kind === 'special') throw new NisoError('NISO5021', `${where} is a ${h.typeName === 'FIFO' ? 'FIFO' : 'device node'}; a backup holds no special files`, { path: where, hint: '`niso explain NISO5021`: remove it from the volume, then back it up' });
          if (kind === 'other') throw new NisoError('NISO5023', `tar wrote an entry of type ${h.typeName} for ${where}, which a backup does not hold`, { path: where });
          const c = classifyName(name);
          if (c.kind === 'root') { root = { uid: h.uid, gid: h.gid, mode: h.mode & 0o7777 }; continue; }
          if (c.kind !== 'entry') throw new NisoError('NISO5023', `tar wrote the entry "${name}", which ${c.kind === 'outside' ? c.why : 'is not the volume\'s'}`, { path: where });
          let e: BackupEntry;
          if (kind === 'file') {
            e = { path: c.path, type: 'file', size: h.size, sha256: '' };
            current = { entry: e, hash: createHash('sha256') };
            files.set(c.path, e);
          } else if (kind === 'link') {
            const t = classifyName(link);
            const target = t.kind === 'entry' ? files.get(t.path) : undefined;
            if (t.kind !== 'entry' || !target) throw new NisoError('NISO5023', `tar wrote a hard link ${where} to "${link}", which is not an earlier file of the volume`, { path: where });
            e = { path: c.path, type: 'link', size: target.size, sha256: target.sha256, target: t.path };
          } else if (kind === 'symlink') e = { path: c.path, type: 'symlink', target: link };
          else e = { path: c.path, type: 'dir' };
          entries.push(e);
        } else if (ev.kind === 'data') {
          if (!long.data(ev.chunk) && current) { current.hash.update(ev.chunk); dataBytes += ev.chunk.length; }
        } else if (ev.kind === 'entry-end') {
          if (!long.end() && current) {
            current.entry.sha256 = current.hash.digest('hex');
            current = null;
            onProgress(dataBytes);
          }
        }
      }
      // Everything but the last 1024 bytes goes on at once; where the archive ends, only up to its last entry (the
      // manifest and a new end follow). tar's zero padding after that is read to the end, as a pipe would be.
      if (ended) continue;
      const unsent = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
      if (reader.endOffset !== null) {
        await write(unsent.subarray(0, reader.endOffset - 1024 - pos));
        ended = true;
        continue;
      }
      const cut = Math.max(0, unsent.length - 1024);
      await write(unsent.subarray(0, cut));
      pos += cut;
      tail = Buffer.from(unsent.subarray(cut));
    }
    const tc = await tar.done;
    // 1: a file changed while tar read it; what went into the archive is what was hashed.
    if ((tc !== 0 && tc !== 1) || reader.endOffset === null) throw new NisoError('NISO5023', `tar could not read ${src.name}: ${tar.stderr() || `exit ${tc}`}`, { hint: '`niso explain NISO5023`' });
    if (root === null) throw new NisoError('NISO5023', `tar did not write the volume's root directory (${src.dir})`);
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT, version: BACKUP_VERSION, volume: src.name, kind: src.kind, labels: src.labels, createdAt: new Date().toISOString(), live: true,
      root, gid: src.gid, totals: { entries: entries.length, files: files.size, bytes: dataBytes }, entries,
    };
    const last = new TarWriter((c) => { z.child.stdin!.write(c); });
    last.add({ path: BACKUP_MANIFEST, type: 'file', mode: 0o644, mtime: new Date() }, Buffer.from(JSON.stringify(manifest)));
    last.finish(true);
    z.child.stdin!.end();
    const zc = await z.done;
    if (zc !== 0) throw new NisoError('NISO5023', `zstd failed: ${z.stderr() || `exit ${zc}`}`);
    return { manifest, warnings: tc === 1 ? tar.lines().slice(0, 20) : [] };
  } catch (e) {
    tar.child.kill('SIGKILL');
    z.child.kill('SIGKILL');
    await Promise.allSettled([tar.done, z.done]);
    if (e instanceof TarFormatError) throw new NisoError('NISO5023', `tar wrote an archive niso cannot read: ${e.message}`);
    throw e;
  }
}

/**
 * Backs a volume (or SERVICE/state) up into `output`, written under a temporary name and renamed when complete. Unless
 * `live`, the services that hold a read-write grant (a /state: its service) and run are stopped for the copy with the
 * service verbs of their backend, and started again whatever happens.
 */
export async function backupVolume(host: Host, name: string, output: string, opts: { live: boolean; onProgress?: (bytes: number) => void }): Promise<BackupResult> {
  const out = resolve(output);
  const src = await sourceOf(host.root, name, opts.live);
  try {
    checkOutput(out, src.dir);
    const tmp = tempName(out);
    const toStop = opts.live ? [] : src.writers;
    const ops = toStop.length > 0 ? await import('../service/ops.js') : null;
    const stopped: string[] = [];
    const restartErrors: NisoError[] = [];
    let t0 = 0;
    let downtimeMs: number | null = null;
    let result: { manifest: BackupManifest; warnings: string[] };
    try {
      t0 = performance.now();
      for (const s of toStop) { await ops!.deactivate(host, s); stopped.push(s); }
      const fd = openSync(tmp, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, 0o600);
      // The manifest waits for tar in niso's own tmp (swept by gc only once this process is gone).
      const work = join(layout(host.root).tmp, `backup-${process.pid}-${randomBytes(4).toString('hex')}`);
      try {
        const progress = opts.onProgress ?? (() => undefined);
        if (opts.live) result = await archiveLive(src, fd, progress);
        else {
          mkdirSync(layout(host.root).tmp, { recursive: true });
          mkdirSync(work, { mode: 0o700 });
          result = await archiveStopped(src, fd, work, progress);
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
        await rm(work, { recursive: true, force: true });
      }
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    } finally {
      for (const s of stopped) {
        try { await ops!.start(host, s); } catch (e) {
          restartErrors.push(isNisoError(e) ? e : new NisoError('NISO3304', `${s} did not start again after the backup: ${(e as Error).message}`));
        }
      }
      if (stopped.length > 0) downtimeMs = performance.now() - t0;
    }
    // Checked again just before the rename, which would replace whatever stands there by then.
    checkOutput(out, src.dir);
    await rename(tmp, out);
    await fsyncPath(dirname(out));
    if (restartErrors.length > 0) {
      const e = restartErrors[0]!;
      throw new NisoError(e.code, `the backup is written (${out}), but ${e.message}`, { hint: e.hint ?? `\`niso activate ${stopped[0]}\` starts it again` });
    }
    const m = result.manifest;
    return { volume: name, output: out, archiveBytes: statSync(out).size, entries: m.totals.entries, files: m.totals.files, dataBytes: m.totals.bytes, live: opts.live, stopped, downtimeMs, warnings: result.warnings };
  } finally {
    await src.release();
  }
}

/** What the volume holds, for a progress bar's total (du); null when it cannot be told cheaply. */
export async function backupTotal(root: string, name: string): Promise<number | null> {
  const ref = parseVolumeName(name);
  const { treeBytes } = await import('./data-dir.js');
  if (ref.kind === 'state') {
    const { boundedUsage } = await import('../host/bounded-dir.js');
    const s = stateOf(layout(root), ref.service);
    const u = boundedUsage(s);
    return u ? u.usedBytes : existsSync(s.dir) ? treeBytes(s.dir) : null;
  }
  return readMeta(root, name) ? treeBytes(volumeOf(layout(root), name).data) : null;
}
