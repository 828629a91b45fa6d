// Whose bridge is it (model/bridge.ts): the cases, as a table; and what a stale network becomes when made again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNisoError } from '../../src/errors/niso-error.js';
import { bridgeAlias, bridgeState, replanNetwork, type BridgeLink, type BridgeState } from '../../src/net/model/bridge.js';
import type { HostNetFacts, Network } from '../../src/net/model/types.js';

const net: Network = { name: 'default', subnet: '10.89.0.0/24', gateway: '10.89.0.1', bridge: 'niso0', createdAt: '2026-01-01T00:00:00Z' };
const mine = bridgeAlias('niso_0123abcd', 'default');
const link = (over: Partial<BridgeLink>): BridgeLink => ({ exists: true, isBridge: true, alias: '', addresses: [], ...over });

const cases: [string, BridgeLink, BridgeState][] = [
  ['nothing of that name', { exists: false, isBridge: false, alias: '', addresses: [] }, 'missing'],
  ['the network\'s mark', link({ alias: mine, addresses: ['10.89.0.1/24'] }), 'ours'],
  ['the mark without the address yet (made, not addressed, when an attach failed)', link({ alias: mine }), 'ours'],
  ['another root\'s mark, on the same subnet', link({ alias: 'niso_99999999/default', addresses: ['10.89.0.1/24'] }), 'foreign'],
  ['this root\'s mark for another network', link({ alias: bridgeAlias('niso_0123abcd', 'lan'), addresses: ['10.89.0.1/24'] }), 'foreign'],
  ['no mark, the gateway on it: made by a niso before the marks', link({ addresses: ['10.89.0.1/24'] }), 'ours'],
  ['no mark, another address', link({ addresses: ['10.89.1.1/24'] }), 'foreign'],
  ['no mark, the gateway with another prefix', link({ addresses: ['10.89.0.1/16'] }), 'foreign'],
  ['not a bridge (another tool\'s interface of that name)', link({ isBridge: false, alias: mine, addresses: ['10.89.0.1/24'] }), 'foreign'],
];
for (const [what, l, want] of cases) {
  test(`bridgeState: ${what} → ${want}`, () => assert.equal(bridgeState(l, net, mine), want));
}

const host = (over: Partial<HostNetFacts> = {}): HostNetFacts => ({ routes: [], addresses: [], links: ['lo', 'eth0'], ...over });
const taken = host({ routes: ['10.89.0.0/24'], addresses: ['10.89.0.1/24'], links: ['lo', 'eth0', 'niso0'] });

test('replanNetwork: a missing bridge on a free subnet is made again as recorded', () => {
  assert.equal(replanNetwork(net, 'missing', host(), [], [], 'niso'), net);
});

test('replanNetwork: a name taken by another root gets the next free one; default moves off the taken subnet', () => {
  const other: Network = { ...net, name: 'lan', subnet: '10.89.1.0/24', gateway: '10.89.1.1', bridge: 'niso1' };
  const next = replanNetwork(net, 'foreign', taken, [other], [], 'niso');
  assert.deepEqual(next, { ...net, bridge: 'niso2', subnet: '10.89.2.0/24', gateway: '10.89.2.1' });
});

test('replanNetwork: a name taken on a subnet still free keeps the subnet', () => {
  const next = replanNetwork(net, 'foreign', host({ links: ['lo', 'niso0'] }), [], [], 'niso');
  assert.deepEqual(next, { ...net, bridge: 'niso1' });
});

test('replanNetwork: a subnet chosen by the user, or one with services on it, is not moved: NISO4017 says what to do', () => {
  const lan: Network = { ...net, name: 'lan' };
  const check = (n: Network, live: string[], hint: RegExp) => assert.throws(() => replanNetwork(n, 'missing', taken, [], live, 'niso'), (e: unknown) => {
    assert.ok(isNisoError(e) && e.code === 'NISO4017');
    assert.equal(e.message, `network "${n.name}" cannot be brought back: its bridge niso0 is gone, and its subnet 10.89.0.0/24 is now taken by the host's route to 10.89.0.0/24`);
    assert.match(e.hint ?? '', hint);
    return true;
  });
  check(lan, [], /^make the network again on a free subnet: niso net remove lan && niso net create lan \[--subnet CIDR\]$/);
  check(net, ['api', 'db'], /^stop "api", "db", then make the network again/);
});
