// How a service's raw output is cut into records and how records are stored in the journal.
// Shared by the pump and the reader: both must cut at the same places, because the reader
// recognises lines it already showed by their byte ranges in the raw files.
//
// The journal is text, one record per line:
//
//   #niso-journal 1 out=0@1234/1 err=0@1235/1      header: offset@inode/epoch in each raw file
//   2026-11-23T10:00:00.123Z o listening on :8080   record: time, stream (o|e), text
//   2026-11-23T10:00:00.123Z e~ warning: ...         `~`: the time is approximate (see the pump)
//   2026-11-23T10:00:00.123Z o+ <16 KiB of a line>   `+`: no newline ended this piece
//   #raw err=0@1240/2                                 a raw file was replaced or truncated
//
// Why text and not JSON lines: the text bytes are copied as they are (no escaping pass over
// every byte, invalid UTF-8 survives untouched), a record never contains a newline because
// lines are what we split on, the 24-character time makes parsing a fixed-offset slice, and
// the files stay readable with tail/grep. The journal also describes itself: the header says
// where in the raw files it starts, and every record's raw length is its text length plus the
// newline (unless `+`). So the journal's end tells exactly which raw bytes it holds, and an
// append is the whole commit: no second position file has to be kept in step with it.
// The epoch counts the times a stream's raw file started over (replaced, or truncated by the
// app), so raw offsets identify bytes uniquely as inode/epoch/offset.

export type StreamKey = 'out' | 'err';
export const STREAM_KEYS: readonly StreamKey[] = ['out', 'err'];
export const STREAM_NAMES: Record<StreamKey, 'stdout' | 'stderr'> = { out: 'stdout', err: 'stderr' };

/** Lines longer than this are stored as several records, so one record never needs unbounded memory. */
export const MAX_RECORD_TEXT = 16 * 1024;

const NL = 0x0a;
const TIME_LEN = 24; // 2026-11-23T10:00:00.123Z
const HEADER_MAGIC = '#niso-journal 1';
const HEADER_START = Buffer.from(`${HEADER_MAGIC} `);

/** One piece of raw output: text is [start, end); the next piece starts at `next` (end + 1 after a newline). */
export interface Piece { start: number; end: number; next: number }

/**
 * Cuts raw bytes into pieces at newlines, and lines longer than MAX_RECORD_TEXT every 16 KiB
 * (never inside a UTF-8 character). A line without its newline yet waits (it is not returned)
 * unless `final`. The cuts depend only on the bytes from a piece's start, so whoever splits
 * the same bytes from the same offset gets the same pieces, whether it saw them at once or not.
 */
export function splitLines(buf: Uint8Array, final: boolean): { pieces: Piece[]; consumed: number } {
  const pieces: Piece[] = [];
  const len = buf.length;
  let p = 0;
  while (p < len) {
    const nl = buf.indexOf(NL, p);
    const lineEnd = nl === -1 ? len : nl;
    while (lineEnd - p > MAX_RECORD_TEXT) {
      const cut = utf8Cut(buf, p);
      pieces.push({ start: p, end: cut, next: cut });
      p = cut;
    }
    if (nl !== -1) {
      pieces.push({ start: p, end: nl, next: nl + 1 });
      p = nl + 1;
    } else {
      if (final && len > p) { pieces.push({ start: p, end: len, next: len }); p = len; }
      break;
    }
  }
  return { pieces, consumed: p };
}

/** Where to cut a piece of at most MAX_RECORD_TEXT bytes from `p`: not before a UTF-8 continuation byte. */
function utf8Cut(buf: Uint8Array, p: number): number {
  let c = p + MAX_RECORD_TEXT;
  for (let back = 0; back < 3 && (buf[c]! & 0xc0) === 0x80; back++) c--;
  return (buf[c]! & 0xc0) === 0x80 ? p + MAX_RECORD_TEXT : c;
}

/** Where a journal stands in one raw file: its inode, how often the stream started over, the offset consumed. */
export interface RawPosition { ino: number; epoch: number; offset: number }

/** The identity of a raw file's bytes for as long as offsets in it only grow. */
export function rawId(p: { ino: number; epoch: number }): string {
  return `${p.ino}/${p.epoch}`;
}
export interface JournalState { out: RawPosition; err: RawPosition; lastTime: number | null }

export function emptyState(): JournalState {
  return { out: { ino: 0, epoch: 0, offset: 0 }, err: { ino: 0, epoch: 0, offset: 0 }, lastTime: null };
}

export function copyState(s: JournalState): JournalState {
  return { out: { ...s.out }, err: { ...s.err }, lastTime: s.lastTime };
}

const posText = (p: RawPosition) => `${p.offset}@${p.ino}/${p.epoch}`;

