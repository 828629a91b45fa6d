// manifest.toml text → normalised Manifest, or every problem at once with positions.
import type { Diagnostic } from '../errors/niso-error.js';
import { manifestSchema, type Manifest } from './schema.js';
import { readToml } from './toml-positions.js';
import { validateDocument } from './validate.js';

export interface ManifestResult { manifest?: Manifest; diagnostics: Diagnostic[] }

/** `input`: the file's bytes (checked to be UTF-8), or text already decoded. */
export function parseManifest(input: string | Uint8Array, file = 'manifest.toml'): ManifestResult {
  const toml = readToml(input, file);
  if (!toml.ok) return { diagnostics: toml.diagnostics };
  const { value, diagnostics } = validateDocument(manifestSchema, toml.doc, file);
  return value === undefined ? { diagnostics } : { manifest: value, diagnostics };
}
