// What the built CLI loads to start a package (issue 17): `niso run` must not pull in the manifest validator (zod, with
// its locales) or the TOML parser with positions, which once came along through two stray imports and doubled the
// JavaScript a start compiles. Asserts the modules loaded, as bench/lib/list-modules.mjs lists them; no timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_MANIFEST, tempDir, writeTree } from '../helpers/tmp.js';

const REPO = join(import.meta.dirname, '../..');
const BIN = join(REPO, 'bin/niso');
const HOOK = join(REPO, 'bench/lib/list-modules.mjs');

test('niso run of an installed package loads neither zod nor the TOML position parser, also once its host facts are remembered', async () => {
  const dir = tempDir('niso-run-modules-');
  const root = join(dir, 'root');
  const env: NodeJS.ProcessEnv = { ...process.env, NISO_ROOT: root };
  delete env.NODE_EXTRA_CA_CERTS;
  const niso = (args: string[], extra: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [...(extra.NISO_BENCH_MODULES ? ['--import', HOOK] : []), BIN, ...args], { env: { ...env, ...extra }, encoding: 'utf8' });
    assert.equal(r.status, 0, `niso ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  await writeTree(join(dir, 'app'), { 'manifest.toml': NODE_MANIFEST('modapp', '1.0.0', '\n[network]\nmode = "none"\n', ['main.js']), 'main.js': 'process.exit(0);\n' });
  niso(['pack', join(dir, 'app'), '-o', join(dir, 'app.niso')]);
  niso(['install', join(dir, 'app.niso')]);
  for (const round of ['first run: facts discovered', 'second run: facts remembered']) {
    const list = join(dir, `modules-${round.slice(0, 5)}.jsonl`);
    niso(['run', 'modapp'], { NISO_BENCH_MODULES: list });
    const files = readFileSync(list, 'utf8').trim().split('\n').map((l) => fileURLToPath((JSON.parse(l) as { url: string }).url));
    assert.ok(files.some((f) => f.endsWith('dist/niso.mjs')), `${round}: the built CLI ran (npm run build)`);
    // esbuild names each bundled file in a comment above its code.
    const bundled = files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/^\/\/ (node_modules\/\S+|src\/\S+)$/gm)].map((m) => m[1]!));
    assert.ok(bundled.includes('src/sandbox/run-sandbox.ts'), `${round}: the run path is listed`);
    assert.deepEqual(bundled.filter((b) => /node_modules\/(zod|toml-eslint-parser|smol-toml)\//.test(b)), [], `${round}: no manifest validator or TOML parser`);
  }
});
