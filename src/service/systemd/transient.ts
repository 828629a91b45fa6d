// A transient systemd unit in the foreground, for `niso run` and `niso exec` on the systemd backend: systemd-run
// with --wait and --collect, the caller's stdio handed on (--pipe) or a fresh terminal (--pty), signals to niso
// passed to the unit's main process, the app's exit code (128+N for signal N) read from a record the unit writes
// itself, and the unit stopped if niso dies. The properties come from render/systemd-run.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { NisoError } from '../../errors/niso-error.js';
import { missingTool } from '../../host/exec.js';
import { parseExitRecord, withExitRecord, systemdRunArgv, type TransientExit } from '../../render/systemd-run.js';
import { tool } from './systemctl.js';

const HOST_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

/** What niso passes on to the unit; SIGWINCH goes to systemd-run instead when it holds a terminal (it resizes it). */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

// Stops the unit if niso dies, even by SIGKILL: it waits for the pipe from niso to close. niso kills this shell
// itself once the unit has ended, so it never acts on a unit of the same name started later.
const WATCHDOG = 'while read x; do :; done; systemctl kill --signal=SIGKILL -- "$1" >/dev/null 2>&1';

export interface ForegroundUnit {
  unit: string;
  description: string;
  /** The unit's properties (render/systemd-run.ts transientProperties and additions). */
  properties: string[];
  /** transientArgv() of the command. */
  argv: string[];
  /** pty: a fresh terminal for the command; pipe: niso's own stdio handed on. */
  stdio: 'pty' | 'pipe';
  /** niso's stdin for the command, or /dev/null. */
  stdin: 'inherit' | 'ignore';
  /** A host file the unit writes how its main process ended into (removed here afterwards). */
  exitFile: string;
  /** After SIGINT or SIGTERM, the unit is killed if it has not ended within this long. */
  stopTimeoutMs: number;
  /** TERM for the command's terminal (systemd-run --pty passes its own TERM on); never set for pipes. */
  term?: string;
  /** Collect stdout and stderr (the last `maxChars` characters) instead of handing niso's own on; no signals are forwarded. */
  capture?: { maxChars: number };
  /** Kill the unit after this long. */
  timeoutMs?: number;
}

export interface ForegroundExit extends TransientExit {
  /** capture: what the command wrote to stdout and stderr, as it came. */
  output?: string;
  /** The unit was killed at timeoutMs. */
  timedOut: boolean;
}

/**
 * Where the recorder can write: even its `+` command sees the unit's TemporaryFileSystem= mounts (/tmp, /run,
 * /dev/shm) and its BindPaths= targets (a service's shared /tmp) in systemd 252, so an exit file below one of them
 * (a NISO_ROOT in /tmp) goes to /var/tmp instead.
 */
export function recorderPath(properties: readonly string[], exitFile: string, unit: string): string {
  const target = (p: string) => {
    const v = p.slice(p.indexOf('=') + 1);
    return p.startsWith('TemporaryFileSystem=') ? v.split(':')[0]! : v.slice(v.indexOf(':') + 1).split(':')[0]!;
  };
  const shadowed = properties.filter((p) => /^(TemporaryFileSystem|BindPaths|BindReadOnlyPaths)=/.test(p)).map(target);
  if (!shadowed.some((t) => exitFile === t || exitFile.startsWith(`${t.replace(/\/$/, '')}/`))) return exitFile;
  mkdirSync(FALLBACK_EXIT_DIR, { recursive: true, mode: 0o700 });
  return join(FALLBACK_EXIT_DIR, `${unit}.exit`);
}

const FALLBACK_EXIT_DIR = '/var/tmp/niso-systemd-run';

