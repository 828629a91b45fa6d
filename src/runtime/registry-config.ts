// Reads /etc/niso/runtimes.toml with positioned errors; apart from registry.ts so that zod and
// the TOML parser load only on hosts that have such a file.
import { z } from 'zod';
import { invalidInput } from '../errors/niso-error.js';
import { RUNTIME_NAMES } from '../manifest/schema.js';
import { readToml } from '../manifest/toml-positions.js';
import { validateDocument } from '../manifest/validate.js';
import type { ConfiguredRuntime } from './registry.js';

const configSchema = z.strictObject({
  runtime: z.array(z.strictObject({
    name: z.enum(RUNTIME_NAMES),
    version: z.string().regex(/^\d+(?:\.\d+)*\S*$/, 'a version like "20.20.2"'),
    path: z.string().startsWith('/', 'an absolute path'),
  })).optional(),
});

export function parseRuntimeConfig(text: string, file: string): ConfiguredRuntime[] {
  const t = readToml(text, file);
  if (!t.ok) throw invalidInput(t.diagnostics, `${file} is not valid TOML`);
  const v = validateDocument(configSchema, t.doc, file);
  if (!v.value) throw invalidInput(v.diagnostics, `${file} has problems`);
  return v.value.runtime ?? [];
}
