// Measures services (issue 5): how soon the example node app (`niso init --template node`) answers
// its first HTTP 200 after `niso activate [--wait]` against `podman run -d -p`, where niso's time
// goes (traced runs of the CLI and the supervisor it starts), and what the supervisor costs while
// it supervises 1 and 20 services (RSS, PSS, CPU, processes) against podman's conmon per
// container. Writes bench/results/services.md (and the raw data to bench/.cache/services-last.json).
// Knobs: BENCH_RUNS (rounds, 15), BENCH_TRACE_RUNS (6), BENCH_PROFILE_RUNS (4), BENCH_SERVICES (20),
// BENCH_CONTAINERS (20), BENCH_SETTLE_S (10), BENCH_CPU_WINDOWS (3), BENCH_OBSERVE_S (180), BENCH_QUIET_MAX_S (8);
// BENCH_RENDER_ONLY=FILE renders the report again from saved raw data without measuring.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { hostArch } from '../src/host/arch.js';
import { hostNetFacts } from '../src/net/host/ip.js';
import { chooseSubnet } from '../src/net/model/subnet.js';
import { buildSeccompFilter, DEFAULT_DENY, type SeccompArch } from '../src/render/seccomp.js';
import { prepareDirs } from '../src/sandbox/run-sandbox.js';
import { appPid } from '../src/sandbox/procs.js';
import { cgroupOf } from '../src/service/running.js';
import { servicePaths } from '../src/service/store.js';
import { supervisorPid } from '../src/service/supervisor-record.js';
import { cmdline, descendants } from './lib/cpu.js';
import { intEnv } from './lib/env.js';
import { pollFirstOk, type FirstOk } from './lib/http-poll.js';
import { loadNow, machineFacts, writeReport, machineRows } from './lib/machine.js';
import { niso, nisoEnv, parseJson, type NisoCli, removeBenchNetworks, prepareBenchWork, removeBenchWork } from './lib/niso.js';
import { ensureImages, openPodman, podmanMissing, PODMAN_ULIMITS, type BenchImage, type Podman } from './lib/podman.js';
import { firstLine, run, cleanupOnInterrupt, freePort } from './lib/proc.js';
import { cgroupProcs, comm, fmtKb, procMem, procTimesMs, type ProcMem } from './lib/procfs.js';
import { waitQuiet, type QuietStats } from './lib/quiet.js';
import { cpuBreakdown, monoMs, type CpuBreakdown } from './lib/profile.js';
import { prepareReplay, revealEnv, type Replay, type RunJson } from './lib/replay.js';
import { parseManifest } from '../src/manifest/parse.js';
import { fmtMs, fmtRatio, fmtSummary, mdTable, summarize, type Summary } from './lib/stats.js';
import { bundleContents } from './lib/bundle.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const WARMUP = 2;
const ROUNDS = intEnv('BENCH_RUNS', 15);
const TRACE_RUNS = intEnv('BENCH_TRACE_RUNS', 6);
const PROFILE_RUNS = intEnv('BENCH_PROFILE_RUNS', 4);
const SERVICES = intEnv('BENCH_SERVICES', 20);
const CONTAINERS = intEnv('BENCH_CONTAINERS', 20);
const SETTLE_MS = intEnv('BENCH_SETTLE_S', 10) * 1000;
const CPU_WINDOW_MS = 10_000;
/** Windows of CPU_WINDOW_MS with 20 services: 3 cover the default 30 s health interval once. */
const CPU_WINDOWS = intEnv('BENCH_CPU_WINDOWS', 3);
/** After the windows, how much longer to watch the supervisor with all services (its heap keeps growing for a while). */
const OBSERVE_MS = intEnv('BENCH_OBSERVE_S', 180) * 1000;
const TMPFS = process.env.BENCH_TMPFS ?? '/dev/shm';
const CACHE = join(repo, 'bench/.cache');
const RESULT = join(repo, 'bench/results/services.md');
/** Everything the report is made from, so that it can be rendered again without measuring (BENCH_RENDER_ONLY=FILE). */
const RAW = join(CACHE, 'services-last.json');
/** How NaN and Infinity survive the JSON of the raw data. */
const NUM = '__number:';
const HOOK = join(repo, 'bench/lib/trace-niso.mjs');
const MODULES_HOOK = join(repo, 'bench/lib/list-modules.mjs');
/** A sample starts once the machine was at most this busy for 250 ms (others share it), or after QUIET_MAX_MS. */
const QUIET = 0.25;
const QUIET_MAX_MS = intEnv('BENCH_QUIET_MAX_S', 8) * 1000;
const POLL = { gapMs: 1, stallMs: 25, maxInFlight: 8, timeoutMs: 30_000, path: '/' };
const AIM = 2.5;
/** The issue's budget for the supervisor with 20 services: 60 MB (10^6 bytes) of RSS, in the KiB /proc reports. */
const BUDGET_KIB = 60e6 / 1024;

const APP = 'app';
const SVC = 'bench-svc';
const KEEP = 'bench-keep';
const IMAGE = 'localhost/niso-bench-svc:latest';

const log = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** CLOCK_MONOTONIC (the trace's clock) minus performance.now(); both are monotonic, so this is fixed. */
const MONO_OFFSET = monoMs() - performance.now();
/** Date.now() minus CLOCK_MONOTONIC, to place wall-clock timestamps niso writes on the trace's clock. */
const wallToMono = (wallMs: number) => wallMs - (Date.now() - monoMs());


interface Sample {
  /** ms from spawning the command to the first 200 seen by the bench; null when not reachable from here. */
  firstOk: number | null;
  /** ms from spawning the command to its exit (for podman: `podman run -d` returning). */
  ret: number | null;
  attempts: number;
  stalled: number;
  /** performance.now() at the spawn, and when the first 200 came / the command exited. */
  t0: number;
  okAt: number | null;
  exitAt: number | null;
  /** Whether the machine was quiet just before (waitQuiet did not give up). */
  quiet?: boolean;
}

interface Launched { child: ChildProcess; t0: number; exited: Promise<{ code: number | null; signal: string | null; at: number }>; output: () => string }

function launch(cmd: string, args: string[], env: NodeJS.ProcessEnv, extra: { cwd?: string; stdio?: ('ignore' | 'pipe' | number)[]; detached?: boolean } = {}): Launched {
  const t0 = performance.now();
  const child = spawn(cmd, args, { env, cwd: extra.cwd, stdio: extra.stdio ?? ['ignore', 'pipe', 'pipe'], detached: extra.detached });
  let out = '';
  const keep = (d: Buffer) => { out = (out + d.toString()).slice(-8000); };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((res) => {
    child.on('exit', (code, signal) => res({ code, signal, at: performance.now() }));
    child.on('error', (e) => { out += String(e); res({ code: 127, signal: null, at: performance.now() }); });
  });
  return { child, t0, exited, output: () => out };
}

/** Spawns a command that starts a server and returns (or keeps running), polling `port` from the spawn on. */
async function startAndPoll(cmd: string, args: string[], env: NodeJS.ProcessEnv, port: number | null, waitExit: boolean, extra: Parameters<typeof launch>[3] = {}): Promise<{ sample: Sample; l: Launched }> {
  const l = launch(cmd, args, env, extra);
  const poll = port === null ? null : pollFirstOk(port, POLL);
  let exit: { code: number | null; signal: string | null; at: number } | null = null;
  if (waitExit) {
    exit = await l.exited;
    if (exit.code !== 0) {
      poll?.cancel('the command failed');
      await poll?.done.catch(() => undefined);
      throw new Error(`${cmd} ${args.join(' ')} failed (${exit.code ?? exit.signal}):\n${l.output()}`);
    }
  }
  let ok: FirstOk | null = null;
  if (poll) {
    const died = l.exited.then((e) => { if (!waitExit && e.code !== null) poll.cancel(`${cmd} exited (${e.code}) before answering:\n${l.output()}`); });
    ok = await poll.done;
    void died;
  }
  return {
    l,
    sample: { firstOk: ok ? ok.atMs - l.t0 : null, ret: exit ? exit.at - l.t0 : null, attempts: ok?.attempts ?? 0, stalled: ok?.stalled ?? 0, t0: l.t0, okAt: ok?.atMs ?? null, exitAt: exit?.at ?? null },
  };
}

interface Variant {
  key: string;
  group: 'niso' | 'podman' | 'reference' | 'pieces';
  label: string;
  command: string;
  /** Whether a supervisor runs when the command starts (warm), does not (cold), or it does not matter. */
  supervisor: 'warm' | 'cold' | 'any';
  run: () => Promise<Sample>;
  teardown?: () => Promise<void>;
}

interface Ctx {
  cli: NisoCli;
  env: NodeJS.ProcessEnv;
  root: string;
  work: string;
  appDir: string;
  pod: Podman | null;
  podNet: string | null;
  keeperUp: boolean;
  keeperEnv: NodeJS.ProcessEnv;
  services: Set<string>;
  containers: Set<string>;
}

async function supervisorWarm(c: Ctx, env: NodeJS.ProcessEnv = c.env): Promise<void> {
  const same = c.keeperUp && (c.keeperEnv.NISO_BENCH_TRACE ?? '') === (env.NISO_BENCH_TRACE ?? '');
  if (!same) {
    // A supervisor that is still running (its last service stopped less than ~2 s ago) would be
    // reused, with the environment it was started with: wait until it is gone.
    await supervisorGone(c);
    c.services.add(KEEP);
    niso(c.cli, ['activate', APP, '--name', KEEP, '--network', 'none', '--wait'], { env });
    c.keeperUp = true;
    c.keeperEnv = env;
  }
  if (await supervisorPid(c.root) === null) throw new Error('the keeper service is active but no supervisor runs');
}

async function supervisorGone(c: Ctx): Promise<void> {
  if (c.keeperUp) {
    niso(c.cli, ['deactivate', KEEP], { env: c.env });
    c.keeperUp = false;
  }
  const t = Date.now();
  while (await supervisorPid(c.root) !== null) {
    if (Date.now() - t > 30_000) throw new Error('the supervisor did not exit within 30 s of the last service stopping');
    await sleep(25);
  }
}

/** Runs every variant once per round in a rotating order, each after its setup and a quiet moment; drops warm-ups. */
async function interleaved(c: Ctx, variants: Variant[], quiet: QuietStats): Promise<Record<string, Sample[]>> {
  const samples: Record<string, Sample[]> = Object.fromEntries(variants.map((v) => [v.key, []]));
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(i + k) % variants.length]!;
      if (v.supervisor === 'warm') await supervisorWarm(c);
      else if (v.supervisor === 'cold') await supervisorGone(c);
      else if (v.group !== 'pieces') await supervisorGone(c); // peers run with niso idle
      const calm = await waitQuiet(QUIET, QUIET_MAX_MS, quiet);
      let s: Sample;
      try {
        s = { ...(await v.run()), quiet: calm };
      } finally {
        await v.teardown?.();
      }
      if (i >= WARMUP) samples[v.key]!.push(s);
    }
    const last = (k: string) => { const s = samples[k]?.at(-1); return s ? fmtMs(s.firstOk ?? s.ret ?? NaN) : '-'; };
    log(`  round ${i + 1}/${WARMUP + ROUNDS}${i < WARMUP ? ' (warm-up)' : ''}: ${variants.filter((v) => v.group !== 'pieces').map((v) => `${v.key} ${last(v.key)}`).join(', ')}`);
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------
// Traced runs: where one `niso activate --wait` spends its time.

