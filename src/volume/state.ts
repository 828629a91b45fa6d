// Each service's /state (var/lib/niso/state/NAME, bounded by an image in state/.images/) seen as a volume,
// SERVICE/state of kind "state": listed with its size and whether its service still exists, removable once the
// service is gone, and named when a new service of the same name would silently inherit it.
import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { NisoError } from '../errors/niso-error.js';
import { formatSize } from '../manifest/units.js';
import { bindersOf } from '../host/mounts.js';
import { SERVICE_NAME_RE, readDefinition } from '../service/store.js';
import { layout, stateOf } from '../store/layout.js';
import { STATE_KEY } from './names.js';
import type { Liveness } from './policy.js';
import { ownVolumeNames, ownerOfPath, type VolumeInfo } from './store.js';
import { treeBytes } from './data-dir.js';

export const stateVolumeName = (service: string) => `${service}/${STATE_KEY}`;

/** Names with a /state on this host: a state dir, or an image (an unmounted one may have no dir). */
export function stateNames(root: string): string[] {
  const l = layout(root);
  const names = new Set<string>();
  try { for (const n of readdirSync(l.state)) if (SERVICE_NAME_RE.test(n)) names.add(n); } catch { return []; }
  try {
    for (const f of readdirSync(`${l.state}/.images`)) {
      const m = /^(.+)\.img$/.exec(f);
      if (m && SERVICE_NAME_RE.test(m[1]!)) names.add(m[1]!);
    }
  } catch { /* no images */ }
  return [...names].sort();
}

/** When a state began: the birth time of its image (or dir), as the file system recorded it. */
function since(path: string): string | null {
  try {
    const st = statSync(path);
    const t = st.birthtimeMs > 0 ? st.birthtime : st.mtime;
    return t.toISOString();
  } catch { return null; }
}

/**
 * SERVICE/state as a volume. Its size: what the mounted image's file system holds (statfs, free); an unmounted image's
 * blocks on disk (sparse, freed space punched back, so close to what it holds); an unbounded dir measured (du) only
 * with `sizes`.
 */
export async function stateInfo(root: string, service: string, ctx: { live: Liveness; sizes: boolean }): Promise<VolumeInfo | null> {
  const s = stateOf(layout(root), service);
  if (!existsSync(s.dir) && !existsSync(s.image)) return null;
  const { boundedUsage } = await import('../host/bounded-dir.js');
  const usage = boundedUsage(s);
  let sizeBytes: number | null = null;
  if (usage?.mounted) sizeBytes = usage.usedBytes;
  else if (usage) { try { sizeBytes = lstatSync(s.image).blocks * 512; } catch { sizeBytes = null; } }
  else if (ctx.sizes) sizeBytes = await treeBytes(s.dir);
  return {
    name: stateVolumeName(service), kind: 'state', service, serviceExists: ctx.live.services.has(service), labels: {}, holders: [],
    dir: s.dir, createdAt: since(usage ? s.image : s.dir), gid: null, owner: usage && !usage.mounted ? null : ownerOfPath(s.dir),
    grants: [], exclusiveHolder: null, sizeBytes,
    state: { image: usage ? s.image : null, mounted: usage?.mounted ?? false, limitBytes: usage?.limitBytes ?? null, usedBytes: usage?.usedBytes ?? null },
  };
}

/**
 * `niso volume rm SERVICE/state`: only once the service is gone (NISO5015 before), and not while a run of that name
 * uses it; then as `niso remove NAME --volumes` deletes it, the uid that owned it given back.
 */
export async function removeState(root: string, service: string, opts: { force: boolean }): Promise<boolean> {
  const s = stateOf(layout(root), service);
  if (!existsSync(s.dir) && !existsSync(s.image)) {
    if (opts.force) return false;
    throw new NisoError('NISO5002', `no volume named ${stateVolumeName(service)}: ${service} has no /state on this host`, { exitCode: 1, hint: '`niso volume ls --filter kind=state` lists the kept ones' });
  }
  if (readDefinition(root, service) !== null) {
    throw new NisoError('NISO5015', `${stateVolumeName(service)} is the /state of service ${service}, which exists`, { exitCode: 1, hint: `it goes with the service: \`niso remove ${service} --volumes\` (stop it first with \`niso deactivate ${service}\`)` });
  }
  // An unbounded dir has no image whose loop device would tell that a sandbox still binds it.
  if (!existsSync(s.image) && existsSync(s.dir)) {
    const users = bindersOf(s.dir);
    if (users.length > 0) throw new NisoError('NISO5006', `${stateVolumeName(service)} is still mounted by process ${users.slice(0, 5).join(', ')}`, { exitCode: 1, hint: `stop the \`niso run\` of ${service} first` });
  }
  const { releaseState } = await import('../service/state-dir.js');
  await releaseState(root, service, true);
  return true;
}

/**
 * The note an activation prints when a new service takes over the /state (and own volumes) an earlier service of its
 * name left, or null. Called before the new definition is written.
 */
export async function inheritedNote(root: string, service: string): Promise<string | null> {
  if (readDefinition(root, service) !== null) return null;
  const ownVolumes = ownVolumeNames(root, service);
  const s = stateOf(layout(root), service);
  const parts: string[] = [];
  if (existsSync(s.dir) || existsSync(s.image)) {
    const info = await stateInfo(root, service, { live: { services: new Set(), runAlive: () => false }, sizes: true });
    const facts = [info?.sizeBytes != null ? formatSize(info.sizeBytes) : null, info?.createdAt ? `since ${info.createdAt.slice(0, 10)}` : null].filter(Boolean).join(', ');
    parts.push(`note: ${service} uses the /state kept from an earlier service ${service}${facts ? ` (${facts})` : ''}; \`niso volume rm ${stateVolumeName(service)}\` first to start empty`);
  }
  if (ownVolumes.length > 0) {
    parts.push(`note: ${service} uses the volume${ownVolumes.length > 1 ? 's' : ''} ${ownVolumes.join(', ')} kept from an earlier service ${service}; \`niso volume rm ${ownVolumes.join(' ')}\` first to start empty`);
  }
  return parts.length > 0 ? parts.join('\n') : null;
}
