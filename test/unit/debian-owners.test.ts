// The pure parts of naming a missing library's Debian package and of staging a Debian root: what dpkg, apt-file, apt's
// Contents indexes and dpkg-deb print, read as data; the words of the error; links resolved through a tree's own
// link map; a program's head; the one table of architecture names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestOwners, describeMissingLibraries, LOOKUP_NAME, parseAptFileSearch, parseContentsLines, parseDebContents, parseDpkgSearch } from '../../src/package/deb/apt-output.js';
import { danglingLinks, resolveLink, resolvesInside } from '../../src/package/format/package-index.js';
import { execKind } from '../../src/package/format/exec-head.js';
import { ARCH_TABLE, archBy, archOfElf } from '../../src/package/format/arches.js';
import { multiarchOf } from '../../src/package/format/elf.js';

test('dpkg -S lines: several packages, an architecture qualifier, diversions skipped', () => {
  const out = [
    'libc6:amd64: /usr/lib/x86_64-linux-gnu/gconv/libJIS.so',
    'libfoo1, libfoo1-compat:i386: /usr/lib/i386-linux-gnu/libfoo.so.1',
    'diversion by dash from: /bin/sh',
    'dpkg-query: no path found matching pattern */libnope.so',
  ].join('\n');
  assert.deepEqual(parseDpkgSearch(out), [
    { package: 'libc6', path: '/usr/lib/x86_64-linux-gnu/gconv/libJIS.so' },
    { package: 'libfoo1', path: '/usr/lib/i386-linux-gnu/libfoo.so.1' },
    { package: 'libfoo1-compat', path: '/usr/lib/i386-linux-gnu/libfoo.so.1' },
  ]);
});

test('apt-file and Contents lines', () => {
  assert.deepEqual(parseAptFileSearch('libpq5: /usr/lib/x86_64-linux-gnu/libpq.so.5\nE: nothing\n'), [{ package: 'libpq5', path: '/usr/lib/x86_64-linux-gnu/libpq.so.5' }]);
  assert.deepEqual(parseContentsLines('FILE LOCATION\nusr/lib/x86_64-linux-gnu/libpq.so.5\t\tlibs/libpq5,non-free/libs/other\nusr/share/x y\tdoc/z\n lonely\nusr/bin/x   libs/Not_A_Package\n'), [
    { package: 'libpq5', path: '/usr/lib/x86_64-linux-gnu/libpq.so.5' },
    { package: 'other', path: '/usr/lib/x86_64-linux-gnu/libpq.so.5' },
    { package: 'z', path: '/usr/share/x y' },
  ]);
});

test('the best owners: the exact name, the multiarch directories first, each package once, at most three', () => {
  const all = [
    { package: 'zzz', path: '/usr/lib/x86_64-linux-gnu/libq.so.1' },
    { package: 'dbg', path: '/usr/lib/debug/libq.so.1' },
    { package: 'aaa', path: '/lib/x86_64-linux-gnu/libq.so.1' },
    { package: 'aaa', path: '/usr/lib/x86_64-linux-gnu/libq.so.1' },
    { package: 'near', path: '/usr/lib/x86_64-linux-gnu/libq.so.1.2' },
    { package: 'old', path: '/usr/lib/libq.so.1' },
  ];
  assert.deepEqual(bestOwners('libq.so.1', all, 'x86_64-linux-gnu').map((o) => o.package), ['aaa', 'zzz', 'old']);
  assert.deepEqual(bestOwners('libq.so.1', all, 'x86_64-linux-gnu', 10).map((o) => o.package), ['aaa', 'zzz', 'old', 'dbg']);
});

test('only plain file names are looked up', () => {
  for (const ok of ['libc.so.6', 'libstdc++.so.6', 'ld-linux-x86-64.so.2', 'libQt5Core.so.5']) assert.ok(LOOKUP_NAME.test(ok), ok);
  for (const bad of ['*', 'a/b', '-x', '.hidden', 'x y', 'lib[c].so', '']) assert.ok(!LOOKUP_NAME.test(bad), bad);
});

test('the missing libraries in words: what to install, what the loader misses, how to find the rest', () => {
  const d = describeMissingLibraries([
    { name: 'libpq.so.5', installed: [], available: [{ package: 'libpq5', path: '/usr/lib/x86_64-linux-gnu/libpq.so.5' }] },
    { name: 'libJIS.so', installed: [{ package: 'libc6', path: '/usr/lib/x86_64-linux-gnu/gconv/libJIS.so' }], available: [] },
    { name: 'libx.so.1', installed: [], available: [] },
    { name: 'liby.so.1', installed: [], available: [] },
  ]);
  assert.equal(d.text, 'libpq.so.5 (in the Debian package libpq5: /usr/lib/x86_64-linux-gnu/libpq.so.5), libJIS.so (the installed Debian package libc6 has a file of that name, /usr/lib/x86_64-linux-gnu/gconv/libJIS.so, where the loader does not look), libx.so.1 (this host cannot tell which Debian package has it), liby.so.1 (this host cannot tell which Debian package has it)');
  assert.equal(d.hint, 'install it: apt-get install libpq5; if libJIS.so is the one meant, add its directory to the loader\'s path (a file in /etc/ld.so.conf.d/, then ldconfig); find the package with `apt-file search libx.so.1` (and the others likewise) after `apt-get install apt-file && apt-file update`');
  // A package that is available wins over an installed copy elsewhere: installing it puts the file where the loader looks.
  const both = describeMissingLibraries([{ name: 'libq.so.1', installed: [{ package: 'q-i386', path: '/usr/lib/i386-linux-gnu/libq.so.1' }], available: [{ package: 'libq1', path: '/usr/lib/x86_64-linux-gnu/libq.so.1' }, { package: 'libq1-alt', path: '/usr/lib/x86_64-linux-gnu/libq.so.1' }] }]);
  assert.equal(both.text, 'libq.so.1 (in the Debian packages libq1, libq1-alt: /usr/lib/x86_64-linux-gnu/libq.so.1)');
  assert.equal(both.hint, 'install it: apt-get install libq1');
});

