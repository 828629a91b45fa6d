// /etc/niso/registries.toml parsed and checked: apart from config.ts so that the TOML parser and zod load only on a
// host that has the file (every push and pull asks config.ts first; issue 16).
import { z } from 'zod';
import { invalidInput } from '../../errors/niso-error.js';
import { readToml } from '../../manifest/toml-positions.js';
import { validateDocument } from '../../manifest/validate.js';

const registriesSchema = z.strictObject({
  registries: z.record(z.string().regex(/^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/, 'not HOST or HOST:PORT'), z.strictObject({
    /** Plain HTTP is allowed for this host (credentials still go over it only to loopback). */
    insecure: z.boolean().default(false),
  })).default({}),
});

/** Whether registries.toml marks `registry` insecure (plain HTTP allowed); a broken file is an error naming it. */
export function markedInsecure(text: string, file: string, registry: string): boolean {
  const t = readToml(text, file);
  if (!t.ok) throw invalidInput(t.diagnostics, `${file} is not valid TOML`);
  const v = validateDocument(registriesSchema, t.doc, file);
  if (!v.value) throw invalidInput(v.diagnostics, `${file} has problems`);
  return v.value.registries[registry]?.insecure === true;
}
