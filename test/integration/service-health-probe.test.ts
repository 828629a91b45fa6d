// Health probes against a real app in a network namespace of this test's own: http and tcp verdicts and
// messages, IPv6, timeouts that hold when a tool hangs, exec delegation, and proof that the app's own
// loopback is probed and not the host's. Traffic stays on loopback and inside the test's namespace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { checkProbeTools, KILL_GRACE_MS, probeTools, runProbe, type ExecInSandbox } from '../../src/service/health/probe.js';
import type { HealthProbe } from '../../src/plan/plan.js';

const NS = `niso-ht-${randomBytes(4).toString('hex')}`;
const NETNS = `/run/netns/${NS}`;
// A veth pair inside the namespace, and a neighbour entry whose MAC nobody has: packets to BLACKHOLE
// leave bh0 and are dropped at bh1, so a connect there hangs until killed.
const BLACKHOLE = '10.231.77.2';
const CLEAN_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

const APP = `
const http = require('node:http');
const handler = (req, res) => {
  if (req.url === '/ok') res.end('fine');
  else if (req.url === '/redirect') { res.writeHead(302, { location: '/login' }); res.end(); }
  else if (req.url === '/fail') { res.writeHead(500); res.end('db down\\n'); }
  else if (req.url === '/hang') { /* accepted, never answered */ }
  else { res.writeHead(404); res.end(); }
};
const port = Number(process.argv[1]);
let n = 0;
const up = () => { if (++n === 2) console.log('ready'); };
http.createServer(handler).listen(port, '127.0.0.1', up);
http.createServer(handler).listen(port, '::1', up);
`;

let app: ChildProcess | undefined;
const hostServers: Server[] = [];
/** The app's port: also taken on the host's 127.0.0.1 by a server that always says 200. */
let P = 0;
/** A port only the host listens on; inside the namespace nothing does. */
let Q = 0;

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000, env: CLEAN_ENV });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout || r.error}`);
  return r.stdout;
}

async function hostServer(body: string): Promise<number> {
  const s = createServer((_req, res) => res.end(body));
  hostServers.push(s);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return (s.address() as { port: number }).port;
}

function processArgs(): string[] {
  return sh('ps', ['-eo', 'args']).split('\n');
}

before(async () => {
  P = await hostServer('host');
  Q = await hostServer('host only');
  sh('ip', ['netns', 'add', NS]);
  sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', NS, 'link', 'add', 'bh0', 'type', 'veth', 'peer', 'name', 'bh1']);
  sh('ip', ['-n', NS, 'addr', 'add', '10.231.77.1/24', 'dev', 'bh0']);
  sh('ip', ['-n', NS, 'link', 'set', 'bh0', 'up']);
  sh('ip', ['-n', NS, 'link', 'set', 'bh1', 'up']);
  sh('ip', ['-n', NS, 'neigh', 'add', BLACKHOLE, 'lladdr', '02:00:00:00:00:99', 'dev', 'bh0', 'nud', 'permanent']);
  app = spawn('nsenter', [`--net=/run/netns/${NS}`, '--', process.execPath, '-e', APP, String(P)], { stdio: ['ignore', 'pipe', 'inherit'], env: CLEAN_ENV });
  let out = '';
  app.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const deadline = Date.now() + 10_000;
  while (!out.includes('ready')) {
    if (app.exitCode !== null || Date.now() > deadline) throw new Error(`the app in ${NS} did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
});

after(async () => {
  if (app && app.exitCode === null) {
    app.kill('SIGKILL');
    await once(app, 'exit');
  }
  for (const s of hostServers) s.close();
  spawnSync('ip', ['netns', 'delete', NS], { env: CLEAN_ENV });
});

const http = (url: string): HealthProbe => ({ kind: 'http', url });
const tcp = (host: string, port: number): HealthProbe => ({ kind: 'tcp', host, port });
const inApp = { netns: NETNS };

