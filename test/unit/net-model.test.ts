// Unit tests for the pure network policy: subnets, addresses, names, port conflicts, hosts files,
// attachment planning and the parsers of ip/nft/ss output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NisoError, isNisoError } from '../../src/errors/niso-error.js';
import { ERROR_CODES } from '../../src/errors/codes.js';
import { cidrOf, formatIpv4, overlaps, parseCidr, parseIpv4 } from '../../src/net/model/cidr.js';
import { chooseSubnet, validateSubnet } from '../../src/net/model/subnet.js';
import { allocateAddress, usableCount } from '../../src/net/model/address.js';
import { chooseBridgeName, macFor, netnsName, validateNetworkName, vethName } from '../../src/net/model/names.js';
import { assertNoListenerConflicts, assertNoPortConflicts, findPortConflicts, parseSsListeners, portMapsFor } from '../../src/net/model/ports.js';
import { renderHosts } from '../../src/net/model/hosts.js';
import { planAttach, parseAttachmentRecord, parseNetworksFile, type AttachmentRecord } from '../../src/net/model/state.js';
import { planNetwork, planRemoveNetwork } from '../../src/net/model/network.js';
import { renderNftRuleset } from '../../src/net/model/nft.js';
import { parseDefaultRoutes, parseIpAddresses, parseIpLinks, parseIpRoutes, parseNftElements, parseNftTables } from '../../src/net/model/tool-json.js';
import { chooseMtu, DEFAULT_MTU } from '../../src/net/model/mtu.js';
import { acceptsBridges, forwardDropChains, forwardDropWarning, parseNftChains } from '../../src/net/model/firewall.js';
import type { Attachment, HostNetFacts, Network, PortMap } from '../../src/net/model/types.js';

const HOST: HostNetFacts = { routes: ['192.0.2.0/24', '127.0.0.0/8', '127.0.0.1/32', '192.0.2.2/32'], addresses: ['127.0.0.1/8', '192.0.2.2/24'], links: ['lo', 'eth0'] };
const NOW = '2025-01-01T00:00:00.000Z';
const net = (name: string, subnet: string, bridge: string, extra: Partial<Network> = {}): Network => ({ name, subnet, gateway: formatIpv4(cidrOf(subnet).base + 1), bridge, createdAt: NOW, ...extra });

