// OCI manifests and indexes as niso writes them (compact JSON in a fixed key order, derived only from the package, so
// that a manifest's digest is known at pack time and a mirror that copies bytes keeps it) and as niso reads them
// (validated, with the package's layer found and checked before anything is downloaded).
import { createHash } from 'node:crypto';
import { NisoError } from '../errors/niso-error.js';
import { ANNOTATION, EMPTY_BLOB, EMPTY_DIGEST, MT, ociArch } from './media.js';
import { DIGEST } from './reference.js';

export const sha256 = (data: Uint8Array | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * The OCI descriptor, manifest and index as niso reads them: checked by hand rather than with zod, whose ~360 KB
 * every push and pull compiled before its first request only for these few fields (issue 16). Unknown keys are kept.
 */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string; [k: string]: unknown };
  [k: string]: unknown;
}
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

/** A field that does not have the expected shape: its path and what was expected. */
class Shape extends Error { constructor(readonly path: string, why: string) { super(why); } }

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function str(o: Obj, key: string, at: string, opt: { optional?: boolean; max?: number } = {}): void {
  const v = o[key];
  if (v === undefined && opt.optional) return;
  if (typeof v !== 'string') throw new Shape(`${at}${key}`, v === undefined ? 'required' : 'expected a string');
  if (opt.max !== undefined && v.length > opt.max) throw new Shape(`${at}${key}`, `longer than ${opt.max} characters`);
}

function stringMap(o: Obj, key: string, at: string): void {
  const v = o[key];
  if (v === undefined) return;
  if (!isObj(v)) throw new Shape(`${at}${key}`, 'expected an object of strings');
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw new Shape(`${at}${key}.${k}`, 'expected a string');
}

function descriptor(v: unknown, at: string): void {
  if (!isObj(v)) throw new Shape(at, 'expected an object');
  const p = `${at}.`;
  str(v, 'mediaType', p, { max: 255 });
  str(v, 'digest', p);
  if (!DIGEST.test(v.digest as string)) throw new Shape(`${p}digest`, 'not a sha256 digest');
  const size = v.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > Number.MAX_SAFE_INTEGER) throw new Shape(`${p}size`, 'expected a whole number of bytes');
  str(v, 'artifactType', p, { optional: true, max: 255 });
  stringMap(v, 'annotations', p);
  if (v.platform !== undefined) {
    if (!isObj(v.platform)) throw new Shape(`${p}platform`, 'expected an object');
    str(v.platform, 'architecture', `${p}platform.`);
    str(v.platform, 'os', `${p}platform.`);
    str(v.platform, 'variant', `${p}platform.`, { optional: true });
  }
}

function documentFields(o: Obj, list: 'layers' | 'manifests', max: number): void {
  if (o.schemaVersion !== 2) throw new Shape('schemaVersion', 'expected 2');
  str(o, 'mediaType', '', { optional: true });
  str(o, 'artifactType', '', { optional: true, max: 255 });
  const items = o[list];
  if (!Array.isArray(items)) throw new Shape(list, items === undefined ? 'required' : 'expected a list');
  if (items.length > max) throw new Shape(list, `more than ${max} entries`);
  items.forEach((d, i) => descriptor(d, `${list}.${i}`));
  if (o.subject !== undefined) descriptor(o.subject, 'subject');
  stringMap(o, 'annotations', '');
}

