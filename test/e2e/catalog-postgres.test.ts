// catalog/postgres packed for real from Debian's own packages (the .debs cached in /var/cache/niso-test/debs between
// runs): on a fresh volume its [init] step makes the cluster as the service's user with the official image's
// POSTGRES_PASSWORD and POSTGRES_DB; it turns healthy (pg_isready inside the sandbox); the host's psql creates a
// table, inserts and reads back through a mapped port; after a kill -9 of the postmaster niso starts it again and the
// row is there (crash recovery from the WAL in the volume); pg_dump runs as a one-off of another service against it
// over the network (`niso run pg -- pg_dump -h postgres`), and inside it (`niso exec`); a one-off of postgres itself is
// refused while it runs (its data volume is exclusive); and a start without POSTGRES_PASSWORD is refused by the init
// step, with its reason, before postgres runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN, catalogEnv } from '../helpers/catalog.js';
import { freePorts } from '../helpers/ports.js';

const { recipe: CATALOG, dir, root, niso, ok, prepacked } = catalogEnv('postgres');
const psql = (port: number, sql: string) => spawnSync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'shop', '-tAc', sql], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PGPASSWORD: 's3cret', PGCONNECT_TIMEOUT: '20' } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('catalog/postgres: initialises itself on a fresh volume, serves psql through a mapped port, recovers from kill -9, dumps with pg_dump', { timeout: 900_000 }, async () => {
  // Packed here, or on the host by the systemd wrapper (catalog-systemd.test.ts: its machine has no network).
  const out = prepacked ?? join(dir, 'postgres.niso');
  if (!prepacked) {
    const packed = JSON.parse(ok(['pack', CATALOG, '-o', out, '--json'])) as { debian: { packages: number; fromHost: number } };
    assert.equal(packed.debian.fromHost, 0, 'every library postgres loads comes from Debian packages in the package');
  }
  ok(['install', out]);

  // Without the password the official image requires, the init step says so and postgres never starts. The service
  // (pg) stays defined, failed: a client's identity below, with the password psql and pg_dump read (PGPASSWORD).
  // Both ports picked together: two separate picks may get the same port back from the kernel.
  const [clientPort, port] = await freePorts(2) as [number, number];
  const refused = niso(['activate', 'postgres', '--name', 'pg', '-e', 'PGPASSWORD=s3cret', '-p', `127.0.0.1:${clientPort}:5432`], 120_000);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /NISO3315: pg: the init step .* exited with code 1/);
  assert.match(refused.stderr, /POSTGRES_PASSWORD is not set/);
  assert.equal((JSON.parse(ok(['status', 'pg', '--json'])) as { state: string }).state, 'failed');

  ok(['activate', 'postgres', '-e', 'POSTGRES_PASSWORD=s3cret', '-e', 'POSTGRES_DB=shop', '-p', `127.0.0.1:${port}:5432`, '--wait', '--timeout', '120s'], 180_000);
  const st = JSON.parse(ok(['status', 'postgres', '--json'])) as { health: string; pid: number; restarts: number };
  assert.equal(st.health, 'healthy', 'pg_isready inside the sandbox');
  const made = psql(port, "create table t (id int primary key, name text); insert into t values (1, 'one'); select name from t");
  assert.equal(made.status, 0, made.stderr);
  assert.equal(made.stdout.trim().split('\n').at(-1), 'one');
  assert.match(ok(['logs', 'postgres']), /postgres-init: cluster ready in \/data\/pgdata \(superuser postgres, database shop\)/, 'the init step\'s output is in the service\'s logs');

  // kill -9 of the postmaster: niso's restart policy starts it again; postgres replays its WAL from the volume.
  process.kill(st.pid, 'SIGKILL');
  let back = '';
  for (let i = 0; i < 150 && back !== 'one'; i++) {
    await sleep(200);
    const r = psql(port, 'select name from t where id = 1');
    back = r.status === 0 ? r.stdout.trim() : '';
  }
  assert.equal(back, 'one', 'the row survived the crash');
  const after = JSON.parse(ok(['status', 'postgres', '--json'])) as { restarts: number; pid: number };
  assert.ok(after.restarts >= 1 && after.pid !== st.pid, 'restarted by niso');

  // Another service on the same network reaches it by name: psql of the package itself, run with --entrypoint (which
  // leaves out the init step, as Docker's --entrypoint leaves out an image's entrypoint script). The package by its
  // version: a bare `postgres` is the service.
  const client = niso(['run', 'postgres:15.20.0', '--name', 'pg-client', '-e', 'PGPASSWORD=s3cret', '--entrypoint', '/usr/lib/postgresql/15/bin/psql', '--', '-h', 'postgres', '-U', 'postgres', '-d', 'shop', '-tAc', 'select name from t where id = 1'], 120_000);
  assert.equal(client.code, 0, client.stderr);
  assert.equal(client.stdout.trim(), 'one');

  // pg_dump as a one-off of pg (`docker compose run pg pg_dump ...`): pg's own sandbox, uid, environment and network,
  // with an address of its own, against the running postgres by name; its own port is not published.
  const oneOff = niso(['run', 'pg', '--', '/usr/lib/postgresql/15/bin/pg_dump', '-h', 'postgres', '-U', 'postgres', 'shop'], 120_000);
  assert.equal(oneOff.code, 0, oneOff.stderr);
  assert.match(oneOff.stdout, /CREATE TABLE public\.t/);
  assert.match(oneOff.stdout, /1\tone/);
  assert.match(oneOff.stderr, /niso: pg-run-[0-9a-f]{6} is 10\.\d+\.\d+\.\d+ on network default/);
  // A one-off of postgres itself would open its cluster beside it: its data volume is exclusive, so it is refused.
  const beside = niso(['run', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_dump', '-U', 'postgres', '-h', 'postgres', 'shop']);
  assert.equal(beside.code, 1);
  assert.match(beside.stderr, /NISO5007: volume postgres\/data is exclusive to service postgres, which is active; a one-off run of postgres cannot mount it beside it/);
  assert.match(beside.stderr, /note: postgres is a service here/);

  // pg_dump, a program of the package, inside the running service: its user and network over loopback, and its /tmp
  // socket, which exec shares with the app on both backends (on systemd through the service's /tmp mount unit).
  const dump = ok(['exec', 'postgres', '-e', 'PGPASSWORD=s3cret', '--', '/usr/lib/postgresql/15/bin/pg_dump', '-U', 'postgres', '-h', '127.0.0.1', 'shop']);
  assert.match(dump, /CREATE TABLE public\.t/);
  assert.match(dump, /1\tone/);
  assert.match(ok(['exec', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_dump', '-U', 'postgres', '-h', '/tmp', 'shop']), /1\tone/);
  ok(['deactivate', 'postgres']);

  // Self-contained: with the host's own PostgreSQL (/usr/lib/postgresql, whatever of it is installed) hidden under an
  // empty tmpfs in a mount namespace of its own, the package's postgres still runs. A slave of the host's mounts, not
  // a private copy: the state images of other files' services, unmounted meanwhile, leave it too (CONTRIBUTING.md, Tests).
  const script = '[ -d /usr/lib/postgresql ] && mount -t tmpfs -o ro,size=4k none /usr/lib/postgresql; [ -z "$(ls -A /usr/lib/postgresql 2>/dev/null)" ] || exit 99; exec "$@"';
  const r = spawnSync('unshare', ['-m', '--propagation', 'slave', 'sh', '-c', script, 'sh', process.execPath, BIN, 'run', 'postgres:15.20.0', '--name', 'pg-version', '--network', 'none', '--entrypoint', '/usr/lib/postgresql/15/bin/postgres', '--', '--version'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root }, timeout: 120_000 });
  assert.equal(r.status, 0, `${r.stderr}${r.stdout}`);
  assert.match(r.stdout, /^postgres \(PostgreSQL\) 15\./);
});
