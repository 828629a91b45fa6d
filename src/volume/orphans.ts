// What `niso gc` says about data that removed services left (their /state and own volumes, kept by `niso remove`
// without --volumes): always reported with sizes, deleted only when asked; and leftovers of killed volume commands.
import { pruneVolumes } from './catalog.js';
import { removeTree } from './data-dir.js';
import { volumeLeftovers } from './store.js';

export interface Orphans {
  orphans: { name: string; kind: 'named' | 'service' | 'state'; sizeBytes: number | null }[];
  deleted: boolean;
  skipped: { name: string; reason: string }[];
  /** Half-made or half-removed volume directories and snapshots of niso commands that were killed. */
  leftovers: string[];
}

export async function collectOrphans(root: string, opts: { delete: boolean; dryRun: boolean }): Promise<Orphans> {
  const leftovers = volumeLeftovers(root);
  // A trash dir holds a volume's data, whose names need not be UTF-8: the host's rm, as for any volume's tree.
  if (!opts.dryRun) for (const p of leftovers) await removeTree(p);
  const { snapshotLeftovers } = await import('./snapshot.js');
  leftovers.push(...await snapshotLeftovers(root, opts.dryRun));
  const r = await pruneVolumes(root, { all: false, dryRun: !opts.delete });
  return { orphans: r.removed, deleted: opts.delete, skipped: r.skipped, leftovers };
}
