// The classification of a switch, as a table: a change to one service → the action, its changed fields and the line
// --dry-run prints; then the pins: equal specs hash equal, a plan made twice is the same bytes, unchanged services keep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeActions, diffGenerations, summarize } from '../../src/generation/diff.js';
import { canonicalJson, contentOf, entryOf, generationHash } from '../../src/generation/hash.js';
import type { GenerationContent, GenerationService } from '../../src/generation/types.js';
import type { ServiceDefinition } from '../../src/service/model/types.js';

const DIGEST1 = `sha256:${'1'.repeat(64)}`;
const DIGEST2 = `sha256:${'2'.repeat(64)}`;

function svc(name: string, over: Partial<GenerationService> = {}): GenerationService {
  return {
    name, package: { name: 'app', version: '1.0.0', digest: DIGEST1 }, options: { env: { FOO: 'secret-value-1' }, args: [] },
    backend: 'embedded', logs: { maxBytes: 10 * 1024 * 1024, files: 3 }, active: true, ...over,
  };
}
const gen = (...services: GenerationService[]): GenerationContent => contentOf(services);
const port = (host: number, container: number) => ({ hostIp: null, host: { from: host, to: host }, container: { from: container, to: container }, protocol: 'tcp' as const });

// [what changed, from, to, kind, changed fields, the line]
const cases: [string, GenerationService | null, GenerationService | null, string, string[], string][] = [
  ['nothing', svc('web'), svc('web'), 'keep', [], 'keep web'],
  ['only in the new one, active', null, svc('web'), 'add', [], 'add web (app 1.0.0)'],
  ['only in the new one, inactive', null, svc('web', { active: false }), 'add', [], 'add web (app 1.0.0, inactive: not started)'],
  ['only in the old one', svc('web'), null, 'remove', [], 'remove web (app 1.0.0)'],
  ['activated', svc('web', { active: false }), svc('web'), 'start', ['active'], 'start web'],
  ['deactivated', svc('web'), svc('web', { active: false }), 'stop', ['active'], 'stop web'],
  ['activated with a new version', svc('web', { active: false }), svc('web', { package: { name: 'app', version: '2.0.0', digest: DIGEST2 } }), 'start', ['package', 'active'], 'start web (package 1.0.0 → 2.0.0)'],
  ['a new version', svc('web'), svc('web', { package: { name: 'app', version: '2.0.0', digest: DIGEST2 } }), 'replace', ['package'], 'replace web (package 1.0.0 → 2.0.0)'],
  ['another build of one version', svc('web'), svc('web', { package: { name: 'app', version: '1.0.0', digest: DIGEST2 } }), 'replace', ['package'], 'replace web (package 1.0.0 (111111111111 → 222222222222))'],
  ['another backend', svc('web'), svc('web', { backend: 'systemd' }), 'replace', ['backend'], 'replace web (backend embedded → systemd)'],
  ['an env value (names only, never values)', svc('web'), svc('web', { options: { env: { FOO: 'secret-value-2', BAR: 'secret-value-3' } } }), 'replace', ['options.env'], 'replace web (options.env: +BAR FOO)'],
  ['an env variable dropped', svc('web'), svc('web', { options: {} }), 'replace', ['options.env'], 'replace web (options.env: -FOO)'],
  ['the memory limit', svc('web'), svc('web', { options: { env: { FOO: 'secret-value-1' }, memoryBytes: 512 * 1024 * 1024 } }), 'replace', ['options.memoryBytes'], 'replace web (options.memoryBytes: default → 512.0 MiB)'],
  ['the entrypoint', svc('web'), svc('web', { options: { env: { FOO: 'secret-value-1' }, entrypoint: 'bin/psql' } }), 'replace', ['options.entrypoint'], 'replace web (options.entrypoint: default → bin/psql)'],
  ['the args (named, not printed)', svc('web'), svc('web', { options: { env: { FOO: 'secret-value-1' }, args: ['--token=x'] } }), 'replace', ['options.args'], 'replace web (options.args)'],
  ['the restart policy only', svc('web'), svc('web', { options: { env: { FOO: 'secret-value-1' }, restart: { policy: 'always', maxRetries: null } } }), 'update', ['options.restart'], 'update web (options.restart: default → always)'],
  ['the log bound only', svc('web'), svc('web', { logs: { maxBytes: 1024 * 1024, files: 5 } }), 'update', ['logs'], 'update web (logs 3×10.0 MiB → 5×1.00 MiB)'],
  ['the ports only', svc('web', { options: { ports: [port(8080, 3000)] } }), svc('web', { options: { ports: [port(8081, 3000)] } }), 'ports', ['options.ports'], 'update the ports of web (options.ports: 8080:3000/tcp → 8081:3000/tcp)'],
  ['ports and restart policy', svc('web', { options: { ports: [port(8080, 3000)] } }), svc('web', { options: { ports: [], restart: { policy: 'no', maxRetries: null } } }), 'ports', ['options.ports', 'options.restart'], 'update the ports of web (options.ports: 8080:3000/tcp → none, options.restart: default → no)'],
  ['ports on the host network map nothing', svc('web', { options: { network: 'host', ports: [port(8080, 3000)] } }), svc('web', { options: { network: 'host' } }), 'update', ['options.ports'], 'update web (options.ports: 8080:3000/tcp → none)'],
  ['ports and the package', svc('web', { options: { ports: [port(8080, 3000)] } }), svc('web', { package: { name: 'app', version: '2.0.0', digest: DIGEST2 }, options: { ports: [port(8081, 3000)] } }), 'replace', ['package', 'options.ports'], 'replace web (package 1.0.0 → 2.0.0, options.ports: 8080:3000/tcp → 8081:3000/tcp)'],
  ['an inactive service\'s package (nothing runs)', svc('web', { active: false }), svc('web', { active: false, package: { name: 'app', version: '2.0.0', digest: DIGEST2 } }), 'update', ['package'], 'update web (package 1.0.0 → 2.0.0)'],
  ['an inactive service\'s backend', svc('web', { active: false }), svc('web', { active: false, backend: 'systemd' }), 'update', ['backend'], 'update web (backend embedded → systemd)'],
  ['another package name', svc('web'), svc('web', { package: { name: 'other', version: '3.0.0', digest: DIGEST2 } }), 'replace', ['package'], 'replace web (package app 1.0.0 → other 3.0.0)'],
  ['empty lists are no lists (normalised)', svc('web', { options: { env: { FOO: 'secret-value-1' } } }), svc('web', { options: { env: { FOO: 'secret-value-1' }, ports: [], mounts: [], capabilities: [], args: [] } }), 'keep', [], 'keep web'],
  ['undefined options are no options', svc('web', { options: { env: { FOO: 'secret-value-1' } } }), svc('web', { options: { env: { FOO: 'secret-value-1' }, preset: undefined, memoryBytes: undefined } }), 'keep', [], 'keep web'],
];

