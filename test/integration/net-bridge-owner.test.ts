// Two NISO_ROOTs on one host, and a network record whose bridge is gone: a machine booted with its own network
// namespace (or a reboot) takes the bridge away and leaves the record, and by then another root has made a bridge of
// the same name, on the same first free subnet. Removing the stale network deleted the other root's bridge by name,
// and its services' mapped ports refused connections (seen in a whole test run: catalog/postgres and
// catalog/mariadb, while a machine's test directory was removed). niso marks each bridge with its owner and acts
// only on its own: the stale root forgets its record and leaves the bridge, and when it attaches again it makes a
// bridge of its own, on a free name and, for `default`, a free subnet.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNisoError } from '../../src/errors/niso-error.js';
import { attachService, createNetwork, listNetworks, netContext, removeNetwork, type NetContext } from '../../src/net/host/manager.js';
import { linkExists } from '../../src/net/host/ip.js';
import { netPaths, readNetworks, writeNetworks } from '../../src/net/host/state-files.js';
import { cidrOf, overlaps } from '../../src/net/model/cidr.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';

const skip = process.platform !== 'linux' ? 'Linux only' : process.getuid?.() !== 0 ? 'needs root' : false;
const ID = randomBytes(2).toString('hex');
const POOL = ['10.232.0.0/16'];
const ENV = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
const servers: ChildProcess[] = [];

const alias = (bridge: string) => readFileSync(`/sys/class/net/${bridge}/ifalias`, 'utf8').trim();
const addresses = (bridge: string) => (JSON.parse(spawnSync('ip', ['-4', '-j', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' }).stdout) as { addr_info: { local: string; prefixlen: number }[] }[])[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
const get = (url: string) => {
  const r = spawnSync('curl', ['-sS', '--noproxy', '*', '--max-time', '3', url], { encoding: 'utf8', timeout: 10_000, env: ENV });
  return r.status === 0 ? r.stdout.trim() : `ERR ${r.status}: ${r.stderr.trim()}`;
};

function serve(netns: string, name: string): Promise<void> {
  const child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', process.execPath, '-e', `require('http').createServer((q,s)=>s.end('${name}')).listen(8080,'0.0.0.0',()=>console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'], env: ENV });
  servers.push(child);
  return new Promise((res, rej) => {
    child.stdout!.on('data', (d) => { if (String(d).includes('ready')) res(); });
    child.on('exit', (code) => rej(new Error(`server ${name} exited ${code}`)));
  });
}

test('a stale network record never removes or joins another root\'s bridge of the same name; the stale root makes its own, on a free name and subnet', { skip, timeout: 120_000 }, async () => {
  // The servers go first; tempDir's cleanup then detaches the services and removes both roots' networks.
  after(() => { for (const s of servers) s.kill('SIGKILL'); });
  const dir = tempDir('niso-bridge-owner-');
  // Both roots number their bridges alike and take subnets from one pool, as two real roots do; each has the nft
  // table of its root (niso_HASH), the table that marks its bridges.
  const ctxOf = (root: string): NetContext => netContext(root, { bridgePrefix: `nb${ID}b`, netnsPrefix: `nb${ID}`, pool: POOL });
  const a = ctxOf(join(dir, 'a'));
  const b = ctxOf(join(dir, 'b'));

  const port = await freePort();
  const web = await attachService(a, { service: 'web', ports: [{ host: { from: port, to: port }, container: { from: 8080, to: 8080 }, protocol: 'tcp', hostIp: '127.0.0.1' }] });
  await serve(web.netns, 'web of a');
  const [aDefault] = await readNetworks(netPaths(a.root));
  assert.equal(aDefault!.bridge, `nb${ID}b0`);
  assert.equal(alias(aDefault!.bridge), `${a.table}/default`, 'the bridge carries its owner');
  assert.equal(get(`http://127.0.0.1:${port}/`), 'web of a');

  // Root b holds the record a machine of its own network namespace left: the same bridge name and subnet.
  await writeNetworks(netPaths(b.root), [aDefault!]);
  await removeNetwork(b, 'default');
  assert.deepEqual(await readNetworks(netPaths(b.root)), [], 'b forgets its network');
  assert.ok(linkExists(aDefault!.bridge), 'a\'s bridge stays');
  assert.equal(get(`http://127.0.0.1:${port}/`), 'web of a', 'a\'s mapped port still answers');

  // b attaches with the stale record: a bridge of its own, on a free name and subnet (default is niso's to move).
  await writeNetworks(netPaths(b.root), [aDefault!]);
  const api = await attachService(b, { service: 'api' });
  await serve(api.netns, 'api of b');
  const [bDefault] = await readNetworks(netPaths(b.root));
  assert.equal(bDefault!.bridge, `nb${ID}b1`);
  assert.ok(!overlaps(cidrOf(bDefault!.subnet), cidrOf(aDefault!.subnet)), `b moved to a free subnet (${bDefault!.subnet})`);
  assert.equal(alias(bDefault!.bridge), `${b.table}/default`);
  assert.deepEqual(addresses(aDefault!.bridge), [`${aDefault!.gateway}/24`], 'a\'s bridge got no address of b\'s');
  assert.ok(cidrOf(bDefault!.subnet).base <= cidrOf(`${api.attachments[0]!.address}/32`).base, 'b\'s service is on b\'s subnet');
  assert.equal(get(`http://${api.attachments[0]!.address}:8080/`), 'api of b');
  assert.equal(get(`http://127.0.0.1:${port}/`), 'web of a');

  // A network the user made (a subnet of their choice) is not moved behind their back: NISO4017, and nothing made.
  await createNetwork(a, { name: 'lan', subnet: '10.232.200.0/24' });
  const aLan = (await readNetworks(netPaths(a.root))).find((n) => n.name === 'lan')!;
  await writeNetworks(netPaths(b.root), [bDefault!, aLan]);
  await assert.rejects(attachService(b, { service: 'db', networks: ['lan'] }), (e: unknown) => {
    assert.ok(isNisoError(e) && e.code === 'NISO4017', String(e));
    assert.match(e.message, new RegExp(`network "lan" cannot be brought back: its bridge ${aLan.bridge} is gone, and its subnet 10\\.232\\.200\\.0/24 is now taken by the host's (route to|address) 10\\.232\\.200\\.`));
    assert.match(e.hint ?? '', /niso net remove lan && niso net create lan/);
    return true;
  });
  assert.equal((await listNetworks(b)).flatMap((n) => n.attachments).filter((x) => x.service === 'db').length, 0);
  assert.deepEqual(addresses(aLan.bridge), ['10.232.200.1/24']);

  // A bridge from before the marks (no alias, the network's gateway on it) is the network's own: it is kept, marked.
  spawnSync('ip', ['link', 'set', aDefault!.bridge, 'alias', '']);
  assert.equal(alias(aDefault!.bridge), '');
  await attachService(a, { service: 'web2' });
  assert.equal((await readNetworks(netPaths(a.root))).find((n) => n.name === 'default')!.bridge, aDefault!.bridge);
  assert.equal(alias(aDefault!.bridge), `${a.table}/default`);
  assert.equal(get(`http://127.0.0.1:${port}/`), 'web of a');
});
