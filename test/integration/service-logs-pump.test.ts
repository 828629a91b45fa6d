// The log pump against real processes and files: every line reaches the journal once, in
// order; consumed raw bytes are really freed; disk use stays bounded; what a killed pump left
// half-done is repaired; lines seen late are marked approximate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openLogSinks } from '../../src/service/logs/files.js';
import { LogPump, drainLogs, DEFAULT_LOG_FILES, DEFAULT_LOG_MAX_BYTES, PUNCH_THRESHOLD_BYTES } from '../../src/service/logs/pump.js';
import { readLogs } from '../../src/service/logs/reader.js';
import { tempDir } from '../helpers/tmp.js';

/** Runs a node script as a service would run: stdout and stderr are the sinks, the launcher closes its copies. */
function runService(logsDir: string, script: string, env: Record<string, string> = {}): Promise<number | null> {
  const sinks = openLogSinks(logsDir);
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', sinks.stdout, sinks.stderr], env: { ...process.env, ...env } });
  closeSync(sinks.stdout);
  closeSync(sinks.stderr);
  return new Promise((resolve, reject) => { child.on('error', reject); child.on('exit', (code) => resolve(code)); });
}

// Numbered lines on both streams, written in rounds with lines split across writes, and every
// 700th line 40 000 bytes long (longer than a record).
const WRITER = `
const fs = require('fs');
const n = Number(process.env.LINES), pace = Number(process.env.PACE_MS);
let i = 0;
function round() {
  let out = '', err = '';
  for (let k = 0; k < 40 && i < n; k++, i++) {
    if (i % 5 === 0) err += 'err ' + i + '\\n';
    else out += 'out ' + i + ' ' + (i % 700 === 699 ? 'L'.repeat(40000) : '.'.repeat(i % 97)) + '\\n';
  }
  const cut = out.length >> 1;
  fs.writeSync(1, out.slice(0, cut));
  fs.writeSync(2, err);
  fs.writeSync(1, out.slice(cut));
  if (i < n) setTimeout(round, pace);
}
round();`;

function expected(n: number): { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 5 === 0) err.push(`err ${i}`);
    else out.push(`out ${i} ${i % 700 === 699 ? 'L'.repeat(40000) : '.'.repeat(i % 97)}`);
  }
  return { out, err };
}

interface Rec { time: string; stream: string; flags: string; text: string }

/** The journal files as a user would read them with cat: rotated ones oldest first, then the live one. */
function journalFiles(dir: string): string[] {
  const rotated = readdirSync(dir).filter((n) => /^journal\.\d+$/.test(n)).sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)));
  return [...rotated, ...(readdirSync(dir).includes('journal') ? ['journal'] : [])];
}

function journalRecords(dir: string): Rec[] {
  const recs: Rec[] = [];
  for (const f of journalFiles(dir)) {
    const lines = readFileSync(join(dir, f), 'utf8').split('\n');
    assert.equal(lines.pop(), '', `${f} ends with a whole line`);
    assert.match(lines[0] ?? '', /^#niso-journal 1 out=\d+@\d+\/\d+ err=\d+@\d+\/\d+$/, `${f} starts with its header`);
    for (const l of lines) {
      if (l.startsWith('#')) continue;
      const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ([oe])([~+]*) (.*)$/s.exec(l);
      assert.ok(m, `a record: ${l.slice(0, 80)}`);
      recs.push({ time: m[1]!, stream: m[2]!, flags: m[3]!, text: m[4]! });
    }
  }
  return recs;
}

/** Lines per stream, with pieces of long lines joined again. */
function lines(recs: Rec[]): { out: string[]; err: string[] } {
  const got = { out: [] as string[], err: [] as string[] };
  const pending = { out: '', err: '' };
  for (const r of recs) {
    const k = r.stream === 'o' ? 'out' : 'err';
    pending[k] += r.text;
    if (!r.flags.includes('+')) { got[k].push(pending[k]); pending[k] = ''; }
  }
  return got;
}

function diskUse(dir: string): number {
  return readdirSync(dir).reduce((sum, n) => sum + statSync(join(dir, n)).blocks * 512, 0);
}

/** Drains every `ms` like the supervisor does, until stopped. */
function pumpEvery(pump: LogPump, ms: number): { stop: () => Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) { await pump.drain(); await sleep(ms); }
  })();
  return { stop: async () => { running = false; await loop; } };
}

