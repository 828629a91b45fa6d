// Packages through Debian's docker-registry (distribution 2.8) on 127.0.0.1, behind a proxy that counts requests and
// injects faults: a byte-identical round trip whose manifest digest was known at pack time, a second push that sends
// no blob, a ~100 MB push in chunks resumed after a cut connection, a download resumed after a cut, 429 waits, an
// index of two architectures, and a hostile registry (oversized manifests, endless tag pages, a blob or manifest that
// does not match its digest, an upload sent elsewhere) refused within bounds with nothing installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { startProxy, startRegistry, type Action, type Proxy } from '../helpers/registry.js';
import { packSmall, regEnv } from '../helpers/registry-packages.js';
import { appEntries, craftPackage, indexFor, tarBytes, zstd } from '../helpers/craft.js';
import { packApp } from '../../src/package/pack.js';
import { parseReference } from '../../src/registry/reference.js';
import { pushPackages } from '../../src/registry/host/push.js';
import { pullPackage } from '../../src/registry/host/pull.js';
import { connect } from '../../src/registry/host/connect.js';
import { describePackageFile } from '../../src/registry/host/sign.js';
import { DEFAULT_LIMITS, readPackageHead } from '../../src/package/read-package.js';
import { listInstalled } from '../../src/store/installed.js';
import { layout } from '../../src/store/layout.js';
import { isNisoError } from '../../src/errors/niso-error.js';

const registry = await startRegistry();
const proxy = await startProxy(registry);
const dir = tempDir();

const ref = (p: Proxy, repo: string) => parseReference(`${p.host}/${repo}`);
const code = (c: string) => (e: unknown) => { assert.ok(isNisoError(e), String(e)); assert.equal(e.code, c, e.message); return true; };
const reset = (p: Proxy) => { p.seen.length = 0; p.rule = () => ({ kind: 'pass' }); };

function push(root: string, files: string[], r: string, warnings: string[] = []) {
  return pushPackages({ ...regEnv(root, warnings), files, ref: parseReference(r), signKeyFile: null, now: new Date() });
}
function pull(root: string, r: string, opts: { output?: string; arch?: string; warnings?: string[] } = {}) {
  return pullPackage({ ...regEnv(root, opts.warnings), ref: parseReference(r), arch: opts.arch ?? 'x86_64', policy: null, insecureSkipVerify: false, limits: DEFAULT_LIMITS, output: opts.output });
}

test('push then pull gives the byte-identical package, under the manifest digest known at pack time; a second push sends no blob', async () => {
  reset(proxy);
  const root = join(dir, 'r1');
  const file = await packSmall(dir, 'hello', '1.0.0');
  const predicted = await describePackageFile(file);
  const r = await push(root, [file], `${proxy.host}/apps/hello:1.0.0`);
  assert.equal(r.digest, predicted.manifest.digest, 'the tag names the manifest computed from the file alone');
  assert.equal(r.packages[0]!.uploaded, true);
  assert.ok(proxy.seen.some((s) => s.method === 'PUT' && s.path.includes('/blobs/uploads/')), 'the package went up');

  reset(proxy);
  const again = await push(root, [file], `${proxy.host}/apps/hello:1.0.0`);
  assert.equal(again.packages[0]!.uploaded, false);
  assert.equal(again.uploadedBytes, 0);
  assert.deepEqual(proxy.seen.filter((s) => s.path.includes('/blobs/uploads')), [], 'no upload was even started');
  assert.ok(proxy.seen.filter((s) => s.method === 'HEAD').length >= 2, 'the blobs were checked with HEAD');

  const out = join(dir, 'pulled.niso');
  const p = await pull(root, `${proxy.host}/apps/hello:1.0.0`, { output: out });
  assert.deepEqual(readFileSync(out), readFileSync(file), 'byte-identical');
  assert.equal(p.packageId, predicted.facts.packageId);
  assert.equal(p.verification.status, 'no-policy');

  const installed = await pull(root, `${proxy.host}/apps/hello:1.0.0`);
  assert.equal(installed.install?.digest, predicted.facts.packageId);
  assert.deepEqual((await listInstalled(root)).map((x) => x.digest), [predicted.facts.packageId]);
  assert.deepEqual(readdirSync(layout(root).tmp), [], 'the download dir is gone');
  proxy.seen.length = 0;
  const again2 = await pull(root, `${proxy.host}/apps/hello:1.0.0`);
  assert.equal(again2.install?.alreadyInstalled, true);
  assert.equal(proxy.seen.filter((s) => s.path.includes('/blobs/')).length, 0, 'an installed package is not downloaded again');
});

