// `niso stack config` as a user runs it (the built CLI, a NISO_ROOT of its own): the stack file, the .env beside it and
// the env_files it names are read from disk, the environment comes from niso's own, packages are looked up in the store
// (a version line takes the newest installed build), and `healthy` on a package without a health check is refused by
// what its installed manifest says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_MANIFEST, tempDir, writeTree } from '../helpers/tmp.js';
import { parseStack } from '../../src/stack/parse.js';
import { resolveStack } from '../../src/stack/resolve.js';

const BIN = join(import.meta.dirname, '../../bin/niso');

const dir = tempDir('niso-stack-');
const root = join(dir, 'root');

function niso(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NISO_ROOT: root, ...opts.env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

/** Packs and installs a tiny node app; its digest. */
function install(name: string, version: string, extra = ''): string {
  const app = join(dir, 'apps', `${name}-${version}`);
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'manifest.toml'), NODE_MANIFEST(name, version, extra));
  writeFileSync(join(app, 'server.js'), 'setInterval(() => {}, 1000);\n');
  const pack = niso(['pack', '--json', '-o', join(dir, 'apps', `${name}-${version}.niso`)], { cwd: app });
  assert.equal(pack.code, 0, pack.stderr);
  const ins = niso(['install', pack.json().file, '--json']);
  assert.equal(ins.code, 0, ins.stderr);
  return ins.json().digest as string;
}

const web12 = install('web', '1.2.0');
const web13 = install('web', '1.3.0');
const db = install('db', '15.3.0', '[healthcheck]\ntcp = 5432\n');

const STACK = `[stack]
name = "shop"

[[service]]
name = "api"
package = "web:1"
ports = ["\${HTTP_PORT:-8080}:3000"]
depends_on = { db = "healthy" }
env_file = "./api.env"
[service.environment]
DATABASE_URL = "postgres://app:\${DB_PASSWORD:?set DB_PASSWORD}@db:5432/app"
GREETING = "\${GREETING}"

[[service]]
name = "db"
package = "db:15"
volumes = { pgdata = { mount = "/data", exclusive = true } }

[[service]]
name = "legacy"
package = "web:1.2.0"
profiles = ["old"]

[[service]]
name = "local"
package = "./local-app"
profiles = ["dev"]
`;

