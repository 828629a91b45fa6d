// The embedded backend's service suite (services-suite.ts, which services-1..3.test.ts run on the host), unchanged, against the systemd backend: it runs INSIDE a
// real systemd 252 booted with systemd-nspawn (test/helpers/nspawn.ts), where systemd is PID 1 and so every
// `niso activate` makes a unit. The cases are written once; where systemd does a thing its own way (who restarts,
// where the cgroup is, what keeps the logs), services-suite.ts asks `BACKEND` and checks that backend's way.
// The suite is split between two machines that run at once (NISO_E2E_SHARD: each takes every other case, in turn),
// since its cases mostly wait (restart delays, health intervals, stop timeouts); each machine runs its cases one by one,
// as a single machine ran them all.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootMachine, type Machine } from '../helpers/nspawn.js';
import { REPO, suiteInside } from '../helpers/systemd-e2e.js';

const inside = process.env.NISO_E2E_BACKEND === 'systemd';
// services-suite.ts skips this one case on systemd, with this reason.
const BOOT_SKIP = "niso boot is the embedded backend's boot; systemd boots its units itself (systemd-network.test.ts reboots a machine)";
const SHARDS = 2;

const machines: Machine[] = [];

before(async () => {
  if (inside) return;
  // Limits for stats/top and the cgroup checks; a network namespace of its own for bridges, veths and nft.
  const booted = await Promise.allSettled(Array.from({ length: SHARDS }, () => bootMachine({ bindsRo: [REPO, '/etc/ssl'], limits: true, privateNetwork: true })));
  for (const b of booted) if (b.status === 'fulfilled') machines.push(b.value);
  const failed = booted.find((b) => b.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
});

after(async () => {
  await Promise.all(machines.map((m) => m.shutdown()));
});

// Each machine's half took 840 s in a whole run on a loaded machine (three files at a time and more beside them): the
// bound is against a hang, not a measure, so it leaves room for load.
test('the service suite (services-suite.ts) holds against the systemd backend (in a booted systemd 252)', { skip: inside && 'already inside the machine', timeout: 1_500_000 }, async () => {
  const runs = await Promise.all(machines.map((m, i) => suiteInside(m, 'test/e2e/services-suite.ts', `services ${i + 1}/${SHARDS}`, 1_440_000, { NISO_E2E_SHARD: `${i + 1}/${SHARDS}` })));
  assert.equal(runs.length, SHARDS);
  for (const { failed, code, stdout, stderr } of runs) {
    assert.deepEqual(failed.map((x) => `${x.name}\n${x.detail}`), [], `failing cases on systemd:\n${stderr.slice(-3000)}`);
    assert.equal(code, 0, `the suite exited ${code}:\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
  }
  const results = runs.flatMap((r) => r.results);
  const skipped = runs.flatMap((r) => r.skipped);
  // It really ran, every case of it, on systemd: each machine its share, and no case twice.
  for (const r of runs) assert.ok(r.results.length >= 6, `only ${r.results.length} cases ran in one machine`);
  assert.ok(results.length >= 13, `only ${results.length} cases ran`);
  assert.equal(new Set(results.map((x) => x.name)).size, results.length, 'no case ran in both machines');
  // The one case that is the embedded backend's alone (niso boot), skipped with its reason; nothing else.
  assert.deepEqual(skipped.map((x) => `${x.name}: ${x.skip}`), [`boot: after a "reboot" (every process gone) niso boot starts what should run, and not what was stopped: ${BOOT_SKIP}`]);
});
