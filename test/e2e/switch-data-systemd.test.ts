// The data-across-generations suite (switch-data.test.ts), unchanged, against the systemd backend inside a booted
// systemd 252 (test/helpers/nspawn.ts): snapshots before an upgrade, rollback with and without --with-data, and the
// SIGKILL inside a restore and after the old version ran on the restored data, each service a unit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootMachine, type Machine } from '../helpers/nspawn.js';
import { REPO, suiteInside } from '../helpers/systemd-e2e.js';

const inside = process.env.NISO_E2E_BACKEND === 'systemd';
let m: Machine | null = null;

before(async () => {
  if (inside) return;
  m = await bootMachine({ bindsRo: [REPO, '/etc/ssl'], limits: true, privateNetwork: true });
});

after(async () => {
  if (m) await m.shutdown();
});

test('the data suite (switch-data.test.ts) holds against the systemd backend (in a booted systemd 252)', { skip: inside && 'already inside the machine', timeout: 1_500_000 }, async () => {
  const { results, failed, skipped, code, stdout, stderr } = await suiteInside(m!, 'test/e2e/switch-data.test.ts', 'switch-data', 1_440_000);
  assert.deepEqual(failed.map((x) => `${x.name}\n${x.detail}`), [], `failing cases on systemd:\n${stderr.slice(-3000)}`);
  assert.equal(code, 0, `the suite exited ${code}:\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
  assert.equal(results.length, 4, `${results.length} cases ran`);
  assert.deepEqual(skipped, []);
});
