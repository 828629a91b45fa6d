// `niso run` on the systemd backend: the plan is rendered as the same unit a service would get (render/systemd.ts),
// its [Service] lines become the properties of a transient unit (render/systemd-run.ts), and systemd runs it in the
// foreground (transient.ts). What the unit needs beside it (its root skeleton and /etc files in a directory of the
// run's own, and a name-service entry for its uid) exists only while it runs; a run that niso could not clean up
// after (it was killed) is cleaned up by the next one.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { isAlive } from '../../host/liveness.js';
import { withLock } from '../../host/lock.js';
import type { Plan } from '../../plan/plan.js';
import { RenderError } from '../../render/render-error.js';
import { renderSystemdUnit, type SystemdUnit } from '../../render/systemd.js';
import { systemdRunArgv, transientArgv, transientProperties, type TransientExit } from '../../render/systemd-run.js';
import { prepareDirs } from '../../sandbox/run-sandbox.js';
import { layout } from '../../store/layout.js';
import { SYSUSERS_DIR } from './ops.js';
import { tool } from './systemctl.js';
import { runTransient } from './transient.js';
import { initNeeded, initPlan } from '../init-step.js';
import { initStepFailed, timedOutText } from '../init-step-error.js';

/** Where runs and execs keep what their transient unit needs: apart from services' files (services/NAME/systemd). */
export function transientDir(root: string): string {
  return join(layout(root).run, 'systemd-run');
}

/** What a transient unit left on the host, recorded so that a later run can remove it if this one cannot. */
export interface TransientRecord {
  pid: number;
  unit: string;
  service: string;
  /** The user this run created (it had no name-service entry before), deleted afterwards; null if it existed. */
  user: string | null;
}

const recordFile = (dir: string) => join(dir, 'run.json');

/** A fresh unit name and directory: `niso-<verb>-<service>-<random>.service`. */
export function transientUnit(root: string, verb: 'run' | 'exec', service: string): { unit: string; dir: string } {
  const base = `niso-${verb}-${service}-${randomBytes(3).toString('hex')}`;
  return { unit: `${base}.service`, dir: join(transientDir(root), base) };
}

export function writeRecord(dir: string, rec: TransientRecord): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(recordFile(dir), JSON.stringify(rec));
}

async function hasPasswdEntry(uid: number): Promise<boolean> {
  return (await tool('getent', ['passwd', String(uid)])).code === 0;
}

const usersLock = (root: string) => join(layout(root).run, 'systemd-run.lock');

/**
 * Gives the plan's uid a name-service entry (User= needs one: systemd refuses an unknown uid with 217/USER) from
 * the unit's own sysusers lines, unless it has one already (the service of the same name runs on systemd).
 * Returns the user's name if this run created it.
 */
async function ensureUser(root: string, plan: Plan, unit: SystemdUnit): Promise<string | null> {
  if (await hasPasswdEntry(plan.user.uid)) return null;
  return withLock(usersLock(root), 'the users of transient units', async () => {
    if (await hasPasswdEntry(plan.user.uid)) return null;
    const lines = unit.sysusers.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    const r = await tool('systemd-sysusers', ['--inline', ...lines]);
    if (r.code !== 0 || !(await hasPasswdEntry(plan.user.uid))) {
      throw new NisoError('NISO3313', `systemd-sysusers could not create the user ${plan.user.name} (uid ${plan.user.uid}): ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`, {
        hint: `check /etc/passwd for a user named ${plan.user.name} with another uid; or use --backend embedded`,
      });
    }
    return plan.user.name;
  });
}

/** Deletes a user a run created, unless another live run or a service (its sysusers.d file) still needs it. */
async function dropUser(root: string, rec: TransientRecord, self: string): Promise<void> {
  const name = rec.user!;
  await withLock(usersLock(root), 'the users of transient units', async () => {
    for (const other of listRecords(root)) {
      if (other.dir !== self && other.rec.user === name && isAlive(other.rec.pid)) return;
    }
    if (existsSync(join(SYSUSERS_DIR, `niso-${rec.service}.conf`))) return;
    await tool('userdel', [name]);
    // userdel removes the user's group only where login.defs says USERGROUPS_ENAB (a bare /etc has no login.defs).
    if ((await tool('getent', ['group', name])).code === 0) await tool('groupdel', [name]);
  });
}

function listRecords(root: string): { dir: string; rec: TransientRecord }[] {
  const base = transientDir(root);
  let names: string[];
  try { names = readdirSync(base); } catch { return []; }
  const out: { dir: string; rec: TransientRecord }[] = [];
  for (const n of names) {
    const dir = join(base, n);
    try { out.push({ dir, rec: JSON.parse(readFileSync(recordFile(dir), 'utf8')) as TransientRecord }); } catch { /* being written, or not ours */ }
  }
  return out;
}

