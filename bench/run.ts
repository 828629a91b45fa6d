// Times niso pack/install/start-up against tar+zstd and node on real apps; writes bench/results/pack-install.md.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { RECIPES, manifestToml, prepareApp, type PreparedApp } from './lib/apps.js';
import { filesystemOf, loadNow, machineFacts, writeReport } from './lib/machine.js';
import { niso, nisoEnv, parseJson, resolveNiso, type InstallJson, type NisoCli, type PackJson } from './lib/niso.js';
import { bash, duBytes, q, run } from './lib/proc.js';
import { intEnv } from './lib/env.js';
import { fmtBytes, fmtMs, fmtPct, fmtRatio, fmtSummary, mdTable, summarize, type Summary } from './lib/stats.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const WARMUP = 1;
const RUNS = intEnv('BENCH_RUNS', 5);
const DISK_RUNS = intEnv('BENCH_DISK_RUNS', 3);
const STARTUP_RUNS = intEnv('BENCH_STARTUP_RUNS', 20);
const TMPFS = process.env.BENCH_TMPFS ?? '/dev/shm';
const DISK = process.env.BENCH_DISK ?? '/var/tmp';
const CACHE = join(repo, 'bench/.cache');
const RESULT = join(repo, 'bench/results/pack-install.md');
/** An earlier build (a directory with bin/ and dist/) timed beside this one for pack and install on tmpfs, e.g. the branch point. */
const BASELINE = process.env.BENCH_BASELINE;
const BASELINE_LABEL = process.env.BENCH_BASELINE_LABEL ?? 'baseline';
const BASE_PEER = `niso ${BASELINE_LABEL}`;

/**
 * pack and install run without NODE_EXTRA_CA_CERTS: node reads that bundle at every start (~70 ms here), which the
 * start-up rows show apart; the README's figures and issue 17's aims are without it.
 */
const packEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env = nisoEnv(extra);
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
};

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Removes a tree, including niso store objects, whose directories are sealed read-only. */
function wipe(path: string): void {
  if (!existsSync(path)) return;
  if (process.getuid?.() !== 0) run('chmod', ['-R', 'u+w', path]);
  rmSync(path, { recursive: true, force: true });
}

function fresh(dir: string): string {
  wipe(dir);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The peers: the same deterministic tar flags niso's format implies, compressed by the zstd CLI. */
const tarCmd = (dir: string) => `tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C ${q(dir)} -cf - .`;
const PEER_T0 = 'tar | zstd -3 -T0';
const PEER_T1 = 'tar | zstd -3 (1 thread)';
const PEER_X = 'zstd -d | tar -x';
const PEER_XS = 'zstd -d | tar -x; sync -f';
const NODE0 = 'node -e 0';

/**
 * Runs each step once per round, rotating their order so none always goes first; drops warm-ups.
 * `settle` runs untimed before every step (on disk: flush what the previous step left dirty).
 */
function interleaved(rounds: number, warmup: number, steps: Record<string, (round: number) => number>, settle?: () => void): Record<string, Summary> {
  const names = Object.keys(steps);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < warmup + rounds; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length]!;
      settle?.();
      const ms = steps[name]!(i);
      if (i >= warmup) samples[name]!.push(ms);
    }
  }
  return Object.fromEntries(names.map((n) => [n, summarize(samples[n]!)]));
}

interface Row { phase: string; app: string; niso: Summary; peer: string; peerTime: Summary }

interface AppResult {
  app: PreparedApp;
  pack: PackJson;
  pack101: PackJson;
  deterministic: boolean;
  dirBytes: number;
  tarZstT0: number;
  tarZstT1: number;
  install: InstallJson;
  install101: InstallJson[];
  storeGrowth101: number[];
  /** `diff -r` of niso's installed app/ against the tar extraction (manifest.toml aside). */
  sameTree: boolean;
  /** With a baseline build: whether it packed the same bytes (digest and file). */
  sameAsBaseline?: boolean;
}

