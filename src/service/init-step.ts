// The init step of a service ([init] in the manifest, plan.init): whether it is due before this start, and, on the
// embedded backend, running it in the service's own sandbox (same plan, its command swapped) and cgroup, its output
// in the service's logs, before the app starts. systemd runs it as niso-SERVICE-init.service (render/systemd.ts),
// whose ExecCondition= asks `niso __init-needed`, so both backends decide by initNeeded().
import { lstatSync, readdirSync } from 'node:fs';
import { NisoError } from '../errors/niso-error.js';
import { initStepFailed, timedOutText } from './init-step-error.js';
import type { Plan, PlanInit } from '../plan/plan.js';
import { cgroupPids, type Cgroup } from '../sandbox/cgroup.js';
import { exitCodeOf, fdContents, JOIN_CGROUP_FAILED, JOIN_NOFILE_FAILED, renderCommand, spawnSandbox } from '../sandbox/spawn.js';

/**
 * Whether the step runs before this start: always, or while its directory is empty (an empty lost+found, which a fresh
 * /state image has, counts as nothing) or its path is missing. A path that cannot be checked (the directory is a file,
 * a permission error) is NISO3315 rather than a guess either way.
 */
export function initNeeded(init: PlanInit): boolean {
  const w = init.when;
  if (w.kind === 'always' || w.hostPath === null) return true;
  const field = w.kind === 'if-empty' ? 'if_empty' : 'unless_exists';
  const cannot = (e: unknown) => new NisoError('NISO3315', `the init step's condition ${field} = "${w.path}" could not be checked: ${(e as NodeJS.ErrnoException).code === 'ENOTDIR' ? `${w.hostPath} is not a directory` : (e as Error).message}; the service was not started`, {
    hint: w.kind === 'if-empty' ? `${w.path} must be a directory (or missing) for if_empty; move what is there away, then start the service again` : 'fix the path the message names, then start the service again',
  });
  if (w.kind === 'unless-exists') {
    try { return lstatSync(w.hostPath, { throwIfNoEntry: false }) === undefined; } catch (e) {
      // A component that is a file: the path does not exist.
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return true;
      throw cannot(e);
    }
  }
  let names: string[];
  try { names = readdirSync(w.hostPath); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw cannot(e);
  }
  try {
    return names.every((n) => n === 'lost+found' && readdirSync(`${w.hostPath}/${n}`).length === 0);
  } catch (e) {
    // A file named lost+found is data.
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw cannot(e);
  }
}

/** The plan the init step runs with: the service's, with the init command (the same sandbox, user, mounts and env). */
export function initPlan(plan: Plan): Plan {
  return { ...plan, command: { ...plan.command, argv: plan.init!.argv } };
}

/**
 * Runs the init step to its end in the service's cgroup (its limits count), output appended to the service's log
 * files. Exit 0 or it throws NISO3315 with the exit code and the output's last lines; past its timeout the cgroup's
 * processes are killed.
 */
export async function runInitStep(plan: Plan, seccomp: Buffer | null, secrets: ReadonlyMap<string, Buffer>, cg: Cgroup, sinks: { stdout: number; stderr: number }, lastOutput: () => Promise<string> = async () => ''): Promise<void> {
  const init = plan.init!;
  const cmd = renderCommand(initPlan(plan), seccomp, true);
  const contents = fdContents(cmd, seccomp, secrets);
  let exitFromStatus: number | null = null;
  const { child, ended } = spawnSandbox({
    cmd, contents, nofile: plan.limits.nofile, procsFiles: cg.procsFiles, stdin: 'ignore', stdout: sinks.stdout, stderr: sinks.stderr,
    status: { follow: (st) => { if (st.exitCode !== undefined) exitFromStatus = st.exitCode; } },
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killAll(cg);
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
  }, init.timeoutMs);
  const end = await ended.finally(() => clearTimeout(timer));
  // A chain that could not even be spawned ends as a shell does for a command it cannot find.
  const code = end.error ? 127 : end.code;
  // What the step left behind (a daemon it forked) does not outlive it: the app must not start beside it in the cgroup.
  for (let i = 0; i < 200 && cgroupPids(cg).length > 0; i++) {
    killAll(cg);
    await new Promise((r) => setTimeout(r, 5));
  }
  const left = cgroupPids(cg);
  if (left.length > 0) throw initStepFailed(plan.service, init.argv, `left processes that could not be killed (${left.join(', ')})`, '', 'the service');
  const exitCode = exitCodeOf(exitFromStatus, { code, signal: end.signal });
  if (exitCode === 0 && !timedOut) return;
  const what = timedOut ? timedOutText(init.timeoutMs) : code === JOIN_NOFILE_FAILED ? `could not set the open-files limit to ${plan.limits.nofile}` : code === JOIN_CGROUP_FAILED ? 'could not join the service\'s cgroup' : `exited with code ${exitCode}`;
  throw initStepFailed(plan.service, init.argv, what, await lastOutput(), 'the service');
}

function killAll(cg: Cgroup): void {
  for (const p of cgroupPids(cg)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
}


