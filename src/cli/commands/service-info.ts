// `niso inspect SERVICE` (the plan and the live state) and `niso debug SERVICE` (why is it failing).
import { lastOutput } from '../../service/launch.js';
import { stateUsage } from '../../service/state-dir.js';
import { readHealth } from '../../service/health/file.js';
import { readDefinition, readPlan, readState, requireDefinition } from '../../service/store.js';
import { serviceStatus, type ServiceStatus } from '../../service/view.js';
import { formatSize, formatDuration } from '../../manifest/units.js';
import type { Plan } from '../../plan/plan.js';
import { overrideSource } from '../../plan/weakenings.js';
import type { ExitRecord } from '../../service/model/types.js';
import type { HealthState } from '../../service/health/state.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { printable } from '../../errors/render.js';

export function isService(ctx: Context, ref: string): boolean {
  try { return readDefinition(ctx.root, ref) !== null; } catch { return true; }
}

/** /state on the host, for inspect and debug: its dir, and its image's use and bound when it has one. */
interface StateView { dir: string; image: string | null; mounted: boolean; usedBytes: number | null; sizeBytes: number | null; limitBytes: number | null }

function stateView(root: string, name: string): StateView {
  const s = stateUsage(root, name);
  if (s.usage === null) return { dir: s.dir, image: null, mounted: false, usedBytes: null, sizeBytes: null, limitBytes: null };
  return { dir: s.dir, image: s.image, ...s.usage };
}

function describeState(v: StateView): string {
  if (v.image === null) return `${v.dir}, unbounded`;
  const use = v.mounted && v.usedBytes !== null ? `${formatSize(v.usedBytes)} used of ${formatSize(v.limitBytes!)}` : `bound ${formatSize(v.limitBytes!)}, not mounted now`;
  return `${v.dir}, ${use} (ext4 image ${v.image})`;
}

export async function inspectService(ctx: Context, name: string, opts: { json?: boolean }): Promise<void> {
  const definition = requireDefinition(ctx.root, name);
  const status = serviceStatus(ctx.root, name)!;
  const plan = readPlan(ctx.root, name);
  const state = readState(ctx.root, name);
  const health = readHealth(ctx.root, name);
  const stateDir = stateView(ctx.root, name);
  if (opts.json) return printJson(ctx, { status, definition, state, health, plan, stateDir });
  // The command, the probe and the mounts come from the package: escape what a terminal would obey.
  const w = (k: string, v: string) => ctx.stdout.write(`${(k + ':').padEnd(14)}${printable(v)}\n`);
  w('service', name);
  w('package', `${definition.package.name} ${definition.package.version} (${definition.package.digest})`);
  w('state', `${status.state}${status.health ? `, ${status.health}` : ''}${status.message ? ` — ${status.message}` : ''}`);
  w('backend', status.backend);
  if (status.pid !== null) w('pid', String(status.pid));
  w('restarts', String(status.restarts));
  for (const a of status.addresses) w('address', a);
  for (const p of status.ports) w('port', p);
  w('/state', describeState(stateDir));
  if (plan) describePlan(plan, w);
}

