// The pure part of registry support: references, manifests (pinned digests: a change of serialisation would break every
// pushed signature), headers of the distribution API, credentials lookup, the trust policy and signatures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { isNisoError } from '../../src/errors/niso-error.js';
import { formatReference, isLoopback, isPrivateAddress, looksLikeRegistryReference, parseReference, referrersTag } from '../../src/registry/reference.js';
import { EMPTY_BLOB, EMPTY_DIGEST, MT } from '../../src/registry/media.js';
import { packageArtifact, packageIndex, packageManifest, parseDocument, pickPlatform, sha256, signatureManifest, withReferrer, type ImageManifest, type PackageFacts } from '../../src/registry/manifest.js';
import { nextLink, parseChallenges, retryAfterMs, uploadOffset, ociErrors } from '../../src/registry/headers.js';
import { lookupCredentials, normaliseKey, withLogin, withoutLogin } from '../../src/registry/credentials.js';
import { decide, parsePolicy, scopeFor, serializePolicy, LOCAL_SCOPE } from '../../src/registry/policy.js';
import { keyId, pae, parsePublicKeyLine, publicKeyLine, readEnvelope, signStatement, verifyEnvelope, type Statement } from '../../src/registry/signature.js';
import { checkStatement, tagVersion } from '../../src/registry/verify.js';

const code = (c: string) => (e: unknown) => { assert.ok(isNisoError(e), String(e)); assert.equal(e.code, c, e.message); return true; };
const H = (c: string) => `sha256:${c.repeat(64)}`;

test('references: hosts, ports, Docker Hub, tags and digests; what is refused', () => {
  assert.deepEqual(parseReference('127.0.0.1:5000/apps/hello:1.0.0'), { registry: '127.0.0.1:5000', apiHost: '127.0.0.1:5000', repository: 'apps/hello', tag: '1.0.0' });
  assert.deepEqual(parseReference(`ghcr.io/o/r@${H('a')}`), { registry: 'ghcr.io', apiHost: 'ghcr.io', repository: 'o/r', digest: H('a') });
  assert.deepEqual(parseReference('hello'), { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'library/hello' });
  assert.deepEqual(parseReference('alice/hello:v2'), { registry: 'docker.io', apiHost: 'registry-1.docker.io', repository: 'alice/hello', tag: 'v2' });
  assert.equal(parseReference('localhost/x').registry, 'localhost');
  assert.equal(parseReference('[::1]:5000/x:1').registry, '[::1]:5000');
  assert.equal(parseReference('index.docker.io/x/y').registry, 'docker.io');
  assert.equal(formatReference(parseReference(`r.io:443/a/b:t@${H('b')}`)), `r.io:443/a/b:t@${H('b')}`);
  for (const bad of ['', 'Reg.io/Upper', 'r.io/a//b', 'r.io/a:-tag', 'r.io/a@sha256:xyz', 'r.io:99999/a', 'r.io/a b', `r.io/${'a'.repeat(256)}`]) {
    assert.throws(() => parseReference(bad), code('NISO7000'), bad);
  }
  assert.equal(looksLikeRegistryReference('127.0.0.1:5000/hello:1'), true);
  assert.equal(looksLikeRegistryReference('registry.example.com/team/app'), true);
  for (const notRemote of ['hello', 'hello:1.0.0', './x.niso', 'dist/hello.niso', '/abs/x', 'sub/dir']) assert.equal(looksLikeRegistryReference(notRemote), false, notRemote);
  assert.equal(isLoopback('127.0.0.1:5000'), true);
  assert.equal(isLoopback('[::1]:5000'), true);
  assert.equal(isLoopback('localhost'), true);
  assert.equal(isLoopback('10.0.0.1:5000'), false);
  assert.equal(isPrivateAddress('169.254.169.254'), true);
  assert.equal(isPrivateAddress('192.168.1.1'), true);
  assert.equal(isPrivateAddress('auth.docker.io'), false);
  assert.equal(referrersTag(H('c')), `sha256-${'c'.repeat(64)}`);
});

const FACTS: PackageFacts = { name: 'hello', version: '1.0.0', arch: 'x86_64', packageId: H('1'), file: { digest: H('2'), size: 1234 }, fileName: 'hello-1.0.0-x86_64.niso' };

