// Real networks, as root: bridges, netns, veths and an nft table of the test's own, with tiny HTTP
// servers in the namespaces. Proves the PLATFORM §2 promises end to end: mapped ports from the host
// and from another netns (with the real client address), service to service, isolation between
// networks, egress = false, conflicts, idempotent rules, prune and teardown leaving nothing.
// Traffic goes only to loopback and to addresses inside namespaces and bridges this test creates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { isNisoError } from '../../src/errors/niso-error.js';
import { attachService, applyRules, createNetwork, detachService, hostsFor, listNetworks, netContext, pruneNetwork, removeNetwork, renderRules, type Endpoint, type NetContext } from '../../src/net/host/manager.js';
import { createEndpoint, hostNetFacts, linkExists, netnsExists, uplinkMtu } from '../../src/net/host/ip.js';
import { listTables, readTable, applyRuleset, deleteTable } from '../../src/net/host/nft.js';
import { netPaths, readRecords, writeRecord } from '../../src/net/host/state-files.js';
import { chooseSubnet } from '../../src/net/model/subnet.js';
import { cidrOf, formatIpv4, overlaps } from '../../src/net/model/cidr.js';
import type { Network } from '../../src/net/model/types.js';
import { macFor } from '../../src/net/model/names.js';

const tool = (cmd: string) => spawnSync(cmd, ['-V']).error === undefined;
const skip = process.platform !== 'linux' ? 'Linux only'
  : process.getuid?.() !== 0 ? 'needs root'
    : !tool('ip') || !tool('nft') || !tool('curl') ? 'needs ip, nft and curl' : false;

const ID = randomBytes(2).toString('hex');
const POOL = ['10.231.0.0/16'];
const OUT_NS = `nt${ID}-out`;
const OUT_VETH = `nt${ID}o`;
const FOREIGN = `nt${ID}_foreign`;
// Removed by this file's after() itself, once the cleanup that writes below it has run.
const ROOT = skip ? '' : mkdtempSync(join(tmpdir(), 'niso-net-'));
const CLEAN_ENV = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };

let ctx: NetContext;
let alpha: Network;
let beta: Network;
let out: { host: string; peer: string };
const eps = {} as Record<'a' | 'b' | 'c' | 'e', Endpoint>;
const servers: ChildProcess[] = [];
let foreignBefore = '';
let tablesBefore: string[] = [];
const ports = { p1: 0, p2: 0, p3: 0, pu: 0 };

function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 20_000, env: CLEAN_ENV });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout || r.error}`);
  return r.stdout;
}

/** A free TCP+UDP port on the host, found by binding it. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((res, rej) => {
      const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); }).on('error', rej);
    });
    const udpFree = await new Promise<boolean>((res) => {
      const u = createSocket('udp4').once('error', () => res(false));
      u.bind(port, '0.0.0.0', () => u.close(() => res(true)));
    });
    if (udpFree && !Object.values(ports).includes(port)) return port;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer().once('error', () => res(false)).listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

const SERVER = `const http=require('http');const [name,port]=process.argv.slice(1);
http.createServer((q,s)=>s.end('name='+name+' you='+q.socket.remoteAddress+' local='+q.socket.localAddress+':'+q.socket.localPort+'\\n'))
.listen(Number(port),'0.0.0.0',()=>console.log('ready'));
if(name==='b'){const u=require('dgram').createSocket('udp4');u.on('message',(m,r)=>u.send('echo '+m+' from '+r.address,r.port,r.address));u.bind(5353,'0.0.0.0');}`;

/** A tiny HTTP server in a netns, on 0.0.0.0 as a service must listen. Resolves when it listens. */
function startServer(netns: string, name: string, port: number): Promise<void> {
  const child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', process.execPath, '-e', SERVER, name, String(port)], { stdio: ['ignore', 'pipe', 'pipe'], env: CLEAN_ENV });
  servers.push(child);
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server ${name} in ${netns} did not start`)), 10_000);
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    child.stdout!.on('data', (d) => { if (String(d).includes('ready')) { clearTimeout(timer); res(); } });
    child.on('exit', (code) => { clearTimeout(timer); rej(new Error(`server ${name} exited ${code}: ${err}`)); });
  });
}

