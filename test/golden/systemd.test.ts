// Golden cases for the systemd rendering: every plan case of test/golden/plan (its manifest, options and
// network) and the cases in test/golden/systemd/<case>/ that bring their own manifest.toml (+ options.json,
// network.json, facts.json with a runtime). Expected: niso-web.service, sysusers.conf, files.txt, environment and the
// companion units. UPDATE_GOLDEN=1 rewrites them. The promises of each preset are asserted beside the
// snapshots, by reading the unit back the way systemd does, so a regenerated snapshot cannot weaken them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { goldenPlan } from '../helpers/golden-plan.js';
import type { Plan } from '../../src/plan/plan.js';
import { DEFAULT_DENY } from '../../src/render/seccomp.js';
import { expandSyscallNames, isKnownSyscall } from '../../src/render/seccomp-syscalls.js';
import { JIT_RUNTIMES, planDigest, renderSystemdUnit, type SystemdUnit } from '../../src/render/systemd.js';
import { SystemdQuoteError } from '../../src/render/systemd-escape.js';
import { NAMESPACE_SYSCALLS, SYSTEMD_SYSCALL_SETS, UNKNOWN_TO_SYSTEMD_252 } from '../../src/render/systemd-syscalls.js';
import { RenderError } from '../../src/render/render-error.js';
import { mountUnitName } from '../../src/render/systemd-mount.js';
import { healthUnitNames, startPoints } from '../../src/render/systemd-health.js';
import { healthServiceName, healthStartTimerName, healthTimerName } from '../../src/render/systemd-names.js';

const PLAN_DIR = join(import.meta.dirname, 'plan');
const DIR = join(import.meta.dirname, 'systemd');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const FILES_DIR = '/var/lib/niso/services/web/systemd';
const SECRETS_DIR = '/var/lib/niso/secrets';
const INPUTS = ['manifest.toml', 'options.json', 'network.json', 'facts.json'];

/** The niso that the companions run (the network, the health check, the restart policy). */
const GOLDEN_NISO = { node: '/usr/bin/node', entry: '/usr/lib/niso/bin/niso', root: '/' };

function caseFor(inputs: string): { plan: Plan; unit: SystemdUnit; runtime: string | null } {
  const { plan, runtime } = goldenPlan(inputs);
  return { plan, runtime, unit: renderSystemdUnit(plan, { generation: 'gen-42', filesDir: FILES_DIR, runtime, niso: GOLDEN_NISO, secretsDir: SECRETS_DIR, sharedTmp: true }) };
}

// --- reading a unit back the way systemd 252 does ------------------------------------------------------------

type Unit = Map<string, [string, string][]>;

function parseUnit(text: string): Unit {
  const sections: Unit = new Map();
  let current: [string, string][] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const s = /^\[(\w+)\]$/.exec(line);
    if (s) { current = []; sections.set(s[1]!, current); continue; }
    const i = line.indexOf('=');
    assert.ok(i > 0, `not a setting: ${line}`);
    current.push([line.slice(0, i), line.slice(i + 1)]);
  }
  return sections;
}

const values = (u: Unit, section: string, key: string) => (u.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
const one = (u: Unit, section: string, key: string) => {
  const v = values(u, section, key);
  assert.equal(v.length, 1, `${section}.${key} once: ${JSON.stringify(v)}`);
  return v[0]!;
};

/** systemd's word splitting with quotes and C escapes (extract_first_word with UNQUOTE|CUNESCAPE), after %-specifiers. */
function words(value: string, { exec = false } = {}): string[] {
  const s = value.replace(/%%/g, '%');
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (s[i] === ' ') i++;
    if (i >= s.length) break;
    let w = '';
    let quote: string | null = null;
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (quote === null && c === ' ') break;
      if (c === '"' || c === '\'') { if (quote === null) { quote = c; continue; } if (quote === c) { quote = null; continue; } }
      if (c === '\\') {
        const n = s[++i]!;
        if (n === 'n') w += '\n';
        else if (n === 't') w += '\t';
        else if (n === 'x') { w += String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16)); i += 2; }
        else w += n;
        continue;
      }
      w += c;
    }
    out.push(exec ? w.replace(/\$\$/g, '$') : w);
  }
  return out;
}

