// Measures `niso stack up` (issue 15): a 3-service stack (api + db + cache, the api depending on both being healthy)
// from the command to every service healthy, against the floor: the same three node processes started directly on
// the host in the same order (db and cache, then api once both answer their health URL), no sandbox, no niso. The
// peers a user would reach for, podman-compose and `podman play kube`, are not measured here (see the report).
// Writes bench/results/stack.md. Knobs: BENCH_RUNS (rounds, 7).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { intEnv } from './lib/env.js';
import { loadNow, machineFacts, machineRows, writeReport } from './lib/machine.js';
import { niso, nisoEnv, prepareBenchWork, removeBenchWork } from './lib/niso.js';
import { cleanupOnInterrupt, firstLine, freePort } from './lib/proc.js';
import { fmtMs, fmtRatio, fmtSummary, mdTable, summarize } from './lib/stats.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = intEnv('BENCH_RUNS', 7);
const WARMUP = 1;
const RESULT = join(repo, 'bench/results/stack.md');
const log = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server that answers / and /health; the api first reaches db and cache by name (DB_HOST, CACHE_HOST). */
const SERVER = (port: number, api: boolean) => `const http = require('http');
const get = (h, p) => new Promise((ok, no) => http.get('http://' + h + ':' + p + '/', (r) => { r.resume(); r.on('end', ok); }).on('error', no));
(${api} ? Promise.all([get(process.env.DB_HOST || 'db', Number(process.env.DB_PORT || 7001)), get(process.env.CACHE_HOST || 'cache', Number(process.env.CACHE_PORT || 7002))]) : Promise.resolve())
  .then(() => http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT || ${port})));
`;
const HEALTH = (port: number) => `\n[healthcheck]\nhttp = "http://127.0.0.1:${port}/health"\ninterval = "5s"\ntimeout = "1s"\nstart_interval = "100ms"\nstart_period = "30s"\n`;
const MANIFEST = (name: string, port: number) => `[package]\nname = "${name}"\nversion = "1.0.0"\n\n[runtime]\nuse = "nodejs:20"\n\n[binary]\nentrypoint = "node"\nargs = ["server.js"]\n${HEALTH(port)}`;

function writeApps(dir: string, apiPort: number): void {
  for (const [name, port] of [['db', 7001], ['cache', 7002], ['api', 8080]] as const) {
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, 'manifest.toml'), MANIFEST(`bench-${name}`, port));
    writeFileSync(join(dir, name, 'server.js'), SERVER(port, name === 'api'));
  }
  writeFileSync(join(dir, 'stack.toml'), `[stack]\nname = "bench"\n[[service]]\nname = "api"\npackage = "bench-api:1.0.0"\nports = ["127.0.0.1:${apiPort}:8080"]\ndepends_on = { db = "healthy", cache = "healthy" }\n[[service]]\nname = "db"\npackage = "bench-db:1.0.0"\n[[service]]\nname = "cache"\npackage = "bench-cache:1.0.0"\n`);
}

async function healthy(port: number, deadlineMs: number): Promise<void> {
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch { /* not yet */ }
    if (performance.now() > deadlineMs) throw new Error(`port ${port} did not answer`);
    await sleep(2);
  }
}

/** The floor: the three processes on the host, started as the stack orders them; ms until the api answers /health. */
async function floor(dir: string, ports: { db: number; cache: number; api: number }): Promise<number> {
  // Free ports of the host (niso's services have their own network namespaces, where 7001/7002 are theirs).
  const env = (port: number) => ({ PATH: process.env.PATH ?? '', PORT: String(port), DB_HOST: '127.0.0.1', CACHE_HOST: '127.0.0.1', DB_PORT: String(ports.db), CACHE_PORT: String(ports.cache) });
  const kids: ChildProcess[] = [];
  const t0 = performance.now();
  try {
    kids.push(spawn(process.execPath, ['server.js'], { cwd: join(dir, 'db'), env: env(ports.db), stdio: 'ignore' }));
    kids.push(spawn(process.execPath, ['server.js'], { cwd: join(dir, 'cache'), env: env(ports.cache), stdio: 'ignore' }));
    await Promise.all([healthy(ports.db, t0 + 30_000), healthy(ports.cache, t0 + 30_000)]);
    kids.push(spawn(process.execPath, ['server.js'], { cwd: join(dir, 'api'), env: env(ports.api), stdio: 'ignore' }));
    await healthy(ports.api, t0 + 30_000);
    return performance.now() - t0;
  } finally {
    for (const k of kids) k.kill('SIGKILL');
    await Promise.all(kids.map((k) => new Promise((r) => (k.exitCode !== null || k.signalCode !== null ? r(null) : k.once('exit', r)))));
  }
}

