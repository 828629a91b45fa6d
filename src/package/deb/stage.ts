// Builds the root of a package from Debian packages (`[debian]` in the manifest): the .debs of the closure unpacked
// without their maintainer scripts, merged /usr (as Debian 12 hosts are), symlinks made relative so that they stay
// inside the package, documentation left out, and every shared library the programs load, found in the root first and
// otherwise copied from the host. debian.json at the root records what came from where.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, closeSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { run } from '../../host/exec.js';
import { defaultLibraryDirs, expandSearchEntry, isElf, multiarchOf, readElfDynamic, type ElfDynamic } from '../format/elf.js';
import { fetchDebs, resolveDebClosure, type DebFile } from './apt.js';
import { LddCache } from '../../runtime/elf-closure.js';
import { DEBIAN_RECORD, MERGED_DIRS, mergedPath, type DebianRecord } from '../format/debian-record.js';

/** Left out of the root: documentation, and what only an init system or a package manager reads. */
const DROPPED = ['usr/share/doc', 'usr/share/doc-base', 'usr/share/man', 'usr/share/info', 'usr/share/lintian', 'usr/share/bug', 'usr/share/bash-completion', 'usr/lib/systemd', 'lib/systemd', 'etc/init.d', 'etc/systemd', 'etc/logrotate.d', 'etc/cron.d', 'etc/cron.daily', 'var', 'run'];


const DEB_ARCH: Record<string, string> = { amd64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', i386: 'i386-linux-gnu', armhf: 'arm-linux-gnueabihf' };
const NISO_ARCH: Record<string, string> = { amd64: 'x86_64', arm64: 'aarch64', i386: 'i686', armhf: 'armv7' };

function walk(root: string, rel: string, visit: (rel: string, st: Stats) => void): void {
  for (const name of readdirSync(join(root, rel)).sort()) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(join(root, r));
    visit(r, st);
    if (st.isDirectory()) walk(root, r, visit);
  }
}

/** Moves everything below `from` into `to`, keeping what is there already (a name in both is one file of merged /usr). */
function mergeInto(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const a = join(from, name);
    const b = join(to, name);
    const sa = lstatSync(a);
    const sb = lstatSync(b, { throwIfNoEntry: false });
    if (!sb) renameSync(a, b);
    else if (sa.isDirectory() && sb.isDirectory()) mergeInto(a, b);
  }
  rmSync(from, { recursive: true, force: true });
}

/** Every symlink as a relative link to where it pointed, seen from its place under merged /usr. */
function relativiseLinks(root: string): void {
  walk(root, '', (rel, st) => {
    if (!st.isSymbolicLink()) return;
    const link = `/${rel}`;
    const target = readlinkSync(join(root, rel));
    const abs = target.startsWith('/') ? posix.normalize(target) : posix.normalize(posix.join(posix.dirname(link), target));
    const from = posix.dirname(mergedPath(link));
    const to = mergedPath(abs);
    const relTarget = posix.relative(from, to) || '.';
    if (relTarget !== target) {
      unlinkSync(join(root, rel));
      symlinkSync(relTarget, join(root, rel));
    }
  });
}

function readHead(file: string, n: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    const got = readSync(fd, b, 0, n, 0);
    return b.subarray(0, got);
  } finally { closeSync(fd); }
}

const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Directories an ld.so.conf.d file of the root adds (the sandbox has no ld.so.cache: they become LD_LIBRARY_PATH). */
function confDirs(root: string): string[] {
  const dir = join(root, 'etc/ld.so.conf.d');
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.conf')) continue;
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const l = line.trim();
      if (l.startsWith('/')) out.push(posix.normalize(l));
    }
  }
  return out;
}

export interface StageResult { record: DebianRecord }

/**
 * The library closure of every ELF object of the root. The loader's rules, applied inside the root: the object's
 * RUNPATH (or RPATH), the ld.so.conf.d directories the root ships, then the loader's default directories; a name found
 * nowhere in the root is looked up in the host's directories (and /etc/ld.so.cache's) and copied into the root's
 * multiarch directory.
 */
