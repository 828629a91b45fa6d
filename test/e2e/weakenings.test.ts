// A package cannot turn its own sandbox off: what its manifest asks for below the server preset (no sandbox, the
// host's network, capabilities, ...) is refused with NISO3105 until the operator allows it, by the matching flag
// or by [trust.NAME] in /etc/niso/config.toml, for runs and services alike; a service keeps what was allowed when
// it was made. Written once for both backends: sandbox-systemd.test.ts runs this file inside a booted systemd.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_MANIFEST, removeServicesAndTestDir, writeTree } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const onSystemd = process.env.NISO_E2E_BACKEND === 'systemd';

// Reports where it runs: on the host (unsafe-none) it sees /usr/sbin, which no sandbox has; and its network.
const MAIN = `
const fs = require('fs');
const out = { uid: process.getuid(), host: fs.existsSync('/usr/sbin'), ifaces: Object.keys(require('os').networkInterfaces()).sort() };
if (process.argv[2] === 'listen') {
  require('net').createServer().listen(Number(process.argv[3]), '127.0.0.1', function () { out.port = this.address().port; console.log(JSON.stringify(out)); this.close(); })
    .on('error', (e) => { out.error = e.code; console.log(JSON.stringify(out)); });
} else if (process.argv[2] === 'wait') { console.log(JSON.stringify(out)); setInterval(() => {}, 1000); }
else console.log(JSON.stringify(out));
`;

const PACKAGES: Record<string, string> = {
  'open-tool': '\n[isolation]\npreset = "unsafe-none"\n',
  'host-net': '\n[network]\nmode = "host"\n',
  'low-port': '\n[isolation]\ncapabilities = ["CAP_NET_BIND_SERVICE"]\n\n[network]\nmode = "none"\n',
  'clocky': '\n[isolation]\nsyscalls = ["@clock"]\n\n[network]\nmode = "none"\n',
};

const dir = mkdtempSync(join(tmpdir(), 'niso-weak-'));
chmodSync(dir, 0o755);
const root = join(dir, 'root');
const config = join(root, 'etc/niso/config.toml');
let prepared = false;

function niso(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function ok(args: string[]): string {
  const r = niso(args);
  assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.err}${r.out}`);
  return r.out;
}

async function prepare(): Promise<void> {
  if (prepared) return;
  for (const [name, extra] of Object.entries(PACKAGES)) {
    await writeTree(join(dir, name), { 'manifest.toml': NODE_MANIFEST(name, '1.0.0', extra, ['main.js']), 'main.js': MAIN });
    ok(['pack', name, '-o', `${name}.niso`, '-q']);
    ok(['install', `${name}.niso`]);
  }
  prepared = true;
}

function trust(text: string | null): void {
  if (text === null) { rmSync(config, { force: true }); return; }
  mkdirSync(join(root, 'etc/niso'), { recursive: true });
  writeFileSync(config, text);
}

/** The refusal: exit 2, NISO3105, every weakening listed with its flag; and nothing was made for it. */
function assertRefused(r: { code: number | null; out: string; err: string }, flags: string[]): void {
  assert.equal(r.code, 2, `${r.err}${r.out}`);
  assert.match(r.err, /asks for less isolation than niso's default, which only you can allow/);
  for (const f of flags) {
    assert.ok(r.err.includes(`confirm it with ${f},`), `the hint names ${f}:\n${r.err}`);
  }
  assert.ok(!/\n\s+at /.test(r.err), 'no stack trace');
}

const app = (out: string) => JSON.parse(out.trim().split('\n').at(-1)!) as { uid: number; host: boolean; ifaces: string[]; port?: number; error?: string };

after(() => removeServicesAndTestDir(dir, root, niso));

test('no sandbox (preset = "unsafe-none") and the host\'s network are refused until the operator confirms them with --preset / --network', async () => {
  await prepare();
  const states = () => (existsSync(join(root, 'var/lib/niso/state')) ? readdirSync(join(root, 'var/lib/niso/state')) : []).length;
  const before = states();
  assertRefused(niso(['run', 'open-tool']), ['--preset unsafe-none']);
  assertRefused(niso(['run', '--dry-run', 'open-tool']), ['--preset unsafe-none']);
  assertRefused(niso(['run', 'host-net']), ['--network host']);
  assert.equal(states(), before, 'a refused run makes nothing');
  // The operator's own flags are the confirmation.
  const open = app(ok(['run', '--preset', 'unsafe-none', 'open-tool']));
  assert.equal(open.host, true, 'unsafe-none: the host\'s filesystem');
  const net = app(ok(['run', '--network', 'host', 'host-net']));
  assert.equal(net.host, false, 'still sandboxed');
  assert.ok(net.ifaces.length > 1, `the host's network: ${net.ifaces.join(', ')}`);
  // A flag that replaces the manifest's setting with a safe one needs no confirmation either.
  assert.deepEqual(app(ok(['run', '--preset', 'server', '--network', 'none', 'open-tool'])).ifaces, ['lo']);
  assert.deepEqual(app(ok(['run', '--network', 'none', 'host-net'])).ifaces, ['lo']);
});

