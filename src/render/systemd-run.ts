// Turns a rendered service unit (render/systemd.ts) into a transient unit for systemd-run(1), so that `niso run` and
// `niso exec` on systemd get exactly the sandbox of a service unit without a second copy of the directive logic:
// the renderer stays the one place that decides them, and this module only moves its [Service] lines into
// `-p KEY=VALUE` arguments. Pure. Every rule below was checked against systemd-run 252 (see each comment).
import { RenderError } from './render-error.js';
import { lineValue } from './systemd-escape.js';

/**
 * [Service] directives that a transient unit in the foreground leaves out: ExecStart= is systemd-run's own command
 * line, a run or exec is never restarted (Restart=, RestartSec=), and the service's ExecStopPost= keeps counters for
 * its own exit unit (a run has a recorder of its own, with its RootDirectoryStartOnly=).
 */
export const FOREGROUND_DROPPED: ReadonlySet<string> = new Set(['ExecStart', 'Restart', 'RestartSec', 'ExecStopPost', 'RootDirectoryStartOnly']);

/**
 * Every other directive the renderer writes, each one accepted by systemd-run 252 as a transient property (a run
 * with all of them started, and `systemctl show` of it matched the service unit's). A directive outside this set
 * makes transientProperties throw, so that a new one is checked before runs depend on it, instead of being lost.
 */
export const TRANSIENT_DIRECTIVES: ReadonlySet<string> = new Set([
  'Type', 'User', 'Group', 'WorkingDirectory', 'EnvironmentFile', 'UnsetEnvironment', 'KillSignal', 'TimeoutStopSec',
  'NoNewPrivileges', 'CapabilityBoundingSet', 'AmbientCapabilities', 'RootDirectory', 'MountAPIVFS', 'BindPaths',
  'BindReadOnlyPaths', 'TemporaryFileSystem', 'ProtectSystem', 'ProtectHome', 'PrivateDevices', 'PrivateMounts',
  'ProtectProc', 'ProcSubset', 'UMask', 'PrivateUsers', 'PrivateIPC', 'RemoveIPC', 'ProtectHostname', 'PrivateNetwork',
  'NetworkNamespacePath', 'IPAddressAllow', 'IPAddressDeny', 'RestrictAddressFamilies', 'SystemCallArchitectures',
  'RestrictNamespaces', 'LockPersonality', 'SystemCallFilter', 'SystemCallErrorNumber', 'RestrictSUIDSGID',
  'RestrictRealtime', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups',
  'ProtectClock', 'KeyringMode', 'MemoryDenyWriteExecute', 'MemoryMax', 'MemorySwapMax', 'CPUQuota', 'TasksMax',
  'LimitNOFILE', 'SupplementaryGroups', 'LoadCredential',
]);

/**
 * A unit-file value as a transient property. Unit files expand %-specifiers (so the renderer doubles every `%`);
 * properties set over the bus do not (`-p Environment=X=%n` arrives as `%n`), so `%%` becomes `%` again. Quotes and
 * C escapes stay: systemd-run splits Environment=, BindPaths= and friends with the unit-file parser's rules.
 * A single `%` (CPUQuota=50%) is not a specifier there and stays as it is. The one specifier the renderer writes,
 * `%d` (the unit's credentials dir, for secrets), becomes the transient unit's own: systemd-run 252 refused
 * `BindReadOnlyPaths=%d/NAME:...` ("Source path %d/NAME is not absolute"), and took the path written out.
 */
function propertyValue(v: string, unit: string | null): string {
  return v.replace(/%([%d])/g, (_, c: string) => {
    if (c === '%') return '%';
    if (unit === null) throw new RenderError(`a transient unit needs its name for %d (its credentials dir): ${v}`);
    return `/run/credentials/${unit}`;
  });
}

/** The lines of one section of a unit, without comments and blank lines. */
function sectionLines(unitText: string, section: string): string[] {
  const out: string[] = [];
  let inside = false;
  for (const raw of unitText.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) { inside = line === `[${section}]`; continue; }
    if (!inside || line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.endsWith('\\')) throw new RenderError(`a continued line in [${section}] cannot become a transient property: ${line}`);
    out.push(line);
  }
  return out;
}

/**
 * The [Service] directives of a rendered unit as systemd-run properties (`KEY=VALUE`, each one `-p` argument), in
 * the unit's order (later assignments of list directives add to earlier ones, as in the file). `extraDropped` names
 * more directives to leave out; `unit` is the transient unit's name (for its credentials dir). Throws RenderError for
 * a directive systemd-run was not checked to take.
 */
export function transientProperties(unitText: string, extraDropped: readonly string[] = [], unit: string | null = null): string[] {
  if (unit !== null && !/^[A-Za-z0-9:_.\\-]+\.service$/.test(unit)) throw new RenderError(`"${unit}" is not a service unit name`);
  const props: string[] = [];
  for (const line of sectionLines(unitText, 'Service')) {
    const i = line.indexOf('=');
    if (i <= 0) throw new RenderError(`not a directive: ${line}`);
    const key = line.slice(0, i);
    if (FOREGROUND_DROPPED.has(key) || extraDropped.includes(key)) continue;
    if (!TRANSIENT_DIRECTIVES.has(key)) throw new RenderError(`${key}= was not checked as a transient property of systemd-run 252`);
    props.push(`${key}=${propertyValue(line.slice(i + 1), unit)}`);
  }
  return props;
}

/**
 * For `niso exec`: the properties that put a transient unit into the network and IPC namespaces of a running
 * service unit. With PrivateNetwork=/PrivateIPC= (which the service's own lines bring along) systemd then hands the
 * unit the namespaces the service holds instead of new ones (verified in 252: same net and ipc inode as the
 * service's main process, and the app's port answered on 127.0.0.1); NetworkNamespacePath= names the same namespace
 * anyway. The user and mount namespaces stay the unit's own: systemd 252 cannot join those.
 */
