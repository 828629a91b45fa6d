// Signing keys and signatures on this host: `niso key generate` (Ed25519, PKCS8 PEM 0600, and the public key as an
// OpenSSH line), which key signs a pack, and the statement of a .niso file signed into FILE.niso.sig beside it.
import { createHash, createPrivateKey, generateKeyPairSync, createPublicKey, type KeyObject } from 'node:crypto';
import { constants, statSync } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { NisoError } from '../../errors/niso-error.js';
import { readRegularFile } from '../../host/read-bounded.js';
import { writeFileAtomic } from '../../host/fs-atomic.js';
import type { PackageIndex } from '../../package/format/package-index.js';
import { packageFileName, packageManifest, sha256, type Built, type PackageFacts } from '../manifest.js';
import type { Statement } from '../signature.js';
import { defaultKeyFile } from './config.js';
import { lookupPackageFile, rememberPackageFile } from './digest-cache.js';

// The package reader (zstd, the tar and index codecs, zod) and the signature envelopes (zod) are imported where they
// are needed: a push of a file the digest cache knows, unsigned, needs neither (issue 16).

/** Where the public half of a key file goes: `signing.key` → `signing.pub`, anything else gets `.pub` added. */
export const publicKeyFile = (keyFile: string) => (keyFile.endsWith('.key') ? `${keyFile.slice(0, -4)}.pub` : `${keyFile}.pub`);
export const signatureFile = (packageFile: string) => `${packageFile}.sig`;

export async function generateKey(keyFile: string, comment: string): Promise<{ keyFile: string; publicFile: string; keyid: string; publicKey: string }> {
  const exists = await stat(keyFile).then(() => true, () => false);
  const pubFile = publicKeyFile(keyFile);
  const pubExists = await stat(pubFile).then(() => true, () => false);
  if (exists || pubExists) {
    throw new NisoError('NISO7021', `${exists ? keyFile : pubFile} already exists; niso never replaces a key`, { path: exists ? keyFile : pubFile, exitCode: 2, hint: 'give another file with -f FILE, or remove the old key first (packages it signed stay verifiable only while its public key is trusted)' });
  }
  const { keyId, publicKeyLine } = await import('../signature.js');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  await writeFileAtomic(keyFile, pem, 0o600);
  const line = publicKeyLine(publicKey, comment);
  await writeFileAtomic(pubFile, `${line}\n`, 0o644);
  return { keyFile, publicFile: pubFile, keyid: keyId(publicKey), publicKey: line };
}

export function loadPrivateKey(file: string): KeyObject {
  let r;
  try { r = readRegularFile(file, 64 * 1024); } catch (e) {
    throw new NisoError('NISO7020', `cannot read the signing key ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { path: file, hint: 'make one with `niso key generate`' });
  }
  if (!r.ok) throw new NisoError('NISO7020', `the signing key ${file} is ${r.what}`, { path: file });
  let key: KeyObject;
  try { key = createPrivateKey(r.bytes); } catch (e) {
    throw new NisoError('NISO7020', `${file} is not a private key niso can read: ${(e as Error).message.split('\n')[0]}`, { path: file, hint: 'niso signs with the PKCS8 PEM keys `niso key generate` writes' });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new NisoError('NISO7020', `${file} is an ${key.asymmetricKeyType} key; niso signs with Ed25519`, { path: file, hint: 'make one with `niso key generate`' });
  return key;
}

/**
 * The key a pack (or a push of an unsigned package) signs with: --sign-key, else $NISO_SIGNING_KEY, else the
 * host's /etc/niso/signing.key when it exists. `sign` false: none; true: one must be found.
 */
export async function signingKeyFile(root: string, env: Readonly<Record<string, string | undefined>>, opts: { sign?: boolean; signKey?: string }, note?: (m: string) => void): Promise<string | null> {
  if (opts.sign === false) return null;
  const named = opts.signKey ?? (env.NISO_SIGNING_KEY || undefined);
  if (named) return named;
  const def = defaultKeyFile(root);
  const exists = await stat(def).then((s) => s.isFile(), () => false);
  // The host's key is root's (0600): another user packing on the host does not sign with it unless asked to.
  const readable = exists && await access(def, constants.R_OK).then(() => true, () => false);
  if (readable) return def;
  if (exists && opts.sign !== true) { note?.(`not signed: ${def} is not readable by this user (pass --sign-key FILE, or --no-sign)`); return null; }
  if (opts.sign === true) throw new NisoError('NISO7022', `--sign: no signing key (none given, no $NISO_SIGNING_KEY, no ${def})`, { exitCode: 2, hint: `make one with \`niso key generate\` (writes ${def}), or pass --sign-key FILE` });
  return null;
}

/** Bytes read per call when hashing a file: few calls through the thread pool, one buffer reused (no garbage). */
const HASH_PIECE = 4 * 1024 * 1024;

