// A generation's identity: the sha256 of one canonical JSON text of its content, so that two hosts (or two runs) that
// want the same services get the same id, and a switch to what is already current is recognised as a no-op.
import { createHash } from 'node:crypto';
import { jcs } from '../audit/canonical.js';
import { DEFAULT_LOG_LIMITS } from '../service/logs/limits.js';
import type { ServiceDefinition } from '../service/model/types.js';
import { GENERATION_FORMAT, type GenerationContent, type GenerationService } from './types.js';

/**
 * RFC 8785 (JCS), the audit log's own canonical form (the `canonicalize` library), so niso has one: object keys
 * sorted by UTF-16 code units, no whitespace, ECMAScript's number and string forms, `undefined` members left out.
 */
export const canonicalJson = (value: unknown): string => jcs(value);

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The id of a generation: sha256 hex of the canonical JSON of its content, normalised first (contentOf). */
export function generationHash(content: GenerationContent): string {
  return sha256Hex(canonicalJson(contentOf(content.services)));
}

/** Deep equality by canonical form: what the classification calls "unchanged". */
export function sameCanonical(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * A value without what canonical JSON leaves out anyway (undefined members), as a fresh plain tree, so that the content
 * that is stored, compared and hashed is one and the same.
 */
function plain<T>(value: T): T {
  return JSON.parse(canonicalJson(value)) as T;
}

/**
 * Options whose empty value means the same as their absence: buildPlan (plan/build-plan.ts, grants.ts, secrets.ts)
 * reads each of them as "nothing from the command line" when it is empty, so `ports: []` and no ports are one spec.
 */
const EMPTY_IS_ABSENT = ['networks', 'ports', 'env', 'args', 'capabilities', 'syscalls', 'mounts', 'configs', 'secrets', 'trust', 'aliases'] as const;

function normalOptions(options: GenerationService['options']): GenerationService['options'] {
  const o = plain(options ?? {}) as Record<string, unknown>;
  for (const k of EMPTY_IS_ABSENT) {
    const v = o[k];
    if (Array.isArray(v) ? v.length === 0 : v !== null && typeof v === 'object' && Object.keys(v).length === 0) delete o[k];
  }
  return o as GenerationService['options'];
}

/** One service as a generation holds it: normalised so that equal specs are equal bytes. */
export function normalService(s: GenerationService): GenerationService {
  return {
    name: s.name,
    package: { name: s.package.name, version: s.package.version, digest: s.package.digest },
    options: normalOptions(s.options),
    backend: s.backend,
    logs: { maxBytes: s.logs.maxBytes, files: s.logs.files },
    active: s.active === true,
    // Only a stack's service has it, so the entries (and ids) of plain services are what they were.
    ...(s.stack ? { stack: plain(s.stack) } : {}),
  };
}

/**
 * The entry of an installed service (service.json): its spec, without what the host records as it runs. Definitions
 * older than their fields get the values niso reads them with (no backend: embedded; no logs: the default bound).
 */
export function entryOf(def: ServiceDefinition, active: boolean): GenerationService {
  const d = def as Partial<ServiceDefinition> & Pick<ServiceDefinition, 'name' | 'package'>;
  return normalService({ name: d.name, package: d.package, options: d.options ?? {}, backend: d.backend ?? 'embedded', logs: d.logs ?? DEFAULT_LOG_LIMITS, active, ...(d.stack ? { stack: d.stack } : {}) });
}

/** A generation's content from its services, in name order. Two services of one name are a bug of the caller. */
export function contentOf(services: readonly GenerationService[]): GenerationContent {
  const sorted = services.map(normalService).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.name === sorted[i - 1]!.name) throw new Error(`a generation names service ${sorted[i]!.name} twice`);
  }
  return { version: GENERATION_FORMAT, services: sorted };
}
