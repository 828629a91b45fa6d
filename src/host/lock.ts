// Exclusive locks on niso's shared state (the store's writers, the uid table, the networks, each service), so
// e.g. gc never frees content an install is about to link. Each is a kernel flock(2) on a descriptor that dies with
// niso: when niso exits or is killed, the kernel releases the lock at once. (A lock file with a staleness timeout
// would make every run after a crash wait.)
//
// Node has no flock(2). The lock is taken in-process through fs-ext's flock(2) binding when it is free (the common
// case: about 0.02 ms, where a flock(1) child cost 5-50 ms, and a CLI verb takes several locks); when it is held,
// or the binding could not be built, the wait is left to the host's flock(1) in a child whose stdin is our pipe (it
// waits in the kernel, at most WAIT_SECONDS, and dies, releasing the lock, when our pipe closes). Both are flock(2)
// locks on the same file, so they exclude each other, flock(1) users and older niso alike. Lock descriptors are
// opened close-on-exec (node's default), so no sandbox or supervisor started while a lock is held inherits it.
//
// flock(2) works on a read-only descriptor, so whoever can open a lock file can hold niso up: lock files are root's
// and 0600 (an older niso made them 0644: their mode is fixed at the next use), and niso opens them itself (no symlink
// followed). A process of another user that opened a file while it was still 0644
// keeps it open; one that holds the lock is named in NISO3314 at once rather than waited for.
import { closeSync, fchmodSync, fchownSync, fstatSync, mkdirSync, openSync, readFileSync, constants as FS } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { spawnTool, missingTool } from './exec.js';
import { NisoError } from '../errors/niso-error.js';

const WAIT_SECONDS = 600;
/** How soon, and then how often, a lock that does not come is checked for a holder that is not niso. */
const HOLDER_CHECK_MS = 200;

/** fs-ext's flock(2), or null where the addon is missing (its native build failed): then every lock takes the child. */
type FlockSync = (fd: number, flags: 'exnb' | 'un') => void;
let flockSync: FlockSync | null | undefined;
function inProcessFlock(): FlockSync | null {
  if (flockSync === undefined) {
    try {
      flockSync = (createRequire(import.meta.url)('fs-ext') as { flockSync: FlockSync }).flockSync;
    } catch {
      flockSync = null;
    }
  }
  return flockSync;
}

/** Takes the lock on fd in this process if it is free: true if taken, false if someone holds it. */
function tryLockHere(fd: number, lockPath: string, what: string): boolean {
  const flock = inProcessFlock();
  if (!flock) return false;
  try {
    flock(fd, 'exnb');
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return false;
    throw new NisoError('NISO2203', `could not lock ${what} (${lockPath}): ${(e as Error).message}`, { cause: e });
  }
}

