// SafeSwitch: after a switch started services, they must prove themselves before the new generation is committed.
// A service with a health check must turn healthy within niso's own bound for that check (health/state.ts
// unhealthyWithinMs) and then stay healthy, with no restart, for a settle window; one without a check must be running
// (not failed, restarting or crash-looping) through the settle window. Catches crash-after-ready, which a one-shot
// check misses (Kamal's /up), and never gives up before niso itself has decided. A service that ran and exited 0
// without a restart to come (a one-shot job, a migration) completed: that is its success, as Compose's
// `service_completed_successfully` has it.
import { processStartTimeSync, sameProcess } from '../host/liveness.js';
import { readHealth } from '../service/health/file.js';
import { VERDICT_SLACK_MS } from '../service/health/messages.js';
import { unhealthyWithinMs } from '../service/health/state.js';
import { readPlan } from '../service/store.js';
import { serviceStatus, type ServiceStatus } from '../service/view.js';

export const DEFAULT_SETTLE_MS = 5_000;
export const GATE_POLL_MS = 200;
/**
 * Phase 1 looks more often: a service turns ready when its first probe passes, and `activate --wait --settle 0s`
 * (or a switch without a settle window) should return right then, not up to 200 ms later (issue 17). A look is a few
 * small file reads.
 */
export const READY_POLL_MS = 10;
/** A full status of each service at least this often; the looks in between are cheap (see safeSwitchGate). */
export const GATE_FULL_LOOK_MS = 1_000;

export interface GateOptions {
  settleMs: number;
  /** For tests of the gate itself; real time otherwise. */
  sleep?: (ms: number) => Promise<void>;
}

export type GateVerdict = { ok: true } | { ok: false; service: string; reason: string };

const sleepReal = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** It ran and ended with exit code 0, and nothing restarts it. */
const completed = (s: ServiceStatus | null) => s !== null && s.state === 'inactive' && s.pid === null && s.lastExit?.exitCode === 0;

/**
 * Why a status is not (or no longer) acceptable; null when it is. `endedUnhealthy`: its health check ended the last
 * run, read before liveness, since on systemd the stopped unit shows inactive until niso's exit unit judges the end.
 * `since`: when the gate began; an unhealthy end before it belongs to a run before the switch.
 */
function failure(s: ServiceStatus | null, checked: boolean, endedUnhealthy = false, since = 0): string | null {
  if (!s) return 'it is gone';
  // Before `completed`: an app stopped for its failing check may exit 0 on SIGTERM, which is no completion.
  const lastEndUnhealthy = s.lastExit?.reason === 'unhealthy' && Date.parse(s.lastExit.at) >= since;
  if (checked && s.pid === null && (endedUnhealthy || lastEndUnhealthy)) return 'its health check fails';
  if (completed(s)) return null;
  if (s.state === 'failed' || s.state === 'crash-loop' || s.state === 'restarting' || s.state === 'inactive') {
    return `it is ${s.state}${s.message ? ` (${s.message})` : s.lastExit ? ` (exit code ${s.lastExit.exitCode ?? 'unknown'})` : ''}`;
  }
  if (checked && (s.health === 'unhealthy' || s.state === 'unhealthy')) return 'its health check fails';
  return null;
}

/** A service's status now and what is wrong with it, its health record read only once it does not run. */
function look(root: string, name: string, checked: boolean, since: number): { s: ServiceStatus | null; why: string | null } {
  const s = serviceStatus(root, name);
  return { s, why: failure(s, checked, s?.pid === null && readHealth(root, name)?.status === 'unhealthy', since) };
}

const ready = (s: ServiceStatus, checked: boolean) => completed(s) || s.pid !== null && s.state !== 'activating' && (!checked || s.health === 'healthy');