/** Removes what a transient unit left: the unit itself if it still runs, the user it created, its directory. */
export async function cleanupTransient(root: string, dir: string, rec: TransientRecord | null): Promise<void> {
  if (rec?.user) await dropUser(root, rec, dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Leftovers of runs and execs whose niso was killed (their watchdog stopped the unit; the rest is done here). */
export async function sweepTransients(root: string): Promise<void> {
  for (const { dir, rec } of listRecords(root)) {
    if (isAlive(rec.pid)) continue;
    await tool('systemctl', ['kill', '--signal=SIGKILL', '--', rec.unit]).catch(() => undefined);
    await tool('systemctl', ['reset-failed', '--', rec.unit]).catch(() => undefined);
    await cleanupTransient(root, dir, rec);
  }
}

export interface RunUnit {
  unit: string;
  dir: string;
  rendered: SystemdUnit;
  properties: string[];
  argv: string[];
}

/** The transient unit of a run, without side effects (also what `niso run --dry-run` prints). */
export function planRunUnit(root: string, plan: Plan, runtime: string | null): RunUnit {
  const { unit, dir } = transientUnit(root, 'run', plan.service);
  try {
    const rendered = renderSystemdUnit(plan, { generation: `transient ${unit}`, filesDir: dir, runtime, secretsDir: layout(root).secrets });
    return { unit, dir, rendered, properties: transientProperties(rendered.unit, [], unit), argv: transientArgv(plan.command.argv) };
  } catch (e) {
    if (e instanceof RenderError) throw new NisoError('NISO3201', `${plan.service} cannot run as a systemd unit: ${e.message}`, { exitCode: 2, hint: 'run it with --backend embedded' });
    throw e;
  }
}

export function runCommandLine(r: RunUnit, stdio: 'pty' | 'pipe'): string[] {
  return systemdRunArgv({ unit: r.unit, description: runDescription(r), properties: r.properties, argv: r.argv, stdio });
}

const runDescription = (r: RunUnit) => `niso run ${r.rendered.name.slice(5, -8)}`;

/**
 * The init step of a run, before it: the same unit with the init command, a name of its own, output handed on as the
 * run's; NISO3315 unless it exits 0 within its timeout.
 */
async function runInitTransient(root: string, plan: Plan, runtime: string | null, r: RunUnit): Promise<void> {
  const ip = initPlan(plan);
  const unit = r.unit.replace(/\.service$/, '-init.service');
  const rendered = renderSystemdUnit(ip, { generation: `transient ${unit}`, filesDir: r.dir, runtime, secretsDir: layout(root).secrets });
  const ex = await runTransient({
    unit, description: `${runDescription(r)} (init step)`, properties: transientProperties(rendered.unit, [], unit), argv: transientArgv(ip.command.argv),
    stdio: 'pipe', stdin: 'ignore', exitFile: join(r.dir, 'init-exit'), stopTimeoutMs: plan.stop.timeoutMs, timeoutMs: plan.init!.timeoutMs,
  });
  if (ex.exitCode === 0 && !ex.timedOut) return;
  throw initStepFailed(plan.service, plan.init!.argv, ex.timedOut ? timedOutText(plan.init!.timeoutMs) : `exited with code ${ex.exitCode}`, '', 'the app');
}

/** `niso run` on systemd: prepares the unit's files and user, runs it in the foreground, removes them again. */
export async function runOnSystemd(root: string, plan: Plan, runtime: string | null, opts: { terminal: boolean; term?: string }): Promise<TransientExit> {
  await sweepTransients(root);
  const r = planRunUnit(root, plan, runtime);
  const rec: TransientRecord = { pid: process.pid, unit: r.unit, service: plan.service, user: null };
  writeRecord(r.dir, rec);
  try {
    await prepareDirs(plan);
    for (const d of r.rendered.directories) mkdirSync(d.path, { recursive: true, mode: d.mode });
    for (const l of r.rendered.symlinks) { rmSync(l.path, { force: true }); symlinkSync(l.target, l.path); }
    for (const f of r.rendered.files) {
      mkdirSync(dirname(f.path), { recursive: true, mode: 0o755 });
      writeFileSync(f.path, f.content, { mode: f.mode });
    }
    rec.user = await ensureUser(root, plan, r.rendered);
    writeRecord(r.dir, rec);
    if (plan.init && initNeeded(plan.init)) await runInitTransient(root, plan, runtime, r);
    return await runTransient({
      unit: r.unit, description: runDescription(r), properties: r.properties, argv: r.argv,
      // A terminal on stdin gets the app a terminal of its own (as bubblewrap hands on niso's); anything else is passed as it is.
      stdio: opts.terminal ? 'pty' : 'pipe', stdin: 'inherit',
      // systemd gives a unit on a terminal TERM=vt220 unless it is told better: the plan's, else the caller's.
      exitFile: join(r.dir, 'exit'), stopTimeoutMs: plan.stop.timeoutMs, ...((plan.command.env.TERM ?? opts.term) ? { term: plan.command.env.TERM ?? opts.term } : {}),
    });
  } finally {
    await cleanupTransient(root, r.dir, rec);
  }
}
