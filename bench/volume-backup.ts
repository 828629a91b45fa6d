// Times `niso volume backup` and `niso volume restore` of a volume of many small files against what a user would pipe
// instead: `tar -C DIR -cf - . | zstd -3` (with -T0, as niso runs zstd, and with one thread) and `zstd -d | tar -x`
// (with and without the `sync -f` niso's restore does before it moves files in). Side by side in one run, interleaved
// round by round, ratios on medians. Writes bench/results/volume-backup.md.
// Knobs: BENCH_VOLUME_MB (size of each volume, 1024), BENCH_FILE_KB (mean file sizes, one volume each: 16,1024), BENCH_RUNS (rounds, 3),
// BENCH_DIR (where the NISO_ROOT and archives go, /var/tmp: an ext4 disk with ACLs; /dev/shm: tmpfs), BENCH_QUIET (0.35).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDirEnv, intEnv, quietShareEnv } from './lib/env.js';
import { filesystemOf, loadNow, machineFacts, machineRows, writeReport } from './lib/machine.js';
import { niso, nisoEnv, prepareBenchWork, removeBenchWork, type NisoCli } from './lib/niso.js';
import { bash, cleanupOnInterrupt, duBytes, firstLine, q, run } from './lib/proc.js';
import { waitQuiet, type QuietStats } from './lib/quiet.js';
import { fmtBytes, fmtMs, fmtRatio, fmtSummary, mdTable, summarize, type Summary } from './lib/stats.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VOLUME_MB = intEnv('BENCH_VOLUME_MB', 1024);
/** Mean file sizes, one volume each: many small files (the aim) and, to show what is per file, larger ones. */
const FILE_KBS = (process.env.BENCH_FILE_KB ?? '16,1024').split(',').map(Number).filter((n) => n > 0);
const ROUNDS = intEnv('BENCH_RUNS', 3);
const WARMUP = 1;
const QUIET = quietShareEnv();
const BASE = benchDirEnv();
const RESULT = join(repo, 'bench/results/volume-backup.md');
const log = (s: string) => process.stderr.write(`${s}\n`);

/**
 * Deterministic contents that compress like real data: each file mixes text-like runs (words from a small
 * vocabulary) with random bytes (already compressed media, hashes), in sizes spread around the mean.
 */
function fillVolume(dir: string, totalBytes: number, meanBytes: number): { files: number; bytes: number } {
  let seed = 12345;
  const rand = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32; };
  const noise = createHash('sha512');
  const random = Buffer.alloc(4 * 1024 * 1024);
  for (let off = 0; off < random.length; off += 64) noise.copy().update(String(off)).digest().copy(random, off);
  const words = ['volume', 'backup', 'service', 'niso', 'state', 'record', 'value', 'index', 'page', 'user', 'id', 'time', 'the', 'of', 'and', '{"k":', '},', '\n'];
  const textParts: string[] = [];
  for (let len = 0; len < 4 * 1024 * 1024;) {
    const w = words[Math.floor(rand() * words.length)]!;
    const sep = rand() < 0.3 ? String(Math.floor(rand() * 1e6)) : ' ';
    textParts.push(w, sep);
    len += w.length + sep.length;
  }
  const text = Buffer.from(textParts.join(''));
  let bytes = 0;
  let files = 0;
  while (bytes < totalBytes) {
    const d = join(dir, `d${Math.floor(files / 256).toString().padStart(4, '0')}`);
    if (files % 256 === 0) mkdirSync(d);
    // Sizes from 1/8 to ~2x the mean.
    const size = Math.max(1, Math.floor(meanBytes * (0.125 + rand() * 1.75)));
    const textLen = Math.floor(size * 0.6);
    const t0 = Math.floor(rand() * (text.length - textLen));
    const r0 = Math.floor(rand() * (random.length - (size - textLen)));
    writeFileSync(join(d, `f${files}.dat`), Buffer.concat([text.subarray(t0, t0 + textLen), random.subarray(r0, r0 + size - textLen)]));
    bytes += size;
    files++;
  }
  return { files, bytes };
}

/** A step's wall time and the CPU time of its whole process tree (user + system, as /usr/bin/time reports it). */
interface Sample { ms: number; cpuMs: number }
interface Both { wall: Summary; cpu: Summary }

