// niso-recover.service: what it runs, when it runs (only with a journal on the disk), and that it is not ordered
// before niso's services (it starts and stops them through systemctl).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderRecoverUnit } from '../../src/render/systemd-recover.js';

const niso = { node: '/usr/bin/node', entry: '/opt/niso/bin/niso', root: '/var/lib/x' };

test('niso-recover.service runs niso __recover at boot when a switch journal exists', () => {
  const { name, text } = renderRecoverUnit(niso, '/var/lib/x/var/lib/niso/generations/journal.jsonl');
  assert.equal(name, 'niso-recover.service');
  const lines = text.split('\n');
  assert.ok(lines.includes('ConditionPathExists=/var/lib/x/var/lib/niso/generations/journal.jsonl'), text);
  assert.ok(lines.includes('ExecStart=/usr/bin/node /opt/niso/bin/niso __recover'), text);
  assert.ok(lines.includes('Environment="NISO_ROOT=/var/lib/x"'), text);
  assert.ok(lines.includes('Type=oneshot'), text);
  assert.ok(lines.includes('WantedBy=multi-user.target'), text);
  assert.ok(!lines.some((l) => l.startsWith('Before=') && l !== 'Before=shutdown.target'), 'not ordered before the services it starts');
  // After the boot's start jobs (multi-user.target orders itself after the services it wants), without the cycle the
  // target's implicit After= on a unit it wants would make.
  assert.ok(lines.some((l) => /^After=.*\bmulti-user\.target\b/.test(l)), text);
  assert.ok(lines.includes('DefaultDependencies=no'), text);
  assert.ok(lines.includes('Conflicts=shutdown.target'), text);
});

test('a journal path with a blank: no condition (condition paths take no quotes); __recover finds nothing to do then', () => {
  const { text } = renderRecoverUnit({ ...niso, root: '/srv/my root' }, '/srv/my root/var/lib/niso/generations/journal.jsonl');
  assert.ok(!text.includes('ConditionPathExists='), text);
  assert.match(text, /^Environment="NISO_ROOT=\/srv\/my root"$/m);
});
