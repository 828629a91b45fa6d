// Reads a .niso package and checks every entry against the rules of the format and its own
// index before anything is handed on: paths, types, modes, links, sizes, hashes, limits.
// Install and inspect share it, so a hostile package is refused the same way everywhere.
import { createHash, type Hash } from 'node:crypto';
import { sha256Hex } from '../host/sha256.js';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { NisoError } from '../errors/niso-error.js';
import type { parseManifest as ParseManifest } from '../manifest/parse.js';
import { TOML_LIMITS } from '../manifest/toml-limits.js';
import type { Manifest } from '../manifest/schema.js';
import { formatDiagnostics } from '../errors/render.js';
import { decompressor } from '../host/zstd.js';
import { APP_PREFIX, INDEX_PATH, MANIFEST_PATH, parseIndex, symlinkStaysInside, unsafePathReason, type DirEntry, type FileEntry, type IndexEntry, type PackageIndex, type SymlinkEntry } from './format/package-index.js';
import { TarFormatError, TarReader, TarTrailingDataError, type ReadHeader } from './tar-codec.js';
import { ZstdFrameChecker, ZstdFramingError } from './format/zstd-frames.js';

import { DEFAULT_LIMITS, type Limits } from './limits.js';

export { DEFAULT_LIMITS, type Limits };
const MAX_INDEX_BYTES = 64 * 1024 * 1024;
/** Files up to this size are gathered whole and verified before the visitor sees them. */
export const SMALL_FILE = 1024 * 1024;

export interface PackageHead {
  index: PackageIndex;
  indexText: string;
  /** sha256 of the canonical index: the package's identity. */
  digestHex: string;
  manifest: Manifest;
  manifestText: string;
  packageBytes: number;
}

/** Where a large file's verified pieces go; `end` is called only once the whole file matched. */
export interface FileSink { data(chunk: Buffer): void; end(): void; abort(): void }

export interface EntryVisitor {
  /** Called once the index is read and within the limits, before the manifest is checked against it. */
  index?(index: PackageIndex, indexText: string): void;
  /** Called once index and manifest are verified; return false to stop reading (e.g. already installed). */
  head?(head: PackageHead): Promise<boolean> | boolean;
  dir?(entry: DirEntry): void;
  symlink?(entry: SymlinkEntry): void;
  /** A small file, already verified. */
  file?(entry: FileEntry, data: Buffer): void;
  /** A large file, in pieces as they arrive. */
  largeFile?(entry: FileEntry): FileSink;
}

const refuse = (code: string, source: string, message: string, hint = 'do not install packages from this source') =>
  new NisoError(code, `${source}: ${message}`, { path: source, hint, exitCode: 2 });

const TYPE_WORDS: Record<string, string> = {
  Link: 'a hard link', CharacterDevice: 'a character device', BlockDevice: 'a block device', FIFO: 'a FIFO',
  ContiguousFile: 'a contiguous file', GlobalExtendedHeader: 'a global pax header', NextFileHasLongPath: 'a GNU long-name entry',
  NextFileHasLongLinkpath: 'a GNU long-link entry', SparseFile: 'a sparse file',
};

/** What is being read right now: a head entry, an app file, or nothing (dirs, links). */
type Current =
  | { kind: 'head'; name: string; chunks: Buffer[]; size: number; max: number }
  | { kind: 'small'; entry: FileEntry; path: string; chunks: Buffer[]; got: number }
  | { kind: 'large'; entry: FileEntry; path: string; hash: Hash; got: number; sink?: FileSink }
  | { kind: 'none' };

/** Bytes of a package as they arrive (a download), named by the file they are being written to. */
export interface PackageStream { stream: Readable; name: string; size: number }