test('a package manifest is fixed bytes derived from the package alone (its digest is pinned)', () => {
  const m = packageManifest(FACTS);
  assert.equal(m.bytes.toString(), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.niso.package.v1","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.niso.package.v1.tar+zstd","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":1234,"annotations":{"org.opencontainers.image.title":"hello-1.0.0-x86_64.niso"}}],"annotations":{"org.opencontainers.image.version":"1.0.0","dev.niso.package.name":"hello","dev.niso.package.arch":"x86_64","dev.niso.package.id":"sha256:1111111111111111111111111111111111111111111111111111111111111111"}}');
  assert.equal(m.digest, sha256(m.bytes));
  assert.equal(sha256(EMPTY_BLOB), EMPTY_DIGEST);
  assert.deepEqual(packageManifest({ ...FACTS }).bytes, m.bytes, 'same facts, same bytes');
  const doc = parseDocument(m.bytes, null, 'x');
  assert.equal(doc.kind, 'manifest');
  const a = packageArtifact((doc as { manifest: ImageManifest }).manifest, 'x');
  assert.deepEqual([a.name, a.version, a.arch, a.packageId, a.fileName, a.layer.size], ['hello', '1.0.0', 'x86_64', H('1'), FACTS.fileName, 1234]);
});

test('reading manifests: podman\'s artifact without artifactType is a package; images, other artifacts and junk are not', () => {
  const base = JSON.parse(packageManifest(FACTS).bytes.toString()) as Record<string, unknown>;
  const { artifactType: _a, ...noType } = base;
  const podman = parseDocument(Buffer.from(JSON.stringify(noType)), null, 'x');
  assert.equal(podman.kind, 'manifest');
  assert.equal(packageArtifact((podman as { manifest: ImageManifest }).manifest, 'x').layer.size, 1234);
  assert.throws(() => packageArtifact({ ...base, artifactType: 'application/vnd.other' } as ImageManifest, 'x'), code('NISO7012'));
  assert.throws(() => packageArtifact({ ...base, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: H('3'), size: 1 }] } as ImageManifest, 'x'), code('NISO7012'));
  assert.throws(() => packageArtifact({ ...base, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: H('4'), size: 1 }, artifactType: undefined } as ImageManifest, 'x'), code('NISO7012'));
  assert.throws(() => parseDocument(Buffer.from('not json'), null, 'x'), code('NISO7024'));
  assert.throws(() => parseDocument(Buffer.from('{"schemaVersion":2,"config":{"digest":"nope"},"layers":[]}'), null, 'x'), code('NISO7024'));
});

test('an index of architectures is in a fixed order; a host picks its own, else "any"', () => {
  const arm = { ...FACTS, arch: 'aarch64', file: { digest: H('5'), size: 9 } };
  const a = packageIndex([{ facts: FACTS, manifest: packageManifest(FACTS) }, { facts: arm, manifest: packageManifest(arm) }]);
  const b = packageIndex([{ facts: arm, manifest: packageManifest(arm) }, { facts: FACTS, manifest: packageManifest(FACTS) }]);
  assert.equal(a.digest, b.digest);
  const doc = parseDocument(a.bytes, MT.index, 'x');
  assert.equal(doc.kind, 'index');
  const index = (doc as { index: Parameters<typeof pickPlatform>[0] }).index;
  assert.equal(pickPlatform(index, 'x86_64')?.digest, packageManifest(FACTS).digest);
  assert.equal(pickPlatform(index, 'aarch64')?.digest, packageManifest(arm).digest);
  assert.equal(pickPlatform(index, 'riscv64'), null);
  const anyFacts = { ...FACTS, arch: 'any' };
  const withAny = packageIndex([{ facts: anyFacts, manifest: packageManifest(anyFacts) }]);
  assert.equal(pickPlatform((parseDocument(withAny.bytes, null, 'x') as { index: Parameters<typeof pickPlatform>[0] }).index, 'riscv64')?.digest, packageManifest(anyFacts).digest);
});

