// `niso runtime install nodejs:22` against the real npm registry, then a node-22 app on this node-20
// host. The tarball is kept in a fixed cache between runs of the suite (its integrity is checked
// again at every use), so only the first run downloads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_MANIFEST, tempDir, writeTree } from '../helpers/tmp.js';
import { npmCaEnv } from '../helpers/npm-ca.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const CACHE = '/var/cache/niso-test';

function niso(args: string[], root: string, cwd = '/') {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, ...npmCaEnv(), NISO_ROOT: root, NISO_DOWNLOAD_CACHE: CACHE }, timeout: 600_000 });
  return { code: r.status, out: r.stdout, err: r.stderr + (r.error ? String(r.error) : '') + (r.signal ?? '') };
}

const app = (dir: string, name: string, use: string) => writeTree(join(dir, name), {
  'manifest.toml': NODE_MANIFEST(name, '1.0.0', '\n[network]\nmode = "none"\n', ['main.js']).replace('use = "nodejs:20"', `use = "${use}"`),
  'main.js': 'console.log(process.version)\n',
});

test('nodejs:22 installed from the registry runs an app on a node-20 host; node-20 apps keep the host\'s', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  await app(dir, 'v22', 'nodejs:22');
  await app(dir, 'v20', 'nodejs:20');

  const before = niso(['run', join(dir, 'v22')], root);
  assert.equal(before.code, 1, before.err);
  assert.match(before.err, /NISO300[12][\s\S]*niso runtime install nodejs:22/);

  const inst = niso(['runtime', 'install', 'nodejs:22', '--json'], root);
  assert.equal(inst.code, 0, inst.err);
  const r = JSON.parse(inst.out) as { name: string; version: string; digest: string; integrity: string; source: string; origin: { package: string }; path: string };
  assert.equal(r.name, 'nodejs');
  assert.match(r.version, /^22\.\d+\.\d+$/);
  assert.match(r.digest, /^sha256:[0-9a-f]{64}$/);
  assert.match(r.integrity, /^sha512-/);
  assert.equal(r.path, join(root, 'var/lib/niso/runtimes', `${r.digest.slice(7)}-nodejs-${r.version}`));
  assert.ok(existsSync(join(CACHE, `${r.origin.package}-${r.version}.tgz`)), 'the verified tarball is cached for the next run');
  assert.deepEqual(readdirSync(join(root, 'var/lib/niso/tmp')), [], 'no work dir is left');

  const again = niso(['runtime', 'install', `nodejs:${r.version}`], root);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /already installed/);

  const ls = JSON.parse(niso(['runtime', 'ls', '--json'], root).out) as { name: string; version: string; source: string; digest?: string; origin?: string }[];
  const row = ls.find((x) => x.source === 'installed');
  assert.deepEqual({ version: row?.version, digest: row?.digest, origin: row?.origin }, { version: r.version, digest: r.digest, origin: `npm:${r.origin.package}@${r.version}` });
  assert.ok(ls.some((x) => x.source === 'discovered' && x.version.startsWith('20.')), 'the host\'s node is still listed');

  const run22 = niso(['run', join(dir, 'v22')], root);
  assert.equal(run22.code, 0, run22.err);
  assert.equal(run22.out.trim(), `v${r.version}`);
  const run20 = niso(['run', join(dir, 'v20')], root);
  assert.equal(run20.code, 0, run20.err);
  assert.match(run20.out.trim(), /^v20\./);

  // Which runtime and from where: the store's digest for 22, the host's path for 20.
  const dry = niso(['run', '--dry-run', join(dir, 'v22')], root);
  assert.match(dry.out, new RegExp(`# runtime nodejs ${r.version.replace(/\./g, '\\.')} from niso's store \\(${r.digest}`));
  const plan20 = JSON.parse(niso(['run', '--json', join(dir, 'v20')], root).out) as { plan: { runtime: { source: string; binary: string } } };
  assert.equal(plan20.plan.runtime.source, 'discovered');
  assert.equal(plan20.plan.runtime.binary, '/usr/bin/node');

  // A package records the runtime it was packed with.
  const pack = niso(['pack', join(dir, 'v22'), '-o', join(dir, 'v22.niso'), '--json'], root);
  assert.equal(pack.code, 0, pack.err);
  assert.deepEqual((JSON.parse(pack.out) as { runtime: unknown }).runtime, { name: 'nodejs', version: r.version, source: 'installed', digest: r.digest });
  const inspect = niso(['inspect', join(dir, 'v22.niso')], root);
  assert.match(inspect.out, new RegExp(`packed with +nodejs ${r.version.replace(/\./g, '\\.')} \\(installed in niso's store, ${r.digest}\\)`));

  const rm = niso(['runtime', 'rm', 'nodejs:22', '--json'], root);
  assert.equal(rm.code, 0, rm.err);
  assert.equal((JSON.parse(rm.out) as { removed: { digest: string } }).removed.digest, r.digest);
  assert.deepEqual(readdirSync(join(root, 'var/lib/niso/runtimes')), []);
  assert.equal(niso(['run', join(dir, 'v22')], root).code, 1);
});
