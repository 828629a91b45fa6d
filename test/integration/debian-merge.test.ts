// Merged /usr of a Debian root, on real .debs made with dpkg-deb: a name shipped twice (/lib/X and /usr/lib/X) is one
// file when both agree or one is the other's compatibility link, and two different files are said with the packages
// that shipped them; links that lead nowhere in the root are found through its own link map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { dropDanglingLinks, mergeUsr } from '../../src/package/deb/stage.js';
import type { DebFile } from '../../src/package/deb/apt.js';
import { hostArchNames } from '../../src/host/arch.js';
import { tempDir } from '../helpers/tmp.js';

const MA = hostArchNames()!.multiarch;

/** A .deb built by dpkg-deb from files (string: content; { link }: a symlink, absolute as packages often have them). */
function deb(dir: string, name: string, files: Record<string, string | { link: string }>): DebFile {
  const tree = join(dir, `${name}-tree`);
  mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
  writeFileSync(join(tree, 'DEBIAN/control'), `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: niso tests <t@example.com>\nDescription: test package\n`);
  for (const [path, what] of Object.entries(files)) {
    const at = join(tree, path);
    mkdirSync(dirname(at), { recursive: true });
    if (typeof what === 'string') writeFileSync(at, what);
    else symlinkSync(what.link, at);
  }
  const file = join(dir, `${name}_1.0_all.deb`);
  const r = spawnSync('dpkg-deb', ['--build', '--root-owner-group', tree, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { name, version: '1.0', arch: 'all', sha256: '0'.repeat(64), size: 0, file };
}

function unpack(root: string, debs: DebFile[]): void {
  for (const d of debs) assert.equal(spawnSync('dpkg-deb', ['-x', d.file, root]).status, 0);
}

test('two different files of one merged name: the /usr one is kept, and the warning names both packages', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const debs = [
    deb(dir, 'libq-old', { [`lib/${MA}/libq.so.1`]: 'from /lib\n', [`lib/${MA}/libsame.so.1`]: 'same bytes\n' }),
    deb(dir, 'libq-new', { [`usr/lib/${MA}/libq.so.1`]: 'from /usr/lib\n', [`usr/lib/${MA}/libsame.so.1`]: 'same bytes\n' }),
  ];
  unpack(root, debs);
  const r = await mergeUsr(root, debs);
  assert.deepEqual(r.conflicts, [{ path: `/usr/lib/${MA}/libq.so.1`, keptFrom: ['libq-new'], droppedFrom: ['libq-old'] }]);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, new RegExp(`^/lib/${MA}/libq\\.so\\.1 \\(from libq-old\\) and /usr/lib/${MA}/libq\\.so\\.1 \\(from libq-new\\) differ, and merged /usr has room for one: the package has the /usr one`));
  assert.equal(readFileSync(join(root, `usr/lib/${MA}/libq.so.1`), 'utf8'), 'from /usr/lib\n');
  assert.equal(readFileSync(join(root, `usr/lib/${MA}/libsame.so.1`), 'utf8'), 'same bytes\n');
  assert.ok(!existsSync(join(root, 'lib')), '/lib is below /usr now');
});

test('a compatibility link to the other copy gives way to it, whichever side it is on', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const debs = [
    // The real file in /lib and a /usr/lib link to it: after merging, the link would point at itself.
    deb(dir, 'libr1', { [`lib/${MA}/libr.so.1`]: 'the library\n', [`usr/lib/${MA}/libr.so.1`]: { link: `/lib/${MA}/libr.so.1` } }),
    // The real program in /usr/bin and a /bin link to it.
    deb(dir, 'tool', { 'usr/bin/tool': '#!/bin/sh\n', 'bin/tool': { link: '/usr/bin/tool' } }),
  ];
  unpack(root, debs);
  const r = await mergeUsr(root, debs);
  assert.deepEqual(r, { conflicts: [], warnings: [] });
  assert.ok(lstatSync(join(root, `usr/lib/${MA}/libr.so.1`)).isFile());
  assert.equal(readFileSync(join(root, `usr/lib/${MA}/libr.so.1`), 'utf8'), 'the library\n');
  assert.ok(lstatSync(join(root, 'usr/bin/tool')).isFile());
});

test('links into /etc/alternatives or at files left out are dropped; links that resolve inside the root stay', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const debs = [deb(dir, 'mawk-ish', {
    'usr/bin/mawk': 'x', 'usr/bin/awk': { link: '/etc/alternatives/awk' }, 'usr/bin/nawk': { link: 'mawk' },
    'usr/share/man/man1/awk.1.gz': { link: '/etc/alternatives/awk.1.gz' }, 'usr/lib/libgone.so': { link: 'libgone.so.1' },
  })];
  unpack(root, debs);
  await mergeUsr(root, debs);
  assert.deepEqual(dropDanglingLinks(root), ['usr/bin/awk', 'usr/lib/libgone.so', 'usr/share/man/man1/awk.1.gz']);
  assert.equal(readlinkSync(join(root, 'usr/bin/nawk')), 'mawk');
  assert.ok(!lstatSync(join(root, 'usr/bin/awk'), { throwIfNoEntry: false }));
});
