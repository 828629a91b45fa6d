// Volume backups on real trees (src/volume/backup.ts, restore.ts): backup → remove → restore gives back every file,
// link, owner, mode and time (the volume's group mapped to the new one's); a kept /state image is mounted read-only
// for its copy and left as it was; and hostile archives, built here entry by entry, are refused with a coded error,
// with nothing written outside the volume and no volume, temp dir or partial file left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, chmodSync, closeSync, existsSync, fstatSync, openSync, readSync, truncateSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { isNisoError } from '../../src/errors/niso-error.js';
import { ensureBounded, unmountBounded, boundedUsage } from '../../src/host/bounded-dir.js';
import { mountAt } from '../../src/host/mounts.js';
import { layout, stateOf, volumeOf } from '../../src/store/layout.js';
import { allVolumes, removeVolumes } from '../../src/volume/catalog.js';
import { backupVolume } from '../../src/volume/backup.js';
import { restoreVolume } from '../../src/volume/restore.js';
import { createVolume, readMeta } from '../../src/volume/store.js';
import type { BackupEntry } from '../../src/volume/backup-format.js';
import { sha, tarBytes, zstd, type RawEntry } from '../helpers/craft.js';
import { tempDir } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');

function newRoot(): { root: string; dir: string } {
  const dir = tempDir();
  const root = join(dir, 'root');
  mkdirSync(join(root, 'var/lib/niso'), { recursive: true });
  return { root, dir };
}
const hostOf = (root: string) => ({ root, env: process.env, entry: BIN });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { assert.ok(isNisoError(e), String((e as Error).stack)); return `${e.code}: ${e.message}`; }
  assert.fail('no error');
}

/** Every entry below dir as comparable text: type, owner (the old group mapped), mode, size, content, target, time. */
function listing(dir: string, gidMap: Map<number, number> = new Map()): string[] {
  const out: string[] = [];
  const inodes = new Map<number, string>();
  const walk = (rel: string) => {
    for (const n of readdirSync(join(dir, rel)).sort()) {
      const p = rel ? `${rel}/${n}` : n;
      const abs = join(dir, p);
      const st = lstatSync(abs);
      const own = `${st.uid}:${gidMap.get(st.gid) ?? st.gid} ${(st.mode & 0o7777).toString(8)} ${Math.floor(st.mtimeMs / 1000)}`;
      if (st.isSymbolicLink()) out.push(`${p} link ${own} -> ${readlinkSync(abs)}`);
      else if (st.isDirectory()) { out.push(`${p} dir ${own}`); walk(p); }
      else {
        const first = inodes.get(st.ino);
        if (first === undefined) inodes.set(st.ino, p);
        out.push(`${p} file ${own} ${st.size} ${createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16)}${first ? ` = ${first}` : ''}`);
      }
    }
  };
  walk('');
  return out;
}

