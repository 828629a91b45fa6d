// Signatures through Debian's docker-registry 2.8 (no referrers API, so the fallback tag): a signed package is
// verified before its blob is downloaded; unsigned, untrusted and rejected ones are refused where the policy says so
// and accepted where it allows; two signers both survive; tampering with the layer, the manifest, the statement, the
// signature index, the tag or the name fails with its own code. Through the built CLI: keys, the trust commands,
// --insecure-skip-verify (warned, audited), skopeo copying a signed package to a mirror that still verifies, and a
// `file:` scope that makes `niso install` check FILE.niso.sig.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { startProxy, startRegistry } from '../helpers/registry.js';
import { packSmall, regEnv } from '../helpers/registry-packages.js';
import { parseReference, referrersTag } from '../../src/registry/reference.js';
import { pushPackages } from '../../src/registry/host/push.js';
import { pullPackage } from '../../src/registry/host/pull.js';
import { connect } from '../../src/registry/host/connect.js';
import { describePackageFile, generateKey, loadPrivateKey, statementFor } from '../../src/registry/host/sign.js';
import { writePolicy } from '../../src/registry/host/config.js';
import { parsePolicy, type Policy } from '../../src/registry/policy.js';
import { readEnvelope, signStatement } from '../../src/registry/signature.js';
import { sha256, signatureManifest, withReferrer } from '../../src/registry/manifest.js';
import { MT } from '../../src/registry/media.js';
import { DEFAULT_LIMITS } from '../../src/package/read-package.js';
import { listInstalled } from '../../src/store/installed.js';
import { isNisoError } from '../../src/errors/niso-error.js';
import { main } from '../../src/cli/main.js';
import { makeContext } from '../../src/cli/context.js';

const ROOT_DIR = join(import.meta.dirname, '../..');
const BIN = join(ROOT_DIR, 'bin/niso');

const registry = await startRegistry();
const proxy = await startProxy(registry);
const dir = tempDir();
const A = await generateKey(join(dir, 'keys/a.key'), 'signer-a');
const B = await generateKey(join(dir, 'keys/b.key'), 'signer-b');
const R = proxy.host;

const code = (c: string) => (e: unknown) => { assert.ok(isNisoError(e), String(e)); assert.equal(e.code, c, e.message); return true; };

/** Signed by A on the whole registry; `open/` takes unsigned packages, `closed/` nothing; other registries: rejected. */
function policy(keys = [A.publicKey]): Policy {
  return parsePolicy(`version = 1\ndefault = "reject"\n[[scope]]\nmatch = "${R}"\nrequire = "signed"\nkeys = ${JSON.stringify(keys)}\n[[scope]]\nmatch = "${R}/open"\nrequire = "insecure-accept-unsigned"\n[[scope]]\nmatch = "${R}/closed"\nrequire = "reject"\n`, 'policy.toml');
}

function push(root: string, files: string[], ref: string, key: string | null) {
  return pushPackages({ ...regEnv(root), files, ref: parseReference(ref), signKeyFile: key, now: new Date() });
}
function pull(root: string, ref: string, p: Policy | null = policy(), opts: { output?: string } = {}) {
  return pullPackage({ ...regEnv(root), ref: parseReference(ref), arch: 'x86_64', policy: p, insecureSkipVerify: false, limits: DEFAULT_LIMITS, output: opts.output });
}
/** Whether a pull fetched the package blob (signatures are checked before it). */
const blobFetched = (layer: string) => proxy.seen.some((s) => s.method === 'GET' && s.path.includes(`/blobs/${layer}`));

