// The restart policy after an end, as a table: policy, how it ended, restarts in a row → what next.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterExit, backoffDelay, CRASH_LOOP_AFTER } from '../../src/service/model/policy.js';
import type { PlanRestart } from '../../src/plan/plan.js';

const r = (policy: PlanRestart['policy'], maxRetries: number | null = null): PlanRestart => ({ policy, maxRetries, delayMs: 1000, maxDelayMs: 8000 });
const quick = { uptimeMs: 100, desired: 'active' as const };

const cases: [string, PlanRestart, Parameters<typeof afterExit>[1], string][] = [
  ['no: a clean exit is inactive', r('no'), { ...quick, exitCode: 0, reason: 'exited', restartsInARow: 0 }, 'stay inactive'],
  ['no: a failure is failed', r('no'), { ...quick, exitCode: 2, reason: 'exited', restartsInARow: 0 }, 'stay failed'],
  ['on-failure: a clean exit stays down', r('on-failure'), { ...quick, exitCode: 0, reason: 'exited', restartsInARow: 0 }, 'stay inactive'],
  ['on-failure: a failure restarts after the first delay', r('on-failure'), { ...quick, exitCode: 1, reason: 'exited', restartsInARow: 0 }, 'restart 1000 1 restarting'],
  ['on-failure: the delay doubles', r('on-failure'), { ...quick, exitCode: 1, reason: 'exited', restartsInARow: 2 }, 'restart 4000 3 restarting'],
  ['on-failure:2 gives up at the third', r('on-failure', 2), { ...quick, exitCode: 1, reason: 'exited', restartsInARow: 2 }, 'stay failed'],
  ['on-failure:2 still restarts the second', r('on-failure', 2), { ...quick, exitCode: 1, reason: 'exited', restartsInARow: 1 }, 'restart 2000 2 restarting'],
  ['always: even a clean exit restarts', r('always'), { ...quick, exitCode: 0, reason: 'exited', restartsInARow: 0 }, 'restart 1000 1 restarting'],
  ['unless-stopped: like always', r('unless-stopped'), { ...quick, exitCode: 0, reason: 'exited', restartsInARow: 0 }, 'restart 1000 1 restarting'],
  ['a long run starts the backoff over', r('always'), { uptimeMs: 60_000, desired: 'active', exitCode: 1, reason: 'exited', restartsInARow: 6 }, 'restart 1000 1 restarting'],
  ['crash loop after 5 quick ends: the longest delay', r('always'), { ...quick, exitCode: 1, reason: 'exited', restartsInARow: CRASH_LOOP_AFTER - 1 }, 'restart 8000 5 crash-loop'],
  ['unhealthy restarts even under "no"', r('no'), { ...quick, exitCode: 143, reason: 'unhealthy', restartsInARow: 0 }, 'restart 1000 1 restarting'],
  ['stopped by the user: inactive', r('always'), { ...quick, exitCode: 143, reason: 'stopped', restartsInARow: 0 }, 'stay inactive'],
  ['not desired: inactive', r('always'), { uptimeMs: 5, desired: 'inactive', exitCode: 1, reason: 'exited', restartsInARow: 0 }, 'stay inactive'],
  ['a failed start restarts by policy', r('on-failure'), { ...quick, exitCode: null, reason: 'start-failed', restartsInARow: 0 }, 'restart 1000 1 restarting'],
];

for (const [name, restart, facts, want] of cases) {
  test(`afterExit: ${name}`, () => {
    const d = afterExit(restart, facts);
    const got = d.action === 'restart' ? `restart ${d.delayMs} ${d.restartsInARow} ${d.state}` : `stay ${d.state}`;
    assert.equal(got, want);
  });
}

test('backoffDelay doubles up to the cap', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 40].map((n) => backoffDelay(r('always'), n)), [1000, 2000, 4000, 8000, 8000, 8000]);
});

test('messages say what happened', () => {
  const gaveUp = afterExit(r('on-failure', 1), { ...quick, exitCode: 3, reason: 'exited', restartsInARow: 1 });
  assert.equal(gaveUp.message, 'it exited with code 3; gave up after 1 restart in a row (max_retries)');
  const killed = afterExit(r('no'), { ...quick, exitCode: 137, reason: 'exited', restartsInARow: 0 });
  assert.equal(killed.message, 'it was killed by signal 9; restart policy "no"');
});
