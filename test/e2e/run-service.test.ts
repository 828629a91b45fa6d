// `niso run SERVICE -- CMD` (Docker's `docker compose run --rm SERVICE CMD`) against real services: a new sandbox from
// the service's own definition, as its uid, with its volumes and networks (an address of its own, its ports left to
// the service), CMD as the program, its exit code returned. Written once for both backends: on the host it runs the
// embedded backend; run-service-systemd.test.ts runs this same file inside a booted systemd with
// NISO_E2E_BACKEND=systemd, where each service is a unit and each one-off a transient unit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_MANIFEST, removeServicesAndTestDir, writeTree } from '../helpers/tmp.js';
import { freePort } from '../helpers/ports.js';
import { until as untilWithin } from '../helpers/wait.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const onSystemd = process.env.NISO_E2E_BACKEND === 'systemd';

// The app and every one-off's program. No mode: the service, answering HTTP on 3000 ("up UID", or the file that
// /read?path= names). write PATH: what the sandbox is, as JSON, into PATH. exit N. fetch URL: prints the answer.
// listen: a server of its own on 3000 ("one-off"), until /quit. wait PATH: until PATH exists.
const MAIN = `
const fs = require('fs');
const http = require('http');
const [mode, arg] = process.argv.slice(2);
const me = () => ({ uid: process.getuid(), service: process.env.NISO_SERVICE, greeting: process.env.GREETING ?? null, extra: process.env.EXTRA ?? null });
if (mode === 'write') { fs.writeFileSync(arg, JSON.stringify(me())); console.log('wrote ' + arg); }
else if (mode === 'exit') process.exit(Number(arg));
else if (mode === 'fetch') http.get(arg, (r) => { let b = ''; r.on('data', (d) => { b += d; }); r.on('end', () => console.log(b)); }).on('error', (e) => { console.log('ERR ' + e.code); process.exit(1); });
else if (mode === 'listen') {
  const s = http.createServer((q, r) => { r.end('one-off'); if (q.url === '/quit') s.close(() => process.exit(0)); });
  s.listen(3000, '0.0.0.0', () => console.log('listening'));
}
else if (mode === 'wait') { console.log('waiting'); const t = setInterval(() => { if (fs.existsSync(arg)) { clearInterval(t); console.log('done'); } }, 50); }
else http.createServer((q, r) => {
  const path = new URL(q.url, 'http://x').searchParams.get('path');
  if (path) { try { r.end(fs.readFileSync(path)); } catch (e) { r.statusCode = 404; r.end(e.code); } return; }
  r.end('up ' + process.getuid());
}).listen(3000, '0.0.0.0');
`;

interface Env { root: string; dir: string }
let env: Env | null = null;