function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isNisoError(e), `expected a NisoError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    assert.ok(ERROR_CODES[code], `${code} is in the code table`);
    return true;
  });
}

test('cidr: parse, host bits, overlap', () => {
  assert.equal(parseIpv4('10.89.0.1'), 0x0a590001);
  assert.equal(parseIpv4('10.89.0.256'), null);
  assert.equal(parseIpv4('010.1.1.1'), null);
  assert.equal(formatIpv4(0xffffffff), '255.255.255.255');
  const p = parseCidr('10.89.5.7/24');
  assert.ok(p.ok && p.hostBitsSet && formatIpv4(p.cidr.base) === '10.89.5.0');
  assert.ok(!parseCidr('10.89.5.0/33').ok);
  assert.ok(overlaps(cidrOf('10.0.0.0/8'), cidrOf('10.89.0.0/24')));
  assert.ok(!overlaps(cidrOf('10.89.0.0/24'), cidrOf('10.89.1.0/24')));
});

test('chooseSubnet: the first free /24 of the pool, never 10.88/16, never what the host or niso uses', () => {
  assert.deepEqual(chooseSubnet(HOST, []), { subnet: '10.89.0.0/24', gateway: '10.89.0.1' });
  const host = { ...HOST, routes: [...HOST.routes, '10.89.0.0/23'], addresses: [...HOST.addresses, '10.89.2.7/24'] };
  assert.equal(chooseSubnet(host, [net('a', '10.89.3.0/24', 'niso0')]).subnet, '10.89.4.0/24');
  // A /8 route (a VPN) is skipped in one step and the whole pool is found taken.
  throwsCode(() => chooseSubnet({ ...HOST, routes: ['10.0.0.0/8'] }, []), 'NISO4006');
  // A default route never blocks anything.
  assert.equal(chooseSubnet({ ...HOST, routes: ['0.0.0.0/0'] }, []).subnet, '10.89.0.0/24');
  // Into the next block of the pool when the first is full.
  assert.equal(chooseSubnet({ ...HOST, routes: ['10.89.0.0/16'] }, []).subnet, '10.90.0.0/24');
  const pool = chooseSubnet(HOST, [], ['10.231.0.0/16'], 29);
  assert.deepEqual(pool, { subnet: '10.231.0.0/29', gateway: '10.231.0.1' });
  for (let i = 0; i < 300; i++) {
    const s = chooseSubnet(HOST, [], ['10.89.0.0/16']);
    assert.ok(!overlaps(cidrOf(s.subnet), cidrOf('10.88.0.0/16')));
  }
});

test('validateSubnet: syntax, prefix /16-/29, host bits, overlaps', () => {
  assert.deepEqual(validateSubnet('172.30.4.0/22', HOST, []), { subnet: '172.30.4.0/22', gateway: '172.30.4.1' });
  throwsCode(() => validateSubnet('172.30.4.0', HOST, []), 'NISO4004', /prefix length is missing/);
  throwsCode(() => validateSubnet('172.30.4/24', HOST, []), 'NISO4004');
  throwsCode(() => validateSubnet('10.0.0.0/8', HOST, []), 'NISO4004', /too large/);
  throwsCode(() => validateSubnet('10.89.0.0/30', HOST, []), 'NISO4004', /too small/);
  throwsCode(() => validateSubnet('10.89.0.1/24', HOST, []), 'NISO4004', /host bits/);
  throwsCode(() => validateSubnet('192.0.2.0/25', HOST, []), 'NISO4005', /route to 192\.0\.2\.0\/24/);
  throwsCode(() => validateSubnet('10.89.0.0/16', HOST, [net('web', '10.89.3.0/24', 'niso0')]), 'NISO4005', /niso network "web"/);
});

test('allocateAddress: lowest free, gateway/network/broadcast never, a clear error when full', () => {
  const n = net('small', '10.89.0.0/29', 'niso0');
  assert.equal(usableCount(n), 5);
  assert.equal(allocateAddress(n, []), '10.89.0.2');
  assert.equal(allocateAddress(n, ['10.89.0.2', '10.89.0.4']), '10.89.0.3');
  assert.equal(allocateAddress(n, ['10.89.0.2', '10.89.0.3', '10.89.0.4', '10.89.0.5']), '10.89.0.6');
  throwsCode(() => allocateAddress(n, ['10.89.0.2', '10.89.0.3', '10.89.0.4', '10.89.0.5', '10.89.0.6']), 'NISO4007', /no free address: all 5 are taken/);
});

test('names: network names, bridges within 15 characters, netns and veth names', () => {
  validateNetworkName('backend-2.prod_x');
  throwsCode(() => validateNetworkName('Backend'), 'NISO4001');
  throwsCode(() => validateNetworkName('-x'), 'NISO4001');
  throwsCode(() => validateNetworkName('a'.repeat(33)), 'NISO4001');
  assert.equal(chooseBridgeName('niso', [net('a', '10.89.0.0/24', 'niso0')], ['lo', 'niso1']), 'niso2');
  const ten = Array.from({ length: 10 }, (_, i) => `abcdefghijklmn${i}`);
  assert.equal(chooseBridgeName('abcdefghijklmn', [], ten.slice(0, 9)), 'abcdefghijklmn9');
  throwsCode(() => chooseBridgeName('abcdefghijklmn', [], ten), 'NISO4015');
  assert.equal(netnsName('niso', 'web', '1a2b3c4d'), 'niso-web-1a2b3c4d');
  assert.equal(vethName('1a2b3c4d'), 'vn1a2b3c4d');
  assert.ok(vethName('ffffffff').length <= 15);
  assert.throws(() => vethName('xyz'));
});

const pm = (service: string, hostIp: string | null, from: number, to = from, protocol: 'tcp' | 'udp' = 'tcp'): PortMap => ({ service, hostIp, hostPort: { from, to }, protocol, target: '10.89.0.2', containerPort: { from, to } });

test('port conflicts: same protocol, overlapping ports and addresses; the holder is named', () => {
  assert.deepEqual(findPortConflicts([pm('b', null, 80)], [pm('a', null, 80, 80, 'udp')]), []);
  assert.deepEqual(findPortConflicts([pm('b', '127.0.0.1', 80)], [pm('a', '192.0.2.2', 80)]), []);
  assert.equal(findPortConflicts([pm('b', '127.0.0.1', 80)], [pm('a', null, 70, 90)]).length, 1);
  assert.equal(findPortConflicts([pm('b', null, 85, 86)], [pm('a', '127.0.0.1', 80, 85)]).length, 1);
  throwsCode(() => assertNoPortConflicts([pm('api', null, 8080)], [pm('web', '127.0.0.1', 8080)]), 'NISO4008', /127\.0\.0\.1:8080\/tcp|service "web"/);
  throwsCode(() => assertNoPortConflicts([pm('web', null, 8080), pm('web', null, 8080)], []), 'NISO4008', /another mapping of service "web"/);
});

test('ss output: addresses of every shape, and who listens', () => {
  const text = [
    'LISTEN 0      511          0.0.0.0:8080       0.0.0.0:*    users:(("node",pid=1234,fd=18))',
    'LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=77,fd=14))',
    'LISTEN 0      128             [::]:22            [::]:*    users:(("sshd",pid=9,fd=4))',
    'LISTEN 0      128    [fe80::1%eth0]:9999          [::]:*',
    'LISTEN 0      128   [::ffff:127.0.0.1]:7000          *:*',
    'LISTEN 0      128                *:9090              *:*    users:(("x y",pid=5,fd=3))',
    '',
  ].join('\n');
  const l = parseSsListeners(text, 'tcp');
  assert.deepEqual(l.map((x) => `${x.address}|${x.port}|${x.process}`), [
    '0.0.0.0|8080|node (pid 1234)', '127.0.0.53|53|systemd-resolve (pid 77)', '::|22|sshd (pid 9)', 'fe80::1|9999|null', '127.0.0.1|7000|null', '*|9090|x y (pid 5)',
  ]);
  throwsCode(() => assertNoListenerConflicts([pm('web', '127.0.0.1', 8000, 8100)], l), 'NISO4009', /node \(pid 1234\), listening on 0\.0\.0\.0:8080/);
  throwsCode(() => assertNoListenerConflicts([pm('web', null, 53)], l), 'NISO4009', /systemd-resolve/);
  assertNoListenerConflicts([pm('web', '127.0.0.1', 53)], l);
  assertNoListenerConflicts([pm('web', null, 9999)], l);
  assertNoListenerConflicts([pm('web', null, 8080, 8080, 'udp')], l);
});

test('portMapsFor: every address is null, IPv6 is refused, ranges keep their length', () => {
  const maps = portMapsFor('web', '10.89.0.2', [
    { hostIp: '0.0.0.0', host: { from: 80, to: 80 }, container: { from: 8080, to: 8080 }, protocol: 'tcp' },
    { hostIp: '127.0.0.1', host: { from: 9000, to: 9010 }, container: { from: 9000, to: 9010 }, protocol: 'udp' },
  ]);
  assert.equal(maps[0]!.hostIp, null);
  assert.equal(maps[1]!.target, '10.89.0.2');
  throwsCode(() => portMapsFor('web', '10.89.0.2', [{ hostIp: '::1', host: { from: 80, to: 80 }, container: { from: 80, to: 80 }, protocol: 'tcp' }]), 'NISO4014');
});

const att = (service: string, network: string, address: string, extra: Partial<Attachment> = {}): Attachment => ({ service, network, address, vethHost: `vn${address.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('')}`, netns: `niso-${service}-00000000`, ifname: 'eth0', egress: true, ...extra });

test('renderHosts: the services of shared networks by name, nobody else', () => {
  const all = [att('web', 'front', '10.89.0.2'), att('api', 'front', '10.89.0.3'), att('api', 'back', '10.89.1.2', { ifname: 'eth1' }), att('db', 'back', '10.89.1.3'), att('other', 'lonely', '10.89.9.2')];
  const web = renderHosts('web', all);
  assert.match(web, /^10\.89\.0\.2\tweb$/m);
  assert.match(web, /^10\.89\.0\.3\tapi$/m);
  assert.doesNotMatch(web, /db|other/);
  const api = renderHosts('api', all);
  assert.match(api, /^10\.89\.0\.2\tweb$/m);
  assert.match(api, /^10\.89\.1\.3\tdb$/m);
  assert.doesNotMatch(api, /other/);
  assert.match(renderHosts('db', all), /^10\.89\.1\.2\tapi$/m);
  assert.equal(renderHosts('other', all).split('\n').filter((l) => l.includes('10.89.')).length, 1);
  assert.match(renderHosts('ghost', all), /^127\.0\.0\.1\tlocalhost$/m);
});

test('renderHosts: a stack service also answers to its service name and aliases, on the network that carries them', () => {
  const all = [
    att('shop.api', 'shop_default', '10.89.2.2', { aliases: ['api'] }),
    att('shop.db', 'shop_default', '10.89.2.3', { aliases: ['db', 'postgres'] }),
    att('shop.db', 'shop_admin', '10.89.3.2', { ifname: 'eth1', aliases: ['db'] }),
    att('billing.db', 'billing_default', '10.89.4.2', { aliases: ['db'] }),
  ];
  const api = renderHosts('shop.api', all);
  assert.match(api, /^10\.89\.2\.2\tshop\.api api$/m);
  assert.match(api, /^10\.89\.2\.3\tshop\.db db postgres$/m);
  assert.doesNotMatch(api, /billing|10\.89\.4\./, 'another stack\'s db is not on its networks');
  const planned = planAttach({ service: 'shop.web', networks: ['front'], ports: [], egress: true, owner: { pid: 1, startTime: 1 }, aliases: { front: ['web'] } }, { netns: 'aaaaaaaa', veths: ['bbbbbbbb'] }, [net('front', '10.89.0.0/24', 'niso0')], [], [], 'niso', NOW);
  assert.deepEqual(planned[0]!.attachment.aliases, ['web']);
});

const rec = (a: Attachment, ports: PortMap[] = []): AttachmentRecord => ({ version: 1, attachment: a, ports, owner: { pid: 1, startTime: 1 }, createdAt: NOW });

test('planAttach: names, lowest free addresses per network, port maps to the first address', () => {
  const networks = [net('front', '10.89.0.0/24', 'niso0'), net('back', '10.89.1.0/24', 'niso1')];
  const records = [rec(att('web', 'front', '10.89.0.2'), [pm('web', null, 80)])];
  const planned = planAttach({ service: 'api', networks: ['front', 'back'], ports: [{ hostIp: '127.0.0.1', host: { from: 8080, to: 8080 }, container: { from: 3000, to: 3000 }, protocol: 'tcp' }], egress: false, owner: { pid: 42, startTime: 7 } }, { netns: 'aaaaaaaa', veths: ['bbbbbbbb', 'cccccccc'] }, networks, records, [], 'niso', NOW);
  assert.deepEqual(planned.map((r) => r.attachment), [
    { service: 'api', network: 'front', address: '10.89.0.3', vethHost: 'vnbbbbbbbb', netns: 'niso-api-aaaaaaaa', ifname: 'eth0', egress: false },
    { service: 'api', network: 'back', address: '10.89.1.2', vethHost: 'vncccccccc', netns: 'niso-api-aaaaaaaa', ifname: 'eth1', egress: false },
  ]);
  assert.deepEqual(planned[0]!.ports, [{ service: 'api', hostIp: '127.0.0.1', hostPort: { from: 8080, to: 8080 }, protocol: 'tcp', target: '10.89.0.3', containerPort: { from: 3000, to: 3000 } }]);
  assert.deepEqual(planned[1]!.ports, []);
  assert.deepEqual(planned[0]!.owner, { pid: 42, startTime: 7 });
  const req = { service: 'x', networks: ['front'], ports: [], egress: true, owner: { pid: 1, startTime: null } };
  throwsCode(() => planAttach({ ...req, networks: ['nope'] }, { netns: 'aaaaaaaa', veths: ['bbbbbbbb'] }, networks, records, [], 'niso', NOW), 'NISO4002');
  throwsCode(() => planAttach({ ...req, service: 'web' }, { netns: 'aaaaaaaa', veths: ['bbbbbbbb'] }, networks, records, [], 'niso', NOW), 'NISO4016', /already attached/);
  throwsCode(() => planAttach({ ...req, ports: [{ hostIp: null, host: { from: 80, to: 80 }, container: { from: 80, to: 80 }, protocol: 'tcp' }] }, { netns: 'aaaaaaaa', veths: ['bbbbbbbb'] }, networks, records, [], 'niso', NOW), 'NISO4008', /service "web"/);
  throwsCode(() => planAttach({ ...req, ports: [{ hostIp: null, host: { from: 81, to: 81 }, container: { from: 80, to: 80 }, protocol: 'tcp' }] }, { netns: 'aaaaaaaa', veths: ['bbbbbbbb'] }, networks, records, [{ protocol: 'tcp', address: '*', port: 81, process: 'nginx (pid 3)' }], 'niso', NOW), 'NISO4009', /nginx/);
});

test('planNetwork and planRemoveNetwork', () => {
  const existing = [net('default', '10.89.0.0/24', 'niso0')];
  const n = planNetwork({ name: 'back', egress: false }, HOST, existing, 'niso', NOW);
  assert.deepEqual(n, { name: 'back', subnet: '10.89.1.0/24', gateway: '10.89.1.1', bridge: 'niso1', createdAt: NOW, egress: false });
  assert.equal(planNetwork({ name: 'x', subnet: '172.31.0.0/16' }, HOST, existing, 'niso', NOW).gateway, '172.31.0.1');
  throwsCode(() => planNetwork({ name: 'default' }, HOST, existing, 'niso', NOW), 'NISO4003');
  throwsCode(() => planRemoveNetwork('default', existing, [rec(att('web', 'default', '10.89.0.2'))]), 'NISO4010', /"web"/);
  throwsCode(() => planRemoveNetwork('nope', existing, []), 'NISO4002');
  assert.equal(planRemoveNetwork('default', existing, []).bridge, 'niso0');
});

test('state files: damaged ones are NISO4013', () => {
  throwsCode(() => parseNetworksFile('{', '/x/networks.json'), 'NISO4013');
  throwsCode(() => parseNetworksFile('{"version":1,"networks":[{"name":"a"}]}', '/x/networks.json'), 'NISO4013');
  throwsCode(() => parseAttachmentRecord('{"version":1}', '/x/vn1.json'), 'NISO4013');
  const r = rec(att('web', 'default', '10.89.0.2'));
  assert.deepEqual(parseAttachmentRecord(JSON.stringify(r), '/x'), r);
});

test('the renderer refuses state that would inject nft syntax', () => {
  const good = { networks: [net('default', '10.89.0.0/24', 'niso0')], attachments: [att('web', 'default', '10.89.0.2')], ports: [] as PortMap[] };
  renderNftRuleset(good);
  assert.throws(() => renderNftRuleset({ ...good, networks: [{ ...good.networks[0]!, bridge: 'x"; flush ruleset; "' }] }), /bridge/);
  assert.throws(() => renderNftRuleset({ ...good, networks: [{ ...good.networks[0]!, subnet: '10.89.0.0/24 accept' }] }), /subnet/);
  assert.throws(() => renderNftRuleset({ ...good, attachments: [att('web', 'default', '10.89.0.2 } ')] }), /address/);
  assert.throws(() => renderNftRuleset(good, { table: 'niso; flush ruleset' }));
  const err = (() => { try { renderNftRuleset({ ...good, ports: [pm('a', null, 80), pm('b', null, 80)] }); } catch (e) { return e; } })();
  assert.ok(err instanceof NisoError && err.code === 'NISO4008');
});

test('ip and nft JSON parsers', () => {
  const routes = [{ dst: 'default', gateway: '192.0.2.1', dev: 'eth0' }, { dst: '192.0.2.0/24', dev: 'eth0' }, { type: 'local', dst: '192.0.2.2', dev: 'eth0', table: 'local' }, { dst: 'fe80::/64' }];
  assert.deepEqual(parseIpRoutes(routes), ['192.0.2.0/24', '192.0.2.2/32']);
  const addrs = [{ ifname: 'lo', flags: ['LOOPBACK', 'UP'], addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }, { family: 'inet6', local: '::1', prefixlen: 128 }] }, { ifname: 'vn1', flags: ['BROADCAST'], master: 'niso0', addr_info: [] }];
  assert.deepEqual(parseIpAddresses(addrs), ['127.0.0.1/8']);
  assert.deepEqual(parseIpLinks(addrs), [{ ifname: 'lo', up: true, master: null, addresses: ['127.0.0.1/8'], mtu: null }, { ifname: 'vn1', up: false, master: 'niso0', addresses: [], mtu: null }]);
  assert.equal(parseIpLinks([{ ifname: 'eth0', flags: ['UP'], mtu: 1400 }])[0]!.mtu, 1400);
  const defaults = [
    { dst: 'default', gateway: '192.0.2.1', dev: 'eth0', flags: [] },
    { dst: 'default', gateway: '198.51.100.1', dev: 'wg0', metric: 50, metrics: [{ mtu: 1380 }] },
    { dst: 'default', nexthops: [{ gateway: '203.0.113.1', dev: 'eth1' }, { gateway: '203.0.113.2', dev: 'eth2' }], metrics: [{ mtu: ['lock', 1300] }] },
    { dst: '192.0.2.0/24', dev: 'eth0' },
  ];
  assert.deepEqual(parseDefaultRoutes(defaults), [{ devs: ['eth0'], mtu: null }, { devs: ['wg0'], mtu: 1380 }, { devs: ['eth1', 'eth2'], mtu: 1300 }]);
  assert.deepEqual(parseDefaultRoutes(null), []);
  assert.deepEqual(parseIpRoutes(null), []);
  const nft = { nftables: [{ metainfo: {} }, { table: { family: 'ip', name: 'niso' } }, { table: { family: 'inet', name: 'filter' } },
    { map: { name: 'tcp_ports', elem: [[{ elem: { val: 18080, comment: 'web' } }, { concat: ['10.89.0.2', 8080] }]] } },
    { map: { name: 'tcp_addr_ports', elem: [[{ elem: { val: { concat: ['127.0.0.1', 9000] }, comment: 'x' } }, { concat: ['10.89.0.2', 9000] }]] } },
    { set: { name: 'no_egress', elem: ['10.89.0.3'] } }, { set: { name: 'bridges' } }] };
  assert.deepEqual(parseNftTables(nft), ['inet filter', 'ip niso']);
  assert.deepEqual(parseNftElements(nft), { tcp_ports: ['18080 : 10.89.0.2 . 8080'], tcp_addr_ports: ['127.0.0.1 . 9000 : 10.89.0.2 . 9000'], no_egress: ['10.89.0.3'], bridges: [] });
});

test('chooseMtu: the uplink\'s MTU for bridges and veths, the smallest of several, 1500 without one', () => {
  const links = [{ ifname: 'lo', mtu: 65536 }, { ifname: 'eth0', mtu: 1400 }, { ifname: 'eth1', mtu: 9000 }, { ifname: 'wg0', mtu: 1420 }, { ifname: 'niso0', mtu: 1200 }];
  assert.deepEqual(chooseMtu([{ devs: ['eth0'], mtu: null }], links), { mtu: 1400, reason: 'the uplink eth0 (mtu 1400)' });
  assert.equal(chooseMtu([{ devs: ['eth1'], mtu: null }], links).mtu, 9000, 'jumbo frames are kept');
  assert.equal(chooseMtu([{ devs: ['eth1'], mtu: null }, { devs: ['wg0'], mtu: null }], links).mtu, 1420, 'any default route may carry the traffic: the smallest');
  assert.equal(chooseMtu([{ devs: ['eth1', 'eth0'], mtu: null }], links).mtu, 1400, 'multipath: the smallest next hop');
  assert.equal(chooseMtu([{ devs: ['eth1'], mtu: 1280 }], links).mtu, 1280, 'the route\'s own mtu wins over the device\'s');
  assert.deepEqual(chooseMtu([], links), { mtu: DEFAULT_MTU, reason: 'no default route: the kernel default' });
  assert.equal(chooseMtu([{ devs: ['lo'], mtu: null }], links).mtu, DEFAULT_MTU, 'loopback is no uplink');
  assert.equal(chooseMtu([{ devs: ['niso0'], mtu: null }], links, ['niso0']).mtu, DEFAULT_MTU, 'nor is a niso bridge');
  assert.equal(chooseMtu([{ devs: ['gone'], mtu: null }], links).mtu, DEFAULT_MTU, 'a device that is not listed');
  assert.equal(chooseMtu([{ devs: ['eth0'], mtu: 20 }], links).mtu, 68, 'at least what IPv4 requires');
  assert.equal(chooseMtu([{ devs: ['big'], mtu: null }], [{ ifname: 'big', mtu: 65536 }]).mtu, 65535, 'at most what a veth takes');
});

test('firewall: other tables that drop forwarded packets, and whether they accept niso\'s bridges', () => {
  const chains = { nftables: [{ metainfo: {} },
    { chain: { family: 'ip', table: 'filter', name: 'DOCKER-USER', handle: 1 } },
    { chain: { family: 'ip', table: 'filter', name: 'FORWARD', handle: 2, type: 'filter', hook: 'forward', prio: 0, policy: 'drop' } },
    { chain: { family: 'inet', table: 'fw', name: 'fwd', type: 'filter', hook: 'forward', prio: 0, policy: 'drop' } },
    { chain: { family: 'ip', table: 'niso', name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'drop' } },
    { chain: { family: 'ip6', table: 'filter', name: 'FORWARD', type: 'filter', hook: 'forward', prio: 0, policy: 'drop' } },
    { chain: { family: 'ip', table: 'other', name: 'FORWARD', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } }] };
  const parsed = parseNftChains(chains);
  assert.equal(parsed.length, 6);
  assert.deepEqual(forwardDropChains(parsed, 'niso').map((c) => `${c.family} ${c.table} ${c.name}`), ['ip filter FORWARD', 'inet fw fwd'], 'IPv4 families only, not its own table, only drop policies');
  const rule = (key: string, right: string, extra: unknown[] = []) => ({ rule: { family: 'ip', table: 'filter', chain: 'DOCKER-USER', expr: [{ match: { op: '==', left: { meta: { key } }, right } }, ...extra, { counter: { packets: 0, bytes: 0 } }, { accept: null }] } });
  const table = (...rules: unknown[]) => ({ nftables: [{ table: { family: 'ip', name: 'filter' } }, ...rules] });
  assert.ok(acceptsBridges(table(rule('iifname', 'niso*'), rule('oifname', 'niso*')), ['niso0', 'niso1']));
  assert.ok(acceptsBridges(table(rule('iifname', 'niso0'), rule('oifname', 'niso0')), ['niso0']));
  assert.ok(!acceptsBridges(table(rule('iifname', 'niso0'), rule('oifname', 'niso0')), ['niso0', 'niso1']), 'every bridge');
  assert.ok(!acceptsBridges(table(rule('iifname', 'niso*')), ['niso0']), 'both directions');
  assert.ok(!acceptsBridges(table(rule('iifname', 'niso*', [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '10.0.0.1' } }]), rule('oifname', 'niso*')), ['niso0']), 'a narrower rule does not count');
  assert.ok(!acceptsBridges(table(), ['niso0']));
  const w = forwardDropWarning(parsed[1]!, 'niso');
  assert.match(w, /^the firewall table ip filter chain FORWARD drops forwarded packets/);
  assert.ok(w.includes('iptables -I DOCKER-USER -i niso+ -j ACCEPT; iptables -I DOCKER-USER -o niso+ -j ACCEPT'));
  assert.ok(forwardDropWarning(parsed[2]!, 'niso').includes('nft insert rule inet fw fwd iifname "niso*" accept'));
});

test('a service interface\'s MAC follows its address: locally administered, unicast, one per address, the same when the address is given again', () => {
  assert.equal(macFor('10.89.0.3'), '02:6e:0a:59:00:03');
  assert.equal(macFor('192.168.255.254'), '02:6e:c0:a8:ff:fe');
  assert.equal(macFor('10.89.0.3'), macFor('10.89.0.3'));
  assert.notEqual(macFor('10.89.0.3'), macFor('10.89.0.4'));
  assert.throws(() => macFor('10.89.0'), /not an IPv4 address/);
});
