// niso's secret store: <root>/var/lib/niso/secrets/, root's alone (0700; every file 0600). A secret is a directory
// holding its bytes and its metadata (size, sha256, labels), made complete under a temporary name, flushed and
// renamed into place, so that a crash leaves a secret all there or not at all; a name is never silently replaced
// (Docker refuses an existing name too). Starters read a secret's bytes only to hand them to a sandbox, and check
// them against the digest the plan recorded.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { fsyncPath } from '../host/fs-atomic.js';
import { isAlive } from '../host/liveness.js';
import { withLock } from '../host/lock.js';
import { readRegularFile } from '../host/read-bounded.js';
import type { Plan } from '../plan/plan.js';
import { layout, secretOf } from '../store/layout.js';
import { assertSecretName, MAX_SECRET_BYTES } from './names.js';

export const SECRET_FORMAT = 1;

/** What niso keeps about a secret besides its bytes; everything `niso secret inspect` shows. */
export interface SecretMeta {
  version: typeof SECRET_FORMAT;
  name: string;
  createdAt: string;
  size: number;
  /** sha256:HEX of the bytes: what plans, `niso inspect` and `--dry-run` show instead of them. */
  digest: string;
  labels: Record<string, string>;
}

const secretsDir = (root: string) => layout(root).secrets;
const lockFile = (root: string) => join(secretsDir(root), '.lock');

