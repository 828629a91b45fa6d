// The media types niso writes and reads, and the OCI constants (the empty descriptor) every registry expects.
export const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  empty: 'application/vnd.oci.empty.v1+json',
  /** The artifact type of a package manifest (and of an index of packages). */
  package: 'application/vnd.niso.package.v1',
  /** The one layer of a package manifest: the .niso file as it is. Not an image layer type, so no tool unpacks it as a rootfs. */
  packageLayer: 'application/vnd.niso.package.v1.tar+zstd',
  /** The artifact type and layer type of a signature referrer; the layer is a DSSE envelope. */
  signature: 'application/vnd.niso.signature.v1+json',
  /** The payloadType of the envelope: the statement the signature binds. */
  statement: 'application/vnd.niso.statement.v1+json',
} as const;

/** `{}`: the config of an artifact without one, which registries still want as a blob. */
export const EMPTY_BLOB = Buffer.from('{}');
export const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/** What a GET of a manifest must accept: registries answer 404 to a GET whose Accept omits the stored type. */
export const MANIFEST_ACCEPT = [MT.index, MT.manifest, MT.dockerList, MT.dockerManifest].join(', ');

export const ANNOTATION = {
  title: 'org.opencontainers.image.title',
  version: 'org.opencontainers.image.version',
  name: 'dev.niso.package.name',
  arch: 'dev.niso.package.arch',
  packageId: 'dev.niso.package.id',
  keyid: 'dev.niso.signature.keyid',
} as const;

/** OCI platform architectures (Go's names) for niso's (the kernel's names); `any` has none. */
export function ociArch(arch: string): string | null {
  if (arch === 'any') return null;
  return arch === 'x86_64' ? 'amd64' : arch === 'aarch64' ? 'arm64' : arch;
}
