// The audit log on disk: var/lib/niso/audit/audit-<first seq>.jsonl files of one JSON line per change, hash-chained,
// and audit.head, the last entry niso finished. One writer at a time (host/lock.ts); a line is appended with O_APPEND
// and flushed (fdatasync) before the head moves (temp file, fsync, rename), so a crash leaves at most an unfinished
// last line and a head one entry behind, which the next append tells apart from a change by hand.
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, chmodSync, writeSync, constants as FS } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { NisoError, isNisoError } from '../../errors/niso-error.js';
import { fsyncPath, writeFileAtomic } from '../../host/fs-atomic.js';
import { withLock } from '../../host/lock.js';
import { layout } from '../../store/layout.js';
import { AUDIT_FORMAT, HASH_RE, entryLine, entryProblem, seal, type AuditEntry, type AuditEvent, type AuditFields } from '../entry.js';
import { redactArgv } from '../redact.js';
import { chainEnd, repairFor, type LastEntry, type Opening } from '../repair.js';
import type { AuditFileText, HeadRead } from '../verify.js';
import { currentActor, machineId } from './actor.js';
import { invocation } from './invocation.js';

/** A file is closed and a new one started once it would grow past this (`[audit] max_file_size`). */
export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;
const FILE_RE = /^audit-(\d{10,})\.jsonl$/;
/** No entry is anywhere near this long; a tail read stops here rather than reading a damaged file whole. */
const MAX_LINE_BYTES = 4 * 1024 * 1024;

export interface AuditPaths { dir: string; lock: string; head: string }

export function auditPaths(root: string): AuditPaths {
  const dir = layout(root).audit;
  return { dir, lock: join(dir, 'audit.lock'), head: join(dir, 'audit.head') };
}

export const fileNameFor = (firstSeq: number) => `audit-${String(firstSeq).padStart(10, '0')}.jsonl`;

/** The log files, oldest first. */
export function logFiles(dir: string): string[] {
  let names: string[];
  try { names = readdirSync(dir); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.filter((n) => FILE_RE.test(n)).sort((a, b) => Number(FILE_RE.exec(a)![1]) - Number(FILE_RE.exec(b)![1]));
}

export function readHead(path: string): HeadRead {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw e;
  }
  let v: unknown;
  try { v = JSON.parse(text); } catch { return { kind: 'invalid', why: 'not JSON' }; }
  const h = v as { seq?: unknown; hash?: unknown } | null;
  if (h === null || typeof h !== 'object' || typeof h.seq !== 'number' || !Number.isSafeInteger(h.seq) || h.seq < 0 || typeof h.hash !== 'string' || !HASH_RE.test(h.hash)) {
    return { kind: 'invalid', why: 'not {"seq": N, "hash": SHA256}' };
  }
  return { kind: 'ok', head: { seq: h.seq, hash: h.hash } };
}

/** Every file's text and the head, for `niso audit` and verify. */
export function readLog(root: string): { files: AuditFileText[]; head: HeadRead } {
  const p = auditPaths(root);
  const files = logFiles(p.dir).map((name) => ({ name, text: readFileSync(join(p.dir, name), 'utf8') }));
  return { files, head: readHead(p.head) };
}

/** The end of a file: its last whole line and the bytes after the last line end. */
function readTail(fd: number, size: number): { lastLine: string | null; cleanEnd: number; torn: Buffer | null } {
  let buf = Buffer.alloc(0);
  let pos = size;
  const want = () => {
    // The last line end, and the one before it (or the file's start): the last whole line lies between.
    const lastNl = buf.lastIndexOf(0x0a);
    if (lastNl < 0) return null;
    // (lastIndexOf takes a negative offset as counted from the end)
    const before = lastNl > 0 ? buf.lastIndexOf(0x0a, lastNl - 1) : -1;
    return before >= 0 || pos === 0 ? { lastNl, before } : null;
  };
  for (;;) {
    const found = want();
    if (found || pos === 0 || buf.length > MAX_LINE_BYTES) {
      if (!found) {
        // No line end at all (or an absurd line): everything there is unfinished.
        const lastNl = buf.lastIndexOf(0x0a);
        if (lastNl < 0 && pos === 0) return { lastLine: null, cleanEnd: 0, torn: buf.length > 0 ? buf : null };
        return { lastLine: null, cleanEnd: pos + lastNl + 1, torn: buf.subarray(lastNl + 1).length > 0 ? buf.subarray(lastNl + 1) : null };
      }
      const { lastNl, before } = found;
      const tail = buf.subarray(lastNl + 1);
      return { lastLine: buf.subarray(before + 1, lastNl).toString('utf8'), cleanEnd: pos + lastNl + 1, torn: tail.length > 0 ? tail : null };
    }
    const n = Math.min(pos, 64 * 1024);
    const chunk = Buffer.alloc(n);
    readSync(fd, chunk, 0, n, pos - n);
    pos -= n;
    buf = Buffer.concat([chunk, buf]);
  }
}

