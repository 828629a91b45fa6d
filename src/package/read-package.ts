// Streams a .niso package and checks every entry against the rules of the format and its own
// index before anything is handed on: paths, types, modes, links, sizes, hashes, limits.
// Install and inspect share it, so a hostile package is refused the same way everywhere.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, type Header as Headers } from 'tar-stream';
import { NisoError } from '../errors/niso-error.js';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest } from '../manifest/schema.js';
import { formatDiagnostics } from '../errors/render.js';
import { decompressor } from '../host/zstd.js';
import { APP_PREFIX, INDEX_PATH, MANIFEST_PATH, parseIndex, symlinkStaysInside, unsafePathReason, type FileEntry, type IndexEntry, type PackageIndex } from './format/package-index.js';

export interface Limits { maxBytes: number; maxFiles: number }
export const DEFAULT_LIMITS: Limits = { maxBytes: 8 * 1024 ** 3, maxFiles: 500_000 };
const MAX_INDEX_BYTES = 64 * 1024 * 1024;
const MAX_MANIFEST_BYTES = 1024 * 1024;
/** Files up to this size are read whole and verified before the visitor sees them. */
export const SMALL_FILE = 1024 * 1024;

/** Reads an entry's bytes with plain events (no pipeline), refusing more than `max`. */
function collect(stream: Readable, max: number): Promise<Buffer> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    let n = 0;
    stream.on('data', (c: Buffer) => { n += c.length; if (n <= max) chunks.push(c); });
    stream.on('end', () => res(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    stream.on('error', rej);
  });
}

export interface PackageHead {
  index: PackageIndex;
  indexText: string;
  /** sha256 of the canonical index: the package's identity. */
  digestHex: string;
  manifest: Manifest;
  manifestText: string;
  packageBytes: number;
}

export interface EntryVisitor {
  /** Called once index and manifest are verified; return false to stop reading (e.g. already installed). */
  head?(head: PackageHead): Promise<boolean> | boolean;
  dir?(entry: IndexEntry): Promise<void>;
  symlink?(entry: IndexEntry & { type: 'symlink' }): Promise<void>;
  /**
   * A Buffer is a small file, already verified. A stream must be consumed fully; the reader
   * verifies size and hash as it flows through. The visitor may return a commit step, which runs
   * only once the content is verified (so nothing unverified reaches a shared place).
   */
  file?(entry: FileEntry, content: Buffer | Readable): Promise<(() => Promise<void>) | void>;
}

const refuse = (code: string, source: string, message: string, hint = 'do not install packages from this source') =>
  new NisoError(code, `${source}: ${message}`, { path: source, hint, exitCode: 2 });