test('a service\'s lines reach the journal exactly once, in order, with their stream, while the pump drains', async () => {
  const dir = join(tempDir(), 'logs');
  const pump = new LogPump(dir, { maxBytes: DEFAULT_LOG_MAX_BYTES, files: DEFAULT_LOG_FILES });
  const looping = pumpEvery(pump, 15);
  const before = Date.now();
  assert.equal(await runService(dir, WRITER, { LINES: '5000', PACE_MS: '2' }), 0);
  await looping.stop();
  await pump.drain({ final: true });
  pump.close();
  const recs = journalRecords(dir);
  assert.deepEqual(lines(recs), expected(5000));
  // Long lines are stored as 16 KiB pieces; the pump watched all along, so no time is approximate.
  assert.ok(recs.some((r) => r.flags === '+'));
  assert.ok(recs.every((r) => !r.flags.includes('~')));
  const times = recs.map((r) => Date.parse(r.time));
  assert.ok(times.every((t, i) => t >= before - 5 && t <= Date.now() && (i === 0 || t >= times[i - 1]!)), 'times lie in the run and never go backwards');
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  for (const f of ['out.raw', 'err.raw', 'journal']) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
});

test('a partial last line waits for its newline, and is moved when the service ended', async () => {
  const dir = join(tempDir(), 'logs');
  await runService(dir, `process.stdout.write('done\\nno newline at the end')`);
  const limits = { maxBytes: DEFAULT_LOG_MAX_BYTES, files: DEFAULT_LOG_FILES };
  assert.equal((await drainLogs(dir, limits)).records, 1);
  assert.deepEqual(journalRecords(dir).map((r) => r.text), ['done']);
  const r = await drainLogs(dir, { ...limits, final: true });
  assert.equal(r.records, 1);
  assert.deepEqual(journalRecords(dir).map((x) => [x.flags, x.text]), [['', 'done'], ['+', 'no newline at the end']]);
  assert.equal((await drainLogs(dir, { ...limits, final: true })).records, 0, 'nothing twice');
});

test('consumed raw bytes are freed by punching holes, once 1 MiB is consumed, and the service keeps appending', async () => {
  const dir = join(tempDir(), 'logs');
  const limits = { maxBytes: DEFAULT_LOG_MAX_BYTES, files: DEFAULT_LOG_FILES };
  const pump = new LogPump(dir, limits);
  await runService(dir, `process.stdout.write('small line\\n'.repeat(40000))`); // 440 KB
  const r1 = await pump.drain();
  assert.equal(r1.records, 40000);
  assert.equal(r1.punched, 0, 'under 1 MiB consumed: no process spawned');
  assert.ok(statSync(join(dir, 'out.raw')).blocks * 512 >= 400_000);
  await runService(dir, `process.stdout.write('x'.repeat(99) + '\\n').toString(); for (let i = 0; i < 30000; i++) process.stdout.write(i + ' ' + 'y'.repeat(95) + '\\n')`);
  const raw = statSync(join(dir, 'out.raw'));
  assert.ok(raw.blocks * 512 >= 3_000_000, 'about 3.4 MB allocated before the drain');
  const r2 = await pump.drain();
  assert.deepEqual(r2.warnings, []);
  const after = statSync(join(dir, 'out.raw'));
  assert.ok(after.blocks * 512 <= 8192, `freed: ${after.blocks * 512} bytes still allocated`);
  assert.ok(r2.punched >= 3_000_000);
  assert.equal(after.size, raw.size, 'the file keeps its size: the service\'s appends go on at the end');
  await runService(dir, `console.log('after the hole')`);
  await pump.drain();
  pump.close();
  const texts = journalRecords(dir).map((x) => x.text);
  assert.equal(texts.length, 40000 + 1 + 30000 + 1);
  assert.equal(texts.at(-2), `29999 ${'y'.repeat(95)}`);
  assert.equal(texts.at(-1), 'after the hole');
  assert.ok(!texts.some((t) => t.includes('\0')), 'no zeros from holes');
});