/** Waits for every named service to be ready, then for the settle window; the first failure ends it. */
export async function safeSwitchGate(root: string, services: readonly string[], opts: GateOptions): Promise<GateVerdict> {
  const sleep = opts.sleep ?? sleepReal;
  if (services.length === 0) return { ok: true };
  const checked = new Map(services.map((n) => [n, readPlan(root, n)?.health ?? null]));
  const started = Date.now();
  // A full look is a status, which on systemd is a `systemctl show` (a process of its own, and PID 1's answer). A
  // service whose process of its last full look still runs (same pid and start time) and whose health record has not
  // changed since (no probe recorded) can have changed in no way that decides the gate: every end, restart or probe
  // verdict ends or replaces that process or writes the record. Such a service gets a cheap look (two small reads) for
  // up to a second after its full one.
  const lastFull = new Map<string, { pid: number; startTime: number | null; record: string; until: number }>();
  const recordOf = (name: string) => { const h = readHealth(root, name); return h ? `${h.status} ${h.probes} ${h.lastProbeAt}` : ''; };
  const remember = (name: string, pid: number) => lastFull.set(name, { pid, startTime: processStartTimeSync(pid), record: recordOf(name), until: Date.now() + GATE_FULL_LOOK_MS });
  const unchanged = (name: string) => {
    const f = lastFull.get(name);
    return f !== undefined && Date.now() < f.until && sameProcess(f) && recordOf(name) === f.record;
  };
  // Phase 1: ready (healthy, or running without a check), each within its own bound. Only a service with a check that
  // runs and waits for its first passing probe is looked at cheaply: whether a unit has left `activating` is
  // systemd's to tell (the 10 ms poll ran ~50 statuses a second for as long as the first probe took).
  const waiting = new Set(services);
  while (waiting.size > 0) {
    for (const name of [...waiting]) {
      const health = checked.get(name) ?? null;
      const bound = health ? unhealthyWithinMs(health) + VERDICT_SLACK_MS : opts.settleMs + VERDICT_SLACK_MS;
      if (Date.now() - started <= bound && unchanged(name)) continue;
      lastFull.delete(name);
      const { s, why } = look(root, name, health !== null, started);
      if (why) return { ok: false, service: name, reason: `${name}: ${why}` };
      if (ready(s!, health !== null)) { waiting.delete(name); continue; }
      if (health && s!.pid !== null && s!.health === 'starting') remember(name, s!.pid);
      if (Date.now() - started > bound) {
        return { ok: false, service: name, reason: `${name}: ${health ? `not healthy within ${Math.round(bound / 1000)} s, the longest its health check can take` : `not running within ${Math.round(bound / 1000)} s`} (state ${s!.state}${s!.health ? `, health ${s!.health}` : ''})` };
      }
    }
    if (waiting.size > 0) await sleep(READY_POLL_MS);
  }
  // Phase 2: the settle window: the same processes, no restart, still healthy.
  // A run is known by its start time and niso's restart count, not by its pid: on systemd the unit's main pid moves
  // from the sandbox's starter to the app once it runs, which is no restart.
  const seen = new Map(services.map((n) => { const s = serviceStatus(root, n)!; return [n, { startedAt: s.startedAt, restarts: s.restarts }]; }));
  // Looked at cheaply between full looks (above: ~25 statuses per 5 s window before); the last look before the window
  // is passed is always a full one.
  lastFull.clear();
  const settleEnd = Date.now() + opts.settleMs;
  for (;;) {
    const last = Date.now() >= settleEnd;
    for (const name of services) {
      if (!last && unchanged(name)) continue;
      const health = checked.get(name) ?? null;
      const { s, why } = look(root, name, health !== null, started);
      if (why) return { ok: false, service: name, reason: `${name}: ${why} within the settle window` };
      const was = seen.get(name)!;
      if (completed(s)) continue;
      if (s!.restarts !== was.restarts || s!.startedAt !== was.startedAt || s!.pid === null) {
        return { ok: false, service: name, reason: `${name}: it ended and was restarted within the settle window of ${opts.settleMs / 1000} s` };
      }
      remember(name, s!.pid);
    }
    if (last) return { ok: true };
    await sleep(Math.min(GATE_POLL_MS, Math.max(1, settleEnd - Date.now())));
  }
}
