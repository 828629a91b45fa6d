// Bounded directories (src/host/bounded-dir.ts) on real loop-mounted ext4 images: the bound holds (ENOSPC for the
// owner's writes, the host's file small), the mounted case is only checked, the bound grows online and shrinks
// offline, an old unbounded directory moves in with owners and links (and a crash in the middle of it is
// recovered), and what cannot be done is a coded error, not a half-done state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNisoError } from '../../src/errors/niso-error.js';
import { boundedUsage, deleteBounded, ensureBounded, unmountBounded, type BoundedDir } from '../../src/host/bounded-dir.js';
import { mountAt } from '../../src/host/mounts.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const UID = 60990;

function bounded(dir: string, sizeBytes = 32 * MiB): BoundedDir {
  return { dir: join(dir, 'state/web'), image: join(dir, 'state/.images/web.img'), sizeBytes, uid: UID, gid: UID, mode: 0o700 };
}

/** Writes 1 MiB blocks into dir as the owner's uid until a write fails; the errno and how much got in. */
function fill(dir: string, uid = UID): { errno: string; bytes: number } {
  const script = `const fs=require('fs');const b=Buffer.alloc(1<<20,7);let n=0;const fd=fs.openSync(process.argv[1],'w');try{for(;;){n+=fs.writeSync(fd,b);}}catch(e){console.log(JSON.stringify({errno:e.code,bytes:n}));}`;
  const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', script, join(dir, 'fill')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { errno: string; bytes: number };
}

const loopsOf = (image: string) => spawnSync('losetup', ['-j', image, '-n', '-O', 'NAME'], { encoding: 'utf8' }).stdout.trim();

test('a bounded directory: the owner\'s writes stop at the bound with ENOSPC, the host\'s file stays small, the mounted case is only checked', async () => {
  const b = bounded(tempDir());
  const first = await ensureBounded(b);
  assert.deepEqual({ created: first.created, migratedBytes: first.migratedBytes, resizedFrom: first.resizedFrom }, { created: true, migratedBytes: null, resizedFrom: null });
  assert.equal(mountAt(b.dir)?.fsType, 'ext4');
  const st = statSync(b.dir);
  assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [UID, UID, 0o700], 'the file system\'s root is the owner\'s');
  assert.deepEqual(readdirSync(b.dir), [], 'no lost+found: apps that want an empty directory (initdb) get one');
  assert.equal(statSync(join(b.dir, '..', '.images')).mode & 0o777, 0o700, 'the images are root\'s alone');
  assert.ok(statSync(b.image).blocks * 512 < 8 * MiB, `a new 32 MiB image takes ${statSync(b.image).blocks * 512} bytes on the host`);

  const full = fill(b.dir);
  assert.equal(full.errno, 'ENOSPC');
  assert.ok(full.bytes <= b.sizeBytes && full.bytes > 16 * MiB, `${full.bytes} bytes got in under a 32 MiB bound`);
  const u = boundedUsage(b)!;
  assert.equal(u.mounted, true);
  assert.equal(u.limitBytes, b.sizeBytes);
  assert.ok(u.usedBytes! >= full.bytes && u.usedBytes! <= u.sizeBytes!, JSON.stringify(u));
  // Deleting frees the host's space again: discard punches the freed blocks out of the sparse file (the kernel
  // does it in the background, after the journal commit).
  spawnSync('rm', [join(b.dir, 'fill')]);
  spawnSync('sync', ['-f', b.dir]);
  const deadline = Date.now() + 20_000;
  while (statSync(b.image).blocks * 512 >= 12 * MiB && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(statSync(b.image).blocks * 512 < 12 * MiB, `after the delete the image takes ${statSync(b.image).blocks * 512} bytes`);

  const again = await ensureBounded(b);
  assert.deepEqual({ created: again.created, resizedFrom: again.resizedFrom }, { created: false, resizedFrom: null });
  assert.equal(loopsOf(b.image).split('\n').length, 1, 'one loop device');
  await unmountBounded(b);
  assert.equal(mountAt(b.dir), null);
  assert.equal(loopsOf(b.image), '', 'unmounting frees the loop device');
  assert.equal(boundedUsage(b)?.mounted, false);
  // Mounted again, the data is there.
  writeFileSync(join(b.dir, 'under-the-mount'), 'x');
  await unmountBounded(b);
});

