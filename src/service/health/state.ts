// The health check's rules (Docker's starting/healthy/unhealthy) as pure data in, data out, so the supervisor can persist the state and resume it after being killed. [pure]
import type { PlanHealth } from '../../plan/plan.js';

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** One probe's outcome, as shown to the user (`niso status`, health.json). */
export interface ProbeResult {
  /** When the probe started (ISO 8601); the start period is judged by this time, as Docker does. */
  at: string;
  ok: boolean;
  /** What happened, for a person: "HTTP 503 Service Unavailable: db down", "connection refused on 127.0.0.1:3000". */
  output: string;
  durationMs: number;
  /** The exit code of an exec probe's command. */
  exitCode?: number;
}

export interface HealthState {
  status: HealthStatus;
  /** Consecutive failures that count towards `retries` (those in the start period do not). */
  failingStreak: number;
  /** Probes recorded since the service started. */
  probes: number;
  /** Epoch ms when the last probe was recorded; null before the first. */
  lastProbeAt: number | null;
  /** Epoch ms when the next probe is due. */
  nextProbeAt: number;
  /** Epoch ms of the last passing probe; null until the first one, which ends the fast start-up cadence. */
  lastSuccessAt: number | null;
  /** Before the first success: when the last failure was counted (failures count at most once per interval then). */
  countedFailureAt: number | null;
  /** The last HEALTH_LOG_SIZE results, oldest first. */
  log: ProbeResult[];
}

export type HealthTransition = null | 'healthy' | 'unhealthy';

export const HEALTH_LOG_SIZE = 10;
export const PROBE_OUTPUT_MAX = 512;
/**
 * Where niso differs from Docker, on purpose: Docker first probes one start_interval (or interval)
 * after start, so `--wait` for an app that is up in 300 ms still takes 5-30 s. Until the first
 * success niso probes 50 ms after start and then doubles the gap (50, 100, 200, 400 ms, ...), up to
 * start_interval while in the start period and up to interval after it. Once a probe passed, probes
 * run every interval, as in Docker. The cost is a handful of cheap probes during start-up, and an app
 * is seen healthy at most about twice its start-up time after it started (or one cap later).
 */
export const FIRST_PROBE_DELAY_MS = 50;

/**
 * How long after its start niso takes at most to call a service whose check never passes unhealthy (the verdict
 * `niso activate --wait` waits for). Failures count only after the start period and, before a first pass, at most
 * once per interval; after the start period probes start at most interval + timeout apart (the gap is capped at
 * interval, a probe takes up to timeout), the first one at most start_interval + timeout into it. So each counted
 * failure comes at most 2 × interval + timeout after the one before (or after the start period).
 */
export function unhealthyWithinMs(h: PlanHealth): number {
  return h.startPeriodMs + Math.max(h.startIntervalMs, h.intervalMs) + h.timeoutMs + h.retries * (2 * h.intervalMs + h.timeoutMs);
}

/** The state of a service that has just started (again: a restart starts over). */
export function initialHealth(startedAt: number, h: PlanHealth): HealthState {
  return {
    status: 'starting',
    failingStreak: 0,
    probes: 0,
    lastProbeAt: null,
    nextProbeAt: startedAt + Math.min(FIRST_PROBE_DELAY_MS, capAt(startedAt, h, startedAt)),
    lastSuccessAt: null,
    countedFailureAt: null,
    log: [],
  };
}

/**
 * Folds one probe result into the state. `transition` is set only when the status changed to
 * healthy or unhealthy; the supervisor acts on it (see unhealthyAction).
 */
