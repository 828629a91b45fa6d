// Which run of a systemd service a health record belongs to. systemd restarts the app by itself, without niso, so
// health.json is about the current run only if its last probe came after that run started; `niso status` and the
// health check (health.ts) both read it through here.
import { execFileSync } from 'node:child_process';
import { readHealth } from '../health/file.js';
import type { HealthState, HealthStatus } from '../health/state.js';

/** One run of the unit's main process: what a probe result belongs to. */
export interface UnitRun { pid: number; startedAt: number }

/** The unit's current run, or null unless its main process runs (auto-restart, failed, stopping, inactive). */
export function unitRun(service: string): UnitRun | null {
  // To the microsecond: --timestamp=unix gives whole seconds, too coarse to tell a probe's run from the next one's.
  let out: string;
  try {
    out = execFileSync('systemctl', ['show', '--timestamp=us+utc', '-p', 'ActiveState', '-p', 'SubState', '-p', 'MainPID', '-p', 'ExecMainStartTimestamp', `niso-${service}.service`], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', SYSTEMD_PAGER: '', LC_ALL: 'C' },
    });
  } catch {
    // systemd did not answer: nothing is known to run (a check then probes nothing, status shows no health).
    return null;
  }
  const p = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const pid = Number(p.MainPID);
  const started = usTimestamp(p.ExecMainStartTimestamp);
  if (p.ActiveState !== 'active' || p.SubState !== 'running' || !pid || started === null) return null;
  return { pid, startedAt: started };
}

/** `Mon 2026-11-23 07:02:27.716141 UTC` (--timestamp=us+utc) as epoch milliseconds, with the fraction. */
export function usTimestamp(v: string | undefined): number | null {
  const m = /(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? UTC$/.exec(v ?? '');
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac] = m;
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) + Number((frac ?? '0').padEnd(6, '0')) / 1000;
}

export const sameRun = (a: UnitRun | null, b: UnitRun): boolean => a !== null && a.pid === b.pid && a.startedAt === b.startedAt;

/** health.json if it is about the run that started at startedAt (one never probed is as good as a new one: null). */
export function healthOfRun(h: HealthState | null, startedAt: number): HealthState | null {
  return h !== null && h.lastProbeAt !== null && h.lastProbeAt >= startedAt ? h : null;
}

/** The health `niso status` shows for a running unit: null without a check that runs on systemd (no health.json). */
export function unitHealth(root: string, service: string): HealthStatus | null {
  const h = readHealth(root, service);
  if (h === null) return null;
  const run = unitRun(service);
  return run === null ? null : healthOfRun(h, run.startedAt)?.status ?? 'starting';
}
