// Host runtimes for real: discovery, file closures that are enough to start the interpreter in an
// empty bubblewrap sandbox, and `niso runtime add|list|remove` against a temporary NISO_ROOT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { completeRuntime, discoverRuntime, probeRuntime } from '../../src/runtime/discover.js';
import { elfClosure } from '../../src/runtime/elf-closure.js';
import { isLoaderPath } from '../../src/runtime/ldd-output.js';
import { compareVersions } from '../../src/runtime/select.js';
import { readRuntimeConfig, resolveRuntime } from '../../src/runtime/registry.js';
import type { Mount, RuntimeInfo } from '../../src/runtime/types.js';
import { isNisoError, type NisoError } from '../../src/errors/niso-error.js';
import { layout } from '../../src/store/layout.js';
import type { Context } from '../../src/cli/context.js';
import { run as runtimeAdd } from '../../src/cli/commands/runtime-add.js';
import { run as runtimeList } from '../../src/cli/commands/runtime-list.js';
import { run as runtimeRemove } from '../../src/cli/commands/runtime-remove.js';
import { tempDir } from '../helpers/tmp.js';

const env = { PATH: process.env.PATH, HOME: process.env.HOME };
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** The host file the sandbox shows at `path`, following the mount that covers it. */
function hostPathOf(mounts: Mount[], path: string): string | undefined {
  const m = [...mounts].reverse().find((x) => path === x.target || path.startsWith(x.target + '/'));
  return m && m.source + path.slice(m.target.length);
}

function checkShape(r: RuntimeInfo): void {
  const targets = r.mounts.map((m) => m.target);
  assert.deepEqual(targets, [...targets].sort(), 'sorted by target');
  assert.equal(new Set(targets).size, targets.length, 'one mount per target');
  for (const m of r.mounts) assert.ok(existsSync(m.source), `${m.source} exists`);
  // Mounted at its command path, or visible through its directory (Java's bin/ inside java.home).
  assert.equal(realpathSync(hostPathOf(r.mounts, r.command)!), r.binary, 'the binary is visible at its command path');
  assert.ok(r.mounts.some((m) => /\/libc\.so\.6$/.test(m.target)), 'libc is in the closure');
  assert.ok(r.mounts.some((m) => isLoaderPath(m.target)), 'the dynamic loader is in the closure');
  for (const p of Object.values(r.commands)) assert.ok(hostPathOf(r.mounts, p), `${p} is mounted`);
}

/** Runs `argv` in a sandbox that has the runtime's mounts and nothing else: no /usr, no /etc. */
function inSandbox(r: RuntimeInfo, argv: string[]): { status: number | null; out: string } {
  const args = ['--unshare-all', '--die-with-parent', '--clearenv', '--proc', '/proc', '--dev', '/dev'];
  for (const m of r.mounts) args.push('--ro-bind', m.source, m.target);
  for (const [k, v] of Object.entries(r.env)) args.push('--setenv', k, v);
  const x = spawnSync('bwrap', [...args, ...argv], { encoding: 'utf8', timeout: 60_000 });
  return { status: x.status, out: (x.stdout ?? '') + (x.stderr ?? '') };
}

async function rejects(p: Promise<unknown>): Promise<NisoError> {
  try { await p; } catch (e) { if (isNisoError(e)) return e; throw e; }
  assert.fail('expected a NisoError');
}

test('node: the closure holds the binary, libc and the loader, and all of it exists', async () => {
  const nodes = await discoverRuntime('nodejs', { env });
  assert.ok(nodes.length >= 1, 'this host has node');
  for (const n of nodes) {
    checkShape(n);
    assert.equal(n.commands.node, n.command);
    assert.deepEqual(n.env, {});
  }
  assert.ok(nodes.some((n) => n.version === process.versions.node), 'the node running the tests is found');
});

test('node runs in a sandbox that has only its closure', { skip: !has('bwrap') }, async () => {
  for (const n of await discoverRuntime('nodejs', { env })) {
    const r = inSandbox(n, [n.commands.node!, '-e', 'console.log(process.version, require("node:fs").existsSync("/usr/bin/env"), require("node:fs").existsSync("/etc/passwd"))']);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out.trim(), `v${n.version} false false`);
  }
});

const PY_MODULES = ['json', 'ssl', 'sqlite3', 'hashlib', 'zlib', 'bz2', 'lzma', 'ctypes', 'decimal', 'socket', 'asyncio', 'uuid', 'datetime', 'zoneinfo', 'encodings.idna'];
const PY_SCRIPT = `import importlib
ok = []
for m in ${JSON.stringify(PY_MODULES)}:
    try:
        importlib.import_module(m); ok.append(m)
    except ImportError:
        pass
print(" ".join(ok))`;

