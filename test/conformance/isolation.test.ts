// The isolation conformance suite: probes run inside `niso run` sandboxes under each preset, and every row of expectations.ts must hold; plus the resource limits and the runtime closure.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Plan } from '../../src/plan/plan.js';
import { tempDir } from '../helpers/tmp.js';
import { expectationFor, PROFILES, PROPERTIES, TOOLS_PROBE_TOOLS, type Profile, type ProbeKind } from './expectations.js';
import {
  buildProbe, cgroupsOf, NISO_INTERFACE, type Checks, fileCapsMissing, hostInterfaces, installCProbe, installNodeProbe, installToolsProbe, judge, libcA, niso,
  nsInodes, parseProbe, planFor, processesOf, reserveUids, settle, skipReason,
} from './harness.js';

const skip = skipReason();

const C = 'conf-c';
const C_DYNAMIC = 'conf-cdyn';
const NODE = 'conf-node';
/** The C probe asking for host programs ([isolation] tools). */
const TOOLS = 'conf-tools';
/** Another service that shares a volume with the node probe. */
const PEER = 'conf-peer';
const LIMITS = { hog: 'conf-hog', bomb: 'conf-bomb', spin: 'conf-spin', strictBomb: 'conf-strict-bomb', strictHog: 'conf-strict-hog' };
/** The probes' /state bound: small, so that writing it full (the state_full rows) takes a moment. */
const STATE_SIZE = ['--state-size', '32M'];

// Made at load time, so that tempDir's clean-up hook belongs to the file.
const work = skip ? '' : tempDir('niso-conformance-');
const root = join(work, 'root');
/** With libc.a the main C probe is static, and a dynamic one is run as well; without, the main one is dynamic. */
const staticProbe = !skip && libcA();
const host: Record<string, unknown> = {};
const hostArgs: string[] = [];
const skipRows = new Map<string, string>();
const servers: Server[] = [];
let shmId: string | null = null;
let marker = '';

// Set up once, by whichever test comes first (node 20 runs a top-level before() hook eagerly, at registration).
let ready: Promise<void> | null = null;
const setup = () => (ready ??= prepare());

async function prepare(): Promise<void> {
  reserveUids(root, [C, C_DYNAMIC, NODE, PEER, TOOLS, ...Object.values(LIMITS)]);
  // A volume nobody here is granted: the node probe must not find it.
  const other = await niso(root, ['volume', 'create', 'conf-other']);
  assert.equal(other.code, 0, other.stderr);
  const probes = buildProbe();
  host.cPackage = await installCProbe(root, work, C, probes.static ?? probes.dynamic);
  if (staticProbe) host.cDynamicPackage = await installCProbe(root, work, C_DYNAMIC, probes.dynamic);
  host.nodePackage = await installNodeProbe(root, work, NODE);
  // Dynamic, so that its own libraries and the tools' share one closure, as a real server's would.
  host.toolsPackage = await installToolsProbe(root, work, TOOLS, probes.dynamic, TOOLS_PROBE_TOOLS);

  // Things on the host that a sandbox must not reach: a TCP listener (loopback and the host's own
  // address), an abstract unix socket, a file in /tmp and a SysV shared memory segment.
  const listen = (s: Server, ...args: unknown[]) => new Promise<void>((res) => { servers.push(s); (s.listen as (...a: unknown[]) => void)(...args, res); });
  const tcp = createServer((s) => s.destroy());
  await listen(tcp, 0, '0.0.0.0');
  const port = (tcp.address() as { port: number }).port;
  const abstract = `niso-conformance-${process.pid}`;
  await listen(createServer((s) => s.destroy()), `\0${abstract}`);
  const ip = Object.entries(networkInterfaces()).filter(([n]) => !NISO_INTERFACE.test(n)).flatMap(([, a]) => a ?? []).find((a) => a.family === 'IPv4' && !a.internal)?.address;
  if (!ip) skipRows.set('connect_host_address', 'the host has no non-loopback IPv4 address');
  marker = join(tmpdir(), `niso-conformance-marker-${process.pid}`);
  writeFileSync(marker, 'host secret\n', { mode: 0o644 });
  const shm = spawnSync('ipcmk', ['-M', '4096'], { encoding: 'utf8' });
  shmId = /(\d+)/.exec(shm.stdout ?? '')?.[1] ?? null;
  host.interfaces = hostInterfaces();
  hostArgs.push(`host_pid=${process.pid}`, `tcp_lo=${port}`, `abstract=${abstract}`, `hidden.niso_root=${root}`, `hidden.tmp_marker=${marker}`,
    ...(ip ? [`tcp_ip=${ip}:${port}`] : []), ...Object.entries(nsInodes()).map(([k, v]) => `ns.${k}=${v}`));
}

