// Measures, side by side in one run, requests per second and latency of the example node app
// (`niso init --template node`) served five ways: bare node on the host, `niso run --network host`,
// `niso run -p 127.0.0.1:PORT:3000` (kernel DNAT into a private network), the same service reached
// at its own address (bridge and veth without the DNAT), and `podman run -p`. Load comes from wrk
// on loopback. Writes bench/results/net.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { hostNetFacts } from '../src/net/host/ip.js';
import { chooseSubnet } from '../src/net/model/subnet.js';
import { allProcessCpu, CLK_TCK, cmdline, cpuDelta, descendants, machineCpu, pinProcess, waitedChildrenCpuMs } from './lib/cpu.js';
import { intEnv } from './lib/env.js';
import { loadNow, machineFacts, writeReport, machineRows } from './lib/machine.js';
import { niso, nisoEnv, parseJson, type NisoCli, removeBenchNetworks, prepareBenchWork, removeBenchWork } from './lib/niso.js';
import { ensureImages, openPodman, podmanMissing, PODMAN_ULIMITS, type BenchImage, type Podman } from './lib/podman.js';
import { firstLine, run, cleanupOnInterrupt, freePort } from './lib/proc.js';
import { fmtMs, mdTable, summarize, type Summary } from './lib/stats.js';
import { perfAvailable, profileCpuDuring, type CpuProfile } from './lib/perf.js';
import { busyShare } from './lib/quiet.js';
import { parseWrk, runWrk, wrkArgv, wrkVersion, type WrkOptions, type WrkResult } from './lib/wrk.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const ROUNDS = intEnv('BENCH_ROUNDS', 9);
const SECONDS = intEnv('BENCH_SECONDS', 5);
const LATENCY_SECONDS = intEnv('BENCH_LATENCY_SECONDS', 3);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 32);
const WARMUP_SECONDS = 2;
const TMPFS = process.env.BENCH_TMPFS ?? '/dev/shm';
const CACHE = join(repo, 'bench/.cache');
const RESULT = join(repo, 'bench/results/net.md');
// wrk on CPU 0 and every server on CPU 1: the scheduler cannot put both on one core for a while,
// which on a 2-core machine moved single runs by ±30%. BENCH_PIN=0 turns it off.
const PIN = process.env.BENCH_PIN !== '0' && availableParallelism() >= 2;
const WRK_CPU = PIN ? 0 : null;
const SERVER_CPU = 1;
const AIM = 0.9;
const QUIET_BUSY = 0.08;
const QUIET_WAIT_MS = 10_000;
const MAX_OTHER = 0.1;
const RETRIES = 2;

const APP = 'netbench';
const IMAGE = 'localhost/niso-bench-net:latest';
const PRIVATE = 'bench-private';
const HOSTNET = 'bench-host';

const log = (s: string) => process.stderr.write(`${s}\n`);

interface Server {
  key: string;
  pid: number;
  describe: string;
  stop: () => Promise<void>;
}

interface Variant {
  key: string;
  label: string;
  what: string;
  url: string;
  server: Server;
}

interface Sample extends Omit<WrkResult, 'raw'> {
  serverCpuMs: number;
  wrkCpuMs: number;
  /** The kernel's softirq threads: network work deferred out of the server's and wrk's context. */
  softirqdMs: number;
  /** Busy CPU of the whole machine during the run, and its capacity (ms × CPUs). */
  busyMs: number;
  capacityMs: number;
  /** Busy CPU that was neither the server, wrk, ksoftirqd nor the bench: other sessions, mostly. */
  foreignMs: number;
  /** Who used that, by command name. */
  foreign: Record<string, number>;
}

type Measure = 'load' | 'latency';


