// How a resolved stack's service becomes an entry of a generation (generation/types.ts): a GenerationService plus what
// only a stack has, proposed here as an additive interface so that generation/types.ts stays as it was fixed. The
// host supplies what the pure stack cannot know: the installed build a reference pinned, niso's copies of the config
// files, the backend and log bounds.
import type { BackendName } from '../service/model/types.js';
import type { GenerationService } from '../generation/types.js';
import type { StackDependency, StackService, StackServiceNetwork } from './types.js';

/**
 * What a stack's service carries in a generation (and in its service.json) besides GenerationService's fields. All of
 * it takes part in the generation's hash, so a change of one is a change of the generation; none of it restarts a
 * service by itself (a changed `dependsOn` alone need not: Compose leaves it out of its config hash). What changes how
 * the service runs (its health check override, the names peers reach it by) is in its options, where buildPlan reads it.
 */
export interface StackEntry {
  /** The stack's name and the service's name in it (`my-platform`, `db`). */
  name: string;
  service: string;
  /** The stack file it came from, absolute (for `stack ls` and `stack down NAME`). */
  file: string;
  /** Started in this order and waited for by condition; after a reboot too. */
  dependsOn: StackDependency[];
  /** Networks with the names peers reach the service by there. */
  networks: StackServiceNetwork[];
  profiles: string[];
}

export interface StackGenerationFields { stack: StackEntry }

export type StackGenerationService = GenerationService & StackGenerationFields;

export interface PinnedFacts {
  /** The installed build the reference means (stack/package-ref.ts matchInstalled, or what `stack up` installed). */
  package: { name: string; version: string; digest: string };
  /** niso's own copies of the service's config files (as `--config` makes them), by target. */
  configs: { source: string; target: string }[];
  backend: BackendName;
  logs: { maxBytes: number; files: number };
}

/** The host file the stack was read from: recorded with each entry. */
export function generationServiceOf(s: StackService, facts: PinnedFacts, file = ''): StackGenerationService {
  const options: StackGenerationService['options'] = facts.configs.length > 0 ? { ...s.options, configs: facts.configs } : { ...s.options };
  if (s.healthcheck !== undefined) options.healthcheck = s.healthcheck;
  // As in Compose, a stack's service publishes the ports its `ports` lists and no others: a package's own mappings
  // (the catalog's postgres maps 5432) would make two stacks with a database collide on the host.
  if ((options.ports ?? []).length === 0) options.publish = false;
  // The names peers reach it by besides its own host name, per network: its service name first, then its aliases.
  const aliases = Object.fromEntries(s.networks.filter((n) => n.aliases.length > 0).map((n) => [n.name, [...n.aliases]]));
  if (Object.keys(aliases).length > 0) options.aliases = aliases;
  return {
    name: s.name,
    package: facts.package,
    options,
    backend: facts.backend,
    logs: facts.logs,
    active: true,
    stack: {
      name: s.stack,
      service: s.service,
      file,
      dependsOn: s.dependsOn.map((d) => ({ ...d })),
      networks: s.networks.map((n) => ({ ...n, aliases: [...n.aliases] })),
      profiles: [...s.profiles],
    },
  };
}
