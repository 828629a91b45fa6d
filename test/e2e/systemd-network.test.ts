// Private networks of systemd units, end to end: a real systemd 252 in nspawn with a network namespace of its own
// (so the bridges, namespaces and nft tables made here never touch the host's), the niso CLI run INSIDE it. A
// service's network is set up by its companion niso-<name>-net.service, so after a clean shutdown a second machine
// booted from the same units, users and NISO_ROOT serves the mapped port again without any niso command.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SystemdE2E, sleep } from '../helpers/systemd-e2e.js';
import { until } from '../helpers/wait.js';
import type { Machine, MachineOptions } from '../helpers/nspawn.js';

const PKG = 'sdnet';

let dir = '';
let root = '';
let etc = '';
let m: Machine | null = null;
const e2e = new SystemdE2E('sdnet');
const { figures, niso, nisoOk, nisoProcesses } = e2e;

/** The app: hello on /, and /peer?host=NAME fetches NAME:3000/ (a lookup through the sandbox's /etc/hosts). */
const PEER_JS = `'use strict';
const http = require('node:http');
const me = process.env.NISO_SERVICE;
http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname !== '/peer') { res.end('hello from ' + me + '\\n'); return; }
  http.get('http://' + u.searchParams.get('host') + ':3000/', (r) => {
    let body = '';
    r.on('data', (d) => { body += d; });
    r.on('end', () => res.end(me + ' reached ' + body));
  }).on('error', (e) => { res.statusCode = 502; res.end(me + ': ' + e.code + '\\n'); });
}).listen(3000, '0.0.0.0', () => console.log(me + ' listening'));
`;

/** curl in the machine's own network namespace (nsenter -a enters it): [HTTP status, body]; status 0 when nothing answered. */
async function curl(url: string): Promise<[number, string]> {
  const r = await m!.run('curl', ['-s', '-m', '2', '-w', '\n%{http_code}', url]);
  const i = r.stdout.lastIndexOf('\n');
  return [Number(r.stdout.slice(i + 1)) || 0, r.stdout.slice(0, Math.max(0, i))];
}

/** Retries while node starts listening. */
async function get(url: string): Promise<string> {
  let last: [number, string] = [0, ''];
  for (let i = 0; i < 100; i++) {
    last = await curl(url);
    if (last[0] === 200) return last[1];
    await sleep(50);
  }
  throw new Error(`${url}: no 200 (last: ${last[0]} ${last[1]})`);
}

const show = (unit: string, prop: string) => m!.show(unit, prop);
const netnsOf = async (svc: string) => (await m!.ok('ls', ['/run/netns'])).split('\n').filter((n) => n.startsWith(`niso-${svc}-`));
const nftRules = async () => (await m!.ok('nft', ['list', 'ruleset']));

/** The attachment records under NISO_ROOT (its run/ is a host dir here, so they outlive the machine, as /run on disk does). */
const records = () => readdirSync(join(root, 'run/niso/net')).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(root, 'run/niso/net', f), 'utf8')) as { attachment: { service: string }; owner: { pid: number; startTime: number } });
const startTime = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);

const machineOptions = (): MachineOptions => ({ privateNetwork: true, persistentEtc: etc });

interface Status { name: string; state: string; pid: number | null; ports: string[]; addresses: string[] }

before(async () => {
  e2e.makeDir();
  ({ dir, root } = e2e);
  etc = join(dir, 'etc');
  // No health check: "active" here means systemd runs it, whatever the health checks of systemd units do.
  e2e.nodePackage(PKG, {
    manifest: (t) => {
      assert.match(t, /^\[healthcheck\]\nhttp = .*\n/m);
      return t.replace(/^\[healthcheck\]\nhttp = .*\n/m, '');
    },
    files: { 'peer.js': PEER_JS },
  });
  m = await e2e.boot(machineOptions());
});

after(() => e2e.cleanup());

test('the machine has a network of its own, where root may build networks', async () => {
  assert.deepEqual((await m!.ok('ip', ['-o', 'link', 'show'])).split('\n').filter(Boolean).map((l) => l.split(': ')[1]), ['lo']);
  // nspawn leaves /proc/sys/net writable in a private network, and CAP_NET_ADMIN (bit 12) is in its bounding set.
  assert.equal((await m!.run('sh', ['-c', 'cat /proc/sys/net/ipv4/ip_forward > /proc/sys/net/ipv4/ip_forward'])).code, 0);
  const capBnd = /CapBnd:\s*([0-9a-f]+)/.exec(await m!.ok('cat', ['/proc/1/status']))![1]!;
  assert.ok((BigInt(`0x${capBnd}`) >> 12n) & 1n, `CAP_NET_ADMIN in ${capBnd}`);
});