function timed(work: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): Sample {
  const out = join(work, 'cpu.txt');
  const r = run('/usr/bin/time', ['-f', '%U %S', '-o', out, cmd, ...args], { env });
  const [u, s] = readFileSync(out, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return { ms: r.ms, cpuMs: ((u ?? 0) + (s ?? 0)) * 1000 };
}

interface Measured {
  fileKb: number;
  filled: { files: number; bytes: number };
  du: number;
  backup: Record<string, Both>;
  restore: Record<string, Both>;
  sizes: Record<string, number>;
  same: boolean;
}

const peerT0 = 'tar | zstd -3 -T0';
const peerT1 = 'tar | zstd -3';
const peerX = 'zstd -d | tar -x';
const peerXs = 'zstd -d | tar -x; sync -f';

/** One volume of files of this mean size: filled, then backed up and restored by niso and by the peers, interleaved. */
async function measure(cli: NisoCli, work: string, env: NodeJS.ProcessEnv, fileKb: number, quiet: QuietStats): Promise<Measured> {
  const root = env.NISO_ROOT!;
  const name = `bench${fileKb}`;
  niso(cli, ['volume', 'create', name], { env });
  const data = join(root, `var/lib/niso/volumes/${name}/data`);
  log(`filling ${data} with ${VOLUME_MB} MiB of ~${fileKb} KiB files`);
  const filled = fillVolume(data, VOLUME_MB * 1024 * 1024, fileKb * 1024);
  const du = duBytes(data);
  run('sync', ['-f', data]);
  const arch = (n: string) => join(work, n);
  const sizes: Record<string, number> = {};
  let restoreN = 0;
  const nisoArgs = (args: string[]) => [...cli.prefix, ...args];
  const sh = (script: string) => ['-c', `set -euo pipefail; ${script}`];
  const steps: Record<string, () => Sample> = {
    'niso backup': () => {
      rmSync(arch('niso.tar.zst'), { force: true });
      const r = timed(work, cli.cmd, nisoArgs(['volume', 'backup', name, '-o', arch('niso.tar.zst')]), env);
      sizes.niso = statSync(arch('niso.tar.zst')).size;
      return r;
    },
    [peerT0]: () => { const r = timed(work, 'bash', sh(`tar -C ${q(data)} -cf - . | zstd -q -3 -T0 -f -o ${q(arch('peer.tar.zst'))}`)); sizes.peerT0 = statSync(arch('peer.tar.zst')).size; return r; },
    [peerT1]: () => { const r = timed(work, 'bash', sh(`tar -C ${q(data)} -cf - . | zstd -q -3 -f -o ${q(arch('peer1.tar.zst'))}`)); sizes.peerT1 = statSync(arch('peer1.tar.zst')).size; return r; },
  };
  const restoreSteps: Record<string, () => Sample> = {
    'niso restore': () => {
      const target = `r${restoreN++}`;
      const r = timed(work, cli.cmd, nisoArgs(['volume', 'restore', target, arch('niso.tar.zst')]), env);
      niso(cli, ['volume', 'rm', target], { env });
      return r;
    },
    [peerX]: () => { const d = arch(`x${restoreN++}`); mkdirSync(d); const r = timed(work, 'bash', sh(`zstd -dc ${q(arch('peer.tar.zst'))} | tar -C ${q(d)} -xf -`)); rmSync(d, { recursive: true, force: true }); return r; },
    [peerXs]: () => { const d = arch(`x${restoreN++}`); mkdirSync(d); const r = timed(work, 'bash', sh(`zstd -dc ${q(arch('peer.tar.zst'))} | tar -C ${q(d)} -xf -; sync -f ${q(d)}`)); rmSync(d, { recursive: true, force: true }); return r; },
  };
  const timedSet = async (set: Record<string, () => Sample>): Promise<Record<string, Both>> => {
    const names = Object.keys(set);
    const samples: Record<string, Sample[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let i = 0; i < WARMUP + ROUNDS; i++) {
      for (let k = 0; k < names.length; k++) {
        const n = names[(i + k) % names.length]!;
        // What the last step left dirty is written out untimed, and the machine is let calm down.
        run('sync', []);
        await waitQuiet(QUIET, 20_000, quiet);
        const r = set[n]!();
        log(`${fileKb} KiB files, ${n}: ${fmtMs(r.ms)} (cpu ${fmtMs(r.cpuMs)})`);
        if (i >= WARMUP) samples[n]!.push(r);
      }
    }
    return Object.fromEntries(names.map((n) => [n, { wall: summarize(samples[n]!.map((x) => x.ms)), cpu: summarize(samples[n]!.map((x) => x.cpuMs)) }]));
  };
  const backup = await timedSet(steps);
  const restore = await timedSet(restoreSteps);
  // The result is checked, not only timed: what niso restored equals what it backed up.
  niso(cli, ['volume', 'restore', 'check', arch('niso.tar.zst')], { env });
  const same = bash(`diff -r ${q(data)} ${q(join(root, 'var/lib/niso/volumes/check/data'))} >/dev/null && echo yes || echo no`).stdout.trim() === 'yes';
  niso(cli, ['volume', 'rm', 'check', name], { env });
  for (const f of ['niso.tar.zst', 'peer.tar.zst', 'peer1.tar.zst']) rmSync(arch(f), { force: true });
  return { fileKb, filled, du, backup, restore, sizes, same };
}

async function main(): Promise<void> {
  const work = join(BASE, `niso-bench-volume-${process.pid}`);
  const cli = prepareBenchWork(repo, work, log);
  const env = nisoEnv({ NISO_ROOT: join(work, 'root') });
  const off = cleanupOnInterrupt(() => removeBenchWork(work), log);
  try {
    const facts = machineFacts(repo);
    const quiet: QuietStats = { waits: 0, waitedMs: 0, gaveUp: 0 };
    const loadBefore = loadNow();
    const results: Measured[] = [];
    for (const kb of FILE_KBS) results.push(await measure(cli, work, env, kb, quiet));
    const loadAfter = loadNow();

    const out: string[] = [];
    out.push('# niso volume backup / restore benchmark', '');
    out.push(`Made by \`npm run bench:volumes\` (bench/volume-backup.ts) on ${facts.date}. Each cell is the **median** (min–max, n runs) after ${WARMUP} warm-up round; niso and its peers ran interleaved, in a rotating order, each after an untimed \`sync\` and a wait for a quiet machine. The ratio is niso/peer on medians: above 1× niso is slower. niso's times include its CLI's start (node) and, for backup, the hashing of every file into the manifest and the check that no file changed; for restore, the check of every file against the manifest, the temporary directory and the rename into place, and one \`sync -f\`. niso's backup also fsyncs the archive before it renames it into place; the peers' \`zstd -o\` does not. The CPU column sums user and system time of every process of the step (/usr/bin/time): on a machine of few cores, what niso adds to the peer's CPU is what its wall time grows by.`, '');
    out.push('## Machine', '');
    out.push(mdTable(['fact', 'value'], [
      ...machineRows(facts),
      ['zstd / tar / setfacl', `${facts.zstd} / ${facts.tar} / ${firstLine('setfacl', ['--version'])}`],
      ['file system of the volumes and archives', `${BASE}: ${filesystemOf(BASE)}`],
      ['niso ran as', cli.describe],
      ['load average (1/5/15 min): at start; before timing; after', `${facts.loadStart}; ${loadBefore}; ${loadAfter} (2 cores: other work on the machine shows up as spread)`],
      ['quiet waits', `${quiet.waits} waits for ≤ ${QUIET * 100}% busy, ${fmtMs(quiet.waitedMs)} in total, ${quiet.gaveUp} gave up`],
    ]), '');
    for (const m of results) {
      const mb = m.filled.bytes / 1024 / 1024;
      const rate = (s: Summary) => `${(mb / (s.median / 1000)).toFixed(0)} MiB/s`;
      const row = (phase: string, mine: Both, peer: string, theirs: Both) => [
        phase, fmtSummary(mine.wall), rate(mine.wall), `\`${peer}\``, fmtSummary(theirs.wall), rate(theirs.wall), fmtRatio(mine.wall.median, theirs.wall.median),
        `${fmtMs(mine.cpu.median)} / ${fmtMs(theirs.cpu.median)} (${fmtRatio(mine.cpu.median, theirs.cpu.median)})`,
      ];
      out.push(`## ${fmtBytes(m.filled.bytes)} in ${m.filled.files} files of ~${m.fileKb} KiB`, '');
      out.push(mdTable(['files', 'bytes in files', 'on disk (du -sb)', 'mean file', 'content'], [[
        String(m.filled.files), fmtBytes(m.filled.bytes), fmtBytes(m.du), fmtBytes(m.filled.bytes / m.filled.files),
        '60% text-like runs, 40% random bytes per file, 256 files per directory',
      ]]), '');
      out.push(mdTable(['phase', 'niso', 'niso rate', 'peer', 'peer time', 'peer rate', 'niso/peer', 'CPU niso / peer (user+sys of the process tree, medians)'], [
        row('backup', m.backup['niso backup']!, peerT0, m.backup[peerT0]!),
        row('backup', m.backup['niso backup']!, peerT1, m.backup[peerT1]!),
        row('restore', m.restore['niso restore']!, peerX, m.restore[peerX]!),
        row('restore', m.restore['niso restore']!, peerXs, m.restore[peerXs]!),
      ]), '');
      out.push(mdTable(['niso archive', `${peerT0} archive`, 'niso / peer', 'restored tree = backed-up tree (diff -r)'], [[
        fmtBytes(m.sizes.niso ?? 0), fmtBytes(m.sizes.peerT0 ?? 0), fmtRatio(m.sizes.niso ?? 0, m.sizes.peerT0 ?? 1), m.same ? 'yes' : 'NO',
      ]]), '');
    }
    writeReport(RESULT, out.join('\n') + '\n');
  } finally {
    off();
    await removeBenchWork(work);
    if (existsSync(work)) log(`could not remove ${work}`);
  }
}

await main();