test('two starts of one name at once make and mount one image; a half-made image of a crash is never used', async () => {
  const dir = tempDir();
  const b = bounded(dir);
  // A crash in the middle of mkfs leaves the temporary file only: no image in place, so it is made afresh.
  mkdirSync(join(dir, 'state/.images'), { recursive: true, mode: 0o700 });
  writeFileSync(`${b.image}.tmp`, 'half an image');
  const both = await Promise.all([ensureBounded(b), ensureBounded(b)]);
  assert.deepEqual(both.map((r) => r.created).sort(), [false, true]);
  assert.equal(mountAt(b.dir)?.fsType, 'ext4');
  assert.equal(loopsOf(b.image).split('\n').length, 1, 'one loop device, one superblock');
  assert.ok(!existsSync(`${b.image}.tmp`));
});

test('a new bound: grown or shrunk while nothing holds the image (data kept); too small for the data is NISO3208, in use NISO3210', async () => {
  const b = bounded(tempDir());
  await ensureBounded(b);
  writeFileSync(join(b.dir, 'keep'), 'kept');
  writeFileSync(join(b.dir, 'big'), Buffer.alloc(20 * MiB, 1));
  const grown = await ensureBounded({ ...b, sizeBytes: 64 * MiB });
  assert.equal(grown.resizedFrom, 32 * MiB);
  assert.equal(statSync(b.image).size, 64 * MiB);
  assert.ok(boundedUsage(b)!.sizeBytes! > 48 * MiB, 'the file system grew with it');
  assert.equal(readFileSync(join(b.dir, 'keep'), 'utf8'), 'kept');

  await assert.rejects(ensureBounded({ ...b, sizeBytes: 16 * MiB }), (e: unknown) => isNisoError(e) && e.code === 'NISO3208' && /holds more than fits into 16(\.0)? MiB/.test(e.message));
  assert.equal(mountAt(b.dir)?.fsType, 'ext4', 'still mounted after the refused shrink');
  assert.equal(readFileSync(join(b.dir, 'keep'), 'utf8'), 'kept');
  // A process that holds the mount (its namespace, as a running sandbox does) keeps the image busy: no resize under it.
  const holder = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '30'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  try {
    await assert.rejects(ensureBounded({ ...b, sizeBytes: 48 * MiB }), (e: unknown) => isNisoError(e) && e.code === 'NISO3210');
    assert.equal(mountAt(b.dir)?.fsType, 'ext4', 'mounted again as it was');
  } finally {
    holder.kill('SIGKILL');
    await new Promise((r) => holder.on('close', r));
  }
  const shrunk = await ensureBounded({ ...b, sizeBytes: 48 * MiB });
  assert.equal(shrunk.resizedFrom, 64 * MiB);
  assert.equal(statSync(b.image).size, 48 * MiB);
  assert.equal(readFileSync(join(b.dir, 'keep'), 'utf8'), 'kept');
  assert.equal(statSync(join(b.dir, 'big')).size, 20 * MiB);
});

test('an unbounded directory of an earlier niso moves into the image: owners, modes, links kept; too much for the bound is NISO3208 and leaves it as it was', async () => {
  const dir = tempDir();
  const b = bounded(dir);
  mkdirSync(join(b.dir, 'sub'), { recursive: true, mode: 0o700 });
  writeFileSync(join(b.dir, 'sub/data'), 'data', { mode: 0o640 });
  chownSync(join(b.dir, 'sub/data'), UID, UID);
  linkSync(join(b.dir, 'sub/data'), join(b.dir, 'hardlink'));
  symlinkSync('sub/data', join(b.dir, 'symlink'));
  writeFileSync(join(b.dir, 'root-owned'), 'r');
  const r = await ensureBounded(b);
  assert.ok(r.created && r.migratedBytes !== null && r.migratedBytes > 0, JSON.stringify(r));
  assert.equal(mountAt(b.dir)?.fsType, 'ext4');
  assert.equal(readFileSync(join(b.dir, 'sub/data'), 'utf8'), 'data');
  const data = statSync(join(b.dir, 'sub/data'));
  assert.deepEqual([data.uid, data.mode & 0o777, data.nlink], [UID, 0o640, 2]);
  assert.equal(statSync(join(b.dir, 'hardlink')).ino, data.ino, 'hard links stay links');
  assert.equal(readlinkSync(join(b.dir, 'symlink')), 'sub/data');
  assert.equal(lstatSync(join(b.dir, 'root-owned')).uid, 0);
  assert.ok(!existsSync(join(dir, 'state/.web.unbounded')), 'the old directory is gone');
  await unmountBounded(b);
  assert.deepEqual(readdirSync(b.dir), [], 'nothing left below the mount point');

  const big = bounded(join(dir, 'big'), 16 * MiB);
  mkdirSync(big.dir, { recursive: true });
  writeFileSync(join(big.dir, 'huge'), Buffer.alloc(24 * MiB, 1));
  await assert.rejects(ensureBounded(big), (e: unknown) => isNisoError(e) && e.code === 'NISO3208' && /holds 24/.test(e.message));
  assert.equal(statSync(join(big.dir, 'huge')).size, 24 * MiB, 'the directory is untouched');
  assert.ok(!existsSync(big.image) && !existsSync(`${big.image}.tmp`) && !existsSync(`${big.image}.mnt`), 'no image, no leftovers');
  assert.equal(mountAt(`${big.image}.mnt`), null);
});

