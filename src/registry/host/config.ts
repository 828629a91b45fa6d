// The host's registry settings below NISO_ROOT: /etc/niso/registries.toml (hosts that may speak plain HTTP),
// /etc/niso/policy.toml (the trust policy) and the default signing key /etc/niso/signing.key.
import { join } from 'node:path';
import { z } from 'zod';
import { invalidInput, NisoError } from '../../errors/niso-error.js';
import { readRegularFile } from '../../host/read-bounded.js';
import { writeFileAtomic } from '../../host/fs-atomic.js';
import { readToml } from '../../manifest/toml-positions.js';
import { validateDocument } from '../../manifest/validate.js';
import { TOML_LIMITS } from '../../manifest/toml-limits.js';
import { isLoopback } from '../reference.js';
import { parsePolicy, serializePolicy, type Policy } from '../policy.js';

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

const registriesSchema = z.strictObject({
  registries: z.record(z.string().regex(/^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/, 'not HOST or HOST:PORT'), z.strictObject({
    /** Plain HTTP is allowed for this host (credentials still go over it only to loopback). */
    insecure: z.boolean().default(false),
  })).default({}),
});

/** Whether niso may talk plain HTTP to a registry: loopback always, others only when marked insecure. */
export function plainHttpAllowed(root: string, registry: string): boolean {
  if (isLoopback(registry)) return true;
  const file = registriesFile(root);
  const text = readText(file, 'NISO7025');
  if (text === null) return false;
  const t = readToml(text, file);
  if (!t.ok) throw invalidInput(t.diagnostics, `${file} is not valid TOML`);
  const v = validateDocument(registriesSchema, t.doc, file);
  if (!v.value) throw invalidInput(v.diagnostics, `${file} has problems`);
  return v.value.registries[registry]?.insecure === true;
}

/** The trust policy, or null when the host has none (nothing is verified then, and pull says so). */
export function readPolicy(root: string): Policy | null {
  const file = policyFile(root);
  const text = readText(file, 'NISO7030');
  return text === null ? null : parsePolicy(text, file);
}

export async function writePolicy(root: string, p: Policy): Promise<void> {
  const file = policyFile(root);
  const text = serializePolicy(p);
  // What niso writes must read back: a policy that no longer parses would stop every pull.
  parsePolicy(text, file);
  await writeFileAtomic(file, text, 0o644);
}
