// The generated files (JSON Schema, docs/manifest.md, the README section) must match the schema
// they come from, and the schema must describe every field: the docs are only as good as that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXAMPLE_MANIFEST, README_BEGIN, README_END, generatedFiles, manifestJsonSchema, renderReference, spliceReadme, type JsonSchema } from '../../src/manifest/reference.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { formatDiagnostics } from '../../src/errors/render.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (rel: string) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined);

test('generated files are up to date (run `npm run gen`)', () => {
  const files = generatedFiles(read('README.md'));
  assert.ok(files.length >= 2);
  for (const { path, content } of files) {
    assert.equal(read(path), content, `${path} is out of date; run \`npm run gen\``);
  }
});

/** Every property, every record entry and every list item that is a table: [path, schema]. */
function fields(s: JsonSchema, path: string): [string, JsonSchema][] {
  const out: [string, JsonSchema][] = [];
  for (const [k, f] of Object.entries(s.properties ?? {})) out.push([`${path}${path ? '.' : ''}${k}`, f], ...fields(f, `${path}${path ? '.' : ''}${k}`));
  if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    const entry = s.additionalProperties;
    if (entry.properties) out.push([`${path}.NAME`, entry], ...fields(entry, `${path}.NAME`));
  }
  return out;
}

test('every field of the schema has a description', () => {
  const schema = manifestJsonSchema();
  const all = fields(schema, '');
  assert.ok(all.length > 50, `only ${all.length} fields found`);
  const missing = all.filter(([, f]) => typeof f.description !== 'string' || f.description.trim().length < 10).map(([p]) => p);
  assert.deepEqual(missing, [], 'fields without a description');
  assert.ok(schema.description);
});

test('every field appears in the reference', () => {
  const ref = renderReference();
  for (const [path] of fields(manifestJsonSchema(), '')) {
    const key = path.split('.').pop()!;
    if (key === 'NAME') continue;
    assert.ok(ref.includes(`- \`${key}\` — `) || ref.includes(`\`[${path}]\``), `${path} missing from the reference`);
  }
});

test('the JSON Schema states the input defaults and is strict', () => {
  const s = manifestJsonSchema();
  assert.equal(s.$id, 'urn:niso:schema:manifest:1');
  assert.equal(s.additionalProperties, false);
  assert.deepEqual(s.required, ['package', 'binary']);
  const p = s.properties!;
  assert.equal(p.isolation!.properties!.preset!.default, 'server');
  assert.equal(p.network!.properties!.mode!.default, 'private');
  assert.deepEqual(p.network!.properties!.ports!.default, []);
  assert.equal(p.binary!.properties!.stop_timeout!.default, '10s', 'durations are shown as written, not in ms');
  assert.equal(p.isolation!.properties!.tmp_size!.default, '64M');
  for (const [path, f] of fields(s, '')) {
    if (f.properties) assert.equal(f.additionalProperties, false, `${path} must refuse unknown keys`);
  }
});

test('the annotated example in the docs is a valid manifest using every table', () => {
  const { manifest, diagnostics } = parseManifest(EXAMPLE_MANIFEST);
  assert.equal(formatDiagnostics(diagnostics), '');
  assert.ok(manifest);
  const topLevel = Object.keys(manifestJsonSchema().properties ?? {});
  // A list of tables is written [[name]].
  // [debian] excludes [runtime]: the example shows it commented out.
  for (const table of topLevel) assert.match(EXAMPLE_MANIFEST, new RegExp(`^${table === 'debian' ? '# ' : ''}\\[\\[?${table}[\\].]`, 'm'), `the example lacks [${table}]`);
});

test('the README section is replaced between the markers only', () => {
  const readme = `# niso\n\nintro\n\n${README_BEGIN}\nold text\n${README_END}\n\nafter\n`;
  const out = spliceReadme(readme);
  assert.ok(out);
  assert.ok(out.startsWith(`# niso\n\nintro\n\n${README_BEGIN}\n`));
  assert.ok(out.endsWith(`${README_END}\n\nafter\n`));
  assert.ok(!out.includes('old text'));
  assert.ok(out.includes('### Reference'));
  assert.equal(spliceReadme(out), out, 'splicing is idempotent');
  assert.equal(spliceReadme('# no markers\n'), undefined);
  assert.equal(generatedFiles('# no markers\n').some((f) => f.path === 'README.md'), false);
});
