// What a switch from one generation to another does to each service, decided from the two contents alone (no host),
// so that `--dry-run`, `generation diff`, the switch engine and the audit log can never disagree, and a service whose
// entry did not change is never touched.
import { formatSize, type PortMapping } from '../manifest/units.js';
import { normalService, sameCanonical } from './hash.js';
import { orderByDependencies, RESTART_WITH } from './order.js';
import type { GenerationContent, GenerationService, ServiceAction, ServiceActionKind } from './types.js';

/** Options a running service takes without a restart: the host-side port mappings (an nft transaction), and the restart policy, read at its next end. */
const NO_RESTART_OPTIONS = new Set(['options.ports', 'options.restart']);

/**
 * The field paths in which two entries of one service differ: `package`, `backend`, `logs`, `active`, and
 * `options.KEY` for each option (a whole option, not its parts: `options.env`, never which variable).
 */
export function changedFields(from: GenerationService, to: GenerationService): string[] {
  const out: string[] = [];
  if (!sameCanonical(from.package, to.package)) out.push('package');
  if (from.backend !== to.backend) out.push('backend');
  const fo = from.options as Record<string, unknown>;
  const tox = to.options as Record<string, unknown>;
  for (const k of [...new Set([...Object.keys(fo), ...Object.keys(tox)])].sort()) {
    if (!sameCanonical(fo[k] ?? null, tox[k] ?? null)) out.push(`options.${k}`);
  }
  if (!sameCanonical(from.logs, to.logs)) out.push('logs');
  if (from.active !== to.active) out.push('active');
  // A stack's own fields (order, names, the file), each as one field; none of them restarts a service by itself.
  const fs = (from.stack ?? {}) as Record<string, unknown>;
  const ts = (to.stack ?? {}) as Record<string, unknown>;
  for (const k of [...new Set([...Object.keys(fs), ...Object.keys(ts)])].sort()) {
    if (!sameCanonical(fs[k] ?? null, ts[k] ?? null)) out.push(`stack.${k}`);
  }
  return out;
}

/**
 * Port mappings are the only change a running service takes through nft alone, and only where they are mapped: on a
 * private network. `host` and `none` map nothing; without --network the manifest decides, which the engine reads
 * (and a manifest whose mode is not private has no mappings to change either).
 */
const portsMapped = (s: GenerationService) => s.options.network === undefined || s.options.network === 'private';

function classify(from: GenerationService, to: GenerationService, changed: string[]): ServiceActionKind {
  if (changed.length === 0) return 'keep';
  if (!from.active && to.active) return 'start';
  if (from.active && !to.active) return 'stop';
  // Nothing runs before or after: the definition is rewritten, nothing is stopped or started.
  if (!to.active) return 'update';
  const heavy = changed.filter((c) => !NO_RESTART_OPTIONS.has(c) && c !== 'logs' && !c.startsWith('stack.'));
  if (heavy.length > 0) return 'replace';
  if (changed.includes('options.ports')) return portsMapped(from) && portsMapped(to) ? 'ports' : 'update';
  return 'update';
}

/**
 * The order actions run in: what takes something down first (its ports, names and uids become free), then what changes
 * in place, then replacements (their stop half still before any new start), then what comes up; `keep` last. Within a
 * rank, by name; then a stack's dependencies reorder what stops and what starts (order.ts).
 */
const RANK: Record<ServiceActionKind, number> = { stop: 0, remove: 0, update: 1, ports: 1, replace: 2, start: 3, add: 3, keep: 4 };

/** The actions a switch from `from` (null: nothing defined yet) to `to` takes, one per service of either, in order. */
export function diffGenerations(from: GenerationContent | null, to: GenerationContent): ServiceAction[] {
  const before = new Map((from?.services ?? []).map((s) => [s.name, normalService(s)]));
  const after = new Map(to.services.map((s) => [s.name, normalService(s)]));
  const actions: ServiceAction[] = [];
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const f = before.get(name) ?? null;
    const t = after.get(name) ?? null;
    if (f === null) actions.push({ kind: 'add', service: name, from: null, to: t, changed: [] });
    else if (t === null) actions.push({ kind: 'remove', service: name, from: f, to: null, changed: [] });
    else {
      const changed = changedFields(f, t);
      actions.push({ kind: classify(f, t, changed), service: name, from: f, to: t, changed });
    }
  }
  return orderByDependencies(actions.sort((a, b) => RANK[a.kind] - RANK[b.kind] || (a.service < b.service ? -1 : a.service > b.service ? 1 : 0)), RANK);
}

/** Whether a switch between the two would do anything at all. */
export const changesAnything = (actions: readonly ServiceAction[]) => actions.some((a) => a.kind !== 'keep');

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

function packageChange(f: GenerationService['package'], t: GenerationService['package']): string {
  if (f.name !== t.name) return `${f.name} ${f.version} → ${t.name} ${t.version}`;
  if (f.version !== t.version) return `${f.version} → ${t.version}`;
  return `${f.version} (${short(f.digest)} → ${short(t.digest)})`;
}

