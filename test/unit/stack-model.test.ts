// The pure pieces of stacks beside parsing: the dependency order and its cycles, package references and which
// installed build they mean, conflicts across stacks, the data a generation will take from a resolved stack, and the
// stack networks a switch needs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dependencyOrder, findCycles, stopOrder, type DepNode } from '../../src/stack/graph.js';
import { matchInstalled, parsePackageRef, versionMatches } from '../../src/stack/package-ref.js';
import { conflictDiagnostics, conflictsAcross } from '../../src/stack/conflicts.js';
import { parseStack } from '../../src/stack/parse.js';
import { resolveStack } from '../../src/stack/resolve.js';
import type { ResolvedStack } from '../../src/stack/types.js';
import { generationServiceOf } from '../../src/stack/generation.js';
import { networksNeeded } from '../../src/stack/networks-needed.js';
import type { GenerationService, ServiceAction } from '../../src/generation/types.js';

const nodes = (spec: Record<string, string[]>): DepNode[] => Object.entries(spec).map(([service, deps]) => ({ service, dependsOn: deps.map((d) => ({ service: d })) }));

test('dependency order: dependencies first, otherwise the file\'s order, the same every time', () => {
  assert.deepEqual(dependencyOrder(nodes({ web: ['api'], api: ['db', 'cache'], cache: [], db: [], docs: [] })), ['cache', 'db', 'api', 'web', 'docs']);
  assert.deepEqual(dependencyOrder(nodes({ c: [], b: [], a: [] })), ['c', 'b', 'a'], 'no dependencies: the file\'s order, not the alphabet');
  assert.deepEqual(dependencyOrder(nodes({ a: ['b', 'b'], b: [], x: ['unknown'] })), ['b', 'a', 'x'], 'repeated and unknown names do not hold anything back');
  assert.deepEqual(stopOrder(nodes({ web: ['api'], api: ['db'], db: [] })), ['web', 'api', 'db']);
  assert.throws(() => dependencyOrder(nodes({ a: ['b'], b: ['a'] })), /cycle/);
});

test('cycles: each named once, from the service first in the file, with what only leads into them left out', () => {
  assert.deepEqual(findCycles(nodes({ web: ['api'], api: ['worker'], worker: ['queue'], queue: ['api'], solo: ['solo'], ok: [] })), [['api', 'worker', 'queue'], ['solo']]);
  assert.deepEqual(findCycles(nodes({ b: ['a'], a: ['b'] })), [['b', 'a']]);
  assert.deepEqual(findCycles(nodes({ a: ['b'], b: [] })), []);
  // Two cycles sharing a service are one tangle; one cycle through it is named.
  assert.equal(findCycles(nodes({ a: ['b'], b: ['a', 'c'], c: ['b'] })).length, 1);
});

test('dependency order and cycles: 10,000 services in a chain or a ring need no recursion', () => {
  const n = 10_000;
  const chain: DepNode[] = Array.from({ length: n }, (_, i) => ({ service: `s${i}`, dependsOn: i === 0 ? [] : [{ service: `s${i - 1}` }] }));
  const order = dependencyOrder([...chain].reverse());
  assert.equal(order[0], 's0');
  assert.equal(order[n - 1], `s${n - 1}`);
  const ring = chain.map((x, i) => (i === 0 ? { service: 's0', dependsOn: [{ service: `s${n - 1}` }] } : x));
  const cycles = findCycles(ring);
  assert.equal(cycles.length, 1);
  assert.equal(cycles[0]!.length, n);
});

test('package references: the forms, and what each refuses', () => {
  assert.deepEqual(parsePackageRef('postgres'), { ok: true, ref: { kind: 'store', name: 'postgres', version: null, digest: null } });
  assert.deepEqual(parsePackageRef('postgres:15'), { ok: true, ref: { kind: 'store', name: 'postgres', version: '15', digest: null } });
  assert.deepEqual(parsePackageRef('my-api:1.0.0-rc.1+build.5'), { ok: true, ref: { kind: 'store', name: 'my-api', version: '1.0.0-rc.1+build.5', digest: null } });
  const digest = `sha256:${'ab'.repeat(32)}`;
  assert.deepEqual(parsePackageRef(`app:2.0.0@${digest}`), { ok: true, ref: { kind: 'store', name: 'app', version: '2.0.0', digest } });
  for (const p of ['./api', '../x.niso', '/opt/app.niso', 'apps/api', '.']) assert.deepEqual(parsePackageRef(p), { ok: true, ref: { kind: 'path', path: p } });
  for (const bad of ['', 'App', 'app:latest', 'app:v1', 'app:1.2.3.4', 'app:01.2.3', 'app@sha256:abc', `app@${'ab'.repeat(32)}`, 'app:', ':1']) {
    assert.equal(parsePackageRef(bad).ok, false, bad);
  }
});

