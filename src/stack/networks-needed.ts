// The stack networks a switch must make before it starts services: read from the generation's entries, apart from
// deploy.ts so that every switch (a deactivate too) gets it without the stack checks and the TOML parser behind them.
import { startsService } from '../generation/order.js';
import type { ServiceAction } from '../generation/types.js';

/** A stack network a switch needs: made by its stack (with or without egress), or a network of the host. */
export interface NeededNetwork { name: string; external: boolean; egress: boolean }

/**
 * The stack networks of the services a switch starts, each once, in the order of the actions. `stack up` makes its
 * own before the switch; a rollback to a generation before a `stack down` (which removed them) must make them again.
 */
export function networksNeeded(actions: readonly ServiceAction[]): NeededNetwork[] {
  const out = new Map<string, NeededNetwork>();
  for (const a of actions) {
    if (!startsService(a)) continue;
    for (const n of a.to!.stack?.networks ?? []) {
      if (!out.has(n.name)) out.set(n.name, { name: n.name, external: n.external === true, egress: n.egress !== false });
    }
  }
  return [...out.values()];
}
