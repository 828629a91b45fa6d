// `niso audit verify`, the pure part: walks the chain through every file and names the first entry that is not what
// was written (edited, deleted, moved, repeated), then checks the end against audit.head (cut off, head changed).
import { GENESIS, entryProblem, recomputedHash, type AuditEntry } from './entry.js';

/** One log file's name and its whole text. */
export interface AuditFileText { name: string; text: string }

/** What audit.head says: the last entry niso finished writing. */
export interface AuditHead { seq: number; hash: string }

/** audit.head as read: absent, unreadable (what is wrong), or its value. */
export type HeadRead = { kind: 'missing' } | { kind: 'invalid'; why: string } | { kind: 'ok'; head: AuditHead };

export type ProblemKind = 'edited' | 'deleted' | 'reordered' | 'duplicated' | 'truncated' | 'head-mismatch' | 'head-missing';

export const PROBLEM_CODES: Record<ProblemKind, string> = {
  edited: 'NISO6101', deleted: 'NISO6102', reordered: 'NISO6103', duplicated: 'NISO6103',
  truncated: 'NISO6104', 'head-mismatch': 'NISO6105', 'head-missing': 'NISO6105',
};

export interface Problem {
  /** The first seq this problem concerns. */
  seq: number;
  kind: ProblemKind;
  code: string;
  message: string;
  file?: string;
  line?: number;
}

export interface VerifyReport {
  intact: boolean;
  entries: number;
  files: { name: string; entries: number }[];
  head: AuditHead | null;
  last: AuditHead | null;
  /** Sorted by seq: the first is the first bad entry. */
  problems: Problem[];
  /** What is not wrong but worth knowing (an interrupted append, a repair). */
  notes: string[];
}

interface Line { file: string; line: number; text: string }
interface Parsed extends Line { entry: AuditEntry }

/** What audit.repair records when the log it opened ended before its head (see host/log.ts). */
export interface RepairDetails { found?: string; why?: string; head?: AuditHead | null; last?: AuditHead | null; torn?: { file: string; bytes: number; sha256: string } }

const short = (hash: string) => hash.slice(0, 12);

/** Splits the files into lines; an unterminated last line of the last file is returned apart (an interrupted append). */
function splitLines(files: readonly AuditFileText[]): { lines: Line[]; torn: { file: string; line: number; bytes: number } | null; cut: Line[] } {
  const lines: Line[] = [];
  const cut: Line[] = [];
  let torn: { file: string; line: number; bytes: number } | null = null;
  for (let fi = 0; fi < files.length; fi++) {
    const f = files[fi]!;
    if (f.text === '') continue;
    const parts = f.text.split('\n');
    const tail = parts.pop()!;
    parts.forEach((text, i) => lines.push({ file: f.name, line: i + 1, text }));
    if (tail === '') continue;
    if (fi === files.length - 1) torn = { file: f.name, line: parts.length + 1, bytes: Buffer.byteLength(tail) };
    else cut.push({ file: f.name, line: parts.length + 1, text: tail });
  }
  return { lines, torn, cut };
}

function parse(l: Line): { ok: true; entry: AuditEntry } | { ok: false; why: string } {
  if (l.text.trim() === '') return { ok: false, why: 'the line is empty' };
  let value: unknown;
  try { value = JSON.parse(l.text); } catch { return { ok: false, why: 'the line is not JSON' }; }
  const why = entryProblem(value);
  return why ? { ok: false, why } : { ok: true, entry: value as AuditEntry };
}

