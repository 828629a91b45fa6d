// The seed's stack on the systemd backend: stack.test.ts, unchanged, runs INSIDE a real systemd 252 booted with
// systemd-nspawn (the catalog's postgres packed on the host first: the machine has no network to fetch .debs). Then a
// reboot: the stack brought up in a machine whose units outlive it, a clean shutdown, a new machine from the same
// units and NISO_ROOT, and with no niso command the stack comes back in order: postgres first, the API only once
// postgres is healthy (niso-SERVICE-deps.service waited for it), both healthy, and the API answers with the row.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEB_CACHE } from '../helpers/catalog.js';
import type { Machine, MachineOptions } from '../helpers/nspawn.js';
import { BIN, REPO, SystemdE2E, sleep, suiteInside } from '../helpers/systemd-e2e.js';
import { stackToml, writeApi } from '../helpers/stack-app.js';

const inside = process.env.NISO_E2E_BACKEND === 'systemd';
const e2e = new SystemdE2E('stack');
let m: Machine | null = null;
let etc = '';
const machineOptions = (): MachineOptions => ({ privateNetwork: true, persistentEtc: etc });

before(async () => {
  if (inside) return;
  e2e.makeDir();
  etc = join(e2e.dir, 'etc');
  const r = spawnSync(process.execPath, [BIN, 'pack', join(REPO, 'catalog/postgres'), '-o', join(e2e.dir, 'postgres.niso'), '-q'], { cwd: e2e.dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: e2e.root, NISO_DEB_CACHE: DEB_CACHE }, timeout: 900_000 });
  assert.equal(r.status, 0, `niso pack catalog/postgres failed:\n${r.stderr}${r.stdout}`);
  m = await e2e.boot(machineOptions());
});

after(() => (inside ? undefined : e2e.cleanup()));

test('the stack suite (stack.test.ts) holds against the systemd backend (in a booted systemd 252)', { skip: inside && 'already inside the machine', timeout: 900_000 }, async () => {
  const { results, failed, skipped, code, stdout, stderr } = await suiteInside(m!, 'test/e2e/stack.test.ts', 'stack', 840_000, { NISO_E2E_CATALOG_PACKED: e2e.dir });
  assert.deepEqual(failed.map((x) => `${x.name}\n${x.detail}`), [], `failing cases on systemd:\n${stderr.slice(-3000)}`);
  assert.equal(code, 0, `the suite exited ${code}:\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
  assert.equal(results.length, 2, `${results.length} cases ran`);
  assert.deepEqual(skipped, []);
});

/** curl in the machine's own network namespace: the body of a 200, or null. */
async function get(url: string): Promise<string | null> {
  const r = await m!.run('curl', ['-s', '-m', '3', '-w', '\n%{http_code}', url]);
  const i = r.stdout.lastIndexOf('\n');
  return Number(r.stdout.slice(i + 1)) === 200 ? r.stdout.slice(0, i) : null;
}

async function answered(url: string, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const body = await get(url);
    if (body !== null) return body;
    if (Date.now() > end) throw new Error(`${url}: no answer within ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

test('reboot: the stack comes back by itself, postgres first and the API once postgres is healthy', { skip: inside && 'already inside the machine', timeout: 900_000 }, async () => {
  const stackDir = join(e2e.dir, 'reboot');
  writeApi(join(stackDir, 'api'), '1.0.0', true);
  // Its own stack name: the suite above ran in this machine, and a service's user (niso-STACK_SERVICE) is the machine's.
  writeFileSync(join(stackDir, 'stack.toml'), stackToml(18280, 'rebooted'));
  const run = (args: string[], timeoutMs = 600_000) => m!.run('sh', ['-c', `cd "$0" && exec env -u TERM NISO_ROOT=${e2e.root} "$@"`, stackDir, process.execPath, BIN, ...args], { timeoutMs });
  const okIn = async (args: string[]) => { const r = await run(args); assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`); return r.stdout; };
  await okIn(['install', join(e2e.dir, 'postgres.niso')]);
  await okIn(['stack', 'up']);
  assert.equal(JSON.parse(await answered('http://127.0.0.1:18280/', 60_000)).body, 'written through db by the api');
  // The units say the order: the API after postgres, and after its wait for postgres to be healthy.
  const unit = await m!.ok('cat', [join(etc, 'systemd/niso-rebooted.api.service')]);
  assert.match(unit, /^After=niso-rebooted\.db\.service$/m);
  assert.match(unit, /^Wants=niso-rebooted\.db\.service$/m);
  assert.match(unit, /^Requires=niso-rebooted\.api-deps\.service$/m);
  assert.doesNotMatch(unit, /^(Requires|BindsTo)=niso-rebooted\.db\.service/m);

  const down = await m!.shutdown();
  assert.ok(down.clean, `clean shutdown:\n${down.log}`);
  m = e2e.m = null;
  m = await e2e.boot(machineOptions());
  // No niso command: systemd starts the units, in order.
  assert.equal(JSON.parse(await answered('http://127.0.0.1:18280/', 300_000)).body, 'written through db by the api');
  const mono = async (unitName: string, p: string) => Number(await m!.show(unitName, p));
  const dbUp = await mono('niso-rebooted.db.service', 'ActiveEnterTimestampMonotonic');
  const waited = await mono('niso-rebooted.api-deps.service', 'ExecMainExitTimestampMonotonic');
  const apiStart = await mono('niso-rebooted.api.service', 'ExecMainStartTimestampMonotonic');
  assert.ok(dbUp > 0 && dbUp < waited && waited <= apiStart, `db active at ${dbUp}, its health waited for until ${waited}, api started at ${apiStart}`);
  assert.equal(await m.show('niso-rebooted.api-deps.service', 'Result'), 'success');
  // niso agrees: both healthy (the health check of the API may take its first interval).
  let st: { services: { service: string; state: string; health: string | null }[] } = { services: [] };
  for (let i = 0; i < 240; i++) {
    const r = await run(['stack', 'status', '--json']);
    st = JSON.parse(r.stdout) as typeof st;
    if (st.services.every((s) => s.health === 'healthy')) break;
    await sleep(250);
  }
  assert.deepEqual(st.services.map((s) => [s.service, s.state, s.health]), [['api', 'active', 'healthy'], ['db', 'active', 'healthy']]);
  await okIn(['stack', 'down']);
});
