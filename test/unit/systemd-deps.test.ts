// A stack service's depends_on in its systemd unit (render/systemd-deps.ts): ordered after every dependency, pulling
// in only those that must run, never bound to them, and a oneshot that waits for healthy and completed ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderDependencyUnits } from '../../src/render/systemd-deps.js';

const NISO = { node: '/usr/bin/node', entry: '/opt/niso/bin/niso', root: '/' };

test('started only: After= and Wants=, no companion', () => {
  const r = renderDependencyUnits('shop.api', [{ service: 'shop.cache', condition: 'started' }], NISO);
  assert.deepEqual(r.unitLines.slice(1), ['After=niso-shop.cache.service', 'Wants=niso-shop.cache.service']);
  assert.deepEqual(r.companions, []);
});

test('healthy and completed: a deps oneshot that niso runs, required by the unit; a completed job is only ordered after', () => {
  const r = renderDependencyUnits('shop.api', [{ service: 'shop.db', condition: 'healthy' }, { service: 'shop.migrate', condition: 'completed' }], NISO);
  assert.deepEqual(r.unitLines.slice(1), [
    'After=niso-shop.db.service niso-shop.migrate.service',
    'Wants=niso-shop.db.service',
    'Requires=niso-shop.api-deps.service',
    'After=niso-shop.api-deps.service',
  ]);
  assert.ok(!r.unitLines.some((l) => /^(Requires|BindsTo|Wants)=.*migrate/.test(l)), 'a one-shot job is never pulled in or bound');
  assert.ok(!r.unitLines.some((l) => /^(Requires|BindsTo)=niso-shop\.db/.test(l)), 'a restart of the dependency must not stop the dependent');
  const [c] = r.companions;
  assert.equal(c!.name, 'niso-shop.api-deps.service');
  assert.match(c!.text, /^After=niso-shop\.db\.service niso-shop\.migrate\.service$/m);
  assert.match(c!.text, /^ExecStart=\/usr\/bin\/node \/opt\/niso\/bin\/niso __wait-dependencies shop\.api$/m);
  assert.match(c!.text, /^Type=oneshot$/m);
  assert.doesNotMatch(c!.text, /^Wants=/m);
});

test('no dependencies: nothing; no niso command: ordered, with a note', () => {
  assert.deepEqual(renderDependencyUnits('x', [], NISO), { unitLines: [], companions: [], notes: [] });
  const r = renderDependencyUnits('x', [{ service: 'y', condition: 'healthy' }], undefined);
  assert.deepEqual(r.companions, []);
  assert.match(r.notes[0]!, /only starts after it/);
});
