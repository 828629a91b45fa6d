// `niso pull` and `niso inspect REF`: the manifest for this host's architecture, its signatures checked against the
// trust policy before the package blob is downloaded, then the blob (hashed as it arrives, resumed when cut) and the
// package itself checked to be the one the manifest and the signature name, before it is installed or written.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { NisoError, isNisoError } from '../../errors/niso-error.js';
import { layout } from '../../store/layout.js';
import type { InstallResult } from '../../store/install.js';
import { listInstalled } from '../../store/installed.js';
import type { Limits, PackageHead } from '../../package/read-package.js';
import { tempName } from '../../host/fs-atomic.js';
import { MT } from '../media.js';
import { indexArches, packageArtifact, packageFileName, pickPlatform, type PackageArtifact } from '../manifest.js';
import { formatReference, manifestTarget, type Reference } from '../reference.js';
import type { Policy } from '../policy.js';
import type { RegistryClient } from './client.js';
import { connect, type RegistryEnv } from './connect.js';

export interface Resolved {
  reference: string;
  /** The index the tag names, when it names one. */
  index: { digest: string; arches: string[] } | null;
  manifestDigest: string;
  manifestSize: number;
  artifact: PackageArtifact;
}

/** The package manifest a reference names for `arch`: directly, or through an index. Nothing large is read. */
export async function resolveRemote(client: RegistryClient, ref: Reference, arch: string): Promise<Resolved> {
  const reference = formatReference(ref);
  const top = await client.getManifest(manifestTarget(ref));
  if (!top) throw new NisoError('NISO7003', `${reference}: no such manifest on ${ref.registry}`, { hint: `\`niso tags ${ref.registry}/${ref.repository}\` lists the tags` });
  let index: Resolved['index'] = null;
  let m = top;
  if (top.doc.kind === 'index') {
    const entry = pickPlatform(top.doc.index, arch);
    const arches = indexArches(top.doc.index);
    if (!entry) throw new NisoError('NISO7013', `${reference} has no package for ${arch} (it has: ${arches.join(', ') || 'none'})`, { hint: 'push a package packed on (or for) this architecture, or one with arch = "any"' });
    index = { digest: top.digest, arches };
    const child = await client.getManifest(entry.digest);
    if (!child) throw new NisoError('NISO7003', `${reference}: the index names ${entry.digest}, which the registry does not have`, { hint: 'the index is dangling (a manifest was deleted); push the package again' });
    m = child;
  }
  if (m.doc.kind !== 'manifest') throw new NisoError('NISO7012', `${reference} is an index of indexes, not a niso package`);
  const artifact = packageArtifact(m.doc.manifest, reference);
  return { reference, index, manifestDigest: m.digest, manifestSize: m.bytes.length, artifact };
}

export interface Verification {
  status: 'verified' | 'not-required' | 'no-policy' | 'skipped';
  /** The policy scope that decided (null: its default, or no policy). */
  scope: string | null;
  keyid?: string;
  signatures?: number;
  via?: 'api' | 'tag';
}

const SIGNATURE_MAX = 64 * 1024;
const MAX_SIGNATURES = 16;

