// Which services have a start that a killed niso command left without an outcome: a start request on record whose
// requester no longer runs. Asked by every `niso status` before anything else, so a module of its own: finding them
// loads nothing of what settles them (ops.ts reconcileInterrupted, under each service's lock).
import { sameProcess } from '../host/liveness.js';
import { pendingStart } from './model/reconcile.js';
import type { ServiceDefinition } from './model/types.js';
import { readDefinition, readState } from './store.js';

/** Of `names`, those with such a start, with their definitions (a damaged or missing definition is not one). */
export function interruptedStarts(root: string, names: readonly string[]): { name: string; def: ServiceDefinition }[] {
  const out: { name: string; def: ServiceDefinition }[] = [];
  for (const name of names) {
    let def: ServiceDefinition | null;
    try { def = readDefinition(root, name); } catch { continue; }
    const pending = def ? pendingStart(def, readState(root, name)) : null;
    if (def && pending !== null && !sameProcess(pending.by)) out.push({ name, def });
  }
  return out;
}