test('the referrers fallback index: duplicates skipped, others kept', () => {
  const s1 = signatureManifest(packageManifest(FACTS).descriptor, { digest: H('6'), size: 10 }, 'SHA256:a');
  const s2 = signatureManifest(packageManifest(FACTS).descriptor, { digest: H('7'), size: 10 }, 'SHA256:b');
  const first = withReferrer(null, s1.descriptor)!;
  const idx = (b: Buffer) => (parseDocument(b, null, 'x') as { index: NonNullable<Parameters<typeof withReferrer>[0]> }).index;
  assert.equal(withReferrer(idx(first.bytes), s1.descriptor), null);
  const both = withReferrer(idx(first.bytes), s2.descriptor)!;
  assert.deepEqual(idx(both.bytes).manifests.map((d) => [d.digest, d.artifactType, d.annotations?.['dev.niso.signature.keyid']]), [[s1.digest, MT.signature, 'SHA256:a'], [s2.digest, MT.signature, 'SHA256:b']]);
});

test('headers: challenges, Link pages, Retry-After, upload ranges, OCI errors', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull,push"'),
    [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/x:pull,push' } }]);
  assert.deepEqual(parseChallenges('Basic realm="a \\"quoted\\", realm", Bearer realm=x, service=y'),
    [{ scheme: 'basic', params: { realm: 'a "quoted", realm' } }, { scheme: 'bearer', params: { realm: 'x', service: 'y' } }]);
  assert.deepEqual(parseChallenges(''), []);
  assert.equal(nextLink('</v2/x/tags/list?n=2&last=b>; rel="next"', 'http://r:5000/v2/x/tags/list'), 'http://r:5000/v2/x/tags/list?n=2&last=b');
  assert.equal(nextLink('<http://other/a>; rel="prev"', 'http://r/'), null);
  assert.equal(nextLink(null, 'http://r/'), null);
  assert.equal(retryAfterMs('3', 0), 3000);
  assert.equal(retryAfterMs('Thu, 01 Jan 1970 00:00:10 GMT', 4000), 6000);
  assert.equal(retryAfterMs('soon', 0), null);
  assert.equal(uploadOffset('0-0'), 0);
  assert.equal(uploadOffset('0-99'), 100);
  assert.equal(uploadOffset('bytes=0-9'), 10);
  assert.equal(uploadOffset('5-9'), null);
  assert.deepEqual(ociErrors('{"errors":[{"code":"DENIED","message":"no"}]}'), [{ code: 'DENIED', message: 'no' }]);
  assert.deepEqual(ociErrors('404 page not found'), []);
});

test('credentials: helpers first, the most specific auths key, Docker Hub\'s historic key, credsStore last', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const file = {
    auths: {
      'r.io': { auth: b64('all:1') }, 'r.io/team': { auth: b64('team:2') }, 'https://index.docker.io/v1/': { auth: b64('hub:3') },
      'http://old.io/v2/': { auth: b64('old:4') }, 'tok.io': { identitytoken: 'refresh' },
    },
    credHelpers: { 'h.io': 'pass' },
  };
  assert.deepEqual(lookupCredentials(file, 'r.io', 'team/app', 'f'), { kind: 'basic', username: 'team', password: '2', source: 'f' });
  assert.deepEqual(lookupCredentials(file, 'r.io', 'other/app', 'f'), { kind: 'basic', username: 'all', password: '1', source: 'f' });
  assert.deepEqual(lookupCredentials(file, 'docker.io', 'library/x', 'f'), { kind: 'basic', username: 'hub', password: '3', source: 'f' });
  assert.deepEqual(lookupCredentials(file, 'old.io', 'x', 'f'), { kind: 'basic', username: 'old', password: '4', source: 'f' });
  assert.deepEqual(lookupCredentials(file, 'tok.io', 'x', 'f'), { kind: 'identity', username: '', token: 'refresh', source: 'f' });
  assert.deepEqual(lookupCredentials(file, 'h.io', 'x', 'f'), { kind: 'helper', helper: 'pass', source: 'f (credHelpers)' });
  assert.equal(lookupCredentials(file, 'none.io', 'x', 'f'), null);
  assert.deepEqual(lookupCredentials({ ...file, credsStore: 'desktop' }, 'none.io', 'x', 'f'), { kind: 'helper', helper: 'desktop', source: 'f (credsStore)' });
  assert.equal(lookupCredentials({ credHelpers: { 'h.io': '../../bin/sh' } }, 'h.io', 'x', 'f'), null, 'a helper name is never a path');
  assert.equal(normaliseKey('https://registry-1.docker.io/v2/'), 'docker.io');
  const logged = withLogin({ auths: { 'r.io/team': {} } }, 'r.io', 'u', 'p');
  assert.deepEqual(lookupCredentials(logged, 'r.io', 'x', 'f'), { kind: 'basic', username: 'u', password: 'p', source: 'f' });
  const out = withoutLogin(logged, 'r.io');
  assert.equal(out.removed, true);
  assert.deepEqual(out.file.auths, {});
});

