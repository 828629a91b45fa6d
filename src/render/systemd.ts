// Renders a Plan as a systemd service unit that builds the sandbox with systemd's own directives (DESIGN.md §4),
// for hosts where systemd is PID 1. Pure: the plan and a few host facts in, text out; the caller writes the
// files, registers the user and loads the unit. Every choice below was tried on systemd 252 (PLATFORM.md §4).
import { createHash } from 'node:crypto';
import type { Plan, PlanMount } from '../plan/plan.js';
import { overrideSource } from '../plan/weakenings.js';
import { RenderError } from './render-error.js';
import { INIT_DUE_FILE, LIMIT_COUNTERS_FILE, SHARED_TMP_DIR, initCheckUnitName, initUnitName, unitName } from './systemd-names.js';
import { DEFAULT_DENY } from './seccomp.js';
import { expandSyscallNames } from './seccomp-syscalls.js';
import { environmentFile, execWord, linePath, lineValue, pathWord, span } from './systemd-escape.js';
import { NAMESPACE_SYSCALLS, systemdDenyTerms } from './systemd-syscalls.js';
import { netDependencyLines, nisoOneshotLines, renderNetUnit, type NisoCommand } from './systemd-net.js';
import { renderHealthUnits } from './systemd-health.js';
import { renderExitUnits } from './systemd-exit.js';
import { renderStateMounts, renderTmpMount } from './systemd-mount.js';
import { renderDependencyUnits, type UnitDependency } from './systemd-deps.js';
import { LIMIT_FILES } from '../service/stats/parse.js';

export interface SystemdFacts {
  /** The generation this unit belongs to; only written into the header. */
  generation: string;
  /**
   * A host directory that niso owns for this service's generated files: `root/` becomes the RootDirectory=
   * skeleton and `etc/` holds the sandbox's passwd, group, hosts and nsswitch.conf.
   */
  filesDir: string;
  /** The runtime's name (nodejs, python, ...), or null for a runtime-less binary: decides MemoryDenyWriteExecute=. */
  runtime: string | null;
  /**
   * How a companion unit runs niso (systemd-net.ts): with it, a private network is set up by
   * niso-<service>-net.service at every start; without it, the caller prepares plan.network.netns itself.
   */
  niso?: NisoCommand;
  /**
   * niso's secret store (layout().secrets): a secret of the plan is loaded from it by the unit's LoadCredential=;
   * needed only by plans with secrets.
   */
  secretsDir?: string;
  /**
   * The service's /tmp (the plan's tmpfs there) as a tmpfs that a mount unit mounts on the host (filesDir/tmp, fresh
   * at each start, gone when the service stops) and the unit binds: `niso exec` and exec health checks, transient units
   * made from the unit's lines, bind the same and see what the app keeps there (a socket), as on the embedded backend,
   * where they enter the app's mount namespace. Left out for transient runs (`niso run`), which nothing joins.
   */
  sharedTmp?: boolean;
  /** A stack service's dependencies (depends_on): ordered after them, waiting for `healthy` and `completed` ones. */
  dependencies?: UnitDependency[];
}

export interface SystemdFile { path: string; content: string; mode: number }

export interface SystemdUnit {
  /** `niso-<service>.service`. */
  name: string;
  unit: string;
  /** Files the unit reads (its environment, 0600) or binds into the sandbox; write them root-owned, with their mode, before starting it. */
  files: SystemdFile[];
  /** Directories to create, root-owned and empty: the RootDirectory= skeleton, in which systemd makes the mount points. */
  directories: { path: string; mode: number }[];
  /**
   * Symlinks to make in the RootDirectory= skeleton, root-owned (a Debian root's merged /usr: bin -> usr/bin); made
   * by niso rather than left to systemd, which adds /lib64 only when the loader is already there before the mounts.
   */
  symlinks: { path: string; target: string }[];
  /**
   * sysusers.d(5) lines for the service's user: User= needs a name service entry for the uid (systemd refuses an
   * unknown numeric uid with status 217/USER), and systemd-sysusers is systemd's own way to make one.
   */
  sysusers: string;
  /** Units that go with this one (the crash-loop timer, the private network's unit), by file name. */
  companions: { name: string; text: string }[];
  /** What the plan asks for that systemd 252 cannot express; also written into the unit's header. */
  notes: string[];
}

