// `niso status` (`ps`): every service's state, health, pid, uptime, restarts and ports. Kept apart from the verbs that
// change services (service.ts), whose start path is most of niso, and with each of its checks asked cheaply before
// the code that would act on it is loaded: `status` with 20 services is meant to cost little more than node's own
// start (issue 17; test/e2e/read-modules.test.ts pins what it loads).
import { journalPresent } from '../../generation/journal.js';
import { sameProcess } from '../../host/liveness.js';
import { pendingStart } from '../../service/model/reconcile.js';
import { listServiceNames, readDefinition, readState, requireDefinition } from '../../service/store.js';
import { needsSupervision, supervisorPid } from '../../service/supervisor-record.js';
import { allStatuses, serviceStatus, STATUS_HEADERS, statusRows } from '../../service/view.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { hostOf } from './host-of.js';

export { hostOf };

/**
 * The services whose start request has no outcome and no live requester: a niso command was killed in the middle of
 * a start (service/ops.ts reconcileInterrupted settles them, under their locks; this only finds them).
 */
function interrupted(root: string, names: readonly string[]): string[] {
  return names.filter((name) => {
    let def;
    try { def = readDefinition(root, name); } catch { return false; }
    const pending = def ? pendingStart(def, readState(root, name)) : null;
    return def !== null && pending !== null && !sameProcess(pending.by);
  });
}

export async function status(ctx: Context, names: string[], opts: { json?: boolean }): Promise<void> {
  const host = hostOf(ctx);
  for (const n of names) requireDefinition(ctx.root, n);
  // What a killed niso command left is set right first (an interrupted switch, then an interrupted start); looking is
  // enough to bring supervision back after the supervisor was killed.
  if (journalPresent(ctx.root)) await (await import('../../generation/switch.js')).recoverIfNeeded(host);
  const cut = interrupted(ctx.root, names.length > 0 ? names : listServiceNames(ctx.root));
  if (cut.length > 0) await (await import('../../service/ops.js')).reconcileInterrupted(host, cut);
  // A supervisor that was killed comes back (services keep running without one; their restarts and logs wait for it).
  if (await supervisorPid(ctx.root) === null) {
    await (async () => { if (needsSupervision(ctx.root)) await (await import('../../service/supervisor.js')).ensureSupervisor(host, host.entry); })().catch(() => undefined);
  }
  const statuses = names.length > 0 ? names.map((n) => serviceStatus(ctx.root, n)!) : allStatuses(ctx.root);
  if (opts.json) return printJson(ctx, names.length === 1 ? statuses[0] : statuses);
  if (statuses.length === 0) { ctx.stdout.write('no services (start one with `niso activate PACKAGE`)\n'); return; }
  const { printTable } = await import('../table.js');
  await printTable(ctx.stdout, STATUS_HEADERS, statusRows(statuses));
  for (const s of statuses) {
    if (s.message && s.state !== 'active') ctx.stdout.write(`${s.name}: ${s.message}${s.nextRestartAt ? ` (next try ${new Date(s.nextRestartAt).toISOString()})` : ''}\n`);
  }
}
