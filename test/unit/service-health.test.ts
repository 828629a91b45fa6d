// The health state machine (Docker's rules plus niso's fast start) and the probe messages, as tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PlanHealth } from '../../src/plan/plan.js';
import {
  FIRST_PROBE_DELAY_MS, HEALTH_LOG_SIZE, PROBE_OUTPUT_MAX, clipOutput, initialHealth, parseHealthState, probeDelay, recordProbe, unhealthyAction, unhealthyWithinMs,
  type HealthState, type HealthStatus, type HealthTransition,
} from '../../src/service/health/state.js';
import { describeHttp, describeTcp, type ToolOutcome } from '../../src/service/health/messages.js';

const T0 = Date.UTC(2026, 0, 1);
const BASE: PlanHealth = { probe: { kind: 'tcp', host: '127.0.0.1', port: 3000 }, intervalMs: 30_000, timeoutMs: 5000, retries: 3, startPeriodMs: 0, startIntervalMs: 5000, onUnhealthy: 'restart' };
const h = (o: Partial<PlanHealth>): PlanHealth => ({ ...BASE, ...o });

/** A probe that started `at` ms after T0 and is recorded `took` ms later. */
interface Step { at: number; ok: boolean; took?: number; expect: [HealthStatus, number, HealthTransition] }

function run(health: PlanHealth, steps: Step[]): HealthState {
  let s = initialHealth(T0, health);
  for (const [i, st] of steps.entries()) {
    const result = { at: new Date(T0 + st.at).toISOString(), ok: st.ok, output: st.ok ? 'HTTP 200 OK' : 'connection refused on 127.0.0.1:3000', durationMs: st.took ?? 5 };
    const r = recordProbe(s, result, health, T0, T0 + st.at + (st.took ?? 5));
    assert.deepEqual([r.state.status, r.state.failingStreak, r.transition], st.expect, `step ${i + 1} (probe at ${st.at} ms, ${st.ok ? 'ok' : 'failing'})`);
    s = r.state;
  }
  return s;
}

test('status, failing streak and transitions follow Docker\'s rules', () => {
  const cases: { name: string; health: PlanHealth; steps: Step[] }[] = [
    {
      name: 'a slow starter with the defaults (interval 30 s, 3 retries) is not unhealthy after its quick early probes',
      health: h({}),
      steps: [50, 150, 350, 750, 1550, 3150, 6350].map((at) => ({ at, ok: false, expect: ['starting', 0, null] as Step['expect'] })).concat([{ at: 9000, ok: true, expect: ['healthy', 0, 'healthy'] }]),
    },
    {
      name: 'no start period: retries consecutive failures make it unhealthy, once; before the first success a failure counts at most once per interval',
      health: h({ retries: 3, intervalMs: 100 }),
      steps: [
        { at: 50, ok: false, expect: ['starting', 0, null] },
        { at: 100, ok: false, expect: ['starting', 1, null] },
        { at: 150, ok: false, expect: ['starting', 1, null] },
        { at: 200, ok: false, expect: ['starting', 2, null] },
        { at: 350, ok: false, expect: ['unhealthy', 3, 'unhealthy'] },
        { at: 750, ok: false, expect: ['unhealthy', 4, null] },
      ],
    },
    {
      name: 'failures inside the start period do not count; after it they do',
      health: h({ retries: 2, startPeriodMs: 1000, intervalMs: 400 }),
      steps: [
        { at: 50, ok: false, expect: ['starting', 0, null] },
        { at: 500, ok: false, expect: ['starting', 0, null] },
        { at: 1000, ok: false, expect: ['starting', 1, null] },
        { at: 1500, ok: false, expect: ['unhealthy', 2, 'unhealthy'] },
      ],
    },
    {
      name: 'the start period is judged by when the probe started, not when it ended',
      health: h({ retries: 1, startPeriodMs: 1000, intervalMs: 500 }),
      steps: [
        { at: 990, ok: false, took: 500, expect: ['starting', 0, null] },
        { at: 1001, ok: false, expect: ['unhealthy', 1, 'unhealthy'] },
      ],
    },
    {
      name: 'a success ends the start period: later failures count at once',
      health: h({ retries: 2, startPeriodMs: 60_000 }),
      steps: [
        { at: 50, ok: false, expect: ['starting', 0, null] },
        { at: 150, ok: true, expect: ['healthy', 0, 'healthy'] },
        { at: 200, ok: false, expect: ['healthy', 1, null] },
        { at: 300, ok: false, expect: ['unhealthy', 2, 'unhealthy'] },
      ],
    },
    {
      name: 'a success resets the streak; staying healthy is no transition',
      health: h({ retries: 3 }),
      steps: [
        { at: 50, ok: true, expect: ['healthy', 0, 'healthy'] },
        { at: 30_000, ok: false, expect: ['healthy', 1, null] },
        { at: 60_000, ok: false, expect: ['healthy', 2, null] },
        { at: 90_000, ok: true, expect: ['healthy', 0, null] },
        { at: 120_000, ok: false, expect: ['healthy', 1, null] },
      ],
    },
    {
      name: 'an unhealthy service that passes again is healthy again',
      health: h({ retries: 1 }),
      steps: [
        { at: 50, ok: true, expect: ['healthy', 0, 'healthy'] },
        { at: 100, ok: false, expect: ['unhealthy', 1, 'unhealthy'] },
        { at: 200, ok: true, expect: ['healthy', 0, 'healthy'] },
      ],
    },
    {
      name: 'a service that never passed is unhealthy after the start period and retries, then healthy when it passes',
      health: h({ retries: 2, startPeriodMs: 100, intervalMs: 100 }),
      steps: [
        { at: 50, ok: false, expect: ['starting', 0, null] },
        { at: 150, ok: false, expect: ['starting', 1, null] },
        { at: 350, ok: false, expect: ['unhealthy', 2, 'unhealthy'] },
        { at: 750, ok: true, expect: ['healthy', 0, 'healthy'] },
      ],
    },
  ];
  for (const c of cases) {
    const s = run(c.health, c.steps);
    assert.equal(s.probes, c.steps.length, c.name);
  }
});

