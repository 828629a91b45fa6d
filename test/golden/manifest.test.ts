// Golden cases for manifest.toml: each folder under manifest/ is one case (adding a case is adding
// a folder). UPDATE_GOLDEN=1 rewrites the expected files; the invariants below it do not move.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseManifest } from '../../src/manifest/parse.js';
import { readToml } from '../../src/manifest/toml-positions.js';
import { formatDiagnostics } from '../../src/errors/render.js';
import { ERROR_CODES } from '../../src/errors/codes.js';
import type { Manifest } from '../../src/manifest/schema.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), 'manifest');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const VALID = 'expected.json';
const BROKEN = 'expected-diagnostics.txt';

const cases = readdirSync(ROOT).filter((n) => statSync(join(ROOT, n)).isDirectory()).sort();

/** Folder names say what a case must be, so UPDATE_GOLDEN cannot turn a valid case into a broken one. */
const kindOf = (name: string): 'valid' | 'broken' => {
  if (name.startsWith('ok-')) return 'valid';
  if (name.startsWith('error-')) return 'broken';
  throw new Error(`golden case "${name}" must be named ok-* or error-*`);
};

function raw(text: string | Uint8Array): Record<string, unknown> {
  const r = readToml(text, 'manifest.toml');
  return r.ok ? r.doc.value : {};
}
const table = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});

/** Security defaults, pinned here so that regenerated snapshots cannot weaken them. */
function assertSecureDefaults(input: Record<string, unknown>, m: Manifest): void {
  const iso = table(input.isolation);
  const net = table(input.network);
  if (iso.preset === undefined) assert.equal(m.isolation.preset, 'server', 'the default isolation preset must be "server"');
  if (iso.capabilities === undefined) assert.deepEqual(m.isolation.capabilities, [], 'no capabilities unless asked for');
  if (iso.syscalls === undefined) assert.deepEqual(m.isolation.syscalls, [], 'no extra syscalls unless asked for');
  if (net.mode === undefined) assert.equal(m.network.mode, 'private', 'the default network mode must be "private"');
  if (net.ports === undefined) assert.deepEqual(m.network.ports, [], 'no port is published unless asked for');
  if (input.volumes === undefined) assert.deepEqual(m.volumes, {}, 'no volume unless asked for');
  for (const [name, v] of Object.entries(table(input.volumes))) {
    if (table(v).read_only === undefined) assert.equal(m.volumes[name]?.read_only, false);
  }
  if (input.env === undefined) assert.deepEqual(m.env, {}, 'the environment starts empty');
}

for (const name of cases) {
  test(`manifest golden: ${name}`, () => {
    const dir = join(ROOT, name);
    // Bytes, as pack reads them: a case may hold what is not UTF-8.
    const text = readFileSync(join(dir, 'manifest.toml'));
    const kind = kindOf(name);
    const expectedFile = join(dir, kind === 'valid' ? VALID : BROKEN);
    const otherFile = join(dir, kind === 'valid' ? BROKEN : VALID);
    assert.ok(!existsSync(otherFile), `${name}: remove ${otherFile}; a ${kind} case has only ${kind === 'valid' ? VALID : BROKEN}`);

    const { manifest, diagnostics } = parseManifest(text, 'manifest.toml');
    let actual: string;
    if (kind === 'valid') {
      assert.equal(formatDiagnostics(diagnostics), '', `${name} must parse without diagnostics`);
      assert.ok(manifest);
      assertSecureDefaults(raw(text), manifest);
      actual = JSON.stringify(manifest, null, 2) + '\n';
    } else {
      assert.equal(manifest, undefined, `${name} must not produce a manifest`);
      assert.ok(diagnostics.length > 0, `${name} must report a problem`);
      for (const d of diagnostics) {
        assert.ok(ERROR_CODES[d.code], `${d.code} is not in the error code table`);
        assert.ok(d.line !== undefined && d.column !== undefined, `every diagnostic has a position: ${d.message}`);
        assert.ok(d.hint, `every diagnostic has a hint: ${d.message}`);
      }
      actual = formatDiagnostics(diagnostics) + '\n';
    }

    if (UPDATE) writeFileSync(expectedFile, actual);
    assert.ok(existsSync(expectedFile), `${name}: no ${expectedFile}; run with UPDATE_GOLDEN=1 to create it`);
    assert.equal(actual, readFileSync(expectedFile, 'utf8'));
  });
}

test('manifest golden: enough cases of each kind', () => {
  assert.ok(cases.filter((c) => kindOf(c) === 'valid').length >= 12);
  assert.ok(cases.filter((c) => kindOf(c) === 'broken').length >= 20);
});

test('manifest golden: the minimal manifest gets the safe defaults', () => {
  const { manifest } = parseManifest(readFileSync(join(ROOT, 'ok-minimal', 'manifest.toml'), 'utf8'));
  assert.ok(manifest);
  assert.equal(manifest.isolation.preset, 'server');
  assert.equal(manifest.network.mode, 'private');
  assert.deepEqual(manifest.isolation.capabilities, []);
  assert.deepEqual(manifest.network.ports, []);
  assert.equal(manifest.runtime, undefined);
  assert.equal(manifest.binary.workdir, '/app');
});

test('manifest golden: one pass reports every problem, in file order', () => {
  const { diagnostics } = parseManifest(readFileSync(join(ROOT, 'error-many-at-once', 'manifest.toml'), 'utf8'));
  assert.ok(diagnostics.length >= 12, `only ${diagnostics.length} problems reported`);
  const positions = diagnostics.map((d) => (d.line ?? 0) * 1000 + (d.column ?? 0));
  assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
  // Problems in the same table do not hide each other (zod skips cross-field rules by default).
  const codes = new Set(diagnostics.map((d) => d.code));
  for (const c of ['NISO1002', 'NISO1003', 'NISO1101', 'NISO1102', 'NISO1201', 'NISO1203', 'NISO1301', 'NISO1401', 'NISO1402', 'NISO1404', 'NISO1405']) assert.ok(codes.has(c), `${c} missing`);
});
