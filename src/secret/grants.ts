// Which services are granted which secrets: what `niso secret inspect` shows and what `niso secret rm` refuses to
// break. A service is granted what its definition's --secret options and its package's [secrets] name (activate
// refused a manifest's secret the operator did not confirm), so a stopped service counts as much as a running one:
// its next start needs the secret.
import type { Manifest } from '../manifest/schema.js';
import type { PlanOptions } from '../plan/build-plan.js';
import { secretGrants, secretMounts } from '../plan/secrets.js';
import { installedManifest } from '../sandbox/prepare.js';
import { listServiceNames, readDefinition } from '../service/store.js';
import { resolveOne } from '../store/resolve.js';
import { secretFacts } from './store.js';

export interface SecretUser {
  service: string;
  target: string;
  from: 'manifest' | 'command line';
}

/** Every service's grants, by secret name. */
export async function secretUsers(root: string): Promise<Map<string, SecretUser[]>> {
  const out = new Map<string, SecretUser[]>();
  for (const service of listServiceNames(root)) {
    const def = readDefinition(root, service);
    if (!def) continue;
    // The package may be gone (removed by hand): its command line's grants still count.
    let manifest: Pick<Manifest, 'secrets'> = {};
    try { manifest = await installedManifest(await resolveOne(root, def.package.digest)); } catch { /* no package: no [secrets] */ }
    let grants;
    try { grants = secretGrants(manifest, def.options); } catch {
      // Targets that no longer pass (a definition of an older niso): the names still count.
      grants = [...Object.keys(manifest.secrets ?? {}).map((name) => ({ name, target: '?', from: 'manifest' as const })), ...(def.options.secrets ?? []).map((s) => ({ name: s.name, target: s.target ?? '?', from: 'command line' as const }))];
    }
    for (const g of grants) {
      const list = out.get(g.name) ?? [];
      list.push({ service, target: g.target, from: g.from });
      out.set(g.name, list);
    }
  }
  return out;
}

/**
 * Before a service is defined: its secrets exist and fit (buildPlan checks the same at every start, with the other
 * mounts), so that `niso activate --secret typo` fails as `docker service create` does, leaving no service behind.
 */
export function checkSecretsExist(root: string, manifest: Manifest, options: PlanOptions): void {
  const grants = secretGrants(manifest, options);
  secretMounts(grants, secretFacts(root, grants.map((g) => g.name)), []);
}
