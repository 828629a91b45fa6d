// catalog/nginx packed for real from Debian's own packages (the .debs cached in /var/cache/niso-test/debs between
// runs): it serves a file from a named volume granted read-only (-v www:/srv:ro), through a mapped port, healthy by its
// HTTP probe. (That a read-only grant cannot be written is the volume conformance rows' to show.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalogEnv } from '../helpers/catalog.js';
import { freePort } from '../helpers/ports.js';

const { recipe: CATALOG, dir, ok } = catalogEnv('nginx');
const curl = (url: string) => spawnSync('curl', ['-s', '-o', '-', '-w', '\n%{http_code}', url], { encoding: 'utf8', timeout: 10_000 }).stdout;

test('catalog/nginx: serves a file from a read-only volume through a mapped port', { timeout: 900_000 }, async () => {
  const out = join(dir, 'nginx.niso');
  const packed = JSON.parse(ok(['pack', CATALOG, '-o', out, '--json'])) as { debian: { fromHost: number } };
  assert.equal(packed.debian.fromHost, 0);
  ok(['install', out]);
  ok(['volume', 'create', 'www']);
  const data = (JSON.parse(ok(['volume', 'inspect', 'www', '--json'])) as { dir: string }[])[0]!.dir;
  writeFileSync(join(data, 'index.html'), '<h1>served by niso</h1>\n');
  const port = await freePort();
  ok(['activate', 'nginx', '-v', 'www:/srv:ro', '-p', `127.0.0.1:${port}:8080`, '--wait', '--timeout', '60s'], 120_000);
  assert.equal(curl(`http://127.0.0.1:${port}/index.html`), '<h1>served by niso</h1>\n\n200');
  assert.match(curl(`http://127.0.0.1:${port}/missing.html`), /\n404$/);
  const st = JSON.parse(ok(['status', 'nginx', '--json'])) as { health: string };
  assert.equal(st.health, 'healthy');
  ok(['deactivate', 'nginx']);
});
