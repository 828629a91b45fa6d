// Debian's docker-registry (distribution 2.8) for tests: started on 127.0.0.1 with a free port and a temp storage dir,
// with no auth, htpasswd basic auth or bearer tokens; stopped (and its dir removed) after the test file even when a
// test fails. Also a recording, fault-injecting HTTP proxy to put in front of it, and a small token server.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { X509Certificate, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { freePort } from './ports.js';
import { tempDir } from './tmp.js';

export interface Registry { host: string; port: number; dir: string; log: string }

type Auth = { htpasswd: { user: string; password: string } } | { token: { realm: string; service: string; issuer: string; certFile: string } };

const running = new Set<ChildProcess>();
process.on('exit', () => { for (const c of running) c.kill('SIGKILL'); });

/** bcrypt through the host's crypt(3) (libxcrypt), as htpasswd -B writes it; distribution reads only bcrypt. */
export function htpasswdLine(user: string, password: string): string {
  const hash = execFileSync('python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))', password], { encoding: 'utf8' }).trim();
  if (!hash.startsWith('$2')) throw new Error(`crypt(3) gave no bcrypt hash: ${hash}`);
  return `${user}:${hash}\n`;
}

export async function startRegistry(auth?: Auth): Promise<Registry> {
  // Not tempDir(): its removal would run before the registry is stopped; one hook does both, in that order.
  const dir = mkdtempSync(join(process.env.NISO_TEST_TMP ?? tmpdir(), 'niso-registry-'));
  const port = await freePort();
  let authYaml = '';
  if (auth && 'htpasswd' in auth) {
    writeFileSync(join(dir, 'htpasswd'), htpasswdLine(auth.htpasswd.user, auth.htpasswd.password));
    authYaml = `auth: {htpasswd: {realm: niso-test, path: ${join(dir, 'htpasswd')}}}\n`;
  } else if (auth && 'token' in auth) {
    const t = auth.token;
    authYaml = `auth: {token: {realm: "${t.realm}", service: ${t.service}, issuer: ${t.issuer}, rootcertbundle: ${t.certFile}}}\n`;
  }
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: ${join(dir, 'data')}}, delete: {enabled: true}}\nhttp: {addr: 127.0.0.1:${port}, secret: niso-test-secret}\n${authYaml}`);
  const log = join(dir, 'registry.log');
  const out = openSync(log, 'a');
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', out, out] });
  running.add(child);
  let spawnError: Error | null = null;
  child.once('error', (e) => { spawnError = e; });
  const exited = new Promise<void>((r) => child.once('exit', () => { running.delete(child); r(); }));
  after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (spawnError) throw new Error(`docker-registry could not start (apt-get install docker-registry): ${String(spawnError)}`);
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${readFileSync(log, 'utf8')}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`);
      await r.body?.cancel();
      if (r.status === 200 || r.status === 401) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${port}: ${readFileSync(log, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host: `127.0.0.1:${port}`, port, dir, log };
}

// --- a proxy that records and injects faults ------------------------------------------------------------------------

export interface Seen { method: string; path: string; bodyBytes: number; authorization: boolean }

export type Action =
  | { kind: 'pass' }
  /** Answer instead of the registry. */
  | { kind: 'respond'; status: number; headers?: Record<string, string>; body?: Buffer | string }
  /** Read this many bytes of the request body, then cut the connection; the registry never sees the request. */
  | { kind: 'cut-request'; afterBytes: number }
  /** Forward, but cut the answer after this many bytes of its body. */
  | { kind: 'cut-response'; afterBytes: number }
  /** Forward, and give the client this body instead of the registry's (same status and headers but length). */
  | { kind: 'replace-body'; body: Buffer };

export interface Proxy { host: string; port: number; seen: Seen[]; rule: (req: IncomingMessage, n: number) => Action }