test('a signed package is verified before its blob is fetched; unsigned, untrusted and rejected ones are refused, and accepted where the policy allows', async () => {
  const root = join(dir, 'a');
  const hello = await packSmall(dir, 'hello', '1.0.0');
  const layer = (await describePackageFile(hello)).facts.file.digest;
  const pushed = await push(root, [hello], `${R}/apps/hello:1.0.0`, A.keyFile);
  assert.equal(pushed.packages[0]!.signature?.via, 'tag', '2.8 has no referrers API: the fallback tag holds the signature');
  assert.equal(pushed.packages[0]!.signature?.keyid, A.keyid);

  proxy.seen.length = 0;
  const ok = await pull(root, `${R}/apps/hello:1.0.0`);
  assert.deepEqual([ok.verification.status, ok.verification.keyid, ok.verification.scope, ok.verification.via], ['verified', A.keyid, R, 'tag']);
  const order = proxy.seen.map((s) => s.path);
  const sigAt = order.findIndex((p) => p.includes(`/manifests/${referrersTag(pushed.digest)}`));
  const blobAt = order.findIndex((p) => p.includes(`/blobs/${layer}`));
  assert.ok(sigAt >= 0 && blobAt > sigAt, 'the signature was read before the package blob');
  assert.equal((await listInstalled(root)).length, 1);

  const plain = await packSmall(dir, 'plain', '1.0.0');
  const plainLayer = (await describePackageFile(plain)).facts.file.digest;
  await push(root, [plain], `${R}/apps/plain:1.0.0`, null);
  proxy.seen.length = 0;
  await assert.rejects(pull(root, `${R}/apps/plain:1.0.0`), code('NISO7031'));
  assert.equal(blobFetched(plainLayer), false, 'an unsigned package is refused before its blob is fetched');
  await push(root, [plain], `${R}/open/plain:1.0.0`, null);
  assert.equal((await pull(root, `${R}/open/plain:1.0.0`)).verification.status, 'not-required');
  await push(root, [plain], `${R}/closed/plain:1.0.0`, null);
  await assert.rejects(pull(root, `${R}/closed/plain:1.0.0`), code('NISO7039'));
  await assert.rejects(pull(root, `${R}/apps/plain:1.0.0`, parsePolicy('version = 1\n', 'p')), code('NISO7039'), 'with a policy, what no scope names is rejected');

  const other = await packSmall(dir, 'other', '1.0.0');
  await push(root, [other], `${R}/apps/other:1.0.0`, B.keyFile);
  await assert.rejects(pull(root, `${R}/apps/other:1.0.0`), (e) => code('NISO7033')(e) && /SHA256:/.test((e as Error).message));
  assert.equal((await pull(root, `${R}/apps/other:1.0.0`, policy([B.publicKey]))).verification.keyid, B.keyid);
  assert.equal((await pull(root, `${R}/apps/plain:1.0.0`, null)).verification.status, 'no-policy', 'without a policy nothing is checked (and pull says so)');
});

test('a registry with the referrers API is asked there; one that answers the API otherwise falls back to the tag', async () => {
  const root = join(dir, 'api');
  const file = await packSmall(dir, 'refs', '1.0.0');
  const pushed = await push(root, [file], `${R}/apps/refs:1.0.0`, A.keyFile);
  const index = (await connect(parseReference(`${R}/apps/refs`), regEnv(root)).getManifest(referrersTag(pushed.digest)))!;
  try {
    // What a registry with the API answers (distribution-spec 1.1): the index of referrers, as an OCI index.
    proxy.rule = (req) => (req.url!.startsWith(`/v2/apps/refs/referrers/${pushed.digest}`) ? { kind: 'respond', status: 200, headers: { 'content-type': MT.index }, body: index.bytes } : { kind: 'pass' });
    const viaApi = await pull(root, `${R}/apps/refs:1.0.0`, policy(), { output: join(root, 'a.niso') });
    assert.deepEqual([viaApi.verification.status, viaApi.verification.via], ['verified', 'api']);
    // Anything but an index (a registry's HTML page, a 404, a redirect's target): the fallback tag.
    proxy.rule = (req) => (req.url!.includes('/referrers/') ? { kind: 'respond', status: 200, headers: { 'content-type': 'text/html' }, body: '<html>' } : { kind: 'pass' });
    const viaTag = await pull(root, `${R}/apps/refs:1.0.0`, policy(), { output: join(root, 'b.niso') });
    assert.deepEqual([viaTag.verification.status, viaTag.verification.via], ['verified', 'tag']);
  } finally {
    proxy.rule = () => ({ kind: 'pass' });
  }
});

