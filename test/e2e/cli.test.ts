// The built `niso` command as a user runs it: the whole init → pack → install → list →
// inspect → remove → gc path with --json, error output and exit codes, and a lean start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_MANIFEST, tempDir, writeTree } from '../helpers/tmp.js';
import { appEntries, craftPackage, indexFor } from '../helpers/craft.js';

const ROOT_DIR = join(import.meta.dirname, '../..');
const BIN = join(ROOT_DIR, 'bin/niso');

function niso(args: string[], opts: { cwd: string; root: string; env?: Record<string, string> }) {
  // The timeout only keeps a hang from stalling the suite; no test asserts on speed.
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd, encoding: 'utf8', env: { ...process.env, NISO_ROOT: opts.root, ...opts.env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
}

test('init, pack, install, list, inspect, remove and gc work end to end with --json', () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const app = join(dir, 'shop');
  const env = { cwd: app, root };
  mkdirSync(app, { recursive: true });
  const init = niso(['init', '--template', 'node'], env);
  assert.equal(init.code, 0, init.stderr);

  const pack = niso(['pack', '--json'], env);
  assert.equal(pack.code, 0, pack.stderr);
  const p = pack.json();
  assert.equal(p.name, 'shop');
  assert.match(p.digest, /^sha256:[0-9a-f]{64}$/);
  assert.equal(p.file, join(app, `shop-${p.version}-${p.arch}.niso`));

  const quiet = niso(['pack', '-q'], env);
  assert.equal(quiet.stdout.trim(), p.digest, 'packing again gives the same digest');

  const ins = niso(['install', p.file, '--json'], env);
  assert.equal(ins.code, 0, ins.stderr);
  assert.equal(ins.json().digest, p.digest);
  assert.equal(ins.json().alreadyInstalled, false);
  assert.match(niso(['install', p.file], env).stdout, /already installed/);

  const list = niso(['list', '--json'], env).json();
  assert.equal(list.length, 1);
  assert.deepEqual([list[0].name, list[0].digest], ['shop', p.digest]);
  const table = niso(['list'], env).stdout;
  assert.match(table, /^NAME\s+VERSION\s+ARCH\s+DIGEST\s+SIZE\s+INSTALLED\s+SERVICES$/m);
  assert.match(table, new RegExp(`^shop\\s+${p.version.replace(/\./g, '\\.')}\\s+`, 'm'));

  const insp = niso(['inspect', 'shop', '--json'], env).json();
  assert.equal(insp.source, 'store');
  assert.equal(insp.manifest.package.name, 'shop');
  assert.ok(insp.entries.some((e: { path: string }) => e.path === 'server.js'));
  const fromFile = niso(['inspect', p.file, '--json'], env).json();
  assert.equal(fromFile.source, 'file');
  assert.equal(fromFile.digest, p.digest);
  assert.match(niso(['inspect', 'shop', '--files'], env).stdout, /server\.js/);

  const rm = niso(['remove', 'shop', '--json'], env);
  assert.equal(rm.code, 0, rm.stderr);
  assert.equal(rm.json().removed[0].name, 'shop');
  assert.deepEqual(niso(['list', '--json'], env).json(), []);
  // remove left nothing in the store's pool; gc empties only the digests each pack remembered for a later push.
  const digests = join(root, 'var/lib/niso/cache/package-digests');
  const remembered = readdirSync(digests).filter((n) => n.endsWith('.json')).length;
  assert.equal(remembered, 2, 'one digest per pack (the second replaced the file: another inode)');
  assert.equal(niso(['gc', '--json'], env).json().freedFiles, remembered);
  assert.deepEqual(readdirSync(digests).filter((n) => n.endsWith('.json')), []);
});

test('a fix packed under the same version: install refuses it with the flag to use; --replace removes the earlier build no service uses', () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const app = join(dir, 'shop');
  const env = { cwd: app, root };
  mkdirSync(app, { recursive: true });
  assert.equal(niso(['init', '--template', 'node'], env).code, 0);
  const first = niso(['pack', '--json'], env).json();
  assert.equal(niso(['install', first.file], env).code, 0);
  writeFileSync(join(app, 'server.js'), `${readFileSync(join(app, 'server.js'), 'utf8')}// the fix\n`);
  const fix = niso(['pack', '--json'], env).json();
  assert.equal(fix.version, first.version);
  assert.notEqual(fix.digest, first.digest);

  const refused = niso(['install', fix.file], env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`error NISO2206: .*shop ${first.version} is already installed as another build \\(${first.digest.slice(0, 19)}\\); this package is ${fix.digest.slice(0, 19)}\n {2}hint: to replace the installed build: \`niso install --replace `));
  assert.deepEqual(niso(['list', '--json'], env).json().map((p: { digest: string }) => p.digest), [first.digest]);

  const replaced = niso(['install', '--replace', fix.file, '--json'], env);
  assert.equal(replaced.code, 0, replaced.stderr);
  assert.equal(replaced.json().digest, fix.digest);
  assert.deepEqual(replaced.json().replaced, [{ digest: first.digest, removed: true, usedBy: [] }]);
  assert.deepEqual(niso(['list', '--json'], env).json().map((p: { digest: string }) => p.digest), [fix.digest]);
  assert.match(niso(['install', '--replace', fix.file], env).stdout, /already installed/, '--replace of the installed build changes nothing');
});

