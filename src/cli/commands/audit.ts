// `niso audit [--since] [-n N]` lists the audit log; `niso audit verify` checks its chain and head, exit 1 with the
// first bad entry's seq when it was changed.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { entryProblem, type AuditEntry } from '../../audit/entry.js';
import { verifyChain } from '../../audit/verify.js';
import { AUDIT_HEADERS, auditRows, selectEntries } from '../../audit/view.js';
import { auditPaths, readLog } from '../../audit/host/log.js';
import { withLock } from '../../host/lock.js';
import { parseTimeArg } from '../../service/logs/time-arg.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

/** The entries of the log in order; lines that are not entries are counted, not shown (verify names them). */
function entries(root: string): { entries: AuditEntry[]; unreadable: number } {
  const out: AuditEntry[] = [];
  let unreadable = 0;
  for (const f of readLog(root).files) {
    const lines = f.text.split('\n');
    // The text after the last line end is an append in progress or one cut short.
    lines.pop();
    for (const l of lines) {
      try {
        const v = JSON.parse(l) as unknown;
        if (entryProblem(v) === null) { out.push(v as AuditEntry); continue; }
      } catch { /* counted below */ }
      unreadable++;
    }
  }
  return { entries: out, unreadable };
}

export async function list(ctx: Context, opts: { json?: boolean; since?: string; tail?: string }): Promise<void> {
  const since = opts.since !== undefined ? parseTimeArg(opts.since, new Date(), '--since') : undefined;
  let last: number | undefined;
  if (opts.tail !== undefined) {
    last = Number(opts.tail);
    if (!/^\d+$/.test(opts.tail) || !Number.isSafeInteger(last)) throw new NisoError('NISO9001', `-n ${opts.tail}: expected a whole number of entries`, { exitCode: 2, hint: 'e.g. niso audit -n 20' });
  }
  const r = entries(ctx.root);
  if (r.unreadable > 0) ctx.stderr.write(`warning: ${r.unreadable} line${r.unreadable > 1 ? 's' : ''} of the audit log ${r.unreadable > 1 ? 'are' : 'is'} not an entry; \`niso audit verify\` says which\n`);
  const shown = selectEntries(r.entries, { since, last });
  if (opts.json) return printJson(ctx, shown);
  if (shown.length === 0) {
    ctx.stdout.write(r.entries.length === 0 ? 'no audit entries yet (changes to services, volumes and secrets are recorded here)\n' : 'no audit entries match\n');
    return;
  }
  const { printTable } = await import('../table.js');
  printTable(ctx.stdout, AUDIT_HEADERS, auditRows(shown));
}

export async function verify(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const p = auditPaths(ctx.root);
  // Under the writers' lock, so that an append in progress is not taken for a cut line; no lock (and no directory
  // made) where there is no log.
  const read = () => readLog(ctx.root);
  const log = existsSync(p.dir) ? await withLock(p.lock, 'the audit log', async () => read()) : read();
  const report = verifyChain(log.files, log.head);
  if (opts.json) {
    printJson(ctx, { dir: p.dir, ...report });
    if (!report.intact) ctx.exitCode = 1;
    return;
  }
  for (const n of report.notes) ctx.stderr.write(`note: ${n}\n`);
  if (report.intact) {
    const files = report.files.length;
    ctx.stdout.write(report.entries === 0 ? 'the audit log is empty\n'
      : `the audit log is intact: ${report.entries} entries (seq 1-${report.last!.seq}) in ${files} file${files === 1 ? '' : 's'}; head: seq ${report.head?.seq ?? report.last!.seq} ${report.head?.hash ?? report.last!.hash}\n`);
    return;
  }
  const first = report.problems[0]!;
  throw new NisoError(first.code, `the audit log is not intact: the first bad entry is seq ${first.seq}${report.problems.length > 1 ? ` (${report.problems.length} problems)` : ''}`, {
    diagnostics: report.problems.map((x) => ({
      code: x.code, message: x.message, file: x.file ? join(p.dir, x.file) : undefined, line: x.line,
      hint: x === first ? `\`niso explain ${x.code}\`; niso never edits a log file and keeps appending after the damage, so keep the files as evidence` : undefined,
    })),
  });
}
