// `niso install`: verify a package while streaming it into a work dir, share identical files
// through the content pool (hard links), flush, then rename the finished object into the store.
// A crash at any point leaves no store object or a complete one; Ctrl-C and stop signals remove
// the work dir, and what a SIGKILL leaves is swept by the next store operation.
import { closeSync, constants, copyFileSync, linkSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { hostArch } from '../host/arch.js';
import { fsyncPath, syncFilesystem } from '../host/fs-atomic.js';
import type { FileEntry, SymlinkEntry } from '../package/format/package-index.js';
import { readPackage, type Limits, type PackageHead } from '../package/read-package.js';
import { contentPath, layout, storeObjectName, type StoreLayout } from './layout.js';
import { sealDirs } from './fs-tree.js';
import { withWorkDir } from './work-dir.js';
import { withLock } from '../host/lock.js';
import { sweepTmp } from './sweep.js';
import { INSTALLED_INFO, NORMALIZED_MANIFEST, NORMALIZED_MANIFEST_VERSION, listInstalled, type InstalledInfo, type InstalledPackage } from './installed.js';
import { shortDigest } from './resolve.js';

export interface InstallResult {
  digest: string;
  name: string;
  version: string;
  arch: string;
  path: string;
  alreadyInstalled: boolean;
  files: number;
  bytes: number;
  /** Bytes written to the content pool; the rest was shared with installed packages. */
  newBytes: number;
  /** Other builds (digests) of this name and version that were installed before. */
  otherBuilds: InstalledPackage[];
}

export interface InstallOptions {
  now?: Date;
  onProgress?: (done: number, total: number) => void;
  /**
   * Another build of an installed name and version is refused unless the caller says what it
   * does with the earlier one: `keep` installs it beside them (the caller may remove them).
   */
  otherBuilds?: 'refuse' | 'keep';
  /** Called with the verified head before anything is written: `niso pull` refuses a package other than the one it expects. */
  checkHead?: (head: PackageHead) => void;
}




/** One name and version must not silently mean two apps: a fix packed without a new version. */
function anotherBuild(file: string, h: PackageHead, others: InstalledPackage[]): NisoError {
  const what = `${h.index.name} ${h.index.version}`;
  return new NisoError('NISO2206', `${file}: ${what} is already installed as another build (${others.map((o) => shortDigest(o.digest)).join(', ')}); this package is ${shortDigest(`sha256:${h.digestHex}`)}`, {
    path: file, exitCode: 1,
    hint: `to replace the installed build: \`niso install --replace ${file}\` (a build a service uses stays until the service changes); or raise [package] version in manifest.toml and pack again`,
  });
}

/** A new file with this content: open, write, close, without writeFileSync's own checks per call. */
function writeNew(path: string, data: Buffer, mode: number): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    for (let off = 0; off < data.length;) off += writeSync(fd, data, off);
  } finally {
    closeSync(fd);
  }
}

export async function ensureDirs(l: StoreLayout): Promise<void> {
  for (const d of [l.store, l.content, l.tmp]) await mkdir(d, { recursive: true });
}