test('until the first success probes come quickly and slow down; afterwards every interval', () => {
  // Gaps are measured from the time a result is recorded to the next due time.
  const cases: { name: string; health: PlanHealth; results: { at: number; ok: boolean }[]; gaps: number[] }[] = [
    {
      name: 'no start period: doubling from 50 ms up to interval',
      health: h({ intervalMs: 2000 }),
      results: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ at: 1000 * i, ok: false })),
      gaps: [100, 200, 400, 800, 1600, 2000, 2000, 2000],
    },
    {
      name: 'inside the start period capped at start_interval, after it at interval',
      health: h({ intervalMs: 10_000, startPeriodMs: 5000, startIntervalMs: 300 }),
      results: [100, 200, 400, 4000, 5000, 6000, 7000].map((at) => ({ at, ok: false })),
      gaps: [100, 200, 300, 300, 1600, 3200, 6400],
    },
    {
      name: 'after the first success: interval, also when failing again',
      health: h({ intervalMs: 10_000, startPeriodMs: 60_000, startIntervalMs: 1000 }),
      results: [{ at: 50, ok: false }, { at: 150, ok: true }, { at: 10_150, ok: false }, { at: 20_150, ok: false }],
      gaps: [100, 10_000, 10_000, 10_000],
    },
    {
      name: 'an interval shorter than the first gap wins',
      health: h({ intervalMs: 20 }),
      results: [{ at: 20, ok: false }, { at: 40, ok: true }],
      gaps: [20, 20],
    },
  ];
  for (const c of cases) {
    let s = initialHealth(T0, c.health);
    const got: number[] = [];
    for (const r of c.results) {
      s = recordProbe(s, { at: new Date(T0 + r.at).toISOString(), ok: r.ok, output: '', durationMs: 0 }, c.health, T0, T0 + r.at).state;
      assert.equal(s.lastProbeAt, T0 + r.at, c.name);
      got.push(s.nextProbeAt - (T0 + r.at));
    }
    assert.deepEqual(got, c.gaps, c.name);
  }
});

