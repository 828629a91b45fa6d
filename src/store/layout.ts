// Where things live under NISO_ROOT: pure path math, so every module agrees on the layout.
import { join } from 'node:path';

export interface StoreLayout {
  root: string;
  /** Installed packages: <store>/<digest>-<name>-<version>/ */
  store: string;
  /** Content-addressed file pool; store objects hard-link to it, so equal files exist once. */
  content: string;
  /** Work dirs of installs in progress, and trash of removals; same filesystem for rename(2). */
  tmp: string;
  lock: string;
  config: string;
  /** Runtimes added by hand with `niso runtime add`; they win over discovered ones. */
  runtimes: string;
  /** What runtime discovery learnt by running programs; safe to delete. */
  runtimeCache: string;
  /** The host facts planning remembers per package and host (sandbox/facts-cache.ts), one JSON file per key. */
  hostFacts: string;
  /**
   * What niso learnt of package files on this host (registry/host/digest-cache.ts): their sha256 and index facts, per
   * file identity, so that a push of a file packed or pushed here before does not read and hash it again.
   */
  packageDigests: string;
  /** Runtimes installed with `niso runtime install`: <installedRuntimes>/<sha256 of the tarball>-<name>-<version>/. */
  installedRuntimes: string;
  /** niso's networks (networks.json) and their lock. */
  net: string;
  /** Runtime state (live network attachments under net/); /run may be on disk, so it is reconciled, never trusted. */
  run: string;
  /** Services: <services>/<name>/ holds service.json (what should run), state.json (what runs), health.json and logs/. */
  services: string;
  /** Config files given at activation (--config): <configs>/<service>/<sha256>, the service's group's alone. */
  configs: string;
  /** Each service's /state: <state>/<name>/, the mount point of its image <state>/.images/<name>.img when bounded. */
  state: string;
  /**
   * Volumes: <volumes>/NAME/{volume.json,data/} for a named volume, <volumes>/@SERVICE/KEY/ for a service's own one
   * (no named volume can take a name starting with "@"), and grants.json, which service or run holds which volume.
   */
  volumes: string;
  /** Secrets (`niso secret`): <secrets>/<name>/{value,meta.json}, root's alone (0700, files 0600). */
  secrets: string;
  /** The audit log (`niso audit`): audit-<first seq>.jsonl files, audit.head, and their lock; root's alone. */
  audit: string;
}

export function layout(root: string): StoreLayout {
  const lib = join(root, 'var/lib/niso');
  return {
    root,
    store: join(lib, 'store'),
    content: join(lib, 'content'),
    tmp: join(lib, 'tmp'),
    lock: join(lib, 'store.lock'),
    config: join(root, 'etc/niso/config.toml'),
    runtimes: join(root, 'etc/niso/runtimes.toml'),
    runtimeCache: join(lib, 'cache/runtimes.json'),
    hostFacts: join(lib, 'cache/host-facts'),
    packageDigests: join(lib, 'cache/package-digests'),
    installedRuntimes: join(lib, 'runtimes'),
    net: join(lib, 'net'),
    run: join(root, 'run/niso'),
    services: join(lib, 'services'),
    state: join(lib, 'state'),
    configs: join(lib, 'configs'),
    volumes: join(lib, 'volumes'),
    secrets: join(lib, 'secrets'),
    audit: join(lib, 'audit'),
  };
}

export function storeObjectName(digestHex: string, name: string, version: string): string {
  return `${digestHex}-${name}-${version}`;
}

/**
 * Where one content lives in the pool. Executable and plain files are pooled apart because hard
 * links share one mode. A filesystem allows only so many links to one inode (ext4: 65,000), so
 * a content may have several copies: copy 0 is `<sha256>[.x]`, copy N is `<sha256>[.x].N`.
 */
export function contentPath(l: StoreLayout, sha256: string, mode: number, copy = 0): string {
  return join(l.content, sha256.slice(0, 2), contentName(sha256, mode, copy));
}

const contentName = (sha256: string, mode: number, copy: number) => `${sha256}${mode & 0o111 ? '.x' : ''}${copy > 0 ? `.${copy}` : ''}`;

/** The names among a shard directory's that are copies of this content. */
export function contentCopies(names: readonly string[], sha256: string, mode: number): string[] {
  const base = contentName(sha256, mode, 0);
  return names.filter((n) => n === base || (n.startsWith(`${base}.`) && /^[1-9][0-9]*$/.test(n.slice(base.length + 1))));
}

export const STORE_OBJECT_RE = /^([0-9a-f]{64})-(.+)$/;

/** Where one service keeps its definition, state and logs. */
export function serviceDir(l: StoreLayout, service: string): string {
  return join(l.services, service);
}

/** A service's state dir, and the image that bounds it (in a directory no service name can take: names start with [a-z0-9]). */
export function stateOf(l: StoreLayout, service: string): { dir: string; image: string } {
  return { dir: join(l.state, service), image: join(l.state, '.images', `${service}.img`) };
}

/**
 * Where a volume lives: `dir` holds its metadata and `data`, the directory that is mounted. A service's own volume
 * (SERVICE/KEY) goes below "@SERVICE", a name no named volume can take (names start with [a-z0-9]).
 */
export function volumeOf(l: StoreLayout, name: string): { dir: string; data: string; meta: string } {
  const slash = name.indexOf('/');
  const dir = slash < 0 ? join(l.volumes, name) : join(l.volumes, `@${name.slice(0, slash)}`, name.slice(slash + 1));
  return { dir, data: join(dir, 'data'), meta: join(dir, 'volume.json') };
}

/**
 * One secret: a directory holding its bytes (`value`, what a systemd unit's LoadCredential= reads) and its metadata,
 * made complete under a temporary name and renamed into place, so that a secret is all there or not at all.
 */
export function secretOf(secretsDir: string, name: string): { dir: string; value: string; meta: string } {
  const dir = join(secretsDir, name);
  return { dir, value: join(dir, 'value'), meta: join(dir, 'meta.json') };
}
