// What a stack.toml becomes once resolved: plain, frozen data (no variable is looked up after this), one entry per
// service in the shapes the rest of niso speaks: PlanOptions as `niso activate`'s command line produces them, a package
// reference, and what only a stack has (its dependencies, networks with the names peers use, profiles, a health check
// override). The generations engine turns each into a GenerationService (generation/types.ts) plus these fields.
import type { PlanOptions } from '../plan/build-plan.js';
import type { Manifest } from '../manifest/schema.js';
import type { PackageRef } from './package-ref.js';

export const STACK_FORMAT = 1;

export type DependencyCondition = 'started' | 'healthy' | 'completed';

export interface StackDependency {
  service: string;
  /** started: it runs; healthy: its health check passed; completed: it ran and exited 0 (a one-shot job). */
  condition: DependencyCondition;
  /** Restart this service after a switch restarted the dependency (Compose's `restart: true`). */
  restart: boolean;
  /** false: a missing or disabled dependency is only a warning (Compose's `required: false`). */
  required: boolean;
}

/** A service's place on a stack network: the host's network name and the names peers reach it by there. */
export interface StackServiceNetwork {
  /** The network's key in the stack (`default`, `backend`). */
  key: string;
  /** The niso network (`<stack>_<key>`, or the external network's own name). */
  name: string;
  /** Names that resolve to this service on that network: its service name first, then its aliases. */
  aliases: string[];
  /**
   * How the network is made again when a switch needs it and it is gone (a rollback across `stack down`, which removed
   * it): a network of the host that must exist, or one made without egress. Absent for the default (made by the
   * stack, with egress), so that the entries of stacks without such networks hash as before.
   */
  external?: true;
  egress?: false;
}

/** A config file to copy in at deployment (niso copies it by content, as `--config` does). */
export interface StackConfig {
  /** A config the package's manifest declares ([configs.NAME]), or null for a file put at `target`. */
  name: string | null;
  target: string | null;
  /** The host file, absolute (relative paths are taken from the stack file's directory). */
  file: string;
}

/** The manifest's health check, as a stack may replace it; null: `healthcheck = "none"` turns it off. */
export type StackHealthcheck = NonNullable<Manifest['healthcheck']> | null;

/**
 * One service of a stack, resolved. The additive fields a generation needs for a stack's service, beside
 * GenerationService's name, package, options, backend, logs and active: `stack`, `service`, `dependsOn`, `networks`
 * (with aliases), `healthcheck` (an override), `configs` (copied in at deployment) and `profiles`.
 */
export interface StackService {
  /** The name in the stack, which peers use (`db`). */
  service: string;
  /** The niso service name on the host (`<stack>.<service>`). */
  name: string;
  stack: string;
  package: PackageRef;
  /** For a path reference: the path made absolute against the stack file's directory. */
  packagePath?: string;
  options: PlanOptions;
  configs: StackConfig[];
  /** Absent: the package's own health check; null: none; else this one instead of the package's. */
  healthcheck?: StackHealthcheck;
  dependsOn: StackDependency[];
  networks: StackServiceNetwork[];
  profiles: string[];
}

export interface StackNetwork {
  key: string;
  name: string;
  /** Made and removed with the stack (false), or a network of the host that must exist (true). */
  external: boolean;
  /** Whether services on it may reach beyond it (niso net create --no-egress when false). */
  egress: boolean;
}

export interface StackVolume {
  key: string;
  name: string;
  /** Made on first use by the stack (false), or a volume of the host that must exist (true). */
  external: boolean;
}

export interface ResolvedStack {
  format: typeof STACK_FORMAT;
  name: string;
  description?: string;
  /** The stack file, absolute; for messages and `stack ls`. */
  file: string;
  /** The profiles in effect: `[stack] profiles` and those asked for on the command line. */
  profiles: string[];
  /** The services the profiles enable, in the file's order; `dependencyOrder` gives the start order. */
  services: StackService[];
  /** Services the profiles leave out. */
  inactive: { service: string; profiles: string[] }[];
  /** Networks the enabled services join, by key. */
  networks: StackNetwork[];
  /** Volumes the enabled services mount, by key. */
  volumes: StackVolume[];
}
