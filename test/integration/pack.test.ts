// niso pack: byte-identical output from differently made copies of one tree, and the rules on
// what may go into a package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, readFile, utimes, writeFile, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { packApp } from '../../src/package/pack.js';
import { readPackageHead } from '../../src/package/read-package.js';
import { isNisoError } from '../../src/errors/niso-error.js';
import { NODE_MANIFEST, tempDir, writeTree, type TreeSpec } from '../helpers/tmp.js';

const APP: TreeSpec = {
  'manifest.toml': NODE_MANIFEST(),
  'server.js': 'require("http").createServer((q, s) => s.end("hi")).listen(3000)\n',
  'package.json': '{"name":"hello"}\n',
  'node_modules/dep/index.js': 'module.exports = 42\n',
  'node_modules/dep/package.json': '{"name":"dep","main":"index.js"}\n',
  'node_modules/.bin/dep': { symlink: '../dep/index.js' },
  'bin/run.sh': { content: '#!/bin/sh\nexec node server.js\n', mode: 0o755 },
  'docs/ä ö & spaces.md': 'unicode names survive\n',
  [`deep/${'d'.repeat(120)}/${'f'.repeat(120)}.txt`]: 'a path longer than 100 bytes needs a pax header\n',
};

const PINNED = { digest: 'sha256:f3fed60d4e6dbc8cf2f5332befa631aacc5f4fb06982631c4b7eb2108b3f387a', tarSha: 'f089b6500acf6828d56ff3ca114db55271cc68ea81b780953ad42e97491d9047', tarBytes: 18944 };

const pathsOf = async (file: string) => (await readPackageHead(file)).index.entries.map((e) => e.path);

