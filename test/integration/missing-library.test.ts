// A library the host's loader does not find names the Debian package that has it, where the host can tell: real ELF
// binaries built with gcc against a library that is then deleted, the host's real dpkg, apt's own apt-helper reading
// Contents indexes (written here in apt's format, since this host's apt fetches none), and the built CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { findLibraryOwners } from '../../src/host/deb-owner.js';
import { hostArchNames } from '../../src/host/arch.js';
import { elfClosure, librariesNotFound } from '../../src/runtime/elf-closure.js';
import { isNisoError, type NisoError } from '../../src/errors/niso-error.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const MULTIARCH = hostArchNames()!.multiarch;
const DEB_ARCH = hostArchNames()!.debian;

/** An executable linked against a library of that soname, which is deleted afterwards: the loader cannot find it. */
function binaryNeeding(dir: string, soname: string, name = 'app'): string {
  writeFileSync(join(dir, 'lib.c'), 'int niso_answer(void) { return 42; }\n');
  writeFileSync(join(dir, 'main.c'), '#include <stdio.h>\nint niso_answer(void);\nint main(void) { printf("%d\\n", niso_answer()); return 0; }\n');
  const cc = (args: string[]) => {
    const r = spawnSync('gcc', args, { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `gcc ${args.join(' ')}: ${r.stderr}`);
  };
  cc(['-shared', '-fPIC', `-Wl,-soname,${soname}`, '-o', soname, 'lib.c']);
  cc(['-o', name, 'main.c', `-l:${soname}`, '-L.']);
  rmSync(join(dir, soname));
  return join(dir, name);
}

const rejects = async (p: Promise<unknown>): Promise<NisoError> => {
  try { await p; } catch (e) { if (isNisoError(e)) return e; throw e; }
  throw new Error('expected a NisoError');
};

const noLists = () => { const d = join(tempDir(), 'lists'); mkdirSync(d); return d; };

test('a library no source knows: the error says so and how to find its package (apt-file)', async () => {
  const app = binaryNeeding(tempDir(), 'libniso-absent.so.1');
  assert.deepEqual(await librariesNotFound(app), ['libniso-absent.so.1']);
  const [o] = await findLibraryOwners(['libniso-absent.so.1'], { listsDir: noLists() });
  assert.deepEqual(o, { name: 'libniso-absent.so.1', installed: [], available: [] });
  const e = await rejects(elfClosure(app));
  assert.equal(e.code, 'NISO3003');
  assert.match(e.message, /needs the shared library libniso-absent\.so\.1 \(this host cannot tell which Debian package has it\), which the host's loader does not find/);
  assert.match(e.hint ?? '', /apt-file search libniso-absent\.so\.1/);
});

test('a library an installed package has where the loader does not look: dpkg -S names the package', async () => {
  // glibc's iconv modules live in gconv/, which is not a library directory of the loader.
  const gconv = `/usr/lib/${MULTIARCH}/gconv/libJIS.so`;
  assert.ok(existsSync(gconv), `${gconv} comes with libc6 on every Debian host`);
  const app = binaryNeeding(tempDir(), 'libJIS.so');
  const e = await rejects(elfClosure(app));
  assert.equal(e.code, 'NISO3003');
  assert.match(e.message, new RegExp(`libJIS\\.so \\(the installed Debian package libc6 has a file of that name, ${gconv.replace(/\./g, '\\.')}, where the loader does not look\\)`));
  assert.match(e.hint ?? '', /ld\.so\.conf\.d/);
});

test('apt\'s Contents indexes name the package that ships it, compressed or not, the multiarch directory first', async () => {
  const lists = noLists();
  const contents = [
    'FILE                                                    LOCATION',
    `usr/share/doc/libniso-absent1/libniso-absent.so.1.txt  doc/libniso-absent1-doc`,
    `usr/lib/debug/libniso-absent.so.1                     debug/libniso-absent1-dbgsym`,
    `usr/lib/${MULTIARCH}/libniso-absent.so.1              libs/libniso-absent1,non-free/libs/libniso-absent1-alt`,
    `usr/lib/${MULTIARCH}/libniso-other.so.2               libs/libniso-other2`,
    '',
  ].join('\n');
  writeFileSync(join(lists, `deb.debian.org_debian_dists_bookworm_main_Contents-${DEB_ARCH}.gz`), gzipSync(contents));
  // Another architecture's index is not read.
  writeFileSync(join(lists, 'deb.debian.org_debian_dists_bookworm_main_Contents-s390x'), `usr/lib/s390x-linux-gnu/libniso-s390.so.1 libs/wrong\n`);
  writeFileSync(join(lists, `deb.debian.org_debian_dists_bookworm-updates_main_Contents-${DEB_ARCH}`), `usr/lib/${MULTIARCH}/libniso-other.so.2 libs/libniso-other2\n`);
  const got = await findLibraryOwners(['libniso-absent.so.1', 'libniso-other.so.2', 'libniso-s390.so.1'], { listsDir: lists });
  assert.deepEqual(got[0]!.available, [
    { package: 'libniso-absent1', path: `/usr/lib/${MULTIARCH}/libniso-absent.so.1` },
    { package: 'libniso-absent1-alt', path: `/usr/lib/${MULTIARCH}/libniso-absent.so.1` },
    { package: 'libniso-absent1-dbgsym', path: '/usr/lib/debug/libniso-absent.so.1' },
  ]);
  assert.deepEqual(got[1]!.available, [{ package: 'libniso-other2', path: `/usr/lib/${MULTIARCH}/libniso-other.so.2` }]);
  assert.deepEqual(got[2]!.available, []);
});

test('the lookup is bounded in time: a Contents index that never ends is given up, with no process left', async () => {
  const lists = noLists();
  const fifo = join(lists, `deb.debian.org_debian_dists_bookworm_main_Contents-${DEB_ARCH}`);
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const t0 = Date.now();
  const [o] = await findLibraryOwners(['libniso-absent.so.1'], { listsDir: lists, timeoutMs: 1500 });
  const took = Date.now() - t0;
  assert.ok(took < 10_000, `gave up after ${took} ms`);
  assert.deepEqual(o!.available, []);
  const left = spawnSync('pgrep', ['-f', fifo], { encoding: 'utf8' }).stdout.trim();
  assert.equal(left, '', 'the reader of the FIFO was killed with its process group');
});

test('names from a hostile DT_NEEDED are not handed to dpkg or grep as patterns', async () => {
  const got = await findLibraryOwners(['*', 'libc.so.6 --version', '../../etc/passwd'], { listsDir: noLists() });
  assert.deepEqual(got.map((o) => [o.name, o.installed.length, o.available.length]), [['*', 0, 0], ['libc.so.6 --version', 0, 0], ['../../etc/passwd', 0, 0]]);
});

function niso(args: string[], env: Record<string, string>, cwd = '/'): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, timeout: 120_000 }, (e, out, err) => res({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err }));
  });
}

