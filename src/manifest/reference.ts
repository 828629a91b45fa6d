// Renders what the manifest schema says for people and editors: the JSON Schema and the Markdown
// reference (docs/manifest.md, the README section). Pure text out; scripts/gen.ts writes the files.
import { z } from 'zod';
import { manifestSchema } from './schema.js';
import { DURATION_PATTERN, SIZE_PATTERN } from './units.js';

export const SCHEMA_FILE = 'schemas/manifest.schema.json';
export const DOC_FILE = 'docs/manifest.md';
export const SCHEMA_ID = 'urn:niso:schema:manifest:1';
export const README_BEGIN = '<!-- BEGIN manifest-reference -->';
export const README_END = '<!-- END manifest-reference -->';

/** The subset of JSON Schema that z.toJSONSchema emits for the manifest. */
export interface JsonSchema {
  $schema?: string;
  $id?: string;
  title?: string;
  type?: string | string[];
  description?: string;
  default?: unknown;
  examples?: unknown[];
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  anyOf?: JsonSchema[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  minLength?: number;
  maxLength?: number;
  [key: string]: unknown;
}

type ZodInternals = { _zod: { def: { type: string; defaultValue?: unknown } } };

/**
 * A schema's JSON Schema, describing the file as written (io: 'input'), with an id and a title; manifest.toml's and
 * stack.toml's. zod drops defaults and examples of anything that contains a conversion (it cannot know they are input
 * values); the convention here is that every example is written as in the file, and a default is put back when it is
 * also a valid input, so that e.g. `ports` still shows its default `[]`. `also` adds a file's own rules to each node.
 */
export function inputJsonSchema(root: z.ZodType, id: string, title: string, also?: (js: JsonSchema) => void): JsonSchema {
  const generated = z.toJSONSchema(root, {
    io: 'input',
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => {
      const js = jsonSchema as JsonSchema;
      const schema = zodSchema as unknown as z.ZodType;
      const meta = z.globalRegistry.get(schema);
      if (js.examples === undefined && Array.isArray(meta?.examples)) js.examples = meta.examples;
      const def = (zodSchema as unknown as ZodInternals)._zod.def;
      if (js.default === undefined && def.type === 'default' && schema.safeParse(def.defaultValue).success) {
        js.default = structuredClone(def.defaultValue);
      }
      also?.(js);
    },
  }) as JsonSchema;
  const { $schema, ...rest } = generated;
  return { $schema, $id: id, title, ...rest };
}

export function manifestJsonSchema(): JsonSchema {
  return inputJsonSchema(manifestSchema, SCHEMA_ID, 'niso manifest.toml');
}

/** Stable pretty JSON: the key order is the schema's, which is the reference's order too. */
export function renderJsonSchema(): string {
  return JSON.stringify(manifestJsonSchema(), null, 2) + '\n';
}

// --- TOML value rendering, for examples and defaults ------------------------------------------

const BARE_KEY = /^[A-Za-z0-9_-]+$/;
const tomlKey = (k: string) => (BARE_KEY.test(k) ? k : JSON.stringify(k));

export function tomlValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    return entries.length === 0 ? '{}' : `{ ${entries.map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`).join(', ')} }`;
  }
  return String(v);
}

/** A table example as TOML lines: `[env]` and its keys, or `[volumes.data]` per entry. */
function tomlTable(header: string, v: Record<string, unknown>): string {
  const scalars = Object.entries(v).filter(([, x]) => !(x && typeof x === 'object' && !Array.isArray(x)));
  const tables = Object.entries(v).filter(([, x]) => x && typeof x === 'object' && !Array.isArray(x));
  const lines: string[] = [];
  if (scalars.length > 0 || tables.length === 0) lines.push(`[${header}]`, ...scalars.map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`));
  for (const [k, x] of tables) {
    if (lines.length > 0) lines.push('');
    lines.push(tomlTable(`${header}.${tomlKey(k)}`, x as Record<string, unknown>));
  }
  return lines.join('\n');
}

// --- Types in words --------------------------------------------------------------------------

