// Talking to the host's systemd: systemctl, journalctl and systemd-sysusers as child processes. The CLI is the
// only interface systemd 252 guarantees without D-Bus bindings, and a call costs ~6 ms (PLATFORM.md §4).
import { execFile, execFileSync } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';

/** Where niso writes its units: the administrator's directory, so that `systemctl enable` and a reboot find them. */
export const UNIT_DIR = '/etc/systemd/system';

/**
 * Whether one of niso's units is enabled: its [Install] link (WantedBy=multi-user.target) is there, read from the disk
 * as a boot reads it. systemd's UnitFileState= is cached in each loaded unit: after `enable --no-reload` (or disable)
 * it stays as it was until the next daemon-reload (seen in systemd 252), and niso enables without one.
 */
export function unitFileEnabled(unit: string): boolean {
  return lstatSync(join(UNIT_DIR, 'multi-user.target.wants', unit), { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
}

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0', LC_ALL: 'C' };

export interface ToolResult { code: number; stdout: string; stderr: string }

/** Runs a systemd tool; resolves with its exit code and output (never rejects on a non-zero exit). */
export function tool(cmd: string, args: string[], timeoutMs = 60_000): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: ENV, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        reject(new NisoError('NISO3309', `cannot run ${cmd}: ${err.message}`, { hint: 'the systemd backend needs systemctl and journalctl on PATH' }));
        return;
      }
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** systemctl ARGS, failing with NISO3304 and systemd's own words when it does. */
export async function systemctl(...args: string[]): Promise<string> {
  const r = await tool('systemctl', args);
  if (r.code !== 0) throw new NisoError('NISO3304', `systemctl ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`, { hint: 'journalctl -xe shows what systemd says about it' });
  return r.stdout;
}

/**
 * Unit properties (`systemctl show`), synchronously: `niso status` and `niso list` are synchronous readers.
 * Timestamps come to the microsecond in UTC (--timestamp=us+utc; `unix` would give whole seconds).
 */
export function showSync(unit: string, props: readonly string[]): Record<string, string> {
  let out: string;
  try {
    out = execFileSync('systemctl', ['show', '--timestamp=us+utc', ...props.flatMap((p) => ['-p', p]), unit], { env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (e) {
    throw new NisoError('NISO3309', `systemctl show ${unit} failed: ${((e as { stderr?: string }).stderr ?? (e as Error).message).trim()}`);
  }
  return parseProperties(out);
}

/** `NAME=value` lines of `systemctl show` as a record. */
function parseProperties(text: string): Record<string, string> {
  const r: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) r[line.slice(0, i)] = line.slice(i + 1);
  }
  return r;
}

/**
 * The same properties of many units in one `systemctl show` (it prints a block per unit, in the order asked, with a
 * blank line between): a listing of 20 services is one process instead of 20. Null when the blocks do not line up
 * with the units (the caller asks unit by unit then).
 */
export function showManySync(units: readonly string[], props: readonly string[]): Record<string, string>[] | null {
  if (units.length === 0) return [];
  let out: string;
  try {
    out = execFileSync('systemctl', ['show', '--timestamp=us+utc', ...props.flatMap((p) => ['-p', p]), ...units], { env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000, maxBuffer: 16 * 1024 * 1024 });
  } catch {
    return null;
  }
  const blocks = out.split(/\n\n+/).map((b) => b.trim()).filter((b) => b !== '');
  if (blocks.length !== units.length) return null;
  return blocks.map(parseProperties);
}

/** `Mon 2026-11-23 07:02:27.716141 UTC` (--timestamp=us+utc) as epoch milliseconds, keeping the microseconds as a fraction. */
export function usTimestamp(v: string | undefined): number | null {
  const m = /(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? UTC$/.exec(v ?? '');
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, frac] = m;
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)) + Number((frac ?? '0').padEnd(6, '0')) / 1000;
}

/** A timestamp of `systemctl show` (us+utc, or `@SECONDS` as --timestamp=unix prints it) as a Date; null for an empty or "n/a" value. */
export function unixTimestamp(v: string | undefined): Date | null {
  const unix = /^@(\d+(?:\.\d+)?)$/.exec(v ?? '');
  if (unix) return new Date(Math.round(Number(unix[1]) * 1000));
  const ms = usTimestamp(v);
  return ms === null ? null : new Date(Math.floor(ms));
}
