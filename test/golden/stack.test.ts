// Golden cases for stack.toml: each folder under stack/ is one case (adding a case is adding a folder). A case holds
// stack.toml and may hold a .env beside it, env.json (the environment, as data), options.json ({ "profiles": [...],
// "health": { SERVICE: bool } } for what the host would say of a package's health check), the env_files its services
// name, and others/*.toml (other stacks of the host, for conflicts across stacks). ok-* cases expect resolved.json
// (the start order and the stack) and warnings.txt when there are warnings; error-* cases expect diagnostics.txt.
// UPDATE_GOLDEN=1 rewrites the expected files; the invariants below do not move.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Diagnostic } from '../../src/errors/niso-error.js';
import { formatDiagnostic } from '../../src/errors/render.js';
import { ERROR_CODES } from '../../src/errors/codes.js';
import { conflictDiagnostics, conflictsAcross } from '../../src/stack/conflicts.js';
import { parseDotenv } from '../../src/stack/dotenv.js';
import { dependencyOrder } from '../../src/stack/graph.js';
import { parseStack } from '../../src/stack/parse.js';
import { renderStackToml } from '../../src/stack/render.js';
import { envFilesOf, resolveStack, type ResolveResult } from '../../src/stack/resolve.js';
import type { ResolvedStack } from '../../src/stack/types.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), 'stack');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const cases = readdirSync(ROOT).filter((n) => statSync(join(ROOT, n)).isDirectory()).sort();

const kindOf = (name: string): 'valid' | 'broken' => {
  if (name.startsWith('ok-')) return 'valid';
  if (name.startsWith('error-')) return 'broken';
  throw new Error(`golden case "${name}" must be named ok-* or error-*`);
};

const readJson = <T>(path: string, fallback: T): T => (existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) as T : fallback);

interface CaseRun { result?: ResolveResult; errors: Diagnostic[]; warnings: Diagnostic[] }

/** Resolves a stack file of a case as `niso stack config` would, with the case's files standing for the host's. */
function run(dir: string, fileInCase: string, virtualDir: string): CaseRun {
  const env = readJson<Record<string, string>>(join(dir, 'env.json'), {});
  const options = readJson<{ profiles?: string[]; health?: Record<string, boolean> }>(join(dir, 'options.json'), {});
  const shown = fileInCase;
  const parsed = parseStack(readFileSync(join(dir, fileInCase)), shown);
  if (!parsed.ok) return { errors: parsed.diagnostics, warnings: [] };
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  let vars: Record<string, string> = {};
  const envPath = join(dir, dirname(fileInCase), '.env');
  if (existsSync(envPath)) {
    const d = parseDotenv(readFileSync(envPath, 'utf8'), { lookup: (n) => env[n], prefer: 'lookup' });
    for (const p of d.problems) (p.warning ? warnings : errors).push({ code: p.warning ? 'NISO5315' : 'NISO5316', file: join(dirname(fileInCase), '.env'), line: p.line, column: p.column, message: p.message, hint: p.hint });
    vars = d.vars;
  }
  const path = join(virtualDir, fileInCase);
  const envFiles: Record<string, string | null> = {};
  for (const f of envFilesOf(parsed.source, env, vars, path)) {
    const local = join(dir, f.slice(virtualDir.length));
    envFiles[f] = f.startsWith(`${virtualDir}/`) && existsSync(local) ? readFileSync(local, 'utf8') : null;
  }
  const health = options.health ?? {};
  const result = resolveStack(parsed.source, env, vars, { path, profiles: options.profiles ?? [], envFiles, hasHealthcheck: (s) => health[s] });
  return { result, errors: [...errors, ...result.diagnostics], warnings: [...warnings, ...result.warnings] };
}

const format = (errors: Diagnostic[], warnings: Diagnostic[]) => [...errors.map((d) => formatDiagnostic(d)), ...warnings.map((d) => formatDiagnostic(d, 'warning'))].join('\n') + '\n';