/** GET from the host (netns null) or from inside a netns; the body, or `ERR <curl exit code>`. */
function get(netns: string | null, url: string, seconds = 2): string {
  const curl = ['curl', '-sS', '--noproxy', '*', '--max-time', String(seconds), url];
  const r = spawnSync(netns === null ? curl[0]! : 'ip', netns === null ? curl.slice(1) : ['netns', 'exec', netns, ...curl], { encoding: 'utf8', timeout: (seconds + 5) * 1000, env: CLEAN_ENV });
  return r.status === 0 ? r.stdout.trim() : `ERR ${r.status}`;
}

/** What the MTU of niso's links must be, found without niso's code: the smallest of the default routes' (route mtu, else device mtu); 1500 without one. */
function uplinkMtuByHand(): number {
  const routes = JSON.parse(sh('ip', ['-4', '-j', 'route', 'show', 'default']) || '[]') as { dev?: string; metrics?: { mtu?: number }[] }[];
  const mtus = routes.filter((r) => r.dev && r.dev !== 'lo').map((r) => r.metrics?.find((m) => typeof m.mtu === 'number')?.mtu ?? Number(readFileSync(`/sys/class/net/${r.dev}/mtu`, 'utf8')));
  return mtus.length > 0 ? Math.min(...mtus) : 1500;
}

/** The host's IPv4 address on the device of its default route, if the kernel routes it locally (so curl to it stays on this machine). */
function uplinkAddress(): string | null {
  const dev = (JSON.parse(sh('ip', ['-4', '-j', 'route', 'show', 'default']) || '[]') as { dev?: string }[])[0]?.dev;
  if (!dev) return null;
  const addr = (JSON.parse(sh('ip', ['-4', '-j', 'addr', 'show', 'dev', dev])) as { addr_info: { local: string }[] }[])[0]?.addr_info[0]?.local;
  if (!addr) return null;
  const route = JSON.parse(sh('ip', ['-j', 'route', 'get', addr])) as { type?: string }[];
  return route[0]?.type === 'local' ? addr : null;
}

const linkMtu = (dev: string, netns?: string) => (JSON.parse(sh('ip', [...(netns ? ['-n', netns] : []), '-j', 'link', 'show', 'dev', dev])) as { mtu: number }[])[0]!.mtu;

const field = (body: string, key: string) => new RegExp(`${key}=(\\S+)`).exec(body)?.[1];

before(async () => {
  if (skip) return;
  tablesBefore = await listTables();
  // A table of "another tool", to prove niso leaves it alone.
  sh('nft', ['-f', '-'], `table inet ${FOREIGN} {\n chain input { type filter hook input priority 10; policy accept; tcp dport 1 accept; }\n}\n`);
  foreignBefore = sh('nft', ['list', 'table', 'inet', FOREIGN]);
  ctx = netContext(ROOT, { table: `nt${ID}`, bridgePrefix: `nt${ID}b`, netnsPrefix: `nt${ID}`, pool: POOL });
  // The "outside": a netns behind a veth on the host, standing in for a LAN client and an uplink.
  const facts = await hostNetFacts();
  const o = chooseSubnet(facts, [], POOL, 29);
  const base = cidrOf(o.subnet).base;
  out = { host: formatIpv4(base + 1), peer: formatIpv4(base + 2) };
  sh('ip', ['netns', 'add', OUT_NS]);
  sh('ip', ['-batch', '-'], `link add ${OUT_VETH} type veth peer name eth0 netns ${OUT_NS}\naddr add ${out.host}/29 dev ${OUT_VETH}\nlink set ${OUT_VETH} up\n`);
  sh('ip', ['-n', OUT_NS, '-batch', '-'], `link set lo up\naddr add ${out.peer}/29 dev eth0\nlink set eth0 up\nroute add default via ${out.host}\n`);
  await startServer(OUT_NS, 'outside', 9090);
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
});

