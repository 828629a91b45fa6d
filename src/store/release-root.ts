// What a NISO_ROOT holds on the host outside its own directory, besides networks: the state images mounted below
// it and its services' uid claims in the host-wide registry. Released before such a directory is deleted (tests and
// benches make many roots), since deleting it with the images mounted would delete the data inside them.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { unmountBelow } from '../host/bounded-dir.js';
import { releaseRootUids } from '../sandbox/uids.js';

/** NISO_ROOTs at or below dir (up to `depth` levels) that have `marker`, a path below the root. */
export function rootsBelow(dir: string, marker: string, depth = 4): string[] {
  const roots: string[] = [];
  const walk = (p: string, d: number) => {
    if (existsSync(join(p, marker))) roots.push(p);
    if (d === 0) return;
    let names: string[];
    try { names = readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.isSymbolicLink()).map((e) => e.name); } catch { return; }
    for (const n of names) if (n !== 'var' && n !== 'node_modules') walk(join(p, n), d - 1);
  };
  walk(dir, depth);
  return roots;
}

/** Unmounts everything below dir and gives back the uid claims of the roots in it. */
export async function releaseRootsBelow(dir: string): Promise<void> {
  await unmountBelow(dir);
  for (const root of rootsBelow(dir, 'var/lib/niso/users.json')) await releaseRootUids(root).catch(() => undefined);
}