const SERVICE_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Runtimes whose interpreter writes machine code at run time and so needs writable+executable memory, which
 * MemoryDenyWriteExecute= forbids. Verified under systemd 252: node (V8) aborts at its first JIT page and ruby
 * --yjit dies; python's ctypes callbacks still work (libffi uses static trampolines), and compiled Go, Rust or C
 * servers never need it. ruby and php are listed because Rails enables YJIT by default and PHP's opcache JIT is
 * one ini setting away; a runtime not named here is assumed to be JIT-free.
 */
export const JIT_RUNTIMES: ReadonlySet<string> = new Set(['nodejs', 'node', 'deno', 'bun', 'java', 'ruby', 'php']);

/** Variables the service manager adds on its own; the sandbox gets exactly the plan's environment instead. */
const MANAGER_ENV = ['USER', 'LOGNAME', 'SHELL', 'HOME', 'PATH', 'LANG', 'INVOCATION_ID', 'JOURNAL_STREAM', 'SYSTEMD_EXEC_PID'];

/** Socket families a service may open: IP, local sockets, and netlink (getifaddrs, so os.networkInterfaces()). */
const ADDRESS_FAMILIES = 'AF_UNIX AF_INET AF_INET6 AF_NETLINK';

function percent(cpus: number): string {
  // Two decimals of a percent is systemd's resolution (it parses permyriads).
  return `${Math.round(cpus * 10_000) / 100}%`;
}

export function planDigest(plan: Plan): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(plan)).digest('hex')}`;
}

function header(plan: Plan, facts: SystemdFacts, name: string, notes: string[]): string[] {
  const p = plan.package;
  const h = [
    `# ${name}: generated by niso from the service's plan; niso rewrites it, so edit the manifest instead.`,
    `# package:    ${p.name} ${p.version} (${p.digest})`,
    `# plan:       ${planDigest(plan)} (preset ${plan.preset})`,
    `# generation: ${facts.generation}`,
  ];
  for (const o of plan.overrides) h.push(`# override:   ${o.property} = ${JSON.stringify(o.value)} (${overrideSource(o)}; preset: ${JSON.stringify(o.preset)})`);
  for (const n of plan.notes) h.push(`# note:       ${n}`);
  for (const n of notes) h.push(`# not in this unit: ${n}`);
  return h.map((l) => l.replace(/[\r\n]/g, ' '));
}

function limitLines(plan: Plan): string[] {
  const { memoryBytes, cpus, pids, nofile } = plan.limits;
  const out: string[] = [];
  // Without swap in the limit a hog would page out instead of being stopped (cgroup v2; v1 has no swap knob here).
  if (memoryBytes !== null) out.push(`MemoryMax=${memoryBytes}`, 'MemorySwapMax=0');
  if (cpus !== null) out.push(`CPUQuota=${percent(cpus)}`);
  if (pids !== null) out.push(`TasksMax=${pids}`);
  if (nofile !== null) out.push(`LimitNOFILE=${nofile}`);
  return out;
}

/**
 * Keeps what the run's cgroup counted against its limits (OOM kills, forks refused at the pids limit) for niso's exit
 * unit, which runs after systemd has removed the cgroup: systemd 252 reports an OOM kill (Result=oom-kill) only on
 * cgroup v2, and a fork bomb not at all. Each file as `== NAME` and its text (stats/parse.ts parseFileDump), from
 * the v1 hierarchies or the unified one, whichever the host has; `+`: outside the sandbox, `-`: never a failure.
 * (systemd resolves a bare `nsenter` in its fixed search path.)
 */
