// Finding a registry's credentials in the files users already have: containers' auth.json (keys may name a namespace
// or repository, the most specific wins) and Docker's config.json (auths, credHelpers, credsStore, Docker Hub's
// historic `https://index.docker.io/v1/` key). Pure: the host part reads the files and runs the helpers.
import { DOCKER_HUB } from './reference.js';

export type Found =
  | { kind: 'basic'; username: string; password: string; source: string }
  /** An OAuth2 refresh token (Docker's identitytoken); the token service exchanges it. */
  | { kind: 'identity'; username: string; token: string; source: string }
  | { kind: 'helper'; helper: string; source: string };

export interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string } | undefined>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** A helper name becomes a program name (`docker-credential-NAME`), so only such names are taken. */
export const HELPER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** The registry a key of `auths` names: scheme and path dropped, Docker Hub's spellings made one. */
export function normaliseKey(key: string): string {
  let k = key.trim().toLowerCase();
  k = k.replace(/^[a-z]+:\/\//, '');
  const legacy = /^([^/]+)\/v[12]\/?$/.exec(k);
  if (legacy) k = legacy[1]!;
  k = k.replace(/\/+$/, '');
  if (k === 'index.docker.io' || k === 'registry-1.docker.io') k = DOCKER_HUB;
  const slash = k.indexOf('/');
  const host = slash < 0 ? k : k.slice(0, slash);
  return (host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host) + (slash < 0 ? '' : k.slice(slash));
}

function decodeAuth(value: string): { username: string; password: string } | null {
  const text = Buffer.from(value, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i <= 0) return null;
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

/** The credentials one file holds for a repository: its credHelper, the most specific `auths` entry, its credsStore. */
export function lookupCredentials(file: AuthFile, registry: string, repository: string, source: string): Found | null {
  const helpers = file.credHelpers ?? {};
  for (const [k, v] of Object.entries(helpers)) {
    if (normaliseKey(k) === registry && typeof v === 'string' && HELPER_NAME.test(v)) return { kind: 'helper', helper: v, source: `${source} (credHelpers)` };
  }
  const entries = new Map<string, NonNullable<AuthFile['auths']>[string]>();
  for (const [k, v] of Object.entries(file.auths ?? {})) if (v && typeof v === 'object') entries.set(normaliseKey(k), v);
  const parts = repository.split('/');
  for (let n = parts.length; n >= 0; n--) {
    const key = n === 0 ? registry : `${registry}/${parts.slice(0, n).join('/')}`;
    const e = entries.get(key);
    if (!e) continue;
    const basic = typeof e.auth === 'string' && e.auth !== '' ? decodeAuth(e.auth) : typeof e.username === 'string' && typeof e.password === 'string' ? { username: e.username, password: e.password } : null;
    if (typeof e.identitytoken === 'string' && e.identitytoken !== '') return { kind: 'identity', username: basic?.username ?? '', token: e.identitytoken, source };
    if (basic) return { kind: 'basic', ...basic, source };
  }
  if (typeof file.credsStore === 'string' && HELPER_NAME.test(file.credsStore)) return { kind: 'helper', helper: file.credsStore, source: `${source} (credsStore)` };
  return null;
}

/** What `docker-credential-NAME get` is given on stdin: Docker Hub's credentials live under its historic URL. */
export function helperServer(registry: string): string {
  return registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
}

/** A helper's answer: `{ServerURL, Username, Secret}`; Username `<token>` means Secret is an identity token. */
export function readHelperAnswer(text: string): { username: string; secret: string } | null {
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    if (typeof j.Secret !== 'string' || j.Secret === '') return null;
    return { username: typeof j.Username === 'string' ? j.Username : '', secret: j.Secret };
  } catch {
    return null;
  }
}

/** The entry `niso login` writes into niso's own auth file (containers' format). */
export function withLogin(file: AuthFile, registry: string, username: string, password: string): AuthFile {
  const auths = { ...(file.auths ?? {}) };
  auths[registry] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  return { ...file, auths };
}

/** `niso logout`: the entries for a registry gone (and its namespaces); whether there were any. */
export function withoutLogin(file: AuthFile, registry: string): { file: AuthFile; removed: boolean } {
  const auths: NonNullable<AuthFile['auths']> = {};
  let removed = false;
  for (const [k, v] of Object.entries(file.auths ?? {})) {
    const n = normaliseKey(k);
    if (n === registry || n.startsWith(`${registry}/`)) removed = true;
    else auths[k] = v;
  }
  return { file: { ...file, auths }, removed };
}
