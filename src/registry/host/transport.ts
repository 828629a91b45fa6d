// One HTTP exchange with a registry over node:http/https, answered in the shape of fetch's Response (status, headers,
// a web stream body): node's fetch loads its undici bundle on first use, which cost each push or pull as much as a
// whole round trip to a local registry. No redirects are followed and no body is decoded: http.ts decides both.
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { FileHandle } from 'node:fs/promises';
import type { TlsFiles } from './tls-files.js';

/** node:https (with tls and its CA store) loads only for an https registry: a plain-HTTP loopback registry never needs it. */
let https: Promise<typeof import('node:https')> | null = null;

/** What http.ts and client.ts read of an answer: the subset of fetch's Response they use. */
export interface Answer {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  /** Null for HEAD and answers without content (204, 304). */
  readonly body: ReadableStream<Uint8Array> | null;
}

/** Bytes of an open file sent as a request body (a blob upload): read into two reused buffers, see pipeFile. */
export interface FileBody {
  kind: 'file';
  fh: FileHandle;
  offset: number;
  length: number;
  /** Bytes handed to the socket so far. */
  onSent: (n: number) => void;
}

export interface Ask {
  method: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string | URLSearchParams | ReadableStream<Uint8Array> | FileBody;
  /** Aborts the exchange until the answer's headers are in (its reason is what the promise rejects with). */
  signal?: AbortSignal;
  /** For https: the host's own CAs and client certificate (tls-files.ts); node's defaults without. */
  tls?: TlsFiles | null;
}

/** As fetch reports a failed exchange: a TypeError whose cause is the socket's or TLS's own error (networkReason reads it). */
const failed = (message: string, cause: unknown) => Object.assign(new TypeError(message), { cause });

const USER_AGENT = 'niso';

/** Node's incoming message as a web stream that reads only as fast as its reader takes (backpressure). */
function bodyStream(msg: IncomingMessage): ReadableStream<Uint8Array> {
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(c) {
      msg.on('data', (chunk: Buffer) => {
        c.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((c.desiredSize ?? 0) <= 0) msg.pause();
      });
      msg.on('end', () => { if (!done) { done = true; c.close(); } });
      msg.on('error', (e) => { if (!done) { done = true; c.error(failed('terminated', e)); } });
      // A connection that closes before the answer is complete (a cut, a registry that stops) is an error, not an end.
      msg.on('close', () => { if (!done && !msg.complete) { done = true; c.error(failed('terminated', Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }))); } });
    },
    pull() { msg.resume(); },
    cancel() { done = true; msg.destroy(); },
  }, { highWaterMark: 4 });
}

/** Sends a streamed request body with backpressure; a failure of the source aborts the request. */
async function pipeBody(req: ClientRequest, body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      if (req.destroyed) { await reader.cancel().catch(() => undefined); return; }
      if (!req.write(r.value)) await new Promise<void>((ok) => { const go = () => { req.off('close', go); req.off('drain', go); ok(); }; req.once('drain', go); req.once('close', go); });
    }
    req.end();
  } catch (e) {
    req.destroy(e instanceof Error ? e : new Error(String(e)));
  } finally {
    reader.releaseLock();
  }
}

const PIECE = 1024 * 1024;
const isFileBody = (b: Ask['body']): b is FileBody => typeof b === 'object' && b !== null && (b as { kind?: unknown }).kind === 'file';

/**
 * Sends a file's bytes as the request body through two 1 MiB buffers, each read again only once the socket took what
 * it held (the write's callback): a fresh buffer per piece cost its page faults on every MiB (issue 16).
 */
async function pipeFile(req: ClientRequest, f: FileBody): Promise<void> {
  const bufs = [Buffer.allocUnsafe(Math.min(PIECE, f.length)), Buffer.allocUnsafe(Math.min(PIECE, f.length))] as const;
  const closed = new Promise<void>((ok) => req.once('close', () => ok()));
  const free: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  let sent = 0;
  try {
    for (let i = 0; sent < f.length; i ^= 1) {
      await free[i];
      if (req.destroyed) return;
      const buf = bufs[i]!;
      const { bytesRead } = await f.fh.read(buf, 0, Math.min(buf.length, f.length - sent), f.offset + sent);
      if (bytesRead === 0) throw new Error('the package file got shorter while it was sent');
      if (req.destroyed) return;
      free[i] = Promise.race([new Promise<void>((ok) => { req.write(buf.subarray(0, bytesRead), () => ok()); }), closed]);
      sent += bytesRead;
      f.onSent(sent);
    }
    req.end();
  } catch (e) {
    req.destroy(e instanceof Error ? e : new Error(String(e)));
  }
}

export async function exchange(url: string, ask: Ask): Promise<Answer> {
  const u = new URL(url);
  const make = u.protocol === 'https:' ? (await (https ??= import('node:https'))).request : httpRequest;
  const headers: Record<string, string> = { accept: '*/*', 'user-agent': USER_AGENT, ...(ask.headers ?? {}) };
  let body: Uint8Array | null = null;
  if (isFileBody(ask.body) && headers['content-length'] === undefined) headers['content-length'] = String(ask.body.length);
  if (ask.body instanceof URLSearchParams || typeof ask.body === 'string') body = Buffer.from(ask.body.toString());
  else if (ask.body instanceof Uint8Array) body = ask.body;
  if (body && headers['content-length'] === undefined) headers['content-length'] = String(body.length);
  if (!ask.body && headers['content-length'] === undefined && ask.method !== 'GET' && ask.method !== 'HEAD') headers['content-length'] = '0';
  return new Promise<Answer>((resolve, reject) => {
    let settled = false;
    const signal = ask.signal;
    const onAbort = () => { req.destroy(); if (!settled) { settled = true; reject(signal!.reason); } };
    if (signal?.aborted) { reject(signal.reason); return; }
    const req = make(u, { method: ask.method, headers, ...(u.protocol === 'https:' && ask.tls ? ask.tls : {}) });
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('response', (msg) => {
      signal?.removeEventListener('abort', onAbort);
      if (settled) { msg.destroy(); return; }
      settled = true;
      const empty = ask.method === 'HEAD' || msg.statusCode === 204 || msg.statusCode === 304;
      if (empty) msg.resume();
      const h = msg.headersDistinct;
      resolve({
        status: msg.statusCode ?? 0,
        headers: { get: (name) => { const v = h[name.toLowerCase()]; return v === undefined ? null : v.join(', '); } },
        body: empty ? null : bodyStream(msg),
      });
    });
    req.on('error', (e) => {
      signal?.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      reject(failed('fetch failed', e));
    });
    if (ask.body instanceof ReadableStream) void pipeBody(req, ask.body);
    else if (isFileBody(ask.body)) void pipeFile(req, ask.body);
    else req.end(body ?? undefined);
  });
}
