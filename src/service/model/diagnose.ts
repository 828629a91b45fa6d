// What `niso debug` can tell from the facts it gathered: the exits (with what the cgroup counted), the app's output,
// the health probes, the plan and the live limit counters. Pure, so every rule is tested from sample outputs.
import { formatDuration, formatSize } from '../../manifest/units.js';
import type { Plan } from '../../plan/plan.js';
import type { HealthState } from '../health/state.js';
import type { ExitRecord } from './types.js';

/** The live counters of a running service's cgroup (stats/parse.ts LimitEvents), as far as diagnose needs them. */
export interface LiveLimits {
  oomKills: number;
  pidsLimitHits: number;
  pidsLimit: number | null;
  memoryLimitBytes: number | null;
}

export interface DiagnoseFacts {
  plan: Plan | null;
  /** Oldest first. */
  exits: readonly ExitRecord[];
  output: string;
  health: HealthState | null;
  /** null when it does not run (or its cgroup cannot be read). */
  live: LiveLimits | null;
  /** Its /state on the host: the image's use and bound (image null: an unbounded dir). */
  state?: { image: string | null; usedBytes: number | null; limitBytes: number | null } | null;
}

/** An access refusal (EACCES) in the output. */
const DENIED = /EACCES|permission denied|PermissionError|Errno 13\b/i;
/** What says that a refusal was about a socket's address: node, Go, Python, Java, Ruby, nginx and C programs' words. */
const BIND = /\blisten\b|\bbind\b|BindException|syscall: '(listen|bind)'|\bport\b/i;

/** The port of a refused bind, from the lines around it ("0.0.0.0:80", "port: 80", "listen tcp :80"); null if none names it. */
function portIn(text: string): number | null {
  // Python's bind(("0.0.0.0", 80)) too.
  for (const re of [/\bport:?\s+(\d{1,5})\b/i, /\b(?:\d{1,3}\.){3}\d{1,3}:(\d{1,5})\b/, /:::(\d{1,5})\b/, /\]:(\d{1,5})\b/, /\btcp[46]?\s+\S*:(\d{1,5})\b/, /bind\(\(\s*["'][^"']*["'],\s*(\d{1,5})\s*\)/]) {
    const m = re.exec(text);
    if (m) return Number(m[1]);
  }
  return null;
}

/**
 * The access refusals in the output, each as a refused bind (with its port, if a nearby line names it) or a file
 * refusal. A line alone may not tell: node's error object, Python's traceback and Java's stack spread it over lines.
 */
export function accessRefusals(output: string): { binds: (number | null)[]; files: number } {
  const lines = output.split('\n');
  const binds: (number | null)[] = [];
  let files = 0;
  lines.forEach((line, i) => {
    if (!DENIED.test(line)) return;
    const around = lines.slice(Math.max(0, i - 6), i + 7).join('\n');
    if (BIND.test(around)) binds.push(portIn(line) ?? portIn(around));
    else files += 1;
  });
  return { binds, files };
}

