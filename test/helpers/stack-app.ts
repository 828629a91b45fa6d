// The seed's stack for the stack e2e files (stack.test.ts, stack-systemd.test.ts): a node API that uses the `pg`
// client through DATABASE_URL with the host name `db`, and the stack.toml that runs it beside the catalog's postgres.
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO_MODULES = join(import.meta.dirname, '../../node_modules');

/** `pg` and what it needs, copied from this repository's node_modules into the API's. */
function copyPg(appDir: string): void {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const from = join(REPO_MODULES, name);
    if (!existsSync(from)) return; // an optional dependency not installed (pg-cloudflare outside workers)
    cpSync(from, join(appDir, 'node_modules', name), { recursive: true, dereference: true });
    const pkg = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const d of Object.keys(pkg.dependencies ?? {})) visit(d);
  };
  visit('pg');
}

/** The API: at start it makes its table and writes a row (retrying until the database takes connections); GET / reads it back. */
export function writeApi(appDir: string, version: string, healthy: boolean): void {
  mkdirSync(appDir, { recursive: true });
  writeFileSync(join(appDir, 'manifest.toml'), `[package]\nname = "my-api"\nversion = "${version}"\n\n[runtime]\nuse = "nodejs:20"\n\n[binary]\nentrypoint = "node"\nargs = ["server.js"]\n\n[network]\nports = ["8080:8080"]\n\n[healthcheck]\nhttp = "http://127.0.0.1:8080/health"\ninterval = "2s"\ntimeout = "2s"\nretries = 2\nstart_period = "10s"\n`);
  writeFileSync(join(appDir, 'server.js'), `const http = require('http');
const { Pool } = require('pg');
const pool = new Pool({ connectionString: process.env.DATABASE_URL });
const VERSION = ${JSON.stringify(version)};
const HEALTHY = ${healthy};
async function setup() {
  for (;;) {
    try {
      await pool.query('create table if not exists notes (id int primary key, body text)');
      await pool.query("insert into notes values (1, 'written through db by the api') on conflict (id) do nothing");
      return;
    } catch (e) { console.error('waiting for the database: ' + e.message); await new Promise((r) => setTimeout(r, 500)); }
  }
}
setup().then(() => {
  http.createServer(async (req, res) => {
    if (req.url === '/health') { res.statusCode = HEALTHY ? 200 : 500; res.end(HEALTHY ? 'ok' : 'sick'); return; }
    try {
      const r = await pool.query('select body from notes where id = 1');
      res.end(JSON.stringify({ version: VERSION, body: r.rows[0] ? r.rows[0].body : null }));
    } catch (e) { res.statusCode = 500; res.end(String(e)); }
  }).listen(8080, () => console.log('api ' + VERSION + ' listening'));
});
`);
  copyPg(appDir);
}

/** The seed's stack.toml, with the API as an app directory and a free host port. */
export const stackToml = (port: number, name = 'my-platform') => `[stack]
name = "${name}"

[[service]]
name = "api"
package = "./api"
ports = ["127.0.0.1:${port}:8080"]
depends_on = { db = "healthy" }
[service.environment]
DATABASE_URL = "postgres://postgres:secret@db:5432/postgres"

[[service]]
name = "db"
package = "postgres:15"
volumes = { pgdata = { mount = "/data", exclusive = true } }
[service.environment]
POSTGRES_PASSWORD = "secret"
`;

