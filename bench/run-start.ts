// Times, side by side in one run, how long a node app that exits at once takes to run: bare node on
// the host, bwrap replaying niso's own argv, `niso run`, and `podman run --rm`; then profiles
// `niso run` to show where niso's own overhead goes. Writes bench/results/run-start.md.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { hostArch } from '../src/host/arch.js';
import { buildSeccompFilter, DEFAULT_DENY, type SeccompArch } from '../src/render/seccomp.js';
import { createCgroup, removeCgroup, type Cgroup } from '../src/sandbox/cgroup.js';
import { runSandbox } from '../src/sandbox/run-sandbox.js';
import { loadNow, machineFacts, writeReport, machineRows } from './lib/machine.js';
import { niso, nisoEnv, parseJson, type NisoCli, prepareBenchWork, removeBenchWork } from './lib/niso.js';
import { ensureImages, openPodman, podmanMissing, PODMAN_ULIMITS, type BenchImage, type Podman } from './lib/podman.js';
import { firstLine, run } from './lib/proc.js';
import { intEnv } from './lib/env.js';
import { cpuBreakdown, monoMs, readTrace, wallPhases, type Child, type Phase } from './lib/profile.js';
import { prepareReplay, runReplay, type Replay, type RunJson } from './lib/replay.js';
import { fmtBytes, fmtMs, fmtRatio, fmtSummary, mdTable, summarize, type Summary } from './lib/stats.js';
import { bundleContents } from './lib/bundle.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const WARMUP = 2;
const RUNS = intEnv('BENCH_RUNS', 30);
const PROFILE_RUNS = intEnv('BENCH_PROFILE_RUNS', 8);
const TMPFS = process.env.BENCH_TMPFS ?? '/dev/shm';
const CACHE = join(repo, 'bench/.cache');
const RESULT = join(repo, 'bench/results/run-start.md');
const HOOK = join(repo, 'bench/lib/trace-niso.mjs');
const MODULES_HOOK = join(repo, 'bench/lib/list-modules.mjs');
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/**
 * Another build of niso to time in the same rounds (a directory with its bin/niso and dist/, e.g. a worktree of the
 * previous commit, built): on a shared machine only an interleaved run says what a change gave.
 */
const BASELINE = process.env.BENCH_BASELINE ?? null;

const APP = 'bench-exit';
const IMAGE = 'localhost/niso-bench-exit:latest';
const MAIN_JS = 'process.exit(0);\n';
const MANIFEST = `[package]\nname = "${APP}"\nversion = "1.0.0"\n[runtime]\nuse = "nodejs:20"\n[binary]\nentrypoint = "node"\nargs = ["main.js"]\n[network]\nmode = "none"\n`;

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Runs each step once per round, rotating the order so none always goes first; drops warm-ups. Samples stay in round order. */
async function interleaved(rounds: number, warmup: number, steps: Record<string, () => number | Promise<number>>): Promise<Record<string, number[]>> {
  const names = Object.keys(steps);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < warmup + rounds; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length]!;
      const ms = await steps[name]!();
      if (i >= warmup) samples[name]!.push(ms);
    }
    if (i === warmup - 1 || (i >= warmup && (i - warmup + 1) % 5 === 0)) log(`  round ${i + 1}/${warmup + rounds}${i < warmup ? ' (warm-up done)' : ''}`);
  }
  return samples;
}

/** Median of per-round differences a[i] - b[i]: steadier than a difference of medians on a busy machine. */
function pairedDiff(a: number[], b: number[]): Summary {
  return summarize(a.map((x, i) => x - b[i]!));
}

interface Variant { key: string; group: string; what: string; command: string; run: () => number | Promise<number> }

interface ProfileResult {
  phases: { key: string; label: string; ms: Summary }[];
  total: Summary;
  children: { label: string; run: Summary; fork: Summary }[];
  cgroupFsMs: Summary;
  cleanupProcsReads: Summary;
  cpu: { category: string; ms: Summary }[];
  cpuTotal: Summary;
  topSelf: [string, number][];
  bootUptime: Summary;
  modules: LoadedModule[];
}

interface LoadedModule { file: string; bytes: number; contents: string }


// The cgroup join of niso's wrapper (src/sandbox/run-sandbox.ts, which also runs the builtin `ulimit -n`): the shell writes its pid into each cgroup.procs, then execs the sandbox.
const JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

async function main(): Promise<void> {
  const started = performance.now();
  const work = join(TMPFS, `niso-bench-run-${process.pid}`);
  let pod: Podman | null = null;
  const cgroups: Cgroup[] = [];
  try {
    const cli = prepareBenchWork(repo, work, log);
    const podWhy = podmanMissing();
    if (podWhy === null) pod = openPodman(CACHE);
    await bench(work, cli, pod, podWhy, cgroups, started);
  } finally {
    for (const cg of cgroups) await removeCgroup(cg);
    pod?.close();
    await removeBenchWork(work);
  }
}