function describePlan(plan: Plan, w: (k: string, v: string) => void): void {
  w('preset', plan.preset + plan.overrides.map((o) => `; ${o.property} ${JSON.stringify(o.value)} (${overrideSource(o)})`).join(''));
  w('user', `${plan.user.name} (uid ${plan.user.uid})`);
  w('command', plan.command.argv.join(' '));
  w('network', `${plan.network.mode}${plan.network.mode === 'private' ? `, networks ${(plan.network.networks ?? ['default']).join(', ')}, egress ${plan.network.egress === false ? 'off' : 'on'}` : ''}`);
  const writable = plan.mounts.filter((m) => (m.type === 'bind' && !m.readOnly) || m.type === 'tmpfs').map((m) => m.type === 'tmpfs' ? `${m.target} (tmpfs ${formatSize(m.sizeBytes)})` : `${m.target} (${m.type === 'bind' ? m.source : ''})`);
  w('writable', writable.join(', ') || 'nothing');
  const l = plan.limits;
  w('limits', [l.memoryBytes !== null ? `memory ${formatSize(l.memoryBytes)}` : 'memory unlimited', l.cpus !== null ? `${l.cpus} cpus` : 'cpus unlimited', l.pids !== null ? `${l.pids} pids` : 'pids unlimited', l.nofile !== null ? `${l.nofile} open files` : null, typeof l.stateBytes === 'number' ? `/state ${formatSize(l.stateBytes)}` : '/state unbounded'].filter(Boolean).join(', '));
  w('privileges', `${plan.capabilities.length ? plan.capabilities.join(', ') : 'no capabilities'}, ${plan.noNewPrivileges ? 'no new privileges' : 'new privileges allowed'}, ${plan.seccomp ? `syscall filter${plan.seccomp.allow.length ? ` (+${plan.seccomp.allow.join(', ')})` : ''}` : 'no syscall filter'}`);
  w('restart', `${plan.restart.policy}${plan.restart.maxRetries !== null ? `:${plan.restart.maxRetries}` : ''}, delay ${formatDuration(plan.restart.delayMs)} up to ${formatDuration(plan.restart.maxDelayMs)}`);
  if (plan.health) w('health check', `${plan.health.probe.kind === 'http' ? plan.health.probe.url : plan.health.probe.kind === 'tcp' ? `tcp ${plan.health.probe.host}:${plan.health.probe.port}` : plan.health.probe.argv.join(' ')} every ${formatDuration(plan.health.intervalMs)}, ${plan.health.retries} retries, then ${plan.health.onUnhealthy}`);
}

