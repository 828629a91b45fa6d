// The service verbs on the systemd backend: the plan is rendered as niso-<service>.service (render/systemd.ts),
// written with its files and user into /etc, and handed to systemd, which starts, restarts and logs it. No niso
// process stays behind: state that the embedded backend keeps in state.json is systemd's here (status.ts).
//
// Private networks: the unit binds to niso-<service>-net.service (render/systemd-net.ts, net.ts), which attaches the
// service when systemd starts it (also at boot) and detaches it once the service is stopped; the CLI only starts units.
import { dependenciesOf } from '../../generation/order.js';
import { depsUnitName } from '../../render/systemd-names.js';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { generationPaths } from '../../generation/store.js';
import { RECOVER_UNIT, renderRecoverUnit } from '../../render/systemd-recover.js';
import type { NisoCommand } from '../../render/systemd-net.js';
import { dirname, join, resolve } from 'node:path';
import { NisoError, isNisoError } from '../../errors/niso-error.js';
import { crashPoint } from '../../host/crash-point.js';
import { writeFileAtomic } from '../../host/fs-atomic.js';
import type { Plan } from '../../plan/plan.js';
import { RenderError } from '../../render/render-error.js';
import type { SystemdUnit } from '../../render/systemd.js';
import { resolveOne } from '../../store/resolve.js';
import { detachServiceNet, liveNet } from '../net.js';
import { SHARED_TMP_DIR, exitInstanceName, exitServiceName, initCheckUnitName, initUnitName, netUnitName, retryTimerName, unitName } from '../../render/systemd-names.js';
import { END_PROPERTIES, restartPending, scheduleStart, unitEnd } from './after-exit.js';
import { healthUnitNames } from '../../render/systemd-health.js';
import { resetUnitHealth } from './health.js';
import { filesDirOf } from './unit-end.js';
import { netUpError } from './net-error.js';
// The planner, the unit renderer (seccomp's tables) and the network code (net.ts) load when a unit is written or started:
// a stop or a remove needs none of them (issue 17).
const planning = () => Promise.all([import('../../sandbox/prepare.js'), import('../../render/systemd.js'), import('./net.js')]);
import { initialState, withExit, type ExitRecord, type ServiceDefinition, type ServiceState } from '../model/types.js';
import { afterInterrupted, pendingStart, startOutcome } from '../model/reconcile.js';
import { unitStartFacts } from './status.js';
import { requestStart } from '../running.js';
import type { Deactivated } from '../../backend/types.js';
import { isActive, serviceStatus } from '../view.js';
import { readPlan, readState, removeServiceFiles, requireDefinition, withServiceLock, withServicesLock, writeDefinition, writePlan, writeState } from '../store.js';
import type { HostEnv as BaseHostEnv } from '../launch.js';
import { UNIT_DIR, showManySync, showSync, systemctl, tool, unitFileEnabled, unixTimestamp } from './systemctl.js';
import { initStepFailed, timedOutText } from '../init-step-error.js';
import { mountUnitName } from '../../render/systemd-mount.js';
import { layout, stateOf } from '../../store/layout.js';
import { releaseServiceData } from '../../volume/service-data.js';

export { UNIT_DIR };
export const SYSUSERS_DIR = '/etc/sysusers.d';

export { unitName };

export { filesDirOf };

/** The host, and niso's own bin (the private network's unit runs `node <entry> __net-up`). */
type HostEnv = BaseHostEnv & { entry?: string };

const sysusersFile = (service: string) => join(SYSUSERS_DIR, `niso-${service}.conf`);

/** The mount unit of the service's bounded state dir (render/systemd-mount.ts). */
const stateMountName = (root: string, service: string) => mountUnitName(stateOf(layout(root), service).dir);
/** The app's /tmp, shared with exec (render/systemd.ts sharedTmp). */
const tmpMountName = (root: string, service: string) => mountUnitName(join(filesDirOf(root, service), SHARED_TMP_DIR));

const ACTIVE_STATES = ['active', 'activating', 'reloading'];

/** The unit is loaded and wanted: it runs, or systemd is restarting it. */
export function unitActive(name: string): boolean {
  return ACTIVE_STATES.includes(showSync(unitName(name), ['ActiveState']).ActiveState ?? '');
}

