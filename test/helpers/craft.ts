// Crafts .niso files byte by byte, including hostile ones that niso itself would never write,
// to prove that install refuses them.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Header, Pax } from 'tar';
import { serializeIndex, type IndexEntry, type PackageIndex } from '../../src/package/format/package-index.js';

export interface RawEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  data?: string | Buffer;
  mode?: number;
  linkname?: string;
  /** Overrides the header's size field with this number in base-256 (GNU's encoding for huge sizes). */
  base256Size?: bigint;
}

export const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

export function manifestText(name = 'evil', version = '1.0.0', arch = 'any'): string {
  return `[package]\nname = "${name}"\nversion = "${version}"\narch = "${arch}"\n\n[runtime]\nuse = "nodejs:20"\n\n[binary]\nentrypoint = "node"\nargs = ["server.js"]\n`;
}

/** A consistent index for the given app files, to be corrupted (or not) by the caller. */
export function indexFor(files: Record<string, string>, opts: { manifest?: string | Buffer; name?: string; version?: string; arch?: string; extra?: IndexEntry[] } = {}): PackageIndex {
  const manifest = opts.manifest ?? manifestText(opts.name, opts.version, opts.arch);
  const entries: IndexEntry[] = Object.entries(files).map(([path, content]) => ({ path, type: 'file', mode: 0o644, size: Buffer.byteLength(content), sha256: sha(content) }));
  entries.push(...(opts.extra ?? []));
  const fileEntries = entries.filter((e) => e.type === 'file') as { size: number }[];
  return {
    format: 1, name: opts.name ?? 'evil', version: opts.version ?? '1.0.0', arch: opts.arch ?? 'any',
    manifest: { size: Buffer.byteLength(manifest), sha256: sha(manifest) },
    totals: { files: fileEntries.length, bytes: fileEntries.reduce((n, e) => n + e.size, 0) },
    entries,
  };
}

const TYPE: Record<NonNullable<RawEntry['type']>, string> = {
  file: 'File', directory: 'Directory', symlink: 'SymbolicLink', link: 'Link',
  'character-device': 'CharacterDevice', 'block-device': 'BlockDevice', fifo: 'FIFO',
};

/** A tar of exactly these entries, written header by header with node-tar's codec. */
export async function tarBytes(entries: RawEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const block = Buffer.alloc(512);
    const h = new Header({ path: e.name, type: TYPE[e.type ?? 'file'] as never, mode: e.mode ?? 0o644, linkpath: e.linkname ?? '', size: data.length, mtime: new Date(0), uid: 0, gid: 0 });
    if (h.encode(block, 0)) parts.push(new Pax({ path: e.name, linkpath: e.linkname }).encode());
    if (e.base256Size !== undefined) setBase256Size(block, e.base256Size);
    parts.push(block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function setBase256Size(block: Buffer, size: bigint): void {
  block.fill(0, 124, 136);
  block[124] = 0x80;
  block.writeBigUInt64BE(size, 128);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

export function zstd(data: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr}`);
  return r.stdout;
}

/** A whole package: index first, then manifest, then the given app entries. */
export async function craftPackage(file: string, index: PackageIndex, appEntries: RawEntry[], opts: { manifest?: string | Buffer; indexText?: string; head?: RawEntry[] } = {}): Promise<void> {
  const manifest = opts.manifest ?? manifestText(index.name, index.version, index.arch);
  const head = opts.head ?? [
    { name: 'niso/index.json', data: opts.indexText ?? serializeIndex(index) },
    { name: 'niso/manifest.toml', data: manifest },
  ];
  writeFileSync(file, zstd(await tarBytes([...head, ...appEntries])));
}

/** App entries that match an index made by indexFor(files). */
export function appEntries(files: Record<string, string>): RawEntry[] {
  return Object.entries(files).map(([path, data]) => ({ name: `app/${path}`, data }));
}