function lastEntryOf(line: string | null): LastEntry | null {
  if (line === null) return null;
  try {
    const v = JSON.parse(line) as AuditEntry;
    if (entryProblem(v) !== null) return null;
    return { seq: v.seq, hash: v.hash, prev: v.prev };
  } catch { return null; }
}

interface OpenLog {
  opening: Opening;
  /** The file to append to and its size; null: none yet. */
  current: { name: string; size: number } | null;
}

/**
 * Under the lock: finds the last whole entry (the last file may be empty: a crash right after starting it), cuts off
 * an unfinished last line (ftruncate to the last line end, flushed), and leaves what to record to the caller.
 */
function openLog(p: AuditPaths): OpenLog {
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  chmodSync(p.dir, 0o700);
  // A head write that was killed leaves its temporary file; nothing else writes the head while we hold the lock.
  for (const n of readdirSync(p.dir)) if (n.startsWith('.audit.head.tmp-')) rmSync(join(p.dir, n), { force: true });
  const files = logFiles(p.dir);
  let torn: Opening['torn'] = null;
  let last: LastEntry | null = null;
  let current: OpenLog['current'] = null;
  for (let i = files.length - 1; i >= 0 && last === null; i--) {
    const name = files[i]!;
    const fd = openSync(join(p.dir, name), FS.O_RDWR | FS.O_NOFOLLOW);
    try {
      const size = fstatSync(fd).size;
      const t = readTail(fd, size);
      if (t.torn && i === files.length - 1) {
        torn = { file: name, bytes: t.torn.length, sha256: createHash('sha256').update(t.torn).digest('hex') };
        ftruncateSync(fd, t.cleanEnd);
        fdatasyncSync(fd);
      }
      if (i === files.length - 1) current = { name, size: t.torn ? t.cleanEnd : size };
      last = lastEntryOf(t.lastLine);
      // A last line that does not read: chain on from the head rather than guess (verify reports the line).
      if (last === null && t.lastLine !== null) break;
    } finally {
      closeSync(fd);
    }
  }
  return { opening: { last, head: readHead(p.head), torn }, current };
}

/** Appends one line: one write(2) with O_APPEND, then fdatasync; a short write is cut back off. */
async function appendLine(p: AuditPaths, name: string, line: string, isNew: boolean): Promise<void> {
  const path = join(p.dir, name);
  const fd = openSync(path, FS.O_WRONLY | FS.O_APPEND | FS.O_CREAT | FS.O_NOFOLLOW, 0o600);
  try {
    const before = fstatSync(fd).size;
    const buf = Buffer.from(line, 'utf8');
    let written = 0;
    try {
      written = writeSync(fd, buf);
      if (written !== buf.length) throw new Error(`wrote ${written} of ${buf.length} bytes`);
      fdatasyncSync(fd);
    } catch (e) {
      try { ftruncateSync(fd, before); } catch { /* the next open cuts it off */ }
      throw e;
    }
  } finally {
    closeSync(fd);
  }
  // A new file is only there after a crash once its directory entry is flushed too.
  if (isNew) await fsyncPath(p.dir);
}

async function writeHead(p: AuditPaths, entry: AuditEntry): Promise<void> {
  await writeFileAtomic(p.head, `${JSON.stringify({ seq: entry.seq, hash: entry.hash })}\n`, 0o600);
}

