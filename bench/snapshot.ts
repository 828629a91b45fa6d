// Whether a V8 start-up snapshot of the CLI pays (issue 17): niso bundled as one CommonJS file, a snapshot built from
// it (`node --snapshot-blob B --build-snapshot`, bench/lib/snapshot-entry.ts) and each command started from that
// blob, side by side in the same rounds with this build (`node bin/niso`: the ESM entry and its chunks) and the
// floors `node -e 0` and a start from an empty user snapshot (what any user snapshot costs before holding anything).
// Snapshots: `reads` (the read commands' modules; no commander), `all` (also program, run and the service verbs),
// `warm` (all, with `--help` drawn before the snapshot is taken; only with BENCH_SNAPSHOTS). Also the `all` bundle
// without a snapshot, through a loader that compiles it with V8's code cache (vm.Script cachedData). Commands on the embedded backend with a few idle
// services: `--version`, `status --json`, `list`, `run --json` of a small package (plans, starts nothing), and
// `activate` + `deactivate` of a service (one sample: both commands). Wall time from spawn to exit and CPU (utime +
// stime of the command and the children it waited for). Writes bench/results/snapshot.md.
// Knobs: BENCH_RUNS (15), BENCH_SERVICES (3), BENCH_SNAPSHOTS (empty,reads,all), BENCH_DIR.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { waitedChildrenCpuMs } from './lib/cpu.js';
import { intEnv } from './lib/env.js';
import { loadNow, machineFacts, machineRows, writeReport } from './lib/machine.js';
import { idleBenchWork, startIdleServices, stopIdleServices } from './lib/idle-services.js';
import { cleanupOnInterrupt, run } from './lib/proc.js';
import { fmtBytes, fmtMs, fmtRatio, fmtSummary, mdTable, summarize } from './lib/stats.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = intEnv('BENCH_RUNS', 15);
const SERVICES = intEnv('BENCH_SERVICES', 3);
const BASE = process.env.BENCH_DIR || '/var/tmp';
const RESULT = join(repo, 'bench/results/snapshot.md');
/** The snapshots to build and time; BENCH_SNAPSHOTS=empty,reads,all,warm adds `warm` (which measured as `all`). */
const KINDS = (process.env.BENCH_SNAPSHOTS ?? 'empty,reads,all').split(',') as Kind[];
const log = (s: string) => process.stderr.write(`${s}\n`);

/** The same zod trim as scripts/build.mjs: zod's `z` re-exports every locale; niso uses English only. */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b: import('esbuild').PluginBuild) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({ contents: 'export { default as en } from "./en.js";\n', loader: 'js' as const, resolveDir: dirname(args.path) }));
  },
};
/** For the `reads` snapshot: commander's program left out (a command line that needs it fails, as it says). */
const noProgram = {
  name: 'no-program',
  setup(b: import('esbuild').PluginBuild) {
    b.onLoad({ filter: /[\\/]src[\\/]cli[\\/]program\.ts$/ }, () => ({ contents: 'export async function parse(): Promise<void> { throw new Error("not in this snapshot"); }\n', loader: 'ts' as const }));
  },
};

type Kind = 'empty' | 'reads' | 'all' | 'warm';

/**
 * The code-cache variant: the `all` bundle run without a snapshot, compiled through vm.Script with V8's code cache
 * (made once, after a `status --json`), the compile cache node 20 offers to CommonJS by hand.
 */
const CODE_CACHE_LOADER = `// Runs niso.cjs with the V8 code cache in niso.cache (bench/snapshot.ts); NISO_CODE_CACHE_WRITE=1 writes it after the command.
const vm = require('node:vm'), fs = require('node:fs'), path = require('node:path'), Module = require('node:module');
const bundle = path.join(__dirname, 'niso.cjs'), cacheFile = path.join(__dirname, 'niso.cache');
let cachedData; try { cachedData = fs.readFileSync(cacheFile); } catch {}
const script = new vm.Script(Module.wrap(fs.readFileSync(bundle, 'utf8')), { filename: bundle, cachedData });
const m = { exports: {} };
script.runInThisContext()(m.exports, require, m, bundle, __dirname);
if (process.env.NISO_CODE_CACHE_WRITE === '1') process.on('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()));
else if (script.cachedDataRejected !== false) { process.stderr.write('code cache rejected or missing\\n'); process.exit(70); }
globalThis.nisoBenchStart(process.argv.slice(2), path.join(__dirname, 'bin/niso'));
`;