test('an unbounded directory that a sandbox still binds is not moved (what the app wrote after the copy would be lost): NISO3210', async () => {
  const dir = tempDir();
  const b = bounded(dir);
  mkdirSync(b.dir, { recursive: true });
  writeFileSync(join(b.dir, 'f'), 'data');
  mkdirSync(join(dir, 'elsewhere'));
  // As a sandbox does: the directory bound somewhere in a mount namespace of its own.
  const holder = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" "$1" && echo bound && exec sleep 30', b.dir, join(dir, 'elsewhere')], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => holder.stdout!.once('data', r));
  try {
    await assert.rejects(ensureBounded(b), (e: unknown) => isNisoError(e) && e.code === 'NISO3210' && new RegExp(`pid ${holder.pid}`).test(e.message));
    assert.equal(readFileSync(join(b.dir, 'f'), 'utf8'), 'data');
    assert.ok(!existsSync(b.image) && mountAt(b.dir) === null, 'nothing made, nothing mounted');
  } finally {
    holder.kill('SIGKILL');
    await new Promise((r) => holder.on('close', r));
  }
  assert.ok((await ensureBounded(b)).migratedBytes !== null, 'moved once nothing holds it');
  assert.equal(readFileSync(join(b.dir, 'f'), 'utf8'), 'data');
});

test('an image another mount namespace copied while it was mounted is not deleted, and the refusal names who holds it (NISO3210)', async () => {
  const b = bounded(tempDir());
  await ensureBounded(b);
  // As podman does for its own namespace: a private copy of the host's mounts, made while the image was mounted.
  const holder = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'echo copied && exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => holder.stdout!.once('data', r));
  try {
    await assert.rejects(deleteBounded(b), (e: unknown) => isNisoError(e) && e.code === 'NISO3210'
      && new RegExp(`its image \\(/dev/loop\\d+\\) is still mounted in another mount namespace, that of pid ${holder.pid} \\(sleep\\)`).test(e.message) && /podman/.test(e.hint ?? ''));
    assert.equal(mountAt(b.dir)?.fsType, 'ext4', 'mounted again as it was');
  } finally {
    holder.kill('SIGKILL');
    await new Promise((r) => holder.on('close', r));
  }
  await deleteBounded(b);
  assert.ok(!existsSync(b.image) && !existsSync(b.dir));
});

test('a migration cut short is finished or undone at the next start', async () => {
  const dir = tempDir();
  // Cut after the copy was renamed into place: the old directory waits aside and is removed.
  const b = bounded(dir);
  mkdirSync(b.dir, { recursive: true });
  writeFileSync(join(b.dir, 'f'), 'new');
  await ensureBounded(b);
  await unmountBounded(b);
  mkdirSync(join(dir, 'state/.web.unbounded'));
  writeFileSync(join(dir, 'state/.web.unbounded/f'), 'old');
  await ensureBounded(b);
  assert.equal(readFileSync(join(b.dir, 'f'), 'utf8'), 'new');
  assert.ok(!existsSync(join(dir, 'state/.web.unbounded')));
  // Cut before: no image yet, the directory is aside: it comes back and moves in.
  const c = bounded(join(dir, 'c'));
  mkdirSync(join(dir, 'c/state/.web.unbounded'), { recursive: true });
  writeFileSync(join(dir, 'c/state/.web.unbounded/f'), 'only copy');
  const r = await ensureBounded(c);
  assert.ok(r.migratedBytes !== null);
  assert.equal(readFileSync(join(c.dir, 'f'), 'utf8'), 'only copy');
  assert.ok(!existsSync(join(dir, 'c/state/.web.unbounded')));
});

test('something else mounted on the directory, or a busy mount, is a coded error; delete removes image and directory', async () => {
  const dir = tempDir();
  const b = bounded(dir);
  mkdirSync(b.dir, { recursive: true });
  spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', b.dir]);
  await assert.rejects(ensureBounded(b), (e: unknown) => isNisoError(e) && e.code === 'NISO3209' && /another file system mounted/.test(e.message));
  spawnSync('umount', [b.dir]);
  await ensureBounded(b);
  const busy = spawn('sleep', ['30'], { cwd: b.dir, stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200));
  try {
    await assert.rejects(unmountBounded(b), (e: unknown) => isNisoError(e) && e.code === 'NISO3210' && /fuser -vm/.test(e.hint ?? ''));
  } finally {
    busy.kill('SIGKILL');
    await new Promise((r) => busy.on('close', r));
  }
  await deleteBounded(b);
  assert.ok(!existsSync(b.image) && !existsSync(b.dir));
  assert.equal(loopsOf(b.image), '');
});

