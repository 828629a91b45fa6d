// The health check of a systemd service as units beside it, so that no niso process has to stay resident: two
// timers start niso-<service>-health.service, a oneshot that runs niso's own check once (`niso __health-check`)
// and exits. The cadence comes from the same state machine as on the embedded backend (service/health/state.ts):
// the start-up timer fires at the points where its quick probes (50 ms, doubling) are more than HEALTH_LINGER_MS
// apart, and is stopped at the first passing probe; the interval timer fires `interval` after each check.
// Pure: the plan and niso's command in, unit text out.
import type { Plan, PlanHealth } from '../plan/plan.js';
import { healthServiceName, healthStartTimerName, healthTimerName, unitName } from './systemd-names.js';
import { initialHealth, recordProbe } from '../service/health/state.js';
import { join } from 'node:path';
import { execWord, environmentWord, pathWord } from './systemd-escape.js';
import type { NisoCommand } from './systemd-net.js';

/**
 * Within one check run, the next probe is awaited in-process when it is due within this long (the quick probes
 * of the start-up); a later one is left to the timers, so the process exits between checks.
 */
export const HEALTH_LINGER_MS = 1000;
/** One check run starts no probe later than this after it began (then the timers take over). */
export const HEALTH_ROUND_BUDGET_MS = 10_000;
/** At most this many start-up points; after them the interval timer alone paces the probes. */
export const MAX_START_POINTS = 30;

/**
 * exec probes need a command run in the unit's sandbox with its output captured and a timeout (health/probe.ts
 * ExecInSandbox); the systemd backend has no such exec yet. To enable them: give probeOf (service/systemd/health.ts)
 * an ExecInSandbox and set this to true.
 */
export const SYSTEMD_EXEC_PROBES = false;

/** Every unit file this module may write for a service (for removal and stale-file cleanup). */
export const healthUnitNames = (service: string) => [healthServiceName(service), healthTimerName(service), healthStartTimerName(service)];

export interface HealthUnits {
  /** Lines for the service's own [Unit] section (it wants the timers, so they start and restart with it). */
  unitLines: string[];
  companions: { name: string; text: string }[];
  /** What the service's header lists as not in the unit (an exec probe, or no niso command to run). */
  notes: string[];
}