function limitCountersLines(plan: Plan, facts: SystemdFacts, unit: string): string[] {
  if (facts.niso === undefined || (plan.limits.memoryBytes === null && plan.limits.pids === null)) return [];
  const v1 = LIMIT_FILES[1].map((f) => `${f.split('.')[0]}/$u/${f}`);
  const v2 = LIMIT_FILES[2].map((f) => `$u/${f}`);
  const script = `u=system.slice/$2; cd /sys/fs/cgroup || exit 0; for p in ${[...v1, ...v2].join(' ')}; do [ -r "$p" ] && printf '== %s\\n' "\${p##*/}" && cat "$p"; done > "$1"; exit 0`;
  return [
    '# What the run met of its limits, kept for niso\'s exit unit before systemd removes the cgroup. `+` alone does not',
    '# lift RootDirectory= (the shell failed with 203/EXEC): the unit\'s root applies to ExecStart= only, as for niso run;',
    '# nor TemporaryFileSystem= (an empty /tmp and /run): the shell runs in PID 1\'s mount namespace.',
    'RootDirectoryStartOnly=yes',
    `ExecStopPost=-+nsenter --mount=/proc/1/ns/mnt /bin/sh -c ${execWord(script)} sh ${execWord(`${facts.filesDir}/${LIMIT_COUNTERS_FILE}`)} ${execWord(unit)}`,
  ];
}

/**
 * The environment comes from a root-only file: an Environment= line would be readable by every user, in the unit file
 * (0644) and through `systemctl show` (the bus is world-readable), and values of --env or [env] are often secrets.
 * systemd reads the file as root when the unit starts, before it builds the sandbox.
 */
function environmentLines(plan: Plan, facts: SystemdFacts, files: SystemdFile[]): string[] {
  const env = plan.command.env;
  const path = `${facts.filesDir}/environment`;
  files.push({ path, content: environmentFile(env), mode: 0o600 });
  const out = [`EnvironmentFile=${linePath(path, 'the environment file')}`];
  const unset = MANAGER_ENV.filter((k) => !Object.hasOwn(env, k));
  if (unset.length > 0) out.push(`UnsetEnvironment=${unset.join(' ')}`);
  return out;
}

function execLine(argv: readonly string[]): string {
  const [exe, ...args] = argv;
  if (exe === undefined || !exe.startsWith('/')) throw new RenderError(`the command must start with an absolute path, got ${JSON.stringify(exe ?? '')}`);
  return `ExecStart=${[exe, ...args].map(execWord).join(' ')}`;
}

/** The mounts, in the plan's order, and the files the unit binds. */
function mountLines(plan: Plan, facts: SystemdFacts, files: SystemdFile[], symlinks: SystemdUnit['symlinks']): { lines: string[]; notes: string[]; tmp: SharedTmp | null } {
  let tmp: SharedTmp | null = null;
  const lines: string[] = [];
  const notes: string[] = [];
  const loaded = new Set<string>();
  const bind = (m: Extract<PlanMount, { type: 'bind' }>) => `${m.readOnly ? 'BindReadOnlyPaths' : 'BindPaths'}=${pathWord(m.source)}:${pathWord(m.target)}`;
  for (const m of plan.mounts) {
    switch (m.type) {
      case 'bind': lines.push(bind(m)); break;
      case 'file': {
        // The same path below filesDir as inside the sandbox (all of them are in /etc).
        const path = `${facts.filesDir}${m.target}`;
        files.push({ path, content: m.content, mode: 0o644 });
        lines.push(`BindReadOnlyPaths=${pathWord(path)}:${pathWord(m.target)}`);
        break;
      }
      case 'tmpfs': {
        const own = `TemporaryFileSystem=${pathWord(m.target)}:size=${m.sizeBytes},${tmpfsMode(m)}`;
        if (facts.sharedTmp && m.target === '/tmp') {
          const shared = `BindPaths=${pathWord(sharedTmpDir(facts))}:/tmp`;
          lines.push(shared);
          tmp = { shared, own, mount: renderTmpMount(plan, sharedTmpDir(facts), m.sizeBytes, tmpfsMode(m)) };
        } else lines.push(own);
        break;
      }
      case 'secret': lines.push(...secretLines(m, facts, loaded)); break;
      // MountAPIVFS= and PrivateDevices= (below) provide these.
      case 'proc': case 'dev': break;
      case 'symlink': symlinks.push({ path: `${facts.filesDir}/root${m.target}`, target: m.linkTo }); break;
    }
  }
  if (!plan.mounts.some((m) => m.type === 'proc')) notes.push('a sandbox without /proc (systemd always mounts it with RootDirectory=)');
  return { lines, notes, tmp };
}