async function waitHttp(url: string, child: ChildProcess | null, output: () => string, timeoutMs = 30_000): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`the server for ${url} exited (${child.exitCode}):\n${output()}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.text();
      if (r.status === 200) return;
    } catch { /* not yet */ }
    if (performance.now() - t0 > timeoutMs) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a long-running command; its output is kept (the tail) for error messages. */
function startProcess(cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): { child: ChildProcess; output: () => string; closed: Promise<void> } {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => { out = (out + d.toString()).slice(-8000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const closed = new Promise<void>((res) => child.on('close', () => res()));
  return { child, output: () => out, closed };
}

async function stopProcess(p: { child: ChildProcess; closed: Promise<void> }, what: string): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const killed = await Promise.race([p.closed.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 15_000))]);
  if (killed) {
    log(`${what} did not stop within 15 s of SIGTERM; sending SIGKILL`);
    p.child.kill('SIGKILL');
    await p.closed;
  }
}

/** The app's node process below a `niso run`: the descendant running server.js. */
function appPidBelow(pid: number): number {
  const pids = descendants(pid).filter((p) => { const c = cmdline(p); return (c[0] ?? '').endsWith('node') && c[1] === 'server.js'; });
  if (pids.length !== 1) throw new Error(`expected one node server.js below pid ${pid}, found ${pids.length}`);
  return pids[0]!;
}

async function startDirect(appDir: string, port: number): Promise<Server> {
  // The same clean environment the sandbox gives the app (no NODE_EXTRA_CA_CERTS and friends).
  const p = startProcess(process.execPath, ['server.js'], { cwd: appDir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production', PORT: String(port) } });
  await waitHttp(`http://127.0.0.1:${port}/`, p.child, p.output);
  return { key: 'direct', pid: p.child.pid!, describe: `node server.js (PORT=${port}, clean environment)`, stop: () => stopProcess(p, 'node server.js') };
}

async function startNiso(cli: NisoCli, env: NodeJS.ProcessEnv, key: string, args: string[], url: string): Promise<Server> {
  const p = startProcess(cli.cmd, [...cli.prefix, 'run', ...args, APP], { env });
  await waitHttp(url, p.child, p.output);
  return { key, pid: appPidBelow(p.child.pid!), describe: `niso run ${args.join(' ')} ${APP}`, stop: () => stopProcess(p, `niso run ${args.join(' ')}`) };
}

