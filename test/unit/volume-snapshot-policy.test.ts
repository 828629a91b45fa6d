// The decisions of volume snapshots without a file system (src/volume/snapshot-policy.ts): which method each kind of
// data and file system gets, when a copy is taken or skipped, when running writers forbid one, names, meta.json, and
// which snapshots retention removes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_COPY_LIMIT, cheapMethod, consistencyProblem, copyDecision, parseKeep, parseSnapshotMeta, parseSnapshotRef, replacedName, retentionVictims, snapshotId,
  type SnapshotFacts,
} from '../../src/volume/snapshot-policy.js';
import { isNisoError } from '../../src/errors/niso-error.js';

const facts = (f: Partial<SnapshotFacts>): SnapshotFacts => ({ source: 'dir', fsType: 'ext4', sameFs: true, reflink: false, btrfsTool: true, ...f });

test('the method by what holds the data and what the file system can do', () => {
  assert.deepEqual(cheapMethod(facts({ source: 'subvolume', fsType: 'btrfs', reflink: true })), { method: 'subvolume', atomic: true });
  assert.deepEqual(cheapMethod(facts({ source: 'dir', fsType: 'btrfs', reflink: true })), { method: 'reflink', atomic: false });
  assert.deepEqual(cheapMethod(facts({ source: 'dir', fsType: 'xfs', reflink: true })), { method: 'reflink', atomic: false });
  assert.deepEqual(cheapMethod(facts({ source: 'image', fsType: 'xfs', reflink: true })), { method: 'reflink', atomic: false });
  // Without the btrfs tool a subvolume still reflinks, file by file.
  assert.deepEqual(cheapMethod(facts({ source: 'subvolume', fsType: 'btrfs', reflink: true, btrfsTool: false })), { method: 'reflink', atomic: false });
  assert.match((cheapMethod(facts({ source: 'subvolume', fsType: 'btrfs', btrfsTool: false })) as { why: string }).why, /btrfs tool is not installed/);
  assert.deepEqual(cheapMethod(facts({})), { method: null, why: 'ext4 cannot share blocks between files (no reflink)' });
  assert.deepEqual(cheapMethod(facts({ fsType: 'xfs' })), { method: null, why: 'this xfs file system does not share blocks (reflink)' });
  // Another file system for the snapshots: nothing is shared, whatever both can do.
  assert.match((cheapMethod(facts({ source: 'subvolume', fsType: 'btrfs', reflink: true, sameFs: false })) as { why: string }).why, /on another file system/);
});

test('a full copy: when asked, or up to the limit; otherwise skipped with the reason', () => {
  const o = { forceCopy: false, copyLimitBytes: DEFAULT_COPY_LIMIT };
  assert.equal(DEFAULT_COPY_LIMIT, 1024 ** 3);
  assert.deepEqual(copyDecision(1024 ** 3, 'ext4 …', o), { method: 'copy', note: 'ext4 …: a full copy (1073741824 bytes, at most the limit of 1073741824)' });
  assert.deepEqual(copyDecision(1024 ** 3 + 1, 'ext4 …', o), { method: null, reason: 'ext4 …, and a full copy of 1073741825 bytes is more than the limit of 1073741824 bytes' });
  assert.deepEqual(copyDecision(null, 'w', o), { method: null, reason: 'w, and a full copy of an unmeasured volume is more than the limit of 1073741824 bytes' });
  assert.deepEqual(copyDecision(40 * 1024 ** 3, 'w', { ...o, forceCopy: true }), { method: 'copy', note: 'w: a full copy, as asked' });
});

test('running writers forbid a copy, not an atomic snapshot nor one whose writers the caller stopped', () => {
  assert.equal(consistencyProblem('reflink', [], false), null);
  assert.equal(consistencyProblem('subvolume', ['service pg'], false), null);
  assert.equal(consistencyProblem('copy', ['service pg'], true), null);
  assert.equal(consistencyProblem('reflink', ['service pg'], false), 'service pg writes to it, and a reflink copy is taken file by file, not at one point in time');
  assert.equal(consistencyProblem('copy', ['service a', 'service b'], false), 'service a, service b write to it, and a full copy is taken file by file, not at one point in time');
});

