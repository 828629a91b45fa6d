// The rules of secrets as data (secret/names.ts, plan/secrets.ts, the weakening a manifest's secret is): names and
// targets a hostile or careless input brings, how --secret and [secrets] combine, what the operator must confirm, and
// that no rendering of a plan can hold a secret's bytes (it has only their digest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNisoError } from '../../src/errors/niso-error.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { buildPlan } from '../../src/plan/build-plan.js';
import { secretGrants, secretMounts, secretNamesAsked } from '../../src/plan/secrets.js';
import { manifestWeakenings, trusts } from '../../src/plan/weakenings.js';
import { renderBwrap } from '../../src/render/bwrap.js';
import { renderSystemdUnit } from '../../src/render/systemd.js';
import { transientProperties } from '../../src/render/systemd-run.js';
import { MAX_SECRET_BYTES, parseSecretOption, secretNameError, secretNameProblem, targetProblem } from '../../src/secret/names.js';
import { GOLDEN_HOST, GOLDEN_PKG } from '../helpers/golden-plan.js';
import { NODE_MANIFEST } from '../helpers/tmp.js';

const manifestWith = (extra: string) => {
  const r = parseManifest(NODE_MANIFEST('tool', '1.0.0', extra));
  assert.ok(r.manifest, JSON.stringify(r.diagnostics));
  return r.manifest;
};

/** The code of what fn throws (a NisoError, never anything else). */
function codeOf(fn: () => unknown): string {
  try { fn(); } catch (e) { assert.ok(isNisoError(e), `a coded error, not ${String(e)}`); return e.code; }
  assert.fail('it was refused');
}

test('secret names: lower-case file names of up to 64 characters; "/", "..", NUL, 300 characters and upper case are refused', () => {
  for (const ok of ['db', 'db-password', 'tls.key', 'a_b', '0', 'x'.repeat(64)]) assert.equal(secretNameProblem(ok), null, ok);
  const hostile: [string, RegExp][] = [
    ['', /empty/], ['/', /"\/"/], ['../etc/shadow', /"\/"/], ['..', /path component/], ['.', /path component/], ['a\0b', /NUL/],
    ['x'.repeat(300), /300 characters/], ['x'.repeat(65), /65 characters/], ['DB', /upper-case/], ['-db', /start/], ['.hidden', /start/], ['db password', /characters other/], ['db\n', /characters other/],
  ];
  for (const [name, why] of hostile) {
    const e = secretNameError(name);
    assert.ok(e, JSON.stringify(name));
    assert.equal(e.code, 'NISO5100');
    assert.match(e.message, why);
    assert.ok(!e.message.includes('\0') && !e.message.includes('\n'), 'the message shows the name escaped');
    assert.ok(e.message.length < 200, 'a long name is cut in the message');
    assert.match(e.hint!, /e\.g\. "[a-z0-9][a-z0-9._-]*"/);
  }
});

test('targets: absolute and normalised, never in /app, /state, /proc, /dev, /sys or systemd\'s /run/credentials', () => {
  for (const ok of ['/run/secrets/db', '/etc/app/key.pem', '/tmp/x', '/data/secret']) assert.equal(targetProblem(ok), null, ok);
  for (const bad of ['relative', '/', '/run//x', '/run/./x', '/run/../etc/shadow', '/app', '/app/config.json', '/state/x', '/proc/self/x', '/dev/x', '/sys/x', '/run/credentials/x', '/x\0y', `/${'a'.repeat(2000)}`]) {
    assert.ok(targetProblem(bad), bad);
  }
});