const keys = () => { const k = generateKeyPairSync('ed25519'); return { priv: k.privateKey, pub: k.publicKey, line: publicKeyLine(k.publicKey, 'test key') }; };

test('the trust policy: scopes by most specific match, keys checked, file: only for local files, errors with their line', () => {
  const a = keys();
  const text = `version = 1\ndefault = "reject"\n\n[[scope]]\nmatch = "r.io"\nrequire = "insecure-accept-unsigned"\n\n[[scope]]\nmatch = "r.io/team"\nrequire = "signed"\nkeys = ["${a.line}"]\n\n[[scope]]\nmatch = "file:"\nrequire = "signed"\nkeys = ["${a.line}"]\n`;
  const p = parsePolicy(text, 'policy.toml');
  assert.equal(scopeFor(p, 'r.io/team/app')?.match, 'r.io/team');
  assert.equal(scopeFor(p, 'r.io/teams/app')?.match, 'r.io', 'a scope matches whole parts only');
  assert.equal(scopeFor(p, 'other.io/x'), null);
  assert.equal(decide(p, 'other.io/x').require, 'reject');
  assert.equal(decide(p, 'r.io/team/app').keys[0]!.keyid, keyId(a.pub));
  assert.equal(decide(p, LOCAL_SCOPE).require, 'signed');
  assert.equal(decide(parsePolicy('version = 1\n', 'p'), LOCAL_SCOPE).require, 'insecure-accept-unsigned', 'without a file: scope, local files are as before');
  assert.equal(scopeFor(p, 'file:/x'), null);
  assert.deepEqual(parsePolicy(serializePolicy(p), 'again'), p, 'what niso writes reads back the same');
  const bad = (t: string, c: string, line?: number) => assert.throws(() => parsePolicy(t, 'p.toml'), (e) => {
    assert.ok(isNisoError(e));
    const d = e.allDiagnostics()[0]!;
    assert.equal(d.code, c, d.message);
    if (line !== undefined) assert.equal(d.line, line);
    return true;
  });
  bad('version = 1\ndefalt = "reject"\n', 'NISO1002', 2);
  bad('version = 1\n[[scope]]\nmatch = "r.io"\nrequire = "signed"\nkeys = ["ssh-rsa AAAA"]\n', 'NISO7030', 5);
  bad('version = 1\n[[scope]]\nmatch = "r.io"\nrequire = "signed"\n', 'NISO7030');
  bad('version = 1\n[[scope]]\nmatch = "http://r.io"\nrequire = "reject"\n', 'NISO1005');
  bad(`version = 1\n[[scope]]\nmatch = "r.io"\nrequire = "reject"\n[[scope]]\nmatch = "r.io"\nrequire = "reject"\n`, 'NISO7030');
});

const STATEMENT: Statement = { name: 'hello', version: '1.0.0', arch: 'x86_64', packageId: FACTS.packageId, file: FACTS.file, manifestDigest: packageManifest(FACTS).digest, signedAt: '2026-01-01T00:00:00.000Z' };

