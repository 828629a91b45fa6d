// The sandbox's own suites, unchanged, against the systemd backend: INSIDE a real systemd 252 booted with
// systemd-nspawn, where `niso run` and `niso exec` are transient units and `niso activate` makes a unit.
// secrets.test.ts: there the scan as nobody also reads the unit files, the transient units systemd keeps in
// /run/systemd/transient, and what `systemctl show` tells any user about each niso unit.
// weakenings.test.ts: the refusals and confirmations of a manifest's weakenings, and a capability that systemd grants.
// secret-files.test.ts: `niso secret` and secrets as files, which a unit loads as credentials (LoadCredential=).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootMachine, type Machine } from '../helpers/nspawn.js';
import { REPO, suiteInside, type InsideRun } from '../helpers/systemd-e2e.js';

const inside = process.env.NISO_E2E_BACKEND === 'systemd';

// secret-files.test.ts skips its case of the store alone there, with this reason.
const SKIPPED: Record<string, string[]> = {
  'secret-files': ['niso secret: create from a file or stdin, list and inspect metadata only; the store is root\'s alone; hostile input is refused with a code: the store and its refusals are the same on both backends; only what a sandbox gets differs'],
};
const SUITES = [['secrets', 4], ['weakenings', 5], ['secret-files', 3]] as const;

// Each suite in a machine of its own, all three at once: they mostly wait on systemd, and a machine each keeps them
// as apart as when one machine ran them one after the other.
const machines: Machine[] = [];
const runs = new Map<string, Promise<InsideRun>>();

before(() => {
  if (inside) return;
  for (const [suite] of SUITES) {
    const run = (async () => {
      const m = await bootMachine({ bindsRo: [REPO, '/etc/ssl'] });
      machines.push(m);
      return suiteInside(m, `test/e2e/${suite}.test.ts`, suite, 540_000);
    })();
    // Awaited by the suite's own test; until then a failure is not an unhandled rejection.
    run.catch(() => undefined);
    runs.set(suite, run);
  }
});

after(async () => {
  // The machines first: a suite cut short by its timeout may still run inside one (and hold its output pipe).
  await Promise.all(machines.map((m) => m.shutdown()));
  await Promise.allSettled(runs.values());
});

for (const [suite, cases] of SUITES) {
  test(`the ${suite} suite (${suite}.test.ts) holds against the systemd backend (in a booted systemd 252)`, { skip: inside && 'already inside the machine', timeout: 600_000 }, async () => {
    const { results, failed, skipped, code, stdout, stderr } = await runs.get(suite)!;
    assert.deepEqual(failed.map((x) => `${x.name}\n${x.detail}`), [], `failing cases on systemd:\n${stderr.slice(-3000)}`);
    assert.equal(code, 0, `the suite exited ${code}:\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
    assert.ok(results.length >= cases, `only ${results.length} cases ran`);
    assert.deepEqual(skipped.map((x) => `${x.name}: ${x.skip}`), SKIPPED[suite] ?? []);
  });
}
