// Reading logs as `niso logs` does, against real services and a real pump: --tail, --since and
// --until, several services merged by time, following, and output the pump has not moved yet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openLogSinks } from '../../src/service/logs/files.js';
import { LogPump, drainLogs, DEFAULT_LOG_FILES, DEFAULT_LOG_MAX_BYTES } from '../../src/service/logs/pump.js';
import { readLogs, type LogRecord, type LogSource, type ReadLogsOptions } from '../../src/service/logs/reader.js';
import { formatLogRecord, logPrefixes } from '../../src/service/logs/format.js';
import { tempDir } from '../helpers/tmp.js';

const LIMITS = { maxBytes: DEFAULT_LOG_MAX_BYTES, files: DEFAULT_LOG_FILES };

function runService(logsDir: string, script: string): Promise<number | null> {
  const sinks = openLogSinks(logsDir);
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', sinks.stdout, sinks.stderr] });
  closeSync(sinks.stdout);
  closeSync(sinks.stderr);
  return new Promise((resolve, reject) => { child.on('error', reject); child.on('exit', (code) => resolve(code)); });
}

const say = (...lines: string[]) => lines.map((l) => (l.startsWith('!') ? `console.error(${JSON.stringify(l.slice(1))});` : `console.log(${JSON.stringify(l)});`)).join('');

async function collect(sources: LogSource[], opts: ReadLogsOptions = {}): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of readLogs(sources, opts)) out.push(r);
  return out;
}

/** Follows in the background; `until` waits for a number of records. */
function follow(sources: LogSource[], opts: ReadLogsOptions = {}) {
  const ac = new AbortController();
  const got: LogRecord[] = [];
  const done = (async () => { for await (const r of readLogs(sources, { ...opts, follow: true, pollMs: 30, signal: ac.signal })) got.push(r); })();
  return {
    got,
    async until(n: number, ms = 8000): Promise<void> {
      const end = Date.now() + ms;
      while (got.length < n && Date.now() < end) await sleep(10);
      assert.ok(got.length >= n, `waited for ${n} records, got ${got.length}`);
    },
    async stop(): Promise<void> { ac.abort(); await done; },
  };
}

test('tail shows the last N records of the service; since and until select by time', async () => {
  const dir = join(tempDir(), 'logs');
  const src = [{ service: 'web', logsDir: dir }];
  await runService(dir, say('a1', '!a2', 'a3'));
  await drainLogs(dir, LIMITS);
  await sleep(20);
  const t1 = new Date();
  await sleep(20);
  await runService(dir, say('b1', '!b2'));
  await drainLogs(dir, LIMITS);
  await sleep(20);
  const t2 = new Date();
  await sleep(20);
  await runService(dir, say('c1'));
  await drainLogs(dir, LIMITS);

  const text = (rs: LogRecord[]) => rs.map((r) => r.text);
  const all = await collect(src);
  assert.deepEqual(all.map((r) => [r.text, r.stream, r.service, r.approximate, r.partial]), [
    ['a1', 'stdout', 'web', false, false], ['a3', 'stdout', 'web', false, false], ['a2', 'stderr', 'web', false, false],
    ['b1', 'stdout', 'web', false, false], ['b2', 'stderr', 'web', false, false], ['c1', 'stdout', 'web', false, false],
  ]);
  assert.deepEqual(text(await collect(src, { tail: 2 })), ['b2', 'c1']);
  assert.deepEqual(text(await collect(src, { tail: 0 })), []);
  assert.deepEqual(text(await collect(src, { tail: 100 })), text(all));
  assert.deepEqual(text(await collect(src, { since: t1 })), ['b1', 'b2', 'c1']);
  assert.deepEqual(text(await collect(src, { until: t2 })), ['a1', 'a3', 'a2', 'b1', 'b2']);
  assert.deepEqual(text(await collect(src, { since: t1, until: t2 })), ['b1', 'b2']);
  assert.deepEqual(text(await collect(src, { since: t1, until: t2, tail: 1 })), ['b2']);
  assert.ok(all.every((r, i) => i === 0 || r.time >= all[i - 1]!.time));
});

test('several services are merged by time, each line under its service\'s prefix', async () => {
  const root = tempDir();
  const web = { service: 'web', logsDir: join(root, 'web/logs') };
  const worker = { service: 'worker', logsDir: join(root, 'worker/logs') };
  for (const [s, line] of [[web, 'web 1'], [worker, 'worker 1'], [worker, 'worker 2'], [web, 'web 2'], [worker, 'worker 3']] as const) {
    await runService(s.logsDir, say(line));
    await drainLogs(s.logsDir, LIMITS);
    await sleep(5);
  }
  const merged = await collect([web, worker]);
  assert.deepEqual(merged.map((r) => r.text), ['web 1', 'worker 1', 'worker 2', 'web 2', 'worker 3']);
  const prefixes = logPrefixes(['web', 'worker']);
  assert.deepEqual(merged.slice(0, 2).map((r) => formatLogRecord(r, { prefix: prefixes.get(r.service)!, timestamps: false })), ['web    | web 1', 'worker | worker 1']);
  assert.match(formatLogRecord(merged[0]!, { prefix: prefixes.get('web')!, timestamps: true }), /^web {4}\| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z web 1$/);
  // tail applies per service, then the services are merged.
  assert.deepEqual((await collect([web, worker], { tail: 1 })).map((r) => r.text), ['web 2', 'worker 3']);
  // A service that never wrote anything (no logs dir yet) shows nothing.
  assert.deepEqual(await collect([{ service: 'new', logsDir: join(root, 'new/logs') }]), []);
});

