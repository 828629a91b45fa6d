// The host's registry settings below NISO_ROOT: /etc/niso/registries.toml (hosts that may speak plain HTTP),
// /etc/niso/policy.toml (the trust policy) and the default signing key /etc/niso/signing.key.
import { join } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { readRegularFile } from '../../host/read-bounded.js';
import { TOML_LIMITS } from '../../manifest/toml-limits.js';
import { isLoopback } from '../reference.js';
import type { Policy } from '../policy.js';

// What parses these files (the TOML parser with positions, zod, the policy's rules) is imported only when a file
// exists: on a host without them a push or pull loads none of it (issue 16).

export const registriesFile = (root: string) => join(root, 'etc/niso/registries.toml');
export const policyFile = (root: string) => join(root, 'etc/niso/policy.toml');
export const defaultKeyFile = (root: string) => join(root, 'etc/niso/signing.key');

/** A config file's text, or null when there is none; only a regular file, within the TOML bound. */
function readText(file: string, code: string): string | null {
  let r;
  try { r = readRegularFile(file, TOML_LIMITS.bytes); } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    if (c === 'ENOENT' || c === 'ENOTDIR') return null;
    throw new NisoError(code, `cannot read ${file}: ${(e as Error).message}`, { path: file, cause: e });
  }
  if (!r.ok) throw new NisoError(code, `${file} is ${r.what}, not a file`, { path: file });
  return r.bytes.toString('utf8');
}

/** Whether niso may talk plain HTTP to a registry: loopback always, others only when marked insecure. */
export async function plainHttpAllowed(root: string, registry: string): Promise<boolean> {
  if (isLoopback(registry)) return true;
  const file = registriesFile(root);
  const text = readText(file, 'NISO7025');
  if (text === null) return false;
  const { markedInsecure } = await import('./registries-file.js');
  return markedInsecure(text, file, registry);
}

/** The trust policy, or null when the host has none (nothing is verified then, and pull says so). */
export async function readPolicy(root: string): Promise<Policy | null> {
  const file = policyFile(root);
  const text = readText(file, 'NISO7030');
  if (text === null) return null;
  const { parsePolicy } = await import('../policy.js');
  return parsePolicy(text, file);
}

export async function writePolicy(root: string, p: Policy): Promise<void> {
  const [{ parsePolicy, serializePolicy }, { writeFileAtomic }] = await Promise.all([import('../policy.js'), import('../../host/fs-atomic.js')]);
  const file = policyFile(root);
  const text = serializePolicy(p);
  // What niso writes must read back: a policy that no longer parses would stop every pull.
  parsePolicy(text, file);
  await writeFileAtomic(file, text, 0o644);
}
