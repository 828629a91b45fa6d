// `niso run` and `niso exec` on the systemd backend, end to end: a real systemd 252 in nspawn (with a network
// namespace of its own, so the private networks made here never touch the host's) and the niso CLI run INSIDE it.
// A run is a transient unit with the sandbox a service unit gets; an exec is a transient unit with the service
// unit's own lines, in the service's network and IPC namespaces. Both pass exit codes and signals, and leave
// nothing behind: no unit, no user, no files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SystemdE2E, BIN } from '../helpers/systemd-e2e.js';
import { until as untilWithin } from '../helpers/wait.js';
import type { Exec, Machine } from '../helpers/nspawn.js';

const PKG = 'sdrun';
/** A package with an [init] step that seeds its volume (init.js), for runs with an init step. */
const INIT_PKG = 'sdinit';
const INIT_JS = `const fs = require('fs');
console.log('init as ' + process.getuid());
if (process.env.INIT_FAIL) { console.error('init failed: ' + process.env.INIT_FAIL); process.exit(3); }
if (process.env.INIT_HANG) setInterval(() => {}, 1000);
else fs.writeFileSync('/data/seeded', String(process.getuid()));
`;

let root = '';
let m: Machine | null = null;
const e2e = new SystemdE2E('sdrun');
const { figures, niso, nisoOk } = e2e;

/** `niso run` of the package under a name of its own, the app being `node -e SCRIPT`. */
const run = (name: string, script: string, opts: string[] = ['--network', 'none']) => niso(['run', ...opts, '--name', name, PKG, '--', '-e', script]);

/** Unit states change quickly here: checked every 25 ms, for 10 s. */
const until = <T>(what: string, f: () => Promise<T | null | undefined | false> | T | null | undefined | false) => untilWithin(what, f, 10_000, 25);

async function units(pattern: string): Promise<string[]> {
  const r = await m!.ok('systemctl', ['list-units', '--all', '--plain', '--no-legend', pattern]);
  return r.split('\n').filter(Boolean);
}

const transientDir = () => join(root, 'run/niso/systemd-run');
/** The host's view of a run of a service-less package's /state: none (a tmpfs in the sandbox, gone with the run). */
const runState = (service: string) => { const tmp = join(root, 'var/lib/niso/tmp'); return (existsSync(tmp) ? readdirSync(tmp) : []).filter((n) => n.includes(`-state-${service}-`)).map((n) => join(tmp, n)); };
/** Whether the run's app wrote /state/ready: seen through its own root, as the tmpfs is only in its mount namespace. */
const wroteReady = async (service: string) => (await m!.run('sh', ['-c', `for p in $(pgrep -u niso-${service}); do test -e /proc/$p/root/state/ready && exit 0; done; exit 1`])).code === 0;
const leftovers = () => (existsSync(transientDir()) ? readdirSync(transientDir()) : []);
const uidOf = (service: string) => (JSON.parse(readFileSync(join(root, 'var/lib/niso/users.json'), 'utf8')) as { services: Record<string, number> }).services[service];
const hasUser = async (name: string) => (await m!.run('getent', ['passwd', name])).code === 0;

/** Prints what the sandbox looks like from inside, as one JSON line. */
const PROBE = `const fs = require('fs');
const st = Object.fromEntries(fs.readFileSync('/proc/self/status', 'utf8').split('\\n').filter(Boolean).map((l) => l.split(/:\\s+/)));
let shadow = 'readable'; try { fs.readFileSync('/etc/shadow'); } catch (e) { shadow = e.code; }
console.log(JSON.stringify({ uid: process.getuid(), capEff: st.CapEff, capBnd: st.CapBnd, nnp: st.NoNewPrivs, seccomp: st.Seccomp, shadow, etc: fs.readdirSync('/etc').sort(), net: fs.readlinkSync('/proc/self/ns/net'), ifaces: Object.keys(require('os').networkInterfaces()).sort() }));`;
interface Probe { uid: number; capEff: string; capBnd: string; nnp: string; seccomp: string; shadow: string; etc: string[]; net: string; ifaces: string[] }

before(async () => {
  e2e.makeDir();
  root = e2e.root;
  e2e.nodePackage(PKG);
  e2e.nodePackage(INIT_PKG, {
    manifest: (t) => `${t}\n[init]\ncommand = ["node", "init.js"]\nif_empty = "/data"\ntimeout = "3s"\n\n[volumes.data]\nmount = "/data"\n`,
    files: { 'init.js': INIT_JS },
  });
  m = await e2e.boot({ limits: true, privateNetwork: true });
});

