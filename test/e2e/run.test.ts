// `niso run` as a user runs it: exit codes, arguments, environment, signals, stable uids and
// state, cleanup after a crash of niso itself, and the dry-run/--json plan output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_MANIFEST, tempDir, writeTree } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');

const MANIFEST = (name: string, version = '1.0.0', extra = '') => NODE_MANIFEST(name, version, `
[network]
mode = "none"

[env]
FROM_MANIFEST = "yes"
${extra}`, ['main.js', 'default-arg']);

const MAIN = `
const fs = require('fs');
const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'exit') process.exit(Number(rest[0]));
if (cmd === 'env') { console.log(JSON.stringify(process.env)); process.exit(0); }
if (cmd === 'nofile') { console.log(fs.readFileSync('/proc/self/limits', 'utf8').split('\\n').find((l) => l.startsWith('Max open files'))); process.exit(0); }
if (cmd === 'write') { fs.writeFileSync('/state/' + rest[0], 'x'); console.log(JSON.stringify({ uid: process.getuid(), files: fs.readdirSync('/state') })); process.exit(0); }
if (cmd === 'wait') {
  process.on('SIGINT', () => { fs.writeFileSync('/state/got-sigint', '1'); console.log('graceful'); process.exit(42); });
  console.log('ready');
  setInterval(() => {}, 1000);
} else { console.log(JSON.stringify({ args: process.argv.slice(2) })); }
`;

async function app(dir: string, name: string, version = '1.0.0', extra = ''): Promise<string> {
  const d = join(dir, `${name}-${version}`);
  await writeTree(d, { 'manifest.toml': MANIFEST(name, version, extra), 'main.js': MAIN });
  return d;
}

/** Starts `niso run APP -- main.js wait` and resolves once the app is ready; `group`: as a shell's foreground job. */
async function startWaiting(a: string, root: string, group = false) {
  const child = spawn(process.execPath, [BIN, 'run', a, '--', 'main.js', 'wait'], { env: { ...process.env, NISO_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'], detached: group });
  let out = '';
  await new Promise<void>((res) => child.stdout.on('data', (d) => { out += d; if (out.includes('ready')) res(); }));
  return { child, output: () => out };
}

function niso(args: string[], root: string, cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('runs a directory: manifest args by default, args after -- replace them, and the exit code is the app\'s', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const a = await app(dir, 'echoer');
  const r = niso(['run', a], root, dir);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), { args: ['default-arg'] });
  assert.deepEqual(JSON.parse(niso(['run', a, '--', 'main.js', 'x', '--flag'], root, dir).out), { args: ['x', '--flag'] });
  assert.equal(niso(['run', a, '--', 'main.js', 'exit', '7'], root, dir).code, 7);
  assert.equal(niso(['run', a, '--', 'main.js', 'exit', '0'], root, dir).code, 0);
  // The directory's temporary package is gone again.
  assert.deepEqual(JSON.parse(niso(['list', '--json'], root, dir).out), []);
});

test('the environment holds only what niso, the manifest and --env/--env-file set', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const a = await app(dir, 'envy');
  writeFileSync(join(dir, 'vars.env'), '# comment\nFROM_FILE=file\nFROM_MANIFEST=overridden-by-file\n\n');
  const r = niso(['run', '--env', 'FROM_CLI=cli', '--env', 'PASSED', '--env-file', 'vars.env', a, '--', 'main.js', 'env'], root, dir, { PASSED: 'from-niso-env', SECRET_OF_HOST: 'leak?' });
  assert.equal(r.code, 0, r.err);
  const env = JSON.parse(r.out) as Record<string, string>;
  assert.equal(env.FROM_CLI, 'cli');
  assert.equal(env.PASSED, 'from-niso-env');
  assert.equal(env.FROM_FILE, 'file');
  assert.equal(env.FROM_MANIFEST, 'overridden-by-file');
  assert.equal(env.HOME, '/state');
  assert.equal(env.NISO_SERVICE, 'envy');
  assert.equal(env.NISO_PACKAGE, 'envy@1.0.0');
  assert.equal(env.SECRET_OF_HOST, undefined, 'the host environment does not leak in');
  assert.equal(env.NODE_EXTRA_CA_CERTS, undefined);
  const bad = niso(['run', '--env', '1BAD=x', a], root, dir);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /NISO9001: --env 1BAD=x: "1BAD" is not a valid environment variable name/);
});