test('dpkg-deb -c listings: files, directories, symlinks and hard links, as absolute paths', () => {
  const out = [
    'drwxr-xr-x root/root         0 2023-02-01 10:00 ./',
    'drwxr-xr-x root/root         0 2023-02-01 10:00 ./lib/x86_64-linux-gnu/',
    '-rw-r--r-- root/root     14480 2023-02-01 10:00 ./lib/x86_64-linux-gnu/libfoo.so.1.2',
    'lrwxrwxrwx root/root         0 2023-02-01 10:00 ./lib/x86_64-linux-gnu/libfoo.so.1 -> libfoo.so.1.2',
    'hrwxr-xr-x root/root         0 2023-02-01 10:00 ./usr/bin/b link to ./usr/bin/a',
    '-rw-r--r-- root/root        10 2023-02-01 10:00 ./usr/share/doc/a file with spaces',
  ].join('\n');
  assert.deepEqual(parseDebContents(out), ['/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu/libfoo.so.1.2', '/lib/x86_64-linux-gnu/libfoo.so.1', '/usr/bin/b', '/usr/share/doc/a file with spaces']);
});

test('links resolved through the tree\'s own link map: where they end, and which lead nowhere', () => {
  const links = new Map([
    ['usr/bin/sh', 'dash'], // fine
    ['usr/bin/awk', '../../etc/alternatives/awk'], // at nothing the tree has
    ['usr/lib/x/libq.so', 'libq.so.1'], ['usr/lib/x/libq.so.1', 'libq.so.1.2'], // a chain to a file
    ['usr/lib/up', '../../..'], // out of the tree
    ['loop/a', 'b'], ['loop/b', 'a'],
    ['usr/share/d', '../lib/x'], ['usr/share/through', 'd/libq.so'], // through a directory link
    ['usr/bin/below-file', 'dash/x'], // a file is not a directory
  ]);
  const kinds = new Map<string, string>([['', 'dir'], ['usr', 'dir'], ['usr/bin', 'dir'], ['usr/bin/dash', 'file'], ['usr/lib', 'dir'], ['usr/lib/x', 'dir'], ['usr/lib/x/libq.so.1.2', 'file'], ['usr/share', 'dir'], ['loop', 'dir'], ...[...links.keys()].map((k) => [k, 'link'] as [string, string])]);
  assert.equal(resolveLink(links, 'usr/share/through'), 'usr/lib/x/libq.so.1.2');
  assert.equal(resolveLink(links, 'usr/lib/up'), null);
  assert.equal(resolveLink(links, 'loop/a'), null);
  assert.equal(resolveLink(links, 'usr/bin/dash'), 'usr/bin/dash', 'not a link: itself');
  assert.deepEqual(danglingLinks(kinds, links), ['loop/a', 'loop/b', 'usr/bin/awk', 'usr/bin/below-file', 'usr/lib/up']);
  assert.ok(resolvesInside(links, 'usr/bin/awk') && !resolvesInside(links, 'usr/lib/up'));
});

test('a program\'s head: ELF, a script and its interpreter as the kernel reads it, or neither', () => {
  const b = (s: string) => Buffer.from(s, 'latin1');
  assert.deepEqual(execKind(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1])), { kind: 'elf' });
  assert.deepEqual(execKind(b('#!/bin/sh\necho\n')), { kind: 'script', interpreter: '/bin/sh' });
  assert.deepEqual(execKind(b('#! \t/usr/bin/env -S node --\n')), { kind: 'script', interpreter: '/usr/bin/env' });
  // The kernel keeps a carriage return as part of the name: such a script does not start.
  assert.deepEqual(execKind(b('#!/bin/sh\r\n')), { kind: 'script', interpreter: '/bin/sh\r' });
  assert.deepEqual(execKind(b('#!\n')), { kind: 'script', interpreter: '' });
  assert.deepEqual(execKind(b('# just a comment')), { kind: 'other' });
  assert.deepEqual(execKind(b('')), { kind: 'other' });
  assert.deepEqual(execKind(Buffer.from([0x7f, 0x45])), { kind: 'other' });
});

test('one table of architecture names: niso, Node, Debian, multiarch and ELF agree', () => {
  assert.equal(archBy('debian', 'amd64')?.multiarch, 'x86_64-linux-gnu');
  assert.equal(archBy('debian', 'arm64')?.niso, 'aarch64');
  assert.equal(archBy('node', 'x64')?.debian, 'amd64');
  assert.equal(archBy('debian', 'mips64el'), undefined);
  assert.equal(multiarchOf(62, 64), 'x86_64-linux-gnu');
  assert.equal(multiarchOf(62, 32), null);
  assert.equal(archOfElf(183, 64)?.node, 'arm64');
  for (const key of ['niso', 'node', 'debian', 'multiarch'] as const) assert.equal(new Set(ARCH_TABLE.map((a) => a[key])).size, ARCH_TABLE.length, `${key} names are unique`);
});
