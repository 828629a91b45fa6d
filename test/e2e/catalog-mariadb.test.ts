// catalog/mariadb packed for real from Debian's own packages (the .debs cached in /var/cache/niso-test/debs between
// runs): a start without MARIADB_ROOT_PASSWORD is refused by the init step, with its reason, before mariadbd runs; on a
// fresh volume the init step makes the system tables as the service's user with the official image's
// MARIADB_ROOT_PASSWORD (one with a quote and a backslash, so the SQL escaping is proven), MARIADB_DATABASE,
// MARIADB_USER and MARIADB_PASSWORD, and shuts its own server down cleanly; the service turns healthy (mariadb-admin
// ping inside the sandbox); the host's mariadb client creates a table and reads it back through a mapped port; after
// a restart the row is still there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { catalogEnv } from '../helpers/catalog.js';
import { freePort } from '../helpers/ports.js';

const { recipe: CATALOG, dir, niso, ok, prepacked } = catalogEnv('mariadb');
const ROOT_PASSWORD = "it's\\s3cret";

// The password travels in MYSQL_PWD, not the argv (the client reads it from its environment).
const mariadb = (port: number, user: string, password: string, sql: string) => spawnSync('mariadb', ['-h', '127.0.0.1', '-P', String(port), '-u', user, '--connect-timeout=5', '-N', '-B', '-e', sql, 'shop'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, MYSQL_PWD: password } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('catalog/mariadb: initialises itself on a fresh volume, serves the mariadb client through a mapped port, keeps its data over a restart', { timeout: 900_000 }, async () => {
  // Packed here, or on the host by the systemd wrapper (catalog-systemd.test.ts: its machine has no network).
  const out = prepacked ?? join(dir, 'mariadb.niso');
  if (!prepacked) {
    const packed = JSON.parse(ok(['pack', CATALOG, '-o', out, '--json'])) as { debian: { packages: number; fromHost: number } };
    assert.equal(packed.debian.fromHost, 0, 'every library mariadbd and its clients load comes from Debian packages in the package');
  }
  ok(['install', out]);

  // Without the password the official image requires, the init step says so and mariadbd never starts.
  const refused = niso(['activate', 'mariadb', '--name', 'mdb-nopass', '--network', 'none'], 120_000);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /NISO3315: mdb-nopass: the init step .* exited with code 1/);
  assert.match(refused.stderr, /MARIADB_ROOT_PASSWORD is not set/);
  ok(['remove', 'mdb-nopass', '--volumes']);

  const port = await freePort();
  ok(['activate', 'mariadb', '-e', `MARIADB_ROOT_PASSWORD=${ROOT_PASSWORD}`, '-e', 'MARIADB_DATABASE=shop', '-e', 'MARIADB_USER=app', '-e', 'MARIADB_PASSWORD=app-pw',
    '-p', `127.0.0.1:${port}:3306`, '--wait', '--timeout', '120s'], 180_000);
  const st = JSON.parse(ok(['status', 'mariadb', '--json'])) as { health: string };
  assert.equal(st.health, 'healthy', 'mariadb-admin ping inside the sandbox');
  const logs = ok(['logs', 'mariadb']);
  assert.match(logs, /mariadb-init: databases ready in \/data\/mysql \(root password set, database shop, user app\)/, 'the init step\'s output is in the service\'s logs');
  assert.match(logs, /Shutdown complete/, 'the init step\'s server was shut down cleanly before mariadbd started');
  assert.doesNotMatch(logs, /Access denied/, 'the health check logs in with its own account');

  const one = mariadb(port, 'root', ROOT_PASSWORD, 'select 1');
  assert.equal(one.status, 0, one.stderr);
  assert.equal(one.stdout.trim(), '1');
  const made = mariadb(port, 'app', 'app-pw', "create table t (id int primary key, name text); insert into t values (1, 'one'); select name from t");
  assert.equal(made.status, 0, made.stderr);
  assert.equal(made.stdout.trim(), 'one');
  const charset = mariadb(port, 'root', ROOT_PASSWORD, 'select @@character_set_database');
  assert.equal(charset.stdout.trim(), 'utf8mb4');

  // A restart stops mariadbd with SIGTERM (a clean shutdown) and starts it on the same volume, without the init step.
  ok(['restart', 'mariadb']);
  let back = '';
  for (let i = 0; i < 150 && back !== 'one'; i++) {
    const r = mariadb(port, 'app', 'app-pw', 'select name from t where id = 1');
    back = r.status === 0 ? r.stdout.trim() : '';
    if (back !== 'one') await sleep(200);
  }
  assert.equal(back, 'one', 'the row survived the restart');
  assert.equal(ok(['logs', 'mariadb']).match(/mariadb-init: databases ready/g)?.length, 1, 'the init step ran once');
  ok(['deactivate', 'mariadb']);
});
