// The idlest services there are (a shell that sleeps: no network, no health check, no output), N of them, for the
// benches that measure what niso costs while services merely exist: the supervisor at rest, the read commands.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { supervisorPid } from '../../src/service/supervisor-record.js';
import { niso, nisoEnv, prepareBenchWork, removeBenchWork, type NisoCli } from './niso.js';

/**
 * The bench's own work dir below `base` (a copy of niso's build, a NISO_ROOT), and the environment its niso runs
 * with: NODE_EXTRA_CA_CERTS unset, which adds ~45 ms to every node start here and would be measured as niso's.
 */
export function idleBenchWork(repo: string, base: string, kind: string, log: (line: string) => void): { work: string; cli: NisoCli; root: string; env: NodeJS.ProcessEnv } {
  const work = join(base, `niso-bench-${kind}-${process.pid}`);
  const cli = prepareBenchWork(repo, work, log);
  const root = join(work, 'root');
  const env = nisoEnv({ NISO_ROOT: root });
  delete env.NODE_EXTRA_CA_CERTS;
  return { work, cli, root, env };
}

const names = (count: number) => Array.from({ length: count }, (_, i) => `idle${i}`);

/** Packs, installs and activates `count` idle services (idle0, idle1, ...) in the root that `env` names. */
export function startIdleServices(cli: NisoCli, env: NodeJS.ProcessEnv, work: string, count: number): void {
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'manifest.toml'), '[package]\nname = "idle"\nversion = "1.0.0"\narch = "any"\n\n[binary]\nentrypoint = "run.sh"\n\n[isolation]\ntools = ["sh", "sleep"]\n');
  writeFileSync(join(app, 'run.sh'), '#!/bin/sh\nexec sleep 1000000\n', { mode: 0o755 });
  niso(cli, ['pack', app, '-o', join(work, 'idle.niso'), '--no-sign', '-q'], { env });
  niso(cli, ['install', join(work, 'idle.niso')], { env });
  for (const name of names(count)) niso(cli, ['activate', 'idle', '--name', name, '--network', 'none', '--no-gate'], { env });
}

/** Deactivates them (as far as they were made), stops the supervisor and removes the bench's work dir. */
export async function stopIdleServices(cli: NisoCli, env: NodeJS.ProcessEnv, root: string, work: string, count: number): Promise<void> {
  try { niso(cli, ['deactivate', ...names(count)], { env }); } catch { /* partly made */ }
  const pid = await supervisorPid(root);
  if (pid) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
  await removeBenchWork(work);
}