after(() => {
  for (const s of servers) s.close();
  if (marker) rmSync(marker, { force: true });
  if (shmId) spawnSync('ipcrm', ['-m', shmId]);
});

interface ProbeRun { plan: Plan; checks: Checks }

/** Runs a C probe package in a profile: its plan, the probe's checks, and the host's view afterwards. */
async function runC(profile: Profile, pkg: string, service: string, storePath: string): Promise<{ c: ProbeRun; host: ProbeRun }> {
  const base = ['--preset', profile.preset, ...profile.options, ...STATE_SIZE, '--name', service, pkg];
  // A state dir of the service's name, made first, is the one the run binds and keeps, so the host can look at what
  // the probe wrote there afterwards (a run without one gets a /state of its own, gone with the run).
  mkdirSync(join(root, 'var/lib/niso/state', service), { recursive: true });
  const plan = await planFor(root, base);
  const stateDir = plan.prepare[0]!.path;
  const args = ['check', ...hostArgs, `hidden.state=${stateDir}`, `hidden.store=${storePath}`, `walk=${profile.sandboxed ? 1 : 0}`, 'fill=1'];
  rmSync(join(stateDir, 'probe-owned'), { force: true });
  const r = await niso(root, ['run', ...base, ...args]);
  const checks = parseProbe(r, `the C probe under ${profile.name}`);
  let owner: number | null = null;
  try { owner = statSync(join(stateDir, 'probe-owned')).uid; } catch { /* not written */ }
  const left = await settle(() => processesOf(plan.user.uid), (p) => p.length === 0);
  const cgroups = await settle(() => cgroupsOf(service), (c) => c.length === 0);
  const hostChecks: Checks = {
    exit_code: { ok: true, value: r.code },
    state_file_owner: owner === null ? { ok: false, errno: 'ENOENT' } : { ok: true, value: owner },
    processes_left: { ok: true, value: left.length },
    cgroups_left: { ok: true, value: cgroups },
  };
  return { c: { plan, checks }, host: { plan, checks: hostChecks } };
}

async function runNode(profile: Profile): Promise<ProbeRun> {
  // Sandboxed, the probe gets two volumes: one it shares with another service (which wrote a file there first), one
  // read-only; and it looks for a third, which it is not granted, where the host keeps it.
  const peerFile = `/vol/shared/peer-${profile.key}`;
  const volumes = profile.sandboxed ? ['-v', 'conf-shared:/vol/shared', '-v', 'conf-ro:/vol/ro:ro'] : [];
  const volumeArgs = profile.sandboxed ? ['vol_rw=/vol/shared', 'vol_ro=/vol/ro', `vol_peer=${peerFile}`, `vol_hidden=${join(root, 'var/lib/niso/volumes/conf-other')}`] : [];
  if (profile.sandboxed) {
    const peer = await niso(root, ['run', '--preset', profile.preset, ...profile.options, '--name', PEER, '-v', 'conf-shared:/vol/shared', NODE, 'probe.js', 'walk=0', `vol_create=${peerFile}`]);
    assert.deepEqual(parseProbe(peer, `the peer's run under ${profile.name}`).volume_create, { ok: true }, 'the peer service made its file in the shared volume');
  }
  const base = ['--preset', profile.preset, ...profile.options, ...volumes, ...STATE_SIZE, '--name', NODE, NODE];
  const plan = await planFor(root, base);
  const port = hostArgs.find((a) => a.startsWith('tcp_lo='))!;
  // Unsandboxed, the run's own /state is a plain host dir with no bound: filling it would fill the host's disk.
  const r = await niso(root, ['run', ...base, 'probe.js', port, `walk=${profile.sandboxed ? 1 : 0}`, ...(profile.sandboxed ? ['fill=1'] : []), ...volumeArgs]);
  return { plan, checks: parseProbe(r, `the node probe under ${profile.name}`) };
}

/** The C probe that asked for host tools: they run, the rest of the host stays away. */
async function runTools(profile: Profile): Promise<ProbeRun> {
  const base = ['--preset', profile.preset, ...profile.options, '--name', TOOLS, TOOLS];
  const plan = await planFor(root, base);
  const r = await niso(root, ['run', ...base, 'check', `walk=${profile.sandboxed ? 1 : 0}`]);
  return { plan, checks: parseProbe(r, `the tools probe under ${profile.name}`) };
}