for (const [what, from, to, kind, changed, line] of cases) {
  test(`diff: ${what} → ${kind}`, () => {
    const actions = diffGenerations(from ? gen(from) : gen(), to ? gen(to) : gen());
    assert.equal(actions.length, 1);
    const a = actions[0]!;
    assert.equal(a.kind, kind);
    assert.deepEqual(a.changed, changed);
    assert.equal(describeActions(actions)[0], line);
    assert.ok(!describeActions(actions)[0]!.includes('secret-value'), 'an env value was printed');
  });
}

test('diff from nothing (a first switch) adds every service', () => {
  const to = gen(svc('b'), svc('a', { active: false }));
  assert.deepEqual(diffGenerations(null, to).map((a) => `${a.kind} ${a.service}`), ['add a', 'add b']);
});

test('order: stops and removes first, then in-place changes, replacements, starts and adds; keeps last; by name within each', () => {
  const from = gen(svc('a'), svc('b'), svc('c', { active: false }), svc('d'), svc('e'), svc('f'), svc('g', { options: { ports: [port(1, 2)] } }));
  const to = gen(
    svc('a'), // keep
    svc('b', { package: { name: 'app', version: '2.0.0', digest: DIGEST2 } }), // replace
    svc('c'), // start
    svc('d', { active: false }), // stop
    // e: removed
    svc('f', { logs: { maxBytes: 2048, files: 1 } }), // update
    svc('g', { options: { ports: [port(3, 2)] } }), // ports
    svc('h'), // add
    svc('0-first-by-name'), // add
  );
  assert.deepEqual(diffGenerations(from, to).map((a) => `${a.kind} ${a.service}`), [
    'stop d', 'remove e', 'update f', 'ports g', 'replace b', 'add 0-first-by-name', 'start c', 'add h', 'keep a',
  ]);
});

test('pin: a generation diffed against itself keeps every service', () => {
  const g = gen(svc('web'), svc('db', { options: { ports: [port(5432, 5432)], env: { PGPASSWORD: 'x' } } }), svc('cache', { active: false }));
  const actions = diffGenerations(g, g);
  assert.deepEqual(actions.map((a) => a.kind), ['keep', 'keep', 'keep']);
  assert.deepEqual(summarize(actions), []);
});

