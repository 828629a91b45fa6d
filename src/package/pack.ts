// `niso pack`: app directory → deterministic .niso (tar + zstd). Same inputs give the same bytes:
// sorted entries, fixed mtime (SOURCE_DATE_EPOCH or 0), uid/gid 0, no user names, modes 0644/0755.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack, type Pack } from 'tar-stream';
import { NisoError, invalidInput } from '../errors/niso-error.js';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest } from '../manifest/schema.js';
import { compressor } from '../host/zstd.js';
import { tempName, fsyncPath } from '../host/fs-atomic.js';
import { hostArch } from '../host/arch.js';
import { APP_PREFIX, FORMAT_VERSION, INDEX_PATH, MANIFEST_PATH, comparePaths, serializeIndex, type IndexEntry, type PackageIndex } from './format/package-index.js';
import { selectFiles, type Selected, type SelectedFile } from './select-files.js';

export interface PackOptions {
  appDir: string;
  binary?: string;
  output?: string;
  /** Directory for the default output name. */
  cwd: string;
  sourceDateEpoch?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface PackResult {
  file: string;
  digest: string;
  name: string;
  version: string;
  arch: string;
  files: number;
  appBytes: number;
  packageBytes: number;
}

/** Keep file contents in memory between hashing and writing up to this much, else read twice. */
const BUFFER_BUDGET = 256 * 1024 * 1024;

export async function loadManifest(appDir: string): Promise<{ manifest: Manifest; text: string; file: string }> {
  const file = join(appDir, 'manifest.toml');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const dirOk = await stat(appDir).then((s) => s.isDirectory(), () => false);
      if (!dirOk) throw new NisoError('NISO2001', `${appDir} is not a directory`, { path: appDir, exitCode: 2, hint: 'pass the app directory that contains manifest.toml' });
      throw new NisoError('NISO1007', `no manifest.toml in ${appDir}`, { path: file, exitCode: 2, hint: 'run `niso init` there to write one' });
    }
    throw new NisoError('NISO2007', `cannot read ${file}: ${(e as Error).message}`, { path: file, cause: e });
  }
  const r = parseManifest(text, file);
  if (!r.manifest) throw invalidInput(r.diagnostics, `${file} has ${r.diagnostics.length} problem${r.diagnostics.length === 1 ? '' : 's'}`);
  return { manifest: r.manifest, text, file };
}

async function hashFile(f: SelectedFile, keep: boolean): Promise<{ sha256: string; size: number; data?: Buffer }> {
  if (keep) {
    const data = await readFile(f.abs);
    return { sha256: createHash('sha256').update(data).digest('hex'), size: data.length, data };
  }
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(f.abs)) { h.update(chunk as Buffer); size += (chunk as Buffer).length; }
  return { sha256: h.digest('hex'), size };
}