/** The app's /tmp shared with exec (SystemdFacts.sharedTmp): its line, the line of a /tmp of its own, and its mount unit. */
interface SharedTmp { shared: string; own: string; mount: { name: string; text: string } }

const sharedTmpDir = (facts: SystemdFacts) => `${facts.filesDir}/${SHARED_TMP_DIR}`;
const tmpfsMode = (m: Extract<PlanMount, { type: 'tmpfs' }>) => (m.owner ? `mode=${m.owner.mode.toString(8).padStart(4, '0')},uid=${m.owner.uid},gid=${m.owner.gid}` : 'mode=1777');

/**
 * A secret is a credential of the unit: systemd (as root, before it builds the sandbox) copies the stored file into the
 * unit's own credentials dir, a ramfs that only the service's uid reads, and the file is bound read-only at the
 * target. Verified with systemd 252 and RootDirectory= (also under TemporaryFileSystem=/run:ro): the file at the target
 * is owned by the service's uid, mode 0400, and /run/secrets is made for it. `%d` is that credentials dir; a transient
 * unit gets its path written out instead (systemd-run.ts), since properties set over the bus expand no specifiers.
 * The bytes never enter the unit: it names the stored file, which stays root's alone (0600 in a 0700 dir).
 */
function secretLines(m: Extract<PlanMount, { type: 'secret' }>, facts: SystemdFacts, loaded: Set<string>): string[] {
  if (facts.secretsDir === undefined) throw new RenderError(`the plan mounts secret ${m.name}, but no secret store was given to load it from`);
  const out: string[] = [];
  if (!loaded.has(m.name)) {
    loaded.add(m.name);
    out.push(`LoadCredential=${m.name}:${linePath(`${facts.secretsDir}/${m.name}/value`, 'the secret store')}`);
  }
  out.push(`BindReadOnlyPaths=%d/${m.name}:${pathWord(m.target)}`);
  return out;
}

function syscallLines(plan: Plan): { lines: string[]; notes: string[] } {
  if (plan.seccomp === null) return { lines: [], notes: [] };
  const denied = expandSyscallNames(DEFAULT_DENY).names;
  const allowed = expandSyscallNames(plan.seccomp.allow);
  if (allowed.unknown.length > 0) throw new RenderError(`unknown syscall names or groups in the plan: ${allowed.unknown.join(', ')}`);
  for (const n of allowed.names) denied.delete(n);
  const lines = ['SystemCallArchitectures=native'];
  const byName = new Set(denied);
  // clone with CLONE_NEW* flags, clone3, unshare and setns: systemd filters these by flag with RestrictNamespaces=.
  const nsDenied = NAMESPACE_SYSCALLS.some((n) => denied.has(n));
  for (const n of NAMESPACE_SYSCALLS) byName.delete(n);
  if (nsDenied || !plan.allowUserNamespaces) lines.push('RestrictNamespaces=yes');
  // personality: niso lets the app keep Linux personas only; LockPersonality= pins the one it starts with.
  if (byName.delete('personality')) lines.push('LockPersonality=yes');
  const { terms, inexpressible } = systemdDenyTerms(byName);
  if (terms.length > 0) lines.push(`SystemCallFilter=~${terms.join(' ')}`, `SystemCallErrorNumber=${plan.seccomp.errno}`);
  const notes = inexpressible.length > 0 ? [`refusing ${inexpressible.join(', ')} (newer than systemd 252's syscall table; the bwrap filter refuses them by number)`] : [];
  return { lines, notes };
}

