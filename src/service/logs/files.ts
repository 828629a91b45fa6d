// The files of a service's logs dir, and the two the service writes its stdout and stderr to
// directly: no process sits in the data path, so a killed supervisor never breaks the app's pipes.
import { chmodSync, closeSync, constants, fchownSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StreamKey } from './journal-format.js';

export const RAW_FILES: Record<StreamKey, string> = { out: 'out.raw', err: 'err.raw' };
export const JOURNAL_FILE = 'journal';

export function journalPath(logsDir: string, seq?: number): string {
  return join(logsDir, seq === undefined ? JOURNAL_FILE : `${JOURNAL_FILE}.${seq}`);
}

/** Rotated journals are `journal.<seq>`, seq counting up forever; returns the seqs present, oldest first. */
export function rotatedSeqs(names: readonly string[]): number[] {
  const seqs: number[] = [];
  for (const n of names) {
    const m = /^journal\.([1-9]\d{0,15})$/.exec(n);
    if (m) seqs.push(Number(m[1]));
  }
  return seqs.sort((a, b) => a - b);
}

export function rawPath(logsDir: string, key: StreamKey): string {
  return join(logsDir, RAW_FILES[key]);
}

/**
 * Opens the service's stdout and stderr files for appending, creating the logs dir (0700, so
 * nobody else can list or open the logs) and the files (0600). The launcher passes the fds as
 * the service's fd 1 and 2, then closes its copies.
 *
 * `owner` (the service's uid and gid) owns the two files, so the app can reopen its own output
 * through /proc, as shell scripts do with `echo oops >> /dev/stderr`; the private dir still
 * keeps the path closed. Without it the files are root's and such a reopen fails with EACCES.
 * A reopen with `>` truncates the file, like a shell would truncate any file: lines the pump has
 * not moved yet are lost, and the pump starts the stream over (see the journal's epochs).
 * O_APPEND: every write lands at the end, also from an old process of the service that still
 * holds an earlier fd, so no byte is overwritten before the pump read it. O_NOFOLLOW refuses a
 * symlink in place of a file.
 */
export function openLogSinks(logsDir: string, owner?: { uid: number; gid: number }): { stdout: number; stderr: number } {
  // Only the logs dir itself is 0700; parents (the service's dir) keep the modes their owners chose.
  mkdirSync(dirname(logsDir), { recursive: true });
  try { mkdirSync(logsDir, { mode: 0o700 }); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
  chmodSync(logsDir, 0o700);
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
  const fds: number[] = [];
  try {
    for (const key of ['out', 'err'] as const) {
      const fd = openSync(rawPath(logsDir, key), flags, 0o600);
      fds.push(fd);
      if (owner) fchownSync(fd, owner.uid, owner.gid);
    }
    return { stdout: fds[0]!, stderr: fds[1]! };
  } catch (e) {
    for (const fd of fds) closeSync(fd);
    throw e;
  }
}