test('package references: a version line means the newest installed build of it', () => {
  const D = (c: string) => `sha256:${c.repeat(64)}`;
  // niso list's order: newest version first, of one version the newest install first.
  const installed = [
    { name: 'postgres', version: '150.0.0', digest: D('f') },
    { name: 'postgres', version: '15.20.0', digest: D('e') },
    { name: 'postgres', version: '15.20.0', digest: D('d') },
    { name: 'postgres', version: '15.4.1', digest: D('c') },
    { name: 'redis', version: '7.0.15', digest: D('b') },
  ];
  const pick = (text: string) => { const r = parsePackageRef(text); assert.ok(r.ok && r.ref.kind === 'store'); return matchInstalled(r.ref, installed)?.digest ?? null; };
  assert.equal(pick('postgres:15'), D('e'), '15 is not 150');
  assert.equal(pick('postgres:15.4'), D('c'));
  assert.equal(pick('postgres:15.20.0'), D('e'));
  assert.equal(pick('postgres'), D('f'));
  assert.equal(pick('postgres:16'), null);
  assert.equal(pick(`postgres:15@${D('d')}`), D('d'));
  assert.equal(pick(`postgres:15.4@${D('d')}`), null, 'a digest of another version matches nothing');
  assert.equal(pick('mysql'), null);
  assert.ok(versionMatches('1', '1.2.3') && !versionMatches('1', '10.0.0') && !versionMatches('1.2.3', '1.2.3-rc.1'));
});

function resolved(text: string, path: string): ResolvedStack {
  const p = parseStack(text);
  assert.ok(p.ok);
  const r = resolveStack(p.source, {}, {}, { path });
  assert.deepEqual(r.diagnostics, []);
  return r.stack!;
}

test('conflicts across stacks: ports by protocol and address, exclusive volumes by host name, names', () => {
  const a = resolved(`[stack]\nname = "a"\n[[service]]\nname = "web"\npackage = "w:1"\nports = ["80:80", "127.0.0.1:8080:80", "53:53/udp"]\nvolumes = { data = { mount = "/data", exclusive = true } }\n[volume.data]\nname = "shared"\n`, '/s/a/stack.toml');
  const b = resolved(`[stack]\nname = "b"\n[[service]]\nname = "proxy"\npackage = "p:1"\nports = ["127.0.0.2:8080:80", "53:53/tcp", "0.0.0.0:80:81"]\nvolumes = ["shared2:/x", "data:/y:ro"]\n[volume.data]\nname = "shared"\n`, '/s/b/stack.toml');
  const c = resolved(`[stack]\nname = "c"\n[[service]]\nname = "other"\npackage = "o:1"\nports = ["8080:1"]\nvolumes = ["data:/data"]\n`, '/s/c/stack.toml');
  const conflicts = conflictsAcross([a, b, c]);
  assert.deepEqual(conflicts.map((x) => [x.kind, x.a.stack, x.b.stack, x.kind === 'port' ? x.port : x.kind === 'volume' ? x.volume : '']), [
    ['port', 'a', 'b', '80/tcp'],
    ['volume', 'a', 'b', 'shared'],
    ['port', 'a', 'c', '127.0.0.1:8080/tcp'],
    ['port', 'b', 'c', '127.0.0.2:8080/tcp'],
  ]);
  assert.deepEqual(conflictsAcross([a, a]).map((x) => x.kind), ['name'], 'two stacks of one name are one conflict, whatever else they share');
  const about = conflictDiagnostics(conflicts, 'c');
  assert.deepEqual(about.map((d) => [d.code, d.file]), [['NISO5311', '/s/c/stack.toml'], ['NISO5311', '/s/c/stack.toml']]);
  assert.match(about[0]!.message, /^other maps host port 127\.0\.0\.1:8080\/tcp, which web of stack "a" maps already/);
  assert.match(conflictDiagnostics(conflicts, 'b')[1]!.message, /and stack "a" mounts it exclusively/);
});

