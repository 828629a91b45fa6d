// The pure side of volumes as data: names and labels from hostile input, --filter, who may hold a volume (exclusive
// conflicts, grants that persist or end), the owner an exclusive holder gets, what prune takes, and the backup format's
// checks (entry names, manifest shape, symlinks through each other, manifest comparison, modes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNisoError } from '../../src/errors/niso-error.js';
import { parseLabel, parseVolumeName } from '../../src/volume/names.js';
import { matchesFilters, parseFilters } from '../../src/volume/filters.js';
import {
  conflictError, conflicts, emptyRegistry, forgetVolume, holdersOf, isDangling, mergeRequests, ownerOf, pruneSelection, recordGrants, revokeService, sameGrants,
  type GrantRegistry, type Liveness, type VolumeFacts,
} from '../../src/volume/policy.js';
import { classifyName, compareWithManifest, entryKind, parseBackupManifest, restoredMode, symlinkProblem, type BackupEntry } from '../../src/volume/backup-format.js';

function code(fn: () => unknown): string {
  try { fn(); } catch (e) { assert.ok(isNisoError(e), String(e)); return `${e.code}: ${e.message}`; }
  assert.fail('no error');
}

test('volume names: NAME is named, SERVICE/KEY a service\'s own, SERVICE/state its /state; everything else is NISO5001 naming the problem', () => {
  assert.deepEqual(parseVolumeName('pgdata'), { kind: 'named', name: 'pgdata', service: null, key: null });
  assert.deepEqual(parseVolumeName('web/uploads'), { kind: 'service', name: 'web/uploads', service: 'web', key: 'uploads' });
  assert.deepEqual(parseVolumeName('web/state'), { kind: 'state', name: 'web/state', service: 'web', key: 'state' });
  assert.equal(parseVolumeName('a'.repeat(64)).kind, 'named');
  const cases: [string, RegExp][] = [
    ['a/b/c', /NISO5001: .* has 2 "\/"/],
    ['..', /NISO5001: .*"\.\.", which would climb/],
    ['../etc', /NISO5001: .*its service part "\.\." is "\.\."/],
    ['/etc', /NISO5001: .*its service part "" is empty/],
    ['data\0x', /NISO5001: .*contains a NUL/],
    ['a'.repeat(300), /NISO5001: .*is 300 characters long \(at most 64\).*/],
    ['Data', /NISO5001: .*has upper-case letters/],
    ['.hidden', /NISO5001: .*starts with "\."/],
    ['@web', /NISO5001: .*starts with "@"/],
    ['my vol', /NISO5001: .*contains " "/],
    ['', /NISO5001: .*is empty/],
    ['web/', /NISO5001: .*its key "" is empty/],
  ];
  for (const [name, re] of cases) assert.match(code(() => parseVolumeName(name)), re, name);
  // A 300-character name is not echoed in full.
  assert.ok(code(() => parseVolumeName('a'.repeat(300))).length < 200);
  assert.match(code(() => parseVolumeName('\x1b[31mred')), /\\x1b/, 'control characters are escaped in the message');
});

test('labels: KEY=VALUE or KEY; empty keys, blanks and control characters are NISO5010', () => {
  assert.deepEqual(parseLabel('app=shop=1'), ['app', 'shop=1']);
  assert.deepEqual(parseLabel('backup'), ['backup', '']);
  for (const bad of ['=x', 'a b=c', 'a=line\nbreak', `${'k'.repeat(129)}=v`]) assert.match(code(() => parseLabel(bad)), /^NISO5010/, bad);
});

const facts = (name: string, over: Partial<VolumeFacts> = {}): VolumeFacts => ({ name, kind: 'named', service: null, serviceExists: null, labels: {}, holders: [], ...over });
const holder = { service: 'web', run: null, readOnly: false, exclusive: false, uid: 60100, since: 't' };

