// The catalog's packages, side by side with what a user would otherwise get, in one run:
//  - size: each catalog package (`niso pack catalog/NAME`, zstd -3) against `tar | zstd -19 -T0` of the very same files
//    (what the best general-purpose compression of that content gives);
//  - time to the first query of PostgreSQL: `niso activate postgres` (volume already initialised, as on every start
//    after the first) until the host's `psql -c 'select 1'` answers through the mapped port, against the floor: the
//    host's own postgres 15 binary started directly on a data dir of its own, until the same psql answers. Rounds
//    interleaved, medians.
// Writes bench/results/catalog.md. Knobs: BENCH_RUNS (rounds, 5), BENCH_CATALOG (names, all of catalog/),
// NISO_DEB_CACHE (where .debs are kept between runs, /var/cache/niso-test/debs).
import { spawnSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { intEnv } from './lib/env.js';
import { machineFacts, machineRows, writeReport } from './lib/machine.js';
import { niso, nisoEnv, parseJson, prepareBenchWork, removeBenchNetworks, removeBenchWork } from './lib/niso.js';
import { bash, cleanupOnInterrupt, freePort, q, run } from './lib/proc.js';
import { fmtBytes, fmtMs, fmtRatio, fmtSummary, mdTable, summarize } from './lib/stats.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = intEnv('BENCH_RUNS', 5);
const DEB_CACHE = process.env.NISO_DEB_CACHE ?? '/var/cache/niso-test/debs';
const NAMES = (process.env.BENCH_CATALOG ?? readdirSync(join(repo, 'catalog')).sort().join(',')).split(',').filter(Boolean);
const RESULT = join(repo, 'bench/results/catalog.md');
const PG_BIN = '/usr/lib/postgresql/15/bin';
/** The host user the floor's postgres runs as (nobody:nogroup). */
const NOBODY = 65534;
const log = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const work = join('/var/tmp', `niso-bench-catalog-${process.pid}`);
const root = join(work, 'root');
const env = nisoEnv({ NISO_ROOT: root, NISO_DEB_CACHE: DEB_CACHE });

/** Polls `psql -c 'select 1'` until it answers; ms from `t0`. */
async function firstQuery(port: number, t0: number, password: string | null, timeoutMs = 60_000): Promise<number> {
  for (;;) {
    const r = spawnSync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-tAc', 'select 1'], { encoding: 'utf8', env: { ...process.env, PGCONNECT_TIMEOUT: '2', ...(password ? { PGPASSWORD: password } : {}) } });
    if (r.status === 0 && r.stdout.trim() === '1') return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`no answer on port ${port} within ${timeoutMs} ms: ${r.stderr}`);
    await sleep(5);
  }
}