test('a host where mounting is not allowed (here: a user namespace) is NISO3206 with the way out, not an unbounded directory', async () => {
  const dir = tempDir();
  const b = bounded(dir);
  // Root inside a new user namespace passes niso's own check but the kernel refuses the mount, as in a container.
  const script = join(dir, 'try.mts');
  writeFileSync(script, `import { ensureBounded } from ${JSON.stringify(join(import.meta.dirname, '../../src/host/bounded-dir.ts'))};\ntry { await ensureBounded(${JSON.stringify({ ...b, uid: 0, gid: 0 })}); console.log('mounted'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, hint: e.hint })); }\n`);
  const r = spawnSync('unshare', ['--user', '--map-root-user', '--mount', process.execPath, '--import', 'tsx', script], { encoding: 'utf8', cwd: join(import.meta.dirname, '../..') });
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { code: string; message: string; hint: string };
  assert.equal(out.code, 'NISO3206', r.stdout + r.stderr);
  assert.match(out.message, /this host cannot bound the size of a state directory: mounting the image failed/);
  assert.match(out.hint, /\[state\] max_size = "unlimited"/);
  assert.equal(mountAt(b.dir), null, 'nothing mounted');
  assert.equal(loopsOf(b.image), '', 'no loop device left');
});

test('a sandbox that has just ended still holds the image for a moment: delete waits for the kernel to let go instead of refusing', async () => {
  const b = bounded(tempDir());
  await ensureBounded(b);
  writeFileSync(join(b.dir, 'data'), 'x');
  // A mount namespace with a copy of the mount (as a sandbox has) that ends a second later, after delete began.
  const holder = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '1'], { stdio: 'ignore' });
  const ended = new Promise((r) => holder.on('close', r));
  await new Promise((r) => setTimeout(r, 300));
  try {
    await deleteBounded(b);
    assert.ok(!existsSync(b.image) && !existsSync(b.dir), 'deleted once the holder went');
    assert.equal(loopsOf(b.image), '');
  } finally {
    holder.kill('SIGKILL');
    await ended;
  }
});

/** Starts a process that makes a mount namespace and prints "ready" in it; resolves once it has. */
async function namespaceHolder(cmd: string, args: string[]): Promise<ChildProcess> {
  const p = spawn(cmd, [...args, 'sh', '-c', 'echo ready && exec sleep 120'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; if (out.includes('ready')) resolve(); });
    p.on('close', (code) => reject(new Error(`${cmd} ended (${code}) before its namespace was made`)));
  });
  return p;
}

test('a mount namespace made while images are mounted (systemd-nspawn, `ip netns exec`, a sandbox binding a directory above them) does not keep them: another service\'s /state is deleted while it lives', async () => {
  const dir = tempDir();
  const web = bounded(dir);
  const db: BoundedDir = { ...web, dir: join(dir, 'state/db'), image: join(dir, 'state/.images/db.img') };
  await ensureBounded(web);
  writeFileSync(join(web.dir, 'data'), 'web');
  const holders = [
    // As systemd-nspawn and `ip netns exec` make theirs: every mount copied, then made a slave of the host's.
    await namespaceHolder('unshare', ['--mount', '--propagation', 'slave']),
    // A sandbox whose bind takes in the directory the images are mounted in, with them.
    await namespaceHolder('bwrap', ['--unshare-all', '--die-with-parent', '--bind', dir, dir, '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--proc', '/proc', '--dev', '/dev']),
  ];
  try {
    // Mounted after they were made, an image reaches their copies all the same, and leaves them with its unmount.
    await ensureBounded(db);
    for (const b of [web, db]) {
      await deleteBounded(b);
      assert.ok(!existsSync(b.image) && !existsSync(b.dir), `${b.dir} deleted`);
      assert.equal(loopsOf(b.image), '', `no loop device left on ${b.image}`);
    }
    assert.deepEqual(holders.map((h) => h.exitCode), [null, null], 'the namespaces still live');
    // A service of the same names starts afresh: a new image, mounted.
    assert.equal((await ensureBounded(web)).created, true);
    assert.equal(mountAt(web.dir)?.fsType, 'ext4');
  } finally {
    for (const h of holders) {
      h.kill('SIGKILL');
      if (h.exitCode === null && h.signalCode === null) await new Promise((r) => h.on('close', r));
    }
  }
});