interface Ev { ev: string; t: number; pid: number; id?: number; cmd?: string; args?: string[]; op?: string; path?: string; ms?: number; uptimeMs?: number }
interface Kid { pid: number; id: number; cmd: string; args: string[]; label: string; spawn: number; spawned: number; close: number }

function readEvents(file: string): Ev[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return []; }
  return text.split('\n').filter(Boolean).flatMap((l) => { try { return [JSON.parse(l) as Ev]; } catch { return []; } });
}

function kidsOf(events: Ev[]): Kid[] {
  const by = new Map<string, Kid>();
  for (const e of events) {
    if (e.id === undefined) continue;
    const key = `${e.pid}:${e.id}`;
    if (e.ev === 'spawn') {
      const args = e.args ?? [];
      const cmd = (e.cmd ?? '?').replace(/.*\//, '');
      let label = `${cmd} ${args[0] ?? ''}`.trim();
      if (cmd === 'sh' && (args[1] ?? '').startsWith('n=$1')) label = 'sandbox: sh (cgroup join) → setpriv → bwrap';
      else if (args[1] === '__supervise') label = 'supervisor (node bin/niso __supervise)';
      else if (cmd === 'nsenter') label = `health probe: nsenter ${args[2] ?? ''}`.trim();
      else if (cmd === 'nft') label = `nft ${args.slice(0, 3).join(' ')}`.trim();
      else if (cmd === 'flock') label = 'flock(1) holding a lock (run = how long it was held)';
      else if (cmd === 'ip') label = `ip ${args.map((a) => (a.startsWith('niso-') ? 'NETNS' : a)).join(' ')}`.trim();
      by.set(key, { pid: e.pid, id: e.id, cmd, args, label, spawn: e.t, spawned: NaN, close: NaN });
    } else {
      const k = by.get(key);
      if (!k) continue;
      if (e.ev === 'spawned') k.spawned = e.t;
      if (e.ev === 'close') k.close = e.t;
    }
  }
  return [...by.values()];
}

interface TraceRun {
  phases: Record<string, number>;
  cliKids: Kid[];
  probes: { spawn: number; close: number; ok: boolean }[];
  supStart: { spawnToHook: number; hookToTick: number; startedToFirstTick: number } | null;
  startedToFirstProbe: number;
  failedProbes: number;
  bootUptime: number;
}

interface HealthLog { log: { at: string; ok: boolean; durationMs: number }[] }
interface StateJson { startedAt: string; initPid: number | null; pid: number | null }

/** One traced `niso activate` (the CLI's and the supervisor's events in trace files), cut into consecutive phases. */
async function tracedRun(c: Ctx, mode: 'warm' | 'cold', network: 'private' | 'none', port: number): Promise<TraceRun> {
  const dir = join(c.work, 'trace');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `run-${mode}-${network}-${Date.now()}.jsonl`);
  const supFile = join(dir, 'supervisor-warm.jsonl');
  if (mode === 'warm') await supervisorWarm(c, { ...c.env, NODE_OPTIONS: `--import=${HOOK}`, NISO_BENCH_TRACE: supFile });
  else await supervisorGone(c);
  await waitQuiet(QUIET, QUIET_MAX_MS, { waits: 0, waitedMs: 0, gaveUp: 0 });
  const env = { ...c.env, NODE_OPTIONS: `--import=${HOOK}`, NISO_BENCH_TRACE: file };
  const netArgs = network === 'private' ? ['-p', `127.0.0.1:${port}:3000`] : ['--network', 'none'];
  c.services.add(SVC);
  const { sample, l } = await startAndPoll(c.cli.cmd, [...c.cli.prefix, 'activate', APP, '--name', SVC, ...netArgs, '--wait'], env, network === 'private' ? port : null, true);
  const paths = servicePaths(c.root, SVC);
  const state = JSON.parse(readFileSync(paths.state, 'utf8')) as StateJson;
  const health = JSON.parse(readFileSync(paths.health, 'utf8')) as HealthLog;
  const statusMono = wallToMono(statSync(paths.status).mtimeMs);
  const app = state.initPid === null ? null : appPid(state.initPid);
  niso(c.cli, ['deactivate', SVC], { env: c.env });

  const cliPid = l.child.pid!;
  const cliEv = readEvents(file).filter((e) => e.pid === cliPid);
  let supEv: Ev[];
  let supPid: number | null;
  if (mode === 'warm') {
    const all = readEvents(supFile);
    supPid = (await supervisorPid(c.root));
    supEv = all.filter((e) => e.pid === supPid);
  } else {
    const all = readEvents(file);
    supPid = all.find((e) => e.ev === 'hook' && e.pid !== cliPid)?.pid ?? null;
    supEv = all.filter((e) => e.pid === supPid);
  }
  const spawnMono = sample.t0 + MONO_OFFSET;
  const exitMono = sample.exitAt! + MONO_OFFSET;
  const okMono = sample.okAt === null ? null : sample.okAt + MONO_OFFSET;
  const startedMono = wallToMono(Date.parse(state.startedAt));
  const cliKids = kidsOf(cliEv);
  const hook = cliEv.find((e) => e.ev === 'hook');
  const sandbox = cliKids.find((k) => k.label.startsWith('sandbox'));
  if (!hook || !sandbox) throw new Error(`incomplete trace in ${file} (hook ${!!hook}, sandbox ${!!sandbox})`);
  const netKids = cliKids.filter((k) => ['ss', 'ip', 'nft'].includes(k.cmd) && k.spawn < sandbox.spawn);
  const netStart = netKids.length > 0 ? Math.min(...netKids.map((k) => k.spawn)) : NaN;
  const netEnd = netKids.length > 0 ? Math.max(...netKids.map((k) => k.close)) : NaN;
  const probeKids = kidsOf(supEv).filter((k) => k.cmd === 'nsenter' && app !== null && (k.args[0] ?? '') === `--net=/proc/${app}/ns/net` && k.spawn >= sandbox.spawn && k.spawn <= exitMono);
  const since = health.log.filter((h) => wallToMono(Date.parse(h.at)) >= startedMono - 1);
  const probes = probeKids.map((k, i) => ({ spawn: k.spawn, close: k.close, ok: since[since.length - probeKids.length + i]?.ok ?? false }));
  const okProbe = probes.find((p) => p.ok);
  const phases: Record<string, number> = {};
  phases.boot = hook.t - spawnMono;
  if (network === 'private') {
    phases.cli = netStart - hook.t;
    phases.net = netEnd - netStart;
    phases.prep = sandbox.spawn - netEnd;
  } else {
    phases.cli = sandbox.spawn - hook.t;
  }
  phases.sandbox = statusMono - sandbox.spawn;
  phases.record = startedMono - statusMono;
  if (okMono !== null) {
    phases.app = okMono - startedMono;
    phases.detect = (okProbe ? okProbe.close : NaN) - okMono;
  } else {
    phases.appDetect = (okProbe ? okProbe.close : NaN) - startedMono;
  }
  phases.notice = exitMono - (okProbe ? okProbe.close : NaN);
  phases.total = exitMono - spawnMono;
  if (okMono !== null) phases.first200 = okMono - spawnMono;

  let supStart: TraceRun['supStart'] = null;
  if (mode === 'cold') {
    const supKid = cliKids.find((k) => k.label.startsWith('supervisor'));
    const supHook = supEv.find((e) => e.ev === 'hook');
    const firstTick = supEv.find((e) => e.ev === 'cgroup' && (e.path ?? '').endsWith('cgroup.procs'));
    if (supKid && supHook && firstTick) supStart = { spawnToHook: supHook.t - supKid.spawn, hookToTick: firstTick.t - supHook.t, startedToFirstTick: firstTick.t - startedMono };
  }
  return {
    phases, cliKids, probes, supStart,
    startedToFirstProbe: probes.length > 0 ? probes[0]!.spawn - startedMono : NaN,
    failedProbes: probes.filter((p) => !p.ok).length,
    bootUptime: hook.uptimeMs ?? NaN,
  };
}

// ---------------------------------------------------------------------------------------------
// Memory, processes and CPU of supervision.

interface ProcRow { pid: number; comm: string; role: string; mem: ProcMem }

function serviceProcRows(c: Ctx, name: string): ProcRow[] {
  const pids = cgroupProcs(cgroupOf(c.root, name).procsFiles[0]!);
  return pids.map((pid) => {
    const cm = comm(pid);
    const argv = cmdline(pid);
    const role = cm === 'bwrap' ? (pids.includes(Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])) ? 'bwrap (sandbox init, pid 1 inside)' : 'bwrap (outside, waits for the sandbox)') : `app: ${argv.join(' ')}`;
    return { pid, comm: cm, role, mem: procMem(pid) };
  });
}

interface CpuWindow { ms: number; selfMs: number; childrenMs: number; rssKb: number[] }

async function cpuWindow(pid: number, ms: number): Promise<CpuWindow> {
  const a = procTimesMs(pid);
  const t0 = performance.now();
  const rssKb: number[] = [];
  while (performance.now() - t0 < ms) {
    await sleep(Math.min(1000, ms - (performance.now() - t0)));
    rssKb.push(procMem(pid).rssKb);
  }
  const b = procTimesMs(pid);
  return { ms: performance.now() - t0, selfMs: b.selfMs - a.selfMs, childrenMs: b.childrenMs - a.childrenMs, rssKb };
}

interface SupMem { services: number; mem: ProcMem; memAfterWindows: ProcMem; windows: CpuWindow[]; long: CpuWindow | null; descendantsIdle: number; perService: ProcRow[][]; activateMs: number[] }

async function nisoMemory(c: Ctx): Promise<{ one: SupMem; many: SupMem; supPid: number }> {
  await supervisorGone(c);
  const names = Array.from({ length: SERVICES }, (_, i) => `bench-mem-${String(i + 1).padStart(2, '0')}`);
  const activate = (n: string) => { c.services.add(n); return niso(c.cli, ['activate', APP, '--name', n, '--network', 'none', '--wait'], { env: c.env }).ms; };
  const measure = async (count: number, windows: number, observeMs: number, activateMs: number[]): Promise<SupMem> => {
    log(`  ${count} service(s) active; settling ${SETTLE_MS / 1000} s, then ${windows} × ${CPU_WINDOW_MS / 1000} s of CPU, then ${observeMs / 1000} s more`);
    await sleep(SETTLE_MS);
    const pid = await supervisorPid(c.root);
    if (pid === null) throw new Error('no supervisor');
    const ws: CpuWindow[] = [];
    for (let i = 0; i < windows; i++) ws.push(await cpuWindow(pid, CPU_WINDOW_MS));
    const memAfterWindows = procMem(pid);
    const long = observeMs > 0 ? await cpuWindow(pid, observeMs) : null;
    return { services: count, mem: procMem(pid), memAfterWindows, windows: ws, long, descendantsIdle: descendants(pid).length, perService: names.slice(0, count).map((n) => serviceProcRows(c, n)), activateMs };
  };
  const first = activate(names[0]!);
  const one = await measure(1, 1, Math.min(60_000, OBSERVE_MS), [first]);
  const rest = names.slice(1).map(activate);
  const many = await measure(SERVICES, CPU_WINDOWS, OBSERVE_MS, rest);
  const supPid = (await supervisorPid(c.root))!;
  niso(c.cli, ['deactivate', ...names], { env: c.env, timeoutMs: 120_000 });
  for (const n of names) c.services.delete(n);
  return { one, many, supPid };
}