test('filters: a key repeated is any of its values, different keys all match; label= ANDs, label!= excludes; bad ones are NISO5009', () => {
  const f = parseFilters(['name=da', 'name=pg', 'label=app', 'dangling=true'], ['name', 'label', 'dangling', 'kind']);
  assert.equal(matchesFilters(facts('data', { labels: { app: 'x' } }), f), true);
  assert.equal(matchesFilters(facts('pgdata', { labels: { app: 'x' } }), f), true);
  assert.equal(matchesFilters(facts('cache', { labels: { app: 'x' } }), f), false, 'name');
  assert.equal(matchesFilters(facts('data', { labels: {} }), f), false, 'label');
  assert.equal(matchesFilters(facts('data', { labels: { app: 'x' }, holders: [holder] }), f), false, 'dangling');
  const labels = parseFilters(['label=app=shop', 'label=tier'], ['label']);
  assert.equal(matchesFilters(facts('a', { labels: { app: 'shop', tier: 'db' } }), labels), true);
  assert.equal(matchesFilters(facts('a', { labels: { app: 'shop' } }), labels), false);
  assert.equal(matchesFilters(facts('a', { labels: { app: 'other', tier: 'db' } }), labels), false);
  const not = parseFilters(['label!=keep'], ['label']);
  assert.equal(matchesFilters(facts('a', { labels: { keep: '' } }), not), false);
  assert.equal(matchesFilters(facts('a'), not), true);
  const kinds = parseFilters(['kind=state'], ['kind']);
  assert.equal(matchesFilters(facts('web/state', { kind: 'state' }), kinds), true);
  assert.equal(matchesFilters(facts('data'), kinds), false);
  for (const bad of ['dangling', 'dangling=maybe', 'size=1', 'name!=x', 'kind=driver', 'label=']) {
    assert.match(code(() => parseFilters([bad], ['name', 'label', 'dangling', 'kind'])), /^NISO5009/, bad);
  }
  assert.match(code(() => parseFilters(['dangling=true'], ['label'])), /NISO5009: .*"dangling" is not a filter here/);
});

const live = (services: string[], runs: number[] = []): Liveness => ({ services: new Set(services), runAlive: (r) => runs.includes(r.pid) });
const reg = (services: GrantRegistry['services'], runs: GrantRegistry['runs'] = []): GrantRegistry => ({ version: 1, services, runs });
const g = (volume: string, exclusive = false, readOnly = false, uid = 60100) => ({ volume, readOnly, exclusive, uid, since: '2026-01-01T00:00:00.000Z' });
const run = (service: string, pid: number, volume: string, exclusive = false) => ({ ...g(volume, exclusive), service, pid, startTime: 1 });

test('grants merge per volume: mounted twice is one grant, read-only only if every mount is, exclusive if any is', () => {
  assert.deepEqual(mergeRequests([{ volume: 'b', readOnly: true, exclusive: false }, { volume: 'a', readOnly: false, exclusive: false }, { volume: 'b', readOnly: false, exclusive: true }]), [
    { volume: 'a', readOnly: false, exclusive: false }, { volume: 'b', readOnly: false, exclusive: true },
  ]);
});

test('exclusive: nobody else may mount an exclusively held volume; an exclusive grant is refused while others hold it; the holder itself and its own runs may', () => {
  const r = reg({ pg: [g('pgdata', true)], web: [g('data')] });
  const l = live(['pg', 'web']);
  const held = conflicts(r, 'api', [{ volume: 'pgdata', readOnly: true, exclusive: false }], l);
  assert.deepEqual(held.map((c) => c.kind), ['exclusive-held']);
  const e1 = conflictError('api', held[0]!);
  assert.equal(e1.code, 'NISO5007');
  assert.match(e1.message, /volume pgdata is exclusive to service pg; api cannot mount it/);
  assert.match(e1.hint ?? '', /niso remove pg/);
  const shared = conflicts(r, 'api', [{ volume: 'data', readOnly: false, exclusive: true }], l);
  assert.deepEqual(shared.map((c) => c.kind), ['shared-held']);
  const e2 = conflictError('api', shared[0]!);
  assert.equal(e2.code, 'NISO5008');
  assert.match(e2.message, /cannot be granted exclusively to api: service web holds it already/);
  assert.deepEqual(conflicts(r, 'pg', [{ volume: 'pgdata', readOnly: false, exclusive: true }], l), [], 'a restart of the holder');
  assert.deepEqual(conflicts(r, 'web', [{ volume: 'data', readOnly: false, exclusive: true }], l), [], 'the only holder may make its grant exclusive');
  // Grants of services that no longer exist and of runs that ended hold nothing.
  assert.deepEqual(conflicts(r, 'api', [{ volume: 'pgdata', readOnly: false, exclusive: true }], live(['web'])), []);
  const withRun = reg({}, [run('tool', 4242, 'data')]);
  assert.equal(conflicts(withRun, 'api', [{ volume: 'data', readOnly: false, exclusive: true }], live([], [4242]))[0]?.kind, 'shared-held');
  assert.deepEqual(conflicts(withRun, 'api', [{ volume: 'data', readOnly: false, exclusive: true }], live([], [])), [], 'the run ended');
  const runExcl = reg({}, [run('tool', 4242, 'data', true)]);
  assert.match(conflictError('api', conflicts(runExcl, 'api', [{ volume: 'data', readOnly: true, exclusive: false }], live([], [4242]))[0]!).message, /exclusive to a run of tool \(pid 4242\)/);
});