function packPhase(cli: NisoCli, app: PreparedApp, src: string, out: string, rounds: number, where: string, rows: Row[], settle?: () => void, base?: NisoCli): { pack: PackJson; deterministic: boolean; sameAsBaseline?: boolean; t0: string; t1: string } {
  mkdirSync(out, { recursive: true });
  const nisoOut = join(out, `${app.name}.niso`);
  const t0 = join(out, `${app.name}.T0.tar.zst`);
  const t1 = join(out, `${app.name}.T1.tar.zst`);
  let pack: PackJson | undefined;
  const digests = new Set<string>();
  const baseDigests = new Set<string>();
  const baseOut = join(out, `${app.name}.baseline.niso`);
  const s = interleaved(rounds, WARMUP, {
    niso: () => {
      rmSync(nisoOut, { force: true });
      const r = niso(cli, ['pack', src, '-o', nisoOut, '--json'], { env: packEnv() });
      pack = parseJson<PackJson>(r, 'niso pack');
      digests.add(`${pack.digest} ${sha256File(nisoOut)}`);
      return r.ms;
    },
    ...(base ? {
      [BASE_PEER]: () => {
        rmSync(baseOut, { force: true });
        const r = niso(base, ['pack', src, '-o', baseOut, '--json'], { env: packEnv() });
        baseDigests.add(`${parseJson<PackJson>(r, 'niso pack (baseline)').digest} ${sha256File(baseOut)}`);
        return r.ms;
      },
    } : {}),
    [PEER_T0]: () => { rmSync(t0, { force: true }); return bash(`${tarCmd(src)} | zstd -3 -T0 -q -o ${q(t0)}`).ms; },
    [PEER_T1]: () => { rmSync(t1, { force: true }); return bash(`${tarCmd(src)} | zstd -3 -q -o ${q(t1)}`).ms; },
  }, settle);
  rows.push({ phase: `pack, ${where}`, app: app.name, niso: s.niso!, peer: PEER_T0, peerTime: s[PEER_T0]! });
  rows.push({ phase: `pack, ${where}`, app: app.name, niso: s.niso!, peer: PEER_T1, peerTime: s[PEER_T1]! });
  if (base) rows.push({ phase: `pack, ${where}`, app: app.name, niso: s.niso!, peer: BASE_PEER, peerTime: s[BASE_PEER]! });
  const sameAsBaseline = base ? baseDigests.size === 1 && digests.size === 1 && [...baseDigests][0] === [...digests][0] : undefined;
  return { pack: pack!, deterministic: digests.size === 1, sameAsBaseline, t0, t1 };
}

/** True when the one store object under root holds exactly the files tar extracted. */
function sameInstalledTree(root: string, extracted: string): boolean {
  const store = join(root, 'var/lib/niso/store');
  const objects = readdirSync(store);
  if (objects.length !== 1) throw new Error(`expected one store object in ${store}, found ${objects.length}`);
  try {
    run('diff', ['-r', '--no-dereference', '-q', '--exclude=manifest.toml', join(store, objects[0]!, 'app'), extracted]);
    return true;
  } catch (e) {
    log(`installed tree differs from the tar extraction: ${(e as Error).message.slice(0, 600)}`);
    return false;
  }
}

function copyApp(from: string, to: string, version?: string): string {
  wipe(to);
  mkdirSync(dirname(to), { recursive: true });
  run('cp', ['-a', from, to]);
  if (version !== undefined) {
    const name = readFileSync(join(to, 'manifest.toml'), 'utf8').match(/name = "([^"]+)"/)![1]!;
    writeFileSync(join(to, 'manifest.toml'), manifestToml(name, version));
    appendFileSync(join(to, 'server.js'), `// ${version}: the one changed file\n`);
  }
  return to;
}

function main(): void {
  const started = performance.now();
  const shm = join(TMPFS, `niso-bench-${process.pid}`);
  const disk = join(DISK, `niso-bench-${process.pid}`);
  try {
    bench(shm, disk, started);
  } finally {
    wipe(shm);
    wipe(disk);
  }
}

