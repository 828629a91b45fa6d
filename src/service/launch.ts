// Starting and stopping one service with the embedded backend. A service is a bubblewrap sandbox
// started detached (its own session, not tied to the process that started it), writing its
// output straight into files, in a cgroup of a fixed name. So whoever comes next (the supervisor,
// a restarted supervisor, `niso status`) finds it by its cgroup: running means the cgroup has
// processes. The caller holds the service's lock (store.ts withServiceLock).
import { closeSync, existsSync, openSync, rmSync, writeSync, constants as FS } from 'node:fs';
import { openLogSinks } from './logs/files.js';
import { NisoError } from '../errors/niso-error.js';
import { crashPoint } from '../host/crash-point.js';
import { parentPid, processStartTimeSync } from '../host/liveness.js';
import type { Plan } from '../plan/plan.js';
import { createCgroup, removeCgroup, serviceCgroupName, type Cgroup } from '../sandbox/cgroup.js';
import { installedManifest, preparePlan } from '../sandbox/prepare.js';
import { appPid } from '../sandbox/procs.js';
import { prepareDirs } from '../sandbox/run-sandbox.js';
import { SIGNAL_NUMBERS } from '../sandbox/signals.js';
import { compileSeccomp, fdContents, JOIN_CGROUP_FAILED, JOIN_NOFILE_FAILED, renderCommand, spawnSandbox } from '../sandbox/spawn.js';
import { secretValues } from '../secret/store.js';
import { resolveOne } from '../store/resolve.js';
import { afterInterrupted, pendingStart, startOutcome } from './model/reconcile.js';
import { withLimitEvents, type ExitRecord, type ServiceDefinition, type ServiceState } from './model/types.js';
import { readLimitEvents } from './stats/read.js';
import { readPlan, readState, requireDefinition, rootId, servicePaths, writeDefinition, writePlan, writeState } from './store.js';
import { cgroupOf, endedRun, lastOutput, readSandboxStatus, requestStart, sandboxStart, serviceProcesses, serviceRunning, signalName, startFacts } from './running.js';

export { cgroupOf, endedRun, lastOutput, readSandboxStatus, requestStart, serviceProcesses, serviceRunning, signalName };
import { attachServiceNet, detachServiceNet, liveNet, reownServiceNet } from './net.js';
import { resetHealth } from './health/file.js';
import { initNeeded, runInitStep } from './init-step.js';

export interface HostEnv { root: string; env: NodeJS.ProcessEnv }

/** `dryRun`: the first plan only says which network to attach; the volumes are made by the plan that starts. */
async function planFor(host: HostEnv, def: ServiceDefinition, net: { netns: string; hosts: string } | null, dryRun = false): Promise<Plan> {
  const pkg = await resolveOne(host.root, def.package.digest);
  const manifest = await installedManifest(pkg);
  return preparePlan(host, pkg, manifest, def.name, def.options, net, null, { run: false, dryRun });
}

const START_TIMEOUT_MS = 30_000;

/** The state of a run that has started: the plan's stop and health, where it can be reached. */
function runningState(prev: ServiceState, plan: Plan, run: { pid: number; pidStart: number | null; initPid: number; startedAt: Date; net: { addresses: string[]; ports: string[] } }): ServiceState {
  const at = run.startedAt.toISOString();
  return {
    ...prev, state: plan.health ? 'activating' : 'active', since: at, pid: run.pid, pidStart: run.pidStart, initPid: run.initPid,
    startedAt: at, nextRestartAt: null, addresses: run.net.addresses, ports: run.net.ports,
    stop: { signal: plan.stop.signal, timeoutMs: plan.stop.timeoutMs }, message: null,
  };
}

/**
 * Starts the service unless it runs. Returns its new state (already written). Failures before
 * the app runs throw (nothing is left behind); the app ending at once is a NISO3304 with its output.
 * Each step leaves what a start killed there needs to be told and recovered (reconcileLocked): the plan is written
 * before the sandbox is spawned, and the sandbox's status file is made anew, so that a run nobody recorded is found
 * by its cgroup and adopted with its plan.
 */