after(async () => {
  if (skip) return;
  for (const s of servers) s.kill('SIGKILL');
  if (ctx) {
    for (const svc of Object.keys(eps)) await detachService(ctx, svc).catch(() => undefined);
    await detachService(ctx, 'p').catch(() => undefined);
  }
  if (ctx) {
    for (const n of ['alpha', 'beta', 'default']) await removeNetwork(ctx, n).catch(() => undefined);
    await deleteTable(ctx.table).catch(() => undefined);
  }
  spawnSync('nft', ['delete', 'table', 'inet', FOREIGN]);
  spawnSync('ip', ['link', 'del', OUT_VETH]);
  spawnSync('ip', ['netns', 'del', OUT_NS]);
  rmSync(ROOT, { recursive: true, force: true });
});

test('networks: free subnets, bridges with the gateway, route_localnet and forwarding on', { skip, timeout: 60_000 }, async () => {
  const facts = await hostNetFacts();
  alpha = await createNetwork(ctx, { name: 'alpha' });
  beta = await createNetwork(ctx, { name: 'beta' });
  for (const n of [alpha, beta]) {
    for (const r of [...facts.routes, ...facts.addresses]) assert.ok(!overlaps(cidrOf(r), cidrOf(n.subnet)), `${n.subnet} avoids the host's ${r}`);
    assert.ok(n.bridge.length <= 15 && linkExists(n.bridge));
    const addr = JSON.parse(sh('ip', ['-j', 'addr', 'show', 'dev', n.bridge])) as { flags: string[]; addr_info: { family: string; local: string }[] }[];
    assert.ok(addr[0]!.flags.includes('UP'));
    assert.ok(addr[0]!.addr_info.some((a) => a.family === 'inet' && a.local === n.gateway));
    assert.equal(readFileSync(`/proc/sys/net/ipv4/conf/${n.bridge}/route_localnet`, 'utf8').trim(), '1');
    assert.ok(!addr[0]!.addr_info.some((a) => a.family === 'inet6'), 'no IPv6 address to reach the host around the IPv4 rules');
    assert.equal(linkMtu(n.bridge), uplinkMtuByHand(), 'the bridge has the uplink\'s MTU, so full-size packets fit where they leave');
  }
  assert.ok(!overlaps(cidrOf(alpha.subnet), cidrOf(beta.subnet)));
  assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');
  // No table while no service is attached: its hooked chains would cost every packet the host forwards, for nothing.
  assert.ok(!(await listTables()).includes(`ip ${ctx.table}`), 'idle networks have no table');
  assert.equal(isNisoError(await createNetwork(ctx, { name: 'alpha' }).catch((e) => e)) ? 'NISO4003' : 'no error', 'NISO4003');
});

test('attach: netns, veth on the bridge with hairpin, address, default route; servers start', { skip, timeout: 60_000 }, async () => {
  const tcp = (hostIp: string | null, host: number, container: number) => ({ hostIp, host: { from: host, to: host }, container: { from: container, to: container }, protocol: 'tcp' as const });
  eps.a = await attachService(ctx, { service: 'a', networks: ['alpha'], ports: [tcp('127.0.0.1', ports.p1, 8080), tcp(null, ports.p2, 8080)] });
  eps.b = await attachService(ctx, { service: 'b', networks: ['alpha'], ports: [{ hostIp: '127.0.0.1', host: { from: ports.pu, to: ports.pu }, container: { from: 5353, to: 5353 }, protocol: 'udp' }] });
  // A bridge left with another MTU (made before the uplink changed) is set right by the next attach.
  sh('ip', ['link', 'set', beta.bridge, 'mtu', '1280']);
  eps.c = await attachService(ctx, { service: 'c', networks: ['beta'] });
  assert.equal(linkMtu(beta.bridge), uplinkMtuByHand());
  eps.e = await attachService(ctx, { service: 'e', networks: ['alpha'], egress: false, ports: [tcp('127.0.0.1', ports.p3, 8080)] });
  assert.equal(eps.a.attachments[0]!.address, formatIpv4(cidrOf(alpha.subnet).base + 2), 'the lowest free address');
  assert.equal(eps.b.attachments[0]!.address, formatIpv4(cidrOf(alpha.subnet).base + 3));
  for (const ep of Object.values(eps)) {
    const a = ep.attachments[0]!;
    assert.ok(netnsExists(ep.netns) && linkExists(a.vethHost));
    const link = JSON.parse(sh('ip', ['-j', '-d', 'link', 'show', 'dev', a.vethHost])) as { master: string; linkinfo: { info_slave_data: { hairpin: boolean } } }[];
    const network = a.network === 'alpha' ? alpha : beta;
    assert.equal(link[0]!.master, network.bridge);
    assert.equal(link[0]!.linkinfo.info_slave_data.hairpin, true);
    assert.equal(linkMtu(a.vethHost), uplinkMtuByHand(), 'the host end of the veth has the uplink\'s MTU');
    assert.equal(linkMtu('eth0', ep.netns), uplinkMtuByHand(), 'so has the service\'s eth0');
    const inside = JSON.parse(sh('ip', ['-n', ep.netns, '-j', 'addr', 'show', 'dev', 'eth0'])) as { addr_info: { local: string }[] }[];
    assert.ok(inside[0]!.addr_info.some((x) => x.local === a.address));
    assert.match(sh('ip', ['-n', ep.netns, 'route', 'show', 'default']), new RegExp(`default via ${network.gateway.replace(/\./g, '\\.')} dev eth0`));
  }
  await Promise.all([startServer(eps.a.netns, 'a', 8080), startServer(eps.b.netns, 'b', 8080), startServer(eps.c.netns, 'c', 8080), startServer(eps.e.netns, 'e', 8080)]);
  const live = await readTable(ctx.table);
  assert.ok(live);
  assert.deepEqual(live.elements.tcp_addr_ports, [`127.0.0.1 . ${ports.p1} : ${eps.a.attachments[0]!.address} . 8080`, `127.0.0.1 . ${ports.p3} : ${eps.e.attachments[0]!.address} . 8080`].sort());
  assert.deepEqual(live.elements.tcp_ports, [`${ports.p2} : ${eps.a.attachments[0]!.address} . 8080`]);
  assert.deepEqual(live.elements.no_egress, [eps.e.attachments[0]!.address]);
});

