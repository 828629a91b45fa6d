// Which volumes a switch snapshots (generation/data-plan.ts), as a table of actions and host facts, and which snapshot
// `--with-data` restores and retention keeps (volume/snapshot-policy.ts): the pure parts of volumes across generations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dataPlan, touchesData } from '../../src/generation/data-plan.js';
import type { GenerationService, ServiceAction, ServiceActionKind } from '../../src/generation/types.js';
import { dataSnapshotOf, retentionVictims } from '../../src/volume/snapshot-policy.js';

const svc = (name: string, active = true): GenerationService => ({
  name, package: { name: 'app', version: '1.0.0', digest: `sha256:${'1'.repeat(64)}` }, options: {}, backend: 'embedded', logs: { maxBytes: 1, files: 1 }, active,
});
const act = (kind: ServiceActionKind, service: string, changed: string[] = ['package']): ServiceAction => ({
  kind, service, from: kind === 'add' ? null : svc(service, kind !== 'start'), to: kind === 'remove' ? null : svc(service, kind !== 'stop'), changed,
});

test('which actions stop or restart a writer: replace, stop, a start of a changed definition; not keep, update, ports, add, a plain start, a remove (it refuses a running service)', () => {
  const table: [ServiceAction, boolean][] = [
    [act('replace', 'a'), true], [act('stop', 'a', ['active']), true], [act('remove', 'a'), false],
    [act('start', 'a', ['active', 'package']), true], [act('start', 'a', ['active']), false],
    [act('keep', 'a', []), false], [act('update', 'a', ['options.restart']), false], [act('ports', 'a', ['options.ports']), false], [act('add', 'a'), false],
  ];
  for (const [a, want] of table) assert.equal(touchesData(a), want, `${a.kind} ${a.changed.join(',')}`);
});

test('the plan: the volumes of touched services, their writers, the running ones to stop, and writers the switch does not stop', () => {
  const facts: Record<string, { writes: string[]; running: boolean }> = {
    web: { writes: ['shared', 'web/state'], running: true },
    db: { writes: ['db/data', 'db/state'], running: true },
    idle: { writes: ['idle/state'], running: false },
    reader: { writes: [], running: true },
    other: { writes: ['shared'], running: true },
  };
  const running: Record<string, string[]> = { shared: ['service web', 'service other', 'a run of web (pid 42)'], 'web/state': ['service web'], 'db/data': ['service db'], 'db/state': ['service db'] };
  const plan = dataPlan(
    [act('replace', 'web'), act('keep', 'db', []), act('stop', 'idle', ['active']), act('replace', 'reader'), act('replace', 'ghost')],
    (s) => facts[s] ?? null, (v) => running[v] ?? [],
  );
  assert.deepEqual(plan.stop, ['web'], 'a kept service is not stopped, nor one that does not run');
  assert.deepEqual(plan.volumes, [
    { volume: 'idle/state', writers: ['idle'], others: [] },
    { volume: 'shared', writers: ['web'], others: ['service other', 'a run of web (pid 42)'] },
    { volume: 'web/state', writers: ['web'], others: [] },
  ]);
  // Two touched writers of one volume: one entry, both stopped.
  const two = dataPlan([act('replace', 'web'), act('replace', 'other')], (s) => facts[s] ?? null, (v) => running[v] ?? []);
  assert.deepEqual(two.stop, ['other', 'web']);
  assert.deepEqual(two.volumes.find((v) => v.volume === 'shared'), { volume: 'shared', writers: ['other', 'web'], others: ['a run of web (pid 42)'] });
  assert.deepEqual(dataPlan([act('keep', 'web', [])], (s) => facts[s] ?? null, () => []), { volumes: [], stop: [] });
});

const snap = (id: string, minute: number, generation: number | null, own?: boolean, lastGood = false) => ({
  id, takenAt: `2026-01-02T03:${String(minute).padStart(2, '0')}:00.000Z`, generation, lastGood,
  ...(own === undefined ? {} : { switch: { id: 's', from: generation ?? 0, to: 9, kind: 'switch' as const, own } }),
});

test('--with-data restores the newest snapshot a switch took of the generation\'s own data; manual ones and not-own ones are not it', () => {
  const snaps = [snap('g1-a', 1, 1, true), snap('g2-b', 2, 2, true), snap('g1-c', 3, 1, false), snap('manual-d', 4, null), snap('g1-e', 0, 1, true)];
  assert.equal(dataSnapshotOf(snaps, 1)?.id, 'g1-a');
  assert.equal(dataSnapshotOf(snaps, 2)?.id, 'g2-b');
  assert.equal(dataSnapshotOf(snaps, 3), null);
  assert.equal(dataSnapshotOf([snap('g1-c', 3, 1, false)], 1), null);
});

test('retention keeps the snapshot --with-data needs for each retained good generation, beyond the keep count', () => {
  const snaps = [snap('g1-a', 1, 1, true), snap('g2-b', 2, 2, true), snap('g1-c', 3, 1, false), snap('g2-d', 4, 2, false), snap('m-e', 5, null)];
  assert.deepEqual(retentionVictims(snaps, 1).map((x) => x.id), ['g2-d', 'g1-c', 'g2-b', 'g1-a']);
  assert.deepEqual(retentionVictims(snaps, 1, new Set([1])).map((x) => x.id), ['g2-d', 'g1-c', 'g2-b']);
  assert.deepEqual(retentionVictims(snaps, 1, new Set([1, 2])).map((x) => x.id), ['g2-d', 'g1-c']);
  // A generation that is no longer retained (or not good) protects nothing.
  assert.deepEqual(retentionVictims(snaps, 2, new Set([7])).map((x) => x.id), ['g1-c', 'g2-b', 'g1-a']);
});