export function joinServiceProperties(serviceUnit: string): string[] {
  if (!/^[A-Za-z0-9:_.\\-]+\.service$/.test(serviceUnit)) throw new RenderError(`"${serviceUnit}" is not a service unit name`);
  return [`JoinsNamespaceOf=${serviceUnit}`];
}

/**
 * Extra environment for a transient unit, from a file written with environmentFile(): never as Environment=, which
 * every user can read (`systemctl show`, the transient unit file in /run/systemd/transient). It follows the unit's own
 * EnvironmentFile=, and a later file wins (systemd.exec(5)).
 */
export function environmentFileProperty(path: string): string {
  if (!path.startsWith('/')) throw new RenderError(`the environment file ${JSON.stringify(path)} is not an absolute path`);
  return `EnvironmentFile=${propertyValue(lineValue(path, 'the environment file'), null)}`;
}

/**
 * The command of a transient unit. systemd-run passes it as an argv array, and the manager still expands `$VAR` and
 * `${VAR}` in it (verified: `$HOME` arrived empty), so a `$` is doubled; `%` is not a specifier there.
 */
export function transientArgv(argv: readonly string[]): string[] {
  if (argv.length === 0 || !argv[0]!.startsWith('/')) throw new RenderError(`the command must start with an absolute path, got ${JSON.stringify(argv[0] ?? '')}`);
  return argv.map((a) => a.replace(/\$/g, '$$$$'));
}

/** A word of an ExecStopPost= line: quoted, with `\` and `"` escaped and `$` doubled (no specifiers over the bus). */
function execArg(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(s)) throw new RenderError(`${JSON.stringify(s)} contains a control character`);
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '$$$$')}"`;
}

/**
 * How the unit's main process ended, written by the unit itself into `exitFile` on the host. systemd-run --wait
 * cannot say it: it returns 0 for an app killed by SIGTERM (a "clean" signal for services) and 255 for any other
 * signal, and --collect leaves nothing to ask afterwards. ExecStopPost= runs once the main process is gone (also
 * after a failed exec), with $SERVICE_RESULT, $EXIT_CODE and $EXIT_STATUS; `+` runs it outside the sandbox as root,
 * and RootDirectoryStartOnly=yes keeps the unit's root from applying to it (`+` alone does not lift
 * RootDirectory=: the shell then failed with 203/EXEC). Neither changes how the app itself runs.
 */
export function withExitRecord(properties: readonly string[], shell: string, exitFile: string): string[] {
  const script = 'echo "$SERVICE_RESULT $EXIT_CODE $EXIT_STATUS" > "$1"';
  // WorkingDirectory= applies to ExecStopPost= too, outside the root where the app's /app does not exist: the
  // recorder then failed with 200/CHDIR. "-" lets it start in / there; the app's own directory is always a mount
  // of its root, so for the app nothing changes.
  const props = properties.map((p) => (p.startsWith('WorkingDirectory=') && !p.startsWith('WorkingDirectory=-') ? `WorkingDirectory=-${p.slice('WorkingDirectory='.length)}` : p));
  return [...props, 'RootDirectoryStartOnly=yes', `ExecStopPost=+${execArg(shell)} -c ${execArg(script)} sh ${execArg(exitFile)}`];
}

export interface TransientExit {
  /** systemd's Result (success, exit-code, signal, core-dump, timeout, ...). */
  result: string;
  /** The app's exit code; 128+N when signal N ended it. */
  exitCode: number;
  /** The signal that ended the app (SIGTERM), or null. */
  signal: string | null;
}

/**
 * Reads what withExitRecord's recorder wrote: `RESULT exited STATUS` or `RESULT killed|dumped SIGNAME`. `signals` maps
 * names (SIGTERM) to numbers. Null when the text is not such a record (the main process never ran).
 */
export function parseExitRecord(text: string, signals: Readonly<Record<string, number>>): TransientExit | null {
  const m = /^(\S+) (exited|killed|dumped) (\S+)\s*$/.exec(text);
  if (!m) return null;
  const [, result, code, status] = m as unknown as [string, string, string, string];
  if (code === 'exited') {
    const n = Number(status);
    return Number.isInteger(n) ? { result, exitCode: n, signal: null } : null;
  }
  const name = status.startsWith('SIG') ? status : `SIG${status}`;
  const n = signals[name] ?? (/^\d+$/.test(status) ? Number(status) : undefined);
  if (n === undefined) return null;
  return { result, exitCode: 128 + n, signal: signals[name] !== undefined ? name : null };
}

export interface SystemdRunRequest {
  /** The unit's name, `….service`. */
  unit: string;
  description: string;
  /** transientProperties() plus anything the caller adds. */
  properties: readonly string[];
  /** transientArgv() of the command. */
  argv: readonly string[];
  /** pty: a fresh terminal for the app, connected to systemd-run's stdio; pipe: systemd-run's stdio handed on. */
  stdio: 'pty' | 'pipe';
}

/** The systemd-run command line of a foreground transient unit: it waits, and the unit is collected even when failed. */
export function systemdRunArgv(req: SystemdRunRequest): string[] {
  if (!/^[A-Za-z0-9:_.\\-]+\.service$/.test(req.unit)) throw new RenderError(`"${req.unit}" is not a service unit name`);
  return [
    'systemd-run', `--unit=${req.unit}`, `--description=${req.description.replace(/[\r\n]/g, ' ')}`,
    '--quiet', '--wait', '--collect', req.stdio === 'pty' ? '--pty' : '--pipe',
    ...req.properties.flatMap((p) => ['-p', p]),
    '--', ...req.argv,
  ];
}