async function maxFileBytes(root: string): Promise<number> {
  // A broken config.toml must not keep a change that was made from being recorded: the default applies then.
  try {
    const { readAuditMaxFileBytes } = await import('../../store/host-config.js');
    return (await readAuditMaxFileBytes(layout(root).config)) ?? DEFAULT_MAX_FILE_BYTES;
  } catch { return DEFAULT_MAX_FILE_BYTES; }
}

/**
 * Records one event. The entry gets the next seq under the log's lock, the actor and command line of this process
 * (redacted), and chains to the entry before it; an unfinished line or a head that does not match what the log holds
 * is recorded first as `audit.repair`. Returns the entry written.
 */
export async function audit(root: string, event: AuditEvent, fields: AuditFields = {}): Promise<AuditEntry> {
  const p = auditPaths(root);
  const inv = invocation();
  const fixed = { host: machineId(), actor: currentActor(inv.env), cmd: redactArgv(inv.argv) };
  const limit = await maxFileBytes(root);
  return withLock(p.lock, 'the audit log', async () => {
    const { opening, current } = openLog(p);
    let end = chainEnd(opening);
    let file = current;
    const write = async (ev: AuditEvent, f: AuditFields): Promise<AuditEntry> => {
      const entry = seal({ v: AUDIT_FORMAT, seq: end.seq + 1, ts: new Date().toISOString(), ...fixed, event: ev, ...f, prev: end.hash });
      const line = entryLine(entry);
      // A full file is closed (never touched again) and the chain goes on in a new one named after its first seq.
      const rotate = file === null || (file.size > 0 && file.size + Buffer.byteLength(line) > limit);
      if (rotate) file = { name: fileNameFor(entry.seq), size: 0 };
      await appendLine(p, file!.name, line, rotate);
      file!.size += Buffer.byteLength(line);
      await writeHead(p, entry);
      end = { seq: entry.seq, hash: entry.hash };
      return entry;
    };
    const repair = repairFor(opening);
    if (repair) await write('audit.repair', { result: 'ok', reason: repair.reason, details: repair.details as Record<string, unknown> });
    return write(event, fields);
  });
}

const MAX_REASON = 2000;
const reasonOf = (e: unknown) => {
  const m = e instanceof Error ? e.message : String(e);
  return m.length > MAX_REASON ? `${m.slice(0, MAX_REASON)}…` : m;
};

/**
 * Runs a change and records it (fields null: a dry run, not recorded): `result: "ok"` with what `after` adds (null: nothing changed, nothing recorded), or
 * `result: "failed"` with the error's message and code, and the error passed on. A change that was made but could not
 * be recorded fails with NISO6100: an audit log that silently misses changes would be worse than none.
 */
export async function audited<T>(root: string, event: AuditEvent, fields: AuditFields | null, fn: () => Promise<T>, after?: (r: T) => AuditFields | null): Promise<T> {
  // No fields: this call changes nothing (a dry run), so there is nothing to record.
  if (fields === null) return fn();
  let r: T;
  try {
    r = await fn();
  } catch (e) {
    // The change's own error is what the user must see; a log that cannot take the failure does not hide it.
    await audit(root, event, { ...fields, result: 'failed', reason: reasonOf(e), ...(isNisoError(e) ? { code: e.code } : {}) }).catch(() => undefined);
    throw e;
  }
  const extra = after ? after(r) : {};
  if (extra === null) return r;
  try {
    // What the result adds goes beside what was known before (details merged, not replaced).
    const details = fields.details || extra.details ? { details: { ...fields.details, ...extra.details } } : {};
    await audit(root, event, { ...fields, result: 'ok', ...extra, ...details });
  } catch (e) {
    throw new NisoError('NISO6100', `${event}${fields.target ? ` of ${fields.target}` : ''} was done, but the audit log could not record it: ${reasonOf(e)}`, {
      cause: e, path: auditPaths(root).dir, hint: 'the change stands; make the audit log writable again (disk space, permissions of var/lib/niso/audit) and run `niso audit verify`',
    });
  }
  return r;
}