test('bad input exits 2 with every diagnostic on stderr, and as JSON on stdout with --json', () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  mkdirSync(join(dir, 'app'));
  writeFileSync(join(dir, 'app/manifest.toml'), '[package]\nname = "x"\nversion = "1.0"\n\n[binary]\nentrypoint = "node"\n\n[network]\nports = ["80:80x"]\n');
  const r = niso(['pack', 'app'], { cwd: dir, root });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error NISO1102: .*manifest\.toml:3:11: package\.version: "1\.0" is not a semantic version\n {2}hint: write MAJOR\.MINOR\.PATCH, e\.g\. "1\.0\.0"/);
  assert.match(r.stderr, /error NISO1201: .*manifest\.toml:9:10: network\.ports\[0\]/);
  const j = niso(['pack', 'app', '--json'], { cwd: dir, root });
  assert.equal(j.code, 2);
  assert.deepEqual(j.json().error.diagnostics.map((d: { code: string; line: number }) => [d.code, d.line]), [['NISO1102', 3], ['NISO1201', 9]]);

  const missing = niso(['inspect', 'nothing-here'], { cwd: dir, root });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /error NISO2201: no installed package matches "nothing-here"\n {2}hint: /);

  const usage = niso(['pakc'], { cwd: dir, root });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /NISO9001: unknown command 'pakc'/);
  assert.match(usage.stderr, /pack/);
});

test('pack reads only a regular manifest.toml: a FIFO or /dev/zero is refused at once, with NISO1409', () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const fifo = join(dir, 'fifo-app');
  mkdirSync(fifo);
  execFileSync('mkfifo', [join(fifo, 'manifest.toml')]);
  const zero = join(dir, 'zero-app');
  mkdirSync(zero);
  symlinkSync('/dev/zero', join(zero, 'manifest.toml'));
  for (const [app, what] of [[fifo, 'a FIFO'], [zero, 'a device']] as const) {
    const r = niso(['pack', app], { cwd: dir, root });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, `error NISO1409: ${join(app, 'manifest.toml')}: not a regular file but ${what}\n  hint: make manifest.toml a regular file (a symlink to one is fine)\n`);
  }
});

