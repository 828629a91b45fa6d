// A directory with a hard bound on its size, for services' /state (and later volumes): an ext4 image file of the
// bound's size, loop-mounted on the directory. Writing past it is ENOSPC inside the app, whatever its memory and
// pids limits; the host sees the image file grow only as far as it is used (sparse, and freed space is punched back
// with discard). The root file system here has no project quotas (and they cannot be switched on while it is
// mounted), so a file system of its own per directory is the bound this host can give (CONTRIBUTING.md).
//
// Safety: the image is only ever mounted through util-linux's `mount -o loop`, which reuses the loop device already
// attached to the same file, so two mounts of one image share one superblock; two superblocks on one ext4 would
// corrupt it. Changes that need the image unmounted (a new bound, moving an old unbounded dir in) first make sure no
// loop device still holds it, which is what a mount left in another mount namespace (a running sandbox) looks like.
//
// The directory the images are mounted in is a shared mount (made one where its file system is not, as on hosts
// whose init is not systemd): a mount namespace made while an image is mounted (systemd-nspawn, `ip netns exec`, a
// sandbox binding a directory above it) then holds a slave copy, which an unmount here unmounts too. Without it,
// each such namespace kept every image mounted at its birth until it ended, and removing another service's /state
// was refused (NISO3210) for as long as it lived.
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmdirSync, statSync, statfsSync } from 'node:fs';
import { open, rm, truncate } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { NisoError, isNisoError } from '../errors/niso-error.js';
import { formatSize } from '../manifest/units.js';
import { BOUND_MOUNT } from '../plan/plan.js';
import { run } from './exec.js';
import { fsyncPath } from './fs-atomic.js';
import { withLock } from './lock.js';
import { bindersOf, loopBackingFile, mountAt, mountContaining, mountsBelow, namespaceHoldersOf, readMounts } from './mounts.js';

export interface BoundedDir {
  /** The directory the app writes to: the image is mounted here. */
  dir: string;
  /** The ext4 image (a sparse file); its directory is root's alone. */
  image: string;
  sizeBytes: number;
  /** Owner and mode of the file system's root (the directory as the app sees it). */
  uid: number;
  gid: number;
  mode: number;
}

export interface BoundedResult {
  created: boolean;
  /** Bytes of an unbounded directory of an earlier niso moved into the new image, or null. */
  migratedBytes: number | null;
  /** The image's size before it was grown or shrunk to the bound, or null. */
  resizedFrom: number | null;
  /** Milliseconds spent: the already-mounted case costs a fraction of one. */
  ms: number;
}

export interface BoundedUsage {
  mounted: boolean;
  /** The image file's size: the bound. */
  limitBytes: number;
  /** What the file system holds and can hold (statfs, as df shows them); null while it is not mounted. */
  usedBytes: number | null;
  sizeBytes: number | null;
}

const MOUNT_OPTIONS = BOUND_MOUNT.options;
/** The tools' messages are matched below: in English, from the system's own directories. */
const TOOL_ENV = { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } };

async function tool(cmd: string, args: string[], what: string, path: string): Promise<string> {
  const r = await run(cmd, args, TOOL_ENV).catch((e: unknown) => {
    if (isNisoError(e) && e.code === 'NISO2901') throw unsupported(`${cmd} is not installed`, 'install e2fsprogs and util-linux');
    throw e;
  });
  if (r.code !== 0) throw new NisoError('NISO3209', `${what} (${path}): ${cmd} failed: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`, { hint: '`niso explain NISO3209`' });
  return r.stdout;
}

function unsupported(why: string, hint: string): NisoError {
  return new NisoError('NISO3206', `this host cannot bound the size of a state directory: ${why}`, {
    hint: `${hint}; or, to run services with an unbounded /state on this host, set [state] max_size = "unlimited" in /etc/niso/config.toml`,
  });
}

/** Why bounded directories cannot work here, checked before anything is made (the already-mounted path never asks). */
function checkSupport(): void {
  if (process.getuid?.() !== 0) throw unsupported('it takes root to mount a file system image', 'run niso as root');
  if (!existsSync('/dev/loop-control')) throw unsupported('there is no /dev/loop-control (loop devices), as in many containers', 'give niso the host\'s loop devices (/dev/loop-control and /dev/loop*)');
}

