// The published stack.toml JSON Schema matches the zod schema it comes from and describes every field; the README's
// Compose → stack.toml table names every key a service takes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonSchema } from '../../src/manifest/reference.js';
import { STACK_SCHEMA_ID, stackGeneratedFiles, stackJsonSchema } from '../../src/stack/reference.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

test('schemas/stack.schema.json is up to date (run `npm run gen`)', () => {
  for (const { path, content } of stackGeneratedFiles()) assert.equal(read(path), content, `${path} is out of date; run \`npm run gen\``);
});

/** Every property of every table, through lists, records and the table branch of unions: [path, schema]. */
function fields(s: JsonSchema, path: string): [string, JsonSchema][] {
  const out: [string, JsonSchema][] = [];
  const into = (x: JsonSchema, p: string) => {
    for (const [k, f] of Object.entries(x.properties ?? {})) out.push([`${p}.${k}`, f], ...fields(f, `${p}.${k}`));
    if (x.items) into(x.items, `${p}[]`);
    if (x.additionalProperties && typeof x.additionalProperties === 'object') into(x.additionalProperties, `${p}.NAME`);
    for (const o of x.anyOf ?? []) into(o, p);
  };
  into(s, path);
  return out;
}

test('every field of the stack schema has a description, and fixed tables refuse unknown keys but x-', () => {
  const schema = stackJsonSchema();
  assert.equal(schema.$id, STACK_SCHEMA_ID);
  assert.deepEqual(schema.required, ['stack', 'service']);
  const all = fields(schema, '');
  assert.ok(all.length > 60, `only ${all.length} fields found`);
  const missing = all.filter(([, f]) => (typeof f.description !== 'string' || f.description.trim().length < 10) && !(f.anyOf ?? []).every((o) => typeof o.description === 'string')).map(([p]) => p);
  assert.deepEqual([...new Set(missing)], []);
  const tables = (s: JsonSchema): JsonSchema[] => [s, ...Object.values(s.properties ?? {}).flatMap(tables), ...(s.items ? tables(s.items) : []), ...(s.additionalProperties && typeof s.additionalProperties === 'object' ? tables(s.additionalProperties) : []), ...(s.anyOf ?? []).flatMap(tables)];
  for (const t of tables(schema).filter((x) => x.properties)) {
    assert.equal(t.additionalProperties, false);
    assert.deepEqual(t.patternProperties, { '^x-': {} });
  }
});

test('the README\'s Compose → stack.toml table names every key of a service and of the top-level tables', () => {
  const readme = read('README.md')!;
  const start = readme.indexOf('**Compose → stack.toml.**');
  const table = readme.slice(start, readme.indexOf('\n\n', readme.indexOf('| --- |', start)));
  const service = stackJsonSchema().properties!.service!.items!.properties!;
  for (const key of Object.keys(service)) assert.ok(table.includes(`\`${key}\``), `the README's stack table lacks ${key}`);
  for (const t of ['[stack] name', '[network.KEY]', '[volume.KEY]', '[[service]]']) assert.ok(table.includes(t), t);
});