test('activate -p: the network unit attaches it, the mapped port answers, no niso process stays', async () => {
  const t0 = performance.now();
  const s = JSON.parse(await nisoOk(['activate', PKG, '--name', 'web', '-p', '18080:3000', '--json', '--', 'peer.js'])) as Status;
  figures.activateMs = (performance.now() - t0).toFixed(0);
  assert.equal(s.state, 'active');
  assert.deepEqual(s.ports, ['0.0.0.0:18080->3000/tcp']);
  assert.match(s.addresses[0] ?? '', /^10\.\d+\.\d+\.\d+ on default$/);
  assert.equal((await m!.systemctl('is-active', 'niso-web.service', 'niso-web-net.service')).stdout, 'active\nactive\n');
  // Only the service is enabled: its BindsTo= pulls the network unit in (at boot too).
  assert.equal((await m!.systemctl('is-enabled', 'niso-web.service')).stdout.trim(), 'enabled');
  // (Besides its /tmp's mount unit, the other unit it is bound to.)
  assert.deepEqual((await show('niso-web.service', 'BindsTo')).split(' ').filter((u) => !u.endsWith('.mount"') && !u.endsWith('.mount')), ['niso-web-net.service']);
  assert.equal(await get('http://127.0.0.1:18080/'), 'hello from web\n');
  // activate attached the network itself: the network unit's start found the file it left, ran no niso of its own
  // (its journal has no "network of web is up"), and the file is gone.
  assert.equal((await m!.run('ls', ['-A', '/run/niso/net-ready'])).stdout, '');
  assert.doesNotMatch((await m!.journalctl('--no-pager', '-o', 'cat', '-u', 'niso-web-net.service')).stdout, /network of web is up/);
  // The namespace that NetworkNamespacePath= names is the one the network unit made.
  const [ns] = await netnsOf('web');
  assert.ok(ns, 'a namespace in /run/netns');
  assert.match(readFileSync(join(etc, 'systemd/niso-web.service'), 'utf8'), new RegExp(`^NetworkNamespacePath=/run/netns/${ns}$`, 'm'));
  assert.match(await nftRules(), /18080/);
  assert.deepEqual(await nisoProcesses(), []);
  const st = JSON.parse(await nisoOk(['status', 'web', '--json'])) as Status;
  assert.deepEqual(st.ports, s.ports);
});

test('a restart of the app, by niso or by its policy after a crash, keeps the network unit and its address; an end for good takes the network down', async () => {
  const invocation = await show('niso-web-net.service', 'InvocationID');
  const address = (JSON.parse(await nisoOk(['status', 'web', '--json'])) as Status).addresses;
  await nisoOk(['restart', 'web']);
  assert.equal(await get('http://127.0.0.1:18080/'), 'hello from web\n');
  const pid = await show('niso-web.service', 'MainPID');
  await m!.ok('kill', ['-KILL', pid]);
  let now = pid;
  for (let i = 0; i < 100 && (now === pid || now === '0'); i++) { await sleep(50); now = await show('niso-web.service', 'MainPID'); }
  assert.notEqual(now, pid, 'its restart policy restarted it');
  assert.equal(await get('http://127.0.0.1:18080/'), 'hello from web\n');
  assert.equal(await show('niso-web-net.service', 'InvocationID'), invocation, 'the network unit was not restarted');
  assert.deepEqual((JSON.parse(await nisoOk(['status', 'web', '--json'])) as Status).addresses, address);

  // Killed under --restart no, it stays down: the exit unit's verdict stops the network unit, and nothing of it stays.
  await nisoOk(['activate', PKG, '--name', 'quitter', '-p', '127.0.0.1:18082:3000', '--restart', 'no', '--', 'peer.js']);
  assert.equal(await get('http://127.0.0.1:18082/'), 'hello from quitter\n');
  await m!.ok('kill', ['-KILL', await show('niso-quitter.service', 'MainPID')]);
  let net = '';
  for (let i = 0; i < 100 && net !== 'inactive'; i++) { await sleep(50); net = await show('niso-quitter-net.service', 'ActiveState'); }
  assert.equal(net, 'inactive', 'the network unit stopped');
  const q = JSON.parse(await nisoOk(['status', 'quitter', '--json'])) as Status & { message: string | null };
  assert.equal(q.state, 'failed');
  assert.equal(q.message, 'it was killed by signal 9; restart policy "no"');
  assert.deepEqual(await netnsOf('quitter'), []);
  assert.doesNotMatch(await nftRules(), /18082/);
  await nisoOk(['deactivate', 'quitter']);
  await nisoOk(['remove', 'quitter']);
});

