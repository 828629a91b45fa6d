// The volume commands' core: every volume of a root (named, services' own, services' /state) for list and inspect,
// and removing and pruning them, each through the one path that knows its kind.
import { NisoError } from '../errors/niso-error.js';
import { matchesFilters, noFilters, type VolumeFilters } from './filters.js';
import { treeBytes } from './data-dir.js';
import { parseVolumeName } from './names.js';
import { holdersOf, pruneSelection } from './policy.js';
import { removeState, stateInfo, stateNames } from './state.js';
import {
  checkUnused, deleteVolumeLocked, listVolumeNames, liveness, notFound, readMeta, readRegistry, removeVolume, volumeInfo, withVolumesLock, type VolumeInfo,
} from './store.js';

/** Every volume, sorted by name: named ones, services' own, and each /state as SERVICE/state. */
export async function allVolumes(root: string, opts: { sizes: boolean; filters?: VolumeFilters }): Promise<VolumeInfo[]> {
  const reg = readRegistry(root);
  const live = liveness(root);
  const out: VolumeInfo[] = [];
  for (const n of listVolumeNames(root)) {
    const v = await volumeInfo(root, n, { reg, live, sizes: false });
    if (v) out.push(v);
  }
  for (const s of stateNames(root)) {
    const v = await stateInfo(root, s, { live, sizes: false });
    if (v) out.push(v);
  }
  const kept = out.filter((v) => matchesFilters(v, opts.filters ?? noFilters())).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Sizes only of what is shown (du walks the whole tree).
  if (opts.sizes) await measure(kept);
  return kept;
}

/**
 * Fills in the sizes not known yet: du of the data dir. A /state image has its size from the image already (an
 * unmounted one's dir is only its mount point).
 */
async function measure(volumes: readonly VolumeInfo[]): Promise<void> {
  for (const v of volumes) if (v.sizeBytes === null && !v.state?.image) v.sizeBytes = await treeBytes(v.dir);
}

/** One volume by name, measured; NISO5002 if there is none. */
export async function inspectVolume(root: string, name: string): Promise<VolumeInfo> {
  const ref = parseVolumeName(name);
  const live = liveness(root);
  const v = ref.kind === 'state' ? await stateInfo(root, ref.service, { live, sizes: true }) : await volumeInfo(root, name, { reg: readRegistry(root), live, sizes: true });
  if (v === null) throw ref.kind === 'state' ? new NisoError('NISO5002', `no volume named ${name}: ${ref.service} has no /state on this host`, { exitCode: 1, hint: '`niso volume ls --filter kind=state` lists them' }) : notFound(root, name);
  return v;
}

/** `niso volume rm`: all names are checked first, so that a bad one removes nothing. */
export async function removeVolumes(root: string, names: readonly string[], opts: { force: boolean }): Promise<string[]> {
  const refs = names.map((n) => parseVolumeName(n));
  const removed: string[] = [];
  for (const r of refs) {
    const done = r.kind === 'state' ? await removeState(root, r.service, opts) : await removeVolume(root, r.name, opts);
    if (done) removed.push(r.name);
  }
  return removed;
}

export interface PruneResult { removed: { name: string; kind: VolumeInfo['kind']; sizeBytes: number | null }[]; reclaimedBytes: number; skipped: { name: string; reason: string }[]; dryRun: boolean }

/**
 * `niso volume prune`: without `all`, the own volumes and /state of services that no longer exist (Docker's anonymous
 * volumes); with `all`, unused named volumes too; never what something holds. Also `niso gc --volumes`.
 */
export async function pruneVolumes(root: string, opts: { all: boolean; filters?: VolumeFilters; dryRun?: boolean }): Promise<PruneResult> {
  const filters = opts.filters ?? noFilters();
  const candidates = pruneSelection(await allVolumes(root, { sizes: false, filters }), { all: opts.all });
  // Measured only what goes (du walks a whole volume).
  await measure(candidates);
  const result: PruneResult = { removed: [], reclaimedBytes: 0, skipped: [], dryRun: opts.dryRun === true };
  for (const v of candidates) {
    if (!result.dryRun) {
      try {
        if (v.kind === 'state') await removeState(root, v.service!, { force: true });
        else {
          await withVolumesLock(root, async () => {
            // Again under the lock: a start may have granted it since it was listed.
            if (readMeta(root, v.name) === null) return;
            await checkUnused(root, v.name, holdersOf(readRegistry(root), v.name, liveness(root)), false, 'prune');
            await deleteVolumeLocked(root, v.name);
          });
        }
      } catch (e) {
        result.skipped.push({ name: v.name, reason: (e as Error).message });
        continue;
      }
    }
    result.removed.push({ name: v.name, kind: v.kind, sizeBytes: v.sizeBytes });
    result.reclaimedBytes += v.sizeBytes ?? 0;
  }
  return result;
}