/** Which of these services' units are active (unitActive), in one `systemctl show`; unit by unit if that fails. */
export function unitsActive(names: readonly string[]): Set<string> {
  const shown = showManySync(names.map(unitName), ['ActiveState']);
  if (shown === null) return new Set(names.filter(unitActive));
  return new Set(names.filter((_, i) => ACTIVE_STATES.includes(shown[i]!.ActiveState ?? '')));
}

interface Installed { plan: Plan; unit: SystemdUnit; niso: NisoCommand }

/** Plans the service and renders its unit and companions; nothing is written. */
async function render(host: HostEnv, def: ServiceDefinition): Promise<Installed> {
  const { root } = host;
  const [{ installedManifest, preparePlan, replanned }, { renderSystemdUnit }, { currentHosts, systemdNetnsPath }] = await planning();
  const pkg = await resolveOne(root, def.package.digest);
  const manifest = await installedManifest(pkg);
  const planWith = (net: { netns: string; hosts: string } | null) => preparePlan(host, pkg, manifest, def.name, def.options, net);
  // A private network is attached by the network unit when systemd starts the service, in a namespace of a fixed
  // path; /etc/hosts is the current one if it is attached already (a restart keeps the network), else net-up writes it.
  let plan = await planWith({ netns: systemdNetnsPath(root, def.name), hosts: await currentHosts(root, def.name) });
  if (plan.network.mode !== 'private') plan = replanned(plan, await planWith(null));
  let unit: SystemdUnit;
  // The absolute node and bin of this very niso: the network unit runs them at boot, without a PATH lookup.
  const niso = { node: process.execPath, entry: resolve(host.entry ?? process.argv[1]!), root: resolve(root) };
  try {
    const runtime = manifest.runtime ? manifest.runtime.use.name : null;
    unit = renderSystemdUnit(plan, { generation: new Date().toISOString(), filesDir: filesDirOf(root, def.name), runtime, niso, secretsDir: layout(root).secrets, sharedTmp: true, dependencies: dependenciesOf(def).map((d) => ({ service: d.service, condition: d.condition })) });
  } catch (e) {
    if (e instanceof RenderError) throw new NisoError('NISO3201', `${def.name} cannot be a systemd unit: ${e.message}`, { exitCode: 2, hint: 'activate it with --backend embedded' });
    throw e;
  }
  return { plan, unit, niso };
}

/**
 * Writes a unit file unless it holds this text already (but for the header's generation line, the time niso rendered
 * it): an unchanged file keeps its mtime, so a loaded unit needs no reload for it. Returns whether it was written.
 */
