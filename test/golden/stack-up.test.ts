// Golden cases for `niso stack up --dry-run`: each folder under stack-up/ is one case. It holds stack.toml (the file
// being brought up), and what the host runs now: before.toml (this stack as it is up, if it is), others/*.toml (other
// stacks that are up) and plain.json (plain services, as generation entries). A case expects plan.txt (what the dry
// run prints, in the order the switch runs it) or, when the stack conflicts with what runs, diagnostics.txt. Packages
// are pinned by a digest made from NAME@VERSION (a reference without a version gets 1.0.0), as an install would.
// UPDATE_GOLDEN=1 rewrites the expected files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic } from '../../src/errors/render.js';
import { ERROR_CODES } from '../../src/errors/codes.js';
import { describeAction, diffGenerations } from '../../src/generation/diff.js';
import type { GenerationContent, GenerationService } from '../../src/generation/types.js';
import { formatPlanLine, hostConflicts, stackPlan, withStack } from '../../src/stack/deploy.js';
import { generationServiceOf } from '../../src/stack/generation.js';
import { parseStack } from '../../src/stack/parse.js';
import { resolveStack, type ResolveResult } from '../../src/stack/resolve.js';
import type { ResolvedStack } from '../../src/stack/types.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), 'stack-up');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const cases = readdirSync(ROOT).filter((n) => statSync(join(ROOT, n)).isDirectory()).sort();

/** `as`: the path the file stands for (before.toml is this very stack.toml as it was). */
function resolved(dir: string, file: string, virtualDir: string, as = file): ResolveResult & { stack: ResolvedStack } {
  const parsed = parseStack(readFileSync(join(dir, file)), file);
  assert.ok(parsed.ok, `${file} parses`);
  const r = resolveStack(parsed.source, {}, {}, { path: join(virtualDir, as) });
  assert.deepEqual(r.diagnostics, [], `${file} resolves`);
  return r as ResolveResult & { stack: ResolvedStack };
}

function entries(stack: ResolvedStack): GenerationService[] {
  return stack.services.map((s) => {
    assert.equal(s.package.kind, 'store', 'golden cases name packages by NAME:VERSION');
    const ref = s.package as { name: string; version: string | null };
    const version = ref.version ?? '1.0.0';
    const digest = `sha256:${createHash('sha256').update(`${ref.name}@${version}`).digest('hex')}`;
    return generationServiceOf(s, { package: { name: ref.name, version, digest }, configs: [], backend: 'embedded', logs: { maxBytes: 10 << 20, files: 3 } }, stack.file);
  });
}

for (const name of cases) {
  test(`stack up golden: ${name}`, () => {
    const dir = join(ROOT, name);
    const virtualDir = `/stacks/${name}`;
    let current: GenerationContent | null = null;
    const add = (stack: ResolvedStack) => { current = withStack(current, stack.name, entries(stack)); };
    if (existsSync(join(dir, 'before.toml'))) add(resolved(dir, 'before.toml', virtualDir, 'stack.toml').stack);
    const othersDir = join(dir, 'others');
    if (existsSync(othersDir)) for (const f of readdirSync(othersDir).sort()) add(resolved(dir, join('others', f), virtualDir).stack);
    if (existsSync(join(dir, 'plain.json'))) {
      const plain = JSON.parse(readFileSync(join(dir, 'plain.json'), 'utf8')) as GenerationService[];
      current = { version: 1, services: [...(current as GenerationContent | null)?.services ?? [], ...plain] };
    }
    const main = resolved(dir, 'stack.toml', virtualDir);
    const conflicts = hostConflicts(main.stack, current, main);
    let file: string;
    let actual: string;
    if (conflicts.length > 0) {
      for (const d of conflicts) {
        assert.ok(ERROR_CODES[d.code], `${d.code} is in the table`);
        assert.ok(d.line !== undefined && d.hint, `positioned, with a hint: ${d.message}`);
      }
      file = join(dir, 'diagnostics.txt');
      actual = conflicts.map((d) => formatDiagnostic(d)).join('\n') + '\n';
    } else {
      const actions = diffGenerations(current, withStack(current, main.stack.name, entries(main.stack)));
      // Only this stack's services are touched.
      for (const a of actions) if ((a.to ?? a.from)!.stack?.name !== main.stack.name) assert.equal(a.kind, 'keep', `${a.service} is not this stack's`);
      file = join(dir, 'plan.txt');
      const lines = stackPlan(actions, main.stack.name, describeAction);
      actual = lines.some((l) => l.step !== 'keep') ? lines.map((l) => `would ${formatPlanLine(l)}`).join('\n') + '\n' : 'nothing to change\n';
    }
    if (UPDATE) writeFileSync(file, actual);
    assert.ok(existsSync(file), `${name}: no ${file}; run with UPDATE_GOLDEN=1 to create it`);
    assert.equal(actual, readFileSync(file, 'utf8'));
  });
}
