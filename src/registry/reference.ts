// Registry references, `host[:port]/repo[:tag|@digest]`, parsed by the grammar of distribution's reference package, so
// that a name niso accepts is one every registry and client (docker, skopeo, oras) accepts too.
import { NisoError } from '../errors/niso-error.js';

export interface Reference {
  /** The registry as written (normalised): `127.0.0.1:5000`, `ghcr.io`, `docker.io`. Credentials are keyed by it. */
  registry: string;
  /** Where its API answers: Docker Hub's is `registry-1.docker.io`; every other registry's is `registry`. */
  apiHost: string;
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
const DOMAIN_PART = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;
const MAX_NAME = 255;

const invalid = (text: string, why: string, hint = 'a reference is HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST], e.g. registry.example.com/team/hello:1.0.0 or 127.0.0.1:5000/hello:1.0.0') =>
  new NisoError('NISO7000', `invalid registry reference "${text}": ${why}`, { hint, exitCode: 2 });

/** Whether the first part of a name is a registry host rather than a repository path component (Docker's rule). */
function isHostPart(part: string): boolean {
  return part.includes('.') || part.includes(':') || part === 'localhost' || part.startsWith('[');
}

function validHost(host: string): boolean {
  let port: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return false;
    const inner = host.slice(1, end);
    if (!/^[0-9a-fA-F:.]+$/.test(inner) || !inner.includes(':')) return false;
    const rest = host.slice(end + 1);
    if (rest === '') return true;
    if (!rest.startsWith(':')) return false;
    port = rest.slice(1);
  } else {
    const i = host.lastIndexOf(':');
    const name = i < 0 ? host : host.slice(0, i);
    if (i >= 0) port = host.slice(i + 1);
    if (!name.split('.').every((p) => DOMAIN_PART.test(p))) return false;
  }
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) return false;
  return true;
}

/**
 * Parses a reference. Without a host the registry is Docker Hub, and a one-part repository is `library/NAME`, as
 * Docker reads `hello`. Neither tag nor digest: the caller decides (push and pull use `latest`).
 */
export function parseReference(text: string): Reference {
  if (text === '') throw invalid(text, 'it is empty');
  if (/[\s\0]/.test(text)) throw invalid(text, 'it contains white space or a NUL');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(text, `"${digest}" is not a sha256 digest`, 'a digest is sha256: and 64 lower-case hex digits');
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(text, `"${tag}" is not a valid tag`, 'a tag is up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"');
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && isHostPart(parts[0]!)) {
    registry = parts.shift()!;
    if (!validHost(registry)) throw invalid(text, `"${registry}" is not a host name or address with an optional port`);
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (parts.length === 0 || parts.some((p) => p === '')) throw invalid(text, 'the repository is missing or has an empty part');
  for (const p of parts) {
    if (!COMPONENT.test(p)) {
      const why = /[A-Z]/.test(p) ? `"${p}" has upper-case letters (repositories are lower-case)` : `"${p}" is not a valid repository part`;
      throw invalid(text, why, 'repository parts are lower-case letters and digits, separated by ".", "_", "__" or "-"');
    }
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > MAX_NAME) throw invalid(text, `the repository is longer than ${MAX_NAME} characters`);
  return { registry, apiHost: registry === DOCKER_HUB ? DOCKER_HUB_API : registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The reference as a user reads and types it. */
export function formatReference(r: Reference): string {
  const name = `${r.registry}/${r.repository}`;
  return `${name}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** What a tag or digest names inside the repository, for the API paths: the digest wins, then the tag, else latest. */
export function manifestTarget(r: Reference): string {
  return r.digest ?? r.tag ?? 'latest';
}

/**
 * Whether an argument of `niso inspect` means a registry: it starts with a host (a dot, a port or localhost) and
 * has a repository after it. Paths (`./x`, `/x`, `x.niso`) never do; the caller checks the file system first.
 */
export function looksLikeRegistryReference(text: string): boolean {
  if (text.startsWith('/') || text.startsWith('./') || text.startsWith('../') || text.endsWith('.niso')) return false;
  const first = text.split('/')[0]!;
  if (!text.includes('/') || !isHostPart(first)) return false;
  try { parseReference(text); return true; } catch { return false; }
}

/** The host name of `host[:port]`, without brackets or port. */
export function hostName(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const i = registry.lastIndexOf(':');
  return i < 0 ? registry : registry.slice(0, i);
}

/** Loopback: the only hosts niso talks plain HTTP to (and sends credentials over it) without being told to. */
export function isLoopback(registry: string): boolean {
  const h = hostName(registry).toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Addresses a token realm may not point at unless it is the registry's own host (oras-go's validateRealm). */
export function isPrivateAddress(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || h === '::' || h.startsWith('fe80:') || h.startsWith('fc') || h.startsWith('fd')) return true;
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a === 127 || a === 10 || a === 0 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
}

/** The tag under which registries without the referrers API keep a manifest's referrers (distribution-spec 1.1). */
export function referrersTag(digest: string): string {
  const [alg, hex] = digest.split(':') as [string, string];
  return `${alg.slice(0, 32)}-${hex.slice(0, 64)}`;
}
