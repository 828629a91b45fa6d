// Volumes across generations on the file systems that make snapshots cheap: the NISO_ROOT's /var/lib/niso is a fresh
// XFS (reflink=1) or btrfs on a loop device made here. An upgrade snapshots the volume and the /state by reflink (XFS)
// or as a btrfs subvolume snapshot, and rollback --with-data brings the old data back. Host-only (the embedded
// backend): the systemd machine has no loop-mounted file system of its own; the ext4 path runs on both backends
// (switch-data.test.ts). The file system is unmounted and its loop device detached whatever happens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts } from '../helpers/ports.js';
import { MAIN } from '../helpers/data-app.js';
import { NODE_MANIFEST, removeNetworksBelow, tempDir, writeTree } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');


const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function answers(port: number, text: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const last = spawnSync('curl', ['-s', '-m', '2', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout;
    if (last === text) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${JSON.stringify(text)} on ${port}; it answered ${JSON.stringify(last)}`);
    await sleep(50);
  }
}

for (const [fs, method] of [['xfs', 'reflink'], ['btrfs', 'subvolume']] as const) {
  test(`on ${fs}: the upgrade's snapshots are ${method} snapshots, and rollback --with-data restores from them`, async () => {
    const dir = tempDir(`niso-gendata-${fs}-`);
    const root = join(dir, 'root');
    const lib = join(root, 'var/lib/niso');
    const image = join(dir, `${fs}.img`);
    mkdirSync(lib, { recursive: true });
    writeFileSync(image, '');
    sh('truncate', ['-s', '400M', image]);
    sh(fs === 'xfs' ? 'mkfs.xfs' : 'mkfs.btrfs', fs === 'xfs' ? ['-q', '-m', 'reflink=1', image] : ['-q', image]);
    // Below a shared mount of its own, as niso mounts state images (host/bounded-dir.ts): a mount namespace made
    // meanwhile (another file's systemd machine) then holds a slave copy that leaves with the unmount, where a private
    // copy kept the loop device attached for as long as that machine ran (seen in a whole run three files at a time).
    const parent = join(root, 'var/lib');
    sh('mount', ['--bind', parent, parent]);
    sh('mount', ['--make-shared', parent]);
    sh('mount', ['-o', 'loop', image, lib]);
    const niso = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root } });
    const ok = (args: string[]) => {
      const r = niso(args);
      assert.equal(r.status, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
      return r;
    };
    try {
      chmodSync(lib, 0o755);
      for (const [v, migrates] of [['1.0.0', false], ['2.0.0', true]] as const) {
        await writeTree(join(dir, `app-${v}`), {
          'manifest.toml': NODE_MANIFEST('app', v, 'stop_timeout = "2s"\n\n[volumes.data]\nmount = "/data"\n', ['main.js']),
          'main.js': MAIN(v, migrates),
        });
        ok(['pack', `app-${v}`, '-o', `app-${v}.niso`, '-q']);
        ok(['install', `app-${v}.niso`]);
      }
      const [port] = await freePorts(1);
      ok(['activate', 'app:1.0.0', '--name', 'app', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s']);
      await answers(port!, 'version 1.0.0 data=row of 1.0.0 state=state of 1.0.0');
      ok(['activate', 'app:2.0.0', '--name', 'app', '-p', `127.0.0.1:${port}:3000`, '--settle', '1s']);
      await answers(port!, 'version 2.0.0 data=row of 2.0.0 state=state of 2.0.0');
      const snaps = JSON.parse(ok(['volume', 'snapshots', 'app/data', '--json']).stdout) as { id: string; method: string }[];
      assert.deepEqual(snaps.map((s) => s.method), [method]);
      // The bounded /state is an image file: a reflink copy of it on both (a subvolume snapshot is for directories).
      assert.deepEqual((JSON.parse(ok(['volume', 'snapshots', 'app/state', '--json']).stdout) as { method: string }[]).map((s) => s.method), ['reflink']);
      const back = ok(['rollback', '--with-data', '--settle', '1s']);
      assert.match(back.stderr, new RegExp(`^restored app/data from snapshot ${snaps[0]!.id}`, 'm'));
      await answers(port!, 'version 1.0.0 data=row of 1.0.0 state=state of 1.0.0');
      ok(['deactivate', 'app', '--no-snapshot']);
    } finally {
      try { process.kill((JSON.parse(readFileSync(join(root, 'run/niso/supervisor.json'), 'utf8')) as { pid: number }).pid, 'SIGKILL'); } catch { /* none */ }
      niso(['deactivate', 'app', '--no-snapshot']);
      niso(['remove', 'app']);
      await removeNetworksBelow(dir);
      const { releaseRootsBelow } = await import('../../src/store/release-root.js');
      await releaseRootsBelow(dir);
      // State images mounted inside it first, then the file system; its loop device goes with it.
      for (const m of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((p): p is string => !!p && p.startsWith(`${lib}/`)).reverse()) spawnSync('umount', [m]);
      if (spawnSync('umount', [lib]).status !== 0) spawnSync('umount', ['-l', lib]);
      spawnSync('umount', [parent]);
      // The kernel detaches the loop device when the last mount of it goes, in any mount namespace: a process of another
      // test that copied the mount table meanwhile (CONTRIBUTING.md, "Test files can run side by side") holds it until
      // it exits, which on this shared host took seconds. Wait for that, with a generous bound.
      const attached = () => spawnSync('losetup', ['-j', image, '-n'], { encoding: 'utf8' }).stdout.trim();
      const deadline = Date.now() + 120_000;
      while (attached() !== '' && Date.now() < deadline) await sleep(200);
      assert.equal(attached(), '', 'no loop device left');
    }
  });
}
