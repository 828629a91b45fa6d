// `niso exec SERVICE -- CMD` for a service that systemd runs: the command becomes a transient unit with the service
// unit's own [Service] lines (its user, root, binds, seccomp filter, capabilities, no_new_privs, limits), put into
// the service's network and IPC namespaces (render/systemd-run.ts joinServiceProperties), in the foreground.
//
// What differs from the embedded backend's exec (which enters the app's namespaces with nsenter): the command gets
// a mount tree built the same way but its own, so a fresh /tmp (/state, /app and the rest are the same binds); its
// own user namespace, in which it does not see the app's processes in /proc; and a cgroup of its own with the
// same limits, rather than the service's.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { RenderError } from '../../render/render-error.js';
import { environmentFileProperty, joinServiceProperties, transientArgv, transientProperties } from '../../render/systemd-run.js';
import { environmentFile } from '../../render/systemd-escape.js';
import { findCommand } from '../exec-resolve.js';
import { readPlan } from '../store.js';
import { unitName } from './ops.js';
import { cleanupTransient, sweepTransients, transientUnit, writeRecord, type TransientRecord } from './run.js';
import { showSync } from './systemctl.js';
import { runTransient, type ForegroundExit } from './transient.js';

export interface UnitExecOptions {
  argv: string[];
  /** A fresh terminal for the command (`-t`). */
  tty: boolean;
  /** Pass niso's stdin on (`-i`); otherwise the command reads /dev/null. */
  interactive: boolean;
  /** Whether niso's stdin is a terminal. */
  stdinIsTerminal: boolean;
  /** Added to (and overriding) the service's environment. */
  env: Record<string, string>;
  /** Collect the command's output (the last `maxChars` characters) rather than handing niso's stdio on: exec health checks. */
  capture?: { maxChars: number };
  /** Kill the command after this long. */
  timeoutMs?: number;
}

/** Runs `argv` beside the running service `name` on systemd; resolves with how it ended. */
export async function execInUnit(root: string, name: string, opts: UnitExecOptions): Promise<ForegroundExit> {
  if (opts.tty && opts.interactive && !opts.stdinIsTerminal) {
    // systemd-run --pty 252 drops input that arrives before the command's terminal exists, which a pipe always does.
    throw new NisoError('NISO9001', `-it needs a terminal on stdin for ${name}, which runs on systemd: its command gets a terminal of its own only once it starts, and piped input sent before that is lost`, {
      exitCode: 2, hint: 'leave out -t to pipe stdin into the command, or run niso from a terminal',
    });
  }
  const service = unitName(name);
  const plan = readPlan(root, name);
  const p = showSync(service, ['MainPID', 'ActiveState', 'FragmentPath']);
  const mainPid = Number(p.MainPID);
  if (!plan || !(mainPid > 0) || !p.FragmentPath) {
    throw new NisoError('NISO3303', `service "${name}" is not running (systemd: ${p.ActiveState ?? 'unknown'})`, { exitCode: 1, hint: `\`niso status ${name}\` shows its state; \`niso activate ${name}\` starts it` });
  }
  const env = { ...opts.env };
  // As `docker exec -t` does: full-screen programs need a terminal type; the caller's or the plan's wins.
  if (opts.tty && env.TERM === undefined) env.TERM = plan.command.env.TERM ?? 'xterm';
  const merged = { ...plan.command.env, ...env };
  // Looked up in the running app's own root, the way the command will be found: a missing one is NISO3311 here
  // rather than systemd's 203/EXEC. systemd needs the absolute path (it does not search PATH in the unit's root).
  const lookup = findCommand(`/proc/${mainPid}/root`, opts.argv[0]!, { path: merged.PATH ?? '/usr/local/bin:/usr/bin:/bin', cwd: plan.command.cwd, uid: plan.user.uid, gid: plan.user.gid });
  if (!lookup.found) {
    throw new NisoError('NISO3311', `cannot run ${opts.argv[0]} in service ${name}: ${lookup.detail}`, {
      hint: `the sandbox holds only the app, its runtime and what the plan mounts; run a program from the app or the runtime, e.g. \`niso exec ${name} -- ${plan.command.argv[0] ?? 'node'} ...\``,
    });
  }

  const { unit, dir } = transientUnit(root, 'exec', name);
  const envFile = join(dir, 'environment');
  let properties: string[];
  let argv: string[];
  let envText: string;
  try {
    // The unit file systemd runs the service from, as it is now: its lines, not a new rendering of the plan.
    properties = [...transientProperties(readFileSync(p.FragmentPath, 'utf8'), [], unit), ...joinServiceProperties(service), ...(Object.keys(env).length > 0 ? [environmentFileProperty(envFile)] : [])];
    argv = transientArgv([lookup.path, ...opts.argv.slice(1)]);
    envText = environmentFile(env);
  } catch (e) {
    if (e instanceof RenderError) throw new NisoError('NISO3311', `cannot run a command in service ${name}: ${e.message}`);
    throw e;
  }

  await sweepTransients(root);
  const rec: TransientRecord = { pid: process.pid, unit, service: name, user: null };
  writeRecord(dir, rec);
  try {
    // Root's alone, as the service's own: -e values are as secret as the service's.
    if (Object.keys(env).length > 0) writeFileSync(envFile, envText, { mode: 0o600 });
    return await runTransient({
      unit, description: `niso exec ${name}: ${opts.argv.join(' ')}`.slice(0, 200), properties, argv,
      stdio: opts.tty ? 'pty' : 'pipe', stdin: opts.interactive ? 'inherit' : 'ignore',
      exitFile: join(dir, 'exit'), stopTimeoutMs: plan.stop.timeoutMs, ...(opts.tty ? { term: env.TERM! } : {}),
      ...(opts.capture ? { capture: opts.capture } : {}), ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
  } finally {
    await cleanupTransient(root, dir, rec);
  }
}