test('pin: a change to one service restarts no other', () => {
  const base = [svc('web'), svc('db', { options: { env: { PGPASSWORD: 'x' } } }), svc('cache')];
  const from = gen(...base);
  const to = gen(base[0]!, base[1]!, svc('cache', { package: { name: 'app', version: '2.0.0', digest: DIGEST2 } }));
  assert.deepEqual(diffGenerations(from, to).map((a) => `${a.kind} ${a.service}`), ['replace cache', 'keep db', 'keep web']);
});

test('pin: planning twice gives identical bytes; equal specs hash equal whatever their key order', () => {
  const a = gen(svc('web', { options: { env: { B: '2', A: '1' }, memoryBytes: 1 << 28 } }), svc('db'));
  const b = gen(svc('db'), { ...svc('web'), options: { memoryBytes: 1 << 28, env: { A: '1', B: '2' }, preset: undefined } });
  assert.equal(generationHash(a), generationHash(b));
  const to = gen(svc('db'), svc('web', { active: false }));
  assert.equal(canonicalJson(diffGenerations(a, to)), canonicalJson(diffGenerations(b, to)));
  assert.equal(canonicalJson(diffGenerations(a, to)), canonicalJson(diffGenerations(a, to)));
  // A known hash: the canonical form (and so every id on every host) must not drift between releases.
  const pinned = gen(svc('web'));
  assert.equal(canonicalJson(pinned), `{"services":[{"active":true,"backend":"embedded","logs":{"files":3,"maxBytes":10485760},"name":"web","options":{"env":{"FOO":"secret-value-1"}},"package":{"digest":"${DIGEST1}","name":"app","version":"1.0.0"}}],"version":1}`);
  // (sha256 of that text, computed apart with Python's hashlib)
  assert.equal(generationHash(pinned), '80229383973f1b8e805f4e98414f5fc0c9134d9556e82679cc031c5b88eb0a3d');
});

test('canonical JSON: sorted keys, no blanks, JSON.stringify strings and numbers, undefined members left out', () => {
  assert.equal(canonicalJson({ b: [1, 'x', null, true], a: { d: undefined, c: -0, e: 1e21, f: 'é\u2028"' } }), '{"a":{"c":0,"e":1e+21,"f":"é\u2028\\""},"b":[1,"x",null,true]}');
  assert.throws(() => canonicalJson({ a: NaN }), /NaN is not allowed/);
  // As JSON.stringify (and RFC 8785) take it: through toJSON.
  assert.equal(canonicalJson({ at: new Date(0) }), '{"at":"1970-01-01T00:00:00.000Z"}');
});

test('entryOf: the spec of service.json, without what the host records as it runs', () => {
  const def: ServiceDefinition = {
    version: 1, name: 'web', package: { name: 'app', version: '1.0.0', digest: DIGEST1 }, options: { env: {}, args: [] },
    backend: 'systemd', createdAt: '2024-01-01T00:00:00.000Z', desired: 'active', logs: { maxBytes: 1024, files: 2 },
    start: { id: 'x', by: { pid: 1, startTime: 2 }, at: '2024-01-01T00:00:00.000Z', desiredBefore: 'inactive' }, deactivatedAt: '2024-01-01T00:00:00.000Z',
  };
  assert.deepEqual(entryOf(def, true), { name: 'web', package: { name: 'app', version: '1.0.0', digest: DIGEST1 }, options: {}, backend: 'systemd', logs: { maxBytes: 1024, files: 2 }, active: true });
  // A definition written before backends and log bounds were recorded reads as what niso runs it with.
  const old = { version: 1, name: 'old', package: def.package, options: {}, createdAt: def.createdAt, desired: 'inactive' } as unknown as ServiceDefinition;
  assert.deepEqual(entryOf(old, false), { name: 'old', package: def.package, options: {}, backend: 'embedded', logs: { maxBytes: 10 * 1024 * 1024, files: 3 }, active: false });
});

test('contentOf refuses one name twice', () => {
  assert.throws(() => contentOf([svc('web'), svc('web')]), /twice/);
});

test('summarize: one line per changed service', () => {
  const from = gen(svc('web'), svc('db'), svc('old'));
  const to = gen(svc('web', { package: { name: 'app', version: '2.0.0', digest: DIGEST2 }, options: { env: { FOO: 'y' } } }), svc('db', { active: false }), svc('new'));
  assert.deepEqual(summarize(diffGenerations(from, to)), ['db: stopped', 'old: removed', 'web: 1.0.0 → 2.0.0, options.env', 'new: added']);
});
