// The supervisor fires a service's first probe when the probe's port listens (service/health/listening.ts): which
// port a probe asks, and reading the kernel's socket tables for a listener on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listenTrigger, listensIn, probePort } from '../../src/service/health/listening.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 60100        0 123 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000 60100        0 124 1 0000000000000000 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 60100        0 125 1 0000000000000000 100 0 0 10 0
`;

test('probePort: the port of an http URL (explicit or the scheme\'s), a tcp probe\'s own; none for exec', () => {
  assert.equal(probePort({ kind: 'http', url: 'http://127.0.0.1:3000/health' }), 3000);
  assert.equal(probePort({ kind: 'http', url: 'http://localhost/health' }), 80);
  assert.equal(probePort({ kind: 'http', url: 'https://localhost/health' }), 443);
  assert.equal(probePort({ kind: 'tcp', host: '127.0.0.1', port: 6379 }), 6379);
  assert.equal(probePort({ kind: 'exec', argv: ['true'] }), null);
});

test('listensIn: a LISTEN socket on the port, on any local address and in the IPv6 table; a connected one is not', () => {
  assert.equal(listensIn(TCP, 3000), true);
  assert.equal(listensIn(TCP, 8080), false, 'port 8080 (1F90) is only a connected socket in the IPv4 table');
  assert.equal(listensIn(TCP6, 8080), true);
  assert.equal(listensIn(TCP6, 3000), false);
  assert.equal(listensIn('', 3000), false);
});

test('listenTrigger: fires once per run when the port listens, again for the next run, never for an exec probe or without a pid', () => {
  const open = new Set<string>();
  const asked: string[] = [];
  const t = listenTrigger((pid, port) => { asked.push(`${pid}:${port}`); return open.has(`${pid}:${port}`); });
  const http = { kind: 'http' as const, url: 'http://127.0.0.1:3000/health' };
  assert.equal(t.fire('web', 'run-1', http, 41), false, 'not listening yet');
  open.add('41:3000');
  assert.equal(t.fire('web', 'run-1', http, 41), true, 'listens: the probe goes out');
  assert.equal(t.fire('web', 'run-1', http, 41), false, 'once per run');
  assert.equal(t.fire('web', 'run-2', http, 41), true, 'a restart fires again');
  assert.equal(t.fire('db', 'run-1', http, 41), true, 'each service on its own');
  t.forget('web');
  assert.equal(t.fire('web', 'run-2', http, 41), true, 'forgotten with the service');
  const before = asked.length;
  assert.equal(t.fire('x', 'r', { kind: 'exec', argv: ['true'] }, 41), false);
  assert.equal(t.fire('y', 'r', http, null), false);
  assert.equal(asked.length, before, 'no socket table read for an exec probe or a run without a pid');
});
