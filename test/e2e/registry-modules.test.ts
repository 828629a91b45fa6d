// What the built CLI loads to push and pull a package on a host without registries.toml, policy.toml or auth files
// (issue 16): a push of a file this host packed loads neither zod, nor the TOML parsers, nor the package reader (the
// digest cache knows the file); a pull without a trust policy loads neither the policy's rules nor the signature
// envelopes nor the registries.toml parser; without a terminal neither loads the progress bar's package, which a
// terminal still gets. Asserts the modules loaded, as bench/lib/list-modules.mjs lists them, and that the round trip
// is byte-identical; no timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { startRegistry } from '../helpers/registry.js';

const REPO = join(import.meta.dirname, '../..');
const BIN = join(REPO, 'bin/niso');
const HOOK = join(REPO, 'bench/lib/list-modules.mjs');

/** The source files and packages bundled into the modules a run loaded (esbuild names each above its code). */
function bundledIn(list: string): string[] {
  const files = readFileSync(list, 'utf8').trim().split('\n').map((l) => fileURLToPath((JSON.parse(l) as { url: string }).url));
  assert.ok(files.some((f) => f.endsWith('dist/niso.mjs')), 'the built CLI ran (npm run build)');
  return files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/^\/\/ (node_modules\/\S+|src\/\S+)$/gm)].map((m) => m[1]!));
}

test('push of a packed file and pull without a policy load no validator, TOML parser or signature code they do not use', async () => {
  const registry = await startRegistry();
  const dir = tempDir('niso-registry-modules-');
  const env: NodeJS.ProcessEnv = { ...process.env, NISO_ROOT: join(dir, 'root'), HOME: join(dir, 'home'), NISO_SIGNING_KEY: '' };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NISO_AUTH_FILE;
  delete env.REGISTRY_AUTH_FILE;
  delete env.DOCKER_CONFIG;
  delete env.XDG_CONFIG_HOME;
  delete env.XDG_RUNTIME_DIR;
  const niso = (args: string[], modules?: string) => new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [...(modules ? ['--import', HOOK] : []), BIN, ...args], { env: { ...env, ...(modules ? { NISO_BENCH_MODULES: modules } : {}) } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`niso ${args.join(' ')} exited ${code}: ${err}`))));
  });
  await writeTree(join(dir, 'app'), { 'manifest.toml': '[package]\nname = "mods"\nversion = "1.0.0"\narch = "any"\n\n[binary]\nentrypoint = "run.sh"\n', 'run.sh': { content: '#!/bin/sh\n', mode: 0o755 } });
  const file = join(dir, 'mods.niso');
  await niso(['pack', join(dir, 'app'), '-o', file, '--no-sign']);

  const pushList = join(dir, 'push.jsonl');
  await niso(['push', file, `${registry.host}/apps/mods:1.0.0`], pushList);
  const pushed = bundledIn(pushList);
  assert.ok(pushed.includes('src/registry/host/push.ts'), 'the push path is listed');
  assert.deepEqual(pushed.filter((b) => /node_modules\/(zod|toml-eslint-parser|smol-toml|tar)\/|src\/package\/(read-package|format\/package-index)\.ts|src\/manifest\/(schema|toml-positions)\.ts/.test(b)), [], 'push: no validator, TOML parser or package reader');

  const pullList = join(dir, 'pull.jsonl');
  const out = join(dir, 'pulled.niso');
  await niso(['pull', `${registry.host}/apps/mods:1.0.0`, '--output', out], pullList);
  assert.deepEqual(readFileSync(out), readFileSync(file), 'byte-identical');
  const pulled = bundledIn(pullList);
  assert.ok(pulled.includes('src/registry/host/pull.ts'), 'the pull path is listed');
  assert.deepEqual(pulled.filter((b) => /node_modules\/smol-toml\/|src\/registry\/(policy|signature|verify)\.ts|src\/registry\/host\/registries-file\.ts/.test(b)), [], 'pull without a policy: no policy rules, envelopes or registries.toml parser');
  assert.deepEqual([...pushed, ...pulled].filter((b) => /node_modules\/cli-progress\//.test(b)), [], 'no terminal: the progress bar\'s package is not loaded');
});

test('on a terminal the progress bar (loaded only there) is drawn', () => {
  const dir = tempDir('niso-progress-tty-');
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'manifest.toml'), '[package]\nname = "tty"\nversion = "1.0.0"\narch = "any"\n\n[binary]\nentrypoint = "run.sh"\n');
  writeFileSync(join(app, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  // Above the bar's 32 MiB threshold; zeros pack fast.
  writeFileSync(join(app, 'data.bin'), Buffer.alloc(40 * 1024 * 1024));
  const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, BIN, 'pack', app, '-o', join(dir, 'tty.niso'), '--no-sign'].map(q).join(' ');
  // script(1) gives niso a terminal as its stderr.
  const env: NodeJS.ProcessEnv = { ...process.env, NISO_ROOT: join(dir, 'root'), NISO_SIGNING_KEY: '' };
  delete env.CI;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /packing \[[=-]+\] \d+%/, 'the bar was drawn');
});
