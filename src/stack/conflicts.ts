// What several stacks on one host must not share: a host port, a volume one of them mounts exclusively, a name. The
// switch engine asks this of the host's whole plan (every stack, the one being deployed included) before it stops
// anything; `stack config` asks it of the stack in hand and the others it is shown.
import type { Diagnostic } from '../errors/niso-error.js';
import type { PathKey } from '../manifest/toml-positions.js';
import type { ResolveResult } from './resolve.js';
import { describePort, portsOverlap } from './check.js';
import type { ResolvedStack } from './types.js';

export interface ConflictSide {
  stack: string;
  file: string;
  /** The service in its stack (`api`), absent for a conflict of whole stacks. */
  service?: string;
  /** Which of the service's ports, for a port conflict. */
  port?: number;
}

export type StackConflict =
  | { kind: 'port'; port: string; a: ConflictSide; b: ConflictSide }
  | { kind: 'volume'; volume: string; exclusive: 'a' | 'b' | 'both'; a: ConflictSide; b: ConflictSide }
  | { kind: 'name'; a: ConflictSide; b: ConflictSide };

/** Every conflict between two different stacks, each pair once (a before b in the list's order). */
export function conflictsAcross(stacks: readonly ResolvedStack[]): StackConflict[] {
  const out: StackConflict[] = [];
  const side = (s: ResolvedStack, service?: string, port?: number): ConflictSide => ({ stack: s.name, file: s.file, ...(service === undefined ? {} : { service }), ...(port === undefined ? {} : { port }) });
  for (let i = 0; i < stacks.length; i++) {
    for (let j = i + 1; j < stacks.length; j++) {
      const a = stacks[i]!;
      const b = stacks[j]!;
      if (a.name === b.name) {
        out.push({ kind: 'name', a: side(a), b: side(b) });
        continue;
      }
      for (const sa of a.services) {
        (sa.options.ports ?? []).forEach((pa, ia) => {
          for (const sb of b.services) {
            const ib = (sb.options.ports ?? []).findIndex((pb) => portsOverlap(pa, pb));
            if (ib >= 0) out.push({ kind: 'port', port: describePort(pa), a: side(a, sa.service, ia), b: side(b, sb.service, ib) });
          }
        });
      }
      const mountsOf = (s: ResolvedStack) => s.services.flatMap((svc) => (svc.options.mounts ?? []).flatMap((m) => (m.type === 'volume' ? [{ service: svc.service, volume: m.source, exclusive: m.exclusive }] : [])));
      const mb = mountsOf(b);
      for (const ma of mountsOf(a)) {
        for (const other of mb) {
          if (other.volume !== ma.volume || !(ma.exclusive || other.exclusive)) continue;
          out.push({ kind: 'volume', volume: ma.volume, exclusive: ma.exclusive && other.exclusive ? 'both' : ma.exclusive ? 'a' : 'b', a: side(a, ma.service), b: side(b, other.service) });
        }
      }
    }
  }
  return out;
}

/**
 * The conflicts that involve stack `about`, as diagnostics from its side. `where` (its ResolveResult) places them in
 * its stack file; without it, a diagnostic names the file only.
 */
export function conflictDiagnostics(conflicts: readonly StackConflict[], about: string, where?: Pick<ResolveResult, 'locate' | 'locateService'>): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const c of conflicts) {
    const mine = c.a.stack === about ? c.a : c.b.stack === about ? c.b : null;
    if (!mine) continue;
    const theirs = mine === c.a ? c.b : c.a;
    const place = (path: PathKey[]) => (where && mine.service !== undefined ? where.locateService(mine.service, path) : { file: mine.file });
    if (c.kind === 'name') {
      out.push({ code: 'NISO5325', ...(where ? where.locate(['stack', 'name']) : { file: mine.file }), message: `another stack on this host is named "${about}" too (${theirs.file})`, hint: 'give one of them another [stack] name' });
    } else if (c.kind === 'port') {
      out.push({ code: 'NISO5311', ...place(['ports', mine.port ?? 0]), message: `${mine.service} maps host port ${c.port}, which ${theirs.service} of stack "${theirs.stack}" maps already (${theirs.file})`, hint: 'map another host port; each host port forwards to one service on the host' });
    } else {
      const ex = c.exclusive === 'both' || (c.exclusive === 'a') === (mine === c.a) ? 'this stack mounts it exclusively' : `stack "${theirs.stack}" mounts it exclusively`;
      out.push({ code: 'NISO5322', ...place(['volumes']), message: `${mine.service} mounts volume "${c.volume}", which ${theirs.service} of stack "${theirs.stack}" mounts too, and ${ex} (${theirs.file})`, hint: 'give each stack a volume of its own (the default, STACK_KEY), or drop exclusive = true' });
    }
  }
  return out;
}
