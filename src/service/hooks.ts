// What the supervisor does besides restarting: health checks (run in the background, so that a
// slow probe never holds up the other services) and moving output into the logs.
import type { Plan } from '../plan/plan.js';
import { appPid } from '../sandbox/procs.js';
import { runProbe, type ExecInSandbox } from './health/probe.js';
import { LogPump } from './logs/pump.js';
import { DEFAULT_LOG_LIMITS } from './logs/limits.js';
import { initialHealth, probeDelay, recordProbe, unhealthyAction, type HealthState } from './health/state.js';
import { readHealth, writeHealth } from './health/file.js';
import { listenTrigger } from './health/listening.js';
import type { ServiceState } from './model/types.js';
import { readDefinition, readPlan, readState, servicePaths, withServiceLock, writeState } from './store.js';
import type { SupervisorHooks } from './supervisor.js';

export function supervisorHooks(opts: { exec?: (root: string, name: string, plan: Plan, state: ServiceState) => ExecInSandbox } = {}): SupervisorHooks {
  // What the current run of each service needs each tick, read from disk once per run: its plan
  // and its health (the supervisor is the only writer of health.json while the run lasts).
  const runs = new Map<string, { startedAt: string | null; plan: Plan | null; health: HealthState | null }>();
  const inflight = new Set<string>();
  /** Fires a run's first probe once its port listens. */
  const onListen = listenTrigger();
  const restartDue = new Set<string>();
  const runOf = (root: string, name: string, state: ServiceState) => {
    let r = runs.get(name);
    if (!r || r.startedAt !== state.startedAt) {
      const plan = readPlan(root, name);
      const health = plan?.health ? readHealth(root, name) ?? initialHealth(Date.parse(state.startedAt ?? new Date().toISOString()), plan.health) : null;
      r = { startedAt: state.startedAt, plan, health };
      runs.set(name, r);
    }
    return r;
  };

  async function probeOnce(root: string, name: string, plan: Plan, state: ServiceState, health: HealthState): Promise<void> {
    const h = plan.health!;
    const app = state.initPid === null ? null : appPid(state.initPid);
    if (app === null) return;
    const netns = plan.network.mode === 'host' ? null : `/proc/${app}/ns/net`;
    const result = await runProbe(h.probe, { netns, exec: opts.exec?.(root, name, plan, state) }, h.timeoutMs);
    const startedAt = Date.parse(state.startedAt ?? new Date().toISOString());
    const { state: next, transition } = recordProbe(health, result, h, startedAt, Date.now());
    await withServiceLock(root, name, async () => {
      const now = readState(root, name);
      // The run this probe was for may have ended meanwhile: its result no longer matters.
      if (now.startedAt !== state.startedAt || now.pid === null) return;
      await writeHealth(root, name, next);
      const r = runs.get(name);
      if (r && r.startedAt === state.startedAt) r.health = next;
      let shown = now.state;
      if (transition === 'healthy' && (now.state === 'activating' || now.state === 'unhealthy')) shown = 'active';
      if (transition === 'unhealthy') shown = 'unhealthy';
      if (shown !== now.state) await writeState(root, name, { ...now, state: shown, since: new Date().toISOString(), message: transition === 'unhealthy' ? `health check failed ${h.retries} times in a row: ${result.output}` : null });
    });
    if (unhealthyAction(transition, h) === 'restart') restartDue.add(name);
  }

  /**
   * Until the first probe passed, an http or tcp check is not left to the start-up cadence (50, 100, 200 ms, ...): the
   * moment the probe's port listens in the app's namespace (a read of /proc, no process), one probe goes out at once,
   * once per run; `activate --wait` then returns about one probe after the app is ready.
   */
  const listensNow = (name: string, plan: Plan, state: ServiceState, health: HealthState): boolean =>
    health.lastSuccessAt === null && onListen.fire(name, state.startedAt, plan.health!.probe, state.initPid === null ? null : appPid(state.initPid));

  // One pump per service for the supervisor's life: it knows which lines it saw arrive (and when).
  const pumps = new Map<string, LogPump>();
  const pumpOf = (root: string, name: string): LogPump | null => {
    let p = pumps.get(name);
    if (!p) {
      const def = readDefinition(root, name);
      if (!def) return null;
      p = new LogPump(servicePaths(root, name).logs, def.logs ?? DEFAULT_LOG_LIMITS);
      pumps.set(name, p);
    }
    return p;
  };

  return {
    drainLogs: async (root, name, final, unwrittenUntil) => {
      const p = pumpOf(root, name);
      if (!p) return;
      const r = await p.drain({ final, unwrittenUntil });
      for (const w of r.warnings) process.stdout.write(`${new Date().toISOString()} ${name}: logs: ${w}\n`);
    },
    forget: (name) => { pumps.get(name)?.close(); pumps.delete(name); runs.delete(name); onListen.forget(name); },
    quietFor: (name, now) => {
      if (restartDue.has(name) || inflight.has(name)) return 0;
      const r = runs.get(name);
      if (!r) return 0;
      return r.plan?.health && r.health ? probeDelay(r.health, now) : Infinity;
    },
    checkHealth: async (root, name, state) => {
      if (restartDue.delete(name)) return 'unhealthy-restart';
      if (inflight.has(name)) return null;
      const { plan, health } = runOf(root, name, state);
      if (!plan?.health || !health) return null;
      if (probeDelay(health, Date.now()) > 0 && !listensNow(name, plan, state, health)) return null;
      inflight.add(name);
      void probeOnce(root, name, plan, state, health)
        .catch((e: unknown) => process.stdout.write(`${new Date().toISOString()} ${name}: health check error: ${String(e)}\n`))
        .finally(() => inflight.delete(name));
      return null;
    },
  };
}
