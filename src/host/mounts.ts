// The mount table as niso needs it: what is mounted on a directory, and which image file a loop device reads.
// Read from /proc/self/mountinfo and sysfs, so that checking a mounted state dir on every start costs two small
// reads and no process (util-linux's findmnt and losetup would cost a spawn each).
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

export interface MountEntry {
  /** The file system's device (MAJ:MIN), and the directory of it that is mounted (a bind mount's source, relative to it). */
  device: string;
  root: string;
  /** Where it is mounted (in this process's mount namespace), unescaped. */
  mountPoint: string;
  fsType: string;
  /** The mount source: a device such as /dev/loop3, or a file system's name. */
  source: string;
  /** A shared mount (`shared:N` among the optional fields): mounts and unmounts below it reach its peers and slaves. */
  shared: boolean;
}

/** mountinfo escapes blanks, tabs, newlines and backslashes as octal (\040). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The lines of /proc/PID/mountinfo (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER`. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (f.length < 10 || dash < 0) continue;
    out.push({ device: f[2]!, root: unescape(f[3]!), mountPoint: unescape(f[4]!), fsType: f[dash + 1]!, source: unescape(f[dash + 2]!), shared: f.slice(6, dash).some((o) => o.startsWith('shared:')) });
  }
  return out;
}

export function readMounts(): MountEntry[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** What is mounted on dir (the last mount there is the one visible), or null. */
export function mountAt(dir: string, mounts: readonly MountEntry[] = readMounts()): MountEntry | null {
  let found: MountEntry | null = null;
  for (const m of mounts) if (m.mountPoint === dir) found = m;
  return found;
}

/** The mount that path (a real path) lies on: the deepest mount point at or above it, the last one there (the visible one). */
export function mountContaining(path: string, mounts: readonly MountEntry[] = readMounts()): MountEntry | null {
  let found: MountEntry | null = null;
  for (const m of mounts) {
    const over = m.mountPoint === '/' || path === m.mountPoint || path.startsWith(`${m.mountPoint}/`);
    if (over && (found === null || m.mountPoint.length >= found.mountPoint.length)) found = m;
  }
  return found;
}

/** Mount points at or below dir, deepest first (the order to unmount them in). */
export function mountsBelow(dir: string, mounts: readonly MountEntry[] = readMounts()): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = new Set(mounts.map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(prefix)));
  return [...points].sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
}

/** The file a loop device (/dev/loopN) reads, as the kernel recorded it when it was attached; null for other sources. */
export function loopBackingFile(source: string): string | null {
  if (!/^\/dev\/loop\d+$/.test(source)) return null;
  try {
    return readFileSync(`/sys/block/${basename(source)}/loop/backing_file`, 'utf8').replace(/\n$/, '');
  } catch { return null; }
}

/**
 * Processes whose mount namespace has dir (or something below it) mounted somewhere: a sandbox binds its state dir,
 * and then writes to it through its own namespace, out of sight of this one. Reads every process's mountinfo (a few
 * ms): only for the rare change that must not happen under a running app (moving a directory into an image).
 */
export function bindersOf(dir: string): number[] {
  const own = readMounts();
  // The file system dir is on, and dir's path inside it.
  let host: MountEntry | null = null;
  for (const m of own) if ((dir === m.mountPoint || dir.startsWith(m.mountPoint === '/' ? '/' : `${m.mountPoint}/`)) && (host === null || m.mountPoint.length >= host.mountPoint.length)) host = m;
  if (host === null) return [];
  const rest = host.mountPoint === '/' ? dir : dir.slice(host.mountPoint.length);
  const inFs = host.root === '/' ? rest : `${host.root}${rest}`;
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let text: string;
    try { text = readFileSync(`/proc/${name}/mountinfo`, 'utf8'); } catch { continue; }
    if (parseMountinfo(text).some((m) => m.device === host.device && (m.root === inFs || m.root.startsWith(`${inFs}/`)))) pids.push(Number(name));
  }
  return pids;
}

/** A mount namespace other than this one that has a device mounted, by one of its processes. */
export interface NamespaceHolder { pid: number; command: string; namespace: string }

/**
 * The mount namespaces besides this process's own that have the block device (`/dev/loop3`) mounted, one process of
 * each: a sandbox, or a program that made a private copy of the host's mounts (podman's own namespace, `unshare -m`)
 * while it was mounted, which keeps it until that namespace ends. A namespace no process is in (kept by a bind mount of
 * its /proc/PID/ns/mnt, as podman keeps its own) shows nowhere: `findmnt -t nsfs` lists those.
 */
export function namespaceHoldersOf(device: string): NamespaceHolder[] {
  let majMin: string;
  try { majMin = readFileSync(`/sys/class/block/${basename(device)}/dev`, 'utf8').trim(); } catch { return []; }
  let own = '';
  try { own = readlinkSync('/proc/self/ns/mnt'); } catch { /* no /proc: every namespace counts */ }
  const out = new Map<string, NamespaceHolder>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let ns: string;
    let text: string;
    try { ns = readlinkSync(`/proc/${name}/ns/mnt`); text = readFileSync(`/proc/${name}/mountinfo`, 'utf8'); } catch { continue; }
    if (ns === own || out.has(ns) || !parseMountinfo(text).some((m) => m.device === majMin)) continue;
    let command = '?';
    try { command = readFileSync(`/proc/${name}/comm`, 'utf8').trim(); } catch { /* gone meanwhile */ }
    out.set(ns, { pid: Number(name), command, namespace: ns });
  }
  return [...out.values()];
}
