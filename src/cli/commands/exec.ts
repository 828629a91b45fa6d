// `niso exec SERVICE [-i] [-t] [-e NAME=value] -- CMD...`: a command inside a running service's sandbox.
import { NisoError } from '../../errors/niso-error.js';
import { cgroupOf, serviceProcesses } from '../../service/running.js';
import { readPlan, readState, requireDefinition } from '../../service/store.js';
import type { Context } from '../context.js';
import { parseEnv } from './run.js';

export async function run(ctx: Context, name: string, argv: string[], opts: { interactive?: boolean; tty?: boolean; env?: string[] }): Promise<void> {
  if (requireDefinition(ctx.root, name).backend === 'systemd') {
    // Joining a unit's sandbox needs its mount tree, user namespace and seccomp filter rebuilt from systemd's side; not done yet.
    throw new NisoError('NISO3311', `niso exec is not available yet for ${name}, which runs on the systemd backend`, { exitCode: 1, hint: 'activate the service with --backend embedded to exec into it' });
  }
  if (argv.length === 0) throw new NisoError('NISO9001', 'no command given', { exitCode: 2, hint: `write it after --, e.g. niso exec ${name} -- node -e "console.log(1)"` });
  const state = readState(ctx.root, name);
  const plan = readPlan(ctx.root, name);
  if (serviceProcesses(ctx.root, name).length === 0 || state.initPid === null || !plan) {
    throw new NisoError('NISO3303', `service "${name}" is not running`, { exitCode: 1, hint: `\`niso status ${name}\` shows its state; \`niso activate ${name}\` starts it` });
  }
  const env = parseEnv(ctx, { env: opts.env });
  if (opts.tty && ctx.env.TERM && env.TERM === undefined) env.TERM = ctx.env.TERM;
  const { execInService } = await import('../../service/exec.js');
  const r = await execInService({
    plan, initPid: state.initPid, cgroupProcsFiles: cgroupOf(ctx.root, name).procsFiles, argv,
    tty: opts.tty === true, interactive: opts.interactive === true, env, stdio: 'inherit',
  });
  ctx.exitCode = r.exitCode;
}
