// `niso push`: one package as a manifest under the tag, several (one per architecture) as manifests under an index;
// blobs the registry has are not sent again; each signed package gets its signature attached as a referrer.
import { NisoError } from '../../errors/niso-error.js';
import { EMPTY_BLOB, EMPTY_DIGEST, MT } from '../media.js';
import { packageIndex, sha256, signatureManifest, type Built, type PackageFacts } from '../manifest.js';
import { formatReference, type Reference } from '../reference.js';
import { connect, type RegistryEnv } from './connect.js';
import { digestCacheDir } from './digest-cache.js';
import { describeIndexFirst, loadPrivateKey, readSignatureFile, signatureFile, statementFor } from './sign.js';

export interface PushOptions extends RegistryEnv {
  files: string[];
  ref: Reference;
  /** Signs packages that have no FILE.sig beside them; null: they go unsigned. */
  signKeyFile: string | null;
  now: Date;
  onProgress?: (done: number, total: number) => void;
  monolithicMax?: number;
  chunkSize?: number;
}

export interface PushedPackage {
  file: string;
  name: string;
  version: string;
  arch: string;
  packageId: string;
  manifestDigest: string;
  size: number;
  /** False: the registry had the blob, nothing was sent. */
  uploaded: boolean;
  signature: { keyid: string; digest: string; via: 'api' | 'tag'; from: 'file' | 'key' } | null;
}

export interface PushResult {
  reference: string;
  /** What the tag now names: the package manifest, or the index of several. */
  digest: string;
  mediaType: string;
  packages: PushedPackage[];
  uploadedBytes: number;
  requests: number;
  retries: number;
  seconds: number;
}

export async function pushPackages(o: PushOptions): Promise<PushResult> {
  const started = Date.now();
  if (o.ref.digest) throw new NisoError('NISO7000', `push to ${formatReference(o.ref)}: give a tag, not a digest (the digest follows from the package)`, { exitCode: 2 });
  const tag = o.ref.tag ?? 'latest';
  const described: { file: string; facts: PackageFacts; manifest: Built; checked: Promise<void>; envelope: Buffer | null; keyid: string | null; from: 'file' | 'key' }[] = [];
  const key = o.signKeyFile ? loadPrivateKey(o.signKeyFile) : null;
  // The connection, the registry's auth and the question whether it has the empty config blob (every push needs
  // it) go while the packages are read and hashed, instead of after; its failure is reported only once the packages
  // proved readable. Nothing is uploaded before then: a file that is not a package starts no upload.
  const client = connect(o.ref, o);
  const emptyThere = client.blobExists(EMPTY_DIGEST, true);
  emptyThere.catch(() => undefined);
  for (const file of o.files) {
    const d = await describeIndexFirst(file, digestCacheDir(o.root, o.env));
    const clash = described.find((x) => x.facts.arch === d.facts.arch);
    if (clash) throw new NisoError('NISO7023', `${file} and ${clash.file} are both for ${d.facts.arch}; an index holds one package per architecture`, { exitCode: 2, hint: 'push one package per architecture under a tag' });
    if (described.length > 0 && (described[0]!.facts.name !== d.facts.name || described[0]!.facts.version !== d.facts.version)) {
      throw new NisoError('NISO7023', `${file} is ${d.facts.name} ${d.facts.version}, but ${described[0]!.file} is ${described[0]!.facts.name} ${described[0]!.facts.version}; one tag holds one name and version`, { exitCode: 2 });
    }
    let envelope = await readSignatureFile(file);
    let keyid: string | null = null;
    let from: 'file' | 'key' = 'file';
    if (envelope) {
      const { readEnvelope } = await import('../signature.js');
      const { statement, envelope: env } = readEnvelope(envelope, signatureFile(file));
      if (statement.manifestDigest !== d.manifest.digest) {
        throw new NisoError('NISO7034', `${signatureFile(file)} signs manifest ${statement.manifestDigest}, but ${file} makes ${d.manifest.digest}: the signature belongs to another build`, { exitCode: 2, hint: `sign the package again (\`niso pack --sign\`), or remove ${signatureFile(file)} to push it unsigned` });
      }
      keyid = env.signatures[0]!.keyid;
    } else if (key) {
      const { signStatement } = await import('../signature.js');
      const s = signStatement(statementFor(d.facts, d.manifest.digest, o.now), key);
      envelope = s.bytes;
      keyid = s.keyid;
      from = 'key';
    }
    described.push({ file, ...d, envelope, keyid, from });
  }

  const total = described.reduce((n, d) => n + d.facts.file.size, 0);
  let base = 0;
  await emptyThere.then((have) => (have ? false : client.ensureBlob(EMPTY_BLOB, EMPTY_DIGEST)));
  const packages: PushedPackage[] = [];
  let uploadedBytes = 0;
  for (const d of described) {
    const have = await client.blobExists(d.facts.file.digest, true);
    if (!have) {
      const at = base;
      await client.uploadFile(d.file, d.facts.file.digest, d.facts.file.size, { monolithicMax: o.monolithicMax, chunkSize: o.chunkSize, onProgress: (n) => o.onProgress?.(at + n, total) });
      uploadedBytes += d.facts.file.size;
    }
    base += d.facts.file.size;
    o.onProgress?.(base, total);
    packages.push({ file: d.file, name: d.facts.name, version: d.facts.version, arch: d.facts.arch, packageId: d.facts.packageId, manifestDigest: d.manifest.digest, size: d.facts.file.size, uploaded: !have, signature: null });
  }
  // Every package's head checked out (the manifest.toml against its index) before anything names its blob.
  for (const d of described) await d.checked;
  // Manifests by digest, then their signatures, and the tag last: a pull never finds the tag on a package whose
  // signature is not there yet.
  // One unsigned package: the PUT under the tag stores the manifest too, so the PUT by digest would be a round trip
  // that changes nothing.
  const single = described.length === 1 && !described[0]!.envelope;
  if (!single) for (const d of described) await client.putManifest(d.manifest.digest, d.manifest);
  const top: Built = described.length === 1 ? described[0]!.manifest : packageIndex(described);
  for (const [i, d] of described.entries()) {
    if (!d.envelope || !d.keyid) continue;
    const env = { digest: sha256(d.envelope), size: d.envelope.length };
    await client.ensureBlob(d.envelope, env.digest);
    const sig = signatureManifest(d.manifest.descriptor, env, d.keyid);
    const via = await client.attachReferrer(sig, d.manifest.digest);
    packages[i]!.signature = { keyid: d.keyid, digest: sig.digest, via, from: d.from };
  }
  await client.putManifest(tag, top);
  return {
    reference: `${o.ref.registry}/${o.ref.repository}:${tag}`, digest: top.digest, mediaType: described.length === 1 ? MT.manifest : MT.index,
    packages, uploadedBytes, requests: client.http.sent.requests, retries: client.http.sent.retries, seconds: (Date.now() - started) / 1000,
  };
}
