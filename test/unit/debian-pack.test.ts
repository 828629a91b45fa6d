// Packages from Debian packages, as data: what apt prints read into a closure (with exclusions), the ELF fields the
// library closure follows, merged /usr, the mounts a Debian root gets, and the manifest's [debian] rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { debFileName, parseDependsGraph, parseIndexRecords, parseSimulatedInstall, pruneClosure } from '../../src/package/deb/apt-output.js';
import { expandSearchEntry, readElfDynamic } from '../../src/package/format/elf.js';
import { mergedPath } from '../../src/package/format/debian-record.js';
import { debianRootMounts } from '../../src/plan/build-plan.js';
import { parseManifest } from '../../src/manifest/parse.js';

const SIM = `NOTE: This is only a simulation!
Inst gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])
Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64]) []
Inst libgcc-s1 (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])
Inst perl-base (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])
Inst adduser (3.134 Debian:12.15/oldstable [all])
Inst passwd (1:4.13+dfsg1-1+deb12u2 Debian:12.15/oldstable [amd64])
Inst libsystemd0 (252.39-1~deb12u2 Debian:12.15/oldstable [amd64])
Inst redis-tools (5:7.0.15-1~deb12u10 Debian-Security:12/oldstable-security [amd64])
Inst redis-server (5:7.0.15-1~deb12u10 Debian-Security:12/oldstable-security [amd64])
Conf libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64])
`;

const DEPENDS = `redis-server
  Depends: lsb-base
  Depends: redis-tools
redis-tools
  Depends: adduser
  Depends: libc6
  Depends: libsystemd0
    libelogind0
  Recommends: something-else
adduser
  Depends: passwd
passwd
  PreDepends: libc6
  Depends: perl-base
libc6
  Depends: libgcc-s1
libgcc-s1
  Depends: gcc-12-base
  Depends: libc6
libsystemd0
 |Depends: <virtual-thing>
    libc6
gcc-12-base
perl-base
`;

test('apt\'s simulated install and its dependency graph give the closure, without excluded and script-only packages', () => {
  const set = parseSimulatedInstall(SIM);
  assert.deepEqual(set.map((d) => d.name), ['gcc-12-base', 'libc6', 'libgcc-s1', 'perl-base', 'adduser', 'passwd', 'libsystemd0', 'redis-tools', 'redis-server']);
  assert.deepEqual(set.find((d) => d.name === 'redis-server'), { name: 'redis-server', version: '5:7.0.15-1~deb12u10', arch: 'amd64' });
  assert.equal(set.find((d) => d.name === 'adduser')!.arch, 'all');
  const graph = parseDependsGraph(DEPENDS);
  assert.deepEqual([...graph.get('redis-tools')!].sort(), ['adduser', 'libc6', 'libelogind0', 'libsystemd0'], 'providers count, Recommends do not');
  assert.deepEqual([...graph.get('libsystemd0')!].sort(), ['libc6', 'virtual-thing']);
  const r = pruneClosure(set, ['redis-server'], graph, []);
  // adduser is script-only: it and what only it pulls in (passwd, perl-base) are gone.
  assert.deepEqual(r.kept.map((d) => d.name), ['gcc-12-base', 'libc6', 'libgcc-s1', 'libsystemd0', 'redis-server', 'redis-tools']);
  assert.deepEqual(r.dropped, ['adduser', 'passwd', 'perl-base']);
  const cut = pruneClosure(set, ['redis-server'], graph, ['libsystemd0']);
  assert.ok(!cut.kept.some((d) => d.name === 'libsystemd0'));
  // A package named in [debian] packages is never cut, even when listed as script-only.
  assert.ok(pruneClosure(set, ['redis-server', 'adduser'], graph, ['adduser']).kept.some((d) => d.name === 'adduser'));
});

test('archive index records and .deb file names', () => {
  const recs = parseIndexRecords(`Package: redis-server
Version: 5:7.0.15-1~deb12u10
Filename: pool/updates/main/r/redis/redis-server_7.0.15-1~deb12u10_amd64.deb
Size: 98120
SHA256: 784e17b51024ff878fd7d709a68346658fa9b21f6de740cb75e474f28790971c

Package: libc6
Version: 2.36-9+deb12u14
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb
Size: 2757936
SHA256: nothex
`);
  assert.deepEqual(recs.get('redis-server=5:7.0.15-1~deb12u10'), { filename: 'pool/updates/main/r/redis/redis-server_7.0.15-1~deb12u10_amd64.deb', size: 98120, sha256: '784e17b51024ff878fd7d709a68346658fa9b21f6de740cb75e474f28790971c' });
  assert.equal(recs.has('libc6=2.36-9+deb12u14'), false, 'a record without a valid SHA256 is not trusted');
  assert.equal(debFileName({ name: 'redis-server', version: '5:7.0.15-1~deb12u10', arch: 'amd64' }), 'redis-server_5%3a7.0.15-1~deb12u10_amd64.deb');
});