test('--secret: NAME, NAME,target=PATH and Docker\'s source=/target=; uid, gid, mode and anything else are refused with a code', () => {
  assert.deepEqual(parseSecretOption('db'), { name: 'db' });
  assert.deepEqual(parseSecretOption('db,target=/etc/db.pass'), { name: 'db', target: '/etc/db.pass' });
  assert.deepEqual(parseSecretOption('source=db,target=/etc/db.pass'), { name: 'db', target: '/etc/db.pass' });
  assert.deepEqual(parseSecretOption('src=db,dst=/x'), { name: 'db', target: '/x' });
  for (const [text, code] of [['db,uid=0', 'NISO5107'], ['db,mode=0444', 'NISO5107'], ['db,foo=1', 'NISO5107'], ['', 'NISO5107'], [',target=/x', 'NISO5107'], ['db,x', 'NISO5107'],
    ['db,target=/a,target=/b', 'NISO5107'], ['src=a,src=b', 'NISO5107'], ['../db', 'NISO5100'], ['DB', 'NISO5100'], ['db,target=relative', 'NISO5105'], ['db,target=/app/x', 'NISO5105']] as const) {
    assert.equal(codeOf(() => parseSecretOption(text)), code, text);
  }
});

test('grants: the manifest\'s at /run/secrets/NAME or its target, a --secret of the same name replaces it (its target wins), two at one path are refused', () => {
  const m = manifestWith('\n[secrets.db]\n\n[secrets.tls]\ntarget = "/etc/tls.pem"\n');
  assert.deepEqual(secretGrants(m, {}), [
    { name: 'db', target: '/run/secrets/db', from: 'manifest' },
    { name: 'tls', target: '/etc/tls.pem', from: 'manifest' },
  ]);
  assert.deepEqual(secretGrants(m, { secrets: [{ name: 'tls' }, { name: 'db', target: '/etc/db' }, { name: 'other' }] }), [
    { name: 'tls', target: '/etc/tls.pem', from: 'command line' },
    { name: 'db', target: '/etc/db', from: 'command line' },
    { name: 'other', target: '/run/secrets/other', from: 'command line' },
  ]);
  // One secret at two paths is fine; two at one path are not.
  assert.equal(secretGrants(m, { secrets: [{ name: 'x', target: '/a' }, { name: 'x', target: '/b' }] }).length, 4);
  assert.equal(codeOf(() => secretGrants(m, { secrets: [{ name: 'other', target: '/etc/tls.pem' }] })), 'NISO5105');
  assert.deepEqual(secretNamesAsked(m, { secrets: [{ name: 'db' }, { name: 'x' }, { name: 'BAD/' }] }), ['db', 'tls', 'x']);
  // Packages stored by an older niso have no [secrets] at all.
  const { secrets: _, ...old } = m;
  assert.deepEqual(secretGrants(old as typeof m, {}), []);
});

test('mounts: a secret the host lacks is NISO5101, more than 1023 KiB together NISO5103, a target on or in another mount NISO5105', () => {
  const grants = [{ name: 'db', target: '/run/secrets/db', from: 'command line' as const }];
  const digest = `sha256:${'a'.repeat(64)}`;
  assert.deepEqual(secretMounts(grants, { db: { digest, size: 10 } }, []), [{ type: 'secret', name: 'db', target: '/run/secrets/db', digest }]);
  assert.equal(codeOf(() => secretMounts(grants, {}, [])), 'NISO5101');
  const big = [{ name: 'a', target: '/run/secrets/a', from: 'command line' as const }, { name: 'b', target: '/run/secrets/b', from: 'command line' as const }, { name: 'c', target: '/run/secrets/c', from: 'command line' as const }];
  const full = { digest, size: MAX_SECRET_BYTES };
  assert.equal(secretMounts(big.slice(0, 2), { a: full, b: full }, []).length, 2, 'two of the largest fit');
  assert.equal(codeOf(() => secretMounts(big, { a: full, b: full, c: full }, [])), 'NISO5103');
  const binds = [{ type: 'bind' as const, source: '/srv/data', target: '/data', readOnly: false, purpose: 'volume' as const }, { type: 'tmpfs' as const, target: '/tmp', sizeBytes: 1 }];
  assert.equal(codeOf(() => secretMounts([{ name: 'db', target: '/data/db', from: 'manifest' }], { db: { digest } }, binds)), 'NISO5105', 'not inside a bind (a host dir)');
  assert.equal(codeOf(() => secretMounts([{ name: 'db', target: '/data', from: 'manifest' }], { db: { digest } }, binds)), 'NISO5105', 'not on another mount');
  assert.equal(codeOf(() => secretMounts([{ name: 'db', target: '/', from: 'manifest' }], { db: { digest } }, binds)), 'NISO5105', 'not above other mounts');
  assert.equal(secretMounts([{ name: 'db', target: '/tmp/db', from: 'manifest' }], { db: { digest } }, binds).length, 1, 'inside a tmpfs of the sandbox is fine');
});

