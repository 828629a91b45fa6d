// Every `niso init` template must produce a manifest that parses cleanly, whatever the name and host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../../src/manifest/parse.js';
import { formatDiagnostics } from '../../src/errors/render.js';
import { toPackageName } from '../../src/manifest/schema.js';
import { TEMPLATE_NAMES, nodeMajorFrom, pythonVersionFrom, renderTemplate, type HostFacts } from '../../src/manifest/templates.js';

const hosts: HostFacts[] = [{}, { nodeMajor: '22', pythonVersion: '3.12' }, { nodeMajor: 'garbage', pythonVersion: '3' }];

test('every template manifest parses without diagnostics', () => {
  for (const template of TEMPLATE_NAMES) {
    for (const name of ['my-app', 'a', 'shop.api_v2']) {
      for (const host of hosts) {
        const { files, nextSteps } = renderTemplate(template, name, host);
        const manifest = files.find((f) => f.path === 'manifest.toml');
        assert.ok(manifest, `${template} has a manifest.toml`);
        const r = parseManifest(manifest.content);
        assert.equal(formatDiagnostics(r.diagnostics), '', `${template}/${name}`);
        assert.equal(r.manifest?.package.name, name);
        assert.equal(r.manifest?.isolation.preset, 'server', 'templates keep the default sandbox');
        assert.ok(nextSteps.some((s) => s.includes('niso pack')));
        assert.equal(new Set(files.map((f) => f.path)).size, files.length, 'no file twice');
      }
    }
  }
});

test('templates follow the host versions, with fallbacks', () => {
  const rt = (template: 'node' | 'python', host: HostFacts) => parseManifest(renderTemplate(template, 'x', host).files[0]!.content).manifest?.runtime?.use;
  assert.deepEqual(rt('node', { nodeMajor: '22' }), { name: 'nodejs', version: '22' });
  assert.deepEqual(rt('node', {}), { name: 'nodejs', version: '20' });
  assert.deepEqual(rt('node', { nodeMajor: '2x' }), { name: 'nodejs', version: '20' });
  assert.deepEqual(rt('python', { pythonVersion: '3.12' }), { name: 'python', version: '3.12' });
  assert.deepEqual(rt('python', {}), { name: 'python', version: '3.11' });
  for (const t of ['rust', 'go', 'binary'] as const) {
    const m = parseManifest(renderTemplate(t, 'tool', {}).files[0]!.content).manifest;
    assert.equal(m?.runtime, undefined, `${t} has no runtime`);
    assert.equal(m?.binary.entrypoint, 'bin/tool');
  }
  assert.match(renderTemplate('binary', 'tool').files[0]!.content, /niso pack --binary target\/release\/tool/);
});

test('host version parsing', () => {
  assert.equal(nodeMajorFrom('v20.20.2\n'), '20');
  assert.equal(nodeMajorFrom('v22.1.0'), '22');
  assert.equal(nodeMajorFrom('node: command not found'), undefined);
  assert.equal(pythonVersionFrom('Python 3.11.7\n'), '3.11');
  assert.equal(pythonVersionFrom('Python 3.13.0rc1'), '3.13');
  assert.equal(pythonVersionFrom('nope'), undefined);
});

test('package names from directory names', () => {
  const cases: [string, string][] = [
    ['my-app', 'my-app'], ['My App', 'my-app'], ['My Cool_App!', 'my-cool_app'], ['--x--', 'x'], ['.hidden', 'hidden'],
    ['日本', 'my-app'], ['', 'my-app'], ['/', 'my-app'], ['a'.repeat(80), 'a'.repeat(64)], ['app.v2', 'app.v2'], ['x-', 'x'],
  ];
  for (const [dir, name] of cases) assert.equal(toPackageName(dir), name, dir);
  assert.throws(() => renderTemplate('node', 'Bad Name'));
});
