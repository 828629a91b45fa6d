// Services on disk: /var/lib/niso/services/<name>/{service.json,state.json,plan.json,health.json,
// bwrap.status,logs/}. Every JSON file is replaced atomically; transitions (start, stop, restart)
// happen under the service's lock so that the CLI and the supervisor never start one twice.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { NisoError } from '../errors/niso-error.js';
import { writeFileAtomic } from '../host/fs-atomic.js';
import { withLock } from '../host/lock.js';
import type { Plan } from '../plan/plan.js';
import { layout, serviceDir } from '../store/layout.js';
import { initialState, type ServiceDefinition, type ServiceState } from './model/types.js';

export const SERVICE_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function checkName(name: string): void {
  if (!SERVICE_NAME_RE.test(name)) throw new NisoError('NISO9001', `"${name}" is not a valid service name`, { exitCode: 2, hint: 'use 1-64 lower-case letters, digits, ".", "_" and "-", starting with a letter or digit' });
}

export interface ServicePaths {
  dir: string;
  definition: string;
  state: string;
  plan: string;
  health: string;
  status: string;
  logs: string;
  lock: string;
}

/** Paths are asked for many times a second by the supervisor (each look at each service): made once per service. */
const pathsMemo = new Map<string, Readonly<ServicePaths>>();
const MEMO_MAX = 4096;

function remember<T>(memo: Map<string, T>, key: string, make: () => T): T {
  let v = memo.get(key);
  if (v === undefined) {
    if (memo.size >= MEMO_MAX) memo.clear();
    v = make();
    memo.set(key, v);
  }
  return v;
}

export function servicePaths(root: string, name: string): ServicePaths {
  return remember(pathsMemo, `${root}\0${name}`, () => Object.freeze(makeServicePaths(root, name)));
}

function makeServicePaths(root: string, name: string): ServicePaths {
  const dir = serviceDir(layout(root), name);
  return {
    dir,
    definition: join(dir, 'service.json'),
    state: join(dir, 'state.json'),
    plan: join(dir, 'plan.json'),
    health: join(dir, 'health.json'),
    status: join(dir, 'bwrap.status'),
    logs: join(dir, 'logs'),
    lock: join(dir, 'lock'),
  };
}

/** A short id of the NISO_ROOT, so that two roots on one host (tests, demos) never share a cgroup. */
const rootIdMemo = new Map<string, string>();

export function rootId(root: string): string {
  return remember(rootIdMemo, root, () => createHash('sha256').update(resolve(root)).digest('hex').slice(0, 8));
}

function readJson<T>(file: string, what: string): T | null {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new NisoError('NISO3308', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  try { return JSON.parse(text) as T; } catch (e) {
    throw new NisoError('NISO3308', `${file} (the ${what}) is not valid JSON: ${(e as Error).message}`, { hint: 'restore it from a backup, or remove the service directory and activate the service again' });
  }
}

export function readDefinition(root: string, name: string): ServiceDefinition | null {
  return readJson<ServiceDefinition>(servicePaths(root, name).definition, 'service definition');
}

export function requireDefinition(root: string, name: string): ServiceDefinition {
  const d = SERVICE_NAME_RE.test(name) ? readDefinition(root, name) : null;
  if (!d) {
    const known = listServiceNames(root);
    throw new NisoError('NISO3301', `no service named "${name}"`, { exitCode: 1, hint: known.length > 0 ? `services here: ${known.join(', ')}` : 'start one with `niso activate PACKAGE`' });
  }
  return d;
}

export function readState(root: string, name: string): ServiceState {
  return readJson<ServiceState>(servicePaths(root, name).state, 'service state') ?? initialState(new Date(0));
}

export function readPlan(root: string, name: string): Plan | null {
  return readJson<Plan>(servicePaths(root, name).plan, 'plan of the current run');
}

export async function writeDefinition(root: string, d: ServiceDefinition): Promise<void> {
  await writeFileAtomic(servicePaths(root, d.name).definition, JSON.stringify(d, null, 2) + '\n', 0o600);
}

export async function writeState(root: string, name: string, s: ServiceState): Promise<void> {
  await writeFileAtomic(servicePaths(root, name).state, JSON.stringify(s, null, 2) + '\n', 0o600);
}

export async function writePlan(root: string, name: string, plan: Plan): Promise<void> {
  await writeFileAtomic(servicePaths(root, name).plan, JSON.stringify(plan, null, 2) + '\n', 0o600);
}

export function listServiceNames(root: string): string[] {
  let names: string[];
  try { names = readdirSync(layout(root).services); } catch { return []; }
  return names.filter((n) => SERVICE_NAME_RE.test(n) && existsSync(join(layout(root).services, n, 'service.json'))).sort();
}

/** The services defined to run this package digest: it must stay installed for them. */
export function servicesUsing(root: string, digest: string): string[] {
  return listServiceNames(root).filter((n) => readDefinition(root, n)?.package.digest === digest);
}

/** Transitions of one service (start, stop, restart, recording an exit) are serialised by this lock. */
export function withServiceLock<T>(root: string, name: string, fn: () => Promise<T>): Promise<T> {
  return withLock(servicePaths(root, name).lock, `service ${name}`, fn);
}

/** Creating and removing services (names must stay unique). */
export function withServicesLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  return withLock(join(layout(root).services, '.lock'), 'the services', fn);
}

export async function removeServiceFiles(root: string, name: string): Promise<void> {
  await rm(servicePaths(root, name).dir, { recursive: true, force: true });
  // Its config files are part of its definition, kept apart only because the service's uid must reach them. Those a
  // generation names stay for a rollback to it (`niso generation prune` takes them with the last such generation).
  const dir = join(layout(root).configs, name);
  const named = (await import('../generation/store.js')).configsNamedByGenerations(root);
  if (named === null) return;
  let files: string[];
  try { files = await readdir(dir); } catch { return; }
  for (const f of files) if (!named.has(join(dir, f))) await rm(join(dir, f), { recursive: true, force: true });
  await rmdir(dir).catch(() => undefined);
}
