// `niso volume backup NAME -o FILE.tar.zst`: the host's tar reads the volume (`--sort=name`, GNU format, numeric
// owners) and zstd -3 -T0 compresses, as a user would pipe them; niso sits between the two, hashing every file from
// the bytes going by (no second read), and replaces tar's end-of-archive with the manifest entry and its own end
// (backup-format.ts). Consistent by default: the services that hold a read-write grant are stopped for the copy and
// started again, and the result says how long they were down.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream, existsSync, lstatSync, mkdirSync, realpathSync, rmdirSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { NisoError, isNisoError } from '../errors/niso-error.js';
import { spawnTool, missingTool, run } from '../host/exec.js';
import { fsyncPath, tempName } from '../host/fs-atomic.js';
import { compressor } from '../host/zstd.js';
import { TarFormatError, TarReader, TarWriter } from '../package/tar-codec.js';
import { layout, stateOf, volumeOf } from '../store/layout.js';
import type { Host } from '../service/ops.js';
import { readDefinition } from '../service/store.js';
import { BACKUP_DATA, BACKUP_FORMAT, BACKUP_MANIFEST, BACKUP_VERSION, LONG_NAME_MAX, classifyName, entryKind, type BackupEntry, type BackupManifest } from './backup-format.js';
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
  const { serviceStatus, isActive } = await import('../service/view.js');
  const writers = [...new Set(holders.filter((h) => h.run === null).map((h) => h.service))].filter((s) => { const st = serviceStatus(root, s); return st !== null && isActive(st); });
  return { name, kind: meta.kind, dir: volumeOf(layout(root), name).data, gid: meta.gid, labels: meta.labels, writers, release: nothing };
}

/**
 * Reads tar's output, hashing each file, and passes it on to zstd without tar's end-of-archive blocks (the last 1024
 * bytes are held back until it is known where the archive ends); then the manifest entry and a new end.
 */
async function archive(src: Source, tmp: string, onProgress: (bytes: number) => void): Promise<{ manifest: BackupManifest; warnings: string[] }> {
  const tar = spawnTool('tar', ['--sort=name', '--format=gnu', '--numeric-owner', '--one-file-system', `--transform=s,^\\.,${BACKUP_DATA},S`, '-C', src.dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'], env: TOOL_ENV });
  let tarErr = '';
  tar.stderr!.setEncoding('utf8').on('data', (d: string) => { tarErr += d; });
  const tarDone = new Promise<number | null>((res, rej) => {
    tar.on('error', (e: NodeJS.ErrnoException) => rej(e.code === 'ENOENT' ? missingTool('tar', e) : e));
    tar.on('close', (code) => res(code));
  });
  const z = compressor(3);
  const written = pipeline(z.stdout, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
  const write = async (b: Buffer) => { if (b.length > 0 && !z.stdin.write(b)) await new Promise((r) => z.stdin.once('drain', r)); };

  const reader = new TarReader();
  const entries: BackupEntry[] = [];
  const files = new Map<string, BackupEntry>();
  let root: BackupManifest['root'] | null = null;
  let long: { which: 'name' | 'link'; parts: Buffer[] } | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;
  let current: { entry: BackupEntry; hash: Hash } | null = null;
  let dataBytes = 0;
  let pos = 0;
  let tail = Buffer.alloc(0);
  let ended = false;
  try {
    for await (const chunk of tar.stdout! as AsyncIterable<Buffer>) {
      for (const ev of reader.feed(chunk)) {
        if (ev.kind === 'entry') {
          const h = ev.header;
          const kind = entryKind(h.typeName);
          if (kind === 'long-name' || kind === 'long-link') {
            if (h.size > LONG_NAME_MAX) throw new NisoError('NISO5023', `a path in ${src.name} is longer than ${LONG_NAME_MAX} bytes`, { hint: 'shorten it' });
            long = { which: kind === 'long-name' ? 'name' : 'link', parts: [] };
            continue;
          }
          const name = longName ?? h.path;
          const link = longLink ?? h.linkpath;
          longName = longLink = null;
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
          if (long) long.parts.push(Buffer.from(ev.chunk));
          else if (current) { current.hash.update(ev.chunk); dataBytes += ev.chunk.length; }
        } else if (ev.kind === 'entry-end') {
          if (long) {
            const text = Buffer.concat(long.parts).toString('utf8').replace(/\0+$/, '');
            if (long.which === 'name') longName = text; else longLink = text;
            long = null;
          } else if (current) {
            current.entry.sha256 = current.hash.digest('hex');
            current = null;
            onProgress(dataBytes);
          }
        }
      }
      // Everything but the last 1024 bytes goes on at once; where the archive ends, only up to its last entry. What
      // follows (tar's zero padding) is read to the end, so that tar finishes as it would into a pipe.
      if (ended) continue;
      const unsent = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
      if (reader.endOffset !== null) {
        await write(unsent.subarray(0, reader.endOffset - 1024 - pos));
        pos = reader.endOffset - 1024;
        tail = Buffer.alloc(0);
        ended = true;
        continue;
      }
      const cut = Math.max(0, unsent.length - 1024);
      await write(unsent.subarray(0, cut));
      pos += cut;
      tail = Buffer.from(unsent.subarray(cut));
    }
    const code = await tarDone;
    // 1: a file changed while tar read it (a --live copy); what went into the archive is what was hashed.
    if ((code !== 0 && code !== 1) || reader.endOffset === null) {
      throw new NisoError('NISO5023', `tar could not read ${src.name}: ${tarErr.trim() || `exit ${code}`}`, { hint: '`niso explain NISO5023`' });
    }
    if (root === null) throw new NisoError('NISO5023', `tar did not write the volume's root directory (${src.dir})`);
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT, version: BACKUP_VERSION, volume: src.name, kind: src.kind, labels: src.labels, createdAt: new Date().toISOString(), live: false,
      root, gid: src.gid, totals: { entries: entries.length, files: files.size, bytes: dataBytes }, entries,
    };
    const tarWriter = new TarWriter((c) => { z.stdin.write(c); });
    tarWriter.add({ path: BACKUP_MANIFEST, type: 'file', mode: 0o644, mtime: new Date() }, Buffer.from(JSON.stringify(manifest)));
    tarWriter.finish(true);
    z.stdin.end();
    await written;
    const zr = await z.done;
    if (zr.code !== 0) throw new NisoError('NISO5023', `zstd failed: ${zr.stderr || `exit ${zr.code}`}`);
    const warnings = code === 1 ? tarErr.trim().split('\n').filter(Boolean) : [];
    return { manifest, warnings };
  } catch (e) {
    tar.kill('SIGKILL');
    z.child.kill('SIGKILL');
    await written.catch(() => undefined);
    await tarDone.catch(() => undefined);
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
      result = await archive(src, tmp, opts.onProgress ?? (() => undefined));
      if (opts.live) result.manifest.live = true;
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
    await fsyncPath(tmp);
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