async function bench(work: string, cli: NisoCli, pod: Podman | null, podWhyNot: string | null, cgroups: Cgroup[], started: number): Promise<void> {
  const facts = machineFacts(repo);
  const root = join(work, 'root');
  const appDir = join(work, 'app');
  mkdirSync(appDir, { recursive: true });
  writeFileSync(join(appDir, 'manifest.toml'), MANIFEST);
  writeFileSync(join(appDir, 'main.js'), MAIN_JS);

  // NODE_EXTRA_CA_CERTS: niso's CLI is a node process, so it pays for the bundle at every start.
  const caFromEnv = process.env.NODE_EXTRA_CA_CERTS;
  const caValue = caFromEnv || (existsSync(CA_BUNDLE) ? CA_BUNDLE : '');
  const caNote = caFromEnv ? `set in the environment (${caFromEnv})` : caValue ? `not set in the environment; the "set" rows set it to ${caValue}` : 'not set, and no bundle to set it to';
  const noCa: NodeJS.ProcessEnv = { ...process.env };
  delete noCa.NODE_EXTRA_CA_CERTS;
  const withCa: NodeJS.ProcessEnv | null = caValue ? { ...process.env, NODE_EXTRA_CA_CERTS: caValue } : null;
  const nisoNoCa = nisoEnv({ NISO_ROOT: root });
  delete nisoNoCa.NODE_EXTRA_CA_CERTS;
  const nisoCa = withCa ? { ...nisoEnv({ NISO_ROOT: root }), NODE_EXTRA_CA_CERTS: caValue } : null;

  log('niso pack + install (once)');
  const pkgFile = join(work, `${APP}.niso`);
  parseJson(niso(cli, ['pack', appDir, '-o', pkgFile, '--json'], { env: nisoNoCa }), 'niso pack');
  parseJson(niso(cli, ['install', pkgFile, '--json'], { env: nisoNoCa }), 'niso install');
  // A first real run allocates the uid, which the replay needs. The state dir is made first, so that the runs and
  // the replay bind the same one (a run without one gets a /state of its own, which the next run's sweep removes).
  mkdirSync(join(root, 'var/lib/niso/state', APP), { recursive: true });
  niso(cli, ['run', APP], { env: nisoNoCa });
  const j = parseJson<RunJson>(niso(cli, ['run', '--json', APP], { env: nisoNoCa }), 'niso run --json');
  const seccomp = j.plan.seccomp ? buildSeccompFilter({ arch: hostArch() as SeccompArch, deny: DEFAULT_DENY, allow: j.plan.seccomp.allow ?? [] }) : null;
  const fdDir = join(work, 'fds');
  mkdirSync(fdDir);
  const replaySc: Replay | null = seccomp ? prepareReplay(j, fdDir, seccomp.program, 'sc') : null;
  const replayNoSc = prepareReplay(j, fdDir, null, 'nosc');
  const bwrapEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
  // A cgroup like niso's (same limits; the name lets niso's sweep remove it if this bench dies), joined the way niso joins.
  const cg = createCgroup(j.plan, `${process.pid}-be4c4`);
  cgroups.push(cg);
  const joinPrefix = ['sh', '-c', JOIN, 'sh', ...cg.procsFiles, '--'];
  const inProcess = async () => {
    const t0 = performance.now();
    const r = await runSandbox(j.plan, seccomp?.program ?? null);
    const ms = performance.now() - t0;
    if (r.exitCode !== 0) throw new Error(`runSandbox: exit ${r.exitCode}`);
    return ms;
  };

  let image: BenchImage | null = null;
  let podWhy = podWhyNot;
  if (pod) {
    try {
      image = ensureImages(pod, CACHE, IMAGE, { 'main.js': MAIN_JS }, log);
    } catch (e) {
      podWhy = `building the image failed: ${(e as Error).message.slice(0, 800)}`;
    }
  }
  const podmanArgs = ['run', '--rm', '--network', 'none', ...PODMAN_ULIMITS, IMAGE, 'node', '/app/main.js'];

  const node = process.execPath;
  const baseCli: NisoCli | null = BASELINE ? { mode: 'dist', cmd: node, prefix: [join(BASELINE, 'bin/niso')], describe: BASELINE } : null;
  const variants: Variant[] = [
    { key: 'node0', group: 'host', what: 'bare node, NODE_EXTRA_CA_CERTS unset', command: 'node -e 0', run: () => run(node, ['-e', '0'], { env: noCa }).ms },
    ...(withCa ? [{ key: 'node0ca', group: 'host', what: 'bare node, NODE_EXTRA_CA_CERTS set', command: 'node -e 0', run: () => run(node, ['-e', '0'], { env: withCa }).ms }] : []),
    { key: 'nodeMain', group: 'host', what: 'the app on the host, NODE_EXTRA_CA_CERTS unset', command: 'node main.js', run: () => run(node, ['main.js'], { env: noCa, cwd: appDir }).ms },
    ...(replaySc ? [{ key: 'bwrap', group: 'bwrap', what: "niso's argv replayed, with its seccomp filter", command: 'setpriv … bwrap … --seccomp 3 … /usr/bin/node main.js', run: () => runReplay(replaySc, bwrapEnv) }] : []),
    { key: 'bwrapNoSc', group: 'bwrap', what: "niso's argv replayed, without --seccomp", command: 'setpriv … bwrap … /usr/bin/node main.js', run: () => runReplay(replayNoSc, bwrapEnv) },
    ...(replaySc ? [{ key: 'bwrapJoin', group: 'bwrap', what: "the same with seccomp, started through niso's `sh` cgroup join (4 v1 cgroups made once)", command: 'sh -c JOIN … -- setpriv … bwrap …', run: () => runReplay(replaySc, bwrapEnv, joinPrefix) }] : []),
    { key: 'runSandbox', group: 'niso (parts)', what: "niso's runSandbox() called in the bench process: sweep, cgroups, sh join, pipes for the fds, cleanup; no CLI", command: 'runSandbox(plan, seccomp)', run: inProcess },
    { key: 'niso', group: 'niso', what: 'NODE_EXTRA_CA_CERTS unset', command: `niso run ${APP}`, run: () => niso(cli, ['run', APP], { env: nisoNoCa }).ms },
    ...(nisoCa ? [{ key: 'nisoCa', group: 'niso', what: 'NODE_EXTRA_CA_CERTS set', command: `niso run ${APP}`, run: () => niso(cli, ['run', APP], { env: nisoCa }).ms }] : []),
    { key: 'nisoJson', group: 'niso (parts)', what: 'plans and renders, starts no sandbox; CA unset', command: `niso run --json ${APP}`, run: () => niso(cli, ['run', '--json', APP], { env: nisoNoCa }).ms },
    { key: 'nisoVersion', group: 'niso (parts)', what: 'CLI start-up only; CA unset', command: 'niso --version', run: () => niso(cli, ['--version'], { env: nisoNoCa }).ms },
    ...(baseCli ? [
      { key: 'nisoBase', group: 'baseline build', what: `${BASELINE}; CA unset`, command: `niso run ${APP}`, run: () => niso(baseCli, ['run', APP], { env: nisoNoCa }).ms },
      { key: 'nisoBaseJson', group: 'baseline build', what: `${BASELINE}; plans and renders only; CA unset`, command: `niso run --json ${APP}`, run: () => niso(baseCli, ['run', '--json', APP], { env: nisoNoCa }).ms },
    ] : []),
    ...(pod && image ? [{ key: 'podman', group: 'podman', what: `crun, --network none, ${image.image}`, command: `podman ${podmanArgs.join(' ')}`, run: () => pod.run(podmanArgs).ms }] : []),
  ];

  log(`timing ${variants.length} variants: ${WARMUP} warm-up + ${RUNS} rounds, interleaved`);
  const loadBefore = loadNow();
  const samples = await interleaved(RUNS, WARMUP, Object.fromEntries(variants.map((v) => [v.key, v.run])));
  const loadAfter = loadNow();
  const sum = Object.fromEntries(Object.entries(samples).map(([k, s]) => [k, summarize(s)]));

  log(`profiling niso run: ${PROFILE_RUNS} traced runs, then ${PROFILE_RUNS} with --cpu-prof`);
  const prof = profile(cli, work, nisoNoCa);
  log('timing writes to cgroup.procs');
  const cgWrite = await cgroupWriteCost(cg, 10);

  const report = render({
    cli, facts, caNote, variants, sum, samples, prof, image, podWhy, cgWrite, cgroupCount: cg.procsFiles.length,
    podmanVersion: pod?.version ?? 'n/a', bwrapVersion: firstLine('bwrap', ['--version']),
    replay: replaySc ?? replayNoSc, seccompInsns: seccomp?.instructions ?? 0, j,
    loadBefore, loadAfter, totalMs: performance.now() - started,
  });
  writeReport(RESULT, report);
  log(`wrote ${RESULT} in ${fmtMs(performance.now() - started)}`);
}

