// Where a registry's credentials come from, first hit wins: the command line, NISO_AUTH_FILE/REGISTRY_AUTH_FILE,
// niso's own auth file (`niso login`), containers' auth.json, Docker's config.json; helpers (`docker-credential-NAME
// get`) are run only when a registry asks for credentials, and one that is missing or fails is a warning, not the end.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { readRegularFile } from '../../host/read-bounded.js';
import { helperServer, lookupCredentials, readHelperAnswer, type AuthFile, type Found } from '../credentials.js';
import type { Creds } from './http.js';

const MAX_AUTH_FILE = 1024 * 1024;

export interface CredentialEnv {
  root: string;
  env: Readonly<Record<string, string | undefined>>;
  warn: (message: string) => void;
}

/** niso's own auth file: root's below NISO_ROOT, another user's in their config directory. */
export function nisoAuthFile(e: Pick<CredentialEnv, 'root' | 'env'>): string {
  const uid = process.geteuid?.() ?? 0;
  if (uid === 0) return join(e.root, 'etc/niso/auth.json');
  return join(e.env.XDG_CONFIG_HOME || join(e.env.HOME ?? '/', '.config'), 'niso/auth.json');
}

/** The files looked in, in order; an explicit auth file is the only one. */
export function authFiles(e: CredentialEnv): string[] {
  const explicit = e.env.NISO_AUTH_FILE || e.env.REGISTRY_AUTH_FILE;
  if (explicit) return [explicit];
  const home = e.env.HOME ?? '/root';
  const out = [nisoAuthFile(e)];
  if (e.env.XDG_RUNTIME_DIR) out.push(join(e.env.XDG_RUNTIME_DIR, 'containers/auth.json'));
  out.push(join(e.env.XDG_CONFIG_HOME || join(home, '.config'), 'containers/auth.json'));
  out.push(join(e.env.DOCKER_CONFIG || join(home, '.docker'), 'config.json'));
  return out;
}

/** An auth file, or null when it does not exist. A broken one is an error naming it: silently ignoring it would hide why a pull is anonymous. */
export function readAuthFile(file: string): AuthFile | null {
  let read;
  try { read = readRegularFile(file, MAX_AUTH_FILE); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new NisoError('NISO7018', `cannot read the credentials file ${file}: ${(e as Error).message}`, { path: file, cause: e });
  }
  if (!read.ok) throw new NisoError('NISO7018', `${file} is ${read.what}, not a credentials file`, { path: file });
  if (read.bytes.length > MAX_AUTH_FILE) throw new NisoError('NISO7018', `${file} is larger than ${MAX_AUTH_FILE} bytes`, { path: file });
  try {
    const j = JSON.parse(read.bytes.toString('utf8')) as unknown;
    if (j === null || typeof j !== 'object' || Array.isArray(j)) throw new Error('not a JSON object');
    return j as AuthFile;
  } catch (e) {
    throw new NisoError('NISO7018', `${file} is not valid JSON: ${(e as Error).message}`, { path: file, hint: 'fix or remove the file; it holds registry credentials in the format of containers-auth.json(5) / Docker\'s config.json' });
  }
}

/** Runs `docker-credential-NAME get`; null when it has nothing (or cannot run: said as a warning). */
function runHelper(helper: string, registry: string, e: CredentialEnv): Promise<Creds | null> {
  const program = `docker-credential-${helper}`;
  return new Promise((resolve) => {
    const child = execFile(program, ['get'], { timeout: 10_000, maxBuffer: 64 * 1024, env: { ...e.env } as NodeJS.ProcessEnv }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') e.warn(`the credential helper ${program} is configured but not installed; going on without it`);
        else if (!/credentials not found/i.test(`${stdout}${stderr}`)) e.warn(`the credential helper ${program} failed (${String(stderr || err.message).trim().split('\n')[0]!.slice(0, 200)}); going on without it`);
        resolve(null);
        return;
      }
      const a = readHelperAnswer(stdout);
      if (!a) { e.warn(`the credential helper ${program} answered something niso cannot read; going on without it`); resolve(null); return; }
      resolve(a.username === '<token>' ? { username: '', identityToken: a.secret } : { username: a.username, password: a.secret });
    });
    child.stdin?.end(helperServer(registry));
  });
}

/** Credentials for a repository from the files (and their helpers), or null: anonymous. */
export async function findCredentials(registry: string, repository: string, e: CredentialEnv): Promise<{ creds: Creds; source: string } | null> {
  for (const file of authFiles(e)) {
    const doc = readAuthFile(file);
    if (!doc) continue;
    const found: Found | null = lookupCredentials(doc, registry, repository, file);
    if (!found) continue;
    if (found.kind === 'basic') return { creds: { username: found.username, password: found.password }, source: found.source };
    if (found.kind === 'identity') return { creds: { username: found.username, identityToken: found.token }, source: found.source };
    const c = await runHelper(found.helper, registry, e);
    if (c) return { creds: c, source: found.source };
  }
  return null;
}

/** `--creds USER[:PASSWORD]` (the password may be given by --password-stdin instead). */
export function parseCreds(text: string, password?: string): Creds {
  const i = text.indexOf(':');
  const username = i < 0 ? text : text.slice(0, i);
  const pass = i < 0 ? password : text.slice(i + 1);
  if (!username || pass === undefined || pass === '') {
    throw new NisoError('NISO7019', '--creds needs USER:PASSWORD (or USER with --password-stdin)', { exitCode: 2, hint: 'e.g. printf %s "$TOKEN" | niso pull --creds ci --password-stdin REF' });
  }
  return { username, password: pass };
}
