// `niso generation list|diff|gc|rm` through the built CLI: adoption of services activated for real (on a host whose
// generations are gone, as before generations existed), diffs of
// generations made through the store's API (env values never shown), GC roots (a package that a retained generation
// names survives `niso gc` and is refused by `niso remove` until retention lets the generation go), and damaged
// files reported with their name and code, never a stack trace.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentOf } from '../../src/generation/hash.js';
import { createGeneration, generationPaths, setCurrent, type Actor } from '../../src/generation/store.js';
import type { GenerationMeta, GenerationService } from '../../src/generation/types.js';
import { NODE_MANIFEST, removeServicesAndTestDir, writeTree } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const dir = mkdtempSync(join(tmpdir(), 'niso-generations-'));
chmodSync(dir, 0o755);
// Only the adoption case runs services (in its own root); the others' roots go with the directory.
const ADOPT_ROOT = join(dir, 'adopt');
after(() => removeServicesAndTestDir(dir, ADOPT_ROOT, (args) => run(ADOPT_ROOT, args)));

function run(root: string, args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root, USER: 'root', SUDO_USER: 'ana' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function ok(root: string, args: string[]): string {
  const r = run(root, args);
  assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}
function fails(root: string, args: string[], code: string, exit = 1): string {
  const r = run(root, args);
  assert.equal(r.code, exit, `niso ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, new RegExp(`error ${code}: `));
  assert.ok(!/internal error|\n {4}at /.test(r.stderr), `a stack trace:\n${r.stderr}`);
  return r.stderr;
}

const MAIN = `console.log('up'); process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000);\n`;
let packed: { v1: string; v2: string; fix: string } | null = null;
/** app 1.0.0 and 2.0.0, and another build of 1.0.0, packed once. */
async function packages(): Promise<{ v1: string; v2: string; fix: string }> {
  if (packed) return packed;
  const pack = async (version: string, extra: string, out: string) => {
    await writeTree(join(dir, `src-${out}`), { 'manifest.toml': NODE_MANIFEST('app', version, 'stop_timeout = "2s"\n[network]\nmode = "none"\n', ['main.js']), 'main.js': MAIN + extra });
    ok(join(dir, 'unused'), ['pack', join(dir, `src-${out}`), '-o', join(dir, `${out}.niso`), '-q']);
    return join(dir, `${out}.niso`);
  };
  packed = { v1: await pack('1.0.0', '', 'v1'), v2: await pack('2.0.0', '', 'v2'), fix: await pack('1.0.0', '// fixed\n', 'fix') };
  return packed;
}

const newRoot = (name: string) => join(dir, name);

const ACTOR: Actor = { uid: 0, user: 'root', sudoUser: 'ana', ssh: '203.0.113.7 51234 22' };
const installed = (root: string) => (JSON.parse(ok(root, ['list', '--json'])) as { name: string; version: string; digest: string }[]);
const digestOf = (root: string, version: string) => installed(root).find((p) => p.version === version)!.digest;
const entry = (name: string, digest: string, version: string, env: Record<string, string>, active = true): GenerationService => ({
  name, package: { name: 'app', version, digest }, options: { env, network: 'none' }, backend: 'embedded', logs: { maxBytes: 1 << 20, files: 3 }, active,
});
const listJson = (root: string) => JSON.parse(ok(root, ['generation', 'list', '--json'])) as (GenerationMeta & { current: boolean })[];

test('adoption: services activated for real become generation 1 at the first listing, good and current', async () => {
  const { v1 } = await packages();
  const root = newRoot('adopt');
  ok(root, ['install', v1]);
  ok(root, ['activate', 'app', '--name', 'web', '--env', 'TOKEN=s3cret-web']);
  ok(root, ['activate', 'app', '--name', 'worker']);
  ok(root, ['deactivate', 'worker']);
  // Each of those was a switch; a host from before generations has the services and no generations at all.
  assert.deepEqual(listJson(root).map((g) => [g.number, g.status]), [[1, 'good'], [2, 'good'], [3, 'good']]);
  rmSync(generationPaths(root).dir, { recursive: true });
  const gens = listJson(root);
  assert.equal(gens.length, 1);
  const g = gens[0]!;
  assert.equal(g.number, 1);
  assert.equal(g.status, 'good');
  assert.equal(g.current, true);
  assert.deepEqual(g.command, ['adopted']);
  assert.deepEqual(g.actor, { uid: 0, user: 'root', sudoUser: 'ana', ssh: null });
  assert.deepEqual(g.summary, ['web: added', 'worker: added (inactive)']);
  const content = JSON.parse(readFileSync(generationPaths(root).object(g.hash), 'utf8')) as { services: GenerationService[] };
  assert.deepEqual(content.services.map((s) => [s.name, s.active, s.package.version]), [['web', true, '1.0.0'], ['worker', false, '1.0.0']]);
  // The table, and a second listing adopts nothing more.
  const table = ok(root, ['gen', 'ls']);
  assert.match(table, /^GEN\s+CREATED\s+STATUS\s+CURRENT\s+BY\s+SUMMARY\n1\s+\d+ seconds? ago\s+good\s+\*\s+ana \(sudo\)\s+web: added; worker: added \(inactive\)\n$/);
  assert.equal(listJson(root).length, 1);
  // Diffing the current generation with itself changes nothing.
  assert.equal(ok(root, ['generation', 'diff', 'current', '1']), 'generation 1 → 1: the same services\n  unchanged: web, worker\n');
  ok(root, ['deactivate', 'web']);
});

test('diff: what a switch from A to B would do, env names but never values; --json redacts them', async () => {
  const { v1, v2 } = await packages();
  const root = newRoot('diff');
  ok(root, ['install', v1]);
  ok(root, ['install', v2]);
  const d1 = digestOf(root, '1.0.0');
  const d2 = digestOf(root, '2.0.0');
  const base = { command: ['activate', 'app'], actor: ACTOR, summary: [] };
  createGeneration(root, contentOf([entry('api', d1, '1.0.0', { FOO: 'value-one' }), entry('db', d1, '1.0.0', {}), entry('old', d1, '1.0.0', {})]), { ...base, parent: null, status: 'good' });
  createGeneration(root, contentOf([entry('api', d2, '2.0.0', { FOO: 'value-two', BAR: 'value-three' }), entry('db', d1, '1.0.0', {}), entry('new', d1, '1.0.0', {}, false)]), { ...base, parent: 1, status: 'good' });
  setCurrent(root, 2);
  const out = ok(root, ['generation', 'diff', '1', 'current']);
  assert.equal(out, [
    'generation 1 → 2',
    '  remove old (app 1.0.0)',
    '  replace api (package 1.0.0 → 2.0.0, options.env: +BAR FOO)',
    '  add new (app 1.0.0, inactive: not started)',
    '  unchanged: db',
    '',
  ].join('\n'));
  const json = ok(root, ['generation', 'diff', '1', '2', '--json']);
  assert.ok(!json.includes('value-'), json);
  const parsed = JSON.parse(json) as { from: { number: number }; to: { number: number }; actions: { kind: string; service: string; changed: string[]; to: GenerationService | null }[] };
  assert.deepEqual([parsed.from.number, parsed.to.number], [1, 2]);
  assert.deepEqual(parsed.actions.map((a) => `${a.kind} ${a.service} ${a.changed.join(',')}`), ['remove old ', 'replace api package,options.env', 'add new ', 'keep db ']);
  assert.deepEqual(parsed.actions[1]!.to!.options.env, { BAR: '<hidden>', FOO: '<hidden>' });
  // The way back is the same actions reversed.
  assert.match(ok(root, ['generation', 'diff', '2', '1']), /replace api \(package 2\.0\.0 → 1\.0\.0, options\.env: -BAR FOO\)/);
  fails(root, ['generation', 'diff', '1', '9'], 'NISO6005');
  fails(root, ['generation', 'diff', '1', 'latest'], 'NISO6006', 2);
  // The list shows who made each and which is current.
  const table = ok(root, ['generation', 'list']);
  assert.match(table, /\n1\s+\d+ seconds? ago\s+good\s+ana \(sudo\) from 203\.0\.113\.7\s+-\n2\s+\d+ seconds? ago\s+good\s+\*\s+ana/);
});

test('GC roots: gc keeps the packages retained generations name, remove refuses them until retention lets go', async () => {
  const { v1, v2, fix } = await packages();
  const root = newRoot('gcroots');
  ok(root, ['install', v1]);
  ok(root, ['install', v2]);
  const d1 = digestOf(root, '1.0.0');
  const d2 = digestOf(root, '2.0.0');
  const base = { command: ['activate', 'app'], actor: ACTOR, summary: [] };
  const old = new Date(Date.now() - 30 * 86_400_000);
  createGeneration(root, contentOf([entry('web', d1, '1.0.0', {})]), { ...base, parent: null, status: 'good', now: old });
  createGeneration(root, contentOf([entry('web', d2, '2.0.0', {})]), { ...base, parent: 1, status: 'good', now: old });
  setCurrent(root, 2);
  // No service uses either package: only the generations hold them.
  const gc = JSON.parse(ok(root, ['gc', '--json'])) as { generations: { removed: number[] } };
  assert.deepEqual(gc.generations.removed, []);
  assert.deepEqual(installed(root).map((p) => p.version).sort(), ['1.0.0', '2.0.0']);
  const refused = fails(root, ['remove', 'app:1.0.0'], 'NISO6007');
  assert.match(refused, /app 1\.0\.0 is kept for generation 1: a rollback to it needs this build/);
  fails(root, ['remove', 'app:2.0.0'], 'NISO6007');
  // --replace of another build of 1.0.0 keeps the one generation 1 names.
  const replaced = ok(root, ['install', '--replace', fix]);
  assert.match(replaced, /the earlier build sha256:[0-9a-f]+ of app 1\.0\.0 stays for generation 1 \(a rollback needs it\)/);
  assert.ok(installed(root).some((p) => p.digest === d1));

  // Retention of the newest one only, and nothing by age: gc lets generation 1 go, and with it the GC root.
  mkdirSync(join(root, 'etc/niso'), { recursive: true });
  writeFileSync(join(root, 'etc/niso/config.toml'), '[generations]\nkeep_last = 1\nkeep_days = 0\n');
  assert.match(ok(root, ['gc', '--dry-run']), /would remove generation 1, which retention no longer keeps/);
  assert.equal(listJson(root).length, 2);
  assert.match(ok(root, ['gc']), /removed generation 1, which retention no longer keeps/);
  assert.deepEqual(listJson(root).map((g) => g.number), [2]);
  assert.match(ok(root, ['remove', d1]), /removed app 1\.0\.0/);
  fails(root, ['remove', 'app:2.0.0'], 'NISO6007');
  // A bad [generations] table is the config's error, with its place.
  writeFileSync(join(root, 'etc/niso/config.toml'), '[generations]\nkeep_last = 0\n');
  const bad = run(root, ['generation', 'gc']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /config\.toml:2/);
});

test('generation rm forgets a generation (not the current or the newest); generation gc keeps what retention keeps', async () => {
  const { v1 } = await packages();
  const root = newRoot('rm');
  ok(root, ['install', v1]);
  const d1 = digestOf(root, '1.0.0');
  const base = { command: ['activate', 'app'], actor: ACTOR, summary: [], parent: null, status: 'good' as const };
  for (const env of [{ A: '1' }, { A: '2' }, { A: '3' }]) createGeneration(root, contentOf([entry('web', d1, '1.0.0', env)]), base);
  setCurrent(root, 2);
  assert.equal(ok(root, ['generation', 'gc']), 'no generation to remove: retention keeps every one (the current one, the newest, those younger than the bound)\n');
  fails(root, ['generation', 'rm', 'current'], 'NISO6008');
  fails(root, ['generation', 'rm', '3'], 'NISO6008');
  const hash1 = (JSON.parse(readFileSync(generationPaths(root).meta(1), 'utf8')) as GenerationMeta).hash;
  assert.deepEqual(JSON.parse(ok(root, ['generation', 'rm', '1', '--json'])), { removed: [1], objects: [hash1], configs: [], leftovers: [], dryRun: false });
  assert.deepEqual(listJson(root).map((g) => [g.number, g.current]), [[2, true], [3, false]]);
  fails(root, ['generation', 'rm', '1'], 'NISO6005');
});

test('damaged generation files: named, with their code, no stack trace', async () => {
  const root = newRoot('damaged');
  const base = { command: ['activate', 'app'], actor: ACTOR, summary: [], parent: null, status: 'good' as const };
  createGeneration(root, contentOf([entry('web', `sha256:${'a'.repeat(64)}`, '1.0.0', { K: 'v' })]), base);
  const g2 = createGeneration(root, contentOf([entry('web', `sha256:${'b'.repeat(64)}`, '1.0.0', { K: 'v' })]), base);
  setCurrent(root, 2);
  const p = generationPaths(root);
  truncateSync(p.meta(1), 30);
  const cut = fails(root, ['generation', 'list'], 'NISO6001');
  assert.ok(cut.includes(p.meta(1)), cut);
  assert.match(cut, /cut short/);
  // gc and remove fail closed: a generation they cannot read might name what they would free.
  fails(root, ['gc'], 'NISO6001');
  unlinkSync(p.meta(1));
  unlinkSync(p.object(g2.hash));
  const missing = fails(root, ['generation', 'diff', '2', '2'], 'NISO6002');
  assert.ok(missing.includes(p.object(g2.hash)), missing);
  unlinkSync(p.current);
  symlinkSync('../../../../etc/passwd', p.current);
  const link = fails(root, ['generation', 'list'], 'NISO6003');
  assert.match(link, /points to "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd", not to a system-N\.json beside it/);
});
