// The .niso format's table of contents: every file with path, mode, size and sha256, in a
// canonical JSON whose sha256 is the package digest. The digest therefore covers the manifest
// and every byte of content, yet does not depend on tar framing, timestamps or compression.
import { z } from 'zod';
import { NisoError } from '../../errors/niso-error.js';
import { symlinkStaysInside } from './symlink.js';

export { symlinkStaysInside };

export const FORMAT_VERSION = 1;
export const INDEX_PATH = 'niso/index.json';
export const MANIFEST_PATH = 'niso/manifest.toml';
export const APP_PREFIX = 'app/';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

const fileEntry = z.strictObject({ path: z.string(), type: z.literal('file'), mode: z.union([z.literal(0o644), z.literal(0o755)]), size: z.number().int().min(0), sha256: sha256Hex });
const dirEntry = z.strictObject({ path: z.string(), type: z.literal('dir') });
const symlinkEntry = z.strictObject({ path: z.string(), type: z.literal('symlink'), target: z.string().min(1).max(4096) });

const entrySchema = z.discriminatedUnion('type', [fileEntry, dirEntry, symlinkEntry]);
const indexSchema = z.strictObject({
  format: z.number().int(),
  name: z.string(),
  version: z.string(),
  arch: z.string(),
  manifest: z.strictObject({ size: z.number().int().min(0), sha256: sha256Hex }),
  totals: z.strictObject({ files: z.number().int().min(0), bytes: z.number().int().min(0) }),
  /**
   * The runtime `niso pack` found for `[runtime] use` on the machine it packed on: what the app was packed (and, on
   * that machine, tested) with. Absent when the manifest names none or that machine had none.
   */
  runtime: z.strictObject({
    name: z.string().max(64),
    version: z.string().max(64),
    source: z.enum(['configured', 'installed', 'discovered']),
    digest: z.string().regex(/^sha256:[0-9a-f]{64}$/).optional(),
  }).optional(),
  entries: z.array(z.unknown()),
});

const HEX64 = /^[0-9a-f]{64}$/;
/**
 * The common entry shapes, checked without zod: indexes of big apps have tens of thousands of
 * entries and a schema walk per entry showed up in install profiles. Anything unusual falls
 * back to the schema for its error message.
 */
function isPlainEntry(e: unknown): e is IndexEntry {
  if (e === null || typeof e !== 'object') return false;
  const o = e as Record<string, unknown>;
  const keys = Object.keys(o).length;
  if (typeof o.path !== 'string') return false;
  if (o.type === 'file') return keys === 5 && (o.mode === 0o644 || o.mode === 0o755) && Number.isSafeInteger(o.size) && (o.size as number) >= 0 && typeof o.sha256 === 'string' && HEX64.test(o.sha256);
  if (o.type === 'dir') return keys === 2;
  if (o.type === 'symlink') return keys === 3 && typeof o.target === 'string' && o.target.length > 0 && o.target.length <= 4096;
  return false;
}

export type FileEntry = z.infer<typeof fileEntry>;
export type DirEntry = z.infer<typeof dirEntry>;
export type SymlinkEntry = z.infer<typeof symlinkEntry>;
export type IndexEntry = FileEntry | DirEntry | SymlinkEntry;
export type PackageIndex = Omit<z.infer<typeof indexSchema>, 'entries'> & { entries: IndexEntry[] };

/** The runtime a package was packed with, in words: its version and whether niso's store (with the digest) or the host had it. */
export function describePacked(p: NonNullable<PackageIndex['runtime']>): string {
  return `${p.name} ${p.version} (${p.source === 'installed' ? `installed in niso's store, ${p.digest ?? 'no digest'}` : `the host's, ${p.source}`})`;
}

