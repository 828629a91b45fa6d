// The host facts a plan is made from are remembered per package and host (sandbox/facts-cache.ts): pins that a start
// plans afresh when what they came from changed (the runtime upgraded or another one configured, the manifest of a new
// version, the network), and that a remembered plan is the plan niso would make anyway. No timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installedManifest, preparePlan } from '../../src/sandbox/prepare.js';
import { factsCacheStats, factsDir } from '../../src/sandbox/facts-cache.js';
import { packApp } from '../../src/package/pack.js';
import { addRuntime } from '../../src/runtime/registry.js';
import { readInstallLimits } from '../../src/store/host-config.js';
import { installPackage } from '../../src/store/install.js';
import { layout } from '../../src/store/layout.js';
import { collectGarbage } from '../../src/store/remove.js';
import { resolveOne } from '../../src/store/resolve.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const manifestOf = (version: string, extra = '') => `[package]\nname = "factsapp"\nversion = "${version}"\n\n[runtime]\nuse = "nodejs:20"\n\n[binary]\nentrypoint = "node"\nargs = ["main.js"]\n${extra}`;

const work = tempDir('niso-facts-');
const root = join(work, 'root');
const ctx = { root, env: { ...process.env, NISO_ROOT: root } };

async function install(version: string, extra = '') {
  const app = join(work, `app-${version}`);
  await writeTree(app, { 'manifest.toml': manifestOf(version, extra), 'main.js': 'process.exit(0);\n' });
  const packed = await packApp({ appDir: app, cwd: work, output: join(work, `app-${version}.niso`) });
  const installed = await installPackage(root, packed.file, await readInstallLimits(layout(root).config, {}));
  return resolveOne(root, installed.digest);
}

/** Plans the package and says whether the host facts came from the cache. */
async function plan(version: string, network: { netns: string; hosts: string } | null = null) {
  const pkg = await resolveOne(root, `factsapp:${version}`);
  const before = { ...factsCacheStats };
  const p = await preparePlan(ctx, pkg, await installedManifest(pkg), 'factsapp', { env: {}, args: [] }, network);
  const hit = factsCacheStats.hits > before.hits;
  assert.equal(factsCacheStats.hits + factsCacheStats.misses, before.hits + before.misses + 1, 'one lookup per plan');
  return { plan: p, hit };
}

test('a plan from remembered facts is the one made afresh; a runtime upgraded, a manifest changed or another network plans afresh', async () => {
  // A runtime of our own, configured by hand, so that the test can upgrade it in place (a new file at its path).
  const bin = join(work, 'node20/bin');
  mkdirSync(bin, { recursive: true });
  copyFileSync(process.execPath, join(bin, 'node'));
  await addRuntime(root, 'nodejs:20', join(bin, 'node'));
  await install('1.0.0');

  const first = await plan('1.0.0');
  assert.equal(first.hit, false, 'nothing remembered yet');
  assert.equal(first.plan.runtime?.binary, join(bin, 'node'));
  assert.equal(readdirSync(factsDir(root)).length, 1, 'the facts were written down');
  const again = await plan('1.0.0');
  assert.equal(again.hit, true, 'nothing changed: remembered');
  assert.deepEqual(again.plan, first.plan, 'the remembered facts give the same plan');

  // Upgraded in place: another file at the same path (as a package manager does, by rename).
  copyFileSync(process.execPath, join(bin, 'node.new'));
  renameSync(join(bin, 'node.new'), join(bin, 'node'));
  const upgraded = await plan('1.0.0');
  assert.equal(upgraded.hit, false, 'the runtime was upgraded: planned afresh');
  assert.deepEqual(upgraded.plan, first.plan);
  assert.equal((await plan('1.0.0')).hit, true);

  // The configured runtime removed: the host's own one is found again (runtimes.toml changed).
  writeFileSync(layout(root).runtimes, '');
  const unconfigured = await plan('1.0.0');
  assert.equal(unconfigured.hit, false, 'runtimes.toml changed: planned afresh');
  assert.notEqual(unconfigured.plan.runtime?.binary, join(bin, 'node'), 'the configured runtime is no longer used');

  // A new version with another manifest: its own facts, and the plan has what the manifest says.
  await install('1.0.1', '\n[env]\nADDED = "yes"\n');
  const changed = await plan('1.0.1');
  assert.equal(changed.hit, false, 'another manifest: planned afresh');
  assert.equal(changed.plan.command.env.ADDED, 'yes');

  // The network is never remembered: the same package on another network gets that network.
  const a = await plan('1.0.1', { netns: '/run/netns/niso-a', hosts: '10.0.0.2 factsapp\n' });
  const b = await plan('1.0.1', { netns: '/run/netns/niso-b', hosts: '10.0.0.3 factsapp\n' });
  assert.equal(a.hit, true);
  assert.equal(b.hit, true);
  assert.notDeepEqual(a.plan.network, b.plan.network, 'each plan has its own network');
  assert.match(JSON.stringify(b.plan), /niso-b/);
  assert.doesNotMatch(JSON.stringify(b.plan), /niso-a/);

  // A damaged entry is not trusted: planned afresh and written again.
  for (const f of readdirSync(factsDir(root))) writeFileSync(join(factsDir(root), f), '{"format":1');
  assert.equal((await plan('1.0.1')).hit, false);
  assert.equal((await plan('1.0.1')).hit, true);

  // `niso gc` empties the cache (entries of removed packages and older nisos would pile up); the next plan looks again.
  assert.ok(readdirSync(factsDir(root)).length > 0);
  const dry = await collectGarbage(root, true);
  assert.ok(readdirSync(factsDir(root)).length > 0, 'a dry run deletes nothing');
  const gc = await collectGarbage(root);
  assert.equal(gc.freedFiles, dry.freedFiles);
  assert.deepEqual(readdirSync(factsDir(root)), []);
  assert.equal((await plan('1.0.1')).hit, false);
  assert.equal((await plan('1.0.1')).hit, true);
});
