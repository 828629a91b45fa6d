// What `niso stack up` and `down` decide without a host: the generation's content with one stack's services replaced
// (or removed), the conflicts of a stack with what else the host runs, and a switch's actions in the stack's words
// (start, stop, restart, keep), so that --dry-run, the golden cases and the verbs agree.
import type { Diagnostic } from '../errors/niso-error.js';
import { contentOf } from '../generation/hash.js';
import { RESTART_WITH } from '../generation/order.js';
import type { GenerationContent, GenerationService, ServiceAction } from '../generation/types.js';
import { describePort, portsOverlap } from './check.js';
import { conflictDiagnostics, conflictsAcross } from './conflicts.js';
import type { ResolveResult } from './resolve.js';
import type { ResolvedStack } from './types.js';

/** The current content with stack `name`'s services replaced by `entries` (none: the stack is taken down). */
export function withStack(current: GenerationContent | null, name: string, entries: readonly GenerationService[]): GenerationContent {
  return contentOf([...(current?.services ?? []).filter((s) => s.stack?.name !== name), ...entries]);
}

/** The stacks a generation holds, by name, with their services in it. */
export function stacksOf(content: GenerationContent | null): Map<string, GenerationService[]> {
  const out = new Map<string, GenerationService[]>();
  for (const s of content?.services ?? []) {
    if (!s.stack) continue;
    out.set(s.stack.name, [...(out.get(s.stack.name) ?? []), s]);
  }
  return out;
}

/** Another stack of the host as conflicts.ts reads a stack: its services' ports and mounts. */
function asStack(name: string, services: readonly GenerationService[]): ResolvedStack {
  return {
    format: 1, name, file: services[0]?.stack?.file ?? '', profiles: [], inactive: [], networks: [], volumes: [],
    services: services.map((s) => ({
      service: s.stack!.service, name: s.name, stack: name, package: { kind: 'store', name: s.package.name, version: s.package.version, digest: s.package.digest },
      options: s.options, configs: [], dependsOn: [], networks: [], profiles: [],
    })),
  };
}

/**
 * Host ports and exclusive volumes that the stack would share with the host's other stacks and services (active ones:
 * an inactive service maps nothing), placed in the stack file. Found before the switch, so nothing stops for them.
 */
export function hostConflicts(stack: ResolvedStack, current: GenerationContent | null, where: Pick<ResolveResult, 'locate' | 'locateService'>): Diagnostic[] {
  const others = (current?.services ?? []).filter((s) => s.active && s.stack?.name !== stack.name);
  const stacks = [...stacksOf({ version: 1, services: others })].map(([n, svcs]) => asStack(n, svcs));
  const out = conflictDiagnostics(conflictsAcross([stack, ...stacks]), stack.name, where);
  for (const plain of others.filter((s) => !s.stack)) {
    for (const svc of stack.services) {
      (svc.options.ports ?? []).forEach((p, i) => {
        if ((plain.options.ports ?? []).some((q) => portsOverlap(p, q))) {
          out.push({ code: 'NISO5311', ...where.locateService(svc.service, ['ports', i]), message: `${svc.service} maps host port ${describePort(p)}, which service ${plain.name} maps already`, hint: `map another host port, or stop ${plain.name} first (niso deactivate ${plain.name})` });
        }
      });
      for (const m of svc.options.mounts ?? []) {
        if (m.type !== 'volume') continue;
        const theirs = (plain.options.mounts ?? []).find((x) => x.type === 'volume' && x.source === m.source);
        if (theirs && theirs.type === 'volume' && (m.exclusive || theirs.exclusive)) {
          out.push({ code: 'NISO5322', ...where.locateService(svc.service, ['volumes']), message: `${svc.service} mounts volume "${m.source}", which service ${plain.name} mounts too, and ${m.exclusive ? 'this stack mounts it exclusively' : `${plain.name} mounts it exclusively`}`, hint: 'give the stack a volume of its own (the default, STACK_KEY), or drop exclusive = true' });
        }
      }
    }
  }
  return out;
}

export type StackStep = 'start' | 'stop' | 'restart' | 'update' | 'keep';

/** One service of the stack in a switch, in the stack's words: `restart api (package 1.0.0 → 2.0.0)`. */
export interface StackPlanLine { step: StackStep; service: string; name: string; why: string[] }

const STEP: Record<ServiceAction['kind'], StackStep> = { add: 'start', start: 'start', replace: 'restart', stop: 'stop', remove: 'stop', update: 'update', ports: 'update', keep: 'keep' };

/** The switch's actions on the stack's services, in the order they run, in the stack's words. */
export function stackPlan(actions: readonly ServiceAction[], stack: string, describe: (a: ServiceAction) => string): StackPlanLine[] {
  return actions.filter((a) => (a.to ?? a.from)?.stack?.name === stack).map((a) => {
    const e = (a.to ?? a.from)!;
    const text = describe(a);
    const open = text.indexOf(' (');
    const why = a.kind === 'add' || a.kind === 'remove' ? [`${e.package.name} ${e.package.version}`]
      : open >= 0 ? text.slice(open + 2, -1).split(', ').map((w) => w.replace(`restarted with ${stack}.`, 'restarted with ')) : [];
    const step = a.kind === 'replace' && a.changed.every((c) => c.startsWith(RESTART_WITH)) ? 'restart' : STEP[a.kind];
    return { step, service: e.stack!.service, name: a.service, why };
  });
}

export function formatPlanLine(l: StackPlanLine): string {
  return `${l.step.padEnd(7)} ${l.service}${l.why.length > 0 ? ` (${l.why.join(', ')})` : ''}`;
}

// Apart (networks-needed.ts) so that a switch gets it without the stack checks and the TOML parser behind them.
