// ldd's text, as the host prints it, read into reports: the forms a closure depends on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoaderPath, parseLddOutput, parseLoaderSearchPath } from '../../src/runtime/ldd-output.js';

const NODE = `	linux-vdso.so.1 (0x00007fb6ffffe000)
	libdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007fb6fffe8000)
	libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007fb6ffc00000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fb6ffa1e000)
	/lib64/ld-linux-x86-64.so.2 (0x00007fb700000000)
`;

test('one file: libraries with their loader paths, the loader, no vdso', () => {
  const [r] = parseLddOutput(NODE, ['/usr/bin/node']);
  assert.equal(r!.file, '/usr/bin/node');
  assert.equal(r!.dynamic, true);
  assert.deepEqual(r!.libraries, [
    { name: 'libdl.so.2', path: '/lib/x86_64-linux-gnu/libdl.so.2' },
    { name: 'libstdc++.so.6', path: '/lib/x86_64-linux-gnu/libstdc++.so.6' },
    { name: 'libc.so.6', path: '/lib/x86_64-linux-gnu/libc.so.6' },
    { name: '/lib64/ld-linux-x86-64.so.2', path: '/lib64/ld-linux-x86-64.so.2' },
  ]);
  assert.deepEqual(r!.unparsed, []);
});

test('"not found" becomes a library without a path; duplicates are kept for the caller', () => {
  const out = `	linux-vdso.so.1 (0x00007f3b706cc000)
	libjvm.so => not found
	libjava.so => /usr/lib/jvm/java-17-openjdk-amd64/lib/libjava.so (0x00007f3b7067d000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3b7049b000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f3b706ce000)
	libjvm.so => not found
`;
  const [r] = parseLddOutput(out, ['/x/libnet.so']);
  assert.deepEqual(r!.libraries.filter((l) => l.path === null).map((l) => l.name), ['libjvm.so', 'libjvm.so']);
  assert.equal(r!.libraries.length, 5);
});

test('static binaries and non-ELF files have no closure', () => {
  assert.equal(parseLddOutput('\tstatically linked\n', ['/sbin/ldconfig'])[0]!.dynamic, false);
  assert.equal(parseLddOutput('\tnot a dynamic executable\n', ['/bin/script'])[0]!.dynamic, false);
  assert.equal(parseLddOutput('', ['/etc/passwd'])[0]!.dynamic, false);
  assert.deepEqual(parseLddOutput('\tstatically linked\n', ['/sbin/ldconfig'])[0]!.libraries, []);
});

test('several files: one section per header, in argument order', () => {
  const out = `/a/x.so:
	linux-vdso.so.1 (0x00007fdf9b38a000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fdf9b185000)
	/lib64/ld-linux-x86-64.so.2 (0x00007fdf9b38c000)
/etc/passwd:
/a/y.so:
	libbz2.so.1.0 => /lib/x86_64-linux-gnu/libbz2.so.1.0 (0x00007f0efea04000)
	libmissing.so.3 => not found
`;
  const [x, passwd, y] = parseLddOutput(out, ['/a/x.so', '/etc/passwd', '/a/y.so']);
  assert.deepEqual(x!.libraries.map((l) => l.path), ['/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
  assert.equal(passwd!.dynamic, false);
  assert.deepEqual(y!.libraries, [{ name: 'libbz2.so.1.0', path: '/lib/x86_64-linux-gnu/libbz2.so.1.0' }, { name: 'libmissing.so.3', path: null }]);
});

test('a single file with a header (the batch tracer prints one) parses the same', () => {
  const [r] = parseLddOutput(`/usr/bin/node:\n${NODE}`, ['/usr/bin/node']);
  assert.equal(r!.libraries.length, 4);
});

test('odd forms: old vdso arrow, paths with spaces, absolute DT_NEEDED, unknown lines', () => {
  const out = `	linux-gate.so.1 =>  (0xb7f1e000)
	libfoo.so.1 => /opt/my app/lib/libfoo.so.1 (0x00007f0000000000)
	/usr/lib/x86_64-linux-gnu/libbar.so (0x00007f0000001000)
	ldd: something odd
`;
  const [r] = parseLddOutput(out, ['/bin/x']);
  assert.deepEqual(r!.libraries, [
    { name: 'libfoo.so.1', path: '/opt/my app/lib/libfoo.so.1' },
    { name: '/usr/lib/x86_64-linux-gnu/libbar.so', path: '/usr/lib/x86_64-linux-gnu/libbar.so' },
  ]);
  assert.deepEqual(r!.unparsed, ['ldd: something odd']);
});

test('loader paths are recognised', () => {
  assert.ok(isLoaderPath('/lib64/ld-linux-x86-64.so.2'));
  assert.ok(isLoaderPath('/lib/ld-linux-aarch64.so.1'));
  assert.ok(isLoaderPath('/lib/ld-musl-x86_64.so.1'));
  assert.ok(!isLoaderPath('/lib/x86_64-linux-gnu/libc.so.6'));
  assert.ok(!isLoaderPath('/usr/lib/libld-foo.so'));
});

test('the loader\'s built-in search path is read from ld.so --help', () => {
  const help = `Shared library search path:
  (libraries located via /etc/ld.so.cache)
  /lib/x86_64-linux-gnu (system search path)
  /usr/lib/x86_64-linux-gnu (system search path)
  /lib (system search path)
  /usr/lib (system search path)

Subdirectories of glibc-hwcaps directories, in priority order:
  x86-64-v4
`;
  assert.deepEqual(parseLoaderSearchPath(help), ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib', '/usr/lib']);
});
