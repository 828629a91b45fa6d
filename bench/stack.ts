// Measures `niso stack up` (issue 15): a 3-service stack (api + db + cache, the api depending on both being healthy)
// from the command to every service healthy, against the floor: the same three node processes started directly on
// the host in the same order (db and cache, then api once both answer their health URL), no sandbox, no niso; and
// against the peer a user would reach for, podman-compose (Debian's 1.0.3, installed with apt-get when missing) with
// an equivalent docker-compose.yml over a FROM scratch image of the host's node built locally (no registry is
// reachable here). Writes bench/results/stack.md. Knobs: BENCH_RUNS (rounds, 7).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { intEnv } from './lib/env.js';
import { loadNow, machineFacts, machineRows, writeReport } from './lib/machine.js';
import { hostNetFacts } from '../src/net/host/ip.js';
import { chooseSubnet } from '../src/net/model/subnet.js';
import { buildScratchNodeImage, ensureComposeTools, openComposePeer, removeNewPortmapChains, snapshotNat, spawnToEnd, type ComposePeer, type ComposeTools, type NatSnapshot } from './lib/compose.js';
import { niso, nisoEnv, prepareBenchWork, removeBenchWork } from './lib/niso.js';
import { podmanMissing } from './lib/podman.js';
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

async function healthy(port: number, deadlineMs: number, everyMs = 2): Promise<void> {
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch { /* not yet */ }
    if (performance.now() > deadlineMs) throw new Error(`port ${port} did not answer`);
    await sleep(everyMs);
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

const IMAGE = 'localhost/nisobench-stack:1';
/** The compose health check: an HTTP GET of /health from inside the container (podman-compose runs it under /bin/sh). */
const HEALTH_JS = `require('http').get('http://127.0.0.1:' + process.argv[2] + '/health', (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1));\n`;
const SERVICES = [['db', 7001], ['cache', 7002], ['api', 8080]] as const;

/**
 * The docker-compose.yml a user would write for the same stack. `depends_on` has the long form with
 * `condition: service_healthy` (what niso's `depends_on = { db = "healthy", ... }` says); podman-compose 1.0.3 reads
 * only its keys, as a start order, so the api also gets `restart: on-failure`, the usual compose answer to a
 * dependency that is not up yet. The ulimits are root's hard limits here (PLATFORM.md §8).
 */
function composeYaml(apiPort: number, network: string): string {
  const svc = (name: string, port: number) => {
    const api = name === 'api';
    return [
      `  ${name}:`,
      `    image: ${IMAGE}`,
      `    command: ["node", "/app/${name}/server.js"]`,
      '    environment:',
      `      PORT: "${port}"`,
      ...(api ? ['      DB_HOST: db', '      DB_PORT: "7001"', '      CACHE_HOST: cache', '      CACHE_PORT: "7002"'] : []),
      '    ulimits:',
      '      nofile: 20000',
      '      nproc: 32768',
      '    healthcheck:',
      `      test: "node /app/health.js ${port}"`,
      '      interval: 1s',
      // 5 s, not niso's 1 s: the check starts a node process in the container, which under this machine's load alone
      // can take over a second, and a timed-out check would only make the bench wait for the next one.
      '      timeout: 5s',
      '      start_period: 30s',
      '      retries: 3',
      ...(api ? [
        `    ports: ["127.0.0.1:${apiPort}:8080"]`,
        '    depends_on:',
        '      db:',
        '        condition: service_healthy',
        '      cache:',
        '        condition: service_healthy',
        '    restart: on-failure',
      ] : []),
    ].join('\n');
  };
  return `services:\n${SERVICES.map(([n, p]) => svc(n, p)).join('\n')}\nnetworks:\n  default:\n    external: true\n    name: ${network}\n`;
}

interface ComposeRun {
  /** ms from spawning `podman-compose up -d` until it exited. */
  returned: number;
  /** ms until the api answered /health (it listens only once it reached db and cache). */
  answered?: number;
  /** ms until `podman healthcheck run` reported every container healthy. */
  healthy?: number;
  /** Where `up -d`'s time went, from the times its own output lines arrived (see composeSteps). */
  steps?: ComposeSteps;
}

interface ComposeSteps {
  /** Until it printed its first `podman run`: python, `podman --version`, the network check. */
  startup: number;
  /** The three `podman run -d`, each from its command line to its "exit code:" line. */
  runs: number;
  /** The rest: the 1 s sleep after each run and the network check before each. */
  rest: number;
}

function composeSteps(lines: { t: number; line: string }[], t0: number, returned: number): ComposeSteps {
  const first = lines.find((l) => l.line.startsWith('podman run '));
  if (!first) throw new Error(`podman-compose printed no "podman run": ${lines.map((l) => l.line).join('\n').slice(-2000)}`);
  let runs = 0;
  let started: number | null = null;
  for (const l of lines) {
    if (l.line.startsWith('podman run ')) started = l.t;
    else if (started !== null && l.line.startsWith('exit code:')) { runs += l.t - started; started = null; }
  }
  const startup = first.t - t0;
  return { startup, runs, rest: returned - startup - runs };
}

interface ComposeCtx { peer: ComposePeer; project: string; file: string; apiPort: number }

const containerOf = (c: ComposeCtx, service: string) => `${c.project}_${service}_1`;

async function composeUp(c: ComposeCtx, until: 'answer' | 'healthy'): Promise<ComposeRun> {
  const [cmd, args] = c.peer.composeArgv(['-p', c.project, '-f', c.file, 'up', '-d']);
  const t0 = performance.now();
  let returned = -1;
  const lines: { t: number; line: string }[] = [];
  const up = spawnToEnd(cmd, args, c.peer.env, lines).then((r) => { returned = performance.now() - t0; return r; });
  if (until === 'answer') {
    // Polled while the command runs: the api may answer before podman-compose returns (it sleeps 1 s after each run).
    const failed = up.then((r) => (r.code === 0 ? new Promise<never>(() => {}) : Promise.reject(new Error(`podman-compose up -d failed (exit ${r.code}):\n${r.out.slice(-3000)}`))));
    failed.catch(() => { /* reported by the race or below */ });
    // Every 20 ms, not the floor's 2 ms: over seconds, fetch's own CPU would slow podman on these 2 cores.
    await Promise.race([healthy(c.apiPort, t0 + 120_000, 20), failed]);
    const answered = performance.now() - t0;
    const r = await up;
    if (r.code !== 0) throw new Error(`podman-compose up -d failed (exit ${r.code}):\n${r.out.slice(-3000)}`);
    return { returned, answered, steps: composeSteps(lines, t0, returned) };
  }
  const r = await up;
  if (r.code !== 0) throw new Error(`podman-compose up -d failed (exit ${r.code}):\n${r.out.slice(-3000)}`);
  // podman 4.3 runs health checks from systemd timers, and there is no systemd here ("unable to get systemd
  // connection to add healthchecks"): the bench stands in for the timer and runs each check until it passes.
  await Promise.all(SERVICES.map(async ([name]) => {
    const [pc, pa] = c.peer.podmanArgv(['healthcheck', 'run', containerOf(c, name)]);
    for (;;) {
      const h = await spawnToEnd(pc, pa, c.peer.env);
      if (h.code === 0) return;
      if (performance.now() > t0 + 120_000) throw new Error(`${containerOf(c, name)} never became healthy: ${h.out.slice(-500)}`);
      await sleep(2);
    }
  }));
  return { returned, healthy: performance.now() - t0 };
}

/** What podman itself says after a run: every container's health, and how often the api was restarted. */
function composeState(c: ComposeCtx): { health: string[]; apiRestarts: number } {
  const health = SERVICES.map(([n]) => c.peer.podman(['inspect', '--format', '{{.State.Health.Status}}', containerOf(c, n)]).stdout.trim());
  const apiRestarts = Number(c.peer.podman(['inspect', '--format', '{{.RestartCount}}', containerOf(c, 'api')]).stdout.trim());
  return { health, apiRestarts };
}

function composeDown(c: ComposeCtx): void {
  const [cmd, args] = c.peer.composeArgv(['-p', c.project, '-f', c.file, 'down']);
  const r = spawnSync(cmd, args, { env: c.peer.env, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`podman-compose down failed: ${(r.stdout + r.stderr).slice(-2000)}`);
  const left = c.peer.podman(['ps', '-a', '-q']).stdout.trim();
  if (left) throw new Error(`containers left after podman-compose down: ${left}`);
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
  let compose: ComposeCtx | null = null;
  let peer: ComposePeer | null = null;
  const network = `nisobench-stack-${process.pid}`;
  let natBefore: NatSnapshot | null = null;
  let natAfter = '';
  const removeCompose = () => {
    if (!peer) return;
    const quiet = (f: () => unknown) => { try { f(); } catch { /* already gone */ } };
    if (compose) { const c = compose; quiet(() => composeDown(c)); }
    quiet(() => peer!.podman(['rm', '-a', '-f', '-t', '0']));
    quiet(() => peer!.podman(['rmi', '-a', '-f']));
    quiet(() => peer!.podman(['network', 'rm', '-f', network]));
    peer.close();
    // What the CNI plugins keep per network outside podman's own dirs (host-local's leases, dnsname's dnsmasq files).
    for (const d of [`/var/lib/cni/networks/${network}`, `/run/containers/cni/dnsname/${network}`]) rmSync(d, { recursive: true, force: true });
    peer = null;
    if (natBefore) { natAfter = removeNewPortmapChains(natBefore); log(`podman-compose peer: ${natAfter}`); }
  };
  const cleanup = async () => {
    try { niso(cli, ['stack', 'down', 'bench'], { env, cwd: apps }); } catch { /* not up */ }
    for (const n of ['bench.api', 'bench.db', 'bench.cache']) { try { niso(cli, ['remove', n], { env }); } catch { /* gone */ } }
    try { removeCompose(); } catch (e) { log(`removing podman's containers, image and network: ${String(e).slice(0, 500)}`); }
    await removeBenchWork(work);
  };
  const stopCleanup = cleanupOnInterrupt(cleanup, log);
  type Key = 'gate' | 'wait' | 'floor' | 'composeAnswer' | 'composeReturned' | 'composeHealthy' | 'composeHealthyReturned';
  const timed: Record<Key, number[]> = { gate: [], wait: [], floor: [], composeAnswer: [], composeReturned: [], composeHealthy: [], composeHealthyReturned: [] };
  const loads: string[] = [];
  const apiRestarts: number[] = [];
  const steps: ComposeSteps[] = [];
  let tools: ComposeTools | null = null;
  let composeWhy: string | null = podmanMissing();
  let subnet = '';
  try {
    for (const name of ['db', 'cache', 'api']) {
      niso(cli, ['pack', join(apps, name), '-o', join(work, `${name}.niso`), '-q'], { env, cwd: apps });
      niso(cli, ['install', join(work, `${name}.niso`)], { env, cwd: apps });
    }
    if (composeWhy === null) {
      // Untimed set-up: the tools, the image, and the network (podman-compose 1.0.3 cannot give a network a subnet,
      // so the bench makes it, on a subnet nothing else routes, and the compose file names it as external).
      try {
        tools = ensureComposeTools(log);
        natBefore = snapshotNat();
        peer = openComposePeer(join(work, 'podman'));
        log(`podman-compose peer: building ${IMAGE} FROM scratch (the host's node, its libraries, /bin/sh, the three servers)`);
        const files: Record<string, string> = { '/app/health.js': HEALTH_JS };
        for (const [name, port] of SERVICES) files[`/app/${name}/server.js`] = SERVER(port, name === 'api');
        buildScratchNodeImage(peer, join(work, 'podman-ctx'), IMAGE, files);
        subnet = chooseSubnet(await hostNetFacts(), [], ['10.207.0.0/16', '10.208.0.0/16'], 24).subnet;
        peer.podman(['network', 'create', '--subnet', subnet, network]);
        const dns = peer.podman(['network', 'inspect', '--format', '{{.DNSEnabled}}', network]).stdout.trim();
        if (dns !== 'true') throw new Error(`podman network ${network} has no DNS (dns_enabled ${dns}): the api could not reach db by name`);
        const dir = join(apps, 'compose');
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'docker-compose.yml'), composeYaml(apiPort, network));
        compose = { peer, project: `nisobench${process.pid}`, file: join(dir, 'docker-compose.yml'), apiPort };
      } catch (e) {
        composeWhy = `preparing podman-compose failed: ${(e as Error).message.slice(0, 1500)}`;
        log(composeWhy);
        try { removeCompose(); } catch { /* reported by cleanup */ }
        compose = null;
      }
    }
    const floorPorts = { db: await freePort(), cache: await freePort(), api: await freePort() };
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      loads.push(loadNow());
      const sample: Partial<Record<Key, number>> = {};
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
      if (compose) {
        const a = await composeUp(compose, 'answer');
        apiRestarts.push(composeState(compose).apiRestarts);
        if (round >= WARMUP) steps.push(a.steps!);
        composeDown(compose);
        const h = await composeUp(compose, 'healthy');
        const st = composeState(compose);
        if (!st.health.every((x) => x === 'healthy')) throw new Error(`podman reports ${st.health.join(', ')} after every health check passed`);
        composeDown(compose);
        Object.assign(sample, { composeAnswer: a.answered, composeReturned: a.returned, composeHealthy: h.healthy, composeHealthyReturned: h.returned });
      }
      if (round >= WARMUP) for (const k of Object.keys(sample) as Key[]) timed[k].push(sample[k]!);
      log(`round ${round + 1}: gate ${fmtMs(sample.gate!)}, wait ${fmtMs(sample.wait!)}, floor ${fmtMs(sample.floor!)}${compose ? `, podman-compose: api answered ${fmtMs(sample.composeAnswer!)} (up -d returned ${fmtMs(sample.composeReturned!)}), all healthy ${fmtMs(sample.composeHealthy!)}` : ''}`);
    }
  } finally {
    stopCleanup();
    await cleanup();
  }
  const S = (k: Key) => summarize(timed[k]);
  const fl = S('floor');
  const nisoWait = S('wait');
  const row = (variant: string, command: string, k: Key) => [variant, command, fmtSummary(S(k)), fmtRatio(S(k).median, fl.median), fmtRatio(S(k).median, nisoWait.median)];
  const podman = firstLine('sh', ['-c', 'podman --version 2>/dev/null || echo absent']);
  const measured = composeWhy === null && tools !== null;
  const kept = apiRestarts.slice(WARMUP);
  const report = `# Stacks: \`niso stack up\` of api + db + cache to all healthy

Made by \`npm run bench:stack\` (bench/stack.ts) on ${facts.date}. Three small node servers (db, cache, api; the api
reaches db and cache by name before it listens and \`depends_on\` both being healthy), each with an HTTP health check
(\`start_interval = "100ms"\`). Every round, one after the other from a host without the stack: one \`stack up\` of each
niso variant (then \`stack down\`, untimed), the floor, and ${measured ? 'the two podman-compose variants (each followed by an untimed `podman-compose down`)' : 'no podman-compose (see below)'}.
${WARMUP} warm-up round dropped, ${ROUNDS} kept; cells are **median** (min–max, n).

## Machine

${mdTable(['fact', 'value'], [...machineRows(facts), ['niso ran as', cli.describe], ['NODE_EXTRA_CA_CERTS', 'removed for niso, podman and the apps'], ['load average (1/5/15 min) at start / per round', `${facts.loadStart} / ${loads.join('; ')}`], ['podman', podman], ...(tools ? [['packages', tools.packages], ['installed by this run', tools.installed.length > 0 ? `${tools.installed.join(', ')} (apt-get install -y)` : 'nothing (all were installed)']] : [])])}

## Time to every service healthy

${mdTable(['variant', 'command', 'time', 'ratio to the floor', 'ratio to niso --wait'], [
    ['floor', 'the three processes on the host (no sandbox, no niso), db and cache first, api once both answer `/health`; until the api answers `/health`', fmtSummary(fl), '1×', fmtRatio(fl.median, nisoWait.median)],
    row('niso, SafeSwitch', '`niso stack up --settle 0s` (returns once SafeSwitch saw every service healthy)', 'gate'),
    row('niso, --wait', '`niso stack up --no-gate --wait`', 'wait'),
    ...(measured ? [
      row('podman-compose, answering', '`podman-compose up -d`, until the api answers `/health` on its mapped port (polled every 20 ms while the command runs)', 'composeAnswer'),
      row('podman-compose, returned', '`podman-compose up -d` returning (the same runs)', 'composeReturned'),
      row('podman-compose, healthy', '`podman-compose up -d`, then `podman healthcheck run` of each container until podman reports all three healthy (separate runs)', 'composeHealthy'),
    ] : []),
  ])}

What the niso time holds beyond the floor: one switch (generation written, journal), three sandboxes with their
network namespaces and the stack network, and the health checks' own cadence (niso learns "healthy" from a probe,
the floor from the bench's 2 ms polling). With the default settle window (5 s) \`stack up\` returns 5 s later.
Not yet profiled: how much of it is the dependency wait's 100 ms polling, the health probes' cadence, and the three
sandbox starts one after the other (about 0.3 s each in services.md).

## podman-compose

${measured ? `- **What ran:** podman-compose ${tools!.composeVersion} (Debian) with rootful podman ${podman.replace(/^podman version /, '')}, crun and the
  CNI backend, in a private mount namespace without /sys/fs/cgroup/unified (crun refuses the hybrid cgroup layout,
  PLATFORM.md §8), with the bench's own storage, engine tmp dir and CNI config dir (\`CONTAINERS_STORAGE_CONF\`,
  \`CONTAINERS_CONF\`) under its work dir, all removed at the end. The image is \`FROM scratch\`, built locally and
  untimed: the host's \`/usr/bin/node\`, the libraries \`ldd\` lists for it, dash as \`/bin/sh\`, the same three
  server.js and a health.js (104 MB). The compose file: the same three services, \`environment\` (PORT, DB_HOST=db,
  CACHE_HOST=cache), the api's \`ports: ["127.0.0.1:PORT:8080"]\`, a \`healthcheck\` per service
  (\`test: "node /app/health.js PORT"\`, interval 1s, timeout 5s: the check starts a node process in the container), \`ulimits\` no higher than root's hard limits, and the api's
  \`depends_on: {db: {condition: service_healthy}, cache: {condition: service_healthy}}\` with
  \`restart: on-failure\`.
- **Network:** a CNI bridge network made by the bench (\`podman network create --subnet ${subnet}\`, named as
  \`external\` in the compose file, since podman-compose 1.0.3 cannot set a subnet; it is made once, as
  podman-compose's own would be, and \`down\` keeps it) and published ports through CNI's portmap (iptables DNAT; at the end the bench
  ${natAfter}).
  Names resolve through the **dnsname** CNI plugin (Debian package golang-github-containernetworking-plugin-dnsname,
  which runs a dnsmasq per network): without it, podman 4.3's CNI networks have \`dns_enabled: false\` and the api
  cannot find \`db\` (\`getaddrinfo ENOTFOUND\`). The bench installs it when it is missing.
- **\`depends_on\` in podman-compose 1.0.3 is a start order only.** It reads the keys of the long form and ignores
  \`condition\` (\`service_healthy\`, \`service_started\` and \`service_completed_successfully\` alike): \`up -d\` runs
  \`podman run -d\` for the services sorted by their number of dependencies (cache, db, then api) and **sleeps 1 s after
  every \`podman run\`** (its \`Podman.run(sleep=1)\`). Where \`up -d\`'s time went (medians of the "answering"
  runs, from when its output lines arrived): ${measured && steps.length > 0 ? `start-up (python, \`podman --version\`, the network check) ${fmtMs(summarize(steps.map((x) => x.startup)).median)}, the three \`podman run -d\` ${fmtMs(summarize(steps.map((x) => x.runs)).median)}, the rest (the three sleeps and the network checks) ${fmtMs(summarize(steps.map((x) => x.rest)).median)}` : 'n/a'}. That sleep is also why the api found db
  and cache listening: it was restarted by \`restart: on-failure\` ${kept.reduce((a, b) => a + b, 0)} times in ${kept.length} kept rounds.
- **Health:** podman 4.3 schedules health checks with systemd timers. There is no systemd here, so podman logs
  \`unable to get systemd connection to add healthchecks\` and the containers stay \`starting\` for ever. In the
  "healthy" variant the bench stands in for the timer: once \`up -d\` returned (median ${fmtMs(S('composeHealthyReturned').median)} in those runs), it runs
  \`podman healthcheck run\` for the three containers in parallel, again after each failure, until each passes, and
  checks that \`podman inspect\` then says \`healthy\`. On a systemd host the first check comes one \`interval\` (1 s
  here; podman 4.3 has no start interval) after each container started.
- podman-compose also has no \`--wait\`: a user's script runs \`up -d\`, then polls.` : `- **podman-compose was not measured:** ${composeWhy ?? 'unknown reason'}`}
- **\`podman play kube\`** was not measured: podman-compose is the peer a compose user picks.
`;
  writeReport(RESULT, report);
}

await main();