test('two signers of one package both survive in the fallback tag', async () => {
  const root = join(dir, 'b');
  const file = await packSmall(dir, 'duo', '1.0.0');
  const [a, b] = await Promise.all([push(root, [file], `${R}/apps/duo:1.0.0`, A.keyFile), push(root, [file], `${R}/apps/duo:1.0.0`, B.keyFile)]);
  assert.equal(a.digest, b.digest);
  const index = await connect(parseReference(`${R}/apps/duo`), regEnv(root)).getManifest(referrersTag(a.digest));
  assert.equal(index?.doc.kind, 'index');
  const keyids = index!.doc.kind === 'index' ? index!.doc.index.manifests.map((d) => d.annotations?.['dev.niso.signature.keyid']).sort() : [];
  assert.deepEqual(keyids, [A.keyid, B.keyid].sort());
  assert.equal((await pull(root, `${R}/apps/duo:1.0.0`, policy([B.publicKey]), { output: join(root, 'x.niso') })).verification.keyid, B.keyid);
  assert.equal((await pull(root, `${R}/apps/duo:1.0.0`, policy([A.publicKey]), { output: join(root, 'y.niso') })).verification.keyid, A.keyid);
});

test('tampering with the layer, the manifest, the statement, the signature index, the tag or the name fails with its own code, and nothing is installed', async () => {
  const root = join(dir, 'c');
  const v1 = await packSmall(dir, 'hello', '1.0.0');
  const v11 = await packSmall(dir, 'hello', '1.1.0');
  const d1 = await describePackageFile(v1);
  const env = regEnv(root);
  const client = (repo: string) => connect(parseReference(`${R}/${repo}/hello`), env);
  const fresh = async (repo: string) => (await push(root, [v1], `${R}/${repo}/hello:1.0.0`, A.keyFile)).digest;

  // The layer: the registry serves other bytes for the package blob (after the signature was checked).
  await fresh('t-layer');
  proxy.rule = (req) => (req.url!.includes(`/blobs/${d1.facts.file.digest}`) ? { kind: 'replace-body', body: Buffer.alloc(d1.facts.file.size, 1) } : { kind: 'pass' });
  await assert.rejects(pull(root, `${R}/t-layer/hello:1.0.0`), code('NISO7010'));
  proxy.rule = () => ({ kind: 'pass' });

  // The manifest: changed, with the original's signatures copied to its fallback tag.
  const orig = await fresh('t-manifest');
  const c = client('t-manifest');
  const m = JSON.parse(d1.manifest.bytes.toString()) as { annotations: Record<string, string> };
  m.annotations['org.opencontainers.image.description'] = 'now with a backdoor';
  const bytes = Buffer.from(JSON.stringify(m));
  const forged = { bytes, digest: sha256(bytes), descriptor: { mediaType: MT.manifest, digest: sha256(bytes), size: bytes.length } };
  await c.putManifest('1.0.0', forged);
  // Copied as they are, the signatures name the original as their subject: not signatures of this manifest.
  const sigIndex = (await c.getManifest(referrersTag(orig)))!;
  await c.putManifest(referrersTag(forged.digest), { bytes: sigIndex.bytes, digest: sigIndex.digest, descriptor: { mediaType: MT.index, digest: sigIndex.digest, size: sigIndex.bytes.length } });
  await assert.rejects(pull(root, `${R}/t-manifest/hello:1.0.0`), code('NISO7038'));
  // Re-wrapped with the forged manifest as subject, the signed statement still names the original.
  const sigManifest = (await c.getManifest(sigIndex.doc.kind === 'index' ? sigIndex.doc.index.manifests[0]!.digest : ''))!;
  const envLayer = sigManifest.doc.kind === 'manifest' ? sigManifest.doc.manifest.layers[0]! : null!;
  const rewrapped = signatureManifest(forged.descriptor, { digest: envLayer.digest, size: envLayer.size }, A.keyid);
  await c.putManifest(rewrapped.digest, rewrapped);
  await c.putManifest(referrersTag(forged.digest), withReferrer(null, { ...rewrapped.descriptor, mediaType: MT.manifest })!);
  proxy.seen.length = 0;
  await assert.rejects(pull(root, `${R}/t-manifest/hello:1.0.0`), code('NISO7034'));
  assert.equal(blobFetched(d1.facts.file.digest), false);

  // The statement: its version changed, the signature kept.
  const sOrig = await fresh('t-statement');
  const cs = client('t-statement');
  const good = signStatement(statementFor(d1.facts, d1.manifest.digest, new Date()), loadPrivateKey(A.keyFile));
  const e = readEnvelope(good.bytes, 'x').envelope;
  const changed = Buffer.from(JSON.stringify({ ...e, payload: Buffer.from(JSON.stringify({ ...readEnvelope(good.bytes, 'x').statement, version: '1.0.1' })).toString('base64') }));
  const replaceSignatures = async (cl: typeof cs, subject: string, envelopes: Buffer[]) => {
    let index = null;
    for (const env of envelopes) {
      await cl.ensureBlob(env, sha256(env));
      const sm = signatureManifest(d1.manifest.descriptor, { digest: sha256(env), size: env.length }, A.keyid);
      await cl.putManifest(sm.digest, sm);
      const next = withReferrer(index, { ...sm.descriptor, mediaType: MT.manifest })!;
      index = JSON.parse(next.bytes.toString());
      await cl.putManifest(referrersTag(subject), next);
    }
  };
  await replaceSignatures(cs, sOrig, [changed]);
  await assert.rejects(pull(root, `${R}/t-statement/hello:1.0.0`), code('NISO7032'));

  // A statement the key did sign, but for another package id than the manifest names.
  const sWrong = await fresh('t-facts');
  const wrong = signStatement({ ...statementFor(d1.facts, d1.manifest.digest, new Date()), packageId: `sha256:${'0'.repeat(64)}` }, loadPrivateKey(A.keyFile)).bytes;
  await replaceSignatures(client('t-facts'), sWrong, [wrong]);
  await assert.rejects(pull(root, `${R}/t-facts/hello:1.0.0`), code('NISO7037'));

  // The signature index: it names a signature manifest the registry does not have; or the tag holds no index.
  const iOrig = await fresh('t-index');
  const ci = client('t-index');
  const signatures = (await ci.getManifest(referrersTag(iOrig)))!;
  // Its signature deleted (as 2.8's garbage collection of untagged manifests does), the index dangles.
  const sigDigest = signatures.doc.kind === 'index' ? signatures.doc.index.manifests[0]!.digest : '';
  const del = await fetch(`http://${registry.host}/v2/t-index/hello/manifests/${sigDigest}`, { method: 'DELETE' });
  assert.equal(del.status, 202);
  await assert.rejects(pull(root, `${R}/t-index/hello:1.0.0`), code('NISO7038'));
  // An entry that names a manifest which is no signature (the package itself).
  await ci.putManifest(referrersTag(iOrig), withReferrer(null, { mediaType: MT.manifest, artifactType: MT.signature, digest: iOrig, size: d1.manifest.bytes.length })!);
  await assert.rejects(pull(root, `${R}/t-index/hello:1.0.0`), code('NISO7038'));
  // The tag holds a manifest where the index belongs.
  await ci.putManifest(referrersTag(iOrig), d1.manifest);
  await assert.rejects(pull(root, `${R}/t-index/hello:1.0.0`), code('NISO7038'));

  // The tag: version 1.0.0 (signed) put under the tag 1.1.0.
  await push(root, [v11], `${R}/t-tag/hello:1.1.0`, A.keyFile);
  await fresh('t-tag');
  await client('t-tag').putManifest('1.1.0', d1.manifest);
  await assert.rejects(pull(root, `${R}/t-tag/hello:1.1.0`), code('NISO7036'));
  assert.equal((await pull(root, `${R}/t-tag/hello:1.0.0`, policy(), { output: join(root, 'v1.niso') })).version, '1.0.0');

  // The name: a signed hello pushed as admin.
  await push(root, [v1], `${R}/t-name/admin:1.0.0`, A.keyFile);
  await assert.rejects(pull(root, `${R}/t-name/admin:1.0.0`), code('NISO7035'));

  assert.deepEqual(await listInstalled(root), []);
});

