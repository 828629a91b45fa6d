// What happens after a service ends: the restart policy (as in docker run --restart), an
// exponential backoff, and the crash-loop state. Pure: the supervisor feeds it the facts.
import type { PlanRestart } from '../../plan/plan.js';
import type { ExitReason, ServiceStateName } from './types.js';

/** A run that lasted this long counts as a good start: the backoff starts over after it. */
export const STABLE_AFTER_MS = 10_000;
/** This many quick ends in a row make a crash loop: restarts slow to the longest delay. */
export const CRASH_LOOP_AFTER = 5;

export interface ExitFacts {
  exitCode: number | null;
  reason: ExitReason;
  uptimeMs: number;
  /** Restarts in a row before this end. */
  restartsInARow: number;
  /** The kernel's OOM killer ended it (ExitRecord.oom). */
  oom?: boolean;
  desired: 'active' | 'inactive';
}

export type AfterExit =
  | { action: 'restart'; delayMs: number; restartsInARow: number; state: Extract<ServiceStateName, 'restarting' | 'crash-loop'>; message: string }
  | { action: 'stay'; state: Extract<ServiceStateName, 'inactive' | 'failed'>; message: string | null };

/** The delay before the n-th restart in a row (n ≥ 1): delay, 2·delay, 4·delay ... capped. */
export function backoffDelay(restart: PlanRestart, n: number): number {
  const d = restart.delayMs * 2 ** Math.max(0, Math.min(n - 1, 30));
  return Math.min(d, restart.maxDelayMs);
}

function describe(f: ExitFacts): string {
  if (f.reason === 'unhealthy') return 'the health check failed';
  if (f.reason === 'start-failed') return 'it could not start';
  if (f.reason === 'vanished') return 'it ended while no supervisor watched it';
  if (f.oom) return 'it ran out of memory (the kernel\'s OOM killer ended it at its memory limit)';
  return f.exitCode === null ? 'it ended' : f.exitCode > 128 && f.exitCode < 160 ? `it was killed by signal ${f.exitCode - 128}` : `it exited with code ${f.exitCode}`;
}

export function afterExit(restart: PlanRestart, f: ExitFacts): AfterExit {
  if (f.desired === 'inactive' || f.reason === 'stopped') return { action: 'stay', state: 'inactive', message: null };
  const clean = f.exitCode === 0 && f.reason === 'exited';
  const why = describe(f);
  // An unhealthy service is restarted whatever the policy: that is what on_unhealthy = "restart" asks for.
  const wants = f.reason === 'unhealthy' || restart.policy === 'always' || restart.policy === 'unless-stopped' || (restart.policy === 'on-failure' && !clean);
  if (!wants) return clean ? { action: 'stay', state: 'inactive', message: 'exited with code 0' } : { action: 'stay', state: 'failed', message: `${why}; restart policy "${restart.policy}"` };
  const inARow = f.uptimeMs >= STABLE_AFTER_MS ? 1 : f.restartsInARow + 1;
  if (restart.policy === 'on-failure' && restart.maxRetries !== null && inARow > restart.maxRetries && f.reason !== 'unhealthy') {
    return { action: 'stay', state: 'failed', message: `${why}; gave up after ${restart.maxRetries} restart${restart.maxRetries === 1 ? '' : 's'} in a row (max_retries)` };
  }
  if (inARow >= CRASH_LOOP_AFTER) {
    return { action: 'restart', delayMs: restart.maxDelayMs, restartsInARow: inARow, state: 'crash-loop', message: `${why}, ${inARow} times in a row within ${STABLE_AFTER_MS / 1000} s of starting; restarting every ${restart.maxDelayMs / 1000} s` };
  }
  return { action: 'restart', delayMs: backoffDelay(restart, inARow), restartsInARow: inARow, state: 'restarting', message: why };
}
