// `niso remove NAME[:VERSION]...`
import { existsSync } from 'node:fs';
import { NisoError } from '../../errors/niso-error.js';
import { formatSize } from '../../manifest/units.js';
import { removePackages } from '../../store/remove.js';
import { listInstalled, matchRef, parseRef, resolveOne, type InstalledPackage } from '../../store/query.js';
import { shortDigest, whichOne } from '../../store/resolve.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

export async function run(ctx: Context, refs: string[], opts: { allVersions?: boolean; state?: boolean; json?: boolean }): Promise<void> {
  const chosen = new Map<string, InstalledPackage>();
  const services: string[] = [];
  const states: string[] = [];
  const { SERVICE_NAME_RE, listServiceNames, servicesUsing } = await import('../../service/store.js');
  const { hasState, releaseState } = await import('../../service/state-dir.js');
  const known = new Set(listServiceNames(ctx.root));
  for (const ref of refs) {
    // A service's name first (like `docker rm` removes containers), then packages.
    if (known.has(ref)) { services.push(ref); continue; }
    // `--state` is about names: the state of runs that never were a service goes the same way; packages stay.
    if (opts.state) {
      if (!SERVICE_NAME_RE.test(ref) || !hasState(ctx.root, ref)) throw new NisoError('NISO9001', `--state: there is no service and no /state named "${ref}"`, { exitCode: 2, hint: '`niso status` lists the services' });
      states.push(ref);
      continue;
    }
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
  if (services.length > 0) {
    const { removeService } = await import('../../service/ops.js');
    const { hostOf } = await import('./service.js');
    for (const s of services) await removeService(hostOf(ctx), s, opts.state === true);
  }
  for (const s of states) await releaseState(ctx.root, s, true);
  const r = chosen.size > 0 ? await removePackages(ctx.root, [...chosen.values()]) : { removed: [], freedBytes: 0, freedFiles: 0 };
  if (opts.json) return printJson(ctx, { ...r, removedServices: services, removedState: opts.state === true ? [...services, ...states] : [] });
  for (const s of states) ctx.stdout.write(`removed the state of ${s}\n`);
  const { stateOf } = await import('../../service/state-dir.js');
  const { layout } = await import('../../store/layout.js');
  for (const s of services) {
    if (opts.state) { ctx.stdout.write(`removed service ${s} and its state\n`); continue; }
    const st = stateOf(layout(ctx.root), s);
    ctx.stdout.write(`removed service ${s} (its state stays: ${existsSync(st.image) ? st.image : st.dir}; \`niso remove ${s} --state\` would delete it)\n`);
  }
  if (chosen.size === 0) return;
  for (const p of r.removed) ctx.stdout.write(`removed ${p.name} ${p.version} (${p.digest})\n`);
  ctx.stdout.write(`freed ${formatSize(r.freedBytes)} (${r.freedFiles} files not shared with other packages)\n`);
}