const LONG_ENUM = 8;

function typeWords(s: JsonSchema): string {
  if (s.pattern === DURATION_PATTERN) return 'duration';
  if (s.anyOf) {
    if (s.anyOf.some((o) => o.pattern === SIZE_PATTERN)) return 'size';
    return s.anyOf.map(typeWords).join(' or ');
  }
  if (s.enum) return s.enum.length > LONG_ENUM ? `string (one of ${s.enum.length} values below)` : s.enum.map((e) => `\`${tomlValue(e)}\``).join(' \\| ');
  const t = Array.isArray(s.type) ? s.type.join(' or ') : s.type;
  if (t === 'array') return `list of ${s.items ? plural(typeWords(s.items)) : 'values'}`;
  if (t === 'object') {
    if (s.properties) return 'table';
    const ap = s.additionalProperties;
    return ap && typeof ap === 'object' ? `table of ${plural(typeWords(ap))}` : 'table';
  }
  return t === 'integer' ? 'integer' : t ?? 'value';
}

function plural(words: string): string {
  if (words.includes('|')) return `strings: ${words}`;
  if (words.startsWith('string (one of')) return words.replace(/^string/, 'strings');
  return /^(string|integer|number|boolean|table|duration|size)$/.test(words) ? `${words}s` : words;
}

function bounds(s: JsonSchema): string[] {
  const out: string[] = [];
  const safe = (n: number) => Math.abs(n) < Number.MAX_SAFE_INTEGER;
  if (s.exclusiveMinimum !== undefined) out.push(`greater than ${s.exclusiveMinimum}`);
  if (s.minimum !== undefined && s.maximum !== undefined && safe(s.maximum)) out.push(`${s.minimum} to ${s.maximum}`);
  else if (s.minimum !== undefined) out.push(`at least ${s.minimum}`);
  else if (s.maximum !== undefined && safe(s.maximum)) out.push(`at most ${s.maximum}`);
  if (s.minItems !== undefined) out.push(`at least ${s.minItems} ${s.minItems === 1 ? 'entry' : 'entries'}`);
  if (s.maxLength !== undefined) out.push(`at most ${s.maxLength} characters`);
  return out;
}

// --- The reference ---------------------------------------------------------------------------

function fieldEntry(name: string, s: JsonSchema, required: boolean): string {
  const facts = [typeWords(s), ...bounds(s)];
  if (required) facts.push('**required**');
  else if (s.default !== undefined) facts.push(`default \`${tomlValue(s.default)}\``);
  else facts.push('optional');
  const lines = [`- \`${name}\` — ${facts.join(', ')}.`];
  if (s.description) lines.push(`  ${s.description}`);
  const longEnum = s.enum ?? s.items?.enum;
  if (longEnum && longEnum.length > LONG_ENUM) lines.push(`  Accepted: ${longEnum.map((e) => `\`${String(e)}\``).join(', ')}.`);
  // Durations share their examples; the reference's introduction shows them once.
  const examples = s.pattern === DURATION_PATTERN ? [] : s.examples ?? [];
  if (examples.length > 0) lines.push(`  ${examples.length === 1 ? 'Example' : 'Examples'}: ${examples.map((e) => `\`${name} = ${tomlValue(e)}\``).join(', ')}.`);
  return lines.join('\n');
}

function tableSection(header: string, s: JsonSchema, required: boolean, level: number): string {
  const h = '#'.repeat(level);
  const state = required ? 'required' : s.default !== undefined ? 'optional, defaults apply' : 'optional';
  const parts = [`${h} \`[${header}]\` (${state})`, ''];
  if (s.description) parts.push(s.description, '');
  if (s.properties) {
    const req = new Set(s.required ?? []);
    parts.push(Object.entries(s.properties).map(([k, f]) => fieldEntry(k, f, req.has(k))).join('\n'));
  } else if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    const entry = s.additionalProperties;
    if (entry.properties) {
      const req = new Set(entry.required ?? []);
      parts.push(`Each entry is a \`[${header}.NAME]\` table${entry.description ? ` (${entry.description.replace(/^./, (c) => c.toLowerCase()).replace(/\.$/, '')})` : ''} with these keys:`, '');
      parts.push(Object.entries(entry.properties).map(([k, f]) => fieldEntry(k, f, req.has(k))).join('\n'));
    } else {
      parts.push(`Any key; each value is ${typeWords(entry) === 'string' ? 'a string' : typeWords(entry)}.`);
    }
  }
  for (const ex of s.examples ?? []) {
    if (ex && typeof ex === 'object' && !Array.isArray(ex)) parts.push('', '```toml', tomlTable(header, ex as Record<string, unknown>), '```');
  }
  return parts.join('\n');
}