test('signatures: DSSE over the statement with Ed25519; OpenSSH key lines and fingerprints; a changed byte does not verify', () => {
  const a = keys();
  const b = keys();
  const parsed = parsePublicKeyLine(a.line, 'k');
  assert.equal(parsed.keyid, keyId(a.pub));
  assert.equal(parsed.comment, 'test key');
  assert.match(parsed.keyid, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.throws(() => parsePublicKeyLine('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA', 'k'), code('NISO7020'));
  assert.deepEqual(pae('t', Buffer.from('hi')), Buffer.from('DSSEv1 1 t 2 hi'));
  const env = signStatement(STATEMENT, a.priv);
  const ok = verifyEnvelope(env.bytes, [{ keyid: parsed.keyid, key: parsed.key }], 'sig');
  assert.deepEqual('statement' in ok && ok.statement, STATEMENT);
  assert.deepEqual(verifyEnvelope(env.bytes, [{ keyid: keyId(b.pub), key: b.pub }], 'sig'), { untrusted: [keyId(a.pub)] });
  const e = readEnvelope(env.bytes, 'sig').envelope;
  const forged = { ...e, payload: Buffer.from(JSON.stringify({ ...STATEMENT, version: '9.9.9' })).toString('base64') };
  assert.throws(() => verifyEnvelope(Buffer.from(JSON.stringify(forged)), [{ keyid: parsed.keyid, key: parsed.key }], 'sig'), code('NISO7032'));
  // A signature by another key that claims the trusted key's id.
  const otherSig = readEnvelope(signStatement(STATEMENT, b.priv).bytes, 'b').envelope.signatures[0]!.sig;
  const wrongKeySameId = { ...e, signatures: [{ keyid: parsed.keyid, sig: otherSig }] };
  assert.throws(() => verifyEnvelope(Buffer.from(JSON.stringify(wrongKeySameId)), [{ keyid: parsed.keyid, key: parsed.key }], 'sig'), code('NISO7032'));
  assert.throws(() => readEnvelope(Buffer.from('{"payloadType":"x","payload":"","signatures":[{"keyid":"a","sig":"b"}]}'), 'sig'), code('NISO7040'));
  assert.throws(() => readEnvelope(Buffer.from('[]'), 'sig'), code('NISO7040'));
});

test('statement checks: each mismatch has its own code', () => {
  const artifact = packageArtifact(JSON.parse(packageManifest(FACTS).bytes.toString()) as ImageManifest, 'x');
  const ok = { manifestDigest: STATEMENT.manifestDigest, repository: 'team/hello', tag: '1.0.0', artifact, identity: 'repository-name' as const };
  checkStatement(STATEMENT, ok, 'r');
  checkStatement(STATEMENT, { ...ok, tag: 'latest' }, 'r');
  checkStatement(STATEMENT, { ...ok, tag: 'v1.0.0' }, 'r');
  assert.throws(() => checkStatement(STATEMENT, { ...ok, manifestDigest: H('9') }, 'r'), code('NISO7034'));
  assert.throws(() => checkStatement(STATEMENT, { ...ok, repository: 'team/admin' }, 'r'), code('NISO7035'));
  checkStatement(STATEMENT, { ...ok, repository: 'team/admin', identity: 'any' }, 'r');
  assert.throws(() => checkStatement(STATEMENT, { ...ok, tag: '1.1.0' }, 'r'), code('NISO7036'));
  assert.throws(() => checkStatement({ ...STATEMENT, packageId: H('8') }, ok, 'r'), code('NISO7037'));
  assert.throws(() => checkStatement({ ...STATEMENT, arch: 'aarch64' }, ok, 'r'), code('NISO7037'));
  assert.equal(tagVersion('1.2.3-rc.1'), '1.2.3-rc.1');
  assert.equal(tagVersion('latest'), null);
  assert.equal(tagVersion('1.2'), null);
});

test('the audit log keeps no registry password: --creds USER:PASSWORD is redacted, --password-stdin takes no value', async () => {
  const { redactArgv, REDACTED } = await import('../../src/audit/redact.js');
  assert.deepEqual(redactArgv(['niso', 'pull', '--creds', 'alice:s3cret', 'r.io/x:1']), ['niso', 'pull', '--creds', REDACTED, 'r.io/x:1']);
  assert.deepEqual(redactArgv(['niso', 'push', '--creds=alice:s3cret', 'a.niso', 'r.io/x']), ['niso', 'push', `--creds=${REDACTED}`, 'a.niso', 'r.io/x']);
  assert.deepEqual(redactArgv(['niso', 'pull', '--creds', 'alice', '--password-stdin', 'r.io/x:1']), ['niso', 'pull', '--creds', REDACTED, '--password-stdin', 'r.io/x:1']);
});
