// `niso pack`: app directory → deterministic .niso (tar + zstd). Same inputs give the same bytes:
// sorted entries, fixed mtime (SOURCE_DATE_EPOCH or 0), uid/gid 0, no user names, modes 0644/0755.
import { createHash } from 'node:crypto';
import { sha256Hex } from '../host/sha256.js';
import { createReadStream, createWriteStream, type BigIntStats } from 'node:fs';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readSync, readlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open, stat, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { NisoError, invalidInput } from '../errors/niso-error.js';
import { parseManifest } from '../manifest/parse.js';
import { TOML_LIMITS } from '../manifest/toml-limits.js';
import type { Manifest } from '../manifest/schema.js';
import { compressor } from '../host/zstd.js';
import { tempName, fsyncPath } from '../host/fs-atomic.js';
import { hostArch } from '../host/arch.js';
import { readRegularFile, type Bounded } from '../host/read-bounded.js';
import { APP_PREFIX, FORMAT_VERSION, INDEX_PATH, MANIFEST_PATH, comparePaths, describeStructureProblem, findStructureProblem, serializeIndex, type IndexEntry, type PackageIndex } from './format/package-index.js';
import { TarWriter, type TarHeader } from './tar-codec.js';
import { selectFiles, type Selected, type SelectedFile } from './select-files.js';
import { stageDebianRoot } from './deb/stage.js';
import { describeMissingLibraries } from './deb/apt-output.js';
import { findLibraryOwners } from '../host/deb-owner.js';
import { librariesNotFound } from '../runtime/elf-closure.js';
import type { DebianRecord } from './format/debian-record.js';

export interface PackOptions {
  appDir: string;
  binary?: string;
  output?: string;
  /** Directory for the default output name. */
  cwd: string;
  sourceDateEpoch?: number;
  onProgress?: (done: number, total: number) => void;
  /**
   * The runtime this machine gives `[runtime] use`, recorded in the index as what the package was packed with; null
   * when it has none (the package is still packed: it may be meant for another host).
   */
  findRuntime?: (runtime: NonNullable<Manifest['runtime']>) => Promise<PackedRuntime | null>;
  /** [debian]: where downloaded .debs are kept between packs. */
  debCache?: string;
  /** [debian]: called with each .deb fetched (from the cache or the mirror). */
  onDebProgress?: (done: number, total: number) => void;
}

export type PackedRuntime = NonNullable<PackageIndex['runtime']>;

export interface PackResult {
  runtime?: PackedRuntime;
  file: string;
  digest: string;
  name: string;
  version: string;
  arch: string;
  files: number;
  appBytes: number;
  packageBytes: number;
  /** --binary: the file given and the path it has in the package (the entrypoint's, when that is a file of the package). */
  binary?: { source: string; path: string };
  /** [debian]: what the package was built from (also in the package, as debian.json). */
  debian?: { packages: number; libraries: number; fromHost: number };
  /** What the packer should know but that does not stop the package (it may be meant for another host). */
  warnings: string[];
  /**
   * The .niso file as written: the sha256 of its bytes (hashed as they were written) and the file's identity, so that a
   * push from this host need not read and hash it again (registry/host/digest-cache.ts). Not for output.
   */
  written: { digest: string; stat: BigIntStats };
}

/** Files smaller than this are read in one go into a reused buffer; larger ones stream. */
const READ_BUFFER = 8 * 1024 * 1024;

export async function loadManifest(appDir: string): Promise<{ manifest: Manifest; text: string; file: string }> {
  const file = join(appDir, 'manifest.toml');
  let read: Bounded;
  try {
    // Only a regular file, and at most a byte over the cap (the parser reports the size).
    read = readRegularFile(file, TOML_LIMITS.bytes);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const dirOk = await stat(appDir).then((s) => s.isDirectory(), () => false);
      if (!dirOk) throw new NisoError('NISO2001', `${appDir} is not a directory`, { path: appDir, exitCode: 2, hint: 'pass the app directory that contains manifest.toml' });
      throw new NisoError('NISO1007', `no manifest.toml in ${appDir}`, { path: file, exitCode: 2, hint: 'run `niso init` there to write one' });
    }
    throw new NisoError('NISO2007', `cannot read ${file}: ${(e as Error).message}`, { path: file, cause: e });
  }
  if (!read.ok) throw new NisoError('NISO1409', `not a regular file but ${read.what}`, { path: file, exitCode: 2, hint: 'make manifest.toml a regular file (a symlink to one is fine)' });
  const r = parseManifest(read.bytes, file);
  if (!r.manifest) throw invalidInput(r.diagnostics, `${file} has ${r.diagnostics.length} problem${r.diagnostics.length === 1 ? '' : 's'}`);
  return { manifest: r.manifest, text: read.bytes.toString('utf8'), file };
}

