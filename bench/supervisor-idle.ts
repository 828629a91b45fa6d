// What the embedded supervisor costs while N services run and nothing happens (issue 17: "supervisor with 20 services:
// memory / CPU idle", aim ≤ 30 MiB RSS and < 0.5% of a core): CPU time from /proc over windows, RSS and its anonymous
// part, for this build and, side by side in the same run, a baseline build (BENCH_BASELINE: a repo checkout or a dist/
// dir, e.g. main's), each supervising the very same running services (the supervisor is swapped, the services keep
// running: they do not depend on it). The floor is the systemd backend, which has no supervisor (0), and the peer
// podman's conmon, one per container (~2 MiB each, bench/results/services.md). Writes bench/results/supervisor-idle.md.
// Variants (BENCH_VARIANTS, `;`-separated): this build's supervisor with more node flags or environment (e.g.
// `--lite-mode;UV_THREADPOOL_SIZE=1 --single-threaded`), each beside a bare `node FLAGS -e "setInterval(...)"` with the
// very same flags and environment, measured over the same window: the floor that node itself sets for those flags.
// Knobs: BENCH_SERVICES (20), BENCH_WINDOW_S (30), BENCH_WINDOWS (3), BENCH_SETTLE_S (10), BENCH_BASELINE, BENCH_VARIANTS,
// BENCH_DIR.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SUPERVISOR_NODE_FLAGS } from '../src/service/supervisor.js';
import { supervisorPid } from '../src/service/supervisor-record.js';
import { processCpuMs } from './lib/cpu.js';
import { benchDirEnv, intEnv } from './lib/env.js';
import { loadNow, machineFacts, machineRows, writeReport } from './lib/machine.js';
import { idleBenchWork, startIdleServices, stopIdleServices } from './lib/idle-services.js';
import { cleanupOnInterrupt, run } from './lib/proc.js';
import { fmtKb, procMem } from './lib/procfs.js';
import { fmtRatio, mdTable, summarize, type Summary } from './lib/stats.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SERVICES = intEnv('BENCH_SERVICES', 20);
const WINDOW_S = intEnv('BENCH_WINDOW_S', 30);
const WINDOWS = intEnv('BENCH_WINDOWS', 3);
const SETTLE_S = intEnv('BENCH_SETTLE_S', 10);
const BASE = benchDirEnv();
const RESULT = join(repo, 'bench/results/supervisor-idle.md');
const log = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample { cpuPct: number; rssKb: number; anonKb: number; floor: { cpuPct: number; rssKb: number; anonKb: number } }

/** `ENV=VALUE` words set the environment, the others are node flags. */
function parseVariant(text: string): { flags: string[]; env: Record<string, string> } {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const env = Object.fromEntries(words.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w)).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  return { flags: words.filter((w) => !/^[A-Z_][A-Z0-9_]*=/.test(w)), env };
}