function bench(shm: string, disk: string, started: number): void {
  const cli = resolveNiso(repo, join(shm, 'niso'));
  const base = BASELINE ? resolveNiso(resolve(BASELINE), join(shm, 'niso-baseline')) : undefined;
  const facts = machineFacts(repo);
  log(`niso: ${cli.describe}`);
  const fsTmp = filesystemOf(TMPFS);
  const fsDisk = filesystemOf(DISK);
  if (!/tmpfs/.test(fsTmp)) log(`warning: ${TMPFS} is ${fsTmp}, not tmpfs`);

  log('preparing apps in bench/.cache ...');
  mkdirSync(CACHE, { recursive: true });
  const apps = RECIPES.map((r) => {
    const a = prepareApp(CACHE, r, log);
    log(`  ${a.name}: ${a.reused ? 'reused' : `installed in ${fmtMs(a.prepareMs)}`}, node_modules ${fmtBytes(a.nodeModulesBytes)} (${a.dir})`);
    return a;
  });

  const rows: Row[] = [];
  const results: AppResult[] = [];
  for (const app of apps) {
    log(`${app.name}: copying to ${shm} and ${disk}`);
    const src = copyApp(app.dir, join(shm, 'apps', app.name));
    const src101 = copyApp(app.dir, join(shm, 'apps', `${app.name}-1.0.1`), '1.0.1');
    const srcDisk = copyApp(app.dir, join(disk, 'apps', app.name));

    log(`${app.name}: pack on tmpfs (${WARMUP} warm-up + ${RUNS} runs each)`);
    const p = packPhase(cli, app, src, join(shm, 'out'), RUNS, 'tmpfs', rows, undefined, base);
    log(`${app.name}: pack on disk (${WARMUP} warm-up + ${DISK_RUNS} runs each)`);
    const settleDisk = () => { run('sync', ['-f', disk]); };
    packPhase(cli, app, srcDisk, join(disk, 'out'), DISK_RUNS, 'disk', rows, settleDisk);

    // 1.0.1: the same app with one changed file, packed by niso and by the peer (not timed).
    const pkg101 = join(shm, 'out', `${app.name}-1.0.1.niso`);
    const pack101 = parseJson<PackJson>(niso(cli, ['pack', src101, '-o', pkg101, '--json'], { env: packEnv() }), 'niso pack 1.0.1');
    const tar101 = join(shm, 'out', `${app.name}-1.0.1.tar.zst`);
    bash(`${tarCmd(src101)} | zstd -3 -T0 -q -f -o ${q(tar101)}`);

    log(`${app.name}: install on tmpfs (${WARMUP} warm-up + ${RUNS} runs each), then 1.0.1 next to 1.0.0`);
    const pkg = join(shm, 'out', `${app.name}.niso`);
    let install: InstallJson | undefined;
    const install101: InstallJson[] = [];
    const growth: number[] = [];
    let sameTree = false;
    const nisoRoot = (i: number) => join(shm, 'roots', `${app.name}-${i}`);
    const peerDir = (i: number) => join(shm, 'x', `${app.name}-${i}`);
    const baseRoot = join(shm, 'roots', `${app.name}-baseline`);
    const s = interleaved(RUNS, WARMUP, {
      niso: (i) => {
        const env = packEnv({ NISO_ROOT: fresh(nisoRoot(i)) });
        const r = niso(cli, ['install', pkg, '--json'], { env });
        install = parseJson<InstallJson>(r, 'niso install');
        if (install.alreadyInstalled || install.files !== p.pack.files) throw new Error(`unexpected install result: ${r.stdout}`);
        return r.ms;
      },
      ...(base ? {
        [BASE_PEER]: () => {
          const r = niso(base, ['install', pkg, '--json'], { env: packEnv({ NISO_ROOT: fresh(baseRoot) }) });
          if (parseJson<InstallJson>(r, 'niso install (baseline)').alreadyInstalled) throw new Error('baseline: already installed');
          const ms = r.ms;
          wipe(baseRoot);
          return ms;
        },
      } : {}),
      [PEER_X]: (i) => bash(`zstd -d -c ${q(p.t0)} | tar -xf - -C ${q(fresh(join(peerDir(i), '1.0.0')))}`).ms,
    });
    rows.push({ phase: 'install, tmpfs', app: app.name, niso: s.niso!, peer: PEER_X, peerTime: s[PEER_X]! });
    if (base) rows.push({ phase: 'install, tmpfs', app: app.name, niso: s.niso!, peer: BASE_PEER, peerTime: s[BASE_PEER]! });
    // The roots of the first pass hold 1.0.0; now add 1.0.1 next to it in each.
    const s101 = interleaved(RUNS, WARMUP, {
      niso: (i) => {
        const env = packEnv({ NISO_ROOT: nisoRoot(i) });
        if (i === 0) sameTree = sameInstalledTree(nisoRoot(i), join(peerDir(i), '1.0.0'));
        const before = duBytes(nisoRoot(i));
        const r = niso(cli, ['install', pkg101, '--json'], { env });
        const j = parseJson<InstallJson>(r, 'niso install 1.0.1');
        if (j.alreadyInstalled) throw new Error(`1.0.1 was already installed in ${nisoRoot(i)}`);
        if (i >= WARMUP) { install101.push(j); growth.push(duBytes(nisoRoot(i)) - before); }
        wipe(nisoRoot(i));
        return r.ms;
      },
      [PEER_X]: (i) => {
        const ms = bash(`zstd -d -c ${q(tar101)} | tar -xf - -C ${q(fresh(join(peerDir(i), '1.0.1')))}`).ms;
        wipe(peerDir(i));
        return ms;
      },
    });
    rows.push({ phase: 'install 1.0.1 next to 1.0.0, tmpfs', app: app.name, niso: s101.niso!, peer: PEER_X, peerTime: s101[PEER_X]! });

    log(`${app.name}: install on disk (1 run each, no warm-up)`);
    const diskPkg = join(disk, 'out', `${app.name}.niso`);
    const diskTar = join(disk, 'out', `${app.name}.T0.tar.zst`);
    const d = interleaved(1, 0, {
      // Trees stay until the app is done: deleting on this ext4 (mounted with discard) stalls the next writer.
      niso: () => niso(cli, ['install', diskPkg, '--json'], { env: packEnv({ NISO_ROOT: fresh(join(disk, 'roots', app.name)) }) }).ms,
      [PEER_X]: () => bash(`zstd -d -c ${q(diskTar)} | tar -xf - -C ${q(fresh(join(disk, 'x', app.name)))}`).ms,
      [PEER_XS]: () => {
        const x = fresh(join(disk, 'xs', app.name));
        return bash(`zstd -d -c ${q(diskTar)} | tar -xf - -C ${q(x)}; sync -f ${q(x)}`).ms;
      },
    }, settleDisk);
    rows.push({ phase: 'install, disk', app: app.name, niso: d.niso!, peer: PEER_X, peerTime: d[PEER_X]! });
    rows.push({ phase: 'install, disk', app: app.name, niso: d.niso!, peer: PEER_XS, peerTime: d[PEER_XS]! });

    results.push({
      app, pack: p.pack, pack101, deterministic: p.deterministic, dirBytes: duBytes(src),
      tarZstT0: statSync(p.t0).size, tarZstT1: statSync(p.t1).size, install: install!, install101, storeGrowth101: growth, sameTree, sameAsBaseline: p.sameAsBaseline,
    });
    wipe(join(shm, 'x'));
    wipe(join(shm, 'roots'));
    wipe(join(disk, 'roots'));
    wipe(join(disk, 'x'));
    wipe(join(disk, 'xs'));
  }

  log(`start-up (${WARMUP} warm-up + ${STARTUP_RUNS} runs each)`);
  const emptyRoot = fresh(join(shm, 'empty-root'));
  const noCa = nisoEnv();
  delete noCa.NODE_EXTRA_CA_CERTS;
  const startupSteps: Record<string, () => number> = {
    version: () => {
      const r = niso(cli, ['--version']);
      if (!/^\d+\.\d+\.\d+/.test(r.stdout.trim())) throw new Error(`niso --version printed ${r.stdout}`);
      return r.ms;
    },
    list: () => niso(cli, ['list'], { env: nisoEnv({ NISO_ROOT: emptyRoot }) }).ms,
    [NODE0]: () => run(process.execPath, ['-e', '0']).ms,
  };
  const caSet = Boolean(process.env.NODE_EXTRA_CA_CERTS);
  if (caSet) {
    // Node reads the NODE_EXTRA_CA_CERTS bundle at every start; show what that costs.
    const emptyNoCa = { ...noCa, NISO_ROOT: emptyRoot };
    startupSteps.versionNoCa = () => niso(cli, ['--version'], { env: noCa }).ms;
    startupSteps.listNoCa = () => niso(cli, ['list'], { env: emptyNoCa }).ms;
    startupSteps.nodeNoCa = () => run(process.execPath, ['-e', '0'], { env: noCa }).ms;
  }
  const st = interleaved(STARTUP_RUNS, WARMUP, startupSteps);
  const ca = caSet ? ', NODE_EXTRA_CA_CERTS set' : '';
  rows.push({ phase: `start-up${ca}`, app: '`niso --version`', niso: st.version!, peer: NODE0, peerTime: st[NODE0]! });
  rows.push({ phase: `start-up${ca}`, app: '`niso list` (empty store)', niso: st.list!, peer: NODE0, peerTime: st[NODE0]! });
  if (caSet) {
    rows.push({ phase: 'start-up, NODE_EXTRA_CA_CERTS unset', app: '`niso --version`', niso: st.versionNoCa!, peer: NODE0, peerTime: st.nodeNoCa! });
    rows.push({ phase: 'start-up, NODE_EXTRA_CA_CERTS unset', app: '`niso list` (empty store)', niso: st.listNoCa!, peer: NODE0, peerTime: st.nodeNoCa! });
  }

  const report = render({ cli, base, facts, fsTmp, fsDisk, results, rows, totalMs: performance.now() - started, loadEnd: loadNow() });
  writeReport(RESULT, report);
  log(`wrote ${RESULT} in ${fmtMs(performance.now() - started)}`);
}

