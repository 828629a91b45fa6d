// A power cut in the middle of a switch on systemd (issue 14): inside a booted systemd 252, an upgrade is SIGKILLed
// after its journal line "step done" (the new version's unit enabled and running, nothing committed), then every
// process of the machine is SIGKILLed at once. A new machine boots from the same units and NISO_ROOT; with no niso
// command, niso-recover.service (render/systemd-recover.ts) settles the switch from its journal: exactly the old
// generation runs again (its version answers, its unit is the old one), the interrupted one is listed failed, and the
// journal is retired.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Machine, MachineOptions } from '../helpers/nspawn.js';
import { BIN, SystemdE2E, sleep } from '../helpers/systemd-e2e.js';
import { NODE_MANIFEST, writeTree } from '../helpers/tmp.js';

const e2e = new SystemdE2E('switch-reboot');
let m: Machine | null = null;
let etc = '';
const PORT = 18310;
const machineOptions = (): MachineOptions => ({ privateNetwork: true, persistentEtc: etc });

const MAIN = (version: string) => `require('http').createServer((q, s) => s.end('version ${version}')).listen(3000, '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
`;

before(async () => {
  e2e.makeDir();
  etc = join(e2e.dir, 'etc');
  for (const v of ['1.0.0', '2.0.0']) {
    await writeTree(join(e2e.dir, `app-${v}`), { 'manifest.toml': NODE_MANIFEST('app', v, 'stop_timeout = "2s"\n', ['main.js']), 'main.js': MAIN(v) });
    e2e.hostNiso(['pack', `app-${v}`, '-o', `app-${v}.niso`, '-q']);
    e2e.hostNiso(['install', `app-${v}.niso`]);
  }
  m = await e2e.boot(machineOptions());
});

after(() => e2e.cleanup());

/** niso in the machine, with extra environment. */
const nisoIn = (args: string[], env: string[] = []) => m!.run('env', ['-u', 'TERM', `NISO_ROOT=${e2e.root}`, ...env, process.execPath, BIN, ...args], { timeoutMs: 120_000 });
const okIn = async (args: string[]) => { const r = await nisoIn(args); assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`); return r.stdout; };

/** The body curl gets from the app inside the machine's network, or null. */
async function get(): Promise<string | null> {
  const r = await m!.run('curl', ['-s', '-m', '3', `http://127.0.0.1:${PORT}/`]);
  return r.code === 0 && r.stdout !== '' ? r.stdout : null;
}

async function answers(version: string, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: string | null = null;
  while (Date.now() < end) {
    last = await get();
    if (last === `version ${version}`) return;
    await sleep(250);
  }
  throw new Error(`no "version ${version}" within ${timeoutMs / 1000} s (last answer: ${last})`);
}

/** What the machine says of the recovery and the app, for a failure's message. */
async function diagnose(): Promise<string> {
  const out: string[] = [];
  for (const [what, p] of [
    ['journal (niso units)', m!.journalctl('-b', '-o', 'short-monotonic', '-u', 'niso-recover.service', '-u', 'niso-app.service', '-u', 'niso-app-net.service', '-u', 'niso-app-exit@*')],
    ['status', m!.systemctl('status', '--no-pager', '-l', 'niso-recover.service', 'niso-app.service')],
    ['jobs', m!.systemctl('list-jobs', '--no-pager')],
  ] as const) { const r = await p; out.push(`--- ${what}:\n${r.stdout}${r.stderr}`); }
  return out.join('\n');
}

interface Gen { number: number; status: string; reason?: string | null }

test('power cut in the middle of an upgrade: at the next boot niso-recover.service brings back exactly the old generation, with no niso command', { timeout: 900_000 }, async () => {
  await okIn(['activate', 'app:1.0.0', '--name', 'app', '-p', `127.0.0.1:${PORT}:3000`, '--settle', '1s']);
  await answers('1.0.0');
  const before = (JSON.parse(await okIn(['generation', 'list', '--json'])) as Gen[]).length;

  // The upgrade dies right after its step (the new version runs; the switch is neither committed nor undone).
  const cut = await nisoIn(['activate', 'app:2.0.0', '--name', 'app', '-p', `127.0.0.1:${PORT}:3000`, '--settle', '1s'], ['NISO_TEST_CRASH_AT=switch:step:0:done']);
  assert.ok(cut.signal === 'SIGKILL' || cut.code === 137, `the switch was SIGKILLed at its step (code ${cut.code}, signal ${cut.signal}):\n${cut.stderr}${cut.stdout}`);
  await answers('2.0.0');
  assert.ok(existsSync(join(e2e.root, 'var/lib/niso/generations/journal.jsonl')), 'the journal of the interrupted switch is on the disk');
  assert.equal(await m!.show('niso-recover.service', 'UnitFileState'), 'enabled');

  const down = await m!.shutdown(30_000, { powerLoss: true });
  assert.equal(down.clean, false);
  m = e2e.m = null;
  m = await e2e.boot(machineOptions());

  // No niso command: the recovery unit runs at boot and puts the old version back.
  try { await answers('1.0.0'); } catch (e) { throw new Error(`${(e as Error).message}\n${await diagnose()}`, { cause: e }); }
  const journal = join(e2e.root, 'var/lib/niso/generations/journal.jsonl');
  for (let i = 0; i < 240 && existsSync(journal); i++) await sleep(250);
  assert.equal(await m.show('niso-recover.service', 'Result'), 'success');
  const said = await m.ok('journalctl', ['--no-pager', '-o', 'cat', '-u', 'niso-recover.service']);
  assert.match(said, /the interrupted switch to generation \d+ was undone: generation \d+ runs again \(replace app\)/);
  // It ran once the boot had started what was enabled at the cut (the new version), not beside that start: a service
  // whose start was still queued looked stopped to it, and it once left the new version running under the old unit.
  const boot = (await m.ok('journalctl', ['--no-pager', '-b', '-o', 'cat', '_PID=1'])).split('\n');
  const at = (re: RegExp) => boot.findIndex((l) => re.test(l));
  assert.ok(at(/^Started niso-app\.service .*app@2\.0\.0/) !== -1 && at(/^Started niso-app\.service .*app@2\.0\.0/) < at(/^Starting niso-recover\.service/), boot.join('\n'));
  assert.equal(at(/ordering cycle/i), -1, 'no ordering cycle at boot');
  const st = JSON.parse(await okIn(['status', 'app', '--json'])) as { package: { version: string }; state: string };
  assert.equal(st.package.version, '1.0.0');
  const gens = JSON.parse(await okIn(['generation', 'list', '--json'])) as Gen[];
  assert.equal(gens.length, before + 1, 'the interrupted switch is listed');
  assert.equal(gens.at(-1)!.status, 'failed');
  assert.match(gens.at(-1)!.reason ?? '', /interrupted/);
  assert.equal(gens.find((g) => g.number === before)!.status, 'good');
  assert.ok(!existsSync(join(e2e.root, 'var/lib/niso/generations/journal.jsonl')), 'the journal is retired');
  // Its unit is the old version's again.
  assert.match(await m.show('niso-app.service', 'Description'), /app@1\.0\.0/);
  await okIn(['deactivate', 'app']);
  assert.equal(await get(), null);
});
