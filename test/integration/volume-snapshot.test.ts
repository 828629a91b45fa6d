// Volume snapshots (src/volume/snapshot.ts) on real file systems made here (mkfs.xfs, mkfs.btrfs, mkfs.ext4 on sparse
// files, loop-mounted as the NISO_ROOT's /var/lib/niso): each method taken and restored with owners, modes, ACLs,
// xattrs, hard links and symlinks intact; a copy of running writers refused unless they are stopped or the snapshot
// is atomic; a killed snapshot leaves nothing listed; retention. Every mount is undone in a finally, and the temp
// dir's cleanup unmounts whatever is still below it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statfsSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { isNisoError } from '../../src/errors/niso-error.js';
import { ensureBounded, unmountBounded } from '../../src/host/bounded-dir.js';
import { releaseRootUids } from '../../src/sandbox/uids.js';
import { layout, stateOf, volumeOf } from '../../src/store/layout.js';
import { isSubvolume } from '../../src/volume/data-dir.js';
import { listSnapshots, removeSnapshot, restoreSnapshot, snapshotsOf, takeSnapshot } from '../../src/volume/snapshot.js';
import { createVolume, removeVolume, resolveVolumes } from '../../src/volume/store.js';
import { tempDir } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const MiB = 1024 * 1024;
type Fs = 'xfs' | 'btrfs' | 'ext4';