export type Document = { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

/** Bytes, their digest and the descriptor that points at them. */
export interface Built { bytes: Buffer; digest: string; descriptor: Descriptor }

function built(doc: unknown, mediaType: string, extra: Partial<Descriptor> = {}): Built {
  const bytes = Buffer.from(JSON.stringify(doc));
  const digest = sha256(bytes);
  return { bytes, digest, descriptor: { mediaType, ...extra, digest, size: bytes.length } };
}

export const emptyDescriptor = (): Descriptor => ({ mediaType: MT.empty, digest: EMPTY_DIGEST, size: EMPTY_BLOB.length });

/** What a package manifest says; every field comes from the .niso itself. */
export interface PackageFacts {
  name: string;
  version: string;
  arch: string;
  /** The package digest (sha256 of its canonical index), as `niso inspect` and the store show it. */
  packageId: string;
  /** The .niso file's own bytes: the layer. */
  file: { digest: string; size: number };
  /** The layer's title, the name `oras pull` and `podman artifact extract` give the file. */
  fileName: string;
}

export function packageFileName(f: { name: string; version: string; arch: string }): string {
  return `${f.name}-${f.version}-${f.arch}.niso`;
}

/** The manifest of one package; no time stamp, so the same .niso always gives the same digest. */
export function packageManifest(f: PackageFacts): Built {
  const doc = {
    schemaVersion: 2,
    mediaType: MT.manifest,
    artifactType: MT.package,
    config: emptyDescriptor(),
    layers: [{ mediaType: MT.packageLayer, digest: f.file.digest, size: f.file.size, annotations: { [ANNOTATION.title]: f.fileName } }],
    annotations: { [ANNOTATION.version]: f.version, [ANNOTATION.name]: f.name, [ANNOTATION.arch]: f.arch, [ANNOTATION.packageId]: f.packageId },
  };
  return built(doc, MT.manifest, { artifactType: MT.package });
}

/** An index of packages of several architectures under one tag, in a fixed (architecture) order. */
export function packageIndex(entries: { facts: PackageFacts; manifest: Built }[]): Built {
  const sorted = [...entries].sort((a, b) => (a.facts.arch < b.facts.arch ? -1 : a.facts.arch > b.facts.arch ? 1 : 0));
  const manifests = sorted.map(({ facts, manifest }) => {
    const arch = ociArch(facts.arch);
    return {
      mediaType: MT.manifest, artifactType: MT.package, digest: manifest.digest, size: manifest.bytes.length,
      ...(arch ? { platform: { architecture: arch, os: 'linux' } } : {}),
      annotations: { [ANNOTATION.name]: facts.name, [ANNOTATION.version]: facts.version, [ANNOTATION.arch]: facts.arch },
    };
  });
  return built({ schemaVersion: 2, mediaType: MT.index, artifactType: MT.package, manifests }, MT.index, { artifactType: MT.package });
}

/** A signature referrer: the envelope as its one layer, the signed package manifest as its subject. */
export function signatureManifest(subject: Descriptor, envelope: { digest: string; size: number }, keyid: string): Built {
  const doc = {
    schemaVersion: 2,
    mediaType: MT.manifest,
    artifactType: MT.signature,
    config: emptyDescriptor(),
    layers: [{ mediaType: MT.signature, digest: envelope.digest, size: envelope.size }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { [ANNOTATION.keyid]: keyid },
  };
  return built(doc, MT.manifest, { artifactType: MT.signature, annotations: { [ANNOTATION.keyid]: keyid } });
}

/**
 * The referrers fallback index with one more descriptor (distribution-spec 1.1: start from what the tag holds, skip
 * duplicates, carry artifactType and the manifest's annotations). Null when it is there already.
 */
export function withReferrer(existing: ImageIndex | null, add: Descriptor): Built | null {
  const manifests = existing ? [...existing.manifests] : [];
  if (manifests.some((d) => d.digest === add.digest)) return null;
  manifests.push(add);
  return built({ schemaVersion: 2, mediaType: MT.index, manifests }, MT.index);
}

const shapeError = (where: string, why: string) =>
  new NisoError('NISO7024', `${where}: not a valid OCI manifest or index: ${why}`, { hint: 'the registry (or something between it and niso) returned a document niso cannot read; check the reference, or push the package again' });

/** Reads a manifest or an index; which one is told by its mediaType field, then the Content-Type, then its shape. */
export function parseDocument(bytes: Uint8Array, contentType: string | null, where: string): Document {
  let json: unknown;
  try { json = JSON.parse(Buffer.from(bytes).toString('utf8')); } catch (e) { throw shapeError(where, `not JSON (${(e as Error).message})`); }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw shapeError(where, 'not a JSON object');
  const o = json as Record<string, unknown>;
  const type = typeof o.mediaType === 'string' ? o.mediaType : (contentType ?? '').split(';')[0]!.trim();
  const isIndex = type === MT.index || type === MT.dockerList || (!type.includes('manifest.v') && Array.isArray(o.manifests));
  try {
    if (isIndex) {
      documentFields(o, 'manifests', 10_000);
      return { kind: 'index', index: o as ImageIndex };
    }
    documentFields(o, 'layers', 1000);
    descriptor(o.config, 'config');
    return { kind: 'manifest', manifest: o as ImageManifest };
  } catch (e) {
    if (e instanceof Shape) throw shapeError(where, `${e.path || 'document'}: ${e.message}`);
    throw e;
  }
}

/** A package manifest, read: its layer and what its annotations claim (checked later against the package itself). */
export interface PackageArtifact {
  layer: Descriptor;
  fileName: string | null;
  name: string | null;
  version: string | null;
  arch: string | null;
  packageId: string | null;
}

/**
 * The package inside a manifest. niso's artifactType, or none with an empty or niso config (podman's `artifact add`
 * without --type writes none), and exactly one layer of niso's package type.
 */
export function packageArtifact(m: ImageManifest, where: string): PackageArtifact {
  const type = m.artifactType ?? (m.config.mediaType === MT.empty ? null : m.config.mediaType);
  const notPackage = (why: string) => new NisoError('NISO7012', `${where} is not a niso package: ${why}`, {
    hint: `a niso package is an OCI artifact of type ${MT.package} with the .niso as its one ${MT.packageLayer} layer, as \`niso push\` writes it`,
  });
  if (type !== null && type !== MT.package) throw notPackage(`its artifact type is ${type}`);
  const layers = m.layers.filter((l) => l.mediaType === MT.packageLayer);
  if (layers.length !== 1) throw notPackage(layers.length === 0 ? `it has no ${MT.packageLayer} layer (layers: ${m.layers.map((l) => l.mediaType).join(', ') || 'none'})` : 'it has more than one package layer');
  const a = m.annotations ?? {};
  const title = layers[0]!.annotations?.[ANNOTATION.title] ?? null;
  return {
    layer: layers[0]!, fileName: title, name: a[ANNOTATION.name] ?? null, version: a[ANNOTATION.version] ?? null,
    arch: a[ANNOTATION.arch] ?? null, packageId: a[ANNOTATION.packageId] ?? null,
  };
}

/** The entry of an index for this host: its architecture, else an `any` package. */
export function pickPlatform(index: ImageIndex, hostArch: string): Descriptor | null {
  const want = ociArch(hostArch);
  const manifests = index.manifests.filter((d) => d.mediaType === MT.manifest || d.mediaType === MT.dockerManifest);
  const linux = (d: Descriptor) => !d.platform || d.platform.os === 'linux';
  return manifests.find((d) => linux(d) && d.platform?.architecture === want)
    ?? manifests.find((d) => d.annotations?.[ANNOTATION.arch] === hostArch)
    ?? manifests.find((d) => d.annotations?.[ANNOTATION.arch] === 'any')
    ?? null;
}

/** The architectures an index offers, for the error that none fits. */
export function indexArches(index: ImageIndex): string[] {
  return index.manifests.map((d) => d.annotations?.[ANNOTATION.arch] ?? (d.platform ? `${d.platform.os}/${d.platform.architecture}` : '?'));
}
