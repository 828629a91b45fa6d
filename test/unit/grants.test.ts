// Grants from the command line and the manifest, as data: -v, --mount and --config as Docker users write them (and
// as they must not), the host paths no service may see, and which volumes a service ends up with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigFlags, parseMountFlag, parseVolumeFlag } from '../../src/cli/commands/run.js';
import { isNisoError } from '../../src/errors/niso-error.js';
import { sensitiveHit, volumeGrants } from '../../src/plan/grants.js';
import { parseManifest } from '../../src/manifest/parse.js';
import type { Context } from '../../src/cli/context.js';

const ctx = { cwd: '/home/me/app', env: {} } as unknown as Context;

const accepted: [string, unknown][] = [
  ['-v data:/data', { type: 'volume', source: 'data', target: '/data', readOnly: false, exclusive: false }],
  ['-v data:/data:ro', { type: 'volume', source: 'data', target: '/data', readOnly: true, exclusive: false }],
  ['-v pg:/var/lib/pg:rw,exclusive', { type: 'volume', source: 'pg', target: '/var/lib/pg', readOnly: false, exclusive: true }],
  ['-v web/data:/old', { type: 'volume', source: 'web/data', target: '/old', readOnly: false, exclusive: false }],
  ['-v /srv/media:/media:ro', { type: 'bind', source: '/srv/media', target: '/media', readOnly: true }],
  ['-v ./public:/www', { type: 'bind', source: '/home/me/app/public', target: '/www', readOnly: false }],
  ['-v ../shared:/shared', { type: 'bind', source: '/home/me/shared', target: '/shared', readOnly: false }],
  ['--mount type=volume,src=data,dst=/data', { type: 'volume', source: 'data', target: '/data', readOnly: false, exclusive: false }],
  ['--mount source=data,target=/data,readonly', { type: 'volume', source: 'data', target: '/data', readOnly: true, exclusive: false }],
  ['--mount type=volume,source=pg,destination=/pg,exclusive=true,ro=false', { type: 'volume', source: 'pg', target: '/pg', readOnly: false, exclusive: true }],
  ['--mount type=bind,src=/srv/media,dst=/media,ro', { type: 'bind', source: '/srv/media', target: '/media', readOnly: true }],
];

const refused: [string, string][] = [
  ['-v data', 'a volume needs a place in the sandbox'],
  ['-v data:', 'expected SOURCE:TARGET'],
  ['-v :/data', 'expected SOURCE:TARGET'],
  ['-v a:/b:ro:x', 'expected SOURCE:TARGET'],
  ['-v data:/data:rx', 'unknown option "rx"'],
  ['-v data:data', 'not an absolute, normalised path'],
  ['-v data:/data/../etc', 'not an absolute, normalised path'],
  ['-v data:/data//x', 'not an absolute, normalised path'],
  ['-v data:/', 'is /, which niso mounts itself'],
  ['-v data:/app', 'is /app'],
  ['-v data:/app/node_modules', 'is inside /app'],
  ['-v data:/state', 'is /state'],
  ['-v data:/etc/passwd', 'is inside /etc'],
  ['-v data:/proc/1', 'is inside /proc'],
  ['-v data:/run/secrets/x', 'is inside /run/secrets'],
  ['-v /srv:/srv:exclusive', '"exclusive" applies to volumes'],
  ['--mount type=tmpfs,dst=/x', 'type=tmpfs'],
  ['--mount type=volume,dst=/x', 'no source'],
  ['--mount type=volume,src=x', 'no target'],
  ['--mount src=x,dst=/x,bogus=1', 'unknown field "bogus"'],
  ['--mount src=x,src=y,dst=/x', '"source" is given twice'],
  ['--mount src=x,dst=/x,readonly=maybe', 'expected true or false'],
  ['--mount type=volume,src=/srv,dst=/x', 'takes a volume name, not the path'],
  ['--mount type=bind,src=/srv,dst=/x,exclusive', '"exclusive" applies to volumes'],
];

