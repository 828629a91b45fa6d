// Golden cases for the network renderers: test/golden/net/<case>/state.json is a network state;
// expected.nft is its nft table and hosts/<service> each service's /etc/hosts (error-* cases hold
// expected-error.txt instead). UPDATE_GOLDEN=1 rewrites them. The isolation promises are asserted
// beside the snapshots, so regenerating them cannot quietly weaken the rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderNftRuleset } from '../../src/net/model/nft.js';
import { renderHosts } from '../../src/net/model/hosts.js';
import type { NetState } from '../../src/net/model/types.js';
import { isNisoError } from '../../src/errors/niso-error.js';

const DIR = join(import.meta.dirname, 'net');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function goldenNetCases(): { name: string; dir: string; state: NetState }[] {
  return readdirSync(DIR).sort().map((name) => ({ name, dir: join(DIR, name), state: JSON.parse(readFileSync(join(DIR, name, 'state.json'), 'utf8')) as NetState }));
}

function compare(path: string, actual: string): void {
  if (UPDATE) writeFileSync(path, actual);
  assert.equal(actual, readFileSync(path, 'utf8'), path);
}

/** What every rendered table promises, whatever the snapshot says. */
function assertPromises(state: NetState, nft: string): void {
  const lines = nft.split('\n');
  const first = lines.findIndex((l) => !l.startsWith('#'));
  assert.deepEqual(lines.slice(first, first + 3), ['add table ip niso', 'delete table ip niso', 'table ip niso {'], 'replaces exactly its own table, atomically');
  assert.ok(!/flush ruleset|^\s*(add|delete) table (?!ip niso$)/m.test(nft), 'touches no other table');
  const dnat = lines.filter((l) => l.includes(' dnat ip addr'));
  assert.equal(dnat.length, 8, 'tcp and udp, with and without address, in prerouting and output');
  for (const l of dnat) assert.match(l, /^\t\tfib daddr type local dnat/, 'only traffic addressed to the host is rewritten');
  const block = (header: string) => {
    const start = nft.indexOf(header);
    assert.ok(start >= 0, header);
    return nft.slice(start, nft.indexOf('\n\t}', start));
  };
  for (const p of state.ports) {
    const anyMap = block(`map ${p.protocol}_ports {`);
    const addrMap = block(`map ${p.protocol}_addr_ports {`);
    if (p.hostIp === null) assert.ok(anyMap.includes(`\t\t\t${p.hostPort.from} comment`), `${p.service} *:${p.hostPort.from}/${p.protocol} is in ${p.protocol}_ports`);
    else {
      assert.ok(addrMap.includes(`\t\t\t${p.hostIp} . ${p.hostPort.from} comment`), `${p.service} ${p.hostIp}:${p.hostPort.from}/${p.protocol} is in ${p.protocol}_addr_ports`);
      assert.ok(!anyMap.includes(`\t\t\t${p.hostPort.from} comment ${JSON.stringify(p.service)} : ${p.target} . ${p.containerPort.from}`), 'an address-bound mapping does not open every address');
    }
  }
  for (const a of state.attachments.filter((x) => !x.egress)) {
    const set = block('set no_egress {');
    assert.ok(set.includes(`\t\t\t${a.address}`), `${a.service} (egress = false) is in no_egress`);
    const bridge = state.networks.find((n) => n.name === a.network)!.bridge;
    assert.ok(nft.includes(`iifname "${bridge}" oifname != "${bridge}" drop`) || nft.includes(`iifname "${bridge}" oifname != "${bridge}" ip saddr @no_egress drop`), `traffic of ${a.service} leaving ${bridge} is dropped`);
  }
  for (const n of state.networks) {
    if (state.networks.length > 1) assert.ok(nft.includes(`\t\tiifname "${n.bridge}" oifname @bridges oifname != "${n.bridge}" drop`), `${n.name} is isolated from the other networks`);
    const masq = `ip saddr ${n.subnet} oifname != "${n.bridge}" masquerade`;
    assert.equal(nft.includes(masq), n.egress !== false, `${n.name}: egress masquerade only with egress`);
  }
  const forward = block('chain forward {').split('\n');
  const accept = forward.findIndex((l) => l.includes('ct status dnat accept'));
  const lastEgressDrop = Math.max(-1, ...forward.map((l, i) => (/^\t\tiifname "[^"]+" oifname != "[^"]+" (ip saddr @no_egress )?drop/.test(l) ? i : -1)));
  assert.ok(accept > lastEgressDrop, 'egress = false is enforced before mapped traffic is accepted');
  const outside = forward.findIndex((l) => l.startsWith('\t\toifname @bridges iifname != @bridges drop'));
  assert.ok(outside > accept, 'from outside the networks, only mapped (DNATed) traffic gets in: no direct route to a service');
  const input = block('chain input {').split('\n');
  assert.equal(input[2], '\t\tct state established,related accept');
  assert.ok(input[3]!.startsWith('\t\tiifname @bridges ip daddr 127.0.0.0/8 drop'), 'route_localnet on the bridges opens no loopback service of the host');
}

function reversed(s: NetState): NetState {
  return { networks: [...s.networks].reverse(), attachments: [...s.attachments].reverse(), ports: [...s.ports].reverse() };
}

for (const { name, dir, state } of goldenNetCases()) {
  if (name.startsWith('error-')) {
    test(`net ${name}`, () => {
      const expected = readFileSync(join(dir, 'expected-error.txt'), 'utf8').trim();
      assert.throws(() => renderNftRuleset(state), (e: unknown) => isNisoError(e) && `${e.code}: ${e.message}` === expected);
    });
    continue;
  }
  test(`net ${name}`, () => {
    const nft = renderNftRuleset(state);
    compare(join(dir, 'expected.nft'), nft);
    assert.equal(renderNftRuleset(reversed(state)), nft, 'the order of the state does not matter');
    assertPromises(state, nft);
    const services = [...new Set(state.attachments.map((a) => a.service))].sort();
    if (UPDATE) mkdirSync(join(dir, 'hosts'), { recursive: true });
    for (const s of services) compare(join(dir, 'hosts', s), renderHosts(s, state.attachments));
    if (existsSync(join(dir, 'hosts'))) assert.deepEqual(readdirSync(join(dir, 'hosts')).sort(), services, 'one hosts file per service');
  });
}