export async function startService(host: HostEnv, def: ServiceDefinition, prev: ServiceState): Promise<ServiceState> {
  const { root } = host;
  const name = def.name;
  const paths = servicePaths(root, name);
  if (serviceRunning(root, name)) return readState(root, name);
  await cleanupRun(root, name);

  let plan = await planFor(host, def, { netns: '/run/netns/(prepared at start)', hosts: '' }, true);
  let attached: Awaited<ReturnType<typeof attachServiceNet>> | null = null;
  const fds: number[] = [];
  let cg: Cgroup | null = null;
  try {
    if (plan.network.mode === 'private') {
      attached = await attachServiceNet(root, plan);
      crashPoint(host.env, 'attached');
      plan = await planFor(host, def, { netns: attached.netnsPath, hosts: attached.hosts });
    } else {
      plan = await planFor(host, def, null);
    }
    await prepareDirs(plan);
    const seccomp = compileSeccomp(plan);
    const cmd = renderCommand(plan, seccomp, false);
    const secrets = secretValues(root, plan);
    const contents = fdContents(cmd, seccomp, secrets);
    await writePlan(root, name, plan);
    const cgroup = createCgroup(plan, '', serviceCgroupName(rootId(root), name));
    cg = cgroup;
    // Owned by the service, so that an app reopening /dev/stdout or /dev/stderr can write to them.
    const sinks = openLogSinks(paths.logs, { uid: plan.user.uid, gid: plan.user.gid });
    fds.push(sinks.stdout, sinks.stderr);
    // The init step first, in this sandbox and cgroup: the app starts only after it succeeded.
    if (plan.init && initNeeded(plan.init)) await runInitStep(plan, seccomp, secrets, cgroup, sinks, () => lastOutput(root, name));
    // A new file (not an emptied one): its birth time tells this start from an earlier one (running.ts sandboxStart).
    rmSync(paths.status, { force: true });
    const statusFd = openSync(paths.status, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, 0o600);
    fds.push(statusFd);
    const { child, ended } = spawnSandbox({
      cmd, contents, nofile: plan.limits.nofile, procsFiles: cgroup.procsFiles, stdin: 'ignore', stdout: sinks.stdout, stderr: sinks.stderr, status: { file: statusFd },
    });
    const exited = ended.then((e) => (e.error ? 127 : e.code ?? (e.signal ? 128 + (SIGNAL_NUMBERS[e.signal] ?? 0) : null)));
    // No sandbox, no bubblewrap to report one (unsafe-none): the started process is the app (the chain to it execs),
    // so it is recorded as bubblewrap would record its init, and appPid() knows it for what it is.
    if (!cmd.fds.some((f) => f.kind === 'status')) writeSync(statusFd, `${JSON.stringify({ 'child-pid': child.pid })}\n`);
    for (const fd of fds.splice(0)) closeSync(fd);
    child.unref();
    const pid = child.pid!;
    if (attached) await attached.reown(pid);

    // Started: bubblewrap has built the sandbox and reports its init's pid. Or it ended first.
    const deadline = Date.now() + START_TIMEOUT_MS;
    let early: number | null | undefined;
    void exited.then((c) => { early = c; });
    let status = readSandboxStatus(paths.status);
    while (status.initPid === null && early === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 3));
      status = readSandboxStatus(paths.status);
    }
    if (status.initPid === null) {
      if (early === undefined) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      const code = early ?? null;
      const why = code === JOIN_NOFILE_FAILED ? `could not set the open-files limit to ${plan.limits.nofile}` : code === JOIN_CGROUP_FAILED ? 'could not join its cgroup' : `the sandbox did not start (exit code ${code ?? 'unknown'})`;
      const out = await lastOutput(root, name);
      throw new NisoError('NISO3304', `${name}: ${why}${out ? `; its last output:\n${out}` : ''}`, { hint: `\`niso debug ${name}\` shows what the sandbox allows and its output` });
    }
    crashPoint(host.env, 'started');
    const now = new Date();
    await resetHealth(root, name, plan, now.getTime());
    const next = runningState(prev, plan, { pid, pidStart: processStartTimeSync(pid), initPid: status.initPid, startedAt: now, net: attached ?? { addresses: [], ports: [] } });
    await writeState(root, name, next);
    return next;
  } catch (e) {
    for (const fd of fds) { try { closeSync(fd); } catch { /* closed */ } }
    if (cg) await removeCgroup(cg);
    if (attached) await detachServiceNet(root, name).catch(() => undefined);
    throw e;
  }
}