/** Opens (creating) a lock file as a private regular file of this user: 0600, owned by us. */
function openLockFile(lockPath: string, what: string): number {
  mkdirSync(dirname(lockPath), { recursive: true });
  let fd: number;
  try {
    fd = openSync(lockPath, FS.O_RDWR | FS.O_CREAT | FS.O_NOFOLLOW | FS.O_NONBLOCK, 0o600);
  } catch (e) {
    throw new NisoError('NISO2203', `could not lock ${what} (${lockPath}): ${(e as Error).message}`, { cause: e, hint: 'niso\'s lock files are regular files only root can open; remove whatever is in its place' });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NisoError('NISO2203', `could not lock ${what}: ${lockPath} is not a regular file`, { hint: 'remove it; niso makes its lock files itself' });
    const uid = process.geteuid?.() ?? 0;
    const gid = process.getegid?.() ?? 0;
    if (st.uid !== uid || st.gid !== gid) fchownSync(fd, uid, gid);
    if ((st.mode & 0o7777) !== 0o600) fchmodSync(fd, 0o600);
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Linux's dev_t as /proc/locks prints it: "MAJOR:MINOR" in hex, two digits at least. */
function devString(dev: number): string {
  const major = Number((BigInt(dev) >> 8n) & 0xfffn) | Number((BigInt(dev) >> 32n) & ~0xfffn);
  const minor = Number(BigInt(dev) & 0xffn) | Number((BigInt(dev) >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/** The holders of flocks on this file (not the waiters), from /proc/locks. */
export function flockHolders(dev: number, ino: number, procLocks?: string): number[] {
  let text = procLocks;
  if (text === undefined) { try { text = readFileSync('/proc/locks', 'utf8'); } catch { return []; } }
  const id = `${devString(dev)}:${ino}`;
  const pids: number[] = [];
  for (const line of text.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; a waiter's line has "->" after its number.
    const m = /^\d+:\s+FLOCK\s+\S+\s+\S+\s+(\d+)\s+(\S+)\s/.exec(line);
    if (m && m[2] === id) pids.push(Number(m[1]));
  }
  return pids;
}

/** A holder that is not this user (niso's own flock children run as root): who it is, for the error. */
function foreignHolder(fd: number): { pid: number; uid: number; command: string } | null {
  const st = fstatSync(fd);
  const me = process.geteuid?.() ?? 0;
  for (const pid of flockHolders(st.dev, st.ino)) {
    let status: string;
    try { status = readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { continue; }
    const uid = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1] ?? me);
    if (uid === me) continue;
    let command = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?';
    try { command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') || command; } catch { /* exited */ }
    return { pid, uid, command };
  }
  return null;
}

/** `what` names the state in errors, e.g. "the store". */
export async function withLock<T>(lockPath: string, what: string, fn: () => Promise<T>): Promise<T> {
  const fd = openLockFile(lockPath, what);
  let here: boolean;
  try {
    here = tryLockHere(fd, lockPath, what);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  if (here) {
    // Closing the descriptor (its only one: close-on-exec) releases the lock.
    try {
      return await fn();
    } finally {
      closeSync(fd);
    }
  }
  return withLockInChild(fd, lockPath, what, fn);
}

/** Waits for the lock held by someone else through flock(1) in a child, which then holds it while fn runs. */
async function withLockInChild<T>(fd: number, lockPath: string, what: string, fn: () => Promise<T>): Promise<T> {
  // flock(1) locks the file niso opened (its fd 3, reopened through /dev/fd: the same file whatever happens to the
  // path) and holds the lock while its command runs; cat runs until our pipe closes.
  let child;
  try {
    child = spawnTool('flock', ['--exclusive', '--wait', String(WAIT_SECONDS), '/dev/fd/3', 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe', fd] });
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<number | null>((res, rej) => {
    child.on('error', (e: NodeJS.ErrnoException) => rej(e.code === 'ENOENT' ? missingTool('flock', e) : e));
    child.on('close', (code) => res(code));
  });
  const locked = new Promise<boolean>((res) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (d.includes('locked')) res(true); });
    void exited.then(() => res(false), () => res(false));
  });
  // While the lock does not come: is it held by someone who is not niso (see the top of this file)?
  let foreign: ReturnType<typeof foreignHolder> = null;
  const check = () => {
    foreign = foreignHolder(fd);
    if (foreign) child.kill('SIGKILL');
    else timer = setTimeout(check, 1000);
  };
  let timer = setTimeout(check, HOLDER_CHECK_MS);
  let ok: boolean;
  try {
    ok = await locked;
  } finally {
    clearTimeout(timer);
    closeSync(fd);
  }
  if (!ok) {
    await exited;
    const f = foreign as ReturnType<typeof foreignHolder>;
    if (f) {
      throw new NisoError('NISO3314', `could not lock ${what}: ${lockPath} is locked by process ${f.pid} (uid ${f.uid}: ${f.command}), which is not niso`, {
        hint: `it opened the file while an older niso left it readable to everyone; the file is private now: stop that process (kill ${f.pid}) and run the command again`,
      });
    }
    throw new NisoError('NISO2203', `could not lock ${what} (${lockPath})${stderr ? `: ${stderr.trim()}` : ''}`, { hint: `another niso command held it for over ${WAIT_SECONDS} s; wait for it to finish, then try again` });
  }
  try {
    return await fn();
  } finally {
    child.stdin!.end();
    await exited.catch(() => undefined);
  }
}
