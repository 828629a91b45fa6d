// The name of a state dir's mount unit must be the one systemd derives from its Where= (systemd-escape --path),
// or systemd refuses the unit; checked against systemd's own tool for paths with every kind of odd byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mountUnitName } from '../../src/render/systemd-mount.js';

const PATHS = [
  '/var/lib/niso/state/web',
  '/tmp/niso sd:abc/root/var/lib/niso/state/web-2',
  '/var/tmp/niso-svc-e2e-x1Yz/root/var/lib/niso/state/a.b_c',
  '/srv//niso/./state/.hidden/x',
  '/srv/niso/state/trailing/',
  '/srv/ünïcödé/state/%n\\x',
  '/',
];

test('mountUnitName is systemd-escape --path --suffix=mount', () => {
  for (const p of PATHS) {
    const r = spawnSync('systemd-escape', ['--path', '--suffix=mount', p], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(mountUnitName(p), r.stdout.trim(), p);
  }
});

test('a relative or unnormalised path has no mount unit', () => {
  assert.throws(() => mountUnitName('var/lib'), /not an absolute path/);
  assert.throws(() => mountUnitName('/var/../etc'), /not a normalised path/);
});
