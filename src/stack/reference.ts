// The stack.toml schema for editors (schemas/stack.schema.json), generated from the zod schema the way the
// manifest's is, so that the file an editor checks against cannot drift from what niso accepts. Pure text out;
// scripts/gen.ts writes it.
import { inputJsonSchema, type JsonSchema } from '../manifest/reference.js';
import { stackSchema } from './schema.js';

export const STACK_SCHEMA_FILE = 'schemas/stack.schema.json';
export const STACK_SCHEMA_ID = 'urn:niso:schema:stack:1';

/**
 * The schema of the file as written, as the manifest's is made; `x-` keys are allowed wherever a table's keys are
 * fixed, as niso ignores them there.
 */
export function stackJsonSchema(): JsonSchema {
  return inputJsonSchema(stackSchema, STACK_SCHEMA_ID, 'niso stack.toml', (js) => {
    if (js.properties && js.additionalProperties === false) js.patternProperties = { '^x-': {} };
  });
}

export function stackGeneratedFiles(): { path: string; content: string }[] {
  return [{ path: STACK_SCHEMA_FILE, content: JSON.stringify(stackJsonSchema(), null, 2) + '\n' }];
}