test('a resolved stack keeps no variable to look up: changing the environment afterwards changes nothing', () => {
  const env: Record<string, string> = { TAG: '1.0.0', URL: 'postgres://a' };
  const p = parseStack('[stack]\nname = "s"\n[[service]]\nname = "api"\npackage = "api:${TAG}"\nenvironment = { URL = "${URL}", LIT = "$$URL" }\n');
  assert.ok(p.ok);
  const r = resolveStack(p.source, env, {}, { path: '/s/stack.toml' });
  env.TAG = '2.0.0';
  env.URL = 'changed';
  const s = r.stack!.services[0]!;
  assert.deepEqual([s.package, s.options.env], [{ kind: 'store', name: 'api', version: '1.0.0', digest: null }, { URL: 'postgres://a', LIT: '$URL' }]);
  assert.throws(() => { (s.options.env as Record<string, string>).URL = 'x'; }, TypeError, 'frozen');
  assert.deepEqual(r.variables, [{ name: 'TAG', from: 'environment' }, { name: 'URL', from: 'environment' }]);
});

test('a stack service becomes a generation entry: the pinned build, niso\'s config copies, and the stack\'s own fields beside', () => {
  const s = resolved('[stack]\nname = "shop"\n[[service]]\nname = "api"\npackage = "api:1"\ndepends_on = { db = "healthy" }\nconfigs = { "/etc/api.toml" = "./api.toml" }\nhealthcheck = "none"\nenvironment = { A = "1" }\n[[service]]\nname = "db"\npackage = "postgres:15"\n', '/s/shop/stack.toml').services[0]!;
  const digest = `sha256:${'1'.repeat(64)}`;
  const g = generationServiceOf(s, { package: { name: 'api', version: '1.2.0', digest }, configs: [{ source: '/var/lib/niso/configs/shop.api/abc', target: '/etc/api.toml' }], backend: 'embedded', logs: { maxBytes: 10 << 20, files: 3 } }, '/s/shop/stack.toml');
  assert.deepEqual(g, {
    name: 'shop.api',
    package: { name: 'api', version: '1.2.0', digest },
    options: { env: { A: '1' }, networks: ['shop_default'], configs: [{ source: '/var/lib/niso/configs/shop.api/abc', target: '/etc/api.toml' }], healthcheck: null, publish: false, aliases: { shop_default: ['api'] } },
    backend: 'embedded',
    logs: { maxBytes: 10 << 20, files: 3 },
    active: true,
    stack: { name: 'shop', service: 'api', file: '/s/shop/stack.toml', dependsOn: [{ service: 'db', condition: 'healthy', restart: false, required: true }], networks: [{ key: 'default', name: 'shop_default', aliases: ['api'] }], profiles: [] },
  });
  assert.deepEqual(s.configs, [{ name: null, target: '/etc/api.toml', file: '/s/shop/api.toml' }], 'the stack keeps the host file it names; the copy is the host\'s to make');
  assert.ok(!Object.isFrozen(g.options), 'a generation entry is a fresh object, not the frozen stack');
});

test('the networks a switch needs: those of the services it starts, each once, with how to make one again (a rollback across `stack down`)', () => {
  const stack = resolved('[stack]\nname = "shop"\n[[service]]\nname = "api"\npackage = "api:1"\nnetworks = ["default", "backend", "shared"]\n[[service]]\nname = "db"\npackage = "postgres:15"\nnetworks = ["backend"]\n[[service]]\nname = "job"\npackage = "job:1"\nnetwork_mode = "none"\n[network.backend]\negress = false\n[network.shared]\nexternal = true\nname = "company"\n', '/s/shop/stack.toml');
  const facts = { package: { name: 'x', version: '1', digest: `sha256:${'2'.repeat(64)}` }, configs: [], backend: 'embedded' as const, logs: { maxBytes: 1 << 20, files: 1 } };
  const [api, db, job] = stack.services.map((s) => generationServiceOf(s, facts, '/s/shop/stack.toml'));
  const act = (kind: ServiceAction['kind'], to: GenerationService | null, from: GenerationService | null = null): ServiceAction => ({ kind, service: (to ?? from)!.name, from, to, changed: [] });
  assert.deepEqual(networksNeeded([act('add', db!), act('add', api!), act('add', job!)]), [
    { name: 'shop_backend', external: false, egress: false },
    { name: 'shop_default', external: false, egress: true },
    { name: 'company', external: true, egress: true },
  ]);
  // What does not start needs nothing made: a kept, stopped or removed service, or one defined inactive.
  assert.deepEqual(networksNeeded([act('keep', api!, api!), act('remove', null, db!), act('add', { ...db!, active: false })]), []);
  assert.deepEqual(api!.stack!.networks.map((n) => [n.name, n.external ?? null, n.egress ?? null]), [['shop_default', null, null], ['shop_backend', null, false], ['company', true, null]], 'the default network adds nothing to an entry (its hash stays)');
});
