// Measures what niso's locks cost (issue 17): one lock taken the way niso takes it now (flock(2) in-process through
// fs-ext) against the flock(1) child every lock used to take, and the CLI verbs they weigh on, run by this build
// ("after") and, with BENCH_BEFORE=DIR (a checkout of an earlier commit, built: DIR/bin/niso), by that build
// ("before"), in the same rounds in a rotating order: `niso secret create` and `niso volume create` (each one audit
// entry, a few locks), and `niso activate app -p … --wait` of the node template (the whole start path: switch,
// network attach, sandbox, first health probe) with its `niso deactivate`. Writes bench/results/cli-locks.md.
// Knobs: BENCH_RUNS (rounds, 15), BENCH_LOCKS (lock samples, 200), BENCH_BEFORE, BENCH_BEFORE_COMMIT (its commit, for the report).
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, writeFileSync, constants as FS } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { withLock } from '../src/host/lock.js';
import { intEnv } from './lib/env.js';
import { loadNow, machineFacts, machineRows, writeReport } from './lib/machine.js';
import { removeBenchWork } from './lib/niso.js';
import { run, freePort } from './lib/proc.js';
import { fmtMs, fmtRatio, fmtSummary, mdTable, summarize, type Summary } from './lib/stats.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = intEnv('BENCH_RUNS', 15);
const LOCKS = intEnv('BENCH_LOCKS', 200);
const WARMUP = 2;
const BEFORE = process.env.BENCH_BEFORE ? resolve(process.env.BENCH_BEFORE) : null;
const RESULT = join(repo, 'bench/results/cli-locks.md');
const log = (s: string) => process.stderr.write(`${s}\n`);

