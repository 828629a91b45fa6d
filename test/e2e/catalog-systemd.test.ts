// The catalog's databases on the systemd backend: catalog-postgres.test.ts and catalog-mariadb.test.ts, unchanged, run
// INSIDE a real systemd 252 booted with systemd-nspawn, where each server is a unit and its [init] step (initdb,
// mariadb-install-db on a fresh volume) is niso-NAME-init.service, decided by niso-NAME-init-check.service. Both bring
// their own /usr (Debian's packages), so nothing of the host's is in their root: this is where an init step's
// condition run inside the unit's root (ExecCondition=, which systemd 252 runs under RootDirectory=) found no niso
// and skipped the step at every start. The packages are packed on the host first (their .debs from the host's
// cache): the machine has no network.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DEB_CACHE } from '../helpers/catalog.js';
import type { Machine } from '../helpers/nspawn.js';
import { BIN, REPO, SystemdE2E, suiteInside } from '../helpers/systemd-e2e.js';

const inside = process.env.NISO_E2E_BACKEND === 'systemd';
const e2e = new SystemdE2E('catalog');
const RECIPES = ['postgres', 'mariadb'];
let m: Machine | null = null;

before(async () => {
  if (inside) return;
  e2e.makeDir();
  for (const name of RECIPES) {
    const r = spawnSync(process.execPath, [BIN, 'pack', join(REPO, 'catalog', name), '-o', join(e2e.dir, `${name}.niso`), '-q'], { cwd: e2e.dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: e2e.root, NISO_DEB_CACHE: DEB_CACHE }, timeout: 900_000 });
    assert.equal(r.status, 0, `niso pack catalog/${name} failed:\n${r.stderr}${r.stdout}`);
  }
  m = await e2e.boot({ privateNetwork: true });
});

after(() => (inside ? undefined : e2e.cleanup()));

for (const name of RECIPES) {
  test(`the catalog ${name} suite (catalog-${name}.test.ts) holds against the systemd backend (in a booted systemd 252)`, { skip: inside && 'already inside the machine', timeout: 900_000 }, async () => {
    const { results, failed, skipped, code, stdout, stderr } = await suiteInside(m!, `test/e2e/catalog-${name}.test.ts`, `catalog ${name}`, 840_000, { NISO_E2E_CATALOG_PACKED: e2e.dir });
    assert.deepEqual(failed.map((x) => `${x.name}\n${x.detail}`), [], `failing cases on systemd:\n${stderr.slice(-3000)}`);
    assert.equal(code, 0, `the suite exited ${code}:\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
    assert.equal(results.length, 1, `${results.length} cases ran`);
    assert.deepEqual(skipped, []);
  });
}
