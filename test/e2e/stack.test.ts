// The seed's migration, steps 2 and 3, end to end: its stack.toml (postgres:15 from the catalog, where the seed says
// 16) with a real node API that talks to the database through DATABASE_URL with the host name `db` (the `pg` client),
// writes a row and answers a request that reads it; `niso stack up` starts the database first and the API once the
// database is healthy, `stack status` prints the seed's table with both healthy, a second `up` changes nothing, and an
// update of the API whose health check fails is rolled back by SafeSwitch (exit 3) while the old API answers again.
// Then `stack down` keeps the data, and the next `up` finds the row. Runs unchanged inside a booted systemd
// (stack-systemd.test.ts), where the catalog's postgres is packed on the host (NISO_E2E_CATALOG_PACKED).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalogEnv } from '../helpers/catalog.js';
import { freePort } from '../helpers/ports.js';
import { until } from '../helpers/wait.js';
import { stackToml, writeApi } from '../helpers/stack-app.js';

const { recipe: CATALOG, dir, niso, ok, prepacked } = catalogEnv('postgres');
async function answer(port: number): Promise<{ version: string; body: string | null } | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
    return r.ok ? (await r.json()) as { version: string; body: string | null } : null;
  } catch { return null; }
}

interface StatusJson { stack: string; services: { service: string; name: string; state: string; health: string | null; uptimeMs: number | null }[] }

test('the seed\'s stack: postgres and a node API that reaches it as `db`, up in order, status, no-op, a failed update rolled back, down', { timeout: 900_000 }, async () => {
  const pkgFile = prepacked ?? join(dir, 'postgres.niso');
  if (!prepacked) ok(['pack', CATALOG, '-o', pkgFile, '-q'], 900_000);
  ok(['install', pkgFile]);
  const port = await freePort();
  writeApi(join(dir, 'api'), '1.0.0', true);
  writeFileSync(join(dir, 'stack.toml'), stackToml(port));

  // What would happen: the database first, then the API, nothing else.
  const dry = ok(['stack', 'up', '--dry-run']);
  assert.deepEqual(dry.trim().split('\n'), ['would start   db (postgres 15.20.0)', 'would start   api (my-api 1.0.0)']);

  const up = niso(['stack', 'up'], 600_000);
  assert.equal(up.code, 0, `stack up failed:\n${up.stderr}${up.stdout}`);
  assert.match(up.stdout, /^network my-platform_default created\nstart {3}db \(postgres 15\.20\.0\)\nstart {3}api \(my-api 1\.0\.0\)\nstack my-platform is up: generation 1\n$/);

  // The API wrote its row through `db` and reads it back.
  const first = await until('the API answers', () => answer(port), 60_000, 250);
  assert.deepEqual(first, { version: '1.0.0', body: 'written through db by the api' });

  // The seed's table, and the same as JSON.
  const table = ok(['stack', 'status']).split('\n');
  assert.equal(table[0], '  SERVICE   STATUS    HEALTH    UPTIME');
  assert.match(table[1]!, /^ {2}api {7}active {4}healthy {3}\d+s$/);
  assert.match(table[2]!, /^ {2}db {8}active {4}healthy {3}\d+s$/);
  const st = JSON.parse(ok(['stack', 'status', '--json'])) as StatusJson;
  assert.deepEqual(st.services.map((s) => [s.service, s.name, s.state, s.health]), [['api', 'my-platform.api', 'active', 'healthy'], ['db', 'my-platform.db', 'active', 'healthy']]);
  // The database was healthy before the API started: it has run longer.
  assert.ok(st.services[1]!.uptimeMs! > st.services[0]!.uptimeMs!, `db ${st.services[1]!.uptimeMs} ms, api ${st.services[0]!.uptimeMs} ms`);
  assert.deepEqual((JSON.parse(ok(['stack', 'ls', '--json'])) as { name: string; running: number; services: number; file: string }[]).map((s) => [s.name, s.running, s.services, s.file]), [['my-platform', 2, 2, join(dir, 'stack.toml')]]);

  // Unchanged: nothing restarts.
  const pidsBefore = (JSON.parse(ok(['stack', 'ps', '--json'])) as { service: string; pid: number }[]).map((s) => s.pid);
  assert.match(ok(['stack', 'up']), /^nothing to change: stack my-platform is up as stack\.toml says\n$/);
  assert.deepEqual((JSON.parse(ok(['stack', 'ps', '--json'])) as { pid: number }[]).map((s) => s.pid), pidsBefore);

  // Version 2's health check fails: SafeSwitch takes the host back, exit 3, and version 1 answers again.
  writeApi(join(dir, 'api'), '2.0.0', false);
  assert.deepEqual(ok(['stack', 'up', '--dry-run']).trim().split('\n'), ['would restart api (package 1.0.0 → 2.0.0)', 'would keep    db']);
  const bad = niso(['stack', 'up'], 600_000);
  assert.equal(bad.code, 3, `${bad.stderr}${bad.stdout}`);
  assert.match(bad.stderr, /NISO6034: the switch to generation 2 was rolled back: my-platform\.api: .*health check fails/);
  const back = await until('version 1 answers again', async () => { const a = await answer(port); return a?.version === '1.0.0' ? a : null; }, 60_000, 250);
  assert.equal(back.body, 'written through db by the api');
  assert.equal((JSON.parse(ok(['stack', 'status', '--json'])) as StatusJson).services[1]!.state, 'active', 'the database was not touched');

  // The logs, prefixed by service as Compose prints them.
  assert.match(ok(['stack', 'logs', 'api']), /^api \| api 1\.0\.0 listening$/m);

  // Down: both stopped and removed, the network gone, the data kept; up again finds the row.
  writeApi(join(dir, 'api'), '1.0.0', true);
  const down = ok(['stack', 'down']);
  assert.match(down, /^stop {4}api \(my-api 1\.0\.0\)\nstop {4}db \(postgres 15\.20\.0\)\nnetwork my-platform_default removed\nvolumes kept: my-platform_pgdata/);
  assert.match(ok(['stack', 'ls']), /^no stacks/);
  assert.equal(ok(['status', '--json']).trim(), '[]');
  assert.match(ok(['volume', 'ls']), /my-platform_pgdata/);
  assert.equal(niso(['stack', 'up'], 600_000).code, 0);
  // postgres starts again on its kept volume first; at a load of 20 that took over a minute once.
  const again = await until('the API answers after down and up', () => answer(port), 180_000, 250);
  assert.equal(again.body, 'written through db by the api');
  ok(['stack', 'down']);
});

