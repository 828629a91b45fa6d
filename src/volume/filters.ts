// `--filter` of `niso volume ls` and `prune`, as Docker takes them: KEY=VALUE, repeatable; values of one key are
// alternatives, different keys must all match.
import { NisoError } from '../errors/niso-error.js';
import { isDangling, type VolumeFacts } from './policy.js';
import { shown } from './names.js';

export interface LabelTest { key: string; value: string | null }

export interface VolumeFilters {
  /** Substrings of the name (Docker matches names partially). */
  name: string[];
  label: LabelTest[];
  /** `label!=`: volumes without this label (or without this value). */
  notLabel: LabelTest[];
  dangling: boolean | null;
  kind: VolumeFacts['kind'][];
}

export const noFilters = (): VolumeFilters => ({ name: [], label: [], notLabel: [], dangling: null, kind: [] });

const KINDS = ['named', 'service', 'state'] as const;

function labelTest(text: string): LabelTest {
  const eq = text.indexOf('=');
  return eq < 0 ? { key: text, value: null } : { key: text.slice(0, eq), value: text.slice(eq + 1) };
}

/** `allowed`: the keys this command takes (prune: label only, as in Docker). */
export function parseFilters(texts: readonly string[], allowed: readonly string[]): VolumeFilters {
  const f = noFilters();
  for (const text of texts) {
    const m = /^([a-z]+)(!?=)(.*)$/s.exec(text);
    const key = m?.[1] ?? '';
    const bad = (why: string) => new NisoError('NISO5009', `--filter "${shown(text)}": ${why}`, { exitCode: 2, hint: `filters are KEY=VALUE with KEY one of ${allowed.join(', ')}, e.g. --filter ${allowed.includes('dangling') ? 'dangling=true' : 'label=app=shop'}` });
    if (!m || !allowed.includes(key)) throw bad(m ? `"${key}" is not a filter here` : 'not KEY=VALUE');
    const op = m[2]!;
    const value = m[3]!;
    if (op === '!=' && key !== 'label') throw bad(`"!=" works only with label`);
    if (value === '' && key !== 'name') throw bad('the value is empty');
    if (key === 'name') f.name.push(value);
    else if (key === 'label') (op === '!=' ? f.notLabel : f.label).push(labelTest(value));
    else if (key === 'dangling') {
      if (!/^(true|false|1|0)$/.test(value)) throw bad('dangling is true or false');
      const want = value === 'true' || value === '1';
      if (f.dangling !== null && f.dangling !== want) throw bad('dangling is given both true and false');
      f.dangling = want;
    } else if (key === 'kind') {
      if (!(KINDS as readonly string[]).includes(value)) throw bad(`kind is one of ${KINDS.join(', ')}`);
      f.kind.push(value as VolumeFacts['kind']);
    }
  }
  return f;
}

const hasLabel = (labels: Record<string, string>, t: LabelTest) => Object.hasOwn(labels, t.key) && (t.value === null || labels[t.key] === t.value);

export function matchesFilters(v: VolumeFacts, f: VolumeFilters): boolean {
  if (f.name.length > 0 && !f.name.some((n) => v.name.includes(n))) return false;
  // Labels: every label= must match (Docker ANDs labels), no label!= may.
  if (!f.label.every((t) => hasLabel(v.labels, t))) return false;
  if (f.notLabel.some((t) => hasLabel(v.labels, t))) return false;
  if (f.dangling !== null && isDangling(v) !== f.dangling) return false;
  if (f.kind.length > 0 && !f.kind.includes(v.kind)) return false;
  return true;
}