interface PodMem { containers: number; conmon: ProcMem[]; perContainer: ProcRow[][]; conmonCpu: CpuWindow[] | null; startMs: Summary }

async function podmanMemory(c: Ctx, pod: Podman): Promise<{ one: PodMem; many: PodMem }> {
  await supervisorGone(c);
  const names = Array.from({ length: CONTAINERS }, (_, i) => `niso-bench-svc-mem-${process.pid}-${i + 1}`);
  const runOne = (n: string) => {
    c.containers.add(n);
    return pod.run(['run', '-d', '--name', n, '--network', 'none', '-e', 'PORT=3000', '-e', 'NODE_ENV=production', ...PODMAN_ULIMITS, IMAGE, 'node', '/app/server.js']).ms;
  };
  const measure = async (count: number, startMs: number[]): Promise<PodMem> => {
    log(`  ${count} container(s) running; settling ${SETTLE_MS / 1000} s`);
    await sleep(SETTLE_MS);
    const rows: ProcRow[][] = [];
    const conmon: ProcMem[] = [];
    const conmonPids: number[] = [];
    for (const n of names.slice(0, count)) {
      const [cp] = pod.run(['inspect', '--format', '{{.State.ConmonPid}}', n]).stdout.trim().split(/\s+/).map(Number);
      conmonPids.push(cp!);
      conmon.push(procMem(cp!));
      rows.push([cp!, ...descendants(cp!)].map((pid) => ({ pid, comm: comm(pid), role: pid === cp ? 'conmon' : `container: ${cmdline(pid).join(' ')}`, mem: procMem(pid) })));
    }
    let conmonCpu: CpuWindow[] | null = null;
    if (count > 1) {
      // All conmons together over one window, as one number per window.
      const before = conmonPids.map((p) => procTimesMs(p));
      const t0 = performance.now();
      await sleep(CPU_WINDOW_MS);
      const after = conmonPids.map((p) => procTimesMs(p));
      conmonCpu = [{ ms: performance.now() - t0, selfMs: after.reduce((a, x, i) => a + x.selfMs - before[i]!.selfMs, 0), childrenMs: after.reduce((a, x, i) => a + x.childrenMs - before[i]!.childrenMs, 0), rssKb: [] }];
    }
    return { containers: count, conmon, perContainer: rows, conmonCpu, startMs: summarize(startMs) };
  };
  const one = await measure(1, [runOne(names[0]!)]);
  const many = await measure(CONTAINERS, names.slice(1).map(runOne));
  for (const n of names) { try { pod.run(['rm', '-f', '-t', '0', n], { timeoutMs: 120_000 }); } catch { /* gone */ } c.containers.delete(n); }
  return { one, many };
}

/** Processes and host listeners around one service with a mapped port, and one podman container with -p. */
async function portCensus(c: Ctx, port: number, podPort: number): Promise<{ niso: ProcRow[]; nisoListeners: string; supDesc: number; pod: ProcRow[] | null; podListeners: string | null }> {
  await supervisorWarm(c);
  c.services.add(SVC);
  niso(c.cli, ['activate', APP, '--name', SVC, '-p', `127.0.0.1:${port}:3000`, '--wait'], { env: c.env });
  await sleep(1000);
  const rows = serviceProcRows(c, SVC);
  const listeners = (p: number) => run('ss', ['-H', '-l', '-n', '-p', '-t', `sport = :${p}`]).stdout.trim();
  const nisoListeners = listeners(port);
  const sup = await supervisorPid(c.root);
  const supDesc = sup === null ? -1 : descendants(sup).length;
  niso(c.cli, ['deactivate', SVC], { env: c.env });
  let pod: ProcRow[] | null = null;
  let podListeners: string | null = null;
  if (c.pod && c.podNet) {
    const name = `niso-bench-svc-census-${process.pid}`;
    c.containers.add(name);
    c.pod.run(['run', '-d', '--name', name, '--network', c.podNet, '-p', `127.0.0.1:${podPort}:3000`, '-e', 'PORT=3000', '-e', 'NODE_ENV=production', ...PODMAN_ULIMITS, IMAGE, 'node', '/app/server.js']);
    await sleep(1000);
    const cp = Number(c.pod.run(['inspect', '--format', '{{.State.ConmonPid}}', name]).stdout.trim());
    pod = [cp, ...descendants(cp)].map((pid) => ({ pid, comm: comm(pid), role: pid === cp ? 'conmon' : `container: ${cmdline(pid).join(' ')}`, mem: procMem(pid) }));
    podListeners = listeners(podPort);
    try { c.pod.run(['rm', '-f', '-t', '0', name]); } catch { /* gone */ }
    c.containers.delete(name);
  }
  return { niso: rows, nisoListeners, supDesc, pod, podListeners };
}

interface Mod { file: string; bytes: number; contents: string }