after(() => e2e.cleanup());

test('backend choice: systemd where it is PID 1, --backend embedded forces bubblewrap; --json shows the command', async () => {
  const sd = JSON.parse(await nisoOk(['run', '--json', '--network', 'none', PKG])) as { backend: string; command: string[] };
  assert.equal(sd.backend, 'systemd');
  assert.deepEqual(sd.command.slice(0, 7).map((a) => a.replace(/-[0-9a-f]{6}\./, '-X.')), ['systemd-run', `--unit=niso-run-${PKG}-X.service`, `--description=niso run ${PKG}`, '--quiet', '--wait', '--collect', '--pipe']);
  assert.ok(sd.command.includes(`User=${uidOf(PKG)}`) && sd.command.includes('NoNewPrivileges=yes'), sd.command.join(' '));
  assert.ok(!sd.command.some((a) => a.startsWith('Restart')), 'no restarts for a run');
  const bw = JSON.parse(await nisoOk(['run', '--json', '--backend', 'embedded', '--network', 'none', PKG])) as { command: string[] };
  assert.ok(bw.command.includes('bwrap'), bw.command.join(' '));
  assert.deepEqual(leftovers(), [], 'a dry run prepares nothing');
});

test('niso run is a transient unit while it runs, with the sandbox of a service unit, and nothing is left after it', async () => {
  // A service of the same package, for comparison: the run's unit must carry the same sandbox.
  await nisoOk(['activate', PKG, '--network', 'none', '--name', 'web']);
  const t0 = performance.now();
  const running = run('runner', "console.log('started'); setTimeout(() => process.exit(3), 1500)");
  const line = await until('the transient unit', async () => (await units('niso-run-*'))[0]);
  figures.runVisibleMs = (performance.now() - t0).toFixed(0);
  const unit = line.split(/\s+/)[0]!;
  assert.match(line, /^niso-run-runner-[0-9a-f]{6}\.service\s+loaded\s+(active\s+running|activating\s+start)\s/);
  const props = ['User', 'NoNewPrivileges', 'CapabilityBoundingSet', 'AmbientCapabilities', 'SystemCallFilter', 'SystemCallErrorNumber', 'SystemCallArchitectures',
    'RestrictNamespaces', 'LockPersonality', 'RestrictAddressFamilies', 'PrivateUsers', 'PrivateNetwork', 'PrivateIPC', 'PrivateDevices', 'PrivateMounts',
    'ProtectSystem', 'ProtectHome', 'ProtectProc', 'ProcSubset', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups',
    'ProtectClock', 'ProtectHostname', 'RestrictSUIDSGID', 'RestrictRealtime', 'KeyringMode', 'MemoryDenyWriteExecute', 'UMask', 'TasksMax', 'MountAPIVFS',
    'TemporaryFileSystem', 'WorkingDirectory', 'Environment', 'UnsetEnvironment', 'KillSignal', 'TimeoutStopUSec', 'Type'];
  const showAll = async (u: string) => Object.fromEntries((await m!.ok('systemctl', ['show', ...props.flatMap((p) => ['-p', p]), u])).split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const mine = await showAll(unit);
  const service = await showAll('niso-web.service');
  // Only what names the service differs: its uid, and NISO_SERVICE in the environment. And the working directory
  // may be missing for the run's exit recorder, which runs outside the root ("-" prefix, shown by systemd as "!"),
  // as it may for a service's own ExecStopPost= where it has limits (it keeps their counters).
  // The run has no service of its name, so its /state is a tmpfs of its own where the service binds its state dir.
  const uid = uidOf('runner')!;
  assert.equal(mine.User, String(uid));
  assert.equal(mine.WorkingDirectory, `!${service.WorkingDirectory!.replace(/^!/, '')}`);
  // And its /tmp is a tmpfs of its own, where a service binds the host tmpfs that its exec commands share.
  const stateTmpfs = `/state:size=${10 * 1024 ** 3},mode=0700,uid=${uid},gid=${uid} `;
  const tmpTmpfs = `/tmp:size=${64 * 1024 ** 2},mode=1777 `;
  assert.ok(mine.TemporaryFileSystem!.startsWith(stateTmpfs + tmpTmpfs), mine.TemporaryFileSystem);
  assert.deepEqual({ ...mine, User: '', WorkingDirectory: '', Environment: mine.Environment!.replace('NISO_SERVICE=runner', ''), TemporaryFileSystem: mine.TemporaryFileSystem!.slice(stateTmpfs.length + tmpTmpfs.length) }, { ...service, User: '', WorkingDirectory: '', Environment: service.Environment!.replace('NISO_SERVICE=web', '') });
  assert.match(mine.SystemCallFilter!, /^~/);
  assert.ok(await hasUser('niso-runner'), 'the run\'s user exists while it runs');

  const r = await running;
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'started\n');
  assert.deepEqual(await units('niso-run-*'), [], 'the unit is gone');
  assert.equal(await hasUser('niso-runner'), false, 'the user it created is gone');
  assert.deepEqual(leftovers(), [], 'its files are gone');
});

