// The restart policy on systemd, its pure parts: how a unit's end reads from `systemctl show` (a crash, a stop
// someone asked for, a start systemd refused), and the lines that hand every end to niso-NAME-exit@.service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { desiredOf, endLine, unitEnd } from '../../src/service/systemd/after-exit.js';
import type { ServiceDefinition, ServiceState } from '../../src/service/model/types.js';
import { describeRestart, renderExitUnits } from '../../src/render/systemd-exit.js';
import { goldenPlan } from '../helpers/golden-plan.js';

const START = 'Mon 2026-11-23 08:34:20.397766 UTC';
const EXIT = 'Mon 2026-11-23 08:34:20.614569 UTC';
const ended = (over: Record<string, string>): Record<string, string> => ({
  ActiveState: 'failed', Result: 'exit-code', ExecMainCode: '1', ExecMainStatus: '3',
  ExecMainStartTimestamp: START, ExecMainExitTimestamp: EXIT,
  // An app that ends by itself: its main process exits, then the unit leaves the active state.
  ExecMainExitTimestampMonotonic: '25140686467', ActiveExitTimestampMonotonic: '25140686795',
  ...over,
});

test('unitEnd: a crash, a signal, a requested stop, a start systemd refused', () => {
  assert.deepEqual(unitEnd(ended({})), { at: '2026-11-23T08:34:20.614Z', exitCode: 3, signal: null, uptimeMs: 217, reason: 'exited', message: null });
  const killed = unitEnd(ended({ ExecMainCode: '2', ExecMainStatus: '9', Result: 'signal' }));
  assert.equal(killed?.exitCode, 137);
  assert.equal(killed?.signal, 'SIGKILL');
  assert.equal(killed?.reason, 'exited');
  // deactivate, systemctl stop, the shutdown: the unit left the active state before its main process exited.
  const stopped = unitEnd(ended({ ActiveState: 'inactive', Result: 'success', ExecMainStatus: '0', ActiveExitTimestampMonotonic: '25140600000' }));
  assert.equal(stopped?.reason, 'stopped');
  assert.equal(stopped?.exitCode, 0);
  // 217/USER: systemd could not set the sandbox up; not the app's exit code.
  const refused = unitEnd(ended({ ExecMainStatus: '217' }));
  assert.equal(refused?.reason, 'start-failed');
  assert.equal(refused?.exitCode, null);
  assert.match(refused?.message ?? '', /^systemd could not start it \(status 217\/USER\): /);
});

test('unitEnd: nothing while the unit runs again or has never run', () => {
  // Running again: its main process started after the last one exited.
  const again = { ExecMainStartTimestamp: 'Mon 2026-11-23 08:34:21.000000 UTC' };
  for (const state of ['active', 'activating', 'deactivating', 'reloading']) assert.equal(unitEnd(ended({ ActiveState: state, ...again })), null, state);
  for (const state of ['active', 'activating', 'reloading']) assert.equal(unitEnd(ended({ ActiveState: state })), null, state);
  // Deactivating after its main process ended (the ExecStopPost= that keeps the limit counters runs): that run is over.
  assert.equal(unitEnd(ended({ ActiveState: 'deactivating' }))?.exitCode, 3);
  assert.equal(unitEnd(ended({ ActiveState: 'inactive', ExecMainExitTimestamp: '' })), null);
  assert.equal(unitEnd(ended({ ActiveState: 'inactive', ExecMainExitTimestamp: 'n/a' })), null);
  // A run of a removed service of the same name, whose unit systemd still remembers: no end of one defined after it.
  assert.equal(unitEnd(ended({}), '2026-11-23T08:35:00.000Z'), null);
  assert.equal(unitEnd(ended({}), '2026-11-23T08:34:00.000Z')?.exitCode, 3);
});

test('every end goes to the exit unit; without niso\'s command the header says the policy is not applied', () => {
  const { plan } = goldenPlan(join(import.meta.dirname, '../golden/plan/service-health'));
  const niso = { node: '/usr/bin/node', entry: '/usr/lib/niso/bin/niso', root: '/' };
  const r = renderExitUnits(plan, niso);
  assert.deepEqual(r.serviceLines, ['Restart=no']);
  assert.deepEqual(r.unitLines.filter((l) => !l.startsWith('#')), ['StartLimitIntervalSec=0', 'OnFailure=niso-web-exit@failure.service', 'OnSuccess=niso-web-exit@success.service']);
  assert.equal(r.companion?.name, 'niso-web-exit@.service');
  assert.match(r.companion?.text ?? '', /^ExecStart=\/usr\/bin\/node \/usr\/lib\/niso\/bin\/niso __after-exit web$/m);
  assert.match(describeRestart(plan), /^policy "on-failure", giving up after 4 restarts in a row: after 500ms, doubling up to 10s; 5 quick ends in a row are a crash loop/);
  assert.equal(describeRestart({ ...plan, restart: { ...plan.restart, policy: 'no' } }), 'policy "no": never restarted');
  const bare = renderExitUnits(plan, undefined);
  assert.equal(bare.companion, null);
  assert.deepEqual(bare.unitLines, []);
  assert.deepEqual(bare.serviceLines, ['Restart=no']);
  assert.match(bare.notes[0]!, /no niso command was given to apply it, so the unit is never restarted/);
});

test('desiredOf: an `always` unit left enabled by deactivate is wanted again once systemd starts it after that (a boot)', () => {
  const def = { desired: 'inactive', createdAt: '2026-11-23T08:00:00.000Z', deactivatedAt: '2026-11-23T08:30:00.000Z' } as ServiceDefinition;
  const booted = { ExecMainStartTimestamp: 'Mon 2026-11-23 08:40:00.000000 UTC' };
  assert.equal(desiredOf(def, booted, true), 'active');
  // The run that deactivate stopped, a disabled unit (every other policy), a unit that never ran: not wanted.
  assert.equal(desiredOf(def, { ...booted, ExecMainStartTimestamp: 'Mon 2026-11-23 08:20:00.000000 UTC' }, true), 'inactive');
  assert.equal(desiredOf(def, booted, false), 'inactive');
  assert.equal(desiredOf(def, { ...booted, ExecMainStartTimestamp: '' }, true), 'inactive');
  assert.equal(desiredOf({ ...def, desired: 'active' }, {}, false), 'active');
});

test('endLine: stamped with the decision that the restart delay counts from, not with the (later) time of writing', () => {
  const exit = unitEnd(ended({}))!;
  const state = { since: '2026-11-23T08:34:20.700Z', state: 'restarting', nextRestartAt: '2026-11-23T08:34:20.900Z' } as ServiceState;
  assert.equal(endLine('web', exit, state), '2026-11-23T08:34:20.700Z web: ended (exit code 3) → restarting until 2026-11-23T08:34:20.900Z');
});
