// A cgroup per run with the plan's limits: cgroup v2 where the host has its controllers there,
// the v1 hierarchies otherwise (these machines: memory, pids, cpu and cpuacct are v1, PLATFORM §3).
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, rmdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan } from '../plan/plan.js';
import { isAlive } from '../host/liveness.js';
import { NisoError } from '../errors/niso-error.js';

const BASE = '/sys/fs/cgroup';
const V1 = ['memory', 'pids', 'cpu', 'cpuacct'] as const;

export interface Cgroup {
  /** The cgroup.procs files a process must be written into to join. */
  procsFiles: string[];
  dirs: string[];
}

let v2: boolean | undefined;

/** Which hierarchy holds the controllers is the host's boot-time layout: looked up once per process. */
function v2Available(): boolean {
  if (v2 === undefined) {
    try {
      const ctl = readFileSync(join(BASE, 'cgroup.controllers'), 'utf8');
      v2 = /\bmemory\b/.test(ctl) && /\bpids\b/.test(ctl);
    } catch { v2 = false; }
  }
  return v2;
}

let v1: string[] | undefined;

/** The v1 hierarchies this host mounts, looked up once per process as v2Available is. */
function v1Mounted(): string[] {
  v1 ??= V1.filter((c) => existsSync(join(BASE, c)));
  return v1;
}

/** The directories niso makes its cgroups in: `niso` below the v2 root, or below each v1 hierarchy it uses. */
export function cgroupParents(): string[] {
  return v2Available() ? [join(BASE, 'niso')] : v1Mounted().map((c) => join(BASE, c, 'niso'));
}

function write(path: string, value: string): void {
  writeFileSync(path, value);
}

/**
 * Writes a limit; a value the kernel refuses (EINVAL: a quota under its minimum, more pids than
 * PID_MAX_LIMIT) is the user's to fix, not a crash. The manifest and the command line bound these
 * values already; this catches what slips past them (a package stored by an older niso).
 */