/** A minimal ELF64 executable: PT_INTERP, one PT_LOAD, PT_DYNAMIC with DT_NEEDED x2, DT_RUNPATH, DT_SONAME. */
function craftElf(): Buffer {
  const strtab = Buffer.from('\0libfoo.so.1\0libc.so.6\0$ORIGIN/../lib:/opt/x\0libme.so.0\0');
  const interp = Buffer.from('/lib64/ld-linux-x86-64.so.2\0');
  const phoff = 64; const phnum = 3; const phsize = 56;
  const interpOff = phoff + phnum * phsize;
  const strOff = interpOff + interp.length;
  const dynOff = Math.ceil((strOff + strtab.length) / 8) * 8;
  const dyn: [number, number][] = [[1, 1], [1, 13], [29, 23], [14, 45], [5, 0x400000 + strOff], [0, 0]];
  const size = dynOff + dyn.length * 16;
  const b = Buffer.alloc(size);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  b.writeUInt16LE(3, 16); b.writeUInt16LE(62, 18); b.writeBigUInt64LE(BigInt(phoff), 32);
  b.writeUInt16LE(phsize, 54); b.writeUInt16LE(phnum, 56);
  const ph = (i: number, type: number, off: number, vaddr: number, filesz: number) => {
    const o = phoff + i * phsize;
    b.writeUInt32LE(type, o); b.writeBigUInt64LE(BigInt(off), o + 8); b.writeBigUInt64LE(BigInt(vaddr), o + 16); b.writeBigUInt64LE(BigInt(filesz), o + 32);
  };
  ph(0, 3, interpOff, 0x400000 + interpOff, interp.length);
  ph(1, 1, 0, 0x400000, size);
  ph(2, 2, dynOff, 0x400000 + dynOff, dyn.length * 16);
  interp.copy(b, interpOff); strtab.copy(b, strOff);
  dyn.forEach(([t, v], i) => { b.writeBigInt64LE(BigInt(t), dynOff + i * 16); b.writeBigUInt64LE(BigInt(v), dynOff + i * 16 + 8); });
  return b;
}

test('the ELF reader finds the interpreter, DT_NEEDED, DT_RUNPATH and the soname', () => {
  const e = readElfDynamic(craftElf());
  assert.deepEqual(e, { elfClass: 64, machine: 62, type: 3, interpreter: '/lib64/ld-linux-x86-64.so.2', needed: ['libfoo.so.1', 'libc.so.6'], searchPath: ['$ORIGIN/../lib', '/opt/x'], soname: 'libme.so.0' });
  assert.equal(expandSearchEntry('$ORIGIN/../lib', '/usr/lib/postgresql/15/bin/postgres', 'x86_64-linux-gnu'), '/usr/lib/postgresql/15/bin/../lib');
  assert.equal(expandSearchEntry('/x/${LIB}', '/a/b', 'x86_64-linux-gnu'), '/x/lib/x86_64-linux-gnu');
  assert.equal(readElfDynamic(Buffer.from('#!/bin/sh\necho hi\n'.padEnd(80))), null, 'not ELF');
  assert.equal(readElfDynamic(craftElf().subarray(0, 100)), null, 'truncated');
  // The host's own node, if it is an ELF file: a real binary parses too.
  const node = readFileSync(process.execPath);
  if (node[0] === 0x7f) assert.ok(readElfDynamic(node)?.needed.includes('libc.so.6'));
});

test('merged /usr and the mounts of a Debian root', () => {
  assert.equal(mergedPath('/lib/x86_64-linux-gnu/libc.so.6'), '/usr/lib/x86_64-linux-gnu/libc.so.6');
  assert.equal(mergedPath('/lib64/ld-linux-x86-64.so.2'), '/usr/lib64/ld-linux-x86-64.so.2');
  assert.equal(mergedPath('/bin'), '/usr/bin');
  assert.equal(mergedPath('/library/x'), '/library/x');
  assert.equal(mergedPath('/etc/redis/redis.conf'), '/etc/redis/redis.conf');
  const app = '/store/x-redis-7/app';
  const mounts = debianRootMounts(app, { usr: ['lib64', 'bin', 'lib'], etc: ['redis', 'passwd', 'hosts', 'nsswitch.conf', 'group', 'ssl', 'default'] });
  assert.deepEqual(mounts, [
    { type: 'bind', source: join(app, 'usr'), target: '/usr', readOnly: true, purpose: 'package-root' },
    { type: 'symlink', target: '/bin', linkTo: 'usr/bin' },
    { type: 'symlink', target: '/lib', linkTo: 'usr/lib' },
    { type: 'symlink', target: '/lib64', linkTo: 'usr/lib64' },
    { type: 'bind', source: join(app, 'etc/default'), target: '/etc/default', readOnly: true, purpose: 'package-root' },
    { type: 'bind', source: join(app, 'etc/redis'), target: '/etc/redis', readOnly: true, purpose: 'package-root' },
  ], 'niso\'s own /etc files and the host files it mounts are never covered by the package\'s');
});

const DEB_MANIFEST = (extra: string, entry = '/usr/bin/redis-server') => `[package]\nname = "redis"\nversion = "7.0.15"\n\n[debian]\npackages = ["redis-server"]\n${extra}\n[binary]\nentrypoint = "${entry}"\n`;

test('[debian] in the manifest: names, an absolute entrypoint, no [runtime]', () => {
  const ok = parseManifest(DEB_MANIFEST('exclude = ["libsystemd0"]'));
  assert.deepEqual(ok.diagnostics, []);
  assert.deepEqual(ok.manifest?.debian, { packages: ['redis-server'], exclude: ['libsystemd0'] });
  const codes = (text: string) => parseManifest(text).diagnostics.map((d) => `${d.code} ${d.message}`);
  assert.match(codes(DEB_MANIFEST('', 'bin/redis-server')).join('\n'), /NISO1601 .*absolute path/);
  assert.match(codes(DEB_MANIFEST('exclude = ["Bad Name"]')).join('\n'), /NISO1601 debian.exclude\[0\]: "Bad Name" is not a Debian package name/);
  assert.match(codes(DEB_MANIFEST('\n[runtime]\nuse = "nodejs:20"')).join('\n'), /NISO1601 runtime: \[debian\] and \[runtime\]/);
  assert.match(codes(`[package]\nname = "r"\nversion = "1.0.0"\n[debian]\npackages = []\n[binary]\nentrypoint = "/usr/bin/x"\n`).join('\n'), /packages/);
});