const runs = new Map<string, Promise<Record<ProbeKind, ProbeRun>>>();
function resultsFor(profile: Profile): Promise<Record<ProbeKind, ProbeRun>> {
  let p = runs.get(profile.name);
  if (!p) {
    p = (async () => {
      const { c, host: h } = await runC(profile, C, C, host.cPackage as string);
      return { c, host: h, node: await runNode(profile), tools: await runTools(profile) };
    })();
    runs.set(profile.name, p);
  }
  return p;
}

function skipFor(check: string): string | false {
  if (check === 'exec_file_caps' && fileCapsMissing) return `no file capabilities: ${fileCapsMissing}`;
  return skipRows.get(check) ?? false;
}

for (const profile of PROFILES) {
  test(`${profile.name}: every promise of the table holds`, { skip }, async (t) => {
    await setup();
    const results = await resultsFor(profile);
    for (const row of PROPERTIES) {
      const e = expectationFor(row, profile);
      if (e === null) continue;
      const { plan, checks } = results[row.probe];
      await t.test(`${row.probe}:${row.check}: ${row.promise}`, { skip: skipFor(row.check) }, () => judge(e, checks[row.check], { plan, host }));
    }
  });
}

test('server, dynamically linked C probe: the C promises hold with a library closure mounted', { skip: skip || (!staticProbe && 'no libc.a: the main C probe is the dynamic one already') }, async (t) => {
  await setup();
  const server = PROFILES.find((p) => p.name === 'server')!;
  const { c, host: h } = await runC(server, C_DYNAMIC, C_DYNAMIC, host.cDynamicPackage as string);
  assert.ok(c.plan.mounts.some((m) => m.type === 'bind' && m.purpose === 'runtime' && /\/libc\.so/.test(m.target)), 'the plan mounts libc for a dynamic binary');
  for (const row of PROPERTIES) {
    const e = expectationFor(row, server);
    if (e === null || (row.probe !== 'c' && row.probe !== 'host')) continue;
    const { plan, checks } = row.probe === 'c' ? c : h;
    await t.test(`${row.probe}:${row.check}: ${row.promise}`, { skip: skipFor(row.check) }, () => judge(e, checks[row.check], { plan, host }));
  }
});

test('the table asserts at least 30 properties for every sandboxed preset', () => {
  for (const profile of PROFILES) {
    const n = PROPERTIES.filter((p) => expectationFor(p, profile) !== null).length;
    if (profile.sandboxed) assert.ok(n >= 30, `${profile.name}: only ${n} properties`);
    else assert.ok(n >= 15, `${profile.name}: only ${n} properties`);
  }
  const ids = PROPERTIES.map((p) => `${p.probe}:${p.check}`);
  assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'each probe check appears once');
});

test('strict refuses the host network instead of weakening it', { skip }, async () => {
  await setup();
  const r = await niso(root, ['run', '--preset', 'strict', '--network', 'host', '--name', C, C, 'check']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /NISO3101/);
});

/** Host-side checks after a limit test: nothing of the service is left, and the host still forks. */
async function assertContained(service: string, uid: number): Promise<void> {
  assert.deepEqual(await settle(() => processesOf(uid), (p) => p.length === 0), [], `processes of uid ${uid} survived`);
  assert.deepEqual(await settle(() => cgroupsOf(service), (c) => c.length === 0), [], 'cgroups left behind');
  assert.equal(spawnSync('true').status, 0, 'the host can still start processes');
}

