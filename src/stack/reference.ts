// The stack.toml schema for editors (schemas/stack.schema.json), generated from the zod schema the way the
// manifest's is, so that the file an editor checks against cannot drift from what niso accepts. Pure text out;
// scripts/gen.ts writes it.
import { z } from 'zod';
import type { JsonSchema } from '../manifest/reference.js';
import { stackSchema } from './schema.js';

export const STACK_SCHEMA_FILE = 'schemas/stack.schema.json';
export const STACK_SCHEMA_ID = 'urn:niso:schema:stack:1';

type ZodInternals = { _zod: { def: { type: string; defaultValue?: unknown } } };

/**
 * The schema of the file as written (io: 'input'). `x-` keys are allowed wherever a table's keys are fixed, as
 * niso ignores them there; examples and defaults that zod drops around conversions are put back, as for manifests.
 */
export function stackJsonSchema(): JsonSchema {
  const generated = z.toJSONSchema(stackSchema, {
    io: 'input',
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => {
      const js = jsonSchema as JsonSchema;
      const schema = zodSchema as unknown as z.ZodType;
      const meta = z.globalRegistry.get(schema);
      if (js.examples === undefined && Array.isArray(meta?.examples)) js.examples = meta.examples;
      const def = (zodSchema as unknown as ZodInternals)._zod.def;
      if (js.default === undefined && def.type === 'default' && schema.safeParse(def.defaultValue).success) js.default = structuredClone(def.defaultValue);
      if (js.properties && js.additionalProperties === false) js.patternProperties = { '^x-': {} };
    },
  }) as JsonSchema;
  const { $schema, ...rest } = generated;
  return { $schema, $id: STACK_SCHEMA_ID, title: 'niso stack.toml', ...rest };
}

export function stackGeneratedFiles(): { path: string; content: string }[] {
  return [{ path: STACK_SCHEMA_FILE, content: JSON.stringify(stackJsonSchema(), null, 2) + '\n' }];
}
