// Whether the port a health probe asks is listening yet in the app's network namespace, read from the kernel's socket
// table (/proc/PID/net/tcp{,6}: the table of PID's namespace) without starting a process, so that the supervisor can
// fire the first probe as soon as the app listens instead of at the next step of the start-up cadence (issue 17).
import { readFileSync } from 'node:fs';
import type { HealthProbe } from '../../plan/plan.js';

/** The TCP port an http or tcp probe connects to; null for an exec probe (or a URL that cannot be read). */
export function probePort(probe: HealthProbe): number | null {
  if (probe.kind === 'tcp') return probe.port;
  if (probe.kind !== 'http') return null;
  try {
    const u = new URL(probe.url);
    return u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  } catch { return null; }
}

/** Whether a /proc/net/tcp{,6} table has a socket in LISTEN state (st 0A) on `port`, on any local address. */
export function listensIn(table: string, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of table.split('\n')) {
    // "  0: 0100007F:0BB8 00000000:0000 0A ..."
    const f = line.trim().split(/\s+/);
    if (f[3] === '0A' && f[1]?.endsWith(`:${hex}`)) return true;
  }
  return false;
}

/** Whether `port` listens in the network namespace of process `pid`; false when it cannot be told (the process went). */
export function portListening(pid: number, port: number): boolean {
  for (const t of ['tcp', 'tcp6']) {
    try { if (listensIn(readFileSync(`/proc/${pid}/net/${t}`, 'utf8'), port)) return true; } catch { /* no IPv6, or gone */ }
  }
  return false;
}

export interface ListenTrigger {
  /** True once per run (`run` tells runs apart), the first time the probe's port listens in the namespace of `pid`. */
  fire(service: string, run: string | null, probe: HealthProbe, pid: number | null): boolean;
  forget(service: string): void;
}

/**
 * The first probe goes out when the app's port starts to listen, not at the next step of the start-up cadence (50,
 * 100, 200 ms, ...): the supervisor and `activate --wait` on systemd ask this each time they look. `listening` is
 * portListening but in unit tests.
 */
export function listenTrigger(listening: (pid: number, port: number) => boolean = portListening): ListenTrigger {
  const fired = new Map<string, string | null>();
  return {
    fire(service, run, probe, pid) {
      if (pid === null || (fired.has(service) && fired.get(service) === run)) return false;
      const port = probePort(probe);
      if (port === null || !listening(pid, port)) return false;
      fired.set(service, run);
      return true;
    },
    forget: (service) => { fired.delete(service); },
  };
}