test('a one-off of a service (niso run SERVICE -- CMD): its service keeps an exclusive volume to itself while active; a stopped one\'s can be used; a start waits for the one-off', () => {
  const pgdata = { volume: 'pg/data', readOnly: false, exclusive: true };
  const shared = { volume: 'media', readOnly: false, exclusive: false };
  const r = reg({ pg: [g('pg/data', true), g('media')] });
  const l = live(['pg'], [900]);
  const oneOff = (serviceActive: boolean) => ({ kind: 'one-off' as const, pid: 900, serviceActive });
  // Active: refused, naming the service and saying what to do.
  const held = conflicts(r, 'pg', [pgdata, shared], l, oneOff(true));
  assert.deepEqual(held.map((c) => `${c.kind} ${c.volume}`), ['exclusive-held pg/data'], 'a shared volume is shared with it');
  const e = conflictError('pg', held[0]!, true);
  assert.equal(e.code, 'NISO5007');
  assert.equal(e.message, 'volume pg/data is exclusive to service pg, which is active; a one-off run of pg cannot mount it beside it');
  assert.match(e.hint ?? '', /niso deactivate pg.*niso exec pg -- CMD/);
  // Stopped (inactive or failed): its volumes are the one-off's to use.
  assert.deepEqual(conflicts(r, 'pg', [pgdata, shared], l, oneOff(false)), []);
  // A package run under the service's name stays the service, as before; so does the service's own restart.
  assert.deepEqual(conflicts(r, 'pg', [pgdata], l, { kind: 'run', pid: 901 }), []);
  assert.deepEqual(conflicts(r, 'pg', [pgdata], l), []);
  // While a one-off holds the exclusive volume: the service's start and a second one-off are refused, the one-off
  // itself asking again (its plan made once more for its network) is not; once it ended, nothing holds it.
  const during = recordGrants(r, 'pg', [pgdata, shared], { run: { pid: 900, startTime: 1, oneOff: true }, uid: 60100 }, 'NOW', l);
  assert.equal(during.runs.every((x) => x.oneOff === true), true, 'recorded as a one-off');
  const start = conflicts(during, 'pg', [pgdata, shared], live(['pg'], [900]));
  assert.deepEqual(start.map((c) => `${c.kind} ${c.volume}`), ['exclusive-held pg/data']);
  assert.equal(conflictError('pg', start[0]!).message, 'volume pg/data is exclusive to a one-off run of pg (pid 900); pg cannot mount it');
  assert.deepEqual(conflicts(during, 'pg', [pgdata], live(['pg'], [900, 902]), { kind: 'one-off', pid: 902, serviceActive: false }).map((c) => c.kind), ['exclusive-held']);
  assert.deepEqual(conflicts(during, 'pg', [pgdata, shared], live(['pg'], [900]), oneOff(false)), []);
  assert.deepEqual(conflicts(during, 'pg', [pgdata, shared], live(['pg'], [])), [], 'the one-off ended');
  // Another service is refused by the one-off's exclusive grant as by any holder's.
  assert.match(conflictError('api', conflicts(during, 'api', [{ volume: 'pg/data', readOnly: true, exclusive: false }], live(['pg', 'api'], [900]))[0]!).message, /exclusive to service pg; api cannot mount it/);
});