test('http: 2xx and 3xx are healthy (redirects not followed), 5xx is not, and the output says why', async () => {
  const cases: [string, boolean, string][] = [
    [`http://127.0.0.1:${P}/ok`, true, 'HTTP 200 OK: fine'],
    [`http://127.0.0.1:${P}/redirect`, true, 'HTTP 302 Found → /login'],
    [`http://127.0.0.1:${P}/fail`, false, 'HTTP 500 Internal Server Error: db down'],
    [`http://127.0.0.1:${P}/nothing`, false, 'HTTP 404 Not Found'],
    [`http://[::1]:${P}/ok`, true, 'HTTP 200 OK: fine'],
    [`http://localhost:${P}/ok`, true, 'HTTP 200 OK: fine'],
  ];
  for (const [url, ok, output] of cases) {
    const r = await runProbe(http(url), inApp, 2000);
    assert.deepEqual({ ok: r.ok, output: r.output }, { ok, output }, url);
    assert.ok(r.durationMs >= 0 && r.durationMs < 2000, `${url}: ${r.durationMs} ms`);
    assert.ok(Math.abs(Date.parse(r.at) - Date.now()) < 5000, r.at);
    assert.equal(r.exitCode, undefined);
  }
});

test('the app\'s own loopback is probed, not the host\'s', async () => {
  // The host's 127.0.0.1:P answers 200 to everything; the app's 127.0.0.1:P answers /fail with 500.
  const fail = http(`http://127.0.0.1:${P}/fail`);
  assert.deepEqual([(await runProbe(fail, { netns: null }, 2000)).output, (await runProbe(fail, inApp, 2000)).output], ['HTTP 200 OK: host', 'HTTP 500 Internal Server Error: db down']);
  // Q is open on the host only.
  const cases: [HealthProbe, string, string][] = [
    [http(`http://127.0.0.1:${Q}/`), 'HTTP 200 OK: host only', `connection refused on 127.0.0.1:${Q}`],
    [tcp('127.0.0.1', Q), `connected to 127.0.0.1:${Q}`, `connection refused on 127.0.0.1:${Q}`],
  ];
  for (const [probe, onHost, inNs] of cases) {
    const h = await runProbe(probe, { netns: null }, 2000);
    const a = await runProbe(probe, inApp, 2000);
    assert.deepEqual([h.ok, h.output], [true, onHost], `${probe.kind} on the host`);
    assert.deepEqual([a.ok, a.output], [false, inNs], `${probe.kind} in the app's namespace`);
  }
});

test('tcp: open, refused, IPv6 and names', async () => {
  const cases: [HealthProbe, boolean, string][] = [
    [tcp('127.0.0.1', P), true, `connected to 127.0.0.1:${P}`],
    [tcp('::1', P), true, `connected to [::1]:${P}`],
    [tcp('localhost', P), true, `connected to localhost:${P}`],
    [tcp('127.0.0.1', Q), false, `connection refused on 127.0.0.1:${Q}`],
    [tcp('::1', Q), false, `connection refused on [::1]:${Q}`],
    [tcp('10.99.0.1', P), false, `could not connect to 10.99.0.1:${P}: network is unreachable`],
    [tcp('no-such-host.invalid', P), false, 'cannot resolve host no-such-host.invalid'],
  ];
  for (const [probe, ok, output] of cases) {
    const r = await runProbe(probe, inApp, 2000);
    assert.deepEqual({ ok: r.ok, output: r.output }, { ok, output }, JSON.stringify(probe));
  }
});

test('the timeout holds: a server that never answers, and a connect that hangs (the tool is killed)', async () => {
  const cases: [HealthProbe, number, string][] = [
    [http(`http://127.0.0.1:${P}/hang`), 400, `no HTTP response within 400ms from http://127.0.0.1:${P}/hang (the connection was accepted)`],
    [http(`http://${BLACKHOLE}:8080/`), 300, `no answer within 300ms from ${BLACKHOLE}:8080`],
    [tcp(BLACKHOLE, 8081), 300, `no answer within 300ms from ${BLACKHOLE}:8081`],
  ];
  for (const [probe, timeout, output] of cases) {
    const t0 = performance.now();
    const r = await runProbe(probe, inApp, timeout);
    const wall = performance.now() - t0;
    assert.deepEqual({ ok: r.ok, output: r.output }, { ok: false, output }, JSON.stringify(probe));
    assert.ok(wall >= timeout - 20 && wall < timeout + KILL_GRACE_MS + 300, `${JSON.stringify(probe)} took ${wall.toFixed(0)} ms with a timeout of ${timeout} ms`);
    assert.ok(Math.abs(r.durationMs - wall) < 50, `durationMs ${r.durationMs} vs ${wall.toFixed(0)} measured`);
  }
  // bash has no timeout of its own here: it was killed, not left behind.
  const left = processArgs().filter((a) => a.includes(BLACKHOLE));
  assert.deepEqual(left, []);
});

