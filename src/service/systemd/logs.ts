// `niso logs` of systemd services: journald holds their output (the unit's stdout and stderr go to the journal),
// read with `journalctl -o json` and turned into the records the embedded backend's reader yields.
import { spawn } from 'node:child_process';
import { initUnitName, unitName } from '../../render/systemd-names.js';
import { createInterface } from 'node:readline';
import type { LogRecord, LogSource, ReadLogsOptions } from '../logs/reader.js';

interface JournalEntry { __REALTIME_TIMESTAMP?: string; MESSAGE?: string | number[] | null; PRIORITY?: string; _SYSTEMD_UNIT?: string }

/** One journal entry as a log record; null for entries without a message. journald keeps no stream name: stderr shows as priority ≤ 3 only when the app says so. */
export function journalRecord(service: string, line: string): LogRecord | null {
  let e: JournalEntry;
  try { e = JSON.parse(line) as JournalEntry; } catch { return null; }
  if (e.MESSAGE === undefined || e.MESSAGE === null || !e.__REALTIME_TIMESTAMP) return null;
  const text = typeof e.MESSAGE === 'string' ? e.MESSAGE : Buffer.from(e.MESSAGE).toString('utf8');
  return {
    service, time: new Date(Math.floor(Number(e.__REALTIME_TIMESTAMP) / 1000)), stream: Number(e.PRIORITY ?? 6) <= 3 ? 'stderr' : 'stdout',
    text: text.replace(/\n$/, ''), approximate: false, partial: false,
  };
}

const at = (d: Date) => `@${(d.getTime() / 1000).toFixed(3)}`;

/** journalctl's arguments for one service's output (the app's own lines and its init step's, not systemd's about the units). */
export function journalArgs(service: string, opts: Pick<ReadLogsOptions, 'tail' | 'since' | 'until' | 'follow'>): string[] {
  const a = ['--no-pager', '-o', 'json', '--output-fields=MESSAGE,PRIORITY,__REALTIME_TIMESTAMP', `_SYSTEMD_UNIT=${unitName(service)}`, `_SYSTEMD_UNIT=${initUnitName(service)}`, '_TRANSPORT=stdout'];
  if (opts.since) a.push(`--since=${at(opts.since)}`);
  if (opts.until && !opts.follow) a.push(`--until=${at(opts.until)}`);
  // -f alone would start at the last 10 lines; docker logs -f starts at the beginning.
  a.push(`--lines=${opts.tail === undefined ? 'all' : String(opts.tail)}`);
  if (opts.follow) a.push('--follow');
  return a;
}

/** Lines of a journalctl child as records, until it ends or the signal aborts. */
async function* journalOf(service: string, opts: ReadLogsOptions): AsyncGenerator<LogRecord> {
  const child = spawn('journalctl', journalArgs(service, opts), { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', SYSTEMD_PAGER: '' } });
  const kill = () => child.kill('SIGTERM');
  opts.signal?.addEventListener('abort', kill, { once: true });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      const rec = journalRecord(service, line);
      if (rec) yield rec;
    }
    const code = await closed;
    if (code !== 0 && !opts.signal?.aborted) throw new Error(`journalctl failed for ${service} (${code}): ${stderr.trim()}`);
  } finally {
    opts.signal?.removeEventListener('abort', kill);
    if (child.exitCode === null) child.kill('SIGTERM');
  }
}

/** Several record streams as one, in arrival order (for follow); a failing stream ends all of them. */
async function* interleave(streams: ((signal: AbortSignal) => AsyncGenerator<LogRecord>)[], signal: AbortSignal | undefined, until: number): AsyncGenerator<LogRecord> {
  const queue: LogRecord[] = [];
  const waiter: { wake: (() => void) | null } = { wake: null };
  let failure: unknown = null;
  let running = streams.length;
  const ac = new AbortController();
  const stop = () => ac.abort();
  signal?.addEventListener('abort', stop, { once: true });
  const timer = Number.isFinite(until) ? setTimeout(stop, Math.max(0, until - Date.now())) : null;
  for (const open of streams) {
    void (async () => {
      try { for await (const r of open(ac.signal)) { queue.push(r); waiter.wake?.(); } } catch (e) { failure ??= e; ac.abort(); } finally { running--; waiter.wake?.(); }
    })();
  }
  try {
    while (running > 0 || queue.length > 0) {
      const r = queue.shift();
      if (r) { if (r.time.getTime() < until) yield r; continue; }
      await new Promise<void>((res) => { waiter.wake = res; });
      waiter.wake = null;
    }
    if (failure && !signal?.aborted) throw failure;
  } finally {
    ac.abort();
    if (timer) clearTimeout(timer);
    signal?.removeEventListener('abort', stop);
  }
}

/**
 * Like readLogs (logs/reader.ts), for services of either backend: each service's last `tail` lines merged by
 * time, then, with follow, new lines as they come. systemd services are read from journald, the others with
 * the embedded reader.
 */
export async function* readServiceLogs(embedded: readonly LogSource[], systemd: readonly string[], opts: ReadLogsOptions = {}): AsyncGenerator<LogRecord> {
  const { readLogs } = await import('../logs/reader.js');
  if (systemd.length === 0) { yield* readLogs(embedded, opts); return; }
  const until = opts.until?.getTime() ?? Infinity;
  if (!opts.follow) {
    const all: LogRecord[] = [];
    for (const s of systemd) for await (const r of journalOf(s, opts)) all.push(r);
    if (embedded.length > 0) for await (const r of readLogs(embedded, opts)) all.push(r);
    // A stable sort keeps each service's own order.
    yield* all.sort((a, b) => a.time.getTime() - b.time.getTime());
    return;
  }
  const streams = systemd.map((s) => (signal: AbortSignal) => journalOf(s, { ...opts, signal }));
  if (embedded.length > 0) streams.push((signal) => readLogs(embedded, { ...opts, signal }));
  yield* interleave(streams, opts.signal, until);
}

/** A service's last lines from journald, as text ("" when there are none or journald cannot be read). */
export async function journalTail(service: string, lines: number): Promise<string> {
  const out: string[] = [];
  try { for await (const r of readServiceLogs([], [service], { tail: lines })) out.push(r.text); } catch { /* no journal */ }
  return out.join('\n');
}
