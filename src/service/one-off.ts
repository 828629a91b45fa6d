// `niso run SERVICE -- CMD`, Docker's `docker compose run --rm SERVICE CMD`: a new foreground sandbox made from an
// existing service's own definition (its package, options, uid, volumes, networks), with CMD as the program. This
// module decides which references name a service and what a one-off's options are; cli/commands/run.ts runs it as it
// runs a package, on the service's backend.
import { randomBytes } from 'node:crypto';
import type { PlanOptions } from '../plan/build-plan.js';
import type { ServiceDefinition } from './model/types.js';
import { readDefinition, SERVICE_NAME_RE } from './store.js';

/**
 * The service a `niso run` reference names, or null. Only a bare name can (`NAME:VERSION`, a digest, a path and an
 * existing FILE.niso are packages): `bare` says whether the reference is one (cli/package-ref.ts). A service of that
 * name wins over a package of that name; the caller says so.
 */
export function serviceNamed(root: string, ref: string, bare: boolean): ServiceDefinition | null {
  if (!bare || !SERVICE_NAME_RE.test(ref)) return null;
  return readDefinition(root, ref);
}

/**
 * A one-off's plan options: the service's own (env, volumes and grants, binds, configs, secrets, networks, limits,
 * preset, trust), with `argv[0]` as the program and the rest as its arguments, which is `--entrypoint`'s meaning (no
 * manifest args, no [init] step, the override recorded in the plan); no port published, since the service's ports
 * are its own; `env` (the command line's -e) on top of the service's environment.
 */
export function oneOffOptions(def: ServiceDefinition, argv: readonly string[], env: Record<string, string>): PlanOptions {
  const { args: _args, entrypoint: _entrypoint, ports: _ports, restart: _restart, ...own } = def.options;
  return { ...own, entrypoint: argv[0]!, args: argv.slice(1), publish: false, env: { ...def.options.env, ...env } };
}

/**
 * The name a one-off's network attachment goes by: not the service's, which the service itself may hold (one
 * attachment per name), and which its peers keep resolving to the service. At most 64 characters, as a service name.
 */
export function oneOffAttachName(service: string): string {
  return `${service.slice(0, 53)}-run-${randomBytes(3).toString('hex')}`;
}

/**
 * Asks whether the service holds its volumes now: it runs, is being started, or waits to be restarted (view.ts
 * isActive, on either backend). Loaded only for a one-off: a package run never reads a service's status.
 */
export async function activeCheck(root: string, name: string): Promise<() => boolean> {
  const { isActive, serviceStatus } = await import('./view.js');
  return () => {
    const s = serviceStatus(root, name);
    return s !== null && isActive(s);
  };
}
