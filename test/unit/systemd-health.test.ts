// The health check of systemd services, its pure parts: the start-up timer points (the embedded backend's quick
// probes, as a timer can fire them), which record belongs to which run, and what an exec probe renders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { goldenPlan } from '../helpers/golden-plan.js';
import type { PlanHealth } from '../../src/plan/plan.js';
import { renderSystemdUnit } from '../../src/render/systemd.js';
import { HEALTH_LINGER_MS, healthUnitNames, renderHealthUnits, startPoints } from '../../src/render/systemd-health.js';
import { initialHealth, recordProbe } from '../../src/service/health/state.js';
import { healthOfRun } from '../../src/service/systemd/health-run.js';
import { usTimestamp } from '../../src/service/systemd/systemctl.js';

const base: PlanHealth = { probe: { kind: 'http', url: 'http://127.0.0.1:3000/health' }, intervalMs: 30_000, timeoutMs: 5000, retries: 3, startPeriodMs: 0, startIntervalMs: 5000, onUnhealthy: 'restart' };
const NISO = { node: '/usr/bin/node', entry: '/usr/lib/niso/bin/niso', root: '/' };

test('start-up points: 50 ms, then where the quick probes are more than a second apart, up to the interval', () => {
  // The embedded backend probes at 50, 150, 350, 750, 1550, 3150, ... ms: the first five run in one check process.
  assert.deepEqual(startPoints(base), [50, 3150, 6350, 12750, 25550, 51150]);
  // A start period with start_interval: gaps capped at 5 s inside it, the interval after it.
  assert.deepEqual(startPoints({ ...base, startPeriodMs: 20_000, startIntervalMs: 5000 }), [50, 3150, 6350, 11350, 16350, 21350]);
  // A short interval: the interval timer alone paces the probes as soon as the gap reaches it.
  assert.deepEqual(startPoints({ ...base, intervalMs: 1000 }), [50]);
  for (const h of [base, { ...base, intervalMs: 2000, startPeriodMs: 60_000, startIntervalMs: 1500 }]) {
    const p = startPoints(h);
    assert.ok(p.length <= 30);
    for (let i = 1; i < p.length; i++) assert.ok(p[i]! - p[i - 1]! > HEALTH_LINGER_MS);
  }
});

test('a health record belongs to a run only if its last probe came after that run started', () => {
  const started = 1_700_000_000_000;
  const fresh = initialHealth(started, base);
  assert.equal(healthOfRun(fresh, started), null, 'never probed: as good as new');
  const probed = recordProbe(fresh, { at: new Date(started + 100).toISOString(), ok: true, output: 'HTTP 200 OK', durationMs: 5 }, base, started, started + 105).state;
  assert.equal(healthOfRun(probed, started)?.status, 'healthy');
  // systemd restarted the app later: the record is the previous run's.
  assert.equal(healthOfRun(probed, started + 60_000), null);
  assert.equal(healthOfRun(null, started), null);
});

test('every probe kind renders the check and its two timers; without niso\'s command, none', () => {
  const { plan } = goldenPlan(join(import.meta.dirname, '../golden/plan/service-health'));
  const exec = { ...plan, health: { ...plan.health!, probe: { kind: 'exec' as const, argv: ['bin/check'] } } };
  for (const p of [plan, exec]) {
    const unit = renderSystemdUnit(p, { generation: 'g', filesDir: '/x', runtime: 'nodejs', niso: NISO });
    assert.deepEqual(unit.companions.map((c) => c.name).filter((n) => healthUnitNames('web').includes(n)).sort(), healthUnitNames('web').sort());
    assert.doesNotMatch(unit.unit, /not in this unit: the health check/);
  }
  // Without niso's command (a unit rendered to be read, not run) nothing is written that could not run.
  assert.deepEqual(renderHealthUnits(plan, undefined).companions, []);
});

test('systemd\'s microsecond timestamps are read to the millisecond', () => {
  assert.equal(usTimestamp('Mon 2026-11-23 07:02:27.716141 UTC'), Date.UTC(2026, 10, 23, 7, 2, 27) + 716.141);
  assert.equal(usTimestamp('Mon 2026-11-23 07:02:27 UTC'), Date.UTC(2026, 10, 23, 7, 2, 27));
  assert.equal(usTimestamp('n/a'), null);
  assert.equal(usTimestamp(''), null);
});
