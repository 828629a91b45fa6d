// The embedded backend's service suite (services.test.ts), unchanged, against the systemd backend: it runs INSIDE a
// real systemd 252 booted with systemd-nspawn (test/helpers/nspawn.ts), where systemd is PID 1 and so every
// `niso activate` makes a unit. The cases are written once; where systemd does a thing its own way (who restarts,
// where the cgroup is, what keeps the logs), services.test.ts asks `BACKEND` and checks that backend's way.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootMachine, type Machine } from '../helpers/nspawn.js';
import { REPO, suiteInside } from '../helpers/systemd-e2e.js';

const inside = process.env.NISO_E2E_BACKEND === 'systemd';
// services.test.ts skips this one case on systemd, with this reason.
const BOOT_SKIP = "niso boot is the embedded backend's boot; systemd boots its units itself (systemd-network.test.ts reboots a machine)";

let m: Machine | null = null;

before(async () => {
  if (inside) return;
  // Limits for stats/top and the cgroup checks; a network namespace of its own for bridges, veths and nft.
  m = await bootMachine({ bindsRo: [REPO, '/etc/ssl'], limits: true, privateNetwork: true });
});

after(async () => {
  if (m) await m.shutdown();
});

test('the service suite (services.test.ts) holds against the systemd backend (in a booted systemd 252)', { skip: inside && 'already inside the machine', timeout: 900_000 }, async () => {
  const { results, failed, skipped, code, stdout, stderr } = await suiteInside(m!, 'test/e2e/services.test.ts', 'services', 840_000);
  assert.deepEqual(failed.map((x) => `${x.name}\n${x.detail}`), [], `failing cases on systemd:\n${stderr.slice(-3000)}`);
  assert.equal(code, 0, `the suite exited ${code}:\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
  // It really ran, every case of it, on systemd.
  assert.ok(results.length >= 13, `only ${results.length} cases ran`);
  // The one case that is the embedded backend's alone (niso boot), skipped with its reason; nothing else.
  assert.deepEqual(skipped.map((x) => `${x.name}: ${x.skip}`), [`boot: after a "reboot" (every process gone) niso boot starts what should run, and not what was stopped: ${BOOT_SKIP}`]);
});