test('a network that cannot be set up when systemd starts the service (as at boot): status says why, and the policy retries until it can', async () => {
  await nisoOk(['activate', PKG, '--name', 'netfail', '-p', '127.0.0.1:18086:3000', '--', 'peer.js']);
  // Stopped behind niso's back, its plan damaged, then started the way boot starts it: __net-up fails.
  await m!.ok('systemctl', ['stop', 'niso-netfail.service']);
  for (let i = 0; i < 100 && (await show('niso-netfail-net.service', 'ActiveState')) !== 'inactive'; i++) await sleep(50);
  const planPath = join(root, 'var/lib/niso/services/netfail/plan.json');
  const good = readFileSync(planPath, 'utf8');
  writeFileSync(planPath, '{ "damaged": ');
  assert.notEqual((await m!.systemctl('start', 'niso-netfail.service')).code, 0, 'the start fails on its network');
  // systemd alone started it: its network unit ran niso's __net-up (which failed on the plan).
  assert.match((await m!.journalctl('--no-pager', '-o', 'cat', '-u', 'niso-netfail-net.service')).stdout, /NISO3308/);
  type Full = Status & { message: string | null; lastExit: { reason: string; message: string | null } | null };
  let s = JSON.parse(await nisoOk(['status', 'netfail', '--json'])) as Full;
  for (let i = 0; i < 100 && s.lastExit?.reason !== 'start-failed'; i++) { await sleep(50); s = JSON.parse(await nisoOk(['status', 'netfail', '--json'])) as Full; }
  assert.equal(s.lastExit?.reason, 'start-failed');
  assert.match(s.lastExit?.message ?? '', /^the network of netfail could not be set up: /);
  assert.ok(s.state === 'restarting' || s.state === 'crash-loop', s.state);
  // Repaired: the policy's next try brings it up, on its port; debug keeps the failed start.
  writeFileSync(planPath, good);
  for (let i = 0; i < 200 && s.state !== 'active'; i++) { await sleep(100); s = JSON.parse(await nisoOk(['status', 'netfail', '--json'])) as Full; }
  assert.equal(s.state, 'active');
  assert.equal(await get('http://127.0.0.1:18086/'), 'hello from netfail\n');
  assert.match(await nisoOk(['debug', 'netfail']), /the network of netfail could not be set up/);
  await nisoOk(['deactivate', 'netfail']);
  await nisoOk(['remove', 'netfail']);
  assert.deepEqual(await netnsOf('netfail'), []);
});

test('two services on one network reach each other by name, both ways', async () => {
  await nisoOk(['activate', PKG, '--name', 'api', '-p', '127.0.0.1:18081:3000', '--', 'peer.js']);
  // web started first: its /etc/hosts learnt "api" when api's network came up.
  assert.equal(await get('http://127.0.0.1:18080/peer?host=api'), 'web reached hello from api\n');
  assert.equal(await get('http://127.0.0.1:18081/peer?host=web'), 'api reached hello from web\n');
  // A port that another service maps: the network unit refuses it, and activate says why.
  const r = await niso(['activate', PKG, '--name', 'dup', '-p', '18080:3000', '--', 'peer.js']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /NISO4008.*18080/s);
  assert.deepEqual(await netnsOf('dup'), []);
  assert.equal((await m!.systemctl('is-active', 'niso-dup-net.service')).stdout.trim(), 'failed');
  await nisoOk(['remove', 'dup']);
  // api goes: web's /etc/hosts forgets the name (the lookup falls through to DNS, which this machine lacks).
  await nisoOk(['deactivate', 'api']);
  const [code, body] = await curl('http://127.0.0.1:18080/peer?host=api');
  assert.equal(code, 502);
  assert.match(body, /^web: (ENOTFOUND|EAI_AGAIN)\n$/);
});