/** A tree with what volumes hold: owners of several uids, modes, symlinks, hard links, long names, empty things. */
function fillTree(dir: string, gid: number): void {
  const long = `${'l'.repeat(120)}/${'m'.repeat(120)}/${'n'.repeat(120)}`;
  mkdirSync(join(dir, long), { recursive: true });
  writeFileSync(join(dir, long, 'deep.txt'), 'deep\n');
  mkdirSync(join(dir, 'db/base'), { recursive: true });
  mkdirSync(join(dir, 'empty-dir'));
  writeFileSync(join(dir, 'empty-file'), '');
  writeFileSync(join(dir, 'db/base/1'), Buffer.alloc(3 * 1024 * 1024 + 17, 'x'));
  writeFileSync(join(dir, 'db/base/2'), createHash('sha512').update('seed').digest());
  writeFileSync(join(dir, 'conf.json'), '{"a":1}\n');
  symlinkSync('db/base/1', join(dir, 'current'));
  symlinkSync('../conf.json', join(dir, 'db/conf'));
  linkSync(join(dir, 'db/base/2'), join(dir, 'db/hard'));
  // Names past ustar's fields: a symlink's long target, a hard link's long name (pax headers).
  symlinkSync(`${long}/deep.txt`, join(dir, 'to-deep'));
  linkSync(join(dir, 'db/base/2'), join(dir, long, 'hard-too'));
  chownSync(join(dir, 'db'), 60997, gid);
  chownSync(join(dir, 'db/base/1'), 60997, gid);
  chownSync(join(dir, 'conf.json'), 60998, 60998);
  chmodSync(join(dir, 'db/base/1'), 0o600);
  chmodSync(join(dir, 'conf.json'), 0o640);
  utimesSync(join(dir, 'conf.json'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
}

test('backup → rm → restore gives back every file, link, owner, mode and time; the group is the new volume\'s; labels too', async () => {
  const { root, dir } = newRoot();
  const before = await createVolume(root, 'pgdata', { app: 'shop' });
  const data = volumeOf(layout(root), 'pgdata').data;
  fillTree(data, before.gid);
  const expected = listing(data);
  const out = join(dir, 'pgdata.tar.zst');
  const r = await backupVolume(hostOf(root), 'pgdata', out, { live: false });
  assert.deepEqual({ files: r.files, stopped: r.stopped, downtimeMs: r.downtimeMs, live: r.live, warnings: r.warnings }, { files: 5, stopped: [], downtimeMs: null, live: false, warnings: [] });
  assert.equal(r.dataBytes, 3 * 1024 * 1024 + 17 + 64 + 5 + 8);
  assert.ok(r.archiveBytes < 64 * 1024, `${r.archiveBytes} bytes: compressed`);
  assert.equal(lstatSync(out).mode & 0o777, 0o600, 'a backup is root\'s alone');
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.')), [], 'no temporary file left');
  // A plain tar under zstd: the manifest is its last entry.
  const names = spawnSync('sh', ['-c', `zstd -dc ${out} | tar -tf -`], { encoding: 'utf8' }).stdout.trim().split('\n');
  assert.equal(names.at(-1), 'niso-backup.json');
  assert.ok(names.every((n) => n === 'niso-backup.json' || n === 'data/' || n.startsWith('data/')));

  await removeVolumes(root, ['pgdata'], { force: false });
  assert.equal(existsSync(volumeOf(layout(root), 'pgdata').dir), false);
  const back = await restoreVolume(root, 'pgdata', out);
  assert.deepEqual({ created: back.created, files: back.files, from: back.from.volume }, { created: true, files: 5, from: 'pgdata' });
  const after = readMeta(root, 'pgdata')!;
  assert.deepEqual(after.labels, { app: 'shop' });
  assert.deepEqual(listing(data, new Map([[after.gid, before.gid]])), expected);
  const st = lstatSync(data);
  assert.deepEqual([st.uid, st.gid, (st.mode & 0o7777).toString(8)], [0, after.gid, '2770'], 'the data dir stays the volume\'s own');
  assert.deepEqual(readdirSync(volumeOf(layout(root), 'pgdata').dir).sort(), ['data', 'volume.json'], 'no temporary directory left');

  assert.match(await codeOf(restoreVolume(root, 'pgdata', out)), /^NISO5030: volume pgdata is not empty/);
  assert.match(await codeOf(backupVolume(hostOf(root), 'pgdata', join(data, 'self.tar.zst'), { live: false })), /^NISO5020: .* is inside the volume/);
  assert.match(await codeOf(backupVolume(hostOf(root), 'pgdata', dir, { live: false })), /^NISO5020: .* is a directory/);
  assert.match(await codeOf(backupVolume(hostOf(root), 'nope', out, { live: false })), /^NISO5002/);
  mkdirSync(join(dir, 'fifo-dir'));
  spawnSync('mkfifo', [join(data, 'pipe')]);
  assert.match(await codeOf(backupVolume(hostOf(root), 'pgdata', join(dir, 'fifo.tar.zst'), { live: false })), /^NISO5021: .*pipe is a FIFO/);
  // A socket is skipped with a warning, as tar does: its server makes it again, and restore could not.
  rmSync(join(data, 'pipe'));
  const server = createServer();
  await new Promise<void>((res) => server.listen(join(data, 'app.sock'), res));
  try {
    const withSocket = await backupVolume(hostOf(root), 'pgdata', join(dir, 'sock.tar.zst'), { live: false });
    assert.deepEqual(withSocket.warnings, ['app.sock: socket skipped (its server makes it again)']);
    const listed = spawnSync('sh', ['-c', `zstd -dc ${join(dir, 'sock.tar.zst')} | tar -tf -`], { encoding: 'utf8' }).stdout;
    assert.equal(listed.includes('app.sock'), false);
  } finally { server.close(); }
  assert.equal(existsSync(join(dir, 'fifo.tar.zst')), false);
});

test('a file that changes during a stopped copy fails it (NISO5023, nothing written); --live copies it, and the manifest matches what the archive holds', async () => {
  const { root, dir } = newRoot();
  await createVolume(root, 'busy');
  const data = volumeOf(layout(root), 'busy').data;
  fillTree(data, readMeta(root, 'busy')!.gid);
  // The log starts as a 64 MiB hole, so that reading it takes long enough (a few hundred ms) for the writer to append
  // while niso reads it, however loaded the host is: a small file is read in microseconds, and a writer the scheduler
  // did not run in that window changed nothing (this test failed under a load of 20 on two cores).
  const HOLE = 64 * 1024 * 1024;
  writeFileSync(join(data, 'log'), '');
  truncateSync(join(data, 'log'), HOLE);
  // A writer that appends without pause while the copy runs: the size tar or niso sees keeps changing.
  const writer = spawn('sh', ['-c', `while :; do echo line >> ${join(data, 'log')}; done`], { stdio: 'ignore' });
  try {
    const out = join(dir, 'busy.tar.zst');
    assert.match(await codeOf(backupVolume(hostOf(root), 'busy', out, { live: false })), /^NISO5023: .*(changed while it was copied|tar could not read busy)/);
    assert.equal(existsSync(out), false);
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.')), []);
    const live = await backupVolume(hostOf(root), 'busy', out, { live: true });
    assert.equal(live.live, true);
    writer.kill('SIGKILL');
    await new Promise((r) => writer.once('exit', r));
    const back = await restoreVolume(root, 'copy', out);
    assert.equal(back.from.live, true);
    const fd = openSync(join(volumeOf(layout(root), 'copy').data, 'log'), 'r');
    try {
      const tail = Buffer.alloc(fstatSync(fd).size - HOLE);
      readSync(fd, tail, 0, tail.length, HOLE);
      assert.match(tail.toString('utf8'), /^(line\n)*$/);
    } finally { closeSync(fd); }
  } finally {
    writer.kill('SIGKILL');
  }
  assert.deepEqual(readdirSync(layout(root).tmp).filter((n) => n.startsWith('backup-')), [], 'no work dir left');
});

test('a name that is not UTF-8 is refused (NISO5024) rather than backed up as another', async () => {
  const { root, dir } = newRoot();
  await createVolume(root, 'latin');
  const data = volumeOf(layout(root), 'latin').data;
  writeFileSync(Buffer.concat([Buffer.from(`${data}/caf`), Buffer.from([0xe9])]), 'x');
  assert.match(await codeOf(backupVolume(hostOf(root), 'latin', join(dir, 'l.tar.zst'), { live: false })), /^NISO5024: .*caf\\xe9 has a name that is not UTF-8/);
  // Such a name goes with its volume all the same (node's own recursive rm could not unlink it).
  assert.deepEqual(await removeVolumes(root, ['latin'], { force: false }), ['latin']);
  assert.equal(existsSync(volumeOf(layout(root), 'latin').dir), false);
});

test('a kept /state image is mounted read-only for its backup and left unmounted; the copy restores into a named volume', async () => {
  const { root, dir } = newRoot();
  const s = stateOf(layout(root), 'old');
  await ensureBounded({ dir: s.dir, image: s.image, sizeBytes: 16 * 1024 * 1024, uid: 60996, gid: 60996, mode: 0o700 });
  writeFileSync(join(s.dir, 'db.sqlite'), 'rows');
  chownSync(join(s.dir, 'db.sqlite'), 60996, 60996);
  await unmountBounded(s);
  assert.equal(boundedUsage(s)?.mounted, false);
  const out = join(dir, 'state.tar.zst');
  const r = await backupVolume(hostOf(root), 'old/state', out, { live: false });
  assert.equal(r.files, 1);
  assert.equal(mountAt(s.dir), null, 'left unmounted');
  assert.deepEqual(readdirSync(join(s.image, '..')).filter((n) => n.includes('.backup-')), [], 'no mount point left');
  assert.equal(spawnSync('losetup', ['-j', s.image, '-n'], { encoding: 'utf8' }).stdout.trim(), '', 'no loop device left');
  await restoreVolume(root, 'copy', out);
  const f = lstatSync(join(volumeOf(layout(root), 'copy').data, 'db.sqlite'));
  assert.equal(f.uid, 60996);
  assert.equal(readFileSync(join(volumeOf(layout(root), 'copy').data, 'db.sqlite'), 'utf8'), 'rows');
  // Into the /state of a name without one (a new plain dir, which the service's first start moves into its image),
  // owned by that name's uid; and into the mounted, empty /state of another.
  const { serviceUid } = await import('../../src/sandbox/uids.js');
  await restoreVolume(root, 'fresh/state', out);
  const fresh = stateOf(layout(root), 'fresh');
  const uid = (await serviceUid(root, 'fresh')).uid;
  assert.deepEqual([lstatSync(join(fresh.dir, 'db.sqlite')).uid, lstatSync(fresh.dir).uid], [uid, uid]);
  assert.deepEqual(readdirSync(fresh.dir), ['db.sqlite']);
  const other = stateOf(layout(root), 'other');
  await ensureBounded({ dir: other.dir, image: other.image, sizeBytes: 16 * 1024 * 1024, uid: 60995, gid: 60995, mode: 0o700 });
  await restoreVolume(root, 'other/state', out);
  assert.deepEqual(readdirSync(other.dir), ['db.sqlite']);
  assert.equal(readFileSync(join(other.dir, 'db.sqlite'), 'utf8'), 'rows');
  assert.match(await codeOf(restoreVolume(root, 'other/state', out)), /^NISO5030: volume other\/state is not empty/);
});

/** A backup built entry by entry: `data` entries, then a manifest listing them (or the one given). */
async function craftBackup(file: string, data: RawEntry[], opts: { manifest?: BackupEntry[] | null; after?: RawEntry[]; compress?: 'zstd' | 'gzip' } = {}): Promise<void> {
  const listed: BackupEntry[] = opts.manifest ?? data.filter((e) => e.name !== 'data/').map((e): BackupEntry => {
    const path = e.name.replace(/^data\//, '').replace(/\/$/, '');
    const content = Buffer.from(e.data ?? '');
    if (e.type === 'directory') return { path, type: 'dir' };
    if (e.type === 'symlink') return { path, type: 'symlink', target: e.linkname! };
    if (e.type === 'link') return { path, type: 'link', size: 0, sha256: sha(''), target: e.linkname!.replace(/^data\//, '') };
    return { path, type: 'file', size: content.length, sha256: sha(content) };
  });
  const manifest = { format: 'niso-volume-backup', version: 1, volume: 'x', kind: 'named', labels: {}, createdAt: 't', live: false, root: { uid: 0, gid: 0, mode: 0o2770 }, gid: null, totals: {}, entries: listed };
  const entries: RawEntry[] = [{ name: 'data/', type: 'directory', mode: 0o2770 }, ...data];
  if (opts.manifest !== null) entries.push({ name: 'niso-backup.json', data: JSON.stringify(manifest) });
  entries.push(...(opts.after ?? []));
  const tar = await tarBytes(entries);
  writeFileSync(file, opts.compress === 'gzip' ? gzipSync(tar) : zstd(tar));
}

test('hostile archives are refused with a coded error; nothing lands outside the volume, and no volume, temp dir or partial file is left', async () => {
  const { root, dir } = newRoot();
  const outside = join(dir, 'outside');
  mkdirSync(outside);
  const evil = join(outside, 'evil');
  const cases: [string, Parameters<typeof craftBackup>[1], Parameters<typeof craftBackup>[2], RegExp][] = [
    ['traversal', [{ name: 'data/../../../outside/evil', data: 'x' }], { manifest: [] }, /^NISO5032: .*"data\/\.\.\/\.\.\/\.\.\/outside\/evil" contains "\.\."; it would be written outside the volume/],
    ['traversal inside data', [{ name: 'data/a/../../x', data: 'x' }], { manifest: [] }, /^NISO5032: .*contains "\.\."/],
    ['absolute path', [{ name: evil, data: 'x' }], { manifest: [] }, /^NISO5032: .* is absolute/],
    ['outside data/', [{ name: 'etc/passwd', data: 'x' }], { manifest: [] }, /^NISO5032: .*is not below data\//],
    ['absolute symlink', [{ name: 'data/s', type: 'symlink', linkname: '/etc/shadow' }], {}, /^NISO5033: .*symlink "s" points at the absolute path "\/etc\/shadow"/],
    ['symlink above the root', [{ name: 'data/d/', type: 'directory' }, { name: 'data/d/s', type: 'symlink', linkname: '../../outside' }], {}, /^NISO5033: .*points above the volume/],
    ['symlink chain', [{ name: 'data/b', type: 'symlink', linkname: '.' }, { name: 'data/s', type: 'symlink', linkname: 'b/..' }], {}, /^NISO5033: .*through other symlinks/],
    ['write through a symlink', [{ name: 'data/sub/', type: 'directory' }, { name: 'data/s', type: 'symlink', linkname: 'sub' }, { name: 'data/s/x', data: 'x' }], {}, /^NISO5033: .*"s\/x" lies below the symlink "s"/],
    ['hard link out', [{ name: 'data/h', type: 'link', linkname: '/etc/passwd' }], {}, /^NISO5034: .*hard link "h" names "\/etc\/passwd"/],
    ['hard link through ..', [{ name: 'data/h', type: 'link', linkname: 'data/../x' }], {}, /^NISO5034/],
    ['hard link to nothing earlier', [{ name: 'data/h', type: 'link', linkname: 'data/later' }, { name: 'data/later', data: 'x' }], {}, /^NISO5034/],
    ['character device', [{ name: 'data/mem', type: 'character-device' }], { manifest: [] }, /^NISO5035: .*"data\/mem" is a character device/],
    ['FIFO', [{ name: 'data/p', type: 'fifo' }], { manifest: [] }, /^NISO5035: .*FIFO/],
    ['huge size', [{ name: 'data/big', base256Size: 2n ** 50n }], { manifest: [] }, /^NISO5036: .*"big" \(\d+ bytes\) does not fit/],
    ['impossible size', [{ name: 'data/big', base256Size: 2n ** 62n }], { manifest: [] }, /^NISO5031/],
    ['content not as listed', [{ name: 'data/f', data: 'changed' }], { manifest: [{ path: 'f', type: 'file', size: 7, sha256: sha('origina') }] }, /^NISO5037: .*f differs from the manifest/],
    ['file not listed', [{ name: 'data/f', data: 'x' }], { manifest: [] }, /^NISO5037: .*f is in the archive but not in the manifest/],
    ['listed file missing', [], { manifest: [{ path: 'f', type: 'file', size: 1, sha256: sha('x') }] }, /^NISO5037: .*f is in the manifest but not in the archive/],
    ['no manifest', [{ name: 'data/f', data: 'x' }], { manifest: null }, /^NISO5031: .*has no manifest/],
    ['entry after the manifest', [], { after: [{ name: 'data/late', data: 'x' }] }, /^NISO5031: .*"data\/late" follows the manifest/],
    ['twice', [{ name: 'data/f', data: 'x' }, { name: 'data/f', data: 'y' }], { manifest: [] }, /^NISO5032: .*"f" appears twice/],
    ['gzip instead of zstd', [{ name: 'data/f', data: 'x' }], { compress: 'gzip' }, /^NISO5031: .*gzip/],
  ];
  for (const [what, entries, opts, re] of cases) {
    const file = join(dir, `${what.replace(/\W+/g, '-')}.tar.zst`);
    await craftBackup(file, entries, opts);
    assert.match(await codeOf(restoreVolume(root, 'target', file)), re, what);
    assert.deepEqual((await allVolumes(root, { sizes: false })).map((v) => v.name), [], `${what}: the volume made for it is gone`);
    assert.deepEqual(readdirSync(outside), [], `${what}: nothing outside`);
    assert.equal(existsSync('/etc/shadow.niso-test') || existsSync(join(layout(root).volumes, 'outside')), false);
  }
  // Into an existing empty volume: refused archives leave it as it was, without temp dirs.
  await createVolume(root, 'kept');
  const file = join(dir, 'twice.tar.zst');
  assert.match(await codeOf(restoreVolume(root, 'kept', file)), /^NISO5032/);
  assert.deepEqual(readdirSync(volumeOf(layout(root), 'kept').dir).sort(), ['data', 'volume.json']);
  assert.deepEqual(readdirSync(volumeOf(layout(root), 'kept').data), []);
  assert.match(await codeOf(restoreVolume(root, 'kept', dir)), /^NISO5038: .* is a directory/);
  assert.match(await codeOf(restoreVolume(root, 'kept', join(dir, 'none.tar.zst'))), /^NISO5038: .*no such file/);
  // A consistent archive of the same shapes restores (the cases above fail for their one flaw, not the format).
  const good = join(dir, 'good.tar.zst');
  await craftBackup(good, [{ name: 'data/sub/', type: 'directory' }, { name: 'data/sub/f', data: 'ok' }, { name: 'data/s', type: 'symlink', linkname: 'sub/f' }, { name: 'data/h', type: 'link', linkname: 'data/sub/f' }], {
    manifest: [{ path: 'sub', type: 'dir' }, { path: 'sub/f', type: 'file', size: 2, sha256: sha('ok') }, { path: 's', type: 'symlink', target: 'sub/f' }, { path: 'h', type: 'link', size: 2, sha256: sha('ok'), target: 'sub/f' }],
  });
  await restoreVolume(root, 'kept', good);
  assert.equal(readFileSync(join(volumeOf(layout(root), 'kept').data, 's'), 'utf8'), 'ok');
  assert.equal(lstatSync(join(volumeOf(layout(root), 'kept').data, 'h')).nlink, 2);
});