/** The modules `niso activate` and the supervisor it starts load: one untimed cold run with an ESM load hook. */
async function moduleLists(c: Ctx, port: number): Promise<{ cli: Mod[]; sup: Mod[] }> {
  await supervisorGone(c);
  const file = join(c.work, 'modules.jsonl');
  const env = { ...c.env, NODE_OPTIONS: `--import=${MODULES_HOOK}`, NISO_BENCH_MODULES: file };
  c.services.add(SVC);
  const l = launch(c.cli.cmd, [...c.cli.prefix, 'activate', APP, '--name', SVC, '-p', `127.0.0.1:${port}:3000`, '--wait'], env);
  const e = await l.exited;
  if (e.code !== 0) throw new Error(`niso activate with the module hook failed (${e.code}):\n${l.output()}`);
  await sleep(3000); // the supervisor ticks, probes and moves logs meanwhile
  niso(c.cli, ['deactivate', SVC], { env: c.env });
  await supervisorGone(c);
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((x) => JSON.parse(x) as { url: string; bytes: number; pid: number });
  const mods = (pick: (pid: number) => boolean) => lines.filter((x) => pick(x.pid)).map((x) => {
    const path = fileURLToPath(x.url);
    return { file: path.replace(/^.*\/(dist|bin)\//, '$1/'), bytes: x.bytes, contents: bundleContents(path) };
  });
  return { cli: mods((pid) => pid === l.child.pid), sup: mods((pid) => pid !== l.child.pid) };
}

/** CPU profiles (node --cpu-prof) of the CLI in cold `niso activate -p … --wait` runs: what its main thread did. */
async function cliProfiles(c: Ctx, port: number): Promise<CpuBreakdown[]> {
  const out: CpuBreakdown[] = [];
  for (let i = 0; i < PROFILE_RUNS; i++) {
    await supervisorGone(c);
    await waitQuiet(QUIET, QUIET_MAX_MS, { waits: 0, waitedMs: 0, gaveUp: 0 });
    const dir = join(c.work, `cpuprof-${i}`);
    c.services.add(SVC);
    const l = launch(c.cli.cmd, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250', ...c.cli.prefix, 'activate', APP, '--name', SVC, '-p', `127.0.0.1:${port}:3000`, '--wait'], c.env);
    const e = await l.exited;
    niso(c.cli, ['deactivate', SVC], { env: c.env });
    if (e.code !== 0) throw new Error(`niso activate --cpu-prof failed (${e.code}):\n${l.output()}`);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${dir}`);
    out.push(cpuBreakdown(join(dir, file)));
  }
  return out;
}

/** A node process that does nothing, as the floor under any node-based supervisor. */
async function idleNodeMem(): Promise<ProcMem> {
  const l = launch(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { PATH: process.env.PATH ?? '/usr/bin:/bin' });
  await sleep(3000);
  const m = procMem(l.child.pid!);
  l.child.kill('SIGKILL');
  await l.exited;
  return m;
}

// ---------------------------------------------------------------------------------------------


async function main(): Promise<void> {
  const rerender = process.env.BENCH_RENDER_ONLY;
  if (rerender) {
    writeReport(RESULT, render(JSON.parse(readFileSync(rerender, 'utf8'), (_k, v: unknown) => (typeof v === 'string' && v.startsWith(NUM) ? Number(v.slice(NUM.length)) : v)) as RenderInput));
    log(`rendered ${RESULT} again from ${rerender}`);
    return;
  }
  const started = performance.now();
  const work = join(TMPFS, `niso-bench-svc-${process.pid}`);
  const root = join(work, 'root');
  const env = nisoEnv({ NISO_ROOT: root });
  // niso's CLI and supervisor are node processes: the CA bundle these machines set would add
  // ~70 ms to each start (bench/results/run-start.md). The apps never see it (clean environments).
  const caSet = !!process.env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  const c: Ctx = { cli: null as unknown as NisoCli, env, root, work, appDir: join(work, APP), pod: null, podNet: null, keeperUp: false, keeperEnv: env, services: new Set(), containers: new Set() };
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    if (c.cli) {
      const names = [...c.services];
      if (names.length > 0) { try { niso(c.cli, ['deactivate', ...names], { env, timeoutMs: 120_000 }); } catch (e) { log(`deactivating ${names.join(' ')}: ${String(e).slice(0, 300)}`); } }
      removeBenchNetworks(c.cli, env, log);
      const t = Date.now();
      while (await supervisorPid(root) !== null && Date.now() - t < 15_000) await sleep(100);
    }
    if (c.pod) {
      for (const n of c.containers) { try { c.pod.run(['rm', '-f', '-t', '0', n]); } catch { /* gone */ } }
      if (c.podNet) { try { c.pod.run(['network', 'rm', '-f', c.podNet]); } catch { /* gone */ } }
      c.pod.close();
    }
    await removeBenchWork(work);
  };
  const offInterrupt = cleanupOnInterrupt(cleanup, log);
  try {
    c.cli = prepareBenchWork(repo, work, log);
    const facts = machineFacts(repo);

    mkdirSync(c.appDir);
    niso(c.cli, ['init', '--template', 'node'], { env, cwd: c.appDir });
    // The template maps 127.0.0.1:3000; the bench maps free ports with -p instead, so that a
    // process on the host's port 3000 (other sessions share this machine) cannot interfere.
    const manifestPath = join(c.appDir, 'manifest.toml');
    const manifest = readFileSync(manifestPath, 'utf8');
    if (!/^ports = \[.*\]/m.test(manifest)) throw new Error('the node template has no ports line to replace');
    writeFileSync(manifestPath, manifest.replace(/^ports = \[.*\].*$/m, 'ports = []'));
    const serverJs = readFileSync(join(c.appDir, 'server.js'), 'utf8');
    const healthLine = /^\[healthcheck\][\s\S]*?^http = .*$/m.exec(manifest)?.[0].replace(/\n/g, ' ') ?? '?';
    const pkgFile = join(work, `${APP}.niso`);
    parseJson(niso(c.cli, ['pack', c.appDir, '-o', pkgFile, '--json'], { env }), 'niso pack');
    parseJson(niso(c.cli, ['install', pkgFile, '--json'], { env }), 'niso install');

    let podWhy = podmanMissing();
    let image: BenchImage | null = null;
    if (podWhy === null) {
      try {
        c.pod = openPodman(CACHE);
        image = ensureImages(c.pod, CACHE, IMAGE, { 'server.js': serverJs }, log);
        const sub = chooseSubnet(await hostNetFacts(), [], ['10.205.0.0/16', '10.206.0.0/16'], 24).subnet;
        c.podNet = `niso-bench-svc-${process.pid}`;
        c.pod.run(['network', 'create', '--subnet', sub, c.podNet]);
      } catch (e) {
        podWhy = `preparing podman failed: ${(e as Error).message.slice(0, 800)}`;
        image = null;
      }
    }

    const ports = { host: await freePort(), bwrap: await freePort(), niso: await freePort(), podman: await freePort(), census: await freePort(), podCensus: await freePort() };

    // The sandbox alone: niso's own setpriv + bwrap argv for this app (host network, so the bench can reach it).
    const known = { ...parseManifest(readFileSync(join(c.appDir, 'manifest.toml'), 'utf8')).manifest!.env, PORT: String(ports.bwrap) };
    const rj = revealEnv(parseJson<RunJson>(niso(c.cli, ['run', '--json', '--network', 'host', '--name', 'bench-bwrap', '--env', `PORT=${ports.bwrap}`, APP], { env }), 'niso run --json'), known);
    await prepareDirs(rj.plan);
    const seccomp = rj.plan.seccomp ? buildSeccompFilter({ arch: hostArch() as SeccompArch, deny: DEFAULT_DENY, allow: rj.plan.seccomp.allow ?? [] }) : null;
    const fdDir = join(work, 'fds');
    mkdirSync(fdDir);
    const replay: Replay = prepareReplay(rj, fdDir, seccomp?.program ?? null, 'svc');

    const nisoCmd = (args: string[]): [string, string[]] => [c.cli.cmd, [...c.cli.prefix, ...args]];
    const activateRun = (args: string[], port: number | null, wait: boolean) => async (): Promise<Sample> => {
      c.services.add(SVC);
      const [cmd, a] = nisoCmd(['activate', APP, '--name', SVC, ...args, ...(wait ? ['--wait'] : [])]);
      return (await startAndPoll(cmd, a, env, port, true)).sample;
    };
    const deactivateSvc = async () => { niso(c.cli, ['deactivate', SVC], { env }); };
    const pArgs = ['-p', `127.0.0.1:${ports.niso}:3000`];
    const variants: Variant[] = [
      {
        key: 'host', group: 'reference', label: 'node server.js on the host (clean environment), no sandbox', command: 'node server.js', supervisor: 'any',
        run: async () => {
          const r = await startAndPoll(process.execPath, ['server.js'], { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production', PORT: String(ports.host) }, ports.host, false, { cwd: c.appDir });
          r.l.child.kill('SIGKILL');
          await r.l.exited;
          return r.sample;
        },
      },
      {
        key: 'bwrap', group: 'reference', label: "niso's setpriv + bwrap argv for this app replayed by the bench (host network, seccomp, no cgroup, no niso)", command: 'setpriv … bwrap … /usr/bin/node server.js', supervisor: 'any',
        run: async () => {
          const open = replay.fds.map((f) => (f === null ? null : openSync(f.path, f.flags)));
          let r: Awaited<ReturnType<typeof startAndPoll>>;
          try {
            r = await startAndPoll(replay.argv[0]!, replay.argv.slice(1), { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, ports.bwrap, false, { stdio: ['ignore', 'ignore', 'ignore', ...open.map((fd) => fd ?? 'ignore')] as ('ignore' | number)[] });
          } finally {
            for (const fd of open) if (fd !== null) closeSync(fd);
          }
          r.l.child.kill('SIGKILL'); // --die-with-parent takes the sandbox with it
          await r.l.exited;
          return r.sample;
        },
      },
      { key: 'waitCold', group: 'niso', label: 'private network, -p, --wait; no supervisor running before', command: `niso activate ${APP} --name ${SVC} -p 127.0.0.1:PORT:3000 --wait`, supervisor: 'cold', run: activateRun(pArgs, ports.niso, true), teardown: deactivateSvc },
      { key: 'waitWarm', group: 'niso', label: 'private network, -p, --wait; supervisor already running (another service active)', command: `niso activate ${APP} --name ${SVC} -p 127.0.0.1:PORT:3000 --wait`, supervisor: 'warm', run: activateRun(pArgs, ports.niso, true), teardown: deactivateSvc },
      // `activate` is a SafeSwitch (issue 14): --wait returns after the settle window (5 s by default) unless told otherwise.
      { key: 'waitColdNoSettle', group: 'niso', label: 'private network, -p, --wait --settle 0s (SafeSwitch without its settle window); no supervisor before', command: `niso activate ${APP} --name ${SVC} -p 127.0.0.1:PORT:3000 --wait --settle 0s`, supervisor: 'cold', run: activateRun([...pArgs, '--settle', '0s'], ports.niso, true), teardown: deactivateSvc },
      { key: 'waitWarmNoSettle', group: 'niso', label: 'private network, -p, --wait --settle 0s; supervisor already running', command: `niso activate ${APP} --name ${SVC} -p 127.0.0.1:PORT:3000 --wait --settle 0s`, supervisor: 'warm', run: activateRun([...pArgs, '--settle', '0s'], ports.niso, true), teardown: deactivateSvc },
      { key: 'noWaitCold', group: 'niso', label: 'private network, -p, without --wait; no supervisor before', command: `niso activate ${APP} --name ${SVC} -p 127.0.0.1:PORT:3000`, supervisor: 'cold', run: activateRun(pArgs, ports.niso, false), teardown: deactivateSvc },
      { key: 'noWaitWarm', group: 'niso', label: 'private network, -p, without --wait; supervisor already running', command: `niso activate ${APP} --name ${SVC} -p 127.0.0.1:PORT:3000`, supervisor: 'warm', run: activateRun(pArgs, ports.niso, false), teardown: deactivateSvc },
      { key: 'noneCold', group: 'niso', label: '--network none, --wait (the app is not reachable from the bench: until --wait returns); no supervisor before', command: `niso activate ${APP} --name ${SVC} --network none --wait`, supervisor: 'cold', run: activateRun(['--network', 'none'], null, true), teardown: deactivateSvc },
      { key: 'noneWarm', group: 'niso', label: '--network none, --wait; supervisor already running', command: `niso activate ${APP} --name ${SVC} --network none --wait`, supervisor: 'warm', run: activateRun(['--network', 'none'], null, true), teardown: deactivateSvc },
      ...(c.pod && image && c.podNet ? [{
        key: 'podman', group: 'podman' as const, label: `podman run -d -p on its own bridge network (${c.podNet}), crun, conmon`, command: `podman run -d --network NET -p 127.0.0.1:PORT:3000 ${IMAGE} node /app/server.js`, supervisor: 'any' as const,
        run: async () => {
          const name = `niso-bench-svc-${process.pid}`;
          c.containers.add(name);
          const [cmd, args] = c.pod!.argv(['run', '-d', '--name', name, '--network', c.podNet!, '-p', `127.0.0.1:${ports.podman}:3000`, '-e', 'PORT=3000', '-e', 'NODE_ENV=production', ...PODMAN_ULIMITS, IMAGE, 'node', '/app/server.js']);
          return (await startAndPoll(cmd, args, process.env, ports.podman, true)).sample;
        },
        teardown: async () => { try { c.pod!.run(['rm', '-f', '-t', '0', `niso-bench-svc-${process.pid}`]); } catch { /* gone */ } },
      }] : []),
      { key: 'node0', group: 'pieces', label: 'bare node start-up', command: 'node -e 0', supervisor: 'any', run: async () => { const r = run(process.execPath, ['-e', '0'], { env }); return { firstOk: null, ret: r.ms, attempts: 0, stalled: 0, t0: 0, okAt: null, exitAt: null }; } },
      { key: 'version', group: 'pieces', label: "niso's CLI start-up", command: 'niso --version', supervisor: 'any', run: async () => ({ firstOk: null, ret: niso(c.cli, ['--version'], { env }).ms, attempts: 0, stalled: 0, t0: 0, okAt: null, exitAt: null }) },
      { key: 'status', group: 'pieces', label: 'a light read command (status of the services)', command: 'niso status --json', supervisor: 'any', run: async () => ({ firstOk: null, ret: niso(c.cli, ['status', '--json'], { env }).ms, attempts: 0, stalled: 0, t0: 0, okAt: null, exitAt: null }) },
      { key: 'ss', group: 'pieces', label: "the port-conflict check niso runs for -p (src/net/host/ss.ts; -p walks every process's fds)", command: 'ss -H -l -n -p -t', supervisor: 'any', run: async () => ({ firstOk: null, ret: run('ss', ['-H', '-l', '-n', '-p', '-t']).ms, attempts: 0, stalled: 0, t0: 0, okAt: null, exitAt: null }) },
      { key: 'ssNoP', group: 'pieces', label: 'the same without -p (no owning process named)', command: 'ss -H -l -n -t', supervisor: 'any', run: async () => ({ firstOk: null, ret: run('ss', ['-H', '-l', '-n', '-t']).ms, attempts: 0, stalled: 0, t0: 0, okAt: null, exitAt: null }) },
    ];

    log(`timing ${variants.length} variants: ${WARMUP} warm-up + ${ROUNDS} rounds, interleaved`);
    const quiet: QuietStats = { waits: 0, waitedMs: 0, gaveUp: 0 };
    const loadBefore = loadNow();
    const samples = await interleaved(c, variants, quiet);
    const loadAfter = loadNow();

    log(`tracing: ${TRACE_RUNS} runs each of cold/warm × private/none`);
    const traces: Record<string, TraceRun[]> = { 'cold-private': [], 'warm-private': [], 'cold-none': [], 'warm-none': [] };
    for (let i = 0; i < TRACE_RUNS; i++) {
      for (const key of Object.keys(traces)) {
        const [mode, network] = key.split('-') as ['warm' | 'cold', 'private' | 'none'];
        traces[key]!.push(await tracedRun(c, mode, network, ports.niso));
      }
    }
    await supervisorGone(c); // drop the traced supervisor

    log(`CPU profiles of the CLI: ${PROFILE_RUNS} cold runs`);
    const profiles = await cliProfiles(c, ports.niso);
    log('modules loaded by the CLI and the supervisor');
    const modules = await moduleLists(c, ports.niso);
    log('processes and listeners per service');
    const census = await portCensus(c, ports.census, ports.podCensus);
    await supervisorGone(c);
    log(`memory and CPU of the supervisor with 1 and ${SERVICES} services`);
    const nmem = await nisoMemory(c);
    const idleNode = await idleNodeMem();
    let pmem: { one: PodMem; many: PodMem } | null = null;
    if (c.pod && image) {
      log(`podman: conmon with 1 and ${CONTAINERS} containers`);
      pmem = await podmanMemory(c, c.pod);
    }

    const input: RenderInput = {
      params: PARAMS, facts, cli: c.cli, caSet, variants, samples, traces, profiles, census, nmem, pmem, modules, idleNode, image, podWhy, quiet, healthLine,
      podmanVersion: c.pod?.version ?? 'n/a', bwrapVersion: firstLine('bwrap', ['--version']), nftVersion: firstLine('nft', ['--version']),
      loadBefore, loadAfter, totalMs: performance.now() - started,
    };
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(RAW, JSON.stringify(input, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `${NUM}${v}` : v))); // functions are dropped; render reads only the variants' names
    writeReport(RESULT, render(input));
    log(`wrote ${RESULT} (raw data: ${RAW}) in ${fmtMs(performance.now() - started)}`);
  } finally {
    await cleanup();
    offInterrupt();
  }
}

// ---------------------------------------------------------------------------------------------
// The report.

/** The settings of the run, kept with the data so that BENCH_RENDER_ONLY renders what was measured. */
const PARAMS = { WARMUP, ROUNDS, TRACE_RUNS, PROFILE_RUNS, SETTLE_MS, CPU_WINDOWS, CPU_WINDOW_MS, OBSERVE_MS, QUIET, QUIET_MAX_MS, POLL };

interface RenderInput {
  params: typeof PARAMS;
  facts: ReturnType<typeof machineFacts>;
  cli: NisoCli;
  caSet: boolean;
  variants: Variant[];
  samples: Record<string, Sample[]>;
  traces: Record<string, TraceRun[]>;
  profiles: CpuBreakdown[];
  census: Awaited<ReturnType<typeof portCensus>>;
  nmem: Awaited<ReturnType<typeof nisoMemory>>;
  pmem: { one: PodMem; many: PodMem } | null;
  modules: { cli: Mod[]; sup: Mod[] };
  idleNode: ProcMem;
  image: BenchImage | null;
  podWhy: string | null;
  quiet: QuietStats;
  healthLine: string;
  podmanVersion: string;
  bwrapVersion: string;
  nftVersion: string;
  loadBefore: string;
  loadAfter: string;
  totalMs: number;
}

const sumOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const fin = (xs: number[]) => xs.filter((x) => Number.isFinite(x));
const summ = (xs: number[]) => { const f = fin(xs); return f.length > 0 ? summarize(f) : null; };
const cell = (s: Summary | null) => (s ? fmtSummary(s) : '—');
const kbMed = (xs: (number | null)[]) => { const f = xs.filter((x): x is number => x !== null); return f.length > 0 ? summarize(f).median : null; };

function render(x: RenderInput): string {
  const f = x.facts;
  const S = x.samples;
  const out: string[] = [];
  const first = (k: string) => (S[k] ? summ(S[k]!.map((s) => s.firstOk ?? NaN)) : null);
  const ret = (k: string) => (S[k] ? summ(S[k]!.map((s) => s.ret ?? NaN)) : null);
  const ready = (k: string) => (S[k] ? summ(S[k]!.map((s) => (s.firstOk === null ? NaN : Math.max(s.firstOk, s.ret ?? 0)))) : null);
  const med = (s: Summary | null) => s?.median ?? NaN;
  const load = (s: string) => s.replace(/ \/ /g, ', ');

  out.push('# Services: first HTTP 200 after `niso activate`, and what supervision costs', '');
  out.push(`Made by \`npm run bench:services\` (bench/run-services.ts) on ${f.date} in ${fmtMs(x.totalMs)}. The app is the example of \`niso init --template node\` (server.js unchanged; manifest unchanged except \`ports = []\`, since the bench maps free ports with \`-p\` instead of the template's 127.0.0.1:3000; its health check: \`${x.healthLine}\`, interval 30 s by default). podman runs the same server.js in an image built by bench/lib/podman.ts (debootstrap bookworm minbase + the host's node).`, '');

  out.push('## Machine', '');
  out.push(mdTable(['fact', 'value'], [
    ...machineRows(f),
    ['bubblewrap / podman / nft', `${x.bwrapVersion} / ${x.podmanVersion} / ${x.nftVersion}`],
    ['niso ran as', x.cli.describe],
    ['NODE_EXTRA_CA_CERTS', `${x.caSet ? 'set in the environment; removed' : 'not set'} for niso's CLI and supervisor (it adds ~70 ms to every node start here, see run-start.md); the apps never get it`],
    ['load average (1/5/15 min) at start / before timing / after timing', `${load(f.loadStart)} / ${load(x.loadBefore)} / ${load(x.loadAfter)}`],
    ['quiet waits', `before each timed sample the bench waited until the machine was ≤ ${x.params.QUIET * 100}% busy for 250 ms (max ${x.params.QUIET_MAX_MS / 1000} s): ${x.quiet.waits} waits, ${fmtMs(x.quiet.waitedMs)} in total, ${x.quiet.gaveUp} gave up (other sessions share this machine)`],
  ]), '');

  // -------- start-up
  out.push('## Time to the first HTTP 200', '');
  out.push(`Every variant ran once per round in a rotating order, ${x.params.WARMUP} warm-up rounds dropped, ${x.params.ROUNDS} rounds kept; cells are **median** (min–max, n). The clock starts when the bench spawns the command. From then on the bench polls \`GET /\` on the mapped port (a new connection per attempt, the next one ${x.params.POLL.gapMs} ms after a refusal, another in parallel when one hangs ${x.params.POLL.stallMs} ms) and stops at the first 200. Between samples (untimed) the service is deactivated / the container removed (\`podman rm -f -t 0\`). "warm": another service (same app, --network none, healthy) was active, so the supervisor was running; "cold": no service and no supervisor before the command (the state of a host's first activation). "ready after return" = max(first 200, command returned): what a script that polls only after the command returned would see.`, '');
  const calmMed = (k: string) => {
    const q = (S[k] ?? []).filter((s) => s.quiet);
    const f = summ(q.map((s) => s.firstOk ?? s.ret ?? NaN));
    return f ? `${fmtMs(f.median)} (n=${f.n})` : '—';
  };
  const rows = x.variants.filter((v) => v.group !== 'pieces').map((v) => [v.group, v.label, `\`${v.command}\``, cell(first(v.key)), cell(ret(v.key)), cell(ready(v.key)), calmMed(v.key)]);
  out.push(mdTable(['', 'variant', 'command', 'first 200', 'command returned', 'ready after return', 'median of the samples that started on a quiet machine (first 200, else returned)'], rows), '');
  const stalls = sumOf(Object.values(S).flat().map((s) => s.stalled));
  out.push(`Poll attempts per sample (median): ${x.variants.filter((v) => first(v.key)).map((v) => `${v.key} ${summarize(S[v.key]!.map((s) => s.attempts)).median}`).join(', ')}; attempts that hung ≥ ${x.params.POLL.stallMs} ms: ${stalls} in all.`, '');
  if (!x.image) out.push(`**podman was not measured:** ${x.podWhy ?? 'unknown reason'}`, '');

  out.push('Pieces, timed in the same rounds (spawnSync to exit):', '');
  out.push(mdTable(['piece', 'command', 'time'], x.variants.filter((v) => v.group === 'pieces').map((v) => [v.label, `\`${v.command}\``, cell(ret(v.key))])), '');

  // -------- ratios
  out.push('## Ratios and the aim', '');
  const pod = first('podman');
  const ratioRows: string[][] = [];
  const aimCell = (r: number) => (r >= AIM ? 'met' : '**not met**');
  if (pod) {
    const add = (what: string, s: Summary | null, key: string, field: 'firstOk' | 'ret') => {
      if (!s) return;
      const r = pod.median / s.median;
      // The variants of one round ran back to back, so a busy moment of the machine hits both.
      const pr = summ((S.podman ?? []).map((p, i) => (p.firstOk ?? NaN) / (S[key]?.[i]?.[field] ?? NaN)));
      const paired = pr ? `${pr.median.toFixed(2)}× (${pr.min.toFixed(2)}–${pr.max.toFixed(2)})` : '';
      ratioRows.push([what, `${fmtMs(pod.median)} / ${fmtMs(s.median)}`, fmtRatio(pod.median, s.median), paired, `≥ ${AIM}×`, aimCell(r)]);
    };
    add('podman first 200 / niso first 200 (private, -p, --wait, cold)', first('waitCold'), 'waitCold', 'firstOk');
    add('podman first 200 / niso first 200 (private, -p, --wait, warm)', first('waitWarm'), 'waitWarm', 'firstOk');
    add('podman first 200 / niso first 200 (private, -p, no --wait, cold)', first('noWaitCold'), 'noWaitCold', 'firstOk');
    add('podman first 200 / niso first 200 (private, -p, no --wait, warm)', first('noWaitWarm'), 'noWaitWarm', 'firstOk');
    add('podman first 200 / `niso activate --wait` returned healthy (private, cold)', ret('waitCold'), 'waitCold', 'ret');
    add('podman first 200 / `niso activate --wait` returned healthy (private, warm)', ret('waitWarm'), 'waitWarm', 'ret');
    add('podman first 200 / `niso activate --wait --settle 0s` returned healthy (private, cold)', ret('waitColdNoSettle'), 'waitColdNoSettle', 'ret');
    add('podman first 200 / `niso activate --wait --settle 0s` returned healthy (private, warm)', ret('waitWarmNoSettle'), 'waitWarmNoSettle', 'ret');
    add('podman first 200 / `niso activate --wait` returned (--network none, cold)', ret('noneCold'), 'noneCold', 'ret');
    add('podman first 200 / `niso activate --wait` returned (--network none, warm)', ret('noneWarm'), 'noneWarm', 'ret');
    ratioRows.push(['podman first 200 / bwrap replay first 200 (the sandbox alone)', `${fmtMs(pod.median)} / ${fmtMs(med(first('bwrap')))}`, fmtRatio(pod.median, med(first('bwrap'))), '', '', '']);
    ratioRows.push(['podman first 200 / node on the host first 200', `${fmtMs(pod.median)} / ${fmtMs(med(first('host')))}`, fmtRatio(pod.median, med(first('host'))), '', '', '']);
    out.push(mdTable(['ratio', 'medians', 'ratio of medians', 'median of per-round ratios (min–max)', 'aim', ''], ratioRows), '');
    out.push(`To be ${AIM}× sooner than podman here, niso's first 200 would have to come within **${fmtMs(pod.median / AIM)}**; the sandbox alone (bwrap replay: setpriv, bwrap, node start-up, listen) takes ${fmtMs(med(first('bwrap')))} and bare node on the host ${fmtMs(med(first('host')))}, and niso's CLI is itself a node process (\`niso --version\` ${fmtMs(med(ret('version')))}) that must run before the app's node starts.`, '');
  }

  // -------- breakdown
  out.push('## Where `niso activate --wait` spends its time', '');
  out.push(`${x.params.TRACE_RUNS} traced runs per row, separate from the timed rounds. bench/lib/trace-niso.mjs was preloaded through NODE_OPTIONS into the CLI and, inherited, into the supervisor it starts (for "warm", into the supervisor started with the other service): it logs CLOCK_MONOTONIC times of each process's start, every child process and every /sys/fs/cgroup call. Timestamps niso writes itself place the rest: the mtime of the sandbox's bwrap status file (bwrap wrote the pid of the sandbox's init there, right after cloning it), state.json \`startedAt\` (niso recorded the start, after writing the plan and the health record), and the supervisor's probe children. The bench's own first 200 marks the app listening. Phases are consecutive; each cell is the median over the runs (so the medians need not add up to the total).`, '');
  const T = x.traces;
  const ph = (k: string, p: string) => summ((T[k] ?? []).map((r) => r.phases[p] ?? NaN));
  const phaseRows: [string, string][] = [
    ['boot', 'node start-up until niso\'s first module runs (spawn → preload)'],
    ['cli', 'CLI: modules, argv, package lookup, service definition and locks, first plan (→ first network child / → the sandbox spawn for none)'],
    ['net', 'network attach: port check (`ss -p`), routes/links/addresses, netns + veth (`ip`), the ruleset (`nft -f`), chain check (`nft -j list chains`)'],
    ['prep', 'second plan with the netns, state dir, seccomp program, cgroups (→ spawn of the sandbox)'],
    ['sandbox', 'sh joins the 4 v1 cgroups, setpriv, bwrap clones the sandbox\'s init (→ bwrap reports its pid; the mounts inside follow)'],
    ['record', 'niso notices the pid (3 ms polling), writes plan.json, health.json, state.json (→ startedAt)'],
    ['app', 'the sandbox\'s mounts, then node starts inside and listens (startedAt → the bench\'s first 200)'],
    ['appDetect', 'the app starts and the supervisor\'s probe passes (startedAt → passing probe ends; no first 200 seen from here)'],
    ['detect', 'health check: first 200 → the supervisor\'s passing probe (nsenter + curl) has ended'],
    ['notice', 'passing probe ended → state written (under a lock) → the CLI\'s 20 ms poll sees it → CLI exits'],
    ['total', '**total: spawn → `niso activate --wait` exited**'],
    ['first200', 'spawn → first 200 (within the traced runs)'],
  ];
  const keys = Object.keys(T).filter((k) => (T[k] ?? []).length > 0);
  out.push(mdTable(['phase', ...keys.map((k) => k.replace('-', ', '))], phaseRows.filter(([p]) => keys.some((k) => ph(k, p))).map(([p, label]) => [label, ...keys.map((k) => cell(ph(k, p)))])), '');

  const probeRows = keys.map((k) => {
    const rs = T[k]!;
    const sup = rs.map((r) => r.supStart).filter((s): s is NonNullable<typeof s> => s !== null);
    return [
      k.replace('-', ', '),
      cell(summ(rs.map((r) => r.startedToFirstProbe))),
      (() => { const f = rs.map((r) => r.failedProbes); return `${summarize(f).median} (${Math.min(...f)}–${Math.max(...f)})`; })(),
      cell(summ(rs.flatMap((r) => r.probes.map((p) => p.close - p.spawn)))),
      sup.length > 0 ? `node start-up ${cell(summ(sup.map((s) => s.spawnToHook)))}; to its first tick ${cell(summ(sup.map((s) => s.hookToTick)))}; first tick at startedAt + ${cell(summ(sup.map((s) => s.startedToFirstTick)))}` : 'already running (ticks every 200 ms while no service is activating, every 20 ms while one is)',
    ];
  });
  out.push('The supervisor and its health probes in the same runs:', '');
  out.push(mdTable(['runs', 'startedAt → first probe spawned', 'failed probes before the passing one', 'one probe (nsenter + curl), spawn → close', 'supervisor start'], probeRows), '');

  const cliKidRows = (k: string) => {
    const rs = T[k] ?? [];
    const labels = [...new Set(rs.flatMap((r) => r.cliKids.map((kk) => kk.label)))];
    return labels.map((label) => {
      const per = rs.map((r) => r.cliKids.filter((kk) => kk.label === label));
      return [`\`${label}\``, String(summarize(per.map((p) => p.length)).median), cell(summ(per.flatMap((p) => p.map((kk) => kk.close - kk.spawn)))), cell(summ(per.flatMap((p) => p.map((kk) => kk.spawned - kk.spawn))))];
    });
  };
  out.push('Child processes of the CLI in the cold private runs (run = spawn → close; spawn() = the synchronous fork+exec during which the CLI\'s event loop is blocked):', '');
  out.push(mdTable(['child', 'per run', 'run', 'spawn()'], cliKidRows('cold-private')), '');
  out.push(`Node's own bootstrap before the CLI's first module (process.uptime() at the preload): ${cell(summ(keys.flatMap((k) => T[k]!.map((r) => r.bootUptime))))}.`, '');
  if (x.profiles.length > 0) {
    const P = x.profiles;
    const cats = [...new Set(P.flatMap((p) => Object.keys(p.byCategory)))];
    const rowsCpu = cats.map((cat) => [cat, summarize(P.map((p) => p.byCategory[cat] ?? 0))] as const).sort((a, b) => b[1].median - a[1].median);
    out.push(`CPU profile of the CLI's main thread (${P.length} cold \`niso activate -p … --wait\` runs with \`node --cpu-prof --cpu-prof-interval=250\`, without the trace hook; samples grouped by bench/lib/profile.ts; "idle" = waiting for children, locks, the sandbox, the supervisor and the health check). Profiled span per run: ${cell(summarize(P.map((p) => p.totalMs)))}.`, '');
    out.push(mdTable(['activity', 'CPU time'], rowsCpu.map(([cat, sm]) => [cat, fmtSummary(sm)])), '');
    const self = new Map<string, number>();
    for (const p of P) for (const [k, v] of p.topSelf) self.set(k, (self.get(k) ?? 0) + v / P.length);
    out.push(`Top self time (mean per run): ${[...self].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `\`${k}\` ${v.toFixed(1)} ms`).join(', ')}.`, '');
  }

  // -------- processes
  out.push('## Processes per service, and per port', '');
  const cen = x.census;
  const procTable = (rows: ProcRow[]) => mdTable(['pid', 'comm', 'role', 'RSS', 'PSS'], rows.map((r) => [String(r.pid), r.comm, r.role.slice(0, 90), fmtKb(r.mem.rssKb), fmtKb(r.mem.pssKb)]));
  out.push(`niso, one service with \`-p 127.0.0.1:PORT:3000\` (private network), its cgroup \`niso/svc.<rootid>.${SVC}\`, 1 s after \`--wait\` returned:`, '');
  out.push(procTable(cen.niso), '');
  out.push(`Listening sockets on the host for the mapped port (\`ss -H -l -n -p -t 'sport = :PORT'\`): ${cen.nisoListeners === '' ? '**none** — the port is a DNAT rule in the kernel, no process holds it' : `\`${cen.nisoListeners}\``}. Children of the supervisor between probes: ${cen.supDesc}.`, '');
  if (cen.pod) {
    out.push('podman, one container with `-p 127.0.0.1:PORT:3000`: conmon and its descendants:', '');
    out.push(procTable(cen.pod), '');
    out.push(`Listening sockets on the host for podman's mapped port: ${cen.podListeners ? `\`${cen.podListeners}\`` : 'none'}.`, '');
  }

  // -------- modules
  const modTotal = (ms: Mod[]) => `${ms.length} files, ${fmtKb(Math.round(sumOf(ms.map((m) => m.bytes)) / 1024))}`;
  const modTable = (ms: Mod[]) => mdTable(['file', 'size', 'holds (most files first)'], [...ms].sort((a, b) => b.bytes - a.bytes).filter((m) => m.bytes >= 8 * 1024).map((m) => [m.file, fmtKb(Math.round(m.bytes / 1024)), m.contents]));
  out.push('## Modules the CLI and the supervisor load', '');
  out.push(`Listed by an ESM load hook (bench/lib/list-modules.mjs, through NODE_OPTIONS, so the supervisor the CLI started is listed too) in one untimed cold \`niso activate -p … --wait\`, followed by 3 s of supervision. Files of 8 KiB and more:`, '');
  out.push(`\`niso activate\`: ${modTotal(x.modules.cli)}.`, '');
  out.push(modTable(x.modules.cli), '');
  out.push(`The supervisor (\`niso __supervise\`): ${modTotal(x.modules.sup)}.`, '');
  out.push(modTable(x.modules.sup), '');

  // -------- memory
  const nm = x.nmem;
  out.push(`## Memory and CPU of supervision: 1 and ${nm.many.services} services`, '');
  out.push(`Each service is the example app with \`--network none\` (different --name), activated with \`--wait\` one after the other; then ${x.params.SETTLE_MS / 1000} s of settling, then CPU windows of ${x.params.CPU_WINDOW_MS / 1000} s (RSS sampled every second). With the default health interval of 30 s, ${x.params.CPU_WINDOWS} windows with ${nm.many.services} services cover one probe of every service. RSS splits into anonymous memory (heap, stacks: the supervisor's own) and file pages (mostly /usr/bin/node's code, shared with every other node process, the apps included); PSS divides shared pages among the processes that map them.`, '');
  const supRow = (what: string, m: ProcMem, windows: CpuWindow[], desc: string) => {
    const rss = windows.flatMap((w) => w.rssKb);
    return [what, fmtKb(m.rssKb), rss.length > 0 ? `${fmtKb(Math.min(...rss))}–${fmtKb(Math.max(...rss))}` : '', fmtKb(m.anonKb), fmtKb(m.fileKb), fmtKb(m.pssKb), fmtKb(m.ussKb), fmtKb(m.hwmKb), desc];
  };
  const after = (s: SupMem) => `${fmtMs((x.params.SETTLE_MS + sumOf(s.windows.map((w) => w.ms))))} after the last activation`;
  const atEnd = (s: SupMem) => `${fmtMs(x.params.SETTLE_MS + sumOf(s.windows.map((w) => w.ms)) + (s.long?.ms ?? 0))} after it`;
  out.push(mdTable(['process', 'RSS', 'RSS over the period', 'anon', 'file', 'PSS', 'USS (private)', 'peak RSS (VmHWM)', 'children'], [
    supRow(`supervisor, 1 service, ${after(nm.one)}`, nm.one.memAfterWindows, nm.one.windows, String(nm.one.descendantsIdle)),
    ...(nm.one.long ? [supRow(`supervisor, 1 service, ${atEnd(nm.one)}`, nm.one.mem, [nm.one.long], '')] : []),
    supRow(`supervisor, ${nm.many.services} services, ${after(nm.many)}`, nm.many.memAfterWindows, nm.many.windows, String(nm.many.descendantsIdle)),
    ...(nm.many.long ? [supRow(`supervisor, ${nm.many.services} services, ${atEnd(nm.many)}`, nm.many.mem, [nm.many.long], '')] : []),
    supRow('reference: `node -e "setInterval(() => {}, 1000)"` after 3 s', x.idleNode, [], ''),
  ]), '');
  if (nm.many.long) {
    const series = nm.many.long.rssKb;
    const every = Math.max(1, Math.round(series.length / 12));
    out.push(`RSS of the supervisor with ${nm.many.services} services during the last ${fmtMs(nm.many.long.ms)}, every ${every} s: ${series.filter((_, i) => i % every === 0 || i === series.length - 1).map((k) => fmtKb(k)).join(' → ')}.`, '');
  }
  const budgetOk = Math.max(nm.many.mem.rssKb, nm.many.memAfterWindows.rssKb) < BUDGET_KIB && nm.many.services >= 20;
  out.push(`Budget: supervisor < 60 MB RSS with 20 services: **${budgetOk ? 'met' : 'not met'}** (with ${nm.many.services} services: ${fmtKb(nm.many.memAfterWindows.rssKb)} = ${(nm.many.memAfterWindows.rssKb * 1024 / 1e6).toFixed(1)} MB ${after(nm.many)}, ${fmtKb(nm.many.mem.rssKb)} = ${(nm.many.mem.rssKb * 1024 / 1e6).toFixed(1)} MB ${atEnd(nm.many)}; peak ${fmtKb(nm.many.mem.hwmKb)}; of it ${fmtKb(nm.many.mem.fileKb)} file pages shared with other node processes; PSS ${fmtKb(nm.many.mem.pssKb)}).`, '');
  const ticks = (w: CpuWindow) => w.ms / 200;
  const cpuRows = (s: SupMem) => s.windows.map((w, i) => [String(s.services), String(i + 1), fmtMs(w.ms), `${w.selfMs.toFixed(0)} ms`, `${((w.selfMs / w.ms) * 100).toFixed(2)}%`, `${(w.selfMs / ticks(w)).toFixed(2)} ms`, `${w.childrenMs.toFixed(0)} ms`, `${(((w.selfMs + w.childrenMs) / w.ms) * 100).toFixed(2)}%`]);
  out.push('Supervisor CPU while idle-supervising (from /proc/PID/stat, 10 ms ticks; children = what it ran and reaped: the probes (nsenter + curl), flock(1) for its locks, fallocate for the logs):', '');
  const longRow = (s: SupMem) => (s.long ? [[String(s.services), 'the longer watch', fmtMs(s.long.ms), `${s.long.selfMs.toFixed(0)} ms`, `${((s.long.selfMs / s.long.ms) * 100).toFixed(2)}%`, `${(s.long.selfMs / ticks(s.long)).toFixed(2)} ms`, `${s.long.childrenMs.toFixed(0)} ms`, `${(((s.long.selfMs + s.long.childrenMs) / s.long.ms) * 100).toFixed(2)}%`]] : []);
  out.push(mdTable(['services', 'window', 'length', 'supervisor CPU (utime+stime)', 'of one core', 'per 200 ms tick', 'its children\'s CPU', 'together, of one core'], [...cpuRows(nm.one), ...longRow(nm.one), ...cpuRows(nm.many), ...longRow(nm.many)]), '');
  const act = [...nm.one.activateMs, ...nm.many.activateMs];
  if (act.length > 1) {
    const at = (i: number) => (act[i] !== undefined ? fmtMs(act[i]!) : '—');
    out.push(`\`niso activate --network none --wait\` while filling, in order: #1 ${at(0)}, #2 ${at(1)}, #5 ${at(4)}, #10 ${at(9)}, #15 ${at(14)}, #20 ${at(19)} (all: ${act.map((m) => Math.round(m)).join(', ')} ms).`, '');
  }

  const perSvc = (rows: ProcRow[][]) => {
    const counts = rows.map((r) => r.length);
    const bw = rows.map((r) => sumOf(r.filter((p) => p.comm === 'bwrap').map((p) => p.mem.rssKb)));
    const bwP = rows.map((r) => sumOf(r.filter((p) => p.comm === 'bwrap').map((p) => p.mem.pssKb ?? 0)));
    const app = rows.map((r) => sumOf(r.filter((p) => p.comm !== 'bwrap').map((p) => p.mem.rssKb)));
    return { counts: summarize(counts.length ? counts : [0]).median, bw: kbMed(bw), bwP: kbMed(bwP), app: kbMed(app) };
  };
  const n1 = perSvc(nm.one.perService);
  const nN = perSvc(nm.many.perService);
  const pm = x.pmem;
  out.push('### Per service / per container', '');
  const memRows: string[][] = [
    ['niso, 1 service', String(n1.counts), 'bwrap (outside) + bwrap (init) + node', `${fmtKb(n1.bw)} / ${fmtKb(n1.bwP)}`, fmtKb(n1.app), `the supervisor: ${fmtKb(nm.one.mem.rssKb)} RSS / ${fmtKb(nm.one.mem.pssKb)} PSS`],
    [`niso, ${nm.many.services} services`, String(nN.counts), 'bwrap (outside) + bwrap (init) + node', `${fmtKb(nN.bw)} / ${fmtKb(nN.bwP)}`, fmtKb(nN.app), `the supervisor: ${fmtKb(nm.many.mem.rssKb)} RSS / ${fmtKb(nm.many.mem.pssKb)} PSS, i.e. ${fmtKb(Math.round(nm.many.mem.rssKb / nm.many.services))} RSS / ${fmtKb(Math.round((nm.many.mem.pssKb ?? 0) / nm.many.services))} PSS per service`],
  ];
  if (pm) {
    const pRow = (p: PodMem) => {
      const cm = kbMed(p.conmon.map((m) => m.rssKb));
      const cmP = kbMed(p.conmon.map((m) => m.pssKb));
      const app = kbMed(p.perContainer.map((r) => sumOf(r.filter((q) => q.role !== 'conmon').map((q) => q.mem.rssKb))));
      return [`podman, ${p.containers} container${p.containers > 1 ? 's' : ''}`, String(summarize(p.perContainer.map((r) => r.length)).median), 'conmon + node', `${fmtKb(cm)} / ${fmtKb(cmP)}`, fmtKb(app), `none (no daemon); all conmons: ${fmtKb(sumOf(p.conmon.map((m) => m.rssKb)))} RSS / ${fmtKb(sumOf(p.conmon.map((m) => m.pssKb ?? 0)))} PSS; \`podman run -d --network none\` took ${fmtMs(p.startMs.median)} (median)`];
    };
    memRows.push(pRow(pm.one), pRow(pm.many));
  }
  out.push(mdTable(['', 'processes per service', 'which', 'runtime\'s own per service: RSS / PSS (median)', 'app RSS (median)', 'shared by all services'], memRows), '');
  if (pm?.many.conmonCpu) {
    const w = pm.many.conmonCpu[0]!;
    out.push(`CPU of all ${pm.many.containers} conmons together over ${fmtMs(w.ms)}: ${w.selfMs.toFixed(0)} ms (${((w.selfMs / w.ms) * 100).toFixed(2)}% of one core).`, '');
  }
  if (!pm) out.push(`podman was not measured: ${x.podWhy ?? 'unknown reason'}`, '');

  out.push(...notes(x), '');
  return out.join('\n');
}

/** What the numbers of this run say, in words (the numbers come from this run). */
function notes(x: RenderInput): string[] {
  const S = x.samples;
  const T = x.traces;
  const med = (xs: number[]) => { const f = fin(xs); return f.length > 0 ? summarize(f).median : NaN; };
  const first = (k: string) => med((S[k] ?? []).map((s) => s.firstOk ?? NaN));
  const ret = (k: string) => med((S[k] ?? []).map((s) => s.ret ?? NaN));
  const ph = (k: string, p: string) => med((T[k] ?? []).map((r) => r.phases[p] ?? NaN));
  const kid = (k: string, label: (l: string) => boolean) => med((T[k] ?? []).flatMap((r) => r.cliKids.filter((c) => label(c.label)).map((c) => c.close - c.spawn)));
  const kidSum = (k: string, label: (l: string) => boolean) => med((T[k] ?? []).map((r) => sumOf(r.cliKids.filter((c) => label(c.label)).map((c) => c.close - c.spawn))));
  const out = ['## Notes: the aims, and where niso loses the time', ''];
  const pod = first('podman');
  const best = Math.min(first('waitWarm'), first('waitCold'));
  out.push(`1. **Start-up aim (first 200 at least ${AIM}× sooner than podman): not met.** Here podman's first 200 came after ${fmtMs(pod)} (the issue assumed ~185 ms, from PLATFORM.md §8; this bench gives podman its own CNI bridge network and \`-p\`, and other sessions share the machine); niso's after ${fmtMs(first('waitCold'))} cold and ${fmtMs(first('waitWarm'))} warm (${fmtRatio(pod, first('waitCold'))} / ${fmtRatio(pod, first('waitWarm'))}), and \`--wait\` returned after ${fmtMs(ret('waitCold'))} / ${fmtMs(ret('waitWarm'))}. ${AIM}× would need ≤ ${fmtMs(pod / AIM)}. The parts that cannot go away: bare node on the host answers after ${fmtMs(first('host'))}, the sandbox alone (niso's own bwrap argv) after ${fmtMs(first('bwrap'))}, and the CLI is a node process too (\`niso --version\` ${fmtMs(ret('version'))}). Even a CLI that did nothing but start the sandbox would be at about ${fmtMs(ret('version') + first('bwrap'))}: ${Number.isFinite(pod) && ret('version') + first('bwrap') <= pod / AIM ? 'within the aim against this run\'s podman' : 'above the aim against this run\'s podman'}, and above it against podman's ~185 ms on a quiet machine (PLATFORM.md §8), where ${AIM}× means ≤ ${fmtMs(185 / AIM)}. As measured, niso's first 200 comes ${Number.isFinite(best) && best < pod ? `${fmtRatio(pod, best)} sooner than podman's at best` : `no sooner than podman's (${fmtRatio(pod, best)} at best)`}, and \`--wait\` returns ${Math.min(ret('waitCold'), ret('waitWarm')) < pod ? 'before' : 'after'} podman's first 200.`);
  out.push(`2. **The CLI before it touches the network: ${fmtMs(ph('cold-private', 'boot'))} node start-up + ${fmtMs(ph('cold-private', 'cli'))}** (cold, private; the same path without a network takes ${fmtMs(ph('cold-none', 'cli'))} to the sandbox spawn). \`niso activate\` loads ${x.modules.cli.length} files, ${fmtKb(Math.round(sumOf(x.modules.cli.map((m) => m.bytes)) / 1024))} of JavaScript${x.modules.cli.some((m) => /zod/.test(m.contents)) ? `, including zod and the manifest schema${x.modules.cli.some((m) => /toml-eslint-parser/.test(m.contents)) ? ', the TOML parser' : ''}${x.modules.cli.some((m) => /\btar\b/.test(m.contents)) ? ' and tar' : ''}: src/cli/commands/service.ts reads the log limits through src/store/host-config.ts (\`readLogLimits\`), which validates /etc/niso config with zod and imports the package reader; \`niso run\` keeps these off its path (run-start.md). Reading the host config as plain JSON/TOML without the schema, or only when the file exists, would drop them` : ''}. Each lock is a \`flock(1)\` child: ${med((T['cold-private'] ?? []).map((r) => r.cliKids.filter((c) => c.label.startsWith('flock')).length))} per activation, each a fork+exec of ${fmtMs(med((T['cold-private'] ?? []).flatMap((r) => r.cliKids.filter((c) => c.label.startsWith('flock')).map((c) => c.spawned - c.spawn))))} inside the CLI's event loop.${x.profiles.length > 0 ? ` The CPU profile of the whole command: ${['module loading', 'child_process.spawn', 'other JS'].map((cat) => `${cat} ${fmtMs(med(x.profiles.map((p) => Object.entries(p.byCategory).find(([k]) => k.startsWith(cat))?.[1] ?? 0)))}`).join(', ')} of CPU (spawn() is synchronous: node forks and execs each of the ${med((T['cold-private'] ?? []).map((r) => r.cliKids.length))} children on its main thread).` : ''}`);
  out.push(`3. **Network attach: ${fmtMs(ph('cold-private', 'net'))}**, all children run one after the other: \`ss -H -l -n -p -t\` ${fmtMs(kid('cold-private', (l) => l.startsWith('ss')))} (timed alone: ${fmtMs(ret('ss'))} with -p against ${fmtMs(ret('ssNoP'))} without; -p reads every process's fds to name a holder, which is only needed once a conflict is found), ${fmtMs(kidSum('cold-private', (l) => l.startsWith('ip')))} for ${med((T['cold-private'] ?? []).map((r) => r.cliKids.filter((c) => c.label.startsWith('ip')).length))} \`ip\` calls (routes, links, addresses, netns, veth, inside the netns; one netlink socket or one \`ip -batch\` would do), \`nft -f\` ${fmtMs(kid('cold-private', (l) => l.startsWith('nft -f')))} (the whole table is re-rendered and replaced for each service), ${Number.isFinite(kid('cold-private', (l) => l.startsWith('nft -j'))) ? `and \`nft -j list chains\` ${fmtMs(kid('cold-private', (l) => l.startsWith('nft -j')))}, which only feeds a warning about other firewalls (firewallWarnings in src/net/host/manager.ts)` : 'and nothing else'}. With \`--network none\` all of it is skipped: in the traced runs --wait returned after ${fmtMs(ph('cold-none', 'total'))} cold / ${fmtMs(ph('warm-none', 'total'))} warm instead of ${fmtMs(ph('cold-private', 'total'))} / ${fmtMs(ph('warm-private', 'total'))} (timed rounds: ${fmtMs(ret('noneCold'))} / ${fmtMs(ret('noneWarm'))} against ${fmtMs(ret('waitCold'))} / ${fmtMs(ret('waitWarm'))}, noisier).${Number.isFinite(kid('cold-private', (l) => l.startsWith('nft -j'))) ? ' In the build measured here, attachService computed those warnings on every activation and src/service/net.ts never read them.' : ''}`);
  out.push(`4. **The sandbox itself is quick**: spawn → bwrap reports the init pid ${fmtMs(ph('cold-private', 'sandbox'))}, niso records the start ${fmtMs(ph('cold-private', 'record'))}, and the app then answers after ${fmtMs(ph('cold-private', 'app'))} (bare node on the host: ${fmtMs(first('host'))} from spawn). The app's start-up is not where niso loses.`);
  const sup = (T['cold-private'] ?? []).map((r) => r.supStart).filter((s): s is NonNullable<typeof s> => s !== null);
  out.push(`5. **Cold: the supervisor is started last.** \`activate\` (src/service/ops.ts) starts the sandbox, writes the state, and only then spawns the supervisor and waits for it to register; its node start-up takes ${fmtMs(med(sup.map((s) => s.spawnToHook)))} and loading its modules and claiming its lock another ${fmtMs(med(sup.map((s) => s.hookToTick)))}, so its first tick comes at startedAt + ${fmtMs(med(sup.map((s) => s.startedToFirstTick)))} and the first probe at startedAt + ${fmtMs(med((T['cold-private'] ?? []).map((r) => r.startedToFirstProbe)))}, while the app answered at startedAt + ${fmtMs(ph('cold-private', 'app'))}: first 200 → healthy took ${fmtMs(ph('cold-private', 'detect'))}. Spawning the supervisor first (before planning and the network) would overlap its start-up with the CLI's; or \`--wait\` could run the first probes from the CLI itself, which is alive anyway.`);
  out.push(`6. **Warm: the supervisor is asleep.** Nothing tells a running supervisor that a service was activated; it looks every ${200} ms (TICK_MS) and only then switches to 20 ms ticks. startedAt → first probe: ${fmtMs(med((T['warm-private'] ?? []).map((r) => r.startedToFirstProbe)))} with a private network, ${fmtMs(med((T['warm-none'] ?? []).map((r) => r.startedToFirstProbe)))} with none (the probe is due at startedAt + 50 ms; where the 200 ms sleep ends relative to the start is chance); first 200 → healthy ${fmtMs(ph('warm-private', 'detect'))}. So a running supervisor does not make \`--wait\` faster: traced totals ${fmtMs(ph('warm-private', 'total'))} warm against ${fmtMs(ph('cold-private', 'total'))} cold with a private network, ${fmtMs(ph('warm-none', 'total'))} against ${fmtMs(ph('cold-none', 'total'))} without. A signal (SIGUSR1), a FIFO or an inotify watch on the services directory would wake it at once.`);
  const failed = med(Object.values(T).flat().map((r) => r.failedProbes));
  out.push(`7. **Probe schedule and --wait's polling.** Probes before the first success are due 50, 150, 350, 750 ms … after the start (src/service/health/state.ts); failed probes before the passing one: ${Number.isFinite(failed) ? failed : '—'} (median over all traced runs). One probe (nsenter + curl into the netns) takes ${fmtMs(med(Object.values(T).flat().flatMap((r) => r.probes.map((p) => p.close - p.spawn))))}. After it passes, the supervisor writes the state under the service lock (another flock(1)), and the CLI, which polls every 20 ms, exits: ${fmtMs(ph('cold-private', 'notice'))}.`);
  out.push(`8. **Without --wait** the command returns after ${fmtMs(ret('noWaitCold'))} cold / ${fmtMs(ret('noWaitWarm'))} warm (it still waits for the supervisor to register), the first 200 comes at ${fmtMs(first('noWaitCold'))} / ${fmtMs(first('noWaitWarm'))}.`);
  const nm = x.nmem;
  const pm = x.pmem;
  const w = nm.many.long ? [...nm.many.windows, nm.many.long] : nm.many.windows;
  const cpuPct = w.length > 0 ? (sumOf(w.map((q) => q.selfMs)) / sumOf(w.map((q) => q.ms))) * 100 : NaN;
  const childPct = w.length > 0 ? (sumOf(w.map((q) => q.childrenMs)) / sumOf(w.map((q) => q.ms))) * 100 : NaN;
  const early = nm.many.memAfterWindows;
  const late = nm.many.mem;
  const budgetMet = Math.max(early.rssKb, late.rssKb) < BUDGET_KIB && nm.many.services >= 20;
  const conmonRss = pm ? sumOf(pm.many.conmon.map((m) => m.rssKb)) : NaN;
  const conmonPss = pm ? sumOf(pm.many.conmon.map((m) => m.pssKb ?? 0)) : NaN;
  out.push(`9. **Memory: the budget (< 60 MB RSS with 20 services) is ${budgetMet ? 'met' : 'not met'}**: with ${nm.many.services} services the supervisor had ${fmtKb(early.rssKb)} RSS ${fmtMs(x.params.SETTLE_MS + sumOf(nm.many.windows.map((q) => q.ms)))} after the last activation${nm.many.long ? ` and ${fmtKb(late.rssKb)} after ${fmtMs(x.params.SETTLE_MS + sumOf(nm.many.windows.map((q) => q.ms)) + nm.many.long.ms)} (peak ${fmtKb(late.hwmKb)})` : ''}; with 1 service ${fmtKb(nm.one.memAfterWindows.rssKb)}${nm.one.long ? ` → ${fmtKb(nm.one.mem.rssKb)}` : ''}. The floor is node itself: an idle \`node -e setInterval\` has ${fmtKb(x.idleNode.rssKb)} RSS, ${fmtKb(x.idleNode.fileKb)} of it file pages of /usr/bin/node, which the supervisor shares with every node process (the apps' too, since the sandbox mounts the host's node): ${fmtKb(late.fileKb)} of the supervisor's RSS are such pages. What is the supervisor's own, its anonymous memory, grows from ${fmtKb(nm.one.memAfterWindows.anonKb)} (1 service) to ${fmtKb(early.anonKb)} (${nm.many.services}, early)${nm.many.long ? ` and ${fmtKb(late.anonKb)} (later)` : ''}. Every 200 ms the supervisor re-reads and parses each service's service.json and state.json (several times per tick), its four cgroup.procs files and its log files, and every probe is a child process with pipes; V8 lets the heap grow with that garbage for a minute or two before it levels off (see the series above; a hand-run watch of 20 services for about 4.5 minutes here levelled off near 91 MiB, so it looked like heap sizing, not a steady leak). A figure taken 10 s after the start understates the steady state. PSS: ${fmtKb(nm.one.mem.pssKb)} (1) → ${fmtKb(late.pssKb)} (${nm.many.services}).${pm ? ` Against conmon: ${pm.many.containers} conmons take ${fmtKb(conmonRss)} RSS / ${fmtKb(conmonPss)} PSS together (${fmtKb(kbMed(pm.many.conmon.map((m) => m.rssKb)))} RSS each); niso's one supervisor for ${nm.many.services} services is ${fmtRatio(late.rssKb, conmonRss)} that in RSS and ${fmtRatio(late.pssKb ?? NaN, conmonPss)} in PSS. And niso's sandbox keeps two bwrap processes per service (outside + init: ${fmtKb(kbMed(nm.many.perService.map((r) => sumOf(r.filter((q) => q.comm === 'bwrap').map((q) => q.mem.rssKb)))))} RSS, ${fmtKb(kbMed(nm.many.perService.map((r) => sumOf(r.filter((q) => q.comm === 'bwrap').map((q) => q.mem.pssKb ?? 0)))))} PSS together), about what one conmon costs, so per service niso's runtime costs about as much as podman's, with the supervisor on top.` : ''}`);
  out.push(`10. **Processes: no process per service or per port beyond the service's own — met.** Each service is its cgroup's ${summarize(nm.many.perService.map((r) => r.length)).median} processes (bwrap outside, bwrap as the sandbox's init, the app); the supervisor is one process for all services and has no children between probes; a mapped port is a DNAT rule with no listener on the host (${x.census.nisoListeners === '' ? 'checked with ss' : `ss showed: ${x.census.nisoListeners}`}). ${x.census.pod ? `podman keeps conmon per container, and conmon holds the mapped port open (${x.census.podListeners ? 'ss shows conmon listening on it' : 'no listener seen'}).` : ''}`);
  out.push(`11. **CPU while idle: ${cpuPct.toFixed(2)}% of one core for ${nm.many.services} services** (over ${fmtMs(sumOf(w.map((q) => q.ms)))}; ${(sumOf(w.map((q) => q.selfMs)) / Math.max(1, sumOf(w.map((q) => q.ms / 200)))).toFixed(2)} ms per 200 ms tick, ${nm.one.windows[0] ? `${((nm.one.windows[0].selfMs / nm.one.windows[0].ms) * 100).toFixed(2)}% with 1` : ''}), plus ${childPct.toFixed(2)}% in its children (probes, locks, log hole-punching). Each tick re-reads every service's definition, state and four cgroup.procs files and runs the log pump, so the cost grows linearly with the number of services.${pm?.many.conmonCpu ? ` ${pm.many.containers} conmons used ${((pm.many.conmonCpu[0]!.selfMs / pm.many.conmonCpu[0]!.ms) * 100).toFixed(2)}%.` : ''}`);
  return out;
}

await main();