async function main(): Promise<void> {
  const { work, cli, root, env } = idleBenchWork(repo, BASE, 'supervisor', log);
  const here = `this build (${machineFacts(repo).git})`;
  const builds: { label: string; entry: string; flags: string[]; env: Record<string, string> }[] = [{ label: here, entry: join(work, 'niso/dist/niso.mjs'), flags: [], env: {} }];
  for (const v of (process.env.BENCH_VARIANTS ?? '').split(';').filter((x) => x.trim() !== '')) {
    builds.push({ label: `${here} + \`${v.trim()}\``, entry: join(work, 'niso/dist/niso.mjs'), ...parseVariant(v) });
  }
  const baseline = process.env.BENCH_BASELINE;
  if (baseline) {
    const dist = existsSync(join(baseline, 'dist/niso.mjs')) ? join(baseline, 'dist') : baseline;
    const copy = join(work, 'baseline');
    run('cp', ['-a', dist, copy]);
    let rev = baseline;
    try { rev = `${baseline} at ${run('git', ['-C', baseline, 'rev-parse', '--short', 'HEAD']).stdout.trim()}`; } catch { /* a dist dir */ }
    builds.push({ label: `baseline (${rev})`, entry: join(copy, 'niso.mjs'), flags: [], env: {} });
  }
  const off = cleanupOnInterrupt(async () => { await teardown(); }, log);
  async function teardown(): Promise<void> {
    await stopIdleServices(cli, env, root, work, SERVICES);
  }
  try {
    startIdleServices(cli, env, work, SERVICES);
    log(`${SERVICES} services active`);
    const samples = new Map<string, Sample[]>(builds.map((b) => [b.label, []]));
    const loadBefore = loadNow();
    for (let w = 0; w < WINDOWS; w++) {
      for (const b of w % 2 === 0 ? builds : [...builds].reverse()) {
        // Swap the supervisor: the services run on without one; the new one adopts them from their cgroups.
        const old = await supervisorPid(root);
        if (old) {
          process.kill(old, 'SIGTERM');
          for (let t = 0; existsSync(`/proc/${old}`) && t < 200; t++) await sleep(50);
        }
        const child = spawn(process.execPath, [...SUPERVISOR_NODE_FLAGS, ...b.flags, b.entry, '__supervise'], { detached: true, stdio: 'ignore', env: { ...env, ...b.env, NISO_ROOT: root }, cwd: '/' });
        child.unref();
        // The floor for these flags: node itself, waiting on a timer, measured over the same window.
        const bare = spawn(process.execPath, [...SUPERVISOR_NODE_FLAGS, ...b.flags, '-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: { ...env, ...b.env }, cwd: '/' });
        let pid: number | null = null;
        for (let t = 0; pid === null && t < 200; t++) { await sleep(50); pid = await supervisorPid(root); }
        if (pid === null) throw new Error(`the supervisor of ${b.label} did not start`);
        await sleep(SETTLE_S * 1000);
        const a = processCpuMs(pid);
        const fa = processCpuMs(bare.pid!);
        const t0 = performance.now();
        await sleep(WINDOW_S * 1000);
        const ms = processCpuMs(pid) - a;
        const fms = processCpuMs(bare.pid!) - fa;
        const span = performance.now() - t0;
        const m = procMem(pid);
        const fm = procMem(bare.pid!);
        bare.kill();
        const s = { cpuPct: (ms / span) * 100, rssKb: m.rssKb, anonKb: m.anonKb, floor: { cpuPct: (fms / span) * 100, rssKb: fm.rssKb, anonKb: fm.anonKb } };
        samples.get(b.label)!.push(s);
        log(`window ${w}: ${b.label}: ${s.cpuPct.toFixed(2)}% of a core, RSS ${fmtKb(s.rssKb)} (anonymous ${fmtKb(s.anonKb)}); bare node: RSS ${fmtKb(s.floor.rssKb)} (anonymous ${fmtKb(s.floor.anonKb)})`);
      }
    }
    const loadAfter = loadNow();
    const facts = machineFacts(repo);
    const pct = (x: Summary) => `**${x.median.toFixed(2)}%** (${x.min.toFixed(2)}–${x.max.toFixed(2)}%, n=${x.n})`;
    const rows = builds.map((b) => {
      const ss = samples.get(b.label)!;
      const cpu = summarize(ss.map((s) => s.cpuPct));
      const rss = summarize(ss.map((s) => s.rssKb));
      const anon = summarize(ss.map((s) => s.anonKb));
      const floor = { cpu: summarize(ss.map((s) => s.floor.cpuPct)), rss: summarize(ss.map((s) => s.floor.rssKb)), anon: summarize(ss.map((s) => s.floor.anonKb)) };
      return { b, cpu, rss, anon, floor };
    });
    const out: string[] = ['# The embedded supervisor at rest', ''];
    out.push(`Made by \`tsx bench/supervisor-idle.ts\` on ${facts.date}. ${SERVICES} services (a shell that sleeps: no network, no health check, no output) run; the supervisor of each build in turn supervises them (the services keep running while it is swapped), ${SETTLE_S} s to settle, then CPU time (utime + stime from /proc) over a ${WINDOW_S} s window, and RSS at its end; ${WINDOWS} windows each, interleaved. The floor: the systemd backend has no supervisor (0 CPU, 0 memory); the peer: podman's conmon, one per container, ~2 MiB RSS each (40 MiB for 20; bench/results/services.md). Issue 17's aim: < 0.5% of a core and ≤ 30 MiB.`, '');
    out.push(mdTable(['fact', 'value'], [...machineRows(facts), ['load average (1/5/15 min): at start; before; after', `${facts.loadStart}; ${loadBefore}; ${loadAfter}`]]), '');
    out.push(mdTable(['supervisor', 'CPU (% of one core)', 'RSS', 'of it anonymous (its own)', 'floor: bare node, same flags: RSS / anonymous / CPU', 'above the floor: RSS / anonymous'],
      rows.map((r) => [r.b.label, pct(r.cpu), fmtKb(r.rss.median), fmtKb(r.anon.median), `${fmtKb(r.floor.rss.median)} / ${fmtKb(r.floor.anon.median)} / ${r.floor.cpu.median.toFixed(2)}%`, `${fmtKb(r.rss.median - r.floor.rss.median)} / ${fmtKb(r.anon.median - r.floor.anon.median)}`])), '');
    const base = rows.find((r) => r.b.label.startsWith('baseline'));
    if (base) out.push(`CPU, baseline/this build: ${fmtRatio(base.cpu.median, rows[0]!.cpu.median)}.`, '');
    out.push(`Every supervisor runs with \`${SUPERVISOR_NODE_FLAGS.join(' ')}\` (src/service/supervisor.ts SUPERVISOR_NODE_FLAGS) before a variant's own flags; so does its bare node.`, '');
    writeReport(RESULT, out.join('\n') + '\n');
  } finally {
    off();
    await teardown();
  }
}

await main();
