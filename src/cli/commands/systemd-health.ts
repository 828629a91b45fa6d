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

/**
 * The hidden `niso __init-needed SERVICE`, run by niso-SERVICE-init-check.service before each start: leaves the
 * service's init-due file while the init step is due (the init unit's ConditionPathExists=) and removes it while it is
 * not, by the same decision as the embedded backend's (service/init-step.ts). An error (an unreadable path) exits
 * non-zero: the check unit fails, so the init step and the app do not start, rather than skipping the step.
 */
export async function initNeeded(ctx: Context, service: string): Promise<void> {
  const { join } = await import('node:path');
  const { rmSync } = await import('node:fs');
  const { readPlan } = await import('../../service/store.js');
  const { initNeeded: due } = await import('../../service/init-step.js');
  const { filesDirOf } = await import('../../service/systemd/net.js');
  const { INIT_DUE_FILE } = await import('../../render/systemd-names.js');
  const { writeFileAtomic } = await import('../../host/fs-atomic.js');
  const init = readPlan(ctx.root, service)?.init;
  const run = init !== undefined && due(init);
  const flag = join(filesDirOf(ctx.root, service), INIT_DUE_FILE);
  if (run) await writeFileAtomic(flag, `${new Date().toISOString()}\n`, 0o644);
  else rmSync(flag, { force: true });
  const where = init === undefined ? 'no init step in the plan' : init.when.kind === 'always' ? 'every start' : `${init.when.path}${init.when.kind === 'if-empty' ? (run ? ' is empty' : ' is not empty') : (run ? ' does not exist' : ' exists')}`;
  ctx.stdout.write(`${run ? 'init step due' : 'init step skipped'}: ${where}\n`);
}