export async function startProxy(target: { port: number }, bindHost = '127.0.0.1'): Promise<Proxy> {
  const port = await freePort();
  const proxy: Proxy = { host: `${bindHost}:${port}`, port, seen: [], rule: () => ({ kind: 'pass' }) };
  const server = createServer((req, res) => {
    const entry: Seen = { method: req.method!, path: req.url!, bodyBytes: 0, authorization: req.headers.authorization !== undefined };
    proxy.seen.push(entry);
    const action = proxy.rule(req, proxy.seen.length);
    if (action.kind === 'respond') {
      req.resume();
      res.writeHead(action.status, action.headers ?? {});
      res.end(action.body ?? '');
      return;
    }
    if (action.kind === 'cut-request') {
      req.on('data', (c: Buffer) => {
        entry.bodyBytes += c.length;
        if (entry.bodyBytes >= action.afterBytes) req.socket.destroy();
      });
      req.on('end', () => req.socket.destroy());
      return;
    }
    forward(req, res, target.port, entry, action);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(port, bindHost, () => r()));
  after(() => closeServer(server));
  return proxy;
}

function forward(req: IncomingMessage, res: ServerResponse, port: number, entry: Seen, action: Action): void {
  const up = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
    const headers = { ...ur.headers };
    if (action.kind === 'replace-body') {
      headers['content-length'] = String(action.body.length);
      ur.resume();
      res.writeHead(ur.statusCode!, headers);
      res.end(action.body);
      return;
    }
    res.writeHead(ur.statusCode!, headers);
    let sent = 0;
    ur.on('data', (c: Buffer) => {
      if (action.kind === 'cut-response' && sent + c.length >= action.afterBytes) {
        // Cut once what was written has left: the client must see the head and part of the body.
        ur.destroy();
        res.write(c.subarray(0, Math.max(0, action.afterBytes - sent)), () => setTimeout(() => res.socket?.destroy(), 50));
        sent = Infinity;
        return;
      }
      if (sent === Infinity) return;
      sent += c.length;
      res.write(c);
    });
    ur.on('end', () => { if (sent !== Infinity) res.end(); });
  });
  up.on('error', () => res.socket?.destroy());
  req.on('data', (c: Buffer) => { entry.bodyBytes += c.length; });
  req.pipe(up);
}

export function closeServer(s: Server): Promise<void> {
  s.closeAllConnections();
  return new Promise((r) => s.close(() => r()));
}

// --- a token server for distribution's token auth -------------------------------------------------------------------

export interface TokenServer { realm: string; service: string; issuer: string; certFile: string; requests: { scope: string[]; user: string | null }[] }

/** Issues ES256 JWTs (x5c: a self-signed P-256 certificate the registry trusts) to `user` for every scope it asks. */
export async function startTokenServer(user: string, password: string): Promise<TokenServer> {
  const dir = tempDir('niso-token-');
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=niso-test-token'], { stdio: 'ignore' });
  const key = createPrivateKey(readFileSync(keyFile));
  const der = new X509Certificate(readFileSync(certFile)).raw.toString('base64');
  const port = await freePort();
  const t: TokenServer = { realm: `http://127.0.0.1:${port}/token`, service: 'niso-test-registry', issuer: 'niso-test-issuer', certFile, requests: [] };
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const server = createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : null;
    const who = given === `${user}:${password}` ? user : null;
    const scopes = u.searchParams.getAll('scope');
    t.requests.push({ scope: scopes, user: who });
    if (given !== null && who === null) { res.writeHead(401); res.end('{"details":"wrong credentials"}'); return; }
    const now = Math.floor(Date.now() / 1000);
    const access = who ? scopes.map((s) => { const [type, name, actions] = s.split(':'); return { type, name, actions: actions!.split(',') }; }) : [];
    const head = b64({ alg: 'ES256', typ: 'JWT', x5c: [der] });
    const body = b64({ iss: t.issuer, sub: who ?? '', aud: t.service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access });
    const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${head}.${body}.${sig}`, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  after(() => closeServer(server));
  return t;
}