test('output the pump has not moved yet is shown, marked approximate when it is, and not again once moved', async () => {
  const dir = join(tempDir(), 'logs');
  const src = [{ service: 'web', logsDir: dir }];
  const pump = new LogPump(dir, LIMITS);
  await runService(dir, say('journalled'));
  await pump.drain();
  await sleep(1100); // no pump looks meanwhile, as when the supervisor is down
  await runService(dir, `console.log('raw only'); process.stdout.write('and a partial line')`);
  const before = await collect(src);
  assert.deepEqual(before.map((r) => [r.text, r.approximate, r.partial]), [['journalled', false, false], ['raw only', true, false], ['and a partial line', true, true]]);
  assert.ok(before[1]!.time.getTime() - before[0]!.time.getTime() >= 1000, 'stamped with when the raw file was written');
  // The pump moves the whole line (approximate: it was not watching either). The partial line
  // waits; its time is the raw file's mtime, and as the file's last bytes it was written then.
  await pump.drain();
  const after = await collect(src);
  assert.deepEqual(after.map((r) => [r.text, r.approximate, r.partial]), [['journalled', false, false], ['raw only', true, false], ['and a partial line', false, true]]);
  // The service ended: the partial line is moved too, approximate, as it had waited since before the pump's last look.
  await pump.drain({ final: true });
  pump.close();
  assert.deepEqual((await collect(src)).map((r) => [r.text, r.approximate, r.partial]), [['journalled', false, false], ['raw only', true, false], ['and a partial line', true, true]]);
});

test('follow shows new lines as they come, from raw files and the journal, never twice, and stops on abort', async () => {
  const dir = join(tempDir(), 'logs');
  const src = [{ service: 'web', logsDir: dir }];
  await runService(dir, say('old'));
  await drainLogs(dir, LIMITS);
  const f = follow(src, { tail: 1 });
  await f.until(1);
  // No pump running: lines come from the raw file.
  await runService(dir, say('raw 1', '!raw 2'));
  await f.until(3);
  // The pump moves them into the journal: nothing new to show.
  const pump = new LogPump(dir, LIMITS);
  assert.equal((await pump.drain()).records, 2);
  await sleep(100);
  assert.equal(f.got.length, 3);
  // With the pump running, new lines come from the journal (or raw, whichever is first), once.
  await runService(dir, say('pumped 1', 'pumped 2'));
  await pump.drain();
  await f.until(5);
  await sleep(100);
  const started = Date.now();
  await f.stop();
  assert.ok(Date.now() - started < 1000, 'the reader stopped promptly on abort');
  pump.close();
  assert.deepEqual(f.got.map((r) => [r.text, r.stream]), [['old', 'stdout'], ['raw 1', 'stdout'], ['raw 2', 'stderr'], ['pumped 1', 'stdout'], ['pumped 2', 'stdout']]);
  assert.ok(f.got.every((r) => !r.approximate), 'followed lines are seen within the poll interval');
});

test('follow keeps up with a fast writer and a pump rotating under it: every line once, in order', async () => {
  const root = tempDir();
  const a = { service: 'a', logsDir: join(root, 'a/logs') };
  const b = { service: 'b', logsDir: join(root, 'b/logs') };
  mkdirSync(b.logsDir, { recursive: true });
  const limits = { maxBytes: 8 * 1024, files: 10_000 };
  const pumps = [new LogPump(a.logsDir, limits), new LogPump(b.logsDir, limits)];
  let pumping = true;
  const pumpLoop = (async () => { while (pumping) { for (const p of pumps) await p.drain(); await sleep(7); } })();
  const f = follow([a, b]);
  const writer = (name: string) => `let i = 0; const t = setInterval(() => { for (let k = 0; k < 30; k++, i++) (i % 4 ? console.log : console.error)('${name} ' + i + ' ' + '.'.repeat(i % 50)); if (i >= 1500) clearInterval(t); }, 2)`;
  await Promise.all([runService(a.logsDir, writer('a')), runService(b.logsDir, writer('b'))]);
  await f.until(3000, 15_000);
  pumping = false;
  await pumpLoop;
  for (const p of pumps) { await p.drain({ final: true }); p.close(); }
  await sleep(100);
  await f.stop();
  for (const name of ['a', 'b']) {
    const mine = f.got.filter((r) => r.service === name);
    const expect = Array.from({ length: 1500 }, (_, i) => `${name} ${i} ${'.'.repeat(i % 50)}`);
    assert.deepEqual(mine.filter((r) => r.stream === 'stdout').map((r) => r.text), expect.filter((_, i) => i % 4 !== 0), `${name} stdout`);
    assert.deepEqual(mine.filter((r) => r.stream === 'stderr').map((r) => r.text), expect.filter((_, i) => i % 4 === 0), `${name} stderr`);
  }
  assert.equal(f.got.length, 3000);
});

test('follow picks up a service whose logs appear only later, and ends by itself once until has passed', async () => {
  const dir = join(tempDir(), 'later/logs');
  const until = new Date(Date.now() + 1500);
  const got: string[] = [];
  const started = Date.now();
  const done = (async () => { for await (const r of readLogs([{ service: 'later', logsDir: dir }], { follow: true, until, pollMs: 30 })) got.push(r.text); })();
  await sleep(200);
  await runService(dir, say('hello'));
  await done;
  assert.deepEqual(got, ['hello']);
  assert.ok(Date.now() - started >= 1400 && Date.now() - started < 4000, 'stopped following after until');
});