/** The old withLock's child, exactly: flock(1) on our descriptor, holding it while `cat` reads our pipe. */
async function lockThroughChild(file: string): Promise<void> {
  const fd = openSync(file, FS.O_RDWR | FS.O_CREAT | FS.O_NOFOLLOW | FS.O_NONBLOCK, 0o600);
  const child = spawn('flock', ['--exclusive', '--wait', '600', '/dev/fd/3', 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe', fd] });
  await new Promise<void>((res) => child.stdout!.on('data', () => res()));
  closeSync(fd);
  const closed = new Promise((res) => child.on('close', res));
  child.stdin!.end();
  await closed;
}

async function timeLocks(dir: string): Promise<{ here: Summary; child: Summary }> {
  const here: number[] = [];
  const child: number[] = [];
  const file = join(dir, 'bench.lock');
  for (let i = 0; i < LOCKS + 5; i++) {
    let t = performance.now();
    await withLock(file, 'the bench', async () => undefined);
    const a = performance.now() - t;
    t = performance.now();
    await lockThroughChild(file);
    const b = performance.now() - t;
    if (i >= 5) { here.push(a); child.push(b); }
  }
  return { here: summarize(here), child: summarize(child) };
}

interface Build { label: string; bin: string }

async function main(): Promise<void> {
  const facts = machineFacts(repo);
  const work = mkdtempSync('/dev/shm/niso-bench-locks-');
  chmodSync(work, 0o755);
  const root = join(work, 'root');
  const env: NodeJS.ProcessEnv = { ...process.env, NISO_ROOT: root };
  delete env.NODE_EXTRA_CA_CERTS;
  const builds: Build[] = [{ label: 'after', bin: join(work, 'after/bin/niso') }];
  cpSync(join(repo, 'dist'), join(work, 'after/dist'), { recursive: true });
  cpSync(join(repo, 'bin'), join(work, 'after/bin'), { recursive: true });
  if (BEFORE) {
    if (!existsSync(join(BEFORE, 'dist/niso.mjs'))) throw new Error(`${BEFORE}/dist/niso.mjs missing: build it first`);
    builds.push({ label: 'before', bin: join(BEFORE, 'bin/niso') });
  }
  const niso = (b: Build, args: string[], cwd?: string) => run(process.execPath, [b.bin, ...args], { env, cwd });
  const port = await freePort();
  try {
    log('locks …');
    const loadLocks = loadNow();
    const locks = await timeLocks(work);
    // The node template, its ports left to -p.
    const app = join(work, 'app');
    niso(builds[0]!, ['init', '--template', 'node', app]);
    const manifest = join(app, 'manifest.toml');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(/^ports = .*$/m, 'ports = []'));
    niso(builds[0]!, ['pack'], app);
    const pkg = readdirSync(app).find((f) => f.endsWith('.niso'))!;
    niso(builds[0]!, ['install', join(app, pkg)]);
    const secretFile = join(work, 'secret');
    writeFileSync(secretFile, 'x'.repeat(32), { mode: 0o600 });
    const samples = new Map<string, number[]>();
    const add = (k: string, ms: number) => { const a = samples.get(k) ?? []; a.push(ms); samples.set(k, a); };
    const loadBefore = loadNow();
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      const order = builds.map((_, i) => builds[(i + round) % builds.length]!);
      for (const b of order) {
        const keep = round >= WARMUP;
        const id = `${b.label}${round}`;
        const s = niso(b, ['secret', 'create', `s-${id}`, secretFile]);
        const v = niso(b, ['volume', 'create', `v-${id}`]);
        const a = niso(b, ['activate', 'app', '--name', 'bench-lk', '-p', `127.0.0.1:${port}:3000`, '--wait']);
        const d = niso(b, ['deactivate', 'bench-lk']);
        niso(b, ['remove', 'bench-lk']);
        niso(b, ['volume', 'rm', `v-${id}`]);
        niso(b, ['secret', 'rm', `s-${id}`]);
        if (keep) {
          add(`${b.label}:secret`, s.ms);
          add(`${b.label}:volume`, v.ms);
          add(`${b.label}:activate`, a.ms);
          add(`${b.label}:deactivate`, d.ms);
        }
      }
      log(`round ${round + 1}/${WARMUP + ROUNDS}`);
    }
    const loadAfter = loadNow();
    const S = (k: string) => summarize(samples.get(k)!);
    const verbs: [string, string][] = [
      ['secret', '`niso secret create NAME FILE` (one audit entry)'],
      ['volume', '`niso volume create NAME` (one audit entry)'],
      ['activate', '`niso activate app -p 127.0.0.1:PORT:3000 --wait` (node template, private network; supervisor started by it)'],
      ['deactivate', '`niso deactivate NAME`'],
    ];
    const rows = verbs.map(([k, what]) => {
      const after = S(`after:${k}`);
      if (!BEFORE) return [what, '—', fmtSummary(after), '—'];
      const before = S(`before:${k}`);
      return [what, fmtSummary(before), fmtSummary(after), `${fmtMs(before.median - after.median)} (${fmtRatio(before.median, after.median)})`];
    });
    const report = `# Locks and the CLI verbs they weigh on

Made by \`npm run bench:locks\` (bench/cli-locks.ts) on ${facts.date}. NODE_EXTRA_CA_CERTS unset for niso. Cells are **median** (min–max, n).

## Machine

${mdTable(['fact', 'value'], [
  ...machineRows(facts),
  ['before', BEFORE ? `${BEFORE}${process.env.BENCH_BEFORE_COMMIT ? ` (commit ${process.env.BENCH_BEFORE_COMMIT})` : ''}` : 'not measured (BENCH_BEFORE unset)'],
  ['load average (1/5/15 min) at start / before the locks / before the verbs / after', `${facts.loadStart} / ${loadLocks} / ${loadBefore} / ${loadAfter}`],
])}

## One lock (take, run nothing, release), in the bench process, ${LOCKS} samples each, alternated

| how | time |
| --- | --- |
| in-process flock(2) (fs-ext), niso's withLock now | ${fmtSummary(locks.here)} |
| a flock(1) child holding it (\`flock --exclusive /dev/fd/3 sh -c 'echo locked; exec cat'\`), niso's withLock before | ${fmtSummary(locks.child)} |
| ratio | ${fmtRatio(locks.child.median, locks.here.median)} |

## CLI verbs, before and after, ${ROUNDS} rounds (${WARMUP} warm-up rounds dropped), builds in a rotating order

${mdTable(['command', 'before', 'after', 'saved (before/after)'], rows)}
`;
    writeReport(RESULT, report);
  } finally {
    for (const b of builds) {
      try { run(process.execPath, [b.bin, 'deactivate', 'bench-lk'], { env }); } catch { /* not active */ }
      try { run(process.execPath, [b.bin, 'remove', 'bench-lk'], { env }); } catch { /* not there */ }
    }
    try { run(process.execPath, [builds[0]!.bin, 'net', 'prune'], { env }); } catch { /* none */ }
    try { run(process.execPath, [builds[0]!.bin, 'net', 'remove', 'default'], { env }); } catch { /* none */ }
    await removeBenchWork(work);
  }
}

await main();