/** The command line in this process (commander, the commands, the audit hooks): a spawned CLI per call costs seconds here. */
async function niso(args: string[], root: string) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx = makeContext(dir, { ...process.env, NISO_ROOT: root, HOME: join(root, 'home'), NISO_SIGNING_KEY: '' }, { write: (x: string) => out.push(x) }, { write: (x: string) => err.push(x) });
  const status = await main(args, ctx);
  const stdout = out.join('');
  return { code: status, stdout, stderr: err.join(''), json: () => JSON.parse(stdout) };
}

test('the CLI: key generate, trust add/list/remove, signed pack and push, --insecure-skip-verify warned and audited, skopeo copies to a mirror that verifies', async () => {
  const root = join(dir, 'cli');
  const gen = await niso(['key', 'generate', '--json'], root);
  assert.equal(gen.code, 0, gen.stderr);
  const key = gen.json();
  assert.equal(key.keyFile, join(root, 'etc/niso/signing.key'));
  assert.equal((await niso(['key', 'generate'], root)).code, 2, 'a key is never replaced');
  const fp = spawnSync('ssh-keygen', ['-lf', key.publicFile], { encoding: 'utf8' });
  if (fp.status === 0) assert.match(fp.stdout, new RegExp(key.keyid.replace(/[+/]/g, '\\$&')), 'ssh-keygen shows the same key id');

  const app = join(dir, 'cli-app');
  mkdirSync(app);
  writeFileSync(join(app, 'manifest.toml'), '[package]\nname = "web"\nversion = "2.0.0"\narch = "any"\n\n[binary]\nentrypoint = "run.sh"\n');
  writeFileSync(join(app, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  const packed = await niso(['pack', app, '-o', join(dir, 'web.niso'), '--json'], root);
  assert.equal(packed.code, 0, packed.stderr);
  assert.equal(packed.json().signature.keyid, key.keyid, 'pack signs with the host key');
  assert.equal(JSON.parse(readFileSync(join(dir, 'web.niso.sig'), 'utf8')).payloadType, MT.statement);

  const pushed = await niso(['push', join(dir, 'web.niso'), `${R}/site/web:2.0.0`, '--json'], root);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(pushed.json().digest, packed.json().signature.manifestDigest, 'the digest signed at pack time is the one pushed');
  assert.equal(pushed.json().packages[0].signature.from, 'file');

  assert.equal((await niso(['trust', 'add', `${R}/site`, key.publicFile, '--json'], root)).code, 0);
  const listed = (await niso(['trust', 'list', '--json'], root)).json();
  assert.deepEqual(listed.scopes.map((s: { match: string; require: string; keys: { keyid: string }[] }) => [s.match, s.require, s.keys.map((k) => k.keyid)]), [[`${R}/site`, 'signed', [key.keyid]]]);
  const pulled = await niso(['pull', `${R}/site/web:2.0.0`, '--json'], root);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(pulled.json().verification.status, 'verified');
  const remote = (await niso(['inspect', `${R}/site/web:2.0.0`, '--json'], root)).json();
  assert.deepEqual([remote.verification.status, remote.signatures.map((s: { keyid: string }) => s.keyid)], ['verified', [key.keyid]]);

  // skopeo copies the package and its signature index byte for byte to a mirror, where niso still verifies it.
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  // (Straight to the registry: the proxy lives in this process, which spawnSync blocks.)
  const D = registry.host;
  const raw = spawnSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${D}/site/web:2.0.0`], { encoding: 'utf8' });
  assert.equal(raw.status, 0, raw.stderr);
  assert.equal(sha256(Buffer.from(raw.stdout)), pushed.json().digest);
  for (const tag of ['2.0.0', referrersTag(pushed.json().digest)]) {
    const cp = spawnSync('skopeo', ['copy', '--all', ...tls, `docker://${D}/site/web:${tag}`, `docker://${D}/mirror/web:${tag}`], { encoding: 'utf8' });
    assert.equal(cp.status, 0, cp.stderr);
  }
    // The built CLI too (its bundle loads the registry chunks): the mirror's tags, without the fallback tag.
  const tags = spawnSync(process.execPath, [BIN, 'tags', `${D}/mirror/web`, '--json'], { encoding: 'utf8', env: { ...process.env, NISO_ROOT: root, HOME: join(root, 'home') } });
  assert.equal(tags.status, 0, tags.stderr);
  assert.deepEqual(JSON.parse(tags.stdout).tags, ['2.0.0']);
  assert.equal((await niso(['trust', 'add', `${R}/mirror`, key.publicFile], root)).code, 0);
  const mirrored = await niso(['pull', `${R}/mirror/web:2.0.0`, '--output', join(dir, 'mirrored.niso'), '--json'], root);
  assert.equal(mirrored.code, 0, mirrored.stderr);
  assert.deepEqual([mirrored.json().manifestDigest, mirrored.json().verification.status], [pushed.json().digest, 'verified']);

  // Untrusted now: refused; --insecure-skip-verify goes through with a warning and an audit entry.
  assert.equal((await niso(['trust', 'remove', `${R}/site`, key.keyid, '--json'], root)).json().removedScope, true);
  const refused = await niso(['pull', `${R}/site/web:2.0.0`, '--json'], root);
  assert.equal(refused.code, 1);
  assert.equal(refused.json().error.code, 'NISO7039');
  const skipped = await niso(['pull', `${R}/site/web:2.0.0`, '--insecure-skip-verify'], root);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /WARNING: --insecure-skip-verify/);
  const audit = (await niso(['audit', '--json'], root)).json() as { event: string; target?: string; result?: string; details?: Record<string, unknown> }[];
  const events = audit.map((x) => `${x.event} ${x.result}`);
  assert.ok(events.includes('package.push ok') && events.includes('trust.add ok') && events.includes('trust.remove ok'), events.join(', '));
  assert.ok(audit.some((x) => x.event === 'package.pull' && x.result === 'failed'), 'the refused pull is recorded');
  assert.ok(audit.some((x) => x.event === 'package.pull' && x.details?.skip_verify === true && x.details?.verification === 'skipped'), JSON.stringify(audit.filter((x) => x.event === 'package.pull')));
  assert.ok(!JSON.stringify(audit).includes('BEGIN PRIVATE KEY'));
});

