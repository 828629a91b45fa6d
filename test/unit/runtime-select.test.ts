// Choosing a host runtime for `nodejs:20`: prefix matching, configured before discovered, the
// highest version, and errors that say what the host has instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, parseRuntimeSpec, selectRuntime, versionMatches } from '../../src/runtime/select.js';
import { normalizeMounts } from '../../src/runtime/mounts.js';
import type { RuntimeCandidate } from '../../src/runtime/types.js';
import { isNisoError, type NisoError } from '../../src/errors/niso-error.js';

test('versions match by whole components', () => {
  assert.ok(versionMatches('20', '20.20.2'));
  assert.ok(versionMatches('20.20', '20.20.2'));
  assert.ok(versionMatches('20.20.2', '20.20.2'));
  assert.ok(versionMatches('3.11', '3.11.7'));
  assert.ok(versionMatches('20.1', '20.1.0'));
  assert.ok(!versionMatches('20.1', '20.10.0'));
  assert.ok(!versionMatches('2', '20.1.0'));
  assert.ok(!versionMatches('20', '18.19.0'));
  assert.ok(!versionMatches('3.1', '3.11.2'));
  assert.ok(!versionMatches('20.20.2.1', '20.20.2'));
  assert.ok(versionMatches('17', '17.0.15'));
  assert.ok(versionMatches('1', '1.1.30-canary.5'));
});

test('versions order numerically', () => {
  assert.ok(compareVersions('10.0.0', '9.9.9') > 0);
  assert.ok(compareVersions('3.11.10', '3.11.9') > 0);
  assert.equal(compareVersions('20.1.0', '20.1.0'), 0);
  assert.ok(compareVersions('20.1', '20.1.0') < 0);
});

const c = (version: string, source: 'configured' | 'discovered' = 'discovered', binary = `/opt/node-${version}/bin/node`): RuntimeCandidate => ({ name: 'nodejs', version, binary, source });

test('the highest matching version wins; configured ones before discovered ones', () => {
  assert.equal(selectRuntime({ name: 'nodejs', version: '20' }, [c('20.1.0'), c('20.11.1'), c('20.9.0'), c('22.1.0')]).version, '20.11.1');
  assert.equal(selectRuntime({ name: 'nodejs', version: '20' }, [c('20.11.1'), c('20.1.0', 'configured')]).version, '20.1.0');
  assert.equal(selectRuntime({ name: 'nodejs', version: '20.1' }, [c('20.10.0'), c('20.1.5')]).version, '20.1.5');
});

function thrown(fn: () => unknown): NisoError {
  try { fn(); } catch (e) { if (isNisoError(e)) return e; throw e; }
  assert.fail('expected a NisoError');
}

test('a version mismatch says so and lists what the host has', () => {
  const e = thrown(() => selectRuntime({ name: 'nodejs', version: '20' }, [c('18.19.0', 'discovered', '/usr/bin/node'), c('16.20.2', 'configured', '/opt/node16/bin/node')]));
  assert.equal(e.code, 'NISO3002');
  assert.match(e.message, /needs nodejs:20, but this host has nodejs 18\.19\.0, 16\.20\.2, which does not match version 20/);
  assert.match(e.message, /nodejs 18\.19\.0 at \/usr\/bin\/node \(discovered\)/);
  assert.match(e.message, /nodejs 16\.20\.2 at \/opt\/node16\/bin\/node \(configured\)/);
  assert.match(e.hint!, /niso runtime add nodejs:20 \/path\/to\/node/);
});

test('no runtime of that name at all', () => {
  const e = thrown(() => selectRuntime({ name: 'python', version: '3.12' }, [c('20.1.0')]));
  assert.equal(e.code, 'NISO3001');
  assert.match(e.message, /needs python:3\.12, but this host has no python runtime/);
  assert.match(e.hint!, /niso runtime add python:3\.12 \/path\/to\/python3/);
});

test('runtime specs: NAME:VERSION with suggestions for near misses', () => {
  assert.deepEqual(parseRuntimeSpec('nodejs:20'), { name: 'nodejs', version: '20' });
  assert.deepEqual(parseRuntimeSpec('python:3.11.2'), { name: 'python', version: '3.11.2' });
  assert.deepEqual(parseRuntimeSpec('java', { versionOptional: true }), { name: 'java' });
  assert.match(thrown(() => parseRuntimeSpec('node:20')).hint!, /did you mean "nodejs:20"/);
  assert.match(thrown(() => parseRuntimeSpec('pyhton:3.12')).hint!, /did you mean "python:3\.12"/);
  assert.equal(thrown(() => parseRuntimeSpec('nodejs')).code, 'NISO3006');
  assert.equal(thrown(() => parseRuntimeSpec('nodejs:latest')).code, 'NISO3006');
});

test('mounts: sorted by target, duplicates and contained files dropped, conflicts refused', () => {
  const m = normalizeMounts([
    { source: '/usr/lib/jvm/j17/lib/libjli.so', target: '/usr/lib/jvm/j17/lib/libjli.so' },
    { source: '/usr/lib/x86_64-linux-gnu/libc.so.6', target: '/lib/x86_64-linux-gnu/libc.so.6' },
    { source: '/usr/lib/jvm/j17', target: '/usr/lib/jvm/j17' },
    { source: '/usr/lib/x86_64-linux-gnu/libc.so.6', target: '/lib/x86_64-linux-gnu/libc.so.6' },
    { source: '/etc/java-17/x', target: '/usr/lib/jvm/j17/conf/x' },
  ], new Set(['/usr/lib/jvm/j17']));
  assert.deepEqual(m.map((x) => x.target), ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/jvm/j17', '/usr/lib/jvm/j17/conf/x']);
  assert.throws(() => normalizeMounts([{ source: '/a', target: '/t' }, { source: '/b', target: '/t' }]), /would be both/);
});