async function readAll(stream: Readable, max: number, source: string, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > max) throw refuse('NISO2109', source, `${what} is larger than ${max} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function describeType(t: Headers['type']): string {
  switch (t) {
    case 'link': return 'a hard link';
    case 'character-device': return 'a character device';
    case 'block-device': return 'a block device';
    case 'fifo': return 'a FIFO';
    case 'contiguous-file': return 'a contiguous file';
    default: return `an entry of type "${t}"`;
  }
}

/** Reads and verifies a whole package, calling the visitor for each checked entry. */
export async function readPackage(file: string, limits: Limits, visitor: EntryVisitor): Promise<PackageHead> {
  const source = file;
  const st = await stat(file).catch((e: NodeJS.ErrnoException) => {
    throw new NisoError('NISO2101', `${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { path: file, exitCode: 2, hint: 'give the path of a .niso file made by `niso pack`' });
  });
  if (!st.isFile()) throw new NisoError('NISO2101', `${file} is not a file`, { path: file, exitCode: 2 });

  const z = decompressor(file);
  const ex = extract();
  let head: PackageHead | undefined;
  let stopped = false;
  let position = 0;
  const expected = new Map<string, IndexEntry>();
  const seen = new Set<string>();
  let files = 0;
  let bytes = 0;
  let indexText = '';
  let index: PackageIndex | undefined;

  const onEntry = async (h: Headers, stream: Readable): Promise<void> => {
    const name = h.name;
    position++;
    if (stopped) { stream.resume(); return; }
    if ((h.mode ?? 0) & 0o7000) throw refuse('NISO2105', source, `"${name}" has setuid/setgid/sticky bits (mode ${(h.mode ?? 0).toString(8)})`);

    if (position === 1) {
      if (name !== INDEX_PATH || h.type !== 'file') throw refuse('NISO2110', source, `the first entry is "${name}", not ${INDEX_PATH}`, 'the file is not a niso package or was tampered with');
      indexText = (await readAll(stream, MAX_INDEX_BYTES, source, INDEX_PATH)).toString('utf8');
      index = parseIndex(indexText, source);
      if (index.totals.bytes > limits.maxBytes) throw refuse('NISO2109', source, `unpacks to ${index.totals.bytes} bytes, more than the limit of ${limits.maxBytes}`, 'if the package is trusted, raise the limit with --max-size');
      if (index.entries.length > limits.maxFiles) throw refuse('NISO2109', source, `has ${index.entries.length} entries, more than the limit of ${limits.maxFiles}`, 'if the package is trusted, raise the limit with --max-files');
      for (const e of index.entries) expected.set(e.path, e);
      return;
    }
    if (position === 2) {
      if (name !== MANIFEST_PATH || h.type !== 'file') throw refuse('NISO2110', source, `the second entry is "${name}", not ${MANIFEST_PATH}`, 'the file is not a niso package or was tampered with');
      const data = await readAll(stream, MAX_MANIFEST_BYTES, source, MANIFEST_PATH);
      const idx = index!;
      if (data.length !== idx.manifest.size || createHash('sha256').update(data).digest('hex') !== idx.manifest.sha256) {
        throw refuse('NISO2107', source, `${MANIFEST_PATH} does not match the hash in the index`);
      }
      const manifestText = data.toString('utf8');
      const r = parseManifest(manifestText, `${source}!manifest.toml`);
      if (!r.manifest) throw new NisoError('NISO2111', `${source}: its manifest does not validate:\n${formatDiagnostics(r.diagnostics)}`, { path: source, exitCode: 2, hint: 'fix manifest.toml and pack again' });
      const m = r.manifest;
      if (m.package.name !== idx.name || m.package.version !== idx.version || (m.package.arch !== undefined && m.package.arch !== idx.arch)) {
        throw refuse('NISO2107', source, `the index says ${idx.name} ${idx.version} (${idx.arch}) but the manifest says ${m.package.name} ${m.package.version}${m.package.arch ? ` (${m.package.arch})` : ''}`);
      }
      head = { index: idx, indexText, digestHex: createHash('sha256').update(indexText).digest('hex'), manifest: m, manifestText, packageBytes: st.size };
      if (visitor.head && !(await visitor.head(head))) stopped = true;
      return;
    }

    if (!name.startsWith(APP_PREFIX)) throw refuse('NISO2102', source, `entry "${name}" is outside ${APP_PREFIX}`);
    const path = name.slice(APP_PREFIX.length).replace(/\/$/, '');
    const why = unsafePathReason(path);
    if (why) throw refuse('NISO2102', source, `entry "${name}" ${why}`);
    if (seen.has(path)) throw refuse('NISO2106', source, `"${path}" appears twice`);
    seen.add(path);
    const want = expected.get(path);

    if (h.type === 'link') throw refuse('NISO2103', source, `"${path}" is a hard link (to "${h.linkname ?? ''}"); niso packages never contain hard links`);
    if (h.type === 'symlink') {
      const target = h.linkname ?? '';
      if (!symlinkStaysInside(path, target)) throw refuse('NISO2103', source, `symlink "${path}" points outside the app ("${target}")`);
      if (!want || want.type !== 'symlink' || want.target !== target) throw refuse('NISO2107', source, `symlink "${path}" is not in the index as such`);
      await visitor.symlink?.(want);
      stream.resume();
      return;
    }
    if (h.type === 'directory') {
      if (!want || want.type !== 'dir') throw refuse('NISO2107', source, `directory "${path}" is not in the index`);
      await visitor.dir?.(want);
      stream.resume();
      return;
    }
    if (h.type !== 'file') throw refuse('NISO2104', source, `"${path}" is ${describeType(h.type)}; packages hold only files, directories and in-app symlinks`);
    if (!want || want.type !== 'file') throw refuse('NISO2107', source, `file "${path}" is not in the index`);
    const mode = (h.mode ?? 0) & 0o777;
    if (mode !== want.mode) throw refuse('NISO2107', source, `"${path}" has mode ${mode.toString(8)} but the index says ${want.mode.toString(8)}`);
    if (h.size !== want.size) throw refuse('NISO2107', source, `"${path}" is ${h.size} bytes but the index says ${want.size}`);
    files++;
    bytes += want.size;
    if (files > limits.maxFiles || bytes > limits.maxBytes) throw refuse('NISO2109', source, 'unpacks to more than the configured limits');

    const mismatch = (hex: string, got: number) =>
      got !== want.size ? refuse('NISO2108', source, `"${path}" is truncated`, 'copy or download the package again')
        : hex !== want.sha256 ? refuse('NISO2107', source, `"${path}" does not match its sha256 in the index`) : null;

    if (want.size <= SMALL_FILE) {
      // Small files (most of a node_modules tree) are collected and verified here, then handed
      // over as a Buffer: a stream pipeline per file costs more than the file itself.
      const data = await collect(stream, want.size + 1);
      const bad = mismatch(createHash('sha256').update(data).digest('hex'), data.length);
      if (bad) throw bad;
      const commit = await visitor.file?.(want, data);
      await commit?.();
      return;
    }
    // Large files: hash as the content flows to the visitor, through a transform so that
    // backpressure holds and nothing flows before the visitor reads.
    const hash = createHash('sha256');
    let got = 0;
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, cb) { hash.update(chunk); got += chunk.length; cb(null, chunk); },
      flush(cb) { cb(mismatch(hash.digest('hex'), got)); },
    });
    const verified = pipeline(stream, hasher);
    if (visitor.file) {
      const [commit] = await Promise.all([visitor.file(want, hasher), verified]);
      await commit?.();
    } else {
      hasher.resume();
      await verified;
    }
  };

  const done = new Promise<void>((res, rej) => {
    ex.on('entry', (h, stream, next) => {
      onEntry(h, stream as unknown as Readable).then(() => next(), (e) => { stream.resume(); ex.destroy(e as Error); });
    });
    ex.on('finish', res);
    ex.on('error', rej);
  });
  z.stdout.pipe(ex);
  try {
    await done;
  } catch (e) {
    z.child.kill('SIGKILL');
    const zr = await z.done.catch(() => null);
    if (e instanceof NisoError) throw e;
    if (zr && zr.code !== 0 && zr.signal === null) throw zstdError(source, zr.stderr);
    const msg = (e as Error).message;
    if (/unexpected end|premature|truncated/i.test(msg)) throw refuse('NISO2108', source, 'the package ends in the middle of an entry', 'copy or download the package again');
    throw new NisoError('NISO2101', `${source}: not a readable niso package (${msg})`, { path: source, exitCode: 2, cause: e });
  }
  if (stopped) {
    z.child.kill('SIGKILL');
    await z.done.catch(() => null);
    return head!;
  }
  const zr = await z.done;
  if (zr.code !== 0) throw zstdError(source, zr.stderr);
  if (!head) throw refuse('NISO2110', source, 'the package has no index or manifest', 'the file is not a niso package');
  for (const e of head.index.entries) {
    if (!seen.has(e.path)) throw refuse('NISO2107', source, `the index lists "${e.path}" but the archive does not contain it`);
  }
  return head;
}

function zstdError(source: string, stderr: string): NisoError {
  if (/truncated|premature|incomplete|unexpected end/i.test(stderr)) return refuse('NISO2108', source, `the package is truncated (zstd: ${stderr})`, 'copy or download the package again');
  return new NisoError('NISO2101', `${source}: not a zstd-compressed niso package (zstd: ${stderr || 'failed'})`, { path: source, exitCode: 2, hint: 'give a .niso file made by `niso pack`' });
}

/** Reads only what `inspect FILE.niso` needs: the verified index and manifest. */
export function readPackageHead(file: string, limits: Limits = DEFAULT_LIMITS): Promise<PackageHead> {
  return readPackage(file, limits, { head: () => false });
}
