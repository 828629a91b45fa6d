// `niso stats [SERVICE...] [--no-stream]` (like docker stats) and `niso top SERVICE` (like docker top).
import { NisoError } from '../../errors/niso-error.js';
import { cgroupOf, serviceRunning } from '../../service/launch.js';
import { listServiceNames, readDefinition, readPlan, requireDefinition } from '../../service/store.js';
import { unitCgroup } from '../../service/systemd/cgroup.js';
import type { Cgroup } from '../../sandbox/cgroup.js';
import { layout, stateOf } from '../../store/layout.js';

/** The service's cgroup: niso's own, or the one systemd made for its unit. */
function cgroupFor(ctx: Context, name: string): Cgroup {
  return readDefinition(ctx.root, name)?.backend === 'systemd' ? unitCgroup(name) : cgroupOf(ctx.root, name);
}

function runs(ctx: Context, name: string): boolean {
  const cg = cgroupFor(ctx, name);
  return readDefinition(ctx.root, name)?.backend === 'systemd' ? cg.dirs.length > 0 : serviceRunning(ctx.root, name);
}
import { formatStatsTable, formatTopTable, listProcesses, REDRAW, sampleLoop, sampleOnce, statsJson, type StatsTarget } from '../../service/stats/index.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

function targets(ctx: Context, names: string[]): () => StatsTarget[] {
  for (const n of names) requireDefinition(ctx.root, n);
  return () => {
    // Without names: the services that run now (asked again at every redraw, like docker stats).
    const chosen = names.length > 0 ? names : listServiceNames(ctx.root).filter((n) => runs(ctx, n));
    return chosen.map((name) => ({ name, cgroup: cgroupFor(ctx, name), state: stateOf(layout(ctx.root), name) }));
  };
}

export async function stats(ctx: Context, names: string[], opts: { stream?: boolean; json?: boolean }): Promise<void> {
  const t = targets(ctx, names);
  if (opts.stream === false || opts.json || !ctx.stdout.isTTY) {
    const rows = await sampleOnce(t);
    if (opts.json) return printJson(ctx, statsJson(rows));
    if (rows.length === 0) { ctx.stdout.write('no services running\n'); return; }
    ctx.stdout.write(formatStatsTable(rows));
    return;
  }
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await sampleLoop(t, (rows) => { ctx.stdout.write(REDRAW + formatStatsTable(rows)); }, { signal: ac.signal });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

export async function top(ctx: Context, name: string, opts: { json?: boolean }): Promise<void> {
  requireDefinition(ctx.root, name);
  if (!runs(ctx, name)) throw new NisoError('NISO3303', `service "${name}" is not running`, { exitCode: 1, hint: `\`niso status ${name}\` shows its state` });
  const plan = readPlan(ctx.root, name);
  const names = plan ? new Map([[plan.user.uid, plan.user.name]]) : new Map<number, string>();
  const rows = listProcesses(cgroupFor(ctx, name), { userNames: names });
  if (opts.json) return printJson(ctx, rows);
  // The sandbox's own processes have bubblewrap's whole command line: shorten it for people.
  const width = Math.max(60, (ctx.stdout.columns ?? 160) - 60);
  ctx.stdout.write(formatTopTable(rows.map((r) => (r.command.length > width ? { ...r, command: `${r.command.slice(0, width - 1)}…` } : r))));
}