test('push refuses what is not a package before any upload starts, and a package whose manifest.toml does not validate before anything names its blob', async () => {
  reset(proxy);
  const root = join(dir, 'r-refused');
  const junk = join(dir, 'junk.niso');
  const fd = openSync(junk, 'w');
  writeSync(fd, randomBytes(256 * 1024));
  closeSync(fd);
  await assert.rejects(push(root, [junk], `${proxy.host}/apps/junk:1.0.0`), (e) => isNisoError(e) && /^NISO21\d\d$/.test(e.code));
  assert.deepEqual(proxy.seen.filter((s) => s.path.includes('/blobs/uploads')), [], 'no upload was started for a file that is not a package');

  // A valid index, so the upload starts while the manifest is checked; the check still stops the push before its
  // manifest and tag go up.
  reset(proxy);
  const files = { 'server.js': 'console.log(1)\n' };
  const bad = '[package]\nname = "evil"\nversion = "1.0.0"\narch = "any"\nnot_a_key = 1\n';
  const file = join(dir, 'bad-manifest.niso');
  await craftPackage(file, indexFor(files, { manifest: bad }), appEntries(files), { manifest: bad });
  await assert.rejects(push(root, [file], `${proxy.host}/apps/badmanifest:1.0.0`), code('NISO2111'));
  assert.deepEqual(proxy.seen.filter((s) => s.method === 'PUT' && s.path.includes('/manifests/')), [], 'no manifest or tag went up');
  assert.equal(await connect(ref(proxy, 'apps/badmanifest:1.0.0'), regEnv(root)).getManifest('1.0.0'), null);
});

test('a ~100 MB package goes up in chunks, and a chunk cut mid-way resumes where the registry stands', async () => {
  reset(proxy);
  const root = join(dir, 'r2');
  const app = join(dir, 'big-src');
  await writeTree(app, { 'manifest.toml': '[package]\nname = "big"\nversion = "1.0.0"\narch = "any"\n\n[binary]\nentrypoint = "run.sh"\n', 'run.sh': { content: '#!/bin/sh\n', mode: 0o755 } });
  const fd = openSync(join(app, 'blob.bin'), 'w');
  for (let i = 0; i < 100; i++) writeSync(fd, randomBytes(1024 * 1024));
  closeSync(fd);
  const file = join(dir, 'big.niso');
  await packApp({ appDir: app, cwd: dir, output: file });
  const size = statSync(file).size;
  assert.ok(size > 100 * 1024 * 1024);

  let patches = 0;
  proxy.rule = (req) => (req.method === 'PATCH' && ++patches === 2 ? { kind: 'cut-request', afterBytes: 3 * 1024 * 1024 } : { kind: 'pass' });
  const warnings: string[] = [];
  const r = await push(root, [file], `${proxy.host}/apps/big:1.0.0`, warnings);
  assert.equal(r.packages[0]!.uploaded, true);
  const sent = proxy.seen.filter((s) => s.method === 'PATCH');
  assert.ok(sent.length >= 5, `chunks: ${sent.length}`);
  assert.ok(proxy.seen.some((s) => s.method === 'GET' && s.path.includes('/blobs/uploads/')), 'the upload status was asked');
  const forwarded = sent.filter((_, i) => i !== 1).reduce((n, s) => n + s.bodyBytes, 0);
  assert.equal(forwarded, size, 'the registry got every byte once: the upload went on where it stood');
  assert.ok(warnings.some((w) => /resuming at \d+ of \d+ bytes/.test(w)), warnings.join('\n'));

  assert.ok(await connect(ref(proxy, 'apps/big'), regEnv(root)).blobExists((await describePackageFile(file)).facts.file.digest), 'the registry holds the blob (it checked the digest at the end)');
});