async function startPodman(pod: Podman, network: string, port: number): Promise<Server> {
  const name = `niso-bench-net-${process.pid}`;
  const args = ['run', '-d', '--rm', '--name', name, '--network', network, '-p', `127.0.0.1:${port}:3000`, '-e', 'PORT=3000', '-e', 'NODE_ENV=production', ...PODMAN_ULIMITS, IMAGE, 'node', '/app/server.js'];
  const stop = async () => { try { pod.run(['rm', '-f', '-t', '2', name]); } catch { /* already gone */ } };
  try {
    pod.run(args);
    await waitHttp(`http://127.0.0.1:${port}/`, null, () => { try { return pod.run(['logs', name]).stdout; } catch { return ''; } });
    const pid = Number(pod.run(['inspect', '--format', '{{.State.Pid}}', name]).stdout.trim());
    return { key: 'podman', pid, describe: `podman ${args.join(' ')}`, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Other sessions share these machines. Before each run, wait (up to QUIET_WAIT_MS) until the
 * machine has been quiet for a moment; a run during which others still used more than
 * MAX_OTHER of the CPU is repeated, up to RETRIES times, and the last try is kept either way.
 */
async function measureQuietly(v: Variant, o: WrkOptions, stats: { waitedMs: number; repeated: number; disturbed: number }): Promise<Sample> {
  for (let attempt = 0; ; attempt++) {
    const t0 = performance.now();
    while (performance.now() - t0 < QUIET_WAIT_MS && (await busyShare(250)) > QUIET_BUSY) { /* wait */ }
    stats.waitedMs += performance.now() - t0;
    const s = measure(v, o);
    if (otherShare(s) <= MAX_OTHER) return s;
    if (attempt >= RETRIES) { stats.disturbed++; return s; }
    stats.repeated++;
  }
}

/** One wrk run against a variant, with the CPU that the server, wrk and the whole machine used meanwhile. */
function measure(v: Variant, o: WrkOptions): Sample {
  const p0 = allProcessCpu();
  const m0 = machineCpu();
  const w0 = waitedChildrenCpuMs();
  const r = runWrk(v.url, o);
  const w1 = waitedChildrenCpuMs();
  const m1 = machineCpu();
  const p1 = allProcessCpu();
  const { raw: _raw, ...rest } = r;
  const delta = cpuDelta(p0, p1);
  const serverCpuMs = delta.find((d) => d.pid === v.server.pid)?.ms ?? 0;
  const softirqdMs = delta.filter((d) => d.comm.startsWith('ksoftirqd/')).reduce((a, d) => a + d.ms, 0);
  const benchMs = delta.find((d) => d.pid === process.pid)?.ms ?? 0;
  const wrkCpuMs = w1 - w0;
  const busyMs = m1.busyMs - m0.busyMs;
  const foreign: Record<string, number> = {};
  for (const d of delta) {
    if (d.pid === v.server.pid || d.pid === process.pid || d.comm.startsWith('ksoftirqd/')) continue;
    foreign[d.comm] = (foreign[d.comm] ?? 0) + d.ms;
  }
  return { ...rest, serverCpuMs, wrkCpuMs, softirqdMs, busyMs, capacityMs: m1.totalMs - m0.totalMs, foreignMs: Math.max(0, busyMs - serverCpuMs - wrkCpuMs - softirqdMs - benchMs), foreign };
}

interface NetFacts { bridge: string; bridgeMtu: string; vethMtu: string; uplink: string; brNf: string; tables: string; conntrack: string; subnet: string; address: string }

function netFacts(cli: NisoCli, env: NodeJS.ProcessEnv): NetFacts {
  const list = parseJson<{ network: { name: string; bridge: string; subnet: string }; attachments: { service: string; address: string; vethHost: string }[] }[]>(niso(cli, ['net', 'list', '--json'], { env }), 'niso net list');
  const net = list.find((n) => n.attachments.some((a) => a.service === PRIVATE));
  const att = net?.attachments.find((a) => a.service === PRIVATE);
  if (!net || !att) throw new Error('the private service is on no network');
  const mtu = (dev: string) => { try { return String((JSON.parse(run('ip', ['-j', 'link', 'show', 'dev', dev]).stdout) as { mtu: number }[])[0]!.mtu); } catch { return '?'; } };
  const read = (p: string) => { try { return readFileSync(p, 'utf8').trim(); } catch { return 'n/a'; } };
  let uplink = '?';
  try {
    const dev = (JSON.parse(run('ip', ['-j', 'route', 'show', 'default']).stdout) as { dev?: string }[])[0]?.dev;
    if (dev) uplink = `${dev}, MTU ${mtu(dev)}`;
  } catch { /* no default route */ }
  const all = run('nft', ['list', 'tables']).stdout.trim().split('\n').map((l) => l.replace(/^table /, ''));
  const nisoTables = all.filter((t) => /^ip niso(_[0-9a-f]{8})?$/.test(t));
  const tables = `${all.length} (${[...all.filter((t) => !nisoTables.includes(t)), `${nisoTables.length} of niso's: this run's and those of other installations or tests`].join(', ')})`;
  return {
    bridge: net.network.bridge, bridgeMtu: mtu(net.network.bridge), vethMtu: mtu(att.vethHost), uplink,
    brNf: read('/proc/sys/net/bridge/bridge-nf-call-iptables'), tables,
    conntrack: `${read('/proc/sys/net/netfilter/nf_conntrack_count')} of ${read('/proc/sys/net/netfilter/nf_conntrack_max')}`,
    subnet: net.network.subnet, address: att.address,
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const wrk = wrkVersion();
  if (!wrk.ok) throw new Error(wrk.why);
  const work = join(TMPFS, `niso-bench-net-${process.pid}`);
  const servers: Server[] = [];
  let pod: Podman | null = null;
  let podNet: string | null = null;
  let cli: NisoCli | null = null;
  const root = join(work, 'root');
  const env = nisoEnv({ NISO_ROOT: root });
  delete env.NODE_EXTRA_CA_CERTS; // niso's own start-up is not measured here; keep it quick
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const s of servers.reverse()) await s.stop().catch((e: unknown) => log(`stopping ${s.key}: ${String(e)}`));
    if (cli) {
      removeBenchNetworks(cli, env, log);
    }
    if (pod && podNet) { try { pod.run(['network', 'rm', '-f', podNet]); } catch { /* gone */ } }
    pod?.close();
    await removeBenchWork(work);
  };
  const offInterrupt = cleanupOnInterrupt(cleanup, log);
  try {
    cli = prepareBenchWork(repo, work, log);
    const facts = machineFacts(repo);

    const appDir = join(work, APP);
    mkdirSync(appDir);
    niso(cli, ['init', '--template', 'node'], { env, cwd: appDir });
    // The template maps 127.0.0.1:3000; the bench maps its own free ports instead, so that a
    // process on the host's port 3000 cannot make the run fail.
    const manifestPath = join(appDir, 'manifest.toml');
    const manifest = readFileSync(manifestPath, 'utf8');
    if (!/^ports = \[.*\]/m.test(manifest)) throw new Error('the node template has no ports line to replace');
    writeFileSync(manifestPath, manifest.replace(/^ports = \[.*\].*$/m, 'ports = []'));
    const serverJs = readFileSync(join(appDir, 'server.js'), 'utf8');
    const pkgFile = join(work, `${APP}.niso`);
    parseJson(niso(cli, ['pack', appDir, '-o', pkgFile, '--json'], { env }), 'niso pack');
    parseJson(niso(cli, ['install', pkgFile, '--json'], { env }), 'niso install');

    let podWhy = podmanMissing();
    let image: BenchImage | null = null;
    if (podWhy === null) {
      try {
        pod = openPodman(CACHE);
        image = ensureImages(pod, CACHE, IMAGE, { 'server.js': serverJs }, log);
        const sub = chooseSubnet(await hostNetFacts(), [], ['10.203.0.0/16', '10.204.0.0/16'], 24).subnet;
        podNet = `niso-bench-net-${process.pid}`;
        pod.run(['network', 'create', '--subnet', sub, podNet]);
      } catch (e) {
        podWhy = `preparing podman failed: ${(e as Error).message.slice(0, 800)}`;
        image = null;
      }
    }

    const ports = { direct: await freePort(), host: await freePort(), priv: await freePort(), podman: await freePort() };
    log('starting the servers');
    servers.push(await startDirect(appDir, ports.direct));
    servers.push(await startNiso(cli, env, 'nisoHost', ['--network', 'host', '--name', HOSTNET, '--env', `PORT=${ports.host}`], `http://127.0.0.1:${ports.host}/`));
    servers.push(await startNiso(cli, env, 'nisoPrivate', ['-p', `127.0.0.1:${ports.priv}:3000`, '--name', PRIVATE], `http://127.0.0.1:${ports.priv}/`));
    if (pod && image && podNet) {
      try { servers.push(await startPodman(pod, podNet, ports.podman)); } catch (e) { podWhy = `podman run failed: ${(e as Error).message.slice(0, 800)}`; }
    }
    const byKey = (k: string) => servers.find((s) => s.key === k)!;
    const net = netFacts(cli, env);
    const variants: Variant[] = [
      { key: 'direct', label: 'bare node on the host', what: 'node server.js on the host network', url: `http://127.0.0.1:${ports.direct}/`, server: byKey('direct') },
      { key: 'nisoHost', label: 'niso, host network', what: `niso run --network host (the sandbox, no network namespace)`, url: `http://127.0.0.1:${ports.host}/`, server: byKey('nisoHost') },
      { key: 'nisoAddr', label: 'niso, service address', what: `the private service at ${net.address}:3000 from the host: bridge + veth, no DNAT`, url: `http://${net.address}:3000/`, server: byKey('nisoPrivate') },
      { key: 'nisoPrivate', label: 'niso, mapped port', what: `niso run -p 127.0.0.1:${ports.priv}:3000: DNAT in the kernel into the private network`, url: `http://127.0.0.1:${ports.priv}/`, server: byKey('nisoPrivate') },
      ...(servers.some((s) => s.key === 'podman') ? [{ key: 'podman', label: 'podman, mapped port', what: `podman run -p 127.0.0.1:${ports.podman}:3000 (CNI bridge, iptables DNAT)`, url: `http://127.0.0.1:${ports.podman}/`, server: byKey('podman') }] : []),
    ];
    if (PIN) for (const s of servers) pinProcess(s.pid, SERVER_CPU);
    for (const v of variants) await waitHttp(v.url, null, () => '');

    const opts: Record<Measure, WrkOptions> = {
      load: { threads: 1, connections: CONNECTIONS, seconds: SECONDS, cpu: WRK_CPU },
      latency: { threads: 1, connections: 1, seconds: LATENCY_SECONDS, cpu: WRK_CPU },
    };
    log(`warm-up: ${WARMUP_SECONDS} s of each measure per variant`);
    for (const v of variants) for (const m of ['load', 'latency'] as Measure[]) measure(v, { ...opts[m], seconds: WARMUP_SECONDS });

    const samples: Record<Measure, Record<string, Sample[]>> = { load: {}, latency: {} };
    for (const m of ['load', 'latency'] as Measure[]) for (const v of variants) samples[m][v.key] = [];
    const loadBefore = loadNow();
    const quiet = { waitedMs: 0, repeated: 0, disturbed: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(i + k) % variants.length]!;
        for (const m of ['load', 'latency'] as Measure[]) samples[m][v.key]!.push(await measureQuietly(v, opts[m], quiet));
      }
      log(`  round ${i + 1}/${ROUNDS}: ${variants.map((v) => `${v.key} ${Math.round(samples.load[v.key]!.at(-1)!.rps)} rps`).join(', ')}`);
    }
    const loadAfter = loadNow();

    // One more throughput run per variant under `perf record` of the server's core.
    const profiles: Record<string, { profile: CpuProfile; rps: number }> = {};
    let perfWhy: string | null = !PIN ? 'the servers were not pinned (BENCH_PIN=0), so no one core holds a server' : process.env.BENCH_PERF === '0' ? 'BENCH_PERF=0' : perfAvailable() ? null : 'perf is not installed (apt-get install linux-perf)';
    if (perfWhy === null) {
      log('profiling the server core under load, one run per variant');
      try {
        for (const v of variants) {
          const r = profileCpuDuring(SERVER_CPU, wrkArgv(v.url, opts.load), join(work, `perf-${v.key}.data`));
          profiles[v.key] = { profile: r.profile, rps: parseWrk(r.stdout).rps };
        }
      } catch (e) {
        perfWhy = `perf failed: ${(e as Error).message.slice(0, 300)}`;
      }
    }

    const report = render({
      facts, net, variants, samples, opts, image, podWhy, cli, quiet, profiles, perfWhy,
      wrk: wrk.version, podmanVersion: pod?.version ?? 'n/a', nft: firstLine('nft', ['--version']),
      loadBefore, loadAfter, totalMs: performance.now() - started,
    });
    writeReport(RESULT, report);
    log(`wrote ${RESULT} in ${fmtMs(performance.now() - started)}`);
  } finally {
    await cleanup();
    offInterrupt();
  }
}