/** Sorting by UTF-16 code units is stable on every machine; the tar and the index share it. */
export const comparePaths = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Canonical bytes: fixed key order, entries sorted, one entry per line for readable diffs. */
export function serializeIndex(index: PackageIndex): string {
  const entries = [...index.entries].sort((a, b) => comparePaths(a.path, b.path));
  const line = (e: IndexEntry) =>
    e.type === 'file' ? JSON.stringify({ path: e.path, type: e.type, mode: e.mode, size: e.size, sha256: e.sha256 })
      : e.type === 'dir' ? JSON.stringify({ path: e.path, type: e.type })
        : JSON.stringify({ path: e.path, type: e.type, target: e.target });
  const head = [
    `"format":${JSON.stringify(index.format)}`, `"name":${JSON.stringify(index.name)}`, `"version":${JSON.stringify(index.version)}`,
    `"arch":${JSON.stringify(index.arch)}`, `"manifest":${JSON.stringify({ size: index.manifest.size, sha256: index.manifest.sha256 })}`,
    `"totals":${JSON.stringify({ files: index.totals.files, bytes: index.totals.bytes })}`,
    // Only when recorded, so that the digest of a package without one is what it always was.
    ...(index.runtime ? [`"runtime":${JSON.stringify({ name: index.runtime.name, version: index.runtime.version, source: index.runtime.source, ...(index.runtime.digest ? { digest: index.runtime.digest } : {}) })}`] : []),
  ];
  return `{${head.join(',')},"entries":[\n${entries.map(line).join(',\n')}\n]}\n`;
}

/**
 * How long a path inside a package may be, in bytes. Below the store directory
 * (`/var/lib/niso/store/<digest>-<name>-<version>/app/`, about 200 bytes) every file must stay
 * within Linux's PATH_MAX of 4096, so a package leaves room for that prefix and for NISO_ROOT.
 */
export const MAX_PATH_BYTES = 3072;
const MAX_NAME_BYTES = 255;

/**
 * Anything that might make a path unsafe: a NUL, a leading or trailing `/`, an empty, `.` or `..` component, or a
 * component long enough (86 UTF-16 units) that its UTF-8 bytes might pass 255. A path with none of these and at most
 * 1024 units (3072 bytes at most) is safe without splitting it: one regex test instead of a split and three scans,
 * which a 14,600-entry index paid at every install. Anything the test flags goes through the exact rules below, which
 * also choose the message.
 */
const MAYBE_UNSAFE = /\0|^\/|\/\/|\/$|(?:^|\/)\.\.?(?:\/|$)|[^/]{86}/;

/** Why a path inside a package is unsafe, or null if it is a plain relative path. */
export function unsafePathReason(path: string): string | null {
  if (path !== '' && path.length <= MAX_PATH_BYTES / 3 && !MAYBE_UNSAFE.test(path)) return null;
  if (path === '') return 'is empty';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (path.startsWith('/')) return 'is absolute';
  // A UTF-16 unit is at most 3 UTF-8 bytes: most paths are decided without counting bytes.
  if (path.length * 3 > MAX_PATH_BYTES && Buffer.byteLength(path) > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
  const segs = path.split('/');
  if (segs.some((s) => s === '..')) return 'contains ".."';
  if (segs.some((s) => s === '' || s === '.')) return 'is not normalised (empty or "." component)';
  if (segs.some((s) => s.length * 3 > MAX_NAME_BYTES && Buffer.byteLength(s) > MAX_NAME_BYTES)) return `has a component longer than ${MAX_NAME_BYTES} bytes`;
  return null;
}

/**
 * Where a symlink leads, resolved the way the kernel would inside the app (following the package's other symlinks):
 * the path it ends at, relative to the app ("" for the app itself), or null when it leaves the app, is absolute, or
 * loops. Whether something exists there is the caller's to say.
 */
export function resolveLink(links: ReadonlyMap<string, string>, linkPath: string): string | null {
  const start = links.get(linkPath);
  if (start === undefined) return linkPath;
  if (start.startsWith('/')) return null;
  let hops = 0;
  // Walk from the app root: first the link's own directory, then its target, expanding links.
  let todo = [...linkPath.split('/').slice(0, -1), ...start.split('/')];
  const cur: string[] = [];
  while (todo.length > 0) {
    const seg = todo.shift()!;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (cur.length === 0) return null;
      cur.pop();
      continue;
    }
    const here = [...cur, seg].join('/');
    const target = links.get(here);
    if (target !== undefined) {
      if (++hops > 40 || target.startsWith('/')) return null;
      todo = [...target.split('/'), ...todo];
      continue;
    }
    cur.push(seg);
  }
  return cur.join('/');
}