test('niso pack --binary warns with the library and what to do; niso run refuses with NISO3003, without a stack trace', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const build = join(dir, 'build');
  mkdirSync(build);
  binaryNeeding(build, 'libniso-absent.so.1', 'my_app');
  const app = join(dir, 'app');
  await writeTree(app, { 'manifest.toml': '[package]\nname = "my-app"\nversion = "0.1.0"\n\n[binary]\nentrypoint = "bin/my-app"\n\n[network]\nmode = "none"\n' });
  const pack = await niso(['pack', app, '--binary', join(build, 'my_app'), '-o', join(dir, 'a.niso'), '--json'], { NISO_ROOT: root });
  assert.equal(pack.code, 0, pack.err);
  const r = JSON.parse(pack.out) as { warnings: string[]; binary: { path: string } };
  assert.equal(r.binary.path, 'bin/my-app');
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /^bin\/my-app needs the shared library libniso-absent\.so\.1 \(this host cannot tell which Debian package has it\), which this host's loader does not find: the package starts only on hosts that have it \(elsewhere NISO3003\); find the package with `apt-file search libniso-absent\.so\.1`/);
  assert.match(pack.err, /^warning: bin\/my-app needs the shared library libniso-absent\.so\.1/m);

  const run = await niso(['run', join(dir, 'a.niso')], { NISO_ROOT: root });
  assert.equal(run.code, 1, run.err);
  assert.match(run.err, /NISO3003.*libniso-absent\.so\.1 \(this host cannot tell which Debian package has it\)/);
  assert.match(run.err, /apt-file search libniso-absent\.so\.1/);
  assert.doesNotMatch(run.err, /\n\s+at /, 'no stack trace');
});
