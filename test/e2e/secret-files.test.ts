// `niso secret` and secrets granted as files (/run/secrets/NAME): the store takes only what it should (hostile names,
// FIFOs, devices, empty and oversized values are refused with codes) and keeps it root's alone; a service or run that
// is granted a secret reads it at its target, mode 0400, owned by its own uid, and one that is not granted it sees
// nothing; and the value is in no output of niso (logs, --json, --dry-run, inspect), no file of its state dir, no
// process's command line or environment, nothing another user can read. Written once for both backends: on the host it
// runs the embedded one; sandbox-systemd.test.ts runs this same file inside a booted systemd with
// NISO_E2E_BACKEND=systemd, where a secret is a credential of the unit (LoadCredential=).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_MANIFEST, removeServicesAndTestDir, writeTree } from '../helpers/tmp.js';
import { holders, scanAsNobody, secret } from '../helpers/secret-scan.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const onSystemd = process.env.NISO_E2E_BACKEND === 'systemd';

/** The values: random, so that a find is never a coincidence. */
const TOKEN = secret('token');
const CERT = `-----BEGIN KEY-----\n${secret('cert')}\n-----END KEY-----\n`;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

// Reports what it finds at each of TARGETS (never the content: its sha256), whether it can change it, then stays up
// (MODE=once: exits).
const MAIN = `
const fs = require('fs');
const files = {};
for (const t of (process.env.TARGETS || '/run/secrets/token').split(',')) {
  try {
    const st = fs.statSync(t);
    const b = fs.readFileSync(t);
    let write = 'written';
    try { fs.writeFileSync(t, 'x'); } catch (e) { write = e.code; }
    let chmod = 'changed';
    try { fs.chmodSync(t, 0o644); } catch (e) { chmod = e.code; }
    files[t] = { uid: st.uid, mode: (st.mode & 0o7777).toString(8), sha256: require('crypto').createHash('sha256').update(b).digest('hex'), write, chmod };
  } catch (e) { files[t] = { error: e.code }; }
}
console.log(JSON.stringify({ uid: process.getuid(), files }));
if (process.env.MODE !== 'once') { for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(0)); setInterval(() => {}, 1000); }
`;

const dir = mkdtempSync(join(tmpdir(), 'niso-secret-files-'));
chmodSync(dir, 0o755);
const root = join(dir, 'root');
const store = join(root, 'var/lib/niso/secrets');
let prepared = false;

function niso(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root }, ...(input !== undefined ? { input } : { stdio: ['ignore', 'pipe', 'pipe'] }) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[], input?: string): string {
  const r = niso(args, input);
  assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A refusal: its exit status and code, and no stack trace. */
function refused(args: string[], code: string, status = 2, input?: string): string {
  const r = niso(args, input);
  assert.equal(r.code, status, `niso ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`error ${code}: `), `niso ${args.join(' ')}:\n${r.stderr}`);
  assert.ok(!/internal error|\n\s+at /.test(r.stderr), `no stack trace:\n${r.stderr}`);
  return r.stderr;
}

/** `plain` asks for no secret; `wants` names the host's secret "cert" in its manifest, at a target of its own. */
async function prepare(): Promise<void> {
  if (prepared) return;
  for (const [name, extra] of [['plain', ''], ['wants', '\n[secrets.cert]\ntarget = "/etc/app/cert.pem"\ndescription = "the TLS key"\n']] as const) {
    await writeTree(join(dir, name), { 'manifest.toml': NODE_MANIFEST(name, '1.0.0', `stop_timeout = "2s"\n\n[network]\nmode = "none"\n${extra}`, ['main.js']), 'main.js': MAIN });
    ok(['pack', name, '-o', `${name}.niso`, '-q']);
    ok(['install', `${name}.niso`]);
  }
  writeFileSync(join(dir, 'token.txt'), TOKEN, { mode: 0o600 });
  ok(['secret', 'create', 'token', 'token.txt']);
  ok(['secret', 'create', 'cert', '-', '--label', 'owner=ops'], CERT);
  prepared = true;
}

const uidOf = (service: string) => (JSON.parse(readFileSync(join(root, 'var/lib/niso/users.json'), 'utf8')) as { services: Record<string, number> }).services[service]!;

interface Report { uid: number; files: Record<string, { uid?: number; mode?: string; sha256?: string; write?: string; chmod?: string; error?: string }> }

async function reportOf(service: string): Promise<Report> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const line = niso(['logs', service]).stdout.split('\n').find((l) => l.startsWith('{"uid"'));
    if (line) return JSON.parse(line) as Report;
    assert.ok(Date.now() < deadline, `${service} reported what it found: ${niso(['logs', service]).stdout}${niso(['status', service]).stdout}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The file as the app must find it: the secret's bytes, read-only, mode 0400, its own uid's. */
function assertGranted(r: Report, target: string, value: string, uid: number): void {
  const f = r.files[target];
  assert.equal(r.uid, uid, 'the app runs as its own uid');
  assert.deepEqual(f && { uid: f.uid, mode: f.mode, sha256: f.sha256 }, { uid, mode: '400', sha256: sha(value) }, `${target}: ${JSON.stringify(f)}`);
  assert.ok(f !== undefined && f.write !== 'written' && f.chmod !== 'changed', `the app cannot change it: ${JSON.stringify(f)}`);
}

/** On systemd: every niso unit there is now, for `systemctl show` as nobody. */
function nisoUnits(): string[] {
  if (!onSystemd) return [];
  const r = spawnSync('systemctl', ['list-units', '--all', '--plain', '--no-legend', 'niso-*'], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.split(/\s+/)[0]!).filter(Boolean);
}

/** Every file below dir, read (the logs, plan.json, the unit's files ...), with the first of `values` it holds. */
function filesHolding(top: string, values: readonly string[]): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) { const t = readFileSync(p, 'latin1'); for (const v of values) if (t.includes(v)) found.push(`${p}: ${v.slice(0, 12)}…`); }
    }
  };
  if (existsSync(top)) walk(top);
  return found;
}