test('mapped ports: the host on 127.0.0.1 and on its own addresses; UDP too', { skip, timeout: 60_000 }, async () => {
  const A = eps.a.attachments[0]!.address;
  const body = get(null, `http://127.0.0.1:${ports.p1}/`);
  assert.equal(field(body, 'name'), 'a', body);
  assert.equal(field(body, 'local'), `${A}:8080`);
  assert.equal(field(body, 'you'), alpha.gateway, '127.0.0.1 cannot be answered, so the service sees the gateway');
  // Every-address mapping: the host's addresses (the gateways of both networks and the outside link are the host's).
  for (const hostAddr of [alpha.gateway, beta.gateway, out.host, '127.0.0.1']) assert.equal(field(get(null, `http://${hostAddr}:${ports.p2}/`), 'name'), 'a', hostAddr);
  // The host's real address on its uplink too. A connection to it from the host never leaves the
  // machine (the local route is on lo, and the output chain's DNAT sends it to the bridge).
  const uplink = uplinkAddress();
  if (uplink) assert.equal(field(get(null, `http://${uplink}:${ports.p2}/`), 'name'), 'a', `the uplink address ${uplink}`);
  // An address-bound mapping opens only that address.
  assert.match(get(null, `http://${out.host}:${ports.p1}/`), /^ERR/);
  const echo = await new Promise<string>((res, rej) => {
    const u = createSocket('udp4');
    const timer = setTimeout(() => { u.close(); rej(new Error('no UDP answer')); }, 3000);
    u.on('message', (m) => { clearTimeout(timer); u.close(); res(String(m)); });
    u.send('ping', ports.pu, '127.0.0.1');
  });
  assert.match(echo, /^echo ping from /);
});

test('a client in another netns reaches the mapped port, and the service sees its real address', { skip, timeout: 60_000 }, async () => {
  const body = get(OUT_NS, `http://${out.host}:${ports.p2}/`);
  assert.equal(field(body, 'name'), 'a', body);
  assert.equal(field(body, 'you'), out.peer, 'no proxy, no masquerade: the real client address');
  assert.match(get(OUT_NS, `http://${out.host}:${ports.p1}/`), /^ERR/, 'the 127.0.0.1 mapping is not reachable from outside');
  // A LAN host that routes the network's subnet through this host reaches no service directly.
  sh('ip', ['-n', OUT_NS, 'route', 'add', alpha.subnet, 'via', out.host]);
  try {
    assert.match(get(OUT_NS, `http://${eps.a.attachments[0]!.address}:8080/`, 1), /^ERR 28/, 'dropped: only mapped ports reach a network from outside');
    assert.equal(field(get(OUT_NS, `http://${out.host}:${ports.p2}/`), 'name'), 'a', 'the mapped port still does');
  } finally {
    sh('ip', ['-n', OUT_NS, 'route', 'del', alpha.subnet, 'via', out.host]);
  }
});

