// zstd streams through the host's zstd binary: Node 20 has no zstd, and the CLI is fast,
// multi-threaded and everywhere. Compression level and framing are pinned for determinism.
import { createReadStream } from 'node:fs';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ChildProcess } from 'node:child_process';
import { spawnTool, missingTool } from './exec.js';

export interface ZstdProcess {
  child: ChildProcess;
  stdin: Writable;
  stdout: Readable;
  /** Resolves with zstd's stderr when it exits; rejects if it cannot start. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function start(args: string[]): ZstdProcess {
  const child = spawnTool('zstd', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res, rej) => {
    child.on('error', (e: NodeJS.ErrnoException) => rej(e.code === 'ENOENT' ? missingTool('zstd', e) : e));
    child.on('close', (code, signal) => res({ code, signal, stderr: stderr.trim() }));
  });
  return { child, stdin: child.stdin as Writable, stdout: child.stdout as Readable, done };
}

/** Level 3 like `zstd -3`; -T0 uses all cores and zstd's output does not depend on the thread count. */
export function compressor(level = 3): ZstdProcess {
  return start(['-q', '-c', `-${level}`, '-T0', '--no-progress']);
}

/** Sees every compressed byte before zstd does; push() or end() throws to refuse the input. */
export interface InputCheck { push(chunk: Buffer): void; end(): void }

export interface Decompression extends ZstdProcess {
  /**
   * Settles once the file has been fed to zstd: null, or why feeding stopped (the check's error,
   * or a read error). On an error zstd has been killed, so its output ends there.
   */
  fed: Promise<Error | null>;
  /** Stops reading and kills zstd: the caller has seen enough, or refused what it read. */
  stop(): void;
}

/**
 * Decompresses a file (or bytes as they arrive, e.g. a download) that niso feeds to zstd itself, through `check`:
 * zstd alone would also accept gzip, xz or lz4 and skip whatever hides in skippable frames.
 */
export function decompressor(input: string | Readable, check: InputCheck): Decompression {
  const z = start(['-q', '-d', '-c', '--no-progress']);
  const source = typeof input === 'string' ? createReadStream(input, { highWaterMark: 1024 * 1024 }) : input;
  let refused: Error | null = null;
  const gate = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try { check.push(chunk); cb(null, chunk); } catch (e) { refused = e as Error; cb(refused); }
    },
    flush(cb) {
      try { check.end(); cb(); } catch (e) { refused = e as Error; cb(refused); }
    },
  });
  let stopped = false;
  const stop = () => { stopped = true; source.destroy(); z.child.kill('SIGKILL'); };
  const fed = pipeline(source, gate, z.stdin).then(() => null, (e: Error) => {
    const why = refused ?? (stopped ? null : e);
    stop();
    return why;
  });
  return { ...z, fed, stop };
}