/** An EnvironmentFile= read as systemd 252's env-file parser does for NAME="value" lines: \\ \" \` \$ unescaped, the rest as it is. */
function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /^([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\[\\"`$])*)"\n/;
  let rest = text;
  while (rest !== '') {
    const m = re.exec(rest);
    assert.ok(m, `an env-file line: ${JSON.stringify(rest.slice(0, 80))}`);
    out[m[1]!] = m[2]!.replace(/\\([\\"`$])/g, '$1');
    rest = rest.slice(m[0].length);
  }
  return out;
}

/** A Bind*Paths= value: SRC:DST, each quoted when it holds blanks or colons. */
function bindPair(value: string): [string, string] {
  const m = /^("[^"]*"|[^:"]+):("[^"]*"|[^:"]+)$/.exec(value);
  assert.ok(m, `bind ${value}`);
  const unq = (p: string) => p.replace(/^"|"$/g, '').replace(/%%/g, '%');
  return [unq(m[1]!), unq(m[2]!)];
}

/** What the unit refuses by name, expanded through systemd's sets, on the architectures niso knows. */
function deniedByUnit(u: Unit): Set<string> {
  const terms = values(u, 'Service', 'SystemCallFilter').flatMap((v) => { assert.ok(v.startsWith('~'), 'a deny list'); return v.slice(1).split(' '); });
  const names = new Set<string>();
  for (const t of terms) {
    if (t.startsWith('@')) { assert.ok(Object.hasOwn(SYSTEMD_SYSCALL_SETS, t), `${t} is a set systemd 252 has`); for (const n of SYSTEMD_SYSCALL_SETS[t]!) if (isKnownSyscall(n)) names.add(n); }
    else { assert.ok(isKnownSyscall(t) && !UNKNOWN_TO_SYSTEMD_252.has(t), `${t} is a syscall systemd 252 knows`); names.add(t); }
  }
  return names;
}

// --- the promises -------------------------------------------------------------------------------------------

function assertHeader(plan: Plan, r: SystemdUnit): void {
  assert.equal(r.name, 'niso-web.service');
  const head = r.unit.split('\n').filter((l) => l.startsWith('# '));
  assert.ok(head[0]!.includes('generated by niso'));
  assert.ok(head.some((l) => l.includes(`${plan.package.name} ${plan.package.version} (${plan.package.digest})`)), 'names the package');
  assert.ok(head.some((l) => l.includes(planDigest(plan))), 'names the plan');
  assert.ok(head.some((l) => l.includes('generation: gen-42')), 'names the generation');
}

function assertCommon(plan: Plan, r: SystemdUnit, u: Unit): void {
  assert.equal(one(u, 'Service', 'User'), String(plan.user.uid));
  assert.equal(one(u, 'Service', 'Group'), String(plan.user.gid));
  assert.equal(values(u, 'Service', 'DynamicUser').length, 0, 'a fixed uid: state keeps its owner');
  assert.equal(one(u, 'Service', 'NoNewPrivileges'), 'yes');
  assert.equal(one(u, 'Service', 'CapabilityBoundingSet'), plan.capabilities.join(' '));
  assert.equal(one(u, 'Service', 'AmbientCapabilities'), plan.capabilities.join(' '));
  assert.deepEqual(words(one(u, 'Service', 'ExecStart'), { exec: true }), plan.command.argv, 'the plan\'s command, not a wrapper');
  // The limits' counters are kept by an ExecStopPost= outside the root, where the app's directory does not exist: "-".
  const counted = values(u, 'Service', 'ExecStopPost').length > 0;
  assert.equal(counted, plan.limits.memoryBytes !== null || plan.limits.pids !== null, 'the limit counters are kept where there are limits');
  assert.equal(one(u, 'Service', 'WorkingDirectory').replace(/%%/g, '%'), `${counted ? '-' : ''}${plan.command.cwd}`);
  if (counted) assert.equal(one(u, 'Service', 'RootDirectoryStartOnly'), 'yes', 'the root applies to the app alone');
  // The environment only in a root-only file: the unit file and `systemctl show` are every user's to read.
  assert.deepEqual(values(u, 'Service', 'Environment'), [], 'no value of the environment in the unit');
  assert.equal(one(u, 'Service', 'EnvironmentFile'), `${FILES_DIR}/environment`);
  const file = r.files.find((f) => f.path === `${FILES_DIR}/environment`);
  assert.ok(file && file.mode === 0o600, 'the environment file is root\'s alone');
  assert.deepEqual(parseEnvFile(file.content), plan.command.env, 'exactly the plan\'s environment');
  const unset = one(u, 'Service', 'UnsetEnvironment').split(' ');
  for (const k of ['USER', 'LOGNAME', 'INVOCATION_ID', 'JOURNAL_STREAM', 'SYSTEMD_EXEC_PID']) assert.ok(unset.includes(k), `${k} is not passed on`);
  assert.equal(one(u, 'Service', 'KillSignal'), plan.stop.signal);
  assert.deepEqual(values(u, 'Install', 'WantedBy'), ['multi-user.target']);
  // systemd restarts nothing by itself: every end goes to niso's policy (render/systemd-exit.ts), which needs no start limit.
  assert.equal(one(u, 'Service', 'Restart'), 'no');
  assert.deepEqual(values(u, 'Unit', 'OnFailure'), [`niso-${plan.service}-exit@failure.service`]);
  assert.deepEqual(values(u, 'Unit', 'OnSuccess'), [`niso-${plan.service}-exit@success.service`]);
  assert.deepEqual(values(u, 'Unit', 'StartLimitIntervalSec'), ['0']);
  const limits = plan.limits;
  assert.deepEqual(values(u, 'Service', 'MemoryMax'), limits.memoryBytes === null ? [] : [String(limits.memoryBytes)]);
  assert.deepEqual(values(u, 'Service', 'MemorySwapMax'), limits.memoryBytes === null ? [] : ['0']);
  assert.deepEqual(values(u, 'Service', 'CPUQuota'), limits.cpus === null ? [] : [`${limits.cpus * 100}%`]);
  assert.deepEqual(values(u, 'Service', 'TasksMax'), limits.pids === null ? [] : [String(limits.pids)]);
  assert.deepEqual(values(u, 'Service', 'LimitNOFILE'), limits.nofile === null ? [] : [String(limits.nofile)]);
}

function assertSandboxed(plan: Plan, r: SystemdUnit, u: Unit, runtime: string | null): void {
  const yes = (k: string, v = 'yes') => assert.equal(one(u, 'Service', k), v, k);
  assert.equal(one(u, 'Service', 'RootDirectory'), `${FILES_DIR}/root`);
  assert.deepEqual(r.directories, [{ path: `${FILES_DIR}/root`, mode: 0o755 }]);
  yes('MountAPIVFS'); yes('ProtectSystem', 'strict'); yes('ProtectHome'); yes('PrivateDevices'); yes('PrivateMounts');
  yes('ProtectProc', 'invisible'); yes('ProcSubset', 'pid'); yes('PrivateIPC'); yes('ProtectHostname'); yes('UMask', '0077');
  yes('ProtectKernelTunables'); yes('ProtectKernelModules'); yes('ProtectKernelLogs'); yes('ProtectControlGroups'); yes('ProtectClock');
  yes('RestrictRealtime'); yes('RestrictSUIDSGID'); yes('LockPersonality'); yes('RestrictNamespaces'); yes('SystemCallArchitectures', 'native');
  yes('SystemCallErrorNumber', 'EPERM'); yes('RestrictAddressFamilies', 'AF_UNIX AF_INET AF_INET6 AF_NETLINK');
  assert.deepEqual(values(u, 'Service', 'PrivateUsers'), plan.capabilities.length === 0 ? ['yes'] : [], 'a user namespace unless capabilities are granted');
  assert.deepEqual(values(u, 'Service', 'MemoryDenyWriteExecute'), runtime !== null && JIT_RUNTIMES.has(runtime) ? [] : ['yes'], 'W^X unless the runtime has a JIT');

  // Mounts: every one of the plan's, and only /state and the tmpfs are writable.
  const ro = values(u, 'Service', 'BindReadOnlyPaths').map(bindPair);
  const rw = values(u, 'Service', 'BindPaths').map(bindPair);
  const tmpfs = values(u, 'Service', 'TemporaryFileSystem');
  for (const m of plan.mounts) {
    if (m.type === 'bind') assert.ok((m.readOnly ? ro : rw).some(([s, t]) => s === m.source && t === m.target), `${m.target} from ${m.source}`);
    if (m.type === 'file') {
      const f = r.files.find((x) => x.path === `${FILES_DIR}${m.target}`);
      assert.ok(f && f.content === m.content && f.mode === 0o644, `${m.target} is written`);
      assert.ok(ro.some(([s, t]) => s === f.path && t === m.target), `${m.target} is bound read-only`);
    }
    // A run's own /state is a tmpfs of the service user's alone; /tmp is everyone's in the sandbox, as on a host.
    if (m.type !== 'tmpfs') continue;
    const options = m.owner ? `mode=${m.owner.mode.toString(8).padStart(4, '0')},uid=${m.owner.uid},gid=${m.owner.gid}` : 'mode=1777';
    if (m.target === '/tmp') {
      // The app's /tmp is a tmpfs of the same size and mode that a mount unit mounts on the host, fresh before each
      // start (BindsTo=) and gone when it stops: exec's transient units bind the same and see the app's sockets.
      const where = `${FILES_DIR}/tmp`;
      assert.ok(rw.some(([s, t]) => s === where && t === '/tmp'), '/tmp bound from the shared tmpfs');
      const mount = r.companions.find((c) => c.name === mountUnitName(where));
      assert.ok(mount, 'its mount unit is a companion');
      const mu = parseUnit(mount.text);
      assert.equal(one(mu, 'Mount', 'Type'), 'tmpfs');
      assert.equal(one(mu, 'Mount', 'Options'), `nosuid,nodev,size=${m.sizeBytes},${options}`);
      assert.equal(one(mu, 'Unit', 'StopWhenUnneeded'), 'yes');
      assert.deepEqual(values(u, 'Unit', 'BindsTo').filter((x) => x === mount.name), [mount.name]);
      assert.ok(!tmpfs.some((x) => x.startsWith('/tmp:')), 'no /tmp of its own beside it');
      const init = r.companions.find((c) => c.name === `niso-${plan.service}-init.service`);
      if (init) assert.ok(values(parseUnit(init.text), 'Service', 'TemporaryFileSystem').includes(`/tmp:size=${m.sizeBytes},${options}`), 'the init step has a /tmp of its own');
      continue;
    }
    assert.ok(tmpfs.includes(`${m.target}:size=${m.sizeBytes},${options}`), `${m.target} tmpfs of ${m.sizeBytes}`);
  }
  // A secret is a credential the unit loads from niso's store (root's 0600 file), bound read-only at its target from
  // the unit's own credentials dir (%d); nothing of its value is in the unit or its files.
  const secrets = plan.mounts.filter((m) => m.type === 'secret');
  assert.deepEqual(values(u, 'Service', 'LoadCredential'), [...new Set(secrets.map((m) => m.name))].map((n) => `${n}:${SECRETS_DIR}/${n}/value`));
  for (const m of secrets) assert.ok(ro.some(([s, t]) => s === `%d/${m.name}` && t === m.target), `secret ${m.name} at ${m.target}`);
  const stateTmpfs = plan.mounts.some((m) => m.type === 'tmpfs' && m.target === '/state');
  const granted = plan.mounts.filter((m) => m.type === 'bind' && !m.readOnly && (m.purpose === 'volume' || m.purpose === 'bind')).map((m) => m.target);
  const tmp = plan.mounts.some((m) => m.type === 'tmpfs' && m.target === '/tmp');
  assert.deepEqual(rw.map(([, t]) => t).filter((t) => !granted.includes(t)), [...(stateTmpfs ? [] : ['/state']), ...(tmp ? ['/tmp'] : [])], 'only the state dir, the shared /tmp and granted volumes are bound writable');
  assert.deepEqual(values(u, 'Service', 'SupplementaryGroups'), (plan.user.groups ?? []).length > 0 ? [plan.user.groups!.join(' ')] : [], 'the volumes\' groups, no others');
  assert.deepEqual(tmpfs.filter((t) => !t.includes(':ro')).map((t) => t.split(':')[0]).sort(), stateTmpfs ? ['/dev/shm', '/state'] : ['/dev/shm'], 'private tmpfs only on /dev/shm (and a run\'s own /state); /tmp is the shared one');
  assert.ok(tmpfs.includes('/run:ro'), 'the /run that RootDirectory= brings is read-only');
  for (const k of ['ReadWritePaths', 'PrivateTmp', 'DynamicUser', 'StateDirectory']) assert.equal(values(u, 'Service', k).length, 0, `no ${k}`);
  for (const [s] of [...ro, ...rw]) assert.ok(!['/', '/usr', '/etc', '/home', '/root', '/var', '/run'].includes(s), `${s} is not mounted whole`);

  // The syscall filter refuses exactly the plan's list: by name, by namespace flags, or by pinned personality.
  const denied = expandSyscallNames(DEFAULT_DENY).names;
  for (const n of expandSyscallNames(plan.seccomp!.allow).names) denied.delete(n);
  const expected = [...denied].filter((n) => !NAMESPACE_SYSCALLS.includes(n) && n !== 'personality' && !UNKNOWN_TO_SYSTEMD_252.has(n)).sort();
  assert.deepEqual([...deniedByUnit(u)].sort(), expected);
  for (const n of denied) if (UNKNOWN_TO_SYSTEMD_252.has(n)) assert.ok(r.notes.some((x) => x.includes(n)), `${n} is reported as not in the unit`);

  switch (plan.network.mode) {
    case 'none':
      yes('PrivateNetwork'); yes('IPAddressDeny', 'any'); yes('IPAddressAllow', 'localhost');
      assert.equal(values(u, 'Service', 'NetworkNamespacePath').length, 0);
      break;
    case 'private': {
      assert.equal(one(u, 'Service', 'NetworkNamespacePath'), plan.network.netns);
      assert.equal(values(u, 'Service', 'PrivateNetwork').length, 0, 'no second network namespace');
      // The network unit: pulled in and ordered first; BindsTo= takes the service down without it.
      const netName = `niso-${plan.service}-net.service`;
      assert.deepEqual(values(u, 'Unit', 'BindsTo').filter((x) => !x.endsWith('.mount')), [netName]);
      assert.ok(values(u, 'Unit', 'After').includes(netName));
      const net = r.companions.find((c) => c.name === netName);
      assert.ok(net, 'the network unit is a companion');
      const n = parseUnit(net.text);
      assert.equal(one(n, 'Service', 'Type'), 'oneshot');
      assert.equal(one(n, 'Service', 'RemainAfterExit'), 'yes');
      // Up between the service's restarts; niso stops it when the service stops for good (deactivate, the exit unit).
      assert.deepEqual(values(n, 'Unit', 'StopWhenUnneeded'), []);
      assert.equal(values(n, 'Install', 'WantedBy').length, 0, 'not enabled on its own');
      // `niso __net-up`, unless the niso command that starts the unit attached the network itself and left the file
      // the shell removes (named after the namespace, in /run: no boot finds one).
      const start = words(one(n, 'Service', 'ExecStart'), { exec: true });
      assert.deepEqual(start.slice(0, 2), ['/bin/sh', '-c']);
      assert.deepEqual(start.slice(3), ['sh', `/run/niso/net-ready/${plan.network.netns!.split('/').pop()}`, GOLDEN_NISO.node, GOLDEN_NISO.entry, '__net-up', plan.service]);
      assert.deepEqual(words(one(n, 'Service', 'ExecStop'), { exec: true }), [GOLDEN_NISO.node, GOLDEN_NISO.entry, '__net-down', plan.service]);
      assert.deepEqual(words(one(n, 'Service', 'Environment')), [`NISO_ROOT=${GOLDEN_NISO.root}`]);
      assert.ok(!r.notes.some((x) => x.startsWith('the network itself')), 'the network is no longer left out of the units');
      break;
    }
    case 'host':
      assert.equal(values(u, 'Service', 'PrivateNetwork').length + values(u, 'Service', 'NetworkNamespacePath').length, 0);
  }
}

/** The health check's units (render/systemd-health.ts): bound to the service, pacing the same state machine. */
function assertHealth(plan: Plan, r: SystemdUnit, u: Unit): void {
  const names = healthUnitNames(plan.service);
  const present = r.companions.filter((c) => names.includes(c.name)).map((c) => c.name);
  if (plan.health === null || plan.health.probe.kind === 'exec') {
    assert.deepEqual(present, [], 'no health units without a check that runs on systemd');
    if (plan.health) assert.ok(r.notes.some((n) => n.includes('health check (exec): not run')), 'an exec check says it is not run');
    return;
  }
  assert.deepEqual(present.sort(), [...names].sort());
  const h = plan.health;
  const text = (n: string) => parseUnit(r.companions.find((c) => c.name === n)!.text);
  assert.deepEqual(values(u, 'Unit', 'Wants').flatMap((v) => v.split(' ')).sort(), [healthTimerName(plan.service), healthStartTimerName(plan.service)].sort(), 'the service pulls in both timers');
  for (const t of [healthTimerName(plan.service), healthStartTimerName(plan.service)]) {
    const x = text(t);
    for (const k of ['BindsTo', 'PartOf', 'After']) assert.equal(one(x, 'Unit', k), r.name, `${t} ${k}= the service`);
    assert.equal(one(x, 'Unit', 'StartLimitIntervalSec'), '0');
    assert.equal(one(x, 'Timer', 'Unit'), healthServiceName(plan.service));
    assert.equal(values(x, 'Install', 'WantedBy').length, 0, 'not enabled on its own');
  }
  const ms = (v: string) => (v.endsWith('ms') ? Number(v.slice(0, -2)) : Number(v.slice(0, -1)) * 1000);
  const timer = text(healthTimerName(plan.service));
  assert.equal(ms(one(timer, 'Timer', 'OnUnitInactiveSec')), h.intervalMs, 'a check every interval');
  const points = values(text(healthStartTimerName(plan.service)), 'Timer', 'OnActiveSec').map(ms);
  assert.deepEqual(points, startPoints(h));
  assert.equal(points[0], 50, 'the first probe 50 ms after the start, as on the embedded backend');
  for (let i = 1; i < points.length; i++) assert.ok(points[i]! - points[i - 1]! > 1000 && points[i]! <= Math.max(h.startPeriodMs, 0) + 2 * h.intervalMs, `start-up point ${points[i]}`);
  const check = text(healthServiceName(plan.service));
  assert.equal(one(check, 'Service', 'Type'), 'oneshot');
  assert.equal(one(check, 'Unit', 'StartLimitIntervalSec'), '0');
  assert.deepEqual(words(one(check, 'Service', 'ExecStart'), { exec: true }), [GOLDEN_NISO.node, GOLDEN_NISO.entry, '__health-check', plan.service]);
  assert.deepEqual(words(one(check, 'Service', 'Environment')), [`NISO_ROOT=${GOLDEN_NISO.root}`]);
  assert.ok(!r.notes.some((n) => n.includes('health check')), 'the check is not listed as missing');
}

const cases = [
  ...readdirSync(PLAN_DIR).filter((n) => !n.startsWith('error-')).map((n) => ({ name: n, inputs: join(PLAN_DIR, n) })),
  ...readdirSync(DIR).filter((n) => existsSync(join(DIR, n, 'manifest.toml'))).map((n) => ({ name: n, inputs: join(DIR, n) })),
].sort((a, b) => a.name.localeCompare(b.name));

for (const c of cases) {
  test(`systemd unit ${c.name}`, () => {
    const { plan, unit: r, runtime } = caseFor(c.inputs);
    const out = join(DIR, c.name);
    const expected: Record<string, string> = {
      [r.name]: r.unit,
      'sysusers.conf': r.sysusers,
      'files.txt': [...r.directories.map((d) => `dir  ${d.mode.toString(8)} ${d.path}`), ...r.files.map((f) => `file ${f.mode.toString(8)} ${f.path}`), ''].join('\n'),
      // The unit's EnvironmentFile=, as written (the /etc files are the plan's mounts, in plan.json).
      environment: r.files.find((f) => f.path.endsWith('/environment'))!.content,
      ...Object.fromEntries(r.companions.map((x) => [x.name, x.text])),
    };
    if (UPDATE) {
      mkdirSync(out, { recursive: true });
      for (const f of readdirSync(out)) if (!(f in expected) && !INPUTS.includes(f)) rmSync(join(out, f));
      for (const [f, text] of Object.entries(expected)) writeFileSync(join(out, f), text);
    }
    const present = readdirSync(out).filter((f) => !INPUTS.includes(f)).sort();
    assert.deepEqual(present, Object.keys(expected).sort(), 'the expected files, no more');
    for (const [f, text] of Object.entries(expected)) assert.equal(text, readFileSync(join(out, f), 'utf8'), f);

    const u = parseUnit(r.unit);
    assertHeader(plan, r);
    assertCommon(plan, r, u);
    if (plan.preset === 'unsafe-none') {
      for (const k of ['RootDirectory', 'SystemCallFilter', 'PrivateNetwork', 'ProtectSystem', 'PrivateUsers']) assert.equal(values(u, 'Service', k).length, 0, `a plain unit: no ${k}`);
      assert.deepEqual(r.files.map((f) => f.path), [`${FILES_DIR}/environment`], 'only the environment file');
    } else {
      assertSandboxed(plan, r, u, runtime);
    }
    assertHealth(plan, r, u);
    if (plan.preset === 'strict') assert.equal(one(u, 'Service', 'PrivateNetwork'), 'yes');
    assert.match(r.sysusers, new RegExp(`^u ${plan.user.name} ${plan.user.uid}:${plan.user.gid} `, 'm'));
  });
}

test('systemd unit: what no unit file can carry is refused, not mangled', () => {
  const { plan } = caseFor(join(PLAN_DIR, 'server-node'));
  const facts = { generation: 'g', filesDir: FILES_DIR, runtime: 'nodejs' };
  assert.throws(() => renderSystemdUnit({ ...plan, command: { ...plan.command, env: { X: 'a\rb' } } }, facts), SystemdQuoteError);
  assert.throws(() => renderSystemdUnit({ ...plan, command: { ...plan.command, env: { X: 'a\0b' } } }, facts), SystemdQuoteError);
  assert.throws(() => renderSystemdUnit({ ...plan, command: { ...plan.command, argv: ['node', 'x.js'] } }, facts), RenderError);
  assert.throws(() => renderSystemdUnit({ ...plan, mounts: [...plan.mounts, { type: 'bind', source: '/srv/"x"', target: '/data', readOnly: true, purpose: 'volume' }] }, facts), SystemdQuoteError);
  assert.throws(() => renderSystemdUnit({ ...plan, service: 'Web Site' }, facts), RenderError);
  assert.throws(() => renderSystemdUnit(plan, { ...facts, filesDir: 'relative' }), RenderError);
  // A blank or colon in a path is quoted, not refused.
  const r = renderSystemdUnit({ ...plan, mounts: [...plan.mounts, { type: 'bind', source: '/srv/my data:1', target: '/data', readOnly: false, purpose: 'volume' }] }, facts);
  assert.ok(r.unit.includes('BindPaths="/srv/my data:1":/data\n'));
});