test('pack -o replaces only a regular file: a device, a directory, a symlink or a FIFO is refused before any work', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const app = join(dir, 'app');
  await writeTree(app, { 'manifest.toml': NODE_MANIFEST('out'), 'server.js': 'x' });
  const out = join(dir, 'out');
  mkdirSync(out);
  // A private stand-in for /dev/null (the same device numbers): the real one as root was replaced.
  execFileSync('mknod', [join(out, 'null'), 'c', '1', '3']);
  execFileSync('mkfifo', [join(out, 'fifo')]);
  mkdirSync(join(out, 'dir'));
  writeFileSync(join(out, 'target.txt'), 'keep me');
  symlinkSync('target.txt', join(out, 'link'));
  const rows: [string, RegExp][] = [
    ['null', /is a device; niso pack replaces only a regular file\n {2}hint: give a path that does not exist yet or is a regular file/],
    ['fifo', /is a FIFO; niso pack replaces only a regular file/],
    ['dir', new RegExp(`is a directory; niso pack replaces only a regular file\\n {2}hint: to write into the directory, name the file: -o ${join(out, 'dir', 'out-1.0.0-')}`)],
    ['link', new RegExp(`is a symlink \\(to target\\.txt\\); niso pack replaces only a regular file\\n {2}hint: to write where it points, pass that path: -o ${join(out, 'target.txt')}`)],
    ['missing/x.niso', /missing is not a directory, so .* cannot be written/],
  ];
  for (const [name, message] of rows) {
    const r = niso(['pack', app, '-o', join(out, name)], { cwd: dir, root });
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.match(r.stderr, /^error NISO2008: /);
    assert.equal(r.stderr.split('\n')[0]!.split(join(out, name)).length, 2, `the output path is said once: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.ok(lstatSync(join(out, 'null')).isCharacterDevice() && lstatSync(join(out, 'fifo')).isFIFO() && lstatSync(join(out, 'link')).isSymbolicLink() && lstatSync(join(out, 'dir')).isDirectory());
  assert.equal(readFileSync(join(out, 'target.txt'), 'utf8'), 'keep me');
  // A regular file is replaced; no temporary file is left next to any output.
  const ok = niso(['pack', app, '-o', join(out, 'target.txt')], { cwd: dir, root });
  assert.equal(ok.code, 0, ok.stderr);
  assert.notEqual(readFileSync(join(out, 'target.txt'), 'utf8'), 'keep me');
  assert.deepEqual(readdirSync(out).sort(), ['dir', 'fifo', 'link', 'null', 'target.txt']);
  assert.deepEqual(readdirSync(join(out, 'dir')), []);
});

test('a manifest bomb (one key of 100,000 parts) is refused with its place by pack, install and inspect', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const bomb = `[package]\nname = "bomb"\nversion = "1.0.0"\narch = "any"\n\n[binary]\nentrypoint = "node"\n\n[env]\n${Array(100_000).fill('a').join('.')} = "1"\n`;
  await writeTree(join(dir, 'app'), { 'manifest.toml': bomb, 'server.js': 'x' });
  const pack = niso(['pack', 'app'], { cwd: dir, root });
  assert.equal(pack.code, 2, pack.stderr);
  assert.match(pack.stderr, /error NISO1406: .*app\/manifest\.toml:10:32: a dotted key or table name has more than 16 parts\n {2}hint: /);
  const file = join(dir, 'bomb.niso');
  await craftPackage(file, indexFor({ 'server.js': 'x' }, { manifest: bomb, name: 'bomb' }), appEntries({ 'server.js': 'x' }), { manifest: bomb });
  for (const cmd of [['install', file], ['inspect', file]]) {
    const r = niso(cmd, { cwd: dir, root });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /error NISO2111: .*its manifest does not validate:\nerror NISO1406: .*bomb\.niso!manifest\.toml:10:32: /);
  }
});

test('a reader that goes away (niso --help | head -1) ends niso quietly with status 141, as SIGPIPE ends other tools', async () => {
  const dir = tempDir();
  for (const args of [['--help'], ['explain'], ['explain', '--json'], ['list', '--json']]) {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, NISO_ROOT: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    // The reading end is closed before niso has even started, so its first write meets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const code = await new Promise((res) => child.on('close', res));
    assert.equal(stderr, '', `niso ${args.join(' ')}`);
    assert.equal(code, 141, `niso ${args.join(' ')}`);
  }
});

test('as another user, every command works or says that niso needs root, naming the path; none ends in an internal error', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const app = join(dir, 'app');
  await writeTree(app, { 'manifest.toml': NODE_MANIFEST('hello', '1.0.0', '\n[network]\nmode = "none"\n'), 'server.js': 'setInterval(() => {}, 1000)\n' });
  const asRoot = (args: string[]) => { const r = niso(args, { cwd: dir, root }); assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`); };
  asRoot(['pack', app, '-o', join(dir, 'hello.niso')]);
  asRoot(['install', join(dir, 'hello.niso')]);
  asRoot(['activate', 'hello', '--name', 'svc']);
  try {
    chmodSync(dir, 0o755);
    const nobody = (args: string[]) => {
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', BIN, ...args], { cwd: '/', encoding: 'utf8', env: { ...process.env, NISO_ROOT: root }, timeout: 120_000 });
      return { code: r.status, stderr: r.stderr };
    };
    const needsRoot = [
      ['install', join(dir, 'hello.niso')], ['gc'], ['remove', 'hello'], ['run', 'hello'], ['activate', 'hello', '--name', 'other'],
      ['deactivate', 'svc'], ['restart', 'svc'], ['status'], ['list'], ['logs', 'svc'], ['inspect', 'svc'], ['stats', '--no-stream'],
      ['top', 'svc'], ['exec', 'svc', '--', 'node', '-e', '1'], ['debug', 'svc'], ['boot'], ['net', 'create', 'x'], ['net', 'prune'],
      ['runtime', 'add', 'nodejs:20', process.execPath],
    ];
    for (const args of needsRoot) {
      const r = nobody(args);
      assert.equal(r.code, 1, `niso ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^error NISO9004: \/\S+: niso needs root: permission denied \(\w+\)\n {2}hint: niso runs as uid 65534; run it as root/, `niso ${args.join(' ')}`);
    }
    for (const args of [['--version'], ['explain', 'NISO9004'], ['inspect', join(dir, 'hello.niso')], ['runtime', 'list']]) {
      const r = nobody(args);
      assert.equal(r.code, 0, `niso ${args.join(' ')}: ${r.stderr}`);
    }
  } finally {
    asRoot(['deactivate', 'svc']);
  }
});

test('text from a package is printed with its control characters escaped (inspect, inspect --files, errors); --json keeps it as it is', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const app = join(dir, 'app');
  const description = '\u001b]0;pwned\u0007\u001b[2Jcleared';
  const manifest = NODE_MANIFEST('shady', '1.0.0', '').replace('version = "1.0.0"\n', `version = "1.0.0"\ndescription = ${JSON.stringify(description)}\nlicense = "MIT\\u001b[31m"\nhomepage = "http://x/\\u009b8m"\nauthors = ["Eve \\u202egnp.exe"]\n`) + '\n[env]\nMOVE = "\\u001b[1A"\n';
  await writeTree(app, { 'manifest.toml': manifest, 'server.js': 'x', 'evil\u001b[2Jname.js': 'x' });
  const file = join(dir, 'shady.niso');
  const pack = niso(['pack', app, '-o', file], { cwd: dir, root });
  assert.equal(pack.code, 0, pack.stderr);
  assert.equal(niso(['install', file], { cwd: dir, root }).code, 0);
  // Any control character but the line break, or a bidi override.
  // eslint-disable-next-line no-control-regex -- finding them is the point
  const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;
  for (const ref of [file, 'shady']) {
    const r = niso(['inspect', ref, '--files'], { cwd: dir, root });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, raw, `inspect ${ref}`);
    for (const shown of ['\\x1b]0;pwned\\x07\\x1b[2Jcleared', 'MIT\\x1b[31m', 'http://x/\\x9b8m', 'Eve \\u202egnp.exe', 'MOVE=\\x1b[1A', 'evil\\x1b[2Jname.js']) {
      assert.ok(r.stdout.includes(shown), `inspect ${ref} shows ${shown}:\n${r.stdout}`);
    }
    assert.equal(JSON.parse(niso(['inspect', ref, '--json'], { cwd: dir, root }).stdout).manifest.package.description, description);
  }
  await writeTree(join(dir, 'bad'), { 'manifest.toml': NODE_MANIFEST('x').replace('name = "x"', 'name = "\\u001b[2Jx"'), 'server.js': 'x' });
  const bad = niso(['pack', join(dir, 'bad')], { cwd: dir, root });
  assert.equal(bad.code, 2);
  assert.doesNotMatch(bad.stderr, raw);
  assert.match(bad.stderr, /error NISO1101: .*"\\x1b\[2Jx" is not a valid package name/);
});

test('niso explain describes codes; --version prints the version', () => {
  const dir = tempDir();
  const e = niso(['explain', 'NISO2102'], { cwd: dir, root: dir });
  assert.equal(e.code, 0);
  assert.match(e.stdout, /^NISO2102: unsafe path in package\n\n/);
  assert.equal(niso(['explain', '1002', '--json'], { cwd: dir, root: dir }).json().code, 'NISO1002');
  assert.equal(niso(['explain', 'NISO0000'], { cwd: dir, root: dir }).code, 2);
  const all = niso(['explain', '--json'], { cwd: dir, root: dir }).json() as { code: string }[];
  assert.ok(all.length > 40);
  const pkg = JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8'));
  assert.equal(niso(['--version'], { cwd: dir, root: dir }).stdout.trim(), pkg.version);
});

test('start-up loads no parser: --version and list need only the entry chunk and small shared chunks', () => {
  // Follow the static imports of the bundle's entry; what they reach is loaded on every start.
  const dist = join(ROOT_DIR, 'dist');
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^import\s[^'"]*?["'](\.\/[^"']+|\.\.\/[^"']+)["'];?$/gm)) visit(join(file, '..', m[1]!));
    for (const m of text.matchAll(/^import\s*["'](\.\/[^"']+|\.\.\/[^"']+)["'];?$/gm)) visit(join(file, '..', m[1]!));
  };
  visit(join(dist, 'niso.mjs'));
  const startup = [...seen].map((f) => readFileSync(f, 'utf8')).join('\n');
  assert.ok(!startup.includes('toml-eslint-parser') && !/TOMLTopLevelTable/.test(startup), 'the TOML parser is not loaded at start-up');
  assert.ok(!/\$ZodType|ZodObject/.test(startup), 'zod is not loaded at start-up');
  const bytes = startup.length;
  assert.ok(bytes < 400_000, `start-up code is ${bytes} bytes`);
  assert.ok(readdirSync(join(dist, 'chunks')).length > 3, 'commands are split into lazily loaded chunks');
});
