// The host side of [isolation] tools on this host's real programs: found in the system's bin directories with their
// library closure, and refused with the manifest's field and line when the host cannot give one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNisoError } from '../../src/errors/niso-error.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { resolveTools } from '../../src/sandbox/tools.js';
import { tempDir } from '../helpers/tmp.js';

const skip = !existsSync('/bin/sh') || !existsSync('/usr/bin/env') ? 'the host has no /bin/sh or /usr/bin/env' : false;

function manifestWith(tools: string): { manifest: NonNullable<ReturnType<typeof parseManifest>['manifest']>; file: string } {
  const file = join(tempDir(), 'manifest.toml');
  const text = `[package]\nname = "t"\nversion = "1.0.0"\n\n[binary]\nentrypoint = "bin/t"\n\n[isolation]\ntools = [\n  ${tools}\n]\n`;
  writeFileSync(file, text);
  const r = parseManifest(text, file);
  assert.ok(r.manifest, JSON.stringify(r.diagnostics));
  return { manifest: r.manifest, file };
}

test('tools: sh and env are found on the host, as their real files, with the loader and libc', { skip }, async () => {
  const { manifest, file } = manifestWith('"sh", "env"');
  const tools = await resolveTools(manifest, file);
  assert.deepEqual(tools.map((t) => t.name), ['sh', 'env']);
  assert.equal(tools[0]!.source, realpathSync('/bin/sh'));
  for (const t of tools) {
    assert.ok(t.libraries.some((l) => /\/libc\.so\.6$/.test(l.target)), `${t.name} loads libc`);
    assert.ok(t.libraries.some((l) => /ld-linux/.test(l.target)), `${t.name} needs the loader`);
  }
});

test('tools: a program the host lacks is NISO3106 at its line in the manifest', { skip }, async () => {
  const { manifest, file } = manifestWith('"sh",\n  "niso-no-such-tool"');
  await assert.rejects(resolveTools(manifest, file), (e: unknown) => isNisoError(e) && e.code === 'NISO3106' && e.file === file && e.line === 11 && e.column === 3
    && /isolation\.tools\[1\]: the tool "niso-no-such-tool" is not on this host/.test(e.message) && (e.hint ?? '') !== '');
});

test('tools: a script is taken only with its interpreter among the tools', { skip: skip || (!existsSync('/usr/bin/zcat') && 'no zcat script on this host') }, async () => {
  const alone = manifestWith('"zcat"');
  await assert.rejects(resolveTools(alone.manifest, alone.file), (e: unknown) => isNisoError(e) && e.code === 'NISO3106' && /is a script for \/bin\/sh/.test(e.message) && /add "sh"/.test(e.hint ?? ''));
  const withShell = manifestWith('"zcat", "sh"');
  const tools = await resolveTools(withShell.manifest, withShell.file);
  assert.deepEqual(tools.find((t) => t.name === 'zcat')?.libraries, [], 'a script has no libraries of its own');
});

test('tools: a program whose library the host lacks is NISO3106 at its line, naming what has the library', { skip: skip || (!existsSync('/usr/bin/true') && 'no /usr/bin/true to stand in for') }, async () => {
  // A real ELF linked against a library that is then deleted, put in place of /usr/bin/true in a mount namespace of
  // its own (the host's /usr/bin is left alone), where the built CLI plans a run of an app that asks for "true".
  const dir = tempDir();
  writeFileSync(join(dir, 'lib.c'), 'int niso_answer(void) { return 42; }\n');
  writeFileSync(join(dir, 'main.c'), 'int niso_answer(void);\nint main(void) { return niso_answer() == 42 ? 0 : 1; }\n');
  for (const args of [['-shared', '-fPIC', '-Wl,-soname,libniso-tool-absent.so.1', '-o', 'libniso-tool-absent.so.1', 'lib.c'], ['-o', 'tool', 'main.c', '-l:libniso-tool-absent.so.1', '-L.']]) {
    assert.equal(spawnSync('gcc', args, { cwd: dir }).status, 0, `gcc ${args.join(' ')}`);
  }
  rmSync(join(dir, 'libniso-tool-absent.so.1'));
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'manifest.toml'), `[package]\nname = "t"\nversion = "1.0.0"\n\n[runtime]\nuse = "nodejs:${process.versions.node.split('.')[0]}"\n\n[binary]\nentrypoint = "node"\nargs = ["main.js"]\n\n[isolation]\ntools = [\n  "sh",\n  "true"\n]\n`);
  writeFileSync(join(app, 'main.js'), '\n');
  const bin = join(import.meta.dirname, '../../bin/niso');
  const r = spawnSync('unshare', ['--mount', '--propagation', 'slave', '--', 'sh', '-c', 'mount --bind "$1" /usr/bin/true && exec "$2" "$3" run --dry-run "$4"', 'sh', join(dir, 'tool'), process.execPath, bin, app], {
    encoding: 'utf8', env: { ...process.env, NISO_ROOT: join(dir, 'root') }, timeout: 120_000,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /error NISO3106: .*manifest\.toml:15:3: isolation\.tools\[1\]: the tool "true" \(\/usr\/bin\/true\) cannot run here: .*needs the shared library libniso-tool-absent\.so\.1 \(this host cannot tell which Debian package has it\)/);
  assert.match(r.stderr, /hint: find the package with `apt-file search libniso-tool-absent\.so\.1`/);
  assert.equal(spawnSync('/usr/bin/true').status, 0, 'the host\'s own true is untouched');
});
