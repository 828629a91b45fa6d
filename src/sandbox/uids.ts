// Stable per-service uids/gids from a range reserved for niso, recorded in niso's state so that
// files a service writes stay its own across restarts and versions.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { writeFileAtomic } from '../host/fs-atomic.js';
import { withLock } from '../host/lock.js';

/** Below systemd's dynamic range (61184-65519) and above Debian's regular users. */
export const UID_RANGE = { first: 60100, last: 61099 };

interface UidTable { services: Record<string, number> }

function tablePath(root: string): string {
  return join(root, 'var/lib/niso/users.json');
}

async function hostIds(root: string): Promise<Set<number>> {
  const ids = new Set<number>();
  for (const f of ['etc/passwd', 'etc/group']) {
    const text = await readFile(join(root === '/' ? '/' : root, f), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const id = Number(line.split(':')[2]);
      if (Number.isInteger(id)) ids.add(id);
    }
  }
  // The host's own accounts count even when NISO_ROOT relocates niso's state.
  if (root !== '/') for (const id of await hostIds('/')) ids.add(id);
  return ids;
}

/** The service's uid (= gid), allocating the lowest free one on first use. */
export async function serviceUid(root: string, service: string): Promise<number> {
  const file = tablePath(root);
  const read = async (): Promise<UidTable> => {
    try { return JSON.parse(await readFile(file, 'utf8')) as UidTable; } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { services: {} };
      throw new NisoError('NISO3203', `${file} is damaged: ${(e as Error).message}`, { path: file, hint: 'restore it from a backup; it maps services to their uids' });
    }
  };
  const known = (await read()).services[service];
  if (known !== undefined) return known;
  return withLock(join(root, 'var/lib/niso/users.lock'), 'the uid table', async () => {
    const table = await read();
    const again = table.services[service];
    if (again !== undefined) return again;
    const taken = new Set([...Object.values(table.services), ...(await hostIds(root))]);
    for (let id = UID_RANGE.first; id <= UID_RANGE.last; id++) {
      if (taken.has(id)) continue;
      table.services[service] = id;
      await writeFileAtomic(file, JSON.stringify(table, null, 2) + '\n');
      return id;
    }
    throw new NisoError('NISO3204', `no free uid left in niso's range ${UID_RANGE.first}-${UID_RANGE.last}`, { hint: 'remove services you no longer use' });
  });
}