test('services on one network reach each other by address and through mapped ports (hairpin)', { skip, timeout: 60_000 }, async () => {
  const A = eps.a.attachments[0]!.address;
  const B = eps.b.attachments[0]!.address;
  const ab = get(eps.a.netns, `http://${B}:8080/`);
  assert.equal(field(ab, 'name'), 'b', ab);
  assert.equal(field(ab, 'you'), A, 'direct traffic keeps the client address');
  assert.equal(field(get(eps.b.netns, `http://${A}:8080/`), 'you'), B);
  assert.equal(field(get(eps.b.netns, `http://${alpha.gateway}:${ports.p2}/`), 'name'), 'a', 'b through a mapped port');
  assert.equal(field(get(eps.a.netns, `http://${alpha.gateway}:${ports.p2}/`), 'name'), 'a', 'a through its own mapped port');
  const hosts = await hostsFor(ctx, 'a');
  assert.match(hosts, new RegExp(`^${B.replace(/\./g, '\\.')}\\tb$`, 'm'));
  assert.doesNotMatch(hosts, /\tc$/m, 'c is on another network');
});

test('a service on another network cannot reach them; mapped ports stay reachable', { skip, timeout: 60_000 }, async () => {
  const A = eps.a.attachments[0]!.address;
  const C = eps.c.attachments[0]!.address;
  assert.match(get(eps.c.netns, `http://${A}:8080/`, 1), /^ERR/);
  assert.match(get(eps.a.netns, `http://${C}:8080/`, 1), /^ERR/);
  assert.equal(field(get(eps.c.netns, `http://${beta.gateway}:${ports.p2}/`), 'name'), 'a', 'published ports are open to every network, like to any client');
  assert.match(get(eps.c.netns, `http://${beta.gateway}:${ports.p1}/`, 1), /^ERR/, 'a port mapped on 127.0.0.1 is the host\'s alone');
  assert.match(get(eps.c.netns, `http://${out.host}:${ports.p1}/`, 1), /^ERR/);
  assert.equal(field(get(null, `http://${C}:8080/`), 'name'), 'c', 'the host reaches its services');
});

test('egress: masqueraded to the outside; egress = false drops it but keeps the network and mapped ports', { skip, timeout: 60_000 }, async () => {
  const A = eps.a.attachments[0]!.address;
  const E = eps.e.attachments[0]!.address;
  const ao = get(eps.a.netns, `http://${out.peer}:9090/`);
  assert.equal(field(ao, 'name'), 'outside', ao);
  assert.equal(field(ao, 'you'), out.host, 'egress leaves with the host address');
  assert.match(get(eps.e.netns, `http://${out.peer}:9090/`, 1), /^ERR/, 'e has no egress');
  assert.match(get(eps.e.netns, `http://${alpha.gateway}:1/`, 1), /^ERR 28/, 'e does not reach the host either (dropped: a timeout, not a refusal)');
  assert.equal(field(get(eps.e.netns, `http://${A}:8080/`), 'name'), 'a', 'e reaches its network');
  const he = get(null, `http://127.0.0.1:${ports.p3}/`);
  assert.equal(field(he, 'name'), 'e', he);
  assert.equal(field(get(eps.a.netns, `http://${E}:8080/`), 'name'), 'e', 'and its network reaches it');
});

