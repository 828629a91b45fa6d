// `niso inspect SERVICE` (the plan and the live state) and `niso debug SERVICE` (why is it failing).
import { lastOutput } from '../../service/launch.js';
import { stateUsage } from '../../service/state-dir.js';
import { readHealth } from '../../service/health/file.js';
import { readDefinition, readPlan, readState, requireDefinition } from '../../service/store.js';
import { serviceStatus, type ServiceStatus } from '../../service/view.js';
import { formatSize, formatDuration } from '../../manifest/units.js';
import type { Plan } from '../../plan/plan.js';
import { describeRuntime } from '../../plan/plan.js';
import { overrideSource } from '../../plan/weakenings.js';
import { diagnose, exitLine, type LiveLimits } from '../../service/model/diagnose.js';
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
  if (plan.runtime) w('runtime', describeRuntime(plan.runtime));
  w('command', plan.command.argv.join(' '));
  w('network', `${plan.network.mode}${plan.network.mode === 'private' ? `, networks ${(plan.network.networks ?? ['default']).join(', ')}, egress ${plan.network.egress === false ? 'off' : 'on'}` : ''}`);
  const writable = plan.mounts.filter((m) => (m.type === 'bind' && !m.readOnly) || m.type === 'tmpfs').map((m) => m.type === 'tmpfs' ? `${m.target} (tmpfs ${formatSize(m.sizeBytes)})` : `${m.target} (${m.type === 'bind' ? m.source : ''})`);
  w('writable', writable.join(', ') || 'nothing');
  // What the service was granted besides its package: volumes, host paths, config files (secrets show their digest).
  for (const m of plan.mounts) {
    if (m.type === 'bind' && m.purpose === 'volume') w('volume', `${m.volume ?? m.source} at ${m.target}${m.readOnly ? ' (read-only)' : ''}`);
    else if (m.type === 'bind' && m.purpose === 'bind') w('host path', `${m.source} at ${m.target}${m.readOnly ? ' (read-only)' : ''}`);
    else if (m.type === 'bind' && m.purpose === 'config') w('config', `${m.target} (a copy: ${m.source})`);
  }
  // Which value each secret has is its digest; the bytes are never in a plan.
  const secrets = plan.mounts.flatMap((m) => (m.type === 'secret' ? [`${m.name} at ${m.target} (${m.digest.slice(0, 19)}…)`] : []));
  if (secrets.length > 0) w('secrets', secrets.join(', '));
  const l = plan.limits;
  w('limits', [l.memoryBytes !== null ? `memory ${formatSize(l.memoryBytes)}` : 'memory unlimited', l.cpus !== null ? `${l.cpus} cpus` : 'cpus unlimited', l.pids !== null ? `${l.pids} pids` : 'pids unlimited', l.nofile !== null ? `${l.nofile} open files` : null, typeof l.stateBytes === 'number' ? `/state ${formatSize(l.stateBytes)}` : '/state unbounded'].filter(Boolean).join(', '));
  w('privileges', `${plan.capabilities.length ? plan.capabilities.join(', ') : 'no capabilities'}, ${plan.noNewPrivileges ? 'no new privileges' : 'new privileges allowed'}, ${plan.seccomp ? `syscall filter${plan.seccomp.allow.length ? ` (+${plan.seccomp.allow.join(', ')})` : ''}` : 'no syscall filter'}`);
  w('restart', `${plan.restart.policy}${plan.restart.maxRetries !== null ? `:${plan.restart.maxRetries}` : ''}, delay ${formatDuration(plan.restart.delayMs)} up to ${formatDuration(plan.restart.maxDelayMs)}`);
  if (plan.health) w('health check', `${plan.health.probe.kind === 'http' ? plan.health.probe.url : plan.health.probe.kind === 'tcp' ? `tcp ${plan.health.probe.host}:${plan.health.probe.port}` : plan.health.probe.argv.join(' ')} every ${formatDuration(plan.health.intervalMs)}, ${plan.health.retries} retries, then ${plan.health.onUnhealthy}`);
}

/** The counters of a running service's cgroup (its own, or its unit's on systemd): OOM kills, the pids limit reached. */
async function liveLimits(root: string, name: string, status: ServiceStatus): Promise<LiveLimits | null> {
  if (status.pid === null) return null;
  const { readLimitEvents } = await import('../../service/stats/read.js');
  const cg = status.backend === 'systemd' ? (await import('../../service/systemd/cgroup.js')).unitCgroup(name) : (await import('../../service/running.js')).cgroupOf(root, name);
  return readLimitEvents(cg);
}

export async function debug(ctx: Context, name: string, opts: { json?: boolean; lines?: string }): Promise<void> {
  const def = requireDefinition(ctx.root, name);
  // The record before the status: an end recorded in between is then status's last exit, not listed twice.
  const state = readState(ctx.root, name);
  const status = serviceStatus(ctx.root, name) as ServiceStatus;
  const plan = readPlan(ctx.root, name);
  const health = readHealth(ctx.root, name);
  const n = Number(opts.lines ?? 20);
  const lines = Number.isFinite(n) && n > 0 ? n : 20;
  // On systemd: the app's output is in journald, and systemd has its own account of the unit.
  const sd = def.backend === 'systemd' ? await import('../../service/systemd/debug.js') : null;
  const systemd = sd ? await sd.systemdDebug(name) : null;
  const output = sd ? await sd.journalTail(name, lines) : await lastOutput(ctx.root, name, lines);
  // systemd restarts the app itself: its exits are in the journal, beside the ones niso recorded (stops, failed starts).
  // On the embedded backend an end the supervisor has not recorded yet is the one status shows with its verdict to come:
  // listed and explained here too, as status tells it (it is recorded moments later).
  const unrecorded = !sd && status.lastExit && !state.exits.some((e) => e.at === status.lastExit!.at) ? [status.lastExit] : [];
  const exits = sd ? sd.mergeExits(state.exits, (await import('../../service/systemd/status.js')).journalExits(name, 10)) : [...state.exits, ...unrecorded];
  const stateDir = stateView(ctx.root, name);
  const suggestions = diagnose({ plan, exits, output, health, live: await liveLimits(ctx.root, name, status), state: stateDir });
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
    out.write(`  starts at boot: ${systemd.enabled ? 'yes' : 'no'} (its [Install] link; systemd may show the state it read before niso's last enable or disable until its next daemon-reload)\n`);
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