/** Whether dir has this very image mounted on it, something else, or nothing. */
function isMounted(b: Pick<BoundedDir, 'dir' | 'image'>): 'ours' | 'other' | null {
  const m = mountAt(b.dir);
  if (m === null) return null;
  const backing = loopBackingFile(m.source);
  if (backing === null) return 'other';
  // The kernel records the path it opened, links resolved.
  try { return backing === realpathSync(b.image) ? 'ours' : 'other'; } catch { return 'other'; }
}

/** The loop device that still reads the image (it is mounted somewhere, maybe only in another mount namespace), or null. */
async function attached(image: string): Promise<string | null> {
  const out = await tool('losetup', ['--associated', image, '--noheadings', '--output', 'NAME'], 'cannot tell whether the image is in use', image);
  return out.trim().split('\n')[0] || null;
}

/**
 * The loop device that stays attached to the image after its last mount here went, or null: a loop device is
 * detached by the kernel when the last mount of it, in any mount namespace, goes away, and a sandbox that just exited
 * frees its namespace a moment after its processes are reaped (a moment that stretches to seconds on a loaded
 * machine). So a refusal waits up to 10 s for that moment first; a sandbox that still runs keeps it.
 */
export async function stillAttached(image: string, withinMs = 10_000): Promise<string | null> {
  const until = Date.now() + withinMs;
  for (;;) {
    const device = await attached(image);
    if (device === null || Date.now() >= until) return device;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function isEmptyDir(dir: string): boolean {
  try { return readdirSync(dir).length === 0; } catch { return true; }
}

/** An empty image of the bound's size whose root belongs to the owner: made under a temporary name, renamed when complete. */
async function makeImage(b: BoundedDir, target: string): Promise<void> {
  mkdirParent(dirname(target), 0o700);
  await rm(target, { force: true });
  const fh = await open(target, 'wx', 0o600);
  await fh.close();
  await truncate(target, b.sizeBytes);
  // lazy_*_init: the kernel initialises inode tables in the background with zero-writes, which the loop device turns
  // into holes; a 10 GiB image then takes 4 MiB instead of 70 MiB and 40 ms. No blocks reserved for root: the
  // app is never root.
  await tool('mkfs.ext4', ['-q', '-F', '-m', '0', '-L', 'niso-state', '-E', `lazy_itable_init=1,lazy_journal_init=1,root_owner=${b.uid}:${b.gid}`, target], 'cannot make the state image', target);
}

/** A directory of this mode whose missing parents stay traversable (the owner's uid must reach the one it owns). */
function mkdirParent(dir: string, mode: number): void {
  mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
  mkdirSync(dir, { recursive: true, mode });
}

async function mount(b: BoundedDir): Promise<void> {
  mkdirParent(b.dir, b.mode);
  const r = await run('mount', ['-o', MOUNT_OPTIONS, '--', b.image, b.dir], TOOL_ENV);
  if (r.code === 0) return;
  const why = r.stderr.trim();
  if (/loop device|Operation not permitted|permission denied/i.test(why)) throw unsupported(`mounting the image failed: ${why}`, 'give niso loop devices and the right to mount (CAP_SYS_ADMIN)');
  throw new NisoError('NISO3209', `cannot mount the state image ${b.image} on ${b.dir}: ${why}`, { hint: `check it with \`e2fsck -f ${b.image}\`` });
}

/**
 * Makes the directory that holds bounded dirs a shared mount, unless the file system it is on is shared already
 * (systemd makes / shared; nothing is mounted then): a bind mount of it onto itself, made shared. Copies of it in
 * mount namespaces made later are its peers or slaves, so unmounting an image below it reaches them (see the head of
 * this file). The bind goes with the root (release-root.ts unmounts everything below it). Not being able to do it
 * is no error here: the image's own mount, which needs the same rights, says what is missing. Taken under the
 * parent's lock: two binds would stack, and one made after an image was mounted would hide it.
 */
async function shareParent(b: Pick<BoundedDir, 'dir' | 'image'>): Promise<void> {
  const parent = dirname(b.dir);
  mkdirSync(parent, { recursive: true, mode: 0o755 });
  const real = realpathSync(parent);
  if (mountContaining(real)?.shared !== false) return;
  await withLock(join(dirname(b.image), '.shared.lock'), `the state directory ${parent}`, async () => {
    const mounts = readMounts();
    const m = mountContaining(real, mounts);
    if (m === null || m.shared) return;
    if (m.mountPoint !== real) {
      // A bind over a directory with images mounted in it (by a niso from before this) would hide them: it waits
      // until they are all unmounted.
      if (mountsBelow(real, mounts).length > 0) return;
      if ((await run('mount', ['--bind', '--', real, real], TOOL_ENV)).code !== 0) return;
    }
    await run('mount', ['--make-shared', '--', real], TOOL_ENV);
  });
}

/** Bytes a directory tree takes on disk (du), to tell before copying whether it fits. */
async function treeBytes(dir: string): Promise<number> {
  const out = await tool('du', ['-s', '-B1', '--', dir], 'cannot measure the state directory', dir);
  return Number(out.split('\t')[0]);
}

/** The directory an unbounded dir is moved to while its copy in the image is made current. */
const asideOf = (dir: string) => join(dirname(dir), `.${basename(dir)}.unbounded`);

/**
 * An unbounded directory of an earlier niso moves into a new image: copied into it (owners, modes, times, links,
 * xattrs: cp -a), then the image is renamed into place and the old directory removed. A crash leaves either the old
 * directory and no image (begin again) or the image and the old directory aside (removed at the next start).
 */
async function migrate(b: BoundedDir): Promise<number> {
  // A sandbox that binds the directory would go on writing to it after the copy: those writes would be lost.
  const users = bindersOf(b.dir);
  if (users.length > 0) throw new NisoError('NISO3210', `cannot move ${b.dir} into its new image while a sandbox uses it (pid ${users.slice(0, 5).join(', ')})`, { hint: 'stop the service, or the run of the same name, and start it again' });
  const used = await treeBytes(b.dir);
  const tmp = `${b.image}.tmp`;
  const mnt = `${b.image}.mnt`;
  await makeImage(b, tmp);
  mkdirParent(mnt, 0o700);
  try {
    await tool('mount', ['-o', MOUNT_OPTIONS, '--', tmp, mnt], 'cannot mount the new state image', tmp);
    try {
      const fits = statfsSync(mnt);
      if (used > fits.bavail * fits.bsize) {
        throw new NisoError('NISO3208', `${b.dir} holds ${formatSize(used)}, more than fits into its bound of ${formatSize(b.sizeBytes)}`, { hint: 'raise the bound ([resources] state_size, --state-size or [state] max_size), or delete data from it first' });
      }
      await tool('cp', ['-a', '--', `${b.dir}/.`, `${mnt}/`], `cannot copy ${b.dir} into its image`, tmp);
      await tool('sync', ['-f', mnt], 'cannot flush the new state image', tmp);
    } finally {
      await run('umount', ['--', mnt], TOOL_ENV);
    }
    renameSync(b.dir, asideOf(b.dir));
    renameSync(tmp, b.image);
    await fsyncPath(dirname(b.image));
  } finally {
    try { rmdirSync(mnt); } catch { /* still mounted after a failed umount: left for e2fsck's user to see */ }
    await rm(tmp, { force: true });
  }
  return used;
}

/**
 * The image to the bound's size, offline (growing a mounted ext4 needs CAP_SYS_RESOURCE, which root lacks on hosts
 * like these): only while nothing holds it, and a smaller size only if the data fits.
 */
async function resize(b: BoundedDir, from: number): Promise<void> {
  if ((await stillAttached(b.image)) !== null) {
    throw new NisoError('NISO3210', `cannot change the bound of ${b.dir} from ${formatSize(from)} to ${formatSize(b.sizeBytes)} while it is in use`, { hint: 'stop the service (and runs of the same name) first, then start it again; or keep the bound as it is' });
  }
  // resize2fs insists on a fresh check; -p repairs only what is safe without asking.
  const fsck = await run('e2fsck', ['-f', '-p', b.image], TOOL_ENV);
  if (fsck.code !== null && fsck.code > 1) throw new NisoError('NISO3209', `the state image ${b.image} has errors e2fsck could not fix on its own: ${(fsck.stdout + fsck.stderr).trim()}`, { hint: `run \`e2fsck -f ${b.image}\` by hand` });
  if (b.sizeBytes > from) await truncate(b.image, b.sizeBytes);
  const r = await run('resize2fs', [b.image, `${Math.floor(b.sizeBytes / 1024)}K`], TOOL_ENV);
  if (r.code !== 0) {
    if (b.sizeBytes > from) await truncate(b.image, from);
    const full = /No space left|too small|smaller than minimum/i.test(r.stderr);
    throw new NisoError(full ? 'NISO3208' : 'NISO3209', full ? `${b.dir} holds more than fits into ${formatSize(b.sizeBytes)}` : `cannot resize the state image ${b.image}: ${r.stderr.trim()}`, { hint: full ? 'keep the bound higher, or delete data from it first' : '`niso explain NISO3209`' });
  }
  if (b.sizeBytes < from) await truncate(b.image, b.sizeBytes);
}

/**
 * Makes dir a bounded directory: the image made (an old unbounded dir moved into it) or resized to the bound, and
 * mounted on dir, its root owned as asked. Mounted already at the right size (every start after the first), it
 * costs two small reads and a stat.
 */
export async function ensureBounded(b: BoundedDir): Promise<BoundedResult> {
  const t0 = performance.now();
  const ready = (): boolean => {
    const state = isMounted(b);
    if (state === 'other') throw new NisoError('NISO3209', `${b.dir} has another file system mounted on it, not its state image ${b.image}`, { hint: `unmount it (umount ${b.dir}) and start again` });
    return state === 'ours' && statSync(b.image).size === b.sizeBytes;
  };
  if (ready()) return { created: false, migratedBytes: null, resizedFrom: null, ms: performance.now() - t0 };
  checkSupport();
  // Making, resizing or mounting it, one niso at a time (a run and a service of one name may start together).
  return withImageLock(b, async () => {
    const result: BoundedResult = { created: false, migratedBytes: null, resizedFrom: null, ms: 0 };
    if (ready()) return { ...result, ms: performance.now() - t0 };
    await shareParent(b);
    // A new bound: resizing is offline. If a sandbox still holds the image, it is mounted back as it was.
    const remount = isMounted(b) === 'ours';
    if (remount) await umount(b);
    try {
      const aside = asideOf(b.dir);
      if (existsSync(aside)) {
        // A migration was cut short: before the image was in place, the old directory is still the state.
        if (existsSync(b.image)) await rm(aside, { recursive: true, force: true });
        else if (isEmptyDir(b.dir)) { await rm(b.dir, { recursive: true, force: true }); renameSync(aside, b.dir); }
      }
      if (!existsSync(b.image)) {
        if (!isEmptyDir(b.dir)) result.migratedBytes = await migrate(b);
        else {
          // Complete or not there: a crash in mkfs leaves only the temporary file.
          await makeImage(b, `${b.image}.tmp`);
          renameSync(`${b.image}.tmp`, b.image);
          await fsyncPath(dirname(b.image));
        }
        result.created = true;
      } else {
        const size = statSync(b.image).size;
        if (size !== b.sizeBytes) { await resize(b, size); result.resizedFrom = size; }
      }
    } catch (e) {
      if (remount) await mount(b).catch(() => undefined);
      throw e;
    }
    await mount(b);
    // An empty lost+found (mkfs and e2fsck make one) would be the app's first file: apps that want an empty directory
    // (initdb) refuse that. e2fsck makes it again when it has something to put there, and then it stays.
    try { rmdirSync(join(b.dir, 'lost+found')); } catch { /* not there, or not empty */ }
    chownSync(b.dir, b.uid, b.gid);
    chmodSync(b.dir, b.mode);
    await rm(asideOf(b.dir), { recursive: true, force: true });
    return { ...result, ms: performance.now() - t0 };
  });
}

/** The lock of one image, beside it (its directory is root's alone). */
function withImageLock<T>(b: Pick<BoundedDir, 'image'>, fn: () => Promise<T>): Promise<T> {
  mkdirParent(dirname(b.image), 0o700);
  return withLock(`${b.image}.lock`, `the state image ${b.image}`, fn);
}

async function umount(b: Pick<BoundedDir, 'dir' | 'image'>): Promise<void> {
  if (isMounted(b) !== 'ours') return;
  const r = await run('umount', ['--', b.dir], TOOL_ENV);
  if (r.code !== 0) {
    if (/busy/i.test(r.stderr)) throw new NisoError('NISO3210', `${b.dir} is still in use on the host`, { hint: `\`fuser -vm ${b.dir}\` names the processes` });
    throw new NisoError('NISO3209', `cannot unmount ${b.dir}: ${r.stderr.trim()}`);
  }
}

/** Unmounts the image from dir (its data stays in the image). Something on the host still using it is NISO3210. */
export async function unmountBounded(b: Pick<BoundedDir, 'dir' | 'image'>): Promise<void> {
  if (isMounted(b) !== 'ours') return;
  await withImageLock(b, () => umount(b));
}

/**
 * Deletes a bounded directory for good: unmounted, its image and the directory removed. Refused (NISO3210) while a
 * sandbox still holds the image, which would go on writing into a deleted file.
 */
export async function deleteBounded(b: Pick<BoundedDir, 'dir' | 'image'>): Promise<void> {
  if (existsSync(b.image)) {
    await withImageLock(b, async () => {
      const wasMounted = isMounted(b) === 'ours';
      await umount(b);
      const device = await stillAttached(b.image);
      if (device !== null) {
        if (wasMounted) await run('mount', ['-o', MOUNT_OPTIONS, '--', b.image, b.dir], TOOL_ENV);
        throw stillInUse(b.dir, device);
      }
      await rm(b.image, { force: true });
    });
  }
  await rm(`${b.image}.lock`, { force: true });
  await rm(asideOf(b.dir), { recursive: true, force: true });
  await rm(b.dir, { recursive: true, force: true });
}

/**
 * Why an image cannot go: the mount namespaces that still have it mounted, named. A sandbox of the name is stopped
 * first; another program's private copy of the host's mounts (podman keeps one for as long as it runs) keeps the image
 * until that program's namespace ends, and "a sandbox still uses it" sent users looking for a service that was gone.
 */
function stillInUse(dir: string, device: string): NisoError {
  const holders = namespaceHoldersOf(device);
  const named = holders.slice(0, 5).map((h) => `pid ${h.pid} (${h.command})`).join(', ');
  return new NisoError('NISO3210', holders.length > 0
    ? `cannot delete ${dir}: its image (${device}) is still mounted in another mount namespace, that of ${named}${holders.length > 5 ? ', …' : ''}`
    : `cannot delete ${dir}: its image (${device}) is still mounted in a mount namespace that no process is in (one kept by a bind mount: \`findmnt -t nsfs\` lists them)`, {
    hint: 'stop what runs under this name (a `niso run`, or the service) first; a program that copied the host\'s mounts while the image was mounted (podman, `unshare -m` without --propagation slave) keeps it until it ends',
  });
}

/** What the bounded directory holds and may hold; null when it has no image (unbounded). */
export function boundedUsage(b: Pick<BoundedDir, 'dir' | 'image'>): BoundedUsage | null {
  let limitBytes: number;
  try { limitBytes = statSync(b.image).size; } catch { return null; }
  if (isMounted(b) !== 'ours') return { mounted: false, limitBytes, usedBytes: null, sizeBytes: null };
  const s = statfsSync(b.dir);
  return { mounted: true, limitBytes, usedBytes: (s.blocks - s.bfree) * s.bsize, sizeBytes: s.blocks * s.bsize };
}

/**
 * Unmounts every mount at or below path (a NISO_ROOT about to be deleted), deepest first. Returns them. A mount still
 * busy (a sandbox that is ending still holds a file in it) is tried again for a few seconds, then detached lazily: the
 * directory is about to be deleted, and a detached mount's contents are out of reach of that deletion.
 */
export async function unmountBelow(path: string, patienceMs = 5_000): Promise<string[]> {
  const points = mountsBelow(path, readMounts());
  const deadline = Date.now() + patienceMs;
  for (let left = points, delay = 50; left.length > 0; left = mountsBelow(path, readMounts()), delay = Math.min(delay * 2, 1_000)) {
    const lazy = Date.now() > deadline;
    for (const p of left) await run('umount', [...(lazy ? ['-l'] : []), '--', p], TOOL_ENV);
    if (lazy) break;
    if (mountsBelow(path, readMounts()).length > 0) await new Promise((r) => setTimeout(r, delay));
  }
  return points;
}
