// Secrets given to an app (--env NAME, --env-file, the manifest's [env], exec -e) are readable by the app's own uid
// and root only: no other local user finds them in a command line (`ps`), an environment (/proc/PID/environ), a unit
// file or `systemctl show`, and --dry-run/--json do not print them. Written once for both backends: on the host it
// runs the embedded one; sandbox-systemd.test.ts runs this same file inside a booted systemd with
// NISO_E2E_BACKEND=systemd, where runs and execs are transient units and services are units.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_MANIFEST, removeServicesAndTestDir, writeTree } from '../helpers/tmp.js';
import { holders, scanAsNobody, secret } from '../helpers/secret-scan.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const onSystemd = process.env.NISO_E2E_BACKEND === 'systemd';
const PKG = 'secretive';

const S = { cli: secret('cli'), file: secret('file'), manifest: secret('manifest'), exec: secret('exec') };
const ALL = Object.values(S);

// Prints what it got of each secret, then waits for a stop signal.
const MAIN = `
const seen = Object.fromEntries(['SECRET_CLI', 'SECRET_FILE', 'SECRET_MANIFEST', 'SECRET_EXEC'].map((k) => [k, process.env[k] ?? null]));
console.log(JSON.stringify({ uid: process.getuid(), seen }));
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(0));
setInterval(() => {}, 1000);
`;

const dir = mkdtempSync(join(tmpdir(), 'niso-secrets-'));
chmodSync(dir, 0o755);
const root = join(dir, 'root');
const envFile = join(dir, 'secrets.env');
let prepared = false;

