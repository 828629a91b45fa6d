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
