// Where one `niso run` spends its time: a wall-clock timeline from trace-niso.mjs's events, and
// V8 CPU-profile samples (node --cpu-prof) grouped by what niso was doing.
import { readFileSync } from 'node:fs';

export interface TraceEvent {
  ev: 'hook' | 'spawn' | 'spawned' | 'exit' | 'close' | 'cgroup' | 'process-exit';
  /** CLOCK_MONOTONIC, ms. */
  t: number;
  id?: number;
  cmd?: string;
  args?: string[];
  op?: string;
  path?: string;
  ms?: number;
  uptimeMs?: number;
  /** A spawn whose argv runs bwrap: the sandbox. */
  bwrap?: boolean;
}

export function readTrace(file: string): TraceEvent[] {
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as TraceEvent);
}

/** CLOCK_MONOTONIC in ms, the clock trace-niso.mjs writes. */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export interface Child { id: number; label: string; spawn: number; spawned: number; exit: number; close: number; sandbox: boolean }

function children(ev: TraceEvent[]): Child[] {
  const by = new Map<number, Child>();
  for (const e of ev) {
    if (e.id === undefined) continue;
    let c = by.get(e.id);
    if (e.ev === 'spawn') {
      const args = e.args ?? [];
      const sandbox = e.bwrap === true;
      const label = e.cmd === '/bin/sh' && (args[1] ?? '').includes('LD_TRACE') ? 'ld.so trace (sh)' : `${(e.cmd ?? '?').replace(/.*\//, '')} ${args[0] ?? ''}`.trim();
      c = { id: e.id, label, spawn: e.t, spawned: NaN, exit: NaN, close: NaN, sandbox };
      by.set(e.id, c);
    } else if (c) {
      if (e.ev === 'spawned') c.spawned = e.t;
      if (e.ev === 'exit') c.exit = e.t;
      if (e.ev === 'close') c.close = e.t;
    }
  }
  return [...by.values()];
}

export interface Phase { key: string; label: string; ms: number }

/**
 * Splits one run, from the parent's spawn (`start`) to the parent seeing the exit (`end`), into
 * consecutive phases that add up to the whole.
 */
export function wallPhases(ev: TraceEvent[], start: number, end: number): { phases: Phase[]; children: Child[] } {
  const hook = ev.find((e) => e.ev === 'hook');
  const exit = ev.find((e) => e.ev === 'process-exit');
  const kids = children(ev);
  const sandbox = kids.find((c) => c.sandbox);
  if (!hook || !exit || !sandbox) throw new Error(`incomplete trace (hook ${!!hook}, exit ${!!exit}, sandbox ${!!sandbox})`);
  const probes = kids.filter((c) => !c.sandbox && c.spawn < sandbox.spawn);
  const cg = ev.filter((e) => e.ev === 'cgroup');
  const cgBefore = cg.filter((e) => e.t < sandbox.spawn);
  const firstProbe = probes.length > 0 ? Math.min(...probes.map((c) => c.spawn)) : NaN;
  const lastProbe = probes.length > 0 ? Math.max(...probes.map((c) => c.close)) : NaN;
  const firstCg = cgBefore.length > 0 ? cgBefore[0]!.t : sandbox.spawn;
  const marks: [string, string, number][] = [
    ['start', '', start],
    ['boot', 'node start-up until niso\'s first module runs (bootstrap, preload)', hook.t],
  ];
  if (probes.length > 0) {
    marks.push(['cli', 'CLI: load modules, parse argv, find the package, read + validate manifest, runtime config', firstProbe]);
    marks.push(['discovery', `runtime discovery: ${probes.map((p) => p.label).join(', ')} (children, one after the other)`, lastProbe]);
    marks.push(['plan', 'uid allocation, plan, seccomp program, state dir (JS)', firstCg]);
  } else {
    marks.push(['cli', 'CLI, package, manifest, runtime, uid, plan, seccomp, state dir (JS)', firstCg]);
  }
  marks.push(['cgroup', 'cgroup sweep + create, render argv', sandbox.spawn]);
  marks.push(['fork', 'spawn() of the sandbox (fork+exec, blocks niso)', sandbox.spawned]);
  marks.push(['sandbox', 'sandbox: sh joins cgroups, setpriv, bwrap, node main.js, exit', sandbox.exit]);
  marks.push(['cleanup', 'after the exit: removeCgroup (polls cgroup.procs) and return', exit.t]);
  marks.push(['teardown', 'process teardown until the parent sees the exit', end]);
  const phases: Phase[] = [];
  for (let i = 1; i < marks.length; i++) phases.push({ key: marks[i]![0], label: marks[i]![1], ms: marks[i]![2] - marks[i - 1]![2] });
  return { phases, children: kids };
}

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