const parse = (spec: string) => (spec.startsWith('-v ') ? parseVolumeFlag(ctx, spec.slice(3)) : parseMountFlag(ctx, spec.slice('--mount '.length)));

for (const [spec, expected] of accepted) {
  test(`mount flag accepted: ${spec}`, () => assert.deepEqual(parse(spec), expected));
}
for (const [spec, why] of refused) {
  test(`mount flag refused: ${spec}`, () => {
    assert.throws(() => parse(spec), (e: unknown) => isNisoError(e) && e.code === 'NISO5050' && e.message.includes(why) && e.message.startsWith(spec.startsWith('-v') ? '-v ' : '--mount ') && (e.hint ?? '') !== '');
  });
}

test('--config: NAME=FILE for a config of the manifest, FILE:TARGET for any path but niso\'s own files', () => {
  assert.deepEqual(parseConfigFlags(ctx, ['app=./app.toml', '/etc/x.conf:/etc/nginx/nginx.conf']), [
    { name: 'app', file: '/home/me/app/app.toml', target: null, flag: '--config app=./app.toml' },
    { name: null, file: '/etc/x.conf', target: '/etc/nginx/nginx.conf', flag: '--config /etc/x.conf:/etc/nginx/nginx.conf' },
  ]);
  for (const [spec, why] of [['app.toml', 'expected NAME=FILE'], ['x:relative', 'expected NAME=FILE'], ['x:/etc/passwd', 'is /etc/passwd'], ['x:/state/c', 'is inside /state'], ['x:/etc/../etc/hosts', 'not an absolute, normalised path']] as const) {
    assert.throws(() => parseConfigFlags(ctx, [spec]), (e: unknown) => isNisoError(e) && e.code === 'NISO5056' && e.message.includes(why), spec);
  }
});

test('host paths: the sensitive trees, what is inside them and what contains them are refused; a directory of its own is not', () => {
  for (const p of ['/', '/etc', '/etc/nginx', '/proc/self', '/sys', '/dev/sda', '/var', '/var/lib', '/var/lib/niso', '/var/lib/niso/volumes/x', '/run', '/run/docker.sock', '/var/run/docker.sock', '/root/.ssh', '/boot'] as const) {
    assert.ok(sensitiveHit(p) !== null, p);
  }
  for (const p of ['/srv/media', '/home/me/www', '/opt/data', '/var/www', '/var/lib/postgresql', '/run/postgresql', '/mnt/disk']) assert.equal(sensitiveHit(p), null, p);
  // Another NISO_ROOT's own state.
  assert.equal(sensitiveHit('/tmp/root/var/lib/niso/store', ['/tmp/root/var/lib/niso']), '/tmp/root/var/lib/niso');
  assert.equal(sensitiveHit('/tmp', ['/tmp/root/var/lib/niso']), '/tmp/root/var/lib/niso');
});

test('volumes: the manifest\'s are the service\'s own, the command line mounts another at the same place and keeps it exclusive', () => {
  const m = parseManifest('[package]\nname = "db"\nversion = "1.0.0"\n[binary]\nentrypoint = "bin/db"\n[volumes.data]\nmount = "/data"\nexclusive = true\n[volumes.logs]\nmount = "/logs"\n').manifest!;
  assert.deepEqual(volumeGrants('pg', m, {}), [
    { volume: 'pg/data', target: '/data', readOnly: false, exclusive: true, from: 'manifest' },
    { volume: 'pg/logs', target: '/logs', readOnly: false, exclusive: false, from: 'manifest' },
  ]);
  assert.deepEqual(volumeGrants('pg', m, { mounts: [{ type: 'volume', source: 'pgdata', target: '/data', readOnly: false, exclusive: false }, { type: 'volume', source: 'seed', target: '/seed', readOnly: true, exclusive: false }] }), [
    { volume: 'pg/logs', target: '/logs', readOnly: false, exclusive: false, from: 'manifest' },
    { volume: 'pgdata', target: '/data', readOnly: false, exclusive: true, from: 'command line' },
    { volume: 'seed', target: '/seed', readOnly: true, exclusive: false, from: 'command line' },
  ]);
});
