// What a generation is, as data: the whole host's desired set of services, the unit every switch and rollback moves
// between. Shared by the pure model (diff, classification, retention) and the engine that applies it.
import type { BackendName } from '../service/model/types.js';
import type { PlanOptions } from '../plan/build-plan.js';
import type { StackEntry } from '../stack/generation.js';

export const GENERATION_FORMAT = 1;

/**
 * One service as the user asked for it: the spec part of service.json, without what the host records as it runs
 * (start requests, `desired` flipped by a failed start, creation time). Two equal entries never restart a service.
 */
export interface GenerationService {
  name: string;
  /** Pinned by digest, as in service.json. */
  package: { name: string; version: string; digest: string };
  options: PlanOptions;
  backend: BackendName;
  logs: { maxBytes: number; files: number };
  /** activate → true, deactivate → false. An inactive service stays defined (its uid, state, grants). */
  active: boolean;
  /** A stack's service (`niso stack up`): its stack, its dependencies and networks. Absent for a plain service. */
  stack?: StackEntry;
}

/** The immutable content of a generation; its id is the sha256 of its canonical JSON (generation/hash.ts). */
export interface GenerationContent {
  version: typeof GENERATION_FORMAT;
  /** Sorted by name. */
  services: GenerationService[];
}

export type GenerationStatus = 'pending' | 'good' | 'failed' | 'rolled-back';

/** Mutable metadata of a numbered generation (profiles/system-N.json). */
export interface GenerationMeta {
  number: number;
  /** sha256 hex of the content. */
  hash: string;
  createdAt: string;
  /** The generation that was current when this one was made (null for the first). */
  parent: number | null;
  /** The command that made it, redacted (no --env values). */
  command: string[];
  actor: { uid: number; user: string | null; sudoUser: string | null; ssh: string | null };
  status: GenerationStatus;
  /** Why it failed or was rolled back, in words. */
  reason?: string;
  /** One line per changed service: "web: 1.0.0 → 2.0.0", "db: added". */
  summary: string[];
}

/**
 * What a switch does to one service. `keep`: nothing (the hash test pins it). `update`: the definition is rewritten
 * without a restart (restart policy, log bounds: read at the next start or by the supervisor). `ports`: only the
 * host-side port mappings changed: one nft transaction, no restart. `replace`: stopped with the old definition, started
 * with the new. `start`/`stop`: active flipped. `add`: a new service (started when active). `remove`: stopped and
 * forgotten; its volumes and /state stay.
 */
export type ServiceActionKind = 'keep' | 'update' | 'ports' | 'replace' | 'start' | 'stop' | 'add' | 'remove';

export interface ServiceAction {
  kind: ServiceActionKind;
  service: string;
  from: GenerationService | null;
  to: GenerationService | null;
  /** Which fields changed, for `--dry-run`, `generation diff` and the audit log: "package", "options.env", ... */
  changed: string[];
}