/** Suggestions from what niso can tell, most specific first. */
export function diagnose(f: DiagnoseFacts): string[] {
  const { plan, exits, output, health, live, state } = f;
  const tips: string[] = [];
  const last = exits[exits.length - 1];
  const has = (re: RegExp) => re.test(output);
  if (has(/ENOSPC|No space left on device/i)) {
    const full = state?.image && state.limitBytes !== null
      ? `/state is full or nearly (${state.usedBytes === null ? 'not mounted now' : `${formatSize(state.usedBytes)} used`} of its ${formatSize(state.limitBytes)} bound)`
      : 'a file system the app writes to is full';
    tips.push(`${full}: raise [resources] state_size (or --state-size) and start it again, which grows the image, or delete data from /state`);
  }
  const memory = plan?.limits.memoryBytes ?? live?.memoryLimitBytes ?? null;
  const atMemory = memory !== null ? ` (${formatSize(memory)})` : '';
  if (last?.oom) tips.push(`it ran out of memory: the kernel's OOM killer ended it at its memory limit${atMemory}; raise [resources] memory (or --memory), or find what grows`);
  else if (live && live.oomKills > 0) tips.push(`the kernel's OOM killer ended ${live.oomKills} of its processes at its memory limit${atMemory}; the rest runs on: raise [resources] memory (or --memory), or find what grows`);
  const forks = Math.max(live?.pidsLimitHits ?? 0, last?.pidsLimitHits ?? 0);
  if (forks > 0) {
    const pids = live?.pidsLimit ?? plan?.limits.pids ?? null;
    tips.push(`it reached its limit of ${pids ?? 'its'} processes and threads: the kernel refused ${forks} fork${forks === 1 ? '' : 's'} or new thread${forks === 1 ? '' : 's'} (EAGAIN), as with a fork bomb or more workers than the limit; raise [resources] pids (or --pids), or find what forks`);
  }
  const refused = accessRefusals(output);
  if (has(/EROFS|read-only file system/i)) tips.push('the app writes outside its writable places: only /state (also $NISO_STATE_DIR, $HOME) and /tmp are writable; everything else is read-only');
  if (refused.binds.length > 0) {
    const port = refused.binds.find((p) => p !== null) ?? null;
    if (port === null || port < 1024) {
      tips.push(`${port === null ? 'binding a port below 1024' : `binding port ${port}`} was refused: ports below 1024 need the capability CAP_NET_BIND_SERVICE, which the sandbox does not grant; listen on a port of 1024 or above and map it, e.g. \`-p ${port ?? 80}:8080\` (or ports = ["${port ?? 80}:8080"] in [network])`);
    } else {
      tips.push(`binding port ${port} was refused (EACCES): something on the host (a firewall or a security module) refuses it, not the port number`);
    }
  }
  if (refused.files > 0) tips.push('a file was not accessible to the service\'s own uid: files the app needs must be in the package (readable) or in /state');
  if (has(/EADDRINUSE|address already in use/i)) tips.push('the app\'s port is taken inside its sandbox: another process of the app listens on it already');
  if (has(/Cannot find module|ModuleNotFoundError|No module named/)) tips.push('a dependency is missing from the package: include it in [copy] (node_modules/**, vendor/**) and pack again');
  if (has(/ENOTFOUND|EAI_AGAIN|getaddrinfo|Temporary failure in name resolution/) && plan?.network.mode === 'private' && plan.network.egress === false) tips.push('the app looks up names outside, but egress = false cuts it off from the outside world');
  if (has(/ENOTFOUND|EAI_AGAIN|getaddrinfo/) && plan?.network.mode === 'none') tips.push('the app has no network (mode "none", or the strict preset): use network mode "private" to reach others');
  if (has(/Operation not permitted|EPERM/)) tips.push('a system call may have been refused by the syscall filter: allow it with [isolation] syscalls = ["name"] if the app really needs it');
  if (last && last.exitCode === 127) tips.push('the command was not found inside the sandbox: check [binary] entrypoint');
  // The probe that matters: the last failed one if the last run was stopped for being unhealthy.
  // (Probes of the next run, while it was still starting, do not count.)
  const failed = health?.log.filter((p) => !p.ok && (!last || Date.parse(p.at) <= Date.parse(last.at))) ?? [];
  const probe = last?.reason === 'unhealthy' && failed.length > 0 ? failed[failed.length - 1] : health?.log[health.log.length - 1];
  if (probe && !probe.ok && /connection refused/.test(probe.output)) tips.push('the health check finds nothing listening: check that the app listens on the address and port the [healthcheck] probes (inside its own network, 127.0.0.1 is the app\'s loopback)');
  if (probe && !probe.ok && /no answer within|no HTTP response/.test(probe.output)) tips.push('the app accepts the health check but answers too slowly: raise [healthcheck] timeout or make the check cheaper');
  if (probe && !probe.ok && /^HTTP [45]\d\d/.test(probe.output)) tips.push('the health endpoint answers with an error status: see the app\'s logs for why');
  return tips;
}

/** One exit as `niso debug` lists it. */
export function exitLine(e: ExitRecord): string {
  const how = e.reason === 'start-failed' ? 'did not start' : e.reason === 'stopped' ? 'stopped by niso' : e.reason === 'unhealthy' ? 'stopped: unhealthy' : e.reason === 'vanished' ? 'vanished' : 'ended';
  const code = e.oom ? ': out of memory (the kernel\'s OOM killer, at its memory limit)' : e.exitCode === null ? '' : e.signal ? ` by ${e.signal} (${e.exitCode})` : ` with code ${e.exitCode}`;
  const forks = e.pidsLimitHits ? `; ${e.pidsLimitHits} fork${e.pidsLimitHits === 1 ? '' : 's'} refused at its pids limit` : '';
  return `${e.at}  ${how}${code} after ${formatDuration(Math.round(e.uptimeMs))}${forks}${e.message ? ` — ${e.message}` : ''}`;
}