after(() => removeServicesAndTestDir(dir, root, niso, { state: true }));

/** The one case this file does not run on systemd, and why (sandbox-systemd.test.ts allows exactly this skip). */
const STORE_SKIP = 'the store and its refusals are the same on both backends; only what a sandbox gets differs';

test('niso secret: create from a file or stdin, list and inspect metadata only; the store is root\'s alone; hostile input is refused with a code', { skip: onSystemd && STORE_SKIP }, async () => {
  await prepare();
  const [t, c] = JSON.parse(ok(['secret', 'inspect', 'token', 'cert', '--json'])) as { name: string; size: number; digest: string; labels: Record<string, string>; services: unknown[]; createdAt: string }[];
  assert.deepEqual({ ...t!, createdAt: undefined }, { name: 'token', size: TOKEN.length, digest: `sha256:${sha(TOKEN)}`, labels: {}, services: [], createdAt: undefined });
  assert.deepEqual({ name: c!.name, size: c!.size, digest: c!.digest, labels: c!.labels }, { name: 'cert', size: Buffer.byteLength(CERT), digest: `sha256:${sha(CERT)}`, labels: { owner: 'ops' } }, 'stdin, byte for byte (the trailing newline too)');
  assert.deepEqual(ok(['secret', 'ls', '-q']).trim().split('\n'), ['cert', 'token']);
  assert.deepEqual((JSON.parse(ok(['secret', 'ls', '--json'])) as { name: string }[]).map((s) => s.name), ['cert', 'token']);
  // Without FILE, a stdin that is not a terminal is read (as `docker secret create NAME -`).
  ok(['secret', 'create', 'piped'], 'x');
  ok(['secret', 'rm', 'piped']);
  // Root's alone: 0700 store and secret dirs, 0600 files, no temporary file left behind.
  const st = (p: string) => { const s = statSync(p); return `${s.uid}:${s.gid} ${(s.mode & 0o777).toString(8)}`; };
  assert.equal(st(store), '0:0 700');
  assert.equal(st(join(store, 'token')), '0:0 700');
  assert.equal(st(join(store, 'token/value')), '0:0 600');
  assert.equal(st(join(store, 'token/meta.json')), '0:0 600');
  assert.equal(readFileSync(join(store, 'token/value'), 'utf8'), TOKEN);
  assert.ok(!readFileSync(join(store, 'token/meta.json'), 'utf8').includes(TOKEN), 'the metadata has the digest only');
  assert.deepEqual(readdirSync(store).filter((n) => n.startsWith('.') && n !== '.lock'), []);

  // Never replaced: a second create of a name is refused, and the first value stays.
  refused(['secret', 'create', 'token', '-'], 'NISO5102', 1, 'other');
  assert.equal(readFileSync(join(store, 'token/value'), 'utf8'), TOKEN);
  for (const name of ['../x', 'a/b', '..', 'DB', 'x'.repeat(300), '.x', '']) refused(['secret', 'create', name, 'token.txt'], 'NISO5100');
  refused(['secret', 'inspect', '../../etc'], 'NISO5100');
  refused(['secret', 'rm', '..'], 'NISO5100');
  // Values: a FIFO (which would block a reader), a device that never ends, a directory, too much, nothing.
  spawnSync('mkfifo', [join(dir, 'fifo')]);
  refused(['secret', 'create', 'fifo', join(dir, 'fifo')], 'NISO5103');
  refused(['secret', 'create', 'zero', '/dev/zero'], 'NISO5103');
  refused(['secret', 'create', 'dir', dir], 'NISO5103');
  refused(['secret', 'create', 'missing', join(dir, 'no-such-file')], 'NISO5103');
  writeFileSync(join(dir, 'big'), Buffer.alloc(500 * 1024 + 1, 1));
  refused(['secret', 'create', 'big', 'big'], 'NISO5103');
  refused(['secret', 'create', 'big', '-'], 'NISO5103', 2, 'y'.repeat(600 * 1024));
  refused(['secret', 'create', 'empty', '-'], 'NISO5103', 2, '');
  refused(['secret', 'create', 'labelled', 'token.txt', '--label', '=x'], 'NISO9001');
  refused(['secret', 'inspect', 'nope'], 'NISO5101', 1);
  refused(['secret', 'rm', 'nope'], 'NISO5101', 1);
  assert.deepEqual(ok(['secret', 'ls', '-q']).trim().split('\n'), ['cert', 'token'], 'nothing refused was stored');
});