test('a namespace given as /proc/PID/ns/net works, and one whose process is gone is a clear failure', async () => {
  const viaProc = await runProbe(http(`http://127.0.0.1:${P}/ok`), { netns: `/proc/${app!.pid}/ns/net` }, 2000);
  assert.deepEqual([viaProc.ok, viaProc.output], [true, 'HTTP 200 OK: fine']);
  const gone = spawn('nsenter', [`--net=/run/netns/${NS}`, '--', 'sleep', '30'], { stdio: 'ignore', env: CLEAN_ENV });
  await once(gone, 'spawn');
  const pid = gone.pid!;
  gone.kill('SIGKILL');
  await once(gone, 'exit');
  for (const probe of [http(`http://127.0.0.1:${P}/ok`), tcp('127.0.0.1', P)]) {
    const r = await runProbe(probe, { netns: `/proc/${pid}/ns/net` }, 2000);
    assert.deepEqual([r.ok, r.output], [false, `cannot enter the service's network: cannot open /proc/${pid}/ns/net: No such file or directory`], probe.kind);
  }
});

test('exec: delegated to the sandbox runner, exit 0 is healthy, and its timeout holds too', async () => {
  // Stands in for `niso exec`: runs the command in the app's namespace and kills it after timeoutMs.
  const execInNs: ExecInSandbox = (argv, timeoutMs) => new Promise((resolve, reject) => {
    const c = spawn('nsenter', [`--net=/run/netns/${NS}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: CLEAN_ENV, detached: true });
    let output = '';
    c.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    c.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    const timer = setTimeout(() => process.kill(-c.pid!, 'SIGKILL'), timeoutMs);
    c.on('error', reject);
    c.on('close', (code, signal) => { clearTimeout(timer); resolve({ exitCode: code ?? (signal ? 128 + 9 : 1), output }); });
  });
  const exec = (argv: string[]): HealthProbe => ({ kind: 'exec', argv });
  const cases: [string[], boolean, string, number][] = [
    [['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${P} && echo port open`], true, 'port open', 0],
    [['sh', '-c', 'echo "db down" >&2; exit 3'], false, 'db down', 3],
    [['sh', '-c', 'exit 4'], false, 'sh exited with code 4', 4],
    [['sh', '-c', 'sleep 5'], false, 'sh exited with code 137', 137],
  ];
  for (const [argv, ok, output, exitCode] of cases) {
    const r = await runProbe(exec(argv), { netns: NETNS, exec: execInNs }, 500);
    assert.deepEqual({ ok: r.ok, output: r.output, exitCode: r.exitCode }, { ok, output, exitCode }, argv.join(' '));
  }
  // A runner that ignores its timeout still cannot hold the probe up.
  const t0 = performance.now();
  const stuck = await runProbe(exec(['bin/check']), { netns: NETNS, exec: () => new Promise(() => {}) }, 300);
  assert.deepEqual([stuck.ok, stuck.output], [false, 'no answer within 300ms from bin/check']);
  assert.ok(performance.now() - t0 < 300 + KILL_GRACE_MS + 200);
  const broken = await runProbe(exec(['bin/check']), { netns: NETNS, exec: () => Promise.reject(new Error('service not running')) }, 300);
  assert.deepEqual([broken.ok, broken.output], [false, 'bin/check could not run: service not running']);
  const absent = await runProbe(exec(['bin/check', '--quick']), { netns: NETNS }, 300);
  assert.deepEqual([absent.ok, absent.output], [false, 'exec probe not run: this niso cannot run commands inside the service\'s sandbox (bin/check --quick)']);
});

test('the tools a probe needs are named and found on this host', async () => {
  assert.deepEqual(probeTools(http('http://127.0.0.1/'), NETNS), ['nsenter', 'curl']);
  assert.deepEqual(probeTools(tcp('127.0.0.1', 1), NETNS), ['nsenter', 'bash']);
  assert.deepEqual(probeTools(tcp('127.0.0.1', 1), null), ['bash']);
  assert.deepEqual(probeTools({ kind: 'exec', argv: ['x'] }, NETNS), []);
  await checkProbeTools(http('http://127.0.0.1/'), NETNS);
  await checkProbeTools(tcp('127.0.0.1', 1), NETNS);
});
