// catalog/redis packed for real from Debian's own packages (the .debs cached in /var/cache/niso-test/debs between runs),
// installed and activated with a mapped port: the host's redis-cli stores a key, the service restarts and the key is
// read back from the append-only file in its volume. And the package needs nothing of the host's: its redis-server
// still starts in a mount namespace where the host's copies of its libraries and programs are hidden.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, DEB_CACHE, catalogEnv } from '../helpers/catalog.js';
import { freePort } from '../helpers/ports.js';

const { recipe: CATALOG, dir, root, ok } = catalogEnv('redis');
const cli = (port: number, ...args: string[]) => spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });

const haveCli = spawnSync('redis-cli', ['--version']).status === 0;

test('catalog/redis: packed from Debian packages, deterministic, self-contained; data survives a restart', { skip: haveCli ? false : 'redis-cli is not installed (scripts/install-deps.sh installs redis-tools)', timeout: 900_000 }, async () => {
  const out = join(dir, 'redis.niso');
  const packed = JSON.parse(ok(['pack', CATALOG, '-o', out, '--json'])) as { digest: string; debian: { packages: number; libraries: number; fromHost: number } };
  assert.ok(packed.debian.packages >= 10, 'the closure of redis-server has glibc, openssl, jemalloc, ...');
  assert.equal(packed.debian.fromHost, 0, 'Debian\'s Depends cover every library redis loads');
  assert.ok(packed.debian.libraries > 10);
  // Same .debs, same bytes: the digest is the same when packed again (from the cache).
  const again = JSON.parse(ok(['pack', CATALOG, '-o', join(dir, 'again.niso'), '--json'])) as { digest: string };
  assert.equal(again.digest, packed.digest);

  const inspected = JSON.parse(ok(['inspect', out, '--json'])) as { fromHost: { kind: string; debian: { packages: { name: string; version: string; sha256: string }[]; fromHost: unknown[] } } };
  assert.equal(inspected.fromHost.kind, 'kernel');
  const server = inspected.fromHost.debian.packages.find((p) => p.name === 'redis-server');
  assert.match(server?.version ?? '', /^5:7\./, 'Redis 7 from Debian 12');
  assert.match(server?.sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.ok(inspected.fromHost.debian.packages.some((p) => p.name === 'libc6'), 'glibc comes from the package');
  assert.ok(existsSync(join(DEB_CACHE, 'libc6_' + inspected.fromHost.debian.packages.find((p) => p.name === 'libc6')!.version + '_amd64.deb')) || process.arch !== 'x64');

  ok(['install', out]);
  const port = await freePort();
  ok(['activate', 'redis', '-p', `127.0.0.1:${port}:6379`, '--wait'], 120_000);
  assert.equal(cli(port, 'SET', 'greeting', 'hello from debian').stdout.trim(), 'OK');
  assert.equal(cli(port, 'GET', 'greeting').stdout.trim(), 'hello from debian');
  const status = JSON.parse(ok(['status', 'redis', '--json'])) as { health?: string } | { health?: string }[];
  const one = Array.isArray(status) ? status[0]! : status;
  assert.equal(one.health, 'healthy', 'redis-cli ping inside the sandbox (the exec probe)');

  ok(['restart', 'redis'], 120_000);
  let got = '';
  for (let i = 0; i < 50 && got !== 'hello from debian'; i++) {
    got = cli(port, 'GET', 'greeting').stdout.trim();
    if (got !== 'hello from debian') await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(got, 'hello from debian', 'the AOF in the volume brought the key back');
  ok(['deactivate', 'redis']);

  // Self-contained: in a mount namespace where the host's own copies of what redis loads are empty files, the
  // package's redis-server still starts (it loads the package's loader and libraries, from its own /usr). The package
  // by its version: a bare `redis` is the service of that name now, and `niso run redis` a one-off of it.
  const hide = ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/x86_64-linux-gnu/liblzf.so.1', '/usr/lib/x86_64-linux-gnu/libatomic.so.1', '/usr/bin/redis-cli', '/usr/bin/redis-server'].filter((p) => existsSync(p));
  const empty = join(dir, 'empty');
  writeFileSync(empty, '');
  const script = `${hide.map((p) => `mount --bind ${empty} ${p}`).join(' && ')}${hide.length > 0 ? ' && ' : ''}exec "$@"`;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', process.execPath, BIN, 'run', 'redis:7.0.15', '--network', 'none', '--', '--version'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root }, timeout: 120_000 });
  assert.equal(r.status, 0, `${r.stderr}${r.stdout}`);
  assert.match(r.stdout, /Redis server v=7\./);
});