/** Every table and key of manifest.toml, generated from the schema's descriptions. */
export function renderReference(level = 2): string {
  const root = manifestJsonSchema();
  const req = new Set(root.required ?? []);
  const sections = Object.entries(root.properties ?? {}).map(([k, s]) => tableSection(k, s, req.has(k), level + 1));
  return [
    `${'#'.repeat(level)} Reference`,
    '',
    'Every table and key that manifest.toml accepts, in the order niso documents them. Keys not listed here are errors. '
      + 'A table marked "defaults apply" may be left out; its keys then take their defaults. '
      + 'Durations are written like `"30s"`, `"500ms"` or `"1m30s"` (units ms, s, m, h, d); '
      + 'sizes like `"512M"` or `"1G"` (powers of 1024) or as a number of bytes.',
    '',
    sections.join('\n\n'),
  ].join('\n') + '\n';
}

// --- docs/manifest.md --------------------------------------------------------------------------

/** The annotated example shown in the docs; a test checks that it parses without diagnostics. */
export const EXAMPLE_MANIFEST = `#:schema ./schemas/manifest.schema.json
# manifest.toml: everything niso needs to pack and run the app.

[package]
name = "shop-api"              # lower-case; becomes file names and store paths
version = "1.4.2"              # semantic version: MAJOR.MINOR.PATCH
description = "The shop's HTTP API"
license = "MIT"

[runtime]
use = "nodejs:20"              # taken from the host and mounted read-only; leave out for a static binary

# Or, instead of [runtime], a package built from Debian's binaries (entrypoint: an absolute path, "/usr/bin/redis-server"):
# [debian]
# packages = ["redis-server"]

[binary]
entrypoint = "node"            # with a runtime: its command; without: a path in the package, e.g. "bin/shop-api"
args = ["server.js"]
stop_timeout = "15s"           # SIGTERM first, SIGKILL after this long

[init]
command = ["node", "migrate.js"] # run in the service's sandbox before the app; must exit 0
unless_exists = "/data/uploads/.migrated" # or if_empty = "/data"; without either: before every start

[copy]
include = ["server.js", "lib/**", "package.json", "node_modules/**"]
exclude = ["**/*.test.js"]     # .nisoignore (gitignore syntax) adds more

[env]
NODE_ENV = "production"        # the sandbox starts from an empty environment
PORT = "3000"                  # values are strings

[network]
ports = ["127.0.0.1:8080:3000"] # host 127.0.0.1:8080 → app port 3000; leave out the address for every address

[healthcheck]
http = "http://127.0.0.1:3000/health" # exactly one of http, tcp, exec
interval = "10s"
start_period = "20s"           # failures during start-up do not count

[isolation]
preset = "server"              # the default: own user, no capabilities, syscall filter, read-only app

[resources]
memory = "512M"
cpus = 1.5
pids = 128
state_size = "2G"              # /state's bound (writes past it: ENOSPC); the host's default, 10G, if left out

[restart]
policy = "on-failure"
max_retries = 5

[secrets.db-password]          # a secret of this host, read at /run/secrets/db-password; granted with --secret
description = "the database password"

[volumes.uploads]
mount = "/data/uploads"        # the service's own volume "SERVICE/uploads", kept across upgrades and \`niso remove\`
description = "images uploaded by users"
exclusive = false              # true: no other service may ever mount it

[[mounts]]
source = "/srv/shop/media"     # a host path: only when the operator confirms it (-v or [trust] in /etc/niso/config.toml)
target = "/media"
read_only = true

[configs.app]
target = "/etc/shop/config.json" # read-only; replace it without repacking: niso activate ... --config app=FILE
source = "config/default.json" # the default, a file of the package
`;