/** Checks the signatures a policy asks for; throws the most telling failure when none holds. */
export async function verifyRemote(client: RegistryClient, ref: Reference, r: Resolved, policy: Policy | null, skip: boolean): Promise<Verification> {
  if (skip) return { status: 'skipped', scope: null };
  if (!policy) return { status: 'no-policy', scope: null };
  // The policy's rules and the envelope checks load only on a host with a policy: a pull without one needs neither.
  const [{ decide, repositoryScope }, { verifyEnvelope }, { checkStatement }] = await Promise.all([import('../policy.js'), import('../signature.js'), import('../verify.js')]);
  const target = repositoryScope(ref.registry, ref.repository);
  const d = decide(policy, target);
  if (d.require === 'reject') {
    throw new NisoError('NISO7039', `${r.reference}: the trust policy rejects ${d.scope ? `scope ${d.scope}` : 'every repository no scope names (default = "reject")'}`, {
      hint: `trust a key for it: \`niso trust add ${target} KEY.pub\` (or \`--insecure-accept-unsigned\`); \`niso trust list\` shows the policy`,
    });
  }
  if (d.require === 'insecure-accept-unsigned') return { status: 'not-required', scope: d.scope };
  const { descriptors, via } = await client.referrers(r.manifestDigest, MT.signature);
  if (descriptors.length === 0) {
    throw new NisoError('NISO7031', `${r.reference} is not signed, and the trust policy (scope ${d.scope}) requires a signature by ${d.keys.map((k) => k.keyid).join(', ')}`, {
      hint: 'ask the publisher to push a signed package (`niso key generate`, then `niso pack` signs), or, if unsigned packages are acceptable here, `niso trust add SCOPE --insecure-accept-unsigned`',
    });
  }
  const failures: NisoError[] = [];
  const untrusted = new Set<string>();
  for (const desc of descriptors.slice(0, MAX_SIGNATURES)) {
    const where = `signature ${desc.digest.slice(0, 19)}… of ${r.reference}`;
    try {
      let sig;
      try { sig = await client.getManifest(desc.digest); } catch (e) {
        if (isNisoError(e) && (e.code === 'NISO7011' || e.code === 'NISO7024' || e.code === 'NISO7008')) throw new NisoError('NISO7038', `${where}: ${e.message}`, { hint: 'the signature index or a signature manifest was altered; push the signature again' });
        throw e;
      }
      if (!sig) throw new NisoError('NISO7038', `${where}: the signature index names a manifest the registry does not have`, { hint: 'the signature was deleted (e.g. by garbage collection of untagged manifests); push the signature again' });
      if (sig.doc.kind !== 'manifest') throw new NisoError('NISO7038', `${where}: not a signature manifest`);
      const layer = sig.doc.manifest.layers.find((l) => l.mediaType === MT.signature);
      if (sig.doc.manifest.artifactType !== MT.signature || sig.doc.manifest.subject?.digest !== r.manifestDigest || !layer) {
        throw new NisoError('NISO7038', `${where}: the signature index lists a manifest that is not a niso signature of ${r.manifestDigest}`, { hint: 'the signature index was altered; push the signature again' });
      }
      let envelope;
      try { envelope = await client.getSmallBlob(layer.digest, layer.size, SIGNATURE_MAX); } catch (e) {
        if (isNisoError(e) && (e.code === 'NISO7010' || e.code === 'NISO7008')) throw new NisoError('NISO7038', `${where}: ${e.message}`, { hint: 'the signature blob was altered; push the signature again' });
        throw e;
      }
      const v = verifyEnvelope(envelope, d.keys, where);
      if ('untrusted' in v) { for (const k of v.untrusted) untrusted.add(k); continue; }
      checkStatement(v.statement, { manifestDigest: r.manifestDigest, repository: ref.repository, tag: ref.digest ? null : ref.tag ?? 'latest', artifact: r.artifact, identity: d.identity }, r.reference);
      return { status: 'verified', scope: d.scope, keyid: v.keyid, signatures: descriptors.length, via };
    } catch (e) {
      if (!isNisoError(e)) throw e;
      if (!['NISO7032', 'NISO7034', 'NISO7035', 'NISO7036', 'NISO7037', 'NISO7038', 'NISO7040'].includes(e.code)) throw e;
      failures.push(e);
    }
  }
  if (failures.length > 0) throw failures[0]!;
  throw new NisoError('NISO7033', `${r.reference} is signed only by keys the trust policy does not trust for scope ${d.scope}: ${[...untrusted].join(', ')}`, {
    hint: `trusted there: ${d.keys.map((k) => k.keyid).join(', ')}. If a signer is yours, add its public key: \`niso trust add ${d.scope} KEY.pub\``,
  });
}

