// `niso exec` against a real running sandbox: a node server started with runSandbox, then commands
// run inside it through execInService, asserting what a user of `niso exec` sees (uid, files,
// network, processes, limits, exit codes, a TTY) and what the app could reach in return.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeContext } from '../../src/cli/context.js';
import { preparePlan } from '../../src/cli/commands/run.js';
import { isNisoError } from '../../src/errors/niso-error.js';
import { hostArch } from '../../src/host/arch.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { packApp } from '../../src/package/pack.js';
import type { Plan } from '../../src/plan/plan.js';
import { buildSeccompFilter, DEFAULT_DENY } from '../../src/render/seccomp.js';
import { runSandbox, type SandboxResult } from '../../src/sandbox/run-sandbox.js';
import { execInService, type ExecInServiceOptions } from '../../src/service/exec.js';
import { findCommand, resolveInRoot } from '../../src/service/exec-resolve.js';
import { readInstallLimits } from '../../src/store/host-config.js';
import { installPackage } from '../../src/store/install.js';
import { layout } from '../../src/store/layout.js';
import { resolveOne } from '../../src/store/resolve.js';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const REPO = join(import.meta.dirname, '../..');

const MANIFEST = `[package]
name = "execme"
version = "1.0.0"

[runtime]
use = "nodejs:20"

[binary]
entrypoint = "node"
args = ["server.js"]

[env]
FROM_MANIFEST = "manifest-value"
`;

// Writes into its private /tmp (a tmpfs only the sandbox has) and /state, and serves on loopback
// inside its own network namespace, where nothing outside the sandbox can reach it.
const SERVER = `
const fs = require('fs');
fs.writeFileSync('/tmp/from-app', 'tmp-of-' + process.pid);
fs.writeFileSync('/state/from-app', 'state-of-app');
require('http').createServer((q, s) => s.end('hello from the app')).listen(8080, '127.0.0.1', () => fs.writeFileSync('/tmp/ready', '1'));
`;

let plan: Plan;
let initPid: number;
let appPid: number;
let ctx: ReturnType<typeof makeContext>;
let pkg: Awaited<ReturnType<typeof resolveOne>>;
let manifest: NonNullable<ReturnType<typeof parseManifest>['manifest']>;
let seccomp: Buffer;
let sandbox: Promise<SandboxResult> | undefined;

// The app stops first, then its directories go (hooks at the top level run in this order).
after(async () => {
  if (appPid) process.kill(appPid, 'SIGTERM');
  await sandbox;
});
const work = tempDir('niso-exec-');

