// What `niso status` and `niso list` show of a service, read from its files and its cgroup.
import { appPid } from '../sandbox/procs.js';
import { serviceProcesses } from './running.js';
import { systemdStatus } from './systemd/status.js';
import type { ExitRecord, ServiceStateName } from './model/types.js';
import { listServiceNames, readDefinition, readState } from './store.js';
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


export function serviceStatus(root: string, name: string, now = Date.now()): ServiceStatus | null {
  const def = readDefinition(root, name);
  if (!def) return null;
  if (def.backend === 'systemd') return systemdStatus(root, def, now);
  const s = readState(root, name);
  const running = serviceProcesses(root, name).length > 0;
  let state = s.state;
  // The state says it runs but it does not: it ended and no supervisor has recorded it yet.
  if (!running && s.pid !== null) state = def.desired === 'active' ? 'restarting' : 'inactive';
  const health = running ? readHealth(root, name)?.status ?? null : null;
  if (running && health === 'unhealthy' && (state === 'active' || state === 'activating')) state = 'unhealthy';
  return {
    name, package: def.package, state, health,
    pid: running && s.initPid !== null ? appPid(s.initPid) : null,
    startedAt: running ? s.startedAt : null,
    uptimeMs: running && s.startedAt ? Math.max(0, now - Date.parse(s.startedAt)) : null,
    restarts: s.restarts, ports: running ? s.ports : [], addresses: running ? s.addresses : [],
    backend: def.backend, desired: def.desired, message: s.message, nextRestartAt: s.nextRestartAt,
    lastExit: s.exits[s.exits.length - 1] ?? null,
  };
}

export function allStatuses(root: string): ServiceStatus[] {
  return listServiceNames(root).map((n) => serviceStatus(root, n)).filter((s): s is ServiceStatus => s !== null);
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

