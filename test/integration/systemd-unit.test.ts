// The rendered systemd units against a real systemd 252 booted in nspawn: a real node package, planned by the
// CLI, started as niso-<service>.service and probed from inside its own namespaces. Also measures what
// `systemd-analyze security` says of each preset and of a unit shaped like a Docker container.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseManifest } from '../../src/manifest/parse.js';
import type { Plan, PlanMount } from '../../src/plan/plan.js';
import { DEFAULT_DENY } from '../../src/render/seccomp.js';
import { expandSyscallNames, isKnownSyscall } from '../../src/render/seccomp-syscalls.js';
import { renderSystemdUnit, type SystemdUnit } from '../../src/render/systemd.js';
import { NAMESPACE_SYSCALLS, UNKNOWN_TO_SYSTEMD_252 } from '../../src/render/systemd-syscalls.js';
import { removeTestDir } from '../helpers/tmp.js';
import { prepareDirs } from '../../src/sandbox/run-sandbox.js';
import { unmountBounded } from '../../src/host/bounded-dir.js';
import { bootMachine, exec, type Machine } from '../helpers/nspawn.js';
import { freePort } from '../helpers/ports.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const PKG = 'sdprobe';

// The template's app, grown into a probe: GET /probe reports what the process is and may do.
// `server.js crash` exits 3 after 50 ms instead.
const PROBE = `'use strict';
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
if (process.argv[2] === 'crash') { console.log('start crash'); setTimeout(() => process.exit(3), 50); }
else {
  const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'ok'; } catch (e) { return e.code; } };
  const server = http.createServer((req, res) => {
    if (req.url === '/health') { res.end('ok'); return; }
    const status = Object.fromEntries(fs.readFileSync('/proc/self/status', 'utf8').split('\\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
    const writes = {};
    for (const p of ['/app/x', '/etc/x', '/x', '/usr/x', '/usr/bin/x', '/lib/x', '/run/x', '/var/x', '/dev/x', '/proc/sys/kernel/hostname', '/state/x', '/tmp/x', '/dev/shm/x']) writes[p] = tryWrite(p);
    const st = fs.statfsSync('/tmp');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({
      uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), argv: process.argv.slice(2), env: process.env, cwd: process.cwd(),
      root: fs.readdirSync('/').sort(), etc: fs.readdirSync('/etc').sort(), writes, tmpBytes: st.blocks * st.bsize,
      status, interfaces: Object.keys(os.networkInterfaces()).sort(), processes: fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n)).length,
      limits: fs.readFileSync('/proc/self/limits', 'utf8'),
    }));
  });
  server.listen(Number(process.env.PORT) || 3000, '127.0.0.1', () => console.log('listening'));
  // The manifest stops with SIGINT: SIGTERM is only noted, so a stop that used it would time out.
  process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
  process.on('SIGINT', () => { console.log('got SIGINT'); server.close(() => process.exit(0)); });
}
`;

/** Strings that systemd's quoting, specifier and variable rules would each change if passed carelessly. */
const WEIRD = ['with space', 'quote"d', "single'q", '$HOME ${PATH}', '$$', '%n %%', 'back\\slash', 'new\nline', 'tab\there', ';', '', 'ünï', '-x', '@at'];

let dir = '';
let root = '';
let m: Machine | null = null;
const plans: Record<string, Plan> = {};
const units: Record<string, SystemdUnit> = {};
const exposure: Record<string, number> = {};