async function main(): Promise<void> {
  const facts = machineFacts(repo);
  const work = join('/var/tmp', `niso-bench-stack-${process.pid}`);
  const cli = prepareBenchWork(repo, work, log);
  const root = join(work, 'root');
  const env = nisoEnv({ NISO_ROOT: root });
  delete env.NODE_EXTRA_CA_CERTS;
  const apps = join(work, 'apps');
  const apiPort = await freePort();
  writeApps(apps, apiPort);
  const cleanup = async () => {
    try { niso(cli, ['stack', 'down', 'bench'], { env, cwd: apps }); } catch { /* not up */ }
    for (const n of ['bench.api', 'bench.db', 'bench.cache']) { try { niso(cli, ['remove', n], { env }); } catch { /* gone */ } }
    await removeBenchWork(work);
  };
  const stopCleanup = cleanupOnInterrupt(cleanup, log);
  const timed: Record<'gate' | 'wait' | 'floor', number[]> = { gate: [], wait: [], floor: [] };
  const loads: string[] = [];
  try {
    for (const name of ['db', 'cache', 'api']) {
      niso(cli, ['pack', join(apps, name), '-o', join(work, `${name}.niso`), '-q'], { env, cwd: apps });
      niso(cli, ['install', join(work, `${name}.niso`)], { env, cwd: apps });
    }
    const floorPorts = { db: await freePort(), cache: await freePort(), api: await freePort() };
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      loads.push(loadNow());
      const sample: Partial<Record<keyof typeof timed, number>> = {};
      // SafeSwitch's own wait for healthy, without its settle window (0 s): the command returns once all are healthy.
      for (const [variant, args] of [['gate', ['stack', 'up', '--settle', '0s']], ['wait', ['stack', 'up', '--no-gate', '--wait']]] as const) {
        const t0 = performance.now();
        niso(cli, [...args], { env, cwd: apps, timeoutMs: 120_000 });
        const ms = performance.now() - t0;
        const st = JSON.parse(niso(cli, ['stack', 'status', 'bench', '--json'], { env, cwd: apps }).stdout) as { services: { health: string | null }[] };
        if (!st.services.every((s) => s.health === 'healthy')) throw new Error(`not all healthy after stack up (${variant}): ${JSON.stringify(st)}`);
        sample[variant] = ms;
        niso(cli, ['stack', 'down', 'bench'], { env, cwd: apps, timeoutMs: 120_000 });
      }
      sample.floor = await floor(apps, floorPorts);
      if (round >= WARMUP) for (const k of Object.keys(sample) as (keyof typeof timed)[]) timed[k].push(sample[k]!);
      log(`round ${round + 1}: gate ${fmtMs(sample.gate!)}, wait ${fmtMs(sample.wait!)}, floor ${fmtMs(sample.floor!)}`);
    }
  } finally {
    stopCleanup();
    await cleanup();
  }
  const gate = summarize(timed.gate);
  const wait = summarize(timed.wait);
  const fl = summarize(timed.floor);
  const podman = firstLine('sh', ['-c', 'podman --version 2>/dev/null || echo absent']);
  const report = `# Stacks: \`niso stack up\` of api + db + cache to all healthy

Made by \`npm run bench:stack\` (bench/stack.ts) on ${facts.date}. Three small node servers (db, cache, api; the api
reaches db and cache by name before it listens and \`depends_on\` both being healthy), each with an HTTP health check
(\`start_interval = "100ms"\`). Every round: one \`stack up\` of each niso variant from a host without the stack (then
\`stack down\`, untimed), and the floor. ${WARMUP} warm-up round dropped, ${ROUNDS} kept; cells are **median** (min–max, n).

## Machine

${mdTable(['fact', 'value'], [...machineRows(facts), ['niso ran as', cli.describe], ['NODE_EXTRA_CA_CERTS', 'removed for niso and the apps'], ['load average (1/5/15 min) at start / per round', `${facts.loadStart} / ${loads.join('; ')}`], ['podman', podman]])}

## Time to every service healthy

${mdTable(['variant', 'command', 'time', 'ratio to the floor'], [
    ['floor', 'the three processes on the host (no sandbox, no niso), db and cache first, api once both answer `/health`; until the api answers `/health`', fmtSummary(fl), '1×'],
    ['niso, SafeSwitch', '`niso stack up --settle 0s` (returns once SafeSwitch saw every service healthy)', fmtSummary(gate), fmtRatio(gate.median, fl.median)],
    ['niso, --wait', '`niso stack up --no-gate --wait`', fmtSummary(wait), fmtRatio(wait.median, fl.median)],
  ])}

What the niso time holds beyond the floor: one switch (generation written, journal), three sandboxes with their
network namespaces and the stack network, and the health checks' own cadence (niso learns "healthy" from a probe,
the floor from the bench's 2 ms polling). With the default settle window (5 s) \`stack up\` returns 5 s later.

## Peers not measured

- **podman-compose** is not installed here (\`apt-cache policy podman-compose\`: candidate 1.0.3-3 from bookworm, not
  installed); this bench did not install it.
- **\`podman play kube\`** (podman ${podman.replace(/^podman version /, '')} is installed) needs an image per service built
  locally (no registry is reachable; bench/lib/podman.ts builds one with debootstrap); not done in this session.
`;
  writeReport(RESULT, report);
}

await main();
