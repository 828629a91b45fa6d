// Renders a Plan as the command that starts it with bubblewrap: setpriv drops to the service's
// uid/gid first (so the sandbox is not host root; see PLATFORM.md §1), then bwrap builds the
// namespaces and the root filesystem. Pure: it only translates; every decision is in the plan.
import type { Plan } from '../plan/plan.js';

export interface BwrapFd {
  fd: number;
  kind: 'seccomp' | 'status' | 'file';
  /** Content to write into the fd (files), or null when niso reads from it (status) or supplies a prepared buffer (seccomp). */
  content: string | null;
}

export interface BwrapCommand {
  argv: string[];
  /** Extra file descriptors, from 3 upwards, in order. */
  fds: BwrapFd[];
}

export class RenderError extends Error {}

/**
 * `seccomp`: whether a filter will be supplied (on the fd this reserves). The plan's command runs
 * through `setpriv`, which must be started as root.
 */
export function renderBwrap(plan: Plan, opts: { seccomp: boolean; dieWithParent: boolean }): BwrapCommand {
  const fds: BwrapFd[] = [];
  const nextFd = () => 3 + fds.length;
  // Capability sets are emptied here too, so that even the unsandboxed preset keeps none.
  const setpriv = ['setpriv', `--reuid=${plan.user.uid}`, `--regid=${plan.user.gid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', ...(plan.noNewPrivileges ? ['--no-new-privs'] : [])];

  if (plan.mounts.length === 0 && !plan.namespaces.mount) {
    // Unsandboxed preset: only the user switch and a clean environment.
    // env(1) reads NAME=value pairs after its options and before the command.
    return { argv: [...setpriv, '--', 'env', '-i', '-C', plan.command.cwd, '--', ...Object.entries(plan.command.env).map(([k, v]) => `${k}=${v}`), ...plan.command.argv], fds };
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
      case 'tmpfs': a.push('--size', String(m.sizeBytes), '--tmpfs', m.target); break;
      case 'proc': a.push('--proc', m.target); break;
      case 'dev': a.push('--dev', m.target); break;
      case 'file': {
        const fd = nextFd();
        fds.push({ fd, kind: 'file', content: m.content });
        a.push('--ro-bind-data', String(fd), m.target);
        break;
      }
    }
  }
  // bwrap's root is a tmpfs owned by the sandbox user: make it read-only, so that only the
  // writable mounts of the plan (/tmp, /state) can be written.
  a.push('--remount-ro', '/');
  a.push('--chdir', plan.command.cwd, '--clearenv');
  for (const [k, v] of Object.entries(plan.command.env)) a.push('--setenv', k, v);
  a.push('--', ...plan.command.argv);
  // A private network is a namespace niso prepared; joining it needs root, so before setpriv.
  const nsenter = plan.network.mode === 'private' && plan.network.netns ? ['nsenter', `--net=${plan.network.netns}`, '--'] : [];
  return { argv: [...nsenter, ...setpriv, '--', ...a], fds };
}

/** A shell-safe one-line rendering of an argv, for --dry-run and logs. */
export function shellQuote(argv: string[]): string {
  return argv.map((s) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)).join(' ');
}
