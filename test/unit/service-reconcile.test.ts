// What a service's records mean after a niso command was killed in the middle of a start (model/reconcile.ts), as a
// table: the request, what state.json records, what runs → settled, starting, unrecorded-run or interrupted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterInterrupted, pendingStart, startOutcome, startRequest, type StartFacts } from '../../src/service/model/reconcile.js';
import { initialState, SERVICE_FORMAT, type ServiceDefinition, type ServiceState, type StartRequest } from '../../src/service/model/types.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const request = startRequest('inactive', { pid: 4242, startTime: 7 }, 'r1', T0);
const def = (start: StartRequest | null = request): ServiceDefinition => ({
  version: SERVICE_FORMAT, name: 'web', package: { name: 'web', version: '1.0.0', digest: 'sha256:x' }, options: {}, backend: 'embedded',
  createdAt: T0.toISOString(), desired: 'active', logs: { maxBytes: 1, files: 1 }, ...(start ? { start } : {}),
});
const recorded: ServiceState = { ...initialState(T0), state: 'active', pid: 10, initPid: 11, start: 'r1' };
const never: ServiceState = initialState(T0);
const facts = (running: boolean, ran: boolean, alive: boolean): StartFacts => ({ running, ranSinceRequest: () => ran, requesterAlive: () => alive });

const cases: [string, ServiceDefinition, ServiceState, StartFacts, string][] = [
  ['its outcome recorded, running: settled', def(), recorded, facts(true, true, false), 'settled'],
  ['its outcome recorded, ended since: settled (the supervisor judges the end)', def(), recorded, facts(false, true, false), 'settled'],
  ['no request (an older service), nothing runs: settled', def(null), never, facts(false, false, false), 'settled'],
  ['no request pending, but a run state.json does not record (a supervisor killed mid-restart)', def(), { ...recorded, pid: null }, facts(true, true, false), 'unrecorded-run'],
  ['pending, its requester at work: starting', def(), never, facts(false, false, true), 'starting'],
  ['pending, running, its requester at work: starting (it records the run itself)', def(), never, facts(true, true, true), 'starting'],
  ['pending, requester gone, running: unrecorded-run', def(), never, facts(true, true, false), 'unrecorded-run'],
  ['pending, requester gone, it ran and ended already: unrecorded-run (its end is judged next)', def(), never, facts(false, true, false), 'unrecorded-run'],
  ['pending, requester gone, never ran: interrupted', def(), never, facts(false, false, false), 'interrupted'],
  ['an earlier request recorded, a new one pending and gone: interrupted', def(startRequest('inactive', { pid: 1, startTime: 1 }, 'r2', T0)), recorded, facts(false, false, false), 'interrupted'],
];

for (const [name, d, s, f, want] of cases) {
  test(`startOutcome: ${name}`, () => assert.equal(startOutcome(d, s, f), want));
}

test('pendingStart: the request until state.json records its id', () => {
  assert.equal(pendingStart(def(), never), request);
  assert.equal(pendingStart(def(), recorded), null);
  assert.equal(pendingStart(def(null), never), null);
});

test('afterInterrupted: an activation falls back to inactive and says how to start it; the request is settled', () => {
  const r = afterInterrupted(def(), { ...never, pid: 3, initPid: 4 }, new Date('2026-01-01T00:01:00Z'));
  assert.equal(r.def.desired, 'inactive');
  assert.deepEqual({ state: r.state.state, pid: r.state.pid, initPid: r.state.initPid, start: r.state.start, next: r.state.nextRestartAt, since: r.state.since }, { state: 'inactive', pid: null, initPid: null, start: 'r1', next: null, since: '2026-01-01T00:01:00.000Z' });
  assert.equal(r.state.message, 'its start was interrupted: the niso command that made it (pid 4242) ended before web ran; start it with `niso activate web`');
  assert.equal(pendingStart(r.def, r.state), null);
  // A service that had failed before stays failed (with the new reason).
  assert.equal(afterInterrupted(def(), { ...never, state: 'failed' }, T0).state.state, 'failed');
});

test('afterInterrupted: a service wanted before (restart, boot) is to be started again at once', () => {
  const wanted = def(startRequest('active', { pid: 9, startTime: 1 }, 'r3', T0));
  const r = afterInterrupted(wanted, recorded, T0);
  assert.equal(r.def.desired, 'active');
  assert.deepEqual({ state: r.state.state, next: r.state.nextRestartAt }, { state: 'restarting', next: T0.toISOString() });
  assert.match(r.state.message ?? '', /; starting it again$/);
});
