// The tar layer of .niso files, on node-tar's own header codec (Header, Pax) but without a
// stream object per entry: packages hold tens of thousands of small files, and per-entry
// stream machinery cost more than the bytes themselves. The writer fills large buffers; the
// reader is a small state machine that turns decompressed chunks into entry events.
import { Header, Pax } from 'tar';

export type TarType = 'file' | 'directory' | 'symlink';

export interface TarHeader {
  path: string;
  type: TarType;
  mode: number;
  size?: number;
  linkpath?: string;
  mtime: Date;
}

const BLOCK = 512;
/** tar writers pad an archive with zeros to a whole record (GNU tar's default: 20 blocks). */
const RECORD = 20 * BLOCK;
const ZERO = Buffer.alloc(RECORD);
const TYPE_NAME: Record<TarType, 'File' | 'Directory' | 'SymbolicLink'> = { file: 'File', directory: 'Directory', symlink: 'SymbolicLink' };

/**
 * Builds a tar into 1 MiB staging buffers and hands each full one to `flush`. Bytes are copied
 * in, so callers may reuse their read buffers at once. A caller that gives a flushed buffer back
 * through `recycle` once it is written lets the next stage reuse it: fresh 1 MiB buffers for
 * 100 MB of files cost more in page faults and garbage collection than the copying itself.
 */
export class TarWriter {
  private stage: Buffer;
  private used = 0;
  private readonly free: Buffer[] = [];
  constructor(private readonly flush: (chunk: Buffer) => void, private readonly chunkSize = 1024 * 1024) {
    this.stage = Buffer.allocUnsafe(chunkSize);
  }

  /** Hands back a buffer `flush` received, once nothing reads it any more. */
  recycle(chunk: Buffer): void {
    if (chunk.buffer.byteLength === this.chunkSize && chunk.byteOffset === 0 && this.free.length < 16) this.free.push(Buffer.from(chunk.buffer, 0, this.chunkSize));
  }

  private push(b: Buffer): void {
    let off = 0;
    while (off < b.length) {
      const n = Math.min(b.length - off, this.chunkSize - this.used);
      b.copy(this.stage, this.used, off, off + n);
      this.used += n;
      off += n;
      if (this.used === this.chunkSize) this.emit();
    }
  }

  private zeros(n: number): void {
    if (n > 0) this.push(ZERO.subarray(0, n));
  }

  private emit(): void {
    if (this.used === 0) return;
    const full = this.used === this.chunkSize ? this.stage : this.stage.subarray(0, this.used);
    this.stage = this.free.pop() ?? Buffer.allocUnsafe(this.chunkSize);
    this.used = 0;
    this.flush(full);
  }

  /** Adds an entry header (and the content, if given); owner 0:0 without names. */
  add(h: TarHeader, data?: Buffer): void {
    const size = h.type === 'file' ? (data?.length ?? h.size ?? 0) : 0;
    const header = new Header({ path: h.path, mode: h.mode, uid: 0, gid: 0, size, mtime: h.mtime, type: TYPE_NAME[h.type], linkpath: h.linkpath ?? '', uname: '', gname: '' });
    const block = Buffer.alloc(BLOCK);
    // Names that do not fit ustar's fields go into a pax extended header first.
    if (header.encode(block, 0)) this.push(new Pax({ path: h.path, linkpath: h.linkpath }).encode());
    this.push(block);
    if (data) {
      this.push(data);
      this.zeros((BLOCK - (size % BLOCK)) % BLOCK);
    }
  }

  /** Starts a file whose content follows through `data()` calls (files too big to hold). */
  addStreamed(h: TarHeader & { size: number }): { data(chunk: Buffer): void; end(): void } {
    this.add({ ...h, type: 'file' });
    let written = 0;
    return {
      data: (chunk) => { written += chunk.length; if (written > h.size) throw new Error(`${h.path} grew while being packed`); this.push(chunk); },
      end: () => {
        if (written !== h.size) throw new Error(`${h.path}: wrote ${written} bytes, header says ${h.size}`);
        this.zeros((BLOCK - (h.size % BLOCK)) % BLOCK);
      },
    };
  }

  /** Hands on what is staged; with `endArchive`, first adds the two zero blocks that end a tar. */
  finish(endArchive = true): void {
    if (endArchive) this.zeros(BLOCK * 2);
    this.emit();
  }
}

/** One entry as read: its raw type name is kept so the caller can refuse what is not allowed. */
export interface ReadHeader {
  path: string;
  typeName: string;
  mode: number;
  size: number;
  linkpath: string;
  /** Numeric owner and modification time (ms), for readers that restore them (volume backups); packages ignore them. */
  uid: number;
  gid: number;
  mtimeMs: number;
}

export type TarEvent =
  | { kind: 'entry'; header: ReadHeader }
  | { kind: 'data'; chunk: Buffer }
  | { kind: 'entry-end' }
  | { kind: 'end' };

export class TarFormatError extends Error {}
/** Bytes after the archive's end beyond a record's zero padding: another archive, or a bomb. */
export class TarTrailingDataError extends TarFormatError {}

/**
 * Incremental tar parser: feed() decompressed chunks, get events. Pax extended headers ('x')
 * are applied to the entry they precede; anything else unusual is reported as its type name.
 */
export class TarReader {
  private pending: Buffer = Buffer.alloc(0);
  private remaining = 0; // data bytes left in the current entry
  private padding = 0;
  private inEntry = false;
  private paxBody: Buffer[] | null = null;
  private paxLeft = 0;
  private ex: Record<string, unknown> | undefined;
  private zeroBlocks = 0;
  /** Bytes fed before the current chunk, and how far zero padding may go after the end. */
  private fed = 0;
  private archiveEnd = 0;
  private paddingEnd = 0;
  done = false;