test('a service granted secrets reads them at their targets (0400, its own uid); one without a grant sees none; exec reads them; niso shows only digests', async () => {
  await prepare();
  const targets = '/run/secrets/token,/etc/app/cert.pem,/run/secrets/cert';
  // The package names the host's secret "cert": only the operator can give it.
  const asked = refused(['activate', '--name', 'sneaky', '-e', `TARGETS=${targets}`, 'wants'], 'NISO3105');
  assert.match(asked, /--secret cert/);
  assert.ok(!existsSync(join(root, 'var/lib/niso/services/sneaky/service.json')), 'no service was defined');
  refused(['activate', '--name', 'typo', '--secret', 'tokn', 'plain'], 'NISO5101', 2);
  assert.ok(!existsSync(join(root, 'var/lib/niso/services/typo/service.json')), 'a missing secret is refused before the service is defined');

  ok(['activate', '--name', 'granted', '--secret', 'cert', '--secret', 'token', '-e', `TARGETS=${targets}`, 'wants']);
  ok(['activate', '--name', 'other', '-e', `TARGETS=${targets}`, 'plain']);
  const granted = await reportOf('granted');
  assertGranted(granted, '/run/secrets/token', TOKEN, uidOf('granted'));
  assertGranted(granted, '/etc/app/cert.pem', CERT, uidOf('granted'));
  assert.deepEqual(granted.files['/run/secrets/cert'], { error: 'ENOENT' }, 'the manifest\'s target, not the default one');
  const other = await reportOf('other');
  for (const t of targets.split(',')) assert.deepEqual(other.files[t], { error: 'ENOENT' }, `${t} is not in a sandbox without the grant`);

  // exec runs beside the app, with its secrets (on systemd a unit of its own, which loads them anew).
  const exec = ok(['exec', 'granted', '--', 'node', '-e', 'const b = require("fs").readFileSync("/run/secrets/token"); console.log(require("crypto").createHash("sha256").update(b).digest("hex"))']);
  assert.equal(exec.trim(), sha(TOKEN));

  // Who is granted what, shown by the secrets; removing one in use is refused.
  const [t] = JSON.parse(ok(['secret', 'inspect', 'token', '--json'])) as { services: { service: string; target: string; from: string }[] }[];
  assert.deepEqual(t!.services, [{ service: 'granted', target: '/run/secrets/token', from: 'command line' }]);
  assert.match(ok(['secret', 'ls']), /^token\s.*\sgranted\s*$/m);
  refused(['secret', 'rm', 'token'], 'NISO5104', 1);

  // The values are nowhere but in the sandboxes: not in niso's outputs, not in a file of the services' dirs (logs,
  // plan.json, unit files), not in any process's command line or environment, not readable by another user.
  const values = [TOKEN, CERT.split('\n')[1]!];
  const outputs = {
    'logs': ok(['logs', 'granted']), 'status --json': ok(['status', '--json']), 'inspect --json': ok(['inspect', 'granted', '--json']), 'inspect': ok(['inspect', 'granted']),
    'debug --json': ok(['debug', 'granted', '--json']), 'secret ls --json': ok(['secret', 'ls', '--json']), 'secret inspect': ok(['secret', 'inspect', 'token', 'cert']),
    'run --dry-run': ok(['run', '--dry-run', '--secret', 'token', '--secret', 'cert', 'wants']), 'run --json': ok(['run', '--json', '--secret', 'token', '--secret', 'cert', 'wants']),
  };
  for (const [what, text] of Object.entries(outputs)) for (const v of values) assert.ok(!text.includes(v), `${what} does not show the value`);
  assert.ok(outputs['inspect'].includes(`token at /run/secrets/token (sha256:${sha(TOKEN).slice(0, 12)}`), 'inspect shows the digest');
  assert.ok(outputs['run --dry-run'].includes(`secret token (sha256:${sha(TOKEN)})`) || outputs['run --dry-run'].includes('LoadCredential=token:'), outputs['run --dry-run']);
  const plan = (JSON.parse(outputs['inspect --json']) as { plan: { mounts: { type: string; name?: string; digest?: string }[] } }).plan;
  assert.deepEqual(plan.mounts.filter((m) => m.type === 'secret').map((m) => `${m.name} ${m.digest}`).sort(), [`cert sha256:${sha(CERT)}`, `token sha256:${sha(TOKEN)}`]);
  assert.deepEqual(filesHolding(join(root, 'var/lib/niso/services'), values), []);
  if (onSystemd) assert.deepEqual([...filesHolding('/etc/systemd/system', values), ...filesHolding('/run/systemd/transient', values)], []);
  assert.deepEqual(holders(values), [], 'no process has a value in its command line or environment');
  const scan = await scanAsNobody(values, { dirs: [root, ...(onSystemd ? ['/etc/systemd/system', '/run/systemd', '/run/credentials'] : [])], units: nisoUnits() });
  assert.deepEqual(scan.found, [], 'nothing of the values is readable by another user');

  // Removed by force, the secret is gone for the service's next start, which says so.
  ok(['deactivate', 'granted', 'other']);
  ok(['remove', 'other']);
  const forced = niso(['secret', 'rm', '-f', 'token']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stderr, /granted is granted token/);
  refused(['activate', 'granted'], 'NISO5101');
  writeFileSync(join(dir, 'token.txt'), TOKEN, { mode: 0o600 });
  ok(['secret', 'create', 'token', 'token.txt']);
  ok(['remove', 'granted']);
});