/**
 * Symlinks that lead nowhere inside a tree (`kinds`: every path it has, "" for its top): resolved through its own links
 * (never through the host's filesystem, where a path that leaves the tree could find something), to an entry the tree
 * does not have, out of it, or in a loop. In a package they would only fail at run time (links into /etc/alternatives,
 * at files left out).
 */
export function danglingLinks(kinds: ReadonlyMap<string, unknown>, links: ReadonlyMap<string, string>): string[] {
  return [...links.keys()].filter((l) => {
    const to = resolveLink(links, l);
    return to === null || !kinds.has(to);
  }).sort();
}

/**
 * Whether a symlink, resolved the way the kernel would inside the app (following the package's
 * other symlinks), stays inside. A lexical check alone is fooled by chains: with `b -> .`,
 * `s -> b/..` looks like the app root but resolves to its parent.
 */
export function resolvesInside(links: ReadonlyMap<string, string>, linkPath: string): boolean {
  return resolveLink(links, linkPath) !== null;
}

/** What the structure rules look at: an index entry, or an entry pack is about to write. */
export interface EntryShape { path: string; type: IndexEntry['type']; target?: string }

/** Why a set of entries cannot be unpacked safely; pack and install both refuse it. */
export type StructureProblem =
  | { kind: 'unsafe-path'; path: string; reason: string }
  | { kind: 'duplicate'; path: string }
  | { kind: 'symlink-leaves'; path: string; target: string }
  | { kind: 'symlink-chain-leaves'; path: string; target: string }
  | { kind: 'below-symlink'; path: string; parent: string }
  | { kind: 'below-file'; path: string; parent: string };

/**
 * The first entry that cannot be unpacked as it reads: an unsafe path, a path listed twice, a
 * symlink that leaves the app on its own or through other symlinks, or an entry below a symlink
 * (writing it would go through the link) or below a file.
 */
export function findStructureProblem(entries: readonly EntryShape[]): StructureProblem | null {
  const types = new Map<string, EntryShape['type']>();
  const links = new Map<string, string>();
  for (const e of entries) {
    const why = unsafePathReason(e.path);
    if (why) return { kind: 'unsafe-path', path: e.path, reason: why };
    if (types.has(e.path)) return { kind: 'duplicate', path: e.path };
    types.set(e.path, e.type);
    if (e.type === 'symlink') {
      const target = e.target ?? '';
      if (!symlinkStaysInside(e.path, target)) return { kind: 'symlink-leaves', path: e.path, target };
      links.set(e.path, target);
    }
  }
  // Each entry's ancestors, nearest first, up to the first one listed as a directory: that directory's own ancestors
  // are checked as an entry of its own. One lookup per entry in the usual tree (every directory listed), instead of
  // one per path component (install profiles of a 14,600-file app showed the per-component walk).
  for (const e of entries) {
    for (let i = e.path.lastIndexOf('/'); i > 0; i = e.path.lastIndexOf('/', i - 1)) {
      const parent = e.path.slice(0, i);
      const t = types.get(parent);
      if (t === 'dir') break;
      if (t === 'symlink') return { kind: 'below-symlink', path: e.path, parent };
      if (t === 'file') return { kind: 'below-file', path: e.path, parent };
    }
  }
  for (const [path, target] of links) {
    if (!resolvesInside(links, path)) return { kind: 'symlink-chain-leaves', path, target };
  }
  return null;
}

