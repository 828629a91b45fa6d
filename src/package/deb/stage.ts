// Builds the root of a package from Debian packages (`[debian]` in the manifest): the .debs of the closure unpacked
// without their maintainer scripts, merged /usr (as Debian 12 hosts are), symlinks made relative so that they stay
// inside the package, documentation left out, and every shared library the programs load, found in the root first and
// otherwise copied from the host. debian.json at the root records what came from where.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { run } from '../../host/exec.js';
import { readHead } from '../../host/read-bounded.js';
import { hostArchNames } from '../../host/arch.js';
import { defaultLibraryDirs, expandSearchEntry, isElf, multiarchOf, readElfDynamic, type ElfDynamic } from '../format/elf.js';
import { fetchDebs, resolveDebClosure, type DebFile } from './apt.js';
import { describeMissingLibraries, parseDebContents } from './apt-output.js';
import { findLibraryOwners } from '../../host/deb-owner.js';
import { danglingLinks } from '../format/package-index.js';
import { LddCache } from '../../runtime/elf-closure.js';
import { DEBIAN_RECORD, MERGED_DIRS, mergedPath, type DebianRecord } from '../format/debian-record.js';
import { archBy } from '../format/arches.js';

/** Left out of the root: documentation, and what only an init system or a package manager reads. */
const DROPPED = ['usr/share/doc', 'usr/share/doc-base', 'usr/share/man', 'usr/share/info', 'usr/share/lintian', 'usr/share/bug', 'usr/share/bash-completion', 'usr/lib/systemd', 'lib/systemd', 'etc/init.d', 'etc/systemd', 'etc/logrotate.d', 'etc/cron.d', 'etc/cron.daily', 'var', 'run'];


function walk(root: string, rel: string, visit: (rel: string, st: Stats) => void): void {
  for (const name of readdirSync(join(root, rel)).sort()) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(join(root, r));
    visit(r, st);
    if (st.isDirectory()) walk(root, r, visit);
  }
}

/** A name that merged /usr has twice, from its top-level directory and from /usr, with different contents. */
interface Aliased { kept: string; dropped: string }

/**
 * Moves everything below `from` into `to` (the root's /X into /usr/X): a name in both is one file of merged /usr. A
 * link that, in its merged place, points at itself (a /lib compatibility link to the /usr file, or the reverse) gives
 * way to the other; the same content twice is one file; two different ones keep the /usr one and are returned, so
 * that pack can say which packages disagree.
 */
function mergeInto(root: string, from: string, to: string, aliased: Aliased[]): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const a = join(from, name);
    const b = join(to, name);
    const sa = lstatSync(a);
    const sb = lstatSync(b, { throwIfNoEntry: false });
    if (!sb) { renameSync(a, b); continue; }
    if (sa.isDirectory() && sb.isDirectory()) { mergeInto(root, a, b, aliased); continue; }
    const pointsAtItself = (p: string, st: Stats) => st.isSymbolicLink() && posix.join(to, readlinkSync(p)) === b;
    if (pointsAtItself(b, sb) && !pointsAtItself(a, sa)) { rmSync(b, { recursive: true, force: true }); renameSync(a, b); continue; }
    if (pointsAtItself(a, sa) || sameEntry(a, sa, b, sb)) continue;
    aliased.push({ kept: `/${b.slice(root.length + 1)}`, dropped: `/${a.slice(root.length + 1)}` });
  }
  rmSync(from, { recursive: true, force: true });
}

/** Two files with the same bytes, or two symlinks with the same target (relative ones: both sit in the same place after the merge). */
function sameEntry(a: string, sa: Stats, b: string, sb: Stats): boolean {
  if (sa.isSymbolicLink() && sb.isSymbolicLink()) return readlinkSync(a) === readlinkSync(b);
  return sa.isFile() && sb.isFile() && sa.size === sb.size && readFileSync(a).equals(readFileSync(b));
}

/** Which .debs ship each path (asked only when merged /usr found two different files of one name). */
async function ownersOf(debs: readonly DebFile[], paths: readonly string[]): Promise<Map<string, string[]>> {
  const wanted = new Set(paths);
  const out = new Map<string, string[]>(paths.map((p) => [p, []]));
  for (const d of debs) {
    const r = await run('dpkg-deb', ['-c', d.file], { env: { LC_ALL: 'C', PATH: '/usr/bin:/bin' } });
    for (const p of parseDebContents(r.stdout)) if (wanted.has(p)) out.get(p)!.push(d.name);
  }
  return out;
}

