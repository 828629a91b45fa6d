// `niso status` (`ps`): every service's state, health, pid, uptime, restarts and ports. Kept apart from the verbs that
// change services (service.ts), whose start path is most of niso, and with each of its checks asked cheaply before
// the code that would act on it is loaded: `status` with 20 services is meant to cost little more than node's own
// start (issue 17; test/e2e/read-modules.test.ts pins what it loads).
import { journalPresent } from '../../generation/journal.js';
import { interruptedStarts } from '../../service/interrupted.js';
import { listServiceNames, requireDefinition } from '../../service/store.js';
import { needsSupervision, supervisorPid } from '../../service/supervisor-record.js';
import { allStatuses, serviceStatus, STATUS_HEADERS, statusRows } from '../../service/view.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { hostOf } from './host-of.js';

export async function status(ctx: Context, names: string[], opts: { json?: boolean }): Promise<void> {
  const host = hostOf(ctx);
  for (const n of names) requireDefinition(ctx.root, n);
  // What a killed niso command left is set right first (an interrupted switch, then an interrupted start); looking is
  // enough to bring supervision back after the supervisor was killed.
  if (journalPresent(ctx.root)) await (await import('../../generation/switch.js')).recoverIfNeeded(host);
  const cut = interruptedStarts(ctx.root, names.length > 0 ? names : listServiceNames(ctx.root));
  if (cut.length > 0) await (await import('../../service/ops.js')).reconcileInterrupted(host, cut.map((c) => c.name));
  // A supervisor that was killed comes back (services keep running without one; their restarts and logs wait for it).
  // Looking goes on if it cannot be started.
  try {
    if (await supervisorPid(ctx.root) === null && needsSupervision(ctx.root)) await (await import('../../service/supervisor.js')).ensureSupervisor(host, host.entry);
  } catch { /* status shows what is there */ }
  const statuses = names.length > 0 ? names.map((n) => serviceStatus(ctx.root, n)!) : allStatuses(ctx.root);
  if (opts.json) return printJson(ctx, names.length === 1 ? statuses[0] : statuses);
  if (statuses.length === 0) { ctx.stdout.write('no services (start one with `niso activate PACKAGE`)\n'); return; }
  const { printTable } = await import('../table.js');
  printTable(ctx.stdout, STATUS_HEADERS, statusRows(statuses));
  for (const s of statuses) {
    if (s.message && s.state !== 'active') ctx.stdout.write(`${s.name}: ${s.message}${s.nextRestartAt ? ` (next try ${new Date(s.nextRestartAt).toISOString()})` : ''}\n`);
  }
}
