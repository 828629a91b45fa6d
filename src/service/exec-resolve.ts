// Finds a command inside a running sandbox's filesystem before `niso exec` starts it, so that a
// missing program is reported as such (NISO3311) instead of as an exit code 127 of its own.
import { lstatSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { readHead } from '../host/read-bounded.js';
import { EXEC_HEAD_BYTES, execKind } from '../package/format/exec-head.js';

const MAX_LINKS = 40;

/**
 * Resolves `path` (absolute, inside the sandbox) to a path without symlinks, as the kernel would
 * inside the sandbox: `root` is the sandbox's root seen from the host (/proc/PID/root), and an
 * absolute link target starts again at `root`, not at the host's /. Null when a component is
 * missing or the links loop.
 */
export function resolveInRoot(root: string, path: string): string | null {
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '..') { done.pop(); continue; }
    const here = `/${[...done, c].join('/')}`;
    let st: Stats;
    try { st = lstatSync(root + here); } catch { return null; }
    if (!st.isSymbolicLink()) { done.push(c); continue; }
    if (++links > MAX_LINKS) return null;
    let target: string;
    try { target = readlinkSync(root + here); } catch { return null; }
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
  }
  return `/${done.join('/')}`;
}

export type CommandLookup =
  | { found: true; path: string }
  | { found: false; reason: 'missing' | 'not-executable' | 'interpreter-missing'; detail: string };

function executableBy(st: Stats, uid: number, gid: number): boolean {
  if (st.uid === uid) return (st.mode & 0o100) !== 0;
  if (st.gid === gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/** The interpreter named by a `#!` line, or null for anything else. */
function shebang(file: string): string | null {
  let head: Buffer;
  try { head = readHead(file, EXEC_HEAD_BYTES); } catch { return null; }
  const k = execKind(head);
  return k.kind === 'script' && k.interpreter !== '' ? k.interpreter : null;
}

/**
 * Looks `argv0` up the way execvp will inside the sandbox: a name with a slash is a path (relative
 * to `cwd`), any other name is searched in `PATH`. A script's `#!` interpreter must exist too.
 */
export function findCommand(root: string, argv0: string, opts: { path: string; cwd: string; uid: number; gid: number }): CommandLookup {
  const candidates = argv0.includes('/')
    ? [posix.resolve(opts.cwd, argv0)]
    : opts.path.split(':').filter((d) => d.startsWith('/')).map((d) => posix.join(d, argv0));
  let denied: string | null = null;
  for (const c of candidates) {
    const real = resolveInRoot(root, c);
    if (real === null) continue;
    let st: Stats;
    try { st = statSync(root + real); } catch { continue; }
    if (!st.isFile() || !executableBy(st, opts.uid, opts.gid)) { denied ??= c; continue; }
    const interp = shebang(root + real);
    if (interp !== null && interp.startsWith('/')) {
      const ir = resolveInRoot(root, interp);
      if (ir === null) return { found: false, reason: 'interpreter-missing', detail: `${c} is a script for ${interp}, which the sandbox does not contain` };
    }
    return { found: true, path: c };
  }
  if (denied !== null) return { found: false, reason: 'not-executable', detail: `${denied} is not an executable file for the service's user` };
  return {
    found: false,
    reason: 'missing',
    detail: argv0.includes('/') ? `${candidates[0]} does not exist in the sandbox` : `"${argv0}" is not in the sandbox's PATH (${opts.path})`,
  };
}
