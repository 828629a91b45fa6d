// What the read commands cost on the embedded backend with N services (issue 17: "`niso status` / `niso list` with 20
// services ≤ 1.5× `node -e 0`"): `niso --version`, `status`, `status --json`, `list`, `list --json` of this build and,
// side by side in the same rounds, of a baseline build (BENCH_BASELINE: a repo checkout or a dist/ dir), against the
// floor `node -e 0` and the peer `podman ps` (when podman is installed). Wall time from spawn to exit, and the CPU time
// of the command (the children's utime + stime this process waited for). Writes bench/results/read-commands.md.
// The systemd backend's rows are bench/systemd.ts's. Knobs: BENCH_SERVICES (20), BENCH_RUNS (15), BENCH_BASELINE,
// BENCH_DIR.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitedChildrenCpuMs } from './lib/cpu.js';
import { benchDirEnv, intEnv } from './lib/env.js';
import { loadNow, machineFacts, machineRows, writeReport } from './lib/machine.js';
import { idleBenchWork, startIdleServices, stopIdleServices } from './lib/idle-services.js';
import { cleanupOnInterrupt, run } from './lib/proc.js';
import { fmtMs, fmtRatio, fmtSummary, mdTable, summarize } from './lib/stats.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SERVICES = intEnv('BENCH_SERVICES', 20);
const RUNS = intEnv('BENCH_RUNS', 15);
const BASE = benchDirEnv();
const RESULT = join(repo, 'bench/results/read-commands.md');
const log = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  const { work, cli, root, env } = idleBenchWork(repo, BASE, 'reads', log);
  const builds = [{ key: 'new', label: `this build (${machineFacts(repo).git})`, bin: cli.prefix[0]! }];
  const baseline = process.env.BENCH_BASELINE;
  if (baseline) {
    const copy = join(work, 'baseline');
    mkdirSync(copy, { recursive: true });
    run('cp', ['-a', existsSync(join(baseline, 'dist/niso.mjs')) ? join(baseline, 'dist') : baseline, join(copy, 'dist')]);
    run('cp', ['-a', join(repo, 'bin'), join(copy, 'bin')]);
    builds.push({ key: 'base', label: `baseline (${process.env.BENCH_BASELINE_LABEL ?? baseline})`, bin: join(copy, 'bin/niso') });
  }
  const off = cleanupOnInterrupt(async () => { await teardown(); }, log);
  async function teardown(): Promise<void> {
    await stopIdleServices(cli, env, root, work, SERVICES);
  }
  try {
    startIdleServices(cli, env, work, SERVICES);
    log(`${SERVICES} services active; load ${loadNow()}`);

    const podman = spawnSync('podman', ['--version'], { encoding: 'utf8' }).status === 0;
    const cmds: [string, string[]][] = [['node -e 0', [process.execPath, '-e', '0']]];
    if (podman) cmds.push(['podman ps', ['podman', 'ps']]);
    for (const b of builds) {
      for (const args of [['--version'], ['status'], ['status', '--json'], ['list'], ['list', '--json']]) cmds.push([`${b.key}: niso ${args.join(' ')}`, [process.execPath, b.bin, ...args]]);
    }
    const wall = new Map<string, number[]>(cmds.map(([k]) => [k, []]));
    const cpu = new Map<string, number[]>(cmds.map(([k]) => [k, []]));
    const loadBefore = loadNow();
    for (let round = 0; round <= RUNS; round++) {
      for (let i = 0; i < cmds.length; i++) {
        // A rotating order, so that no command always follows the same one; round 0 warms the page cache.
        const [key, argv] = cmds[(i + round) % cmds.length]!;
        const c0 = waitedChildrenCpuMs();
        const t0 = performance.now();
        const r = spawnSync(argv[0]!, argv.slice(1), { env, encoding: 'utf8' });
        const ms = performance.now() - t0;
        if (r.status !== 0) throw new Error(`${key} exited ${r.status}: ${r.stderr}`);
        if (round > 0) { wall.get(key)!.push(ms); cpu.get(key)!.push(waitedChildrenCpuMs() - c0); }
      }
      log(`round ${round}/${RUNS}; load ${loadNow()}`);
    }
    const loadAfter = loadNow();
    const facts = machineFacts(repo);
    const w = (k: string) => summarize(wall.get(k)!);
    const c = (k: string) => summarize(cpu.get(k)!);
    const floor = w('node -e 0').median;
    const rows = cmds.map(([k]) => {
      const ratio = w(k).median / floor;
      const aim = /status|list/.test(k) ? ` (aim ≤ 1.5×: ${ratio <= 1.5 ? 'met' : '**not met**'})` : '';
      return [k.replace(/^new: /, 'this build: ').replace(/^base: /, 'baseline: '), fmtSummary(w(k)), `${fmtRatio(w(k).median, floor)}${aim}`, fmtMs(c(k).median)];
    });
    const out = ['# Read commands with services: `niso status` and `niso list`', ''];
    out.push(`Made by \`npm run bench:reads\` (bench/read-commands.ts) on ${facts.date}. ${SERVICES} services run on the embedded backend (a shell that sleeps: no network, no health check), their supervisor running. Each command ran once per round in a rotating order, 1 warm-up round and ${RUNS} kept; wall time from spawn to exit, **median** (min–max, n), and the median CPU time (utime + stime of the command and its children, in the kernel's 10 ms ticks). NODE_EXTRA_CA_CERTS unset (it adds ~45 ms to every node start here). The floor is \`node -e 0\`; the peer \`podman ps\` (no containers).`, '');
    out.push(mdTable(['fact', 'value'], [...machineRows(facts), ['load average (1/5/15 min): at start; before timing; after', `${facts.loadStart}; ${loadBefore}; ${loadAfter}`]]), '');
    out.push(mdTable(['command', 'wall', 'against `node -e 0`', 'CPU'], rows), '');
    writeReport(RESULT, out.join('\n') + '\n');
  } finally {
    off();
    await teardown();
  }
}

await main();