test('egress: a service reaches a host beyond the machine, forwarded and masqueraded by the rules its network unit set up', async () => {
  // "outside": a namespace behind the machine's uplink (up0, TEST-NET-2), with a web server and no route back to
  // the service's network: only a masqueraded reply finds its way.
  for (const a of [['netns', 'add', 'outside'], ['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1'], ['link', 'set', 'up1', 'netns', 'outside'],
    ['addr', 'add', '198.51.100.1/24', 'dev', 'up0'], ['link', 'set', 'up0', 'up'], ['-n', 'outside', 'addr', 'add', '198.51.100.2/24', 'dev', 'up1'],
    ['-n', 'outside', 'link', 'set', 'up1', 'up'], ['-n', 'outside', 'link', 'set', 'lo', 'up']]) await m!.ok('ip', a);
  await m!.ok('sh', ['-c', `ip netns exec outside ${process.execPath} -e "require('http').createServer((q, s) => s.end('hello from outside ' + q.socket.remoteAddress + '\\n')).listen(3000, '0.0.0.0')" >/dev/null 2>&1 &`]);
  // The outside's server starts in the background: polled until it answers (a node start takes seconds when loaded).
  let body = '';
  await until('the outside to answer through web', async () => { body = (await curl('http://127.0.0.1:18080/peer?host=198.51.100.2'))[1]; return body.startsWith('web reached'); }, 60_000, 100).catch(() => undefined);
  // The outside saw the machine's uplink address, not the service's own.
  assert.equal(body, 'web reached hello from outside 198.51.100.1\n');
  await m!.run('sh', ['-c', 'ip netns pids outside | xargs -r kill; ip netns del outside']);
});

test('deactivate stops the network unit: namespace, veth and port rules are gone', async () => {
  await nisoOk(['deactivate', 'web']);
  assert.equal((await m!.systemctl('is-active', 'niso-web.service', 'niso-web-net.service')).stdout, 'inactive\ninactive\n');
  assert.deepEqual(await netnsOf('web'), []);
  assert.deepEqual(await netnsOf('api'), []);
  const rules = await nftRules();
  assert.doesNotMatch(rules, /18080|18081/);
  assert.doesNotMatch(await m!.ok('ip', ['-o', 'link', 'show']), /: vn[0-9a-f]{8}@/);
  assert.equal((await curl('http://127.0.0.1:18080/'))[0], 0);
  assert.deepEqual(readdirSync(join(root, 'run/niso/net')).filter((f) => f.endsWith('.json')), [], 'no attachment records');
  await nisoOk(['remove', 'api']);
  assert.ok(!existsSync(join(etc, 'systemd/niso-api-net.service')), 'remove deletes the network unit');
  assert.deepEqual(await nisoProcesses(), []);
});

test('__net-up replaces a leftover attachment whose owner still lives (a /run on disk, PID 1 of the same start time)', async () => {
  // By hand, outside systemd: twice in a row, as if the records of a former boot had survived with a live-looking owner.
  await nisoOk(['__net-up', 'web']);
  await nisoOk(['__net-up', 'web']);
  assert.deepEqual(records().map((r) => r.attachment.service), ['web']);
  assert.equal((await netnsOf('web')).length, 1);
  assert.equal((await nftRules()).match(/18080/g)?.length, 1, 'one port map');
  await nisoOk(['__net-down', 'web']);
  assert.deepEqual(records(), []);
  assert.deepEqual(await netnsOf('web'), []);
  assert.doesNotMatch(await nftRules(), /18080/);
});

