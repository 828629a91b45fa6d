// The embedded backend's service suite (services.test.ts), unchanged, against the systemd backend: it runs INSIDE a
// real systemd 252 booted with systemd-nspawn (test/helpers/nspawn.ts), where systemd is PID 1 and so every
// `niso activate` makes a unit. The cases are written once; where systemd does a thing its own way (who restarts,
// where the cgroup is, what keeps the logs), services.test.ts asks `BACKEND` and checks that backend's way.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootMachine, repoBinds, type Machine } from '../helpers/nspawn.js';
import { parseTap } from '../helpers/tap.js';
import { REPO } from '../helpers/systemd-e2e.js';

const inside = process.env.NISO_E2E_BACKEND === 'systemd';
// services.test.ts skips this one case on systemd, with this reason.
const BOOT_SKIP = "niso boot is the embedded backend's boot; systemd boots its units itself (systemd-network.test.ts reboots a machine)";

let m: Machine | null = null;

before(async () => {
  if (inside) return;
  // Limits for stats/top and the cgroup checks; a network namespace of its own for bridges, veths and nft.
  m = await bootMachine({ bindsRo: [...repoBinds(REPO), '/etc/ssl'], limits: true, privateNetwork: true });
});

after(async () => {
  if (m) await m.shutdown();
});

test('the service suite (services.test.ts) holds against the systemd backend (in a booted systemd 252)', { skip: inside && 'already inside the machine', timeout: 900_000 }, async () => {
  const t0 = performance.now();
  const r = await m!.run('sh', ['-c', `cd ${REPO} && exec env -u NODE_TEST_CONTEXT NISO_E2E_BACKEND=systemd NODE_NO_WARNINGS=1 "$0" --import tsx --test --test-reporter=tap test/e2e/services.test.ts`, process.execPath], { timeoutMs: 840_000 });
  const results = parseTap(r.stdout);
  const failed = results.filter((x) => !x.ok);
  const skipped = results.filter((x) => x.skip !== null);
  // Each failure's own message, short: the assertion below shows only the start of a long diff.
  for (const x of failed) console.log(`# FAIL ${x.name}\n${x.detail.split('\n').filter((l) => !/^(duration_ms|location|failureType|code|name|operator|stack|Test\.|TestContext|process\.|async|expected|actual|generatedMessage)/.test(l)).slice(0, 12).map((l) => `#   ${l}`).join('\n')}`);
  console.log(`# systemd services: ${results.length - failed.length} passed, ${failed.length} failed, ${skipped.length} skipped, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  assert.deepEqual(failed.map((x) => `${x.name}\n${x.detail}`), [], `failing cases on systemd:\n${r.stderr.slice(-3000)}`);
  assert.equal(r.code, 0, `the suite exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  // It really ran, every case of it, on systemd.
  assert.ok(results.length >= 13, `only ${results.length} cases ran`);
  // The one case that is the embedded backend's alone (niso boot), skipped with its reason; nothing else.
  assert.deepEqual(skipped.map((x) => `${x.name}: ${x.skip}`), [`boot: after a "reboot" (every process gone) niso boot starts what should run, and not what was stopped: ${BOOT_SKIP}`]);
});
