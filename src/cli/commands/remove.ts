// `niso remove NAME[:VERSION]...`
import { NisoError } from '../../errors/niso-error.js';
import { formatSize } from '../../manifest/units.js';
import type { InstalledPackage } from '../../store/query.js';
import { shortDigest, whichOne } from '../../store/resolve.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

export interface RemoveOptions { allVersions?: boolean; volumes?: boolean; state?: boolean; json?: boolean; dryRun?: boolean; gate?: boolean; settle?: string }

export async function run(ctx: Context, refs: string[], opts: RemoveOptions): Promise<void> {
  // `--state` is the older name of `--volumes`: a service's /state is one of its volumes now.
  const deleteData = opts.volumes === true || opts.state === true;
  const chosen = new Map<string, InstalledPackage>();
  const services: string[] = [];
  const states: string[] = [];
  const { SERVICE_NAME_RE, listServiceNames, servicesUsing } = await import('../../service/store.js');
  const { hasState } = await import('../../service/state-dir.js');
  const { ownVolumeNames } = await import('../../volume/store.js');
  const known = new Set(listServiceNames(ctx.root));
  for (const ref of refs) {
    // A service's name first (like `docker rm` removes containers), then packages.
    if (known.has(ref)) { services.push(ref); continue; }
    // `--volumes` is about names: the state and own volumes a removed service (or runs) left go the same way; packages stay.
    if (deleteData) {
      if (!SERVICE_NAME_RE.test(ref) || (!hasState(ctx.root, ref) && ownVolumeNames(ctx.root, ref).length === 0)) {
        throw new NisoError('NISO9001', `--volumes: there is no service, no /state and no service volume named "${ref}"`, { exitCode: 2, hint: '`niso status` lists the services, `niso volume ls` the volumes' });
      }
      states.push(ref);
      continue;
    }
    // The package store's readers (zod for the index, tar) only when a package is named: `niso remove SERVICE` needs none.
    const { listInstalled, matchRef, parseRef, resolveOne } = await import('../../store/query.js');
    const all = await listInstalled(ctx.root);
    const hits = matchRef(all, ref);
    // Removing is not guessing: NAME with several versions, or NAME:VERSION with several builds, must be named.
    const { name } = parseRef(ref);
    if (hits.length > 1 && !opts.allVersions && hits.every((h) => h.name === name)) {
      throw new NisoError('NISO2202', `${ref} has ${hits.length} installed builds: ${hits.map((h) => `${h.version} (${shortDigest(h.digest)})`).join(', ')}`, { exitCode: 2, hint: `${whichOne(hits)}; or pass --all-versions` });
    }
    const pkgs = hits.length > 1 && opts.allVersions ? hits : [await resolveOne(ctx.root, ref)];
    for (const p of pkgs) chosen.set(p.path, p);
  }
  // A package a service runs stays: the service would lose its files.
  for (const p of chosen.values()) {
    const users = servicesUsing(ctx.root, p.digest).filter((n) => !services.includes(n));
    if (users.length > 0) {
      throw new NisoError('NISO3306', `${p.name} ${p.version} is used by service${users.length > 1 ? 's' : ''} ${users.join(', ')}`, { exitCode: 1, hint: `remove the service first: \`niso deactivate ${users[0]}\` then \`niso remove ${users[0]}\`` });
    }
  }
  // A package a retained generation names stays too: a rollback to that generation needs that very build (GC roots).
  if (chosen.size > 0) {
    const { packagesKeptForGenerations } = await import('./generation.js');
    const kept = await packagesKeptForGenerations(ctx.root);
    for (const p of chosen.values()) {
      const gens = kept.get(p.digest);
      if (!gens) continue;
      throw new NisoError('NISO6007', `${p.name} ${p.version} is kept for generation${gens.length > 1 ? 's' : ''} ${gens.join(', ')}: a rollback to ${gens.length > 1 ? 'them' : 'it'} needs this build`, {
        exitCode: 1, hint: `\`niso generation list\` shows them; \`niso generation rm ${gens.join(' ')}\` forgets those that are not current, or retention lets them go ([generations] in /etc/niso/config.toml)`,
      });
    }
  }
  const removedVolumes = new Map<string, string[]>();
  if (services.length > 0) {
    const [{ removeService }, { hostOf }, { serviceStatus, isActive }, { switchGeneration }, { withoutServices }, sw, { audited }, { removedServiceFields }] = await Promise.all([
      import('../../service/ops.js'), import('./host-of.js'), import('../../service/view.js'), import('../../generation/switch.js'),
      import('../../generation/edit.js'), import('./switch.js'), import('../../audit/host/log.js'), import('../../audit/fields.js'),
    ]);
    // Only what is not active is forgotten (stop it first), as `docker rm` without -f.
    for (const s of services) {
      const now = serviceStatus(ctx.root, s);
      if (now && isActive(now)) throw new NisoError('NISO3302', `service "${s}" is ${now.state}`, { exitCode: 1, hint: `stop it first with \`niso deactivate ${s}\`` });
    }
    if (opts.dryRun && chosen.size > 0) throw new NisoError('NISO9001', '--dry-run applies to services; packages are not removed in a dry run', { exitCode: 2, hint: 'name only services with --dry-run' });
    const r = await audited(ctx.root, 'service.remove', opts.dryRun ? null : { target: services.join(', ') }, async () => {
      const sr = await switchGeneration(hostOf(ctx), { kind: 'content', edit: (cur) => withoutServices(cur, services) }, { ...sw.switchOptions(ctx, opts), ...(deleteData ? { deleteData: services } : {}) });
      if (sr.status === 'dry-run') return { sr, removedVolumes: [] };
      for (const s of services) {
        // One the generation did not hold (left by an interrupted start before generations) is removed as it is.
        const removed = sr.results.get(s)?.removed;
        if (removed) { removedVolumes.set(s, removed.removedVolumes); continue; }
        removedVolumes.set(s, listServiceNames(ctx.root).includes(s) ? (await removeService(hostOf(ctx), s, deleteData)).removedVolumes : []);
      }
      return { sr, removedVolumes: [...removedVolumes.values()].flat() };
    }, (x) => sw.withSwitch(removedServiceFields(deleteData)(x), x.sr));
    if (r.sr.status === 'dry-run' || opts.dryRun) return sw.printDryRun(ctx, r.sr, opts.json === true);
  }
  if (states.length > 0) {
    const { releaseServiceData } = await import('../../volume/service-data.js');
    const [{ audited }, { removedServiceFields }] = await Promise.all([import('../../audit/host/log.js'), import('../../audit/fields.js')]);
    for (const s of states) removedVolumes.set(s, (await audited(ctx.root, 'volume.rm', { target: s }, () => releaseServiceData(ctx.root, s, true), removedServiceFields(true))).removedVolumes);
  }
  const r = chosen.size > 0 ? await (await import('../../store/remove.js')).removePackages(ctx.root, [...chosen.values()]) : { removed: [], freedBytes: 0, freedFiles: 0 };
  const gone = [...services, ...states];
  if (opts.json) {
    return printJson(ctx, { ...r, removedServices: services, removedState: deleteData ? gone : [], removedVolumes: gone.flatMap((s) => removedVolumes.get(s) ?? []) });
  }
  const { stateVolumeName } = await import('../../volume/state.js');
  const volumesOf = (s: string) => removedVolumes.get(s) ?? [];
  const and = (s: string) => (volumesOf(s).length > 0 ? ` and its volume${volumesOf(s).length > 1 ? 's' : ''} ${volumesOf(s).join(', ')}` : '');
  for (const s of states) ctx.stdout.write(`removed the state of ${s}${and(s)}\n`);
  for (const s of services) {
    if (deleteData) { ctx.stdout.write(volumesOf(s).length > 0 ? `removed service ${s}, its state${and(s)}\n` : `removed service ${s} and its state\n`); continue; }
    const kept = [...(hasState(ctx.root, s) ? [stateVolumeName(s)] : []), ...ownVolumeNames(ctx.root, s)];
    ctx.stdout.write(`removed service ${s}${kept.length > 0 ? ` (its data stays: ${kept.join(', ')}; \`niso remove ${s} --volumes\` would delete it)` : ''}\n`);
  }
  if (chosen.size === 0) return;
  for (const p of r.removed) ctx.stdout.write(`removed ${p.name} ${p.version} (${p.digest})\n`);
  ctx.stdout.write(`freed ${formatSize(r.freedBytes)} (${r.freedFiles} files not shared with other packages)\n`);
}