function networkLines(plan: Plan): string[] {
  switch (plan.network.mode) {
    case 'host': return [];
    case 'private':
      if (!plan.network.netns) throw new RenderError('a private network needs the namespace niso prepared (plan.network.netns)');
      return [`NetworkNamespacePath=${linePath(plan.network.netns, 'the network namespace')}`];
    case 'none':
      // Loopback only. The IP filter says so once more where systemd has its BPF firewall (cgroup v2).
      return ['PrivateNetwork=yes', 'IPAddressAllow=localhost', 'IPAddressDeny=any'];
  }
}

function capabilityLines(plan: Plan): string[] {
  const caps = plan.capabilities.join(' ');
  return [`CapabilityBoundingSet=${caps}`, `AmbientCapabilities=${caps}`];
}

/**
 * What a [Service] section is made of, besides its type, command and the lines a unit adds of its own: made once per
 * plan, so that the app's unit and its init step's get the same user, sandbox, environment and limits.
 */
interface ServiceParts {
  /** From User= to the environment: what comes before ExecStart=. */
  identity: string[];
  /** From KillSignal= to the capabilities, then the sandbox and the resources. */
  rest: string[];
  /** The limit counters' ExecStopPost=, which only the app's unit has (its exit unit reads them). */
  stopPost: string[];
  /** The app's /tmp, shared with exec (SystemdFacts.sharedTmp); the init step gets a /tmp of its own instead. */
  tmp: SharedTmp | null;
}

/** A unit's [Service] lines: one builder for the app's unit and its init step's (renderInitUnit). */
function serviceSection(parts: ServiceParts, spec: { type: 'exec' | 'oneshot'; argv: readonly string[]; extra: readonly string[]; stopPost: boolean }): string[] {
  return ['[Service]', `Type=${spec.type}`, ...spec.extra, ...parts.identity, execLine(spec.argv), ...parts.rest, ...(spec.stopPost ? parts.stopPost : [])];
}

