// zstd streams through the host's zstd binary: Node 20 has no zstd, and the CLI is fast,
// multi-threaded and everywhere. Compression level and framing are pinned for determinism.
import type { Readable, Writable } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { spawnTool, missingTool } from './exec.js';

export interface ZstdProcess {
  child: ChildProcess;
  stdin: Writable;
  stdout: Readable;
  /** Resolves with zstd's stderr when it exits; rejects if it cannot start. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function start(args: string[], input?: string): ZstdProcess {
  const child = spawnTool('zstd', args, { stdio: [input === undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
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

export function decompressor(file: string): ZstdProcess {
  return start(['-q', '-d', '-c', '--no-progress', '--', file], file);
}

/** Compresses a small buffer in one go, with the same settings as compressor(). */
export async function compressBuffer(data: Buffer, level = 3): Promise<Buffer> {
  const z = compressor(level);
  const chunks: Buffer[] = [];
  z.stdout.on('data', (c: Buffer) => chunks.push(c));
  z.stdin.end(data);
  const r = await z.done;
  if (r.code !== 0) throw new Error(`zstd failed: ${r.stderr}`);
  return Buffer.concat(chunks);
}