export interface PullOptions extends RegistryEnv {
  ref: Reference;
  arch: string;
  policy: Policy | null;
  insecureSkipVerify: boolean;
  limits: Limits;
  /** Write the .niso here instead of installing it. */
  output?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface PullResult {
  reference: string;
  manifestDigest: string;
  indexDigest: string | null;
  name: string;
  version: string;
  arch: string;
  packageId: string;
  size: number;
  verification: Verification;
  output?: string;
  install?: Omit<InstallResult, 'otherBuilds'>;
  requests: number;
  retries: number;
  seconds: number;
}

/** A regular file, or nothing yet, may be replaced by the download; anything else is refused before any transfer. */
async function checkOutput(output: string): Promise<void> {
  const st = await lstat(output).catch(() => null);
  if (st && !st.isFile()) throw new NisoError('NISO7026', `${output} is ${st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symlink' : 'not a regular file'}; --output replaces only a regular file`, { path: output, exitCode: 2, hint: 'give a new file name, e.g. --output hello.niso' });
  const dir = await lstat(dirname(output)).catch(() => null);
  if (!dir?.isDirectory()) throw new NisoError('NISO7026', `the directory of ${output} does not exist`, { path: output, exitCode: 2 });
}

/** Pieces of a download waiting for the head check beyond this are not kept: the file is read after it instead. */
const TAP_MAX_BYTES = 32 * 1024 * 1024;

/**
 * The package's head (index and manifest) checked from the downloaded bytes as they are written, by the same reader
 * with the same limits as a file's (readPackageHead), instead of a second pass over the file once it is complete.
 * Gives up (and the caller reads the file) when the registry restarts the blob from 0 or the check falls too far
 * behind; its verdict counts only once the download completed and matched its digest.
 */
class HeadTap {
  /**
   * Pieces are handed to the check only as fast as it reads them (zstd's output waits for the reader, its input for
   * its output): once the head is read the rest is never fed to zstd. What waits is the download's own pieces.
   */
  private readonly stream = new Readable({ read: () => this.feed() });
  private queue: Buffer[] = [];
  private queued = 0;
  private hungry = false;
  private ended = false;
  private next = 0;
  private gaveUp = false;
  readonly head: Promise<{ head: PackageHead } | { error: unknown }>;

  constructor(reader: Promise<typeof import('../../package/read-package.js')>, name: string, size: number, limits: Limits) {
    // A download that failed before the reader loaded starts no zstd for nothing.
    this.head = reader.then(({ readPackageHead }) => (this.gaveUp ? Promise.reject(new Error('not checked')) : readPackageHead({ stream: this.stream, name, size }, limits)))
      .then((head) => ({ head }), (error: unknown) => ({ error }));
  }

  private feed(): void {
    if (this.stream.destroyed) return;
    const b = this.queue.shift();
    this.hungry = false;
    if (b) { this.queued -= b.length; this.stream.push(b); } else if (this.ended) this.stream.push(null); else this.hungry = true;
  }

