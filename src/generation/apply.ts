// One action of a switch, applied through the Backend interface. Every action is idempotent and reads what is
// installed before it acts (a service already defined, already gone, already stopped), because a switch's way back and
// recovery apply actions to a host that an interrupted switch left halfway.
import { backendFor, type Deactivated, type Host } from '../backend/index.js';
import { definitionOf, dryPlan } from '../backend/common.js';
import { checkName, readDefinition } from '../service/store.js';
import { isActive, serviceStatus } from '../service/view.js';
import { resolveOne } from '../store/resolve.js';
import { entryOf } from './hash.js';
import { NisoError } from '../errors/niso-error.js';
import { networksNeeded, type NeededNetwork } from '../stack/networks-needed.js';
import type { GenerationService, ServiceAction } from './types.js';

/** What an action did that a command shows: how a stopped service ended. */
export type ActionResult = { stopped?: Deactivated; removed?: { removedVolumes: string[] } };

/** Whether anything of the service runs or is about to (a pending restart counts: the supervisor would start it). */
async function live(host: Host, name: string): Promise<boolean> {
  const def = readDefinition(host.root, name);
  if (!def) return false;
  if ((await backendFor(def.backend)).running(host, name)) return true;
  const s = serviceStatus(host.root, name);
  return s !== null && isActive(s);
}

/** Stops it with the backend it is defined with, if anything of it is live. */
async function stopIfLive(host: Host, name: string): Promise<Deactivated | undefined> {
  const def = readDefinition(host.root, name);
  if (!def || !(await live(host, name))) return undefined;
  return (await backendFor(def.backend)).stop(host, name);
}

/** (Re)defines a service from its entry, started when it is active. */
async function defineAndStart(host: Host, to: GenerationService): Promise<void> {
  const b = await backendFor(to.backend);
  await b.define(host, to, { requestStart: to.active });
  if (to.active) await b.start(host, to.name);
}

export interface ApplyOptions {
  /** Services whose /state and own volumes a `remove` deletes too (`niso remove --volumes`). */
  deleteData?: readonly string[];
}

export async function applyAction(host: Host, a: ServiceAction, opts: ApplyOptions = {}): Promise<ActionResult> {
  const name = a.service;
  const def = readDefinition(host.root, name);
  const to = a.to;
  switch (a.kind) {
    case 'keep':
      return {};
    case 'add':
    case 'replace': {
      // A replace of a service the interrupted switch already removed, or an add it already made: from what is there.
      const stopped = await stopIfLive(host, name);
      if (def && a.kind === 'replace' && def.backend === to!.backend) {
        await (await backendFor(def.backend)).replace(host, entryOf(def, false), to!);
        return { stopped };
      }
      await defineAndStart(host, to!);
      return { stopped };
    }
    case 'remove': {
      if (!def) return {};
      const stopped = await stopIfLive(host, name);
      const removed = await (await backendFor(def.backend)).remove(host, name, { deleteState: opts.deleteData?.includes(name) === true });
      return { stopped, removed };
    }
    case 'start': {
      const specChanged = a.changed.some((c) => c !== 'active') || !def || def.backend !== to!.backend;
      if (!specChanged) { await (await backendFor(def.backend)).start(host, name); return {}; }
      // The new definition is written first, with nothing of the old one left running.
      const stopped = await stopIfLive(host, name);
      await defineAndStart(host, to!);
      return { stopped };
    }
    case 'stop': {
      const stopped = def && await live(host, name) ? await (await backendFor(def.backend)).stop(host, name) : undefined;
      if (!def || def.backend !== to!.backend) await (await backendFor(to!.backend)).define(host, to!);
      else if (a.changed.some((c) => c !== 'active')) await (await backendFor(def.backend)).updateDefinition(host, to!);
      return { stopped };
    }
    case 'ports':
      if (!def) { await defineAndStart(host, to!); return {}; }
      await (await backendFor(def.backend)).updatePorts(host, name, to!.options.ports);
      return {};
    case 'update':
      if (!def || def.backend !== to!.backend) { await (await backendFor(to!.backend)).define(host, to!); return {}; }
      await (await backendFor(def.backend)).updateDefinition(host, to!);
      return {};
  }
}

/**
 * P0's preflight: everything a switch will need is there before anything stops: valid names, every package installed
 * (by digest), and a plan that builds for each service that will be (re)started (what `activate` checked before it
 * wrote a definition), so that a replacement that cannot start never takes the running version down.
 */
export async function preflight(host: Host, actions: readonly ServiceAction[]): Promise<void> {
  for (const a of actions) {
    if (a.kind === 'keep' || a.kind === 'remove' || !a.to) continue;
    checkName(a.to.name);
    await resolveOne(host.root, a.to.package.digest);
    if (a.to.active && (a.kind === 'add' || a.kind === 'replace' || a.kind === 'start')) {
      await dryPlan(host, definitionOf(a.to, null, undefined));
    }
  }
}

/**
 * Makes the stack networks of `needed` that do not exist yet, and returns their names; an external one must exist
 * (NISO4002, `external` says whose). `stack up` makes its stack's before its switch; a switch makes those of the
 * services it starts (a rollback to a generation before a `stack down`, which removed them), before anything stops.
 */
export async function makeNetworks(root: string, needed: readonly NeededNetwork[], external: string): Promise<string[]> {
  if (needed.length === 0) return [];
  const [{ createNetwork, netContext }, { readNetworks, netPaths }] = await Promise.all([import('../net/host/manager.js'), import('../net/host/state-files.js')]);
  const have = new Set((await readNetworks(netPaths(root))).map((n) => n.name));
  const made: string[] = [];
  for (const n of needed) {
    if (have.has(n.name)) continue;
    if (n.external) throw new NisoError('NISO4002', `network "${n.name}" does not exist, and ${external}`, { exitCode: 1, hint: `create it: niso net create ${n.name}` });
    await createNetwork(netContext(root), { name: n.name, egress: n.egress });
    made.push(n.name);
  }
  return made;
}

/** The stack networks the services a switch starts are on, made where they are missing (see makeNetworks). */
export const ensureStackNetworks = (host: Host, actions: readonly ServiceAction[]): Promise<string[]> =>
  makeNetworks(host.root, networksNeeded(actions), 'a stack of this generation joins it as an external network');
