// Health checks of systemd services without a resident niso process. The unit's health timers start
// niso-<service>-health.service (render/systemd-health.ts), which runs `niso __health-check` once: it probes the app
// inside its network namespace (health/probe.ts, the namespace of the unit's MainPID), advances the same state
// machine as the embedded supervisor (health/state.ts, kept in health.json) and, when the app turns unhealthy with
// on_unhealthy = "restart", restarts the unit with systemctl and records why. `niso activate --wait` runs the same
// steps from the CLI, quickly, until the app is healthy, or fails fast with systemd's reason and journald's lines.
import { rmSync } from 'node:fs';
import { healthStartTimerName, unitName } from '../../render/systemd-names.js';
import { unhealthyError, VERDICT_SLACK_MS, WAIT_WITHOUT_CHECK_MS, waitGaveUp } from '../health/messages.js';
import { NisoError } from '../../errors/niso-error.js';
import type { Plan, PlanHealth } from '../../plan/plan.js';
import { HEALTH_LINGER_MS, HEALTH_ROUND_BUDGET_MS } from '../../render/systemd-health.js';
import { readHealth, writeHealth } from '../health/file.js';
import { runProbe, type ExecInSandbox } from '../health/probe.js';
import { initialHealth, recordProbe, unhealthyAction, unhealthyWithinMs, type HealthState, type ProbeResult } from '../health/state.js';
import type { ExitRecord } from '../model/types.js';
import { readDefinition, readPlan, readState, servicePaths, withServiceLock, writeState } from '../store.js';
import { showSync, tool } from './systemctl.js';
import { healthOfRun, sameRun, unitRun, type UnitRun } from './health-run.js';
import { listenTrigger } from '../health/listening.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The state machine for this run: health.json's, or a fresh one that keeps the probe history (as resetHealth does). */
function healthFor(root: string, service: string, h: PlanHealth, run: UnitRun): HealthState {
  const before = readHealth(root, service);
  return healthOfRun(before, run.startedAt) ?? { ...initialHealth(run.startedAt, h), log: before?.log ?? [] };
}

/** At each start by niso: a fresh record for a check that runs here, none otherwise (so status shows no health). */
export async function resetUnitHealth(root: string, service: string, plan: Plan, startedAt: number): Promise<void> {
  if (plan.health === null) { rmSync(servicePaths(root, service).health, { force: true }); return; }
  await writeHealth(root, service, { ...initialHealth(startedAt, plan.health), log: readHealth(root, service)?.log ?? [] });
}

type Recorded =
  | { kind: 'stale' }
  | { kind: 'recorded'; health: HealthState }
  | { kind: 'ended'; health: HealthState; message: string };

/**
 * Folds one probe result into health.json, under the service's lock and only if the run it probed still runs;
 * acts on the transition as the embedded supervisor does (hooks.ts): the state and its message, and for an
 * unhealthy app with on_unhealthy = "restart", `systemctl stop` with the end judged as "unhealthy" by the restart policy.
 */
