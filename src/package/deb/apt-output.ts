// What apt prints, read as data: the packages a simulated install would unpack, the dependency graph among them, and
// an archive index record. Kept apart from the calls so that the closure rules are tested on text alone.

export interface DebRef { name: string; version: string; arch: string }

/** `apt-get -s install` lines: `Inst NAME (VERSION ORIGINS [ARCH])`, in apt's unpack order. */
export function parseSimulatedInstall(stdout: string): DebRef[] {
  const out: DebRef[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([a-z0-9-]+)\]\)/.exec(line);
    if (m) out.push({ name: m[1]!.replace(/:[a-z0-9-]+$/, ''), version: m[2]!, arch: m[3]! });
  }
  return out;
}

/**
 * `apt-cache depends --no-recommends ...` output as edges: each package to every name its Depends and PreDepends
 * lines name, and to the providers apt lists below a virtual or alternative one. Which of them apt picked is
 * decided by the caller, by keeping only names of the install set.
 */
export function parseDependsGraph(stdout: string): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  let current: Set<string> | null = null;
  let inDepends = false;
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    if (!line.startsWith(' ')) {
      current = new Set();
      graph.set(line.trim().replace(/:[a-z0-9-]+$/, ''), current);
      inDepends = false;
      continue;
    }
    if (current === null) continue;
    const dep = /^ {1,2}\|?(PreDepends|Depends|[A-Za-z]+): <?([^>\s]+)>?/.exec(line);
    if (dep) {
      inDepends = dep[1] === 'Depends' || dep[1] === 'PreDepends';
      if (inDepends) current.add(dep[2]!.replace(/:[a-z0-9-]+$/, ''));
      continue;
    }
    const provider = /^ {4}(\S+)/.exec(line);
    if (provider && inDepends) current.add(provider[1]!.replace(/:[a-z0-9-]+$/, ''));
  }
  return graph;
}

/**
 * Packages whose files only maintainer scripts and init systems use: a sandbox runs no postinst, no init script and no
 * adduser, so they are left out unless a manifest names them. What a program really loads is found again by the
 * library closure, so leaving one out cannot break a binary silently.
 */
export const SCRIPT_ONLY_PACKAGES: readonly string[] = [
  'adduser', 'debconf', 'debianutils', 'dpkg', 'init-system-helpers', 'lsb-base', 'sysvinit-utils', 'usrmerge', 'usr-is-merged',
  'passwd', 'perl', 'perl-base', 'perl-modules-5.36', 'libperl5.36', 'sensible-utils', 'ucf', 'systemd', 'systemd-sysv', 'tar', 'procps',
  'libfile-find-rule-perl', 'libnumber-compare-perl', 'libtext-glob-perl', 'logrotate', 'cron', 'lsb-release', 'ssl-cert',
];

/**
 * The install set that remains when `exclude` (and the script-only packages) are cut from the graph: what the named
 * packages reach through Depends without passing an excluded one. A named package is never excluded.
 */
export function pruneClosure(set: readonly DebRef[], roots: readonly string[], graph: ReadonlyMap<string, ReadonlySet<string>>, exclude: readonly string[]): { kept: DebRef[]; dropped: string[] } {
  const names = new Set(set.map((d) => d.name));
  const rootSet = new Set(roots);
  const cut = new Set([...SCRIPT_ONLY_PACKAGES, ...exclude].filter((n) => !rootSet.has(n)));
  const reached = new Set<string>();
  const queue = roots.filter((r) => names.has(r));
  while (queue.length > 0) {
    const n = queue.shift()!;
    if (reached.has(n)) continue;
    reached.add(n);
    for (const d of graph.get(n) ?? []) if (names.has(d) && !cut.has(d) && !reached.has(d)) queue.push(d);
  }
  const kept = set.filter((d) => reached.has(d.name));
  const dropped = set.filter((d) => !reached.has(d.name)).map((d) => d.name).sort();
  return { kept: [...kept].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), dropped };
}

/** The records of `apt-cache show NAME=VERSION...`: what the signed index says each .deb is, by "NAME=VERSION". */
export function parseIndexRecords(stdout: string): Map<string, { filename: string; sha256: string; size: number }> {
  const out = new Map<string, { filename: string; sha256: string; size: number }>();
  for (const rec of stdout.split(/\n\n+/)) {
    const field = (k: string) => new RegExp(`^${k}: (.+)$`, 'm').exec(rec)?.[1]?.trim();
    const name = field('Package');
    const version = field('Version');
    const filename = field('Filename');
    const sha256 = field('SHA256');
    const size = Number(field('Size'));
    if (name === undefined || version === undefined || filename === undefined || sha256 === undefined || !/^[0-9a-f]{64}$/.test(sha256) || !Number.isInteger(size)) continue;
    const key = `${name}=${version}`;
    if (!out.has(key)) out.set(key, { filename, sha256, size });
  }
  return out;
}

/** The name of a .deb as apt writes it into an archive dir: NAME_VERSION_ARCH.deb, the epoch's ':' as %3a. */
export function debFileName(d: DebRef): string {
  return `${d.name}_${d.version.replace(/:/g, '%3a')}_${d.arch}.deb`;
}

/**
 * The paths a .deb holds, from `dpkg-deb -c` (tar's verbose listing: mode, owner, size, date, time, `./PATH`, then
 * ` -> TARGET` for a symlink or ` link to PATH` for a hard link), as absolute paths without a trailing slash.
 */
