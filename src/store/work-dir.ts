// The two halves every store object shares, whatever it holds (a package, a runtime): it is built in a work dir below
// the store's tmp that a stop signal removes unless the commit began, and it leaves by a rename aside before its
// deletion, so that it is gone at once even when the deletion is interrupted. What a SIGKILL leaves is swept by pid.
import { randomBytes } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncPath } from '../host/fs-atomic.js';
import { onInterrupt } from '../host/interrupt.js';
import { forceRemove, forceRemoveSync } from './fs-tree.js';
import type { StoreLayout } from './layout.js';

export interface WorkDir {
  /** The directory itself, made empty and 0700; the caller renames it into place to commit. */
  path: string;
  /** From here on a stop signal lets the work finish (the rename into place) and ends niso after it. */
  commit(): void;
}

/**
 * Runs `fn` with a fresh work dir (`install-PID-*`, the name the sweep knows). Ctrl-C and stop signals remove it
 * synchronously and end niso by the same signal, except once `commit()` was called; whatever happens, the work dir
 * is gone afterwards (after a successful rename there is nothing left to remove).
 */
export async function withWorkDir<T>(l: StoreLayout, fn: (work: WorkDir) => Promise<T>): Promise<T> {
  await mkdir(l.tmp, { recursive: true });
  const path = join(l.tmp, `install-${process.pid}-${randomBytes(6).toString('hex')}`);
  let committing = false;
  const release = onInterrupt(() => {
    if (committing) return false;
    forceRemoveSync(path);
    return true;
  });
  try {
    await mkdir(path, { mode: 0o700 });
    return await fn({ path, commit: () => { committing = true; } });
  } finally {
    forceRemoveSync(path);
    release();
  }
}

/**
 * Removes a store object: renamed to `trash-PID-*` in the store's tmp (same filesystem), its parent flushed, then
 * deleted. Call with the store's lock held. A rename that finds nothing throws ENOENT as rename(2) does.
 */
export async function removeAside(l: StoreLayout, path: string): Promise<void> {
  const trash = join(l.tmp, `trash-${process.pid}-${randomBytes(6).toString('hex')}`);
  await rename(path, trash);
  await fsyncPath(dirname(path));
  await forceRemove(trash);
}