test('recording: a service\'s set replaces its old one and keeps each grant\'s since; a run adds under its pid; the dead are dropped; revoke and forget', () => {
  const before = reg({ web: [g('old'), g('data')], gone: [g('data')] }, [run('tool', 1, 'data'), run('tool', 2, 'data')]);
  const l = live(['web'], [2]);
  const next = recordGrants(before, 'web', [{ volume: 'data', readOnly: true, exclusive: false }, { volume: 'new', readOnly: false, exclusive: false }], { run: null, uid: 60100 }, 'NOW', l);
  assert.deepEqual(next.services, { web: [{ volume: 'data', readOnly: true, exclusive: false, uid: 60100, since: '2026-01-01T00:00:00.000Z' }, { volume: 'new', readOnly: false, exclusive: false, uid: 60100, since: 'NOW' }] });
  assert.deepEqual(next.runs.map((r) => r.pid), [2]);
  const withRun = recordGrants(next, 'tool', [{ volume: 'x', readOnly: false, exclusive: false }], { run: { pid: 3, startTime: 9 }, uid: 60101 }, 'NOW', live(['web'], [2, 3]));
  assert.deepEqual(withRun.runs.map((r) => `${r.pid}:${r.volume}`), ['2:data', '3:x']);
  assert.deepEqual(Object.keys(withRun.services), ['web'], 'a run records no service grant');
  assert.equal(sameGrants(next.services.web, mergeRequests([{ volume: 'new', readOnly: false, exclusive: false }, { volume: 'data', readOnly: true, exclusive: false }]), 60100), true);
  assert.equal(sameGrants(next.services.web, [{ volume: 'data', readOnly: true, exclusive: false }], 60100), false);
  assert.equal(sameGrants(next.services.web, mergeRequests([{ volume: 'new', readOnly: false, exclusive: false }, { volume: 'data', readOnly: true, exclusive: false }]), 60111), false, 'another uid');
  assert.deepEqual(revokeService(next, 'web').services, {});
  assert.deepEqual(forgetVolume(withRun, 'data').services.web?.map((x) => x.volume), ['new']);
  assert.deepEqual(forgetVolume(withRun, 'data').runs.map((r) => r.volume), ['x']);
  assert.deepEqual(recordGrants(emptyRegistry(), 'web', [], { run: null, uid: 1 }, 'NOW', l).services, {});
});

test('the data dir belongs to the live exclusive holder, else to root', () => {
  const r = reg({ pg: [g('pgdata', true, false, 60105)], web: [g('data', false, false, 60106)] }, [run('tool', 7, 'scratch', true)]);
  assert.equal(ownerOf(r, 'pgdata', live(['pg'])), 60105);
  assert.equal(ownerOf(r, 'pgdata', live([])), 0, 'its service was removed');
  assert.equal(ownerOf(r, 'data', live(['web'])), 0);
  assert.equal(ownerOf(r, 'scratch', live([], [7])), 60100);
  assert.deepEqual(holdersOf(r, 'data', live(['web'])).map((h) => h.service), ['web']);
});

test('prune: without all only the data of services that no longer exist; with all unused named volumes too; never what is held', () => {
  const vols: VolumeFacts[] = [
    facts('cache'),
    facts('data', { holders: [holder] }),
    facts('old/uploads', { kind: 'service', service: 'old', serviceExists: false }),
    facts('web/uploads', { kind: 'service', service: 'web', serviceExists: true }),
    facts('old/state', { kind: 'state', service: 'old', serviceExists: false }),
    facts('web/state', { kind: 'state', service: 'web', serviceExists: true }),
    facts('old/shared', { kind: 'service', service: 'old', serviceExists: false, holders: [{ ...holder, service: 'api' }] }),
  ];
  assert.deepEqual(pruneSelection(vols, { all: false }).map((v) => v.name), ['old/uploads', 'old/state']);
  assert.deepEqual(pruneSelection(vols, { all: true }).map((v) => v.name), ['cache', 'old/uploads', 'old/state']);
  assert.equal(isDangling(vols[3]!), false, 'a service\'s own volume is its service\'s while it exists');
});

