// Leftovers of interrupted installs and removals: work dirs whose owning process is gone.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive } from '../host/liveness.js';
import { forceRemove } from './fs-tree.js';
import type { StoreLayout } from './layout.js';

/** Removes tmp entries of dead processes; returns their names. Call with the store lock held. */
export async function sweepTmp(l: StoreLayout, dryRun = false): Promise<string[]> {
  const names = await readdir(l.tmp).catch(() => [] as string[]);
  const swept: string[] = [];
  for (const name of names) {
    // run-PID-*.json marks a package that `niso run DIR` installed for itself; its own sweep
    // removes the package together with the marker, so the marker must not vanish here.
    if (name.startsWith('run-')) continue;
    const m = /^(?:install|trash|pack|backup|restore|pull)-(\d+)-/.exec(name);
    if (m && isAlive(Number(m[1]))) continue;
    swept.push(name);
    if (!dryRun) await forceRemove(join(l.tmp, name));
  }
  return swept;
}