/** Runs the unit in the foreground; resolves with how its main process ended once the unit is gone. */
export async function runTransient(unit: ForegroundUnit): Promise<ForegroundExit> {
  const u = { ...unit, exitFile: recorderPath(unit.properties, unit.exitFile, unit.unit) };
  rmSync(u.exitFile, { force: true });
  const argv = systemdRunArgv({
    unit: u.unit, description: u.description, stdio: u.stdio, argv: u.argv,
    properties: withExitRecord(u.properties, '/bin/sh', u.exitFile),
  });
  const env: Record<string, string> = { PATH: HOST_PATH, ...(u.stdio === 'pty' && u.term ? { TERM: u.term } : {}) };
  // A session of its own: a terminal's Ctrl-C (sent to the whole foreground process group) reaches only niso,
  // which passes it to the app; systemd-run itself would just stop waiting and leave the unit running.
  const out = u.capture ? 'pipe' : 'inherit';
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: [u.stdin, out, out], detached: true, env });
  let output = '';
  if (u.capture) {
    const keep = u.capture.maxChars;
    for (const stream of [child.stdout!, child.stderr!]) stream.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-keep); });
  }

  const watchdog = spawn('sh', ['-c', WATCHDOG, 'sh', u.unit], { stdio: ['pipe', 'ignore', 'ignore'], detached: true, env: { PATH: HOST_PATH } });
  watchdog.on('error', () => undefined);
  watchdog.stdin!.on('error', () => undefined);
  watchdog.unref();

  const systemctlKill = async (signal: string, who: 'main' | 'all'): Promise<boolean> => {
    const r = await tool('systemctl', ['kill', `--kill-who=${who}`, `--signal=${signal}`, '--', u.unit]).catch(() => null);
    return r !== null && r.code === 0;
  };
  let stopping: NodeJS.Timeout | null = null;
  const killAll = () => {
    // Before systemd-run has made the unit, ending systemd-run is all there is to stop.
    void systemctlKill('SIGKILL', 'all').then((ok) => { if (!ok) child.kill('SIGKILL'); });
  };
  const forward = (sig: NodeJS.Signals) => {
    if (sig === 'SIGWINCH' && u.stdio === 'pty') { child.kill('SIGWINCH'); return; }
    const stop = sig === 'SIGINT' || sig === 'SIGTERM';
    if (stop && stopping) { killAll(); return; }
    void systemctlKill(sig, 'main').then((ok) => { if (!ok && stop) killAll(); });
    if (stop) stopping = setTimeout(killAll, u.stopTimeoutMs).unref();
  };
  const forwarded = u.capture ? [] : FORWARDED;
  for (const s of forwarded) process.on(s, forward);
  let timedOut = false;
  const deadline = u.timeoutMs === undefined ? null : setTimeout(() => { timedOut = true; killAll(); }, u.timeoutMs);

  let code: number | null;
  let signal: NodeJS.Signals | null;
  try {
    ({ code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
      child.on('error', (e: NodeJS.ErrnoException) => rej(e.code === 'ENOENT' ? missingTool('systemd-run', e) : e));
      child.on('close', (c, s) => res({ code: c, signal: s }));
    }));
  } finally {
    for (const s of forwarded) process.off(s, forward);
    if (stopping) clearTimeout(stopping);
    if (deadline) clearTimeout(deadline);
    watchdog.kill('SIGKILL');
  }

  let record = '';
  try { record = readFileSync(u.exitFile, 'utf8'); } catch { /* the unit never ran, or it is still running */ }
  rmSync(u.exitFile, { force: true });
  const exit = parseExitRecord(record, constants.signals);
  if (exit !== null) return { ...exit, timedOut, ...(u.capture ? { output } : {}) };
  // systemd-run ended without the unit's record: it could not start the unit (its own message is on stderr), or
  // it was killed while the unit runs on. Nothing of the unit may stay behind.
  await systemctlKill('SIGKILL', 'all');
  await tool('systemctl', ['reset-failed', '--', u.unit]).catch(() => undefined);
  throw new NisoError('NISO3313', `systemd did not run ${u.unit} (systemd-run ${signal ? `was killed by ${signal}` : `exited with ${code}`})`, {
    hint: `systemd-run's own message is above; \`journalctl -u ${u.unit}\` shows what systemd logged`,
  });
}