/** Builds one snapshot in dir/: the CommonJS bundle, then the blob; dir/bin is the copied build's bin (ctx.entry). */
async function buildSnapshot(kind: Kind, dir: string, bin: string): Promise<{ blob: string; bundleBytes: number; blobBytes: number; buildMs: number }> {
  mkdirSync(dir, { recursive: true });
  symlinkSync(bin, join(dir, 'bin'));
  const bundle = join(dir, 'niso.cjs');
  const blob = join(dir, 'niso.blob');
  if (kind === 'empty') {
    writeFileSync(bundle, "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {});\n");
  } else {
    const pkg = JSON.parse(run('cat', [join(repo, 'package.json')]).stdout) as { version: string };
    await build({
      entryPoints: [join(repo, 'bench/lib/snapshot-entry.ts')], outfile: bundle, bundle: true, format: 'cjs', platform: 'node',
      target: 'node20', minifySyntax: true, define: { NISO_VERSION: JSON.stringify(pkg.version) },
      plugins: kind === 'reads' ? [zodEnglishOnly, noProgram] : [zodEnglishOnly], logLevel: 'error',
    });
  }
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', bundle], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_SNAPSHOT_KIND: kind } });
  if (r.status !== 0) throw new Error(`building the ${kind} snapshot: ${r.stderr}`);
  return { blob, bundleBytes: statSync(bundle).size, blobBytes: statSync(blob).size, buildMs: performance.now() - t0 };
}