function niso(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[], env: Record<string, string> = {}): string {
  const r = niso(args, env);
  assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The package (its [env] holds one secret) and the --env-file with another, made once. */
async function prepare(): Promise<void> {
  if (prepared) return;
  await writeTree(join(dir, PKG), {
    'manifest.toml': NODE_MANIFEST(PKG, '1.0.0', `\n[network]\nmode = "none"\n\n[env]\nSECRET_MANIFEST = "${S.manifest}"\n`, ['main.js']),
    'main.js': MAIN,
  });
  ok(['pack', PKG, '-o', `${PKG}.niso`, '-q']);
  ok(['install', `${PKG}.niso`]);
  writeFileSync(envFile, `SECRET_FILE=${S.file}\n`, { mode: 0o600 });
  prepared = true;
}

/** The secrets' way in that puts none of them into niso's own argv: `--env NAME` takes the value from niso's environment. */
const SECRET_OPTIONS = ['--env', 'SECRET_CLI', '--env-file', envFile];
const SECRET_ENV = { SECRET_CLI: S.cli };

/** Starts niso (run or exec) in the background; resolves once its output has a line matching `ready`. */
async function background(args: string[], ready: RegExp, env: Record<string, string>): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, NISO_ROOT: root, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const line = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`niso ${args.join(' ')} did not get ready:\n${out}\n${err}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const l = out.split('\n').find((x) => ready.test(x));
      if (l) { clearTimeout(timer); res(l); }
    });
    child.on('close', (c) => { clearTimeout(timer); rej(new Error(`niso ${args.join(' ')} ended with ${c}:\n${out}\n${err}`)); });
  });
  return { child, line };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise((r) => child.once('close', r));
  child.kill('SIGINT');
  await closed;
}

const uidOf = (service: string) => (JSON.parse(readFileSync(join(root, 'var/lib/niso/users.json'), 'utf8')) as { services: Record<string, number> }).services[service]!;

/** On systemd: every niso unit there is now, for `systemctl show` as nobody. */
function nisoUnits(): string[] {
  if (!onSystemd) return [];
  const r = spawnSync('systemctl', ['list-units', '--all', '--plain', '--no-legend', 'niso-*'], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.split(/\s+/)[0]!).filter(Boolean);
}

/**
 * The promise, while the app runs: the secrets are in the app's environment (which only its uid and root can read)
 * and, where niso passed them on, in root's processes alone; nobody finds any of them in a command line, an
 * environment, `ps`, the files niso and systemd wrote (NISO_ROOT, unit files, transient units), or `systemctl show`.
 */
async function assertHidden(secrets: readonly string[], appUid: number): Promise<void> {
  const held = holders(secrets);
  for (const s of secrets) assert.ok(held.some((h) => h.secret === s && h.where === 'environ' && h.uid === appUid), `the app (uid ${appUid}) has ${s}: ${JSON.stringify(held)}`);
  for (const h of held) {
    assert.equal(h.where, 'environ', `never in a command line: ${JSON.stringify(h)}`);
    assert.ok(h.uid === 0 || h.uid === appUid, `only root's and the app's own processes hold it: ${JSON.stringify(h)}`);
  }
  // Not the store: a package is world-readable (every service uid reads its own), and so is the [env] of its manifest,
  // as in the .niso file itself; secrets belong in --env or --env-file, which the README says.
  const dirs = [join(root, 'var/lib/niso/services'), join(root, 'var/lib/niso/tmp'), join(root, 'run'), join(root, 'etc'),
    ...(onSystemd ? ['/etc/systemd/system', '/run/systemd/transient', '/run/systemd/system'] : [])];
  const scan = await scanAsNobody(secrets, { dirs, units: nisoUnits() });
  assert.deepEqual(scan.found, [], 'nothing of the secrets is readable by another user');
  assert.ok(scan.environs > 0, 'the scan read environments');
}

after(() => removeServicesAndTestDir(dir, root, niso));

test('niso run: the secrets of --env NAME, --env-file and [env] reach the app, and no other user can read them', async () => {
  await prepare();
  const { child, line } = await background(['run', ...SECRET_OPTIONS, '--name', 'secret-run', PKG, '--', 'main.js'], /"seen"/, SECRET_ENV);
  try {
    const app = JSON.parse(line) as { uid: number; seen: Record<string, string | null> };
    assert.deepEqual(app.seen, { SECRET_CLI: S.cli, SECRET_FILE: S.file, SECRET_MANIFEST: S.manifest, SECRET_EXEC: null });
    assert.equal(app.uid, uidOf('secret-run'));
    await assertHidden([S.cli, S.file, S.manifest], app.uid);
  } finally {
    await stop(child);
  }
});

test('niso run --preset unsafe-none: the app runs on the host, and its secrets are still its own', async () => {
  await prepare();
  const { child, line } = await background(['run', '--preset', 'unsafe-none', ...SECRET_OPTIONS, '--name', 'secret-open', PKG, '--', 'main.js'], /"seen"/, SECRET_ENV);
  try {
    const app = JSON.parse(line) as { uid: number; seen: Record<string, string | null> };
    assert.deepEqual(app.seen, { SECRET_CLI: S.cli, SECRET_FILE: S.file, SECRET_MANIFEST: S.manifest, SECRET_EXEC: null });
    await assertHidden([S.cli, S.file, S.manifest], app.uid);
  } finally {
    await stop(child);
  }
});

test('a service and niso exec -e: the service\'s secrets and the command\'s stay theirs', async () => {
  await prepare();
  ok(['activate', ...SECRET_OPTIONS, '--name', 'secret-svc', PKG, '--', 'main.js'], SECRET_ENV);
  const uid = uidOf('secret-svc');
  const deadline = Date.now() + 20_000;
  while (!holders([S.file]).some((h) => h.uid === uid)) {
    assert.ok(Date.now() < deadline, 'the service started with its environment');
    await new Promise((r) => setTimeout(r, 50));
  }
  const exec = await background(['exec', '-e', 'SECRET_EXEC', 'secret-svc', '--', 'node', '-e', 'console.log("exec " + process.env.SECRET_EXEC + " " + process.env.SECRET_FILE); setInterval(() => {}, 1000)'], /^exec /, { SECRET_EXEC: S.exec });
  try {
    assert.equal(exec.line, `exec ${S.exec} ${S.file}`, 'the command gets the service\'s environment and its own -e');
    await assertHidden([S.cli, S.file, S.manifest, S.exec], uid);
  } finally {
    await stop(exec.child);
    ok(['deactivate', 'secret-svc']);
  }
  if (onSystemd) {
    // The unit's environment file: root's alone, written atomically (no temporary file left beside it).
    const file = join(root, 'var/lib/niso/services/secret-svc/systemd/environment');
    const st = statSync(file);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, 0);
    assert.ok(readFileSync(file, 'utf8').includes(S.file));
    assert.deepEqual(readdirSync(join(root, 'var/lib/niso/services/secret-svc/systemd')).filter((f) => f.includes('.tmp')), []);
  }
  ok(['remove', 'secret-svc']);
});

test('--dry-run and --json show which variables are set, never the values of the manifest\'s and the command line\'s', async () => {
  await prepare();
  const dry = ok(['run', '--dry-run', ...SECRET_OPTIONS, PKG], SECRET_ENV);
  for (const s of ALL) assert.ok(!dry.includes(s), `--dry-run does not print ${s}:\n${dry}`);
  for (const k of ['SECRET_CLI', 'SECRET_FILE', 'SECRET_MANIFEST']) assert.ok(dry.includes(`${k}=<hidden>`), `${k} is listed as hidden:\n${dry}`);
  assert.ok(dry.includes('NISO_SERVICE=secretive'), 'niso\'s own variables are shown');
  const json = ok(['run', '--json', ...SECRET_OPTIONS, PKG], SECRET_ENV);
  for (const s of ALL) assert.ok(!json.includes(s), `--json does not print ${s}`);
  const { plan } = JSON.parse(json) as { plan: { command: { env: Record<string, string> } } };
  assert.equal(plan.command.env.SECRET_CLI, '<hidden>');
  assert.equal(plan.command.env.SECRET_MANIFEST, '<hidden>');
  assert.equal(plan.command.env.HOME, '/state');
});