before(async () => {
  const root = join(work, 'root');
  const app = join(work, 'app');
  await writeTree(app, { 'manifest.toml': MANIFEST, 'server.js': SERVER, 'bin/hello.sh': { content: '#!/bin/sh\necho hello\n', mode: 0o755 } });
  const packed = await packApp({ appDir: app, cwd: work, output: join(work, 'app.niso') });
  const installed = await installPackage(root, packed.file, await readInstallLimits(layout(root).config, {}));
  pkg = await resolveOne(root, installed.digest);
  manifest = parseManifest(MANIFEST).manifest!;
  ctx = makeContext(work, { ...process.env, NISO_ROOT: root }, process.stdout, process.stderr);
  plan = await preparePlan(ctx, pkg, manifest, 'execme', { env: {}, args: [] });
  seccomp = buildSeccompFilter({ arch: hostArch() as 'x86_64' | 'aarch64', deny: DEFAULT_DENY, allow: plan.seccomp!.allow }).program;
  let started!: (pid: number) => void;
  const init = new Promise<number>((res) => { started = res; });
  sandbox = runSandbox(plan, seccomp, { onStart: (pid) => started(pid) });
  initPid = await init;
  for (let i = 0; i < 500; i++) {
    const kids = readFileSync(`/proc/${initPid}/task/${initPid}/children`, 'utf8').trim();
    if (kids && existsSync(`/proc/${kids.split(/\s+/)[0]}/root/tmp/ready`)) { appPid = Number(kids.split(/\s+/)[0]); break; }
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(appPid, 'the app started and listens');
});

/** Runs `node -e CODE` inside the sandbox; CODE prints one JSON document. */
async function nodeIn(code: string, extra: Partial<ExecInServiceOptions> = {}) {
  const r = await execInService({ plan, initPid, argv: ['node', '-e', code], stdio: 'pipe', ...extra });
  return { ...r, json: () => JSON.parse(r.output!) as Record<string, unknown> };
}

/**
 * Runs execInService in a niso process of its own (under script(1) with `terminal`, so that it has
 * a terminal), which prints its own terminal's device number and, at the end, the exit code.
 */
function nisoExec(options: Partial<ExecInServiceOptions>, opts: { terminal?: boolean } = {}) {
  const n = ++helpers;
  const spec = join(work, `exec-${n}.json`);
  const helper = join(work, `exec-${n}.mts`);
  writeFileSync(spec, JSON.stringify({ plan, initPid, ...options }));
  writeFileSync(helper, `
    import { fstatSync, readFileSync } from 'node:fs';
    import { execInService } from ${JSON.stringify(join(REPO, 'src/service/exec.ts'))};
    console.log('NISO-TTY ' + (process.stdin.isTTY ? fstatSync(0).rdev : 0));
    const r = await execInService(JSON.parse(readFileSync(${JSON.stringify(spec)}, 'utf8')));
    console.log('EXIT ' + r.exitCode);
  `);
  const cmd = [process.execPath, '--import', 'tsx', helper];
  const child = opts.terminal
    ? spawn('script', ['-q', '-e', '-c', cmd.join(' '), '/dev/null'], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SHELL: '/bin/sh' } })
    : spawn(cmd[0]!, cmd.slice(1), { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const closed = new Promise<number | null>((res) => child.on('close', res));
  return { child, closed, output: () => out.replace(/\r\n/g, '\n') };
}
let helpers = 0;

test('the command runs as the service, in the app\'s pid, network and cgroup namespaces, with no privileges', async () => {
  const r = await nodeIn(`
    const fs = require('fs');
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const field = (n) => new RegExp('^' + n + ':\\\\s+(.*)$', 'm').exec(status)[1].trim();
    const pids = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p));
    const app = pids.find((p) => { try { return fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').includes('server.js'); } catch { return false; } });
    console.log(JSON.stringify({
      uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), cwd: process.cwd(),
      seccomp: field('Seccomp'), filters: field('Seccomp_filters'), nnp: field('NoNewPrivs'), capEff: field('CapEff'), capBnd: field('CapBnd'), capPrm: field('CapPrm'),
      app, appFilters: /^Seccomp_filters:\\s+(\\d+)/m.exec(fs.readFileSync('/proc/' + app + '/status', 'utf8'))[1],
      cgroup: fs.readFileSync('/proc/self/cgroup', 'utf8'), appCgroup: fs.readFileSync('/proc/' + app + '/cgroup', 'utf8'),
      hostname: require('os').hostname(), env: process.env,
    }));`, { env: { FROM_EXEC: 'exec-value' } });
  assert.equal(r.exitCode, 0, r.output);
  const j = r.json() as Record<string, string | number | number[] | Record<string, string>>;
  assert.equal(j.uid, plan.user.uid);
  assert.equal(j.gid, plan.user.gid);
  assert.deepEqual(j.groups, [plan.user.gid], 'no supplementary groups of root');
  assert.equal(j.cwd, plan.command.cwd);
  assert.equal(j.seccomp, '2', 'a seccomp filter is loaded');
  assert.equal(j.filters, j.appFilters, 'as many filters as the app has');
  assert.equal(j.nnp, '1');
  assert.equal(j.capEff, '0000000000000000');
  assert.equal(j.capPrm, '0000000000000000');
  assert.equal(j.capBnd, '0000000000000000');
  assert.ok(j.app, 'the app shows in the command\'s /proc');
  assert.equal(j.cgroup, j.appCgroup, 'the same cgroups as the app, seen through the same cgroup namespace');
  assert.equal(j.hostname, plan.hostname);
  const env = j.env as Record<string, string>;
  assert.equal(env.FROM_MANIFEST, 'manifest-value');
  assert.equal(env.NISO_SERVICE, 'execme');
  assert.equal(env.FROM_EXEC, 'exec-value');
  assert.equal(env.HOME, '/state');
  for (const k of Object.keys(process.env)) if (!(k in plan.command.env) && k !== 'PWD') assert.equal(env[k], undefined, `${k} of niso's environment does not leak in`);
  // On the host the command was in the app's cgroups, so their limits applied to it.
  assert.ok(r.startMs !== null && r.startMs > 0);
});

test('it sees the app\'s files: its private /tmp and /state; /app and / stay read-only', async () => {
  const r = await nodeIn(`
    const fs = require('fs');
    const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'written'; } catch (e) { return e.code; } };
    console.log(JSON.stringify({
      tmp: fs.readFileSync('/tmp/from-app', 'utf8'), state: fs.readFileSync('/state/from-app', 'utf8'),
      app: tryWrite('/app/x'), root: tryWrite('/x'), etc: tryWrite('/etc/x'),
      tmpWrite: tryWrite('/tmp/from-exec'), stateWrite: tryWrite('/state/from-exec'),
      hostOnly: ['/home', '/root', '/etc/shadow', '/usr/bin/bash', '${work}'].filter((p) => fs.existsSync(p)),
    }));`);
  assert.equal(r.exitCode, 0, r.output);
  const j = r.json();
  assert.equal(j.tmp, readFileSync(`/proc/${appPid}/root/tmp/from-app`, 'utf8'), 'the app\'s own /tmp');
  assert.match(String(j.tmp), /^tmp-of-\d+$/);
  assert.equal(j.state, 'state-of-app');
  assert.equal(j.app, 'EROFS');
  assert.equal(j.root, 'EROFS');
  assert.equal(j.etc, 'EROFS');
  assert.equal(j.tmpWrite, 'written');
  assert.equal(j.stateWrite, 'written');
  assert.deepEqual(j.hostOnly, [], 'nothing of the host beyond what the app has');
  // The app sees what the command wrote: the same tmpfs, and files owned by the service on the host.
  assert.equal(readFileSync(`/proc/${appPid}/root/tmp/from-exec`, 'utf8'), 'x');
  assert.equal(statSync(`/proc/${appPid}/root/tmp/from-exec`).uid, plan.user.uid);
  const stateDir = plan.mounts.find((m) => m.type === 'bind' && m.target === '/state')!;
  assert.equal(statSync(join((stateDir as { source: string }).source, 'from-exec')).uid, plan.user.uid);
});

test('it reaches the app\'s loopback-only port (the same network namespace)', async () => {
  const r = await execInService({
    plan, initPid, stdio: 'pipe',
    argv: ['node', '-e', `require('http').get('http://127.0.0.1:8080/', (res) => { let b = ''; res.on('data', (d) => b += d); res.on('end', () => console.log(b)); }).on('error', (e) => { console.log(e.code); process.exit(3); })`],
  });
  assert.equal(r.exitCode, 0, r.output);
  assert.equal(r.output!.trim(), 'hello from the app');
});

test('the exit code passes through, 127 included; a command missing from the sandbox is NISO3311', async () => {
  assert.equal((await execInService({ plan, initPid, argv: ['node', '-e', 'process.exit(7)'], stdio: 'pipe' })).exitCode, 7);
  assert.equal((await execInService({ plan, initPid, argv: ['node', '-e', 'process.exit(127)'], stdio: 'pipe' })).exitCode, 127);
  const killed = await execInService({ plan, initPid, argv: ['node', '-e', 'process.kill(process.pid, "SIGTERM")'], stdio: 'pipe' });
  assert.equal(killed.exitCode, 143);
  assert.equal(killed.signal, 'SIGTERM');
  for (const [argv0, why] of [['sh', /"sh" is not in the sandbox's PATH/], ['/usr/bin/python3', /\/usr\/bin\/python3 does not exist in the sandbox/], ['./missing.js', /\/app\/missing\.js does not exist/]] as const) {
    await assert.rejects(execInService({ plan, initPid, argv: [argv0, '-c', 'true'], stdio: 'pipe' }), (e: unknown) => {
      assert.ok(isNisoError(e) && e.code === 'NISO3311', String(e));
      assert.match(e.message, why);
      assert.match(e.hint ?? '', /run a program from the app or the runtime/);
      return true;
    });
  }
  // A file that is there but not executable, or a script whose interpreter is missing, is told apart.
  await assert.rejects(execInService({ plan, initPid, argv: ['/app/server.js'], stdio: 'pipe' }), /\/app\/server\.js is not an executable file/);
  await assert.rejects(execInService({ plan, initPid, argv: ['hello.sh'], stdio: 'pipe' }), /\/app\/bin\/hello\.sh is a script for \/bin\/sh, which the sandbox does not contain/);
});

test('commands are looked up as inside the sandbox: absolute links start at its root, loops end', () => {
  const root = join(work, 'fake-root');
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  mkdirSync(join(root, 'app/bin'), { recursive: true });
  writeFileSync(join(root, 'usr/bin/only-inside'), '\x7fELF', { mode: 0o755 });
  symlinkSync('/usr/bin/only-inside', join(root, 'app/bin/tool'));
  symlinkSync('../../usr/bin/only-inside', join(root, 'app/bin/rel'));
  symlinkSync('/app/bin/loop-b', join(root, 'app/bin/loop-a'));
  symlinkSync('/app/bin/loop-a', join(root, 'app/bin/loop-b'));
  symlinkSync('/etc/hostname', join(root, 'app/bin/host-file'));
  const opts = { path: '/app/bin:/usr/bin', cwd: '/app', uid: 60001, gid: 60001 };
  assert.equal(resolveInRoot(root, '/app/bin/tool'), '/usr/bin/only-inside');
  assert.equal(resolveInRoot(root, '/app/bin/rel'), '/usr/bin/only-inside');
  assert.equal(resolveInRoot(root, '/app/bin/loop-a'), null);
  assert.equal(resolveInRoot(root, '/app/bin/host-file'), null, 'an absolute link is not followed on the host');
  assert.deepEqual(findCommand(root, 'tool', opts), { found: true, path: '/app/bin/tool' });
  assert.deepEqual(findCommand(root, 'only-inside', opts), { found: true, path: '/usr/bin/only-inside' });
  assert.equal(findCommand(root, 'host-file', opts).found, false);
  assert.equal(findCommand(root, 'loop-a', opts).found, false);
});

test('timeoutMs kills a hanging command and what it started', async () => {
  const r = await execInService({
    plan, initPid, stdio: 'pipe', timeoutMs: 800,
    argv: ['node', '-e', `require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'left-' + 'behind'], { stdio: 'inherit' }); console.log('started'); setInterval(() => {}, 1000)`, 'left-' + 'behind'],
  });
  assert.equal(r.timedOut, true);
  assert.equal(r.exitCode, 137);
  assert.match(r.output!, /started/);
  // Only the app (and the sandbox's init) are left inside.
  const left = await nodeIn(`console.log(JSON.stringify(require('fs').readdirSync('/proc').filter((p) => /^\\d+$/.test(p) && +p !== process.pid).map((p) => { try { return require('fs').readFileSync('/proc/' + p + '/cmdline', 'utf8').split('\\0').join(' ').trim(); } catch { return ''; } }).filter((c) => c.includes('left-' + 'behind'))))`);
  assert.deepEqual(left.json(), []);
});

test('the app cannot reach into niso\'s side of an exec, and the command holds no host descriptor', async () => {
  // Everything here runs with the app's privileges, so it can do what a compromised app could.
  const r = await nodeIn(`
    const fs = require('fs');
    const out = { foreign: [], fds: [] };
    for (const p of fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p))) {
      let uid; try { uid = +/^Uid:\\s+(\\d+)/m.exec(fs.readFileSync('/proc/' + p + '/status', 'utf8'))[1]; } catch { continue; }
      if (uid === process.getuid()) continue;
      const probe = (f) => { try { f(); return 'open'; } catch (e) { return e.code; } };
      out.foreign.push({ uid, mem: probe(() => fs.closeSync(fs.openSync('/proc/' + p + '/mem', 'r+'))), root: probe(() => fs.readdirSync('/proc/' + p + '/root')), fd: probe(() => fs.readdirSync('/proc/' + p + '/fd')) });
    }
    for (const f of fs.readdirSync('/proc/self/fd')) { try { out.fds.push(fs.readlinkSync('/proc/self/fd/' + f)); } catch {} }
    console.log(JSON.stringify(out));`);
  assert.equal(r.exitCode, 0, r.output);
  const j = r.json() as { foreign: { uid: number; mem: string; root: string; fd: string }[]; fds: string[] };
  assert.ok(j.foreign.length > 0, 'bubblewrap\'s monitor of the exec is visible (as an unmapped user)');
  for (const f of j.foreign) assert.deepEqual([f.mem, f.root, f.fd], ['EACCES', 'EACCES', 'EACCES'], JSON.stringify(f));
  assert.deepEqual(j.fds.filter((l) => /^(\/usr|\/lib|\/bin|\/etc|\/proc\/|\/sys|\/run|\/var|user:|pid:|mnt:|net:|ipc:|uts:|cgroup:)/.test(l)), []);
});

test('signals sent to niso reach the command', async () => {
  // A niso process of its own, as `niso exec` is: this test process also runs the app with
  // runSandbox, which forwards the signals it gets to the app.
  rmSync(`/proc/${appPid}/root/tmp/sig-ready`, { force: true });
  const niso = nisoExec({ stdio: 'inherit', argv: ['node', '-e', `process.on('SIGTERM', () => { console.log('GOT-SIGTERM'); process.exit(42); }); require('fs').writeFileSync('/tmp/sig-ready', '1'); setInterval(() => {}, 1000)`] });
  for (let i = 0; i < 1000 && !existsSync(`/proc/${appPid}/root/tmp/sig-ready`); i++) await new Promise((r) => setTimeout(r, 10));
  niso.child.kill('SIGTERM');
  assert.equal(await niso.closed, 0, niso.output());
  assert.match(niso.output(), /GOT-SIGTERM\n[^]*EXIT 42/);
});

test('a command does not outlive a niso that was killed', async () => {
  rmSync(`/proc/${appPid}/root/tmp/orphan-ready`, { force: true });
  const niso = nisoExec({ stdio: 'inherit', argv: ['node', '-e', `require('fs').writeFileSync('/tmp/orphan-ready', '1'); setInterval(() => {}, 1000)`, 'orphan-' + 'marker'] });
  for (let i = 0; i < 1000 && !existsSync(`/proc/${appPid}/root/tmp/orphan-ready`); i++) await new Promise((r) => setTimeout(r, 10));
  const marked = () => readdirSync('/proc').filter((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('orphan-' + 'marker'); } catch { return false; } });
  assert.ok(marked().length > 0, 'the command runs');
  niso.child.kill('SIGKILL');
  // (Its output pipe closes only once every process that holds it has ended.)
  await Promise.race([niso.closed, new Promise((r) => setTimeout(r, 3000))]);
  await until('the chain and the command to be gone', () => marked().length === 0, 30_000, 10).catch(() => undefined);
  assert.deepEqual(marked(), [], 'the chain and the command are gone');
});

test('an unsandboxed service: the command runs on the host as the service\'s user, in its cgroup', async () => {
  const free = await preparePlan(ctx, pkg, manifest, 'execfree', { env: {}, args: ['-e', 'setInterval(() => {}, 1000)', 'unsandboxed-' + 'app'], preset: 'unsafe-none' });
  const run = runSandbox(free, null);
  let pid = 0;
  for (let i = 0; i < 500 && !pid; i++) {
    // The app itself, not the shell that starts it and has not joined its cgroup yet.
    pid = Number(readdirSync('/proc').find((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(`${free.command.argv[0]}\0-e`) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('unsandboxed-' + 'app'); } catch { return false; } }) ?? 0);
    if (!pid) await new Promise((r) => setTimeout(r, 10));
  }
  try {
    const r = await execInService({ plan: free, initPid: 0, appPid: pid, stdio: 'pipe', argv: ['node', '-e', 'console.log(JSON.stringify({ uid: process.getuid(), cwd: process.cwd(), cgroup: require("fs").readFileSync("/proc/self/cgroup", "utf8"), svc: process.env.NISO_SERVICE }))'] });
    assert.equal(r.exitCode, 0, r.output);
    const j = JSON.parse(r.output!) as { uid: number; cwd: string; cgroup: string; svc: string };
    assert.equal(j.uid, free.user.uid);
    assert.equal(j.cwd, free.command.cwd);
    assert.equal(j.svc, 'execfree');
    assert.equal(j.cgroup, readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    await assert.rejects(execInService({ plan: free, initPid: 0, stdio: 'pipe', argv: ['node'] }), (e: unknown) => isNisoError(e) && e.code === 'NISO3303');
  } finally {
    process.kill(pid, 'SIGTERM');
    await run;
  }
});

test('a service that does not run is NISO3303', async () => {
  await assert.rejects(execInService({ plan, initPid: 2 ** 22 + 7, argv: ['node', '-e', '0'], stdio: 'pipe' }), (e: unknown) => isNisoError(e) && e.code === 'NISO3303');
});

test('with a TTY the command gets a fresh terminal, never niso\'s own, and ^C reaches it', async () => {
  // niso itself runs under script(1) here, so that it has a terminal of its own to keep away.
  const niso = nisoExec({ tty: true, interactive: true, stdio: 'inherit', argv: ['node', '-e', `
    const fs = require('fs');
    const ttyNr = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[4];
    console.log('INSIDE ' + JSON.stringify({ isTTY: process.stdout.isTTY && process.stdin.isTTY, rdev: fs.fstatSync(0).rdev, ttyNr, term: process.env.TERM }));
    process.on('SIGINT', () => { console.log('GOT-SIGINT'); process.exit(42); });
    console.log('READY');
    setInterval(() => {}, 1000);
  `] }, { terminal: true });
  let ended = false;
  void niso.closed.then(() => { ended = true; });
  const deadline = Date.now() + 15_000;
  while (!niso.output().includes('READY') && !ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(niso.output(), /READY/);
  niso.child.stdin!.write('\x03');
  const code = await niso.closed;
  const out = niso.output();
  assert.equal(code, 0, out);
  const nisoTty = Number(/NISO-TTY (\d+)/.exec(out)![1]);
  const inside = JSON.parse(/INSIDE (\{.*\})/.exec(out)![1]!) as { isTTY: boolean; rdev: number; ttyNr: string; term: string };
  assert.ok(nisoTty > 0, 'niso has a terminal');
  assert.equal(inside.isTTY, true);
  assert.notEqual(inside.rdev, nisoTty, 'a fresh pseudo-terminal, not niso\'s');
  assert.equal(inside.ttyNr, '0', 'and no controlling terminal at all (its own session)');
  assert.equal(inside.term, 'xterm');
  assert.match(out, /GOT-SIGINT/);
  assert.match(out, /EXIT 42/);
});