/** Suggestions from what niso can tell: the exit, the output, the health probes, the plan and its /state. */
export function diagnose(plan: Plan | null, exits: ExitRecord[], output: string, health: HealthState | null, state: StateView | null = null): string[] {
  const tips: string[] = [];
  const last = exits[exits.length - 1];
  const has = (re: RegExp) => re.test(output);
  if (has(/ENOSPC|No space left on device/i)) {
    const full = state?.image && state.limitBytes !== null
      ? `/state is full or nearly (${state.usedBytes === null ? 'not mounted now' : `${formatSize(state.usedBytes)} used`} of its ${formatSize(state.limitBytes)} bound)`
      : 'a file system the app writes to is full';
    tips.push(`${full}: raise [resources] state_size (or --state-size) and start it again, which grows the image, or delete data from /state`);
  }
  if (has(/EROFS|read-only file system/i)) tips.push('the app writes outside its writable places: only /state (also $NISO_STATE_DIR, $HOME) and /tmp are writable; everything else is read-only');
  if (has(/EACCES|permission denied/i) && !has(/listen EACCES/)) tips.push('a file was not accessible to the service\'s own uid: files the app needs must be in the package (readable) or in /state');
  if (has(/listen EACCES.*:(\d{1,3})\b/) || has(/bind.*permission denied/i)) tips.push('ports below 1024 need a capability the sandbox does not grant: listen on a high port and map it, e.g. ports = ["80:8080"]');
  if (has(/EADDRINUSE|address already in use/i)) tips.push('the app\'s port is taken inside its sandbox: another process of the app listens on it already');
  if (has(/Cannot find module|ModuleNotFoundError|No module named/)) tips.push('a dependency is missing from the package: include it in [copy] (node_modules/**, vendor/**) and pack again');
  if (has(/ENOTFOUND|EAI_AGAIN|getaddrinfo|Temporary failure in name resolution/) && plan?.network.mode === 'private' && plan.network.egress === false) tips.push('the app looks up names outside, but egress = false cuts it off from the outside world');
  if (has(/ENOTFOUND|EAI_AGAIN|getaddrinfo/) && plan?.network.mode === 'none') tips.push('the app has no network (mode "none", or the strict preset): use network mode "private" to reach others');
  if (has(/Operation not permitted|EPERM/)) tips.push('a system call may have been refused by the syscall filter: allow it with [isolation] syscalls = ["name"] if the app really needs it');
  if (last && last.exitCode === 137 && plan?.limits.memoryBytes) tips.push(`it was killed (SIGKILL): if it ran out of memory, raise [resources] memory (now ${formatSize(plan.limits.memoryBytes)})`);
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

function exitLine(e: ExitRecord): string {
  const how = e.reason === 'start-failed' ? 'did not start' : e.reason === 'stopped' ? 'stopped by niso' : e.reason === 'unhealthy' ? 'stopped: unhealthy' : e.reason === 'vanished' ? 'vanished' : 'ended';
  const code = e.exitCode === null ? '' : e.signal ? ` by ${e.signal} (${e.exitCode})` : ` with code ${e.exitCode}`;
  return `${e.at}  ${how}${code} after ${formatDuration(Math.round(e.uptimeMs))}${e.message ? ` — ${e.message}` : ''}`;
}

export async function debug(ctx: Context, name: string, opts: { json?: boolean; lines?: string }): Promise<void> {
  const def = requireDefinition(ctx.root, name);
  const status = serviceStatus(ctx.root, name) as ServiceStatus;
  const plan = readPlan(ctx.root, name);
  const state = readState(ctx.root, name);
  const health = readHealth(ctx.root, name);
  const n = Number(opts.lines ?? 20);
  const lines = Number.isFinite(n) && n > 0 ? n : 20;
  // On systemd: the app's output is in journald, and systemd has its own account of the unit.
  const sd = def.backend === 'systemd' ? await import('../../service/systemd/debug.js') : null;
  const systemd = sd ? await sd.systemdDebug(name) : null;
  const output = sd ? await sd.journalTail(name, lines) : await lastOutput(ctx.root, name, lines);
  // systemd restarts the app itself: its exits are in the journal, beside the ones niso recorded (stops, failed starts).
  const exits = sd ? sd.mergeExits(state.exits, (await import('../../service/systemd/status.js')).journalExits(name, 10)) : state.exits;
  const stateDir = stateView(ctx.root, name);
  const suggestions = diagnose(plan, exits, output, health, stateDir);
  if (systemd?.execStatus) suggestions.unshift(`systemd could not start it (status ${systemd.execStatus.status}/${systemd.execStatus.name}): ${systemd.execStatus.meaning}`);
  if (opts.json) return printJson(ctx, { status, exits, health, output: output.split('\n'), suggestions, plan, stateDir, ...(systemd ? { systemd } : {}) });
  const out = ctx.stdout;
  out.write(`${name}: ${status.state}${status.health ? ` (${status.health})` : ''}${status.message ? ` — ${status.message}` : ''}\n`);
  if (status.nextRestartAt) out.write(`next restart: ${status.nextRestartAt}\n`);
  out.write(`\nlast exits (newest last):\n`);
  out.write(exits.length === 0 ? '  none\n' : exits.map((e) => `  ${exitLine(e)}\n`).join(''));
  if (plan?.health) {
    out.write(`\nhealth checks (newest last):\n`);
    out.write(!health || health.log.length === 0 ? '  none yet\n' : health.log.map((p) => `  ${p.at}  ${p.ok ? 'ok  ' : 'FAIL'}  ${p.output} (${p.durationMs} ms)\n`).join(''));
  }
  out.write(`\nlast output:\n${output ? output.split('\n').map((l) => `  ${l}`).join('\n') + '\n' : '  none\n'}`);
  out.write(`\n/state: ${describeState(stateDir)}\n`);
  if (plan) {
    out.write('\nwhat the sandbox allows:\n');
    describePlan(plan, (k, v) => out.write(`  ${(k + ':').padEnd(14)}${v}\n`));
  }
  if (systemd) {
    out.write(`\nsystemd (systemctl status ${systemd.unit}):\n${systemd.status.split('\n').map((l) => `  ${l}`).join('\n')}\n`);
    if (systemd.security) {
      const top = systemd.security.findings.slice(0, 8);
      out.write(`\nsystemd-analyze security: ${systemd.security.exposure} ${systemd.security.rating} (0 is the safest, 10 the least safe)${top.length ? '; what adds to it:' : ''}\n`);
      for (const f of top) out.write(`  ${f.exposure.toFixed(1)}  ${f.directive}  ${f.description}\n`);
    } else {
      out.write(`\nsystemd-analyze security: no rating (${systemd.securityError})\n`);
    }
  }
  out.write(`\nsuggestions:\n${suggestions.length ? suggestions.map((s) => `  - ${s}\n`).join('') : '  none: niso sees nothing it can explain; read the full output with `niso logs ' + name + '`\n'}`);
}