test('a service keeps its uid and its state across runs and versions; another service gets another uid', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const v1 = await app(dir, 'keeper', '1.0.0');
  const v2 = await app(dir, 'keeper', '2.0.0');
  const first = JSON.parse(niso(['run', v1, '--', 'main.js', 'write', 'one'], root, dir).out);
  const second = JSON.parse(niso(['run', v2, '--', 'main.js', 'write', 'two'], root, dir).out);
  assert.equal(first.uid, second.uid);
  assert.ok(first.uid >= 60100 && first.uid <= 61099);
  assert.deepEqual(second.files.sort(), ['one', 'two'], 'state persists between runs and versions');
  const state = join(root, 'var/lib/niso/state/keeper');
  assert.equal(statSync(join(state, 'one')).uid, first.uid, 'files on the host belong to the service uid');
  assert.equal(statSync(state).mode & 0o777, 0o700);
  const other = JSON.parse(niso(['run', '--name', 'other', v1, '--', 'main.js', 'write', 'x'], root, dir).out);
  assert.notEqual(other.uid, first.uid);
  assert.deepEqual(other.files, ['x'], 'another service has its own state dir');
});

test('Ctrl-C reaches the app\'s own handler; the app\'s exit code is niso\'s', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const a = await app(dir, 'waiter');
  const { child, output } = await startWaiting(a, root);
  child.kill('SIGINT');
  const code = await new Promise((res) => child.on('close', res));
  assert.equal(code, 42);
  assert.match(output(), /graceful/);
  assert.ok(existsSync(join(root, 'var/lib/niso/state/waiter/got-sigint')));
});

test('Ctrl-C at a terminal (a signal to the whole process group) still reaches the app\'s handler', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const a = await app(dir, 'grouped');
  // niso as the leader of its own process group, as a shell runs a foreground job.
  const { child, output } = await startWaiting(a, root, true);
  process.kill(-child.pid!, 'SIGINT');
  const code = await new Promise((res) => child.on('close', res));
  assert.equal(code, 42, output());
  assert.match(output(), /graceful/);
});

test('if niso is killed, the sandbox dies with it and the next run removes the leftover cgroup', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const a = await app(dir, 'orphan');
  const { child } = await startWaiting(a, root);
  const cgroupsOf = () => ['memory', 'pids'].flatMap((c) => {
    const base = `/sys/fs/cgroup/${c}/niso`;
    const v2 = '/sys/fs/cgroup/niso';
    const dirPath = existsSync(base) ? base : v2;
    return existsSync(dirPath) ? readdirSync(dirPath).filter((n) => n.startsWith(`orphan.${child.pid}-`)) : [];
  });
  assert.ok(cgroupsOf().length > 0, 'the run has a cgroup');
  child.kill('SIGKILL');
  await new Promise((res) => child.on('close', res));
  // The app (as the service uid) is gone: the sandbox died with niso.
  await new Promise((r) => setTimeout(r, 300));
  // Its processes are those in its cgroup (other tests' services may share the uid number in their own roots).
  const live = ['memory', 'pids'].flatMap((c) => cgroupsOf().flatMap((n) => {
    try { return readFileSync(`/sys/fs/cgroup/${c}/niso/${n}/cgroup.procs`, 'utf8').split('\n').filter(Boolean); } catch { return []; }
  }));
  assert.deepEqual(live, [], 'no process of the service survives');
  assert.deepEqual(JSON.parse(niso(['list', '--json'], root, dir).out).map((p: { name: string }) => p.name), ['orphan'], 'the killed run left its temporary package');
  const b = await app(dir, 'other');
  assert.equal(niso(['run', b, '--', 'main.js', 'exit', '0'], root, dir).code, 0);
  assert.deepEqual(cgroupsOf(), [], 'the next run swept the leftover cgroup');
  assert.deepEqual(JSON.parse(niso(['list', '--json'], root, dir).out), [], 'and removed the temporary package');
});