const sh = (cmd: string, args: string[], opts: { cwd?: string } = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/**
 * A NISO_ROOT whose /var/lib/niso is a fresh file system of this type; `fn` runs with it, and whatever happens the
 * root's uid claims are given back and the file system unmounted (its loop device goes with it).
 */
async function withFs(type: Fs, fn: (root: string, dir: string) => Promise<void>, sizeMiB = 320): Promise<void> {
  const dir = tempDir('niso-snap-');
  const image = join(dir, `${type}.img`);
  const root = join(dir, 'root');
  const lib = join(root, 'var/lib/niso');
  mkdirSync(lib, { recursive: true });
  writeFileSync(image, '');
  sh('truncate', ['-s', `${sizeMiB}M`, image]);
  if (type === 'xfs') sh('mkfs.xfs', ['-q', '-m', 'reflink=1', image]);
  else if (type === 'btrfs') sh('mkfs.btrfs', ['-q', image]);
  else sh('mkfs.ext4', ['-q', '-F', image]);
  // Below a shared mount of its own, as niso mounts state images (host/bounded-dir.ts): a mount namespace made
  // meanwhile (another file's systemd machine) then holds a slave copy, which leaves with the unmount, where a private
  // copy kept the loop device attached for as long as that machine ran.
  const parent = join(root, 'var/lib');
  sh('mount', ['--bind', parent, parent]);
  sh('mount', ['--make-shared', parent]);
  sh('mount', ['-o', 'loop', image, lib]);
  try {
    chmodSync(lib, 0o755);
    await fn(root, dir);
  } finally {
    await releaseRootUids(root).catch(() => undefined);
    // Bounded /state images mounted inside it first.
    for (const m of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((p): p is string => !!p && p.startsWith(`${lib}/`)).reverse()) spawnSync('umount', [m]);
    const u = spawnSync('umount', [lib], { encoding: 'utf8' });
    if (u.status !== 0) spawnSync('umount', ['-l', lib]);
    spawnSync('umount', [parent]);
    assert.equal(spawnSync('losetup', ['-j', image, '-n'], { encoding: 'utf8' }).stdout.trim(), '', 'no loop device left');
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { assert.ok(isNisoError(e), String((e as Error).stack)); return `${e.code}: ${e.message}`; }
  assert.fail('no error');
}

/** Everything about a tree that a snapshot must keep: type, owner, mode, size, content, link target, mtime, inode sharing, ACLs, xattrs. */
function fingerprint(dir: string): string[] {
  const out: string[] = [];
  const inodes = new Map<number, string>();
  const walk = (rel: string) => {
    for (const n of readdirSync(join(dir, rel)).sort()) {
      const p = rel ? `${rel}/${n}` : n;
      const st = lstatSync(join(dir, p));
      const own = `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${Math.floor(st.mtimeMs / 1000)}`;
      if (st.isSymbolicLink()) out.push(`${p} link ${own} -> ${readlinkSync(join(dir, p))}`);
      else if (st.isDirectory()) { out.push(`${p} dir ${own}`); walk(p); }
      else if (st.isFile()) {
        const first = inodes.get(st.ino);
        if (first === undefined) inodes.set(st.ino, p);
        out.push(`${p} file ${own} ${st.size} ${readFileSync(join(dir, p)).subarray(0, 32).toString('hex')}${first ? ` = ${first}` : ''}`);
      } else out.push(`${p} other ${own}`);
    }
  };
  const top = lstatSync(dir);
  out.push(`. ${top.uid}:${top.gid} ${(top.mode & 0o7777).toString(8)}`);
  walk('');
  // In the order of the directories' entries, which differs between two copies.
  const blocks = (text: string) => text.split('\n\n').filter(Boolean).sort();
  out.push(...blocks(sh('getfacl', ['-R', '-p', '-n', '.'], { cwd: dir })));
  out.push(...blocks(sh('getfattr', ['-R', '-h', '-d', '-m', '^user\\.', '.'], { cwd: dir })));
  return out;
}

/** Owners of several uids, modes, an ACL entry, xattrs, hard and symbolic links, an empty dir, a socket. */
function fillTree(dir: string, gid: number): void {
  mkdirSync(join(dir, 'db/base'), { recursive: true });
  mkdirSync(join(dir, 'empty'));
  writeFileSync(join(dir, 'db/base/1'), Buffer.alloc(2 * MiB + 3, 'x'));
  writeFileSync(join(dir, 'db/base/2'), 'two\n');
  writeFileSync(join(dir, 'conf.json'), '{"a":1}\n');
  linkSync(join(dir, 'db/base/2'), join(dir, 'db/hard'));
  symlinkSync('db/base/1', join(dir, 'current'));
  chownSync(join(dir, 'db'), 60997, gid);
  chownSync(join(dir, 'db/base/1'), 60997, gid);
  chownSync(join(dir, 'conf.json'), 60998, 60998);
  chmodSync(join(dir, 'db/base/1'), 0o600);
  chmodSync(join(dir, 'conf.json'), 0o640);
  sh('setfacl', ['-m', 'u:60999:r', join(dir, 'conf.json')]);
  sh('setfattr', ['-n', 'user.checksum', '-v', 'abc', join(dir, 'db/base/2')]);
  sh('setfattr', ['-h', '-n', 'user.dir', '-v', 'yes', join(dir, 'db')]);
  utimesSync(join(dir, 'conf.json'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
}

async function listeningSocket(path: string): Promise<() => void> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(path, res));
  return () => server.close();
}

/** A `niso run` of `service` holding the volume read-write: a real grant of a live process (a sleep we own). */
async function runHolder(root: string, service: string, volume: string): Promise<ChildProcess> {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  await resolveVolumes(root, service, [{ volume, readOnly: false, exclusive: false }], { run: child.pid!, uid: 60990 });
  return child;
}
const ended = (c: ChildProcess) => new Promise<void>((res) => { if (c.exitCode !== null || c.signalCode !== null) res(); else { c.once('exit', () => res()); c.kill('SIGKILL'); } });

const usedBytes = (path: string) => { const s = statfsSync(path); return (s.blocks - s.bfree) * s.bsize; };

test('XFS: a reflink snapshot shares the blocks and keeps owners, modes, ACLs, xattrs, hard links and symlinks (sockets left out); restore puts it back and keeps the live data aside', async () => {
  await withFs('xfs', async (root) => {
    const meta = await createVolume(root, 'pgdata');
    const data = volumeOf(layout(root), 'pgdata').data;
    fillTree(data, meta.gid);
    writeFileSync(join(data, 'big'), Buffer.alloc(64 * MiB, 7));
    const close = await listeningSocket(join(data, 'app.sock'));
    const before = usedBytes(data);
    let r;
    try { r = await takeSnapshot(root, 'pgdata'); } finally { close(); }
    assert.ok(r.taken, JSON.stringify(r));
    assert.equal(r.snapshot.method, 'reflink');
    assert.match(r.snapshot.id, /^manual-\d{8}T\d{6}Z$/);
    assert.match(r.note ?? '', /1 socket left out/);
    assert.ok(usedBytes(data) - before < 8 * MiB, `the 66 MiB share their blocks (${usedBytes(data) - before} bytes more used)`);
    const snapData = join(r.snapshot.path, 'data');
    rmSync(join(data, 'app.sock'), { force: true });
    const expected = fingerprint(data);
    assert.deepEqual(fingerprint(snapData), expected);
    assert.equal(existsSync(join(snapData, 'app.sock')), false);
    const m = JSON.parse(readFileSync(join(r.snapshot.path, 'meta.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual({ generation: m.generation, method: m.method, source: m.source, servicesStopped: m.servicesStopped, gid: m.gid, socketsSkipped: m.socketsSkipped }, { generation: null, method: 'reflink', source: 'dir', servicesStopped: [], gid: meta.gid, socketsSkipped: 1 });
    assert.ok((m.bytes as number) > 66 * MiB);
    assert.equal(lstatSync(snapshotsOf(root, 'pgdata')).mode & 0o777, 0o700);
    assert.equal(lstatSync(join(root, 'var/lib/niso/snapshots')).mode & 0o777, 0o700, 'snapshots are root\'s alone');

    // Live data changes, then the snapshot comes back.
    writeFileSync(join(data, 'conf.json'), 'changed');
    rmSync(join(data, 'db'), { recursive: true });
    writeFileSync(join(data, 'new-file'), 'new');
    const changed = fingerprint(data);
    const back = await restoreSnapshot(root, 'pgdata', r.snapshot.id);
    assert.equal(back.method, 'reflink');
    assert.deepEqual(fingerprint(data), expected);
    assert.match(back.replaced, /\/volumes\/pgdata\/pgdata@manual-\d{8}T\d{6}Z-replaced-\d{8}T\d{6}Z$/);
    assert.deepEqual(fingerprint(back.replaced).slice(1), changed.slice(1), 'the live data is kept aside as it was');
    const listed = listSnapshots(root, 'pgdata');
    assert.deepEqual(listed.map((s) => s.kind), ['snapshot', 'replaced']);
    assert.deepEqual(readdirSync(volumeOf(layout(root), 'pgdata').dir).filter((n) => n.startsWith('.')), [], 'no staging dir left');
    await removeSnapshot(root, 'pgdata', listed[1]!.id);
    await removeSnapshot(root, 'pgdata', r.snapshot.id);
    assert.deepEqual(listSnapshots(root, 'pgdata'), []);
    assert.deepEqual(readdirSync(snapshotsOf(root, 'pgdata')), []);
    assert.match(await codeOf(removeSnapshot(root, 'pgdata', r.snapshot.id)), /^NISO5200/);
    assert.match(await codeOf(restoreSnapshot(root, 'pgdata', '../etc')), /^NISO5206/);
  });
});

test('a copy while writers run is refused (NISO5202); the caller may say they are stopped; restore is refused while a holder runs', async () => {
  await withFs('xfs', async (root) => {
    await createVolume(root, 'shared');
    const data = volumeOf(layout(root), 'shared').data;
    writeFileSync(join(data, 'f'), 'v1');
    const holder = await runHolder(root, 'app', 'shared');
    try {
      assert.match(await codeOf(takeSnapshot(root, 'shared')), /^NISO5202: cannot snapshot shared now: a run of app \(pid \d+\) writes to it, and a reflink copy is taken file by file/);
      assert.deepEqual(readdirSync(snapshotsOf(root, 'shared')), [], 'nothing written');
      const r = await takeSnapshot(root, 'shared', { writersStopped: true, servicesStopped: ['app'], generation: 7, reason: 'before switch to 8' });
      assert.ok(r.taken);
      assert.match(r.snapshot.id, /^g7-\d{8}T\d{6}Z$/);
      assert.deepEqual([r.snapshot.generation, r.snapshot.servicesStopped, r.snapshot.reason], [7, ['app'], 'before switch to 8']);
      assert.match(await codeOf(restoreSnapshot(root, 'shared', r.snapshot.id)), /^NISO5006: volume shared is in use by a run of app/);
      await ended(holder);
      writeFileSync(join(data, 'f'), 'v2');
      await restoreSnapshot(root, 'shared', r.snapshot.id);
      assert.equal(readFileSync(join(data, 'f'), 'utf8'), 'v1');
    } finally { await ended(holder); }
  });
});

test('btrfs: a volume\'s data is a subvolume, snapshotted read-only and atomically even while a writer runs; restore makes a writable subvolume; removal deletes the subvolumes', async () => {
  await withFs('btrfs', async (root) => {
    const meta = await createVolume(root, 'db');
    const data = volumeOf(layout(root), 'db').data;
    assert.ok(isSubvolume(data), 'made as a subvolume');
    assert.equal((lstatSync(data).mode & 0o7777).toString(8), '2770');
    fillTree(data, meta.gid);
    const expected = fingerprint(data);
    const holder = await runHolder(root, 'pg', 'db');
    let id: string;
    try {
      const r = await takeSnapshot(root, 'db', { generation: 3, lastGood: true });
      assert.ok(r.taken);
      assert.equal(r.snapshot.method, 'subvolume');
      id = r.snapshot.id;
      const snapData = join(r.snapshot.path, 'data');
      assert.ok(isSubvolume(snapData));
      assert.match(sh('btrfs', ['property', 'get', '-ts', snapData, 'ro']), /ro=true/);
      assert.deepEqual(fingerprint(snapData), expected);
    } finally { await ended(holder); }
    writeFileSync(join(data, 'conf.json'), 'changed');
    const back = await restoreSnapshot(root, 'db', id);
    assert.equal(back.method, 'subvolume');
    assert.ok(isSubvolume(data));
    assert.match(sh('btrfs', ['property', 'get', '-ts', data, 'ro']), /ro=false/);
    assert.deepEqual(fingerprint(data), expected);
    writeFileSync(join(data, 'writable'), 'yes');
    // The live data moved aside is a subvolume too: volume rm deletes all of them.
    assert.ok(isSubvolume(back.replaced));
    await removeSnapshot(root, 'db', id);
    await removeVolume(root, 'db', { force: false });
    assert.equal(sh('btrfs', ['subvolume', 'list', join(root, 'var/lib/niso')]).trim(), '', 'no subvolume left');
  });
});

test('btrfs: a plain directory (an unbounded /state) gets a reflink copy, restored with its owner', async () => {
  await withFs('btrfs', async (root) => {
    const s = stateOf(layout(root), 'web');
    mkdirSync(s.dir, { recursive: true, mode: 0o700 });
    chownSync(s.dir, 60990, 60990);
    writeFileSync(join(s.dir, 'session'), 'a');
    chownSync(join(s.dir, 'session'), 60990, 60990);
    assert.equal(isSubvolume(s.dir), false);
    const r = await takeSnapshot(root, 'web/state');
    assert.ok(r.taken);
    assert.deepEqual([r.snapshot.method, r.snapshot.source], ['reflink', 'dir']);
    writeFileSync(join(s.dir, 'session'), 'b');
    const back = await restoreSnapshot(root, 'web/state', r.snapshot.id);
    assert.equal(readFileSync(join(s.dir, 'session'), 'utf8'), 'a');
    assert.deepEqual([lstatSync(s.dir).uid, lstatSync(join(s.dir, 'session')).uid], [60990, 60990]);
    assert.match(back.replaced, /\/state\/web@manual-.*-replaced-/);
    assert.deepEqual(listSnapshots(root, 'web/state').map((x) => x.kind), ['snapshot', 'replaced']);
  });
});

test('ext4: no cheap method; a small volume is copied, a large one skipped with the reason unless a copy is asked for', async () => {
  await withFs('ext4', async (root) => {
    const meta = await createVolume(root, 'files');
    const data = volumeOf(layout(root), 'files').data;
    fillTree(data, meta.gid);
    const expected = fingerprint(data);
    const small = await takeSnapshot(root, 'files');
    assert.ok(small.taken);
    assert.equal(small.snapshot.method, 'copy');
    assert.match(small.note ?? '', /ext4 cannot share blocks between files \(no reflink\): a full copy \(\d+ bytes, at most the limit of 1073741824\)/);
    assert.deepEqual(fingerprint(join(small.snapshot.path, 'data')), expected);
    const skipped = await takeSnapshot(root, 'files', { copyLimitBytes: MiB });
    assert.equal(skipped.taken, false);
    assert.match(skipped.taken ? '' : skipped.reason, new RegExp(`^ext4 cannot share blocks between files \\(no reflink\\), and a full copy of \\d+ bytes is more than the limit of ${MiB} bytes$`));
    assert.equal(listSnapshots(root, 'files').length, 1, 'a skipped snapshot writes nothing');
    const forced = await takeSnapshot(root, 'files', { copyLimitBytes: MiB, forceCopy: true });
    assert.ok(forced.taken);
    assert.match(forced.note ?? '', /a full copy, as asked/);
    writeFileSync(join(data, 'conf.json'), 'x');
    const back = await restoreSnapshot(root, 'files', forced.snapshot.id);
    assert.equal(back.method, 'copy');
    assert.deepEqual(fingerprint(data), expected);
  });
});

test('retention keeps the newest 3 (or --keep), never the newest last-good one', async () => {
  await withFs('xfs', async (root) => {
    await createVolume(root, 'r');
    const ids: string[] = [];
    const good = await takeSnapshot(root, 'r', { generation: 1, lastGood: true });
    assert.ok(good.taken);
    ids.push(good.snapshot.id);
    for (let g = 2; g <= 5; g++) {
      const t = await takeSnapshot(root, 'r', { generation: g });
      assert.ok(t.taken);
      ids.push(t.snapshot.id);
      if (g === 5) assert.deepEqual(t.pruned, [ids[1]], 'the oldest that is not last-good');
    }
    assert.deepEqual(listSnapshots(root, 'r').map((s) => s.generation), [1, 3, 4, 5]);
    const one = await takeSnapshot(root, 'r', { generation: 6, keep: 1 });
    assert.ok(one.taken);
    assert.deepEqual(listSnapshots(root, 'r').map((s) => s.generation), [1, 6]);
  });
});

test('a bounded /state (an ext4 image on XFS): the image is reflinked, and restored while unmounted', async () => {
  await withFs('xfs', async (root) => {
    const s = stateOf(layout(root), 'api');
    const b = { dir: s.dir, image: s.image, sizeBytes: 64 * MiB, uid: 60990, gid: 60990, mode: 0o700 };
    await ensureBounded(b);
    writeFileSync(join(s.dir, 'rows'), 'one');
    const r = await takeSnapshot(root, 'api/state');
    assert.ok(r.taken);
    assert.deepEqual([r.snapshot.method, r.snapshot.source], ['reflink', 'image']);
    writeFileSync(join(s.dir, 'rows'), 'two');
    const back = await restoreSnapshot(root, 'api/state', r.snapshot.id);
    assert.match(back.replaced, /\/state\/\.images\/api@manual-.*-replaced-\d{8}T\d{6}Z\.img$/);
    assert.equal(existsSync(join(s.dir, 'rows')), false, 'unmounted for the restore');
    await ensureBounded(b);
    assert.equal(readFileSync(join(s.dir, 'rows'), 'utf8'), 'one');
    await unmountBounded(b);
  });
});

test('CLI: a snapshot killed mid-copy leaves nothing listed, gc names it and the next snapshot sweeps it; --json shapes; restore needs --yes', async () => {
  await withFs('ext4', async (root) => {
    const niso = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NISO_ROOT: root } });
    await createVolume(root, 'big');
    const data = volumeOf(layout(root), 'big').data;
    for (let i = 0; i < 40; i++) writeFileSync(join(data, `f${i}`), Buffer.alloc(4 * MiB, i));
    const child = spawn(process.execPath, [BIN, 'volume', 'snapshot', 'big', '--copy'], { env: { ...process.env, NISO_ROOT: root }, stdio: 'ignore', detached: true });
    const dir = snapshotsOf(root, 'big');
    const deadline = Date.now() + 20_000;
    let tmp: string | undefined;
    while (Date.now() < deadline) {
      tmp = existsSync(dir) ? readdirSync(dir).find((n) => n.includes('.tmp-')) : undefined;
      if (tmp && existsSync(join(dir, tmp, 'data'))) break;
      await new Promise((res) => setTimeout(res, 5));
    }
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((res) => child.once('exit', res));
    assert.ok(tmp, 'caught in the middle of the copy');
    assert.equal(existsSync(join(dir, tmp, 'meta.json')), false, 'killed before it was complete');
    const listed = niso(['volume', 'snapshots', 'big', '--json']);
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), []);
    const gc = niso(['gc', '--dry-run', '--json']);
    assert.equal(gc.status, 0, gc.stderr);
    assert.deepEqual((JSON.parse(gc.stdout) as { leftovers: string[] }).leftovers, [join(dir, tmp)], 'gc names it');
    const t = niso(['volume', 'snapshot', 'big', '--keep', '2', '--json']);
    assert.equal(t.status, 0, t.stderr);
    const taken = JSON.parse(t.stdout) as { taken: boolean; snapshot: { id: string; method: string; bytes: number } };
    assert.deepEqual([taken.taken, taken.snapshot.method], [true, 'copy']);
    assert.deepEqual(readdirSync(dir).sort(), [taken.snapshot.id, 'retention.json'], 'the killed one was swept');
    const skipped = niso(['volume', 'snapshot', 'big', '--json']);
    assert.equal(skipped.status, 0, 'under the limit: copied');
    const noYes = niso(['volume', 'snapshot-restore', 'big', taken.snapshot.id]);
    assert.equal(noYes.status, 2);
    assert.match(noYes.stderr, /NISO5207/);
    const yes = niso(['volume', 'snapshot-restore', 'big', taken.snapshot.id, '--yes', '--json']);
    assert.equal(yes.status, 0, yes.stderr);
    assert.equal((JSON.parse(yes.stdout) as { method: string }).method, 'copy');
    const all = JSON.parse(niso(['volume', 'snapshots', '--json']).stdout) as { volume: string; kind: string }[];
    assert.deepEqual(all.map((s) => s.kind), ['snapshot', 'snapshot', 'replaced']);
    const none = niso(['volume', 'snapshots', 'nope']);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /NISO5002/);
  }, 1200);
});