test('a download cut mid-way resumes with a Range request', async () => {
  reset(proxy);
  const root = join(dir, 'r2b');
  const file = await packSmall(dir, 'cut', '1.0.0', { extra: { 'data.txt': randomBytes(64 * 1024).toString('base64') } });
  await push(root, [file], `${proxy.host}/apps/cut:1.0.0`);
  let gets = 0;
  proxy.rule = (req) => (req.method === 'GET' && req.url!.includes('/blobs/sha256:') && ++gets === 1 ? { kind: 'cut-response', afterBytes: 20_000 } : { kind: 'pass' });
  const out = join(dir, 'cut-pulled.niso');
  const pw: string[] = [];
  await pull(root, `${proxy.host}/apps/cut:1.0.0`, { output: out, warnings: pw });
  assert.deepEqual(readFileSync(out), readFileSync(file));
  const blobGets = proxy.seen.filter((s) => s.method === 'GET' && s.path.includes('/blobs/sha256:'));
  assert.equal(blobGets.length, 2, 'one cut download and one resumed');
  assert.ok(pw.some((w) => /resuming at [1-9]\d* of \d+ bytes/.test(w)), pw.join('\n'));
});

test('429 with Retry-After is waited for; a wait longer than niso allows fails at once', async () => {
  reset(proxy);
  const root = join(dir, 'r3');
  const file = await packSmall(dir, 'slow', '1.0.0');
  await push(root, [file], `${proxy.host}/apps/slow:1.0.0`);
  let hits = 0;
  proxy.rule = (req) => (req.url!.includes('/manifests/') && ++hits === 1 ? { kind: 'respond', status: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' } : { kind: 'pass' });
  const warnings: string[] = [];
  const t0 = Date.now();
  const r = await pull(root, `${proxy.host}/apps/slow:1.0.0`, { output: join(dir, 'slow.niso'), warnings });
  assert.ok(Date.now() - t0 >= 1000, 'it waited as Retry-After said');
  assert.equal(r.retries, 1);
  assert.ok(warnings.some((w) => /429.*1 s/.test(w)), warnings.join('\n'));

  reset(proxy);
  proxy.rule = (req) => (req.url!.includes('/manifests/') ? { kind: 'respond', status: 429, headers: { 'retry-after': '3600' } } : { kind: 'pass' });
  const t1 = Date.now();
  await assert.rejects(pull(root, `${proxy.host}/apps/slow:1.0.0`, { output: join(dir, 'slow2.niso') }), code('NISO7014'));
  assert.ok(Date.now() - t1 < 10_000, 'no hour-long wait');
});

test('a manifest whose blobs the registry does not see yet is sent again after a pause; one it never sees fails with the registry\'s words', async () => {
  reset(proxy);
  const root = join(dir, 'r-blobrace');
  const file = await packSmall(dir, 'race', '1.0.0');
  // What distribution answers while another push writes the same blob's link, or eventually consistent storage.
  const unknown = { kind: 'respond' as const, status: 400, headers: { 'content-type': 'application/json' }, body: '{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}' };
  let puts = 0;
  proxy.rule = (req) => (req.method === 'PUT' && req.url!.includes('/manifests/') && ++puts <= 2 ? unknown : { kind: 'pass' });
  await push(root, [file], `${proxy.host}/apps/race:1.0.0`);
  assert.equal(puts, 3, 'sent twice more');
  await pull(root, `${proxy.host}/apps/race:1.0.0`, { output: join(dir, 'race.niso') });
  assert.deepEqual(readFileSync(join(dir, 'race.niso')), readFileSync(file));

  reset(proxy);
  puts = 0;
  proxy.rule = (req) => (req.method === 'PUT' && req.url!.includes('/manifests/') && ++puts > 0 ? unknown : { kind: 'pass' });
  await assert.rejects(push(root, [file], `${proxy.host}/apps/race:1.1.0`), (e: unknown) => code('NISO7002')(e) && /MANIFEST_BLOB_UNKNOWN/.test((e as Error).message));
  assert.equal(puts, 4, 'three more times, then the error');
  // Any other refusal of a manifest is not asked again.
  reset(proxy);
  puts = 0;
  proxy.rule = (req) => (req.method === 'PUT' && req.url!.includes('/manifests/') && ++puts > 0 ? { ...unknown, body: '{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}' } : { kind: 'pass' });
  await assert.rejects(push(root, [file], `${proxy.host}/apps/race:1.2.0`), code('NISO7002'));
  assert.equal(puts, 1);
});

test('packages of two architectures go under one tag as an index; a pull takes the host\'s', async () => {
  reset(proxy);
  const root = join(dir, 'r4');
  const x86 = await packSmall(dir, 'multi', '2.0.0', { arch: 'x86_64' });
  const arm = await packSmall(dir, 'multi', '2.0.0', { arch: 'aarch64' });
  const r = await push(root, [arm, x86], `${proxy.host}/apps/multi:2.0.0`);
  assert.equal(r.mediaType, 'application/vnd.oci.image.index.v1+json');
  const again = await push(root, [x86, arm], `${proxy.host}/apps/multi:2.0.0`);
  assert.equal(again.digest, r.digest, 'the index is the same whatever the order of the files');
  const a = await pull(root, `${proxy.host}/apps/multi:2.0.0`, { output: join(dir, 'm-x86.niso'), arch: 'x86_64' });
  const b = await pull(root, `${proxy.host}/apps/multi:2.0.0`, { output: join(dir, 'm-arm.niso'), arch: 'aarch64' });
  assert.deepEqual([a.arch, b.arch], ['x86_64', 'aarch64']);
  assert.equal(a.indexDigest, r.digest);
  assert.deepEqual(readFileSync(join(dir, 'm-arm.niso')), readFileSync(arm));
  await assert.rejects(pull(root, `${proxy.host}/apps/multi:2.0.0`, { output: join(dir, 'm-rv.niso'), arch: 'riscv64' }), code('NISO7013'));
});

test('a hostile registry is refused within bounds, and nothing is installed', async () => {
  reset(proxy);
  const root = join(dir, 'r5');
  const file = await packSmall(dir, 'victim', '1.0.0');
  const pushed = await push(root, [file], `${proxy.host}/apps/victim:1.0.0`);
  const layer = (await describePackageFile(file)).facts.file.digest;
  const nothingInstalled = async () => {
    assert.deepEqual(await listInstalled(root), []);
    assert.deepEqual(readdirSync(layout(root).tmp).filter((n) => n.startsWith('pull-')), []);
  };

  // A manifest of 5 MiB, declared and (without Content-Length) streamed.
  const huge = Buffer.alloc(5 * 1024 * 1024, 0x20);
  proxy.rule = (req) => (req.url!.includes('/manifests/') ? { kind: 'respond', status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: huge } : { kind: 'pass' });
  await assert.rejects(pull(root, `${proxy.host}/apps/victim:1.0.0`), code('NISO7008'));
  proxy.rule = (req) => (req.url!.includes('/manifests/') ? { kind: 'respond', status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'transfer-encoding': 'chunked' }, body: huge } : { kind: 'pass' });
  await assert.rejects(pull(root, `${proxy.host}/apps/victim:1.0.0`), code('NISO7008'));

  // Tag pages without end.
  reset(proxy);
  let page = 0;
  proxy.rule = (req) => (req.url!.includes('/tags/list') ? { kind: 'respond', status: 200, headers: { 'content-type': 'application/json', link: `</v2/apps/victim/tags/list?n=1&last=t${++page}>; rel="next"` }, body: JSON.stringify({ name: 'apps/victim', tags: [`t${page}`] }) } : { kind: 'pass' });
  await assert.rejects(connect(ref(proxy, 'apps/victim'), regEnv(root)).listTags(), code('NISO7009'));
  assert.ok(page <= 101, `pages asked: ${page}`);

  // A blob whose bytes do not match its digest, and one longer than its manifest says.
  reset(proxy);
  proxy.rule = (req) => (req.url!.includes(`/blobs/${layer}`) ? { kind: 'replace-body', body: randomBytes(readFileSync(file).length) } : { kind: 'pass' });
  await assert.rejects(pull(root, `${proxy.host}/apps/victim:1.0.0`), code('NISO7010'));
  proxy.rule = (req) => (req.url!.includes(`/blobs/${layer}`) ? { kind: 'replace-body', body: Buffer.concat([readFileSync(file), Buffer.alloc(1 << 20)]) } : { kind: 'pass' });
  await assert.rejects(pull(root, `${proxy.host}/apps/victim:1.0.0`), code('NISO7010'));

  // A manifest fetched by digest that hashes to something else.
  reset(proxy);
  proxy.rule = (req) => (req.url!.includes(`/manifests/${pushed.digest}`) ? { kind: 'replace-body', body: Buffer.from(readFileSync(file).length.toString()) } : { kind: 'pass' });
  await assert.rejects(pull(root, `${proxy.host}/apps/victim@${pushed.digest}`), code('NISO7011'));

  // Not a niso package: an image manifest.
  reset(proxy);
  proxy.rule = (req) => (req.url!.includes('/manifests/') ? { kind: 'respond', status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: layer, size: 2 }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: 10 }] }) } : { kind: 'pass' });
  await assert.rejects(pull(root, `${proxy.host}/apps/victim:1.0.0`), code('NISO7012'));
  await nothingInstalled();

  // An upload location on another host: the package is not sent there.
  reset(proxy);
  proxy.rule = (req) => (req.method === 'POST' && req.url!.includes('/blobs/uploads/') ? { kind: 'respond', status: 202, headers: { location: 'http://127.0.0.2:9/v2/apps/x/blobs/uploads/abc' } } : { kind: 'pass' });
  const other = await packSmall(dir, 'victim', '1.0.1');
  await assert.rejects(push(root, [other], `${proxy.host}/apps/victim:1.0.1`), code('NISO7007'));
});

