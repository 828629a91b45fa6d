// Leftovers of interrupted installs and removals: work dirs whose owning process is gone.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { forceRemove } from './fs-tree.js';
import type { StoreLayout } from './layout.js';

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Removes tmp entries of dead processes; returns their names. Call with the store lock held. */
export async function sweepTmp(l: StoreLayout, dryRun = false): Promise<string[]> {
  const names = await readdir(l.tmp).catch(() => [] as string[]);
  const swept: string[] = [];
  for (const name of names) {
    const m = /^(?:install|trash|pack)-(\d+)-/.exec(name);
    if (m && alive(Number(m[1]))) continue;
    swept.push(name);
    if (!dryRun) await forceRemove(join(l.tmp, name));
  }
  return swept;
}
