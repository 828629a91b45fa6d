// Registry credentials against Debian's docker-registry with htpasswd basic auth and with bearer tokens from a small
// token server: anonymous is told what is missing, wrong credentials are refused, and credentials come from --creds,
// `niso login`, Docker's config.json (auths, credHelpers, a helper that is missing) and containers' auth.json. They
// never leave the registry's origin (a redirect elsewhere drops them, a token realm inside the network is refused)
// and never go over plain HTTP to a host that is not loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { tempDir } from '../helpers/tmp.js';
import { freePort } from '../helpers/ports.js';
import { closeServer, startProxy, startRegistry, startTokenServer } from '../helpers/registry.js';
import { packSmall, regEnv } from '../helpers/registry-packages.js';
import { parseReference } from '../../src/registry/reference.js';
import { pushPackages } from '../../src/registry/host/push.js';
import { pullPackage } from '../../src/registry/host/pull.js';
import { DEFAULT_LIMITS } from '../../src/package/read-package.js';
import { listInstalled } from '../../src/store/installed.js';
import { isNisoError } from '../../src/errors/niso-error.js';
import { login, logout } from '../../src/cli/commands/registry.js';
import type { Creds } from '../../src/registry/host/http.js';
import type { Context } from '../../src/cli/context.js';

const USER = 'alice';
const PASS = 's3cret';
const basic = await startRegistry({ htpasswd: { user: USER, password: PASS } });
const tokens = await startTokenServer(USER, PASS);
const tokenRegistry = await startRegistry({ token: tokens });
const dir = tempDir();
const file = await packSmall(dir, 'secure', '1.0.0');

const code = (c: string, text?: RegExp) => (e: unknown) => { assert.ok(isNisoError(e), String(e)); assert.equal(e.code, c, e.message); if (text) assert.match(e.message, text); return true; };
const b64 = (s: string) => Buffer.from(s).toString('base64');

function push(root: string, r: string, creds?: Creds, env: Record<string, string> = {}) {
  return pushPackages({ ...regEnv(root, [], env), creds, files: [file], ref: parseReference(r), signKeyFile: null, now: new Date() });
}
function pull(root: string, r: string, opts: { creds?: Creds; env?: Record<string, string>; warnings?: string[]; output?: string } = {}) {
  return pullPackage({ ...regEnv(root, opts.warnings, opts.env), creds: opts.creds, ref: parseReference(r), arch: 'x86_64', policy: null, insecureSkipVerify: false, limits: DEFAULT_LIMITS, output: opts.output ?? join(root, `out-${Math.random()}.niso`) });
}
function context(root: string, input?: string): Context & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { cwd: root, env: { HOME: join(root, 'home') }, root, stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, stdin: () => Readable.from(input === undefined ? [] : [Buffer.from(input)]), out, err };
}

test('htpasswd: anonymous is told credentials are missing, wrong ones are refused, --creds works', async () => {
  const root = join(dir, 'a');
  await assert.rejects(push(root, `${basic.host}/apps/secure:1.0.0`), code('NISO7004', /needs credentials, and niso found none/));
  await assert.rejects(push(root, `${basic.host}/apps/secure:1.0.0`, { username: USER, password: 'wrong' }), code('NISO7004', /refused the credentials/));
  const r = await push(root, `${basic.host}/apps/secure:1.0.0`, { username: USER, password: PASS });
  assert.equal(r.packages[0]!.uploaded, true);
  await assert.rejects(pull(root, `${basic.host}/apps/secure:1.0.0`), code('NISO7004'));
  const p = await pull(root, `${basic.host}/apps/secure:1.0.0`, { creds: { username: USER, password: PASS } });
  assert.equal(p.name, 'secure');
});

