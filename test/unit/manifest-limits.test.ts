// Hostile manifests as data: each row is a text that once exhausted memory or the stack (or would
// have), and must now be refused with NISO1406 at the place named, before the TOML parser runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../../src/manifest/parse.js';
import { TOML_LIMITS, checkTomlLimits } from '../../src/manifest/toml-limits.js';

const HEAD = '[package]\nname = "x"\nversion = "1.0.0"\n\n[binary]\nentrypoint = "node"\n\n'; // 7 lines
const LINE = 8;
const long = (n: number) => 'x'.repeat(n);

interface Row { name: string; text: string | Buffer; line: number; column: number; message: RegExp }

const rows: Row[] = [
  { name: 'a dotted key of 100,000 parts (the 200 KB bomb: 4 GB before)', text: `${HEAD}${Array(100_000).fill('a').join('.')} = "1"\n`, line: LINE, column: 32, message: /more than 16 parts/ },
  { name: 'a table name of 17 parts', text: `${HEAD}[${Array(17).fill('t').join('.')}]\n`, line: LINE, column: 33, message: /more than 16 parts/ },
  { name: 'a quoted dotted key of 17 parts', text: `${HEAD}[env]\n${Array(17).fill('"k"').join('.')} = "1"\n`, line: LINE + 1, column: 64, message: /more than 16 parts/ },
  { name: 'a basic string of 150,000 characters (stack overflow before)', text: `${HEAD}[env]\nA = "${long(150_000)}"\n`, line: LINE + 1, column: 5, message: /a string of 150,002 characters/ },
  { name: 'a literal string', text: `${HEAD}[env]\nA = '${long(70_000)}'\n`, line: LINE + 1, column: 5, message: /a string of 70,002 characters/ },
  { name: 'a multi-line basic string', text: `${HEAD}[env]\nA = """\n${long(70_000)}\n"""\n`, line: LINE + 1, column: 5, message: /a string of/ },
  { name: 'a multi-line literal string', text: `${HEAD}[env]\nA = '''${long(70_000)}'''\n`, line: LINE + 1, column: 5, message: /a string of/ },
  { name: 'a string in an array', text: `${HEAD}[copy]\ninclude = ["a", "${long(70_000)}"]\n`, line: LINE + 1, column: 17, message: /a string of/ },
  { name: 'a number of 150,000 digits', text: `${HEAD}[resources]\npids = ${'1'.repeat(150_000)}\n`, line: LINE + 1, column: 8, message: /a value of 150,000 characters/ },
  { name: 'a quoted key of 70,000 characters', text: `${HEAD}[env]\n"${long(70_000)}" = "1"\n`, line: LINE + 1, column: 1, message: /a key of 70,002 characters/ },
  { name: 'a bare key of 70,000 characters', text: `${HEAD}${long(70_000)} = 1\n`, line: LINE, column: 1, message: /a key of 70,000 characters/ },
  { name: 'arrays nested 100,000 deep', text: `${HEAD}[binary]\nargs = ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, line: LINE + 1, column: 24, message: /nested more than 16 deep/ },
  { name: 'inline tables nested 17 deep', text: `${HEAD}v = ${'{a = '.repeat(17)}1${'}'.repeat(17)}\n`, line: LINE, column: 85, message: /nested more than 16 deep/ },
  { name: 'more than 10,000 keys and values', text: `${HEAD}[env]\n${Array.from({ length: 6000 }, (_, i) => `K${i} = "v"`).join('\n')}\n`, line: LINE + 4996, column: 9, message: /more than 10,000 keys and values/ },
  { name: 'more than 1 MiB of bytes', text: Buffer.from(`${HEAD}# ${long(TOML_LIMITS.bytes)}\n`), line: 1, column: 1, message: /larger than 1,048,576 bytes/ },
];

for (const r of rows) {
  test(`manifest limits: ${r.name}`, () => {
    const { manifest, diagnostics } = parseManifest(r.text, 'manifest.toml');
    assert.equal(manifest, undefined);
    assert.equal(diagnostics.length, 1, diagnostics.map((d) => d.message).join('\n'));
    const d = diagnostics[0]!;
    assert.equal(d.code, 'NISO1406');
    assert.match(d.message, r.message);
    assert.deepEqual([d.file, d.line, d.column], ['manifest.toml', r.line, r.column]);
    assert.ok(d.hint);
  });
}

test('manifest limits: every kind of problem is reported in one pass, in file order', () => {
  const text = `${HEAD}[env]\nA = "${long(70_000)}"\n[${Array(20).fill('t').join('.')}]\nv = ${'['.repeat(20)}${']'.repeat(20)}\n`;
  const d = checkTomlLimits(text, 'm.toml');
  assert.deepEqual(d.map((x) => [x.line, x.message.replace(/ .*/, '')]), [[LINE + 1, 'a'], [LINE + 2, 'a'], [LINE + 3, 'arrays']]);
});

test('manifest limits: what is just within them is left to the parser and the schema', () => {
  const within = [
    `${HEAD}[env]\nA = "${long(TOML_LIMITS.token - 2)}"\n`,
    `${HEAD}[env]\nA = """\\\n  ${long(100)}\\\n"""\nB = "it\\"s [{"\nC = '\\'\n`,
    `${HEAD}[env]\n${Array.from({ length: 4990 }, (_, i) => `K${i} = "v"`).join('\n')}\n`,
    `${HEAD}[copy]\ninclude = [${Array(2000).fill('"a/**"').join(', ')}]\n`,
    `${HEAD}[healthcheck]\nexec = ["a", "b.c", "1.5", "2024-01-01T00:00:00Z"] # "not a string\ninterval = "1m30s"\n`,
  ];
  for (const text of within) {
    assert.deepEqual(checkTomlLimits(text, 'm.toml'), []);
    const r = parseManifest(text);
    assert.deepEqual(r.diagnostics.map((d) => d.message), []);
  }
  // Over the limits only in the schema's eyes: the parser runs and the schema names the key.
  const deepUnknown = parseManifest(`${HEAD}[${Array(16).fill('t').join('.')}]\n`);
  assert.deepEqual(deepUnknown.diagnostics.map((d) => d.code), ['NISO1002']);
});
