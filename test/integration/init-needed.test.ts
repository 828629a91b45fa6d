// Whether an init step is due (service/init-step.ts initNeeded), on real directories: both backends decide by it (the
// embedded launcher directly, systemd through `niso __init-needed` in niso-SERVICE-init-check.service).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initNeeded } from '../../src/service/init-step.js';
import type { PlanInit } from '../../src/plan/plan.js';
import { tempDir } from '../helpers/tmp.js';

const step = (when: PlanInit['when']): PlanInit => ({ argv: ['/app/bin/init'], when, timeoutMs: 1000 });

test('if_empty: due while the directory is missing, empty or holds only an empty lost+found (a fresh /state image)', () => {
  const dir = tempDir();
  const at = (name: string) => step({ kind: 'if-empty', path: '/data', hostPath: join(dir, name) });
  assert.equal(initNeeded(at('missing')), true);
  mkdirSync(join(dir, 'empty'));
  assert.equal(initNeeded(at('empty')), true);
  mkdirSync(join(dir, 'fresh-image/lost+found'), { recursive: true });
  assert.equal(initNeeded(at('fresh-image')), true);
  mkdirSync(join(dir, 'recovered/lost+found'), { recursive: true });
  writeFileSync(join(dir, 'recovered/lost+found/#1234'), 'x');
  assert.equal(initNeeded(at('recovered')), false, 'what fsck put back is data');
  mkdirSync(join(dir, 'used'));
  writeFileSync(join(dir, 'used/PG_VERSION'), '15\n');
  assert.equal(initNeeded(at('used')), false);
});

test('unless_exists: due while the path does not exist (a dangling symlink counts as existing); always and tmpfs places: due', () => {
  const dir = tempDir();
  const at = (name: string) => step({ kind: 'unless-exists', path: '/data/x', hostPath: join(dir, name) });
  assert.equal(initNeeded(at('x')), true);
  writeFileSync(join(dir, 'x'), '');
  assert.equal(initNeeded(at('x')), false);
  symlinkSync('nowhere', join(dir, 'dangling'));
  assert.equal(initNeeded(at('dangling')), false);
  assert.equal(initNeeded(step({ kind: 'always' })), true);
  assert.equal(initNeeded(step({ kind: 'if-empty', path: '/state', hostPath: null })), true, 'a tmpfs is empty at each start');
});

test('a path that cannot be checked is NISO3315 naming the condition, not a guess; a file where unless_exists looks for a directory means "does not exist"', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'file'), 'x');
  assert.throws(() => initNeeded(step({ kind: 'if-empty', path: '/data/db', hostPath: join(dir, 'file') })), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'NISO3315');
    assert.match(e.message, /the init step's condition if_empty = "\/data\/db" could not be checked: \S+\/file is not a directory; the service was not started/);
    return true;
  });
  assert.equal(initNeeded(step({ kind: 'unless-exists', path: '/data/db/PG_VERSION', hostPath: join(dir, 'file/PG_VERSION') })), true);
  mkdirSync(join(dir, 'odd'));
  writeFileSync(join(dir, 'odd/lost+found'), 'a file, not fsck\'s directory');
  assert.equal(initNeeded(step({ kind: 'if-empty', path: '/data', hostPath: join(dir, 'odd') })), false);
});
