// `niso volume backup NAME -o FILE.tar.zst`: niso walks the volume and writes it as a tar (backup-tar.ts) into
// `zstd -3 -T0`, reading every file once and hashing the bytes it archives, then the manifest as the last entry
// (backup-format.ts). Consistent by default: the services that hold a read-write grant are stopped for the copy and
// started again, and the result says how long they were down.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants as FS, existsSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, readlinkSync, realpathSync, rmdirSync, statSync, type Stats } from 'node:fs';
import type { StdioOptions } from 'node:child_process';
import { rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { NisoError, isNisoError } from '../errors/niso-error.js';
import { spawnTool, missingTool, run } from '../host/exec.js';
import { fsyncPath, tempName } from '../host/fs-atomic.js';
import { layout, stateOf, volumeOf } from '../store/layout.js';
import type { Host } from '../service/ops.js';
import { readDefinition } from '../service/store.js';
import { BACKUP_DATA, BACKUP_FORMAT, BACKUP_MANIFEST, BACKUP_VERSION, type BackupEntry, type BackupManifest } from './backup-format.js';
import { BackupTarStream } from './backup-tar.js';
import { parseVolumeName, type VolumeKind } from './names.js';
import { describeHolder, holdersOf } from './policy.js';
import { liveness, notFound, readMeta, readRegistry } from './store.js';

const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
/** MiB of the tar stream handed to zstd and not yet written into its pipe, at most. */
const MAX_IN_FLIGHT = 32;

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
  /** Files that changed while they were read (--live), and sockets skipped. */
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

const changedError = (src: Source, paths: string[]) => new NisoError('NISO5023', `${paths.length} file${paths.length > 1 ? 's' : ''} of ${src.name} changed while it was copied (${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ', ...' : ''})`, {
  hint: 'something other than the stopped services writes to it; stop that too, or copy it while it changes with --live',
});

/** A directory's names, sorted; one that is not UTF-8 is NISO5024 (the manifest and restore compare paths as text). */
function namesOf(abs: string): string[] {
  const raw = readdirSync(abs, { encoding: 'buffer' });
  const names = raw.map((b) => b.toString('utf8'));
  const bad = names.findIndex((n, i) => !Buffer.from(n).equals(raw[i]!));
  if (bad >= 0) {
    const shown = [...raw[bad]!].map((c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');
    throw new NisoError('NISO5024', `${abs}/${shown} has a name that is not UTF-8`, { path: `${abs}/${shown}`, hint: 'rename it (e.g. with convmv), then back the volume up' });
  }
  return names.sort();
}

const vanished = (e: unknown) => { const c = (e as NodeJS.ErrnoException).code; return c === 'ENOENT' || c === 'ENOTDIR'; };

/**
 * The copy: niso walks the volume (parents first, names sorted, other file systems not entered, as tar's
 * --one-file-system), reads each file once into the tar stream it writes to `zstd -3 -T0`, and hashes the very bytes
 * it archives. Hard links are told as tar tells them: the first name of an inode is the file, later ones link to it.
 * Stopped (the writers are stopped), any change seen while a file is read (its size, or its times and inode by fstat
 * afterwards) or an entry that vanished fails the copy (NISO5023); --live archives what it read and says so, as tar
 * does: a file that shrank is padded with zeros, one that grew is cut at the size it had when listed. FIFOs and device
 * nodes are NISO5021; sockets are skipped with a warning (a server makes its socket again).
 */
async function archive(src: Source, fd: number, live: boolean, onProgress: (bytes: number) => void): Promise<{ manifest: BackupManifest; warnings: string[] }> {
  const z = tool('zstd', ['-q', '-3', '-T0', '-c', '--no-progress'], ['pipe', fd, 'pipe']);
  const stdin = z.child.stdin!;
  let failed: unknown = null;
  let zstdEnded = false;
  stdin.on('error', (e) => { failed ??= e; });
  z.done.then(() => { zstdEnded = true; }, () => { zstdEnded = true; });
  const zstdFailed = () => new NisoError('NISO5023', `zstd failed: ${z.stderr() || String((failed as Error | null)?.message ?? 'it ended before its input')}`);
  // Chunks go to zstd's stdin through libuv, which writes them as zstd reads while niso reads the next files: up to
  // MAX_IN_FLIGHT MiB ahead, so that neither waits for the other (blocking writes into the 64 KiB pipe made niso wait
  // whenever zstd's threads were busy compressing).
  const tar = new BackupTarStream((chunk, release) => { stdin.write(chunk, () => release()); });
  /** The event loop's turn (libuv writes what is queued; the progress bar's timer), and a wait while zstd is behind. */
  const keepUp = async () => {
    await new Promise((res) => setImmediate(res));
    while (tar.inFlight > MAX_IN_FLIGHT && !zstdEnded && failed === null) await new Promise((res) => { stdin.once('drain', res); z.done.finally(() => res(undefined)).catch(() => undefined); });
    if (failed !== null || zstdEnded) throw zstdFailed();
  };
  const warnings: string[] = [];
  const warn = (path: string, what: string) => { if (warnings.length < 1000) warnings.push(`${path}: ${what}`); };
  const entries: BackupEntry[] = [];
  const inodes = new Map<number, BackupEntry>();
  const dir = src.dir;
  const rootSt = lstatSync(dir);
  let files = 0;
  let dataBytes = 0;
  let reported = 0;
  const own = (st: Stats) => ({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime });
  /** Reads one file into the stream; its sha256, or null if it vanished before it was opened (--live). */
  const copyFile = async (path: string, full: string, st: Stats): Promise<string | null> => {
    let f: number;
    try { f = openSync(full, FS.O_RDONLY | FS.O_NOFOLLOW | FS.O_NONBLOCK); } catch (e) {
      if (!vanished(e) && (e as NodeJS.ErrnoException).code !== 'ELOOP') throw e;
      if (!live) throw changedError(src, [path]);
      warn(path, 'file removed before it was read');
      return null;
    }
    try {
      tar.header({ path: `${BACKUP_DATA}/${path}`, type: 'File', size: st.size, ...own(st) });
      const hash = createHash('sha256');
      const read = (b: Buffer, off: number, len: number) => readSync(f, b, off, len, null);
      let left = st.size;
      let grew = false;
      for (;;) {
        const { taken, more, ended } = tar.readInto(read, left);
        hash.update(taken);
        left -= taken.length;
        if (more) { grew = true; break; }
        if (ended) break;
        if (tar.inFlight > 0) await keepUp();
      }
      if (left > 0 || grew) {
        if (!live) throw changedError(src, [path]);
        if (left > 0) {
          warn(path, `file shrank by ${left} bytes while it was read; padded with zeros`);
          const zeros = Buffer.alloc(Math.min(left, 1024 * 1024));
          for (let n = left; n > 0; n -= zeros.length) hash.update(n >= zeros.length ? zeros : zeros.subarray(0, n));
          tar.zeros(left);
        } else warn(path, 'file changed as it was read');
      } else if (!live) {
        // Times and inode too: a stopped copy promises that nothing wrote to what it read.
        const after = fstatSync(f);
        if (after.size !== st.size || after.mtimeMs !== st.mtimeMs || after.ctimeMs !== st.ctimeMs || after.ino !== st.ino) {
          throw changedError(src, [path]);
        }
      }
      tar.pad(st.size);
      return hash.digest('hex');
    } finally { closeSync(f); }
  };
  const visit = async (rel: string) => {
    const abs = rel === '' ? dir : `${dir}/${rel}`;
    let names: string[];
    try { names = namesOf(abs); } catch (e) {
      if (!vanished(e)) throw e;
      if (!live) throw changedError(src, [rel]);
      warn(rel, 'directory removed before it was read');
      return;
    }
    for (const n of names) {
      const path = rel === '' ? n : `${rel}/${n}`;
      const full = `${dir}/${path}`;
      let st: Stats;
      try { st = lstatSync(full); } catch (e) {
        if (!vanished(e)) throw e;
        if (!live) throw changedError(src, [path]);
        warn(path, 'removed before it was read');
        continue;
      }
      if (st.isDirectory()) {
        tar.header({ path: `${BACKUP_DATA}/${path}/`, type: 'Directory', size: 0, ...own(st) });
        entries.push({ path, type: 'dir' });
        if (st.dev === rootSt.dev) await visit(path);
      } else if (st.isFile()) {
        const first = st.nlink > 1 ? inodes.get(st.ino) : undefined;
        if (first !== undefined) {
          tar.header({ path: `${BACKUP_DATA}/${path}`, type: 'Link', size: 0, linkpath: `${BACKUP_DATA}/${first.path}`, ...own(st) });
          entries.push({ path, type: 'link', target: first.path, size: first.size, sha256: first.sha256 });
          continue;
        }
        const sha256 = await copyFile(path, full, st);
        if (sha256 === null) continue;
        const e: BackupEntry = { path, type: 'file', size: st.size, sha256 };
        if (st.nlink > 1) inodes.set(st.ino, e);
        entries.push(e);
        files++;
        dataBytes += st.size;
        if (dataBytes - reported >= 8 * 1024 * 1024) { reported = dataBytes; onProgress(dataBytes); }
        if (tar.inFlight > 0) await keepUp();
      } else if (st.isSymbolicLink()) {
        let target: string;
        try { target = readlinkSync(full); } catch (e) {
          if (!vanished(e) || !live) throw vanished(e) ? changedError(src, [path]) : e;
          warn(path, 'removed before it was read');
          continue;
        }
        tar.header({ path: `${BACKUP_DATA}/${path}`, type: 'SymbolicLink', size: 0, linkpath: target, ...own(st) });
        entries.push({ path, type: 'symlink', target });
      } else if (st.isSocket()) {
        warn(path, 'socket skipped (its server makes it again)');
      } else {
        throw new NisoError('NISO5021', `${full} is ${st.isFIFO() ? 'a FIFO' : 'a device node'}; a backup holds no special files`, { path: full, hint: '`niso explain NISO5021`: remove it from the volume, then back it up' });
      }
    }
  };
  try {
    tar.header({ path: `${BACKUP_DATA}/`, type: 'Directory', size: 0, ...own(rootSt) });
    await visit('');
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT, version: BACKUP_VERSION, volume: src.name, kind: src.kind, labels: src.labels, createdAt: new Date().toISOString(), live,
      root: { uid: rootSt.uid, gid: rootSt.gid, mode: rootSt.mode & 0o7777 }, gid: src.gid, totals: { entries: entries.length, files, bytes: dataBytes }, entries,
    };
    tar.entry({ path: BACKUP_MANIFEST, type: 'File', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: new Date() }, Buffer.from(JSON.stringify(manifest)));
    tar.end();
    onProgress(dataBytes);
    stdin.end();
    const zc = await z.done;
    if (failed !== null || zc !== 0) throw zstdFailed();
    return { manifest, warnings };
  } catch (e) {
    z.child.kill('SIGKILL');
    await z.done.catch(() => undefined);
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
      try {
        result = await archive(src, fd, opts.live, opts.onProgress ?? (() => undefined));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
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
