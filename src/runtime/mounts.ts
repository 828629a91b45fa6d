// Putting a runtime's mounts into their final shape: one entry per target, parents before
// children, and no child that its parent directory already shows with the same content (pure).
import type { Mount } from './types.js';

/** Dir mounts are passed separately because only they can contain other mounts. */
export function normalizeMounts(mounts: readonly Mount[], dirTargets: ReadonlySet<string> = new Set()): Mount[] {
  const byTarget = new Map<string, Mount>();
  for (const m of mounts) {
    const seen = byTarget.get(m.target);
    if (seen && seen.source !== m.source) {
      throw new Error(`runtime closure: ${m.target} would be both ${seen.source} and ${m.source}`);
    }
    byTarget.set(m.target, m);
  }
  // Sorting by target puts every directory before the paths below it, the order bind mounts need.
  const sorted = [...byTarget.values()].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  const dirs = sorted.filter((m) => dirTargets.has(m.target));
  return sorted.filter((m) => {
    const parent = dirs.find((d) => d !== m && m.target.startsWith(d.target + '/'));
    return !parent || m.source !== parent.source + m.target.slice(parent.target.length);
  });
}
