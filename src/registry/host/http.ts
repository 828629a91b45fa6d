// One registry's HTTP, over node:http/https (transport.ts): HTTPS unless the host may speak plain HTTP (loopback, or marked insecure),
// Basic and Bearer auth answered from the 401 challenge, redirects followed by hand so that credentials never leave
// the registry's origin (nor go downgraded to http), 429/503 retried as Retry-After says (within a bound), and every
// body read with a cap. The distribution API itself (blobs, manifests, tags) is in client.ts.
import { NisoError } from '../../errors/niso-error.js';
import { hostName, isLoopback, isPrivateAddress } from '../reference.js';
import { ociErrors, parseChallenges, retryAfterMs, type Challenge } from '../headers.js';
import { exchange, type Answer, type Ask, type FileBody } from './transport.js';
import type { TlsFiles } from './tls-files.js';

export type { Answer };

/** Credentials for one registry, once found (host/credentials.ts); asked for only when a 401 needs them. */
export type Creds = { username: string; password: string } | { username: string; identityToken: string };

export interface HttpOptions {
  /** `host[:port]`, as in the reference (what the user sees). */
  registry: string;
  /** Where the API answers (Docker Hub's differs from its name). */
  apiHost: string;
  /** Plain HTTP is allowed (loopback, or marked insecure in registries.toml); awaited at the first request. */
  plainHttp: boolean | Promise<boolean>;
  credentials: () => Promise<Creds | null>;
  /** The CAs and client certificate of an https host (`HOST[:PORT]`), or null for node's defaults (tls-files.ts). */
  tlsFor?: (host: string) => Promise<TlsFiles | null>;
  /** Warnings for the user: Warning headers, waits, helpers that failed. */
  warn: (message: string) => void;
  /** Longest Retry-After niso waits for; longer is an error that says when to come back. */
  maxRetryAfterMs?: number;
  attempts?: number;
}

export interface Request {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A path on the registry (`/v2/…`) or an absolute URL the registry gave (an upload Location). */
  url: string;
  headers?: Record<string, string>;
  /** Called for each attempt: a body must be sent again after a 401 or a redirect. */
  body?: () => Uint8Array | ReadableStream<Uint8Array> | FileBody;
  /** The repository and actions a token must grant: `repository:NAME:pull` or `…:pull,push`. */
  scope: string;
  /** Retry network failures (only for requests that may be sent twice). */
  idempotent?: boolean;
  /** Bound on waiting for the answer's headers; bodies have their own idle bound (readBody). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT = 60_000;
const MAX_REDIRECTS = 5;

export const registryUnreachable = (registry: string, why: string, cause?: unknown) =>
  new NisoError('NISO7001', `cannot reach the registry ${registry}: ${why}`, { cause, hint: 'check the host name and port, that the registry runs, and the network (proxies are not used: niso does not go through HTTP(S)_PROXY)' });

/** What went wrong in a fetch, in words: node's "fetch failed" hides it in `cause`. */
export function networkReason(e: unknown): string {
  const c = (e as { cause?: { code?: string; message?: string } }).cause;
  if ((e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError') return 'timed out';
  return c?.code ? `${c.code}${c.message && !c.message.includes(c.code) ? ` (${c.message.split('\n')[0]})` : ''}` : (e as Error).message;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The error of an unexpected answer; `what` says what niso was doing. The body is read within a small bound. */
export async function httpError(res: Answer, what: string, registry: string, bodyText?: string): Promise<NisoError> {
  const text = bodyText ?? (res.status === 404 || res.status >= 400 ? await readBody(res, 64 * 1024, what).then((b) => b.toString('utf8'), () => '') : '');
  const errs = ociErrors(text);
  const detail = errs.length > 0 ? errs.map((e) => `${e.code}${e.message ? `: ${e.message}` : ''}`).join('; ') : `HTTP ${res.status}`;
  if (res.status === 401) return new NisoError('NISO7004', `${what}: ${registry} refused the credentials (${detail})`, { hint: `log in with \`niso login ${registry}\`, or pass --creds USER:PASSWORD` });
  if (res.status === 403) return new NisoError('NISO7005', `${what}: ${registry} denied access (${detail})`, { hint: 'the account has no permission for this repository; ask the registry\'s owner' });
  if (res.status === 404) return new NisoError('NISO7003', `${what}: not found on ${registry} (${detail})`, { hint: 'check the repository and tag; `niso tags HOST/REPOSITORY` lists the tags' });
  if (res.status === 429) return new NisoError('NISO7014', `${what}: ${registry} limits the request rate (${detail})`, { hint: 'wait and try again, or log in (registries allow more requests to accounts)' });
  return new NisoError('NISO7002', `${what}: ${registry} answered ${detail}`, { hint: 'the registry refused the request; its log may say more' });
}

/** Reads a whole body, refusing one larger than `max` (declared or actual) without reading past the cap. */
export async function readBody(res: Answer, max: number, what: string, idleMs = DEFAULT_TIMEOUT): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  const tooLarge = () => new NisoError('NISO7008', `${what}: the registry's answer is larger than ${max} bytes`, { hint: 'niso bounds what it reads from a registry; a manifest or tag list this large is broken or hostile' });
  if (Number.isFinite(declared) && declared > max) { await res.body?.cancel().catch(() => undefined); throw tooLarge(); }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let n = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([reader.read(), new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new NisoError('NISO7015', `${what}: the registry stopped sending for ${idleMs / 1000} s`)), idleMs); })]).finally(() => clearTimeout(timer));
      if (r.done) break;
      n += r.value.length;
      if (n > max) throw tooLarge();
      chunks.push(Buffer.from(r.value));
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw e;
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks);
}