/** Runs `fn` over items with at most `limit` in flight, keeping results in order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => { while (next < items.length) { const i = next++; out[i] = await fn(items[i]!, i); } };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function entryPath(manifest: Manifest): string | null {
  if (manifest.runtime) return null;
  const e = manifest.binary.entrypoint.replace(/^\/app\//, '').replace(/^\.\//, '');
  return e;
}

export async function packApp(opts: PackOptions): Promise<PackResult> {
  const appDir = resolve(opts.appDir);
  const { manifest, text: manifestText } = await loadManifest(appDir);
  const selected: Selected[] = await selectFiles(appDir, manifest.copy.include, manifest.copy.exclude);

  if (opts.binary !== undefined) {
    const abs = resolve(opts.cwd, opts.binary);
    const st = await stat(abs).catch(() => null);
    if (!st || !st.isFile()) throw new NisoError('NISO2004', `--binary ${opts.binary}: ${st ? 'not a regular file' : 'no such file'}`, { path: abs, exitCode: 2, hint: 'build the binary first, then pass its path, e.g. --binary target/release/my-app' });
    const path = `bin/${basename(abs)}`;
    const at = selected.findIndex((s) => s.path === path);
    const entry: SelectedFile = { path, type: 'file', abs, mode: 0o755, size: st.size };
    if (at >= 0) selected[at] = entry; else selected.push(entry);
  }
  selected.sort((a, b) => comparePaths(a.path, b.path));
  const files = selected.filter((s): s is SelectedFile => s.type === 'file');

  const ep = entryPath(manifest);
  if (ep !== null) {
    const hit = selected.find((s) => s.path === ep);
    if (!hit) throw new NisoError('NISO2005', `the entrypoint "${manifest.binary.entrypoint}" is not in the package (no runtime is set, so it must be a packaged file)`, { exitCode: 2, hint: `pack it with --binary PATH (it becomes bin/NAME), or check [copy] and .nisoignore` });
    if (hit.type === 'file' && hit.mode !== 0o755) throw new NisoError('NISO2005', `the entrypoint "${ep}" is not executable`, { exitCode: 2, hint: `chmod +x ${join(appDir, ep)}` });
  }

  if (selected.length === 0) throw new NisoError('NISO2006', `nothing to pack in ${appDir}`, { path: appDir, exitCode: 2, hint: 'check [copy] include/exclude and .nisoignore' });

  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  const keep = totalBytes <= BUFFER_BUDGET;
  let hashed = 0;
  const hashes = await mapLimit(files, 16, async (f) => {
    const h = await hashFile(f, keep).catch((e: Error) => { throw new NisoError('NISO2007', `cannot read ${f.abs}: ${e.message}`, { path: f.abs, cause: e }); });
    hashed += h.size;
    opts.onProgress?.(hashed / 2, totalBytes);
    return h;
  });
  const byPath = new Map(files.map((f, i) => [f.path, hashes[i]!]));
  const sourceOf = new Map(files.map((f) => [f.path, f]));

  // Directories: every ancestor of a packaged entry, so the tree unpacks without implicit dirs.
  const dirs = new Set<string>();
  for (const s of selected) {
    const parts = s.path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const entries: IndexEntry[] = [
    ...[...dirs].map((path): IndexEntry => ({ path, type: 'dir' })),
    ...selected.map((s): IndexEntry => s.type === 'file'
      ? { path: s.path, type: 'file', mode: s.mode, size: byPath.get(s.path)!.size, sha256: byPath.get(s.path)!.sha256 }
      : { path: s.path, type: 'symlink', target: s.target }),
  ].sort((a, b) => comparePaths(a.path, b.path));

  const manifestBytes = Buffer.from(manifestText, 'utf8');
  const arch = manifest.package.arch ?? hostArch();
  const index: PackageIndex = {
    format: FORMAT_VERSION,
    name: manifest.package.name,
    version: manifest.package.version,
    arch,
    manifest: { size: manifestBytes.length, sha256: createHash('sha256').update(manifestBytes).digest('hex') },
    totals: { files: files.length, bytes: files.reduce((n, f) => n + byPath.get(f.path)!.size, 0) },
    entries,
  };
  const indexText = serializeIndex(index);
  const digest = createHash('sha256').update(indexText).digest('hex');

  const output = resolve(opts.cwd, opts.output ?? `${index.name}-${index.version}-${arch}.niso`);
  const tmp = tempName(output);
  const mtime = new Date((opts.sourceDateEpoch ?? 0) * 1000);
  const header = (name: string, extra: Record<string, unknown>) => ({ name, mtime, uid: 0, gid: 0, uname: '', gname: '', ...extra });

  const tar = tarPack();
  const z = compressor();
  const out = createWriteStream(tmp, { mode: 0o644 });
  const piping = Promise.all([pipeline(tar, z.stdin), pipeline(z.stdout, out)]);
  try {
    await addEntry(tar, header(INDEX_PATH, { mode: 0o644, size: Buffer.byteLength(indexText) }), Buffer.from(indexText));
    await addEntry(tar, header(MANIFEST_PATH, { mode: 0o644, size: manifestBytes.length }), manifestBytes);
    let written = 0;
    for (const e of entries) {
      const name = APP_PREFIX + e.path;
      if (e.type === 'dir') await addEntry(tar, header(name + '/', { type: 'directory', mode: 0o755 }));
      else if (e.type === 'symlink') await addEntry(tar, header(name, { type: 'symlink', mode: 0o777, linkname: e.target }));
      else {
        const src = sourceOf.get(e.path)!;
        const data = byPath.get(e.path)!.data;
        const h = header(name, { type: 'file', mode: e.mode, size: e.size });
        if (data) await addEntry(tar, h, data);
        else await addStreamEntry(tar, h, src.abs);
        written += e.size;
        opts.onProgress?.((totalBytes + written) / 2, totalBytes);
      }
    }
    tar.finalize();
    await piping;
    const zr = await z.done;
    if (zr.code !== 0) throw new Error(`zstd failed: ${zr.stderr}`);
    await fsyncPath(tmp);
    await rename(tmp, output);
    await fsyncPath(dirname(output));
  } catch (e) {
    tar.destroy();
    z.child.kill('SIGKILL');
    await rm(tmp, { force: true });
    throw e;
  }
  const packageBytes = (await stat(output)).size;
  return { file: output, digest: `sha256:${digest}`, name: index.name, version: index.version, arch, files: files.length, appBytes: index.totals.bytes, packageBytes };
}

/** Streams a file into the tar; a file that changed size since hashing makes tar-stream fail. */
function addStreamEntry(tar: Pack, header: Record<string, unknown>, abs: string): Promise<void> {
  return new Promise((res, rej) => {
    const sink = tar.entry(header as Parameters<Pack['entry']>[0], (err) => (err ? rej(new NisoError('NISO2007', `${abs} changed while it was being packed`, { path: abs, hint: 'pack again when nothing writes to the app directory', cause: err })) : res()));
    createReadStream(abs).on('error', rej).pipe(sink);
  });
}

function addEntry(tar: Pack, header: Record<string, unknown>, data?: Buffer): Promise<void> {
  return new Promise((res, rej) => {
    tar.entry(header as Parameters<Pack['entry']>[0], data ?? Buffer.alloc(0), (err) => (err ? rej(err) : res()));
  });
}

