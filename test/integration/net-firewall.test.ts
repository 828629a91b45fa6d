// niso next to another firewall that drops forwarded traffic, as Docker does (iptables FORWARD
// policy DROP, through iptables-nft: a base chain of another table on the same hook, whose drop
// niso's accept cannot undo). Everything runs in namespaces this test creates: a stand-in host
// (net-firewall-host.ts runs niso's network code in it), an "outside" client, and the services;
// the rules it adds live in the stand-in host's own netfilter tables. It pins what README
// "Networks" says: what still works, what the drop breaks, and that the documented DOCKER-USER
// rules mend it without opening the services beyond their mapped ports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Network } from '../../src/net/model/types.js';

const tool = (cmd: string, arg = '-V') => spawnSync(cmd, [arg]).error === undefined;
const skip = process.platform !== 'linux' ? 'Linux only'
  : process.getuid?.() !== 0 ? 'needs root'
    : !tool('ip') || !tool('nft') || !tool('curl') || !tool('nsenter') || !tool('iptables') ? 'needs ip, nft, curl, nsenter and iptables' : false;

const ID = randomBytes(2).toString('hex');
const HOST_NS = `nf${ID}-host`;
const OUT_NS = `nf${ID}-out`;
// Addresses exist only inside the namespaces of this test (TEST-NET-2 between host and outside).
const LINK = { host: '198.51.100.1', out: '198.51.100.2', prefix: 29 };
const PORT = 18080;
const ROOT = skip ? '' : mkdtempSync(join(tmpdir(), 'niso-netfw-'));
const CLEAN_ENV = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
const BRIDGES = `nf${ID}b+`;

interface Made { pid: number; network: Network; a: { netns: string; address: string }; b: { netns: string; address: string } }
let made: Made;
let host: ChildProcess | null = null;
const lines: string[] = [];
let lineWaiter: (() => void) | null = null;

async function nextLine(): Promise<string> {
  while (lines.length === 0) await new Promise<void>((r) => { lineWaiter = r; });
  return lines.shift()!;
}

/** niso's firewall warnings, as the stand-in host sees its tables now. */
async function warnings(): Promise<string[]> {
  host!.stdin!.write('warnings\n');
  return JSON.parse(await nextLine()) as string[];
}
const servers: ChildProcess[] = [];

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000, env: CLEAN_ENV });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout || r.error}`);
  return r.stdout;
}

/** argv prefix that runs a command on the stand-in host (its netns, and its mounts, where the services' /run/netns entries are). */
const onHost = () => ['nsenter', `--target=${made.pid}`, '--mount', '--net', '--'];
/** ... and inside a service's netns. */
const inService = (netns: string) => ['nsenter', `--target=${made.pid}`, '--mount', '--', 'ip', 'netns', 'exec', netns];
const fromOutside = () => ['ip', 'netns', 'exec', OUT_NS];

const SERVER = `const http=require('http');const [name,port]=process.argv.slice(1);
http.createServer((q,s)=>s.end('name='+name+' you='+q.socket.remoteAddress+'\\n')).listen(Number(port),'0.0.0.0',()=>console.log('ready'));`;

function startServer(prefix: string[], name: string, port: number): Promise<void> {
  const child = spawn(prefix[0]!, [...prefix.slice(1), process.execPath, '-e', SERVER, name, String(port)], { stdio: ['ignore', 'pipe', 'pipe'], env: CLEAN_ENV });
  servers.push(child);
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server ${name} did not start`)), 10_000);
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    child.stdout!.on('data', (d) => { if (String(d).includes('ready')) { clearTimeout(timer); res(); } });
    child.on('exit', (code) => { clearTimeout(timer); rej(new Error(`server ${name} exited ${code}: ${err}`)); });
  });
}

/** The name of the server that answered, or `ERR <curl exit>` (28: timed out, i.e. dropped). */
function get(prefix: string[], url: string): string {
  const r = spawnSync(prefix[0]!, [...prefix.slice(1), 'curl', '-sS', '--noproxy', '*', '--max-time', '1', url], { encoding: 'utf8', timeout: 10_000, env: CLEAN_ENV });
  return r.status === 0 ? (/name=(\S+)/.exec(r.stdout)?.[1] ?? r.stdout.trim()) : `ERR ${r.status}`;
}

/** Every path the README names, as `path: who answered`. */
function paths(): Record<string, string> {
  const { a, b, network } = made;
  return {
    'host -> 127.0.0.1:mapped': get(onHost(), `http://127.0.0.1:${PORT}/`),
    'host -> own address:mapped': get(onHost(), `http://${LINK.host}:${PORT}/`),
    'host -> service address': get(onHost(), `http://${a.address}:8080/`),
    'outside -> host:mapped': get(fromOutside(), `http://${LINK.host}:${PORT}/`),
    'service -> service, same network': get(inService(b.netns), `http://${a.address}:8080/`),
    'service -> gateway:mapped (hairpin)': get(inService(b.netns), `http://${network.gateway}:${PORT}/`),
    'service -> outside (egress)': get(inService(a.netns), `http://${LINK.out}:9090/`),
  };
}

const iptables = (...args: string[]) => sh(onHost()[0]!, [...onHost().slice(1), 'iptables', ...args]);

