// A registry on a loopback address is asked over plain HTTP first (issue 16: no TLS modules for the common local
// registry), but one that speaks only HTTPS must still be reached over HTTPS: the plain probe fails (a TLS port does
// not answer HTTP) and niso goes on as with any other host. A small HTTPS server with a certificate of its own for
// 127.0.0.1 stands in for such a registry; the niso CLI trusts it through NODE_EXTRA_CA_CERTS, as a user would, or
// through the registry's own directory in /etc/niso/certs.d (Docker's layout): a CA for that registry alone, and a
// client certificate for a registry that asks for one (a second server, which refuses a handshake without it).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const dir = tempDir('niso-registry-tls-');
const key = join(dir, 'key.pem');
const cert = join(dir, 'cert.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
  '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });

const clientKey = join(dir, 'client-key.pem');
const clientCert = join(dir, 'client-cert.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', clientKey, '-out', clientCert,
  '-days', '2', '-subj', '/CN=niso-test-client'], { stdio: 'ignore' });

/** What reached the server: requests over TLS, and connections that were not TLS (the plain-HTTP probe). */
const seen = { https: [] as string[], notTls: 0 };
const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
  seen.https.push(`${req.method} ${req.url}`);
  res.setHeader('docker-distribution-api-version', 'registry/2.0');
  if (req.url === '/v2/') { res.setHeader('content-type', 'application/json'); res.end('{}'); return; }
  if (req.url?.startsWith('/v2/apps/hello/tags/list')) { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ name: 'apps/hello', tags: ['1.0.0', '1.1.0'] })); return; }
  res.statusCode = 404;
  res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
});
server.on('tlsClientError', () => { seen.notTls++; });
await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
const port = (server.address() as { port: number }).port;
// The same registry, but one that asks every client for a certificate its own CA (the client's, here) signed.
const mtls = createServer({ key: readFileSync(key), cert: readFileSync(cert), requestCert: true, rejectUnauthorized: true, ca: readFileSync(clientCert) }, (req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url === '/v2/') { res.end('{}'); return; }
  res.end(JSON.stringify({ name: 'apps/hello', tags: ['2.0.0'] }));
});
mtls.on('tlsClientError', () => undefined);
await new Promise<void>((ok) => mtls.listen(0, '127.0.0.1', ok));
const mtlsPort = (mtls.address() as AddressInfo).port;
after(() => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }));
after(() => new Promise<void>((ok) => { mtls.closeAllConnections(); mtls.close(() => ok()); }));

/** The registry's own directory in the root's /etc/niso/certs.d, with these files in it (and nothing else). */
function certsFor(p: number, files: Record<string, string>): void {
  const d = join(dir, 'root/etc/niso/certs.d', `127.0.0.1:${p}`);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  for (const [name, from] of Object.entries(files)) copyFileSync(from, join(d, name));
}
const noCerts = () => rmSync(join(dir, 'root/etc/niso/certs.d'), { recursive: true, force: true });

function niso(args: string[], env: Record<string, string>, input = ''): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const c = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NISO_ROOT: join(dir, 'root'), ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    c.stdin.end(input);
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    c.on('close', (code) => res({ code, out, err }));
  });
}

test('a loopback registry that speaks only HTTPS is reached over HTTPS after the plain-HTTP probe fails', async () => {
  const r = await niso(['tags', `127.0.0.1:${port}/apps/hello`, '--json'], { NODE_EXTRA_CA_CERTS: cert });
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), { repository: `127.0.0.1:${port}/apps/hello`, tags: ['1.0.0', '1.1.0'] });
  assert.ok(seen.notTls >= 1, 'plain HTTP was tried first on the loopback address');
  assert.ok(seen.https.includes('GET /v2/'), JSON.stringify(seen.https));
  assert.ok(seen.https.some((s) => s.startsWith('GET /v2/apps/hello/tags/list')), JSON.stringify(seen.https));
});

test('its certificate is still checked: without the CA the same registry is refused with NISO7001, nothing taken over plain HTTP', async () => {
  seen.https.length = 0;
  const r = await niso(['tags', `127.0.0.1:${port}/apps/hello`, '--json'], { NODE_EXTRA_CA_CERTS: '' });
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.err, /NISO7001[\s\S]*TLS certificate is not trusted/);
  assert.equal(r.out.includes('1.0.0'), false);
});