/** A node app directory: `main` is its server.js; `health`: its manifest's [healthcheck] lines. */
function nodeApp(appDir: string, name: string, main: string, health = ''): void {
  mkdirSync(appDir, { recursive: true });
  writeFileSync(join(appDir, 'manifest.toml'), `[package]\nname = "${name}"\nversion = "1.0.0"\n\n[runtime]\nuse = "nodejs:20"\n\n[binary]\nentrypoint = "node"\nargs = ["server.js"]\n${health}`);
  writeFileSync(join(appDir, 'server.js'), main);
}

const SERVE = `require('http').createServer((q, s) => s.end('up')).listen(8080);\n`;
const JOB = (code: number) => `console.log('migrating'); setTimeout(() => process.exit(${code}), 300);\n`;

test('depends_on conditions: a one-shot job that completes, and conditions that cannot hold fail the switch with both services and the reason', { timeout: 600_000 }, async () => {
  const base = join(dir, 'conditions');
  nodeApp(join(base, 'web'), 'cond-web', SERVE);
  nodeApp(join(base, 'migrate-ok'), 'cond-migrate', JOB(0));
  nodeApp(join(base, 'migrate-bad'), 'cond-migrate-bad', JOB(3));
  nodeApp(join(base, 'sick'), 'cond-sick', SERVE, '\n[healthcheck]\ntcp = 9\ninterval = "1s"\ntimeout = "1s"\nretries = 2\n');
  // restart = true: a new job restarts web after it, so web waits for the job again.
  const stack = (job: string) => `[stack]\nname = "cond"\n[[service]]\nname = "web"\npackage = "./web"\ndepends_on = { migrate = { condition = "completed", restart = true } }\n[[service]]\nname = "migrate"\npackage = "./${job}"\nrestart = "no"\n`;
  const up = (text: string) => { writeFileSync(join(base, 'stack.toml'), text); return niso(['stack', 'up', '-f', join(base, 'stack.toml')], 300_000); };

  // The job runs to its end before web starts; SafeSwitch takes its exit 0 as its success.
  const ok1 = up(stack('migrate-ok'));
  assert.equal(ok1.code, 0, `${ok1.stderr}${ok1.stdout}`);
  assert.match(ok1.stdout, /start {3}migrate \(cond-migrate 1\.0\.0\)\nstart {3}web \(cond-web 1\.0\.0\)/);
  const st = (JSON.parse(ok(['stack', 'status', 'cond', '--json'])) as StatusJson).services;
  assert.deepEqual(st.map((s) => [s.service, s.state]), [['migrate', 'inactive'], ['web', 'active']]);
  assert.match(ok(['stack', 'logs', '--file', join(base, 'stack.toml'), 'migrate']), /^migrate \| migrating$/m);
  // restart and exec, thin over the service verbs, by the stack's service names.
  const f = join(base, 'stack.toml');
  const before = (JSON.parse(ok(['stack', 'ps', '--file', f, '--json'])) as { service: string; pid: number | null }[]).find((x) => x.service === 'web')!.pid;
  ok(['stack', 'restart', '--file', f, 'web']);
  const after = (JSON.parse(ok(['stack', 'ps', '--file', f, '--json'])) as { service: string; pid: number | null; state: string }[]).find((x) => x.service === 'web')!;
  assert.ok(after.pid !== null && after.pid !== before, `web restarted: pid ${before} → ${after.pid}`);
  assert.equal(ok(['stack', 'exec', '--file', f, 'web', '--', 'node', '-e', 'console.log("exec in " + process.env.NISO_SERVICE)']).trim(), 'exec in cond.web');
  const unknown = niso(['stack', 'exec', '--file', f, 'nope', '--', 'true']);
  assert.match(unknown.stderr, /stack cond has no service "nope"/);

  // A job that exits 3: web is not started again, the switch goes back (web and the good job as they were).
  const bad = up(stack('migrate-bad'));
  assert.equal(bad.code, 1, `${bad.stderr}${bad.stdout}`);
  assert.match(bad.stderr, /NISO6050: cond\.web waits for cond\.migrate to complete, but it exited 3/);
  assert.match(bad.stderr, /the switch to generation \d+ was undone/);

  // healthy on a service whose check never passes: its health check is the reason, whatever its restart policy made
  // of it meanwhile (on systemd it shows inactive until its restart timer fires).
  const sick = up(`[stack]\nname = "cond"\n[[service]]\nname = "web"\npackage = "./web"\ndepends_on = { db = { condition = "healthy", restart = true } }\n[[service]]\nname = "db"\npackage = "./sick"\n`);
  assert.equal(sick.code, 1, `${sick.stderr}${sick.stdout}`);
  assert.match(sick.stderr, /NISO6050: cond\.web waits for cond\.db to be healthy, but its health check fails/);
  // The host is back at the good stack: web runs, and the job is the good one again (not run again: it had completed
  // before the switch; its state tells its last run, the bad job's, on systemd, and the stop on the embedded backend).
  const back = JSON.parse(ok(['stack', 'ps', '--file', f, '--json'])) as { service: string; state: string; package: { name: string } }[];
  assert.deepEqual(back.map((x) => [x.service, x.package.name]), [['migrate', 'cond-migrate'], ['web', 'cond-web']]);
  assert.equal(back.find((x) => x.service === 'web')!.state, 'active');
  assert.ok(['inactive', 'failed'].includes(back.find((x) => x.service === 'migrate')!.state));
  ok(['stack', 'down', 'cond']);
});
