// OCI manifests and indexes as niso writes them (compact JSON in a fixed key order, derived only from the package, so
// that a manifest's digest is known at pack time and a mirror that copies bytes keeps it) and as niso reads them
// (validated, with the package's layer found and checked before anything is downloaded).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { NisoError } from '../errors/niso-error.js';
import { ANNOTATION, EMPTY_BLOB, EMPTY_DIGEST, MT, ociArch } from './media.js';

export const sha256 = (data: Uint8Array | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

const digestSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'not a sha256 digest');
const annotations = z.record(z.string(), z.string());
const descriptorSchema = z.looseObject({
  mediaType: z.string().max(255),
  digest: digestSchema,
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  artifactType: z.string().max(255).optional(),
  annotations: annotations.optional(),
  platform: z.looseObject({ architecture: z.string(), os: z.string(), variant: z.string().optional() }).optional(),
});
const manifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().max(255).optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema).max(1000),
  subject: descriptorSchema.optional(),
  annotations: annotations.optional(),
});
const indexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().max(255).optional(),
  manifests: z.array(descriptorSchema).max(10_000),
  subject: descriptorSchema.optional(),
  annotations: annotations.optional(),
});

export type Descriptor = z.infer<typeof descriptorSchema>;
export type ImageManifest = z.infer<typeof manifestSchema>;
export type ImageIndex = z.infer<typeof indexSchema>;
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
  const r = isIndex ? indexSchema.safeParse(json) : manifestSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw shapeError(where, `${issue.path.join('.') || 'document'}: ${issue.message}`);
  }
  return isIndex ? { kind: 'index', index: r.data as ImageIndex } : { kind: 'manifest', manifest: r.data as ImageManifest };
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
