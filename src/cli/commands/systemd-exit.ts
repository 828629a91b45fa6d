// The hidden `niso __after-exit SERVICE` that niso-SERVICE-exit.service runs each time the service's unit ends: the
// restart policy, applied as the embedded supervisor applies it (service/systemd/after-exit.ts).
import type { Context } from '../context.js';

export async function afterExit(ctx: Context, service: string): Promise<void> {
  const { afterExit: run } = await import('../../service/systemd/after-exit.js');
  await run(ctx.root, service, (line) => ctx.stdout.write(`${line}\n`));
}
