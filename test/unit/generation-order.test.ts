// The order of a switch with a stack's dependencies (generation/order.ts), and what each condition says of a
// dependency's status: tables of cases, since every path that changes what runs (switch, way back, boot) uses them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffGenerations, describeAction } from '../../src/generation/diff.js';
import { contentOf } from '../../src/generation/hash.js';
import { conditionVerdict, startOrder, topoSort, type DependencyFacts } from '../../src/generation/order.js';
import { lastExitOf, withExit, type ExitRecord } from '../../src/service/model/types.js';
import type { GenerationService } from '../../src/generation/types.js';
import type { DependencyCondition } from '../../src/stack/types.js';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

/** A stack service `shop.NAME` with its dependencies as `dep[:condition][!]` (! for restart = true). */
function svc(name: string, deps: string[] = [], over: Partial<GenerationService> = {}): GenerationService {
  return {
    name: `shop.${name}`, package: { name, version: '1.0.0', digest: digest('1') }, options: {}, backend: 'embedded', logs: { maxBytes: 1 << 20, files: 2 }, active: true,
    stack: {
      name: 'shop', service: name, file: '/s/stack.toml', networks: [], profiles: [],
      dependsOn: deps.map((d) => {
        const m = /^([a-z]+)(?::([a-z]+))?(!)?$/.exec(d)!;
        return { service: m[1]!, condition: (m[2] ?? 'started') as DependencyCondition, restart: m[3] === '!', required: true };
      }),
    },
    ...over,
  };
}
const v2 = (s: GenerationService): GenerationService => ({ ...s, package: { ...s.package, version: '2.0.0', digest: digest('2') } });
const steps = (from: GenerationService[] | null, to: GenerationService[]) => diffGenerations(from ? contentOf(from) : null, contentOf(to)).map((a) => `${a.kind} ${a.service.replace('shop.', '')}`);

test('switch order: dependencies start first and stop last, whatever their names', () => {
  const cases: { name: string; from: GenerationService[] | null; to: GenerationService[]; want: string[] }[] = [
    { name: 'a new stack: db before api before web', from: null, to: [svc('web', ['api']), svc('api', ['db:healthy']), svc('db')], want: ['add db', 'add api', 'add web'] },
    { name: 'no dependencies: by name, as before', from: null, to: [svc('b'), svc('a')], want: ['add a', 'add b'] },
    { name: 'a stack taken down: dependents stop first', from: [svc('api', ['db']), svc('db'), svc('web', ['api'])], to: [], want: ['remove web', 'remove api', 'remove db'] },
    { name: 'both replaced: the dependency first', from: [svc('api', ['db']), svc('db')], to: [v2(svc('api', ['db'])), v2(svc('db'))], want: ['replace db', 'replace api'] },
    { name: 'an added dependency before a replaced dependent', from: [svc('api')], to: [v2(svc('api', ['cache'])), svc('cache')], want: ['add cache', 'replace api'] },
    { name: 'unchanged: keep, nothing else', from: [svc('api', ['db']), svc('db')], to: [svc('api', ['db']), svc('db')], want: ['keep api', 'keep db'] },
    { name: 'a changed depends_on alone restarts nothing', from: [svc('api', ['db']), svc('db')], to: [svc('api', ['db:healthy']), svc('db')], want: ['update api', 'keep db'] },
    { name: 'restart = true: the dependent follows a replaced dependency', from: [svc('api', ['db!']), svc('db')], to: [svc('api', ['db!']), v2(svc('db'))], want: ['replace db', 'replace api'] },
    { name: 'restart = true along a chain', from: [svc('web', ['api!']), svc('api', ['db!']), svc('db')], to: [svc('web', ['api!']), svc('api', ['db!']), v2(svc('db'))], want: ['replace db', 'replace api', 'replace web'] },
    { name: 'without restart = true a kept dependent stays', from: [svc('api', ['db']), svc('db')], to: [svc('api', ['db']), v2(svc('db'))], want: ['replace db', 'keep api'] },
    { name: 'a plain service is not held back by a stack', from: null, to: [svc('api', ['db']), svc('db'), { ...svc('zzz'), name: 'aaa', stack: undefined } as GenerationService], want: ['add aaa', 'add db', 'add api'] },
  ];
  for (const c of cases) assert.deepEqual(steps(c.from, c.to), c.want, c.name);
});

test('a restart that follows a dependency is said so', () => {
  const a = diffGenerations(contentOf([svc('api', ['db!']), svc('db')]), contentOf([svc('api', ['db!']), v2(svc('db'))]));
  assert.equal(describeAction(a.find((x) => x.service === 'shop.api')!), 'replace shop.api (restarted with shop.db)');
});

test('boot order and the topological sort: dependencies first, ties by name, a cycle does not lose anyone', () => {
  assert.deepEqual(startOrder([svc('api', ['db']), svc('db'), svc('web', ['api', 'cache']), svc('cache')]), ['shop.cache', 'shop.db', 'shop.api', 'shop.web']);
  assert.deepEqual(topoSort(['a', 'b', 'c'], (x) => (x === 'a' ? ['b'] : x === 'b' ? ['a'] : []), (x, y) => x.localeCompare(y)), ['c', 'a', 'b']);
});

const facts = (f: Partial<DependencyFacts>): DependencyFacts => ({ state: 'active', pid: 10, health: null, lastExit: null, checked: false, ...f });