export function verifyChain(files: readonly AuditFileText[], headRead: HeadRead): VerifyReport {
  const problems: Problem[] = [];
  const notes: string[] = [];
  const add = (p: Omit<Problem, 'code'>) => problems.push({ ...p, code: PROBLEM_CODES[p.kind] });
  const { lines, torn, cut } = splitLines(files);
  const parsed = lines.map((l) => ({ l, r: parse(l) }));
  const allSeqs = new Set(parsed.flatMap((p) => (p.r.ok ? [p.r.entry.seq] : [])));
  const counts = new Map<string, number>();
  for (const p of parsed) if (p.r.ok) counts.set(p.l.file, (counts.get(p.l.file) ?? 0) + 1);

  let expected = 1;
  let prev = GENESIS;
  /** After a line that could not be read, the next entry's link cannot be checked. */
  let unlinked = false;
  /** Seqs found missing at their place but present elsewhere: their own line is not reported again. */
  const movedAway = new Set<number>();
  const seen = new Set<number>();
  const bySeq = new Map<number, Parsed>();

  for (const { l, r } of parsed) {
    const at = { file: l.file, line: l.line };
    if (!r.ok) {
      add({ seq: expected, kind: 'edited', message: `line ${l.line} of ${l.file}, where seq ${expected} belongs, is not an audit entry: ${r.why}`, ...at });
      expected++;
      unlinked = true;
      continue;
    }
    const e = r.entry;
    if (recomputedHash(e) !== e.hash) {
      // Its content changed after it was written; the hash it carries is still what the next entry chains to.
      const seq = e.seq === expected ? e.seq : expected;
      add({ seq, kind: 'edited', message: `seq ${seq} was changed after it was written: its fields no longer hash to ${short(e.hash)}…`, ...at });
      prev = e.hash;
      expected++;
      unlinked = false;
      bySeq.set(seq, { ...l, entry: e });
      seen.add(seq);
      continue;
    }
    if (e.seq < expected || seen.has(e.seq)) {
      if (movedAway.has(e.seq) && !seen.has(e.seq)) {
        // The other half of a move already reported where this entry was missing.
        seen.add(e.seq);
        bySeq.set(e.seq, { ...l, entry: e });
        continue;
      }
      add({ seq: e.seq, kind: 'duplicated', message: `seq ${e.seq} appears again at line ${l.line} of ${l.file}, after seq ${expected - 1}`, ...at });
      continue;
    }
    if (e.seq > expected) {
      const missing = Array.from({ length: e.seq - expected }, (_, i) => expected + i);
      const moved = missing.filter((s) => allSeqs.has(s));
      const range = (xs: number[]) => (xs.length === 1 ? `seq ${xs[0]}` : `seq ${xs[0]}-${xs[xs.length - 1]}`);
      if (moved.length > 0) {
        for (const s of moved) movedAway.add(s);
        add({ seq: expected, kind: 'reordered', message: `seq ${expected} is out of order: line ${l.line} of ${l.file}, where seq ${expected} belongs, holds seq ${e.seq}`, ...at });
      } else {
        add({ seq: expected, kind: 'deleted', message: `${range(missing)} ${missing.length === 1 ? 'is' : 'are'} missing: line ${l.line} of ${l.file} holds seq ${e.seq} right after seq ${expected - 1}`, ...at });
      }
    } else if (e.prev !== prev && !unlinked) {
      // In place, and its own hash holds: the entry before it is not the one it was chained to.
      const before = expected - 1;
      if (before >= 1) add({ seq: before, kind: 'edited', message: `seq ${before} was rewritten: seq ${e.seq} chains to ${short(e.prev)}…, but seq ${before} now hashes to ${short(prev)}…`, ...(bySeq.get(before) ? { file: bySeq.get(before)!.file, line: bySeq.get(before)!.line } : at) });
      else add({ seq: e.seq, kind: 'deleted', message: `seq 1 does not start the chain (its prev is ${short(e.prev)}…, not zeros): what came before it is gone`, ...at });
    }
    prev = e.hash;
    expected = e.seq + 1;
    unlinked = false;
    seen.add(e.seq);
    bySeq.set(e.seq, { ...l, entry: e });
  }

  for (const c of cut) add({ seq: expected, kind: 'edited', message: `${c.file} ends inside a line (line ${c.line}): a file before the last one was cut`, file: c.file, line: c.line });

  // Repairs niso recorded: a cut tail is a note; an end before the head is evidence that stays.
  for (const { entry: e, file, line } of bySeq.values()) {
    if (e.event !== 'audit.repair') continue;
    const d = (e.details ?? {}) as RepairDetails;
    if (d.found === 'head-mismatch') {
      // Recorded by the append that found it; the chain then went on from what was left, so this is the only trace.
      const cut = d.head && d.last && d.head.seq > d.last.seq;
      const seq = cut ? d.last!.seq + 1 : e.seq;
      add({ seq, kind: cut ? 'truncated' : 'head-mismatch', message: `seq ${e.seq} (audit.repair) records that the log was changed outside niso: ${d.why ?? `the log ended at seq ${d.last?.seq ?? 0}, audit.head said seq ${d.head?.seq ?? '?'}`}`, file, line });
    } else if (d.torn) {
      notes.push(`seq ${e.seq} (audit.repair): an interrupted append left ${d.torn.bytes} bytes without a line end in ${d.torn.file}; they were cut off`);
    }
  }

  const maxEntry = [...bySeq.values()].reduce<Parsed | null>((m, p) => (m === null || p.entry.seq > m.entry.seq ? p : m), null);
  const lastRef = maxEntry ? { seq: maxEntry.entry.seq, hash: maxEntry.entry.hash } : null;
  const lastSeq = lastRef?.seq ?? 0;
  let head: AuditHead | null = null;
  if (headRead.kind === 'invalid') {
    add({ seq: lastSeq, kind: 'head-mismatch', message: `audit.head is not what niso writes: ${headRead.why}`, file: 'audit.head' });
  } else if (headRead.kind === 'missing') {
    // The first append writes its line before the head: a crash in between leaves one entry and no head.
    if (lastSeq > 1) add({ seq: lastSeq, kind: 'head-missing', message: `audit.head is missing, but the log has ${lastSeq} entries`, file: 'audit.head' });
    else if (lastSeq === 1) notes.push('audit.head is missing: the first append was interrupted before it wrote the head');
  } else {
    head = headRead.head;
    if (head.seq > lastSeq) {
      add({ seq: lastSeq + 1, kind: 'truncated', message: `audit.head says the log reaches seq ${head.seq}, but it ends at seq ${lastSeq}: ${head.seq - lastSeq === 1 ? `seq ${head.seq} is` : `seq ${lastSeq + 1}-${head.seq} are`} gone`, file: 'audit.head' });
    } else {
      const at = bySeq.get(head.seq);
      if (head.seq > 0 && at && at.entry.hash !== head.hash) {
        add({ seq: head.seq, kind: 'head-mismatch', message: `seq ${head.seq} hashes to ${short(at.entry.hash)}…, but audit.head recorded ${short(head.hash)}… for it: it was rewritten`, file: at.file, line: at.line });
      }
      // One entry past the head is an append whose head write was cut short; more cannot come from niso.
      if (lastSeq - head.seq === 1) notes.push(`seq ${lastSeq} was written after the last head update (an interrupted append); the next append updates the head`);
      else if (lastSeq - head.seq > 1) {
        add({ seq: head.seq + 1, kind: 'head-mismatch', message: `seq ${head.seq + 1}-${lastSeq} stand after the last entry audit.head recorded (seq ${head.seq}): niso moves the head with every append, so they were added by hand`, ...(bySeq.get(head.seq + 1) ? { file: bySeq.get(head.seq + 1)!.file, line: bySeq.get(head.seq + 1)!.line } : {}) });
      }
    }
  }
  // What is left of an entry the head covers is reported as truncated above; otherwise it is an append cut short.
  if (torn && !(head && head.seq > lastSeq)) {
    notes.push(`line ${torn.line} of ${torn.file} is an unfinished append (${torn.bytes} bytes without a line end); the next append cuts it off and records audit.repair`);
  }

  problems.sort((a, b) => a.seq - b.seq);
  return {
    intact: problems.length === 0,
    entries: parsed.filter((p) => p.r.ok).length,
    files: files.map((f) => ({ name: f.name, entries: counts.get(f.name) ?? 0 })),
    head, last: lastRef, problems, notes,
  };
}