async function writeUnitFile(name: string, text: string): Promise<boolean> {
  const path = join(UNIT_DIR, name);
  let now: string | null = null;
  try { now = readFileSync(path, 'utf8'); } catch { /* none yet */ }
  const sameBut = (t: string) => t.replace(/^# generation: .*$/m, '');
  if (now !== null && sameBut(now) === sameBut(text)) return false;
  await writeFileAtomic(path, text, 0o644);
  return true;
}

/** The names systemd loads a unit file as: a template's instances (the exit unit's) instead of the template. */
function loadedNames(service: string, file: string): string[] {
  return file === exitServiceName(service) ? (['failure', 'success', 'net'] as const).map((on) => exitInstanceName(service, on)) : [file];
}

/**
 * Writes the unit and its companions (dropping those of an earlier definition) and plan.json, and reloads systemd
 * only if it needs it: systemd loads a unit it has not loaded (a new service's, or one it has forgotten) from the disk
 * at its first use, also one that another unit's After= named before it existed, so only a loaded unit whose file
 * changed or went (NeedDaemonReload=) needs `daemon-reload`, which costs 0.2-1.5 s (the manager serializes and
 * reloads every unit). Returns the ActiveState of the `watch` units, read in the same `systemctl show` (null when that
 * could not be read: treat every one as possibly active or failed).
 */
async function writeUnits(root: string, def: ServiceDefinition, { plan, unit, niso }: Installed, watch: readonly string[] = []): Promise<Map<string, string> | null> {
  mkdirSync(UNIT_DIR, { recursive: true });
  const touched: string[] = [];
  if (await writeUnitFile(unit.name, unit.unit)) touched.push(unit.name);
  const companions = new Set(unit.companions.map((c) => c.name));
  for (const c of unit.companions) if (await writeUnitFile(c.name, c.text)) touched.push(c.name);
  // A companion of an earlier generation that this one no longer has (the restart policy changed).
  const dropped = [exitServiceName(def.name), netUnitName(def.name), initUnitName(def.name), initCheckUnitName(def.name), stateMountName(root, def.name), tmpMountName(root, def.name), ...healthUnitNames(def.name), depsUnitName(def.name)];
  for (const f of dropped) {
    if (companions.has(f) || !existsSync(join(UNIT_DIR, f))) continue;
    rmSync(join(UNIT_DIR, f), { force: true });
    touched.push(f);
  }
  // plan.json before the start: the network unit reads its networks and ports from it.
  await writePlan(root, def.name, plan);
  if (await writeRecoverUnit(niso)) {
    touched.push(RECOVER_UNIT);
    // Its [Install] link is read at boot, when it runs; the manager running now has no use for it.
    await systemctl('enable', '--no-reload', RECOVER_UNIT);
  }
  const names = touched.flatMap((f) => loadedNames(def.name, f));
  const all = [...new Set([...names, ...watch])];
  const shown = showManySync(all, ['NeedDaemonReload', 'ActiveState']);
  if (shown === null || names.some((n) => shown[all.indexOf(n)]!.NeedDaemonReload === 'yes')) await systemctl('daemon-reload');
  return shown === null ? null : new Map(watch.map((w) => [w, shown[all.indexOf(w)]!.ActiveState ?? '']));
}

/**
 * niso-recover.service (render/systemd-recover.ts), written and enabled with the first unit and again whenever this
 * niso's paths change. Returns whether it was written.
 */
async function writeRecoverUnit(niso: NisoCommand): Promise<boolean> {
  const { name, text } = renderRecoverUnit(niso, generationPaths(niso.root).journal);
  let now: string | null = null;
  try { now = readFileSync(join(UNIT_DIR, name), 'utf8'); } catch { /* none yet */ }
  if (now === text) return false;
  await writeFileAtomic(join(UNIT_DIR, name), text, 0o644);
  return true;
}

/**
 * Plans the service, prepares its network, files, user and directories, and writes the unit and its
 * companions; systemd is reloaded where it must be, but nothing is started. Returns the ActiveState of the `watch`
 * units too (writeUnits).
 */
async function install(host: HostEnv, def: ServiceDefinition, watch: readonly string[]): Promise<Installed & { states: Map<string, string> | null }> {
  const { root } = host;
  const { plan, unit, niso } = await render(host, def);
  const { prepareDirs } = await import('../../sandbox/run-sandbox.js');
  // A running unit (a restart is about to start it again) is stopped first where /state must change under it: its
  // first bound moves the directory into a new image (the old app would go on writing to the old directory), and a
  // new bound is applied with the image unmounted in every namespace (NISO3210 while the unit holds it).
  const moving = plan.prepare.some((p) => p.bound !== null && !existsSync(p.bound.image));
  if (moving && unitActive(def.name)) await systemctl('stop', unitName(def.name));
  try {
    await prepareDirs(plan);
  } catch (e) {
    if (!(isNisoError(e) && e.code === 'NISO3210') || !unitActive(def.name)) throw e;
    await systemctl('stop', unitName(def.name));
    await prepareDirs(plan);
  }
  const filesDir = filesDirOf(root, def.name);
  // Written afresh, but for the app's /tmp: while the unit runs a tmpfs is mounted there (render/systemd.ts
  // sharedTmp), whose files are the app's.
  for (const e of existsSync(filesDir) ? readdirSync(filesDir) : []) if (e !== SHARED_TMP_DIR) rmSync(join(filesDir, e), { recursive: true, force: true });
  for (const d of unit.directories) mkdirSync(d.path, { recursive: true, mode: d.mode });
  for (const l of unit.symlinks) { rmSync(l.path, { force: true }); symlinkSync(l.target, l.path); }
  for (const f of unit.files) {
    mkdirSync(dirname(f.path), { recursive: true, mode: 0o755 });
    await writeFileAtomic(f.path, f.content, f.mode);
  }
  mkdirSync(SYSUSERS_DIR, { recursive: true });
  await writeFileAtomic(sysusersFile(def.name), unit.sysusers, 0o644);
  const users = await tool('systemd-sysusers', [sysusersFile(def.name)]);
  if (users.code !== 0) throw new NisoError('NISO3304', `systemd-sysusers could not create the user of ${def.name}: ${users.stderr.trim()}`);
  // systemd-sysusers leaves a user that exists alone, whatever its uid: one of this name left with another uid would
  // leave the unit's uid without a name, and the start would fail with systemd's bare 217/USER.
  if ((await tool('getent', ['passwd', String(plan.user.uid)])).code !== 0) {
    const other = (await tool('getent', ['passwd', plan.user.name])).stdout.split(':')[2];
    throw new NisoError('NISO3304', `the user ${plan.user.name} of ${def.name} has uid ${other ?? '?'} on this host, not ${plan.user.uid}, the uid niso gave the service`, { hint: `remove the stale user (userdel ${plan.user.name}; groupdel ${plan.user.name} if its group stays), then start the service again` });
  }
  const states = await writeUnits(root, def, { plan, unit, niso }, watch);
  return { plan, unit, niso, states };
}

/**
 * A new definition for a unit that keeps running (restart policy, log bounds, ports): its unit, companions and
 * plan.json are written again and systemd reloaded, without a restart and without touching the files the running
 * sandbox binds (its generated /etc, its state). A unit never written (never started) gets nothing: its start writes it.
 */
export async function rewriteUnit(host: HostEnv, def: ServiceDefinition): Promise<Plan | null> {
  if (showSync(unitName(def.name), ['LoadState']).LoadState === 'not-found') return null;
  const installed = await render(host, def);
  await writeUnits(host.root, def, installed);
  return installed.plan;
}

/**
 * Starts a defined service. Requested by this very command with its definition (a new activation): started with
 * counters anew, as `activate` always did; running already: recorded and wanted; otherwise requested and started.
 */
export async function startDefined(host: HostEnv, name: string): Promise<ServiceState> {
  return withServiceLock(host.root, name, async () => {
    const def = requireDefinition(host.root, name);
    const prev = readState(host.root, name);
    const pending = pendingStart(def, prev);
    // This command defined the service and asked for its start. A unit that runs already was started by someone else
    // since (the boot's start job, a dependent's Wants=) from the unit file of the definition before: only the start
    // writes the unit, so it is written and the unit restarted, never taken as this definition's run.
    if (pending && pending.by.pid === process.pid) {
      return enableAndStart(host, def, { ...(prev.version ? prev : initialState(new Date())), restarts: 0, restartsInARow: 0, start: pending.id }, 'restart');
    }
    if (unitActive(name)) {
      const { def: d, state } = await reconcileUnitLocked(host.root, name);
      if (d.desired !== 'active') await writeDefinition(host.root, { ...d, desired: 'active' });
      return state;
    }
    return requestAndStart(host, name, 'start');
  });
}

/** Records the unit's run in state.json. `fresh`: a start niso just made, with a fresh health record (not an adopted run). */
async function recordStarted(root: string, name: string, plan: Plan, prev: ServiceState, fresh = true): Promise<ServiceState> {
  const p = showSync(unitName(name), ['MainPID', 'ExecMainStartTimestamp']);
  const net = await liveNet(root, name);
  const now = new Date();
  const next: ServiceState = {
    ...prev, state: 'active', since: now.toISOString(), pid: Number(p.MainPID) || null, pidStart: null, initPid: null,
    startedAt: (unixTimestamp(p.ExecMainStartTimestamp) ?? now).toISOString(), restartsInARow: 0, nextRestartAt: null,
    addresses: net.addresses, ports: net.ports, stop: { signal: plan.stop.signal, timeoutMs: plan.stop.timeoutMs }, message: null,
  };
  // A fresh health record for this run (its probe history stays), as the embedded backend writes at each start.
  if (fresh) await resetUnitHealth(root, name, plan, Date.parse(next.startedAt ?? now.toISOString()));
  await writeState(root, name, next);
  return next;
}

/**
 * After a niso command was killed in the middle of a start (model/reconcile.ts): a run it did not record is recorded
 * and its unit enabled; a start that never happened is taken back (one wanted before is restarted by the timer at
 * once). Lock held.
 */
export async function reconcileUnitLocked(root: string, name: string): Promise<{ def: ServiceDefinition; state: ServiceState }> {
  const def = requireDefinition(root, name);
  const state = readState(root, name);
  const p = showSync(unitName(name), ['ExecMainStartTimestamp', ...END_PROPERTIES]);
  const facts = unitStartFacts(def, state, p);
  const outcome = startOutcome(def, state, facts);
  if (outcome === 'unrecorded-run') {
    const pending = pendingStart(def, state);
    if (!unitFileEnabled(unitName(name))) await systemctl('enable', '--no-reload', unitName(name));
    const plan = readPlan(root, name);
    // One that ended meanwhile: the exit unit has recorded (or is recording) its end; only the request is settled.
    if (!facts.running || plan === null) {
      const next = { ...state, start: pending?.id ?? state.start };
      await writeState(root, name, next);
      return { def, state: next };
    }
    return { def, state: await recordStarted(root, name, plan, { ...state, start: pending?.id ?? state.start }, false) };
  }
  if (outcome !== 'interrupted') return { def, state };
  const back = afterInterrupted(def, state, new Date());
  await writeDefinition(root, back.def);
  await writeState(root, name, back.state);
  if (back.state.nextRestartAt !== null) await scheduleStart(name, 1);
  return back;
}

/**
 * systemctl only says that a dependency failed: the init unit's own end and last output, if it was that (NISO3315),
 * or its check's (niso-SERVICE-init-check.service), which fails when niso could not tell whether the step is due.
 */
async function initStepError(root: string, service: string): Promise<NisoError | null> {
  const init = readPlan(root, service)?.init;
  for (const unit of [initCheckUnitName(service), initUnitName(service)]) {
    let props: Record<string, string>;
    try { props = showSync(unit, ['Result', 'ExecMainStatus', 'LoadState']); } catch { continue; }
    if (props.LoadState !== 'loaded' || props.Result === undefined || props.Result === 'success') continue;
    const out = (await tool('journalctl', ['--no-pager', '-o', 'cat', '-n', '20', `_SYSTEMD_UNIT=${unit}`]).catch(() => null))?.stdout.trim() ?? '';
    const status = `exited with code ${props.ExecMainStatus ?? '?'}`;
    const how = unit === initCheckUnitName(service) ? `could not be checked (${unit} ${status})` : props.Result === 'timeout' && init ? timedOutText(init.timeoutMs) : status;
    return initStepFailed(service, init?.argv, how, out, 'the service');
  }
  return null;
}

/**
 * Installs, starts and enables; a start that fails leaves the service failed and not desired. Enabled only once it
 * started: a command killed before that leaves no unit that a reboot would start although it never ran.
 */
async function enableAndStart(host: HostEnv, def: ServiceDefinition, prev: ServiceState, verb: 'start' | 'restart'): Promise<ServiceState> {
  let installed = false;
  try {
    const failable = [unitName(def.name), netUnitName(def.name), initUnitName(def.name), initCheckUnitName(def.name)];
    const timer = retryTimerName(def.name);
    const inst = await install(host, def, [...failable, timer]);
    installed = true;
    crashPoint(host.env, 'installed');
    // Each a process (30-150 ms), so only where there is something to do: a new service has neither.
    const failed = failable.filter((u) => inst.states === null || inst.states.get(u) === 'failed');
    if (failed.length > 0) await tool('systemctl', ['reset-failed', ...failed]);
    // A restart the policy had planned is made now.
    const timerIdle = inst.states !== null && ['inactive', ''].includes(inst.states.get(timer) ?? '');
    if (!timerIdle) await tool('systemctl', ['stop', timer]);
    // Nothing else about to start it: its network is attached here, and its network unit's start is then done at once.
    const down = (u: string) => inst.states !== null && ['inactive', 'failed'].includes(inst.states.get(u) ?? '');
    const { dropNetReady, prepareNetUp } = await import('./net.js');
    const ready = timerIdle && down(unitName(def.name)) && down(netUnitName(def.name)) && await prepareNetUp(host.root, def.name);
    try {
      await systemctl(verb, unitName(def.name));
    } finally {
      if (ready) dropNetReady(host.root, def.name);
    }
    crashPoint(host.env, 'started');
    // Without a reload: the [Install] link is what a boot reads, and the manager running now needs none (a reload
    // costs 0.2-1.5 s). Its cached UnitFileState= stays "disabled" until the next reload: niso reads the link itself
    // (unitEnabled). Nor does multi-user.target want the unit in memory until then, so systemd may forget the unit
    // once it is inactive (its last run's ExecMain*= go with it; status then tells state.json's verdict).
    await systemctl('enable', '--no-reload', unitName(def.name));
    return await recordStarted(host.root, def.name, inst.plan, prev);
  } catch (err) {
    // systemctl only says that a dependency failed; the network unit left its reason (a taken port, ...).
    const e = (installed ? netUpError(host.root, def.name) ?? await initStepError(host.root, def.name) : null) ?? err;
    // Synchronously: nothing of the network stays.
    await tool('systemctl', ['stop', netUnitName(def.name)]).catch(() => undefined);
    await detachServiceNet(host.root, def.name).catch(() => undefined);
    const at = new Date().toISOString();
    const exit: ExitRecord = { at, exitCode: null, signal: null, reason: 'start-failed', uptimeMs: 0, message: (e as Error).message };
    await writeDefinition(host.root, { ...def, desired: 'inactive' });
    await writeState(host.root, def.name, { ...prev, state: 'failed', since: at, pid: null, message: exit.message, exits: withExit(prev.exits, exit, def.package.digest) });
    throw e;
  }
}

/** Under the lock: what an interrupted start left is reconciled, then the start is requested (desired active) and made. */
async function requestAndStart(host: HostEnv, name: string, verb: 'start' | 'restart'): Promise<ServiceState> {
  const { def } = await reconcileUnitLocked(host.root, name);
  const d: ServiceDefinition = { ...def, desired: 'active', start: requestStart(def.desired) };
  await writeDefinition(host.root, d);
  return enableAndStart(host, d, { ...readState(host.root, name), start: d.start!.id }, verb);
}

/** `niso restart SERVICE`: the unit is written again from the definition and restarted. */
export async function restart(host: HostEnv, name: string): Promise<ServiceState> {
  return withServiceLock(host.root, name, () => requestAndStart(host, name, 'restart'));
}

/** `niso deactivate SERVICE`: `systemctl disable --now`, a pending restart cancelled, the network detached. */
export async function deactivate(host: HostEnv, name: string): Promise<Deactivated> {
  const r = await withServiceLock(host.root, name, async () => {
    const lockedAt = Date.now();
    const { def } = await reconcileUnitLocked(host.root, name);
    const view = serviceStatus(host.root, name)!;
    const before = { state: view.state, message: view.message };
    await writeDefinition(host.root, { ...def, desired: 'inactive', deactivatedAt: new Date().toISOString() });
    // The restart timer first, so that it cannot start the service again while it stops; its restart was counted.
    const pending = restartPending(name);
    await tool('systemctl', ['stop', retryTimerName(name)]);
    // The health timers and a check that runs now, which could restart the service.
    await tool('systemctl', ['stop', ...healthUnitNames(name)]);
    // A unit that never got written (its activation failed early) has nothing to stop. As with Docker, `always`
    // brings a service back at boot even after it was stopped by hand: its unit stays enabled (desiredOf, after-exit.ts).
    if (showSync(unitName(name), ['LoadState']).LoadState !== 'not-found') {
      let always = false;
      try { always = readPlan(host.root, name)?.restart.policy === 'always'; } catch { /* a damaged plan: not "always" */ }
      if (always) await systemctl('stop', unitName(name));
      // Without a reload, as activate enables (enableAndStart): the link is what a boot reads.
      else await systemctl('disable', '--no-reload', '--now', unitName(name));
    }
    // The network unit stays up between restarts: stopped here, which waits for its ExecStop=.
    await tool('systemctl', ['stop', netUnitName(name)]);
    await tool('systemctl', ['reset-failed', unitName(name), netUnitName(name)]);
    // An attachment that an earlier niso made itself, without a network unit.
    await detachServiceNet(host.root, name);
    // A run that ended while this held the lock ended by the stop above: the one that ran, and also one the restart
    // timer started in the moment before it was stopped (a run that, started after deactivatedAt, the exit unit would
    // otherwise take for a start by hand and restart). It is recorded here, so the exit unit finds it judged. An end
    // from before the lock is the exit unit's to judge, with the service inactive.
    const state = readState(host.root, name);
    const end = unitEnd(showSync(unitName(name), END_PROPERTIES), def.createdAt);
    const exit: ExitRecord | null = end && Date.parse(end.at) >= lockedAt && !state.exits.some((e) => e.at === end.at) ? { ...end, reason: 'stopped' } : null;
    const now = new Date().toISOString();
    await writeState(host.root, name, {
      ...state, state: 'inactive', since: now, pid: null, nextRestartAt: null, message: null, exits: withExit(state.exits, exit, def.package.digest),
      restarts: Math.max(0, state.restarts - (pending ? 1 : 0)),
    });
    return { exit, before };
  });
  // The stop started the exit unit, which waited for the lock and now finds the end recorded: once it is done,
  // nothing of niso runs for this service.
  await exitUnitsSettled(name);
  return r;
}

/** Waits (at most 10 s) until neither instance of the exit unit is starting or running. */
async function exitUnitsSettled(name: string): Promise<void> {
  const units = (['failure', 'success', 'net'] as const).map((on) => exitInstanceName(name, on));
  for (let i = 0; i < 500; i++) {
    const r = await tool('systemctl', ['show', '-p', 'ActiveState', '-p', 'Job', ...units]);
    if (!/^(ActiveState=(activating|active|deactivating)|Job=\d)/m.test(r.stdout)) return;
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** The service's own user and group, named by its sysusers.d file (`u NAME UID:GID`; not the volumes' shared groups). */
async function dropServiceUser(service: string): Promise<void> {
  let text: string;
  try { text = readFileSync(sysusersFile(service), 'utf8'); } catch { return; }
  const name = /^u (\S+) /m.exec(text)?.[1];
  if (!name) return;
  if ((await tool('getent', ['passwd', name])).code === 0) await tool('userdel', [name]);
  // userdel removes the user's group only where login.defs says USERGROUPS_ENAB (a bare /etc has no login.defs).
  if ((await tool('getent', ['group', name])).code === 0) await tool('groupdel', [name]);
}

/**
 * `niso remove SERVICE`: the unit, its companions, its user file and its generated files go; its state is unmounted
 * (systemd stops its mount unit), or deleted with `deleteState`.
 */
export async function remove(host: HostEnv, name: string, deleteState = false): Promise<{ removedVolumes: string[] }> {
  return withServicesLock(host.root, () => withServiceLock(host.root, name, async () => {
    await reconcileUnitLocked(host.root, name);
    const view = serviceStatus(host.root, name);
    if ((view && isActive(view)) || unitActive(name)) {
      throw new NisoError('NISO3302', `service "${name}" is ${view?.state ?? 'active'}`, { exitCode: 1, hint: `stop it first with \`niso deactivate ${name}\`` });
    }
    // An `always` service's unit stays enabled after deactivate: its WantedBy= link goes with it.
    // The daemon-reload below is the only one.
    await tool('systemctl', ['disable', '--no-reload', unitName(name)]);
    const mount = stateMountName(host.root, name);
    if (showSync(mount, ['LoadState']).LoadState === 'loaded') await systemctl('stop', mount);
    const tmp = tmpMountName(host.root, name);
    if (showSync(tmp, ['LoadState']).LoadState === 'loaded') await systemctl('stop', tmp);
    const released = await releaseServiceData(host.root, name, deleteState);
    const units = [unitName(name), exitServiceName(name), netUnitName(name), initUnitName(name), initCheckUnitName(name), mount, tmp, ...healthUnitNames(name), depsUnitName(name)];
    // A unit that another one names (a dependent's After=) stays loaded without its file: it must not keep showing
    // a failed last run to a service of the same name defined later (status reads the run's end only after createdAt).
    await tool('systemctl', ['reset-failed', unitName(name)]);
    for (const f of units) rmSync(join(UNIT_DIR, f), { force: true });
    // With its state its uid was given back: its user goes too, or a later service of the name, given another uid,
    // would find the name taken by the old one (sysusers leaves an existing user as it is).
    if (deleteState) await dropServiceUser(name);
    rmSync(sysusersFile(name), { force: true });
    await systemctl('daemon-reload');
    await removeServiceFiles(host.root, name);
    return released;
  }));
}

