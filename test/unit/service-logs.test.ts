// The pure parts of service logs as tables: where output is cut into records, the journal's
// record format, --since/--until values and how `niso logs` prints a record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyState, encodeHeader, encodeRawMarker, MAX_RECORD_TEXT, recordPrefix, splitLines, walkJournal, type JournalRecord } from '../../src/service/logs/journal-format.js';
import { parseTimeArg } from '../../src/service/logs/time-arg.js';
import { formatLogRecord, logPrefixes } from '../../src/service/logs/format.js';
import { isNisoError } from '../../src/errors/niso-error.js';
import type { LogRecord } from '../../src/service/logs/reader.js';

const texts = (buf: Buffer, final: boolean) => {
  const r = splitLines(buf, final);
  return { pieces: r.pieces.map((p) => `${buf.toString('utf8', p.start, p.end)}${p.next > p.end ? '\\n' : '+'}`), consumed: r.consumed };
};

test('splitLines cuts at newlines; a line without its newline waits unless final', () => {
  const cases: [string, boolean, string[], number][] = [
    ['', false, [], 0],
    ['a\n', false, ['a\\n'], 2],
    ['a\nb\n', false, ['a\\n', 'b\\n'], 4],
    ['a\nbc', false, ['a\\n'], 2],
    ['a\nbc', true, ['a\\n', 'bc+'], 4],
    ['\n\n', false, ['\\n', '\\n'], 2],
    ['a\r\n', false, ['a\r\\n'], 3], // CR is the app's; kept
    ['no newline', false, [], 0],
    ['no newline', true, ['no newline+'], 10],
  ];
  for (const [input, final, pieces, consumed] of cases) {
    assert.deepEqual(texts(Buffer.from(input), final), { pieces, consumed }, JSON.stringify(input));
  }
});

test('splitLines cuts lines longer than 16 KiB into pieces, never inside a UTF-8 character', () => {
  const exact = Buffer.from(`${'x'.repeat(MAX_RECORD_TEXT)}\n`);
  assert.deepEqual(splitLines(exact, false).pieces.map((p) => [p.end - p.start, p.next > p.end]), [[MAX_RECORD_TEXT, true]]);
  // Exactly 16 KiB without its newline yet: it may still end here, so it waits.
  assert.equal(splitLines(exact.subarray(0, MAX_RECORD_TEXT), false).pieces.length, 0);
  const long = Buffer.from(`${'y'.repeat(MAX_RECORD_TEXT * 2 + 5)}\n`);
  assert.deepEqual(splitLines(long, false).pieces.map((p) => [p.end - p.start, p.next > p.end]), [[MAX_RECORD_TEXT, false], [MAX_RECORD_TEXT, false], [5, true]]);
  // A 3-byte character straddling the 16 KiB mark goes whole into the second piece.
  const utf8 = Buffer.from(`${'z'.repeat(MAX_RECORD_TEXT - 1)}€tail\n`);
  const pieces = splitLines(utf8, false).pieces.map((p) => utf8.toString('utf8', p.start, p.end));
  assert.deepEqual(pieces, ['z'.repeat(MAX_RECORD_TEXT - 1), '€tail']);
});

test('splitLines cuts the same places whether bytes arrive at once or bit by bit', () => {
  const lines = ['short', 'é'.repeat(20_000), '', 'x'.repeat(MAX_RECORD_TEXT + 1), 'x'.repeat(MAX_RECORD_TEXT), 'end'];
  const all = Buffer.from(lines.map((l) => `${l}\n`).join(''));
  const once = splitLines(all, false).pieces.map((p) => [p.start, p.end, p.next]);
  const bitByBit: number[][] = [];
  let offset = 0;
  for (let seen = 1; seen <= all.length; seen += 977) {
    const r = splitLines(all.subarray(offset, Math.min(all.length, seen + 977)), false);
    for (const p of r.pieces) bitByBit.push([offset + p.start, offset + p.end, offset + p.next]);
    offset += r.consumed;
  }
  assert.deepEqual(bitByBit, once);
});

test('journal records round-trip: time, stream, flags, text bytes and raw offsets', () => {
  const state = emptyState();
  state.out = { ino: 7, epoch: 1, offset: 100 };
  const t = Date.parse('2026-11-23T10:00:00.123Z');
  const journal = Buffer.concat([
    encodeHeader(state),
    recordPrefix(t, 'out', false, true), Buffer.from('hello\n'),
    recordPrefix(t + 1, 'err', true, true), Buffer.from('oops é\n'),
    recordPrefix(t + 2, 'out', false, false), Buffer.from('cut\n'),
    encodeRawMarker('err', { ino: 9, epoch: 2, offset: 0 }),
    recordPrefix(t + 3, 'err', false, true), Buffer.from([0xff, 0x41, 0x0a]), // invalid UTF-8 is kept as bytes
    Buffer.from('2026-11-23T10:00:00.124Z o torn li'), // a record still being written
  ]);
  const got: JournalRecord[] = [];
  const walked = emptyState();
  const w = walkJournal(journal, walked, true, (r) => got.push({ ...r, text: Buffer.from(r.text) }));
  assert.equal(w.header, 'ok');
  assert.equal(journal.subarray(w.end).toString(), '2026-11-23T10:00:00.124Z o torn li');
  assert.deepEqual(journal.toString('latin1').split('\n').slice(0, 4), ['#niso-journal 1 out=100@7/1 err=0@0/0', '2026-11-23T10:00:00.123Z o hello', `2026-11-23T10:00:00.124Z e~ ${Buffer.from('oops é').toString('latin1')}`, '2026-11-23T10:00:00.125Z o+ cut']);
  assert.deepEqual(got.map((r) => [r.stream, r.time - t, r.approximate, r.terminated, r.text.toString('latin1'), r.id, r.start, r.end]), [
    ['out', 0, false, true, 'hello', '7/1', 100, 106],
    ['err', 1, true, true, Buffer.from('oops é').toString('latin1'), '0/0', 0, 8],
    ['out', 2, false, false, 'cut', '7/1', 106, 109],
    ['err', 3, false, true, '\xffA', '9/2', 0, 3],
  ]);
  assert.deepEqual(walked.out, { ino: 7, epoch: 1, offset: 109 });
  assert.deepEqual(walked.err, { ino: 9, epoch: 2, offset: 3 });
  assert.equal(walked.lastTime, t + 3);
  assert.equal(walkJournal(Buffer.from('#niso-jour'), emptyState(), true).header, 'missing');
  assert.equal(walkJournal(Buffer.from('hello\n'), emptyState(), true).header, 'bad');
});