test('niso run --secret: at a target of its own, 0400, the run\'s uid; a manifest\'s secret confirmed by [trust]', async () => {
  await prepare();
  const r = JSON.parse(ok(['run', '--name', 'secret-run', '--secret', 'token,target=/etc/app/token', '-e', 'MODE=once', '-e', 'TARGETS=/etc/app/token,/run/secrets/token', 'plain']).trim().split('\n').at(-1)!) as Report;
  assertGranted(r, '/etc/app/token', TOKEN, uidOf('secret-run'));
  assert.deepEqual(r.files['/run/secrets/token'], { error: 'ENOENT' });
  refused(['run', '-e', 'MODE=once', 'wants'], 'NISO3105');
  mkdirSync(join(root, 'etc/niso'), { recursive: true });
  writeFileSync(join(root, 'etc/niso/config.toml'), '[trust.wants]\nsecrets = ["cert"]\n');
  try {
    const w = JSON.parse(ok(['run', '--name', 'secret-trusted', '-e', 'MODE=once', '-e', 'TARGETS=/etc/app/cert.pem', 'wants']).trim().split('\n').at(-1)!) as Report;
    assertGranted(w, '/etc/app/cert.pem', CERT, uidOf('secret-trusted'));
  } finally {
    writeFileSync(join(root, 'etc/niso/config.toml'), '');
  }
  refused(['run', '--preset', 'unsafe-none', '--secret', 'token', '-e', 'MODE=once', 'plain'], 'NISO5108');
  refused(['run', '--secret', 'token,target=/state/token', 'plain'], 'NISO5105');
  refused(['run', '--secret', 'token,uid=0', 'plain'], 'NISO5107');
});
