// The distribution API of one repository over RegistryHttp: blobs (HEAD first, monolithic or chunked upload that
// resumes from the registry's own count, downloads that resume with Range and are hashed as they arrive),
// manifests (bounded, checked against their digest), tags (bounded pages) and referrers (the API, else the fallback
// tag that distribution 2.8, Docker Hub and GHCR need).
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { NisoError } from '../../errors/niso-error.js';
import { MANIFEST_ACCEPT, MT } from '../media.js';
import { nextLink, ociErrors, uploadOffset } from '../headers.js';
import { parseDocument, sha256, withReferrer, type Built, type Descriptor, type Document, type ImageIndex } from '../manifest.js';
import { DIGEST, referrersTag } from '../reference.js';
import { networkReason, readBody, type Answer, type RegistryHttp } from './http.js';

/** Pauses before a manifest PUT is sent again when the registry does not see the blobs it names yet (putManifest). */
const MANIFEST_BLOB_RETRIES = [200, 500, 1500];

/** Manifests, indexes and tag pages above this are refused (distribution-spec asks registries for at least 4 MB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_TAG_PAGES = 100;

export interface TransferOptions {
  /** Blobs up to this size go in one PUT; larger ones in PATCH chunks. */
  monolithicMax?: number;
  chunkSize?: number;
  onProgress?: (done: number) => void;
  /**
   * Downloads: flush the file to disk before returning. Flushes run while the rest still arrives (one in flight,
   * every SYNC_EVERY bytes), so the last one waits only for the tail. Off for a download that is read once and
   * removed (an install makes what it keeps durable itself).
   */
  sync?: boolean;
  /**
   * Downloads: each run of bytes once written, with the offset it was written at (so a restart from 0, when the
   * registry ignores a Range, shows as an offset that goes back). The pieces are not reused: they may be kept.
   */
  onBytes?: (pieces: readonly Uint8Array[], at: number) => void;
}

const DEFAULT_MONOLITHIC = 64 * 1024 * 1024;
const DEFAULT_CHUNK = 32 * 1024 * 1024;
/** Reads and writes of blobs go in pieces this large: fewer round trips through the thread pool and the stream. */
const PIECE = 1024 * 1024;
const IDLE_MS = 60_000;
/** A download's written bytes are flushed in the background every this many bytes (with `sync`). */
const SYNC_EVERY = 8 * 1024 * 1024;
const RESTARTS = 3;

export class RegistryClient {
  constructor(readonly http: RegistryHttp, readonly repository: string, readonly registry: string) {}

  private get pull() { return `repository:${this.repository}:pull`; }
  private get push() { return `repository:${this.repository}:pull,push`; }
  private path(kind: 'blobs' | 'manifests' | 'tags' | 'referrers', ref = '') { return `/v2/${this.repository}/${kind}/${ref}`; }

  async blobExists(digest: string, forPush = false): Promise<boolean> {
    const res = await this.http.send({ method: 'HEAD', url: this.path('blobs', digest), scope: forPush ? this.push : this.pull, idempotent: true });
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.http.fail(res, `checking for blob ${digest}`);
  }

  private async startUpload(what: string): Promise<{ location: string; minChunk: number }> {
    const res = await this.http.send({ method: 'POST', url: this.path('blobs', 'uploads/'), scope: this.push, headers: { 'content-length': '0' }, idempotent: true });
    if (res.status !== 202) throw await this.http.fail(res, what);
    await res.body?.cancel().catch(() => undefined);
    const min = Number(res.headers.get('oci-chunk-min-length') ?? 0);
    return { location: await this.http.sameOriginUrl(res.headers.get('location'), what), minChunk: Number.isFinite(min) && min > 0 ? min : 0 };
  }

  /** How much of an upload session the registry holds, and its newest location; null when the session is gone. */
  private async uploadStatus(location: string): Promise<{ offset: number; location: string } | null> {
    let res: Answer;
    try { res = await this.http.send({ method: 'GET', url: location, scope: this.push, idempotent: true }); } catch { return null; }
    await res.body?.cancel().catch(() => undefined);
    if (res.status !== 204 && res.status !== 200) return null;
    const offset = uploadOffset(res.headers.get('range'));
    if (offset === null) return null;
    const loc = res.headers.get('location');
    return { offset, location: loc ? await this.http.sameOriginUrl(loc, 'resuming an upload') : location };
  }

