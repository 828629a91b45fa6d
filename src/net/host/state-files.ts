// niso's network state on disk: networks.json (what exists) and one record per live attachment
// (what runs), each written atomically, plus the check whether an attachment's owner still lives.
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../host/fs-atomic.js';
import { parseStartTime } from '../../host/liveness.js';
import { layout } from '../../store/layout.js';
import { parseAttachmentRecord, parseNetworksFile, type AttachmentRecord, type NetworksFile, type Owner } from '../model/state.js';
import type { Network } from '../model/types.js';

export interface NetPaths {
  networks: string;
  lock: string;
  /** Directory of attachment records. */
  records: string;
}

/**
 * The lock under which any NISO_ROOT on this host chooses and makes a bridge: link names, addresses and routes are
 * the network namespace's, not a root's. A root's own files cannot say what another root is about to take, so this
 * one file is the host's, outside every NISO_ROOT (root's, 0600, in a directory of its own that a test machine sharing
 * the host's network binds in, as it does the uid registry).
 */
export const HOST_NET_LOCK = '/run/niso/host/net.lock';

export function netPaths(root: string): NetPaths {
  const l = layout(root);
  return { networks: join(l.net, 'networks.json'), lock: join(l.net, 'net.lock'), records: join(l.run, 'net') };
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export async function readNetworks(paths: NetPaths): Promise<Network[]> {
  const text = await readIfExists(paths.networks);
  return text === null ? [] : parseNetworksFile(text, paths.networks).networks;
}

export async function writeNetworks(paths: NetPaths, networks: readonly Network[]): Promise<void> {
  const file: NetworksFile = { version: 1, networks: [...networks].sort((a, b) => a.name.localeCompare(b.name)) };
  await writeFileAtomic(paths.networks, JSON.stringify(file, null, 2) + '\n');
}

export function recordPath(paths: NetPaths, vethHost: string): string {
  return join(paths.records, `${vethHost}.json`);
}

export async function readRecords(paths: NetPaths): Promise<AttachmentRecord[]> {
  let names: string[];
  try {
    names = await readdir(paths.records);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: AttachmentRecord[] = [];
  for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()) {
    const path = join(paths.records, name);
    const text = await readIfExists(path);
    if (text !== null) out.push(parseAttachmentRecord(text, path));
  }
  return out;
}

export async function writeRecord(paths: NetPaths, record: AttachmentRecord): Promise<void> {
  await writeFileAtomic(recordPath(paths, record.attachment.vethHost), JSON.stringify(record, null, 2) + '\n');
}

export async function removeRecord(paths: NetPaths, vethHost: string): Promise<void> {
  await rm(recordPath(paths, vethHost), { force: true });
}

/** The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); null if it has exited. */
export async function processStartTime(pid: number): Promise<number | null> {
  const text = await readIfExists(`/proc/${pid}/stat`).catch(() => null);
  return text === null ? null : parseStartTime(text);
}

export async function ownerOf(pid: number): Promise<Owner> {
  return { pid, startTime: await processStartTime(pid) };
}

/** Alive means the pid exists and is the same process (a reused pid has another start time). */
export async function ownerAlive(owner: Owner): Promise<boolean> {
  const start = await processStartTime(owner.pid);
  if (start === null) return false;
  return owner.startTime === null || owner.startTime === start;
}