/**
 * Records a run its starter did not record (killed after the sandbox started, before writing state.json): the cgroup
 * is the service's identity, so the run is adopted with the plan written before it started, its network handed to
 * it, its health checked from now on. Lock held. null while its sandbox has not reported its start yet.
 */
async function adoptRun(root: string, def: ServiceDefinition, state: ServiceState): Promise<ServiceState | null> {
  const pending = pendingStart(def, state);
  const started = sandboxStart(root, def.name, pending?.at);
  const plan = readPlan(root, def.name);
  if (started === null || plan === null) return null;
  const pid = parentPid(started.initPid) ?? started.initPid;
  const running = serviceRunning(root, def.name);
  if (running && plan.network.mode === 'private') await reownServiceNet(root, def.name, pid);
  if (running) await resetHealth(root, def.name, plan, started.at.getTime());
  // One that ended meanwhile is recorded as it ran; the supervisor then judges its end as any other.
  const next: ServiceState = {
    ...runningState(state, plan, { pid, pidStart: processStartTimeSync(pid), initPid: started.initPid, startedAt: started.at, net: await liveNet(root, def.name) }),
    start: pending?.id ?? state.start,
  };
  await writeState(root, def.name, next);
  return next;
}

/**
 * Brings a service's records in line with what runs (model/reconcile.ts) after a niso command was killed in the
 * middle of a start: a run nobody recorded is adopted; a start that never ran is taken back (desired as before it,
 * its cgroup and network removed). The service's lock held.
 */
export async function reconcileLocked(root: string, name: string): Promise<{ def: ServiceDefinition; state: ServiceState }> {
  const def = requireDefinition(root, name);
  const state = readState(root, name);
  const outcome = startOutcome(def, state, startFacts(root, def, state));
  if (outcome === 'unrecorded-run') return { def, state: await adoptRun(root, def, state) ?? state };
  if (outcome !== 'interrupted') return { def, state };
  await cleanupRun(root, name);
  const back = afterInterrupted(def, state, new Date());
  await writeDefinition(root, back.def);
  await writeState(root, name, back.state);
  return back;
}

/** Removes what a run of the service left: its cgroup and its network attachment. */
export async function cleanupRun(root: string, name: string): Promise<void> {
  const cg = cgroupOf(root, name);
  if (cg.dirs.some((d) => existsSync(d))) await removeCgroup(cg);
  await detachServiceNet(root, name);
}

/** Sends a signal to the app (the child of the sandbox's init); false if there is none. */
export function signalApp(state: ServiceState, signal: string): boolean {
  if (state.initPid === null) return false;
  const app = appPid(state.initPid);
  if (app === null) return false;
  try { process.kill(app, signal as NodeJS.Signals); return true; } catch { return false; }
}

/**
 * Stops a running service: the plan's stop signal to the app, then after the stop timeout
 * SIGKILL to everything in its cgroup; then removes its cgroup and network. Returns how it ended.
 */
export async function stopService(root: string, name: string, state: ServiceState, reason: ExitRecord['reason']): Promise<ExitRecord | null> {
  const running = serviceRunning(root, name);
  let killed = false;
  if (running) {
    if (!signalApp(state, state.stop.signal)) killed = true;
    const deadline = Date.now() + (killed ? 0 : state.stop.timeoutMs);
    while (serviceRunning(root, name) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Still there after the stop timeout: cleanupRun's removeCgroup SIGKILLs everything left.
    if (serviceRunning(root, name)) killed = true;
  }
  // The pids limit it hit, before its cgroup goes (an OOM kill is not what ended a run that niso stopped).
  const events = readLimitEvents(cgroupOf(root, name));
  await cleanupRun(root, name);
  if (state.pid === null) return null;
  const exit = withLimitEvents(endedRun(root, name, state, reason, new Date()), events && { ...events, oomKills: 0 });
  if (killed && exit.exitCode === null) return { ...exit, exitCode: 137, signal: 'SIGKILL', message: `killed after the stop timeout (${state.stop.timeoutMs / 1000} s)` };
  return exit;
}
