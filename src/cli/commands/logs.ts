// `niso logs SERVICE... [-f] [--since] [--until] [-n N] [--timestamps]`, like `docker logs`, for
// several services at once (prefixed) and also while no supervisor runs.
import { NisoError } from '../../errors/niso-error.js';
import { formatLogRecord, logPrefixes, parseTimeArg, readLogs } from '../../service/logs/index.js';
import { listServiceNames, requireDefinition, servicePaths } from '../../service/store.js';
import type { Context } from '../context.js';

export interface LogsOptions { follow?: boolean; since?: string; until?: string; tail?: string; timestamps?: boolean; json?: boolean }

/** `labels`: the names to prefix lines with instead of the services' (`niso stack logs`: the stack's service names, always prefixed). */
export async function run(ctx: Context, names: string[], opts: LogsOptions, labels?: ReadonlyMap<string, string>): Promise<void> {
  const services = names.length > 0 ? names : listServiceNames(ctx.root);
  if (services.length === 0) throw new NisoError('NISO3301', 'no services here', { exitCode: 1, hint: 'start one with `niso activate PACKAGE`' });
  const onSystemd = services.filter((n) => requireDefinition(ctx.root, n).backend === 'systemd');
  const now = new Date();
  const since = opts.since !== undefined ? parseTimeArg(opts.since, now, '--since') : undefined;
  const until = opts.until !== undefined ? parseTimeArg(opts.until, now, '--until') : undefined;
  let tail: number | undefined;
  if (opts.tail !== undefined && opts.tail !== 'all') {
    tail = Number(opts.tail);
    if (!Number.isInteger(tail) || tail < 0) throw new NisoError('NISO9001', `--tail ${opts.tail}: expected a whole number or "all"`, { exitCode: 2 });
  }
  if (opts.follow) {
    // Following needs the supervisor, which moves the output into the logs as it comes.
    const { ensureSupervisor } = await import('../../service/supervisor.js');
    const { hostOf } = await import('./host-of.js');
    const host = hostOf(ctx);
    await ensureSupervisor(host, host.entry).catch(() => undefined);
  }
  const prefixes = labels ? stackPrefixes(services, labels, ctx.stdout.isTTY === true) : logPrefixes(services);
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const sources = services.filter((s) => !onSystemd.includes(s)).map((s) => ({ service: s, logsDir: servicePaths(ctx.root, s).logs }));
    const logOpts = { tail, since, until, follow: opts.follow === true, signal: ac.signal };
    // systemd services' output is in journald (service/systemd/logs.ts).
    const records = onSystemd.length > 0 ? (await import('../../service/systemd/logs.js')).readServiceLogs(sources, onSystemd, logOpts) : readLogs(sources, logOpts);
    for await (const rec of records) {
      if (opts.json) ctx.stdout.write(JSON.stringify({ service: rec.service, time: rec.time.toISOString(), stream: rec.stream, text: rec.text, approximate: rec.approximate, partial: rec.partial }) + '\n');
      else ctx.stdout.write(formatLogRecord(rec, { prefix: prefixes.get(rec.service) ?? null, timestamps: opts.timestamps === true }) + '\n');
    }
  } catch (e) {
    if (!ac.signal.aborted) throw e;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Compose's colours for its prefixes, in turn: cyan, yellow, green, magenta, blue, then their bright forms. */
const COLOURS = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

/** `service | ` for every line, as `docker compose logs` prints it (coloured on a terminal), padded to the longest. */
function stackPrefixes(services: readonly string[], labels: ReadonlyMap<string, string>, tty: boolean): Map<string, string> {
  const width = Math.max(0, ...services.map((s) => (labels.get(s) ?? s).length));
  return new Map(services.map((s, i) => {
    const text = `${(labels.get(s) ?? s).padEnd(width)} | `;
    return [s, tty ? `\u001b[${COLOURS[i % COLOURS.length]}m${text}\u001b[0m` : text];
  }));
}
