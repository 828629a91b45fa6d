// `niso volume create|ls|inspect|rm|prune`, Docker's verbs and flags: named volumes, services' own volumes and each
// service's /state (SERVICE/state), with their grants.
import { formatSize } from '../../manifest/units.js';
import { printable } from '../../errors/render.js';
import type { VolumeInfo } from '../../volume/store.js';
import type { Context } from '../context.js';
import { printJson, relativeTime } from '../output.js';
import { audited } from '../../audit/host/log.js';
import { pruneFields, removedFields } from '../../audit/fields.js';

/** The --json shape of one volume (the e2e tests assert on it). */
export function volumeJson(v: VolumeInfo) {
  return {
    name: v.name, kind: v.kind, service: v.service, serviceExists: v.serviceExists, dir: v.dir, createdAt: v.createdAt, labels: v.labels,
    gid: v.gid, owner: v.owner, sizeBytes: v.sizeBytes, inUse: v.holders.length > 0 || v.serviceExists === true, exclusiveHolder: v.exclusiveHolder,
    grants: v.grants, ...(v.state ? { state: v.state } : {}),
  };
}

const grantText = (g: VolumeInfo['grants'][number]) => `${g.run === null ? g.service : `${g.service} (${g.oneOff ? 'one-off ' : ''}run ${g.run})`} ${g.readOnly ? 'ro' : 'rw'}${g.exclusive ? ', exclusive' : ''}`;

/** Who uses it, for the table: its grants that count, or a /state's service (or that it is gone). */
function usedBy(v: VolumeInfo): string {
  if (v.kind === 'state') return v.serviceExists ? v.service! : `- (service ${v.service} removed)`;
  const active = v.grants.filter((g) => g.active);
  if (active.length > 0) return active.map(grantText).join('; ');
  return v.kind === 'service' && !v.serviceExists ? `- (service ${v.service} removed)` : '-';
}

export async function create(ctx: Context, name: string, opts: { label?: string[]; json?: boolean }): Promise<void> {
  const [{ parseLabels }, { createVolume }, { inspectVolume }] = await Promise.all([import('../../volume/names.js'), import('../../volume/store.js'), import('../../volume/catalog.js')]);
  const labels = parseLabels(opts.label ?? []);
  await audited(ctx.root, 'volume.create', { target: name, details: { labels } }, () => createVolume(ctx.root, name, labels));
  if (opts.json) return printJson(ctx, volumeJson(await inspectVolume(ctx.root, name)));
  ctx.stdout.write(`${name}\n`);
}

export async function list(ctx: Context, opts: { quiet?: boolean; filter?: string[]; size?: boolean; json?: boolean }): Promise<void> {
  const [{ parseFilters }, { allVolumes }] = await Promise.all([import('../../volume/filters.js'), import('../../volume/catalog.js')]);
  const filters = parseFilters(opts.filter ?? [], ['name', 'label', 'dangling', 'kind']);
  const all = await allVolumes(ctx.root, { sizes: opts.size === true, filters });
  if (opts.json) return printJson(ctx, all.map(volumeJson));
  if (opts.quiet) { for (const v of all) ctx.stdout.write(`${v.name}\n`); return; }
  if (all.length === 0) { ctx.stdout.write('no volumes (`niso volume create NAME`, or `-v NAME:/path` on activate or run)\n'); return; }
  const { printTable } = await import('../table.js');
  const now = new Date();
  printTable(ctx.stdout, ['kind', 'name', 'used by', 'size', 'created'],
    all.map((v) => [v.kind, v.name, usedBy(v), v.sizeBytes === null ? '-' : formatSize(v.sizeBytes), v.createdAt ? relativeTime(new Date(v.createdAt), now) : '-']));
}