interface RenderInput {
  cli: NisoCli;
  base?: NisoCli;
  facts: ReturnType<typeof machineFacts>;
  fsTmp: string;
  fsDisk: string;
  results: AppResult[];
  rows: Row[];
  totalMs: number;
  loadEnd: string;
}

function render(x: RenderInput): string {
  const f = x.facts;
  const out: string[] = [];
  out.push('# niso pack / install benchmark', '');
  out.push(`Made by \`npm run bench\` (bench/run.ts) on ${f.date} in ${fmtMs(x.totalMs)}. Each cell is the **median**, then (min–max, n runs) after ${WARMUP} warm-up; niso and its peer ran interleaved in the same run. The ratio is niso/peer on medians: above 1× niso is slower.`, '');

  out.push('## Machine', '');
  out.push(mdTable(['fact', 'value'], [
    ['date', f.date],
    ['nproc', f.nproc],
    ['cpu / memory', `${f.cpu} / ${f.memory}`],
    ['kernel', f.kernel],
    ['node / npm', `${f.node} / ${f.npm}`],
    ['zstd', f.zstd],
    ['tar', f.tar],
    ['tmpfs runs', `${TMPFS}: ${x.fsTmp}`],
    ['disk runs', `${DISK}: ${x.fsDisk}`],
    ['NODE_EXTRA_CA_CERTS', f.nodeExtraCaCerts],
    ['niso CLI', x.cli.describe],
    ...(x.base ? [[`${BASE_PEER} (rows with it as the peer)`, `${BASELINE}: the same kind of bundle, copied aside the same way`]] : []),
    ['niso source', f.git],
    ['load average 1/5/15 min', `${f.loadStart} at the start, ${x.loadEnd} at the end (2 cores: other work on the machine shows up as spread)`],
  ]), '');

  out.push('## Apps', '');
  out.push(mdTable(['app', 'top-level dependencies (npm install --no-audit --no-fund --ignore-scripts)', 'files', 'node_modules (du -sb)'],
    x.results.map((r) => [r.app.name, Object.entries(r.app.dependencies).map(([k, v]) => `${k}@${v}`).join(', '), String(r.pack.files), fmtBytes(r.app.nodeModulesBytes)])), '');

  out.push('## Time', '');
  out.push(mdTable(['phase', 'app', 'niso', 'peer', 'peer time', 'niso/peer'],
    x.rows.map((r) => [r.phase, r.app, fmtSummary(r.niso), `\`${r.peer}\``, fmtSummary(r.peerTime), fmtRatio(r.niso.median, r.peerTime.median)])), '');

  out.push('## Size', '');
  out.push(mdTable(['app', 'app dir (du -sb)', "files' bytes (niso appBytes)", '.niso', 'tar.zst -T0', 'tar.zst 1 thread', '.niso / app', '.niso / tar.zst', 'pack deterministic', 'installed tree = tar -x tree'],
    x.results.map((r) => [r.app.name, fmtBytes(r.dirBytes), fmtBytes(r.pack.appBytes), fmtBytes(r.pack.packageBytes), fmtBytes(r.tarZstT0), fmtBytes(r.tarZstT1),
      `${((r.pack.packageBytes / r.dirBytes) * 100).toFixed(1)}%`, fmtRatio(r.pack.packageBytes, r.tarZstT0),
      `${r.deterministic ? 'yes (same digest and bytes every run)' : '**NO**'}${r.sameAsBaseline === undefined ? '' : r.sameAsBaseline ? `; the same digest and bytes as ${BASE_PEER}` : `; **NOT** the bytes of ${BASE_PEER}`}`, r.sameTree ? 'yes' : '**NO**'])), '');

  out.push('## Dedupe: installing 1.0.1 (one changed file) next to 1.0.0', '');
  out.push(mdTable(['app', '1.0.1 files\' bytes', 'niso newBytes (median)', 'store growth, du -sb (median)', 'peer writes (every file)', 'niso/peer bytes', '1.0.0 install newBytes (dedupe inside one package)'],
    x.results.map((r) => {
      const nb = summarize(r.install101.map((j) => j.newBytes)).median;
      const g = summarize(r.storeGrowth101).median;
      return [r.app.name, fmtBytes(r.pack101.appBytes), `${nb} B`, fmtBytes(g), fmtBytes(r.pack101.appBytes), fmtPct(nb, r.pack101.appBytes), `${fmtBytes(r.install.newBytes)} of ${fmtBytes(r.install.bytes)}`];
    })), '');

  out.push('## Notes', '');
  out.push(`- Runs: ${RUNS} on tmpfs, ${DISK_RUNS} for pack on disk, 1 for install on disk. Before every disk step an untimed \`sync -f\` flushes what the previous one left dirty; disk trees are deleted only after all of an app's disk steps (deletes on an ext4 mounted with discard stall the next writer). The disk figures stay noisy (this VM's disk is shared), so trust the tmpfs rows for comparisons.`);
  out.push(`- Peers run as \`bash -c 'set -euo pipefail; …'\`; pack peers: \`${tarCmd('DIR')} | zstd -3 [-T0] -q -o OUT\`; install peer: \`zstd -d -c FILE | tar -xf - -C DIR\`. The peers neither hash nor verify anything, and plain extraction does not flush to disk; the \`sync -f\` row adds the flush niso's install does.`);
  out.push("- \"store growth\" is `du -sb NISO_ROOT` after minus before installing 1.0.1; it includes the new store object's directories and niso/ metadata, which newBytes (file content only) does not.");
  out.push('- The pack sources were copied from bench/.cache to each filesystem first, so reads come from the page cache on disk too.');
  out.push('- niso pack and install ran with NODE_EXTRA_CA_CERTS unset (node reads that bundle at every start, ~70 ms on these machines; the start-up rows show it apart), as the README figures are.');
  if (x.base) out.push(`- \`${BASE_PEER}\` rows: an earlier build (${BASELINE}) timed in the same rounds as this one, pack and install on tmpfs; ratios below 1× mean this build is faster.`);
  if (x.cli.mode === 'tsx') out.push('- niso ran from its TypeScript sources through tsx because dist/niso.mjs did not exist: every niso time includes tsx loading and transpiling, which inflates start-up most. Rerun `npm run bench` once the build passes.');
  out.push('');
  return out.join('\n');
}

main();
