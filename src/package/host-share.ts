// What a package takes from the host when it runs, told truthfully for `niso inspect`: a runtime, the libraries a
// dynamically linked binary loads from the host, or (a package built from Debian packages, or a static binary) the
// kernel alone. Read from the installed files, or from a .niso file without installing it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../manifest/schema.js';
import { elfClosure } from '../runtime/elf-closure.js';
import { isElf, readElfDynamic } from './format/elf.js';
import { DEFAULT_LIMITS, readPackage } from './read-package.js';
import { DEBIAN_RECORD, type DebianRecord } from './format/debian-record.js';

/** The host files niso mounts into every sandbox when the host has them. */
const HOST_FILES = '/etc/localtime, the CA bundle and /etc/resolv.conf when the host has them';

export interface HostShare {
  /** runtime: a host runtime; host-libraries: a dynamic binary's libraries; kernel: nothing else of the host. */
  kind: 'runtime' | 'host-libraries' | 'kernel' | 'unknown';
  /** One line for the "runtime" row. */
  summary: string;
  /** Further rows (Debian packages, libraries). */
  rows: [string, string][];
  /** host-libraries: the libraries, by the path the loader finds them at (installed) or by name (a .niso file: direct ones). */
  libraries?: string[];
  debian?: DebianRecord;
}

/** Files of a package by path, read from the store directory or the .niso file (only those asked for). */
async function packageFiles(from: { appDir: string } | { file: string }, paths: string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  if ('appDir' in from) {
    for (const p of paths) { try { out.set(p, readFileSync(join(from.appDir, p))); } catch { /* absent */ } }
    return out;
  }
  const wanted = new Set(paths);
  await readPackage(from.file, DEFAULT_LIMITS, {
    file(entry, data) { if (wanted.has(entry.path)) out.set(entry.path, data); },
    largeFile(entry) {
      const chunks: Buffer[] = [];
      return { data: (c) => { if (wanted.has(entry.path)) chunks.push(Buffer.from(c)); }, end: () => { if (wanted.has(entry.path)) out.set(entry.path, Buffer.concat(chunks)); }, abort() {} };
    },
  });
  return out;
}

export async function whatComesFromTheHost(m: Manifest, from: { appDir: string } | { file: string }): Promise<HostShare> {
  if (m.runtime) {
    const r = m.runtime;
    return { kind: 'runtime', summary: r.digest ? `${r.use.name}:${r.use.version} pinned to the build ${r.digest} (installed in niso's store)` : `${r.use.name}:${r.use.version} (from the host or niso's store)`, rows: [] };
  }
  if (m.debian) {
    const rec = (await packageFiles(from, [DEBIAN_RECORD])).get(DEBIAN_RECORD);
    if (!rec) return { kind: 'unknown', summary: `none: built from Debian packages (${m.debian.packages.join(', ')}), but the package has no ${DEBIAN_RECORD}`, rows: [] };
    const d = JSON.parse(rec.toString('utf8')) as DebianRecord;
    const libs = d.fromHost.length === 0
      ? `${d.libraries.total} shared objects (the loader included), all from the Debian packages`
      : `${d.libraries.total} shared objects: ${d.libraries.fromPackages} from the Debian packages, ${d.fromHost.length} copied from the host that packed it (${d.fromHost.map((f) => f.path).join(', ')})`;
    return {
      kind: 'kernel',
      summary: `none: self-contained, from ${d.packages.length} Debian packages; from this host only the kernel (and ${HOST_FILES})`,
      rows: [['debian', d.packages.map((p) => `${p.name} ${p.version}`).join(', ')], ['libraries', libs]],
      debian: d,
    };
  }
  const ep = m.binary.entrypoint.replace(/^\/app\//, '').replace(/^\.\//, '');
  if ('appDir' in from) {
    // Installed: the same closure a start mounts, found by the host's loader.
    const mounts = await elfClosure(join(from.appDir, ep)).catch(() => null);
    if (mounts === null) return { kind: 'unknown', summary: `none, but the host's loader could not tell which libraries ${ep} needs`, rows: [] };
    if (mounts.length === 0) return { kind: 'kernel', summary: `none: ${ep} is a static binary; from the host only the kernel (and ${HOST_FILES})`, rows: [] };
    const libs = mounts.map((x) => x.target).sort();
    return { kind: 'host-libraries', summary: `none, but ${ep} is dynamically linked: ${libs.length} librar${libs.length === 1 ? 'y comes' : 'ies come'} from the host, mounted read-only at each start`, rows: [['host libs', libs.join(', ')]], libraries: libs };
  }
  const bytes = (await packageFiles(from, [ep])).get(ep);
  if (!bytes || !isElf(bytes)) return { kind: 'unknown', summary: `none: ${ep} is not an ELF binary, so what it needs from the host is not known`, rows: [] };
  const elf = readElfDynamic(bytes);
  if (elf && elf.interpreter === null && elf.needed.length === 0) return { kind: 'kernel', summary: `none: ${ep} is a static binary; from the host only the kernel (and ${HOST_FILES})`, rows: [] };
  const libs = [...(elf?.needed ?? [])].sort();
  return { kind: 'host-libraries', summary: `none, but ${ep} is dynamically linked: it loads ${libs.length} librar${libs.length === 1 ? 'y' : 'ies'} from the host and what they need (install it to see them all)`, rows: [['host libs', `${libs.join(', ')}${elf?.interpreter ? `, ${elf.interpreter}` : ''}`]], libraries: libs };
}