export function parseDebContents(stdout: string): string[] {
  const out: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^([-dlhcbp])\S*\s+\S+\s+\d+\s+\S+\s+\S+\s+\.(\/.*)$/.exec(line);
    if (!m) continue;
    let path = m[2]!;
    if (m[1] === 'l') path = path.replace(/ -> .*$/, '');
    else if (m[1] === 'h') path = path.replace(/ link to .*$/, '');
    path = path.replace(/\/+$/, '');
    if (path !== '') out.push(path);
  }
  return out;
}

/** A Debian package that has a file of a library's name, and where. */
export interface FileOwner { package: string; path: string }

/** What the host could tell about one missing library: installed packages that have a file of its name, and others. */
export interface LibraryOwners {
  name: string;
  /** Installed packages with a file of that name (dpkg -S): somewhere the loader does not look, or for another CPU. */
  installed: FileOwner[];
  /** Packages of the archive that ship it (apt-file, or apt's Contents indexes). */
  available: FileOwner[];
}

/** A name worth asking about: a plain file name as DT_NEEDED has it, not a pattern or a path. */
export const LOOKUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}$/;

/** `dpkg -S '*\/NAME'...` lines: `PKG[:ARCH][, PKG...]: /PATH`; diversions and errors are skipped. */
export function parseDpkgSearch(stdout: string): FileOwner[] {
  const out: FileOwner[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('diversion ') || line.startsWith('local diversion')) continue;
    const m = /^([^\s:][^:]*(?::[a-z0-9-]+)?(?:, [^\s:][^:]*(?::[a-z0-9-]+)?)*): (\/.*)$/.exec(line);
    if (!m) continue;
    for (const p of m[1]!.split(', ')) out.push({ package: p.replace(/:[a-z0-9-]+$/, ''), path: m[2]! });
  }
  return out;
}

/** `apt-file search` lines: `PKG: /PATH`. */
export function parseAptFileSearch(stdout: string): FileOwner[] {
  const out: FileOwner[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^([a-z0-9][a-z0-9+.-]*): (\/.*)$/.exec(line);
    if (m) out.push({ package: m[1]!, path: m[2]! });
  }
  return out;
}

/**
 * Lines of apt's Contents indexes: `PATH<spaces>LOCATION[,LOCATION...]`, where PATH has no leading slash and each
 * LOCATION is `[AREA/]SECTION/PACKAGE`.
 */
export function parseContentsLines(text: string): FileOwner[] {
  const out: FileOwner[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S.*?)\s+(\S+)$/.exec(line);
    if (!m || m[1] === 'FILE') continue;
    for (const loc of m[2]!.split(',')) {
      const pkg = loc.slice(loc.lastIndexOf('/') + 1);
      if (/^[a-z0-9][a-z0-9+.-]*$/.test(pkg)) out.push({ package: pkg, path: `/${m[1]}` });
    }
  }
  return out;
}

/**
 * The owners of `name` among `all`, best first: a file of exactly that name, in the multiarch library directories
 * first (where the loader looks), each package once, at most `max` of them.
 */
export function bestOwners(name: string, all: readonly FileOwner[], multiarch: string, max = 3): FileOwner[] {
  const rank = (p: string) => {
    const dir = p.slice(0, p.lastIndexOf('/'));
    const i = [`/usr/lib/${multiarch}`, `/lib/${multiarch}`, '/usr/lib', '/lib'].indexOf(dir);
    return i < 0 ? 4 : i;
  };
  const hits = all.filter((o) => o.path.slice(o.path.lastIndexOf('/') + 1) === name).sort((a, b) => rank(a.path) - rank(b.path) || (a.package < b.package ? -1 : a.package > b.package ? 1 : 0));
  const seen = new Set<string>();
  return hits.filter((o) => !seen.has(o.package) && seen.add(o.package)).slice(0, max);
}

/**
 * The missing libraries in words, each with what the host could tell of its Debian package, and what to do: install
 * the packages that ship them, point the loader at an installed copy, or find the package with apt-file.
 */
export function describeMissingLibraries(found: readonly LibraryOwners[]): { text: string; hint: string } {
  const parts: string[] = [];
  const install: string[] = [];
  const elsewhere: string[] = [];
  const unknown: string[] = [];
  for (const f of found) {
    if (f.available.length > 0) {
      const pkgs = f.available.map((o) => o.package);
      parts.push(`${f.name} (in the Debian package${pkgs.length > 1 ? 's' : ''} ${pkgs.join(', ')}: ${f.available[0]!.path})`);
      if (!install.includes(pkgs[0]!)) install.push(pkgs[0]!);
    } else if (f.installed.length > 0) {
      const o = f.installed[0]!;
      parts.push(`${f.name} (the installed Debian package ${o.package} has a file of that name, ${o.path}, where the loader does not look)`);
      elsewhere.push(f.name);
    } else {
      parts.push(`${f.name} (this host cannot tell which Debian package has it)`);
      unknown.push(f.name);
    }
  }
  const hints: string[] = [];
  if (install.length > 0) hints.push(`install ${install.length === 1 ? 'it' : 'them'}: apt-get install ${install.join(' ')}`);
  if (elsewhere.length > 0) hints.push(`if ${elsewhere.join(', ')} ${elsewhere.length === 1 ? 'is' : 'are'} the one meant, add its directory to the loader's path (a file in /etc/ld.so.conf.d/, then ldconfig)`);
  if (unknown.length > 0) hints.push(`find the package with \`apt-file search ${unknown[0]}\`${unknown.length > 1 ? ' (and the others likewise)' : ''} after \`apt-get install apt-file && apt-file update\``);
  return { text: parts.join(', '), hint: hints.join('; ') };
}
