// A volume's data directory on the host: root's and the volume's group's, setgid, with a default ACL, so that every
// service granted the volume (each has the group as a supplementary group) can read and write whatever another one
// wrote, whatever its umask, without a recursive chown at any start. And what a directory tree takes on disk.
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NisoError, isNisoError } from '../errors/niso-error.js';
import { run } from '../host/exec.js';

/** setgid: new files and directories get the volume's group; 0770: nobody but root and the group. */
export const DATA_MODE = 0o2770;
/**
 * Files a writer creates get rw for the group (and directories rwx) whatever the app's umask: with a default ACL the
 * umask is not applied, the mode the app asks for is cut to these entries instead. Others get nothing.
 */
export const DEFAULT_ACL = 'd:u::rwx,d:g::rwx,d:o::---';

const TOOL_ENV = { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } };

/** The default ACL on a directory: NISO5014 when the tool or the file system cannot. */
export async function setDefaultAcl(dir: string): Promise<void> {
  const r = await run('setfacl', ['-m', DEFAULT_ACL, '--', dir], TOOL_ENV).catch((e: unknown) => {
    if (isNisoError(e) && e.code === 'NISO2901') throw new NisoError('NISO5014', 'setfacl is not installed: volumes are shared through a default ACL', { hint: 'install it: apt-get install acl' });
    throw e;
  });
  if (r.code !== 0) throw new NisoError('NISO5014', `cannot set the default ACL of ${dir}: ${r.stderr.trim() || `setfacl exit ${r.code}`}`, { path: dir, hint: 'the file system of /var/lib/niso/volumes must support POSIX ACLs (ext4, xfs, btrfs and tmpfs do; check its mount options for noacl)' });
}

/** statfs magic of btrfs. */
export const BTRFS_MAGIC = 0x9123683e;
/** A btrfs subvolume's root directory has this inode number (BTRFS_FIRST_FREE_OBJECTID). */
const SUBVOLUME_INO = 256;

/** Whether path is the root of a btrfs subvolume (which rm cannot remove, and which snapshots atomically). */
export function isSubvolume(path: string): boolean {
  try { return lstatSync(path).ino === SUBVOLUME_INO && lstatSync(path).isDirectory() && statfsSync(path).type === BTRFS_MAGIC; } catch { return false; }
}

/**
 * Makes (or sets right) a data dir: owner (root, or the exclusive holder), the volume's group, setgid 2770, the ACL.
 * On btrfs it is a subvolume of its own (when the btrfs tool is there), so that a snapshot of it is atomic and instant
 * (`niso volume snapshot`), even while its writers run.
 */
export async function makeDataDir(dir: string, gid: number, owner = 0): Promise<void> {
  let sub = false;
  if (statfsSync(dirname(dir)).type === BTRFS_MAGIC) {
    sub = await run('btrfs', ['subvolume', 'create', '--', dir], TOOL_ENV).then((r) => r.code === 0, () => false);
  }
  if (!sub) mkdirSync(dir, { mode: 0o700 });
  else chmodSync(dir, 0o700);
  chownSync(dir, owner, gid);
  // chmod after chown: chown clears the setgid bit.
  chmodSync(dir, DATA_MODE);
  await setDefaultAcl(dir);
}

/** Gives the data dir itself (never what is in it) to an owner; the group and mode stay. */
export function setDataOwner(dir: string, owner: number, gid: number): boolean {
  const st = lstatSync(dir);
  if (st.uid === owner && st.gid === gid) return false;
  chownSync(dir, owner, gid);
  chmodSync(dir, DATA_MODE);
  return true;
}

/** Bytes a tree takes on disk (du; hard links counted once). */
export async function treeBytes(dir: string): Promise<number | null> {
  const r = await run('du', ['-s', '-B1', '--', dir], TOOL_ENV);
  const n = Number(r.stdout.split('\t')[0]);
  return r.code === 0 && Number.isFinite(n) ? n : null;
}

/**
 * Deletes a tree whatever its names: node's recursive rm reads names as UTF-8 and cannot unlink one that is not
 * (apps write Latin-1 names too), so the host's rm does it. Never across into another file system mounted inside.
 * A btrfs subvolume (a volume's data dir on btrfs, a snapshot), at path or just below it, is deleted as one: rm
 * would not cross into it (another device number), and a read-only snapshot refuses unlinks.
 */
export async function removeTree(path: string): Promise<void> {
  const subs = [path];
  try { for (const n of readdirSync(path)) subs.push(join(path, n)); } catch { /* not a directory, or gone */ }
  for (const p of subs.filter(isSubvolume)) {
    const d = await run('btrfs', ['subvolume', 'delete', '--', p], TOOL_ENV);
    if (d.code !== 0) throw new Error(`btrfs subvolume delete ${p} failed: ${d.stderr.trim()}`);
  }
  const r = await run('rm', ['-rf', '--one-file-system', '--', path], TOOL_ENV);
  if (r.code !== 0) throw new Error(`rm -rf ${path} failed: ${r.stderr.trim()}`);
}