test('--dry-run prints the exact command; --json prints the plan; conflicts are refused', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const a = await app(dir, 'planner');
  const dry = niso(['run', '--dry-run', '--memory', '64M', a], root, dir);
  assert.equal(dry.code, 0, dry.err);
  const lines = dry.out.trim().split('\n');
  assert.match(lines.at(-1)!, /^setpriv --reuid=\d+ --regid=\d+ --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- bwrap --unshare-user --disable-userns .* --ro-bind \S+\/app \/app .* -- \/usr\/bin\/node main\.js default-arg$/);
  assert.ok(lines.some((l) => l.startsWith('# override resources.memory: null -> 67108864 (command line)')));
  const j = niso(['run', '--json', '--preset', 'strict', a], root, dir);
  const { plan, command } = JSON.parse(j.out);
  assert.equal(plan.preset, 'strict');
  assert.equal(plan.limits.pids, 256);
  assert.equal(plan.network.mode, 'none');
  assert.equal(command[0], 'setpriv');
  const conflict = niso(['run', '--preset', 'strict', '--network', 'host', a], root, dir);
  assert.equal(conflict.code, 2);
  assert.match(conflict.err, /NISO3101/);
  const caps = await app(dir, 'capper', '1.0.0', '\n[isolation]\ncapabilities = ["CAP_NET_ADMIN"]\n');
  const refused = niso(['run', caps], root, dir);
  assert.equal(refused.code, 2);
  assert.match(refused.err, /NISO3201: capabilities \(CAP_NET_ADMIN\) cannot be granted/);
  // A dry run of that plan is refused the same way (it used to end in "internal error" with a stack).
  for (const flag of ['--dry-run', '--json']) {
    const r = niso(['run', flag, caps], root, dir);
    assert.equal(r.code, 2, `${flag}: ${r.err}`);
    assert.match(r.err, /NISO3201: capabilities \(CAP_NET_ADMIN\) cannot be granted/);
    assert.doesNotMatch(r.err + r.out, /internal error|\n\s+at /);
  }
});

test('the open-files limit of the plan is in force inside the sandbox', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const a = await app(dir, 'limited');
  const r = niso(['run', '--preset', 'strict', a, '--', 'main.js', 'nofile'], root, dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Max open files\s+1024\s+1024\s+files/);
});

test('what the service uid cannot reach is refused with a clear error, not bwrap\'s "Permission denied"', async () => {
  const dir = tempDir();
  const priv = join(dir, 'private');
  mkdirSync(priv, { mode: 0o700 });
  const a = await app(dir, 'hidden');
  // The store below a private directory (NISO3104).
  const r = niso(['run', a], join(priv, 'root'), dir);
  assert.equal(r.code, 1);
  assert.match(r.err, /NISO3104: the package at \S+ is inside a directory that other users cannot enter/);
  // A runtime below a private directory (NISO3103), e.g. pyenv's under /root.
  const root = join(dir, 'root');
  const node = join(priv, 'node');
  try { linkSync(process.execPath, node); } catch { copyFileSync(process.execPath, node); chmodSync(node, 0o755); }
  const major = process.versions.node.split('.')[0];
  const add = niso(['runtime', 'add', `nodejs:${major}`, node], root, dir);
  assert.equal(add.code, 0, add.err);
  const refused = niso(['run', a], root, dir);
  assert.equal(refused.code, 1);
  assert.match(refused.err, new RegExp(`NISO3103: the nodejs [\\d.]+ runtime at ${node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is inside a directory other users cannot enter`));
});

test('a missing runtime version is a clear error that lists what the host has', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const d = join(dir, 'old');
  await writeTree(d, { 'manifest.toml': MANIFEST('old').replace('nodejs:20', 'nodejs:14'), 'main.js': MAIN });
  const r = niso(['run', d], root, dir);
  assert.equal(r.code, 1);
  assert.match(r.err, /NISO300[12]/);
  assert.match(r.err, /nodejs 20\.\d+\.\d+/, 'names the version the host has');
  assert.match(r.err, /niso runtime add nodejs:14/, 'says how to add one');
});