const NOW = new Date('2026-11-23T12:00:00.000Z');

test('parseTimeArg accepts durations back from now and dates', () => {
  const cases: [string, Date][] = [
    ['45s', new Date(NOW.getTime() - 45_000)],
    ['10m', new Date(NOW.getTime() - 600_000)],
    ['1h30m', new Date(NOW.getTime() - 5_400_000)],
    ['2d', new Date(NOW.getTime() - 2 * 86_400_000)],
    ['0s', NOW],
    [' 500ms ', new Date(NOW.getTime() - 500)],
    ['2026-11-23T10:00:00Z', new Date(Date.UTC(2026, 10, 23, 10))],
    ['2026-11-23t10:00:00z', new Date(Date.UTC(2026, 10, 23, 10))],
    ['2026-11-23T10:00:00.123456Z', new Date(Date.UTC(2026, 10, 23, 10, 0, 0, 123))],
    ['2026-11-23T10:00:00+02:00', new Date(Date.UTC(2026, 10, 23, 8))],
    ['2026-11-23T10:00:00-0530', new Date(Date.UTC(2026, 10, 23, 15, 30))],
    ['2026-11-23 10:00', new Date(2026, 10, 23, 10, 0)], // no zone: local time
    ['2026-11-23 10:00:30', new Date(2026, 10, 23, 10, 0, 30)],
    ['2026-11-23T10:00', new Date(2026, 10, 23, 10, 0)],
    ['2026-11-23', new Date(2026, 10, 23)],
    ['2028-02-29', new Date(2028, 1, 29)],
    ['2030-01-01T00:00:00Z', new Date(Date.UTC(2030, 0, 1))], // the future is allowed (--until)
  ];
  for (const [text, want] of cases) assert.equal(parseTimeArg(text, NOW).toISOString(), want.toISOString(), text);
});

test('parseTimeArg refuses anything else with NISO3310 naming the text', () => {
  const cases: [string, RegExp][] = [
    ['', /is empty/],
    ['yesterday', /"yesterday" is not a duration or a date and time/],
    ['10', /"10" has no unit/],
    ['10x', /"10x" is not a duration/],
    ['-5m', /is not a duration or a date and time/],
    ['400d', /longer than a year/],
    ['2026-13-01', /no month 13/],
    ['2027-02-29', /no day 29/],
    ['2026-11-31', /no day 31/],
    ['2026-11-23 24:00', /not a valid time of day/],
    ['2026-11-23 10:60', /not a valid time of day/],
    ['2026-11-23T10:00:00+25:00', /invalid zone offset/],
    ['23.11.2026', /is not a duration or a date and time/],
    ['2026-11-23T10', /is not a duration or a date and time/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseTimeArg(text, NOW, '--since'), (e: unknown) => {
      assert.ok(isNisoError(e), text);
      assert.equal(e.code, 'NISO3310');
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /^--since /);
      assert.match(e.message, message, text);
      assert.match(e.hint ?? '', /1h30m/);
      return true;
    }, text);
  }
});

test('formatLogRecord prints docker-like lines: padded prefixes, timestamps, ~ for approximate times', () => {
  const rec = (service: string, text: string, approximate = false): LogRecord => ({ service, time: new Date('2026-11-23T10:00:00.123Z'), stream: 'stdout', text, approximate, partial: false });
  const one = logPrefixes(['web']);
  assert.equal(one.get('web'), null);
  assert.equal(formatLogRecord(rec('web', 'hello'), { prefix: null, timestamps: false }), 'hello');
  const several = logPrefixes(['web', 'worker', 'db']);
  assert.deepEqual([...several.values()], ['web    | ', 'worker | ', 'db     | ']);
  assert.equal(formatLogRecord(rec('web', 'hello'), { prefix: several.get('web')!, timestamps: true }), 'web    | 2026-11-23T10:00:00.123Z hello');
  assert.equal(formatLogRecord(rec('db', 'late', true), { prefix: several.get('db')!, timestamps: true }), 'db     | ~2026-11-23T10:00:00.123Z late');
  assert.equal(formatLogRecord(rec('db', 'late', true), { prefix: null, timestamps: false }), 'late');
});