function pythonPaths(command: string): { stdlib: string; dynload: string; site: string[] } {
  const x = spawnSync(command, ['-I', '-S', '-c', 'import sysconfig, json; p = sysconfig.get_paths(); print(json.dumps([p["stdlib"], sysconfig.get_config_var("DESTSHARED"), [p["purelib"], p["platlib"]]]))'], { encoding: 'utf8' });
  const [stdlib, dynload, site] = JSON.parse(x.stdout) as [string, string, string[]];
  return { stdlib, dynload, site };
}

test('python: the closure holds the standard library and lib-dynload, not site-packages', { skip: !has('python3') }, async () => {
  const pys = await discoverRuntime('python', { env });
  assert.ok(pys.length >= 1);
  for (const p of pys) {
    checkShape(p);
    assert.equal(p.commands.python3, p.command);
    const paths = pythonPaths(p.command);
    const os = hostPathOf(p.mounts, join(paths.stdlib, 'os.py'));
    assert.ok(os && existsSync(os), `${paths.stdlib}/os.py is visible`);
    const dyn = hostPathOf(p.mounts, paths.dynload);
    assert.ok(dyn && statSync(dyn).isDirectory(), `${paths.dynload} is visible`);
    for (const s of paths.site) {
      if (!existsSync(s)) continue;
      const seen = hostPathOf(p.mounts, s);
      assert.ok(!seen || !existsSync(seen), `${s} (the host's site-packages) stays invisible`);
    }
    // Extension modules bring their libraries: _ssl needs libssl and libcrypto.
    if (existsSync(dyn!) && spawnSync(p.command, ['-c', 'import ssl']).status === 0) {
      assert.ok(p.mounts.some((m) => /\/libssl\.so/.test(m.target)), 'libssl is in the closure');
    }
  }
});

/** The system's pythons plus the newest and the oldest other one: pyenv hosts have a dozen. */
function somePythons(all: RuntimeInfo[]): RuntimeInfo[] {
  const pick = new Set([...all.filter((p) => p.command.startsWith('/usr/')), all[0], all[all.length - 1]]);
  return [...pick].filter((p): p is RuntimeInfo => p !== undefined);
}

test('python imports its standard library in a sandbox that has only its closure', { skip: !has('python3') || !has('bwrap') }, async () => {
  for (const p of somePythons(await discoverRuntime('python', { env }))) {
    const host = spawnSync(p.command, ['-c', PY_SCRIPT], { encoding: 'utf8' });
    assert.equal(host.status, 0, host.stderr);
    assert.match(host.stdout, /\bjson\b.*\bssl\b/);
    const r = inSandbox(p, [p.commands.python3!, '-c', PY_SCRIPT]);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out.trim(), host.stdout.trim(), `python ${p.version} imports in the sandbox what it imports on the host`);
    const bare = inSandbox(p, [p.commands.python!, '-c', 'import os, sys; print(sys.version_info[:2] >= (3, 0), os.path.exists("/usr/bin/env"), os.path.exists("/etc/passwd"))']);
    assert.equal(bare.out.trim(), 'True False False', bare.out);
    if (existsSync('/usr/share/zoneinfo/Europe/Berlin') && compareVersions(p.version, '3.9') >= 0) {
      const tz = inSandbox(p, [p.command, '-c', 'from zoneinfo import ZoneInfo; print(ZoneInfo("Europe/Berlin"))']);
      assert.equal(tz.out.trim(), 'Europe/Berlin', tz.out);
    }
  }
});

test('java starts its VM in a sandbox that has only its closure', { skip: !has('java') || !has('bwrap') }, async () => {
  for (const j of await discoverRuntime('java', { env })) {
    checkShape(j);
    const r = inSandbox(j, [j.commands.java!, '-XshowSettings:properties', '-version']);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`java\\.version = ${j.version.replace(/\./g, '\\.')}|version "${j.version.split('.')[0]}`));
  }
});

const OTHERS: { name: 'ruby' | 'php'; args: string[] }[] = [
  { name: 'ruby', args: ['-e', 'require "json"; require "openssl"; require "socket"; require "digest"; puts [RUBY_VERSION, JSON.generate({a: 1}), Digest::SHA256.hexdigest("x")[0, 8]].join(" ")'] },
  { name: 'php', args: ['-r', 'echo PHP_VERSION, " ", json_encode(["a" => 1]), " ", implode(",", get_loaded_extensions()), "\\n";'] },
];

