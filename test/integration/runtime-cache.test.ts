// The runtime cache must never serve a stale answer: a changed program or library file makes
// niso run the program (or ldd) again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeCache } from '../../src/runtime/cache.js';
import type { RuntimeInfo } from '../../src/runtime/types.js';
import { tempDir } from '../helpers/tmp.js';

test('probe answers are reused until the program file changes, and survive a new process', async () => {
  const dir = tempDir();
  const prog = join(dir, 'node');
  writeFileSync(prog, 'v1');
  const file = join(dir, 'cache.json');
  let calls = 0;
  const probe = () => { calls++; return Promise.resolve({ version: `20.0.${calls}` }); };
  const c1 = new RuntimeCache(file);
  assert.deepEqual(await c1.probe('nodejs|x', prog, probe), { version: '20.0.1' });
  assert.deepEqual(await c1.probe('nodejs|x', prog, probe), { version: '20.0.1' });
  await c1.save();
  const c2 = new RuntimeCache(file);
  assert.deepEqual(await c2.probe('nodejs|x', prog, probe), { version: '20.0.1' }, 'read back from disk');
  writeFileSync(prog, 'v2, longer');
  assert.deepEqual(await c2.probe('nodejs|x', prog, probe), { version: '20.0.2' }, 'a changed file is probed again');
  assert.equal(calls, 2);
});

test('a closure is reused only while every mounted file is unchanged', async () => {
  const dir = tempDir();
  const bin = join(dir, 'node');
  const lib = join(dir, 'libc.so.6');
  writeFileSync(bin, 'bin');
  writeFileSync(lib, 'lib');
  let calls = 0;
  const info = (): Promise<RuntimeInfo> => { calls++; return Promise.resolve({ name: 'nodejs', version: '20.1.0', binary: bin, command: '/usr/bin/node', commands: { node: '/usr/bin/node' }, mounts: [{ source: bin, target: '/usr/bin/node' }, { source: lib, target: '/lib/libc.so.6' }], env: {}, source: 'discovered' }); };
  const c = new RuntimeCache(join(dir, 'cache.json'));
  await c.closure('k', info);
  await c.closure('k', info);
  assert.equal(calls, 1);
  utimesSync(lib, new Date(), new Date(Date.now() + 5000));
  await c.closure('k', info);
  assert.equal(calls, 2, 'an upgraded library invalidates the closure');
});