interface TokenEntry { token: string; expires: number }

export class RegistryHttp {
  private base: string | null = null;
  private basic = false;
  private tokens = new Map<string, TokenEntry>();
  private creds: Promise<Creds | null> | null = null;
  /** Requests sent, by method: what a push or pull cost (its --json reports it). */
  readonly sent = { requests: 0, retries: 0 };

  constructor(readonly opts: HttpOptions) {}

  /** The origin niso talks to, chosen by the first request: https, else http where allowed. */
  async origin(): Promise<string> {
    if (this.base) return this.base;
    const plainHttp = await this.opts.plainHttp;
    if (plainHttp && isLoopback(this.opts.apiHost)) {
      // A loopback registry is asked over plain HTTP first: the https attempt that fails on the common local registry
      // costs node's TLS modules and its CA store (60–110 ms of CPU per push or pull, issue 16). Only a registry's own
      // answer to /v2/ (200, or 401 asking for credentials) keeps it; a TLS port answers plain HTTP with a 400 or a
      // reset, and is then asked over https as any other host.
      const http = `http://${this.opts.apiHost}`;
      const r = await this.fetchOnce(`${http}/v2/`, { method: 'GET', signal: AbortSignal.timeout(15_000) }).catch(() => null);
      await r?.body?.cancel().catch(() => undefined);
      if (r && (r.status === 200 || r.status === 401)) { this.base = http; return http; }
    }
    const https = `https://${this.opts.apiHost}`;
    try {
      await this.fetchOnce(`${https}/v2/`, { method: 'GET', signal: AbortSignal.timeout(15_000) }).then((r) => r.body?.cancel());
      this.base = https;
    } catch (e) {
      const reason = networkReason(e);
      // A certificate niso cannot check is a TLS registry: falling back to http would only meet its 400.
      if (e instanceof NisoError) throw e;
      // A registry that wants a client certificate ends the handshake with an alert (TLS 1.3: "certificate required").
      if (/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA/i.test(reason)) {
        throw new NisoError('NISO7001', `cannot reach the registry ${this.opts.registry}: it refused the TLS handshake, as a registry that asks for a client certificate does (${reason})`, { cause: e, hint: `put the client certificate and its key in /etc/niso/certs.d/${this.opts.apiHost}/ as client.cert and client.key (the layout of /etc/docker/certs.d)` });
      }
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/i.test(reason)) {
        throw new NisoError('NISO7001', `cannot reach the registry ${this.opts.registry}: its TLS certificate is not trusted (${reason})`, { cause: e, hint: `a registry with a certificate of a private CA needs that CA in /etc/niso/certs.d/${this.opts.apiHost}/ca.crt (or, for every registry, in NODE_EXTRA_CA_CERTS=/path/ca.pem); check that the name matches the certificate` });
      }
      const tlsTalk = /SSL|TLS|EPROTO|wrong version|ECONNRESET/i.test(reason);
      if (!plainHttp) {
        if (tlsTalk) {
          throw new NisoError('NISO7006', `${this.opts.registry} does not speak HTTPS (${reason}), and niso uses plain HTTP only for loopback hosts and registries marked insecure`, {
            hint: `if this registry is meant to be reached over plain HTTP, add it to /etc/niso/registries.toml:\n  [registries."${this.opts.registry}"]\n  insecure = true\n(credentials are still never sent over plain HTTP to a host that is not loopback)`,
          });
        }
        throw registryUnreachable(this.opts.registry, reason, e);
      }
      const http = `http://${this.opts.apiHost}`;
      try {
        await this.fetchOnce(`${http}/v2/`, { method: 'GET', signal: AbortSignal.timeout(15_000) }).then((r) => r.body?.cancel());
      } catch (e2) {
        throw registryUnreachable(this.opts.registry, `https: ${reason}; http: ${networkReason(e2)}`, e2);
      }
      this.base = http;
    }
    return this.base;
  }

  /** Whether credentials may go to this origin: https, or plain http to a loopback host. */
  private mayAuthenticate(url: URL): boolean {
    return url.protocol === 'https:' || isLoopback(url.host);
  }

  private async credentials(): Promise<Creds | null> {
    this.creds ??= this.opts.credentials();
    return this.creds;
  }

  /** The error of an unexpected answer; a 401 says whether niso had credentials to offer at all. */
  /** `bodyText`: the answer's body when the caller read it already (to look at its error codes first). */
  async fail(res: Answer, what: string, bodyText?: string): Promise<NisoError> {
    if (res.status === 401 && (this.creds === null || (await this.creds) === null)) {
      await res.body?.cancel().catch(() => undefined);
      return new NisoError('NISO7004', `${what}: ${this.opts.registry} needs credentials, and niso found none for it`, {
        hint: `log in with \`niso login ${this.opts.registry}\` (or \`docker login\`, \`podman login\`: niso reads their files), or pass --creds USER:PASSWORD`,
      });
    }
    return httpError(res, what, this.opts.registry, bodyText);
  }

  private async fetchOnce(url: string, ask: Ask): Promise<Answer> {
    this.sent.requests++;
    const tls = this.opts.tlsFor && url.startsWith('https:') ? await this.opts.tlsFor(new URL(url).host) : null;
    return exchange(url, tls ? { ...ask, tls } : ask);
  }

  /** The Authorization header niso already has for this scope (a cached token, or Basic once the registry asked for it). */
  private async knownAuth(scope: string, url: URL): Promise<string | null> {
    if (!this.mayAuthenticate(url)) return null;
    const t = this.tokens.get(scope);
    if (t && t.expires > Date.now() + 5_000) return `Bearer ${t.token}`;
    if (this.basic) {
      const c = await this.credentials();
      if (c && 'password' in c) return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    }
    return null;
  }

  /** Answers a 401: Basic with the credentials, or a Bearer token from the realm. False: nothing more to try. */
  private async authenticate(res: Answer, scope: string, url: URL, tried: boolean): Promise<boolean> {
    if (tried) return false;
    const challenges = parseChallenges(res.headers.get('www-authenticate') ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (!this.mayAuthenticate(url)) {
      throw new NisoError('NISO7006', `${this.opts.registry} asks for credentials over plain HTTP, and niso sends credentials over plain HTTP only to loopback hosts`, { hint: 'serve the registry over HTTPS (or reach it through an SSH tunnel to 127.0.0.1)' });
    }
    if (bearer) {
      const token = await this.fetchToken(bearer, scope, url);
      this.tokens.set(scope, token);
      return true;
    }
    if (basic) {
      const c = await this.credentials();
      if (!c || !('password' in c)) return false;
      this.basic = true;
      return true;
    }
    return false;
  }

  /** A token from the realm of a Bearer challenge (distribution's token protocol; OAuth2 POST for identity tokens). */
  private async fetchToken(ch: Challenge, scope: string, registryUrl: URL): Promise<TokenEntry> {
    const realmText = ch.params.realm ?? '';
    let realm: URL;
    try { realm = new URL(realmText); } catch { throw this.realmError(realmText, 'it is not a URL'); }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw this.realmError(realmText, `its scheme is ${realm.protocol}`);
    if (registryUrl.protocol === 'https:' && realm.protocol === 'http:') throw this.realmError(realmText, 'it is plain http for an https registry');
    if (isPrivateAddress(realm.hostname) && realm.hostname.replace(/^\[|\]$/g, '') !== hostName(registryUrl.host)) throw this.realmError(realmText, 'it points at a private or loopback address that is not the registry\'s own host');
    if (realm.username || realm.password) throw this.realmError(realmText, 'it carries credentials');
    const scopes = ch.params.scope ? ch.params.scope.split(' ') : scope ? [scope] : [];
    const c = await this.credentials();
    const credsAllowed = realm.protocol === 'https:' || isLoopback(realm.host);
    const service = ch.params.service;
    let res: Answer;
    try {
      if (c && 'identityToken' in c && credsAllowed) {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.identityToken, client_id: 'niso', ...(service ? { service } : {}), ...(scopes.length ? { scope: scopes.join(' ') } : {}) });
        res = await this.fetchOnce(realm.href, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' }, signal: AbortSignal.timeout(DEFAULT_TIMEOUT) });
      } else {
        const q = new URL(realm.href);
        if (service) q.searchParams.set('service', service);
        for (const s of scopes) q.searchParams.append('scope', s);
        if (c && 'password' in c) q.searchParams.set('account', c.username);
        const headers: Record<string, string> = {};
        if (c && 'password' in c && credsAllowed) headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
        res = await this.fetchOnce(q.href, { method: 'GET', headers, signal: AbortSignal.timeout(DEFAULT_TIMEOUT) });
      }
    } catch (e) {
      throw new NisoError('NISO7016', `cannot reach the token service of ${this.opts.registry} at ${realm.origin}: ${networkReason(e)}`, { cause: e });
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new NisoError('NISO7004', `the token service of ${this.opts.registry} refused ${c ? `the credentials of ${c.username || 'the identity token'}` : 'anonymous access'} (HTTP ${res.status})`, { hint: `log in with \`niso login ${this.opts.registry}\`, or pass --creds USER:PASSWORD` });
    }
    if (res.status !== 200) throw await httpError(res, `asking ${realm.origin} for a token`, this.opts.registry);
    const body = await readBody(res, 1024 * 1024, 'the token answer');
    let j: Record<string, unknown>;
    try { j = JSON.parse(body.toString('utf8')) as Record<string, unknown>; } catch { throw new NisoError('NISO7016', `the token service of ${this.opts.registry} answered something that is not JSON`); }
    const token = typeof j.token === 'string' ? j.token : typeof j.access_token === 'string' ? j.access_token : '';
    if (!token || /[\r\n]/.test(token)) throw new NisoError('NISO7016', `the token service of ${this.opts.registry} answered without a token`);
    const expiresIn = typeof j.expires_in === 'number' && j.expires_in > 0 ? j.expires_in : 60;
    return { token, expires: Date.now() + expiresIn * 1000 };
  }

  private realmError(realm: string, why: string): NisoError {
    return new NisoError('NISO7016', `${this.opts.registry} names a token service niso does not use: "${realm.slice(0, 200)}": ${why}`, { hint: 'a registry may send niso\'s credentials only to its own token service over https; this looks like a misconfigured or hostile registry' });
  }

  /**
   * Sends a request: authentication, redirects (Authorization dropped on another origin, https never downgraded),
   * and waits on 429/502/503/504 as Retry-After says. The answer may have any status; the caller reads it.
   */
  async send(req: Request): Promise<Answer> {
    const origin = await this.origin();
    const attempts = this.opts.attempts ?? 5;
    const maxWait = this.opts.maxRetryAfterMs ?? 60_000;
    let delay = 500;
    for (let attempt = 1; ; attempt++) {
      let res: Answer;
      try {
        res = await this.sendOnce(req, origin);
      } catch (e) {
        if (e instanceof NisoError || !req.idempotent || attempt >= attempts) {
          if (e instanceof NisoError) throw e;
          throw registryUnreachable(this.opts.registry, `${req.method} ${pathOf(req.url)}: ${networkReason(e)}`, e);
        }
        this.sent.retries++;
        await sleep(delay);
        delay = Math.min(delay * 2, 8_000);
        continue;
      }
      if ((res.status === 429 || res.status === 502 || res.status === 503 || res.status === 504) && attempt < attempts) {
        const after = retryAfterMs(res.headers.get('retry-after'), Date.now());
        if (after !== null && after > maxWait) return res;
        const wait = after ?? delay;
        delay = Math.min(delay * 2, 8_000);
        await res.body?.cancel().catch(() => undefined);
        if (wait >= 1000) this.opts.warn(`${this.opts.registry} answered ${res.status}${res.status === 429 ? ' (too many requests)' : ''}; trying again in ${Math.round(wait / 1000)} s`);
        this.sent.retries++;
        await sleep(wait);
        continue;
      }
      return res;
    }
  }

  private async sendOnce(req: Request, origin: string): Promise<Answer> {
    let url = new URL(req.url, origin);
    let method: string = req.method;
    let withBody = req.body !== undefined;
    let sameOrigin = true;
    let triedAuth = false;
    for (let hop = 0; ; ) {
      const headers: Record<string, string> = { ...(req.headers ?? {}) };
      if (sameOrigin) {
        const auth = await this.knownAuth(req.scope, url);
        if (auth) headers.authorization = auth;
      }
      // The bound is on the answer's headers only: a body (a large blob) is read under its own idle bound.
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new DOMException('no answer in time', 'TimeoutError')), req.timeoutMs ?? DEFAULT_TIMEOUT);
      const init: Ask = { method, headers, signal: ac.signal };
      if (withBody) init.body = req.body!();
      let res: Answer;
      try { res = await this.fetchOnce(url.href, init); } finally { clearTimeout(timer); }
      for (const w of res.headers.get('warning')?.split(/,(?=\s*\d{3}\s)/) ?? []) {
        const m = /^\s*299\s+\S+\s+"((?:[^"\\]|\\.)*)"/.exec(w);
        if (m) this.opts.warn(`${this.opts.registry}: ${m[1]!.slice(0, 300)}`);
      }
      if (res.status === 401 && sameOrigin) {
        await res.body?.cancel().catch(() => undefined);
        if (await this.authenticate(res, req.scope, url, triedAuth)) { triedAuth = true; continue; }
        return res;
      }
      if ([301, 302, 303, 307, 308].includes(res.status)) {
        const loc = res.headers.get('location');
        await res.body?.cancel().catch(() => undefined);
        if (!loc) return res;
        if (++hop > MAX_REDIRECTS) throw new NisoError('NISO7007', `${this.opts.registry}: more than ${MAX_REDIRECTS} redirects for ${req.method} ${pathOf(req.url)}`, { hint: 'the registry (or a proxy in front of it) sends requests in a loop' });
        const next = new URL(loc, url);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new NisoError('NISO7007', `${this.opts.registry} redirected to a ${next.protocol} URL`);
        if (url.protocol === 'https:' && next.protocol === 'http:') throw new NisoError('NISO7007', `${this.opts.registry} redirected from https to plain http (${next.origin})`, { hint: 'niso never downgrades a connection; this registry is misconfigured or hostile' });
        // Credentials belong to the registry's origin alone (distribution-spec; GHSA-vh4v-2xq2-g5cg).
        if (next.origin !== new URL(origin).origin) sameOrigin = false;
        if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) { method = method === 'HEAD' ? 'HEAD' : 'GET'; withBody = false; }
        url = next;
        continue;
      }
      return res;
    }
  }

  /** An upload Location resolved against the registry, refused if it leaves the registry's origin. */
  async sameOriginUrl(location: string | null, what: string): Promise<string> {
    const origin = await this.origin();
    if (!location) throw new NisoError('NISO7002', `${what}: ${this.opts.registry} gave no upload location`);
    const u = new URL(location, origin);
    if (u.origin !== new URL(origin).origin) {
      throw new NisoError('NISO7007', `${what}: ${this.opts.registry} wants the upload sent to another host (${u.origin}); niso does not send a package or credentials there`, { hint: 'a registry that spreads uploads over other hosts is not supported; this may also be a hostile registry' });
    }
    return u.href;
  }
}

const pathOf = (url: string) => { try { return new URL(url, 'http://x').pathname; } catch { return url; } };