test('niso login checks the credentials and keeps them 0600 in niso\'s auth file; pulls use them; logout removes them', async () => {
  const root = join(dir, 'b');
  mkdirSync(join(root, 'home'), { recursive: true });
  await assert.rejects(login(context(root, 'wrong\n'), basic.host, { username: USER, passwordStdin: true }), code('NISO7004'));
  assert.throws(() => statSync(join(root, 'etc/niso/auth.json')), 'nothing was written for refused credentials');
  // stdin is read within a bound: what is larger than any password is refused, not read to its end.
  await assert.rejects(login(context(root, 'x'.repeat(64 * 1024 + 1)), basic.host, { username: USER, passwordStdin: true }), code('NISO7019'));
  const ctx = context(root, `${PASS}\n`);
  await login(ctx, basic.host, { username: USER, passwordStdin: true });
  assert.match(ctx.out.join(''), new RegExp(`logged in to ${basic.host} as alice`));
  const authFile = join(root, 'etc/niso/auth.json');
  assert.equal(statSync(authFile).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(authFile, 'utf8')), { auths: { [basic.host]: { auth: b64(`${USER}:${PASS}`) } } });
  await push(root, `${basic.host}/apps/secure:1.0.0`);
  await pull(root, `${basic.host}/apps/secure:1.0.0`);
  const out = context(root);
  await logout(out, basic.host, {});
  assert.match(out.out.join(''), /logged out/);
  await assert.rejects(pull(root, `${basic.host}/apps/secure:1.0.0`), code('NISO7004'));
});

test('Docker\'s config.json: auths, and credHelpers that run docker-credential-NAME; a missing helper warns and the next file is used', async () => {
  const root = join(dir, 'c');
  const home = join(root, 'home');
  mkdirSync(join(home, '.docker'), { recursive: true });
  writeFileSync(join(home, '.docker/config.json'), JSON.stringify({ auths: { [`http://${basic.host}/v2/`]: { auth: b64(`${USER}:${PASS}`) } } }));
  await pull(root, `${basic.host}/apps/secure:1.0.0`);

  const bin = join(root, 'bin');
  mkdirSync(bin);
  const asked = join(root, 'helper-asked');
  writeFileSync(join(bin, 'docker-credential-nisotest'), `#!/bin/sh\n[ "$1" = get ] || exit 1\nread -r server\nprintf '%s' "$server" > ${asked}\n[ "$server" = "${basic.host}" ] || { echo "credentials not found in native keychain"; exit 1; }\nprintf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASS}"}' "$server"\n`, { mode: 0o755 });
  const env = { PATH: `${bin}:${process.env.PATH}` };
  writeFileSync(join(home, '.docker/config.json'), JSON.stringify({ credHelpers: { [basic.host]: 'nisotest' } }));
  await pull(root, `${basic.host}/apps/secure:1.0.0`, { env });
  assert.equal(readFileSync(asked, 'utf8'), basic.host, 'the helper got the registry on stdin');

  // containers' auth.json comes first; its helper is missing, so Docker's file (with the working helper) answers.
  mkdirSync(join(home, '.config/containers'), { recursive: true });
  writeFileSync(join(home, '.config/containers/auth.json'), JSON.stringify({ credHelpers: { [basic.host]: 'not-installed' } }));
  const warnings: string[] = [];
  await pull(root, `${basic.host}/apps/secure:1.0.0`, { env, warnings });
  assert.ok(warnings.some((w) => /docker-credential-not-installed is configured but not installed/.test(w)), warnings.join('\n'));

  // An explicit auth file is the only one read.
  await assert.rejects(pull(root, `${basic.host}/apps/secure:1.0.0`, { env: { ...env, REGISTRY_AUTH_FILE: join(root, 'none.json') } }), code('NISO7004'));
  writeFileSync(join(root, 'broken.json'), '{');
  await assert.rejects(pull(root, `${basic.host}/apps/secure:1.0.0`, { env: { ...env, NISO_AUTH_FILE: join(root, 'broken.json') } }), code('NISO7018'));
});