test('pull --output checks the package head as the blob arrives: a bad head fails with the code the file would get, a bad digest with NISO7010, and nothing is left', async () => {
  reset(proxy);
  const root = join(dir, 'r6');
  const outDir = join(dir, 'r6-out');
  mkdirSync(outDir);
  const file = await packSmall(dir, 'headcheck', '1.0.0');
  await push(root, [file], `${proxy.host}/apps/headcheck:1.0.0`);
  const real = JSON.parse((await describePackageFile(file)).manifest.bytes.toString('utf8')) as { layers: { digest: string; size: number }[] };
  /** The registry serves `blob` under the tag, named in the manifest by `digest` (its own, unless the test lies). */
  const serve = (blob: Buffer, digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`) => {
    const m = structuredClone(real);
    m.layers[0]!.digest = digest;
    m.layers[0]!.size = blob.length;
    proxy.rule = (req): Action => {
      if (req.url!.includes('/manifests/')) return { kind: 'respond', status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: JSON.stringify(m) };
      if (req.url!.includes(`/blobs/${digest}`)) return { kind: 'respond', status: 200, headers: { 'content-length': String(blob.length) }, body: blob };
      return { kind: 'pass' };
    };
  };
  const out = join(outDir, 'pulled.niso');
  const nothingLeft = () => assert.deepEqual(readdirSync(outDir), [], 'neither the output nor a temporary file');
  /** The code reading these bytes from a file gets: what the pull must fail with. */
  const fileCode = async (what: string, blob: Buffer) => {
    const f = join(dir, 'r6-probe.niso');
    writeFileSync(f, blob);
    const e = await readPackageHead(f).then(() => null, (x: unknown) => x);
    assert.ok(isNisoError(e), `${what}: refused as a file: ${String(e)}`);
    return e.code;
  };

  const files = { 'run.sh': '#!/bin/sh\n' };
  const bulk = randomBytes(4 * 1024 * 1024);
  const hostile: [string, Buffer][] = [
    ['not zstd at all', randomBytes(3 * 1024 * 1024)],
    ['a gzip stream', Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), randomBytes(64 * 1024)])],
    ['the manifest before the index', zstd(await tarBytes([{ name: 'niso/manifest.toml', data: 'x' }, { name: 'niso/index.json', data: '{}' }]))],
    ['an index that is not JSON, then 4 MiB', zstd(await tarBytes([{ name: 'niso/index.json', data: '{"format":1,' }, { name: 'niso/manifest.toml', data: 'x' }, { name: 'app/big', data: bulk }]))],
    ['a manifest that does not match the index, then 4 MiB', await (async () => {
      const f = join(dir, 'r6-mismatch.niso');
      await craftPackage(f, indexFor({ ...files, big: bulk.toString('latin1') }), [...appEntries(files), { name: 'app/big', data: bulk }], { manifest: '[package]\nname = "other"\n' });
      return readFileSync(f);
    })()],
    ['a package cut inside its head', readFileSync(file).subarray(0, 100)],
  ];
  for (const [what, blob] of hostile) {
    serve(blob);
    const want = await fileCode(what, blob);
    await assert.rejects(pull(root, `${proxy.host}/apps/headcheck:1.0.0`, { output: out }), (e: unknown) => {
      assert.ok(isNisoError(e), `${what}: ${String(e)}`);
      assert.equal(e.code, want, `${what}: ${e.message}`);
      return true;
    });
    nothingLeft();
  }

  // Bytes that do not match the digest the manifest names: NISO7010, whether their head reads (a real package's) or not.
  const good = readFileSync(file);
  const goodDigest = real.layers[0]!.digest;
  serve(Buffer.concat([good.subarray(0, good.length - 1), Buffer.from([good[good.length - 1]! ^ 1])]), goodDigest);
  await assert.rejects(pull(root, `${proxy.host}/apps/headcheck:1.0.0`, { output: out }), code('NISO7010'));
  nothingLeft();
  serve(randomBytes(good.length), goodDigest);
  await assert.rejects(pull(root, `${proxy.host}/apps/headcheck:1.0.0`, { output: out }), code('NISO7010'));
  nothingLeft();
  assert.deepEqual(await listInstalled(root), []);

  // A registry that answers a resumed download's Range with the whole blob: the download starts over, and the head
  // is read from the file instead of the bytes that came twice.
  reset(proxy);
  const big = await packSmall(dir, 'headcheck', '2.0.0', { extra: { 'data.txt': randomBytes(256 * 1024).toString('base64') } });
  await push(root, [big], `${proxy.host}/apps/headcheck:2.0.0`);
  const bigBytes = readFileSync(big);
  let gets = 0;
  proxy.rule = (req): Action => {
    if (req.method !== 'GET' || !req.url!.includes('/blobs/sha256:')) return { kind: 'pass' };
    if (++gets === 1) return { kind: 'cut-response', afterBytes: 100_000 };
    return { kind: 'respond', status: 200, headers: { 'content-length': String(bigBytes.length) }, body: bigBytes };
  };
  const warnings: string[] = [];
  const r = await pull(root, `${proxy.host}/apps/headcheck:2.0.0`, { output: out, warnings });
  assert.equal(gets, 2, 'one cut download, one answered whole');
  assert.deepEqual(readFileSync(out), bigBytes);
  assert.equal(r.version, '2.0.0');
  assert.deepEqual(readdirSync(outDir), ['pulled.niso']);
});