/** Every entry of the root by its path (relative), and its symlinks with their targets: the package's own view. */
function readTree(root: string): { kinds: Map<string, 'file' | 'dir' | 'link'>; links: Map<string, string> } {
  const kinds = new Map<string, 'file' | 'dir' | 'link'>([['', 'dir']]);
  const links = new Map<string, string>();
  walk(root, '', (rel, st) => {
    if (st.isSymbolicLink()) { kinds.set(rel, 'link'); links.set(rel, readlinkSync(join(root, rel))); }
    else kinds.set(rel, st.isDirectory() ? 'dir' : 'file');
  });
  return { kinds, links };
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

export interface StageResult {
  record: DebianRecord;
  /** What the user should know about the root (files merged /usr had twice). */
  warnings: string[];
}

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
  const missing: { name: string; by: string }[] = [];
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
      if (host === undefined) { missing.push({ name, by: path }); continue; }
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
    const names = [...new Set(missing.map((m) => m.name))].sort();
    const owners = await findLibraryOwners(names.slice(0, 5));
    const { text } = describeMissingLibraries(owners);
    const add = [...new Set(owners.flatMap((o) => o.available.slice(0, 1).map((x) => x.package)))];
    const users = [...new Set(missing.filter((m) => names.slice(0, 5).includes(m.name)).map((m) => m.by))].sort();
    throw new NisoError('NISO2305', `${names.length} librar${names.length === 1 ? 'y is' : 'ies are'} in neither the Debian packages nor on this host: ${text}${names.length > 5 ? ', …' : ''}; needed by ${users.slice(0, 5).join(', ')}${users.length > 5 ? ', …' : ''}`, {
      exitCode: 1,
      hint: add.length > 0
        ? `add ${add.join(', ')} to [debian] packages, or leave out what needs ${names.length === 1 ? 'it' : 'them'} with [debian] exclude`
        : 'add the Debian package that ships it to [debian] packages (find it with `apt-file search NAME` after `apt-get install apt-file && apt-file update`), or leave out what needs it with [debian] exclude',
    });
  }
  fromHost.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { fromHost, total: resolved.size, extraDirs: extra };
}


/**
 * Merged /usr, as Debian 12 hosts have it: every symlink made relative to where it pointed, seen from its place below
 * /usr (while each still sits where its .deb put it), then /bin, /sbin, /lib* moved below /usr. Two different files
 * of one merged name are told with the packages that shipped them (the /usr one is kept).
 */
export async function mergeUsr(root: string, debs: readonly DebFile[]): Promise<{ conflicts: NonNullable<DebianRecord['conflicts']>; warnings: string[] }> {
  relativiseLinks(root);
  const aliased: Aliased[] = [];
  for (const top of MERGED_DIRS) {
    const from = join(root, top);
    const st = lstatSync(from, { throwIfNoEntry: false });
    if (st?.isDirectory()) mergeInto(root, from, join(root, 'usr', top), aliased);
    else if (st) rmSync(from, { force: true });
  }
  const warnings: string[] = [];
  const conflicts: NonNullable<DebianRecord['conflicts']> = [];
  if (aliased.length === 0) return { conflicts, warnings };
  const owners = await ownersOf(debs, aliased.flatMap((x) => [x.kept, x.dropped]));
  const who = (names: string[]) => (names.length > 0 ? names.join(', ') : 'no package of the closure');
  for (const x of aliased.sort((p, q) => (p.kept < q.kept ? -1 : 1))) {
    const keptFrom = owners.get(x.kept) ?? [];
    const droppedFrom = owners.get(x.dropped) ?? [];
    conflicts.push({ path: x.kept, keptFrom, droppedFrom });
    warnings.push(`${x.dropped} (from ${who(droppedFrom)}) and ${x.kept} (from ${who(keptFrom)}) differ, and merged /usr has room for one: the package has the /usr one; leave out the other package with [debian] exclude if its file is the one meant`);
  }
  return { conflicts, warnings };
}

/** Removes the root's symlinks that lead nowhere inside it (see danglingLinks) and returns them. */
export function dropDanglingLinks(root: string): string[] {
  const { kinds, links } = readTree(root);
  const dropped = danglingLinks(kinds, links);
  for (const l of dropped) unlinkSync(join(root, l));
  return dropped;
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
  const { conflicts, warnings } = await mergeUsr(o.root, files);
  const droppedLinks = dropDanglingLinks(o.root);
  // Packages of architecture "all" only (data, scripts): the host's, which apt chose them for.
  const debArch = files.find((f) => f.arch !== 'all')?.arch ?? hostArchNames()?.debian ?? 'amd64';
  const multiarch = archBy('debian', debArch)?.multiarch ?? multiarchGuess(o.root);
  const libs = await closeLibraries(o.root, multiarch);
  const record: DebianRecord = {
    format: 1,
    arch: archBy('debian', debArch)?.niso ?? debArch,
    multiarch,
    packages: files.map((f) => ({ name: f.name, version: f.version, arch: f.arch, sha256: f.sha256, size: f.size, file: f.file.slice(f.file.lastIndexOf('/') + 1) })),
    excluded: dropped,
    libraries: { total: libs.total, fromPackages: libs.total - libs.fromHost.length },
    fromHost: libs.fromHost,
    droppedLinks,
    libraryPath: libs.extraDirs,
    ...(conflicts.length > 0 ? { conflicts } : {}),
  };
  writeFileSync(join(o.root, DEBIAN_RECORD), JSON.stringify(record, null, 2) + '\n');
  return { record, warnings };
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
  return hostArchNames()?.multiarch ?? 'x86_64-linux-gnu';
}
