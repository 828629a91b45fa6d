// Reads a file a user names (manifest.toml, --env-file) without trusting what it is: only a
// regular file, and at most a byte over a cap, so that a FIFO cannot block niso and /dev/zero
// cannot fill its memory. Piped stdin (a secret's value, a registry password) is read within a cap too.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** `bytes` holds at most maxBytes + 1 bytes: more than maxBytes means the file is too large. */
export type Bounded = { ok: true; bytes: Buffer } | { ok: false; what: 'a FIFO' | 'a directory' | 'a socket' | 'a device' };

/** Errors of open(2) itself (ENOENT, EACCES) are thrown as they are; the caller names the file. */
export function readRegularFile(path: string, maxBytes: number): Bounded {
  // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer, so fstat can refuse it.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, what: st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : 'a device' };
    // Not sized by st.size: /proc files say 0, and a file may grow while it is read.
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += got;
    return { ok: true, bytes: buf.subarray(0, n) };
  } finally {
    closeSync(fd);
  }
}

/** The first `bytes` bytes of a file (fewer when it is shorter): enough to tell ELF from a script. */
export function readHead(path: string, bytes: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(bytes);
    const n = readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Reads a stream (stdin) to its end or to one byte past the cap, whichever comes first, so that `< /dev/zero` ends. */
export async function readStreamBounded(stream: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    const b = typeof c === 'string' ? Buffer.from(c) : Buffer.from(c as Uint8Array);
    chunks.push(b);
    n += b.length;
    if (n > maxBytes) break;
  }
  return Buffer.concat(chunks);
}