test('backup entries: only data/... and the manifest; traversal, absolute and foreign names are outside; tar\'s types mapped', () => {
  assert.deepEqual(classifyName('data/'), { kind: 'root' });
  assert.deepEqual(classifyName('data/a/b'), { kind: 'entry', path: 'a/b' });
  assert.deepEqual(classifyName('data/dir/'), { kind: 'entry', path: 'dir' });
  assert.deepEqual(classifyName('niso-backup.json'), { kind: 'manifest' });
  for (const bad of ['data/../x', '/etc/passwd', 'x', '../data/x', 'data/a/../../x', 'data//x', 'data/./x', 'data/a\0b']) assert.equal(classifyName(bad).kind, 'outside', bad);
  assert.deepEqual(['File', 'Directory', 'SymbolicLink', 'Link', 'CharacterDevice', 'FIFO', 'NextFileHasLongPath', 'GlobalExtendedHeader'].map(entryKind), ['file', 'dir', 'symlink', 'link', 'special', 'special', 'long-name', 'other']);
});

test('backup symlinks: absolute, above the root, or above it through other symlinks are refused', () => {
  assert.equal(symlinkProblem('a/s', '../b', new Map()), null);
  assert.match(symlinkProblem('s', '/etc/shadow', new Map()) ?? '', /absolute/);
  assert.match(symlinkProblem('a/s', '../../x', new Map()) ?? '', /above the volume/);
  const links = new Map([['b', '.'], ['s', 'b/..']]);
  assert.match(symlinkProblem('s', 'b/..', links) ?? '', /through other symlinks/);
  assert.match(symlinkProblem('s', '', new Map()) ?? '', /empty/);
});

test('backup manifest: read field by field from a hostile file; compared entry by entry', () => {
  const m = { format: 'niso-volume-backup', version: 1, volume: 'v', kind: 'named', labels: {}, createdAt: 't', live: false, root: { uid: 0, gid: 5, mode: 0o2770 }, gid: 5, totals: {}, entries: [{ path: 'a', type: 'file', size: 1, sha256: 'a'.repeat(64) }] };
  assert.equal(parseBackupManifest(JSON.stringify(m), 'f').entries.length, 1);
  for (const [bad, re] of [
    [{ ...m, format: 'tar' }, /does not say format/],
    [{ ...m, entries: [{ path: '../x', type: 'dir' }] }, /unsafe path/],
    [{ ...m, entries: [{ path: 'x', type: 'file', size: 1 }] }, /without size and sha256/],
    [{ ...m, entries: [{ path: 'x', type: 'fifo' }] }, /unknown type/],
    [{ ...m, root: { uid: -1, gid: 0, mode: 0 } }, /root owner/],
  ] as const) assert.match(code(() => parseBackupManifest(JSON.stringify(bad), 'f')), re);
  assert.match(code(() => parseBackupManifest('{', 'f')), /^NISO5031: f is not a niso volume backup: niso-backup.json is not JSON/);
  assert.match(code(() => parseBackupManifest(JSON.stringify({ ...m, version: 9 }), 'f')), /format version 9/);
  const listed: BackupEntry[] = [{ path: 'a', type: 'file', size: 1, sha256: '1'.repeat(64) }, { path: 'd', type: 'dir' }, { path: 's', type: 'symlink', target: 'a' }];
  const same = new Map(listed.map((e) => [e.path, e]));
  assert.deepEqual(compareWithManifest(listed, same), []);
  const changed = new Map(same);
  changed.set('a', { path: 'a', type: 'file', size: 1, sha256: '2'.repeat(64) });
  changed.set('extra', { path: 'extra', type: 'dir' });
  changed.delete('d');
  assert.equal(compareWithManifest(listed, changed).length, 3);
  assert.match(compareWithManifest(listed, changed).join('\n'), /a differs[\s\S]*d is in the manifest but not in the archive[\s\S]*extra is in the archive but not in the manifest/);
});

test('restored modes: no setuid or setgid file; directories keep setgid, which volumes share their group by', () => {
  assert.equal(restoredMode('file', 0o6755), 0o755);
  assert.equal(restoredMode('file', 0o1777), 0o1777);
  assert.equal(restoredMode('dir', 0o6770), 0o2770);
});