test('a file: scope makes niso install check the FILE.niso.sig beside a local package', async () => {
  const root = join(dir, 'local');
  const file = await packSmall(dir, 'local', '1.0.0');
  const other = await packSmall(dir, 'local', '1.0.1');
  await writePolicy(root, parsePolicy(`version = 1\n[[scope]]\nmatch = "file:"\nrequire = "signed"\nkeys = ["${A.publicKey}"]\n`, 'p'));
  const noSig = await niso(['install', file, '--json'], root);
  assert.equal(noSig.json().error.code, 'NISO7031');
  const { signPackageFile } = await import('../../src/registry/host/sign.js');
  await signPackageFile(other, A.keyFile, new Date());
  copyFileSync(`${other}.sig`, `${file}.sig`);
  assert.equal((await niso(['install', file, '--json'], root)).json().error.code, 'NISO7034', 'the signature of another build');
  await signPackageFile(file, B.keyFile, new Date());
  assert.equal((await niso(['install', file, '--json'], root)).json().error.code, 'NISO7033');
  await signPackageFile(file, A.keyFile, new Date());
  const ok = await niso(['install', file], root);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`verified: signed by ${A.keyid.replace(/[+/]/g, '\\$&')}`));
  unlinkSync(`${file}.sig`);
  const skipped = await niso(['install', other, '--insecure-skip-verify'], root);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stderr, /WARNING: --insecure-skip-verify/);
  assert.ok(((await niso(['audit', '--json'], root)).json() as { event: string }[]).some((x) => x.event === 'verify.skip'));
});