async function closeLibraries(root: string, multiarch: string): Promise<{ fromHost: DebianRecord['fromHost']; total: number; extraDirs: string[] }> {
  // Only directories the root has: libc6's own conf names /usr/local/lib/MULTIARCH, which no package fills.
  const extra = confDirs(root).filter((d) => !defaultLibraryDirs(multiarch).includes(d) && existsSync(join(root, mergedPath(d))));
  const inRoot = (abs: string) => existsSync(join(root, mergedPath(abs)));
  // The host's ld.so.cache directories, found as the runtime closures find them.
  const hostDirs = [...defaultLibraryDirs(multiarch), ...[...(await new LddCache().ldconfigDirs())].sort()];
  const objects: { path: string; elf: ElfDynamic }[] = [];
  walk(root, '', (rel, st) => {
    if (!st.isFile() || st.size < 64) return;
    const abs = join(root, rel);
    if (!isElf(readHead(abs, 4))) return;
    const elf = readElfDynamic(readFileSync(abs));
    if (elf && (elf.needed.length > 0 || elf.interpreter !== null)) objects.push({ path: `/${rel}`, elf });
  });
  const fromHost: DebianRecord['fromHost'] = [];
  const missing: string[] = [];
  const resolved = new Set<string>();
  const queue = [...objects];
  while (queue.length > 0) {
    const { path, elf } = queue.shift()!;
    const wanted: { name: string; dirs: string[] }[] = elf.needed.map((name) => ({ name, dirs: [...elf.searchPath.map((e) => expandSearchEntry(e, path, multiarch)), ...extra, ...defaultLibraryDirs(multiarch)] }));
    if (elf.interpreter !== null) wanted.push({ name: posix.basename(elf.interpreter), dirs: [posix.dirname(elf.interpreter)] });
    for (const { name, dirs } of wanted) {
      if (name.includes('/')) continue;
      const found = dirs.find((d) => inRoot(`${d}/${name}`));
      if (found !== undefined) { resolved.add(mergedPath(`${found}/${name}`)); continue; }
      const host = hostDirs.map((d) => `${d}/${name}`).find((p) => existsSync(p));
      if (host === undefined) { missing.push(`${name} (needed by ${path})`); continue; }
      const source = realpathSync(host);
      // The interpreter keeps its own path (the one every executable names); a library goes to the first default dir.
      const dest = elf.interpreter !== null && name === posix.basename(elf.interpreter) ? mergedPath(elf.interpreter) : `/usr/lib/${multiarch}/${name}`;
      mkdirSync(dirname(join(root, dest)), { recursive: true });
      copyFileSync(source, join(root, dest));
      fromHost.push({ path: dest, source, sha256: sha256Of(source), neededBy: path });
      resolved.add(dest);
      const copied = readElfDynamic(readFileSync(source));
      if (copied) queue.push({ path: dest, elf: copied });
    }
  }
  if (missing.length > 0) {
    const shown = [...new Set(missing)].sort();
    throw new NisoError('NISO2305', `${shown.length} librar${shown.length === 1 ? 'y is' : 'ies are'} in neither the Debian packages nor on this host: ${shown.slice(0, 5).join(', ')}${shown.length > 5 ? ', …' : ''}`, { exitCode: 1, hint: 'add the Debian package that ships it to [debian] packages (`apt-file search NAME`), or leave out what needs it with [debian] exclude' });
  }
  fromHost.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { fromHost, total: resolved.size, extraDirs: extra };
}


export interface StageOptions {
  packages: readonly string[];
  exclude: readonly string[];
  /** Where downloaded .debs are kept between packs. */
  cacheDir: string;
  /** An empty directory that becomes the root. */
  root: string;
  /** Scratch space (apt's empty status file). */
  workDir: string;
  onProgress?: (done: number, total: number) => void;
}

export async function stageDebianRoot(o: StageOptions): Promise<StageResult> {
  const { debs, dropped } = await resolveDebClosure(o.packages, o.exclude, o.workDir);
  const files: DebFile[] = await fetchDebs(debs, o.cacheDir, o.onProgress);
  for (const f of files) {
    // -x unpacks the data archive only: no maintainer script runs.
    const r = await run('dpkg-deb', ['-x', f.file, o.root], { env: { LC_ALL: 'C', PATH: '/usr/bin:/bin' } });
    if (r.code !== 0) throw new NisoError('NISO2304', `dpkg-deb -x ${f.file} failed: ${r.stderr.trim()}`, { path: f.file, exitCode: 1, hint: 'leave the package out with [debian] exclude if nothing needs it' });
  }
  for (const d of DROPPED) rmSync(join(o.root, d), { recursive: true, force: true });
  // Links first, while each still sits where its .deb put it; then the directories move below /usr.
  relativiseLinks(o.root);
  for (const top of MERGED_DIRS) {
    const from = join(o.root, top);
    const st = lstatSync(from, { throwIfNoEntry: false });
    if (st?.isDirectory()) mergeInto(from, join(o.root, 'usr', top));
    else if (st) rmSync(from, { force: true });
  }
  // Dangling links (into /etc/alternatives, or at files left out) would only fail at run time.
  const droppedLinks: string[] = [];
  walk(o.root, '', (rel, st) => {
    if (st.isSymbolicLink() && !existsSync(join(o.root, rel))) droppedLinks.push(rel);
  });
  for (const l of droppedLinks) unlinkSync(join(o.root, l));
  const debArch = files[0]?.arch === 'all' ? (files.find((f) => f.arch !== 'all')?.arch ?? 'amd64') : (files[0]?.arch ?? 'amd64');
  const multiarch = DEB_ARCH[debArch] ?? multiarchGuess(o.root);
  const libs = await closeLibraries(o.root, multiarch);
  const record: DebianRecord = {
    format: 1,
    arch: NISO_ARCH[debArch] ?? debArch,
    multiarch,
    packages: files.map((f) => ({ name: f.name, version: f.version, arch: f.arch, sha256: f.sha256, size: f.size, file: f.file.slice(f.file.lastIndexOf('/') + 1) })),
    excluded: dropped,
    libraries: { total: libs.total, fromPackages: libs.total - libs.fromHost.length },
    fromHost: libs.fromHost,
    droppedLinks: droppedLinks.sort(),
    libraryPath: libs.extraDirs,
  };
  writeFileSync(join(o.root, DEBIAN_RECORD), JSON.stringify(record, null, 2) + '\n');
  return { record };
}

function multiarchGuess(root: string): string {
  for (const f of ['usr/bin/sh', 'usr/bin/dash']) {
    const p = join(root, f);
    if (existsSync(p) && statSync(p).isFile()) {
      const e = readElfDynamic(readFileSync(p));
      const m = e ? multiarchOf(e.machine, e.elfClass) : null;
      if (m) return m;
    }
  }
  return 'x86_64-linux-gnu';
}