test('exit codes: 0, the app\'s own, and 128+N for a signal (also SIGTERM, which systemd counts as success)', async () => {
  const t0 = performance.now();
  const ok = await run('codes', "console.log('hello')");
  figures.runHelloMs = (performance.now() - t0).toFixed(0);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'hello\n');
  const killed = await run('codes', "process.kill(process.pid, 'SIGKILL')");
  assert.equal(killed.code, 137);
  assert.match(killed.stderr, /codes ended by SIGKILL/);
  const termed = await run('codes', "process.kill(process.pid, 'SIGTERM')");
  assert.equal(termed.code, 143);
  const stderr = await run('codes', "process.stderr.write('to stderr\\n'); process.exitCode = 7");
  assert.equal(stderr.code, 7);
  assert.equal(stderr.stderr, 'to stderr\n');
  // Values arrive as they were given: no %-specifiers or $VARIABLES expanded on the way through systemd.
  const weird = '50% $HOME %n "quoted" back\\slash';
  const echo = await niso(['run', '--network', 'none', '--name', 'codes', '--env', `WEIRD=${weird}`, PKG, '--', '-e', 'console.log(JSON.stringify([process.env.WEIRD, process.argv[1]]))', weird]);
  assert.equal(echo.code, 0, echo.stderr);
  assert.deepEqual(JSON.parse(echo.stdout), [weird, weird]);
  assert.deepEqual(await units('niso-run-*'), []);
  assert.deepEqual(leftovers(), []);
});

test('the app runs as the plan\'s uid with no capabilities, no_new_privs and seccomp, and cannot read the host\'s /etc/shadow', async () => {
  assert.equal((await m!.run('test', ['-r', '/etc/shadow'])).code, 0, 'the machine has an /etc/shadow');
  const r = await run('probe', PROBE);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as Probe;
  assert.equal(p.uid, uidOf('probe'));
  assert.equal(p.capEff, '0000000000000000');
  assert.equal(p.capBnd, '0000000000000000');
  assert.equal(p.nnp, '1');
  assert.equal(p.seccomp, '2');
  assert.equal(p.shadow, 'ENOENT');
  assert.deepEqual(p.etc, ['group', 'hosts', 'localtime', 'nsswitch.conf', 'passwd', 'ssl']);
  assert.deepEqual(p.ifaces, ['lo'], 'network none: loopback only');
});

test('a private network: attached for the run, joined by the unit, removed after it', async () => {
  const r = await run('netrun', PROBE, []);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as Probe;
  assert.deepEqual(p.ifaces, ['eth0', 'lo']);
  assert.match(r.stderr, /netrun is 10\.\d+\.\d+\.\d+ on network default/);
  assert.deepEqual((await m!.ok('ls', ['/run/netns'])).split('\n').filter((n) => n.includes('netrun')), [], 'its namespace is gone');
  assert.deepEqual(leftovers(), []);
});

