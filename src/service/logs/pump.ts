// The log pump: the supervisor calls it every ~250 ms per service to move new raw output into
// the service's timestamped, size-bounded journal and to free the raw bytes it consumed.
//
// Crash-exactness without a position file: the journal says which raw bytes it holds (see
// journal-format.ts), and a batch is one pwrite at the journal's end. A pump killed mid-write
// leaves whole records (they are consumed, correctly) and maybe a torn last line, which the
// next pump cuts off before it appends anything; it then resumes exactly where the journal
// ends. Nothing is written twice and nothing is lost. (Process crashes, that is: there is no
// fsync per batch, like docker's json-file and journald between syncs.)
//
// Rotation is one rename, `journal` → `journal.<seq>` (seq counting up), then a new journal
// with a header. Unlike a logrotate-style chain of renames, a crash cannot stop it halfway,
// and a reader that holds a file never sees it renamed twice under its feet.
//
// Times: a record gets the time the pump saw it (`now`), so it is precise to about the poll
// interval. When the pump cannot bound when the bytes were written to within
// APPROXIMATE_AFTER_MS (the first look after the supervisor came back, or a stalled loop),
// the records are marked approximate and stamped with the raw file's mtime (capped at now):
// the bytes were written at that time at the latest. Times in a journal never go backwards.
import { closeSync, fstatSync, ftruncateSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { run } from '../../host/exec.js';
import { NisoError } from '../../errors/niso-error.js';
import { copyState, emptyState, encodeHeader, encodeRawMarker, recordPrefix, splitLines, STREAM_KEYS, type JournalState, type RawPosition, type StreamKey } from './journal-format.js';
import { CHUNK_BYTES, readRange, walkFile } from './journal-io.js';
import { journalPath, rawPath, rotatedSeqs } from './files.js';
import { DEFAULT_LOG_FILES, DEFAULT_LOG_LIMITS, DEFAULT_LOG_MAX_BYTES, type LogLimits } from './limits.js';

export { DEFAULT_LOG_FILES, DEFAULT_LOG_MAX_BYTES, type LogLimits };

/** How often the supervisor should call drain. */
export const LOG_POLL_MS = 250;
/** Lines whose write time niso cannot bound more tightly than this are marked approximate. */
export const APPROXIMATE_AFTER_MS = 1000;
/** Consumed raw bytes are freed (one fallocate process) once this much is consumed but still allocated. */
export const PUNCH_THRESHOLD_BYTES = 1024 * 1024;


export interface DrainResult {
  /** Raw bytes moved into the journal. */
  bytes: number;
  records: number;
  rotations: number;
  /** Raw bytes freed by punching holes. */
  punched: number;
  /** Problems that did not stop the drain (e.g. the filesystem cannot punch holes); for the supervisor's log. */
  warnings: string[];
}

export interface DrainOptions {
  /** The service ended: also move a last line without a newline. */
  final?: boolean;
  now?: Date;
  /**
   * A watch on the raw files proved that nothing was written to them between the last look and this time: lines found
   * now were written after it (so a look skipped while the service was quiet does not make its lines approximate).
   */
  unwrittenUntil?: number;
}

interface Seen {
  /** Raw file size at the last look: an unchanged size means nothing to read. */
  size: number;
  /** When this pump last looked at the file: bytes found now were written after that. */
  checkedAt: number | null;
  /** After a failed punch, the offset from which to try again (so a failure costs no process per poll). */
  punchFrom: number;
}

interface Work {
  key: StreamKey;
  st: Stats;
  fd: number;
  /** The raw file is not the one the journal knows (replaced or truncated): its stream starts over. */
  reset: boolean;
  offset: number;
  approximate: boolean;
  stamp: number;
  done: boolean;
}

interface Item { end: number; key: StreamKey; pos: RawPosition; record: boolean; time: number }

export class LogPump {
  private fd = -1;
  private size = 0;
  private hasRecords = false;
  private state: JournalState = emptyState();
  private rotated: number[] = [];
  private restartLower = 0;
  private lastStamp = 0;
  private readonly seen: Record<StreamKey, Seen> = { out: { size: -1, checkedAt: null, punchFrom: 0 }, err: { size: -1, checkedAt: null, punchFrom: 0 } };
  private queue: Promise<unknown> = Promise.resolve();
  /** Bytes cut off the journal's end when this pump opened it: a batch that a killed pump was writing. */
  recoveredBytes = 0;

  constructor(readonly logsDir: string, readonly limits: LogLimits = DEFAULT_LOG_LIMITS) {
    if (!Number.isSafeInteger(limits.maxBytes) || limits.maxBytes < 1024) throw new RangeError(`log maxBytes must be a whole number ≥ 1024, got ${limits.maxBytes}`);
    if (!Number.isSafeInteger(limits.files) || limits.files < 1) throw new RangeError(`log files must be a whole number ≥ 1, got ${limits.files}`);
  }

  /**
   * Moves new complete lines of out.raw/err.raw into the journal. `final` (the service ended)
   * also moves a last line that has no newline. An unchanged service costs one stat per raw file.
   */
  drain(opts: DrainOptions = {}): Promise<DrainResult> {
    // Overlapping drains (a slow punch, a caller that does not wait) would interleave appends: queue them.
    const next = this.queue.then(() => this.drainNow(opts));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async drainNow(opts: DrainOptions): Promise<DrainResult> {
    const result: DrainResult = { bytes: 0, records: 0, rotations: 0, punched: 0, warnings: [] };
    if (this.fd < 0 && !this.open()) return result;
    const now = (opts.now ?? new Date()).getTime();
    if (opts.unwrittenUntil !== undefined) {
      for (const key of STREAM_KEYS) {
        const seen = this.seen[key];
        if (seen.checkedAt !== null) seen.checkedAt = Math.max(seen.checkedAt, Math.min(now, opts.unwrittenUntil));
      }
    }
    const work: Work[] = [];
    try {
      for (const key of STREAM_KEYS) {
        const w = this.look(key, now, opts.final === true);
        if (w) work.push(w);
      }
      // Streams in time order, so the journal's times never go backwards.
      let active = work.filter((w) => !w.done).sort((a, b) => a.stamp - b.stamp);
      for (const w of active) { w.stamp = Math.max(w.stamp, this.lastStamp); this.lastStamp = w.stamp; }
      while (active.length > 0) {
        this.pumpChunk(active, opts.final === true, result);
        active = active.filter((w) => !w.done);
        if (active.length > 0) await yieldToLoop();
      }
      for (const w of work) await this.punch(w, opts.final === true, result);
    } finally {
      for (const w of work) closeSync(w.fd);
    }
    return result;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /** Decides whether a raw file has new bytes, without reading it. */
  private look(key: StreamKey, now: number, final: boolean): Work | null {
    const seen = this.seen[key];
    const prevCheck = seen.checkedAt;
    seen.checkedAt = now;
    const path = rawPath(this.logsDir, key);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return null;
    const pos = this.state[key];
    const same = st.ino === pos.ino && st.size >= pos.offset;
    const sizeBefore = seen.size;
    const unchanged = same && st.size === sizeBefore && !(final && st.size > pos.offset);
    seen.size = st.size;
    const nothingNew = unchanged || (same && st.size === pos.offset);
    // A final drain still frees what earlier drains consumed, even with nothing new to read.
    if (nothingNew && !(final && same && st.blocks * 512 - (st.size - pos.offset) >= 4096)) return null;
    let fd: number;
    try { fd = openSync(path, 'r'); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null; throw e; }
    if (fstatSync(fd).ino !== st.ino) { closeSync(fd); seen.size = -1; return null; } // replaced just now; next poll
    // Bytes found now were written after the previous look, except a last line without newline
    // that was already waiting then and that `final` moves now: it may be older than that look.
    const waitedBefore = same && st.size === sizeBefore;
    const lower = prevCheck !== null && !waitedBefore ? prevCheck : Math.max(this.restartLower, st.birthtimeMs);
    const approximate = now - lower > APPROXIMATE_AFTER_MS;
    return { key, st, fd, reset: !same, offset: same ? pos.offset : 0, approximate, stamp: approximate ? Math.min(now, Math.floor(st.mtimeMs)) : now, done: nothingNew };
  }

  /** Reads up to 1 MiB of each active stream, appends the records, rotating as needed. */
  private pumpChunk(active: Work[], final: boolean, result: DrainResult): void {
    const chunks: Buffer[] = [];
    const items: Item[] = [];
    let total = 0;
    for (const w of active) {
      // Until write() applies the batch, this.state still holds the epoch before a reset.
      const epoch = this.state[w.key].epoch + (w.reset ? 1 : 0);
      if (w.reset) {
        const p = { ino: w.st.ino, epoch, offset: 0 };
        const marker = encodeRawMarker(w.key, p);
        chunks.push(marker);
        total += marker.length;
        items.push({ end: total, key: w.key, pos: p, record: false, time: 0 });
        w.reset = false;
      }
      const buf = readRange(w.fd, w.offset, Math.min(w.st.size, w.offset + CHUNK_BYTES));
      const eof = w.offset + buf.length >= w.st.size;
      const { pieces, consumed } = splitLines(buf, final && eof);
      // One buffer for all records of the chunk: per-record buffers made the garbage collector the main cost.
      const whole = recordPrefix(w.stamp, w.key, w.approximate, true);
      const cut = recordPrefix(w.stamp, w.key, w.approximate, false);
      let size = 0;
      for (const pc of pieces) size += (pc.next > pc.end ? whole : cut).length + pc.end - pc.start + 1;
      const out = Buffer.allocUnsafe(size);
      let p = 0;
      for (const pc of pieces) {
        p += (pc.next > pc.end ? whole : cut).copy(out, p);
        p += buf.copy(out, p, pc.start, pc.end);
        out[p++] = 0x0a;
        items.push({ end: total + p, key: w.key, pos: { ino: w.st.ino, epoch, offset: w.offset + pc.next }, record: true, time: w.stamp });
      }
      chunks.push(out);
      total += size;
      w.offset += consumed;
      result.bytes += consumed;
      result.records += pieces.length;
      if (eof || consumed === 0 || buf.length === 0) w.done = true;
    }
    if (items.length > 0) this.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total), items, result);
  }

  private write(out: Buffer, items: Item[], result: DrainResult): void {
    let from = 0;
    let applied = 0;
    let pendingRecords = false;
    const apply = (upTo: number) => {
      for (; applied < upTo; applied++) {
        const it = items[applied]!;
        this.state[it.key] = it.pos;
        if (it.record) { this.state.lastTime = it.time; this.hasRecords = true; }
      }
    };
    for (let i = 0; i < items.length; i++) {
      const start = i === 0 ? 0 : items[i - 1]!.end;
      const len = items[i]!.end - start;
      if ((this.hasRecords || pendingRecords) && this.size + (start - from) + len > this.limits.maxBytes) {
        this.append(out, from, start);
        apply(i);
        from = start;
        pendingRecords = false;
        this.rotate();
        result.rotations++;
      }
      if (items[i]!.record) pendingRecords = true;
    }
    this.append(out, from, out.length);
    apply(items.length);
  }

  private append(buf: Buffer, from: number, to: number): void {
    try {
      let p = from;
      while (p < to) p += writeSync(this.fd, buf, p, to - p, this.size + (p - from));
    } catch (e) {
      // The file may now hold part of a batch that memory does not know of: reopen (and recover) next time.
      this.close();
      throw e;
    }
    this.size += to - from;
  }

  private rotate(): void {
    const seq = (this.rotated.at(-1) ?? 0) + 1;
    renameSync(journalPath(this.logsDir), journalPath(this.logsDir, seq));
    this.rotated.push(seq);
    this.close();
    this.createJournal(copyState(this.state));
    this.removeOldJournals();
  }

  private createJournal(state: JournalState): void {
    const fd = openSync(journalPath(this.logsDir), 'w', 0o600);
    const header = encodeHeader(state);
    writeSync(fd, header, 0, header.length, 0);
    this.fd = fd;
    this.size = header.length;
    this.state = state;
    this.hasRecords = false;
  }

  private removeOldJournals(): void {
    while (this.rotated.length > this.limits.files - 1) {
      const seq = this.rotated.shift()!;
      try { unlinkSync(journalPath(this.logsDir, seq)); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    }
  }

  /**
   * Finds where the journal stands, repairing what a killed pump left: a torn last line is cut
   * off; a journal missing or without its header (killed during rotation) is created anew from
   * where the newest rotated journal ends. Returns false while the logs dir does not exist.
   */
  private open(): boolean {
    let names: string[];
    try { names = readdirSync(this.logsDir); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; throw e; }
    this.rotated = rotatedSeqs(names);
    for (const key of STREAM_KEYS) this.seen[key].size = -1; // the journal decides what is consumed, not memory
    const path = journalPath(this.logsDir);
    let fd = -1;
    try { fd = openSync(path, 'r+'); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    if (fd >= 0) {
      const st = fstatSync(fd);
      const state = emptyState();
      let records = 0;
      const w = walkFile(fd, 0, st.size, state, true, () => { records++; });
      if (w.header === 'bad') {
        closeSync(fd);
        throw new NisoError('NISO3312', `${path} is not a niso log journal`, { path, hint: 'move it away; the supervisor then starts a new journal (the raw output waits in out.raw and err.raw)' });
      }
      if (w.header === 'ok') {
        if (w.end < st.size) { ftruncateSync(fd, w.end); this.recoveredBytes = st.size - w.end; }
        this.fd = fd;
        this.size = w.end;
        this.state = state;
        this.hasRecords = records > 0;
        this.restartLower = state.lastTime ?? st.mtimeMs;
      } else {
        closeSync(fd);
      }
    }
    if (this.fd < 0) {
      const newest = this.rotated.at(-1);
      const state = emptyState();
      if (newest !== undefined) {
        const rfd = openSync(journalPath(this.logsDir, newest), 'r');
        try {
          if (walkFile(rfd, 0, fstatSync(rfd).size, state, true).header !== 'ok') Object.assign(state, emptyState());
          this.restartLower = state.lastTime ?? fstatSync(rfd).mtimeMs;
        } finally { closeSync(rfd); }
      } else {
        // The first journal: start at the beginning of the raw files that exist already.
        for (const key of STREAM_KEYS) {
          const st = statSync(rawPath(this.logsDir, key), { throwIfNoEntry: false });
          if (st) state[key] = { ino: st.ino, epoch: 1, offset: 0 };
        }
      }
      this.createJournal(state);
    }
    this.lastStamp = this.state.lastTime ?? 0;
    this.removeOldJournals();
    return true;
  }

  /** Frees consumed raw bytes once ≥ 1 MiB of them is still allocated (one process, not one per batch); the host's fallocate does it. */
  private async punch(w: Work, final: boolean, result: DrainResult): Promise<void> {
    const seen = this.seen[w.key];
    const offset = this.state[w.key].ino === w.st.ino ? this.state[w.key].offset : 0;
    const allocatedConsumed = w.st.blocks * 512 - (w.st.size - offset);
    // When the service ended, free everything now: nobody knows when it will write again.
    if (allocatedConsumed < (final ? 4096 : PUNCH_THRESHOLD_BYTES) || offset < seen.punchFrom) return;
    // Through the fd we read (fd 3 of fallocate), so a raw file replaced meanwhile is never touched.
    const failed = (why: string) => {
      seen.punchFrom = offset + PUNCH_THRESHOLD_BYTES;
      result.warnings.push(`could not free consumed log bytes of ${rawPath(this.logsDir, w.key)}: ${why}`);
    };
    try {
      const r = await run('fallocate', ['--punch-hole', '--offset', '0', '--length', String(offset), '/dev/fd/3'], { stdio: ['ignore', 'pipe', 'pipe', w.fd] });
      if (r.code === 0) result.punched += allocatedConsumed;
      else failed(r.stderr.trim() || `fallocate exited with ${r.code ?? r.signal}`);
    } catch (e) {
      failed(e instanceof Error ? e.message : String(e));
    }
  }
}

/**
 * One drain by a short-lived pump (a CLI command, tests). A supervisor keeps one LogPump per
 * service instead, also for the final drain: only a pump that kept watching knows that lines
 * are recent; a fresh one marks what it finds approximate once its journal's last record is
 * more than a second old.
 */
export async function drainLogs(logsDir: string, opts: LogLimits & { final?: boolean }, now = new Date()): Promise<DrainResult> {
  const pump = new LogPump(logsDir, { maxBytes: opts.maxBytes, files: opts.files });
  try {
    return await pump.drain({ final: opts.final, now });
  } finally {
    pump.close();
  }
}