test('bearer tokens: scoped tokens from the realm with the credentials; anonymous gets none', async () => {
  const root = join(dir, 'd');
  const ref = `${tokenRegistry.host}/apps/tok:1.0.0`;
  await assert.rejects(push(root, ref), code('NISO7004'));
  tokens.requests.length = 0;
  await push(root, ref, { username: USER, password: PASS });
  assert.ok(tokens.requests.some((r) => r.user === USER && r.scope.some((x) => /^repository:apps\/tok:(pull,push|push,pull)$/.test(x))), JSON.stringify(tokens.requests));
  const p = await pull(root, ref, { creds: { username: USER, password: PASS } });
  assert.equal(p.name, 'secure');
  await assert.rejects(push(root, ref, { username: USER, password: 'nope' }), code('NISO7004', /token service/));
});

test('credentials never leave the registry: a redirect to another host drops them, a token realm inside the network is refused', async () => {
  const root = join(dir, 'e');
  const proxy = await startProxy(basic);
  const otherPort = await freePort();
  const seenElsewhere: (string | undefined)[] = [];
  const other = createServer((req, res) => { seenElsewhere.push(req.headers.authorization); res.writeHead(200); res.end(Buffer.alloc(statSync(file).size, 0x41)); });
  await new Promise<void>((r) => other.listen(otherPort, '127.0.0.1', () => r()));
  try {
    proxy.rule = (req) => (req.method === 'GET' && req.url!.includes('/blobs/sha256:') ? { kind: 'respond', status: 307, headers: { location: `http://127.0.0.1:${otherPort}/storage/blob` } } : { kind: 'pass' });
    await assert.rejects(pullPackage({ ...regEnv(root), creds: { username: USER, password: PASS }, ref: parseReference(`${proxy.host}/apps/secure:1.0.0`), arch: 'x86_64', policy: null, insecureSkipVerify: false, limits: DEFAULT_LIMITS }), code('NISO7010'));
    assert.deepEqual(seenElsewhere, [undefined], 'the other host was asked, without the Authorization header');
    assert.ok(proxy.seen.some((s) => s.authorization), 'the registry itself got the credentials');
    assert.deepEqual(await listInstalled(root), []);
    assert.deepEqual(readdirSync(join(root, 'var/lib/niso/tmp')), []);

    proxy.rule = (req) => (req.url!.startsWith('/v2/apps/') ? { kind: 'respond', status: 401, headers: { 'www-authenticate': 'Bearer realm="http://169.254.169.254/latest/meta-data",service="x",scope="repository:apps/secure:pull"' } } : { kind: 'pass' });
    await assert.rejects(pull(root, `${proxy.host}/apps/secure:1.0.0`, { creds: { username: USER, password: PASS } }), code('NISO7016', /private or loopback address/));
  } finally {
    await closeServer(other);
  }
});

test('plain HTTP only for loopback or hosts marked insecure, and credentials never over plain HTTP to another host', async () => {
  const root = join(dir, 'f');
  const ip = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  assert.ok(ip, 'this test needs a non-loopback IPv4 address on the host');
  const open = await startRegistry();
  const anonymous = await startProxy(open, ip);
  const withAuth = await startProxy(basic, ip);
  await assert.rejects(pull(root, `${anonymous.host}/apps/x:1`), code('NISO7006', /does not speak HTTPS/));
  mkdirSync(join(root, 'etc/niso'), { recursive: true });
  writeFileSync(join(root, 'etc/niso/registries.toml'), `[registries."${anonymous.host}"]\ninsecure = true\n\n[registries."${withAuth.host}"]\ninsecure = true\n`);
  const r = await push(root, `${anonymous.host}/apps/plain:1.0.0`);
  assert.equal(r.packages[0]!.uploaded, true, 'anonymous access works over plain HTTP once the host is marked insecure');
  await assert.rejects(pull(root, `${withAuth.host}/apps/secure:1.0.0`, { creds: { username: USER, password: PASS } }), code('NISO7006', /only to loopback hosts/));
  assert.ok(withAuth.seen.every((s) => !s.authorization), 'no request carried the credentials');
});
