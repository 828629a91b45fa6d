// The isolation conformance suite against the systemd backend: isolation.test.ts, unchanged, runs INSIDE a real
// systemd 252 booted with systemd-nspawn (test/helpers/nspawn.ts), where `niso run` becomes a transient unit with
// a service unit's sandbox. Every row of expectations.ts must hold there as on bubblewrap; the few rows where
// systemd 252 cannot do what bubblewrap does carry a `systemd` column with the reason (expectations.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootMachine, type Machine } from '../helpers/nspawn.js';
import { PROPERTIES } from './expectations.js';
import { REPO, skipReason } from './harness.js';
import { parseTap } from '../helpers/tap.js';

const skip = skipReason() || (process.env.NISO_CONFORMANCE_BACKEND === 'systemd' && 'already inside the machine');

let m: Machine | null = null;

before(async () => {
  if (skip) return;
  // The limit rows need the v1 memory/pids/cpu controllers writable inside (PLATFORM.md §4).
  // Its own network namespace: niso's bridge and nftables need a writable /proc/sys/net, which nspawn gives only then.
  m = await bootMachine({ bindsRo: [REPO, '/etc/ssl'], limits: true, privateNetwork: true });
  // A host address besides loopback (nspawn's private network has only lo), for the rows about reaching the host.
  for (const a of [['link', 'add', 'niso-host0', 'type', 'veth', 'peer', 'name', 'niso-host1'], ['link', 'set', 'niso-host1', 'up'], ['addr', 'add', '192.0.2.10/24', 'dev', 'niso-host0'], ['link', 'set', 'niso-host0', 'up']]) await m.ok('ip', a);
});

after(async () => {
  if (m) await m.shutdown();
});

test('the isolation conformance suite holds against the systemd backend (in a booted systemd 252)', { skip, timeout: 600_000 }, async () => {
  const t0 = performance.now();
  const r = await m!.run('sh', ['-c', `cd ${REPO} && exec env -u NODE_TEST_CONTEXT NISO_CONFORMANCE_BACKEND=systemd NODE_NO_WARNINGS=1 "$0" --import tsx --test --test-reporter=tap test/conformance/isolation.test.ts`, process.execPath], { timeoutMs: 540_000 });
  const results = parseTap(r.stdout);
  if (process.env.DEBUG_CONFORMANCE) for (const x of results.filter((y) => !y.ok)) console.log(`FAIL ${x.name}\n${x.detail.split('\n').filter((l) => !/^(duration_ms|location|failureType|code|name|operator|stack|Test\.|TestContext|process\.|async|judge)/.test(l)).slice(0, 14).join('\n')}`);
  const failed = results.filter((x) => !x.ok);
  const leaves = results.filter((x) => x.depth > 0);
  const skipped = results.filter((x) => x.skip !== null);
  console.log(`# systemd conformance: ${results.filter((x) => x.ok).length} passed, ${results.filter((x) => !x.ok).length} failed, ${skipped.length} skipped, ${leaves.length} rows judged, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  assert.deepEqual(failed.map((x) => `${x.name}\n${x.detail}`), [], `failing rows on systemd:\n${r.stderr.slice(-3000)}`);
  assert.equal(r.code, 0, `the suite exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  // It really ran: every profile judged its rows (a skipped suite would pass with none).
  assert.ok(leaves.length >= 300, `only ${leaves.length} rows were judged`);
  assert.deepEqual(skipped.filter((x) => !/file capabilities|no libc\.a/.test(x.skip ?? '')).map((x) => `${x.name}: ${x.skip}`), [], 'skips the host run does not have');
});

test('every systemd difference in the table gives its reason', () => {
  const differing = PROPERTIES.filter((p) => p.systemd !== undefined);
  for (const p of differing) assert.ok((p.systemd?.why ?? '').length > 20, `${p.probe}:${p.check} differs on systemd without a reason`);
  // A handful, not a second table: what systemd 252 cannot express (README, "Not expressible in systemd 252").
  assert.ok(differing.length <= 16, `${differing.length} rows differ on systemd`);
});
