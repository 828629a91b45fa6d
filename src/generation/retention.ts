// Which generations are kept (and so which packages stay installed for them): a pure rule over their metadata, so the
// store's prune, `niso gc`, `niso remove` and the listing all count the same ones.
import type { GenerationMeta } from './types.js';

export interface RetentionPolicy {
  /** The newest this many generations, by number. */
  keepLast: number;
  /** Every generation made less than this many days ago. */
  keepDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { keepLast: 10, keepDays: 14 };

const DAY_MS = 86_400_000;

/**
 * The numbers kept: the current generation, the newest `keepLast`, those younger than `keepDays`, and every pending
 * one (a switch may be applying it right now; recovery marks an abandoned one failed, and it ages out from there).
 * A creation time that does not parse counts as young: when in doubt, keep.
 */
export function retainedNumbers(metas: readonly GenerationMeta[], current: number | null, now: Date, policy: RetentionPolicy = DEFAULT_RETENTION): Set<number> {
  const keep = new Set<number>();
  if (current !== null) keep.add(current);
  const byNumber = [...metas].sort((a, b) => b.number - a.number);
  for (const m of byNumber.slice(0, Math.max(0, policy.keepLast))) keep.add(m.number);
  for (const m of metas) {
    const t = Date.parse(m.createdAt);
    if (!Number.isFinite(t) || now.getTime() - t < policy.keepDays * DAY_MS) keep.add(m.number);
    if (m.status === 'pending') keep.add(m.number);
  }
  return keep;
}