const NAMED: [RegExp, string][] = [
  [/^(resolveRuntime|findRuntimes|probeRuntime|completeRuntime|computeElfClosure|reportsFor|readRuntimeConfig|probeConfigured|walk|elfClosure|runLdd|traceWith|loaderSearchPath|ldconfigDirs|ask|candidatePaths|normalizeMounts|parseLddOutput)$/, 'runtime discovery (JS side)'],
  [/^(serviceUid|idsIn|claimFirst|withStoreLock)$/, 'uid allocation'],
  [/^(createCgroup|sweepCgroups|removeCgroup|cgroupPids|v2Available)$/, 'cgroups'],
  [/^buildSeccompFilter$/, 'seccomp program'],
  [/^(buildPlan|renderBwrap)$/, 'plan + render'],
  [/^(parseManifest|validateDocument|readToml|parseForESLint)$/, 'manifest: TOML parse + zod validation'],
  [/^(resolveOne|locate|listInstalled|readInstalled)$/, 'store lookup'],
];

export interface CpuBreakdown {
  totalMs: number;
  byCategory: Record<string, number>;
  topSelf: [string, number][];
  /** Start of the profile on CLOCK_MONOTONIC (ms). */
  startMono: number;
}

/** Groups samples by the innermost frame that says what niso was doing. */
export function cpuBreakdown(file: string): CpuBreakdown {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const classify = (id: number): string => {
    const hit = memo.get(id);
    if (hit !== undefined) return hit;
    let cat = 'other JS (niso, commander, node internals)';
    const leaf = byId.get(id)!.callFrame;
    if (leaf.functionName === '(idle)') cat = 'idle: waiting for children and I/O';
    else if (leaf.functionName === '(garbage collector)') cat = 'garbage collection';
    else if (leaf.functionName === '(program)') cat = 'V8/native, not attributed (program)';
    else {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const f = byId.get(cur)!.callFrame;
        if (f.url.startsWith('node:internal/modules') || /^(compileSourceTextModule|compileForInternalLoader)$/.test(f.functionName)) { cat = 'module loading: resolve, read, compile, evaluate'; break; }
        if (/child_process/.test(f.url) && /spawn/i.test(f.functionName)) { cat = 'child_process.spawn (synchronous fork+exec)'; break; }
        const named = NAMED.find(([re]) => re.test(f.functionName));
        if (named && f.url.startsWith('file:')) { cat = named[1]; break; }
      }
    }
    memo.set(id, cat);
    return cat;
  };
  const byCategory: Record<string, number> = {};
  const self = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const ms = (p.timeDeltas[i + 1] ?? 0) / 1000;
    const id = p.samples[i]!;
    const cat = classify(id);
    byCategory[cat] = (byCategory[cat] ?? 0) + ms;
    const f = byId.get(id)!.callFrame;
    const name = `${f.functionName || '(top level)'} ${f.url.replace(/^.*\//, '') || ''}`.trim();
    self.set(name, (self.get(name) ?? 0) + ms);
  }
  const topSelf = [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 12);
  return { totalMs: (p.endTime - p.startTime) / 1000, byCategory, topSelf, startMono: p.startTime / 1000 };
}