export async function inspect(ctx: Context, names: string[], opts: { json?: boolean }): Promise<void> {
  const { inspectVolume } = await import('../../volume/catalog.js');
  const infos: VolumeInfo[] = [];
  for (const n of names) infos.push(await inspectVolume(ctx.root, n));
  // An array like `docker volume inspect`, whatever the number of names.
  if (opts.json) return printJson(ctx, infos.map(volumeJson));
  const w = (k: string, v: string) => ctx.stdout.write(`  ${(k + ':').padEnd(12)}${printable(v)}\n`);
  for (const v of infos) {
    ctx.stdout.write(`${v.name}\n`);
    w('kind', v.kind === 'state' ? `state (the /state of ${v.service}${v.serviceExists ? '' : ', a service that no longer exists'})` : v.kind === 'service' ? `service (the own volume of ${v.service}${v.serviceExists ? '' : ', a service that no longer exists'})` : 'named');
    w('dir', v.dir);
    if (v.state?.image) w('image', `${v.state.image} (${v.state.mounted ? 'mounted' : 'not mounted'}, bound ${v.state.limitBytes === null ? '-' : formatSize(v.state.limitBytes)})`);
    w('size', v.sizeBytes === null ? '-' : formatSize(v.sizeBytes));
    if (v.owner) w('owner', `uid ${v.owner.uid}, gid ${v.owner.gid}, mode ${v.owner.mode}`);
    if (v.gid !== null) w('group', `${v.gid} (every service granted it gets this group)`);
    w('created', v.createdAt ?? '-');
    for (const [k, val] of Object.entries(v.labels)) w('label', `${k}=${val}`);
    if (v.kind !== 'state') {
      if (v.grants.length === 0) w('grants', 'none');
      for (const g of v.grants) w('grant', `${grantText(g)} since ${g.since}${g.active ? '' : ' (ended)'}`);
      if (v.exclusiveHolder) w('exclusive', v.exclusiveHolder);
    }
  }
}

export async function remove(ctx: Context, names: string[], opts: { force?: boolean; json?: boolean }): Promise<void> {
  const { removeVolumes } = await import('../../volume/catalog.js');
  const removed = await audited(ctx.root, 'volume.rm', { target: names.join(', ') }, () => removeVolumes(ctx.root, names, { force: opts.force === true }), removedFields);
  if (opts.json) return printJson(ctx, { removed });
  for (const n of removed) ctx.stdout.write(`${n}\n`);
}

export async function prune(ctx: Context, opts: { all?: boolean; force?: boolean; filter?: string[]; dryRun?: boolean; json?: boolean }): Promise<void> {
  const [{ parseFilters }, { pruneVolumes }] = await Promise.all([import('../../volume/filters.js'), import('../../volume/catalog.js')]);
  const filters = parseFilters(opts.filter ?? [], ['label']);
  if (!opts.dryRun) {
    const { confirm } = await import('../confirm.js');
    const what = opts.all ? 'every volume nothing uses: named ones, and the /state and own volumes of services that no longer exist' : 'the /state and own volumes of services that no longer exist';
    if (!await confirm(ctx, `WARNING! This will remove ${what}.`, opts.force === true, 'niso volume prune')) {
      ctx.stderr.write('nothing removed\n');
      return;
    }
  }
  const r = await audited(ctx.root, 'volume.prune', opts.dryRun ? null : {}, () => pruneVolumes(ctx.root, { all: opts.all === true, filters, dryRun: opts.dryRun }), pruneFields);
  if (opts.json) return printJson(ctx, r);
  if (r.removed.length > 0) ctx.stdout.write(`${r.dryRun ? 'Would remove' : 'Deleted'} volumes:\n${r.removed.map((v) => `${v.name}\n`).join('')}\n`);
  for (const s of r.skipped) ctx.stderr.write(`niso: kept ${s.name}: ${s.reason}\n`);
  ctx.stdout.write(`Total ${r.dryRun ? 'reclaimable' : 'reclaimed'} space: ${formatSize(r.reclaimedBytes)}\n`);
  if (r.skipped.length > 0) ctx.exitCode = 1;
}