function niso(args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root } });
  assert.equal(r.status, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function planOf(args: string[]): Plan {
  // These plans become service units: a state dir of the service's name, made first, is what they bind (a run
  // without one would get a /state of its own, removed with the run).
  const named = args.indexOf('--name');
  const service = named >= 0 ? args[named + 1]! : PKG;
  mkdirSync(join(root, 'var/lib/niso/state', service), { recursive: true });
  const plan = (JSON.parse(niso(['run', '--json', ...args])) as { plan: Plan }).plan;
  // --json shows the values of [env] and --env as <hidden> (they may be secrets); the units here need the real ones,
  // which this test knows: the manifest's and the --env NAME=VALUE it passed.
  const { manifest } = parseManifest(readFileSync(join(dir, PKG, 'manifest.toml'), 'utf8'));
  const given = Object.fromEntries(args.flatMap((a, i) => (args[i - 1] === '--env' ? [[a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]] : [])));
  const known: Record<string, string> = { ...manifest!.env, ...given };
  const env = Object.fromEntries(Object.entries(plan.command.env).map(([k, v]) => [k, v === '<hidden>' ? known[k]! : v]));
  return { ...plan, command: { ...plan.command, env } };
}


/**
 * Writes what the unit needs on the host (as the backend will) and returns the unit for installUnits. A bounded
 * state dir gets its image, made (and mounted) here as the backend does, then unmounted again: in the machine, the
 * state's own mount unit mounts it before the service starts.
 */
async function materialise(key: string, plan: Plan): Promise<SystemdUnit> {
  const u = renderSystemdUnit(plan, { generation: 'test-1', filesDir: join(root, 'systemd', plan.service), runtime: 'nodejs' });
  for (const d of u.directories) mkdirSync(d.path, { recursive: true, mode: d.mode });
  for (const f of u.files) { mkdirSync(dirname(f.path), { recursive: true }); writeFileSync(f.path, f.content, { mode: f.mode }); }
  await prepareDirs(plan);
  for (const p of plan.prepare) if (p.bound) await unmountBounded({ dir: p.path, image: p.bound.image });
  writeFileSync(join(root, 'systemd', `${plan.service}.sysusers.conf`), u.sysusers);
  plans[key] = plan;
  units[key] = u;
  return u;
}

async function mainPid(unit: string): Promise<number> {
  return Number(await m!.show(unit, 'MainPID'));
}

/**
 * GET /probe from inside the service's network: its own namespace (entered through its main process), a named
 * one, or the machine's (the host's) for an unsandboxed service (a port without netnsOf). Retried until it answers, since Type=exec
 * reports "started" before node listens.
 */
async function probe(unit: string, how: { netns?: string; port?: number; netnsOf?: boolean } = {}): Promise<Record<string, unknown>> {
  const curl = ['curl', '-s', '-m', '2', `http://127.0.0.1:${how.port ?? 3000}/probe`];
  let last = '';
  for (let i = 0; i < 100; i++) {
    const pid = await mainPid(unit);
    const cmd = how.netns ? ['ip', 'netns', 'exec', how.netns, ...curl] : how.port && !how.netnsOf ? curl : pid > 0 ? ['nsenter', '-t', String(pid), '-n', ...curl] : null;
    if (cmd) {
      const r = await m!.run(cmd[0]!, cmd.slice(1));
      if (r.code === 0 && r.stdout.startsWith('{')) return JSON.parse(r.stdout) as Record<string, unknown>;
      last = `${r.code} ${r.stderr}`;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${unit} did not answer: ${last}\n${(await m!.journalctl('-u', unit, '-n', '20')).stdout}`);
}

async function securityOf(unit: string): Promise<number> {
  const r = await m!.run('systemd-analyze', ['security', '--no-pager', unit]);
  const found = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout);
  assert.ok(found, `systemd-analyze security ${unit}:\n${r.stdout}${r.stderr}`);
  return Number(found[1]);
}

before(async () => {
  // A blank and a colon in every path (store, state, generated files) exercise the unit's path quoting.
  dir = mkdtempSync(join(tmpdir(), 'niso sd:'));
  chmodSync(dir, 0o755);
  root = join(dir, 'root');
  niso(['init', '--template', 'node', '--name', PKG, PKG]);
  const manifestPath = join(dir, PKG, 'manifest.toml');
  writeFileSync(manifestPath, readFileSync(manifestPath, 'utf8')
    .replace('args = ["server.js"]', 'args = ["server.js"]\nstop_signal = "SIGINT"\nstop_timeout = "5s"')
    .concat('\n[restart]\ndelay = "100ms"\nmax_delay = "5s"\n'));
  writeFileSync(join(dir, PKG, 'server.js'), PROBE);
  niso(['pack', PKG, '-o', `${PKG}.niso`, '-q']);
  niso(['install', `${PKG}.niso`]);

  const env = WEIRD.flatMap((v, i) => ['--env', `WEIRD_${i}=${v}`]);
  const port = await freePort();
  const list = [
    await materialise('server', planOf(['--network', 'none', ...env, PKG, '--', 'server.js', ...WEIRD])),
    await materialise('strict', planOf(['--preset', 'strict', '--name', `${PKG}-strict`, PKG])),
    await materialise('private', { ...planOf(['--network', 'private', '--name', `${PKG}-private`, PKG]), network: { mode: 'private', netns: `/run/netns/${PKG}-test` } }),
    await materialise('crash', planOf(['--network', 'none', '--name', `${PKG}-crash`, PKG, '--', 'server.js', 'crash'])),
    // The bwrap backend cannot grant capabilities (niso run refuses them), so the plan is adjusted as data.
    await materialise('caps', { ...planOf(['--network', 'none', '--name', `${PKG}-caps`, '--env', 'PORT=80', PKG]), capabilities: ['CAP_NET_BIND_SERVICE'] }),
    await materialise('unsafe', planOf(['--preset', 'unsafe-none', '--name', `${PKG}-unsafe`, '--env', `PORT=${port}`, PKG])),
  ];
  m = await bootMachine({ binds: [dir.replace(/:/g, '\\:')], bindsRo: ['/etc/ssl'], limits: true });
  for (const s of Object.values(plans)) await m.ok('systemd-sysusers', [join(root, 'systemd', `${s.service}.sysusers.conf`)]);
  // The private network: a namespace made inside the machine, loopback only.
  await m.ok('ip', ['netns', 'add', `${PKG}-test`]);
  await m.ok('ip', ['-n', `${PKG}-test`, 'link', 'set', 'lo', 'up']);
  await m.installUnits([...list.map((u) => ({ name: u.name, text: u.unit })), ...list.flatMap((u) => u.companions)]);
});

after(async () => {
  if (m) {
    const r = await m.shutdown();
    console.log(`# machine ${m.name}: booted in ${m.bootMs.toFixed(0)} ms, shut down ${r.clean ? 'cleanly' : 'by SIGKILL'} in ${r.ms.toFixed(0)} ms`);
    console.log(`# systemd-analyze security exposure: ${JSON.stringify(exposure)}`);
  }
  if (dir) await removeTestDir(dir);
});

test('the server-preset unit runs the app as the plan\'s uid, in its own namespaces, with exactly the plan\'s environment and arguments', async (t) => {
  const plan = plans.server!;
  const unit = units.server!.name;
  const t0 = performance.now();
  await m!.ok('systemctl', ['start', unit]);
  const started = performance.now() - t0;
  const p = await probe(unit) as { uid: number; gid: number; groups: number[]; argv: string[]; env: Record<string, string>; cwd: string; root: string[]; etc: string[]; status: Record<string, string>; interfaces: string[]; tmpBytes: number; processes: number };
  t.diagnostic(`systemctl start returned after ${started.toFixed(0)} ms, first answer after ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(p.uid, plan.user.uid);
  assert.equal(p.gid, plan.user.gid);
  assert.deepEqual(p.groups, [plan.user.gid]);
  assert.deepEqual(p.argv, plan.command.argv.slice(2), 'every argument arrives intact');
  assert.deepEqual(WEIRD.map((_, i) => p.env[`WEIRD_${i}`]), WEIRD, 'every value arrives intact');
  assert.deepEqual(p.env, plan.command.env, 'the environment is the plan\'s and nothing else');
  assert.equal(p.cwd, plan.command.cwd);
  assert.equal(p.status.NoNewPrivs, '1');
  assert.equal(p.status.Seccomp, '2');
  assert.equal(p.status.CapEff, '0000000000000000');
  assert.equal(p.status.CapBnd, '0000000000000000');
  assert.equal(p.status.CapAmb, '0000000000000000');
  assert.deepEqual(p.interfaces, ['lo'], 'network none: loopback only');
  assert.equal(p.tmpBytes, plan.mounts.find((x) => x.type === 'tmpfs')!.sizeBytes, '/tmp is a tmpfs of the plan\'s size');
  const etcTargets = plan.mounts.filter((x) => x.target.startsWith('/etc/')).map((x) => x.target.split('/')[2]!);
  assert.deepEqual(p.etc, [...new Set(etcTargets)].sort(), '/etc holds only the plan\'s files');
  for (const hidden of ['home', 'srv', 'opt', 'boot', 'mnt', 'media']) assert.ok(!p.root.includes(hidden), `no /${hidden}`);
  // ProtectProc=invisible: only the service's own processes (and none of the machine's) are listed.
  assert.equal(p.processes, 1);
  // systemd's own reading of the filter: exactly the plan's deny list (names of other architectures aside).
  const filter = (await m!.show(unit, 'SystemCallFilter')).replace(/^~/, '').split(' ').filter(isKnownSyscall).sort();
  const denied = [...expandSyscallNames(DEFAULT_DENY).names].filter((n) => !NAMESPACE_SYSCALLS.includes(n) && n !== 'personality' && !UNKNOWN_TO_SYSTEMD_252.has(n)).sort();
  assert.deepEqual(filter, denied);
  assert.equal(await m!.show(unit, 'RestrictNamespaces'), 'yes');
  assert.equal(await m!.show(unit, 'LockPersonality'), 'yes');
  assert.equal(await m!.show(unit, 'SystemCallArchitectures'), 'native');
});

test('writes outside /state and /tmp fail; a file in /state (its mount unit\'s image) belongs to the service uid on the host', async () => {
  const plan = plans.server!;
  const p = await probe(units.server!.name) as { writes: Record<string, string> };
  for (const [path, result] of Object.entries(p.writes)) {
    if (['/state/x', '/tmp/x', '/dev/shm/x'].includes(path)) assert.equal(result, 'ok', path);
    else assert.notEqual(result, 'ok', `${path} must not be writable`);
  }
  const state = plan.mounts.find((x): x is Extract<PlanMount, { type: 'bind' }> => x.type === 'bind' && x.target === '/state')!;
  // The state dir is the image its mount unit mounted in the machine (a path with a blank and a colon): seen from there.
  assert.equal((await m!.ok('findmnt', ['-n', '-o', 'FSTYPE', '--mountpoint', state.source])).trim(), 'ext4');
  assert.equal((await m!.ok('stat', ['-c', '%u', join(state.source, 'x')])).trim(), String(plan.user.uid));
  // /dev/shm is the service's own, not the machine's.
  assert.ok(!existsSync(join('/proc', String(m!.systemdPid), 'root/dev/shm/x')));
});

test('stopping the unit sends the plan\'s stop signal and the service ends cleanly', async () => {
  const unit = units.server!.name;
  assert.equal(await m!.show(unit, 'KillSignal'), '2');
  const t0 = performance.now();
  await m!.ok('systemctl', ['stop', unit]);
  const ms = performance.now() - t0;
  assert.ok(ms < plans.server!.stop.timeoutMs, `stopped by SIGINT, not by the timeout (${ms.toFixed(0)} ms)`);
  assert.equal(await m!.show(unit, 'ActiveState'), 'inactive');
  const log = (await m!.journalctl('-u', unit, '-o', 'cat')).stdout;
  assert.match(log, /got SIGINT/);
  assert.doesNotMatch(log, /ignoring SIGTERM/);
});

test('the strict preset\'s limits reach the cgroup and the process', async () => {
  const plan = plans.strict!;
  const unit = units.strict!.name;
  await m!.ok('systemctl', ['start', unit]);
  const p = await probe(unit) as { uid: number; limits: string; interfaces: string[] };
  assert.equal(p.uid, plan.user.uid);
  assert.deepEqual(p.interfaces, ['lo']);
  assert.match(p.limits, new RegExp(`Max open files\\s+${plan.limits.nofile}\\s+${plan.limits.nofile}\\s`));
  assert.equal(await m!.show(unit, 'MemoryMax'), String(plan.limits.memoryBytes));
  assert.equal(await m!.show(unit, 'TasksMax'), String(plan.limits.pids));
  assert.equal(await m!.show(unit, 'CPUQuotaPerSecUSec'), `${plan.limits.cpus}s`);
  // The machine's systemd put the unit's cgroup below the machine's cgroup; the host's kernel enforces it.
  const cg = (h: string) => {
    const found: string[] = [];
    const walk = (d: string) => { for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) { if (e.name === unit) found.push(join(d, e.name)); else walk(join(d, e.name)); } };
    walk(`/sys/fs/cgroup/${h}/${m!.cgroup}`);
    assert.equal(found.length, 1, `${unit} in the ${h} hierarchy`);
    return found[0]!;
  };
  assert.equal(readFileSync(join(cg('memory'), 'memory.limit_in_bytes'), 'utf8').trim(), String(plan.limits.memoryBytes));
  assert.equal(readFileSync(join(cg('pids'), 'pids.max'), 'utf8').trim(), String(plan.limits.pids));
  assert.equal(readFileSync(join(cg('cpu'), 'cpu.cfs_quota_us'), 'utf8').trim(), String(plan.limits.cpus! * 100_000));
  await m!.ok('systemctl', ['stop', unit]);
});

test('a private network is the namespace the plan names (NetworkNamespacePath=), also with PrivateUsers=', async () => {
  const plan = plans.private!;
  const unit = units.private!.name;
  await m!.ok('systemctl', ['start', unit]);
  const p = await probe(unit, { netns: `${PKG}-test` }) as { uid: number; status: Record<string, string> };
  assert.equal(p.uid, plan.user.uid);
  assert.equal((await m!.ok('ip', ['netns', 'identify', String(await mainPid(unit))])).trim(), `${PKG}-test`, 'the service is in the prepared namespace');
  assert.equal(p.status.CapEff, '0000000000000000');
  await m!.ok('systemctl', ['stop', unit]);
});

test('systemd restarts nothing by itself: a crash leaves the unit failed for niso\'s policy, which this unit (rendered without niso\'s command) says it lacks', async () => {
  const unit = units.crash!.name;
  assert.match(units.crash!.unit, /^# not in this unit: the restart policy \(policy "on-failure": after 100ms, doubling up to 5s; .*\): no niso command was given/m);
  await m!.ok('systemctl', ['start', unit]);
  let state = '';
  for (let i = 0; i < 200 && state !== 'failed'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    state = await m!.show(unit, 'ActiveState');
  }
  assert.equal(state, 'failed');
  await new Promise((r) => setTimeout(r, 500));
  const starts = (await m!.journalctl('-u', unit, '-o', 'cat')).stdout.split('\n').filter((l) => l === 'start crash').length;
  assert.equal(starts, 1, 'one run, no restart by systemd');
  assert.equal(await m!.show(unit, 'NRestarts'), '0');
  await m!.systemctl('reset-failed', unit);
});

test('a granted capability works: CAP_NET_BIND_SERVICE lets the app listen on port 80, and it holds nothing else', async () => {
  const plan = plans.caps!;
  const unit = units.caps!.name;
  assert.ok(!units.caps!.unit.includes('PrivateUsers=yes'));
  await m!.ok('systemctl', ['start', unit]);
  const p = await probe(unit, { port: 80, netnsOf: true }) as { uid: number; status: Record<string, string> };
  assert.equal(p.uid, plan.user.uid);
  // CAP_NET_BIND_SERVICE is bit 10.
  assert.equal(p.status.CapEff, '0000000000000400');
  assert.equal(p.status.CapBnd, '0000000000000400');
  assert.equal(p.status.NoNewPrivs, '1');
  await m!.ok('systemctl', ['stop', unit]);
});

test('the unsafe-none unit is a plain unit: the service user, the host\'s network and files', async () => {
  const plan = plans.unsafe!;
  const unit = units.unsafe!.name;
  await m!.ok('systemctl', ['start', unit]);
  const p = await probe(unit, { port: Number(plan.command.env.PORT) }) as { uid: number; root: string[]; status: Record<string, string>; cwd: string };
  assert.equal(p.uid, plan.user.uid);
  assert.equal(p.cwd, plan.command.cwd);
  assert.ok(p.root.includes('home') && p.root.includes('etc'), 'the host\'s root');
  assert.equal(p.status.NoNewPrivs, '1');
  assert.equal(p.status.CapBnd, '0000000000000000');
  await m!.ok('systemctl', ['stop', unit]);
});

test('systemd-analyze security: the server preset is at most 1.5, and far below a Docker-shaped unit', async (t) => {
  exposure.server = await securityOf(units.server!.name);
  exposure.strict = await securityOf(units.strict!.name);
  exposure['server, private network'] = await securityOf(units.private!.name);
  exposure['unsafe-none'] = await securityOf(units.unsafe!.name);
  // What a default `docker run` gives, as far as unit directives can say it: root with Docker's 14 default
  // capabilities, no no_new_privs, its own root filesystem (writable), /dev, IPC, UTS and mount namespaces, a
  // bridged network with egress, read-only /proc/sys, /sys and cgroups, and Docker's default seccomp profile
  // (≈ the sets below; ptrace is allowed since kernel 4.8, and x86/x32 are allowed beside x86_64).
  await m!.installUnits([{ name: 'docker-like.service', text: `[Service]
ExecStart=/usr/bin/node /app/server.js
RootDirectory=/var/lib/docker-like/rootfs
CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FSETID CAP_FOWNER CAP_MKNOD CAP_NET_RAW CAP_SETGID CAP_SETUID CAP_SETFCAP CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_SYS_CHROOT CAP_KILL CAP_AUDIT_WRITE
SystemCallFilter=~@clock @cpu-emulation @keyring @module @mount @obsolete @raw-io @reboot @swap acct bpf kcmp lookup_dcookie perf_event_open process_vm_readv process_vm_writev name_to_handle_at open_by_handle_at quotactl userfaultfd mbind move_pages set_mempolicy get_mempolicy
SystemCallErrorNumber=EPERM
RestrictNamespaces=yes
LockPersonality=yes
PrivateDevices=yes
PrivateIPC=yes
RemoveIPC=yes
PrivateMounts=yes
PrivateTmp=yes
ProtectHome=yes
ProtectHostname=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
RestrictRealtime=yes
KeyringMode=private
` }]);
  exposure['docker-like'] = await securityOf('docker-like.service');
  t.diagnostic(`exposure: ${JSON.stringify(exposure)}`);
  assert.ok(exposure.server <= 1.5, `server: ${exposure.server}`);
  assert.ok(exposure.strict <= 1.5, `strict: ${exposure.strict}`);
  assert.ok(exposure['unsafe-none'] > 5, `unsafe-none is rated as unsandboxed: ${exposure['unsafe-none']}`);
  assert.ok(exposure['docker-like'] > exposure.server * 3, `docker-like: ${exposure['docker-like']}`);
});

test('two machines boot side by side, each in its own cgroup', async () => {
  const other = await bootMachine();
  try {
    assert.notEqual(other.name, m!.name);
    assert.notEqual(other.cgroup, m!.cgroup);
    assert.equal((await other.systemctl('is-system-running')).stdout.trim(), 'running');
    assert.equal((await m!.systemctl('is-system-running')).stdout.trim(), 'running');
    assert.ok(existsSync(`/sys/fs/cgroup/systemd/${other.cgroup}/payload`), 'nspawn\'s payload cgroup is below the machine\'s own');
  } finally {
    const r = await other.shutdown();
    assert.ok(r.clean, 'powered off on SIGTERM');
    assert.ok(!existsSync(`/sys/fs/cgroup/systemd/${other.cgroup}`), 'its cgroups are gone');
    assert.equal((await exec('sh', ['-c', `ls -d /sys/fs/cgroup/*/${other.cgroup} 2>/dev/null | wc -l`])).stdout.trim(), '0');
  }
});
