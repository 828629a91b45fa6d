// Which secrets a sandbox gets and where: the manifest's [secrets] (each one confirmed by the operator, weakenings.ts)
// and the command line's --secret, checked against each other, against the host's store (by digest: the bytes never
// enter a plan) and against the plan's other mounts. Pure; buildPlan calls it, `niso secret` asks it who is granted what.
import { NisoError, type Diagnostic } from '../errors/niso-error.js';
import type { Manifest } from '../manifest/schema.js';
import { defaultTarget, MAX_SECRETS_TOTAL_BYTES, SECRET_NAME_RE, targetProblem } from '../secret/names.js';
import type { PlanMount } from './plan.js';

export interface SecretGrant {
  name: string;
  /** The file's path inside the sandbox. */
  target: string;
  /** Who named it: a manifest's secret takes effect only when the operator confirmed it (weakenings.ts). */
  from: 'manifest' | 'command line';
}

/** The manifest's [secrets] (older store objects have none). */
export const manifestSecrets = (m: Pick<Manifest, 'secrets'>): NonNullable<Manifest['secrets']> => m.secrets ?? {};

/** The names of the secrets asked for, unchecked: what the caller looks up in the store before buildPlan judges them. */
export function secretNamesAsked(m: Pick<Manifest, 'secrets'>, o: { secrets?: readonly { name: string }[] }): string[] {
  return [...new Set([...Object.keys(manifestSecrets(m)), ...(o.secrets ?? []).map((s) => s.name)])].filter((n) => SECRET_NAME_RE.test(n));
}

/**
 * The secrets a service or run is granted, in order: the manifest's (at their target, default /run/secrets/NAME),
 * then the command line's. A --secret of a name the manifest lists replaces the manifest's entry (its target, if it
 * gives one, wins). One secret may appear at several targets; two grants at one target are refused (NISO5105).
 */
export function secretGrants(m: Pick<Manifest, 'secrets'>, o: { secrets?: readonly { name: string; target?: string }[] }): SecretGrant[] {
  const cli = o.secrets ?? [];
  const declared = manifestSecrets(m);
  const out: SecretGrant[] = [];
  for (const [name, entry] of Object.entries(declared)) {
    if (cli.some((c) => c.name === name)) continue;
    out.push({ name, target: entry.target ?? defaultTarget(name), from: 'manifest' });
  }
  for (const c of cli) out.push({ name: c.name, target: c.target ?? declared[c.name]?.target ?? defaultTarget(c.name), from: 'command line' });
  const problems: Diagnostic[] = [];
  const at = new Map<string, SecretGrant>();
  for (const g of out) {
    const bad = targetProblem(g.target);
    if (bad) problems.push({ code: 'NISO5105', field: 'secrets', message: `secret ${g.name} (${g.from}): the target ${JSON.stringify(g.target)} ${bad.why}`, hint: bad.hint });
    const other = at.get(g.target);
    if (other) {
      problems.push({ code: 'NISO5105', field: 'secrets', message: `secrets ${other.name} (${other.from}) and ${g.name} (${g.from}) are both mounted at ${g.target}`, hint: `give one of them another target, e.g. --secret ${g.name},target=${defaultTarget(g.name)}-2` });
    } else at.set(g.target, g);
  }
  if (problems.length > 0) throw secretsError(problems);
  return out;
}

function secretsError(problems: Diagnostic[]): NisoError {
  return new NisoError(problems[0]!.code, problems.length === 1 ? problems[0]!.message : `${problems.length} problems with the secrets`, { exitCode: 2, hint: problems[0]!.hint, diagnostics: problems.length === 1 ? [] : problems });
}

/**
 * The plan's secret mounts: each grant with the stored secret's digest. Refused: a secret the host does not have
 * (NISO5101, with the command that makes it), more than MAX_SECRETS_TOTAL_BYTES of them together (NISO5103), and a
 * target that is another mount's, lies inside a bind mount (its mount point would be made in a host directory, or
 * could not be made in a read-only one) or has mounts below it (a file cannot hold them) (NISO5105).
 */
export function secretMounts(grants: readonly SecretGrant[], host: Readonly<Record<string, { digest: string; size?: number }>>, others: readonly PlanMount[]): PlanMount[] {
  const missing = [...new Set(grants.map((g) => g.name).filter((n) => host[n] === undefined))];
  if (missing.length > 0) {
    throw secretsError(missing.map((n) => ({
      code: 'NISO5101', field: 'secrets', message: `secret ${n} does not exist on this host`,
      hint: `create it with \`niso secret create ${n} FILE\` (or \`printf %s VALUE | niso secret create ${n} -\`); \`niso secret ls\` lists the secrets there are`,
    })));
  }
  const total = [...new Set(grants.map((g) => g.name))].reduce((sum, n) => sum + (host[n]!.size ?? 0), 0);
  if (total > MAX_SECRETS_TOTAL_BYTES) {
    throw new NisoError('NISO5103', `the secrets granted (${[...new Set(grants.map((g) => g.name))].join(', ')}) hold ${total} bytes together, more than the ${MAX_SECRETS_TOTAL_BYTES / 1024} KiB a sandbox takes`, {
      exitCode: 2, hint: 'systemd loads no more credentials into one unit, and niso keeps both backends alike: grant fewer secrets, or keep large files in a volume',
    });
  }
  const problems: Diagnostic[] = [];
  for (const g of grants) {
    for (const m of others) {
      const t = m.target;
      const why = t === g.target ? `is also the target of the ${describe(m)}`
        : below(g.target, t) && m.type === 'bind' ? `is inside ${t}, the ${describe(m)}`
          : below(t, g.target) ? `would be a file above ${t}, the ${describe(m)}`
            : null;
      if (why) problems.push({ code: 'NISO5105', field: 'secrets', message: `secret ${g.name} (${g.from}): the target ${g.target} ${why}`, hint: `mount it elsewhere, e.g. --secret ${g.name},target=${defaultTarget(g.name)}` });
    }
  }
  if (problems.length > 0) throw secretsError(problems);
  return grants.map((g) => ({ type: 'secret', name: g.name, target: g.target, digest: host[g.name]!.digest }));
}

const below = (path: string, dir: string) => path !== dir && (dir === '/' || path.startsWith(`${dir}/`));

function describe(m: PlanMount): string {
  switch (m.type) {
    case 'bind': return m.purpose === 'state' ? 'service\'s /state' : m.purpose === 'app' ? 'app' : `mount of ${m.source}`;
    case 'file': return 'file niso writes there';
    case 'tmpfs': return 'tmpfs';
    case 'secret': return `secret ${m.name}`;
    default: return `${m.type} mount`;
  }
}