async function recordResult(root: string, service: string, plan: Plan, run: UnitRun, result: ProbeResult, log: (line: string) => void): Promise<Recorded> {
  const h = plan.health!;
  return withServiceLock(root, service, async (): Promise<Recorded> => {
    if (!sameRun(unitRun(service), run)) return { kind: 'stale' };
    const before = healthFor(root, service, h, run);
    const { state: health, transition } = recordProbe(before, result, h, run.startedAt, Date.now());
    const s = readState(root, service);
    const at = new Date().toISOString();
    const message = transition === 'unhealthy' ? `health check failed ${h.retries} times in a row: ${result.output}` : null;
    // status reads both files without the lock and takes the message from state.json when health.json says
    // unhealthy: state.json first, so a reader never sees the new health without its message.
    if (transition !== null) await writeState(root, service, { ...s, state: message ? 'unhealthy' : 'active', since: at, message });
    await writeHealth(root, service, health);
    // The quick start-up probes are over once one passed: from now on the interval timer alone paces them.
    if (before.lastSuccessAt === null && health.lastSuccessAt !== null) await tool('systemctl', ['stop', healthStartTimerName(service)]);
    if (transition === null) return { kind: 'recorded', health };
    if (message === null) {
      if (before.status === 'unhealthy') log(`${service}: healthy again: ${result.output}`);
      return { kind: 'recorded', health };
    }
    if (unhealthyAction(transition, h) !== 'restart') {
      log(`${service}: unhealthy (${message}); on_unhealthy = "none": only reported`);
      return { kind: 'recorded', health };
    }
    // As the embedded supervisor does: stopped (its stop signal and stop_timeout), and the end, "unhealthy", judged by
    // the restart policy, which restarts it after its delay. The exit unit that the stop starts finds it judged.
    log(`${service}: unhealthy (${message}); stopping ${unitName(service)} for its restart policy`);
    const r = await tool('systemctl', ['stop', unitName(service)], 10 * 60_000);
    const def = readDefinition(root, service);
    if (r.code !== 0 || def === null) {
      const failed = `${message}; the stop failed: ${(r.stderr || r.stdout).trim() || 'the service was removed'}`;
      await writeState(root, service, { ...readState(root, service), state: 'failed', since: new Date().toISOString(), message: failed });
      log(`${service}: ${failed}`);
      return { kind: 'ended', health, message };
    }
    const { END_PROPERTIES, endLine, judgeEnd, unitEnd } = await import('./after-exit.js');
    const end = unitEnd(showSync(unitName(service), END_PROPERTIES));
    const exit: ExitRecord = { ...(end ?? { at, exitCode: null, signal: null, uptimeMs: Math.max(0, Date.parse(at) - run.startedAt) }), reason: 'unhealthy', message };
    log(endLine(service, exit, await judgeEnd(root, service, def, exit)));
    return { kind: 'ended', health, message };
  });
}

/** The probe for this run: inside the namespace of the unit's main process, unless it shares the host's network. */
/** exec probes run like `niso exec` on systemd: a transient unit beside the service, its output collected. */
const execProbe = (root: string, service: string): ExecInSandbox => async (argv, timeoutMs) => {
  const { execInUnit } = await import('./exec.js');
  const r = await execInUnit(root, service, { argv, tty: false, interactive: false, stdinIsTerminal: false, env: {}, capture: { maxChars: 65_536 }, timeoutMs });
  return { exitCode: r.exitCode, output: r.output ?? '' };
};

function probeOf(root: string, service: string, plan: Plan, run: UnitRun): Promise<ProbeResult> {
  const h = plan.health!;
  return runProbe(h.probe, { netns: plan.network.mode === 'host' ? null : `/proc/${run.pid}/ns/net`, exec: execProbe(root, service) }, h.timeoutMs);
}

/**
 * One check run (`niso __health-check SERVICE`, started by the health timers): probes when due, and keeps probing
 * in this process only while the next probe is due within HEALTH_LINGER_MS (the quick start-up probes); otherwise
 * it returns, and the timers start the next run.
 */
export async function healthCheckRun(root: string, service: string, log: (line: string) => void): Promise<void> {
  const began = Date.now();
  const run = unitRun(service);
  if (run === null) return;
  let probed = false;
  for (;;) {
    const plan = readPlan(root, service);
    if (plan === null || plan.health === null) return;
    const health = healthFor(root, service, plan.health, run);
    // After a probe, only the quick ones of the start-up (before the first pass, gaps below the interval) are
    // awaited here; the steady pace is the timers' job, so that no process waits between checks.
    if (probed && (health.lastSuccessAt !== null || health.nextProbeAt - (health.lastProbeAt ?? 0) >= plan.health.intervalMs)) return;
    const wait = health.nextProbeAt - Date.now();
    if (wait > HEALTH_LINGER_MS || Date.now() + Math.max(0, wait) - began > HEALTH_ROUND_BUDGET_MS) return;
    if (wait > 0) await sleep(wait);
    const r = await recordResult(root, service, plan, run, await probeOf(root, service, plan, run), log);
    // Stale, or unhealthy and stopped: the restart policy starts the next run, which has checks of its own.
    if (r.kind !== 'recorded') return;
    probed = true;
  }
}

