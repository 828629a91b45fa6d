// The audit log's pure part: RFC 8785 canonical form, the chain hash (pinned against a value computed outside niso),
// verification naming the first bad seq for each kind of tampering, the decisions an append makes on opening the
// log, argv redaction and what `niso audit` shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jcs, wellFormed } from '../../src/audit/canonical.js';
import { GENESIS, chainHash, entryLine, seal, type AuditBody, type AuditEntry, type AuditEvent } from '../../src/audit/entry.js';
import { verifyChain, type AuditFileText, type HeadRead } from '../../src/audit/verify.js';
import { chainEnd, repairFor } from '../../src/audit/repair.js';
import { REDACTED, redactArgv } from '../../src/audit/redact.js';
import { actorText, auditRows, selectEntries } from '../../src/audit/view.js';

// --- canonical form -------------------------------------------------------------------------------------------

test('JCS: the RFC 8785 example (§3.2.2): sorted keys, ECMAScript numbers, minimal string escapes', () => {
  const input = JSON.parse('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}');
  assert.equal(jcs(input), '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
});

test('JCS: keys sort by UTF-16 code units (RFC 8785 §3.2.3 example)', () => {
  const input = JSON.parse('{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", "\\u00f6": "Latin Small Letter O With Diaeresis"}');
  // Read the order from the text: a parsed object would put the integer-like key "1" first whatever the text says.
  const texts = [...jcs(input).matchAll(/:"([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(texts, ['Carriage Return', 'One', 'Control', 'Latin Small Letter O With Diaeresis', 'Euro Sign', 'Emoji: Grinning Face', 'Hebrew Letter Dalet With Dagesh']);
});

test('JCS refuses what JSON cannot carry; wellFormed replaces lone surrogates so a record never fails on them', () => {
  assert.throws(() => jcs({ a: NaN }), /NaN/);
  assert.throws(() => jcs('\uD800'), /surrogate/i);
  assert.equal(wellFormed('a\uD800b\uDC00c\uD83D\uDE00'), 'a\uFFFDb\uFFFDc\uD83D\uDE00');
  // seal() cleans strings first, so an entry with one is still written.
  const e = seal(body(1, GENESIS, { target: 'x\uD800' }));
  assert.equal(e.target, 'x\uFFFD');
});

// --- the chain ------------------------------------------------------------------------------------------------

const ACTOR = { uid: 0, user: 'root', sudo_user: 'ana', ssh: '203.0.113.7 51234 22', login_uid: 1000 };

function body(seq: number, prev: string, extra: Partial<AuditBody> = {}): AuditBody {
  return { v: 1, seq, ts: '2026-11-23T10:15:02.117Z', host: '3d1219c7c4c5404aaa1f6d2a48adfda4', actor: ACTOR, cmd: ['niso', 'volume', 'create', 'pgdata'], event: 'volume.create', target: 'pgdata', result: 'ok', details: { labels: {} }, prev, ...extra };
}

test('the chain hash is sha256(prev "\\n" JCS(entry without hash)): pinned against values computed with Python\'s json and hashlib', () => {
  const first = seal(body(1, GENESIS));
  assert.equal(first.hash, '9b9be8c4ea1e80399eecac7d73e9e2c92da1f8467fcd12bf6307c13e6e45baf8');
  const b2: AuditBody = { ...body(2, first.hash, { event: 'volume.rm', cmd: ['niso', 'volume', 'rm', 'pgdata'] }) };
  delete b2.details;
  assert.equal(seal(b2).hash, '83c3372d2b6e45c69c68fdd27d66d3c85dd53d4212dbed0b10e42306940b8104');
  // The line is the canonical form of the whole entry, hash included.
  assert.equal(entryLine(first), `${jcs(first)}\n`);
  assert.equal(chainHash({ ...first, hash: undefined } as unknown as AuditBody), first.hash, 'an undefined field is not part of the hashed form');
});

/** A log of n entries, in files of `perFile` lines, with its head. */
function makeLog(n: number, perFile = n): { entries: AuditEntry[]; files: AuditFileText[]; head: HeadRead } {
  const entries: AuditEntry[] = [];
  let prev = GENESIS;
  const events: AuditEvent[] = ['volume.create', 'secret.create', 'service.activate', 'service.deactivate'];
  for (let s = 1; s <= n; s++) {
    const e = seal(body(s, prev, { event: events[s % events.length]!, target: `t${s}`, ts: new Date(Date.UTC(2026, 10, 23, 10, s)).toISOString() }));
    entries.push(e);
    prev = e.hash;
  }
  const files: AuditFileText[] = [];
  for (let i = 0; i < n; i += perFile) files.push({ name: `audit-${String(i + 1).padStart(10, '0')}.jsonl`, text: entries.slice(i, i + perFile).map(entryLine).join('') });
  return { entries, files, head: { kind: 'ok', head: { seq: n, hash: prev } } };
}

const lines = (f: AuditFileText) => f.text.split('\n').slice(0, -1);
const withLines = (f: AuditFileText, ls: string[]) => ({ name: f.name, text: ls.map((l) => `${l}\n`).join('') });
const first = (files: AuditFileText[], head: HeadRead) => {
  const r = verifyChain(files, head);
  return r.problems[0] ? { seq: r.problems[0].seq, kind: r.problems[0].kind, code: r.problems[0].code, count: r.problems.length, line: r.problems[0].line } : null;
};

test('an untouched log verifies, across rotated files (each file\'s first prev is the last hash of the one before)', () => {
  const log = makeLog(10, 3);
  assert.equal(log.files.length, 4);
  const r = verifyChain(log.files, log.head);
  assert.equal(r.intact, true, JSON.stringify(r.problems));
  assert.deepEqual(r.files.map((f) => f.entries), [3, 3, 3, 1]);
  assert.deepEqual(r.last, { seq: 10, hash: log.entries[9]!.hash });
  assert.deepEqual(verifyChain([], { kind: 'missing' }), { intact: true, entries: 0, files: [], head: null, last: null, problems: [], notes: [] });
});

test('edited: a changed field names that seq, and the chain goes on cleanly after it (one problem)', () => {
  const log = makeLog(6);
  const ls = lines(log.files[0]!);
  ls[3] = ls[3]!.replace('"result":"ok"', '"result":"failed"');
  assert.deepEqual(first([withLines(log.files[0]!, ls)], log.head), { seq: 4, kind: 'edited', code: 'NISO6101', count: 1, line: 4 });
});

test('edited: an entry rewritten with a fresh hash is caught by the next entry\'s prev, and the last one by the head', () => {
  const log = makeLog(6);
  const forged = (i: number) => {
    const ls = lines(log.files[0]!);
    const e = JSON.parse(ls[i]!) as AuditEntry;
    ls[i] = entryLine(seal({ ...e, target: 'someone-else', hash: undefined } as unknown as AuditBody)).trimEnd();
    return withLines(log.files[0]!, ls);
  };
  assert.deepEqual(first([forged(2)], log.head), { seq: 3, kind: 'edited', code: 'NISO6101', count: 1, line: 3 });
  assert.deepEqual(first([forged(5)], log.head), { seq: 6, kind: 'head-mismatch', code: 'NISO6105', count: 1, line: 6 });
});

test('edited: a line that is not an entry, and an empty line, name the seq whose place they take', () => {
  const log = makeLog(5);
  const ls = lines(log.files[0]!);
  assert.deepEqual(first([withLines(log.files[0]!, [...ls.slice(0, 2), '{"v":1,"seq":3', ...ls.slice(3)])], log.head)?.seq, 3);
  assert.deepEqual(first([withLines(log.files[0]!, [...ls.slice(0, 2), '', ...ls.slice(2)])], log.head), { seq: 3, kind: 'edited', code: 'NISO6101', count: 2, line: 3 });
});

test('deleted: a line in the middle, the first line, a whole rotated file', () => {
  const log = makeLog(6);
  const ls = lines(log.files[0]!);
  assert.deepEqual(first([withLines(log.files[0]!, [...ls.slice(0, 3), ...ls.slice(4)])], log.head), { seq: 4, kind: 'deleted', code: 'NISO6102', count: 1, line: 4 });
  assert.deepEqual(first([withLines(log.files[0]!, ls.slice(1))], log.head), { seq: 1, kind: 'deleted', code: 'NISO6102', count: 1, line: 1 });
  const rotated = makeLog(9, 3);
  const r = verifyChain([rotated.files[0]!, rotated.files[2]!], rotated.head);
  assert.equal(r.problems[0]!.seq, 4);
  assert.equal(r.problems[0]!.kind, 'deleted');
  assert.match(r.problems[0]!.message, /^seq 4-6 are missing/);
});

test('reordered: two lines swapped, one moved to the end; duplicated: a line copied', () => {
  const log = makeLog(6);
  const ls = lines(log.files[0]!);
  const swapped = [...ls];
  [swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
  assert.deepEqual(first([withLines(log.files[0]!, swapped)], log.head), { seq: 3, kind: 'reordered', code: 'NISO6103', count: 1, line: 3 });
  const moved = [...ls.slice(0, 1), ...ls.slice(2), ls[1]!];
  assert.deepEqual(first([withLines(log.files[0]!, moved)], log.head), { seq: 2, kind: 'reordered', code: 'NISO6103', count: 1, line: 2 });
  const copied = [...ls.slice(0, 4), ls[1]!, ...ls.slice(4)];
  assert.deepEqual(first([withLines(log.files[0]!, copied)], log.head), { seq: 2, kind: 'duplicated', code: 'NISO6103', count: 1, line: 5 });
});

test('truncated: lines cut from the end, or bytes cut into the last line, are found against the head', () => {
  const log = makeLog(6);
  const ls = lines(log.files[0]!);
  assert.deepEqual(first([withLines(log.files[0]!, ls.slice(0, 4))], log.head), { seq: 5, kind: 'truncated', code: 'NISO6104', count: 1, line: undefined });
  const cut = { name: log.files[0]!.name, text: log.files[0]!.text.slice(0, -40) };
  assert.deepEqual(first([cut], log.head), { seq: 6, kind: 'truncated', code: 'NISO6104', count: 1, line: undefined });
  // An older file cut short is damage too (only the last file can hold an append in progress).
  const rotated = makeLog(6, 3);
  const r = verifyChain([{ name: rotated.files[0]!.name, text: rotated.files[0]!.text.slice(0, -10) }, rotated.files[1]!], rotated.head);
  assert.equal(r.intact, false);
  assert.equal(r.problems[0]!.seq, 3);
});

test('the head: missing with entries, unreadable, two entries added after it; one entry after it is a crash, not tampering', () => {
  const log = makeLog(4);
  assert.deepEqual(first(log.files, { kind: 'missing' }), { seq: 4, kind: 'head-missing', code: 'NISO6105', count: 1, line: undefined });
  assert.equal(first(log.files, { kind: 'invalid', why: 'not JSON' })?.kind, 'head-mismatch');
  const h2 = { kind: 'ok' as const, head: { seq: 2, hash: log.entries[1]!.hash } };
  assert.deepEqual(first(log.files, h2), { seq: 3, kind: 'head-mismatch', code: 'NISO6105', count: 1, line: 3 });
  const h3 = { kind: 'ok' as const, head: { seq: 3, hash: log.entries[2]!.hash } };
  const r = verifyChain(log.files, h3);
  assert.equal(r.intact, true);
  assert.match(r.notes.join('\n'), /seq 4 was written after the last head update/);
  // The very first append interrupted before its head: one entry, no head.
  assert.equal(verifyChain([{ name: 'a', text: entryLine(log.entries[0]!) }], { kind: 'missing' }).intact, true);
});

test('an unfinished last line that the head does not cover is an interrupted append: intact, with a note', () => {
  const log = makeLog(3);
  const r = verifyChain([{ name: log.files[0]!.name, text: `${log.files[0]!.text}{"v":1,"seq":4,"ts":"20` }], log.head);
  assert.equal(r.intact, true);
  assert.match(r.notes[0]!, /line 4 of audit-0000000001\.jsonl is an unfinished append \(23 bytes/);
});

test('a repair the appender recorded: a torn line is a note, a log that ended before its head stays reported', () => {
  const log = makeLog(3);
  const torn = seal(body(4, log.entries[2]!.hash, { event: 'audit.repair', target: undefined, details: { found: 'torn', torn: { file: 'f', bytes: 20, sha256: 'a'.repeat(64) } } }));
  const r = verifyChain([{ name: 'f', text: log.files[0]!.text + entryLine(torn) }], { kind: 'ok', head: { seq: 4, hash: torn.hash } });
  assert.equal(r.intact, true);
  assert.match(r.notes[0]!, /interrupted append left 20 bytes/);
  // Seq 4 and 5 were cut off; the append that found it recorded the head it saw and went on from seq 3.
  const found = seal(body(4, log.entries[2]!.hash, { event: 'audit.repair', target: undefined, details: { found: 'head-mismatch', why: 'the log ends at seq 3, but audit.head says it reached seq 5', head: { seq: 5, hash: 'b'.repeat(64) }, last: { seq: 3, hash: log.entries[2]!.hash } } }));
  assert.deepEqual(first([{ name: 'f', text: log.files[0]!.text + entryLine(found) }], { kind: 'ok', head: { seq: 4, hash: found.hash } }), { seq: 4, kind: 'truncated', code: 'NISO6104', count: 1, line: 4 });
});

// --- what an append decides on opening the log ----------------------------------------------------------------

test('opening: a head equal to the last entry, or one behind it, is no repair; an unfinished line is; a head that does not fit is evidence', () => {
  const last = { seq: 7, hash: 'c'.repeat(64), prev: 'b'.repeat(64) };
  const torn = { file: 'f', bytes: 9, sha256: 'd'.repeat(64) };
  assert.equal(repairFor({ last, head: { kind: 'ok', head: { seq: 7, hash: last.hash } }, torn: null }), null);
  assert.equal(repairFor({ last, head: { kind: 'ok', head: { seq: 6, hash: last.prev } }, torn: null }), null);
  assert.equal(repairFor({ last: null, head: { kind: 'missing' }, torn: null }), null);
  assert.equal(repairFor({ last: { seq: 1, hash: last.hash, prev: GENESIS }, head: { kind: 'missing' }, torn: null }), null, 'the first append, cut before its head');
  assert.deepEqual(repairFor({ last, head: { kind: 'ok', head: { seq: 7, hash: last.hash } }, torn })?.details, { found: 'torn', torn });
  const cut = repairFor({ last, head: { kind: 'ok', head: { seq: 9, hash: 'e'.repeat(64) } }, torn });
  assert.equal(cut?.details.found, 'head-mismatch');
  assert.match(cut!.reason, /the log ends at seq 7, but audit\.head says it reached seq 9/);
  assert.equal(repairFor({ last, head: { kind: 'ok', head: { seq: 5, hash: 'e'.repeat(64) } }, torn: null })?.details.found, 'head-mismatch');
  assert.equal(repairFor({ last, head: { kind: 'missing' }, torn: null })?.details.found, 'head-mismatch');
  assert.equal(repairFor({ last, head: { kind: 'invalid', why: 'not JSON' }, torn: null })?.details.found, 'head-mismatch');
  // The chain goes on from the log's last entry; with none readable, from the head.
  assert.deepEqual(chainEnd({ last, head: { kind: 'ok', head: { seq: 9, hash: 'e'.repeat(64) } }, torn: null }), { seq: 7, hash: last.hash });
  assert.deepEqual(chainEnd({ last: null, head: { kind: 'ok', head: { seq: 9, hash: 'e'.repeat(64) } }, torn: null }), { seq: 9, hash: 'e'.repeat(64) });
  assert.deepEqual(chainEnd({ last: null, head: { kind: 'missing' }, torn: null }), { seq: 0, hash: GENESIS });
});

// --- redaction ------------------------------------------------------------------------------------------------

test('redaction: env values (names kept), everything after `secret create`, secret-like options and assignments, URL passwords', () => {
  const R = REDACTED;
  assert.deepEqual(redactArgv(['niso', 'activate', 'app', '-e', 'DB_PASSWORD=hunter2', '--env', 'PORT=80', '--env=A=b', '-eX=y', '-e', 'FROM_ENV', '--env-file', '/etc/app.env']),
    ['niso', 'activate', 'app', '-e', `DB_PASSWORD=${R}`, '--env', `PORT=${R}`, `--env=A=${R}`, `-eX=${R}`, '-e', 'FROM_ENV', '--env-file', '/etc/app.env']);
  assert.deepEqual(redactArgv(['niso', 'exec', 'web', '-ie', 'TOKEN=abc', '--', 'sh']), ['niso', 'exec', 'web', '-ie', `TOKEN=${R}`, '--', 'sh']);
  assert.deepEqual(redactArgv(['niso', 'secret', 'create', 'db', '-', '--label', 'x=y']), ['niso', 'secret', 'create', R, R, R, R]);
  assert.deepEqual(redactArgv(['niso', 'secret', 'set', 'db', 'value']), ['niso', 'secret', 'set', R, R]);
  assert.deepEqual(redactArgv(['niso', 'activate', 'app', '--secret', 'db-password', '--', '--password', 'p4ss', '--api-key=k3y', '--verbose', 'AUTH_TOKEN=t0k', 'PORT=1', 'postgres://app:pw@db/x', '--secret', 's3']),
    ['niso', 'activate', 'app', '--secret', 'db-password', '--', '--password', R, `--api-key=${R}`, '--verbose', `AUTH_TOKEN=${R}`, 'PORT=1', `postgres://app:${R}@db/x`, '--secret', R]);
  // Options that are not secrets keep their values; -v and -p carry no `e`.
  assert.deepEqual(redactArgv(['niso', 'run', 'app', '-v', 'data:/data', '-p', '8080:80', '--name', 'web']), ['niso', 'run', 'app', '-v', 'data:/data', '-p', '8080:80', '--name', 'web']);
  // After `--` the app's own -e is the app's (kept) unless it looks like a secret.
  assert.deepEqual(redactArgv(['niso', 'run', 'app', '--', '-e', 'print(1)']), ['niso', 'run', 'app', '--', '-e', 'print(1)']);
});

// --- what `niso audit` shows -----------------------------------------------------------------------------------

test('the table: actor with sudo and ssh, time to the second, target and result; --since and -n select', () => {
  assert.equal(actorText(ACTOR), 'root (sudo ana, ssh 203.0.113.7)');
  assert.equal(actorText({ uid: 0, user: 'root', sudo_user: null, ssh: null, login_uid: 1000 }), 'root (login uid 1000)');
  assert.equal(actorText({ uid: 1234, user: null, sudo_user: null, ssh: null, login_uid: null }), 'uid 1234');
  const log = makeLog(5);
  assert.deepEqual(auditRows(log.entries.slice(0, 1)), [['1', '2026-11-23 10:01:00Z', 'root (sudo ana, ssh 203.0.113.7)', 'secret.create', 't1', 'ok']]);
  assert.deepEqual(selectEntries(log.entries, { since: new Date(Date.UTC(2026, 10, 23, 10, 3)) }).map((e) => e.seq), [3, 4, 5]);
  assert.deepEqual(selectEntries(log.entries, { since: new Date(Date.UTC(2026, 10, 23, 10, 3)), last: 2 }).map((e) => e.seq), [4, 5]);
  assert.deepEqual(selectEntries(log.entries, { last: 0 }), []);
});
