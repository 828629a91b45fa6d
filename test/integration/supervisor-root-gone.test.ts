// A supervisor whose NISO_ROOT is deleted under it (rm -rf of a root, a test's clean-up) leaves at once, and makes
// nothing there again: it used to take its lock once more as it left, which made root/run/niso anew.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');

test('a supervisor whose root was deleted exits and leaves the root deleted', async () => {
  const root = join(tempDir(), 'root');
  mkdirSync(join(root, 'var/lib/niso/services'), { recursive: true });
  const child = spawn(process.execPath, [BIN, '__supervise'], { env: { ...process.env, NISO_ROOT: root }, stdio: 'ignore' });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  for (let i = 0; i < 200 && !existsSync(join(root, 'run/niso/supervisor.json')); i++) await sleep(25);
  assert.ok(existsSync(join(root, 'run/niso/supervisor.json')), 'the supervisor recorded itself');
  rmSync(root, { recursive: true, force: true });
  // Well before its idle exit (2 s), and then the root stays gone.
  const code = await Promise.race([exited, sleep(1_500).then(() => 'still running' as const)]);
  if (code === 'still running') child.kill('SIGKILL');
  assert.equal(code, 0, 'it left on its own, soon after the root went');
  await sleep(300);
  assert.ok(!existsSync(root), 'nothing of the root was made again');
});