export function encodeHeader(s: JournalState): Buffer {
  return Buffer.from(`${HEADER_MAGIC} out=${posText(s.out)} err=${posText(s.err)}\n`);
}

/** The marker for a raw file that was replaced or truncated: its stream starts over at `p`. */
export function encodeRawMarker(key: StreamKey, p: RawPosition): Buffer {
  return Buffer.from(`#raw ${key}=${posText(p)}\n`);
}

/** The part of a record line before its text: `<time> <o|e>[~][+] `. */
export function recordPrefix(time: number, key: StreamKey, approximate: boolean, terminated: boolean): Buffer {
  return Buffer.from(`${new Date(time).toISOString()} ${key === 'out' ? 'o' : 'e'}${approximate ? '~' : ''}${terminated ? '' : '+'} `);
}

export interface JournalRecord {
  stream: StreamKey;
  time: number;
  approximate: boolean;
  /** false when the line continues in the next record (cut at 16 KiB) or the service ended mid-line. */
  terminated: boolean;
  text: Buffer;
  /** The raw bytes this record came from: rawId of the file and [start, end) in it. */
  id: string;
  start: number;
  end: number;
}

export interface WalkResult {
  /** Bytes of `buf` that were whole lines (the rest is a record still being written, or torn). */
  end: number;
  /** With `atFileStart`: whether the first line is a journal header, or not complete yet ('missing'). */
  header: 'ok' | 'missing' | 'bad';
}

// Records of one batch share their time and raw file: parse the time and build the id once.
const cachedTimeBytes = Buffer.alloc(TIME_LEN);
let cachedTime = Number.NaN;
let cachedIdOf: RawPosition | null = null;
let cachedIdIno = -1;
let cachedIdEpoch = -1;
let cachedId = '';

/**
 * Reads whole lines of a journal from `buf`, advancing `state` (where the journal stands in the
 * raw files) and calling `onRecord` for each record. Unknown `#` lines are skipped, so later
 * versions can add markers; lines that are not records are skipped too (they hold no raw bytes).
 */
export function walkJournal(buf: Buffer, state: JournalState, atFileStart: boolean, onRecord?: (r: JournalRecord) => void): WalkResult {
  let p = 0;
  if (atFileStart) {
    const nl = buf.indexOf(NL);
    if (nl === -1) return { end: 0, header: 'missing' };
    if (!buf.subarray(0, HEADER_MAGIC.length + 1).equals(HEADER_START)) return { end: 0, header: 'bad' };
  }
  while (p < buf.length) {
    const nl = buf.indexOf(NL, p);
    if (nl === -1) break;
    if (buf[p] === 0x23 /* # */) applyMarker(buf.toString('latin1', p, nl), state);
    else parseRecord(buf, p, nl, state, onRecord);
    p = nl + 1;
  }
  return { end: p, header: 'ok' };
}

function applyMarker(line: string, state: JournalState): void {
  for (const m of line.matchAll(/ (out|err)=(\d+)@(\d+)\/(\d+)/g)) {
    state[m[1] as StreamKey] = { offset: Number(m[2]), ino: Number(m[3]), epoch: Number(m[4]) };
  }
}

function parseRecord(buf: Buffer, p: number, nl: number, state: JournalState, onRecord?: (r: JournalRecord) => void): void {
  if (nl - p < TIME_LEN + 3 || buf[p + TIME_LEN] !== 0x20) return;
  const c = buf[p + TIME_LEN + 1];
  const key: StreamKey | null = c === 0x6f ? 'out' : c === 0x65 ? 'err' : null;
  if (key === null) return;
  let q = p + TIME_LEN + 2;
  let approximate = false;
  let terminated = true;
  for (; q < nl && buf[q] !== 0x20; q++) {
    if (buf[q] === 0x7e /* ~ */) approximate = true;
    else if (buf[q] === 0x2b /* + */) terminated = false;
  }
  if (q >= nl) return;
  const textStart = q + 1;
  if (buf.compare(cachedTimeBytes, 0, TIME_LEN, p, p + TIME_LEN) !== 0) {
    buf.copy(cachedTimeBytes, 0, p, p + TIME_LEN);
    cachedTime = Date.parse(cachedTimeBytes.toString('latin1'));
  }
  const time = cachedTime;
  if (Number.isNaN(time)) return;
  const pos = state[key];
  if (pos !== cachedIdOf || pos.ino !== cachedIdIno || pos.epoch !== cachedIdEpoch) {
    cachedIdOf = pos;
    cachedIdIno = pos.ino;
    cachedIdEpoch = pos.epoch;
    cachedId = rawId(pos);
  }
  const start = pos.offset;
  const end = start + (nl - textStart) + (terminated ? 1 : 0);
  pos.offset = end;
  state.lastTime = time;
  onRecord?.({ stream: key, time, approximate, terminated, text: buf.subarray(textStart, nl), id: cachedId, start, end });
}