/** The sha256 and size of a file, read in pieces into one buffer (a stream's fresh buffer per piece took 3x longer). */
export async function fileDigest(file: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(HASH_PIECE);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/** What the manifest of a .niso file says, and the manifest: all from the file, so a pack knows the digest a push will have. */
export async function describePackageFile(file: string): Promise<{ facts: PackageFacts; manifest: Built }> {
  const { readPackageHead } = await import('../../package/read-package.js');
  // The head comes out of a zstd child while this process hashes the file: the two overlap.
  const [head, digest] = await Promise.all([readPackageHead(file), fileDigest(file)]);
  const f = { name: head.index.name, version: head.index.version, arch: head.index.arch };
  const facts: PackageFacts = { ...f, packageId: `sha256:${head.digestHex}`, file: digest, fileName: packageFileName(f) };
  return { facts, manifest: packageManifest(facts) };
}

/**
 * describePackageFile for a push: the facts and the manifest as soon as the package's index is read and the file
 * hashed, and `checked`, which settles once the rest of the head (manifest.toml against the index) is checked. Push
 * starts its upload in between, so the manifest's TOML and schema machinery loads while the bytes go up; nothing
 * names the blob until `checked` held. With `cacheDir`, a file this host packed or pushed before, unchanged since
 * (digest-cache.ts), is neither read nor hashed; one that is not is remembered once wholly read and checked.
 */
export async function describeIndexFirst(file: string, cacheDir?: string): Promise<{ facts: PackageFacts; manifest: Built; checked: Promise<void>; cached: boolean }> {
  const before = cacheDir ? statSync(file, { bigint: true }) : null;
  const known = cacheDir && before ? lookupPackageFile(cacheDir, before) : null;
  if (known) {
    const facts: PackageFacts = { ...known, fileName: packageFileName(known) };
    return { facts, manifest: packageManifest(facts), checked: Promise.resolve(), cached: true };
  }
  const { DEFAULT_LIMITS, readPackage } = await import('../../package/read-package.js');
  let indexRead!: (r: { index: PackageIndex; indexText: string }) => void;
  const indexed = new Promise<{ index: PackageIndex; indexText: string }>((ok) => { indexRead = ok; });
  const head = readPackage(file, DEFAULT_LIMITS, { index: (index, indexText) => indexRead({ index, indexText }), head: () => false });
  head.catch(() => undefined);
  // The index comes before the manifest in every package: the head settles first only when it failed.
  const [{ index, indexText }, digest] = await Promise.all([Promise.race([indexed, head.then(() => indexed)]), fileDigest(file)]);
  const f = { name: index.name, version: index.version, arch: index.arch };
  const facts: PackageFacts = { ...f, packageId: sha256(indexText), file: digest, fileName: packageFileName(f) };
  const checked = head.then(async () => {
    if (cacheDir && before) await rememberPackageFile(cacheDir, file, before, { ...f, packageId: facts.packageId, file: digest });
  });
  // Awaited by the push later; until then a failure must not count as unhandled.
  checked.catch(() => undefined);
  return { facts, manifest: packageManifest(facts), checked, cached: false };
}

export function statementFor(facts: PackageFacts, manifestDigest: string, now: Date): Statement {
  return { name: facts.name, version: facts.version, arch: facts.arch, packageId: facts.packageId, file: facts.file, manifestDigest, signedAt: now.toISOString() };
}

/** Signs a package file into FILE.sig; the envelope and the signer's key id. */
export async function signPackageFile(file: string, keyFile: string, now: Date, described?: { facts: PackageFacts; manifest: Built }): Promise<{ sigFile: string; keyid: string; envelope: Buffer; manifestDigest: string }> {
  const key = loadPrivateKey(keyFile);
  const d = described ?? await describePackageFile(file);
  const { signStatement } = await import('../signature.js');
  const { bytes, keyid } = signStatement(statementFor(d.facts, d.manifest.digest, now), key);
  const sigFile = signatureFile(file);
  await writeFileAtomic(sigFile, bytes, 0o644);
  return { sigFile, keyid, envelope: bytes, manifestDigest: d.manifest.digest };
}

/** The signature beside a package file, if any (bounded, and only a regular file). */
export async function readSignatureFile(file: string): Promise<Buffer | null> {
  const sig = signatureFile(file);
  let r;
  try { r = readRegularFile(sig, 64 * 1024); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new NisoError('NISO7040', `cannot read ${sig}: ${(e as Error).message}`, { path: sig });
  }
  if (!r.ok) throw new NisoError('NISO7040', `${sig} is ${r.what}, not a signature file`, { path: sig });
  if (r.bytes.length > 64 * 1024) throw new NisoError('NISO7040', `${sig} is larger than a signature can be`, { path: sig });
  const { readEnvelope } = await import('../signature.js');
  readEnvelope(r.bytes, sig);
  return r.bytes;
}

/** A public key's id from its private key (for messages). */
export const keyIdOf = async (priv: KeyObject) => (await import('../signature.js')).keyId(createPublicKey(priv));
