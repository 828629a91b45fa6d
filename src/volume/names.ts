// Volume names and labels as the command line and grants give them: which kind of volume a name means, and a coded
// error naming the problem when it is none (hostile names reach here from -v, manifests and `niso volume`).
import { NisoError } from '../errors/niso-error.js';
import { printable } from '../errors/render.js';

/** A named volume, a service name, a manifest's volume key: one rule for all (like service names). */
export const VOLUME_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const VOLUME_NAME_MAX = 64;

/**
 * named: `niso volume create` or first use of `-v NAME:...`; service: a manifest's `[volumes.KEY]`, the service's own
 * (SERVICE/KEY); state: a service's /state (SERVICE/state), listed as a volume but granted to no other service.
 */
export type VolumeKind = 'named' | 'service' | 'state';

export type VolumeRef =
  | { kind: 'named'; name: string; service: null; key: null }
  | { kind: 'service' | 'state'; name: string; service: string; key: string };

/** The key of a service's /state: a manifest cannot name a volume so. */
export const STATE_KEY = 'state';

/** For messages: control characters escaped, and no screenful of a 300-character name. */
export function shown(text: string): string {
  const p = printable(text);
  return p.length > 80 ? `${p.slice(0, 60)}…(${text.length} characters)` : p;
}

/** Why one part of a name is not a name, or null. */
function partProblem(part: string): string | null {
  if (part === '') return 'is empty';
  if (part.includes('\0')) return 'contains a NUL character';
  if (part === '.' || part === '..') return `is "${part}", which would climb the directory tree`;
  if (part.length > VOLUME_NAME_MAX) return `is ${part.length} characters long (at most ${VOLUME_NAME_MAX})`;
  if (/[A-Z]/.test(part) && VOLUME_NAME_RE.test(part.toLowerCase())) return 'has upper-case letters';
  if (!/^[a-z0-9]/.test(part)) return `starts with "${shown(part[0]!)}" (a name starts with a lower-case letter or digit)`;
  const bad = [...part].find((c) => !/[a-z0-9._-]/.test(c));
  if (bad !== undefined) return `contains "${shown(bad)}"`;
  return null;
}

/** A name suggestion for the hint: lower case, other characters as "-". */
function suggestion(text: string): string {
  const s = text.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[^a-z0-9]+|-+$/g, '').slice(0, VOLUME_NAME_MAX);
  return s === '' ? 'data' : s;
}

/**
 * Parses NAME (a named volume) or SERVICE/KEY (a service's own volume; SERVICE/state is its /state). Anything else,
 * more slashes, `..`, NUL, upper case, 300 characters, is NISO5001.
 */
export function parseVolumeName(text: string, what = 'volume name'): VolumeRef {
  const parts = text.split('/');
  const problem = parts.length > 2
    ? `has ${parts.length - 1} "/" (a volume is NAME, or SERVICE/KEY for a service's own)`
    : parts.map((p, i) => { const why = partProblem(p); return why && parts.length === 2 ? `${i === 0 ? 'its service part' : 'its key'} "${shown(p)}" ${why}` : why; }).find((p) => p !== null) ?? null;
  if (problem !== null) {
    const hint = parts.length === 2
      ? `a service's own volume is SERVICE/KEY, both parts 1-${VOLUME_NAME_MAX} lower-case letters, digits, ".", "_" and "-", starting with a letter or digit`
      : `use 1-${VOLUME_NAME_MAX} lower-case letters, digits, ".", "_" and "-", starting with a letter or digit, e.g. "${suggestion(text)}"`;
    throw new NisoError('NISO5001', `${what} "${shown(text)}" ${problem}`, { exitCode: 2, hint });
  }
  if (parts.length === 1) return { kind: 'named', name: text, service: null, key: null };
  const [service, key] = parts as [string, string];
  return { kind: key === STATE_KEY ? 'state' : 'service', name: text, service, key };
}

/** The name of a service's own volume. */
export const serviceVolumeName = (service: string, key: string) => `${service}/${key}`;

export const LABEL_KEY_MAX = 128;
export const LABEL_VALUE_MAX = 4096;

/** C0 and C1 control characters (NUL, newline, escape...): never in a key or value shown in a table. */
const isControl = (c: string) => { const n = c.codePointAt(0)!; return n < 0x20 || (n >= 0x7f && n <= 0x9f); };

/** `--label KEY=VALUE` (or KEY alone, an empty value, as Docker takes it). */
export function parseLabel(text: string): [string, string] {
  const eq = text.indexOf('=');
  const key = eq < 0 ? text : text.slice(0, eq);
  const value = eq < 0 ? '' : text.slice(eq + 1);
  const why = key === '' ? 'has no key'
    : key.length > LABEL_KEY_MAX ? `has a key of ${key.length} characters (at most ${LABEL_KEY_MAX})`
      : value.length > LABEL_VALUE_MAX ? `has a value of ${value.length} characters (at most ${LABEL_VALUE_MAX})`
        // Keys and values are shown in tables and JSON: no control characters, and no blanks in a key.
        : [...key].some((c) => isControl(c) || c.trim() === '') ? 'has a blank or control character in its key'
          : [...value].some(isControl) ? 'has a control character in its value'
            : null;
  if (why !== null) throw new NisoError('NISO5010', `label "${shown(text)}" ${why}`, { exitCode: 2, hint: 'write --label KEY=VALUE, e.g. --label app=shop' });
  return [key, value];
}

export function parseLabels(texts: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const t of texts) {
    const [k, v] = parseLabel(t);
    labels[k] = v;
  }
  return labels;
}