async function main(): Promise<void> {
  const { work, cli, root, env } = idleBenchWork(repo, BASE, 'snapshot', log);
  const bin = join(work, 'niso/bin');
  const off = cleanupOnInterrupt(async () => { await stopIdleServices(cli, env, root, work, SERVICES); }, log);
  try {
    const facts = machineFacts(repo);
    const snaps = new Map<Kind, Awaited<ReturnType<typeof buildSnapshot>>>();
    for (const kind of KINDS) {
      snaps.set(kind, await buildSnapshot(kind, join(work, `snap-${kind}`), bin));
      log(`${kind} snapshot: ${fmtBytes(snaps.get(kind)!.blobBytes)}`);
    }
    startIdleServices(cli, env, work, SERVICES);
    log(`${SERVICES} services active; load ${loadNow()}`);
    // The code cache: the `all` bundle beside a loader, its cache written by one `status --json`.
    const cc = join(work, 'code-cache');
    mkdirSync(cc);
    symlinkSync(bin, join(cc, 'bin'));
    copyFileSync(join(work, 'snap-all/niso.cjs'), join(cc, 'niso.cjs'));
    writeFileSync(join(cc, 'loader.cjs'), CODE_CACHE_LOADER);
    run(process.execPath, [join(cc, 'loader.cjs'), 'status', '--json'], { env: { ...env, NISO_CODE_CACHE_WRITE: '1' } });
    const cacheBytes = statSync(join(cc, 'niso.cache')).size;

    const plain = (args: string[]) => [process.execPath, cli.prefix[0]!, ...args];
    const snap = (kind: Kind) => (args: string[]) => [process.execPath, '--snapshot-blob', snaps.get(kind)!.blob, '--', ...args];
    const codeCache = (args: string[]) => [process.execPath, join(cc, 'loader.cjs'), ...args];
    const starts: [string, (args: string[]) => string[]][] = [['this build', plain], ...KINDS.filter((k) => k !== 'empty').map((k): [string, (args: string[]) => string[]] => [`snapshot ${k}`, snap(k)]), ['code cache', codeCache]];
    const commands: [string, string[][]][] = [
      ['--version', [['--version']]],
      ['status --json', [['status', '--json']]],
      ['list', [['list']]],
      ['run --json idle', [['run', '--json', 'idle']]],
      ['activate + deactivate', [['activate', 'idle', '--name', 'snapbench', '--network', 'none', '--no-gate'], ['deactivate', 'snapbench']]],
    ];
    const cases: { key: string; argvs: string[][] }[] = [
      { key: 'node -e 0', argvs: [[process.execPath, '-e', '0']] },
      { key: 'empty user snapshot', argvs: [[process.execPath, '--snapshot-blob', snaps.get('empty')!.blob]] },
    ];
    for (const [what, lines] of commands) {
      for (const [label, start] of starts) {
        // The reads snapshot holds no commander: it runs only the command lines main.ts runs without it.
        if (label === 'snapshot reads' && !['--version', 'status --json', 'list'].includes(what)) continue;
        cases.push({ key: `${what} | ${label}`, argvs: lines.map(start) });
      }
    }
    // Each start prints what this build prints.
    for (const c of cases.filter((x) => /^(--version|status --json|list) \| (snapshot|code cache)/.test(x.key))) {
      const want = plain(c.argvs[0]!.slice(c.argvs[0]!.indexOf(c.key.includes('snapshot') ? '--' : join(cc, 'loader.cjs')) + 1));
      const a = spawnSync(c.argvs[0]![0]!, c.argvs[0]!.slice(1), { env, encoding: 'utf8' }).stdout;
      const b = spawnSync(want[0]!, want.slice(1), { env, encoding: 'utf8' }).stdout;
      // Numbers and the columns' padding aside: uptimes and ages differ between two calls.
      const shape = (out: string) => out.replace(/\d+/g, 'N').replace(/\s+/g, ' ');
      if (shape(a) !== shape(b)) log(`note: ${c.key} printed other output than this build:\n${a}\n---\n${b}`);
    }
    const wall = new Map<string, number[]>(cases.map((c) => [c.key, []]));
    const cpu = new Map<string, number[]>(cases.map((c) => [c.key, []]));
    const loadBefore = loadNow();
    for (let round = 0; round <= RUNS; round++) {
      for (let i = 0; i < cases.length; i++) {
        // A rotating order, so that no case always follows the same one; round 0 warms the page cache.
        const c = cases[(i + round) % cases.length]!;
        const c0 = waitedChildrenCpuMs();
        const t0 = performance.now();
        for (const argv of c.argvs) {
          const r = spawnSync(argv[0]!, argv.slice(1), { env, encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`${c.key} (${argv.slice(1).join(' ')}) exited ${r.status}: ${r.stderr}`);
        }
        const ms = performance.now() - t0;
        if (round > 0) { wall.get(c.key)!.push(ms); cpu.get(c.key)!.push(waitedChildrenCpuMs() - c0); }
      }
      log(`round ${round}/${RUNS}; load ${loadNow()}`);
    }
    const loadAfter = loadNow();
    const w = (k: string) => summarize(wall.get(k)!);
    const c = (k: string) => summarize(cpu.get(k)!);
    const floorWall = w('node -e 0').median;
    const floorCpu = c('node -e 0').median;
    const rows = cases.map(({ key }) => {
      const [what, label] = key.includes(' | ') ? key.split(' | ') : [key, ''];
      const same = label && label !== 'this build' ? `${what} | this build` : null;
      return [what!, label || '—', fmtSummary(w(key)), fmtRatio(w(key).median, floorWall), fmtMs(c(key).median), fmtRatio(c(key).median, floorCpu),
        same ? `${c(key).median - c(same).median >= 0 ? '+' : ''}${fmtMs(c(key).median - c(same).median)}` : ''];
    });
    const out = ['# A V8 start-up snapshot of the CLI (issue 17)', ''];
    out.push(`Made by \`npm run bench:snapshot\` (bench/snapshot.ts) on ${facts.date}. niso bundled as one CommonJS file (esbuild, no splitting), a snapshot built from it with \`node --snapshot-blob B --build-snapshot\` (bench/lib/snapshot-entry.ts) and each command started with \`node --snapshot-blob B -- ARGS\`, against this build (\`node bin/niso\`, the ESM bundle with its chunks) in the same rounds. Snapshots: *reads* holds main.ts and the modules of status and list (commander's program left out), *all* also program.ts, run and the service verbs, loaded; *warm* (when built: BENCH_SNAPSHOTS) is *all* with \`--help\` drawn once before the snapshot is taken. *code cache*: the *all* bundle without a snapshot, compiled by a small loader through \`vm.Script\` with V8's code cache (node 20 has no module compile cache; this is the one CommonJS can have by hand). The floors: \`node -e 0\` and \`node --snapshot-blob\` of an empty user snapshot (only a main function that does nothing). ${SERVICES} idle services on the embedded backend; \`run --json\` plans a small package and starts nothing; \`activate + deactivate\` is one sample of both commands. 1 warm-up round and ${RUNS} kept, rotating order; wall time **median** (min–max, n); CPU: median utime + stime of the command and the children it waited for, in the kernel's 10 ms ticks. NODE_EXTRA_CA_CERTS unset.`, '');
    out.push(mdTable(['fact', 'value'], [...machineRows(facts), ['load average (1/5/15 min): at start; before timing; after', `${facts.loadStart}; ${loadBefore}; ${loadAfter}`]]), '');
    out.push(mdTable(['snapshot', 'bundle', 'blob', 'build time'], [...snaps].map(([k, s]) => [k, fmtBytes(s.bundleBytes), fmtBytes(s.blobBytes), fmtMs(s.buildMs)])), '');
    out.push(`The code cache (V8's, through vm.Script's cachedData, of the *all* bundle without a snapshot; written after one \`status --json\`): ${fmtBytes(cacheBytes)}.`, '');
    out.push(mdTable(['command', 'started from', 'wall', 'wall / `node -e 0`', 'CPU', 'CPU / `node -e 0`', 'CPU against this build'], rows), '');
    writeReport(RESULT, out.join('\n'));
    log(`wrote ${RESULT}`);
  } finally {
    off();
    await stopIdleServices(cli, env, root, work, SERVICES);
  }
}

await main();
