// What `niso status` and `niso list` show of a service, read from its files and its cgroup.
import { appPid } from '../sandbox/procs.js';
import { cgroupOf, endedRun, judgeEnd, sandboxStart, startFacts } from './running.js';
import { readLimitEvents } from './stats/read.js';
import { systemdStatus, systemdStatuses } from './systemd/status.js';
import { afterInterrupted, pendingStart, startOutcome } from './model/reconcile.js';
import { withLimitEvents, type ExitRecord, type ServiceDefinition, type ServiceStateName } from './model/types.js';
import { listServiceNames, readDefinition, readPlan, readState } from './store.js';
import { readHealth } from './health/file.js';

export interface ServiceStatus {
  name: string;
  package: { name: string; version: string; digest: string };
  state: ServiceStateName;
  health: 'starting' | 'healthy' | 'unhealthy' | null;
  /** The app's pid on the host (null when it does not run). */
  pid: number | null;
  startedAt: string | null;
  uptimeMs: number | null;
  restarts: number;
  ports: string[];
  addresses: string[];
  backend: 'embedded' | 'systemd';
  desired: 'active' | 'inactive';
  message: string | null;
  nextRestartAt: string | null;
  lastExit: ExitRecord | null;
}


/**
 * The state a service shows, from its records and what runs (its cgroup is its identity): a run nobody recorded yet
 * (its starter was killed) shows as running; a start whose command was killed before anything ran shows as what it
 * falls back to; an end nobody judged yet shows with the verdict its restart policy will give.
 */
export function serviceStatus(root: string, name: string, now = Date.now()): ServiceStatus | null {
  const d = readDefinition(root, name);
  if (!d) return null;
  if (d.backend === 'systemd') return systemdStatus(root, d, now);
  let def: ServiceDefinition = d;
  let s = readState(root, name);
  const facts = startFacts(root, def, s);
  const running = facts.running;
  const outcome = startOutcome(def, s, facts);
  let state = s.state;
  let message = s.message;
  if (outcome === 'interrupted') {
    ({ def, state: s } = afterInterrupted(def, s, new Date(now)));
    ({ state, message } = s);
  } else if (outcome === 'starting' && !running) {
    state = 'activating';
    message = `being started by niso (pid ${def.start!.by.pid})`;
  } else if (outcome === 'unrecorded-run') {
    // Recorded as its adopter will record it (launch.ts adoptRun).
    const started = sandboxStart(root, name, pendingStart(def, s)?.at);
    const plan = readPlan(root, name);
    s = { ...s, pid: started?.initPid ?? null, initPid: started?.initPid ?? null, startedAt: started ? started.at.toISOString() : s.startedAt };
    // A start by niso itself (the supervisor's restart, no request) is under way until it records it.
    state = plan?.health || pendingStart(def, s) === null ? 'activating' : 'active';
    message = null;
  }
  let nextRestartAt = s.nextRestartAt;
  let lastExit = s.exits[s.exits.length - 1] ?? null;
  // The state says it runs but it does not: it ended and no supervisor has recorded it yet.
  if (!running && s.pid !== null) {
    // With what its cgroup counted (an OOM kill), as the supervisor will record it before the cgroup goes.
    const exit = withLimitEvents(endedRun(root, name, s, 'exited', new Date(now)), readLimitEvents(cgroupOf(root, name)));
    const verdict = judgeEnd(root, name, s, exit, def.desired);
    ({ state, message } = verdict);
    lastExit = { ...exit, message: exit.message ?? verdict.message };
    nextRestartAt = verdict.action === 'restart' ? new Date(Date.parse(exit.at) + verdict.delayMs).toISOString() : null;
  }
  const health = running ? readHealth(root, name)?.status ?? null : null;
  if (running && health === 'unhealthy' && (state === 'active' || state === 'activating')) state = 'unhealthy';
  return {
    name, package: def.package, state, health,
    pid: running && s.initPid !== null ? appPid(s.initPid) : null,
    startedAt: running ? s.startedAt : null,
    uptimeMs: running && s.startedAt ? Math.max(0, now - Date.parse(s.startedAt)) : null,
    restarts: s.restarts, ports: running ? s.ports : [], addresses: running ? s.addresses : [],
    backend: def.backend, desired: def.desired, message, nextRestartAt,
    lastExit,
  };
}

/** Whether the service counts as active: it runs, is being started, or waits to be restarted (not inactive or failed). */
export function isActive(s: Pick<ServiceStatus, 'state' | 'pid'>): boolean {
  return s.pid !== null || (s.state !== 'inactive' && s.state !== 'failed');
}

export function allStatuses(root: string): ServiceStatus[] {
  const now = Date.now();
  const defs = listServiceNames(root).map((n) => readDefinition(root, n)).filter((d): d is ServiceDefinition => d !== null);
  // systemd's units are read in one `systemctl show`, not one per service.
  const onSystemd = defs.filter((d) => d.backend === 'systemd');
  const systemd = new Map(systemdStatuses(root, onSystemd, now).map((s) => [s.name, s]));
  return defs.map((d) => systemd.get(d.name) ?? serviceStatus(root, d.name, now)).filter((s): s is ServiceStatus => s !== null);
}

export function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? ` ${s % 60}s` : ''}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? ` ${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d`;
}

export function statusRows(statuses: ServiceStatus[]): string[][] {
  return statuses.map((s) => [
    s.name, `${s.package.name}@${s.package.version}`, s.state, s.health ?? '-', s.pid === null ? '-' : String(s.pid),
    s.uptimeMs === null ? '-' : formatUptime(s.uptimeMs), String(s.restarts), s.ports.join(', ') || '-', s.backend,
  ]);
}

export const STATUS_HEADERS = ['name', 'package', 'state', 'health', 'pid', 'uptime', 'restarts', 'ports', 'backend'];