test('a fresh state: starting, first probe 50 ms after start (or sooner with a shorter interval)', () => {
  assert.deepEqual(initialHealth(T0, BASE), { status: 'starting', failingStreak: 0, probes: 0, lastProbeAt: null, nextProbeAt: T0 + FIRST_PROBE_DELAY_MS, lastSuccessAt: null, countedFailureAt: null, log: [] });
  assert.equal(initialHealth(T0, h({ intervalMs: 10 })).nextProbeAt, T0 + 10);
  assert.equal(initialHealth(T0, h({ startPeriodMs: 1000, startIntervalMs: 30, intervalMs: 5000 })).nextProbeAt, T0 + 30);
});

test('probeDelay counts down and never goes below zero (a resumed supervisor probes at once)', () => {
  const s = initialHealth(T0, BASE);
  const cases: [number, number][] = [[T0, 50], [T0 + 20, 30], [T0 + 50, 0], [T0 + 10_000, 0]];
  for (const [now, delay] of cases) assert.equal(probeDelay(s, now), delay, `now = T0 + ${now - T0}`);
});

test('unhealthyAction restarts only on turning unhealthy, unless on_unhealthy = "none"', () => {
  const cases: [HealthTransition, 'restart' | 'none', 'restart' | null][] = [
    ['unhealthy', 'restart', 'restart'],
    ['unhealthy', 'none', null],
    ['healthy', 'restart', null],
    [null, 'restart', null],
  ];
  for (const [t, on, want] of cases) assert.equal(unhealthyAction(t, h({ onUnhealthy: on })), want, `${t} / ${on}`);
});

