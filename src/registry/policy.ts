// /etc/niso/policy.toml: which signatures a pull (and the install of a local .niso) needs, per registry or
// repository scope. The rules follow containers-policy.json, which operators know: the most specific scope wins and
// all of its requirements must hold; unknown keys are errors with their line; with a policy, what no scope names is
// rejected unless `default` says otherwise.
import { z } from 'zod';
import { stringify } from 'smol-toml';
import { invalidInput, isNisoError } from '../errors/niso-error.js';
import { readToml } from '../manifest/toml-positions.js';
import { validateDocument } from '../manifest/validate.js';
import { parsePublicKeyLine, type TrustedKey } from './signature.js';

export const LOCAL_SCOPE = 'file:';
export type Requirement = 'signed' | 'insecure-accept-unsigned' | 'reject';

/** `host[:port]` with an optional `/repository/path`, or `file:` for local .niso files. */
const SCOPE_RE = /^(?:file:|(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)$/;

/** Whether a text is a scope niso accepts (what `niso trust add` checks before it writes the policy). */
export const isScope = (text: string) => SCOPE_RE.test(text);

const keyLine = z.string().superRefine((v, ctx) => {
  try { parsePublicKeyLine(v, 'key'); } catch (e) {
    ctx.addIssue({ code: 'custom', message: isNisoError(e) ? e.message.replace(/^key: /, '') : String(e), params: { niso: 'NISO7030', hint: 'keys are OpenSSH lines: "ssh-ed25519 AAAA… comment", as in the .pub file of `niso key generate`; `niso trust add SCOPE KEY.pub` writes them' } });
  }
});

const scopeSchema = z.strictObject({
  match: z.string().regex(SCOPE_RE, 'not a scope: HOST[:PORT], HOST[:PORT]/REPOSITORY or file:').meta({ examples: ['registry.example.com/team'] }),
  require: z.enum(['signed', 'insecure-accept-unsigned', 'reject']).meta({ examples: ['signed'] }),
  keys: z.array(keyLine).max(100).default([]),
  /** repository-name: the statement's package name must be the repository's last part; any: no name rule. */
  identity: z.enum(['repository-name', 'any']).default('repository-name'),
});

const policySchema = z.strictObject({
  version: z.literal(1).meta({ examples: [1] }),
  default: z.enum(['reject', 'insecure-accept-unsigned']).default('reject'),
  scope: z.array(scopeSchema).max(1000).default([]),
});

export type Policy = z.output<typeof policySchema>;
export type Scope = Policy['scope'][number];

export function parsePolicy(text: string, file: string): Policy {
  const t = readToml(text, file);
  if (!t.ok) throw invalidInput(t.diagnostics, `${file} is not valid TOML`);
  const v = validateDocument(policySchema, t.doc, file);
  if (!v.value) throw invalidInput(v.diagnostics, `${file} has problems`);
  const seen = new Set<string>();
  for (const s of v.value.scope) {
    if (seen.has(s.match)) {
      throw invalidInput([{ code: 'NISO7030', file, message: `scope "${s.match}" is listed twice`, hint: 'merge the two [[scope]] tables into one' }], `${file} has problems`);
    }
    seen.add(s.match);
    if (s.require === 'signed' && s.keys.length === 0) {
      throw invalidInput([{ code: 'NISO7030', file, message: `scope "${s.match}" requires signatures but trusts no key`, hint: `add keys = ["ssh-ed25519 AAAA…"], or \`niso trust add ${s.match} KEY.pub\`` }], `${file} has problems`);
    }
  }
  return v.value;
}

/** The policy as niso writes it (`niso trust add|remove`); comments of a hand-written file are not kept. */
export function serializePolicy(p: Policy): string {
  const doc = { version: p.version, default: p.default, scope: p.scope.map((s) => ({ match: s.match, require: s.require, ...(s.keys.length > 0 ? { keys: s.keys } : {}), ...(s.identity !== 'repository-name' ? { identity: s.identity } : {}) })) };
  return `# niso trust policy: which signatures \`niso pull\` (and the install of a local .niso, scope "file:") needs.\n# The most specific [[scope]] that matches a repository decides; what none matches gets "default".\n${stringify(doc)}\n`;
}

export const emptyPolicy = (): Policy => ({ version: 1, default: 'reject', scope: [] });

/** The scope string of a repository (`host[:port]/path`) or of a local file (`file:`). */
export const repositoryScope = (registry: string, repository: string) => `${registry}/${repository}`;

/** The scope that decides for `target`: the longest `match` that equals it or is a parent of it on a `/` boundary. */
export function scopeFor(p: Policy, target: string): Scope | null {
  let best: Scope | null = null;
  for (const s of p.scope) {
    const hit = s.match === target || (s.match !== LOCAL_SCOPE && target.startsWith(`${s.match}/`));
    if (hit && (best === null || s.match.length > best.match.length)) best = s;
  }
  return best;
}

export interface Decision {
  require: Requirement;
  /** The scope that matched; null: the policy's default. */
  scope: string | null;
  keys: TrustedKey[];
  identity: 'repository-name' | 'any';
}

/** What the policy asks of `target`. No policy file at all: nothing (the caller says that nothing was verified). */
export function decide(p: Policy, target: string): Decision {
  const s = scopeFor(p, target);
  if (!s) return { require: target === LOCAL_SCOPE ? 'insecure-accept-unsigned' : p.default, scope: null, keys: [], identity: 'repository-name' };
  return { require: s.require, scope: s.match, keys: s.keys.map((k) => { const r = parsePublicKeyLine(k, s.match); return { keyid: r.keyid, key: r.key }; }), identity: s.identity };
}