export const digestOf = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** The store's directory, made root's and 0700 if it is not (a dir made by hand, an older mode); never a symlink. */
function ensureStore(root: string): string {
  const dir = secretsDir(root);
  mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
  try { mkdirSync(dir, { mode: 0o700 }); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new NisoError('NISO5106', `${dir} is not a directory`, { path: dir, hint: 'move it away; niso makes the secret store there' });
  if (st.uid !== 0 || st.gid !== 0) chownSync(dir, 0, 0);
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  return dir;
}

function writeSynced(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Temporary and trash dirs of commands that were killed (names start with "." and hold their pid). */
function sweep(dir: string): void {
  for (const n of readdirSync(dir)) {
    const m = /^\.(?:tmp|trash)-(\d+)-/.exec(n);
    if (m && !isAlive(Number(m[1]))) rmSync(join(dir, n), { recursive: true, force: true });
  }
}

export function valueProblem(bytes: Uint8Array): string | null {
  if (bytes.length === 0) return 'is empty';
  if (bytes.length > MAX_SECRET_BYTES) return `is larger than ${MAX_SECRET_BYTES / 1024} KiB`;
  return null;
}

/** Creates a secret; NISO5102 if the name is taken. */
export async function createSecret(root: string, name: string, bytes: Uint8Array, labels: Record<string, string> = {}): Promise<SecretMeta> {
  assertSecretName(name);
  const problem = valueProblem(bytes);
  if (problem) throw new NisoError('NISO5103', `the value of secret ${name} ${problem}`, { exitCode: 2, hint: bytes.length === 0 ? 'give the value in a file or on stdin, e.g. printf %s VALUE | niso secret create NAME -' : `a secret is a password, a key or a token; keep larger files in a volume` });
  const dir = ensureStore(root);
  return withLock(lockFile(root), 'the secrets', async () => {
    sweep(dir);
    const paths = secretOf(dir, name);
    if (existsSync(paths.dir)) throw exists(name);
    const meta: SecretMeta = { version: SECRET_FORMAT, name, createdAt: new Date().toISOString(), size: bytes.length, digest: digestOf(bytes), labels };
    const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(tmp, { mode: 0o700 });
    try {
      writeSynced(join(tmp, 'value'), bytes);
      writeSynced(join(tmp, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
      await fsyncPath(tmp);
      // rename(2) of a directory replaces only an empty one; the lock and the check above keep it from existing.
      renameSync(tmp, paths.dir);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (e as NodeJS.ErrnoException).code === 'EEXIST') throw exists(name);
      throw e;
    }
    await fsyncPath(dir);
    return meta;
  });
}

const exists = (name: string) => new NisoError('NISO5102', `secret ${name} already exists`, { exitCode: 1, hint: `niso never replaces a secret in place; to change it: \`niso secret rm ${name}\` (refused while services use it), then create it again, or create a new name (e.g. ${name}-2) and grant that one` });

export const notFound = (name: string, known: string[]) => new NisoError('NISO5101', `secret ${name} does not exist on this host`, {
  exitCode: 1, hint: known.length > 0 ? `secrets here: ${known.join(', ')}; create one with \`niso secret create ${name} FILE\`` : `create it with \`niso secret create ${name} FILE\` (or \`printf %s VALUE | niso secret create ${name} -\`)`,
});

/** A secret's metadata; null if there is no such secret. */
export function readSecretMeta(root: string, name: string): SecretMeta | null {
  assertSecretName(name);
  const paths = secretOf(secretsDir(root), name);
  let text: string;
  try { text = readFileSync(paths.meta, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
  let meta: SecretMeta;
  try { meta = JSON.parse(text) as SecretMeta; } catch { meta = null as unknown as SecretMeta; }
  if (meta === null || meta.version !== SECRET_FORMAT || meta.name !== name || typeof meta.digest !== 'string' || typeof meta.size !== 'number') {
    throw new NisoError('NISO5106', `the metadata of secret ${name} is damaged`, { path: paths.meta, hint: `niso writes it atomically, so something else changed it: \`niso secret rm -f ${name}\` and create it again` });
  }
  return meta;
}

export function requireSecret(root: string, name: string): SecretMeta {
  const meta = readSecretMeta(root, name);
  if (!meta) throw notFound(name, listSecretNames(root));
  return meta;
}

export function listSecretNames(root: string): string[] {
  let names: string[];
  try { names = readdirSync(secretsDir(root)); } catch { return []; }
  return names.filter((n) => !n.startsWith('.') && existsSync(secretOf(secretsDir(root), n).meta)).sort();
}

/** Every secret's metadata; `damaged`: the names whose metadata does not read (listed, so that they can be removed). */
export function listSecrets(root: string): { secrets: SecretMeta[]; damaged: string[] } {
  const secrets: SecretMeta[] = [];
  const damaged: string[] = [];
  for (const n of listSecretNames(root)) {
    try { const m = readSecretMeta(root, n); if (m) secrets.push(m); } catch { damaged.push(n); }
  }
  return { secrets, damaged };
}

export function secretExists(root: string, name: string): boolean {
  assertSecretName(name);
  return existsSync(secretOf(secretsDir(root), name).dir);
}

/**
 * Removes secrets (all or none: each must exist), damaged ones too; what still uses them is the caller's to check.
 * Returns the metadata of each, or only its name where the metadata is damaged.
 */
export async function removeSecrets(root: string, names: readonly string[]): Promise<(SecretMeta | { name: string })[]> {
  for (const n of names) assertSecretName(n);
  const dir = ensureStore(root);
  return withLock(lockFile(root), 'the secrets', async () => {
    for (const n of names) if (!secretExists(root, n)) throw notFound(n, listSecretNames(root));
    const out = names.map((n) => { try { return readSecretMeta(root, n) ?? { name: n }; } catch { return { name: n }; } });
    for (const n of names) {
      // Out of its name first (one rename), then deleted: a crash in between leaves only trash that the next command sweeps.
      const trash = join(dir, `.trash-${process.pid}-${randomBytes(4).toString('hex')}`);
      renameSync(secretOf(dir, n).dir, trash);
      rmSync(trash, { recursive: true, force: true });
    }
    await fsyncPath(dir);
    return out;
  });
}

/** What buildPlan needs of the secrets it grants: their digests and sizes (absent: no such secret). */
export function secretFacts(root: string, names: readonly string[]): Record<string, { digest: string; size: number }> {
  const out: Record<string, { digest: string; size: number }> = {};
  for (const n of new Set(names)) {
    const meta = readSecretMeta(root, n);
    if (meta) out[n] = { digest: meta.digest, size: meta.size };
  }
  return out;
}

/**
 * The bytes of every secret a plan mounts, for the starter to hand over (bubblewrap reads them from fds), each one
 * checked against the digest in the plan: a secret removed or made anew since the plan was made is refused rather
 * than given to a sandbox whose plan says otherwise.
 */
export function secretValues(root: string, plan: Plan): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const m of plan.mounts) {
    if (m.type !== 'secret' || out.has(m.name)) continue;
    const path = secretOf(secretsDir(root), m.name).value;
    let read;
    try { read = readRegularFile(path, MAX_SECRET_BYTES); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(m.name, listSecretNames(root));
      throw e;
    }
    if (!read.ok || digestOf(read.bytes) !== m.digest) {
      throw new NisoError('NISO5106', `secret ${m.name} changed since ${plan.service}'s plan was made (${m.digest.slice(0, 19)}…)`, { path, hint: `start ${plan.service} again, so that its plan takes the secret as it is now` });
    }
    out.set(m.name, read.bytes);
  }
  return out;
}
