// Runs a plan in the foreground with bubblewrap: prepares the state dir and the cgroup, starts
// the sandbox with stdio attached, forwards signals to the app, and cleans up after it, also
// after a crash of niso (the sandbox dies with it; leftover cgroups are swept by the next run).
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { run } from '../host/exec.js';
import { ensureBounded } from '../host/bounded-dir.js';
import type { Plan } from '../plan/plan.js';
import { createCgroup, removeCgroup, sweepCgroups } from './cgroup.js';
import { appPid } from './procs.js';
import { initNeeded, runInitStep } from '../service/init-step.js';
import { exitCodeOf, fdContents, JOIN_CGROUP_FAILED, JOIN_NOFILE_FAILED, renderCommand, signalOfExitCode, spawnSandbox } from './spawn.js';

export interface SandboxResult {
  exitCode: number;
  /** The signal that ended the app, if any. */
  signal: string | null;
  /** pid of the sandbox's init (pid 1 inside), for diagnostics. */
  sandboxPid: number | null;
}

/**
 * Creates the host dirs the plan needs (the state dir), owned by the service; a bounded one is its image, made,
 * resized or mounted as needed (mounted already, it costs two small reads).
 */
export async function prepareDirs(plan: Plan): Promise<void> {
  for (const p of plan.prepare) {
    // Parents stay traversable for the service uid; only the dir itself is private.
    mkdirSync(dirname(p.path), { recursive: true, mode: 0o755 });
    mkdirSync(p.path, { recursive: true, mode: p.mode });
    if (p.bound !== null) await ensureBounded({ dir: p.path, image: p.bound.image, sizeBytes: p.bound.sizeBytes, uid: p.uid, gid: p.gid, mode: p.mode });
    if (p.chownFrom !== null && p.chownFrom !== p.uid) await giveFiles(p.path, p.chownFrom, p.uid);
    chownSync(p.path, p.uid, p.gid);
    chmodSync(p.path, p.mode);
  }
}

/** Gives the files of one uid (and group) below dir to another, links themselves and not their targets. */
async function giveFiles(dir: string, from: number, to: number): Promise<void> {
  for (const [match, owner] of [[`${from}`, `${to}`], [`:${from}`, `:${to}`]] as const) {
    const r = await run('chown', ['-R', '--no-dereference', `--from=${match}`, owner, '--', dir]);
    if (r.code !== 0) throw new NisoError('NISO3207', `could not give the files of uid ${from} in ${dir} to the service's new uid ${to}: ${r.stderr.trim()}`, { hint: `give them over by hand: chown -R --from=${from}:${from} ${to}:${to} ${dir}` });
  }
}

export async function runSandbox(plan: Plan, seccomp: Buffer | null, opts: { onStart?: (pid: number) => void; secrets?: ReadonlyMap<string, Buffer> } = {}): Promise<SandboxResult> {
  await sweepCgroups();
  await prepareDirs(plan);
  const cmd = renderCommand(plan, seccomp, true);
  const contents = fdContents(cmd, seccomp, opts.secrets ?? new Map());
  const cg = createCgroup(plan, `${process.pid}-${randomBytes(3).toString('hex')}`);
  // The init step first, in this sandbox and cgroup, its output on the run's own.
  if (plan.init && initNeeded(plan.init)) {
    try { await runInitStep(plan, seccomp, opts.secrets ?? new Map(), cg, { stdout: 1, stderr: 2 }); } catch (e) { await removeCgroup(cg); throw e; }
  }
  // The sandbox still dies with niso (--die-with-parent does not depend on process groups).
  let initPid: number | null = null;
  let exitFromStatus: number | null = null;
  const { child, ended } = spawnSandbox({
    cmd, contents, nofile: plan.limits.nofile, procsFiles: cg.procsFiles, stdin: 'inherit', stdout: 'inherit', stderr: 'inherit',
    status: {
      follow: (st) => {
        if (st.childPid !== undefined) { initPid = st.childPid; opts.onStart?.(initPid); }
        if (st.exitCode !== undefined) exitFromStatus = st.exitCode;
      },
    },
  });

  // Signals to niso go to the app (not to the sandbox's init, which ignores them). A second
  // interrupt, or the stop timeout, kills the whole sandbox.
  let stopping: NodeJS.Timeout | null = null;
  const killAll = () => { if (initPid !== null) { try { process.kill(initPid, 'SIGKILL'); } catch { /* gone */ } } else child.kill('SIGKILL'); };
  const forward = (sig: NodeJS.Signals) => {
    if (stopping && (sig === 'SIGINT' || sig === 'SIGTERM')) { killAll(); return; }
    const target = initPid === null ? null : appPid(initPid);
    if (target !== null) { try { process.kill(target, sig); } catch { /* exited */ } } else killAll();
    if ((sig === 'SIGINT' || sig === 'SIGTERM') && !stopping) stopping = setTimeout(killAll, plan.stop.timeoutMs).unref();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
  for (const s of signals) process.on(s, forward);

  const end = await ended.finally(async () => {
    for (const s of signals) process.off(s, forward);
    if (stopping) clearTimeout(stopping);
    await removeCgroup(cg);
  });
  if (end.error) throw end.error;
  if (end.code === JOIN_NOFILE_FAILED && initPid === null) throw new NisoError('NISO3205', `could not set the open-files limit to ${plan.limits.nofile}`, { hint: 'the hard limit of this host may be lower; choose a smaller [resources] nofile' });
  if (end.code === JOIN_CGROUP_FAILED && initPid === null) throw new NisoError('NISO3202', `could not put the sandbox into its cgroup (${cg.procsFiles.join(', ')})`, { hint: 'check that the cgroup filesystem is mounted and writable' });
  const exitCode = exitCodeOf(exitFromStatus, end);
  return { exitCode, signal: signalOfExitCode(exitCode), sandboxPid: initPid };
}