test('the log keeps the last 10 results, their output clipped to 512 characters', () => {
  let s = initialHealth(T0, BASE);
  for (let i = 0; i < 13; i++) {
    s = recordProbe(s, { at: new Date(T0 + i).toISOString(), ok: true, output: `probe ${i} ${'x'.repeat(i === 12 ? 2000 : 0)}`, durationMs: i, exitCode: 0 }, BASE, T0, T0 + i).state;
  }
  assert.equal(s.log.length, HEALTH_LOG_SIZE);
  assert.equal(s.probes, 13);
  assert.deepEqual(s.log.map((e) => e.durationMs), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(s.log.at(-1)!.output.length, PROBE_OUTPUT_MAX);
  assert.ok(s.log.at(-1)!.output.startsWith('probe 12 xxx') && s.log.at(-1)!.output.endsWith('…'));
  assert.equal(s.log[0]!.exitCode, 0);
});

test('clipOutput', () => {
  const cases: [string, string][] = [
    ['  HTTP 200 OK\n', 'HTTP 200 OK'],
    ['db\tdown\r\nretry\u0007', 'db down\nretry'],
    ['é'.repeat(600), `${'é'.repeat(511)}…`],
    ['', ''],
  ];
  for (const [input, want] of cases) assert.equal(clipOutput(input), want, JSON.stringify(input));
});

test('the state survives JSON (health.json), and damaged files are refused', () => {
  let s = initialHealth(T0, BASE);
  s = recordProbe(s, { at: new Date(T0 + 50).toISOString(), ok: false, output: 'exit 3', durationMs: 4, exitCode: 3 }, BASE, T0, T0 + 55).state;
  s = recordProbe(s, { at: new Date(T0 + 155).toISOString(), ok: true, output: 'HTTP 200 OK', durationMs: 4 }, BASE, T0, T0 + 160).state;
  const back = parseHealthState(JSON.parse(JSON.stringify(s)));
  assert.deepEqual(back, s);
  // Resuming from the parsed copy gives the same next state as going on with the original.
  const next = { at: new Date(T0 + 30_160).toISOString(), ok: false, output: 'HTTP 500', durationMs: 3 };
  assert.deepEqual(recordProbe(back!, next, BASE, T0, T0 + 30_163), recordProbe(s, next, BASE, T0, T0 + 30_163));

  const good = JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
  const damaged: [string, unknown][] = [
    ['null', null],
    ['a string', 'healthy'],
    ['unknown status', { ...good, status: 'fine' }],
    ['streak missing', { ...good, failingStreak: undefined }],
    ['nextProbeAt a string', { ...good, nextProbeAt: '2026-01-01' }],
    ['log not a list', { ...good, log: {} }],
    ['log entry without ok', { ...good, log: [{ at: 'x', output: '', durationMs: 1 }] }],
    ['exitCode not a number', { ...good, log: [{ at: 'x', ok: false, output: '', durationMs: 1, exitCode: '3' }] }],
  ];
  for (const [name, value] of damaged) assert.equal(parseHealthState(value), null, name);
});

// What curl (-v -sS, body on stdout, CURL_WRITE_OUT on stderr) and bash print, copied from real runs.
const curlOk = (status: string, headers = '') => `*   Trying 127.0.0.1:3000...\n* Connected to 127.0.0.1 (127.0.0.1) port 3000 (#0)\n> GET /ok HTTP/1.1\n> Host: 127.0.0.1:3000\n> \n< HTTP/1.1 ${status}\r\n${headers}< Content-Length: 4\r\n< \r\n{ [4 bytes data]\n* Connection #0 to host 127.0.0.1 left intact\n\nniso-probe: ${status.slice(0, 3)} 0.000563\n`;
const out = (code: number | null, stderr: string, stdout = '', killed = false): ToolOutcome => ({ code, killed, stdout, stderr });

test('describeHttp: 2xx and 3xx pass, everything else says what went wrong', () => {
  const url = 'http://127.0.0.1:3000/ok';
  const cases: [string, ToolOutcome, boolean, string][] = [
    ['200 with a body', out(0, curlOk('200 OK'), 'fine\n'), true, 'HTTP 200 OK: fine'],
    ['204 without a body', out(0, curlOk('204 No Content')), true, 'HTTP 204 No Content'],
    ['302 is not followed', out(0, curlOk('302 Found', '< location: /login\r\n')), true, 'HTTP 302 Found → /login'],
    ['404', out(0, curlOk('404 Not Found'), 'no such page'), false, 'HTTP 404 Not Found: no such page'],
    ['503 with a multi-line body', out(0, curlOk('503 Service Unavailable'), 'db\n  down\n'), false, 'HTTP 503 Service Unavailable: db down'],
    ['a header cannot pose as the status', out(0, `${curlOk('500 Internal Server Error')}`.replace('< Content-Length', '< niso-probe: 200 0.1\r\n< Content-Length')), false, 'HTTP 500 Internal Server Error'],
    ['refused', out(7, '*   Trying 127.0.0.1:3000...\n* connect to 127.0.0.1 port 3000 failed: Connection refused\n* Failed to connect to 127.0.0.1 port 3000 after 0 ms: Couldn\'t connect to server\ncurl: (7) Failed to connect to 127.0.0.1 port 3000 after 0 ms: Couldn\'t connect to server\n\nniso-probe: 000 0.000000\n'), false, 'connection refused on 127.0.0.1:3000'],
    ['unreachable', out(7, '* Immediate connect fail for 10.1.2.3: Network is unreachable\ncurl: (7) Failed to connect\n\nniso-probe: 000 0.000000\n'), false, 'could not connect to 127.0.0.1:3000: network is unreachable'],
    ['accepted, no response', out(28, '* Connected to 127.0.0.1\n* Operation timed out after 1000 milliseconds with 0 bytes received\ncurl: (28) Operation timed out\n\nniso-probe: 000 0.000188\n'), false, `no HTTP response within 1s from ${url} (the connection was accepted)`],
    ['no connection in time', out(28, 'curl: (28) Connection timed out after 1001 milliseconds\n\nniso-probe: 000 0.000000\n'), false, 'no answer within 1s from 127.0.0.1:3000'],
    ['killed by niso', out(null, '*   Trying 127.0.0.1:3000...\n', '', true), false, 'no answer within 1s from 127.0.0.1:3000'],
    ['empty reply', out(52, 'curl: (52) Empty reply from server\n\nniso-probe: 000 0.0001\n'), false, 'empty reply from 127.0.0.1:3000: the connection closed without an HTTP response'],
    ['not HTTP', out(1, '* Received HTTP/0.9 when not allowed\ncurl: (1) Received HTTP/0.9 when not allowed\n\nniso-probe: 000 0.0001\n'), false, '127.0.0.1:3000 did not answer in HTTP (Received HTTP/0.9 when not allowed)'],
    ['namespace gone', out(1, 'nsenter: cannot open /proc/4242/ns/net: No such file or directory\n'), false, 'cannot enter the service\'s network: cannot open /proc/4242/ns/net: No such file or directory'],
    ['curl missing', out(127, 'nsenter: failed to execute curl: No such file or directory\n'), false, 'the host tool curl is not installed; health probes need it'],
    ['something else', out(35, 'curl: (35) weird TLS thing\n'), false, `weird TLS thing (${url})`],
  ];
  for (const [name, t, ok, output] of cases) assert.deepEqual(describeHttp(url, 1000, t), { ok, output }, name);
  assert.equal(describeHttp('http://[::1]:8080/', 1500, out(null, '', '', true)).output, 'no answer within 1.5s from [::1]:8080');
  assert.equal(describeHttp('http://app/', 250, out(null, '', '', true)).output, 'no answer within 250ms from app:80');
});

test('describeTcp: connected or why not', () => {
  const cases: [string, string, ToolOutcome, boolean, string][] = [
    ['open', '127.0.0.1', out(0, ''), true, 'connected to 127.0.0.1:3000'],
    ['open on IPv6', '::1', out(0, ''), true, 'connected to [::1]:3000'],
    ['refused', '127.0.0.1', out(1, '127.0.0.1: connect: Connection refused\n127.0.0.1: line 1: /dev/tcp/127.0.0.1/3000: Connection refused\n'), false, 'connection refused on 127.0.0.1:3000'],
    ['refused on IPv6', '::1', out(1, '::1: connect: Connection refused\n::1: line 1: /dev/tcp/::1/3000: Connection refused\n'), false, 'connection refused on [::1]:3000'],
    ['unreachable', '10.1.2.3', out(1, '10.1.2.3: connect: Network is unreachable\n10.1.2.3: line 1: /dev/tcp/10.1.2.3/3000: Network is unreachable\n'), false, 'could not connect to 10.1.2.3:3000: network is unreachable'],
    ['unknown name', 'db', out(1, 'db: line 1: db: Temporary failure in name resolution\ndb: line 1: /dev/tcp/db/3000: Invalid argument\n'), false, 'cannot resolve host db'],
    ['killed by niso', '10.1.2.3', out(null, '', '', true), false, 'no answer within 2s from 10.1.2.3:3000'],
    ['namespace gone', '127.0.0.1', out(1, 'nsenter: reassociate to namespace \'ns/net\' failed: Invalid argument\n'), false, 'cannot enter the service\'s network: reassociate to namespace \'ns/net\' failed: Invalid argument'],
  ];
  for (const [name, host, t, ok, output] of cases) assert.deepEqual(describeTcp(host, 3000, 2000, t), { ok, output }, name);
});

test('unhealthyWithinMs bounds when niso calls a check that never passes unhealthy (what activate --wait waits for)', () => {
  const configs: PlanHealth[] = [
    BASE,
    h({ startPeriodMs: 60_000 }),
    h({ intervalMs: 1000, timeoutMs: 1000, retries: 1 }),
    h({ intervalMs: 300, timeoutMs: 200, retries: 2, startIntervalMs: 5000 }),
    h({ intervalMs: 10_000, timeoutMs: 10, retries: 5, startPeriodMs: 2500, startIntervalMs: 20_000 }),
  ];
  for (const health of configs) {
    for (const took of [1, health.timeoutMs]) {
      // Every probe fails and takes `took`; the next starts when the state says (the supervisor's pace).
      let s = initialHealth(T0, health);
      let now = T0;
      for (let i = 0; s.status !== 'unhealthy'; i++) {
        assert.ok(i < 10_000, 'it turns unhealthy');
        const at = s.nextProbeAt;
        now = at + took;
        s = recordProbe(s, { at: new Date(at).toISOString(), ok: false, output: 'connection refused', durationMs: took }, health, T0, now).state;
      }
      assert.ok(now - T0 <= unhealthyWithinMs(health), `${JSON.stringify(health)}, probes taking ${took} ms: unhealthy after ${now - T0} ms, bound ${unhealthyWithinMs(health)} ms`);
    }
  }
  // With the defaults that is well over the minute --wait used to stop at.
  assert.ok(unhealthyWithinMs(BASE) > 60_000);
});