test('--memory 64M: a memory hog is killed, and the host is unaffected', { skip }, async () => {
  await setup();
  const base = ['--memory', '64M', '--name', LIMITS.hog, C];
  const plan = await planFor(root, base);
  assert.equal(plan.limits.memoryBytes, 64 * 1024 * 1024);
  const r = await niso(root, ['run', ...base, 'hog', '256']);
  assert.ok(r.code === 137 || r.signal === 'SIGKILL', `the hog should be killed (exit 137), got ${r.code}/${r.signal}:\n${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stdout, /"allocated_mb": 256/);
  const reached = Math.max(0, ...[...r.stderr.matchAll(/hog: (\d+) MiB/g)].map((m) => Number(m[1])));
  assert.ok(reached <= 64, `the hog touched ${reached} MiB under a 64 MiB limit`);
  await assertContained(LIMITS.hog, plan.user.uid);
});

test('--pids 32: a fork bomb hits EAGAIN, is contained, and leaves nothing behind', { skip }, async () => {
  await setup();
  const base = ['--pids', '32', '--name', LIMITS.bomb, C];
  const plan = await planFor(root, base);
  assert.equal(plan.limits.pids, 32);
  const r = await niso(root, ['run', ...base, 'forkbomb'], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  const bomb = JSON.parse(r.stdout) as { forks: number; refused: number; errno: string };
  assert.ok(bomb.forks <= 32, `${bomb.forks} forks succeeded under pids.max 32`);
  assert.ok(bomb.forks >= 8, `only ${bomb.forks} forks: the bomb did not get going`);
  assert.ok(bomb.refused > 0);
  assert.equal(bomb.errno, 'EAGAIN');
  await assertContained(LIMITS.bomb, plan.user.uid);
});

test('--cpus 0.5: a busy loop gets about half a core', { skip }, async () => {
  await setup();
  const base = ['--cpus', '0.5', '--name', LIMITS.spin, C];
  const plan = await planFor(root, base);
  assert.equal(plan.limits.cpus, 0.5);
  const r = await niso(root, ['run', ...base, 'spin', '1000']);
  assert.equal(r.code, 0, r.stderr);
  const { wall_s: wall, cpu_s: cpu } = JSON.parse(r.stdout) as { wall_s: number; cpu_s: number };
  const share = cpu / wall;
  assert.ok(share <= 0.65, `the loop got ${share.toFixed(2)} of a core under --cpus 0.5`);
  assert.ok(share >= 0.1, `the loop got only ${share.toFixed(2)} of a core: it hardly ran`);
  await assertContained(LIMITS.spin, plan.user.uid);
});

test('strict: the default pids and memory limits contain a fork bomb and a memory hog', { skip }, async () => {
  await setup();
  const bombPlan = await planFor(root, ['--preset', 'strict', '--name', LIMITS.strictBomb, C]);
  const pids = bombPlan.limits.pids;
  assert.ok(pids !== null && pids > 0, 'strict has a pids limit');
  const bomb = await niso(root, ['run', '--preset', 'strict', '--name', LIMITS.strictBomb, C, 'forkbomb'], { timeoutMs: 20_000 });
  assert.equal(bomb.code, 0, bomb.stderr);
  const b = JSON.parse(bomb.stdout) as { forks: number; errno: string };
  assert.ok(b.forks <= pids, `${b.forks} forks under strict's pids limit ${pids}`);
  assert.equal(b.errno, 'EAGAIN');
  await assertContained(LIMITS.strictBomb, bombPlan.user.uid);

  const hogPlan = await planFor(root, ['--preset', 'strict', '--name', LIMITS.strictHog, C]);
  const mem = hogPlan.limits.memoryBytes;
  assert.ok(mem !== null && mem > 0, 'strict has a memory limit');
  const mib = Math.ceil(mem / 1024 / 1024);
  const hog = await niso(root, ['run', '--preset', 'strict', '--name', LIMITS.strictHog, C, 'hog', String(mib + 128)]);
  assert.ok(hog.code === 137 || hog.signal === 'SIGKILL', `the hog should be killed at ${mib} MiB, got exit ${hog.code}:\n${hog.stdout}`);
  await assertContained(LIMITS.strictHog, hogPlan.user.uid);
});

test('the node sandbox holds only the runtime closure: everything under /usr is a runtime mount of the plan, or zoneinfo and the locale', { skip }, async () => {
  await setup();
  const { node } = await resultsFor(PROFILES.find((p) => p.name === 'server')!);
  const runtimeTargets = node.plan.mounts.filter((m) => m.type === 'bind' && m.purpose === 'runtime').map((m) => m.target);
  // Besides the runtime, only the host files every sandbox gets: the time zone database and the C.UTF-8 locale.
  const hostFiles = node.plan.mounts.filter((m) => m.type === 'bind' && m.purpose === 'host-file').map((m) => m.target);
  assert.ok(runtimeTargets.length > 0, 'a nodejs runtime comes with mounts');
  const files = node.checks.visible_files?.value as string[];
  const usr = files.filter((f) => f.startsWith('/usr/'));
  assert.ok(usr.length > 0, 'the runtime binary is visible under /usr');
  assert.deepEqual(usr.filter((f) => ![...runtimeTargets, ...hostFiles].some((t) => f === t || f.startsWith(`${t}/`))), [], 'files under /usr that are not runtime mounts');
  for (const absent of ['/usr/bin/bash', '/usr/bin/sh', '/usr/bin/python3', '/usr/bin/perl', '/usr/share/doc', '/usr/lib/python3']) {
    assert.ok(!files.some((f) => f === absent || f.startsWith(`${absent}/`)), `${absent} is visible`);
  }
});

test('niso run NAME -- ARGS hands the app ARGS, without the "--"', { skip }, async () => {
  await setup();
  const plan = await planFor(root, ['--name', C, C, '--', 'check', 'walk=0']);
  assert.deepEqual(plan.command.argv.slice(1), ['check', 'walk=0']);
});

