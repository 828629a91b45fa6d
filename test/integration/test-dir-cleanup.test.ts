// The tests' own clean-up (test/helpers/tmp.ts removeTestDir): a root whose network a failed test left in use is
// removed with its network, so no bridge stays on the host without a record to remove it by.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { attachService, listNetworks, netContext } from '../../src/net/host/manager.js';
import { removeTestDir } from '../helpers/tmp.js';

test('a test root whose network is still in use goes with its bridge, veth and netns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'niso-cleanup-'));
  const ctx = netContext(join(dir, 'root'));
  // Owned by this (living) process, as a run of a test that failed before its own clean-up would be.
  const ep = await attachService(ctx, { service: 'web' });
  const bridge = (await listNetworks(ctx))[0]!.network.bridge;
  const has = (args: string[]) => spawnSync('ip', args, { encoding: 'utf8' }).stdout;
  assert.match(has(['-o', 'link', 'show', bridge]), new RegExp(bridge));
  await removeTestDir(dir);
  assert.equal(has(['-o', 'link', 'show', bridge]), '', `bridge ${bridge} was left`);
  assert.ok(!has(['netns', 'list']).includes(ep.netns), `netns ${ep.netns} was left`);
  for (const a of ep.attachments) assert.equal(has(['-o', 'link', 'show', a.vethHost]), '', `veth ${a.vethHost} was left`);
});