test('a host port mapped twice or bound by a host process is refused, naming the holder, leaving nothing', { skip, timeout: 60_000 }, async () => {
  const before = (await readRecords(netPaths(ctx.root))).length;
  const taken = { hostIp: null, host: { from: ports.p1, to: ports.p1 }, container: { from: 80, to: 80 }, protocol: 'tcp' as const };
  await assert.rejects(attachService(ctx, { service: 'x', networks: ['beta'], ports: [taken] }), (e: unknown) => isNisoError(e) && e.code === 'NISO4008' && /service "a"/.test(e.message));
  const port = await freePort();
  const server = createServer().listen(port, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const mine = { hostIp: null, host: { from: port, to: port }, container: { from: 80, to: 80 }, protocol: 'tcp' as const };
    await assert.rejects(attachService(ctx, { service: 'x', networks: ['beta'], ports: [mine] }), (e: unknown) => isNisoError(e) && e.code === 'NISO4009' && e.message.includes(`pid ${process.pid}`));
  } finally {
    server.close();
  }
  assert.equal((await readRecords(netPaths(ctx.root))).length, before);
  assert.ok(!sh('ip', ['netns', 'list']).includes(`${ctx.netnsPrefix}-x-`));
});

test('applying the ruleset twice changes nothing; other tables are untouched', { skip, timeout: 60_000 }, async () => {
  const first = await readTable(ctx.table);
  await applyRules(ctx);
  await applyRuleset(await renderRules(ctx));
  const second = await readTable(ctx.table);
  assert.equal(second!.text, first!.text);
  assert.deepEqual(second!.elements, first!.elements);
  assert.equal(sh('nft', ['list', 'table', 'inet', FOREIGN]), foreignBefore);
  // Other tools may add tables meanwhile; none that existed may go (except those of a concurrent
  // run of this very test, and the tables of other test files' NISO_ROOTs, which come and go with their services).
  const now = await listTables();
  const lasting = tablesBefore.filter((t) => !/^\w+ nt[0-9a-f]{4}(_foreign)?$/.test(t) && !/^ip niso_[0-9a-f]{8}$/.test(t));
  for (const t of [...lasting, `inet ${FOREIGN}`, `ip ${ctx.table}`]) assert.ok(now.includes(t), t);
});

test('the host\'s loopback services stay out of reach of the networks, though route_localnet is on for the bridges', { skip, timeout: 60_000 }, async () => {
  // A service with CAP_NET_ADMIN in its netns (the test is root there) routes 127.0.0.1 to its gateway.
  const ep = await attachService(ctx, { service: 'lb', networks: ['alpha'] });
  const port = await freePort();
  const host = createSocket('udp4');
  const got: string[] = [];
  host.on('message', (m) => got.push(String(m)));
  await new Promise<void>((res) => host.bind(port, '127.0.0.1', res));
  try {
    sh('ip', ['-n', ep.netns, 'route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local']);
    sh('ip', ['-n', ep.netns, 'route', 'del', 'local', '127.0.0.1', 'dev', 'lo', 'table', 'local']);
    sh('ip', ['-n', ep.netns, 'route', 'add', '127.0.0.1/32', 'via', alpha.gateway, 'dev', 'eth0']);
    sh('ip', ['netns', 'exec', ep.netns, 'sysctl', '-qw', 'net.ipv4.conf.all.route_localnet=1', 'net.ipv4.conf.eth0.route_localnet=1']);
    const send = `const u=require('dgram').createSocket('udp4');u.send('from the network',${port},'127.0.0.1',(e)=>{if(e)throw e;u.close();});`;
    sh('ip', ['netns', 'exec', ep.netns, process.execPath, '-e', send]);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(got, [], 'a datagram from a network to 127.0.0.1 does not reach the host\'s loopback socket');
    // The same datagram from the host itself arrives: the socket works.
    const u = createSocket('udp4');
    await new Promise<void>((res, rej) => u.send('from the host', port, '127.0.0.1', (e) => { u.close(); return e ? rej(e) : res(); }));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(got, ['from the host']);
  } finally {
    host.close();
    await detachService(ctx, 'lb');
  }
});

test('a port range maps each host port to its own container port', { skip, timeout: 60_000 }, async () => {
  let from = 0;
  for (let tries = 0; tries < 50 && from === 0; tries++) {
    const p = await freePort();
    if (p < 65535 && await portFree(p + 1)) from = p;
  }
  assert.ok(from > 0, 'two consecutive free ports');
  const ep = await attachService(ctx, { service: 'r', networks: ['beta'], ports: [{ hostIp: '127.0.0.1', host: { from, to: from + 1 }, container: { from: 7070, to: 7071 }, protocol: 'tcp' }] });
  try {
    await Promise.all([startServer(ep.netns, 'r7070', 7070), startServer(ep.netns, 'r7071', 7071)]);
    assert.equal(field(get(null, `http://127.0.0.1:${from}/`), 'name'), 'r7070');
    assert.equal(field(get(null, `http://127.0.0.1:${from + 1}/`), 'name'), 'r7071');
  } finally {
    await detachService(ctx, 'r');
  }
});