test('conditions: met, wait or failed, with the health verdict read before liveness', () => {
  const cases: { name: string; condition: DependencyCondition; f: DependencyFacts | null; want: string }[] = [
    { name: 'not defined', condition: 'started', f: null, want: 'failed: it is not defined on this host' },
    { name: 'started: runs', condition: 'started', f: facts({}), want: 'met' },
    { name: 'started: being started', condition: 'started', f: facts({ state: 'activating', pid: null }), want: 'wait' },
    { name: 'started: failed with exit 1', condition: 'started', f: facts({ state: 'failed', pid: null, lastExit: { exitCode: 1, reason: 'exited', signal: null } }), want: 'failed: it is not running (exited 1)' },
    { name: 'started: waiting for its restart', condition: 'started', f: facts({ state: 'restarting', pid: null }), want: 'wait' },
    { name: 'healthy: healthy', condition: 'healthy', f: facts({ checked: true, health: 'healthy' }), want: 'met' },
    { name: 'healthy: starting', condition: 'healthy', f: facts({ checked: true, state: 'activating', health: 'starting' }), want: 'wait' },
    { name: 'healthy: unhealthy while it runs', condition: 'healthy', f: facts({ checked: true, state: 'unhealthy', health: 'unhealthy' }), want: 'failed: its health check fails' },
    { name: 'healthy: stopped by its health policy, waiting for the restart (systemd shows inactive)', condition: 'healthy', f: facts({ checked: true, state: 'inactive', pid: null, lastExit: { exitCode: 143, reason: 'unhealthy', signal: 'SIGTERM' } }), want: 'failed: its health check fails' },
    { name: 'healthy: the same, as restarting', condition: 'healthy', f: facts({ checked: true, state: 'restarting', pid: null, lastExit: { exitCode: 143, reason: 'unhealthy', signal: 'SIGTERM' } }), want: 'failed: its health check fails' },
    { name: 'healthy: stopped for its health check, before niso judged the end (systemd: inactive, exit 143, its record unhealthy)', condition: 'healthy', f: facts({ checked: true, state: 'inactive', pid: null, lastExit: { exitCode: 143, reason: 'exited', signal: 'SIGTERM' }, lastHealth: 'unhealthy' }), want: 'failed: its health check fails' },
    { name: 'healthy: crashed', condition: 'healthy', f: facts({ checked: true, state: 'failed', pid: null, lastExit: { exitCode: 2, reason: 'exited', signal: null } }), want: 'failed: it is not running (exited 2)' },
    { name: 'healthy: no check, runs', condition: 'healthy', f: facts({}), want: 'met' },
    { name: 'completed: exited 0', condition: 'completed', f: facts({ state: 'inactive', pid: null, lastExit: { exitCode: 0, reason: 'exited', signal: null } }), want: 'met' },
    { name: 'completed: still running', condition: 'completed', f: facts({}), want: 'wait' },
    { name: 'completed: exited 3', condition: 'completed', f: facts({ state: 'failed', pid: null, lastExit: { exitCode: 3, reason: 'exited', signal: null } }), want: 'failed: it exited 3' },
    { name: 'completed: killed', condition: 'completed', f: facts({ state: 'failed', pid: null, lastExit: { exitCode: 143, reason: 'exited', signal: 'SIGTERM' } }), want: 'failed: it ended by SIGTERM' },
    { name: 'completed: defined again after an undone switch whose new job exited 3 (state failed, its own last run exited 0)', condition: 'completed', f: facts({ state: 'failed', pid: null, lastExit: { exitCode: 0, reason: 'exited', signal: null } }), want: 'met' },
    { name: 'completed: defined again by a way back without a run (a removed job has no record left)', condition: 'completed', f: facts({ state: 'inactive', pid: null, lastExit: null }), want: 'met' },
    { name: 'completed: its start failed before it ran', condition: 'completed', f: facts({ state: 'failed', pid: null, lastExit: { exitCode: null, reason: 'start-failed', signal: null } }), want: 'failed: its start failed' },
    { name: 'completed: waiting for its restart', condition: 'completed', f: facts({ state: 'restarting', pid: null, lastExit: { exitCode: 0, reason: 'exited', signal: null } }), want: 'wait' },
  ];
  for (const c of cases) {
    const v = conditionVerdict(c.condition, c.f);
    assert.equal(v.kind === 'failed' ? `failed: ${v.reason}` : v.kind, c.want, c.name);
  }
});

test("a job's last run is told by its package: an undone switch's job does not speak for the job defined again", () => {
  const end = (at: string, exitCode: number): ExitRecord => ({ at, exitCode, signal: null, reason: 'exited', uptimeMs: 300, message: null });
  let exits = withExit([], end('2026-01-01T00:00:00Z', 0), 'sha256:good');
  exits = withExit(exits, end('2026-01-01T00:01:00Z', 3), 'sha256:bad');
  assert.deepEqual(exits.map((e) => e.digest), ['sha256:good', 'sha256:bad']);
  assert.equal(lastExitOf(exits, 'sha256:good')?.exitCode, 0);
  assert.equal(lastExitOf(exits, 'sha256:bad')?.exitCode, 3);
  assert.equal(lastExitOf(exits, 'sha256:other'), null);
  // A digest it already has is kept (an end recorded as another package's run stays that).
  assert.equal(withExit([], { ...end('2026-01-01T00:02:00Z', 0), digest: 'sha256:bad' }, 'sha256:good')[0]!.digest, 'sha256:bad');
  // Ends recorded before niso kept the digest cannot be told apart: the newest speaks for any package.
  const old = [end('2026-01-01T00:00:00Z', 0), end('2026-01-01T00:01:00Z', 3)];
  assert.equal(lastExitOf(old, 'sha256:good')?.exitCode, 3);
  assert.equal(lastExitOf([], 'sha256:good'), null);
});