test('writing 5x maxBytes keeps disk use within maxBytes x files plus the unpunched raw bytes', async () => {
  const dir = join(tempDir(), 'logs');
  const limits = { maxBytes: 1024 * 1024, files: 3 };
  const pump = new LogPump(dir, limits);
  // ~5.5 MB on stdout in 55 rounds, plus a little stderr. The test sets the pace (a round per message, then a drain,
  // as the supervisor's next tick would), so that the bound holds however slowly this machine schedules the pump: a
  // free-running writer on a loaded host got megabytes ahead of a pump that had not run yet, which bounds nothing.
  const sinks = openLogSinks(dir);
  const child = spawn(process.execPath, ['-e', `let r = 0; process.on('message', () => { for (let i = 0; i < 1000; i++) process.stdout.write(r + ':' + i + ' ' + 'z'.repeat(90) + '\\n'); console.error('round ' + r); r++; process.send('done', () => { if (r === 55) process.disconnect(); }); });`], { stdio: ['ignore', sinks.stdout, sinks.stderr, 'ipc'] });
  closeSync(sinks.stdout);
  closeSync(sinks.stderr);
  const exited = new Promise((res) => child.on('exit', res));
  let peak = 0;
  for (let r = 0; r < 55; r++) {
    const done = new Promise((res) => child.once('message', res));
    child.send('go');
    await done;
    // Before the drain: the round is on disk in the raw files, unread.
    peak = Math.max(peak, diskUse(dir));
    await pump.drain();
    peak = Math.max(peak, diskUse(dir));
  }
  await exited;
  const last = peak;
  await pump.drain({ final: true });
  pump.close();
  const slack = 2 * (PUNCH_THRESHOLD_BYTES + 256 * 1024); // per raw file: unpunched consumed bytes and one poll's worth not read yet
  assert.ok(last <= limits.maxBytes * limits.files + slack, `peak disk use ${last} bytes`);
  const files = journalFiles(dir);
  assert.ok(files.length <= limits.files, files.join(' '));
  for (const f of files) assert.ok(statSync(join(dir, f)).size <= limits.maxBytes, `${f} is at most maxBytes`);
  assert.ok(diskUse(dir) <= limits.maxBytes * limits.files + 3 * 4096, `at rest after the final drain: ${diskUse(dir)}`);
  const kept = lines(journalRecords(dir));
  assert.equal(kept.out.at(-1), `54:999 ${'z'.repeat(90)}`);
  assert.equal(kept.err.at(-1), 'round 54');
  const texts = [...kept.out, ...kept.err];
  assert.ok(!texts.includes(`0:0 ${'z'.repeat(90)}`), 'the oldest lines rotated away');
  // Two full rotated journals and part of the live one, at ~121 bytes per record.
  assert.ok(texts.length > ((limits.files - 1) * limits.maxBytes) / 125, `the newest lines are kept: ${texts.length}`);
});

test('an unchanged service costs no reads and no writes', async () => {
  const dir = join(tempDir(), 'logs');
  await runService(dir, `console.log('once'); console.error('twice')`);
  const pump = new LogPump(dir, { maxBytes: DEFAULT_LOG_MAX_BYTES, files: DEFAULT_LOG_FILES });
  assert.equal((await pump.drain()).records, 2);
  const j = statSync(join(dir, 'journal'));
  for (let i = 0; i < 200; i++) assert.deepEqual(await pump.drain(), { bytes: 0, records: 0, rotations: 0, punched: 0, warnings: [] });
  const j2 = statSync(join(dir, 'journal'));
  assert.equal(j2.mtimeMs, j.mtimeMs);
  assert.equal(j2.size, j.size);
  pump.close();
});

test('a killed pump\'s half-done work is repaired: torn record, rotation cut short, leftover journals', async () => {
  const dir = join(tempDir(), 'logs');
  const limits = { maxBytes: 4096, files: 3 };
  await runService(dir, `for (let i = 0; i < 100; i++) console.log('a' + i)`);
  await drainLogs(dir, limits);

  // A record torn by SIGKILL mid-write: cut off, and the lines it held are moved again, once.
  const torn = '2026-11-23T10:00:00.000Z o a9';
  appendFileSync(join(dir, 'journal'), torn);
  const p1 = new LogPump(dir, limits);
  assert.equal((await p1.drain()).records, 0);
  assert.equal(p1.recoveredBytes, torn.length);
  assert.ok(!readFileSync(join(dir, 'journal'), 'utf8').includes(torn), 'the torn record is gone before anything is appended');
  p1.close();
  await runService(dir, `for (let i = 100; i < 150; i++) console.log('a' + i)`);
  await drainLogs(dir, limits);
  assert.deepEqual(lines(journalRecords(dir)).out, Array.from({ length: 150 }, (_, i) => `a${i}`));

  // Killed between renaming the journal and creating the next one.
  const seqs = journalFiles(dir).filter((f) => f !== 'journal').map((f) => Number(f.slice(8)));
  const next = Math.max(0, ...seqs) + 1;
  renameSync(join(dir, 'journal'), join(dir, `journal.${next}`));
  await runService(dir, `for (let i = 150; i < 160; i++) console.log('a' + i)`);
  // Readers meanwhile see the rotated journals and the raw output, each line once.
  const shown: string[] = [];
  for await (const r of readLogs([{ service: 'web', logsDir: dir }])) shown.push(r.text);
  assert.deepEqual(shown, Array.from({ length: 160 }, (_, i) => `a${i}`));
  await drainLogs(dir, { maxBytes: 4096, files: 100 });
  // Killed after creating the next journal, before its header was written.
  renameSync(join(dir, 'journal'), join(dir, `journal.${next + 1}`));
  writeFileSync(join(dir, 'journal'), '');
  await runService(dir, `for (let i = 160; i < 170; i++) console.log('a' + i)`);
  await drainLogs(dir, { maxBytes: 4096, files: 100 });
  assert.deepEqual(lines(journalRecords(dir)).out.slice(-20), Array.from({ length: 20 }, (_, i) => `a${150 + i}`));

  // Rotated journals beyond `files` (a pump killed before removing them) are removed.
  assert.ok(journalFiles(dir).length > 3);
  await drainLogs(dir, limits);
  assert.equal(journalFiles(dir).length, 3);

  writeFileSync(join(dir, 'journal'), 'somebody else\'s file\n');
  await assert.rejects(drainLogs(dir, limits), /is not a niso log journal/);
});