/** The entrypoint as a file of the package: always without a runtime; with one, when it is a path. */
function entryPath(manifest: Manifest): string | null {
  if (manifest.debian) return null;
  if (manifest.runtime && !manifest.binary.entrypoint.includes('/')) return null;
  return manifest.binary.entrypoint.replace(/^\/app\//, '').replace(/^\.\//, '');
}

export async function packApp(opts: PackOptions): Promise<PackResult> {
  const appDir = resolve(opts.appDir);
  const { manifest, text: manifestText } = await loadManifest(appDir);
  const staged = manifest.debian ? await stageDebian(manifest, opts) : null;
  try {
    return await packSelected(appDir, manifest, manifestText, staged, opts);
  } finally {
    if (staged) await rm(staged.dir, { recursive: true, force: true });
  }
}

/** [debian]: the Debian root in a scratch directory, its files, and what it was built from. */
async function stageDebian(manifest: Manifest, opts: PackOptions): Promise<{ dir: string; files: Selected[]; record: DebianRecord; warnings: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'niso-deb-'));
  try {
    const root = join(dir, 'root');
    mkdirSync(root);
    const { record, warnings } = await stageDebianRoot({ packages: manifest.debian!.packages, exclude: manifest.debian!.exclude, cacheDir: opts.debCache ?? '/var/cache/niso/debs', root, workDir: dir, onProgress: opts.onDebProgress });
    const ep = manifest.binary.entrypoint.slice(1);
    const files = await selectFiles(root, ['**'], []);
    const hit = files.find((f) => f.path === ep);
    if (!hit) {
      const near = files.filter((f) => f.path.endsWith(`/${ep.split('/').pop()}`)).map((f) => `/${f.path}`);
      throw new NisoError('NISO2306', `the entrypoint "${manifest.binary.entrypoint}" is not in the Debian packages ${manifest.debian!.packages.join(', ')}`, { exitCode: 2, hint: near.length > 0 ? `did you mean "${near[0]}"?` : 'list what a package ships with `dpkg-deb -c FILE.deb` (/bin, /sbin and /lib are below /usr)' });
    }
    return { dir, files, record, warnings };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function packSelected(appDir: string, manifest: Manifest, manifestText: string, staged: { files: Selected[]; record: DebianRecord; warnings: string[] } | null, opts: PackOptions): Promise<PackResult> {
  const warnings: string[] = [...(staged?.warnings ?? [])];
  const own = await selectFiles(appDir, manifest.copy.include, manifest.copy.exclude);
  // The app directory's own files (a config, a script) go over the Debian root's at the same path.
  const ownPaths = new Set(own.map((s) => s.path));
  const selected: Selected[] = staged ? [...staged.files.filter((s) => !ownPaths.has(s.path)), ...own] : own;
  let binary: PackResult['binary'];

  if (opts.binary !== undefined) {
    const abs = resolve(opts.cwd, opts.binary);
    const st = await stat(abs).catch(() => null);
    if (!st || !st.isFile()) throw new NisoError('NISO2004', `--binary ${opts.binary}: ${st ? 'not a regular file' : 'no such file'}`, { path: abs, exitCode: 2, hint: 'build the binary first, then pass its path, e.g. --binary target/release/my-app' });
    // The binary becomes the entrypoint when that is a file of the package (a template's bin/NAME, whatever the
    // build named the file); otherwise bin/ and its own name.
    const path = entryPath(manifest) ?? `bin/${basename(abs)}`;
    binary = { source: abs, path };
    const at = selected.findIndex((s) => s.path === path);
    const entry: SelectedFile = { path, type: 'file', abs, mode: 0o755, size: st.size };
    if (at >= 0) selected[at] = entry; else selected.push(entry);
  }
  selected.sort((a, b) => comparePaths(a.path, b.path));
  const files = selected.filter((s): s is SelectedFile => s.type === 'file');

  const ep = entryPath(manifest);
  if (ep !== null) {
    const hit = selected.find((s) => s.path === ep);
    if (!hit) throw new NisoError('NISO2005', `the entrypoint "${manifest.binary.entrypoint}" is not in the package (${manifest.runtime ? 'it is a path, so it must be a packaged file' : 'no runtime is set, so it must be a packaged file'})`, { exitCode: 2, hint: `pack it with --binary PATH (it is placed at ${ep}), or check [copy] and .nisoignore` });
    if (hit.type === 'file' && hit.mode !== 0o755) throw new NisoError('NISO2005', `the entrypoint "${ep}" is not executable`, { exitCode: 2, hint: `chmod +x ${join(appDir, ep)}` });
  }

  // A binary takes its libraries from the host it runs on: one this host lacks is said now, with its Debian package.
  const epEntry = ep !== null && !manifest.runtime ? selected.find((s) => s.path === ep) : undefined;
  if (epEntry?.type === 'file') warnings.push(...await libraryWarnings(epEntry.abs, ep!));

  // A config's default is read from the package at every start: it must be one of its regular files.
  for (const [name, c] of Object.entries(manifest.configs)) {
    if (c.source === undefined) continue;
    const hit = selected.find((s) => s.path === c.source);
    if (!hit || hit.type !== 'file') throw new NisoError('NISO2005', `the default of config "${name}" ("${c.source}") is ${hit ? 'not a regular file' : 'not in the package'}`, { exitCode: 2, hint: 'name a file the package holds (relative to the app directory), or check [copy] and .nisoignore' });
  }

  if (selected.length === 0) throw new NisoError('NISO2006', `nothing to pack in ${appDir}`, { path: appDir, exitCode: 2, hint: 'check [copy] include/exclude and .nisoignore' });

  // Directories: every ancestor of a packaged entry, so the tree unpacks without implicit dirs.
  const dirs = new Set<string>();
  for (const s of selected) {
    const parts = s.path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const order: (Selected | { path: string; type: 'dir' })[] = [...[...dirs].map((path) => ({ path, type: 'dir' as const })), ...selected]
    .sort((a, b) => comparePaths(a.path, b.path));
  // Install's rules on the whole tree, before anything is read: a symlink chain that leaves the
  // app (`b -> .`, `s -> b/..`) is fine link by link, and install would refuse the package.
  const problem = findStructureProblem(order);
  if (problem) {
    const at = join(appDir, problem.path);
    throw new NisoError(problem.kind === 'unsafe-path' ? 'NISO2116' : 'NISO2002', `${appDir}: ${describeStructureProblem(problem)}`, {
      path: at, exitCode: 2, hint: `${problem.kind.startsWith('symlink') ? 'replace the symlink with what it points to, or ' : ''}leave it out: add "${problem.path}" to [copy] exclude or .nisoignore`,
    });
  }

  const packedWith = manifest.runtime && opts.findRuntime ? await opts.findRuntime(manifest.runtime) : null;
  const manifestBytes = Buffer.from(manifestText, 'utf8');
  const arch = manifest.package.arch ?? staged?.record.arch ?? hostArch();
  const defaultName = `${manifest.package.name}-${manifest.package.version}-${arch}.niso`;
  const output = resolve(opts.cwd, opts.output ?? defaultName);
  checkOutput(output, defaultName);
  const tmp = tempName(output);
  const tmpBody = `${tmp}.body`;
  const mtime = new Date((opts.sourceDateEpoch ?? 0) * 1000);
  const header = (path: string, type: TarHeader['type'], mode: number, extra: Partial<TarHeader> = {}): TarHeader => ({ path, type, mode, mtime, ...extra });
  const totalBytes = files.reduce((n, f) => n + f.size, 0);

  // The index must lead the archive but is known only once every file is hashed. So the body
  // (the app's entries) is compressed while the files are read and hashed, into a zstd frame of
  // its own; the head (index + manifest) becomes a second, small frame, and the package is head
  // frame + body frame, which zstd decompresses as one continuous tar.
  const z = compressor();
  // The head's zstd starts now and waits for its input, so that its start-up (a process start, which on a loaded
  // 2-core machine costs tens of milliseconds) overlaps the body instead of following it.
  const headZ = compressor();
  const headOut: Buffer[] = [];
  headZ.stdout.on('data', (c: Buffer) => headOut.push(c));
  const compressHead = async (data: Buffer): Promise<Buffer> => {
    headZ.stdin.end(data);
    const r = await headZ.done;
    if (r.code !== 0) throw new Error(`zstd failed: ${r.stderr}`);
    return Buffer.concat(headOut);
  };
  const bodyDone = pipeline(z.stdout, createWriteStream(tmpBody, { mode: 0o600 }));
  let blocked = false;
  // Each staged chunk goes back to the writer once the pipe has taken it.
  const tar: TarWriter = new TarWriter((chunk) => { if (!z.stdin.write(chunk, () => tar.recycle(chunk))) blocked = true; });
  const drain = async () => { if (blocked) { blocked = false; await once(z.stdin, 'drain'); } };
  const entries: IndexEntry[] = [];
  const readBuf = Buffer.allocUnsafe(READ_BUFFER);
  let written = 0;
  try {
    for (const e of order) {
      const name = APP_PREFIX + e.path;
      if (e.type === 'dir') {
        tar.add(header(name + '/', 'directory', 0o755));
        entries.push({ path: e.path, type: 'dir' });
      } else if (e.type === 'symlink') {
        tar.add(header(name, 'symlink', 0o777, { linkpath: e.target }));
        entries.push({ path: e.path, type: 'symlink', target: e.target });
      } else {
        const { sha256, size } = e.size < READ_BUFFER
          ? addSmallFile(tar, header(name, 'file', e.mode), e.abs, readBuf)
          : await addLargeFile(tar, { ...header(name, 'file', e.mode), size: e.size }, e.abs, drain);
        entries.push({ path: e.path, type: 'file', mode: e.mode, size, sha256 });
        written += size;
        opts.onProgress?.(written, totalBytes);
      }
      await drain();
    }
    tar.finish(true);
    z.stdin.end();
    await bodyDone;
    const zr = await z.done;
    if (zr.code !== 0) throw new Error(`zstd failed: ${zr.stderr}`);
  } catch (e) {
    z.child.kill('SIGKILL');
    headZ.child.kill('SIGKILL');
    await headZ.done.catch(() => undefined);
    await bodyDone.catch(() => undefined);
    await rm(tmpBody, { force: true });
    throw e;
  }

  const index: PackageIndex = {
    format: FORMAT_VERSION,
    name: manifest.package.name,
    version: manifest.package.version,
    arch,
    manifest: { size: manifestBytes.length, sha256: createHash('sha256').update(manifestBytes).digest('hex') },
    totals: { files: files.length, bytes: written },
    ...(packedWith ? { runtime: packedWith } : {}),
    entries,
  };
  const indexText = serializeIndex(index);
  const digest = createHash('sha256').update(indexText).digest('hex');
  const headParts: Buffer[] = [];
  const head = new TarWriter((c) => headParts.push(Buffer.from(c)));
  head.add(header(INDEX_PATH, 'file', 0o644), Buffer.from(indexText));
  head.add(header(MANIFEST_PATH, 'file', 0o644), manifestBytes);
  head.finish(false);
  // The bytes are hashed as they are written (the body is read once anyway): the file's digest, which a push needs,
  // comes for free.
  const fileHash = createHash('sha256');
  let fileSize = 0;
  let packedStat: BigIntStats;
  const fh = await open(tmp, 'wx', 0o644).catch((e: unknown) => { headZ.child.kill('SIGKILL'); throw e; });
  try {
    const put = async (b: Uint8Array) => {
      fileHash.update(b);
      for (let at = 0; at < b.length; ) at += (await fh.write(b, at, b.length - at)).bytesWritten;
      fileSize += b.length;
    };
    await put(await compressHead(Buffer.concat(headParts)));
    for await (const chunk of createReadStream(tmpBody, { highWaterMark: 1024 * 1024 })) await put(chunk as Buffer);
    await fh.sync();
    // Again just before the rename, which would replace whatever stands there by then.
    checkOutput(output, defaultName);
    await rename(tmp, output);
    await fsyncPath(dirname(output));
    packedStat = await fh.stat({ bigint: true });
  } catch (e) {
    headZ.child.kill('SIGKILL');
    await rm(tmp, { force: true });
    throw e;
  } finally {
    await fh.close().catch(() => undefined);
    await rm(tmpBody, { force: true });
  }
  return {
    file: output, digest: `sha256:${digest}`, name: index.name, version: index.version, arch, files: files.length, appBytes: written, packageBytes: fileSize,
    ...(packedWith ? { runtime: packedWith } : {}),
    ...(binary ? { binary } : {}),
    ...(staged ? { debian: { packages: staged.record.packages.length, libraries: staged.record.libraries.total, fromHost: staged.record.fromHost.length } } : {}),
    warnings,
    written: { digest: `sha256:${fileHash.digest('hex')}`, stat: packedStat },
  };
}

/** The libraries this host's loader does not find for the entrypoint, with the Debian packages that have them. */
async function libraryWarnings(abs: string, ep: string): Promise<string[]> {
  const missing = await librariesNotFound(abs);
  if (missing.length === 0) return [];
  const { text, hint } = describeMissingLibraries(await findLibraryOwners(missing));
  return [`${ep} needs ${missing.length === 1 ? 'the shared library' : 'shared libraries'} ${text}, which this host's loader does not find: the package starts only on hosts that have ${missing.length === 1 ? 'it' : 'them'} (elsewhere NISO3003); ${hint}`];
}

/**
 * The package replaces only a regular file: rename(2) swaps out anything, so `-o /dev/null` as
 * root once replaced the host's /dev/null, and a symlink would be replaced rather than followed.
 * Checked before any work, so that nothing is packed (and no temp file made) for nothing.
 */
function checkOutput(output: string, defaultName: string): void {
  const st = lstatSync(output, { throwIfNoEntry: false });
  if (st && !st.isFile()) {
    const target = st.isSymbolicLink() ? readlinkSync(output) : undefined;
    const what = target !== undefined ? `a symlink (to ${target})` : st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device';
    const hint = st.isDirectory() ? `to write into the directory, name the file: -o ${join(output, defaultName)}`
      : target !== undefined ? `to write where it points, pass that path: -o ${resolve(dirname(output), target)}`
        : 'give a path that does not exist yet or is a regular file';
    throw new NisoError('NISO2008', `${output} is ${what}; niso pack replaces only a regular file`, { path: output, exitCode: 2, hint });
  }
  const dir = statSync(dirname(output), { throwIfNoEntry: false });
  if (!dir?.isDirectory()) throw new NisoError('NISO2008', `${dirname(output)} is not a directory, so ${output} cannot be written`, { path: output, exitCode: 2, hint: 'create the directory first, or give another path' });
}

const changed = (abs: string, cause?: unknown) =>
  new NisoError('NISO2007', `${abs} changed while it was being packed`, { path: abs, hint: 'pack again when nothing writes to the app directory', cause });

/** Reads a file that fits the read buffer, hashes it, and adds it with its real size. */
function addSmallFile(tar: TarWriter, h: TarHeader, abs: string, buf: Buffer): { sha256: string; size: number } {
  let fd: number;
  try { fd = openSync(abs, 'r'); } catch (e) { throw new NisoError('NISO2007', `cannot read ${abs}: ${(e as Error).message}`, { path: abs, cause: e }); }
  let n = 0;
  try {
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += got;
  } finally {
    closeSync(fd);
  }
  if (n === buf.length) throw changed(abs);
  const data = buf.subarray(0, n);
  tar.add(h, data);
  return { sha256: sha256Hex(data), size: n };
}

/** A large file goes into the tar in pieces, hashed on the way; a size change is an error. */
async function addLargeFile(tar: TarWriter, h: TarHeader & { size: number }, abs: string, drain: () => Promise<void>): Promise<{ sha256: string; size: number }> {
  const sink = tar.addStreamed(h);
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(READ_BUFFER);
  const fd = openSync(abs, 'r');
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) {
      const piece = buf.subarray(0, n);
      hash.update(piece);
      sink.data(piece);
      await drain();
    }
    sink.end();
  } catch (e) {
    throw changed(abs, e);
  } finally {
    closeSync(fd);
  }
  return { sha256: hash.digest('hex'), size: h.size };
}