/** NISO3304 for a unit whose main process ended (or never ran): how it ended and what the policy made of it, its last output. */
async function endedError(root: string, service: string): Promise<NisoError> {
  // Loaded only here: a check run that finds nothing wrong stays small (it starts every interval).
  const { END_PROPERTIES, unitEnd } = await import('./after-exit.js');
  const p = showSync(unitName(service), ['LoadState', ...END_PROPERTIES]);
  const end = unitEnd(p);
  // The exit unit records the end with the policy's verdict within moments (as the embedded --wait waits for the
  // supervisor's); journald gets the app's last lines over a stream meanwhile.
  const judged = () => end !== null && readState(root, service).exits.some((e) => e.at === end.at);
  for (let i = 0; i < 100 && end !== null && !judged(); i++) await sleep(20);
  const s = readState(root, service);
  const how = p.LoadState !== 'loaded' ? `the unit is ${p.LoadState}`
    : end === null ? `systemd: ${p.Result ?? 'unknown'}`
      : (judged() ? s.message : null) ?? end.message ?? (end.signal ? `it was killed by ${end.signal}` : `it exited with code ${end.exitCode ?? 'unknown'}`);
  const out = await (await import('./logs.js')).journalTail(service, 10);
  return new NisoError('NISO3304', `${service} did not come up: ${how}${out ? `; its last output:\n${out}` : ''}`, {
    hint: `\`niso debug ${service}\` shows more; \`niso logs ${service}\` its output`,
  });
}

/** Without a health check, --wait asks this much: the first run keeps running this long after its start. */
export const STABLE_WAIT_MS = 1000;

/**
 * `niso activate --wait` on systemd, right after the start: until the health check passes (probing from here at the
 * quick start-up pace, recording into health.json as the check unit does), or without one until the app has kept
 * running for STABLE_WAIT_MS. Fails fast with NISO3304 when the app ends, NISO3305 when it turns unhealthy.
 */
export async function waitSystemd(root: string, service: string, timeoutMs: number | null, log: (line: string) => void): Promise<void> {
  const first = unitRun(service);
  if (first === null) throw await endedError(root, service);
  const plan = readPlan(root, service);
  const h = plan?.health ?? null;
  // Without --timeout: niso's own verdict, which the check reaches within what its settings allow (as on the embedded backend).
  const verdictWithinMs = h ? unhealthyWithinMs(h) + VERDICT_SLACK_MS : null;
  const deadline = Date.now() + (timeoutMs ?? verdictWithinMs ?? WAIT_WITHOUT_CHECK_MS);
  // The first probe goes out once the app's port listens (every process of the unit is in its namespace).
  const onListen = listenTrigger();
  for (;;) {
    const run = unitRun(service);
    if (!sameRun(run, first)) throw await endedError(root, service);
    if (plan === null || h === null) {
      if (Date.now() - first.startedAt >= STABLE_WAIT_MS) return;
    } else {
      const health = healthFor(root, service, h, first);
      if (health.status === 'healthy') return;
      if (health.status === 'unhealthy') throw unhealthyError(service, health.log.at(-1)?.output ?? 'the health check failed');
      if (Date.now() <= deadline && (health.nextProbeAt <= Date.now() || onListen.fire(service, null, h.probe, first.pid))) {
        const r = await recordResult(root, service, plan, first, await probeOf(root, service, plan, first), log);
        if (r.kind === 'ended') throw unhealthyError(service, r.health.log.at(-1)?.output ?? r.message, 'its restart policy restarts it');
        continue;
      }
    }
    if (Date.now() > deadline) {
      const health = plan?.health ? healthOfRun(readHealth(root, service), first.startedAt) : null;
      throw waitGaveUp(service, { timeoutMs, verdictWithinMs, what: plan?.health ? 'healthy' : 'stable', now: health ? `health ${health.status}; last probe: ${health.log.at(-1)?.output ?? 'none'}` : 'running' });
    }
    await sleep(20);
  }
}