interface RenderInput {
  facts: ReturnType<typeof machineFacts>;
  net: NetFacts;
  variants: Variant[];
  samples: Record<Measure, Record<string, Sample[]>>;
  opts: Record<Measure, WrkOptions>;
  image: BenchImage | null;
  podWhy: string | null;
  cli: NisoCli;
  quiet: { waitedMs: number; repeated: number; disturbed: number };
  profiles: Record<string, { profile: CpuProfile; rps: number }>;
  perfWhy: string | null;
  wrk: string;
  podmanVersion: string;
  nft: string;
  loadBefore: string;
  loadAfter: string;
  totalMs: number;
}

const med = (xs: number[]) => summarize(xs).median;
const sum = (xs: Sample[], f: (s: Sample) => number) => summarize(xs.map(f));
const fmtRps = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtLat = (ms: number) => (ms < 1 ? `${Math.round(ms * 1000)} µs` : `${ms.toFixed(2)} ms`);
const fmtRange = (s: Summary, f: (n: number) => string) => `**${f(s.median)}** (${f(s.min)}–${f(s.max)}, n=${s.n})`;
const pct = (r: number) => `${(r * 100).toFixed(1)}%`;
/** CPU of server + wrk + ksoftirqd per request, in µs. */
const cpuPerReq = (s: Sample) => ((s.serverCpuMs + s.wrkCpuMs + s.softirqdMs) * 1000) / s.requests;
const perReq = (ms: number, s: Sample) => (ms * 1000) / s.requests;
/** Share of the machine's CPU that others used during the run. */
const otherShare = (s: Sample) => s.foreignMs / s.capacityMs;
const clean = (s: Sample) => otherShare(s) <= MAX_OTHER;
/** Figures come from the undisturbed runs when there are at least MIN_CLEAN of them, else from all. */
const MIN_CLEAN = 3;
function used(xs: Sample[]): Sample[] {
  const c = xs.filter(clean);
  return c.length >= MIN_CLEAN ? c : xs;
}
/** The rounds in which both runs were undisturbed (when there are at least MIN_CLEAN), else all rounds. */
function pairs(a: Sample[], b: Sample[]): [Sample[], Sample[]] {
  const idx = a.map((_, i) => i).filter((i) => clean(a[i]!) && clean(b[i]!));
  return idx.length >= MIN_CLEAN ? [idx.map((i) => a[i]!), idx.map((i) => b[i]!)] : [a, b];
}

