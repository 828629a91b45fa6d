// The tar stream of a volume backup, written by niso as it reads each file once: node-tar's header codec (ustar,
// with a pax header for what does not fit: long names, large ids, sizes or times) over staging buffers that files are
// read straight into and that are reused once the consumer (zstd's stdin) has taken them. Reading every byte once
// here, hashing it on the way, costs less than the host's tar reading it and niso reading it again to hash it.
import { Header, Pax } from 'tar';

const BLOCK = 512;

export interface BackupTarHeader {
  /** The name in the archive (`data/...`; a directory's ends with "/"). */
  path: string;
  type: 'File' | 'Directory' | 'SymbolicLink' | 'Link';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  linkpath?: string;
}

/** What the consumer is handed: a chunk, and a callback to call once it no longer needs the bytes. */
export type ChunkSink = (chunk: Buffer, release: () => void) => void;

export class BackupTarStream {
  private readonly pool: Buffer[] = [];
  private stage: Buffer;
  private used = 0;
  private readonly block = Buffer.alloc(BLOCK);
  /** Chunks handed on and not yet released. */
  inFlight = 0;

  constructor(private readonly sink: ChunkSink, private readonly chunkSize = 1024 * 1024) {
    this.stage = Buffer.allocUnsafe(chunkSize);
  }

  private emit(): void {
    if (this.used === 0) return;
    const full = this.stage;
    const n = this.used;
    this.inFlight++;
    this.stage = this.pool.pop() ?? Buffer.allocUnsafe(this.chunkSize);
    this.used = 0;
    this.sink(n === this.chunkSize ? full : full.subarray(0, n), () => { this.inFlight--; this.pool.push(full); });
  }

  private push(b: Buffer): void {
    for (let off = 0; off < b.length;) {
      if (this.used === this.chunkSize) this.emit();
      const n = b.copy(this.stage, this.used, off);
      this.used += n;
      off += n;
    }
  }

  /** Zero bytes: a file's padding to a whole block, or what a file that shrank while read lacks. */
  zeros(n: number): void {
    while (n > 0) {
      if (this.used === this.chunkSize) this.emit();
      const k = Math.min(n, this.chunkSize - this.used);
      this.stage.fill(0, this.used, this.used + k);
      this.used += k;
      n -= k;
    }
  }

  header(h: BackupTarHeader): void {
    this.block.fill(0);
    const header = new Header({ path: h.path, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, size: h.size, mtime: h.mtime, linkpath: h.linkpath ?? '', uname: '', gname: '' });
    if (header.encode(this.block, 0)) {
      this.push(new Pax({ path: h.path, linkpath: h.linkpath, uid: h.uid, gid: h.gid, size: h.size, mtime: h.mtime }).encode());
    }
    this.push(this.block);
  }

  /**
   * Reads file content from `read` straight into the stage: `read(buf, off, len)` fills at most len bytes and says
   * how many. Asks for one byte more than `left` where the stage has room, so that a file that grew shows at once.
   * Returns the bytes taken (at most `left`, to hash), whether the file had more, and whether it ended (a short read
   * of a regular file is its end).
   */
  readInto(read: (buf: Buffer, off: number, len: number) => number, left: number): { taken: Buffer; more: boolean; ended: boolean } {
    if (this.used === this.chunkSize) this.emit();
    const room = this.chunkSize - this.used;
    const want = Math.min(room, left + 1);
    const n = read(this.stage, this.used, want);
    const k = Math.min(n, left);
    const taken = this.stage.subarray(this.used, this.used + k);
    this.used += k;
    return { taken, more: n > left, ended: n < want };
  }

  /** Pads a file's content of `size` bytes to a whole block. */
  pad(size: number): void {
    this.zeros((BLOCK - (size % BLOCK)) % BLOCK);
  }

  /** A whole small entry: header and content. */
  entry(h: BackupTarHeader, data: Buffer): void {
    this.header({ ...h, size: data.length });
    this.push(data);
    this.pad(data.length);
  }

  /** The two zero blocks that end a tar, and what is staged. */
  end(): void {
    this.zeros(BLOCK * 2);
    this.emit();
  }
}
