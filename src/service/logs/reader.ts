// Reading services' logs: rotated journals oldest first, the live journal, then raw output the
// pump has not moved yet, so logs show even while no supervisor runs. Several services are
// merged by time; follow keeps reading until the caller aborts.
//
// No line is shown twice although the pump moves bytes from raw files into the journal while
// we read: every record knows the raw bytes it came from (inode/epoch and offsets, see
// journal-format.ts), and the reader remembers, per raw file, up to where it has shown them.
// Raw bytes are trusted only if the journal did not change while we read them, since the pump
// punches holes into raw bytes right after it journals them.
import { closeSync, fstatSync, openSync, readdirSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { emptyState, rawId, splitLines, STREAM_KEYS, STREAM_NAMES, walkJournal, type JournalRecord, type JournalState, type RawPosition, type StreamKey } from './journal-format.js';
import { CHUNK_BYTES, readRange } from './journal-io.js';
import { journalPath, rawPath, rotatedSeqs } from './files.js';
import { APPROXIMATE_AFTER_MS } from './pump.js';

export interface LogRecord {
  service: string;
  time: Date;
  stream: 'stdout' | 'stderr';
  text: string;
  /** niso cannot place the line within a second: it was written at `time` at the latest (while no supervisor watched). */
  approximate: boolean;
  /** The line continues in the next record (it was cut at 16 KiB), or the service ended mid-line. */
  partial: boolean;
}

export interface LogSource { service: string; logsDir: string }

export interface ReadLogsOptions {
  /** The last N records of each service (like docker logs -n); all when absent. */
  tail?: number;
  /** Records at or after this time. */
  since?: Date;
  /** Records before this time; with follow, following ends once the clock passes it. */
  until?: Date;
  follow?: boolean;
  signal?: AbortSignal;
  /** How often follow looks for new output. */
  pollMs?: number;
}

export const FOLLOW_POLL_MS = 100;

/** A record before it is shown: text stays bytes (in its read chunk) until it survives --tail and the filters. */
interface Rec { service: string; time: number; stream: StreamKey; approximate: boolean; terminated: boolean; text: Buffer }

function toLogRecord(r: Rec): LogRecord {
  return { service: r.service, time: new Date(r.time), stream: STREAM_NAMES[r.stream], text: r.text.toString('utf8'), approximate: r.approximate, partial: !r.terminated };
}

export async function* readLogs(sources: readonly LogSource[], opts: ReadLogsOptions = {}): AsyncGenerator<LogRecord> {
  const logs = sources.map((s) => new ServiceLog(s.service, s.logsDir));
  const since = opts.since?.getTime() ?? -Infinity;
  const until = opts.until?.getTime() ?? Infinity;
  const wanted = (r: Rec) => r.time >= since && r.time < until;
  try {
    const first = logs.map((l) => lastN(filter(l.records(!opts.follow), wanted), opts.tail));
    for (const r of mergeByTime(first)) {
      if (opts.signal?.aborted) return;
      yield toLogRecord(r);
    }
    if (!opts.follow) return;
    while (!opts.signal?.aborted && Date.now() < until) {
      try {
        await sleep(opts.pollMs ?? FOLLOW_POLL_MS, undefined, { signal: opts.signal });
      } catch {
        return; // aborted
      }
      const fresh = logs.map((l) => [...filter(l.records(false), wanted)]);
      for (const r of mergeByTime(fresh.map((a) => a[Symbol.iterator]()))) {
        if (opts.signal?.aborted) return;
        yield toLogRecord(r);
      }
    }
  } finally {
    for (const l of logs) l.close();
  }
}

function* filter(it: Iterable<Rec>, keep: (r: Rec) => boolean): Generator<Rec> {
  for (const r of it) if (keep(r)) yield r;
}

function* lastN(it: Iterator<Rec> & Iterable<Rec>, n: number | undefined): Generator<Rec> {
  if (n === undefined) { yield* it; return; }
  // Nothing to show, but read to the end all the same: following starts after what exists.
  if (n <= 0) { for (const _ of it) { /* skip */ } return; }
  const ring: Rec[] = [];
  let next = 0;
  for (const r of it) {
    if (ring.length < n) ring.push(r);
    else { ring[next] = r; next = (next + 1) % n; }
  }
  for (let i = 0; i < ring.length; i++) yield ring[(next + i) % ring.length]!;
}

/** Merges per-service sequences by time; equal times keep the order of the sources. */
function* mergeByTime(its: Iterator<Rec>[]): Generator<Rec> {
  const heads = its.map((it) => it.next());
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i]!;
      if (!h.done && (best < 0 || h.value.time < (heads[best]!.value as Rec).time)) best = i;
    }
    if (best < 0) return;
    yield heads[best]!.value as Rec;
    heads[best] = its[best]!.next();
  }
}