test('an address given again answers at once: the host\'s neighbour entry of the service that had it stays right, as the MAC follows the address', { skip, timeout: 60_000 }, async () => {
  const first = await attachService(ctx, { service: 'r1', networks: ['alpha'] });
  const address = first.attachments[0]!.address;
  try {
    await startServer(first.netns, 'r1', 8080);
    assert.match(get(null, `http://${address}:8080/`), /^name=r1 /, 'the host reached it: it keeps a neighbour entry for the address now');
    await detachService(ctx, 'r1');
    const again = await attachService(ctx, { service: 'r2', networks: ['alpha'] });
    assert.equal(again.attachments[0]!.address, address, 'the lowest free address: the one r1 had');
    const link = JSON.parse(sh('ip', ['-n', again.netns, '-j', 'link', 'show', 'dev', 'eth0'])) as { address: string }[];
    assert.equal(link[0]!.address, macFor(address));
    await startServer(again.netns, 'r2', 8080);
    assert.match(get(null, `http://${address}:8080/`), /^name=r2 /, 'reached through the entry the host had, at once');
  } finally {
    await detachService(ctx, 'r1').catch(() => undefined);
    await detachService(ctx, 'r2').catch(() => undefined);
  }
});

test('concurrent attaches get distinct addresses; the next attach removes what a dead owner left', { skip, timeout: 60_000 }, async () => {
  const owner = spawn('sleep', ['600'], { stdio: 'ignore' });
  await new Promise((r) => owner.once('spawn', r));
  const dead = await attachService(ctx, { service: 'gone', networks: ['beta'], ownerPid: owner.pid! });
  owner.kill('SIGKILL');
  await new Promise((res) => owner.once('exit', res));
  const names = ['k1', 'k2', 'k3', 'k4'];
  try {
    const all = await Promise.all(names.map((service) => attachService(ctx, { service, networks: ['beta'] })));
    const addrs = all.map((e) => e.attachments[0]!.address);
    assert.equal(new Set(addrs).size, names.length, `distinct addresses: ${addrs.join(' ')}`);
    assert.equal(new Set(all.map((e) => e.attachments[0]!.vethHost)).size, names.length);
    assert.ok(!netnsExists(dead.netns) && !linkExists(dead.attachments[0]!.vethHost), 'no prune was run, yet the dead owner\'s namespace is gone');
    assert.ok(!(await readRecords(netPaths(ctx.root))).some((r) => r.attachment.service === 'gone'));
  } finally {
    for (const n of names) await detachService(ctx, n).catch(() => undefined);
  }
});