/**
 * How long each write of a pid into a v1 cgroup.procs takes, as niso's `sh` join does them: bash
 * times its own writes ($EPOCHREALTIME, no forks), after an idle gap like the one between two runs.
 */
async function cgroupWriteCost(cg: Cgroup, samples: number): Promise<{ first: Summary; rest: Summary }> {
  const script = 'p=${EPOCHREALTIME/./}; for f in "$@"; do echo $$ > "$f"; n=${EPOCHREALTIME/./}; printf "%s " $((n-p)); p=$n; done';
  const first: number[] = [];
  const rest: number[] = [];
  for (let i = 0; i < samples; i++) {
    await new Promise((r) => setTimeout(r, 150));
    const us = run('bash', ['-c', script, 'bash', ...cg.procsFiles]).stdout.trim().split(/\s+/).map(Number);
    first.push(us[0]! / 1000);
    rest.push(...us.slice(1).map((u) => u / 1000));
  }
  return { first: summarize(first), rest: summarize(rest.length > 0 ? rest : [0]) };
}

/** Traced runs (timeline) and --cpu-prof runs (CPU by activity) of `niso run`, CA unset. */
function profile(cli: NisoCli, work: string, env: NodeJS.ProcessEnv): ProfileResult {
  const dir = join(work, 'prof');
  mkdirSync(dir);
  const traced = (i: number, cpu: boolean) => {
    const trace = join(dir, `trace-${cpu ? 'cpu' : 'wall'}-${i}.jsonl`);
    const profDir = join(dir, `cpu-${i}`);
    const pre = ['--import', HOOK, ...(cpu ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=250'] : [])];
    const start = monoMs();
    run(cli.cmd, [...pre, ...cli.prefix, 'run', APP], { env: { ...env, NISO_BENCH_TRACE: trace } });
    const end = monoMs();
    return { ...wallPhases(readTrace(trace), start, end), trace, start, end, profDir };
  };
  traced(0, false); // warm-up
  const wall = Array.from({ length: PROFILE_RUNS }, (_, i) => traced(i + 1, false));
  const cpuRuns = Array.from({ length: PROFILE_RUNS }, (_, i) => {
    const t = traced(i + 1, true);
    const file = readdirSync(t.profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${t.profDir}`);
    return cpuBreakdown(join(t.profDir, file));
  });

  const keys = wall[0]!.phases.map((p) => p.key);
  const phases = keys.map((key) => ({
    key,
    label: wall[0]!.phases.find((p) => p.key === key)!.label,
    ms: summarize(wall.map((w) => w.phases.find((p: Phase) => p.key === key)?.ms ?? 0)),
  }));
  const total = summarize(wall.map((w) => w.end - w.start));
  const labels = [...new Set(wall.flatMap((w) => w.children.map((c: Child) => c.label)))];
  const children = labels.map((label) => {
    const cs = wall.map((w) => w.children.find((c: Child) => c.label === label)).filter((c): c is Child => !!c);
    return { label, run: summarize(cs.map((c) => c.close - c.spawned)), fork: summarize(cs.map((c) => c.spawned - c.spawn)) };
  });
  const traces = wall.map((w) => readTrace(w.trace));
  const cgroupFsMs = summarize(traces.map((ev) => ev.filter((e) => e.ev === 'cgroup').reduce((a, e) => a + (e.ms ?? 0), 0)));
  // removeCgroup reads cgroup.procs once per try and sleeps 20 ms between tries while pids remain.
  const cleanupProcsReads = summarize(traces.map((ev) => {
    const sandboxExit = ev.find((e) => e.ev === 'exit' && ev.some((s) => s.ev === 'spawn' && s.id === e.id && s.bwrap));
    const reads = ev.filter((e) => e.ev === 'cgroup' && e.op === 'readFileSync' && (e.path ?? '').endsWith('cgroup.procs') && e.t > (sandboxExit?.t ?? Infinity));
    const perTry = new Set(reads.map((e) => e.path)).size || 1;
    return reads.length / perTry;
  }));
  const bootUptime = summarize(traces.map((ev) => ev.find((e) => e.ev === 'hook')?.uptimeMs ?? 0));
  // One more, untimed run that lists the modules niso loads (the loader hook slows it down).
  const modFile = join(dir, 'modules.jsonl');
  run(cli.cmd, ['--import', MODULES_HOOK, ...cli.prefix, 'run', APP], { env: { ...env, NISO_BENCH_MODULES: modFile } });
  const modules = readFileSync(modFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
    const { url, bytes } = JSON.parse(l) as { url: string; bytes: number };
    const path = fileURLToPath(url);
    return { file: path.replace(/^.*\/(dist|bin)\//, '$1/'), bytes, contents: bundleContents(path) };
  });
  const cats = [...new Set(cpuRuns.flatMap((c) => Object.keys(c.byCategory)))];
  const cpu = cats.map((category) => ({ category, ms: summarize(cpuRuns.map((c) => c.byCategory[category] ?? 0)) })).sort((a, b) => b.ms.median - a.ms.median);
  const self = new Map<string, number>();
  for (const c of cpuRuns) for (const [k, v] of c.topSelf) self.set(k, (self.get(k) ?? 0) + v / cpuRuns.length);
  const topSelf = [...self].sort((a, b) => b[1] - a[1]).slice(0, 10);
  return { phases, total, children, cgroupFsMs, cleanupProcsReads, cpu, cpuTotal: summarize(cpuRuns.map((c) => c.totalMs)), topSelf, bootUptime, modules };
}

/** What the numbers of this run say about where niso's overhead could go. */
function pointers(x: RenderInput): string[] {
  const p = x.prof;
  const ph = (k: string) => p.phases.find((q) => q.key === k)?.ms.median ?? 0;
  const cpu = (prefix: string) => p.cpu.find((c) => c.category.startsWith(prefix))?.ms.median ?? 0;
  const m = (k: string) => x.sum[k]?.median;
  const bw = m('bwrap') ?? m('bwrapNoSc')!;
  const out = ['## What the profile points to (numbers from this run)', ''];
  const biggest = [...p.modules].sort((a, b) => b.bytes - a.bytes)[0];
  const pkgs = [...new Set(p.modules.flatMap((mod) => mod.contents.split(', ').map((c) => c.replace(/ \(\d+ files\)$/, '')).filter((c) => c && !c.startsWith('src/'))))];
  const spawnBlock = p.children.filter((c) => !c.label.startsWith('sh')).reduce((a, c) => a + c.fork.median, 0);
  out.push(`1. **Node's own start-up** before any niso code: ${fmtMs(p.bootUptime.median)} (process.uptime() at the preload); \`node -e 0\` takes ${fmtMs(m('node0')!)} end to end. Every node CLI pays this.${m('node0ca') !== undefined ? ` With NODE_EXTRA_CA_CERTS set, node parses the bundle at start-up: +${fmtMs(m('node0ca')! - m('node0')!)} for \`node -e 0\`, +${fmtMs(m('nisoCa')! - m('niso')!)} for \`niso run\` (medians). Commands that never open TLS (run, list, install of a file) could drop it in bin/niso before node starts, and the registry client pass the bundle as \`ca\` itself.` : ''}`);
  const heavy = (names: string[]) => p.modules.filter((mod) => names.some((n) => mod.contents.includes(n)));
  const tableMods = heavy(['cli-table3']);
  const manifestMods = heavy(['zod', 'toml-eslint-parser', 'smol-toml']);
  const modHints: string[] = [];
  if (tableMods.length > 0) modHints.push(`${tableMods.map((mod) => `${mod.file} (${fmtBytes(mod.bytes)})`).join(', ')} holds cli-table3 and its dependencies, which \`niso run\` never uses (src/cli/output.ts imports it at the top): a lazy import there drops it`);
  if (manifestMods.length > 0) modHints.push(`${manifestMods.map((mod) => `${mod.file} (${fmtBytes(mod.bytes)})`).join(', ')} holds the TOML/schema machinery; running an *installed* package needs none of it if install stores the validated manifest (or the plan inputs) as JSON`);
  modHints.push('a V8 code cache would cut the compile part (node 20 has none for ESM: a CJS bundle through vm.Script cachedData, or node 22\'s module.enableCompileCache); so would fewer, larger chunks on the `run` path (each module is a separate resolve, read and instantiate)');
  out.push(`2. **Module loading**: ${fmtMs(cpu('module loading'))} of CPU (profiled) for ${p.modules.length} files, ${fmtBytes(p.modules.reduce((a, mod) => a + mod.bytes, 0))}${biggest ? `; the largest, ${biggest.file} (${fmtBytes(biggest.bytes)}), holds ${biggest.contents || 'unknown code'}` : ''}; npm packages among them: ${pkgs.join(', ') || 'none'}. The CLI phase (argv to the first child process) takes ${fmtMs(ph('cli'))} wall. What would cut it: ${modHints.join('; ')}.`);
  if (ph('discovery') > 0) out.push(`3. **Runtime discovery** on every run: ${fmtMs(ph('discovery'))} wall for ${p.children.filter((c) => !c.label.startsWith('sh')).map((c) => `\`${c.label}\` (${fmtMs(c.run.median)})`).join(', ')}, plus ${fmtMs(spawnBlock)} in which niso's synchronous spawn() blocks it. Caching the resolved runtime keyed by the binary's realpath + (dev, inode, size, mtime) (and the libraries' the same way) makes a warm run start no child before the sandbox.`);
  out.push(`4. **Cleanup**: ${fmtMs(ph('cleanup'))} from the sandbox's exit to niso's exit; removeCgroup needed ${p.cleanupProcsReads.median} tr${p.cleanupProcsReads.median === 1 ? 'y' : 'ies'} (median; max ${p.cleanupProcsReads.max})${p.cleanupProcsReads.max > 1 ? ": each retry follows a fixed 20 ms sleep, taken because cgroup.procs still listed the sandbox's exiting processes right after the exit. Polling every 1-2 ms, or returning first and leaving the emptied cgroup to an rmdir in the background or to the next sweep, removes most of it." : '; no run needed a retry (which would follow a fixed 20 ms sleep).'}`);
  const joinCost = x.samples.bwrapJoin && x.samples.bwrap ? pairedDiff(x.samples.bwrapJoin, x.samples.bwrap).median : null;
  out.push(`5. **Around bwrap**: the sandbox phase inside niso takes ${fmtMs(ph('sandbox'))} against ${fmtMs(bw)} for the bare replay${joinCost !== null ? `; the \`sh\` cgroup join alone adds ${fmtMs(joinCost)}` : ''}. Timed from bash after a 150 ms idle gap, the first write of a pid into one of the ${x.cgroupCount} v1 cgroup.procs files takes ${fmtSummary(x.cgWrite.first)}, the following ones ${fmtSummary(x.cgWrite.rest)}: moving a process between cgroups write-locks cgroup_threadgroup_rwsem, which waits for an RCU grace period unless one just passed (kernel commit 6a010a49b63a; the \`favordynmods\` mount option avoids it, but v1 hierarchies cannot take it on remount, only with the \`cgroup_favordynmods=true\` boot option, which is host-wide and was not tried). Within niso: start \`sh\` join → setpriv → \`bwrap --args FD\` right after the uid is known; bwrap reads its NUL-separated arguments from the fd when niso has planned them, so the cgroup move and the process start-ups overlap runtime discovery and planning; on cgroup v2, spawning straight into the cgroup (CLONE_INTO_CGROUP) takes no such lock. The plan, seccomp program, uid and cgroup creation are small (${fmtMs(ph('plan'))} + ${fmtMs(ph('cgroup'))}).`);
  const floor = m('node0')!;
  out.push(`6. **Reachability of the aims**: niso − bwrap < 60 ms leaves ${fmtMs(60 - floor)} beyond a bare \`node -e 0\` (${fmtMs(floor)}) for niso's own modules, planning, spawn and cleanup. podman/niso ≥ 5× needs niso ≤ ${fmtMs(m('podman') !== undefined ? m('podman')! / 5 : NaN)} here (podman ${m('podman') !== undefined ? fmtMs(m('podman')!) : 'n/a'} with --network none), while bwrap + the node app alone take ${fmtMs(bw)}: not reachable while niso's CLI is a node process that starts before the app's node (PLATFORM.md §8 measured podman with its default bridge network at about 390-405 ms for \`node -e 0\`, where 5× would mean about 80 ms).`);
  return out;
}

interface RenderInput {
  cli: NisoCli;
  cgWrite: { first: Summary; rest: Summary };
  cgroupCount: number;
  facts: ReturnType<typeof machineFacts>;
  caNote: string;
  variants: Variant[];
  sum: Record<string, Summary>;
  samples: Record<string, number[]>;
  prof: ProfileResult;
  image: BenchImage | null;
  podWhy: string | null;
  podmanVersion: string;
  bwrapVersion: string;
  replay: Replay;
  seccompInsns: number;
  j: RunJson;
  loadBefore: string;
  loadAfter: string;
  totalMs: number;
}

function render(x: RenderInput): string {
  const f = x.facts;
  const s = x.sum;
  const m = (k: string) => s[k]?.median;
  const out: string[] = [];
  x.facts.loadStart = x.facts.loadStart.replace(/ \/ /g, ', ');
  out.push('# niso run: start-to-exit of a node app that exits at once', '');
  out.push(`Made by \`npm run bench:run\` (bench/run-start.ts) on ${f.date} in ${fmtMs(x.totalMs)}. The app is \`main.js\` = \`${MAIN_JS.trim()}\`, manifest \`[runtime] use = "nodejs:20"\`, \`[binary] entrypoint = "node"\`, \`args = ["main.js"]\`, \`[network] mode = "none"\`. Every variant ran once per round, in a rotating order, ${WARMUP} warm-up rounds dropped; each cell is the **median** (min–max, n). Times are from \`spawnSync\` in the bench process to the exit of what it started.`, '');

  out.push('## Machine', '');
  out.push(mdTable(['fact', 'value'], [
    ...machineRows(f),
    ['bubblewrap / podman', `${x.bwrapVersion} / ${x.podmanVersion}`],
    ['niso ran as', x.cli.describe],
    ['NODE_EXTRA_CA_CERTS', x.caNote],
    ['load average (1/5/15 min) at start / before timing / after timing', `${f.loadStart} / ${x.loadBefore.replace(/ \/ /g, ', ')} / ${x.loadAfter.replace(/ \/ /g, ', ')}`],
  ]), '');

  out.push('## Time to exit', '');
  const base = m('nodeMain');
  out.push(mdTable(['group', 'command', 'variant', 'time', 'minus `node main.js`'],
    x.variants.map((v) => [v.group, `\`${v.command}\``, v.what, fmtSummary(s[v.key]!), base === undefined || v.key === 'nodeMain' ? '' : `${m(v.key)! - base >= 0 ? '+' : ''}${fmtMs(m(v.key)! - base)}`])), '');
  if (!x.image) out.push(`**podman was not measured:** ${x.podWhy ?? 'unknown reason'}`, '');

  out.push('## Ratios and aims', '');
  const rows: string[][] = [];
  const paired = (a: string, b: string) => (x.samples[a] && x.samples[b] ? pairedDiff(x.samples[a], x.samples[b]) : null);
  const bw = x.samples.bwrap ? 'bwrap' : 'bwrapNoSc';
  const over = paired('niso', bw);
  if (over) rows.push([`niso overhead over bwrap itself (\`niso run\` − bwrap${bw === 'bwrap' ? ' with seccomp' : ''}), CA unset`, fmtSummary(over), '< 60 ms', over.median < 60 ? 'met' : '**not met**']);
  const overCa = paired('nisoCa', bw);
  if (overCa) rows.push(['the same, NODE_EXTRA_CA_CERTS set for niso', fmtSummary(overCa), '< 60 ms', overCa.median < 60 ? 'met' : '**not met**']);
  if (m('podman') !== undefined) {
    rows.push(['podman / niso, CA unset', fmtRatio(m('podman')!, m('niso')!), '≥ 5×', m('podman')! / m('niso')! >= 5 ? 'met' : '**not met**']);
    if (m('nisoCa') !== undefined) rows.push(['podman / niso, CA set', fmtRatio(m('podman')!, m('nisoCa')!), '≥ 5×', m('podman')! / m('nisoCa')! >= 5 ? 'met' : '**not met**']);
    rows.push(['podman / bwrap', fmtRatio(m('podman')!, m(bw)!), '', '']);
  }
  rows.push(['niso / bwrap, CA unset', fmtRatio(m('niso')!, m(bw)!), '', '']);
  const sb = paired(bw, 'nodeMain');
  if (sb) rows.push(['the sandbox itself (bwrap − `node main.js`)', fmtSummary(sb), '', '']);
  const sc = paired('bwrap', 'bwrapNoSc');
  if (sc) rows.push([`seccomp filter (${x.seccompInsns} BPF instructions): bwrap with − without`, fmtSummary(sc), '', '']);
  const join_ = paired('bwrapJoin', 'bwrap');
  if (join_) rows.push(["niso's `sh` cgroup join in front of bwrap (with − without)", fmtSummary(join_), '', '']);
  const rs = paired('runSandbox', 'bwrap');
  if (rs) rows.push(["niso's runSandbox() machinery around bwrap (in-process runSandbox − bwrap)", fmtSummary(rs), '', '']);
  const caNode = paired('node0ca', 'node0');
  if (caNode) rows.push(['NODE_EXTRA_CA_CERTS, `node -e 0`: set − unset', fmtSummary(caNode), '', '']);
  const caNiso = paired('nisoCa', 'niso');
  if (caNiso) rows.push(['NODE_EXTRA_CA_CERTS, `niso run`: set − unset', fmtSummary(caNiso), '', '']);
  const cliOnly = paired('nisoVersion', 'node0');
  if (cliOnly) rows.push(['niso CLI start-up beyond bare node (`niso --version` − `node -e 0`)', fmtSummary(cliOnly), '', '']);
  const planOnly = paired('nisoJson', 'nisoVersion');
  if (planOnly) rows.push(['planning: `niso run --json` − `niso --version` (modules, package, manifest, runtime discovery, uid, plan)', fmtSummary(planOnly), '', '']);
  const runPart = paired('niso', 'nisoJson');
  if (runPart) rows.push(['starting it: `niso run` − `niso run --json` (cgroups, sh, sandbox, cleanup)', fmtSummary(runPart), '', '']);
  const vsBase = paired('niso', 'nisoBase');
  if (vsBase) rows.push([`\`niso run\`: this build − the baseline build (${BASELINE})`, fmtSummary(vsBase), '', '']);
  const vsBaseJson = paired('nisoJson', 'nisoBaseJson');
  if (vsBaseJson) rows.push(['`niso run --json`: this build − the baseline build', fmtSummary(vsBaseJson), '', '']);
  if (m('nisoBase') !== undefined) rows.push(['baseline / this build, `niso run`', fmtRatio(m('nisoBase')!, m('niso')!), '', '']);
  out.push('Differences are the median of per-round differences (the variants ran back to back in each round), so a busy moment hits both sides.', '');
  out.push(mdTable(['measure', 'value', 'aim', ''], rows), '');

  const p = x.prof;
  out.push(`## Where \`niso run\` spends its time (${PROFILE_RUNS} traced runs, CA unset)`, '');
  out.push(`bench/lib/trace-niso.mjs was preloaded (\`node --import\`) into niso: it logs CLOCK_MONOTONIC times of niso's start, every child process it spawns, every call on /sys/fs/cgroup, and its exit. Traced total: ${fmtSummary(p.total)} (untraced median above: ${fmtMs(m('niso')!)}). Phases add up to the total (medians need not).`, '');
  out.push(mdTable(['phase', 'time'], p.phases.map((ph) => [ph.label, fmtSummary(ph.ms)])), '');
  out.push('Child processes niso starts (run = from spawn() returning to the child\'s close; spawn() = the synchronous fork+exec inside niso, during which its event loop is blocked):', '');
  out.push(mdTable(['child', 'run', 'spawn() blocking niso'], p.children.map((c) => [`\`${c.label}\``, fmtSummary(c.run), fmtSummary(c.fork)])), '');
  out.push(`- Node's own bootstrap before niso's code: process.uptime() at the preload = ${fmtSummary(p.bootUptime)}.`);
  out.push(`- Time inside cgroup file system calls (sweep, mkdir, limits, cgroup.procs reads, rmdir): ${fmtSummary(p.cgroupFsMs)}.`);
  out.push(`- removeCgroup's tries after the sandbox exited (each try after the first follows a 20 ms sleep, because cgroup.procs still listed the sandbox's exiting processes): ${fmtSummary(p.cleanupProcsReads)}.`, '');

  out.push(`### CPU profile (${PROFILE_RUNS} runs with \`node --cpu-prof --cpu-prof-interval=250\`, samples grouped by activity)`, '');
  out.push(`Profiled span per run: ${fmtSummary(p.cpuTotal)} (from V8's profiler start, after node's bootstrap, to exit). "idle" is time the main thread waited: for child processes (runtime probes, the sandbox) and I/O.`, '');
  out.push(mdTable(['activity', 'time'], p.cpu.map((c) => [c.category, fmtSummary(c.ms)])), '');
  out.push('Top self time (mean per run):', '');
  out.push(mdTable(['function (file)', 'ms'], p.topSelf.map(([k, v]) => [`\`${k}\``, v.toFixed(1)])), '');

  const totalBytes = p.modules.reduce((a, mod) => a + mod.bytes, 0);
  out.push(`### Modules \`niso run\` loads: ${p.modules.length} files, ${fmtBytes(totalBytes)} of JavaScript`, '');
  out.push('Listed by an ESM load hook (bench/lib/list-modules.mjs) in one extra, untimed run; contents from esbuild\'s source comments.', '');
  out.push(mdTable(['file', 'size', 'holds (most files first)'], [...p.modules].sort((a, b) => b.bytes - a.bytes).map((mod) => [mod.file, fmtBytes(mod.bytes), mod.contents])), '');

  out.push(...pointers(x), '');

  out.push('## Notes', '');
  out.push(`- bwrap rows replay the exact argv of \`niso run --json ${APP}\` (setpriv --reuid=${x.j.plan.user.uid} … bwrap, ${x.j.plan.mounts.length} plan mounts, preset ${x.j.plan.preset}, ${x.replay.argv.length} arguments) with the same fds: the seccomp program (built by src/render/seccomp.ts buildSeccompFilter with DEFAULT_DENY and the plan's allow list), the json status fd and the --ro-bind-data contents, given as regular files opened before the clock starts (niso uses pipes). They skip what niso adds around bwrap: the \`sh\` that joins the cgroups, and the cgroups.`);
  out.push('- niso ran with NISO_ROOT in a temporary directory on tmpfs; the package was packed and installed once, before timing. `niso run` includes cgroup creation, the `sh` cgroup join, setpriv, bwrap and the cleanup.');
  if (x.image) {
    out.push(`- podman: \`nsenter --mount=FILE podman ${['run', '--rm', '--network', 'none', ...PODMAN_ULIMITS].join(' ')} ${x.image.image} node /app/main.js\`, inside a private mount namespace without /sys/fs/cgroup/unified (crun refuses the hybrid cgroup layout), with rlimits root can set (no CAP_SYS_RESOURCE here). Image: \`${x.image.base}\` = \`debootstrap --variant=minbase bookworm\` + the host's node binary, \`podman import\`ed; \`${x.image.image}\` = FROM it + COPY main.js (${x.image.built.length > 0 ? `built this run: ${x.image.built.join(', ')}` : 'both cached from an earlier run'}).`);
  }
  out.push('- The CA rows matter because niso\'s CLI is a node process: with NODE_EXTRA_CA_CERTS set, node reads and parses the bundle at start-up. Sandboxed apps get a clean environment (`--clearenv`), so the app itself never pays it.');
  out.push(`- Other sessions may share this machine; the load averages above say how busy it was. Rerun with BENCH_RUNS=N (default 30) and BENCH_PROFILE_RUNS=N (default 8).`);
  out.push('');
  return out.join('\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
