// The hidden `niso __health-check SERVICE` that niso-SERVICE-health.service runs (one check, then exit), and
// `niso activate --wait` for systemd services.
import { readDefinition } from '../../service/store.js';
import type { Context } from '../context.js';

export async function healthCheck(ctx: Context, service: string): Promise<void> {
  // A service removed meanwhile has nothing to check.
  if (readDefinition(ctx.root, service)?.backend !== 'systemd') return;
  const { healthCheckRun } = await import('../../service/systemd/health.js');
  await healthCheckRun(ctx.root, service, (line) => ctx.stdout.write(`${line}\n`));
}

export async function waitSystemd(ctx: Context, service: string, timeoutMs: number | null): Promise<void> {
  const { waitSystemd: wait } = await import('../../service/systemd/health.js');
  await wait(ctx.root, service, timeoutMs, (line) => ctx.stderr.write(`niso: ${line}\n`));
}
