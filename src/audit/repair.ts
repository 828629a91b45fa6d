// What an append finds when it opens the log, and whether that is recorded as `audit.repair` before its own entry.
// The only honest leftovers of a crash are an unfinished last line and a head one entry behind (the line is flushed
// before the head is written); anything else means the files were changed, and that is kept in the chain for good.
import { GENESIS } from './entry.js';
import type { AuditHead, HeadRead, RepairDetails } from './verify.js';

/** The last whole entry of the log, as far as an append needs it. */
export interface LastEntry { seq: number; hash: string; prev: string }

export interface Opening {
  last: LastEntry | null;
  head: HeadRead;
  /** Bytes after the last line end, cut off before appending. */
  torn: { file: string; bytes: number; sha256: string } | null;
}

export interface Repair { reason: string; details: RepairDetails & { why?: string } }

const ref = (l: LastEntry | null): AuditHead => (l ? { seq: l.seq, hash: l.hash } : { seq: 0, hash: GENESIS });

/** Where the next entry chains on: the last whole entry (the head only says how far niso got). */
export function chainEnd(o: Opening): AuditHead {
  if (o.last) return ref(o.last);
  return o.head.kind === 'ok' ? o.head.head : { seq: 0, hash: GENESIS };
}

export function repairFor(o: Opening): Repair | null {
  const last = ref(o.last);
  let consistent: boolean;
  let why: string | undefined;
  if (o.head.kind === 'invalid') {
    consistent = false;
    why = `audit.head is not what niso writes: ${o.head.why}`;
  } else {
    const head = o.head.kind === 'ok' ? o.head.head : { seq: 0, hash: GENESIS };
    consistent = (head.seq === last.seq && head.hash === last.hash) || (o.last !== null && head.seq === o.last.seq - 1 && head.hash === o.last.prev);
    if (!consistent) {
      why = o.head.kind === 'missing' ? `audit.head is missing, but the log has ${last.seq} entries`
        : head.seq > last.seq ? `the log ends at seq ${last.seq}, but audit.head says it reached seq ${head.seq}`
          : head.seq < last.seq ? `the log goes on to seq ${last.seq}, past seq ${head.seq} that audit.head recorded`
            : `seq ${head.seq} is not the entry audit.head recorded`;
    }
  }
  if (!consistent) {
    return {
      reason: `${why}; the log was changed outside niso`,
      details: { found: 'head-mismatch', why, head: o.head.kind === 'ok' ? o.head.head : null, last, ...(o.torn ? { torn: o.torn } : {}) },
    };
  }
  if (o.torn) return { reason: 'an append was interrupted and left an unfinished line; it was cut off', details: { found: 'torn', torn: o.torn } };
  return null;
}
