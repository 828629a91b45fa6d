// The defaults of the network code per NISO_ROOT: the real root owns `table ip niso`, any other
// root a table of its own, so a demo or a test never replaces the real installation's rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { netContext } from '../../src/net/host/manager.js';
import { netPaths } from '../../src/net/host/state-files.js';

test('netContext: table per root, overridable', () => {
  assert.equal(netContext('/').table, 'niso');
  const other = netContext('/tmp/demo-root').table;
  assert.match(other, /^niso_[0-9a-f]{8}$/);
  assert.equal(netContext('/tmp/demo-root/').table, other, 'the same root, however written');
  assert.notEqual(netContext('/tmp/other-root').table, other);
  assert.equal(netContext('/x', { table: 'nt1' }).table, 'nt1');
  assert.deepEqual(netContext('/').pool, ['10.89.0.0/16', '10.90.0.0/15', '10.92.0.0/14']);
});

test('netPaths: networks under var/lib/niso/net, attachment records under run/niso/net', () => {
  assert.deepEqual(netPaths('/r'), { networks: '/r/var/lib/niso/net/networks.json', lock: '/r/var/lib/niso/net/net.lock', records: '/r/run/niso/net' });
});