for (const { name, args } of OTHERS) {
  test(`${name} runs in a sandbox that has only its closure, with the extensions it has on the host`, { skip: !has(name) || !has('bwrap') }, async () => {
    const found = await discoverRuntime(name, { env });
    assert.ok(found.length >= 1);
    for (const r of found) {
      checkShape(r);
      const host = spawnSync(r.command, args, { encoding: 'utf8' });
      assert.equal(host.status, 0, host.stderr);
      const box = inSandbox(r, [r.commands[name]!, ...args]);
      assert.equal(box.status, 0, box.out);
      assert.equal(box.out, host.stdout + host.stderr, 'same output, and no warnings, inside');
    }
  });
}

test('a runtime reached through a symlink in another directory runs at its real path', { skip: !has('bwrap') }, async () => {
  const dir = tempDir();
  const link = join(dir, 'node');
  await symlink(process.execPath, link);
  const info = await completeRuntime(await probeRuntime('nodejs', link, { env }));
  assert.equal(info.source, 'configured');
  assert.equal(info.binary, process.execPath);
  assert.equal(info.command, process.execPath);
  assert.ok(!info.mounts.some((m) => m.target.startsWith(dir)), 'the link itself is not needed inside');
  const r = inSandbox(info, [info.commands.node!, '-p', 'process.version']);
  assert.equal(r.out.trim(), process.version);
});

