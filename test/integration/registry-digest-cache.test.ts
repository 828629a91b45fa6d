// The digest cache of package files (registry/host/digest-cache.ts, issue 16): `niso pack` remembers the file it
// wrote, a push of that file uses it (no hash, no head read), and anything that changes the file (other bytes in
// place with the old mtime put back, a touch, a damaged entry) makes the push read and hash it again; `niso gc`
// empties the cache. Against Debian's docker-registry on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { startRegistry } from '../helpers/registry.js';
import { regEnv } from '../helpers/registry-packages.js';
import { parseReference } from '../../src/registry/reference.js';
import { pushPackages } from '../../src/registry/host/push.js';
import { describePackageFile, fileDigest } from '../../src/registry/host/sign.js';
import { digestCacheStats } from '../../src/registry/host/digest-cache.js';
import { layout } from '../../src/store/layout.js';
import { isNisoError } from '../../src/errors/niso-error.js';

const REPO = join(import.meta.dirname, '../..');
const BIN = join(REPO, 'bin/niso');
const registry = await startRegistry();
const dir = tempDir('niso-digest-cache-');
const root = join(dir, 'root');
const env: NodeJS.ProcessEnv = { ...process.env, NISO_ROOT: root, HOME: join(dir, 'home'), NISO_SIGNING_KEY: '' };
delete env.NODE_EXTRA_CA_CERTS;

function niso(args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, `niso ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const push = (file: string, repo: string) => pushPackages({ ...regEnv(root), files: [file], ref: parseReference(`${registry.host}/${repo}:1.0.0`), signKeyFile: null, now: new Date() });
const entries = () => { try { return readdirSync(layout(root).packageDigests).filter((n) => n.endsWith('.json')); } catch { return []; } };
const counts = () => ({ ...digestCacheStats });
const delta = (a: typeof digestCacheStats, b: typeof digestCacheStats) => ({ hits: b.hits - a.hits, misses: b.misses - a.misses, writes: b.writes - a.writes });

async function packed(name: string): Promise<string> {
  await writeTree(join(dir, name), { 'manifest.toml': `[package]\nname = "${name}"\nversion = "1.0.0"\narch = "any"\n\n[binary]\nentrypoint = "run.sh"\n`, 'run.sh': { content: `#!/bin/sh\necho ${name}\n`, mode: 0o755 } });
  const file = join(dir, `${name}.niso`);
  niso(['pack', join(dir, name), '-o', file, '--no-sign']);
  return file;
}

test('pack remembers the file it wrote and push uses it; a changed file is read and hashed again; gc empties the cache', async () => {
  const file = await packed('cached');
  const [entry] = entries();
  assert.ok(entry, 'niso pack wrote an entry');
  const remembered = JSON.parse(readFileSync(join(layout(root).packageDigests, entry), 'utf8')) as { file: { digest: string; size: number } };
  assert.deepEqual(remembered.file, await fileDigest(file), 'the entry holds the sha256 and size of the bytes written');

  let before = counts();
  const first = await push(file, 'apps/cached');
  assert.deepEqual(delta(before, counts()), { hits: 1, misses: 0, writes: 0 }, 'the packed file was known');
  assert.equal(first.digest, (await describePackageFile(file)).manifest.digest, 'the manifest is the one the file makes');

  // Other bytes of the same size in place, with the old mtime put back: only the ctime tells, and it does.
  const st = statSync(file);
  const original = readFileSync(file);
  writeFileSync(file, randomBytes(st.size));
  utimesSync(file, st.atime, st.mtime);
  before = counts();
  await assert.rejects(push(file, 'apps/junk'), (e) => isNisoError(e) && /^NISO21\d\d$/.test(e.code), 'the changed file is read (and refused: it is no package), not taken from the cache');
  assert.deepEqual(delta(before, counts()), { hits: 0, misses: 1, writes: 0 }, 'a file that is no package is not remembered');

  // The package again (a new ctime): read, hashed and remembered afresh; the next push knows it.
  writeFileSync(file, original);
  before = counts();
  const again = await push(file, 'apps/cached2');
  assert.deepEqual(delta(before, counts()), { hits: 0, misses: 1, writes: 1 });
  assert.equal(again.digest, first.digest);
  before = counts();
  await push(file, 'apps/cached3');
  assert.deepEqual(delta(before, counts()), { hits: 1, misses: 0, writes: 0 });

  // A damaged entry is a miss, and is replaced.
  writeFileSync(join(layout(root).packageDigests, entries()[0]!), '{"format":1,');
  before = counts();
  assert.equal((await push(file, 'apps/cached4')).digest, first.digest);
  assert.deepEqual(delta(before, counts()), { hits: 0, misses: 1, writes: 1 });

  const gc = JSON.parse(niso(['gc', '--json'])) as { freedFiles: number };
  assert.ok(gc.freedFiles >= 1, 'gc counts the entries it removed');
  assert.deepEqual(entries(), [], 'gc emptied the cache');
  before = counts();
  await push(file, 'apps/cached5');
  assert.deepEqual(delta(before, counts()), { hits: 0, misses: 1, writes: 1 }, 'after gc the file is hashed again');
});