test('SIGTERM to niso reaches the app\'s handler; a killed niso takes the unit with it, and the next run cleans up', async () => {
  const running = run('graceful', "process.on('SIGTERM', () => { console.log('graceful'); process.exit(42); }); require('fs').writeFileSync('/state/ready', ''); setInterval(() => {}, 1000);");
  await until('the app', () => wroteReady('graceful'));
  const pid = (await m!.ok('pgrep', ['-f', `${BIN} run --network none --name graceful`])).trim();
  await m!.ok('kill', ['-TERM', pid]);
  const r = await running;
  assert.equal(r.code, 42, r.stderr);
  assert.equal(r.stdout, 'graceful\n');
  assert.deepEqual(await units('niso-run-*'), []);

  assert.deepEqual(runState('graceful'), [], 'a run\'s own /state goes with it');
  const orphan = run('doomed', "require('fs').writeFileSync('/state/ready', ''); setInterval(() => {}, 1000);");
  await until('the app', () => wroteReady('doomed'));
  const pid2 = (await m!.ok('pgrep', ['-f', `${BIN} run --network none --name doomed`])).trim();
  await m!.ok('kill', ['-KILL', pid2]);
  assert.equal((await orphan).signal, 'SIGKILL');
  await until('the unit to go', async () => (await units('niso-run-*')).length === 0);
  assert.equal(leftovers().length, 1, 'the killed run\'s files are still there');
  assert.deepEqual(runState('doomed'), [], 'its /state was the sandbox\'s own, gone with it');
  assert.ok(await hasUser('niso-doomed'));
  assert.equal((await run('codes', '')).code, 0);
  assert.deepEqual(leftovers(), [], 'the next run removed them');
  assert.deepEqual(runState('doomed'), []);
  assert.equal(await hasUser('niso-doomed'), false);
});

