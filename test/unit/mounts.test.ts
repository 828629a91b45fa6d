// The mount table as niso reads it (src/host/mounts.ts), from mountinfo texts: the propagation of a mount (bounded
// /state makes its parent shared only where it is not), the mount a path lies on, escaped names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountAt, mountContaining, mountsBelow, parseMountinfo } from '../../src/host/mounts.js';

// A host whose init is not systemd (/ private), a shared self-bind of a state directory with an image on it, and a
// name with a blank in it.
const TEXT = [
  '26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard',
  '21 26 0:20 / /proc rw,relatime - proc proc rw',
  '300 26 254:0 /tmp/r/var/lib/niso/state /tmp/r/var/lib/niso/state rw,relatime shared:120 - ext4 /dev/vda rw,discard',
  '301 300 7:3 / /tmp/r/var/lib/niso/state/web rw,nosuid,nodev,relatime shared:121 master:7 - ext4 /dev/loop3 rw,discard',
  '302 26 0:55 / /tmp/a\\040b rw,relatime master:9 - tmpfs none rw',
].join('\n');

test('mountinfo: shared only with a shared:N field (master:N alone is a slave), optional fields and escapes skipped over', () => {
  const m = parseMountinfo(TEXT);
  assert.deepEqual(m.map((x) => [x.mountPoint, x.shared, x.fsType, x.source]), [
    ['/', false, 'ext4', '/dev/vda'],
    ['/proc', false, 'proc', 'proc'],
    ['/tmp/r/var/lib/niso/state', true, 'ext4', '/dev/vda'],
    ['/tmp/r/var/lib/niso/state/web', true, 'ext4', '/dev/loop3'],
    ['/tmp/a b', false, 'tmpfs', 'none'],
  ]);
  assert.equal(m[2]!.root, '/tmp/r/var/lib/niso/state', 'a bind mount\'s root is its directory in the file system');
});

test('the mount a path lies on is the deepest mount point above it, never a sibling with a common prefix', () => {
  const m = parseMountinfo(TEXT);
  assert.equal(mountContaining('/tmp/r/var/lib/niso/state/web/x', m)?.source, '/dev/loop3');
  assert.equal(mountContaining('/tmp/r/var/lib/niso/state/db', m)?.mountPoint, '/tmp/r/var/lib/niso/state');
  assert.equal(mountContaining('/tmp/r/var/lib/niso/state', m)?.mountPoint, '/tmp/r/var/lib/niso/state');
  assert.equal(mountContaining('/tmp/r/var/lib/niso/stateful', m)?.mountPoint, '/');
  assert.equal(mountContaining('/tmp/a b/c', m)?.fsType, 'tmpfs');
  assert.equal(mountAt('/tmp/r/var/lib/niso/state/web', m)?.source, '/dev/loop3');
  assert.deepEqual(mountsBelow('/tmp/r', m), ['/tmp/r/var/lib/niso/state/web', '/tmp/r/var/lib/niso/state'], 'deepest first: the image, then the self-bind');
});