function port(p: PortMapping): string {
  const range = (r: { from: number; to: number }) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`);
  const ip = p.hostIp === null ? '' : p.hostIp.includes(':') ? `[${p.hostIp}]:` : `${p.hostIp}:`;
  return `${ip}${range(p.host)}:${range(p.container)}/${p.protocol}`;
}

const ports = (v: PortMapping[] | undefined) => (v && v.length > 0 ? v.map(port).join(' ') : 'none');

/** Names whose presence or value differs; values are never shown (they are often secrets). */
function envNames(f: Record<string, string> | undefined, t: Record<string, string> | undefined): string {
  const a = f ?? {};
  const b = t ?? {};
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().filter((k) => a[k] !== b[k]);
  return names.map((k) => (!(k in a) ? `+${k}` : !(k in b) ? `-${k}` : k)).join(' ');
}

/** Values shown as they are: short scalars of niso's own vocabulary. Lists (args, mounts...) are named, not printed. */
function scalar(key: string, v: unknown): string | null {
  if (v === undefined) return 'default';
  if (key === 'memoryBytes' || key === 'stateBytes') return typeof v === 'number' ? formatSize(v) : null;
  if (key === 'restart' && typeof v === 'object' && v !== null) {
    const r = v as { policy: string; maxRetries: number | null };
    return r.maxRetries === null ? r.policy : `${r.policy}:${r.maxRetries}`;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return v.length <= 40 ? v : null;
  return null;
}

/** One changed field in words: "package 1.0.0 → 2.0.0", "options.env: FOO", "options.ports: 8080:3000/tcp → none". */
export function describeChange(field: string, from: GenerationService, to: GenerationService): string {
  if (field === 'package') return `package ${packageChange(from.package, to.package)}`;
  if (field === 'backend') return `backend ${from.backend} → ${to.backend}`;
  if (field === 'logs') return `logs ${from.logs.files}×${formatSize(from.logs.maxBytes)} → ${to.logs.files}×${formatSize(to.logs.maxBytes)}`;
  if (field === 'active') return `active ${from.active} → ${to.active}`;
  if (field.startsWith(RESTART_WITH)) return `restarted with ${field.slice(RESTART_WITH.length)}`;
  if (field.startsWith('stack.')) return field === 'stack.dependsOn' ? 'depends_on' : field;
  const key = field.slice('options.'.length);
  const fo = from.options as Record<string, unknown>;
  const tox = to.options as Record<string, unknown>;
  if (key === 'env') return `${field}: ${envNames(from.options.env, to.options.env)}`;
  if (key === 'ports') return `${field}: ${ports(from.options.ports)} → ${ports(to.options.ports)}`;
  const a = scalar(key, fo[key]);
  const b = scalar(key, tox[key]);
  return a !== null && b !== null ? `${field}: ${a} → ${b}` : field;
}

const VERB: Record<ServiceActionKind, string> = {
  keep: 'keep', update: 'update', ports: 'update the ports of', replace: 'replace', start: 'start', stop: 'stop', add: 'add', remove: 'remove',
};

/** One action as a line for --dry-run and `generation diff`: "stop web", "replace api (package 1.0.0 → 2.0.0, options.env: FOO)". */
export function describeAction(a: ServiceAction): string {
  const head = `${VERB[a.kind]} ${a.service}`;
  if (a.kind === 'add') return `${head} (${a.to!.package.name} ${a.to!.package.version}${a.to!.active ? '' : ', inactive: not started'})`;
  if (a.kind === 'remove') return `${head} (${a.from!.package.name} ${a.from!.package.version}${a.from!.active ? '' : ', inactive'})`;
  const details = a.changed.filter((c) => c !== 'active').map((c) => describeChange(c, a.from!, a.to!));
  return details.length > 0 ? `${head} (${details.join(', ')})` : head;
}

export function describeActions(actions: readonly ServiceAction[]): string[] {
  return actions.map(describeAction);
}

/** A generation's summary (GenerationMeta.summary): one line per changed service, "web: 1.0.0 → 2.0.0", "db: added". */
export function summarize(actions: readonly ServiceAction[]): string[] {
  const out: string[] = [];
  for (const a of actions) {
    if (a.kind === 'keep') continue;
    if (a.kind === 'add') { out.push(`${a.service}: added${a.to!.active ? '' : ' (inactive)'}`); continue; }
    if (a.kind === 'remove') { out.push(`${a.service}: removed`); continue; }
    const parts: string[] = [];
    if (a.kind === 'start') parts.push('started');
    if (a.kind === 'stop') parts.push('stopped');
    if (a.changed.includes('package')) parts.push(packageChange(a.from!.package, a.to!.package));
    const rest = a.changed.filter((c) => c !== 'package' && c !== 'active').map((c) => (c.startsWith(RESTART_WITH) ? `restarted with ${c.slice(RESTART_WITH.length)}` : c));
    if (rest.length > 0) parts.push(rest.join(', '));
    out.push(`${a.service}: ${parts.join(', ')}`);
  }
  return out;
}