test('exec into a systemd service: its uid, its network and IPC namespaces, exit codes, -e, -i, -t; NISO3311 for a missing command', async () => {
  const mainPid = await m!.show('niso-web.service', 'MainPID');
  const [netns, ipcns] = (await m!.ok('readlink', [`/proc/${mainPid}/ns/net`, `/proc/${mainPid}/ns/ipc`])).trim().split('\n');
  const t0 = performance.now();
  const r = await niso(['exec', 'web', '--', 'node', '-e', `const fs = require('fs');
    require('http').get('http://127.0.0.1:3000/', (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => console.log(JSON.stringify({
      body: b, uid: process.getuid(), net: fs.readlinkSync('/proc/self/ns/net'), ipc: fs.readlinkSync('/proc/self/ns/ipc'), cwd: process.cwd(),
      nnp: fs.readFileSync('/proc/self/status', 'utf8').match(/NoNewPrivs:\\s+(\\d)/)[1], seccomp: fs.readFileSync('/proc/self/status', 'utf8').match(/Seccomp:\\s+(\\d)/)[1] }))); });`]);
  figures.execMs = (performance.now() - t0).toFixed(0);
  assert.equal(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as { body: string; uid: number; net: string; ipc: string; cwd: string; nnp: string; seccomp: string };
  assert.deepEqual(seen, { body: `hello from ${PKG}\n`, uid: uidOf('web'), net: netns, ipc: ipcns, cwd: '/app', nnp: '1', seccomp: '2' });

  // The app's /tmp is exec's too (the service's /tmp mount unit, bound by both): a file one command leaves there is
  // in the app's own root; after a restart the app has a fresh /tmp.
  assert.equal((await niso(['exec', 'web', '--', 'node', '-e', "require('fs').writeFileSync('/tmp/from-exec', 'shared')"])).code, 0);
  assert.equal(await m!.ok('cat', [`/proc/${mainPid}/root/tmp/from-exec`]), 'shared');
  assert.equal((await niso(['exec', 'web', '--', 'node', '-e', "process.stdout.write(require('fs').readFileSync('/tmp/from-exec', 'utf8'))"])).stdout, 'shared');
  await nisoOk(['restart', 'web']);
  const fresh = await niso(['exec', 'web', '--', 'node', '-e', "console.log(require('fs').readdirSync('/tmp').length)"]);
  assert.equal(fresh.stdout, '0\n', fresh.stderr);

  const code = await niso(['exec', '-e', 'GREETING=hi there', 'web', '--', 'node', '-e', 'console.log(process.env.GREETING, process.env.PORT); process.exit(5)']);
  assert.equal(code.code, 5);
  assert.equal(code.stdout, 'hi there 3000\n');
  const sig = await niso(['exec', 'web', '--', 'node', '-e', "process.kill(process.pid, 'SIGKILL')"]);
  assert.equal(sig.code, 137);
  const stdin = await niso(['exec', '-i', 'web', '--', 'node', '-e', 'process.stdin.pipe(process.stdout)'], 'through stdin\n');
  assert.equal(stdin.stdout, 'through stdin\n');
  const noStdin = await niso(['exec', 'web', '--', 'node', '-e', 'process.stdin.on("data", () => {}).on("end", () => console.log("eof"))'], 'not passed\n');
  assert.equal(noStdin.stdout, 'eof\n');
  const tty = await niso(['exec', '-t', 'web', '--', 'node', '-e', 'console.log(process.stdout.isTTY, process.env.TERM)']);
  assert.equal(tty.code, 0, tty.stderr);
  // eslint-disable-next-line no-control-regex
  assert.equal(tty.stdout.replace(/\x1b\[\d+m/g, '').replace(/\r/g, ''), 'true xterm\n');
  // -it with a pipe on stdin is refused (as docker does): the pipe's data would reach systemd-run before the terminal exists.
  const both = await niso(['exec', '-it', 'web', '--', 'node', '-e', '1'], 'typed\n');
  assert.equal(both.code, 2);
  assert.match(both.stderr, /NISO9001: -it needs a terminal on stdin/);

  const missing: Exec = await niso(['exec', 'web', '--', 'sh', '-c', 'id']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /NISO3311: cannot run sh in service web: "sh" is not in the sandbox's PATH/);
  assert.deepEqual(await units('niso-exec-*'), []);
  assert.deepEqual(leftovers(), []);

  // A run under the service's own name shares its user, which stays.
  assert.equal((await run('web', 'console.log(require("os").userInfo().username)')).stdout, 'niso-web\n');
  assert.ok(await hasUser('niso-web'));
  assert.equal(await m!.show('niso-web.service', 'ActiveState'), 'active');

  await nisoOk(['deactivate', 'web']);
  const stopped = await niso(['exec', 'web', '--', 'node', '-e', '1']);
  assert.equal(stopped.code, 1);
  assert.match(stopped.stderr, /NISO3303/);
});

test('exec into a service on a private network reaches its port on 127.0.0.1', async () => {
  await nisoOk(['activate', PKG, '--name', 'netweb']);
  const r = await niso(['exec', 'netweb', '--', 'node', '-e', `const get = () => require('http').get('http://127.0.0.1:3000/', (res) => res.pipe(process.stdout)).on('error', () => setTimeout(get, 50)); get();`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `hello from ${PKG}\n`);
  await nisoOk(['deactivate', 'netweb']);
  assert.deepEqual(leftovers(), []);
});

test('niso run of a package with an [init] step: the step runs first as a transient unit of its own, as the run\'s user, then the app; a failing or hanging step keeps the app from starting', async () => {
  const read = ['-e', "process.stdout.write('app sees ' + require('fs').readFileSync('/data/seeded', 'utf8'))"];
  const first = await niso(['run', '--network', 'none', INIT_PKG, '--', ...read]);
  assert.equal(first.code, 0, first.stderr);
  const uid = uidOf(INIT_PKG);
  // The step's output is the run's, before the app's; it wrote into the run's volume as the run's uid.
  assert.equal(first.stdout, `init as ${uid}\napp sees ${uid}`);
  // The volume holds data now: the condition skips the step.
  const second = await niso(['run', '--network', 'none', INIT_PKG, '--', ...read]);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, `app sees ${uid}`);

  // Another name is another volume, empty: the step runs and fails, and the app is never started.
  const failed = await niso(['run', '--network', 'none', '--name', 'sdinit-fail', '-e', 'INIT_FAIL=no disk', INIT_PKG, '--', ...read]);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /NISO3315: sdinit-fail: the init step \(\S+ init\.js\) exited with code 3; the app was not started/);
  assert.match(failed.stderr, /init failed: no disk/, 'its stderr passes through');
  assert.equal(failed.stdout, `init as ${uidOf('sdinit-fail')}\n`, 'the app printed nothing');
  // One that never ends is stopped at its timeout.
  const t0 = performance.now();
  const hung = await niso(['run', '--network', 'none', '--name', 'sdinit-hang', '-e', 'INIT_HANG=1', INIT_PKG, '--', ...read]);
  figures.initTimeoutMs = (performance.now() - t0).toFixed(0);
  assert.equal(hung.code, 1, hung.stderr);
  assert.match(hung.stderr, /NISO3315: sdinit-hang: the init step \(\S+ init\.js\) did not end within its timeout \(3s\) and was killed; the app was not started/);
  assert.doesNotMatch(hung.stdout, /app sees/);
  assert.deepEqual(await units('niso-run-*'), [], 'neither the step\'s unit nor the app\'s is left');
  assert.deepEqual(leftovers(), []);
});