test('prune: a dead owner\'s netns, veth and port maps go; so do records of a crash before anything was created', { skip, timeout: 60_000 }, async () => {
  const owner = spawn('sleep', ['600'], { stdio: 'ignore' });
  await new Promise((r) => owner.once('spawn', r));
  const pp = await freePort();
  const ep = await attachService(ctx, { service: 'p', ownerPid: owner.pid!, ports: [{ hostIp: null, host: { from: pp, to: pp }, container: { from: 8080, to: 8080 }, protocol: 'tcp' }] });
  const veth = ep.attachments[0]!.vethHost;
  assert.ok(netnsExists(ep.netns) && linkExists(veth));
  const dflt = (await listNetworks(ctx)).find((n) => n.network.name === 'default')!.network;
  assert.equal(ep.attachments[0]!.network, 'default', 'without networks a service joins the default network, created on first use');
  assert.ok(linkExists(dflt.bridge) && ![alpha.subnet, beta.subnet].includes(dflt.subnet));
  assert.ok((await readTable(ctx.table))!.elements.tcp_ports!.some((e) => e.startsWith(`${pp} :`)));
  // A record of an attach that crashed right after writing it: nothing exists in the kernel.
  await writeRecord(netPaths(ctx.root), { version: 1, attachment: { service: 'ghost', network: 'alpha', address: formatIpv4(cidrOf(alpha.subnet).base + 200), vethHost: 'vn0badbeef', netns: `${ctx.netnsPrefix}-ghost-0badbeef`, ifname: 'eth0', egress: true }, ports: [], owner: { pid: owner.pid!, startTime: 1 }, createdAt: new Date().toISOString() });
  // And one that crashed after creating its netns and veth, before the rules were applied.
  const half = { service: 'half', network: 'alpha', address: formatIpv4(cidrOf(alpha.subnet).base + 201), vethHost: 'vn0badf00d', netns: `${ctx.netnsPrefix}-half-0badf00d`, ifname: 'eth0', egress: true };
  await writeRecord(netPaths(ctx.root), { version: 1, attachment: half, ports: [], owner: { pid: owner.pid!, startTime: 1 }, createdAt: new Date().toISOString() });
  await createEndpoint([half], [alpha], (await uplinkMtu()).mtu);
  assert.ok(netnsExists(half.netns) && linkExists(half.vethHost));
  // p's owner is alive, so prune keeps it; the start times of the crashed ones do not match its pid.
  let r = await pruneNetwork(ctx);
  assert.deepEqual(r.removed.map((a) => a.service).sort(), ['ghost', 'half']);
  assert.ok(!netnsExists(half.netns) && !linkExists(half.vethHost));
  assert.ok(netnsExists(ep.netns));
  owner.kill('SIGKILL');
  await new Promise((res) => owner.once('exit', res));
  r = await pruneNetwork(ctx);
  assert.deepEqual(r.removed.map((a) => a.service), ['p']);
  assert.ok(!netnsExists(ep.netns) && !linkExists(veth));
  assert.ok(!(await readTable(ctx.table))!.elements.tcp_ports!.some((e) => e.startsWith(`${pp} :`)));
  assert.ok(!existsSync(`${netPaths(ctx.root).records}/${veth}.json`));
});

test('teardown: detach and remove leave no netns, veth, bridge, map element or table; a network in use is not removed', { skip, timeout: 60_000 }, async () => {
  await assert.rejects(removeNetwork(ctx, 'alpha'), (e: unknown) => isNisoError(e) && e.code === 'NISO4010');
  for (const s of servers) s.kill('SIGKILL');
  const all = Object.values(eps);
  for (const ep of all) assert.equal(await detachService(ctx, ep.service), true);
  for (const ep of all) {
    assert.ok(!netnsExists(ep.netns), ep.netns);
    for (const a of ep.attachments) assert.ok(!linkExists(a.vethHost), a.vethHost);
  }
  assert.equal(await readTable(ctx.table), null, 'the last detach removes the table: no hooked chain stays for idle networks');
  const networks = (await listNetworks(ctx)).map((n) => n.network);
  assert.deepEqual(networks.map((n) => n.name), ['alpha', 'beta', 'default']);
  assert.deepEqual((await listNetworks(ctx)).map((n) => n.attachments.length), [0, 0, 0]);
  // A table that an earlier niso left for idle networks (or `net prune` after a crash) goes with the next change.
  await applyRuleset(await renderRules(ctx));
  assert.ok((await listTables()).includes(`ip ${ctx.table}`));
  await removeNetwork(ctx, networks[0]!.name);
  assert.ok(!(await listTables()).includes(`ip ${ctx.table}`), 'removing a network of an idle root removes its table');
  for (const n of networks.slice(1)) await removeNetwork(ctx, n.name);
  for (const n of networks) assert.ok(!linkExists(n.bridge));
  assert.ok(!(await listTables()).includes(`ip ${ctx.table}`));
  assert.equal(sh('ip', ['netns', 'list']).split('\n').filter((l) => l.startsWith(`${ctx.netnsPrefix}-`) && !l.startsWith(OUT_NS)).length, 0);
  assert.equal(sh('ip', ['-o', 'link', 'show']).split('\n').filter((l) => / vn[0-9a-f]{8}@/.test(l) && l.includes(`nt${ID}`)).length, 0);
  assert.equal(sh('nft', ['list', 'table', 'inet', FOREIGN]), foreignBefore);
  for (const k of Object.keys(eps) as (keyof typeof eps)[]) delete eps[k];
});