function niso(e: Env, args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: e.dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: e.root } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(e: Env, args: string[]): string {
  const r = niso(e, args);
  assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** One root for the file, with the packages `app` (a volume of its own at /data) and `vault` (none). */
async function world(): Promise<Env> {
  if (env) return env;
  // Not tempDir(): the services must be stopped before the root goes (the after hook below).
  const dir = mkdtempSync(join(tmpdir(), 'niso-oneoff-'));
  chmodSync(dir, 0o755);
  const e: Env = { dir, root: join(dir, 'root') };
  env = e;
  for (const [name, extra] of [['app', '\n[volumes.data]\nmount = "/data"\n'], ['vault', '']] as const) {
    await writeTree(join(dir, name), { 'manifest.toml': NODE_MANIFEST(name, '1.0.0', `stop_timeout = "2s"\n${extra}`, ['main.js']), 'main.js': MAIN });
    ok(e, ['pack', name, '-o', `${name}.niso`, '-q']);
    ok(e, ['install', `${name}.niso`]);
  }
  return e;
}

after(async () => {
  if (env) await removeServicesAndTestDir(env.dir, env.root, (args) => niso(env!, args));
});


/** One-offs start a whole sandbox on a loaded machine: 20 s rather than the helper's 15. */
const until = <T>(what: string, fn: () => T | null | undefined | false) => untilWithin(what, fn, 20_000);

/** An HTTP GET with curl: the body, or null when nothing answered. */
function get(url: string): string | null {
  const r = spawnSync('curl', ['-sf', '--max-time', '5', url], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : null;
}

/** A one-off in the background, its output collected; `ended` resolves with its exit code. */
function background(e: Env, args: string[]): { child: ChildProcess; out: () => string; err: () => string; ended: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: e.dir, env: { ...process.env, NISO_ROOT: e.root }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const ended = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  return { child, out: () => out, err: () => err, ended };
}

const uidOf = (e: Env, service: string) => (JSON.parse(readFileSync(join(e.root, 'var/lib/niso/users.json'), 'utf8')) as { services: Record<string, number> }).services[service];
const addressIn = (stderr: string, attach: RegExp) => new RegExp(`niso: (${attach.source}) is (10\\.\\d+\\.\\d+\\.\\d+) on network default`).exec(stderr);

test('a one-off is the service\'s identity: its uid, environment and volume, its output on the terminal, its exit code; --dry-run and --json show it', async () => {
  const e = await world();
  const port = await freePort();
  ok(e, ['activate', 'app', '--name', 'web', '-e', 'GREETING=from the service', '-p', `127.0.0.1:${port}:3000`]);
  const uid = uidOf(e, 'web')!;
  assert.equal(await until('the service to answer', () => get(`http://127.0.0.1:${port}/`)), `up ${uid}`);

  const w = niso(e, ['run', 'web', '-e', 'EXTRA=from the command line', '--', 'node', 'main.js', 'write', '/data/from-one-off']);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(w.stdout, 'wrote /data/from-one-off\n', 'its output on the terminal');
  assert.ok(addressIn(w.stderr, /web-run-[0-9a-f]{6}/), w.stderr);
  assert.doesNotMatch(w.stderr, /note: web is a service/, 'no package is named web: nothing to tell apart');
  // The running service reads what the one-off wrote into its volume, written as the service's own uid.
  const seen = JSON.parse(get(`http://127.0.0.1:${port}/?path=/data/from-one-off`) ?? 'null') as Record<string, unknown>;
  assert.deepEqual(seen, { uid, service: 'web', greeting: 'from the service', extra: 'from the command line' });

  assert.equal(niso(e, ['run', 'web', '--', 'node', 'main.js', 'exit', '7']).code, 7, 'the exit code passes through');
  assert.equal(niso(e, ['run', 'web', '--', 'node', 'main.js', 'exit', '0']).code, 0);

  // What would run: the service's plan with the command as the program, nothing published, no init step.
  const j = JSON.parse(ok(e, ['run', 'web', '--json', '--', 'node', 'main.js', 'exit', '3'])) as { oneOff: unknown; backend?: string; plan: { service: string; user: { uid: number }; init?: unknown; command: { argv: string[] }; network: { ports?: unknown[] }; overrides: { property: string; value: unknown }[] } };
  assert.deepEqual(j.oneOff, { service: 'web', argv: ['node', 'main.js', 'exit', '3'] });
  assert.equal(j.backend, onSystemd ? 'systemd' : undefined);
  assert.equal(j.plan.service, 'web');
  assert.equal(j.plan.user.uid, uid);
  assert.equal(j.plan.init, undefined);
  assert.deepEqual(j.plan.command.argv.slice(1), ['main.js', 'exit', '3']);
  assert.deepEqual(j.plan.network.ports, []);
  assert.ok(j.plan.overrides.some((o) => o.property === 'binary.entrypoint' && o.value === 'node'), JSON.stringify(j.plan.overrides));
  assert.ok(j.plan.overrides.some((o) => o.property === 'network.ports' && o.value === 0), JSON.stringify(j.plan.overrides));
  const dry = ok(e, ['run', 'web', '--dry-run', '--', 'node', 'main.js', 'exit', '3']);
  assert.match(dry, /^# a one-off run of service web: node main\.js exit 3 \(its ports are not published, no \[init\] step\)$/m);
  assert.match(dry, onSystemd ? /^systemd-run --unit=niso-run-web-[0-9a-f]{6}\.service /m : /bwrap /);

  // Only -e and --env-file add to the service's definition; a one-off needs its command.
  const mem = niso(e, ['run', 'web', '--memory', '64M', '-v', 'x:/x', '--', 'node', '-e', '0']);
  assert.equal(mem.code, 2);
  assert.match(mem.stderr, /NISO3321: --memory, -v: a one-off of service web runs with the service's own definition/);
  assert.match(mem.stderr, /niso run app:1\.0\.0 --memory/);
  const bare = niso(e, ['run', 'web']);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /NISO3320: web is a service here/);
  // A path or NAME:VERSION is the package, never the service (web runs the package app, but a bare app is no service).
  assert.equal(niso(e, ['run', '--json', 'app']).code, 0);
});

test('a one-off reaches other services by name with an address of its own; the service\'s ports are not published by it', async () => {
  const e = await world();
  ok(e, ['activate', 'app', '--name', 'peer']);
  const web = JSON.parse(ok(e, ['status', 'web', '--json'])) as { addresses: string[]; ports: string[] };
  const port = Number(/:(\d+)->3000/.exec(web.ports[0] ?? '')?.[1]);
  assert.ok(port > 0, JSON.stringify(web));
  const answer = await until('peer to answer through a one-off', () => {
    const r = niso(e, ['run', 'web', '--', 'node', 'main.js', 'fetch', 'http://peer:3000/']);
    return r.code === 0 && r.stdout;
  });
  assert.equal(answer, `up ${uidOf(e, 'peer')}\n`);
  // The service itself is a peer by its name too.
  assert.equal(ok(e, ['run', 'web', '--', 'node', 'main.js', 'fetch', 'http://web:3000/']), `up ${uidOf(e, 'web')}\n`);

  // While the service runs: the one-off listens on the same container port with an address of its own; the
  // service's published port still reaches the service.
  const one = background(e, ['run', 'web', '--', 'node', 'main.js', 'listen']);
  await until('the one-off to listen', () => one.out().includes('listening'));
  const address = addressIn(one.err(), /web-run-[0-9a-f]{6}/)?.[2];
  assert.ok(address, one.err());
  assert.ok(!web.addresses.some((a) => a.startsWith(`${address} `)), `its own address, not the service's (${web.addresses.join(', ')})`);
  assert.equal(get(`http://${address}:3000/`), 'one-off');
  assert.equal(get(`http://127.0.0.1:${port}/`), `up ${uidOf(e, 'web')}`);
  get(`http://${address}:3000/quit`);
  assert.equal(await one.ended, 0, one.err());

  // With the service stopped, nothing is published at its port, while the one-off serves on its own address.
  ok(e, ['deactivate', 'web']);
  const alone = background(e, ['run', 'web', '--', 'node', 'main.js', 'listen']);
  await until('the one-off to listen', () => alone.out().includes('listening'));
  const own = addressIn(alone.err(), /web-run-[0-9a-f]{6}/)?.[2];
  assert.equal(get(`http://${own}:3000/`), 'one-off');
  assert.equal(get(`http://127.0.0.1:${port}/`), null, 'the service\'s port is not mapped to the one-off');
  get(`http://${own}:3000/quit`);
  assert.equal(await alone.ended, 0, alone.err());
});

test('an exclusive volume of an active service is refused, naming it; a stopped service\'s is the one-off\'s to use, and the service waits for it', async () => {
  const e = await world();
  ok(e, ['activate', 'vault', '--network', 'none', '-v', 'solo:/solo:exclusive']);
  const refused = niso(e, ['run', 'vault', '--', 'node', 'main.js', 'write', '/solo/x']);
  assert.equal(refused.code, 1, refused.stderr);
  // The package vault exists too: the service wins, and the note says how to mean the package.
  assert.match(refused.stderr, /^note: vault is a service here, so this runs node as a one-off of it; to run the package vault instead, write vault:VERSION or its path$/m);
  assert.match(refused.stderr, /NISO5007: volume solo is exclusive to service vault, which is active; a one-off run of vault cannot mount it beside it/);
  assert.match(refused.stderr, /niso deactivate vault/);

  ok(e, ['deactivate', 'vault']);
  const w = niso(e, ['run', 'vault', '--', 'node', 'main.js', 'write', '/solo/x']);
  assert.equal(w.code, 0, w.stderr);
  const uid = uidOf(e, 'vault')!;
  const file = join(e.root, 'var/lib/niso/volumes/solo/data/x');
  assert.equal(statSync(file).uid, uid, 'written as the service\'s uid');

  // While a one-off holds it, the service does not start onto it; once the one-off ended, it does.
  const holding = background(e, ['run', 'vault', '--', 'node', 'main.js', 'wait', '/solo/go']);
  await until('the one-off to hold the volume', () => holding.out().includes('waiting'));
  const start = niso(e, ['activate', 'vault']);
  assert.notEqual(start.code, 0);
  assert.match(start.stderr, /NISO5007: volume solo is exclusive to a one-off run of vault \(pid \d+\); vault cannot mount it/);
  writeFileSync(join(e.root, 'var/lib/niso/volumes/solo/data/go'), '');
  assert.equal(await holding.ended, 0, holding.err());
  assert.equal(holding.out(), 'waiting\ndone\n');
  ok(e, ['activate', 'vault']);
  const r = niso(e, ['exec', 'vault', '--', 'node', '-e', 'process.stdout.write(require("fs").readFileSync("/solo/x", "utf8"))']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { uid, service: 'vault', greeting: null, extra: null });
  assert.ok(existsSync(file));
});
