// One exclusive lock for the store's writers (install, remove, gc), so gc never frees content an
// install is about to link. A lock left by a killed process goes stale and is taken over.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import lockfile from 'proper-lockfile';
import { NisoError } from '../errors/niso-error.js';

export async function withStoreLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lockPath), { recursive: true });
  await writeFile(lockPath, '', { flag: 'a' });
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(lockPath, { stale: 5000, update: 1000, retries: { retries: 600, factor: 1.2, minTimeout: 20, maxTimeout: 1000 }, realpath: false });
  } catch (e) {
    throw new NisoError('NISO2203', `the store is locked by another niso process (${lockPath})`, { cause: e, hint: 'wait for the other niso command to finish, then try again' });
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