test('lines written while no pump ran are marked approximate and stamped with the raw file\'s mtime', async () => {
  const dir = join(tempDir(), 'logs');
  const limits = { maxBytes: DEFAULT_LOG_MAX_BYTES, files: DEFAULT_LOG_FILES };
  const pump = new LogPump(dir, limits);
  await runService(dir, `console.log('seen at once')`);
  await pump.drain();
  pump.close();
  await runService(dir, `console.log('written while the supervisor was down')`);
  const written = statSync(join(dir, 'out.raw')).mtimeMs;
  await sleep(1200);
  const back = new LogPump(dir, limits);
  await back.drain();
  // The same pump keeps watching: what it finds now is precise again.
  await runService(dir, `console.log('seen at once again')`);
  await back.drain();
  back.close();
  const recs = journalRecords(dir);
  assert.deepEqual(recs.map((r) => [r.flags, r.text]), [['', 'seen at once'], ['~', 'written while the supervisor was down'], ['', 'seen at once again']]);
  assert.equal(Date.parse(recs[1]!.time), Math.floor(written));
});

test('a raw file truncated by the app starts over in the journal, and readers show every line once', async () => {
  const dir = join(tempDir(), 'logs');
  const limits = { maxBytes: DEFAULT_LOG_MAX_BYTES, files: DEFAULT_LOG_FILES };
  await runService(dir, `console.log('before 1'); console.log('before 2')`);
  await drainLogs(dir, limits);
  truncateSync(join(dir, 'out.raw'), 0);
  const fd = openSync(join(dir, 'out.raw'), 'a');
  writeSync(fd, 'after\n');
  closeSync(fd);
  await drainLogs(dir, limits);
  const text = readFileSync(join(dir, 'journal'), 'utf8');
  assert.match(text, /\n#raw out=0@\d+\/2\n/);
  const shown: string[] = [];
  for await (const r of readLogs([{ service: 'web', logsDir: dir }])) shown.push(r.text);
  assert.deepEqual(shown, ['before 1', 'before 2', 'after']);
});

test('a service running as its own uid writes through its fds, and may reopen its output by path only when it owns the files', async () => {
  const root = tempDir();
  const script = 'echo direct; echo reopened >> /dev/stdout; echo to stderr >> /dev/stderr; echo done';
  const run = (logsDir: string, owner?: { uid: number; gid: number }) => {
    const sinks = openLogSinks(logsDir, owner);
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', sinks.stdout, sinks.stderr], uid: 65534, gid: 65534 });
    closeSync(sinks.stdout);
    closeSync(sinks.stderr);
    return new Promise((resolve) => child.on('exit', resolve));
  };
  const limits = { maxBytes: DEFAULT_LOG_MAX_BYTES, files: DEFAULT_LOG_FILES };
  const owned = join(root, 'owned/logs');
  await run(owned, { uid: 65534, gid: 65534 });
  await drainLogs(owned, limits);
  assert.deepEqual(journalRecords(owned).map((r) => [r.stream, r.text]), [['o', 'direct'], ['o', 'reopened'], ['o', 'done'], ['e', 'to stderr']]);
  assert.equal(statSync(join(owned, 'out.raw')).uid, 65534);
  assert.equal(statSync(owned).uid, 0, 'the logs dir stays root\'s');

  const rootOwned = join(root, 'root-owned/logs');
  await run(rootOwned);
  await drainLogs(rootOwned, limits);
  const recs = journalRecords(rootOwned).map((r) => [r.stream, r.text]);
  assert.deepEqual(recs.filter((r) => r[0] === 'o'), [['o', 'direct'], ['o', 'done']]);
  assert.match(recs.filter((r) => r[0] === 'e').map((r) => r[1]).join('\n'), /Permission denied/);
});
