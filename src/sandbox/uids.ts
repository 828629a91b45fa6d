// Stable per-service uids/gids, unique on the host across every NISO_ROOT: a uid owns a service's files, so two
// roots handing out the same one would let a service of one read the state of the other. Each root keeps its own
// table (var/lib/niso/users.json below NISO_ROOT, read on every start); the host-wide registry (/var/lib/niso/uids,
// never relocated) holds one claim file per uid, created atomically, naming the root and service that own it.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { fsyncPath, writeFileAtomic } from '../host/fs-atomic.js';
import { withLock } from '../host/lock.js';

/** Below systemd's dynamic range (61184-65519) and above Debian's regular users. */
export const UID_RANGE = { first: 60100, last: 61099 };

export interface UidRegistry {
  /** One file per claimed uid, named by it. */
  dir: string;
  range: { first: number; last: number };
  /** The host's accounts and groups: never given to a service. */
  hostIds: () => Promise<Set<number>>;
}

/** What a claim file says. */
export interface UidClaim { root: string; service: string; since: string }

/** The uid of a service; `previous` is set when it had to change (its old one is another root's): its files must be given over. */
export interface ServiceUid { uid: number; previous: number | null }

interface UidTable { services: Record<string, number> }

/**
 * A claim younger than this is never taken back for being missing from its root's table: the claimer writes the
 * table right after the claim, under its root's lock, which another root's allocation does not hold.
 */
const FRESH_MS = 5 * 60_000;

async function idsIn(files: string[]): Promise<Set<number>> {
  const ids = new Set<number>();
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const id = Number(line.split(':')[2]);
      if (Number.isInteger(id)) ids.add(id);
    }
  }
  return ids;
}

/** The real host's registry; tests pass their own (a small range in a temporary directory). */
export const HOST_REGISTRY: UidRegistry = { dir: '/var/lib/niso/uids', range: UID_RANGE, hostIds: () => idsIn(['/etc/passwd', '/etc/group']) };

const tablePath = (root: string) => join(root, 'var/lib/niso/users.json');
const tableLock = (root: string) => join(root, 'var/lib/niso/users.lock');
const claimPath = (reg: UidRegistry, uid: number) => join(reg.dir, String(uid));

function readTable(root: string): UidTable {
  const file = tablePath(root);
  try { return JSON.parse(readFileSync(file, 'utf8')) as UidTable; } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { services: {} };
    throw new NisoError('NISO3203', `${file} is damaged: ${(e as Error).message}`, { path: file, hint: 'restore it from a backup; it maps services to their uids' });
  }
}

export function readClaim(reg: UidRegistry, uid: number): UidClaim | null {
  try {
    const c = JSON.parse(readFileSync(claimPath(reg, uid), 'utf8')) as UidClaim;
    return typeof c.root === 'string' && typeof c.service === 'string' ? c : null;
  } catch { return null; }
}

const isOurs = (c: UidClaim | null, root: string, service: string) => c !== null && c.root === root && c.service === service;

/**
 * Claims each uid of `ids` in turn until one is free: the claim is written in full to a temporary file first and
 * then hard-linked to the uid's name, which fails if the name exists. So a claim is all there or not there, and no
 * lock is needed between roots. Returns the uid claimed, or null.
 */
