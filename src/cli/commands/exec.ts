// `niso exec SERVICE [-i] [-t] [-e NAME=value] -- CMD...`: a command inside a running service's sandbox.
import { isatty } from 'node:tty';
import { NisoError } from '../../errors/niso-error.js';
import { cgroupOf, serviceRunning } from '../../service/running.js';
import { readPlan, readState, requireDefinition } from '../../service/store.js';
import type { Context } from '../context.js';
import { parseEnv } from './run.js';

export async function run(ctx: Context, name: string, argv: string[], opts: { interactive?: boolean; tty?: boolean; env?: string[] }): Promise<void> {
  const def = requireDefinition(ctx.root, name);
  if (argv.length === 0) throw new NisoError('NISO9001', 'no command given', { exitCode: 2, hint: `write it after --, e.g. niso exec ${name} -- node -e "console.log(1)"` });
  const env = parseEnv(ctx, { env: opts.env });
  if (opts.tty && ctx.env.TERM && env.TERM === undefined) env.TERM = ctx.env.TERM;
  if (def.backend === 'systemd') {
    // A transient unit with the service unit's own sandbox, in the service's network and IPC namespaces.
    const { execInUnit } = await import('../../service/systemd/exec.js');
    const r = await execInUnit(ctx.root, name, { argv, tty: opts.tty === true, interactive: opts.interactive === true, stdinIsTerminal: isatty(0), env });
    ctx.exitCode = r.exitCode;
    return;
  }
  const state = readState(ctx.root, name);
  const plan = readPlan(ctx.root, name);
  if (!serviceRunning(ctx.root, name) || state.initPid === null || !plan) {
    throw new NisoError('NISO3303', `service "${name}" is not running`, { exitCode: 1, hint: `\`niso status ${name}\` shows its state; \`niso activate ${name}\` starts it` });
  }
  const { execInService } = await import('../../service/exec.js');
  const r = await execInService({
    plan, initPid: state.initPid, cgroupProcsFiles: cgroupOf(ctx.root, name).procsFiles, argv,
    tty: opts.tty === true, interactive: opts.interactive === true, env, stdio: 'inherit',
  });
  ctx.exitCode = r.exitCode;
}