test('stack config prints the resolved stack, which resolves the same again, with each package as the store has it', async () => {
  const s = join(dir, 'shop');
  await writeTree(s, { 'stack.toml': STACK, '.env': 'HTTP_PORT=8081\nDB_PASSWORD=from-dotenv\n', 'api.env': 'LOG_LEVEL=info\n' });
  const r = niso(['stack', 'config'], { cwd: s, env: { DB_PASSWORD: 'from-env' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^warning NISO5315: stack\.toml:12:13: .*variable GREETING is not set/m, 'an unset variable is a warning, on stderr');
  assert.match(r.stdout, /^# niso services on this host: api → shop\.api, db → shop\.db$/m);
  assert.match(r.stdout, new RegExp(`^package = "web:1"  # installed: web 1\\.3\\.0 \\(${web13.slice(0, 19)}\\)$`, 'm'), 'a version line takes the newest installed build');
  assert.match(r.stdout, new RegExp(`^package = "db:15"  # installed: db 15\\.3\\.0 \\(${db.slice(0, 19)}\\)$`, 'm'));
  assert.match(r.stdout, /^ports = \["8081:3000\/tcp"\]$/m, '.env gives the default');
  assert.match(r.stdout, /^DATABASE_URL = "postgres:\/\/app:from-env@db:5432\/app"$/m, 'the environment wins over .env');
  assert.match(r.stdout, /^LOG_LEVEL = "info"$/m, 'env_file merged in');
  assert.doesNotMatch(r.stdout, /^name = "(legacy|local)"$/m, 'services of profiles not in effect are left out');
  assert.match(r.stdout, /^# left out by the profiles: legacy \(old\), local \(dev\)$/m);
  // What it prints is a stack file that resolves to the same services, with nothing left to look up.
  const again = parseStack(r.stdout, 'printed.toml');
  assert.ok(again.ok);
  const first = niso(['stack', 'config', '--json'], { cwd: s, env: { DB_PASSWORD: 'from-env' } }).json();
  const printed = resolveStack(again.source, {}, {}, { path: join(s, 'stack.toml') });
  assert.deepEqual(printed.diagnostics, []);
  assert.deepEqual(JSON.parse(JSON.stringify(printed.stack!.services)), first.stack.services);
});

test('stack config --json: the stack, what each package reference means here, and where each variable came from', async () => {
  const s = join(dir, 'shop-json');
  await writeTree(s, { 'stack.toml': STACK, '.env': 'DB_PASSWORD=from-dotenv\n', 'api.env': '', 'local-app/manifest.toml': NODE_MANIFEST('local', '0.1.0') });
  const r = niso(['stack', 'config', '--json', '--profile', 'old', '--profile', 'dev'], { cwd: s, env: { GREETING: 'hi' } });
  assert.equal(r.code, 0, r.stderr);
  const j = r.json();
  assert.deepEqual(j.stack.profiles, ['old', 'dev']);
  assert.deepEqual(j.stack.services.map((x: { name: string }) => x.name), ['shop.api', 'shop.db', 'shop.legacy', 'shop.local']);
  assert.deepEqual(j.packages, {
    api: { status: 'installed', name: 'web', version: '1.3.0', digest: web13 },
    db: { status: 'installed', name: 'db', version: '15.3.0', digest: db },
    legacy: { status: 'installed', name: 'web', version: '1.2.0', digest: web12 },
    local: { status: 'directory', path: join(s, 'local-app') },
  });
  const api = j.stack.services[0];
  assert.deepEqual(api.options.env, { DATABASE_URL: 'postgres://app:from-dotenv@db:5432/app', GREETING: 'hi' });
  assert.deepEqual(api.dependsOn, [{ service: 'db', condition: 'healthy', restart: false, required: true }]);
  assert.deepEqual(j.stack.services[1].options.mounts, [{ type: 'volume', source: 'shop_pgdata', target: '/data', readOnly: false, exclusive: true }]);
  assert.deepEqual(j.variables, [{ name: 'HTTP_PORT', from: 'unset' }, { name: 'DB_PASSWORD', from: '.env' }, { name: 'GREETING', from: 'environment' }]);
  assert.deepEqual(j.warnings, []);
  // A package nobody installed is said to be so, not an error: `stack up` would install or fail on it.
  await writeTree(s, { 'stack.toml': STACK.replace('"db:15"', '"db:16"') });
  const missing = niso(['stack', 'config', '--json'], { cwd: s, env: { GREETING: 'hi' } });
  assert.equal(missing.code, 0, missing.stderr);
  assert.deepEqual(missing.json().packages.db, { status: 'not installed' });
});

test('healthy on a package without a health check is refused from its installed manifest; the stack\'s own check satisfies it', async () => {
  const s = join(dir, 'health');
  const text = `[stack]\nname = "h"\n[[service]]\nname = "api"\npackage = "db:15"\ndepends_on = { web = "healthy" }\n[[service]]\nname = "web"\npackage = "web"\n`;
  await writeTree(s, { 'stack.toml': text });
  const r = niso(['stack', 'config'], { cwd: s });
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.stderr, /^error NISO5308: stack\.toml:6:16: api waits for "web" to be healthy, but its package has no health check: it would never be$/m);
  await writeTree(s, { 'stack.toml': `${text}healthcheck = { tcp = 3000 }\n` });
  assert.equal(niso(['stack', 'config'], { cwd: s }).code, 0);
});

test('stack config: every problem at once with its place, as JSON with --json, and the files it will not read', async () => {
  const s = join(dir, 'broken');
  await writeTree(s, { 'stack.toml': '[stack]\nname = "b"\n[[service]]\nname = "api"\npakage = "x"\n[[service]]\nname = "db"\npackage = "./nowhere"\ndepends_on = ["dbb"]\nenv_file = "missing.env"\n', '.env': 'BROKEN LINE\n' });
  const r = niso(['stack', 'config'], { cwd: s });
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  for (const line of ['error NISO5316: .env:1:8: "BROKEN" is followed by "L", not "="', 'error NISO1002: stack.toml:5:1: unknown key "pakage" in [service[0]]', 'error NISO5306: stack.toml:9:15: db depends on "dbb", which is no service of this stack']) {
    assert.ok(r.stderr.includes(line), `${line}\n---\n${r.stderr}`);
  }
  assert.match(r.stderr, /error NISO5317: stack\.toml:10:12: db: env_file missing\.env/);
  const j = niso(['stack', 'config', '--json'], { cwd: s });
  assert.equal(j.code, 2);
  const codes = (j.json().error.diagnostics as { code: string; line: number }[]).map((d) => d.code);
  assert.deepEqual([...new Set(codes)].sort(), ['NISO1002', 'NISO5306', 'NISO5316', 'NISO5317']);
  // A path package that is not there is found once the stack itself is right.
  await writeTree(s, { 'stack.toml': '[stack]\nname = "b"\n[[service]]\nname = "db"\npackage = "./nowhere"\n', '.env': '' });
  const path = niso(['stack', 'config'], { cwd: s });
  assert.equal(path.code, 2);
  assert.match(path.stderr, /error NISO5321: stack\.toml:5:11: db: package \.\/nowhere \(.*\/broken\/nowhere\) does not exist/);

  const none = niso(['stack', 'config'], { cwd: join(dir, 'apps') });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /error NISO5300: .*no stack\.toml in the current directory/);
  assert.match(niso(['stack', 'config', '-f', 'nope.toml'], { cwd: s }).stderr, /NISO5300: .*nope\.toml: no such file/);
  // A FIFO is refused at once instead of waiting for a writer, for the stack file and the .env alike.
  execFileSync('mkfifo', [join(s, 'fifo.toml')]);
  const fifo = niso(['stack', 'config', '-f', 'fifo.toml'], { cwd: s });
  assert.equal(fifo.code, 2);
  assert.match(fifo.stderr, /NISO5300: .*fifo\.toml is a FIFO, not a regular file/);
  const e = join(dir, 'fifo-env');
  mkdirSync(e);
  writeFileSync(join(e, 'stack.toml'), '[stack]\nname = "f"\n[[service]]\nname = "a"\npackage = "web"\n');
  execFileSync('mkfifo', [join(e, '.env')]);
  assert.match(niso(['stack', 'config'], { cwd: e }).stderr, /NISO5301: .*\.env: it is a FIFO, not a regular file/);
  assert.match(niso(['stack', 'config', '--profile', 'bad name'], { cwd: e }).stderr, /NISO5320/);
});

test('niso explain knows every stack code', () => {
  for (const code of ['NISO5300', 'NISO5307', 'NISO5313', 'NISO5325']) {
    const r = niso(['explain', code]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^${code}: `));
  }
});
