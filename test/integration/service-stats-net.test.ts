// NET I/O of `niso stats` on real network namespaces, as root: two namespaces of the test's own
// joined by a veth pair, 1 MiB sent from one to a server in the other, whose cgroup then shows
// it received; loopback traffic and processes left in the host's namespace do not count.
// Traffic stays inside these namespaces; they are deleted in the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Cgroup } from '../../src/sandbox/cgroup.js';
import { formatStatsTable } from '../../src/service/stats/format.js';
import { readNetSample, readServiceSample } from '../../src/service/stats/read.js';
import { sampleOnce } from '../../src/service/stats/sampler.js';
import { until as waitUntil } from '../helpers/wait.js';

const MiB = 1024 * 1024;
const ID = randomBytes(3).toString('hex');
const NS_A = `nst${ID}a`;
const NS_B = `nst${ID}b`;
const CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct'];
const dirs = CONTROLLERS.map((c) => join('/sys/fs/cgroup', c, 'niso', `test-${ID}-net`));
const cg: Cgroup = { dirs, procsFiles: dirs.map((d) => join(d, 'cgroup.procs')) };
const children: ChildProcess[] = [];
const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', env: ENV });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

const JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

/** Runs argv (inside cg when given) and resolves with its stdout once it printed `until`. */
function start(argv: string[], until: string, into: Cgroup | null): Promise<{ child: ChildProcess; out: () => string }> {
  const child = into
    ? spawn('sh', ['-c', JOIN, 'sh', ...into.procsFiles, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV })
    : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: ENV });
  children.push(child);
  let out = '';
  let err = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${argv.join(' ')}: no "${until}" in ${out} ${err}`)), 10_000);
    child.stdout!.on('data', (d) => { out += d; if (out.includes(until)) { clearTimeout(timer); res({ child, out: () => out }); } });
    child.stderr!.on('data', (d) => { err += d; });
    child.on('exit', (code) => { if (!out.includes(until)) { clearTimeout(timer); rej(new Error(`${argv.join(' ')} exited ${code}: ${err}`)); } });
  });
}

// Counts what each connection brings and prints it; first sends itself 2 MiB over loopback.
const SERVER = `const net = require('net');
const srv = net.createServer((s) => { let n = 0; s.on('data', (d) => { n += d.length; }); s.on('end', () => { console.log('got ' + n); s.end(); }); });
srv.listen(5001, '0.0.0.0', () => {
  const c = net.connect(5001, '127.0.0.1', () => c.end(Buffer.alloc(2 * 1024 * 1024, 7)));
  c.on('close', () => setTimeout(() => console.log('ready'), 50));
});`;
const CLIENT = `const c = require('net').connect(5001, '192.168.251.2', () => c.end(Buffer.alloc(1024 * 1024, 7)));
c.resume(); c.on('close', () => console.log('sent'));`;

before(() => {
  for (const d of dirs) mkdirSync(d, { recursive: true });
  ip('netns', 'add', NS_A);
  ip('netns', 'add', NS_B);
  ip('link', 'add', `vst${ID}a`, 'netns', NS_A, 'type', 'veth', 'peer', 'name', `vst${ID}b`, 'netns', NS_B);
  ip('-n', NS_A, 'addr', 'add', '192.168.251.1/30', 'dev', `vst${ID}a`);
  ip('-n', NS_B, 'addr', 'add', '192.168.251.2/30', 'dev', `vst${ID}b`);
  for (const [ns, dev] of [[NS_A, `vst${ID}a`], [NS_B, `vst${ID}b`]] as const) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  const procs = () => cg.procsFiles.flatMap((f) => { try { return readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number); } catch { return []; } });
  for (let i = 0; i < 300 && procs().length > 0; i++) {
    for (const p of procs()) { try { process.kill(p, 'SIGKILL'); } catch { /* exited */ } }
    await new Promise((r) => setTimeout(r, 10));
  }
  for (const d of dirs) if (existsSync(d)) rmdirSync(d);
  for (const ns of [NS_A, NS_B]) spawnSync('ip', ['netns', 'del', ns], { env: ENV });
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', env: ENV }).stdout;
  assert.doesNotMatch(left, new RegExp(`nst${ID}`));
  for (const d of dirs) assert.equal(existsSync(d), false);
});

test('a server in its own namespace shows the 1 MiB it received; loopback and the host namespace do not count', async () => {
  // A process of the service left in the host's namespace (as bwrap's outer process is) must not
  // make the host's traffic the service's.
  await start(['sh', '-c', 'echo up; exec sleep 60'], 'up', cg);
  const server = await start(['nsenter', `--net=/run/netns/${NS_B}`, '--', process.execPath, '-e', SERVER], 'ready', cg);
  const before = readServiceSample(cg);
  assert.equal(before.procs.length, 2);
  assert.ok(before.net, 'the namespace of the server was found');
  assert.ok(before.net.rxBytes < 100_000 && before.net.txBytes < 100_000, `2 MiB over lo are not counted: ${JSON.stringify(before.net)}`);

  const client = await start(['nsenter', `--net=/run/netns/${NS_A}`, '--', process.execPath, '-e', CLIENT], 'sent', null);
  await waitUntil('the server to have the MiB', () => server.out().includes(`got ${MiB}`), 30_000, 10).catch(() => undefined);
  assert.match(server.out(), new RegExp(`got ${MiB}\\n`));

  const rows = await sampleOnce([{ name: 'receiver', cgroup: cg }], { firstIntervalMs: 50 });
  const s = rows[0]!.stats!;
  const rx = s.netRxBytes! - before.net.rxBytes;
  const tx = s.netTxBytes! - before.net.txBytes;
  assert.ok(rx >= MiB && rx < MiB * 1.2, `received ${rx}`);
  assert.ok(tx > 0 && tx < MiB / 4, `sent (acks) ${tx}`);
  assert.match(formatStatsTable(rows), /^receiver +\S+% +\S+ \/ \S+ +\S+% +1\.\d+MB \/ \d+(\.\d+)?kB +/m);

  // readNetSample of the server's own pid agrees; a process that is gone has none.
  const serverPid = readServiceSample(cg).procs.find((p) => readlinkSync(`/proc/${p}/ns/net`) !== readlinkSync('/proc/self/ns/net'))!;
  const own = readNetSample(serverPid)!;
  assert.ok(own.rxBytes >= s.netRxBytes! && own.rxBytes - s.netRxBytes! < 10_000, `${own.rxBytes} vs ${s.netRxBytes}`);
  await new Promise((r) => (client.child.exitCode !== null ? r(null) : client.child.once('exit', r)));
  assert.equal(readNetSample(client.child.pid!), null);
});
