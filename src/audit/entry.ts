// What one line of the audit log is: the entry's fields, the events niso records, and the chain hash that ties each
// entry to the one before it, so that an edited, removed or moved line shows.
import { createHash } from 'node:crypto';
import { jcs, wellFormed } from './canonical.js';

export const AUDIT_FORMAT = 1;
/** The `prev` of the very first entry. */
export const GENESIS = '0'.repeat(64);
export const HASH_RE = /^[0-9a-f]{64}$/;

/** The events of this version. `switch.*` are the generation engine's (not recorded yet by anything). */
export const AUDIT_EVENTS = [
  'service.activate', 'service.deactivate', 'service.restart', 'service.remove',
  'volume.create', 'volume.rm', 'volume.backup', 'volume.restore', 'volume.prune',
  'volume.snapshot', 'volume.snapshot-restore', 'volume.snapshot-rm',
  'secret.create', 'secret.rm',
  'gc',
  'package.push', 'package.pull', 'trust.add', 'trust.remove', 'verify.skip',
  'switch.begin', 'switch.phase', 'switch.commit', 'switch.rollback', 'switch.aborted', 'switch.noop',
  'stack.up', 'stack.down',
  'audit.repair',
] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

/** How a change ended: done, refused or failed, done in part; a switch's own outcomes. */
export type AuditResult = 'ok' | 'failed' | 'partial' | 'rolled-back' | 'aborted';

/** Who made the change, as the kernel and the login path tell it. */
export interface Actor {
  uid: number;
  /** The uid's name in the passwd database; null if it has none. */
  user: string | null;
  /** SUDO_USER: who ran sudo. Set by sudo; a root shell can set it too, so it is a claim, not a proof. */
  sudo_user: string | null;
  /** SSH_CLIENT ("ADDRESS PORT LOCALPORT") of an ssh login. */
  ssh: string | null;
  /** The kernel's login uid (/proc/self/loginuid): set at login by pam_loginuid, kept through sudo and su. */
  login_uid: number | null;
}

/** A generation as a switch names it. */
export interface GenerationRef { gen: number; sha?: string }

/** What the caller of audit() tells about one change. */
export interface AuditFields {
  /** What was changed: a service, volume or secret name (several: joined by ", "). */
  target?: string;
  result?: AuditResult;
  /** Why it failed or was rolled back, in words. */
  reason?: string;
  /** The NISO code of the failure. */
  code?: string;
  /** A switch's id and its generations. */
  switch?: string;
  from?: GenerationRef;
  to?: GenerationRef;
  details?: Record<string, unknown>;
}

/** An entry before its hash: everything the hash covers. */
export interface AuditBody extends AuditFields {
  v: typeof AUDIT_FORMAT;
  seq: number;
  ts: string;
  /** /etc/machine-id of the host that wrote it. */
  host: string | null;
  actor: Actor;
  /** The command line, redacted (redact.ts). */
  cmd: string[];
  event: AuditEvent;
  prev: string;
}

export interface AuditEntry extends AuditBody {
  hash: string;
}

/** sha256(prev ‖ "\n" ‖ JCS(entry without hash)), hex. */
export function chainHash(body: object & { prev: string }): string {
  return createHash('sha256').update(`${body.prev}\n${jcs(body)}`, 'utf8').digest('hex');
}

/** Strings made acceptable to JCS; undefined fields dropped (JSON has no undefined). */
function clean(value: unknown): unknown {
  if (typeof value === 'string') return wellFormed(value);
  if (Array.isArray(value)) return value.map(clean);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[wellFormed(k)] = clean(v);
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  return value;
}

/** The entry with its hash, ready to be written. */
export function seal(body: AuditBody): AuditEntry {
  const b = clean(body) as AuditBody;
  return { ...b, hash: chainHash(b) };
}

/** The line written for an entry: its canonical form, so that the file holds exactly the bytes that were hashed. */
export function entryLine(entry: AuditEntry): string {
  return `${jcs(entry)}\n`;
}

/** The fields a verifier needs, or what is wrong with them. */
export function entryProblem(value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
  const e = value as Record<string, unknown>;
  if (e.v !== AUDIT_FORMAT) return `"v" is ${JSON.stringify(e.v)}, not ${AUDIT_FORMAT}`;
  if (typeof e.seq !== 'number' || !Number.isSafeInteger(e.seq) || e.seq < 1) return '"seq" is not a whole number from 1';
  if (typeof e.ts !== 'string' || Number.isNaN(Date.parse(e.ts))) return '"ts" is not a time';
  if (typeof e.event !== 'string') return '"event" is missing';
  if (typeof e.prev !== 'string' || !HASH_RE.test(e.prev)) return '"prev" is not a sha256';
  if (typeof e.hash !== 'string' || !HASH_RE.test(e.hash)) return '"hash" is not a sha256';
  if (!Array.isArray(e.cmd) || !e.cmd.every((a) => typeof a === 'string')) return '"cmd" is not a list of strings';
  if (e.actor === null || typeof e.actor !== 'object' || typeof (e.actor as Actor).uid !== 'number') return '"actor" has no uid';
  return null;
}

/** The hash an entry's own fields give (its `hash` field left out). */
export function recomputedHash(entry: AuditEntry): string {
  const { hash: _hash, ...body } = entry;
  return chainHash(body);
}