/** Median of per-round ratios a[i]/b[i]: the variants ran back to back, so a busy moment hits both. */
function pairedRatio(a0: Sample[], b0: Sample[], f: (s: Sample) => number): Summary {
  const [a, b] = pairs(a0, b0);
  return summarize(a.map((x, i) => f(x) / f(b[i]!)));
}
function pairedDiff(a0: Sample[], b0: Sample[], f: (s: Sample) => number): Summary {
  const [a, b] = pairs(a0, b0);
  return summarize(a.map((x, i) => f(x) - f(b[i]!)));
}

function render(x: RenderInput): string {
  const f = x.facts;
  const L = x.samples.load;
  const C = x.samples.latency;
  const out: string[] = [];
  const has = (k: string) => L[k] !== undefined;
  out.push('# Network: requests per second and latency through a mapped port', '');
  out.push(`Made by \`npm run bench:net\` (bench/run-net.ts) on ${f.date} in ${fmtMs(x.totalMs)}. The app is the one \`niso init --template node\` writes (a plain \`node:http\` server; \`GET /\` answers \`hello from ${APP}\`), with the manifest's \`ports\` line emptied so the bench maps its own free ports. Load: \`${wrkArgv('URL', x.opts.load).flat().join(' ')}\` (throughput, ${x.opts.load.connections} keep-alive connections) and \`${wrkArgv('URL', x.opts.latency).flat().join(' ')}\` (latency of one request at a time), from the host to 127.0.0.1 (or to the service's own address). ${ROUNDS} rounds; in each, every variant ran both measures, in a rotating order; a ${WARMUP_SECONDS} s warm-up of each came first. Cells are the **median** (min–max) over the rounds; "vs direct" is the median of the per-round ratios.`, '');

  out.push('## Machine', '');
  out.push(mdTable(['fact', 'value'], [
    ...machineRows(f),
    ['wrk / podman / nft', `${x.wrk} / ${x.podmanVersion} / ${x.nft}`],
    ['niso ran as', x.cli.describe],
    ['CPU placement', PIN ? `wrk pinned to CPU ${WRK_CPU} (taskset -c), every server's threads to CPU ${SERVER_CPU} (taskset -a -p)` : 'not pinned (BENCH_PIN=0 or one CPU)'],
    ['niso network', `${x.net.subnet} on bridge ${x.net.bridge} (MTU ${x.net.bridgeMtu}), service veth MTU ${x.net.vethMtu}; uplink ${x.net.uplink}`],
    ['netfilter', `bridge-nf-call-iptables = ${x.net.brNf}; tables: ${x.net.tables}; conntrack entries ${x.net.conntrack}`],
    ['load average (1/5/15 min) at start / before timing / after timing', `${f.loadStart.replace(/ \/ /g, ', ')} / ${x.loadBefore.replace(/ \/ /g, ', ')} / ${x.loadAfter.replace(/ \/ /g, ', ')}`],
  ]), '');

  out.push(`## Throughput: ${x.opts.load.connections} connections, ${x.opts.load.seconds} s per run`, '');
  const rpsOf = (s: Sample) => s.rps;
  const cpuCell = (s: Sample[]) => `**${med(s.map(cpuPerReq)).toFixed(1)} µs** (${med(s.map((q) => perReq(q.serverCpuMs, q))).toFixed(1)} / ${med(s.map((q) => perReq(q.wrkCpuMs, q))).toFixed(1)} / ${med(s.map((q) => perReq(q.softirqdMs, q))).toFixed(1)})`;
  const otherCell = (all: Sample[]) => `${all.filter(clean).length} of ${all.length} (others used ${pct(med(all.map(otherShare)))}, max ${pct(Math.max(...all.map(otherShare)))})`;
  out.push(mdTable(['variant', 'what', 'requests/s', 'vs direct', 'latency p50', 'latency p99', 'CPU per request (server / wrk / ksoftirqd)', 'undisturbed runs', 'errors'],
    x.variants.map((v) => {
      const all = L[v.key]!;
      const s = used(all);
      return [
        v.label, v.what, fmtRange(sum(s, rpsOf), fmtRps),
        v.key === 'direct' ? '1' : fmtRange(pairedRatio(all, L.direct!, rpsOf), pct),
        fmtLat(med(s.map((q) => q.p50))), fmtLat(med(s.map((q) => q.p99))),
        cpuCell(s), otherCell(all),
        String(all.reduce((a, q) => a + q.errors, 0)),
      ];
    })), '');

  out.push(`## Latency: one connection, one request at a time, ${x.opts.latency.seconds} s per run`, '');
  out.push(mdTable(['variant', 'requests/s', 'p50', 'p90', 'p99', 'p50 minus direct', 'CPU per request (server / wrk / ksoftirqd)', 'undisturbed runs', 'errors'],
    x.variants.map((v) => {
      const all = C[v.key]!;
      const s = used(all);
      const d = v.key === 'direct' ? null : pairedDiff(all, C.direct!, (q) => q.p50);
      return [
        v.label, fmtRange(sum(s, rpsOf), fmtRps), fmtLat(med(s.map((q) => q.p50))), fmtLat(med(s.map((q) => q.p90))), fmtLat(med(s.map((q) => q.p99))),
        d ? `${d.median >= 0 ? '+' : ''}${Math.round(d.median * 1000)} µs` : '',
        cpuCell(s), otherCell(all), String(all.reduce((a, q) => a + q.errors, 0)),
      ];
    })), '');

  out.push('## Aim: a mapped port within 10% of direct', '');
  const rows: string[][] = [];
  const ratio = pairedRatio(L.nisoPrivate!, L.direct!, rpsOf);
  rows.push(['niso mapped port / bare node, requests/s (32 connections)', fmtRange(ratio, pct), `≥ ${pct(AIM)}`, ratio.median >= AIM ? 'met' : '**not met**']);
  const ratioC = pairedRatio(C.nisoPrivate!, C.direct!, rpsOf);
  rows.push(['the same, one connection (requests/s = 1 / round trip)', fmtRange(ratioC, pct), `≥ ${pct(AIM)}`, ratioC.median >= AIM ? 'met' : '**not met**']);
  const vsHost = pairedRatio(L.nisoPrivate!, L.nisoHost!, rpsOf);
  rows.push(['niso mapped port / niso on the host network (the network alone, same sandbox)', fmtRange(vsHost, pct), '', '']);
  if (has('podman')) {
    const pp = pairedRatio(L.podman!, L.direct!, rpsOf);
    rows.push(['podman mapped port / bare node', fmtRange(pp, pct), '', '']);
    const np = pairedRatio(L.nisoPrivate!, L.podman!, rpsOf);
    rows.push(['niso mapped port / podman mapped port', fmtRange(np, pct), '', '']);
  }
  out.push(mdTable(['measure', 'value', 'aim', ''], rows), '');

  out.push('## Where the time goes (numbers from this run)', '');
  const step = (a: string, b: string) => ({ cpu: pairedDiff(L[a]!, L[b]!, cpuPerReq), lat: pairedDiff(C[a]!, C[b]!, (q) => q.p50 * 1000), rps: pairedRatio(L[a]!, L[b]!, rpsOf) });
  const serverBound = med(used(L.direct!).map((s) => s.serverCpuMs / (x.opts.load.seconds * 1000)));
  const sign = (d: number) => (n: number) => `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(d)}`;
  const row = (label: string, a: string, b: string) => {
    const st = step(a, b);
    return [label, `${fmtRange(st.cpu, sign(1))} µs`, `${fmtRange(st.lat, sign(0))} µs`, fmtRange(st.rps, pct)];
  };
  out.push('Each step is the difference between two variants, per round (median, with the range over the rounds). Where a range spans zero, this run cannot tell the step from the noise of a shared 2-core machine.', '');
  out.push(mdTable(['step', 'CPU per request (32 conns)', 'p50 latency, one connection', 'requests/s ratio'], [
    row('the sandbox (niso host network − bare node): seccomp filter on every syscall, cgroups', 'nisoHost', 'direct'),
    row('a network namespace (service address − niso host network): bridge, veth pair, forwarding between namespaces', 'nisoAddr', 'nisoHost'),
    row('the mapped port (mapped − service address): DNAT of 127.0.0.1 and the masquerade back', 'nisoPrivate', 'nisoAddr'),
    row('all of niso (mapped − bare node)', 'nisoPrivate', 'direct'),
    ...(has('podman') ? [row('podman\'s mapped port − bare node', 'podman', 'direct')] : []),
  ]), '');
  out.push(`- The server process used ${pct(serverBound)} of one CPU in the direct throughput runs: the node server is the bottleneck, so throughput follows the CPU each request costs on the server's core. On ${f.nproc.split(' ')[0]} CPUs, wrk and the server share the machine; the kernel's network work (TCP, netfilter, the bridge and veth) is done in their contexts (with tick accounting, softirq time lands on the task it interrupted), which the CPU-per-request column includes.`);
  out.push('- The DNAT and masquerade decisions are made once per connection (the first packet; conntrack remembers them). With keep-alive connections, as here, the per-packet cost of the mapped port is conntrack\'s lookup and the rewriting of each packet\'s addresses; the namespace adds a second pass through the IP stack (host → bridge → veth → the service\'s netns, and back), with br_netfilter (bridge-nf-call-iptables = 1) running the IP hooks for packets crossing the bridge.');
  out.push(`- Every nftables table with base chains on a hook is run for each packet on that hook, for every variant alike (bare node's loopback packets pass input and output too): ${x.net.tables.split(' ')[0]} tables were loaded during this run (see "netfilter" above), and conntrack tracks every connection once any table uses NAT.`);
  out.push('- Bare node and `niso --network host` use loopback; loopback and the veth pair both hand packets over on the sending CPU (netif_rx), so no variant gets a second core for its network work.');
  if (!has('podman')) out.push(`- **podman was not measured:** ${x.podWhy ?? 'unknown reason'}`);
  out.push('');

  out.push(`### The server's core under load (\`perf record -F 1999 -C ${SERVER_CPU}\`, one ${x.opts.load.seconds} s throughput run per variant after the rounds)`, '');
  const prof = x.variants.filter((v) => x.profiles[v.key]);
  if (prof.length === 0) out.push(`Not profiled: ${x.perfWhy ?? 'unknown reason'}.`, '');
  else {
    out.push('Share of the samples of the core the server is pinned to (the server and the kernel work done in its context; wrk runs on the other core). A smaller share for the app means more kernel work per request.', '');
    const groups = [...new Set(prof.flatMap((v) => x.profiles[v.key]!.profile.groups.map(([g]) => g)))];
    const share = (k: string, g: string) => x.profiles[k]!.profile.groups.find(([n]) => n === g)?.[1] ?? 0;
    groups.sort((a, b) => share(prof[0]!.key, b) - share(prof[0]!.key, a));
    out.push(mdTable(['', ...prof.map((v) => v.label)], [
      ...groups.map((g) => [g, ...prof.map((v) => `${share(v.key, g).toFixed(1)}%`)]),
      ['requests/s during the profile', ...prof.map((v) => fmtRps(x.profiles[v.key]!.rps))],
      ['samples', ...prof.map((v) => x.profiles[v.key]!.profile.samples)],
    ]), '');
    const top = (k: string) => x.profiles[k]?.profile.topKernel.map(([sym, p]) => `${sym} ${p.toFixed(1)}%`).join(', ') ?? '';
    out.push(`- Largest kernel symbols, bare node: ${top('direct')}.`);
    if (x.profiles.nisoPrivate) out.push(`- Largest kernel symbols, niso mapped port: ${top('nisoPrivate')}.`);
    out.push(`- \`nft_do_chain\` runs every base chain of every table on a hook, for each packet: with ${x.net.tables.split(' ')[0]} tables loaded (see "netfilter" above), netfilter is a large share for bare node too.`);
    out.push('');
  }

  out.push('## Notes', '');
  out.push('- niso ran with NISO_ROOT in a temporary directory on tmpfs, its own nft table (`niso_<hash>`; a non-default root never replaces the real `niso` table) and the default network it creates on first use; all removed at the end. The servers were started once and kept running through all rounds; they are the same app in every variant (`node server.js`, NODE_ENV=production, a clean environment).');
  if (x.image) out.push(`- podman: rootful, CNI backend, its own network (created and removed by the bench) with \`-p 127.0.0.1:PORT:3000\`, inside a private mount namespace without /sys/fs/cgroup/unified (crun refuses the hybrid cgroup layout), rlimits root can set. Image \`${x.image.image}\` = \`${x.image.base}\` (debootstrap minbase bookworm + the host's node) + the same server.js${x.image.built.length > 0 ? ` (built this run: ${x.image.built.join(', ')})` : ''}. podman's CNI leaves its (empty) \`ip nat\` and \`ip filter\` chains on the host.`);
  const foreign: Record<string, number> = {};
  for (const m of [L, C]) for (const xs of Object.values(m)) for (const q of xs) for (const [k, ms] of Object.entries(q.foreign)) foreign[k] = (foreign[k] ?? 0) + ms;
  const top = Object.entries(foreign).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, ms]) => `${k} ${fmtMs(ms)}`).join(', ');
  out.push(`- Other sessions share this machine. Every figure above comes from the undisturbed runs (others used at most ${pct(MAX_OTHER)} of the CPU) when a variant had at least ${MIN_CLEAN}, else from all its runs; a ratio or difference from the rounds in which both runs were undisturbed (n says how many). CPU that was not the server, wrk, ksoftirqd or the bench went, over all runs, to: ${top || 'nothing measurable'}.`);
  out.push(`- Before each run the bench waited until the machine's CPU was below ${pct(QUIET_BUSY)} busy for 250 ms (at most ${QUIET_WAIT_MS / 1000} s; ${fmtMs(x.quiet.waitedMs)} of waiting in all); a run during which others used more than ${pct(MAX_OTHER)} of the CPU was repeated, up to ${RETRIES} times: ${x.quiet.repeated} repeated, ${x.quiet.disturbed} kept although still disturbed.`);
  out.push(`- CPU times come from /proc at ${CLK_TCK} ticks per second (tick accounting: softirq work is charged to the task it interrupted, so most of the kernel's network work is in the server's and wrk's figures; what the kernel defers to its ksoftirqd threads is shown apart). A ${x.opts.load.seconds} s run resolves about ${(1000 / CLK_TCK / (x.opts.load.seconds * 10)).toFixed(1)}% of a CPU.`);
  out.push(`- Rerun with BENCH_ROUNDS=N (default 9), BENCH_SECONDS=N (default 5), BENCH_LATENCY_SECONDS=N (default 3), BENCH_CONNECTIONS=N (default 32), BENCH_PIN=0 to let the scheduler place wrk and the servers.`);
  out.push('');
  return out.join('\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