test('ELF closures: static binaries and scripts add nothing', async () => {
  const dir = tempDir();
  await writeFile(join(dir, 'script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  assert.deepEqual(await elfClosure(join(dir, 'script.sh')), []);
  const ldconfig = ['/sbin/ldconfig', '/usr/sbin/ldconfig'].find(existsSync);
  if (ldconfig && /statically linked|not a dynamic/.test(spawnSync('ldd', [ldconfig], { encoding: 'utf8' }).stdout)) {
    assert.deepEqual(await elfClosure(ldconfig), []);
  }
  const node = await elfClosure(process.execPath);
  assert.ok(node.some((m) => m.target.endsWith('/libc.so.6')));
  assert.ok(!node.some((m) => m.target === process.execPath), 'the binary itself is the caller\'s to mount');
});

test('a library missing on the host is an error that names it', { skip: !has('gcc') }, async () => {
  const dir = tempDir();
  await writeFile(join(dir, 'lib.c'), 'int niso_answer(void) { return 42; }\n');
  await writeFile(join(dir, 'main.c'), 'int niso_answer(void);\nint main(void) { return niso_answer() == 42 ? 0 : 1; }\n');
  const cc = (args: string[]) => assert.equal(spawnSync('gcc', args, { cwd: dir }).status, 0, `gcc ${args.join(' ')}`);
  cc(['-shared', '-fPIC', '-o', 'libnisotest.so', 'lib.c']);
  cc(['-o', 'main', 'main.c', '-L.', '-lnisotest']);
  const e = await rejects(elfClosure(join(dir, 'main')));
  assert.equal(e.code, 'NISO3003');
  assert.match(e.message, /needs the shared library libnisotest\.so \(this host cannot tell which Debian package has it\), which the host's loader does not find/);
});

function fakeContext(root: string): Context & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    cwd: root, env, root,
    stdout: { write: (s: string) => { out += s; return true; } },
    stderr: { write: (s: string) => { err += s; return true; } },
    out: () => { const o = out; out = ''; return o; },
    err: () => { const o = err; err = ''; return o; },
  };
}

test('niso runtime add, list and remove round-trip through runtimes.toml', async () => {
  const root = tempDir();
  const ctx = fakeContext(root);
  const major = process.versions.node.split('.')[0]!;
  const dir = tempDir();
  const link = join(dir, 'node');
  await symlink(process.execPath, link);

  await runtimeAdd(ctx, `nodejs:${major}`, link, {});
  assert.match(ctx.out(), new RegExp(`^added nodejs ${process.versions.node.replace(/\./g, '\\.')} at ${link} \\(\\d+ files in its closure\\)\\n$`));
  assert.deepEqual(await readRuntimeConfig(root), [{ name: 'nodejs', version: process.versions.node, path: link }]);
  assert.match(readFileSync(layout(root).runtimes, 'utf8'), /\[\[runtime\]\]\nname = "nodejs"\nversion = "[\d.]+"\npath = ".*"\n/);

  // The same binary again, directly or through another path, is refused.
  assert.equal((await rejects(runtimeAdd(ctx, `nodejs:${major}`, link, {}))).code, 'NISO3005');
  assert.equal((await rejects(runtimeAdd(ctx, `nodejs:${major}`, process.execPath, {}))).code, 'NISO3005');
  // A version that the binary is not.
  const wrong = await rejects(runtimeAdd(ctx, `nodejs:${Number(major) + 1}`, link, {}));
  assert.equal(wrong.code, 'NISO3002');
  assert.match(wrong.message, new RegExp(`is nodejs ${process.versions.node.replace(/\./g, '\\.')}, which does not match version ${Number(major) + 1}`));
  assert.equal((await rejects(runtimeAdd(ctx, 'nodejs:20', join(dir, 'nope'), {}))).code, 'NISO3004');
  assert.equal((await rejects(runtimeAdd(ctx, 'node:20', link, {}))).code, 'NISO3006');

  await runtimeList(ctx, { json: true });
  const listed = JSON.parse(ctx.out()) as { name: string; version: string; path: string; source: string; files: number; mounts: Mount[]; binary: string }[];
  const mine = listed.find((r) => r.source === 'configured');
  assert.ok(mine);
  assert.equal(mine.path, link);
  assert.equal(mine.binary, process.execPath);
  assert.ok(mine.files >= mine.mounts.length && mine.mounts.length > 3);
  assert.ok(!listed.some((r) => r.source === 'discovered' && r.binary === process.execPath), 'a configured binary is not listed twice');
  await runtimeList(ctx, {});
  const table = ctx.out();
  assert.match(table, /^NAME\s+VERSION\s+PATH\s+SOURCE\s+FILES\n/);
  assert.match(table, new RegExp(`nodejs\\s+${process.versions.node.replace(/\./g, '\\.')}\\s+${link}\\s+configured\\s+\\d+`));

  // The configured runtime wins over the discovered one.
  const chosen = await resolveRuntime(root, { name: 'nodejs', version: major }, { env });
  assert.equal(chosen.source, 'configured');

  await runtimeRemove(ctx, `nodejs:${major}`, {});
  assert.match(ctx.out(), /^removed nodejs [\d.]+ \(.*\) from the configured runtimes\n$/);
  assert.deepEqual(await readRuntimeConfig(root), []);
  assert.equal((await rejects(runtimeRemove(ctx, `nodejs:${major}`, {}))).code, 'NISO3007');
  assert.equal((await resolveRuntime(root, { name: 'nodejs', version: major }, { env })).source, 'discovered');
});

test('resolving a version the host lacks says which versions it has, and where', async () => {
  const root = tempDir();
  const e = await rejects(resolveRuntime(root, { name: 'nodejs', version: '1' }, { env }));
  assert.equal(e.code, 'NISO3002');
  assert.match(e.message, new RegExp(`the app needs nodejs:1, but this host has nodejs [\\d., ]*${process.versions.node.replace(/\./g, '\\.')}[\\d., ]*, which does not match version 1`));
  assert.match(e.message, new RegExp(`- nodejs ${process.versions.node.replace(/\./g, '\\.')} at \\S+ \\(discovered\\)`));
  assert.match(e.hint!, /niso runtime add nodejs:1 \/path\/to\/node/);
});

test('a configured runtime that changed version, or a broken runtimes.toml, is reported', async () => {
  const root = tempDir();
  await mkdir(join(root, 'etc/niso'), { recursive: true });
  await writeFile(layout(root).runtimes, `[[runtime]]\nname = "nodejs"\nversion = "1.2.3"\npath = "${process.execPath}"\n`);
  const changed = await rejects(resolveRuntime(root, { name: 'nodejs', version: '1' }, { env }));
  assert.equal(changed.code, 'NISO3008');
  assert.match(changed.message, new RegExp(`was nodejs 1\\.2\\.3 when it was added, but is now ${process.versions.node.replace(/\./g, '\\.')}`));

  await writeFile(layout(root).runtimes, `[[runtime]]\nname = "nodejs"\nversoin = "1.2.3"\npath = "/usr/bin/node"\n`);
  const bad = await rejects(readRuntimeConfig(root));
  const d = bad.allDiagnostics().find((x) => x.code === 'NISO1002');
  assert.ok(d, JSON.stringify(bad.allDiagnostics()));
  assert.equal(d.line, 3);
  assert.match(d.hint!, /did you mean "version"/);
});
