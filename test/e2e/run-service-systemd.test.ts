// The one-off suite (run-service.test.ts), unchanged, against the systemd backend: it runs INSIDE a real systemd 252
// booted with systemd-nspawn (test/helpers/nspawn.ts), where every `niso activate` makes a unit and every
// `niso run SERVICE -- CMD` a transient unit, as `niso run` of a package does there.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootMachine, type Machine } from '../helpers/nspawn.js';
import { REPO, suiteInside } from '../helpers/systemd-e2e.js';

const inside = process.env.NISO_E2E_BACKEND === 'systemd';

let m: Machine | null = null;

before(async () => {
  if (inside) return;
  // A network namespace of its own for the bridges, veths and nft tables the services and one-offs make.
  m = await bootMachine({ bindsRo: [REPO, '/etc/ssl'], privateNetwork: true });
});

after(async () => {
  if (m) await m.shutdown();
});

test('the one-off suite (run-service.test.ts) holds against the systemd backend (in a booted systemd 252)', { skip: inside && 'already inside the machine', timeout: 900_000 }, async () => {
  const { results, failed, skipped, code, stdout, stderr } = await suiteInside(m!, 'test/e2e/run-service.test.ts', 'one-offs', 840_000);
  assert.deepEqual(failed.map((x) => `${x.name}\n${x.detail}`), [], `failing cases on systemd:\n${stderr.slice(-3000)}`);
  assert.equal(code, 0, `the suite exited ${code}:\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
  // It really ran, every case of it, on systemd, and skipped none.
  assert.equal(results.length, 3, `${results.length} cases ran`);
  assert.deepEqual(skipped, []);
});