export function recordProbe(state: HealthState, result: ProbeResult, h: PlanHealth, startedAt: number, now: number): { state: HealthState; transition: HealthTransition } {
  const probeStart = Date.parse(result.at);
  const inStartPeriod = (Number.isNaN(probeStart) ? now : probeStart) - startedAt < h.startPeriodMs;
  let status = state.status;
  let failingStreak = state.failingStreak;
  let lastSuccessAt = state.lastSuccessAt;
  let countedFailureAt = state.countedFailureAt ?? null;
  if (result.ok) {
    status = 'healthy';
    failingStreak = 0;
    lastSuccessAt = now;
  } else if (!(state.status === 'starting' && inStartPeriod)) {
    // As in Docker: only a service that never passed gets the start period's grace. And until
    // the first success, the quick probes only look for it sooner: a failure counts at most once
    // per interval (Docker's pace), so a slow starter is not called unhealthy after 350 ms.
    const at = Number.isNaN(probeStart) ? now : probeStart;
    const paced = lastSuccessAt !== null || at - (state.countedFailureAt ?? startedAt) >= h.intervalMs;
    if (paced) {
      failingStreak += 1;
      countedFailureAt = at;
      if (failingStreak >= h.retries) status = 'unhealthy';
    }
  }
  const entry: ProbeResult = { ...result, output: clipOutput(result.output) };
  const probes = state.probes + 1;
  const next: HealthState = {
    status,
    failingStreak,
    probes,
    lastProbeAt: now,
    nextProbeAt: now + gapAfter(probes, lastSuccessAt, h, startedAt, now),
    lastSuccessAt,
    countedFailureAt,
    log: [...state.log, entry].slice(-HEALTH_LOG_SIZE),
  };
  const transition: HealthTransition = status !== state.status && status !== 'starting' ? status : null;
  return { state: next, transition };
}

/** Milliseconds until the next probe is due (0: now, e.g. after resuming late). */
export function probeDelay(state: HealthState, now: number): number {
  return Math.max(0, state.nextProbeAt - now);
}

/** What the supervisor does about a transition: restart on turning unhealthy, unless the manifest says "none". */
export function unhealthyAction(transition: HealthTransition, h: PlanHealth): 'restart' | null {
  return transition === 'unhealthy' && h.onUnhealthy === 'restart' ? 'restart' : null;
}

/** Probe output as the log keeps it: trimmed, control characters as spaces, at most PROBE_OUTPUT_MAX characters. */
export function clipOutput(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0009\u000b-\u001f\u007f]/g, ' ').trim();
  const chars = Array.from(clean);
  return chars.length <= PROBE_OUTPUT_MAX ? clean : `${chars.slice(0, PROBE_OUTPUT_MAX - 1).join('')}…`;
}

/**
 * Reads a persisted state back (health.json), or null when it is not one: the supervisor then starts
 * over with initialHealth rather than trusting a damaged file.
 */
export function parseHealthState(value: unknown): HealthState | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  const numOrNull = (x: unknown) => x === null || num(x);
  if (v.status !== 'starting' && v.status !== 'healthy' && v.status !== 'unhealthy') return null;
  if (!num(v.failingStreak) || !num(v.probes) || !num(v.nextProbeAt) || !numOrNull(v.lastProbeAt) || !numOrNull(v.lastSuccessAt)) return null;
  if (!Array.isArray(v.log)) return null;
  const log: ProbeResult[] = [];
  for (const e of v.log as unknown[]) {
    if (typeof e !== 'object' || e === null) return null;
    const r = e as Record<string, unknown>;
    if (typeof r.at !== 'string' || typeof r.ok !== 'boolean' || typeof r.output !== 'string' || !num(r.durationMs)) return null;
    if (r.exitCode !== undefined && !num(r.exitCode)) return null;
    log.push({ at: r.at, ok: r.ok, output: r.output, durationMs: r.durationMs as number, ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode as number }) });
  }
  return {
    status: v.status,
    failingStreak: v.failingStreak as number,
    probes: v.probes as number,
    lastProbeAt: v.lastProbeAt as number | null,
    nextProbeAt: v.nextProbeAt as number,
    lastSuccessAt: v.lastSuccessAt as number | null,
    countedFailureAt: numOrNull(v.countedFailureAt) && v.countedFailureAt !== undefined ? v.countedFailureAt as number | null : null,
    log: log.slice(-HEALTH_LOG_SIZE),
  };
}

/** The longest gap before the first success: start_interval inside the start period, interval after. */
function capAt(t: number, h: PlanHealth, startedAt: number): number {
  return Math.max(1, t - startedAt < h.startPeriodMs ? h.startIntervalMs : h.intervalMs);
}

function gapAfter(probes: number, lastSuccessAt: number | null, h: PlanHealth, startedAt: number, now: number): number {
  if (lastSuccessAt !== null) return Math.max(1, h.intervalMs);
  return Math.min(FIRST_PROBE_DELAY_MS * 2 ** Math.min(probes, 40), capAt(now, h, startedAt));
}
