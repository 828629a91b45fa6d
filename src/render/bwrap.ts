// Renders a Plan as the command that starts it with bubblewrap: setpriv drops to the service's
// uid/gid first (so the sandbox is not host root; see PLATFORM.md §1), then bwrap builds the
// namespaces and the root filesystem. renderBwrapJoin renders `niso exec`: a command started inside
// such a sandbox while it runs. Pure: it only translates; every decision is in the plan.
import { RenderError } from './render-error.js';
import type { Plan } from '../plan/plan.js';

export interface BwrapFd {
  fd: number;
  /**
   * env: the app's environment, in the form its reader takes (bwrap options NUL-separated, or a shell script
   * unsandboxed). secret: the bytes of the stored secret `secret`, which the starter reads and writes into the fd.
   */
  kind: 'seccomp' | 'status' | 'file' | 'env' | 'secret';
  /** Content to write into the fd (files, env), or null when niso reads from it (status) or supplies a prepared buffer (seccomp, secret). */
  content: string | null;
  /** kind secret: the secret's name. */
  secret?: string;
}

export interface BwrapCommand {
  argv: string[];
  /** Extra file descriptors, from 3 upwards, in order. */
  fds: BwrapFd[];
}


/** Options for bwrap --args: a NUL inside one would end it and start another option of the caller's choosing. */
function nulSeparated(options: string[]): string {
  // Not named in the message: the option may be a secret's value.
  for (const [i, o] of options.entries()) {
    if (o.includes('\0')) throw new RenderError(`${options[i - 2] === '--setenv' ? `the value of ${options[i - 1]}` : `bwrap's option ${i + 1}`} contains a NUL byte, which no argument or environment can carry`);
  }
  return options.map((o) => `${o}\0`).join('');
}

/** The service's supplementary groups (its volumes'), or none at all: root's must never reach the sandbox. */
function groupsOption(plan: Plan): string[] {
  const groups = plan.user.groups ?? [];
  for (const g of groups) if (!Number.isInteger(g) || g <= 0) throw new RenderError(`${g} is not a group id a service may have`);
  return groups.length > 0 ? [`--groups=${groups.join(',')}`] : ['--clear-groups'];
}

/** A value in single quotes for sh: nothing inside is special but the quote itself. */
const shWord = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The environment as a script for sh (unsandboxed): exactly the plan's variables, since dash exports a PWD of its own.
 * Names are checked here too: a plan's names come from validated manifests and flags, but one with shell syntax in
 * it would run as code.
 */
function envScript(env: Record<string, string>): string {
  const lines = ['unset PWD'];
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new RenderError(`${JSON.stringify(k)} is not a valid environment variable name`);
    if (v.includes('\0')) throw new RenderError(`the value of ${k} contains a NUL byte, which no environment can carry`);
    lines.push(`export ${k}=${shWord(v)}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * `seccomp`: whether a filter will be supplied (on the fd this reserves). The plan's command runs
 * through `setpriv`, which must be started as root.
 *
 * The environment never appears in an argv: every local user can read a process's command line
 * (/proc/PID/cmdline, ps), and values of --env or [env] are often secrets. bwrap reads it from an
 * fd (--args), and without a sandbox sh reads it as a script from an fd, after setpriv, as the
 * service's uid. Nor is it put into the environment of the chain itself (nsenter and setpriv run
 * as root, where a variable such as LD_PRELOAD from a manifest would be a root exploit): only the
 * app's own process has it, readable by its uid and root alone (/proc/PID/environ is 0400).
 */
export function renderBwrap(plan: Plan, opts: { seccomp: boolean; dieWithParent: boolean }): BwrapCommand {
  const fds: BwrapFd[] = [];
  const nextFd = () => 3 + fds.length;
  // Capability sets are emptied here too, so that even the unsandboxed preset keeps none.
  const setpriv = ['setpriv', `--reuid=${plan.user.uid}`, `--regid=${plan.user.gid}`, ...groupsOption(plan), '--inh-caps=-all', '--bounding-set=-all', ...(plan.noNewPrivileges ? ['--no-new-privs'] : [])];

  if (plan.mounts.length === 0 && !plan.namespaces.mount) {
    // Unsandboxed preset: only the user switch and a clean environment, which sh sets from the fd, closed before it
    // execs the app. The fd is a socket (node's pipes are socketpairs), which /dev/fd/N cannot open: cat reads it.
    // dash takes single-digit fds only; this is the first one.
    const fd = nextFd();
    fds.push({ fd, kind: 'env', content: envScript(plan.command.env) });
    return { argv: [...setpriv, '--', 'env', '-i', '-C', plan.command.cwd, '--', '/bin/sh', '-c', `e=$(/bin/cat <&${fd}) || exit 126; exec ${fd}<&-; eval "$e"; exec "$@"`, 'sh', ...plan.command.argv], fds };
  }
  if (plan.capabilities.length > 0) {
    throw new RenderError(`capabilities (${plan.capabilities.join(', ')}) cannot be granted in an unprivileged bubblewrap sandbox`);
  }

  const a: string[] = ['bwrap', '--unshare-user'];
  if (!plan.allowUserNamespaces) a.push('--disable-userns');
  const ns = plan.namespaces;
  if (ns.pid) a.push('--unshare-pid');
  if (ns.ipc) a.push('--unshare-ipc');
  if (ns.uts) a.push('--unshare-uts', '--hostname', plan.hostname);
  if (ns.cgroup) a.push('--unshare-cgroup-try');
  if (ns.net && plan.network.mode === 'none') a.push('--unshare-net');
  a.push('--cap-drop', 'ALL', '--new-session');
  if (opts.dieWithParent) a.push('--die-with-parent');
  if (opts.seccomp && plan.seccomp) {
    const fd = nextFd();
    fds.push({ fd, kind: 'seccomp', content: null });
    a.push('--seccomp', String(fd));
  }
  const statusFd = nextFd();
  fds.push({ fd: statusFd, kind: 'status', content: null });
  a.push('--json-status-fd', String(statusFd));

  for (const m of plan.mounts) {
    switch (m.type) {
      case 'bind': a.push(m.readOnly ? '--ro-bind' : '--bind', m.source, m.target); break;
      // bwrap mounts it as the sandbox user, who therefore owns it; --perms sets the mode.
      case 'tmpfs': a.push(...(m.owner ? ['--perms', m.owner.mode.toString(8).padStart(4, '0')] : []), '--size', String(m.sizeBytes), '--tmpfs', m.target); break;
      case 'proc': a.push('--proc', m.target); break;
      case 'dev': a.push('--dev', m.target); break;
      case 'symlink': a.push('--symlink', m.linkTo, m.target); break;
      case 'file': {
        const fd = nextFd();
        fds.push({ fd, kind: 'file', content: m.content });
        a.push('--ro-bind-data', String(fd), m.target);
        break;
      }
      // Only the name goes into the argv, never the bytes: bubblewrap copies them from the fd into a file of the
      // sandbox, created as the sandbox user (its owner) with mode 0400, and makes its parent dirs.
      case 'secret': {
        const fd = nextFd();
        fds.push({ fd, kind: 'secret', content: null, secret: m.name });
        a.push('--perms', '0400', '--ro-bind-data', String(fd), m.target);
        break;
      }
    }
  }
  // bwrap's root is a tmpfs owned by the sandbox user: make it read-only, so that only the
  // writable mounts of the plan (/tmp, /state) can be written.
  a.push('--remount-ro', '/');
  const envFd = nextFd();
  fds.push({ fd: envFd, kind: 'env', content: nulSeparated(['--clearenv', ...Object.entries(plan.command.env).flatMap(([k, v]) => ['--setenv', k, v])]) });
  a.push('--chdir', plan.command.cwd, '--args', String(envFd), '--', ...plan.command.argv);
  // A private network is a namespace niso prepared; joining it needs root, so before setpriv.
  const nsenter = plan.network.mode === 'private' && plan.network.netns ? ['nsenter', `--net=${plan.network.netns}`, '--'] : [];
  return { argv: [...nsenter, ...setpriv, '--', ...a], fds };
}

/** What the host contributes to a join rendering (`niso exec`): found by the caller, not decided. */
export interface JoinHostFacts {
  /** Paths root can open on the host, each naming one of the app's namespaces (pinned /proc/PID/fd/N links). */
  namespaces: { pid: string; mnt: string; net: string; ipc: string; uts: string; cgroup: string };
  /** bwrap as real host paths (no symlinks): its loader (null for a static bwrap) and every library it loads. */
  bwrap: { binary: string; loader: string | null; libraries: string[] };
}

export interface BwrapJoinFd {
  fd: number;
  /**
   * userns: niso passes an open fd of the app's user namespace. args: bwrap's options, NUL-separated
   * (content). seccomp: the compiled filter. status: bwrap's JSON status, read by niso.
   */
  kind: 'userns' | 'args' | 'seccomp' | 'status';
  content: string | null;
}

export interface BwrapJoinCommand {
  /** Runs as root; argv[0] is setpriv. */
  argv: string[];
  /** Extra file descriptors, from 3 upwards, in order. */
  fds: BwrapJoinFd[];
}

/**
 * Renders the command that runs `argv` inside the running sandbox of `plan` (`niso exec`). It must
 * be started as root, in the service's cgroup. Why each step is where it is (all verified on
 * bubblewrap 0.8, kernel 6.18):
 *
 * - The filesystem is the app's own mount namespace, entered with nsenter and copied by bwrap
 *   (`--dev-bind / /`), so /tmp (a tmpfs that exists only in the sandbox), /proc (the app's pid
 *   namespace) and the read-only flags are the app's, not a rebuild. Binding /proc/APP/root or
 *   /proc/APP/root/tmp instead fails: the kernel refuses bind mounts from another mount namespace
 *   (EINVAL).
 * - bwrap cannot join the pid namespace itself (--pidns): the app's user namespace is a child of
 *   the one that owns its pid namespace (--disable-userns nests one), and no process is left in
 *   that parent, so no fd to it exists. nsenter joins the pid namespace as root instead.
 * - Inside the app's mount namespace no host tool is reachable by absolute path, so nsenter keeps
 *   the host's / as working directory (--wd=/) and starts bwrap by relative paths through its own
 *   loader, with every library preloaded by real path (ld.so searches nothing in the sandbox).
 *   No host file stays open in the command, and bwrap's --chdir moves it into the sandbox.
 * - bwrap runs as root and switches to the service's uid inside the joined user namespace
 *   (--userns --uid --gid). Run as the service's uid instead, its monitor process would sit in
 *   the app's pid and user namespaces as the same uid without capabilities or seccomp, and the app
 *   could write its memory through /proc/PID/mem (verified); as root (uid 0 outside, no
 *   capabilities) it cannot be touched. Supplementary groups are cleared and no_new_privs is set
 *   by setpriv before; --cap-drop ALL keeps bwrap from passing root's capabilities on.
 * - Options go through --args, so the environment does not show in process listings, and
 *   --block-fd closes the user namespace fd before the command starts (a read from it fails at
 *   once), so the command inherits no descriptor of niso's.
 * - Always --new-session: the command never shares a terminal session with niso (TIOCSTI); a TTY
 *   is a fresh pseudo-terminal that the caller provides.
 * - --die-with-parent ends bwrap's monitor with the chain (setpriv --pdeathsig ends the chain with
 *   niso), but it cannot end the command: the monitor, root without capabilities, may not signal
 *   the service's uid, and the kernel drops such a parent-death signal. The caller ends the
 *   command if niso dies.
 */
export function renderBwrapJoin(plan: Plan, opts: { argv: string[]; env?: Record<string, string>; seccomp: boolean; host: JoinHostFacts }): BwrapJoinCommand {
  if (plan.mounts.length === 0 && !plan.namespaces.mount) throw new RenderError('an unsandboxed service has no sandbox to join');
  if (plan.capabilities.length > 0) {
    throw new RenderError(`capabilities (${plan.capabilities.join(', ')}) cannot be granted in an unprivileged bubblewrap sandbox`);
  }
  if (opts.argv.length === 0) throw new RenderError('no command given');
  const { bwrap, namespaces: ns } = opts.host;
  const files = [bwrap.binary, ...(bwrap.loader === null ? [] : [bwrap.loader]), ...bwrap.libraries];
  for (const f of files) {
    // Relative to the host's root and split on blanks and colons by ld.so --preload.
    if (!f.startsWith('/') || /[\s:]/.test(f)) throw new RenderError(`${f}: bwrap's files must be absolute paths without blanks or colons`);
  }
  const rel = (p: string) => p.slice(1);
  const fds: BwrapJoinFd[] = [];
  const nextFd = () => 3 + fds.length;
  const usernsFd = nextFd();
  fds.push({ fd: usernsFd, kind: 'userns', content: null });
  const argsFd = nextFd();
  fds.push({ fd: argsFd, kind: 'args', content: null });

  const o: string[] = ['--userns', String(usernsFd), '--uid', String(plan.user.uid), '--gid', String(plan.user.gid)];
  if (!plan.allowUserNamespaces) o.push('--assert-userns-disabled');
  o.push('--cap-drop', 'ALL', '--new-session', '--die-with-parent');
  if (opts.seccomp && plan.seccomp) {
    const fd = nextFd();
    fds.push({ fd, kind: 'seccomp', content: null });
    o.push('--seccomp', String(fd));
  }
  const statusFd = nextFd();
  fds.push({ fd: statusFd, kind: 'status', content: null });
  o.push('--json-status-fd', String(statusFd), '--block-fd', String(usernsFd));
  o.push('--dev-bind', '/', '/', '--remount-ro', '/', '--chdir', plan.command.cwd, '--clearenv');
  for (const [k, v] of Object.entries({ ...plan.command.env, ...opts.env })) o.push('--setenv', k, v);
  fds[1]!.content = nulSeparated(o);

  const setpriv = ['setpriv', ...(plan.noNewPrivileges ? ['--no-new-privs'] : []), ...groupsOption(plan), '--inh-caps=-all', '--pdeathsig', 'KILL', '--'];
  const nsenter = ['nsenter', `--pid=${ns.pid}`, `--mount=${ns.mnt}`, `--net=${ns.net}`, `--ipc=${ns.ipc}`, `--uts=${ns.uts}`, `--cgroup=${ns.cgroup}`, '--wd=/', '--'];
  const start = bwrap.loader === null
    ? [rel(bwrap.binary)]
    : [rel(bwrap.loader), '--inhibit-cache', ...(bwrap.libraries.length > 0 ? ['--preload', bwrap.libraries.map(rel).join(' ')] : []), rel(bwrap.binary)];
  return { argv: [...setpriv, ...nsenter, ...start, '--args', String(argsFd), '--', ...opts.argv], fds };
}

/** A shell-safe one-line rendering of an argv, for --dry-run and logs. */
export function shellQuote(argv: string[]): string {
  return argv.map((s) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)).join(' ');
}
