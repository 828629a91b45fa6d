// Hostile stack files: each is refused (or resolved) with a bounded answer and a position, never a crash, a hang or a
// stack overflow. No timing is asserted (timings belong in bench/); the per-test timeout only keeps a regression from
// stalling the suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStack } from '../../src/stack/parse.js';
import { resolveStack } from '../../src/stack/resolve.js';
import { parseDotenv } from '../../src/stack/dotenv.js';

const T = { timeout: 120_000 };
const refused = (input: string | Uint8Array) => {
  const r = parseStack(input, 'stack.toml');
  assert.equal(r.ok, false);
  return r.ok ? [] : r.diagnostics;
};
const resolveText = (text: string) => {
  const p = parseStack(text, 'stack.toml');
  assert.ok(p.ok, p.ok ? '' : p.diagnostics.map((d) => d.message).join('\n'));
  return resolveStack(p.source, {}, {}, { path: '/s/stack.toml' });
};

test('a file over 1 MiB is refused before it is parsed', T, () => {
  const d = refused(`[stack]\nname = "big"\n# ${'x'.repeat(1024 * 1024)}\n`);
  assert.deepEqual(d.map((x) => [x.code, x.line]), [['NISO5323', 1]]);
  assert.match(d[0]!.message, /the most a stack file may have/);
  assert.deepEqual(refused(new Uint8Array(1024 * 1024 + 1).fill(0x20)).map((x) => x.code), ['NISO5323']);
});

test('deep nesting, long keys and strings are refused at their place', T, () => {
  const deep = refused(`[stack]\nname = "deep"\nx = ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`);
  assert.deepEqual(deep.map((x) => [x.code, x.line]), [['NISO5323', 3]]);
  const inline = refused(`[stack]\nname = "deep"\nx = ${'{ a = '.repeat(5_000)}1${' }'.repeat(5_000)}\n`);
  assert.deepEqual(inline.map((x) => x.code), ['NISO5323']);
  const dotted = refused(`[stack]\nname = "d"\n${Array.from({ length: 40 }, (_, i) => `k${i}`).join('.')} = 1\n`);
  assert.match(dotted[0]!.message, /more than 16 parts/);
  assert.match(refused(`[stack]\nname = "${'a'.repeat(70_000)}"\n`)[0]!.message, /longer than 65,536/);
  assert.deepEqual(refused(new Uint8Array([0x5b, 0x73, 0x74, 0x61, 0x63, 0x6b, 0x5d, 0x0a, 0xff])).map((x) => [x.code, x.line, x.column]), [['NISO5324', 2, 1]]);
});

test('10,000 services are refused by the bound on keys, at the place it is crossed', T, () => {
  const text = ['[stack]', 'name = "many"', ...Array.from({ length: 10_000 }, (_, i) => `[[service]]\nname = "s${i}"\npackage = "p:1"`)].join('\n');
  const d = refused(text);
  assert.deepEqual(d.map((x) => x.code), ['NISO5323']);
  assert.match(d[0]!.message, /more than 10,000 keys and values/);
  assert.ok(d[0]!.line! > 1000 && d[0]!.line! < 20_000);
});

test('the largest stack within the bounds resolves, and all its problems come in one bounded answer', T, () => {
  // 1,000 services (8,000 keys and values: a header, each key and each value count): a ring of dependencies, one host port for all, an unknown dependency each.
  const n = 1_000;
  const services = Array.from({ length: n }, (_, i) => `[[service]]\nname = "s${i}"\npackage = "p:1"\ndepends_on = ["s${(i + 1) % n}", "x${i}"]`);
  const r = resolveText(['[stack]', 'name = "ring"', ...services].join('\n'));
  assert.equal(r.stack, undefined);
  const codes = r.diagnostics.map((d) => d.code);
  assert.equal(codes.filter((c) => c === 'NISO5307').length, 1, 'one ring, named once');
  assert.equal(codes.filter((c) => c === 'NISO5306').length, n, 'each unknown dependency at its place');
  const ports = Array.from({ length: n }, (_, i) => `[[service]]\nname = "s${i}"\npackage = "p:1"\nports = ["8080:80"]`);
  const p = resolveText(['[stack]', 'name = "ports"', ...ports].join('\n'));
  assert.equal(p.diagnostics.filter((d) => d.code === 'NISO5310').length, n - 1);
  const chain = Array.from({ length: n }, (_, i) => `[[service]]\nname = "s${i}"\npackage = "p:1"${i > 0 ? `\ndepends_on = ["s${i - 1}"]` : ''}`);
  const ok = resolveText(['[stack]', 'name = "chain"', ...chain].join('\n'));
  assert.deepEqual(ok.diagnostics, []);
  assert.equal(ok.stack!.services.length, n);
});

test('hostile values: interpolation nested without end, a string of 60,000 "$"', T, () => {
  const r = resolveText(`[stack]\nname = "i"\n[[service]]\nname = "a"\npackage = "p:1"\ncommand = ["${'${A:-'.repeat(8_000)}x${'}'.repeat(8_000)}", "${'$'.repeat(60_001)}"]\n`);
  assert.deepEqual(r.diagnostics.map((d) => d.code), ['NISO5313', 'NISO5313']);
  assert.match(r.diagnostics[0]!.message, /nested more than 16 deep/);
});

test('a hostile .env: one unclosed quote over a megabyte, and a million blank-separated "#"', T, () => {
  const open = parseDotenv(`A="${'x'.repeat(1024 * 1024)}`);
  assert.deepEqual(open.problems.map((p) => [p.line, p.column]), [[1, 3]]);
  const hashes = parseDotenv(`A=${' #'.repeat(500_000)}\nB=ok`);
  assert.deepEqual(hashes.vars, { A: '#', B: 'ok' }, 'a "#" right after "=" is the value\'s, the next " #" starts the comment (Compose\'s rule)');
  const lines = parseDotenv(Array.from({ length: 100_000 }, (_, i) => `K${i}=${i}`).join('\n'));
  assert.equal(Object.keys(lines.vars).length, 100_000);
});