/** The problem in words, after the entry's place (a package file, or the app directory). */
export function describeStructureProblem(p: StructureProblem): string {
  switch (p.kind) {
    case 'unsafe-path': return `"${p.path}" ${p.reason}`;
    case 'duplicate': return `"${p.path}" appears twice`;
    case 'symlink-leaves': return `symlink "${p.path}" points outside the app ("${p.target}")`;
    case 'symlink-chain-leaves': return `symlink "${p.path}" -> "${p.target}" resolves outside the app through other symlinks`;
    case 'below-symlink': return `"${p.path}" lies below the symlink "${p.parent}"`;
    case 'below-file': return `"${p.path}" lies below "${p.parent}", which is a file`;
  }
}

/** The code install gives each problem: links have their own, paths theirs, the rest is a bad index. */
const INDEX_PROBLEM_CODE: Record<StructureProblem['kind'], string> = {
  'unsafe-path': 'NISO2102', duplicate: 'NISO2106', 'symlink-leaves': 'NISO2103', 'symlink-chain-leaves': 'NISO2103', 'below-symlink': 'NISO2103', 'below-file': 'NISO2110',
};

/** Parses and checks an index read from a package; every problem is a NISO2110 naming the file. */
export function parseIndex(text: string, source: string): PackageIndex {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new NisoError('NISO2110', `${source}: ${INDEX_PATH} is not valid JSON (${(e as Error).message})`, { path: source, exitCode: 2 });
  }
  if (raw && typeof raw === 'object' && 'format' in raw && typeof raw.format === 'number' && raw.format > FORMAT_VERSION) {
    throw new NisoError('NISO2112', `${source}: package format ${raw.format} is newer than this niso reads (${FORMAT_VERSION})`, { path: source, hint: 'upgrade niso', exitCode: 2 });
  }
  // The entries are checked one by one below without zod; the schema walks only the head (a schema pass over an
  // array of 14,600 entries copied it and cost an install more than the rest of the check). An entries field that is
  // not an array goes through the whole schema, for its message.
  const rawEntries = raw && typeof raw === 'object' && 'entries' in raw ? raw.entries : undefined;
  const listed = Array.isArray(rawEntries);
  const r = indexSchema.safeParse(listed ? { ...(raw as object), entries: [] } : raw);
  if (r.success && listed) r.data.entries = rawEntries;
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new NisoError('NISO2110', `${source}: ${INDEX_PATH} is malformed at ${issue.path.join('.') || 'top level'}: ${issue.message}`, { path: source, exitCode: 2, hint: 'the package was not made by niso or is damaged' });
  }
  for (const [i, e] of r.data.entries.entries()) {
    if (isPlainEntry(e)) continue;
    const er = entrySchema.safeParse(e);
    const issue = er.success ? { path: [], message: 'unexpected keys' } : er.error.issues[0]!;
    throw new NisoError('NISO2110', `${source}: ${INDEX_PATH} is malformed at entries.${i}${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}`, { path: source, exitCode: 2, hint: 'the package was not made by niso or is damaged' });
  }
  const index = r.data as PackageIndex;
  if (index.format !== FORMAT_VERSION) throw new NisoError('NISO2112', `${source}: unsupported package format ${index.format}`, { path: source, exitCode: 2 });
  const problem = findStructureProblem(index.entries);
  if (problem) {
    throw new NisoError(INDEX_PROBLEM_CODE[problem.kind], `${source}: ${describeStructureProblem(problem)} (in its index)`, { path: source, exitCode: 2, hint: 'do not install packages from this source' });
  }
  let files = 0;
  let bytes = 0;
  for (const e of index.entries) if (e.type === 'file') { files++; bytes += e.size; }
  if (index.totals.files !== files || index.totals.bytes !== bytes) {
    throw new NisoError('NISO2110', `${source}: index totals (${index.totals.files} files, ${index.totals.bytes} bytes) do not match its entries (${files} files, ${bytes} bytes)`, { path: source, exitCode: 2 });
  }
  return index;
}