test('reboot: after a clean shutdown, a new machine with the same units and root serves the port with no niso command, its /state mounted again', async () => {
  await nisoOk(['activate', 'web']);
  await nisoOk(['activate', PKG, '--name', 'api', '-p', '127.0.0.1:18081:3000', '--', 'peer.js']);
  assert.equal(await get('http://127.0.0.1:18080/peer?host=api'), 'web reached hello from api\n');
  // As with Docker (and niso boot on the embedded backend), `always` comes back at boot even after a deactivate; others do not.
  for (const [name, policy] of [['all', 'always'], ['off', 'on-failure']] as const) {
    await nisoOk(['activate', PKG, '--name', name, '--network', 'none', '--restart', policy, '--', 'peer.js']);
    await nisoOk(['deactivate', name]);
  }
  // web's /state: its image, which only the machine has mounted; something in it must outlive the reboot.
  const webState = join(root, 'var/lib/niso/state/web');
  await m!.ok('sh', ['-c', 'echo kept > "$0/marker"', webState]);
  const down = await m!.shutdown();
  assert.ok(down.clean, `clean shutdown:\n${down.log}`);
  // The network units were stopped on the way down: their ExecStop= removed the records.
  assert.deepEqual(records(), []);
  figures.shutdownMs = down.ms.toFixed(0);
  m = e2e.m = null;

  const t0 = performance.now();
  m = await e2e.boot(machineOptions());
  let first: [number, string] = [0, ''];
  for (let i = 0; i < 400 && first[0] !== 200; i++) {
    first = await curl('http://127.0.0.1:18080/');
    if (first[0] !== 200) await sleep(25);
  }
  figures.rebootBootMs = m.bootMs.toFixed(0);
  figures.bootTo200Ms = (performance.now() - t0).toFixed(0);
  assert.deepEqual(first, [200, 'hello from web\n']);
  // How long the network unit took (node, niso, ip, nft), as systemd measured it.
  const mono = async (p: string) => Number(await show('niso-web-net.service', p));
  figures.netUnitMs = ((await mono('ActiveEnterTimestampMonotonic') - await mono('InactiveExitTimestampMonotonic')) / 1000).toFixed(0);
  assert.equal((await m.systemctl('is-active', 'niso-web.service', 'niso-web-net.service', 'niso-api.service')).stdout, 'active\nactive\nactive\n');
  // systemd mounted web's /state again before its sandbox (its mount unit, pulled in by RequiresMountsFor=).
  assert.equal((await m.ok('findmnt', ['-n', '-o', 'FSTYPE', '--mountpoint', webState])).trim(), 'ext4');
  assert.equal(await m.ok('cat', [join(webState, 'marker')]), 'kept\n');
  // Whichever came up first, each knows the other by name.
  assert.equal(await get('http://127.0.0.1:18080/peer?host=api'), 'web reached hello from api\n');
  assert.equal(await get('http://127.0.0.1:18081/peer?host=web'), 'api reached hello from web\n');
  assert.deepEqual(await nisoProcesses(), []);
  // niso agrees (the first niso command since the boot).
  const st = JSON.parse(await nisoOk(['status', 'web', '--json'])) as Status;
  assert.equal(st.state, 'active');
  assert.deepEqual(st.ports, ['0.0.0.0:18080->3000/tcp']);
  type Wanted = Status & { desired: string };
  const all = JSON.parse(await nisoOk(['status', 'all', '--json'])) as Wanted;
  assert.deepEqual([all.state, all.desired], ['active', 'active'], 'always: back after the boot, and wanted');
  const off = JSON.parse(await nisoOk(['status', 'off', '--json'])) as Wanted;
  assert.deepEqual([off.state, off.desired], ['inactive', 'inactive']);
  // Wanted means its policy restarts it when it dies.
  await m.ok('kill', ['-KILL', await show('niso-all.service', 'MainPID')]);
  let again = all;
  for (let i = 0; i < 100 && (again.pid === all.pid || again.state !== 'active'); i++) { await sleep(50); again = JSON.parse(await nisoOk(['status', 'all', '--json'])) as Wanted; }
  assert.equal(again.state, 'active');
  assert.notEqual(again.pid, all.pid);
  for (const name of ['all', 'off']) { await nisoOk(['deactivate', name]); await nisoOk(['remove', name]); }
  assert.ok(!existsSync(join(etc, 'systemd/multi-user.target.wants/niso-all.service')), 'remove disables the unit it deletes');
});

test('power loss: no ExecStop= ran, the next boot replaces the stale attachments instead of tripping over them', async () => {
  // poweroff -ff: reboot(2) at once, no unit is stopped, so the records of this boot stay behind.
  await m!.run('systemctl', ['poweroff', '-ff']);
  await m!.shutdown();
  m = e2e.m = null;
  const stale = records();
  assert.deepEqual(stale.map((r) => r.attachment.service).sort(), ['api', 'web']);
  m = await e2e.boot(machineOptions());
  assert.equal(await get('http://127.0.0.1:18080/peer?host=api'), 'web reached hello from api\n');
  // The state image, cut off without an unmount, came back with its data (ext4's journal).
  assert.equal(await m.ok('cat', [join(root, 'var/lib/niso/state/web/marker')]), 'kept\n');
  assert.equal(await get('http://127.0.0.1:18081/peer?host=web'), 'api reached hello from web\n');
  // One record per service, owned by the new machine's systemd (host pid m.systemdPid is its PID 1).
  const now = records();
  assert.deepEqual(now.map((r) => r.attachment.service).sort(), ['api', 'web']);
  for (const r of now) assert.deepEqual(r.owner, { pid: 1, startTime: startTime(m.systemdPid) });
  await nisoOk(['deactivate', 'web', 'api']);
  assert.deepEqual([...await netnsOf('web'), ...await netnsOf('api')], []);
  assert.deepEqual(records(), []);
});