before(async () => {
  if (skip) return;
  sh('ip', ['netns', 'add', HOST_NS]);
  sh('ip', ['netns', 'add', OUT_NS]);
  sh('ip', ['-n', HOST_NS, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUT_NS]);
  for (const [ns, dev, addr] of [[HOST_NS, 'up0', LINK.host], [OUT_NS, 'eth0', LINK.out]] as const) {
    sh('ip', ['-n', ns, 'addr', 'add', `${addr}/${LINK.prefix}`, 'dev', dev]);
    sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  // The stand-in host's uplink is up0, as eth0 would be; niso's bridges follow its MTU.
  sh('ip', ['-n', HOST_NS, 'route', 'add', 'default', 'via', LINK.out]);
  host = spawn('ip', ['netns', 'exec', HOST_NS, process.execPath, '--import', 'tsx', join(import.meta.dirname, 'net-firewall-host.ts'), JSON.stringify({ root: ROOT, id: ID, pool: ['10.233.0.0/16'], port: PORT })], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...CLEAN_ENV, NODE_NO_WARNINGS: '1' } });
  let err = '';
  host.stderr!.on('data', (d) => { err += d; });
  createInterface({ input: host.stdout! }).on('line', (l) => { lines.push(l); lineWaiter?.(); });
  made = await new Promise<Made>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`the stand-in host did not start: ${err}`)), 30_000);
    host!.once('exit', (code) => { clearTimeout(timer); rej(new Error(`the stand-in host exited ${code}: ${err}`)); });
    void nextLine().then((l) => { clearTimeout(timer); res(JSON.parse(l) as Made); });
  });
  await Promise.all([startServer(inService(made.a.netns), 'a', 8080), startServer(inService(made.b.netns), 'b', 8080), startServer(fromOutside(), 'outside', 9090)]);
});

after(async () => {
  if (skip) return;
  for (const s of servers) s.kill('SIGKILL');
  if (host && host.exitCode === null) {
    const exited = new Promise((r) => host!.once('exit', r));
    host.stdin!.end();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  }
  // Deleting the stand-in host's netns takes its netfilter tables, bridge and veths with it.
  spawnSync('ip', ['netns', 'del', OUT_NS]);
  spawnSync('ip', ['netns', 'del', HOST_NS]);
  rmSync(ROOT, { recursive: true, force: true });
});

const HOST_PATHS = ['host -> 127.0.0.1:mapped', 'host -> own address:mapped', 'host -> service address'];
const FORWARDED = ['outside -> host:mapped', 'service -> service, same network', 'service -> gateway:mapped (hairpin)', 'service -> outside (egress)'];
const ALL_OK = Object.fromEntries([...HOST_PATHS, ...FORWARDED].map((p) => [p, p.endsWith('(egress)') ? 'outside' : 'a']));

test('without another firewall, every path works and niso warns of nothing', { skip, timeout: 60_000 }, async () => {
  assert.deepEqual(paths(), ALL_OK);
  assert.deepEqual(await warnings(), []);
});

test('a Docker-style FORWARD policy drop in another table drops every forwarded path, and niso says how to allow it', { skip, timeout: 60_000 }, async () => {
  // What Docker does through iptables-nft: its own `table ip filter`, FORWARD policy drop, DOCKER-USER first.
  iptables('-N', 'DOCKER-USER');
  iptables('-A', 'DOCKER-USER', '-j', 'RETURN');
  iptables('-A', 'FORWARD', '-j', 'DOCKER-USER');
  iptables('-P', 'FORWARD', 'DROP');
  const got = paths();
  for (const p of HOST_PATHS) assert.equal(got[p], 'a', `${p}: the host's own connections are output, not forwarded`);
  // Same-network traffic too: br_netfilter (bridge-nf-call-iptables = 1, as Docker wants it) runs bridged packets through the forward hook.
  for (const p of FORWARDED) assert.equal(got[p], 'ERR 28', `${p}: dropped by the other table, whatever niso's table accepts`);
  const w = await warnings();
  assert.equal(w.length, 1, w.join('\n'));
  assert.match(w[0]!, /ip filter chain FORWARD drops forwarded packets/);
  assert.ok(w[0]!.includes(`iptables -I DOCKER-USER -i ${BRIDGES} -j ACCEPT; iptables -I DOCKER-USER -o ${BRIDGES} -j ACCEPT`), w[0]);
});

test('the DOCKER-USER rules README gives mend it, and niso\'s own isolation still holds', { skip, timeout: 60_000 }, async () => {
  iptables('-I', 'DOCKER-USER', '-i', BRIDGES, '-j', 'ACCEPT');
  iptables('-I', 'DOCKER-USER', '-o', BRIDGES, '-j', 'ACCEPT');
  assert.deepEqual(paths(), ALL_OK);
  assert.deepEqual(await warnings(), [], 'the accepting rules are recognised');
  // The other table now accepts anything to niso's bridges; niso's table still lets in only mapped ports.
  sh('ip', ['-n', OUT_NS, 'route', 'add', made.network.subnet, 'via', LINK.host]);
  assert.equal(get(fromOutside(), `http://${made.a.address}:8080/`), 'ERR 28', 'no direct route from outside to a service');
  assert.equal(get(fromOutside(), `http://${LINK.host}:${PORT}/`), 'a');
});
