// The hidden `niso __wait-dependencies SERVICE` that niso-SERVICE-deps.service runs before each start of a stack service
// (render/systemd-deps.ts): apart from the stack verbs, whose stack file parsing it does not need.
import type { Context } from '../context.js';

/** `niso __wait-dependencies SERVICE` (niso-SERVICE-deps.service): its dependencies' conditions, before each start. */
export async function waitDependencies(ctx: Context, service: string): Promise<void> {
  const { requireDefinition } = await import('../../service/store.js');
  const { waitForDependencies } = await import('../../generation/dependencies.js');
  await waitForDependencies(ctx.root, requireDefinition(ctx.root, service));
}