  private async finishUpload(location: string, digest: string, body: { fh: FileHandle; offset: number; length: number; onSent: (n: number) => void } | null, what: string): Promise<void> {
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    const res = await this.http.send({
      method: 'PUT', url: u.href, scope: this.push,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(body?.length ?? 0) },
      ...(body ? { body: () => ({ kind: 'file' as const, fh: body.fh, offset: body.offset, length: body.length, onSent: body.onSent }) } : {}),
      timeoutMs: 10 * 60_000,
    });
    if (res.status !== 201 && res.status !== 204) {
      if (res.status === 400) {
        const err = await this.http.fail(res, what);
        if (/DIGEST_INVALID/.test(err.message)) throw new NisoError('NISO7010', `${what}: the registry received bytes whose digest is not ${digest}`, { hint: 'the package file changed while it was sent, or something between niso and the registry altered it; push again' });
        throw err;
      }
      throw await this.http.fail(res, what);
    }
    await res.body?.cancel().catch(() => undefined);
    const got = res.headers.get('docker-content-digest');
    if (got && got !== digest) throw new NisoError('NISO7010', `${what}: the registry stored ${got}, not ${digest}`, { hint: 'the registry or a proxy altered the bytes; push again' });
  }

  /**
   * Uploads a file as a blob: one PUT when small, PATCH chunks when large. A chunk whose connection drops is resumed
   * where the registry's upload status says it stands; a session the registry lost is started again (bounded).
   */
  async uploadFile(file: string, digest: string, size: number, opts: TransferOptions = {}): Promise<void> {
    const what = `uploading ${digest.slice(0, 19)}… to ${this.registry}/${this.repository}`;
    const fh = await open(file, 'r');
    try {
      for (let restart = 0; ; restart++) {
        try {
          await this.uploadOnce(fh, digest, size, what, opts);
          return;
        } catch (e) {
          if (!(e instanceof SessionLost) || restart + 1 >= RESTARTS) {
            if (e instanceof SessionLost) throw new NisoError('NISO7015', `${what}: the transfer kept failing (${e.message})`, { hint: 'check the network to the registry and try again; a push resumes nothing from an earlier run but skips blobs the registry already has' });
            throw e;
          }
          this.http.opts.warn(`${what}: ${e.message}; starting the upload again`);
          opts.onProgress?.(0);
          if (await this.blobExists(digest, true)) return;
        }
      }
    } finally {
      await fh.close();
    }
  }

  private async uploadOnce(fh: FileHandle, digest: string, size: number, what: string, opts: TransferOptions): Promise<void> {
    const started = await this.startUpload(what);
    let location = started.location;
    const monolithicMax = opts.monolithicMax ?? DEFAULT_MONOLITHIC;
    if (size <= monolithicMax) {
      try {
        await this.finishUpload(location, digest, { fh, offset: 0, length: size, onSent: (n) => opts.onProgress?.(n) }, what);
      } catch (e) {
        if (e instanceof NisoError && e.code !== 'NISO7001') throw e;
        throw new SessionLost(e instanceof NisoError ? e.message : networkReason(e));
      }
      return;
    }
    const chunk = Math.max(opts.chunkSize ?? DEFAULT_CHUNK, started.minChunk);
    let offset = 0;
    let failures = 0;
    while (offset < size) {
      const length = Math.min(chunk, size - offset);
      const at = offset;
      let res: Answer | null = null;
      let failure = '';
      try {
        res = await this.http.send({
          method: 'PATCH', url: location, scope: this.push,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(length), 'content-range': `${at}-${at + length - 1}` },
          body: () => ({ kind: 'file' as const, fh, offset: at, length, onSent: (n: number) => opts.onProgress?.(at + n) }),
          timeoutMs: 10 * 60_000,
        });
      } catch (e) {
        if (e instanceof NisoError && e.code !== 'NISO7001') throw e;
        failure = e instanceof NisoError ? e.message : networkReason(e);
      }
      if (res && res.status === 202) {
        await res.body?.cancel().catch(() => undefined);
        location = await this.http.sameOriginUrl(res.headers.get('location') ?? location, what);
        const held = uploadOffset(res.headers.get('range'));
        offset = held !== null && held > at ? held : at + length;
        failures = 0;
        continue;
      }
      if (res && res.status !== 416 && !(res.status >= 500)) throw await this.http.fail(res, what);
      if (res) { failure = `HTTP ${res.status}`; await res.body?.cancel().catch(() => undefined); }
      // The chunk did not arrive whole: ask the registry what it holds and go on from there.
      if (++failures > 5) throw new SessionLost(failure);
      const status = await this.uploadStatus(location);
      if (!status || status.offset > size) throw new SessionLost(`${failure}, and the registry no longer knows the upload`);
      this.http.opts.warn(`${what}: ${failure}; resuming at ${status.offset} of ${size} bytes`);
      location = status.location;
      offset = status.offset;
      opts.onProgress?.(offset);
    }
    try {
      await this.finishUpload(location, digest, null, what);
    } catch (e) {
      if (e instanceof NisoError && e.code !== 'NISO7001') throw e;
      if (await this.blobExists(digest, true)) return;
      throw new SessionLost(e instanceof NisoError ? e.message : networkReason(e));
    }
  }

  /** Uploads small bytes (the empty config, a signature envelope) unless the registry has them. */
  async ensureBlob(bytes: Buffer, digest: string): Promise<boolean> {
    if (await this.blobExists(digest, true)) return false;
    const what = `uploading ${digest.slice(0, 19)}… to ${this.registry}/${this.repository}`;
    const { location } = await this.startUpload(what);
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    const res = await this.http.send({ method: 'PUT', url: u.href, scope: this.push, headers: { 'content-type': 'application/octet-stream' }, body: () => new Uint8Array(bytes) });
    if (res.status !== 201 && res.status !== 204) throw await this.http.fail(res, what);
    await res.body?.cancel().catch(() => undefined);
    return true;
  }

  /** PUTs a manifest; whether the registry says it keeps referrers itself (OCI-Subject). */
  async putManifest(reference: string, m: Built): Promise<{ subjectHandled: boolean }> {
    const what = `pushing manifest ${m.digest.slice(0, 19)}… as ${this.registry}/${this.repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
    let res: Answer;
    for (let attempt = 0; ; attempt++) {
      res = await this.http.send({ method: 'PUT', url: this.path('manifests', reference), scope: this.push, headers: { 'content-type': m.descriptor.mediaType }, body: () => new Uint8Array(m.bytes), idempotent: true });
      if (res.status !== 400) break;
      // The blobs it names were uploaded (or found) just before. A registry may not see them yet: storage that is
      // eventually consistent, or distribution's filesystem driver while another push writes the same blob's link
      // (read half-written, it is "digest invalid"). Asked again after a pause, a few times; then the error stands.
      const text = (await readBody(res, 64 * 1024, what).catch(() => Buffer.alloc(0))).toString('utf8');
      const blobRace = ociErrors(text).some((e) => e.code === 'MANIFEST_BLOB_UNKNOWN' || e.code === 'DIGEST_INVALID' || e.code === 'BLOB_UNKNOWN');
      if (!blobRace || attempt >= MANIFEST_BLOB_RETRIES.length) throw await this.http.fail(res, what, text);
      await new Promise((r) => setTimeout(r, MANIFEST_BLOB_RETRIES[attempt]));
    }
    if (res.status !== 201 && res.status !== 200 && res.status !== 204) throw await this.http.fail(res, what);
    await res.body?.cancel().catch(() => undefined);
    const got = res.headers.get('docker-content-digest');
    if (got && got !== m.digest) throw new NisoError('NISO7011', `${what}: the registry stored the manifest as ${got}, not ${m.digest}`, { hint: 'the registry rewrote the manifest; niso needs registries that keep manifests byte for byte (OCI distribution-spec)' });
    return { subjectHandled: res.headers.get('oci-subject') !== null };
  }

  /** A manifest or index by tag or digest, or null when there is none; by digest, its bytes must hash to it. */
  async getManifest(reference: string, accept = MANIFEST_ACCEPT): Promise<{ bytes: Buffer; digest: string; contentType: string | null; doc: Document } | null> {
    const where = `${this.registry}/${this.repository}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
    const res = await this.http.send({ method: 'GET', url: this.path('manifests', reference), scope: this.pull, headers: { accept }, idempotent: true });
    if (res.status === 404) {
      const text = (await readBody(res, 64 * 1024, where).catch(() => Buffer.alloc(0))).toString('utf8');
      if (/NAME_UNKNOWN|MANIFEST_UNKNOWN|not found/i.test(text) || text === '') return null;
      throw new NisoError('NISO7003', `${where}: not found (${text.slice(0, 200)})`);
    }
    if (res.status !== 200) throw await this.http.fail(res, `reading ${where}`);
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, `reading ${where}`);
    const digest = sha256(bytes);
    if (DIGEST.test(reference) && digest !== reference) {
      throw new NisoError('NISO7011', `${where}: the registry served a manifest whose digest is ${digest}`, { hint: 'the registry (or something between it and niso) altered the manifest; nothing was installed' });
    }
    const contentType = res.headers.get('content-type');
    return { bytes, digest, contentType, doc: parseDocument(bytes, contentType, where) };
  }

  /** Every tag, following Link pages, within MAX_TAG_PAGES pages of at most MAX_MANIFEST_BYTES each. */
  async listTags(maxPages = MAX_TAG_PAGES): Promise<string[]> {
    const tags: string[] = [];
    let url: string | null = `${this.path('tags', 'list')}?n=1000`;
    const where = `listing the tags of ${this.registry}/${this.repository}`;
    for (let page = 0; url; page++) {
      if (page >= maxPages) throw new NisoError('NISO7009', `${where}: more than ${maxPages} pages of tags`, { hint: 'niso stops following a registry\'s pages there; a registry that never ends its list is broken or hostile' });
      const res: Answer = await this.http.send({ method: 'GET', url, scope: this.pull, idempotent: true });
      if (res.status === 404) { await res.body?.cancel().catch(() => undefined); if (page === 0) throw new NisoError('NISO7003', `${this.registry}/${this.repository}: no such repository`, { hint: 'check the name; repositories appear with their first push' }); break; }
      if (res.status !== 200) throw await this.http.fail(res, where);
      const body = await readBody(res, MAX_MANIFEST_BYTES, where);
      let j: { tags?: unknown };
      try { j = JSON.parse(body.toString('utf8')) as { tags?: unknown }; } catch { throw new NisoError('NISO7002', `${where}: the answer is not JSON`); }
      if (j.tags !== null && j.tags !== undefined) {
        if (!Array.isArray(j.tags)) throw new NisoError('NISO7002', `${where}: "tags" is not a list`);
        for (const t of j.tags) if (typeof t === 'string' && t.length <= 128) tags.push(t);
      }
      const base = new URL(url, await this.http.origin()).href;
      url = nextLink(res.headers.get('link'), base);
      if (url && new URL(url).origin !== new URL(base).origin) throw new NisoError('NISO7007', `${where}: the next page is on another host (${new URL(url).origin})`);
    }
    return tags;
  }

  /**
   * The referrers of a manifest with the given artifact type: the referrers API when the registry answers it with an
   * index, else the fallback tag (distribution-spec 1.1). Filtered here as well: a registry may ignore the filter.
   */
  async referrers(subject: string, artifactType: string): Promise<{ descriptors: Descriptor[]; via: 'api' | 'tag' }> {
    const where = `the referrers of ${subject.slice(0, 19)}…`;
    const res = await this.http.send({ method: 'GET', url: `${this.path('referrers', subject)}?artifactType=${encodeURIComponent(artifactType)}`, scope: this.pull, headers: { accept: MT.index }, idempotent: true });
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    if (res.status === 200 && type === MT.index) {
      const doc = parseDocument(await readBody(res, MAX_MANIFEST_BYTES, where), type, where);
      if (doc.kind !== 'index') throw new NisoError('NISO7038', `${where}: the registry's referrers answer is not an index`);
      return { descriptors: doc.index.manifests.filter((d) => d.artifactType === artifactType), via: 'api' };
    }
    await res.body?.cancel().catch(() => undefined);
    const index = await this.fallbackIndex(subject);
    // Copy tools that predate OCI 1.1 (skopeo 1.9) rewrite the index without the descriptors' artifactType: such an
    // entry is kept, and the caller checks the manifest it names.
    return { descriptors: (index?.manifests ?? []).filter((d) => d.artifactType === artifactType || d.artifactType === undefined), via: 'tag' };
  }

  private async fallbackIndex(subject: string): Promise<ImageIndex | null> {
    const tag = referrersTag(subject);
    // Accepting manifests too: something else under the tag is named as such, not taken for "no signatures".
    const got = await this.getManifest(tag);
    if (!got) return null;
    if (got.doc.kind !== 'index') throw new NisoError('NISO7038', `${this.registry}/${this.repository}:${tag} should hold the referrers of ${subject} as an index, but holds a manifest`, { hint: 'something else was pushed under this tag; remove it, then push the signature again' });
    return got.doc.index;
  }

  /**
   * Pushes a referrer (by digest). Without OCI-Subject in the answer, the registry keeps no referrers: the fallback
   * index is updated, re-read, and updated again when another client's write replaced ours (2.8 ignores If-Match).
   */
  async attachReferrer(m: Built, subject: string): Promise<'api' | 'tag'> {
    const { subjectHandled } = await this.putManifest(m.digest, m);
    if (subjectHandled) return 'api';
    const tag = referrersTag(subject);
    const entry: Descriptor = { ...m.descriptor, mediaType: MT.manifest };
    for (let attempt = 0; attempt < 5; attempt++) {
      const next = withReferrer(await this.fallbackIndex(subject), entry);
      if (next === null) return 'tag';
      await this.putManifest(tag, next);
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 200)));
    }
    const last = await this.fallbackIndex(subject);
    if (last?.manifests.some((d) => d.digest === m.digest)) return 'tag';
    throw new NisoError('NISO7002', `${this.registry}/${this.repository}:${tag}: the signature index kept being replaced by other writers`, { hint: 'push the signature again when no other push of this package runs' });
  }

  /** A small blob in memory (a signature envelope), at most `max` bytes, checked against its digest. */
  async getSmallBlob(digest: string, size: number, max: number): Promise<Buffer> {
    const where = `${this.registry}/${this.repository}@${digest}`;
    if (size > max) throw new NisoError('NISO7008', `${where}: ${size} bytes is more than the ${max} niso reads for it`);
    const res = await this.http.send({ method: 'GET', url: this.path('blobs', digest), scope: this.pull, idempotent: true });
    if (res.status !== 200) throw await this.http.fail(res, `reading ${where}`);
    const bytes = await readBody(res, max, `reading ${where}`);
    if (sha256(bytes) !== digest || bytes.length !== size) throw new NisoError('NISO7010', `${where}: the registry served bytes that do not match the digest`, { hint: 'the registry (or something between it and niso) altered the blob; nothing was installed' });
    return bytes;
  }

  /**
   * Downloads a blob into `dest` (created new), hashing as it goes; a dropped connection resumes with a Range
   * request. Never more than `size` bytes are written, and the whole must hash to `digest`.
   */
  async downloadBlob(digest: string, size: number, dest: string, opts: TransferOptions = {}): Promise<void> {
    const where = `${this.registry}/${this.repository}@${digest}`;
    const fh = await open(dest, 'wx', 0o600);
    // The flush in flight (with opts.sync) and how far the file was when it started.
    let flushing: Promise<void> | null = null;
    let flushedTo = 0;
    let flushError: unknown = null;
    try {
      let hash = createHash('sha256');
      let got = 0;
      let failures = 0;
      const flushSome = () => {
        if (!opts.sync || flushing || got - flushedTo < SYNC_EVERY) return;
        const at = got;
        // A write-back error is reported once per file: kept here and thrown by the final flush.
        flushing = fh.datasync().then(() => { flushedTo = at; }, (e: unknown) => { flushError ??= e; }).finally(() => { flushing = null; });
      };
      const tooMuch = () => new NisoError('NISO7010', `downloading ${where}: the registry sends more than the ${size} bytes the manifest names`, { hint: 'the registry (or something between it and niso) serves other bytes than the manifest describes; nothing was installed' });
      while (got < size || (got === 0 && size === 0)) {
        let res: Answer;
        try {
          res = await this.http.send({ method: 'GET', url: this.path('blobs', digest), scope: this.pull, headers: got > 0 ? { range: `bytes=${got}-` } : {}, idempotent: true });
        } catch (e) {
          if (!(e instanceof NisoError && e.code === 'NISO7001') || ++failures > 5) throw e;
          continue;
        }
        if (res.status === 200 && got > 0) {
          // The registry ignored the range: start over.
          await fh.truncate(0);
          hash = createHash('sha256');
          got = 0;
        } else if (res.status !== 200 && res.status !== 206) {
          throw await this.http.fail(res, `downloading ${where}`);
        }
        if (!res.body) throw new NisoError('NISO7002', `downloading ${where}: the answer has no body`);
        const reader = res.body.getReader();
        // Socket-sized pieces are gathered into PIECE-sized writes (one writev, no copy into a larger buffer: the copy
        // and its garbage were a tenth of a pull's CPU); what was received counts only once written.
        let pending: Uint8Array[] = [];
        let pendingBytes = 0;
        const flush = async () => {
          if (pendingBytes === 0) return;
          const pieces = pending;
          const length = pendingBytes;
          pending = [];
          pendingBytes = 0;
          const { bytesWritten } = await fh.writev(pieces, got);
          // A regular file takes a writev whole unless the disk is full; the rest is written plainly.
          if (bytesWritten < length) {
            const rest = Buffer.concat(pieces, length).subarray(bytesWritten);
            for (let at = 0; at < rest.length; ) at += (await fh.write(rest, at, rest.length - at, got + bytesWritten + at)).bytesWritten;
          }
          for (const p of pieces) hash.update(p);
          opts.onBytes?.(pieces, got);
          got += length;
          opts.onProgress?.(got);
          flushSome();
        };
        // One watchdog per answer rather than a timer per piece: a stalled registry gets the read cancelled.
        let lastRead = Date.now();
        let stalled = false;
        const watchdog = setInterval(() => { if (Date.now() - lastRead > IDLE_MS) { stalled = true; void reader.cancel(new Error('the registry stopped sending')).catch(() => undefined); } }, 1000);
        try {
          for (;;) {
            const r = await reader.read();
            lastRead = Date.now();
            if (stalled) throw new Error(`the registry stopped sending for ${IDLE_MS / 1000} s`);
            if (r.done) break;
            if (got + pendingBytes + r.value.length > size) throw tooMuch();
            pending.push(r.value);
            pendingBytes += r.value.length;
            if (pendingBytes >= PIECE) await flush();
          }
          await flush();
        } catch (e) {
          await flush().catch(() => undefined);
          await reader.cancel().catch(() => undefined);
          if (e instanceof NisoError) throw e;
          if (++failures > 5) throw new NisoError('NISO7015', `downloading ${where}: the transfer kept failing (${networkReason(e)})`, { hint: 'check the network to the registry and try again' });
          this.http.opts.warn(`downloading ${where}: ${networkReason(e)}; resuming at ${got} of ${size} bytes`);
          continue;
        } finally {
          clearInterval(watchdog);
          reader.releaseLock();
        }
        if (got < size) {
          if (++failures > 5) throw new NisoError('NISO7015', `downloading ${where}: the registry ended the blob after ${got} of ${size} bytes`);
          this.http.opts.warn(`downloading ${where}: the answer ended early; resuming at ${got} of ${size} bytes`);
          continue;
        }
        break;
      }
      const d = `sha256:${hash.digest('hex')}`;
      if (d !== digest) throw new NisoError('NISO7010', `downloading ${where}: the bytes hash to ${d}`, { hint: 'the registry (or something between it and niso) serves other bytes than the manifest describes; nothing was installed' });
      if (opts.sync) {
        await (flushing as Promise<void> | null);
        if (flushError) throw flushError;
        await fh.datasync();
      }
    } finally {
      await (flushing as Promise<void> | null);
      await fh.close();
    }
  }
}

/** An upload session that cannot go on: started again from the beginning (bounded). */
class SessionLost extends Error {}
