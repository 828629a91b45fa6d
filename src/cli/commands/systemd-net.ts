// `niso __net-up SERVICE` and `niso __net-down SERVICE`: what niso-SERVICE-net.service runs (render/systemd-net.ts),
// so that systemd itself sets a service's private network up at every start and boot, and tears it down.
import type { Context } from '../context.js';

export async function up(ctx: Context, service: string): Promise<void> {
  const t0 = performance.now();
  await (await import('../../service/systemd/net.js')).netUp(ctx.root, service);
  // Goes to the journal of the network unit.
  ctx.stdout.write(`network of ${service} is up (${Math.round(performance.now() - t0)} ms)\n`);
}

export async function down(ctx: Context, service: string): Promise<void> {
  await (await import('../../service/systemd/net.js')).netDown(ctx.root, service);
  ctx.stdout.write(`network of ${service} is down\n`);
}