for (const name of cases) {
  test(`stack golden: ${name}`, () => {
    const dir = join(ROOT, name);
    const virtualDir = `/stacks/${name}`;
    const kind = kindOf(name);
    const main = run(dir, 'stack.toml', virtualDir);
    const errors = [...main.errors];
    // Other stacks of the host: each resolves on its own; conflicts with them are the case's stack's problems.
    const othersDir = join(dir, 'others');
    if (existsSync(othersDir) && main.result?.stack) {
      const others = readdirSync(othersDir).filter((f) => f.endsWith('.toml')).sort().map((f) => run(dir, join('others', f), virtualDir));
      for (const o of others) assert.deepEqual(o.errors, [], 'the other stacks of a case must be valid');
      const all = [main.result.stack, ...others.map((o) => o.result!.stack!)];
      errors.push(...conflictDiagnostics(conflictsAcross(all), main.result.stack.name, main.result));
    }
    const expectedFile = join(dir, kind === 'valid' ? 'resolved.json' : 'diagnostics.txt');
    const warningsFile = join(dir, 'warnings.txt');
    let actual: string;
    if (kind === 'valid') {
      assert.equal(format(errors, []), '\n', `${name} must resolve without errors`);
      const stack = main.result!.stack!;
      actual = JSON.stringify({ order: dependencyOrder(stack.services.map((s) => ({ service: s.service, dependsOn: s.dependsOn }))), stack }, null, 2) + '\n';
      assertInvariants(stack, name);
      const w = main.warnings.length > 0 ? format([], main.warnings) : null;
      if (UPDATE) { if (w) writeFileSync(warningsFile, w); }
      assert.equal(w, existsSync(warningsFile) ? readFileSync(warningsFile, 'utf8') : null, `${name}: warnings differ from warnings.txt`);
    } else {
      if (!existsSync(othersDir)) assert.equal(main.result?.stack, undefined, `${name} must not resolve`);
      assert.ok(errors.length > 0, `${name} must report a problem`);
      for (const d of [...errors, ...main.warnings]) {
        assert.ok(ERROR_CODES[d.code], `${d.code} is not in the error code table`);
        assert.ok(d.line !== undefined && d.column !== undefined, `every diagnostic has a position: ${d.message}`);
        assert.ok(d.file, `every diagnostic names its file: ${d.message}`);
        assert.ok(d.hint, `every diagnostic has a hint: ${d.message}`);
      }
      actual = format(errors, main.warnings);
    }
    if (UPDATE) writeFileSync(expectedFile, actual);
    assert.ok(existsSync(expectedFile), `${name}: no ${basename(expectedFile)}; run with UPDATE_GOLDEN=1 to create it`);
    assert.equal(actual, readFileSync(expectedFile, 'utf8'));
  });
}

/** What no regenerated snapshot may change: frozen data, host names, and a printed config that resolves the same. */
function assertInvariants(stack: ResolvedStack, name: string): void {
  assert.ok(Object.isFrozen(stack) && Object.isFrozen(stack.services[0]!.options), 'a resolved stack is frozen');
  for (const s of stack.services) {
    assert.equal(s.name, `${stack.name}.${s.service}`);
    assert.ok(s.networks.every((n) => n.aliases[0] === s.service), 'peers reach a service by its name');
  }
  const text = renderStackToml(stack);
  const again = parseStack(text, 'config.toml');
  assert.ok(again.ok, `${name}: the printed config is not TOML:\n${text}`);
  const r = resolveStack(again.source, {}, {}, { path: stack.file });
  assert.deepEqual(r.diagnostics, [], `${name}: the printed config does not resolve:\n${text}`);
  assert.deepEqual(r.stack?.services, stack.services, `${name}: the printed config resolves to other services:\n${text}`);
  assert.deepEqual(r.stack?.networks, stack.networks);
  assert.deepEqual(r.stack?.volumes, stack.volumes);
}

test('stack golden: enough cases of each kind', () => {
  assert.ok(cases.filter((c) => kindOf(c) === 'valid').length >= 8);
  assert.ok(cases.filter((c) => kindOf(c) === 'broken').length >= 10);
});

test('stack golden: one pass reports every problem, in file order', () => {
  const r = run(join(ROOT, 'error-many-at-once'), 'stack.toml', '/stacks/error-many-at-once');
  const codes = new Set(r.errors.map((d) => d.code));
  for (const c of ['NISO1002', 'NISO1003', 'NISO1005', 'NISO5302', 'NISO5304', 'NISO5305', 'NISO5306', 'NISO5307', 'NISO5310', 'NISO5313', 'NISO5314', 'NISO5318']) assert.ok(codes.has(c), `${c} missing`);
  const inStack = r.errors.filter((d) => d.file === 'stack.toml').map((d) => (d.line ?? 0) * 1000 + (d.column ?? 0));
  assert.deepEqual(inStack, [...inStack].sort((a, b) => a - b));
});
