// A registry on a loopback address is asked over plain HTTP first (issue 16: no TLS modules for the common local
// registry), but one that speaks only HTTPS must still be reached over HTTPS: the plain probe fails (a TLS port does
// not answer HTTP) and niso goes on as with any other host. A small HTTPS server with a certificate of its own for
// 127.0.0.1 stands in for such a registry; the niso CLI trusts it through NODE_EXTRA_CA_CERTS, as a user would.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const dir = tempDir('niso-registry-tls-');
const key = join(dir, 'key.pem');
const cert = join(dir, 'cert.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
  '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });

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
after(() => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }));

function niso(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const c = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NISO_ROOT: join(dir, 'root'), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