test('an app directory is a package like any other: niso run DIR asks for the same confirmation', async () => {
  await prepare();
  const before = JSON.parse(ok(['list', '--json'])) as unknown[];
  assertRefused(niso(['run', join(dir, 'open-tool')]), ['--preset unsafe-none']);
  assert.equal((JSON.parse(ok(['list', '--json'])) as unknown[]).length, before.length, 'the temporary package is gone again');
  assert.equal(app(ok(['run', '--preset', 'unsafe-none', join(dir, 'open-tool')])).host, true);
});

test('capabilities and re-allowed syscalls: --cap-add and --allow-syscall confirm them', async () => {
  await prepare();
  assertRefused(niso(['run', 'low-port', '--', 'main.js', 'listen', '80']), ['--cap-add CAP_NET_BIND_SERVICE']);
  assertRefused(niso(['run', 'clocky']), ['--allow-syscall @clock']);
  assert.equal(app(ok(['run', '--allow-syscall', '@clock', 'clocky'])).host, false);
  const bound = niso(['run', '--cap-add', 'CAP_NET_BIND_SERVICE', 'low-port', '--', 'main.js', 'listen', '80']);
  if (onSystemd) {
    assert.equal(bound.code, 0, bound.err);
    assert.equal(app(bound.out).port, 80, 'the granted capability works on systemd');
  } else {
    // Confirmed, but bubblewrap cannot grant it: refused as before, with its own reason.
    assert.equal(bound.code, 2);
    assert.match(bound.err, /NISO3201: capabilities \(CAP_NET_BIND_SERVICE\) cannot be granted/);
  }
  const bad = niso(['run', '--cap-add', 'NET_BIND', 'low-port']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /NISO9001: --cap-add NET_BIND: not a capability/);
});

test('[trust.NAME] in the host config allows a package for runs and services; a service keeps what was allowed when it was made', async () => {
  await prepare();
  trust('[trust.open-tool]\npreset = "unsafe-none"\n\n[trust.host-net]\nnetwork = "host"\n');
  assert.equal(app(ok(['run', 'open-tool'])).host, true, 'trusted: runs without the flag');
  assertRefused(niso(['run', 'low-port']), ['--cap-add CAP_NET_BIND_SERVICE']);
  ok(['activate', 'host-net', '--name', 'trusted', '--', 'main.js', 'wait']);
  assert.equal(JSON.parse(ok(['status', 'trusted', '--json'])).state, 'active');
  const plan = (JSON.parse(ok(['inspect', 'trusted', '--json'])) as { plan: { network: { mode: string }; overrides: { property: string; confirmedBy?: string }[] } }).plan;
  assert.equal(plan.network.mode, 'host');
  assert.ok(plan.overrides.some((o) => o.property === 'network.mode' && o.confirmedBy === 'host config'), 'the plan says who allowed it');
  ok(['deactivate', 'trusted']);

  // The trust is withdrawn: new runs and services are refused, the service made under it starts as it was made.
  trust(null);
  assertRefused(niso(['run', 'open-tool']), ['--preset unsafe-none']);
  assertRefused(niso(['activate', 'host-net', '--name', 'untrusted']), ['--network host']);
  assert.ok(!existsSync(join(root, 'var/lib/niso/services/untrusted/service.json')), 'a refused activation defines no service');
  ok(['activate', 'trusted']);
  assert.equal(JSON.parse(ok(['status', 'trusted', '--json'])).state, 'active');
  ok(['restart', 'trusted']);
  assert.equal(JSON.parse(ok(['status', 'trusted', '--json'])).state, 'active');
  ok(['deactivate', 'trusted']);
  ok(['remove', 'trusted']);
});

test('a [trust] entry is checked like the rest of the host config: a wrong one is a clear error', async () => {
  await prepare();
  trust('[trust.open-tool]\npreset = "server"\nnetwrok = "host"\n');
  const r = niso(['run', 'open-tool']);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /NISO1005: \S+config\.toml:2:10: trust\.open-tool\.preset is "server", expected one of "unsafe-none"/);
  assert.match(r.err, /NISO1002: \S+config\.toml:3:1: unknown key "netwrok" in \[trust\.open-tool\]\n\s+hint: did you mean "network"\?/);
  assert.ok(!/\n\s+at /.test(r.err), 'no stack trace');
  trust(null);
});