/** Synchronous sleep for the few milliseconds a rotation takes; only while a directory listing is unstable. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** One service's logs, read incrementally. */
class ServiceLog {
  /** Per stream and raw file (rawId): the raw offset up to which records have been shown. */
  private readonly shown: Record<StreamKey, Map<string, number>> = { out: new Map(), err: new Map() };
  private jFd = -1;
  private jIno = 0;
  /** Offset after the last whole line read from the live journal, and the journal's size then. */
  private jRead = 0;
  private jSeenSize = 0;
  /** Whether the journals were listed once (the logs dir exists). */
  private listed = false;
  /** Where the journal read so far stands in the raw files. */
  private jState: JournalState = emptyState();
  /** When raw files were last read to their end: bytes found later were written after it. */
  private readonly rawLooked: Record<StreamKey, number | null> = { out: null, err: null };

  constructor(readonly service: string, readonly logsDir: string) {}

  close(): void {
    if (this.jFd >= 0) closeSync(this.jFd);
    this.jFd = -1;
  }

  /** Records not shown yet. `final`: also a last line without newline (when not following). */
  *records(final: boolean): Generator<Rec> {
    for (let round = 0; round < 100; round++) {
      yield* this.journalRecords();
      const stale = yield* this.rawRecords(final);
      if (!stale) return;
    }
  }

  private toRec(r: JournalRecord | Omit<Rec, 'service'>): Rec {
    return { service: this.service, time: r.time, stream: r.stream, approximate: r.approximate, terminated: r.terminated, text: r.text };
  }

  /** Whether this record's raw bytes were not shown yet; marks them shown. */
  private fresh(key: StreamKey, id: string, end: number): boolean {
    const m = this.shown[key];
    const upTo = m.get(id);
    if (upTo !== undefined && end <= upTo) return false;
    m.set(id, end);
    return true;
  }

  private *journalRecords(): Generator<Rec> {
    if (this.jFd >= 0) {
      const size = fstatSync(this.jFd).size;
      this.jSeenSize = size;
      if (size > this.jRead) yield* this.walk(this.jFd, this.jRead, size, this.jState, false, (end) => { this.jRead = end; });
      if (this.journalIno() === this.jIno) return;
      // Rotated: what we hold is now journal.<seq>; read on from a fresh listing.
    } else if (this.listed && this.journalIno() === 0) {
      // Still no live journal (no pump ran yet, or one died mid-rotation): nothing new in the journals.
      return;
    }
    yield* this.catchUp();
  }

  private journalIno(): number {
    return statSync(journalPath(this.logsDir), { throwIfNoEntry: false })?.ino ?? 0;
  }

  /** Records of one file range, a chunk at a time (each chunk is a fresh buffer the records' texts point into). */
  private *walk(fd: number, from: number, to: number, state: JournalState, atFileStart: boolean, done: (end: number) => void): Generator<Rec> {
    let pos = from;
    let first = atFileStart;
    while (pos < to) {
      const buf = readRange(fd, pos, Math.min(to, pos + CHUNK_BYTES));
      if (buf.length === 0) break;
      const out: Rec[] = [];
      const w = walkJournal(buf, state, first, (r) => { if (this.fresh(r.stream, r.id, r.end)) out.push(this.toRec(r)); });
      if (first && w.header !== 'ok') break;
      first = false;
      if (w.end === 0) break;
      pos += w.end;
      done(pos);
      yield* out;
    }
  }

