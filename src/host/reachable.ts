// Whether users other than root can get to a path: services run as their own uid, so everything
// they must read (the runtime, the store below NISO_ROOT) has to be reachable for them.
import { statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Whether every directory above `path` lets other users through (mode o+x). */
export function reachableByOthers(path: string): boolean {
  let dir = dirname(path);
  for (;;) {
    try { if ((statSync(dir).mode & 0o001) === 0) return false; } catch { return false; }
    if (dir === '/') return true;
    dir = dirname(dir);
  }
}