/** Reads and verifies a whole package, calling the visitor for each checked entry. */
export async function readPackage(input: string | PackageStream, limits: Limits, visitor: EntryVisitor): Promise<PackageHead> {
  const file = typeof input === 'string' ? input : input.name;
  const source = file;
  const st = typeof input !== 'string' ? { size: input.size } : await stat(file).then((s) => {
    if (!s.isFile()) throw new NisoError('NISO2101', `${file} is not a file`, { path: file, exitCode: 2 });
    return s;
  }, (e: NodeJS.ErrnoException) => {
    throw new NisoError('NISO2101', `${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { path: file, exitCode: 2, hint: 'give the path of a .niso file made by `niso pack`' });
  });

  let head: PackageHead | undefined;
  let index: PackageIndex | undefined;
  let indexText = '';
  let position = 0;
  let files = 0;
  let bytes = 0;
  let stopped = false;
  const expected = new Map<string, IndexEntry>();
  const seen = new Set<string>();
  let cur: Current = { kind: 'none' };

  const onHeader = (h: ReadHeader): void => {
    position++;
    const name = h.path;
    if (h.mode & 0o7000) throw refuse('NISO2105', source, `"${name}" has setuid/setgid/sticky bits (mode ${h.mode.toString(8)})`);
    if (position <= 2) {
      const want = position === 1 ? INDEX_PATH : MANIFEST_PATH;
      if (name !== want || h.typeName !== 'File') throw refuse('NISO2110', source, `entry ${position} is "${name}", not ${want}`, 'the file is not a niso package or was tampered with');
      const max = position === 1 ? MAX_INDEX_BYTES : TOML_LIMITS.bytes;
      if (h.size > max) throw refuse('NISO2109', source, `${want} is larger than ${max} bytes`);
      cur = { kind: 'head', name, chunks: [], size: h.size, max };
      return;
    }
    if (!name.startsWith(APP_PREFIX)) throw refuse('NISO2102', source, `entry "${name}" is outside ${APP_PREFIX}`);
    const path = name.slice(APP_PREFIX.length).replace(/\/$/, '');
    // A path the index lists passed the same check when the index was parsed.
    const why = expected.has(path) ? null : unsafePathReason(path);
    if (why) throw refuse('NISO2102', source, `entry "${name}" ${why}`);
    if (seen.has(path)) throw refuse('NISO2106', source, `"${path}" appears twice`);
    seen.add(path);
    const want = expected.get(path);
    cur = { kind: 'none' };
    switch (h.typeName) {
      case 'SymbolicLink':
        if (!symlinkStaysInside(path, h.linkpath)) throw refuse('NISO2103', source, `symlink "${path}" points outside the app ("${h.linkpath}")`);
        if (!want || want.type !== 'symlink' || want.target !== h.linkpath) throw refuse('NISO2107', source, `symlink "${path}" is not in the index as such`);
        visitor.symlink?.(want);
        return;
      case 'Directory':
        if (!want || want.type !== 'dir') throw refuse('NISO2107', source, `directory "${path}" is not in the index`);
        visitor.dir?.(want);
        return;
      case 'Link':
        throw refuse('NISO2103', source, `"${path}" is a hard link (to "${h.linkpath}"); niso packages never contain hard links`);
      case 'File':
      case 'OldFile':
        break;
      default:
        throw refuse('NISO2104', source, `"${path}" is ${TYPE_WORDS[h.typeName] ?? `an entry of type "${h.typeName}"`}; packages hold only files, directories and in-app symlinks`);
    }
    if (!want || want.type !== 'file') throw refuse('NISO2107', source, `file "${path}" is not in the index`);
    const mode = h.mode & 0o777;
    if (mode !== want.mode) throw refuse('NISO2107', source, `"${path}" has mode ${mode.toString(8)} but the index says ${want.mode.toString(8)}`);
    if (h.size !== want.size) throw refuse('NISO2107', source, `"${path}" is ${h.size} bytes but the index says ${want.size}`);
    files++;
    bytes += want.size;
    if (files > limits.maxFiles || bytes > limits.maxBytes) throw refuse('NISO2109', source, 'unpacks to more than the configured limits');
    cur = want.size <= SMALL_FILE
      ? { kind: 'small', entry: want, path, chunks: [], got: 0 }
      : { kind: 'large', entry: want, path, hash: createHash('sha256'), got: 0, sink: visitor.largeFile?.(want) };
  };

  const onData = (chunk: Buffer): void => {
    const c = cur;
    if (c.kind === 'head' || c.kind === 'small') c.chunks.push(chunk);
    if (c.kind === 'small') c.got += chunk.length;
    if (c.kind === 'large') { c.hash.update(chunk); c.got += chunk.length; c.sink?.data(chunk); }
  };

  const mismatch = (path: string, hex: string, want: FileEntry) =>
    hex !== want.sha256 ? refuse('NISO2107', source, `"${path}" does not match its sha256 in the index`) : null;

  /** Returns a promise only when the visitor's head() must be awaited. */
  const onEnd = (): Promise<void> | void => {
    const c = cur;
    cur = { kind: 'none' };
    if (c.kind === 'small') {
      const data = c.chunks.length === 1 ? c.chunks[0]! : Buffer.concat(c.chunks);
      const bad = mismatch(c.path, sha256Hex(data), c.entry);
      if (bad) throw bad;
      visitor.file?.(c.entry, data);
    } else if (c.kind === 'large') {
      const bad = mismatch(c.path, c.hash.digest('hex'), c.entry);
      if (bad) { c.sink?.abort(); throw bad; }
      c.sink?.end();
    } else if (c.kind === 'head') {
      const data = Buffer.concat(c.chunks);
      if (c.name === INDEX_PATH) {
        indexText = data.toString('utf8');
        index = parseIndex(indexText, source);
        if (index.totals.bytes > limits.maxBytes) throw refuse('NISO2109', source, `unpacks to ${index.totals.bytes} bytes, more than the limit of ${limits.maxBytes}`, 'if the package is trusted, raise the limit with --max-size');
        if (index.entries.length > limits.maxFiles) throw refuse('NISO2109', source, `has ${index.entries.length} entries, more than the limit of ${limits.maxFiles}`, 'if the package is trusted, raise the limit with --max-files');
        for (const e of index.entries) expected.set(e.path, e);
        visitor.index?.(index, indexText);
        return;
      }
      const idx = index!;
      if (data.length !== idx.manifest.size || createHash('sha256').update(data).digest('hex') !== idx.manifest.sha256) {
        throw refuse('NISO2107', source, `${MANIFEST_PATH} does not match the hash in the index`);
      }
      // The manifest's TOML and schema machinery is the largest part of niso's code: loaded when a manifest is read,
      // so that what needs only the index (push, until its upload has started) does not wait for it.
      return import('../manifest/parse.js').then(({ parseManifest }) => checkManifest(idx, data, parseManifest(data, `${source}!manifest.toml`)));
    }
  };

  const checkManifest = (idx: PackageIndex, data: Buffer, r: ReturnType<typeof ParseManifest>): Promise<void> | void => {
    const manifestText = data.toString('utf8');
    if (!r.manifest) throw new NisoError('NISO2111', `${source}: its manifest does not validate:\n${formatDiagnostics(r.diagnostics)}`, { path: source, exitCode: 2, hint: 'fix manifest.toml and pack again' });
    const m = r.manifest;
    if (m.package.name !== idx.name || m.package.version !== idx.version || (m.package.arch !== undefined && m.package.arch !== idx.arch)) {
      throw refuse('NISO2107', source, `the index says ${idx.name} ${idx.version} (${idx.arch}) but the manifest says ${m.package.name} ${m.package.version}${m.package.arch ? ` (${m.package.arch})` : ''}`);
    }
    head = { index: idx, indexText, digestHex: createHash('sha256').update(indexText).digest('hex'), manifest: m, manifestText, packageBytes: st.size };
    if (visitor.head) {
      const go = visitor.head(head);
      if (go instanceof Promise) return go.then((ok) => { stopped = !ok; });
      stopped = !go;
    }
  };

  const z = decompressor(typeof input === 'string' ? file : input.stream, new ZstdFrameChecker());
  const tar = new TarReader();
  try {
    outer: for await (const chunk of z.stdout) {
      for (const ev of tar.feed(chunk as Buffer)) {
        if (ev.kind === 'entry') onHeader(ev.header);
        else if (ev.kind === 'data') onData(ev.chunk);
        else if (ev.kind === 'entry-end') {
          const p = onEnd();
          if (p) await p;
          if (stopped) break outer;
        }
      }
    }
  } catch (e) {
    const open = cur as Current;
    if (open.kind === 'large') open.sink?.abort();
    z.stop();
    const [zr, fed] = await Promise.all([z.done.catch(() => null), z.fed]);
    if (e instanceof NisoError) throw e;
    if (fed instanceof ZstdFramingError) throw framingError(source, fed);
    if (zr && zr.code !== 0 && zr.signal === null) throw zstdError(source, zr.stderr);
    if (e instanceof TarTrailingDataError) throw refuse('NISO2114', source, e.message, 'a package is one archive and nothing after it; make it again with `niso pack`, or download it again');
    if (e instanceof TarFormatError) throw new NisoError('NISO2101', `${source}: not a readable niso package (${e.message})`, { path: source, exitCode: 2 });
    throw e;
  }
  if (stopped) {
    z.stop();
    await z.done.catch(() => null);
    return head!;
  }
  const [zr, fed] = await Promise.all([z.done, z.fed]);
  if (fed instanceof ZstdFramingError) throw framingError(source, fed);
  if (zr.code !== 0) throw zstdError(source, zr.stderr);
  if (fed) throw new NisoError('NISO2101', `${source}: cannot be read (${fed.message})`, { path: source, exitCode: 2, cause: fed });
  if (position === 0) throw refuse('NISO2101', source, 'the archive is empty', 'the file is not a niso package');
  if (!tar.complete) throw refuse('NISO2108', source, 'the package ends in the middle of its content', 'copy or download the package again');
  if (!head) throw refuse('NISO2110', source, 'the package has no index or manifest', 'the file is not a niso package');
  for (const e of head.index.entries) {
    if (!seen.has(e.path)) throw refuse('NISO2107', source, `the index lists "${e.path}" but the archive does not contain it`);
  }
  return head;
}

/** The compressed layer: only zstd frames, back to back, ending where the file ends. */
function framingError(source: string, e: ZstdFramingError): NisoError {
  switch (e.problem) {
    case 'truncated': return refuse('NISO2108', source, `the package is truncated (${e.message})`, 'copy or download the package again');
    case 'outside': return refuse('NISO2114', source, e.message, 'a package is zstd frames of one archive and nothing else; make it again with `niso pack`, or download it again');
    default: return new NisoError('NISO2101', `${source}: not a niso package: ${e.message}`, { path: source, exitCode: 2, hint: 'give a .niso file made by `niso pack` (zstd-compressed; a .tar.gz or .tar.xz is not one)' });
  }
}

function zstdError(source: string, stderr: string): NisoError {
  if (/truncated|premature|incomplete|unexpected end/i.test(stderr)) return refuse('NISO2108', source, `the package is truncated (zstd: ${stderr})`, 'copy or download the package again');
  return new NisoError('NISO2101', `${source}: not a zstd-compressed niso package (zstd: ${stderr || 'failed'})`, { path: source, exitCode: 2, hint: 'give a .niso file made by `niso pack`' });
}

/**
 * Reads only what `inspect FILE.niso` needs: the verified index and manifest. From a stream (a download, as it
 * arrives), with the same checks: the bytes after the head are not read.
 */
export function readPackageHead(input: string | PackageStream, limits: Limits = DEFAULT_LIMITS): Promise<PackageHead> {
  return readPackage(input, limits, { head: () => false });
}
