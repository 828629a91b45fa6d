// The dependency graph of a stack's services: the start order (dependencies first, otherwise the file's order, so the
// same file always starts the same way) and the cycles that make an order impossible. Iterative, so that a hostile
// chain of thousands of services cannot exhaust the stack.

export interface DepNode { service: string; dependsOn: readonly { service: string }[] }

/** A binary min-heap of indices: the ready service that comes first in the file starts first. */
class MinHeap {
  private a: number[] = [];
  get size(): number { return this.a.length; }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (a[p]! <= a[i]!) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

interface Graph { deps: number[][]; dependents: number[][] }

/** Edges between known services only (an unknown name is check.ts's to report); a repeated edge counts once. */
function graphOf(nodes: readonly DepNode[]): Graph {
  const index = new Map<string, number>();
  nodes.forEach((n, i) => { if (!index.has(n.service)) index.set(n.service, i); });
  const deps = nodes.map((n) => [...new Set(n.dependsOn.map((d) => index.get(d.service)).filter((x): x is number => x !== undefined))]);
  const dependents: number[][] = nodes.map(() => []);
  deps.forEach((ds, i) => ds.forEach((d) => dependents[d]!.push(i)));
  return { deps, dependents };
}

/** Kahn's algorithm with the file's order among ready services; what never becomes ready is in or behind a cycle. */
function order(nodes: readonly DepNode[], g: Graph): { order: number[]; left: Set<number> } {
  const pending = g.deps.map((d) => d.length);
  const ready = new MinHeap();
  pending.forEach((n, i) => { if (n === 0) ready.push(i); });
  const out: number[] = [];
  while (ready.size > 0) {
    const i = ready.pop();
    out.push(i);
    for (const j of g.dependents[i]!) if (--pending[j]! === 0) ready.push(j);
  }
  const left = new Set<number>();
  nodes.forEach((_, i) => { if (pending[i]! > 0) left.add(i); });
  return { order: out, left };
}

/** Service names in the order to start them: every dependency before its dependents, ties in the file's order. */
export function dependencyOrder(nodes: readonly DepNode[]): string[] {
  const g = graphOf(nodes);
  const r = order(nodes, g);
  if (r.left.size > 0) throw new Error(`dependencyOrder: the services ${[...r.left].map((i) => nodes[i]!.service).join(', ')} are in a cycle`);
  return r.order.map((i) => nodes[i]!.service);
}

/** The order to stop them in: dependents first. */
export function stopOrder(nodes: readonly DepNode[]): string[] {
  return dependencyOrder(nodes).reverse();
}

/**
 * Each cycle once, as the services along it starting from the one first in the file, e.g. ["api", "worker"] for
 * api → worker → api; a service that depends on itself is a cycle of one.
 */
export function findCycles(nodes: readonly DepNode[]): string[][] {
  const g = graphOf(nodes);
  const { left } = order(nodes, g);
  const cycles: string[][] = [];
  const done = new Set<number>();
  for (const start of [...left].sort((a, b) => a - b)) {
    if (done.has(start)) continue;
    // Every service left has a dependency that is left too: follow the first one until a service repeats.
    const path: number[] = [];
    const at = new Map<number, number>();
    let cur = start;
    while (!at.has(cur) && !done.has(cur)) {
      at.set(cur, path.length);
      path.push(cur);
      cur = g.deps[cur]!.find((d) => left.has(d))!;
    }
    for (const p of path) done.add(p);
    if (!at.has(cur)) continue; // it led into a cycle named already: this one only depends on it
    const loop = path.slice(at.get(cur));
    // Start at the member first in the file, keeping the direction of the edges.
    const first = loop.indexOf(Math.min(...loop));
    cycles.push([...loop.slice(first), ...loop.slice(0, first)].map((i) => nodes[i]!.service));
  }
  return cycles;
}
