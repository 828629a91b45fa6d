// plan/weakenings.ts beyond the golden plans: which flags decide a setting instead of the manifest, how much of a
// [trust] entry covers what, and a hint whose [trust] table a package name with dots must not break.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../../src/manifest/parse.js';
import { manifestWeakenings, trusts, weakeningError } from '../../src/plan/weakenings.js';
import { NODE_MANIFEST } from '../helpers/tmp.js';

const manifestWith = (extra: string) => {
  const r = parseManifest(NODE_MANIFEST('tool', '1.0.0', extra));
  assert.ok(r.manifest, JSON.stringify(r.diagnostics));
  return r.manifest;
};

test('a flag that decides the setting itself leaves nothing to confirm, whichever way it decides', () => {
  const open = manifestWith('\n[isolation]\npreset = "unsafe-none"\ncapabilities = ["CAP_NET_RAW"]\nsyscalls = ["@clock"]\n');
  assert.deepEqual(manifestWeakenings(open, {}).map((w) => w.kind), ['preset', 'capability']);
  // Under the server preset the filter applies, and so the syscall is asked for again.
  assert.deepEqual(manifestWeakenings(open, { preset: 'server' }).map((w) => `${w.kind}:${w.value}`), ['capability:CAP_NET_RAW', 'syscall:@clock']);
  assert.deepEqual(manifestWeakenings(open, { preset: 'unsafe-none', capabilities: ['CAP_NET_RAW'] }), []);
  const host = manifestWith('\n[network]\nmode = "host"\n');
  assert.deepEqual(manifestWeakenings(host, {}).map((w) => w.kind), ['network']);
  assert.deepEqual(manifestWeakenings(host, { network: 'none' }), []);
  assert.deepEqual(manifestWeakenings(host, { preset: 'unsafe-none' }), [], 'unsafe-none, the operator\'s, has the host network anyway');
  const nets = manifestWith('\n[network]\nnetworks = ["default", "db"]\n\n[resources]\npids = 4096\n');
  assert.deepEqual(manifestWeakenings(nets, {}).map((w) => `${w.kind}:${w.value}`), ['networks:db'], 'the default network and the server preset\'s own task limit are no weakening');
  assert.deepEqual(manifestWeakenings(nets, { networks: ['cache'] }), []);
  assert.deepEqual(manifestWeakenings(nets, { network: 'none' }), []);
});

test('a [trust] entry covers what it names: the same capability, syscall and network, and a task limit up to its own', () => {
  const t = { capabilities: ['CAP_NET_RAW'], syscalls: ['@clock'], pids: 8192, networks: ['db'] };
  assert.equal(trusts(t, { kind: 'capability', value: 'CAP_NET_RAW' }), true);
  assert.equal(trusts(t, { kind: 'capability', value: 'CAP_SYS_ADMIN' }), false);
  assert.equal(trusts(t, { kind: 'syscall', value: 'clock_settime' }), false, 'a group does not cover a name, nor the other way round');
  assert.equal(trusts(t, { kind: 'pids', value: 8192 }), true);
  assert.equal(trusts(t, { kind: 'pids', value: 8193 }), false);
  assert.equal(trusts(t, { kind: 'preset', value: 'unsafe-none' }), false);
  assert.equal(trusts(undefined, { kind: 'networks', value: 'db' }), false);
});

test('the refusal names every weakening with its flag, and a [trust] table that TOML reads as the package\'s', () => {
  const e = weakeningError({ name: 'web.tool', version: '2.0.0' }, [{ kind: 'preset', value: 'unsafe-none' }, { kind: 'networks', value: 'db' }]);
  assert.equal(e.code, 'NISO3105');
  assert.equal(e.exitCode, 2);
  assert.equal(e.message, 'package web.tool 2.0.0 asks for less isolation than niso\'s default, which only you can allow (--preset unsafe-none --net db)');
  assert.deepEqual(e.diagnostics.map((d) => d.field), ['isolation.preset', 'network.networks']);
  assert.ok(e.diagnostics[0]!.hint!.includes('`preset = "unsafe-none"` under [trust."web.tool"]'), e.diagnostics[0]!.hint);
  assert.ok(weakeningError({ name: 'tool', version: '1.0.0' }, [{ kind: 'pids', value: 9000 }]).diagnostics[0]!.hint!.includes('under [trust.tool]'));
});