function span(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

/** Whether a plan's health check runs on the systemd backend (http and tcp probes do; exec ones wait for `niso exec`). */
export function systemdRunsHealth(h: PlanHealth | null): h is PlanHealth {
  return h !== null && (h.probe.kind !== 'exec' || SYSTEMD_EXEC_PROBES);
}

/**
 * The start-up timer's points, in ms after the service started: the embedded backend's probe times for an app
 * that does not pass yet (each failing probe taking no time), from the first one up to where the gap reaches
 * `interval` after the start period, keeping only those more than HEALTH_LINGER_MS after the one before (the
 * closer ones run inside the same check process). The first point is always kept.
 */
export function startPoints(h: PlanHealth): number[] {
  let state = initialHealth(0, h);
  let t = state.nextProbeAt;
  const points: number[] = [t];
  for (let i = 0; i < 1000 && points.length < MAX_START_POINTS; i++) {
    state = recordProbe(state, { at: new Date(t).toISOString(), ok: false, output: '', durationMs: 0 }, h, 0, t).state;
    const gap = state.nextProbeAt - t;
    // Steady: from here on, probes come every interval, which the interval timer does alone.
    if (gap >= h.intervalMs && t >= h.startPeriodMs) break;
    t = state.nextProbeAt;
    if (gap > HEALTH_LINGER_MS) points.push(t);
  }
  return points;
}

function describeProbe(h: PlanHealth): string {
  const p = h.probe;
  return p.kind === 'http' ? p.url : p.kind === 'tcp' ? `tcp ${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.port}` : p.argv.join(' ');
}

/**
 * The health check's units for a plan, or only a note when it cannot run here: an exec probe, or no niso command
 * (a caller that renders for reading, not for running).
 */
export function renderHealthUnits(plan: Plan, niso: NisoCommand | undefined): HealthUnits {
  const h = plan.health;
  if (h === null) return { unitLines: [], companions: [], notes: [] };
  if (!systemdRunsHealth(h)) {
    return { unitLines: [], companions: [], notes: [`the health check (exec): not run, since \`niso exec\` does not work for systemd units yet; use an http or tcp probe, or the embedded backend`] };
  }
  if (niso === undefined) return { unitLines: [], companions: [], notes: [`the health check (${h.probe.kind}): no niso command was given to run it`] };
  const svc = plan.service;
  const main = unitName(svc);
  const check = healthServiceName(svc);
  const timer = healthTimerName(svc);
  const startTimer = healthStartTimerName(svc);
  // Bound to the service: they start with it (its Wants=), restart with it (PartOf=, also on systemd's own
  // restarts) and stop when it stops or ends for good (BindsTo=). Restarted timers must never hit a start limit.
  const bound = [`BindsTo=${main}`, `PartOf=${main}`, `After=${main}`, 'StartLimitIntervalSec=0'];
  const points = startPoints(h);
  const then = h.onUnhealthy === 'restart' ? `restarted (systemctl restart ${main})` : 'reported';
  const startText = [
    `# ${startTimer}: generated by niso; the quick probes while ${main} starts (see ${check}).`,
    '[Unit]',
    `Description=niso: health check of ${svc} while it starts`,
    ...bound,
    '',
    '[Timer]',
    // Where the embedded backend's quick probes (50 ms, doubling) are more than a second apart; the check stops
    // this timer at the first passing probe, so that from then on probes come every interval.
    ...points.map((p) => `OnActiveSec=${span(p)}`),
    'AccuracySec=10ms',
    `Unit=${check}`,
    '',
  ].join('\n');
  const timerText = [
    `# ${timer}: generated by niso; the health check of ${main} every ${span(h.intervalMs)} (see ${check}).`,
    '[Unit]',
    `Description=niso: health check of ${svc} every ${span(h.intervalMs)}`,
    ...bound,
    '',
    '[Timer]',
    // interval after the last check ended; the first one also interval after the start, should no check have run.
    `OnActiveSec=${span(h.intervalMs)}`,
    `OnUnitInactiveSec=${span(h.intervalMs)}`,
    'AccuracySec=10ms',
    `Unit=${check}`,
    '',
  ].join('\n');
  // A check that hangs must not block the next ones: it ends after its probes, a restart of the app and some slack.
  const limit = HEALTH_ROUND_BUDGET_MS + h.timeoutMs + plan.stop.timeoutMs + 60_000;
  const checkText = [
    `# ${check}: generated by niso; probes ${main} (${describeProbe(h)}) and exits.`,
    `# ${h.retries} failure(s) in a row after a start period of ${span(h.startPeriodMs)} make it unhealthy, and it is ${then}.`,
    '[Unit]',
    `Description=niso: health check of ${svc}`,
    // Started by two timers, often: never refused for starting too often.
    'StartLimitIntervalSec=0',
    // At boot, niso and its state may be on file systems mounted later.
    `RequiresMountsFor=${[join(niso.root, 'var/lib/niso'), niso.entry].map(pathWord).join(' ')}`,
    '',
    '[Service]',
    'Type=oneshot',
    // Runs niso's own check (as root: it enters the app's network namespace, writes health.json, restarts the unit).
    `Environment=${environmentWord('NISO_ROOT', niso.root)}`,
    `ExecStart=${[niso.node, niso.entry, '__health-check', svc].map(execWord).join(' ')}`,
    `TimeoutStartSec=${span(limit)}`,
    // Stopped with the service (deactivate) in the middle of a check: not a failure.
    'SuccessExitStatus=SIGTERM',
    '',
  ].join('\n');
  return {
    unitLines: [
      `# The health check (${describeProbe(h)}, every ${span(h.intervalMs)}): these timers start ${check}.`,
      `Wants=${timer} ${startTimer}`,
    ],
    companions: [{ name: startTimer, text: startText }, { name: timer, text: timerText }, { name: check, text: checkText }],
    notes: [],
  };
}