const INTRO = `# manifest.toml

Every niso app is described by one file, \`manifest.toml\`, at the top of the app directory.
\`niso pack\` reads it to build a package; the same file, stored inside the package, tells niso how
to run and sandbox the app. \`niso init\` writes a first one for you (\`--template node|python|rust|go|binary\`).

The file is strict on purpose: an unknown key is an error (with a "did you mean"), not something
silently ignored, because a typo in a sandbox setting must not quietly weaken it. niso reports every
problem of a file at once, each with \`file:line:column\`, an error code (\`niso explain CODE\` tells
more) and a hint.

The defaults are the safe choice: the app gets its own user and namespaces, no capabilities, a
system call filter, a read-only file system except \`/tmp\`, \`/state\` and its volumes, and a private
network that publishes nothing unless \`[network] ports\` says so.

## A complete example

\`\`\`toml
${EXAMPLE_MANIFEST.trimEnd()}
\`\`\`

The smallest valid manifest has two tables:

\`\`\`toml
[package]
name = "hello"
version = "0.1.0"
[binary]
entrypoint = "bin/hello"
\`\`\`

## Editor support

niso publishes a JSON Schema of the manifest in [\`${SCHEMA_FILE}\`](../${SCHEMA_FILE}). Editors
that use [Taplo](https://taplo.tamasfe.dev) (VS Code's "Even Better TOML" extension, Neovim and
Helix through \`taplo lsp\`, the \`taplo check\` command) then complete keys, show these descriptions
on hover, and flag unknown keys and wrong types while you type. Pick one of:

- A directive as the first line of \`manifest.toml\`. A relative path is relative to the manifest;
  copy the schema next to your app or point at your niso checkout:

  \`\`\`toml
  #:schema ./schemas/manifest.schema.json
  \`\`\`

- A \`.taplo.toml\` at the root of your project, which covers every manifest below it:

  \`\`\`toml
  [[rule]]
  include = ["**/manifest.toml"]

  [rule.schema]
  path = "./schemas/manifest.schema.json"
  \`\`\`

- In VS Code, an association in \`settings.json\` (the key is a regular expression over the file's path):

  \`\`\`json
  {
    "evenBetterToml.schema.associations": {
      ".*/manifest\\\\.toml$": "./schemas/manifest.schema.json"
    }
  }
  \`\`\`

Taplo also accepts a \`$schema\` key inside the document; niso does not (it is an unknown key), so
use one of the ways above. The editor's check is a convenience: some rules (port collisions, paths,
durations beyond their shape) are only checked by niso itself, so \`niso pack\` has the last word.
`;

const GENERATED_NOTE = '<!-- Generated by `npm run gen` from src/manifest/schema.ts and src/manifest/reference.ts; do not edit by hand. -->';

export function renderManifestDoc(): string {
  return `${GENERATED_NOTE}\n\n${INTRO}\n${renderReference(2)}`;
}

/** The README's copy of the reference, between the markers; undefined when the markers are absent. */
export function spliceReadme(readme: string): string | undefined {
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) return undefined;
  const body = `\n${GENERATED_NOTE}\n\n${renderReference(3)}\n`;
  return readme.slice(0, begin + README_BEGIN.length) + body + readme.slice(end);
}

export interface GeneratedFile { path: string; content: string }

/** Every file `npm run gen` owns, given the current README (if any): repository-relative paths. */
export function generatedFiles(readme: string | undefined): GeneratedFile[] {
  const files: GeneratedFile[] = [
    { path: SCHEMA_FILE, content: renderJsonSchema() },
    { path: DOC_FILE, content: renderManifestDoc() },
  ];
  const spliced = readme === undefined ? undefined : spliceReadme(readme);
  if (spliced !== undefined) files.push({ path: 'README.md', content: spliced });
  return files;
}