async function claimFirst(reg: UidRegistry, ids: Iterable<number>, root: string, service: string): Promise<number | null> {
  // Only the registry itself is private: its parent (/var/lib/niso, NISO_ROOT's own for the root "/") must stay
  // traversable for services' uids.
  await mkdir(dirname(reg.dir), { recursive: true, mode: 0o755 });
  await mkdir(reg.dir, { recursive: true, mode: 0o700 });
  const tmp = join(reg.dir, `.claim-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(`${JSON.stringify({ root, service, since: new Date().toISOString() } satisfies UidClaim)}\n`);
    await fh.sync();
  } finally { await fh.close(); }
  try {
    for (const id of ids) {
      try {
        await link(tmp, claimPath(reg, id));
        await fsyncPath(reg.dir);
        return id;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    return null;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Whether a claim no longer protects anything: its root is gone, or (once it is older than a claimer needs to write
 * its table) its root's table no longer maps its service to this uid (the service was removed with its state, or got
 * another uid).
 */
function isStale(reg: UidRegistry, uid: number, c: UidClaim): boolean {
  if (!existsSync(join(c.root, 'var/lib/niso'))) return true;
  let table: UidTable;
  try { table = readTable(c.root); } catch { return false; }
  if (table.services[c.service] === uid) return false;
  try { return Date.now() - statSync(claimPath(reg, uid)).mtimeMs > FRESH_MS; } catch { return false; }
}

/**
 * Claims the first of `ids` whose claim is stale, replacing it. Under the registry's lock, so that two roots never
 * both decide that one stale claim is theirs.
 */
function takeOver(reg: UidRegistry, ids: readonly number[], root: string, service: string): Promise<number | null> {
  return withLock(join(reg.dir, '.lock'), 'the uid registry', async () => {
    for (const id of ids) {
      const c = readClaim(reg, id);
      if (c === null || !isStale(reg, id, c)) continue;
      await unlink(claimPath(reg, id)).catch(() => undefined);
      if (await claimFirst(reg, [id], root, service) !== null) return id;
    }
    return null;
  });
}

/** A free uid for (root, service), claimed; stale claims are taken back only when nothing else is free. */
async function allocate(reg: UidRegistry, root: string, service: string, avoid: ReadonlySet<number>): Promise<number> {
  const host = await reg.hostIds();
  const candidates: number[] = [];
  for (let id = reg.range.first; id <= reg.range.last; id++) if (!host.has(id) && !avoid.has(id)) candidates.push(id);
  const claimed = await claimFirst(reg, candidates, root, service);
  if (claimed !== null) return claimed;
  // Everything is claimed: take back the claims of roots that are gone or services that gave theirs up.
  const found = await takeOver(reg, candidates, root, service);
  if (found !== null) return found;
  const roots = new Set(candidates.map((id) => readClaim(reg, id)?.root).filter((r): r is string => r !== undefined));
  throw new NisoError('NISO3204', `no free uid left in niso's range ${reg.range.first}-${reg.range.last}: ${candidates.length} are claimed by services of ${roots.size} NISO_ROOT(s) on this host, the rest are host accounts`, {
    hint: `remove services you no longer use together with their data (\`niso remove SERVICE --volumes\`) and volumes you no longer need (\`niso volume prune\`), in every NISO_ROOT; claims are in ${reg.dir}`,
  });
}

/**
 * The service's uid (= gid). A known service costs two small reads (its root's table and its claim); a new one
 * gets the lowest free uid of the range that is no host account. A service whose claim belongs to another root (two
 * roots of older niso versions both gave out the same uid) gets a new uid, and `previous` says which files to give over.
 */
export async function serviceUid(root: string, service: string, reg: UidRegistry = HOST_REGISTRY): Promise<ServiceUid> {
  const abs = resolve(root);
  const known = readTable(root).services[service];
  if (known !== undefined) {
    if (isOurs(readClaim(reg, known), abs, service)) return { uid: known, previous: null };
    // A table older than the registry: claim its uid now, unless another root holds it.
    if (await claimFirst(reg, [known], abs, service) !== null || isOurs(readClaim(reg, known), abs, service)) return { uid: known, previous: null };
  }
  return withLock(tableLock(root), 'the uid table', async () => {
    const table = readTable(root);
    const again = table.services[service];
    if (again !== undefined && again !== known) return { uid: again, previous: null };
    // The uid this root recorded is another root's: if that root is gone, it is this one's again (no files to give over).
    if (again !== undefined && await takeOver(reg, [again], abs, service) !== null) return { uid: again, previous: null };
    const uid = await allocate(reg, abs, service, new Set(again === undefined ? [] : [again]));
    table.services[service] = uid;
    await writeFileAtomic(tablePath(root), JSON.stringify(table, null, 2) + '\n');
    return { uid, previous: again ?? null };
  });
}

/** Gives up the service's uid (its state is gone): out of its root's table, and its claim removed. */
export async function releaseUid(root: string, service: string, reg: UidRegistry = HOST_REGISTRY): Promise<number | null> {
  if (!existsSync(tablePath(root))) return null;
  return withLock(tableLock(root), 'the uid table', async () => {
    const table = readTable(root);
    const uid = table.services[service];
    if (uid === undefined) return null;
    delete table.services[service];
    await writeFileAtomic(tablePath(root), JSON.stringify(table, null, 2) + '\n');
    if (isOurs(readClaim(reg, uid), resolve(root), service)) await unlink(claimPath(reg, uid)).catch(() => undefined);
    return uid;
  });
}

/** Releases every uid of a root (a NISO_ROOT about to be deleted, e.g. a test's). Returns how many. */
export async function releaseRootUids(root: string, reg: UidRegistry = HOST_REGISTRY): Promise<number> {
  let n = 0;
  for (const service of Object.keys(readTable(root).services)) if (await releaseUid(root, service, reg) !== null) n++;
  return n;
}