  *feed(chunk: Buffer): Generator<TarEvent> {
    // A header cut by the chunk boundary is completed from the chunk's first bytes alone: joining the whole chunk
    // to it copied every chunk once more.
    const need = BLOCK - this.pending.length;
    if (!this.done && this.pending.length > 0 && chunk.length > need) {
      yield* this.feedOne(chunk.subarray(0, need));
      yield* this.feedOne(chunk.subarray(need));
      return;
    }
    yield* this.feedOne(chunk);
  }

  private *feedOne(chunk: Buffer): Generator<TarEvent> {
    if (this.done) {
      this.checkAfterEnd(chunk, this.fed);
      this.fed += chunk.length;
      return;
    }
    const start = this.fed - this.pending.length;
    this.fed += chunk.length;
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    while (off < buf.length && !this.done) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, buf.length - off);
        const piece = buf.subarray(off, off + take);
        off += take;
        this.remaining -= take;
        if (this.paxBody) this.paxBody.push(piece);
        else yield { kind: 'data', chunk: piece };
        if (this.remaining === 0) {
          if (this.paxBody) this.finishPax();
          else if (this.inEntry) { this.inEntry = false; yield { kind: 'entry-end' }; }
        }
        continue;
      }
      if (this.padding > 0) {
        const take = Math.min(this.padding, buf.length - off);
        off += take;
        this.padding -= take;
        continue;
      }
      if (buf.length - off < BLOCK) break;
      const block = buf.subarray(off, off + BLOCK);
      off += BLOCK;
      if (block.every((b) => b === 0)) {
        if (++this.zeroBlocks === 2) {
          this.done = true;
          this.archiveEnd = start + off;
          this.paddingEnd = Math.ceil(this.archiveEnd / RECORD) * RECORD;
          yield { kind: 'end' };
        }
        continue;
      }
      if (this.zeroBlocks > 0) throw new TarFormatError('a lone zero block inside the archive');
      let h: Header;
      try {
        h = new Header(block, 0, this.ex as never);
      } catch (e) {
        // node-tar throws on numbers it cannot represent (a base-256 size of 2^62).
        throw new TarFormatError(`an entry header cannot be read (${(e as Error).message})`);
      }
      const ex = this.ex as { path?: string; linkpath?: string } | undefined;
      const afterPax = ex !== undefined;
      this.ex = undefined;
      if (!h.cksumValid) throw new TarFormatError('a header checksum is wrong (the archive is damaged)');
      const size = h.size ?? 0;
      if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError('an entry has an invalid size');
      const typeName = String(h.type);
      if (typeName === 'ExtendedHeader') {
        if (size > 1024 * 1024) throw new TarFormatError('a pax header is larger than 1 MiB');
        // One per entry: pax headers in a row would be read without end and count against no limit.
        if (afterPax) throw new TarFormatError('two pax headers in a row');
        this.paxBody = [];
        this.paxLeft = size;
        this.remaining = size;
        this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
        if (size === 0) this.finishPax();
        continue;
      }
      // A pax path or link target is the whole name (POSIX): node-tar's decode would still put the ustar prefix before
      // the path, and read the link target from the ustar field after applying the pax one.
      const header: ReadHeader = { path: ex?.path ?? h.path ?? '', typeName, mode: h.mode ?? 0, size, linkpath: ex?.linkpath ?? h.linkpath ?? '', uid: h.uid ?? 0, gid: h.gid ?? 0, mtimeMs: h.mtime?.getTime() ?? 0 };
      yield { kind: 'entry', header };
      this.remaining = size;
      this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
      this.inEntry = true;
      if (size === 0) { this.inEntry = false; yield { kind: 'entry-end' }; }
    }
    if (this.done) {
      this.pending = Buffer.alloc(0);
      this.checkAfterEnd(buf.subarray(off), start + off);
    } else {
      // Less than one block: whole blocks and data are always consumed above.
      this.pending = off < buf.length ? Buffer.from(buf.subarray(off)) : Buffer.alloc(0);
    }
  }

  /**
   * After the two zero blocks only zeros up to the end of that tar record may follow (what tar
   * writers pad with); anything else is refused at once, never buffered.
   */
  private checkAfterEnd(rest: Buffer, at: number): void {
    if (rest.length === 0) return;
    const allowed = Math.max(0, Math.min(rest.length, this.paddingEnd - at));
    if (allowed === rest.length && rest.equals(ZERO.subarray(0, allowed))) return;
    throw new TarTrailingDataError(`data follows the end of the archive (at byte ${this.archiveEnd} of the tar); only zero padding up to a whole ${RECORD}-byte tar record may follow it`);
  }

  private finishPax(): void {
    const body = Buffer.concat(this.paxBody ?? []).toString('utf8');
    if (Buffer.byteLength(body) !== this.paxLeft) throw new TarFormatError('a pax header is truncated');
    this.paxBody = null;
    const p = Pax.parse(body, undefined, false);
    this.ex = { path: p.path, linkpath: p.linkpath, size: p.size };
  }

  /** Where the archive's end-of-archive blocks end (bytes from its start); the last entry ends 1024 bytes before. */
  get endOffset(): number | null {
    return this.done ? this.archiveEnd : null;
  }

  /** Whether the input ended cleanly (after the end-of-archive blocks). */
  get complete(): boolean {
    return this.done;
  }
}
