// Waiting for a service's dependencies before it starts (a stack's depends_on: started, healthy, completed), by
// polling niso's own records as SafeSwitch does, within a bound that follows from the dependency's health check. A
// condition that cannot be met fails the start with both services and the reason named.
import { NisoError } from '../errors/niso-error.js';
import { readHealth } from '../service/health/file.js';
import { VERDICT_SLACK_MS } from '../service/health/messages.js';
import { unhealthyWithinMs } from '../service/health/state.js';
import { lastExitOf } from '../service/model/types.js';
import { readPlan, readState } from '../service/store.js';
import { serviceStatus } from '../service/view.js';
import { conditionVerdict, dependenciesOf, type DependencyFacts } from './order.js';
import type { DependencyCondition } from '../stack/types.js';
import type { GenerationService } from './types.js';

const POLL_MS = 100;
/** How long a dependency may take to start, or a one-shot job to finish, when no health check bounds it. */
export const DEPENDENCY_WAIT_MS = 120_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function factsOf(root: string, name: string): DependencyFacts | null {
  const s = serviceStatus(root, name);
  if (!s) return null;
  // An end not recorded yet is the newest, a run of what it is defined with now (a definition is rewritten only after
  // the end before it was recorded).
  const recorded = readState(root, name).exits;
  const exits = s.lastExit && !recorded.some((e) => e.at === s.lastExit!.at) ? [...recorded, { ...s.lastExit, digest: s.package.digest }] : recorded;
  return {
    state: s.state, pid: s.pid, health: s.health, lastExit: lastExitOf(exits, s.package.digest),
    checked: (readPlan(root, name)?.health ?? null) !== null, lastHealth: s.pid === null ? readHealth(root, name)?.status ?? null : null,
  };
}

/**
 * Returns once every dependency of `entry` meets its condition; throws NISO6050 when one cannot. A dependency that is
 * not required (`required = false`) and not defined is skipped.
 */
export async function waitForDependencies(root: string, entry: Pick<GenerationService, 'name' | 'stack'>, opts: { waitMs?: number } = {}): Promise<void> {
  for (const dep of dependenciesOf(entry)) await waitForCondition(root, entry.name, dep.service, dep.condition, { ...opts, required: dep.required });
}

/**
 * Waits until `dependency` meets `condition` for `dependent` (named in the error). `orCompleted`: a one-shot job that
 * ran and exited 0 counts too (`stack up --wait`).
 */
export async function waitForCondition(root: string, dependent: string, dependency: string, condition: DependencyCondition, opts: { waitMs?: number; required?: boolean; orCompleted?: boolean } = {}): Promise<void> {
  const health = readPlan(root, dependency)?.health ?? null;
  const bound = condition === 'healthy' && health ? unhealthyWithinMs(health) + VERDICT_SLACK_MS : opts.waitMs ?? DEPENDENCY_WAIT_MS;
  const deadline = Date.now() + bound;
  const wanted = condition === 'completed' ? 'to complete' : `to be ${condition}`;
  const hint = `\`niso debug ${dependency}\` and \`niso logs ${dependency}\` show why`;
  for (;;) {
    const facts = factsOf(root, dependency);
    if (facts === null && opts.required === false) return;
    const v = conditionVerdict(condition, facts);
    if (v.kind === 'met') return;
    if (opts.orCompleted && conditionVerdict('completed', facts).kind === 'met') return;
    if (v.kind === 'failed') throw new NisoError('NISO6050', `${dependent} waits for ${dependency} ${wanted}, but ${v.reason}`, { exitCode: 1, hint });
    if (Date.now() > deadline) {
      throw new NisoError('NISO6050', `${dependent} waits for ${dependency} ${wanted}, but it was not within ${Math.round(bound / 1000)} s (state ${facts!.state}${facts!.health ? `, health ${facts!.health}` : ''})`, { exitCode: 1, hint });
    }
    await sleep(POLL_MS);
  }
}