/** The parts of the plan's [Service] section; the files, directories, symlinks and notes it needs go into `out`. */
function serviceParts(plan: Plan, facts: SystemdFacts, name: string, restartLines: string[], out: { files: SystemdFile[]; directories: { path: string; mode: number }[]; symlinks: SystemdUnit['symlinks']; notes: string[] }): ServiceParts {
  const { files, directories, symlinks, notes } = out;
  let tmp: SharedTmp | null = null;
  const sandboxed = plan.mounts.length > 0 || plan.namespaces.mount;
  const counters = limitCountersLines(plan, facts, name);
  const identity = [
    `User=${plan.user.uid}`,
    `Group=${plan.user.gid}`,
    // The volumes' groups: how services share a volume (never a chown of its files).
    ...((plan.user.groups ?? []).length > 0 ? [`SupplementaryGroups=${plan.user.groups!.join(' ')}`] : []),
    // WorkingDirectory= applies to ExecStopPost= too, outside the root where the app's directory does not exist: "-"
    // lets the counters' shell start in / there (for the app nothing changes: its directory is a mount of its root).
    `WorkingDirectory=${counters.length > 0 ? '-' : ''}${linePath(plan.command.cwd, 'the working directory')}`,
    ...environmentLines(plan, facts, files),
  ];
  const service: string[] = [
    `KillSignal=${plan.stop.signal}`,
    `TimeoutStopSec=${span(plan.stop.timeoutMs)}`,
    ...restartLines,
    ...(plan.noNewPrivileges ? ['NoNewPrivileges=yes'] : []),
    // Even the unsandboxed preset keeps no capabilities (as setpriv --bounding-set=-all does for bwrap).
    ...capabilityLines(plan),
  ];
  if (sandboxed) {
    const root = `${facts.filesDir}/root`;
    directories.push({ path: root, mode: 0o755 });
    const mounts = mountLines(plan, facts, files, symlinks);
    tmp = mounts.tmp;
    const sys = syscallLines(plan);
    notes.push(...mounts.notes, ...sys.notes);
    const ns = plan.namespaces;
    if (ns.pid) notes.push('a PID namespace (systemd 252 has no PrivatePIDs=): the app sees only its own processes through ProtectProc=invisible, and its uid can signal no others');
    if (ns.cgroup) notes.push('a cgroup namespace (no ProtectControlGroups=private before systemd 257): /sys/fs/cgroup is read-only, and the app sees its cgroup path');
    if (plan.network.mode === 'private' && !facts.niso) notes.push(`the network itself: niso prepares ${plan.network.netns} (addresses, ${plan.network.ports?.length ?? 0} mapped port(s), egress ${plan.network.egress === false ? 'off' : 'on'}) before the start; the unit only joins it`);
    if (ns.uts) notes.push(`the hostname "${plan.hostname}" (ProtectHostname= gives a UTS namespace but keeps the host's name; systemd 252 cannot set one)`);
    const jit = facts.runtime !== null && JIT_RUNTIMES.has(facts.runtime);
    // Capabilities held inside a user namespace do not count for the host's network or files, so a plan
    // that grants any runs without one (the uid is the same either way).
    const privateUsers = ns.user && plan.capabilities.length === 0;
    service.push(
      '',
      '# Filesystem: an empty root with only the plan\'s mounts (TemporaryFileSystem=/ leaves the host\'s submounts visible in 252).',
      `RootDirectory=${linePath(root, 'the root directory')}`,
      'MountAPIVFS=yes',
      ...mounts.lines,
      // systemd mounts a writable tmpfs on /run under RootDirectory=; the plan has nothing there.
      'TemporaryFileSystem=/run:ro',
      // PrivateDevices= would share the host's /dev/shm between services.
      'TemporaryFileSystem=/dev/shm:mode=1777',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateDevices=yes',
      'PrivateMounts=yes',
      'ProtectProc=invisible',
      'ProcSubset=pid',
      'UMask=0077',
      '',
      '# Namespaces and network',
      ...(privateUsers ? ['PrivateUsers=yes'] : ns.user ? ['# PrivateUsers= is off: granted capabilities would only apply inside the user namespace.'] : []),
      ...(ns.ipc ? ['PrivateIPC=yes', 'RemoveIPC=yes'] : []),
      ...(ns.uts ? ['ProtectHostname=yes'] : []),
      ...networkLines(plan),
      `RestrictAddressFamilies=${ADDRESS_FAMILIES}`,
      '',
      '# Kernel and system calls',
      ...sys.lines,
      'RestrictSUIDSGID=yes',
      'RestrictRealtime=yes',
      'ProtectKernelTunables=yes',
      'ProtectKernelModules=yes',
      'ProtectKernelLogs=yes',
      'ProtectControlGroups=yes',
      'ProtectClock=yes',
      'KeyringMode=private',
      jit
        ? `# MemoryDenyWriteExecute= is off: the ${facts.runtime} runtime compiles code at run time and needs writable+executable memory.`
        : 'MemoryDenyWriteExecute=yes',
    );
  }
  const limits = limitLines(plan);
  const stopPost = counters.filter((l) => l.startsWith('ExecStopPost='));
  if (limits.length > 0) service.push('', '# Resources', ...limits, ...counters.filter((l) => !stopPost.includes(l)));
  return { identity, rest: service, stopPost, tmp };
}

/**
 * The unit for one service. Throws RenderError for a plan systemd cannot carry (a control character in the
 * environment, a relative command, a path with quotes).
 */
