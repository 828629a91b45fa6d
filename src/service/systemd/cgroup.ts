// A systemd unit's cgroup as the Cgroup that `niso stats` and `niso top` read (stats/read.ts): systemd names it
// (ControlGroup=), and it exists in each hierarchy that systemd manages on this host.
import { existsSync } from 'node:fs';
import { unitName } from '../../render/systemd-names.js';
import { join } from 'node:path';
import type { Cgroup } from '../../sandbox/cgroup.js';
import { showSync } from './systemctl.js';

const BASE = '/sys/fs/cgroup';
const V1 = ['memory', 'pids', 'cpu', 'cpuacct', 'systemd'];

/** cgroup v2 only: /sys/fs/cgroup is itself a cgroup (in v1 and hybrid layouts it is a tmpfs of hierarchies). */
function unified(): boolean {
  return existsSync(join(BASE, 'cgroup.procs'));
}

/** The unit's cgroup directories (none while it does not run). */
export function unitCgroup(service: string): Cgroup {
  const path = showSync(unitName(service), ['ControlGroup']).ControlGroup ?? '';
  if (!path.startsWith('/')) return { dirs: [], procsFiles: [] };
  const dirs = unified() ? [join(BASE, path)] : V1.map((c) => join(BASE, c, path)).filter((d) => existsSync(d));
  return { dirs, procsFiles: dirs.map((d) => join(d, 'cgroup.procs')) };
}