test('packing two differently made copies gives byte-identical packages', async () => {
  const dir = tempDir();
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  await writeTree(a, APP);
  // Copy b: files created in the opposite order, other modes for non-executables, other owner, other mtimes.
  const oldUmask = process.umask(0o002);
  try { await writeTree(b, APP, 'reversed'); } finally { process.umask(oldUmask); }
  await chmod(join(b, 'server.js'), 0o664);
  await chmod(join(b, 'bin/run.sh'), 0o775);
  await chown(join(b, 'package.json'), 1234, 5678);
  await utimes(join(b, 'server.js'), new Date('2001-02-03'), new Date('2001-02-03'));
  await utimes(join(a, 'node_modules/dep/index.js'), new Date('2030-01-01'), new Date('2030-01-01'));

  const ra = await packApp({ appDir: a, cwd: dir, output: join(dir, 'a.niso') });
  const rb = await packApp({ appDir: b, cwd: dir, output: join(dir, 'b.niso') });
  assert.equal(ra.digest, rb.digest);
  assert.match(ra.digest, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(await readFile(join(dir, 'a.niso')), await readFile(join(dir, 'b.niso')), 'the .niso files are byte-identical');

  // The package holds exactly what a user expects, in sorted order, and normalised modes.
  const head = await readPackageHead(join(dir, 'a.niso'));
  const files = Object.fromEntries(head.index.entries.map((e) => [e.path, e]));
  assert.equal(files['bin/run.sh']?.type === 'file' && files['bin/run.sh'].mode, 0o755);
  assert.equal(files['server.js']?.type === 'file' && files['server.js'].mode, 0o644);
  assert.deepEqual(files['node_modules/.bin/dep'], { path: 'node_modules/.bin/dep', type: 'symlink', target: '../dep/index.js' });
  assert.equal(files['manifest.toml'], undefined, 'the manifest is stored apart, as niso/manifest.toml');
  const paths = head.index.entries.map((e) => e.path);
  assert.deepEqual(paths, [...paths].sort());

  // GNU tar reads the archive and sees fixed owners and times.
  const listing = execFileSync('sh', ['-c', `zstd -dc ${join(dir, 'a.niso')} | tar --numeric-owner -tvf -`], { encoding: 'utf8' });
  for (const line of listing.trim().split('\n')) assert.match(line, / 0\/0 .* 1970-01-01 00:00 /, line);
  assert.ok(listing.includes('app/deep/'), 'long paths survive');
});

test('SOURCE_DATE_EPOCH sets the archive mtime but not the digest', async () => {
  const dir = tempDir();
  await writeTree(join(dir, 'app'), APP);
  const r0 = await packApp({ appDir: join(dir, 'app'), cwd: dir, output: join(dir, '0.niso') });
  const r1 = await packApp({ appDir: join(dir, 'app'), cwd: dir, output: join(dir, '1.niso'), sourceDateEpoch: 1700000000 });
  assert.equal(r0.digest, r1.digest);
  assert.notDeepEqual(await readFile(join(dir, '0.niso')), await readFile(join(dir, '1.niso')));
  const listing = execFileSync('sh', ['-c', `zstd -dc ${join(dir, '1.niso')} | tar -tvf - --utc`], { encoding: 'utf8' });
  assert.match(listing, /2023-11-14 22:13/);
});

test('default output name is NAME-VERSION-ARCH.niso in the current directory', async () => {
  const dir = tempDir();
  await writeTree(join(dir, 'app'), { ...APP, 'manifest.toml': NODE_MANIFEST('web', '2.0.1-rc.1', '') .replace('version = "2.0.1-rc.1"', 'version = "2.0.1-rc.1"\narch = "any"') });
  const r = await packApp({ appDir: join(dir, 'app'), cwd: dir });
  assert.equal(r.file, join(dir, 'web-2.0.1-rc.1-any.niso'));
});

test('.git, *.niso, .nisoignore and [copy] decide what is packed', async () => {
  const dir = tempDir();
  const app = join(dir, 'app');
  await writeTree(app, {
    'manifest.toml': NODE_MANIFEST('sel', '1.0.0', '\n[copy]\ninclude = ["server.js", "src", "node_modules/**", "public/*.html"]\nexclude = ["**/*.test.js", "node_modules/dev-only"]\n'),
    'server.js': 'x', 'README.md': 'not included', 'old.niso': 'never packed', '.git/HEAD': 'ref',
    'src/a.js': 'a', 'src/a.test.js': 'test', 'src/sub/b.js': 'b', '.nisoignore': 'src/sub/\n*.log\n',
    'src/debug.log': 'log', 'node_modules/x/index.js': 'x', 'node_modules/dev-only/index.js': 'dev',
    'public/index.html': 'h', 'public/app.css': 'c',
  });
  await packApp({ appDir: app, cwd: dir, output: join(dir, 'p.niso') });
  assert.deepEqual(await pathsOf(join(dir, 'p.niso')), ['node_modules', 'node_modules/x', 'node_modules/x/index.js', 'public', 'public/index.html', 'server.js', 'src', 'src/a.js']);
});

test('--binary adds the executable as bin/NAME and satisfies a runtime-less entrypoint', async () => {
  const dir = tempDir();
  const app = join(dir, 'app');
  await writeTree(app, { 'manifest.toml': '[package]\nname = "tool"\nversion = "0.1.0"\n\n[binary]\nentrypoint = "bin/tool"\n' });
  await writeTree(dir, { 'target/release/tool': { content: '\x7fELF fake', mode: 0o700 } });
  await assert.rejects(packApp({ appDir: app, cwd: dir, output: join(dir, 't.niso') }), (e: unknown) => isNisoError(e) && e.code === 'NISO2005');
  await packApp({ appDir: app, cwd: dir, binary: 'target/release/tool', output: join(dir, 't.niso') });
  const head = await readPackageHead(join(dir, 't.niso'));
  const tool = head.index.entries.find((e) => e.path === 'bin/tool');
  assert.ok(tool && tool.type === 'file' && tool.mode === 0o755);
  await assert.rejects(packApp({ appDir: app, cwd: dir, binary: 'target/release/nope' }), (e: unknown) => isNisoError(e) && e.code === 'NISO2004');
});

test('--binary lands at the entrypoint\'s path whatever the build named it (a Rust crate my_app, a template\'s bin/my-app)', async () => {
  const dir = tempDir();
  const app = join(dir, 'app');
  await writeTree(app, { 'manifest.toml': '[package]\nname = "my-app"\nversion = "0.1.0"\n\n[binary]\nentrypoint = "bin/my-app"\n' });
  await writeTree(dir, { 'target/release/my_app': { content: '\x7fELF fake', mode: 0o700 } });
  const r = await packApp({ appDir: app, cwd: dir, binary: 'target/release/my_app', output: join(dir, 't.niso') });
  assert.deepEqual(r.binary, { source: join(dir, 'target/release/my_app'), path: 'bin/my-app' });
  const head = await readPackageHead(join(dir, 't.niso'));
  assert.deepEqual(head.index.entries.filter((e) => e.type === 'file').map((e) => e.path), ['bin/my-app'], 'one file, named as the entrypoint');
});

test('a runtime-less entrypoint must be executable', async () => {
  const dir = tempDir();
  await writeTree(dir, { 'manifest.toml': '[package]\nname = "tool"\nversion = "0.1.0"\n\n[binary]\nentrypoint = "bin/tool"\n', 'bin/tool': 'not executable' });
  await assert.rejects(packApp({ appDir: dir, cwd: dir, output: join(dir, 't.niso') }), (e: unknown) => isNisoError(e) && e.code === 'NISO2005' && /chmod \+x/.test(e.hint ?? ''));
});

test('with a runtime, an entrypoint that is a path must be an executable file of the package too', async () => {
  const dir = tempDir();
  const manifest = NODE_MANIFEST('hello', '1.0.0', '', []).replace('entrypoint = "node"', 'entrypoint = "bin/start"');
  await writeTree(dir, { 'manifest.toml': manifest, 'server.js': 'x' });
  await assert.rejects(packApp({ appDir: dir, cwd: dir, output: join(dir, 't.niso') }), (e: unknown) => isNisoError(e) && e.code === 'NISO2005' && /it is a path/.test(e.message));
  await writeTree(dir, { 'bin/start': { content: '#!/usr/bin/node\n', mode: 0o644 } });
  await assert.rejects(packApp({ appDir: dir, cwd: dir, output: join(dir, 't.niso') }), (e: unknown) => isNisoError(e) && e.code === 'NISO2005' && /chmod \+x/.test(e.hint ?? ''));
  await chmod(join(dir, 'bin/start'), 0o755);
  await packApp({ appDir: dir, cwd: dir, output: join(dir, 't.niso') });
});

test('symlinks out of the app and special files are refused with a way out', async () => {
  const dir = tempDir();
  const app = join(dir, 'app');
  await writeTree(app, { 'manifest.toml': NODE_MANIFEST(), 'server.js': 'x' });
  await symlink('/etc/passwd', join(app, 'passwd'));
  await assert.rejects(packApp({ appDir: app, cwd: dir }), (e: unknown) => isNisoError(e) && e.code === 'NISO2002' && e.message.includes('passwd') && /exclude|nisoignore/.test(e.hint ?? ''));
  await writeFile(join(app, '.nisoignore'), 'passwd\n');
  await packApp({ appDir: app, cwd: dir, output: join(dir, 'ok.niso') });

  await mkdir(join(app, 'run'));
  await symlink('../../outside', join(app, 'run/up'));
  await assert.rejects(packApp({ appDir: app, cwd: dir }), (e: unknown) => isNisoError(e) && e.code === 'NISO2002');
  await writeFile(join(app, '.nisoignore'), 'passwd\nrun/\n');
  execFileSync('mkfifo', [join(app, 'queue')]);
  await assert.rejects(packApp({ appDir: app, cwd: dir }), (e: unknown) => isNisoError(e) && e.code === 'NISO2003' && e.message.includes('FIFO'));
});

test('a broken manifest stops pack with every diagnostic', async () => {
  const dir = tempDir();
  await writeTree(dir, { 'manifest.toml': '[package]\nname = "Bad Name"\nversion = "1"\n[binary]\nentrypiont = "node"\n' });
  await assert.rejects(packApp({ appDir: dir, cwd: dir }), (e: unknown) => {
    assert.ok(isNisoError(e));
    assert.equal(e.exitCode, 2);
    // The misspelt key is reported with its fix; the "missing entrypoint" it causes is not repeated.
    assert.deepEqual(e.diagnostics.map((d) => [d.code, d.line]), [['NISO1101', 2], ['NISO1102', 3], ['NISO1002', 5]]);
    assert.equal(e.diagnostics[2]?.hint, 'did you mean "entrypoint"?');
    return true;
  });
  await assert.rejects(packApp({ appDir: join(dir, 'nope'), cwd: dir }), (e: unknown) => isNisoError(e) && e.code === 'NISO2001');
  const empty = join(dir, 'empty');
  await mkdir(empty);
  await assert.rejects(packApp({ appDir: empty, cwd: dir }), (e: unknown) => isNisoError(e) && e.code === 'NISO1007');
});

/** Runs a shell script in `cwd`: names that are not UTF-8 and trees deeper than PATH_MAX need the raw syscalls. */
const sh = (cwd: string, script: string) => execFileSync('bash', ['-c', script], { cwd });
/** `mkdir -p` one level at a time with `cd`: no single path the script uses is longer than PATH_MAX. */
const deepDirs = (levels: number, name: string) => `for i in $(seq ${levels}); do mkdir ${name} && cd ${name}; done; echo x > f`;
const LONG = 'd'.repeat(250);

interface PackRefusal {
  name: string;
  code: string;
  /** The app directory, relative to the test's temp dir (long ones reach PATH_MAX sooner). */
  appDir?: string;
  setup(app: string): Promise<unknown> | unknown;
  /** What the message and the hint must say: the file, what is wrong, the way out. */
  message: RegExp;
  hint: RegExp;
  /** Following the hint makes pack succeed. */
  fix?(app: string): Promise<unknown> | unknown;
}

const refusals: PackRefusal[] = [
  { name: '.nisoignore is a directory', code: 'NISO2007', setup: (app) => mkdir(join(app, '.nisoignore')), message: /\.nisoignore is a directory/, hint: /rename or remove/,
    fix: (app) => sh(app, 'rmdir .nisoignore && echo "*.log" > .nisoignore') },
  { name: 'a file name that is not UTF-8', code: 'NISO2115', setup: (app) => sh(app, 'mkdir -p node_modules/fixture && echo x > node_modules/fixture/caf$\'\\xe9\'.txt'),
    message: /node_modules\/fixture\/caf\\xE9\.txt: the file name is not valid UTF-8/, hint: /add "node_modules\/fixture\/caf\*\.txt" to \.nisoignore/,
    fix: (app) => writeFile(join(app, '.nisoignore'), 'node_modules/fixture/caf*.txt\n') },
  { name: 'a directory name that is not UTF-8', code: 'NISO2115', setup: (app) => sh(app, 'mkdir -p $\'\\xff\\xfe\'data && echo x > $\'\\xff\\xfe\'data/a'),
    message: /\\xFF\\xFEdata: the file name is not valid UTF-8/, hint: /add "\*data" to \.nisoignore/,
    fix: (app) => writeFile(join(app, '.nisoignore'), '*data\n') },
  { name: 'a symlink target that is not UTF-8', code: 'NISO2115', setup: (app) => sh(app, 'ln -s caf$\'\\xe9\' link'),
    message: /link: the symlink's target "caf\\xE9" is not valid UTF-8/, hint: /add "link" to \.nisoignore/ },
  { name: 'a path longer than a package holds', code: 'NISO2116', setup: (app) => sh(app, `mkdir deep && cd deep && ${deepDirs(13, LONG)}`),
    message: /the path inside the app is 3\d{3} bytes long; packages hold paths of up to 3072 bytes/, hint: /add "deep\/d{250}\/"/,
    fix: (app) => writeFile(join(app, '.nisoignore'), 'deep/\n') },
  { name: 'an app path beyond PATH_MAX', code: 'NISO2116', appDir: Array(10).fill(LONG).join('/'), setup: (app) => sh(app, `mkdir deep && cd deep && ${deepDirs(8, LONG)}`),
    message: /the path is 4\d{3} bytes long, more than Linux allows for a path \(4095\)/, hint: /move the app to a shorter directory/ },
  { name: 'a symlink chain that leaves the app (b -> ., s -> b/..)', code: 'NISO2002', setup: async (app) => { await symlink('.', join(app, 'b')); await symlink('b/..', join(app, 's')); },
    message: /symlink "s" -> "b\/\.\." resolves outside the app through other symlinks/, hint: /add "s" to \[copy\] exclude/,
    fix: (app) => writeFile(join(app, '.nisoignore'), 's\n') },
];

for (const r of refusals) {
  test(`pack refuses: ${r.name}`, async () => {
    const dir = tempDir();
    const top = join(dir, 'app');
    try {
      // Directories longer than PATH_MAX are made by the shell, a level at a time.
      const rel = r.appDir ? `app/${r.appDir}` : 'app';
      sh(dir, `for p in ${rel.split('/').join(' ')}; do mkdir -p $p && cd $p; done`);
      const app = join(dir, rel);
      await writeTree(app, { 'manifest.toml': NODE_MANIFEST(), 'server.js': 'x' });
      await r.setup(app);
      await assert.rejects(packApp({ appDir: app, cwd: dir, output: join(dir, 'out.niso') }), (e: unknown) => {
        assert.ok(isNisoError(e), `expected a NisoError, got ${String(e)}`);
        assert.equal(e.code, r.code, `wrong code; message: ${e.message}`);
        assert.match(e.message, r.message);
        assert.match(e.hint ?? '', r.hint);
        return true;
      });
      if (r.fix) {
        await r.fix(app);
        await packApp({ appDir: app, cwd: dir, output: join(dir, 'out.niso') });
      }
    } finally {
      // Node's rm cannot remove a tree deeper than PATH_MAX; GNU rm walks it with openat.
      sh(dir, `rm -rf ${top}`);
    }
  });
}

test('the package format is what it was before the in-place tar codec: the same digest and the same tar bytes', async () => {
  // Pinned from the build before issue 17's header encoder (s26, 0828f4a): the tree above, with its pax paths,
  // unicode name, symlink, directories and an executable. The tar is compared decompressed, so a zstd upgrade
  // (whose frames may differ) does not move the pin; the digest is the index's.
  const dir = tempDir();
  await writeTree(join(dir, 'app'), APP);
  const r = await packApp({ appDir: join(dir, 'app'), cwd: dir, output: join(dir, 'p.niso') });
  const tar = execFileSync('zstd', ['-dc', join(dir, 'p.niso')]);
  const tarSha = createHash('sha256').update(tar).digest('hex');
  assert.deepEqual({ digest: r.digest, tarSha, tarBytes: tar.length }, PINNED);
});
