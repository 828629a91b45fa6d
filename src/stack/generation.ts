// How a resolved stack's service becomes an entry of a generation (generation/types.ts): a GenerationService plus what
// only a stack has, proposed here as an additive interface so that generation/types.ts stays as it was fixed. The
// host supplies what the pure stack cannot know: the installed build a reference pinned, niso's copies of the config
// files, the backend and log bounds.
import type { BackendName } from '../service/model/types.js';
import type { GenerationService } from '../generation/types.js';
import type { StackDependency, StackHealthcheck, StackService, StackServiceNetwork } from './types.js';

/**
 * The fields a stack's service carries in a generation besides GenerationService's. All of them take part in the
 * generation's hash, so a change of one is a change of the generation; which of them restart a service is the
 * classification's to say (a changed `dependsOn` alone need not: Compose leaves it out of its config hash).
 */
export interface StackGenerationFields {
  stack: {
    /** The stack's name and the service's name in it (`my-platform`, `db`). */
    name: string;
    service: string;
    /** Started in this order and waited for by condition; after a reboot too. */
    dependsOn: StackDependency[];
    /** Networks with the names peers reach the service by there. */
    networks: StackServiceNetwork[];
    /** Absent: the package's own health check; null: none; else this one instead. */
    healthcheck?: StackHealthcheck;
    profiles: string[];
  };
}

export type StackGenerationService = GenerationService & StackGenerationFields;

export interface PinnedFacts {
  /** The installed build the reference means (stack/package-ref.ts matchInstalled, or what `stack up` installed). */
  package: { name: string; version: string; digest: string };
  /** niso's own copies of the service's config files (as `--config` makes them), by target. */
  configs: { source: string; target: string }[];
  backend: BackendName;
  logs: { maxBytes: number; files: number };
}

export function generationServiceOf(s: StackService, facts: PinnedFacts): StackGenerationService {
  const options = facts.configs.length > 0 ? { ...s.options, configs: facts.configs } : { ...s.options };
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
      dependsOn: s.dependsOn,
      networks: s.networks,
      ...(s.healthcheck === undefined ? {} : { healthcheck: s.healthcheck }),
      profiles: s.profiles,
    },
  };
}