  /**
   * Opens the journals as one consistent set (the listing did not change while we opened them),
   * then reads from the newest file all of whose predecessors' records were shown already.
   */
  private *catchUp(): Generator<Rec> {
    this.close();
    this.jIno = 0;
    let files: { fd: number; live: boolean }[];
    for (let attempt = 0; ; attempt++) {
      const before = this.listJournals();
      if (before === null) return;
      this.listed = true;
      files = [];
      for (const name of before) {
        const live = name === 'journal';
        try { files.push({ fd: openSync(live ? journalPath(this.logsDir) : `${this.logsDir}/${name}`, 'r'), live }); } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') { for (const f of files) closeSync(f.fd); throw e; }
        }
      }
      const after = this.listJournals();
      if ((after !== null && after.join('/') === before.join('/')) || attempt >= 50) break;
      for (const f of files) closeSync(f.fd);
      pause(2);
    }
    try {
      let start = 0;
      for (let i = files.length - 1; i > 0; i--) {
        if (this.allShownBefore(files[i]!.fd)) { start = i; break; }
      }
      let state = emptyState();
      for (let i = start; i < files.length; i++) {
        const f = files[i]!;
        state = emptyState();
        const size = fstatSync(f.fd).size;
        let end = 0;
        yield* this.walk(f.fd, 0, size, state, true, (e) => { end = e; });
        if (f.live) {
          this.jFd = f.fd;
          this.jIno = fstatSync(f.fd).ino;
          this.jRead = end;
          this.jSeenSize = size;
        }
      }
      this.jState = state;
    } finally {
      for (const f of files) if (f.fd !== this.jFd) closeSync(f.fd);
    }
  }

  /** journal.<seq> oldest first, then journal; null when there is no logs dir. */
  private listJournals(): string[] | null {
    let names: string[];
    try { names = readdirSync(this.logsDir); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null; throw e; }
    const list = rotatedSeqs(names).map((s) => `journal.${s}`);
    if (names.includes('journal')) list.push('journal');
    return list;
  }

  /** Whether a journal's header points at raw bytes all shown already, so older journals can be skipped. */
  private allShownBefore(fd: number): boolean {
    const head = readRange(fd, 0, 512);
    const state = emptyState();
    const nl = head.indexOf(0x0a);
    if (nl < 0 || walkJournal(head.subarray(0, nl + 1), state, true).header !== 'ok') return false;
    const shown = (key: StreamKey, p: RawPosition) => p.ino === 0 || (this.shown[key].get(rawId(p)) ?? -1) >= p.offset;
    return shown('out', state.out) && shown('err', state.err);
  }

  /** Whether the pump changed the journal since we last read it (so raw bytes read meanwhile may be gone). */
  private journalMoved(): boolean {
    if (this.jFd >= 0 && fstatSync(this.jFd).size !== this.jSeenSize) return true;
    return this.journalIno() !== this.jIno;
  }

  /**
   * Raw bytes past what the journal holds. Returns true when the journal moved meanwhile (read it first). The file
   * is opened once and then only looked at through its fd: a stat by path and a later open could meet two files
   * (the service removed, or removed and activated again, in between) or none.
   */
  private *rawRecords(final: boolean): Generator<Rec, boolean> {
    for (const key of STREAM_KEYS) {
      let fd: number;
      try { fd = openSync(rawPath(this.logsDir, key), 'r'); } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      try {
        for (;;) {
          const lookedAt = Date.now();
          const st = fstatSync(fd);
          // A raw file the journal does not know yet (new, replaced, truncated) gets the next epoch, as the pump will give it.
          const j = this.jState[key];
          const known = st.ino === j.ino && st.size >= j.offset;
          const id = rawId({ ino: st.ino, epoch: known ? j.epoch : j.epoch + 1 });
          const from = Math.max(known ? j.offset : 0, this.shown[key].get(id) ?? 0);
          if (st.size <= from) { this.rawLooked[key] = lookedAt; break; }
          const buf = readRange(fd, from, Math.min(st.size, from + CHUNK_BYTES));
          if (this.journalMoved()) return true;
          const eof = from + buf.length >= st.size;
          const { pieces, consumed } = splitLines(buf, final && eof);
          const lower = this.rawLooked[key] ?? Math.max(this.jState.lastTime ?? 0, st.birthtimeMs);
          const time = Math.floor(st.mtimeMs);
          const approximate = time - lower > APPROXIMATE_AFTER_MS;
          const out: Rec[] = [];
          for (const pc of pieces) {
            if (!this.fresh(key, id, from + pc.next)) continue;
            out.push(this.toRec({ stream: key, time, approximate, terminated: pc.next > pc.end, text: buf.subarray(pc.start, pc.end) }));
          }
          yield* out;
          if (eof || consumed === 0) { this.rawLooked[key] = lookedAt; break; }
        }
      } finally {
        closeSync(fd);
      }
    }
    return false;
  }
}