  push(pieces: readonly Uint8Array[], at: number): void {
    if (this.gaveUp || this.stream.destroyed) { this.queue = []; return; }
    if (at !== this.next) return this.giveUp();
    for (const p of pieces) {
      this.queue.push(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
      this.queued += p.byteLength;
      this.next += p.byteLength;
    }
    if (this.queued > TAP_MAX_BYTES) return this.giveUp();
    if (this.hungry) this.feed();
  }

  private giveUp(): void {
    this.gaveUp = true;
    this.queue = [];
    this.stream.destroy();
  }

  /** The head, once the whole blob is in: from the stream, else from the file. */
  async result(file: string, limits: Limits): Promise<PackageHead> {
    this.ended = true;
    if (this.hungry) this.feed();
    const r = await this.head;
    this.queue = [];
    if (this.gaveUp) {
      const { readPackageHead } = await import('../../package/read-package.js');
      return readPackageHead(file, limits);
    }
    if ('error' in r) throw r.error;
    return r.head;
  }

  /** Stops the check (its zstd child) when the download failed. */
  async close(): Promise<void> {
    if (!this.stream.destroyed) this.giveUp();
    await this.head;
  }
}

export async function pullPackage(o: PullOptions): Promise<PullResult> {
  const started = Date.now();
  if (o.output) await checkOutput(o.output);
  const client = connect(o.ref, o);
  const r = await resolveRemote(client, o.ref, o.arch);
  const verification = await verifyRemote(client, o.ref, r, o.policy, o.insecureSkipVerify);
  const layer = r.artifact.layer;
  if (layer.size > o.limits.maxBytes) {
    throw new NisoError('NISO7008', `${r.reference}: the package is ${layer.size} bytes, more than the ${o.limits.maxBytes} niso installs`, { hint: 'raise [install] max_size in /etc/niso/config.toml or pass --max-size if this is expected' });
  }
  const base = { reference: r.reference, manifestDigest: r.manifestDigest, indexDigest: r.index?.digest ?? null, size: layer.size, verification };
  const stats = () => ({ requests: client.http.sent.requests, retries: client.http.sent.retries, seconds: (Date.now() - started) / 1000 });
  // The package the manifest names is in the store already (it was verified when it was installed): nothing to fetch.
  const have = !o.output && r.artifact.packageId ? (await listInstalled(o.root)).find((p) => p.digest === r.artifact.packageId) : undefined;
  if (have) {
    return { ...base, name: have.name, version: have.version, arch: have.arch, packageId: have.digest, install: { digest: have.digest, name: have.name, version: have.version, arch: have.arch, path: have.path, alreadyInstalled: true, files: have.files, bytes: have.bytes, newBytes: 0 }, ...stats() };
  }
  const fileName = packageFileName({ name: r.artifact.name ?? 'package', version: r.artifact.version ?? '0', arch: r.artifact.arch ?? 'any' }).replace(/[^A-Za-z0-9._+-]/g, '_');
  const l = layout(o.root);
  const work = o.output ? null : join(l.tmp, `pull-${process.pid}-${randomBytes(6).toString('hex')}`);
  const dest = o.output ? tempName(o.output) : join(work!, fileName);
  if (work) await mkdir(work, { recursive: true, mode: 0o700 });
  // What reads and installs the package (the manifest's TOML and schema, the store) is needed only once the blob
  // starts to arrive: its modules load while the blob arrives instead of before the first request. The head of a
  // package for --output is checked as the blob arrives (HeadTap); the pieces wait for it in the meantime.
  const reader = o.output ? import('../../package/read-package.js') : null;
  if (!reader) import('../../store/install.js').catch(() => undefined);
  const tap = reader ? new HeadTap(reader, dest, layer.size, o.limits) : null;
  try {
    // Only a file the user keeps is flushed: a download for an install is read once and removed (the install makes
    // durable what it keeps).
    await client.downloadBlob(layer.digest, layer.size, dest, { sync: o.output !== undefined, onProgress: (n) => o.onProgress?.(n, layer.size), onBytes: tap ? (p, at) => tap.push(p, at) : undefined });
    const expected = r.artifact.packageId;
    const checkId = (digestHex: string) => {
      if (expected !== null && `sha256:${digestHex}` !== expected) {
        throw new NisoError('NISO7042', `${r.reference}: the downloaded package is sha256:${digestHex}, but the manifest names ${expected}`, { hint: 'the package does not match what was pushed (or signed); nothing was installed' });
      }
    };
    if (o.output) {
      const head = await tap!.result(dest, o.limits);
      checkId(head.digestHex);
      await rename(dest, o.output);
      return { ...base, name: head.index.name, version: head.index.version, arch: head.index.arch, packageId: `sha256:${head.digestHex}`, output: o.output, ...stats() };
    }
    let installed: InstallResult;
    try {
      const { installPackage } = await import('../../store/install.js');
      installed = await installPackage(o.root, dest, o.limits, { checkHead: (h) => checkId(h.digestHex) });
    } catch (e) {
      if (isNisoError(e) && e.code === 'NISO2206') {
        throw new NisoError('NISO2206', `${r.reference}: ${r.artifact.name} ${r.artifact.version} is already installed as another build`, {
          hint: `to replace it: \`niso pull ${r.reference} --output ${basename(fileName)} && niso install --replace ${basename(fileName)}\``,
        });
      }
      throw e;
    }
    const { otherBuilds: _o, ...install } = installed;
    return { ...base, name: installed.name, version: installed.version, arch: installed.arch, packageId: installed.digest, install, ...stats() };
  } finally {
    await tap?.close();
    if (work) await rm(work, { recursive: true, force: true });
    else await rm(dest, { force: true });
  }
}
