// What `niso audit` shows of the entries: which ones (--since, -n) and the table's columns.
import type { Actor, AuditEntry } from './entry.js';

export const AUDIT_HEADERS = ['seq', 'time', 'actor', 'event', 'target', 'result'];

/** root, or "root (sudo ana, ssh 203.0.113.7)": the login behind the uid is what an auditor asks first. */
export function actorText(a: Actor | undefined): string {
  if (!a) return '?';
  const parts: string[] = [];
  if (a.sudo_user) parts.push(`sudo ${a.sudo_user}`);
  if (a.ssh) parts.push(`ssh ${a.ssh.split(' ')[0]}`);
  if (a.login_uid !== null && a.login_uid !== undefined && a.login_uid !== a.uid && !a.sudo_user) parts.push(`login uid ${a.login_uid}`);
  const who = a.user ?? `uid ${a.uid}`;
  return parts.length > 0 ? `${who} (${parts.join(', ')})` : who;
}

/** The time to the second, in UTC as recorded. */
export const timeText = (ts: string) => ts.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

export function auditRows(entries: readonly AuditEntry[]): string[][] {
  return entries.map((e) => [String(e.seq), timeText(e.ts), actorText(e.actor), e.event, e.target ?? '-', e.result ?? '-']);
}

/** Entries at or after `since`, then the last `n` of them. */
export function selectEntries(entries: readonly AuditEntry[], opts: { since?: Date; last?: number }): AuditEntry[] {
  let out = opts.since ? entries.filter((e) => Date.parse(e.ts) >= opts.since!.getTime()) : [...entries];
  if (opts.last !== undefined) out = opts.last === 0 ? [] : out.slice(-opts.last);
  return out;
}