async function main(): Promise<void> {
  const stop = cleanupOnInterrupt(() => removeBenchWork(work), log);
  const cli = prepareBenchWork(repo, work, log);
  mkdirSync(DEB_CACHE, { recursive: true });
  const sizes: string[][] = [];
  const facts = machineFacts(repo);
  try {
    for (const name of NAMES) {
      log(`packing catalog/${name}`);
      const out = join(work, `${name}.niso`);
      const packed = parseJson<{ packageBytes: number; appBytes: number; files: number; debian?: { packages: number } }>(niso(cli, ['pack', join(repo, 'catalog', name), '-o', out, '--json'], { env, timeoutMs: 30 * 60_000 }), 'pack');
      const installed = parseJson<{ path: string }>(niso(cli, ['install', out, '--json'], { env }), 'install');
      // The same files as the package holds, with the strongest zstd a user would reach for.
      const z19 = Number(bash(`tar -C ${q(join(installed.path, 'app'))} --sort=name -cf - . | zstd -q -19 -T0 -c | wc -c`, { timeoutMs: 30 * 60_000 }).stdout.trim());
      sizes.push([name, String(packed.debian?.packages ?? '-'), String(packed.files), fmtBytes(packed.appBytes), `**${fmtBytes(packed.packageBytes)}**`, fmtBytes(z19), fmtRatio(packed.packageBytes, z19)]);
    }

    let startRows: string[][] = [];
    if (NAMES.includes('postgres') && existsSync(join(PG_BIN, 'postgres'))) {
      // niso: initialise once (the first start runs initdb), then time later starts.
      const port = await freePort();
      niso(cli, ['activate', 'postgres', '-e', 'POSTGRES_PASSWORD=bench', '-p', `127.0.0.1:${port}:5432`, '--wait', '--timeout', '120s'], { env });
      niso(cli, ['deactivate', 'postgres'], { env });
      // The floor: the host's postgres 15 on a data dir of its own, run as a user of its own, started directly.
      const hostData = join(work, 'host-pgdata');
      mkdirSync(hostData, { mode: 0o700 });
      const user = 'nobody';
      run('chown', [`${NOBODY}:${NOBODY}`, hostData]);
      run('runuser', ['-u', user, '--', join(PG_BIN, 'initdb'), '-D', hostData, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
      chmodSync(work, 0o755);
      const hostPort = await freePort();
      const samples: Record<'niso' | 'host', number[]> = { niso: [], host: [] };
      for (let i = 0; i < ROUNDS + 1; i++) {
        for (const who of (i % 2 === 0 ? ['niso', 'host'] : ['host', 'niso']) as ('niso' | 'host')[]) {
          run('sync', []);
          await sleep(500);
          let ms: number;
          if (who === 'niso') {
            const t0 = performance.now();
            niso(cli, ['activate', 'postgres'], { env });
            ms = await firstQuery(port, t0, 'bench');
            niso(cli, ['deactivate', 'postgres'], { env });
          } else {
            const t0 = performance.now();
            // Started as that user directly (runuser would not pass the stop signal on).
            const child = spawn(join(PG_BIN, 'postgres'), ['-D', hostData, '-c', `port=${hostPort}`, '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${hostData}`], { stdio: 'ignore', uid: NOBODY, gid: NOBODY });
            ms = await firstQuery(hostPort, t0, null);
            child.kill('SIGINT');
            await new Promise((r) => child.once('exit', r));
          }
          log(`round ${i}${i === 0 ? ' (warm-up)' : ''}: ${who} ${fmtMs(ms)}`);
          if (i > 0) samples[who].push(ms);
        }
      }
      const n = summarize(samples.niso);
      const h = summarize(samples.host);
      startRows = [['`niso activate postgres` → first `select 1` (volume initialised; private network, mapped port)', fmtSummary(n), 'host postgres 15 started directly → first `select 1`', fmtSummary(h), fmtRatio(n.median, h.median)]];
    }

    const report = [
      '# Catalog packages: size and PostgreSQL start',
      '',
      `Made by \`npm run bench:catalog\` (bench/catalog.ts) on ${facts.date}. Sizes: the package as \`niso pack\` writes it (zstd -3) against \`tar --sort=name | zstd -19 -T0\` of the same files (the app directory of the installed package). Times: median (min–max, n runs) after one warm-up round, niso and the floor interleaved.`,
      '',
      '## Machine',
      '',
      mdTable(['fact', 'value'], machineRows(facts)),
      '',
      '## Size',
      '',
      mdTable(['package', 'Debian packages', 'files', 'unpacked', 'niso package', 'same files, tar | zstd -19', 'niso / zstd -19'], sizes),
      '',
      'Docker Hub\'s compressed sizes of the official images could not be measured here (only the npm and Debian registries are reachable) and are not cited; for scale, a PostgreSQL packaging thread on pgsql-pkg-debian (https://www.postgrespro.ru/list/thread-id/2724126) reports the official image\'s base OS at 74 MB and the postgresql package\'s dependencies at over 250 MB installed, most of it LLVM (143 MB), Perl (45 MB) and ICU (36 MB): the catalog package has LLVM and ICU but not Perl.',
      '',
      ...(startRows.length > 0 ? ['## PostgreSQL: time to the first query', '', mdTable(['niso', 'time', 'floor', 'time', 'niso / floor'], startRows), ''] : []),
    ].join('\n');
    writeReport(RESULT, report);
    log(`wrote ${RESULT}`);
  } finally {
    try { niso(cli, ['remove', 'postgres', '--volumes'], { env }); } catch { /* not there */ }
    removeBenchNetworks(cli, env, log);
    stop();
    await removeBenchWork(work);
  }
}

await main();
