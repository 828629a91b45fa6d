// niso's locks against a local user who is not root: flock(2) works on a read-only descriptor, so a lock file that
// anyone can open lets anyone stall root's niso. Real files, a real unprivileged process (setpriv to nobody).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flockHolders, withLock } from '../../src/host/lock.js';
import { NisoError } from '../../src/errors/niso-error.js';
import { tempDir } from '../helpers/tmp.js';

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** `flock -n` as nobody: its exit code and what it said. */
function flockAsNobody(file: string): { code: number | null; stderr: string } {
  const r = spawnSync('setpriv', [...NOBODY, 'flock', '--shared', '--nonblock', file, 'true'], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

test('a lock file is root\'s and 0600: another user cannot open it, so cannot take the lock', async () => {
  const dir = tempDir();
  const file = join(dir, 'state', 'x.lock');
  await withLock(file, 'the test state', async () => {
    const st = statSync(file);
    assert.equal(st.mode & 0o7777, 0o600);
    assert.equal(st.uid, 0);
    assert.deepEqual(flockAsNobody(file), { code: 66, stderr: `flock: cannot open lock file ${file}: Permission denied\n` });
  });
  // Also while nobody holds it: the file is still there, still private.
  assert.equal(flockAsNobody(file).code, 66);
});

test('a lock file an older niso left 0644 (or another user owns) is made root\'s and 0600 at its next use', async () => {
  const dir = tempDir();
  const file = join(dir, 'old.lock');
  writeFileSync(file, '', { mode: 0o644 });
  chownSync(file, 65534, 65534);
  assert.equal(flockAsNobody(file).code, 0, 'before: nobody can lock it');
  await withLock(file, 'the test state', async () => undefined);
  const st = statSync(file);
  assert.deepEqual({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid }, { mode: 0o600, uid: 0, gid: 0 });
  assert.equal(flockAsNobody(file).code, 66, 'after: it cannot open it');
});

test('a process of another user that holds a lock through a descriptor it opened while the file was 0644 is named at once (NISO3314), not waited for', async () => {
  const dir = tempDir();
  const file = join(dir, 'held.lock');
  writeFileSync(file, '', { mode: 0o644 });
  // A process group of its own, so that the whole of it (flock and its sleep, which shares the descriptor) goes.
  const holder = spawn('setpriv', [...NOBODY, 'flock', '--shared', file, 'sh', '-c', 'echo held; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  try {
    await new Promise<void>((res) => holder.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('held')) res(); }));
    const st = statSync(file);
    assert.deepEqual(flockHolders(st.dev, st.ino), [holder.pid], '/proc/locks names the holder');
    let entered = false;
    const err = await withLock(file, 'the test state', async () => { entered = true; }).then(() => null, (e: unknown) => e);
    assert.equal(entered, false);
    assert.ok(err instanceof NisoError, String(err));
    assert.equal(err.code, 'NISO3314');
    assert.match(err.message, new RegExp(`^could not lock the test state: ${file} is locked by process ${holder.pid} \\(uid 65534: flock --shared ${file} sh -c echo held; exec sleep 60\\), which is not niso$`));
    assert.match(err.hint ?? '', new RegExp(`kill ${holder.pid}`));
    // Its mode was fixed on the way: once the holder is gone, nobody else can open it again.
    assert.equal(statSync(file).mode & 0o7777, 0o600);
  } finally {
    process.kill(-holder.pid!, 'SIGKILL');
    await new Promise((res) => holder.on('close', res));
  }
  await withLock(file, 'the test state', async () => undefined);
});

test('flockHolders reads /proc/locks: holders of this file only, not waiters, with the device as the kernel prints it', () => {
  const text = [
    '1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF',
    '1: -> FLOCK  ADVISORY  WRITE 4343 fd:01:1234 0 EOF',
    '2: FLOCK  ADVISORY  READ  4444 fd:01:1234 0 EOF',
    '3: POSIX  ADVISORY  WRITE 4545 fd:01:1234 0 EOF',
    '4: FLOCK  ADVISORY  WRITE 4646 08:01:1234 0 EOF',
    '5: FLOCK  ADVISORY  WRITE 4747 fd:01:12345 0 EOF',
  ].join('\n');
  // dev_t of major 0xfd, minor 1 (a device-mapper disk).
  assert.deepEqual(flockHolders((0xfd << 8) | 1, 1234, text), [4242, 4444]);
});

const REPO = join(import.meta.dirname, '..', '..');

/** `flock --nonblock` as root: 0 when the lock is free, 1 when someone holds it. */
function flockNow(file: string): number | null {
  return spawnSync('flock', ['--exclusive', '--nonblock', file, 'true']).status;
}

test('a lock taken in-process is a real flock(2): flock(1) sees it held while fn runs and free right after', async () => {
  const file = join(tempDir(), 'x.lock');
  await withLock(file, 'the test state', async () => {
    assert.equal(flockNow(file), 1);
    assert.deepEqual(flockHolders(statSync(file).dev, statSync(file).ino), [process.pid], 'held by niso itself, no child');
  });
  assert.equal(flockNow(file), 0);
});

test('a child started while a lock is held does not inherit it (the descriptor is close-on-exec)', async () => {
  const file = join(tempDir(), 'x.lock');
  let child: ReturnType<typeof spawn> | undefined;
  try {
    await withLock(file, 'the test state', async () => {
      child = spawn('sleep', ['60'], { stdio: 'ignore' });
      await new Promise((res) => child!.on('spawn', res));
    });
    assert.equal(flockNow(file), 0, 'free while the child still runs');
  } finally {
    child?.kill('SIGKILL');
  }
});

test('a niso killed while it holds a lock releases it at once; a waiting niso then takes it', async () => {
  const file = join(tempDir(), 'x.lock');
  const script = `import { withLock } from './src/host/lock.ts';
await withLock(${JSON.stringify(file)}, 'the test state', async () => { console.log('held'); await new Promise(() => setInterval(() => {}, 1000)); });`;
  const holder = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  const closed = new Promise((res) => holder.on('close', res));
  try {
    await new Promise<void>((res) => holder.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('held')) res(); }));
    assert.deepEqual(flockHolders(statSync(file).dev, statSync(file).ino), [holder.pid]);
    // This one finds it held and waits (through flock(1)); it enters only after the holder is gone.
    let entered = false;
    const waiting = withLock(file, 'the test state', async () => { entered = true; });
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(entered, false, 'waits while the holder lives');
    holder.kill('SIGKILL');
    await closed;
    await waiting;
    assert.equal(entered, true);
  } finally {
    holder.kill('SIGKILL');
    await closed;
  }
  assert.equal(flockNow(file), 0);
});