export function renderSystemdUnit(plan: Plan, facts: SystemdFacts): SystemdUnit {
  if (!SERVICE_RE.test(plan.service)) throw new RenderError(`"${plan.service}" cannot be part of a unit name`);
  if (!facts.filesDir.startsWith('/')) throw new RenderError(`filesDir must be absolute, got ${JSON.stringify(facts.filesDir)}`);
  const name = unitName(plan.service);
  const notes: string[] = [];
  const files: SystemdFile[] = [];
  const directories: { path: string; mode: number }[] = [];
  const symlinks: SystemdUnit['symlinks'] = [];
  // The restart policy: niso's, applied by a companion each time the unit ends (systemd-exit.ts).
  const restart = renderExitUnits(plan, facts.niso);
  notes.push(...restart.notes);
  const sandboxed = plan.mounts.length > 0 || plan.namespaces.mount;
  const parts = serviceParts(plan, facts, name, restart.serviceLines, { files, directories, symlinks, notes });
  // exec: "started" once the program runs, so a missing binary fails the start instead of the service.
  const service = serviceSection(parts, { type: 'exec', argv: plan.command.argv, extra: [], stopPost: true });
  // The health check runs beside the unit: timers start a oneshot check (systemd-health.ts).
  const health = renderHealthUnits(plan, facts.niso);
  notes.push(...health.notes);

  const netUnit = sandboxed && plan.network.mode === 'private' && facts.niso ? renderNetUnit(plan.service, facts.niso, plan.network.netns) : null;
  const state = renderStateMounts(plan);
  const init = plan.init ? renderInitUnit(plan, facts, parts, { net: netUnit ? netDependencyLines(plan.service) : [], state: state.unitLines }) : null;
  if (init) notes.push(...init.notes);
  const deps = renderDependencyUnits(plan.service, facts.dependencies ?? [], facts.niso);
  notes.push(...deps.notes);
  const tmpLines = parts.tmp ? [`# The app's /tmp: ${parts.tmp.mount.name} mounts a fresh tmpfs before each start and goes when the app stops.`, `BindsTo=${parts.tmp.mount.name}`, `After=${parts.tmp.mount.name}`] : [];
  const unitSection = ['[Unit]', `Description=${lineValue(`niso service ${plan.service} (${plan.package.name}@${plan.package.version})`, 'the description')}`, ...restart.unitLines, ...(netUnit ? netDependencyLines(plan.service) : []), ...state.unitLines, ...tmpLines, ...health.unitLines, ...(init ? init.unitLines : []), ...deps.unitLines];
  const text = [
    ...header(plan, facts, name, notes),
    '',
    ...unitSection,
    '',
    ...service,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');

  // sysusers.d expands %-specifiers in every field. The plan's home: /state inside a sandbox (what the app sees),
  // the state dir itself without one; passwd cannot hold a colon, so such a home becomes "-" (/), which only host
  // tools see: the app gets HOME from the plan's environment.
  const home = plan.user.home;
  // eslint-disable-next-line no-control-regex
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(plan.user.name) || /["\\\x00-\x1f]/.test(home)) throw new RenderError(`sysusers.d cannot carry the user ${JSON.stringify(plan.user.name)} with home ${JSON.stringify(home)}`);
  const homeField = home.includes(':') ? '-' : `"${home.replace(/%/g, '%%')}"`;
  const sysusers = [
    `# ${name}: the service's user, with the uid niso allocated.`,
    `g ${plan.user.name} ${plan.user.gid}`,
    `u ${plan.user.name} ${plan.user.uid}:${plan.user.gid} "niso service ${plan.service}" ${homeField} /usr/sbin/nologin`,
    // SupplementaryGroups= resolves each gid through the name service (an unknown one fails the start with 216/GROUP).
    ...(plan.user.groups ?? []).map((g) => `g niso-g${g} ${g}`),
    '',
  ].join('\n');

  return {
    name, unit: text, files, directories, symlinks, sysusers,
    companions: [...(restart.companion === null ? [] : [restart.companion]), ...(netUnit ? [netUnit] : []), ...state.companions, ...(parts.tmp ? [parts.tmp.mount] : []), ...health.companions, ...(init ? init.companions : []), ...deps.companions],
    notes,
  };
}

/**
 * The init step as niso-SERVICE-init.service: a oneshot with the app's own [Service] lines (the same user, mounts,
 * network, system call filter and environment) and the init command, which the app's unit requires and starts after,
 * so it runs before every start; a failure keeps the app from starting. Its condition is niso's own (service/init-step.ts
 * initNeeded, as on the embedded backend), decided on the host by niso-SERVICE-init-check.service (`niso
 * __init-needed`), which leaves a file while the step is due; the init unit's ConditionPathExists= reads it, and a
 * condition that does not hold skips the step without failing it. Not ExecCondition=: systemd 252 runs it inside the
 * unit's RootDirectory= even with RootDirectoryStartOnly=yes and `+`, where a package's own /usr has no niso, node or
 * nsenter (and whose loader must not run as root).
 */
function renderInitUnit(plan: Plan, facts: SystemdFacts, parts: ServiceParts, deps: { net: string[]; state: string[] }): { unitLines: string[]; companions: { name: string; text: string }[]; notes: string[] } {
  const init = plan.init!;
  const name = initUnitName(plan.service);
  const notes: string[] = [];
  const companions: { name: string; text: string }[] = [];
  const conditionLines: string[] = [];
  if (init.when.kind !== 'always') {
    if (facts.niso === undefined) notes.push(`the init step's condition (${init.when.kind} ${init.when.path}): no niso command was given to check it, so the step runs before every start`);
    else {
      const check = initCheckUnitName(plan.service);
      const oneshot = nisoOneshotLines(facts.niso, '__init-needed', plan.service);
      companions.push({
        name: check,
        text: [
          `# ${check}: whether the init step of niso service ${plan.service} is due before this start; while it is, ${INIT_DUE_FILE} is in the service's files dir.`,
          '',
          '[Unit]',
          `Description=${lineValue(`niso service ${plan.service}: is its init step due`, 'the description')}`,
          // The condition's path may be in the bounded state dir: mounted first. No network: it only looks at files.
          ...deps.state,
          ...oneshot.unit,
          '',
          '[Service]',
          ...oneshot.service,
          '',
        ].join('\n'),
      });
      conditionLines.push(
        `# Whether the step is due: ${check} decides it on the host before each start.`,
        `Requires=${check}`,
        `After=${check}`,
        `ConditionPathExists=${linePath(`${facts.filesDir}/${INIT_DUE_FILE}`, 'the init step\'s condition file')}`,
      );
    }
  }
  // A /tmp of its own, as on the embedded backend (a sandbox of its own): what the step leaves there (a socket, a pid
  // file of the server it ran) is not the app's.
  const own = parts.tmp ? { ...parts, rest: parts.rest.map((l) => (l === parts.tmp!.shared ? parts.tmp!.own : l)) } : parts;
  const lines = serviceSection(own, { type: 'oneshot', argv: init.argv, extra: [`TimeoutStartSec=${span(init.timeoutMs)}`], stopPost: false });
  const text = [
    `# ${name}: the init step of niso service ${plan.service} (${init.argv.map((a) => execWord(a)).join(' ')}), ${init.when.kind === 'always' ? 'before every start' : `before a start while ${init.when.kind === 'if-empty' ? `${init.when.path} is empty` : `${init.when.path} does not exist`}`}.`,
    '',
    '[Unit]',
    `Description=${lineValue(`niso service ${plan.service}: init step`, 'the description')}`,
    ...deps.net,
    ...deps.state,
    ...conditionLines,
    '',
    ...lines,
    '',
  ].join('\n');
  companions.unshift({ name, text });
  return {
    unitLines: [`# The init step: ${name} runs before each start (and is skipped while its condition does not hold).`, `Requires=${name}`, `After=${name}`],
    companions,
    notes,
  };
}
