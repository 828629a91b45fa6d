// What a package built from Debian packages records about itself (debian.json) and the merged-/usr rule its root
// follows: read by pack, by inspect and on every start of such a package, so apart from the staging code.

export const DEBIAN_RECORD = 'debian.json';

/** What debian.json holds: enough for `niso inspect` to say what comes from where, and for a rebuild to compare. */
export interface DebianRecord {
  format: 1;
  arch: string;
  multiarch: string;
  packages: { name: string; version: string; arch: string; sha256: string; size: number; file: string }[];
  /** Packages of apt's closure left out ([debian] exclude and the script-only ones). */
  excluded: string[];
  /** Shared objects the programs load (the loader included), and how many of them the packages ship. */
  libraries: { total: number; fromPackages: number };
  /** Libraries that no package of the closure ships, copied from the host that packed it. */
  fromHost: { path: string; source: string; sha256: string; neededBy: string }[];
  /** Symlinks left out because they point at nothing in the package (e.g. into /etc/alternatives). */
  droppedLinks: string[];
  /** Library directories its ld.so.conf.d adds: the sandbox has no ld.so.cache, so they are its LD_LIBRARY_PATH. */
  libraryPath: string[];
  /**
   * Paths that merged /usr had twice with different contents (/lib/X and /usr/lib/X): the /usr one is kept. By the
   * merged path, with the packages that shipped each. Absent when there were none.
   */
  conflicts?: { path: string; keptFrom: string[]; droppedFrom: string[] }[];
}

/** Merged /usr: these top-level directories of a .deb end up below /usr, and the sandbox gets symlinks for them. */
export const MERGED_DIRS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'] as const;

/** The path under merged /usr: /lib/x → /usr/lib/x, /bin → /usr/bin; others unchanged. */
export function mergedPath(abs: string): string {
  const top = abs.split('/')[1] ?? '';
  return (MERGED_DIRS as readonly string[]).includes(top) ? `/usr${abs}` : abs;
}
