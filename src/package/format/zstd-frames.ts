// The compressed side of the .niso format: a package is zstd frames back to back and nothing else.
// The zstd CLI also decompresses gzip, xz and lz4 (even mixed into one file) and silently skips
// skippable frames, so the framing is checked here, on the bytes before zstd sees them.

export type FramingProblem = 'not-zstd' | 'outside' | 'truncated' | 'empty';

export class ZstdFramingError extends Error {
  constructor(readonly problem: FramingProblem, message: string) {
    super(message);
  }
}

const ZSTD_MAGIC = 0xfd2fb528;
const OTHER_FORMATS: [string, number[]][] = [
  ['gzip', [0x1f, 0x8b]], ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]], ['lz4', [0x04, 0x22, 0x4d, 0x18]],
  ['lzma', [0x5d, 0x00, 0x00]], ['bzip2', [0x42, 0x5a, 0x68]],
];
const DICT_ID_BYTES = [0, 1, 2, 4];

/** What the bytes at the start of `b` look like, for the error message. */
function describeStart(b: Buffer): string {
  if (b.length >= 4 && (b.readUInt32LE(0) & 0xfffffff0) === 0x184d2a50) return 'a zstd skippable frame';
  const hit = OTHER_FORMATS.find(([, magic]) => magic.every((m, i) => b[i] === m));
  return hit ? `${hit[0]}-compressed data` : 'data that is not a zstd frame';
}

/**
 * Follows zstd's frame format (RFC 8878: frame header, block headers, optional checksum) over
 * the bytes as they stream by, without decompressing: push() throws as soon as something other
 * than a zstd frame starts; end() throws if the input stopped inside a frame. Constant memory.
 */
export class ZstdFrameChecker {
  /** Bytes consumed so far, and where the header being gathered started. */
  private pos = 0;
  private headerAt = 0;
  private frames = 0;
  /** Header bytes gathered so far (magic, frame header, block header or checksum). */
  private head = Buffer.alloc(18);
  private have = 0;
  private need = 4;
  private state: 'magic' | 'descriptor' | 'frame-header' | 'block-header' | 'block' | 'checksum' = 'magic';
  private skip = 0;
  private checksum = false;
  private lastBlock = false;

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.state === 'block') {
        const n = Math.min(this.skip, chunk.length - off);
        off += n;
        this.pos += n;
        this.skip -= n;
        if (this.skip === 0) this.afterBlock();
        continue;
      }
      const n = Math.min(this.need - this.have, chunk.length - off);
      chunk.copy(this.head, this.have, off, off + n);
      this.have += n;
      off += n;
      this.pos += n;
      if (this.have === this.need) this.headerDone(this.headerAt);
    }
  }

  end(): void {
    if (this.state === 'magic' && this.have === 0) {
      if (this.frames === 0) throw new ZstdFramingError('empty', 'the file is empty');
      return;
    }
    throw new ZstdFramingError('truncated', `the file ends inside zstd frame ${this.frames + 1}`);
  }

  private expect(state: ZstdFrameChecker['state'], bytes: number): void {
    this.state = state;
    this.have = 0;
    this.need = bytes;
    this.headerAt = this.pos;
  }

  private headerDone(at: number): void {
    const h = this.head;
    switch (this.state) {
      case 'magic':
        if (h.readUInt32LE(0) !== ZSTD_MAGIC) {
          const what = describeStart(h.subarray(0, 4));
          if (this.frames === 0) throw new ZstdFramingError('not-zstd', `it starts with ${what}, not a zstd frame`);
          throw new ZstdFramingError('outside', `${what} follows the package's zstd frames (at byte ${at})`);
        }
        return this.expect('descriptor', 1);
      case 'descriptor': {
        const d = h[0]!;
        if (d & 0x08) throw new ZstdFramingError('not-zstd', `zstd frame ${this.frames + 1} has a reserved header bit set`);
        const single = (d & 0x20) !== 0;
        const fcs = [single ? 1 : 0, 2, 4, 8][d >> 6]!;
        this.checksum = (d & 0x04) !== 0;
        const rest = (single ? 0 : 1) + DICT_ID_BYTES[d & 0x03]! + fcs;
        if (rest === 0) return this.expect('block-header', 3);
        return this.expect('frame-header', rest);
      }
      case 'frame-header':
        return this.expect('block-header', 3);
      case 'block-header': {
        const bh = h[0]! | (h[1]! << 8) | (h[2]! << 16);
        this.lastBlock = (bh & 1) === 1;
        const type = (bh >> 1) & 3;
        if (type === 3) throw new ZstdFramingError('not-zstd', `zstd frame ${this.frames + 1} has a block of the reserved type (at byte ${at})`);
        // An RLE block stores its one byte; raw and compressed blocks store Block_Size bytes.
        this.skip = type === 1 ? 1 : bh >>> 3;
        this.expect('block', 0);
        if (this.skip === 0) this.afterBlock();
        return;
      }
      case 'checksum':
        return this.frameDone();
      default:
        return;
    }
  }

  private afterBlock(): void {
    if (!this.lastBlock) return this.expect('block-header', 3);
    if (this.checksum) return this.expect('checksum', 4);
    this.frameDone();
  }

  private frameDone(): void {
    this.frames++;
    this.expect('magic', 4);
  }
}