test('names: g<N>-<UTC> or manual-<UTC>, a suffix when taken twice in a second; anything else is NISO5206', () => {
  const at = new Date('2026-01-02T03:04:05.678Z');
  assert.equal(snapshotId(41, at), 'g41-20260102T030405Z');
  assert.equal(snapshotId(null, at), 'manual-20260102T030405Z');
  assert.equal(snapshotId(null, at, new Set(['manual-20260102T030405Z', 'manual-20260102T030405Z-1'])), 'manual-20260102T030405Z-2');
  assert.equal(replacedName('pgdata', 'g41-20260102T030405Z', at), 'pgdata@g41-20260102T030405Z-replaced-20260102T030405Z');
  assert.deepEqual(parseSnapshotRef('g41-20260102T030405Z'), { kind: 'snapshot', id: 'g41-20260102T030405Z' });
  assert.deepEqual(parseSnapshotRef('pgdata@g41-20260102T030405Z-replaced-20260102T030405Z').kind, 'replaced');
  assert.deepEqual(parseSnapshotRef('web@g41-20260102T030405Z-replaced-20260102T030405Z.img').kind, 'replaced');
  for (const bad of ['', '..', '../g1-20260102T030405Z', 'g1-20260102T030405Z/..', 'g01-20260102T030405Z', 'x-20260102T030405Z', 'manual-2026', '.g1-20260102T030405Z.tmp-1-abcdef01']) {
    assert.throws(() => parseSnapshotRef(bad), (e) => isNisoError(e) && e.code === 'NISO5206', bad);
  }
});

test('meta.json: what is checked; --keep from 1 to 1000', () => {
  const m = { format: 1, volume: 'pg', id: 'g1-20260102T030405Z', generation: 1, reason: 'r', method: 'reflink', source: 'dir', bytes: 10, takenAt: '2026-01-02T03:04:05.000Z', servicesStopped: ['pg'], lastGood: false, gid: 60100, socketsSkipped: 0 };
  assert.deepEqual(parseSnapshotMeta(JSON.stringify(m), 'pg', m.id), m);
  assert.throws(() => parseSnapshotMeta(JSON.stringify(m), 'other', m.id));
  assert.throws(() => parseSnapshotMeta(JSON.stringify({ ...m, method: 'magic' }), 'pg', m.id));
  assert.throws(() => parseSnapshotMeta(JSON.stringify({ ...m, takenAt: 'yesterday' }), 'pg', m.id));
  assert.throws(() => parseSnapshotMeta('null', 'pg', m.id));
  assert.equal(parseKeep('3'), 3);
  for (const bad of ['0', '-1', '1.5', '1001', 'three', '']) assert.throws(() => parseKeep(bad), (e) => isNisoError(e) && e.code === 'NISO5209', bad);
});

test('retention: all but the newest N go, never the newest last-good one (older last-good ones may)', () => {
  const s = (id: string, minute: number, lastGood = false) => ({ id, takenAt: `2026-01-02T03:${String(minute).padStart(2, '0')}:00.000Z`, lastGood });
  const snaps = [s('a', 1, true), s('b', 2), s('c', 3, true), s('d', 4), s('e', 5), s('f', 6)];
  assert.deepEqual(retentionVictims(snaps, 3).map((x) => x.id), ['b', 'a']);
  assert.deepEqual(retentionVictims(snaps, 1).map((x) => x.id), ['e', 'd', 'b', 'a']);
  assert.deepEqual(retentionVictims(snaps, 10), []);
  // Same second: the id decides (a suffix is newer).
  assert.deepEqual(retentionVictims([s('m-1', 1), s('m', 1)], 1).map((x) => x.id), ['m']);
});