export async function installPackage(root: string, file: string, limits: Limits, opts: InstallOptions = {}): Promise<InstallResult> {
  const l = layout(root);
  await ensureDirs(l);
  return withLock(l.lock, 'the store', async () => {
    await sweepTmp(l);
    // Ctrl-C or a stop signal removes the work dir before niso exits; once the commit began
    // (pooling, the rename into the store), the install finishes first and niso exits after.
    return withWorkDir(l, async ({ path: work, commit }) => {
      let final = '';
      let already = false;
      let newBytes = 0;
      let done = 0;
      let total = 0;
      let otherBuilds: InstalledPackage[] = [];
      const links: SymlinkEntry[] = [];
      // New content waits in the work dir until the whole package is verified; only then is it
      // linked into the shared pool, so a package refused half-way leaves no content behind.
      // Maps a pool path to the work-dir file that will become it, and the last file linked to it.
      const pending = new Map<string, { placed: string; last: string }>();
      // Pool copies (installed or pending) that reached the filesystem's link limit.
      const full = new Set<string>();
      // Extraction is sequential, so per-file async fs calls only add thread-pool round trips
      // (about ten per file); direct syscalls are used instead, with directories cached.
      const made = new Set<string>();
      const ensureDir = (d: string) => { if (!made.has(d)) { mkdirSync(d, { recursive: true }); made.add(d); } };
      /**
       * Gives `dest` the content of `e` by linking it to an equal file: a pool copy, or one this
       * install placed. A copy with as many links as the filesystem allows (ext4: 65,000) is passed
       * over for the next; where no copy has room, `dest` becomes a new one: `create` writes it, or
       * (null) it already holds the content.
       */
      const share = (e: FileEntry, dest: string, create: ((path: string) => void) | null): void => {
        const freed: string[] = [];
        for (let copy = 0; ; copy++) {
          const pooled = contentPath(l, e.sha256, e.mode, copy);
          if (full.has(pooled)) continue;
          const mine = pending.get(pooled);
          const source = mine?.placed ?? (inPool(pooled) && statSync(pooled, { throwIfNoEntry: false })?.size === e.size ? pooled : undefined);
          if (source === undefined) {
            create?.(dest);
            pending.set(pooled, { placed: dest, last: dest });
            newBytes += e.size;
            break;
          }
          try {
            if (create) linkSync(source, dest);
            else { linkSync(source, `${dest}.link`); renameSync(`${dest}.link`, dest); }
            if (mine) mine.last = dest;
            break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EMLINK') throw err;
            full.add(pooled);
            // A placed file needs one more link when it is pooled: its last link gives way.
            if (mine && mine.last !== mine.placed) { unlinkSync(mine.last); freed.push(mine.last); }
          }
        }
        for (const f of freed) share(e, f, (p) => copyFileSync(dest, p, constants.COPYFILE_EXCL));
      };
      // The pool's names, read once per shard directory: a stat of every file's pool path, mostly to learn that it is
      // not there, cost more than writing the file. The store lock keeps the pool as read until this install commits.
      const shards = new Map<string, Set<string>>();
      const inPool = (pooled: string): boolean => {
        const shard = dirname(pooled);
        let names = shards.get(shard);
        if (names === undefined) {
          try { names = new Set(readdirSync(shard)); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; names = new Set(); }
          shards.set(shard, names);
        }
        return names.has(basename(pooled));
      };
      const readOnly = (mode: number) => (mode & 0o111 ? 0o555 : 0o444);
      await mkdir(join(work, 'app'));
      const head: PackageHead = await readPackage(file, limits, {
        head: async (h) => {
          opts.checkHead?.(h);
          if (h.index.arch !== 'any' && h.index.arch !== hostArch()) {
            throw new NisoError('NISO2113', `${file} is built for ${h.index.arch}, but this host is ${hostArch()}`, { path: file, exitCode: 2, hint: 'pack the app on (or for) this architecture; use arch = "any" for apps without native code' });
          }
          total = h.index.totals.bytes;
          final = join(l.store, storeObjectName(h.digestHex, h.index.name, h.index.version));
          already = await stat(join(final, INSTALLED_INFO)).then(() => true, () => false);
          otherBuilds = (await listInstalled(root)).filter((p) => p.name === h.index.name && p.version === h.index.version && p.digest !== `sha256:${h.digestHex}`);
          if (!already && otherBuilds.length > 0 && (opts.otherBuilds ?? 'refuse') === 'refuse') throw anotherBuild(file, h, otherBuilds);
          return !already;
        },
        dir: (e) => { ensureDir(join(work, 'app', e.path)); },
        symlink: (e) => { links.push(e); },
        file: (e, data) => {
          const dest = join(work, 'app', e.path);
          ensureDir(dirname(dest));
          share(e, dest, (p) => writeNew(p, data, readOnly(e.mode)));
          done += e.size;
          opts.onProgress?.(done, total);
        },
        largeFile: (e) => {
          // Written straight to its place; a failed verification removes it with the work dir.
          // (Pooled content is not reused here: the bytes must be read through anyway.)
          const dest = join(work, 'app', e.path);
          ensureDir(dirname(dest));
          const fd = openSync(dest, 'wx', readOnly(e.mode));
          let closed = false;
          const close = () => { if (!closed) { closed = true; closeSync(fd); } };
          return {
            data: (chunk) => { for (let off = 0; off < chunk.length;) off += writeSync(fd, chunk, off); },
            abort: close,
            end: () => {
              close();
              share(e, dest, null);
              done += e.size;
              opts.onProgress?.(done, total);
            },
          };
        },
      });
      const result = (alreadyInstalled: boolean): InstallResult => ({
        digest: `sha256:${head.digestHex}`, name: head.index.name, version: head.index.version, arch: head.index.arch,
        path: final, alreadyInstalled, files: head.index.totals.files, bytes: head.index.totals.bytes, newBytes, otherBuilds,
      });
      if (already) return result(true);
      commit();
      for (const [pooled, { placed }] of pending) {
        ensureDir(dirname(pooled));
        try {
          linkSync(placed, pooled);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          // A damaged pool file of the same name (its size did not match): replace it.
          unlinkSync(pooled);
          linkSync(placed, pooled);
        }
      }
      // Symlinks last: no file is ever written through a link the package made.
      for (const s of links) await symlink(s.target, join(work, 'app', s.path));
      const info: InstalledInfo = {
        digest: `sha256:${head.digestHex}`, name: head.index.name, version: head.index.version, arch: head.index.arch,
        installedAt: (opts.now ?? new Date()).toISOString(), source: basename(file),
        files: head.index.totals.files, bytes: head.index.totals.bytes, packageBytes: head.packageBytes,
      };
      await mkdir(join(work, 'niso'));
      await writeFile(join(work, 'niso/index.json'), head.indexText, { mode: 0o444 });
      await writeFile(join(work, 'niso/manifest.toml'), head.manifestText, { mode: 0o444 });
      await writeFile(join(work, INSTALLED_INFO), JSON.stringify(info, null, 2) + '\n', { mode: 0o444 });
      await writeFile(join(work, NORMALIZED_MANIFEST), JSON.stringify({ version: NORMALIZED_MANIFEST_VERSION, manifest: head.manifest }) + '\n', { mode: 0o444 });
      sealDirs([work, join(work, 'app'), join(work, 'niso'), ...head.index.entries.filter((e) => e.type === 'dir').map((e) => join(work, 'app', e.path))]);
      await syncFilesystem(work);
      try {
        await rename(work, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' || code === 'ENOTEMPTY') return result(true);
        throw e;
      }
      await fsyncPath(l.store);
      return result(false);
    });
  });
}