function writeLimit(dirs: string[], path: string, value: string): void {
  try {
    write(path, value);
  } catch (e) {
    for (const d of dirs) { try { rmdirSync(d); } catch { /* not created or busy: swept later */ } }
    throw new NisoError('NISO3202', `the kernel refused ${value} in ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { path, exitCode: 2, hint: 'check the limits of [resources] and --memory, --cpus and --pids', cause: e });
  }
}

/** Service cgroups start with this; the sweep of foreground runs' leftovers never touches them. */
export const SERVICE_CGROUP_PREFIX = 'svc.';

/**
 * The cgroup of a long-running service: a fixed name per service and NISO_ROOT, so that whoever
 * comes next (a restarted supervisor, `niso status`) finds its processes without a pid file.
 */
export function serviceCgroupName(rootId: string, service: string): string {
  return `${SERVICE_CGROUP_PREFIX}${rootId}.${service}`;
}

export function serviceCgroup(rootId: string, service: string): Cgroup {
  const name = serviceCgroupName(rootId, service);
  const dirs = cgroupParents().map((p) => join(p, name));
  return { dirs, procsFiles: dirs.map((d) => join(d, 'cgroup.procs')) };
}

/**
 * Creates the run's cgroup and sets its limits. Name: niso/<service>.<pid>, so leftovers can be
 * traced; services pass their fixed name (serviceCgroup).
 */
export function createCgroup(plan: Plan, runId: string, fixedName?: string): Cgroup {
  const name = fixedName ?? `${plan.service}.${runId}`;
  const { memoryBytes, pids, cpus } = plan.limits;
  if (v2Available()) {
    const parent = join(BASE, 'niso');
    mkdirSync(parent, { recursive: true });
    try { write(join(BASE, 'cgroup.subtree_control'), '+memory +pids +cpu'); } catch { /* already enabled or not delegable */ }
    try { write(join(parent, 'cgroup.subtree_control'), '+memory +pids +cpu'); } catch { /* as above */ }
    const dir = join(parent, name);
    mkdirSync(dir, { recursive: true });
    if (memoryBytes !== null) { writeLimit([dir], join(dir, 'memory.max'), String(memoryBytes)); writeLimit([dir], join(dir, 'memory.swap.max'), '0'); }
    if (pids !== null) writeLimit([dir], join(dir, 'pids.max'), String(pids));
    if (cpus !== null) writeLimit([dir], join(dir, 'cpu.max'), `${Math.round(cpus * 100_000)} 100000`);
    return { procsFiles: [join(dir, 'cgroup.procs')], dirs: [dir] };
  }
  const dirs: string[] = [];
  for (const c of V1) {
    if (!existsSync(join(BASE, c))) continue;
    const dir = join(BASE, c, 'niso', name);
    mkdirSync(dir, { recursive: true });
    dirs.push(dir);
  }
  const at = (c: string) => dirs.find((d) => d.startsWith(join(BASE, c) + '/'));
  const mem = at('memory');
  if (mem && memoryBytes !== null) {
    writeLimit(dirs, join(mem, 'memory.limit_in_bytes'), String(memoryBytes));
    // Without swap accounting in the limit a hog could page out instead of being stopped.
    try { write(join(mem, 'memory.memsw.limit_in_bytes'), String(memoryBytes)); } catch { /* no swap accounting */ }
  }
  const pid = at('pids');
  if (pid && pids !== null) writeLimit(dirs, join(pid, 'pids.max'), String(pids));
  const cpu = at('cpu');
  if (cpu && cpus !== null) {
    writeLimit(dirs, join(cpu, 'cpu.cfs_period_us'), '100000');
    writeLimit(dirs, join(cpu, 'cpu.cfs_quota_us'), String(Math.round(cpus * 100_000)));
  }
  return { procsFiles: dirs.map((d) => join(d, 'cgroup.procs')), dirs };
}

const probe = Buffer.alloc(16);

/**
 * Whether any process is in the cgroup: the first byte of a cgroup.procs file is enough, and the first hierarchy that
 * has one answers (the supervisor asks this of every service several times a second; reading whole files of all four
 * v1 hierarchies was most of its idle CPU).
 */
export function cgroupHasProcesses(cg: Cgroup): boolean {
  for (const f of cg.procsFiles) {
    let fd: number;
    try { fd = openSync(f, 'r'); } catch { continue; }
    try {
      if (readSync(fd, probe, 0, probe.length, null) > 0) return true;
    } catch { /* gone while read */ } finally {
      closeSync(fd);
    }
  }
  return false;
}

export function cgroupPids(cg: Cgroup): number[] {
  const pids = new Set<number>();
  for (const f of cg.procsFiles) {
    try { for (const l of readFileSync(f, 'utf8').split('\n')) if (l) pids.add(Number(l)); } catch { /* gone */ }
  }
  return [...pids];
}

/** Kills what is left in the cgroup and removes it. */
export async function removeCgroup(cg: Cgroup): Promise<void> {
  // Exiting processes linger in cgroup.procs for a moment; poll briefly rather than sleep long.
  for (let attempt = 0; attempt < 500; attempt++) {
    const left = cgroupPids(cg);
    if (left.length === 0) break;
    for (const p of left) { try { process.kill(p, 'SIGKILL'); } catch { /* exited */ } }
    await new Promise((r) => setTimeout(r, 2));
  }
  for (const d of cg.dirs) { try { rmdirSync(d); } catch { /* busy or gone; swept later */ } }
}

/** Removes cgroups of runs whose niso process is gone (killed before it could clean up). */
export async function sweepCgroups(): Promise<string[]> {
  const roots = cgroupParents();
  const swept: string[] = [];
  for (const r of roots) {
    let names: string[];
    try { names = readdirSync(r); } catch { continue; }
    for (const n of names) {
      if (n.startsWith(SERVICE_CGROUP_PREFIX)) continue;
      const m = /\.(\d+)-[0-9a-f]+$/.exec(n);
      if (!m) continue;
      if (isAlive(Number(m[1]))) continue;
      const dir = join(r, n);
      if (!existsSync(join(dir, 'cgroup.procs'))) continue;
      await removeCgroup({ procsFiles: [join(dir, 'cgroup.procs')], dirs: [dir] });
      swept.push(dir);
    }
  }
  return swept;
}
