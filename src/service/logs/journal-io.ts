// Reading journal files in bounded chunks, for the pump (recovery) and the reader alike.
// Synchronous on purpose: each call is a pread of at most 1 MiB from the page cache, and a
// thread-pool round trip per chunk would cost more than the read.
import { readSync } from 'node:fs';
import { walkJournal, type JournalRecord, type JournalState, type WalkResult } from './journal-format.js';

export const CHUNK_BYTES = 1024 * 1024;

/** Reads [from, to) of an open file (fewer bytes if the file is shorter). */
export function readRange(fd: number, from: number, to: number): Buffer {
  const buf = Buffer.allocUnsafe(Math.max(0, to - from));
  let n = 0;
  while (n < buf.length) {
    const r = readSync(fd, buf, n, buf.length - n, from + n);
    if (r === 0) break;
    n += r;
  }
  return n === buf.length ? buf : buf.subarray(0, n);
}

/**
 * Walks the whole lines of a journal between `from` and `to`, advancing `state`. Returns the
 * offset after the last whole line. A record's text is only valid during `onRecord`.
 */
export function walkFile(fd: number, from: number, to: number, state: JournalState, atFileStart: boolean, onRecord?: (r: JournalRecord) => void): WalkResult {
  let pos = from;
  let first = atFileStart;
  while (pos < to) {
    const buf = readRange(fd, pos, Math.min(to, pos + CHUNK_BYTES));
    if (buf.length === 0) break;
    const w = walkJournal(buf, state, first, onRecord);
    if (first && w.header !== 'ok') return { end: from, header: w.header };
    first = false;
    // No whole line in a full chunk: not something the pump wrote (its lines are < 17 KiB).
    if (w.end === 0) break;
    pos += w.end;
  }
  return { end: pos, header: first ? 'missing' : 'ok' };
}