test('a manifest\'s secret is a weakening: confirmed by --secret NAME or `secrets = ["NAME"]` in [trust], nothing else', () => {
  const m = manifestWith('\n[secrets.db]\n\n[secrets."ssh.key"]\n');
  assert.deepEqual(manifestWeakenings(m, {}).map((w) => `${w.kind}:${w.value}`), ['secret:db', 'secret:ssh.key']);
  assert.deepEqual(manifestWeakenings(m, { secrets: [{ name: 'db' }] }).map((w) => w.value), ['ssh.key']);
  assert.deepEqual(manifestWeakenings(m, { preset: 'strict', network: 'none' }).length, 2, 'no other flag confirms it');
  assert.equal(trusts({ secrets: ['db'] }, { kind: 'secret', value: 'db' }), true);
  assert.equal(trusts({ secrets: ['db'] }, { kind: 'secret', value: 'ssh.key' }), false);
  assert.equal(trusts({ networks: ['db'] }, { kind: 'secret', value: 'db' }), false, 'a network of that name is not the secret');
  // buildPlan itself refuses it: no path can skip the check.
  const input = { service: 'tool', manifest: m, package: GOLDEN_PKG, options: {}, host: { ...GOLDEN_HOST, secrets: { db: { digest: `sha256:${'1'.repeat(64)}` }, 'ssh.key': { digest: `sha256:${'2'.repeat(64)}` } } } };
  assert.equal(codeOf(() => buildPlan(input)), 'NISO3105');
  const plan = buildPlan({ ...input, options: { secrets: [{ name: 'db' }], trust: { secrets: ['ssh.key'] } } });
  assert.deepEqual(plan.mounts.filter((x) => x.type === 'secret').map((x) => x.type === 'secret' && `${x.name} ${x.target}`), ['ssh.key /run/secrets/ssh.key', 'db /run/secrets/db']);
  assert.equal(codeOf(() => buildPlan({ ...input, options: { preset: 'unsafe-none', secrets: [{ name: 'db' }, { name: 'ssh.key' }] } })), 'NISO5108', 'no sandbox, no place for the file');
});

test('no rendering can hold a secret\'s bytes: the plan has a digest, bwrap an fd that the starter fills, systemd a credential path', () => {
  const value = 'hunter2-never-rendered';
  const m = manifestWith('\n[network]\nmode = "none"\n');
  const plan = buildPlan({ service: 'tool', manifest: m, package: GOLDEN_PKG, options: { secrets: [{ name: 'db' }] }, host: { ...GOLDEN_HOST, secrets: { db: { digest: `sha256:${'c'.repeat(64)}`, size: value.length } } } });
  const bwrap = renderBwrap(plan, { seccomp: true, dieWithParent: false });
  const unit = renderSystemdUnit(plan, { generation: 'g', filesDir: '/var/lib/niso/services/tool/systemd', runtime: 'nodejs', secretsDir: '/var/lib/niso/secrets' });
  const everything = [JSON.stringify(plan), JSON.stringify(bwrap), unit.unit, JSON.stringify(unit.files), transientProperties(unit.unit, [], 'niso-run-tool-abc123.service').join('\n')].join('\n');
  assert.ok(!everything.includes(value));
  assert.deepEqual(bwrap.fds.filter((f) => f.kind === 'secret'), [{ fd: bwrap.fds.find((f) => f.kind === 'secret')!.fd, kind: 'secret', content: null, secret: 'db' }]);
  assert.ok(unit.unit.includes('LoadCredential=db:/var/lib/niso/secrets/db/value\nBindReadOnlyPaths=%d/db:/run/secrets/db\n'));
  assert.throws(() => renderSystemdUnit(plan, { generation: 'g', filesDir: '/x', runtime: 'nodejs' }), /no secret store/);
});
