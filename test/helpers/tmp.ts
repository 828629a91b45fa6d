// Temporary directories for tests, removed afterwards even when sealed read-only by the store.
import { chmodSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile, chmod, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { forceRemove } from '../../src/store/fs-tree.js';

export function tempDir(prefix = 'niso-test-'): string {
  const d = mkdtempSync(join(process.env.NISO_TEST_TMP ?? tmpdir(), prefix));
  // Sandboxed apps run as their own uid and must be able to reach the store below NISO_ROOT.
  chmodSync(d, 0o755);
  after(() => removeTestDir(d));
  return d;
}

/**
 * What a test's directory holds beyond its files goes first: processes of the embedded backend's services and
 * supervisors of the NISO_ROOTs in it, then their networks, mounts (state images) and uid claims, which live on the
 * host. Then the directory; a mount left in it would have its contents deleted.
 */
export async function removeTestDir(dir: string): Promise<void> {
  await killServicesBelow(dir);
  await removeNetworksBelow(dir);
  const { releaseRootsBelow } = await import('../../src/store/release-root.js');
  await releaseRootsBelow(dir);
  await forceRemove(dir);
}

/**
 * The last resort for a test that failed (or forgot) before it stopped its services: the supervisors and every
 * process in the services' cgroups of the NISO_ROOTs below `dir` are SIGKILLed, and waited for, so that no sandbox
 * outlives the directory and holds its /state image's loop device (read-modules' did, every run, until it was
 * fixed); then the cgroups go. A test that stops its services finds nothing here.
 */
export async function killServicesBelow(dir: string): Promise<void> {
  const { rootsBelow } = await import('../../src/store/release-root.js');
  const roots = rootsBelow(dir, 'var/lib/niso/services');
  if (roots.length === 0) return;
  const [{ listServiceNames }, { cgroupOf }, { supervisorPid }, { removeCgroup }] = await Promise.all([
    import('../../src/service/store.js'), import('../../src/service/running.js'), import('../../src/service/supervisor-record.js'),
    import('../../src/sandbox/cgroup.js'),
  ]);
  // The supervisors first, or they would start what is killed again.
  for (const root of roots) {
    const sup = await supervisorPid(root);
    if (sup !== null) { try { process.kill(sup, 'SIGKILL'); } catch { /* gone */ } }
  }
  // removeCgroup kills what is in a service's cgroup, waits until it is empty, and removes it.
  for (const root of roots) for (const name of listServiceNames(root)) await removeCgroup(cgroupOf(root, name));
}

/**
 * The end of an e2e file that made services in `root` (below `dir`) with the built CLI: its supervisor SIGKILLed (it
 * would restart what is stopped), every service deactivated and removed through `niso` (with `--state` when asked),
 * then removeTestDir, which gives back the root's uid claims (host-wide), mounts and networks.
 */
export async function removeServicesAndTestDir(dir: string, root: string, niso: (args: string[]) => unknown, opts: { state?: boolean } = {}): Promise<void> {
  const killSupervisor = () => {
    try {
      const pid = (JSON.parse(readFileSync(join(root, 'run/niso/supervisor.json'), 'utf8')) as { pid: number }).pid;
      process.kill(pid, 'SIGKILL');
    } catch { /* none */ }
  };
  killSupervisor();
  for (const n of (() => { try { return readdirSync(join(root, 'var/lib/niso/services')); } catch { return []; } })()) {
    if (!n.startsWith('.')) { niso(['deactivate', n]); niso(['remove', n, ...(opts.state ? ['--state'] : [])]); }
  }
  // The commands above may have started a supervisor again; it must not hold anything of the root while it goes.
  killSupervisor();
  await removeTestDir(dir);
}

/**
 * Private networks are the default, so a test's NISO_ROOT often has one: its bridge and nft table
 * live on the host, not in the directory, and must be removed before the root goes.
 */
export async function removeNetworksBelow(dir: string): Promise<void> {
  const { rootsBelow } = await import('../../src/store/release-root.js');
  const roots = rootsBelow(dir, 'var/lib/niso/net/networks.json');
  if (roots.length === 0) return;
  const net = await import('../../src/net/host/manager.js');
  for (const root of roots) {
    try {
      const ctx = net.netContext(root);
      await net.pruneNetwork(ctx);
      for (const n of await net.listNetworks(ctx)) {
        // Still in use (a run or service of a failed test outlived it): its attachments are torn down and the network
        // removed all the same. Before, the root was deleted with the network in use, and its bridge stayed on the
        // host with no record left to remove it by.
        for (const service of new Set(n.attachments.map((a) => a.service))) await net.detachService(ctx, service);
        try { await net.removeNetwork(ctx, n.network.name); } catch (e) {
          console.error(`removeNetworksBelow: network ${n.network.name} (bridge ${n.network.bridge}) of ${root} stays: ${(e as Error).message}`);
        }
      }
    } catch { /* a broken root: nothing more to do */ }
  }
}

export type TreeSpec = Record<string, string | { content: string; mode?: number } | { symlink: string }>;

/** Writes files (and symlinks) described by a spec; keys are paths relative to `root`. */
export async function writeTree(root: string, spec: TreeSpec, order: 'as-given' | 'reversed' = 'as-given'): Promise<void> {
  const entries = Object.entries(spec);
  if (order === 'reversed') entries.reverse();
  for (const [path, v] of entries) {
    const p = join(root, path);
    await mkdir(dirname(p), { recursive: true });
    if (typeof v === 'string') await writeFile(p, v);
    else if ('symlink' in v) await symlink(v.symlink, p);
    else { await writeFile(p, v.content); if (v.mode !== undefined) await chmod(p, v.mode); }
  }
}

/** A node app's manifest; `extra` goes right after `args`, inside [binary] unless it opens a table. */
export const NODE_MANIFEST = (name = 'hello', version = '1.0.0', extra = '', args = ['server.js']) => `[package]
name = "${name}"
version = "${version}"

[runtime]
use = "nodejs:20"

[binary]
entrypoint = "node"
args = ${JSON.stringify(args).replace(/,/g, ', ')}
${extra}`;