test('a CA in /etc/niso/certs.d/HOST:PORT/ is trusted for that registry alone', async () => {
  certsFor(port, { 'ca.crt': cert });
  const r = await niso(['tags', `127.0.0.1:${port}/apps/hello`, '--json'], { NODE_EXTRA_CA_CERTS: '' });
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out).tags, ['1.0.0', '1.1.0']);
  // The same CA filed under another registry's name does not make this one trusted.
  noCerts();
  certsFor(port + 1, { 'ca.crt': cert });
  const other = await niso(['tags', `127.0.0.1:${port}/apps/hello`, '--json'], { NODE_EXTRA_CA_CERTS: '' });
  assert.equal(other.code, 1, other.out + other.err);
  assert.match(other.err, /NISO7001[\s\S]*not trusted[\s\S]*certs\.d\/127\.0\.0\.1:\d+\/ca\.crt/);
  noCerts();
});

test('a broken file in a registry\'s certs.d is named (NISO7045) before anything is sent', async () => {
  certsFor(port, { 'ca.crt': key });
  const r = await niso(['tags', `127.0.0.1:${port}/apps/hello`], { NODE_EXTRA_CA_CERTS: '' });
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.err, /NISO7045: .*certs\.d\/127\.0\.0\.1:\d+\/ca\.crt: it holds no PEM certificate/);
  certsFor(port, { 'ca.crt': cert, 'client.cert': clientCert });
  const lone = await niso(['tags', `127.0.0.1:${port}/apps/hello`], { NODE_EXTRA_CA_CERTS: '' });
  assert.match(lone.err, /NISO7045: .*client\.cert: a client certificate needs its key beside it, as client\.key/);
  writeFileSync(join(dir, 'bad-key.pem'), '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
  certsFor(port, { 'ca.crt': cert, 'client.cert': clientCert, 'client.key': join(dir, 'bad-key.pem') });
  const badKey = await niso(['tags', `127.0.0.1:${port}/apps/hello`], { NODE_EXTRA_CA_CERTS: '' });
  assert.match(badKey.err, /NISO7045: .*client\.key: it is not a PEM private key/);
  assert.equal(/\n\s+at /.test(badKey.err), false, 'no stack trace');
  // A FIFO in the place of a CA file is refused at once, not waited on.
  const fifo = join(dir, 'fifo.crt');
  execFileSync('mkfifo', [fifo]);
  certsFor(port, {});
  execFileSync('mv', [fifo, join(dir, 'root/etc/niso/certs.d', `127.0.0.1:${port}`, 'ca.crt')]);
  const blocked = await niso(['tags', `127.0.0.1:${port}/apps/hello`], { NODE_EXTRA_CA_CERTS: '' });
  assert.match(blocked.err, /NISO7045: .*ca\.crt: it is a FIFO, not a file/);
  noCerts();
});

test('a registry that asks for a client certificate gets the one in its certs.d; without it, the error says where it goes', async () => {
  certsFor(mtlsPort, { 'ca.crt': cert });
  const without = await niso(['tags', `127.0.0.1:${mtlsPort}/apps/hello`], { NODE_EXTRA_CA_CERTS: '' });
  assert.equal(without.code, 1, without.out + without.err);
  assert.match(without.err, /NISO7001: .*client certificate[\s\S]*certs\.d\/127\.0\.0\.1:\d+\/ as client\.cert and client\.key/);
  certsFor(mtlsPort, { 'ca.crt': cert, 'client.cert': clientCert, 'client.key': clientKey });
  const r = await niso(['tags', `127.0.0.1:${mtlsPort}/apps/hello`, '--json'], { NODE_EXTRA_CA_CERTS: '' });
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out).tags, ['2.0.0']);
  // niso login talks to the registry with the same files.
  const login = await niso(['login', '-u', 'me', '--password-stdin', `127.0.0.1:${mtlsPort}`], { NODE_EXTRA_CA_CERTS: '' }, 'secret');
  assert.equal(login.code, 0, login.err);
  noCerts();
});
