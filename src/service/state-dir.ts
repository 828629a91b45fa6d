// A service's /state on the host (var/lib/niso/state/NAME, bounded by an image in state/.images/): what removing a
// service does to it, and what it holds, for both backends. It outlives the service unless it is removed with it,
// and so does the uid that owns its files.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { boundedUsage, deleteBounded, unmountBounded, type BoundedUsage } from '../host/bounded-dir.js';
import { releaseUid } from '../sandbox/uids.js';
import { layout, stateOf } from '../store/layout.js';

export { stateOf };

/** Where the state of a service is, and what it holds: null usage for an unbounded state dir (no image). */
export function stateUsage(root: string, service: string): { dir: string; image: string; usage: BoundedUsage | null } {
  const s = stateOf(layout(root), service);
  return { ...s, usage: boundedUsage(s) };
}

/** Whether a name has a /state on this host (its dir, or its image). */
export function hasState(root: string, service: string): boolean {
  const s = stateOf(layout(root), service);
  return existsSync(s.dir) || existsSync(s.image);
}

/**
 * When a service is removed: its state is unmounted (the data stays in its image, and the uid that owns it stays
 * the service's), or with `deleteState` deleted, and the uid given back.
 */
export async function releaseState(root: string, service: string, deleteState: boolean): Promise<void> {
  const s = stateOf(layout(root), service);
  if (!deleteState) return unmountBounded(s);
  await deleteBounded(s);
  await rm(s.dir, { recursive: true, force: true });
  await releaseUid(root, service);
}
