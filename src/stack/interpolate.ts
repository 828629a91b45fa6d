// Compose's interpolation grammar for stack.toml values and .env files, as a pure function of the text and the
// variables given as data: a stack is resolved once and frozen, so nothing here may read the process environment.
//
//   $VAR  ${VAR}           the value ("" and a warning when unset)
//   ${VAR:-word} ${VAR-word}  word when VAR is unset or empty / only when unset
//   ${VAR:+word} ${VAR+word}  word when VAR is set and not empty / when set; else ""
//   ${VAR:?msg}  ${VAR?msg}   an error naming msg when VAR is unset or empty / only when unset
//   $$                     a literal "$"
// A word may itself hold interpolations (`${A:-${B:-x}}`); a "$" that starts none of these is an error, as in Compose
// ("Invalid template"), whose hint is to write "$$".

/** What a lookup returns for a variable that is not set (distinct from the empty string). */
export type Lookup = (name: string) => string | undefined;

export interface InterpolationIssue {
  /** invalid: not the grammar; required: a `?` form whose variable is missing; unset: a plain reference to nothing (a warning). */
  kind: 'invalid' | 'required' | 'unset';
  /** Where the problem starts in the text (UTF-16 offset) and how long the expression is. */
  offset: number;
  length: number;
  variable?: string;
  message: string;
  hint: string;
}

export interface Interpolated {
  value: string;
  issues: InterpolationIssue[];
  /** Variables the value read, in order of first use (for `stack config` to say where values came from). */
  variables: string[];
}

const NAME_START = /[A-Za-z_]/;
const NAME_PART = /[A-Za-z0-9_]/;
/** Nested words deeper than this are refused: a hostile `${A:-${A:-...` would otherwise recurse once per level. */
export const MAX_NESTING = 16;

const DOLLAR_HINT = 'write "$$" for a literal "$", or "${NAME}" for a variable';

/** The index of the `}` closing the `${` at `start`, counting nested `${` as Compose does; -1 when it is missing. */
function closingBrace(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '}') {
      depth--;
      if (depth === 0) return i;
    } else if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    }
  }
  return -1;
}

export function interpolate(text: string, lookup: Lookup): Interpolated {
  const variables: string[] = [];
  const issues: InterpolationIssue[] = [];
  const value = expand(text, 0, lookup, issues, variables, 0);
  return { value, issues, variables };
}

function expand(text: string, base: number, lookup: Lookup, issues: InterpolationIssue[], variables: string[], depth: number): string {
  if (!text.includes('$')) return text;
  const read = (name: string) => {
    if (!variables.includes(name)) variables.push(name);
    return lookup(name);
  };
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$') {
      const next = text.indexOf('$', i);
      const end = next < 0 ? text.length : next;
      out += text.slice(i, end);
      i = end;
      continue;
    }
    const n = text[i + 1];
    if (n === '$') { out += '$'; i += 2; continue; }
    if (n !== undefined && NAME_START.test(n)) {
      let j = i + 2;
      while (j < text.length && NAME_PART.test(text[j]!)) j++;
      const name = text.slice(i + 1, j);
      const v = read(name);
      if (v === undefined) issues.push({ kind: 'unset', offset: base + i, length: j - i, variable: name, message: `variable ${name} is not set; it reads as an empty string`, hint: `set ${name} in the environment or in the .env file beside the stack file, or give a default: \${${name}:-default}` });
      out += v ?? '';
      i = j;
      continue;
    }
    if (n !== '{') {
      const shown = n === undefined ? 'at the end' : `before ${JSON.stringify(n)}`;
      issues.push({ kind: 'invalid', offset: base + i, length: n === undefined ? 1 : 2, message: `"$" ${shown} starts no variable`, hint: DOLLAR_HINT });
      out += '$';
      i += 1;
      continue;
    }
    const close = closingBrace(text, i);
    if (close < 0) {
      issues.push({ kind: 'invalid', offset: base + i, length: text.length - i, message: '"${" has no closing "}"', hint: 'close it: ${NAME}, ${NAME:-default}' });
      return out + text.slice(i);
    }
    const expr = text.slice(i + 2, close);
    const at = base + i;
    const length = close - i + 1;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])([\s\S]*))?$/.exec(expr);
    if (!m) {
      issues.push({ kind: 'invalid', offset: at, length, message: `"\${${expr}}" is not a variable reference`, hint: 'write ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:+other}, ${NAME:?message} or ${NAME?message}, with NAME of letters, digits and "_"' });
      i = close + 1;
      continue;
    }
    const [, name, colon, op, word = ''] = m as unknown as [string, string, string | undefined, string | undefined, string | undefined];
    const v = read(name);
    i = close + 1;
    if (op === undefined) {
      if (v === undefined) issues.push({ kind: 'unset', offset: at, length, variable: name, message: `variable ${name} is not set; it reads as an empty string`, hint: `set ${name} in the environment or in the .env file beside the stack file, or give a default: \${${name}:-default}` });
      out += v ?? '';
      continue;
    }
    // The word is checked for its grammar even when it is not used, so that a typo in a default surfaces the day it
    // is written rather than the day the variable is unset; only a used word's unset variables count.
    const wordBase = base + i - 1 - word.length;
    if (depth >= MAX_NESTING) {
      issues.push({ kind: 'invalid', offset: at, length, message: `interpolations are nested more than ${MAX_NESTING} deep`, hint: 'nest fewer defaults inside each other' });
      continue;
    }
    const innerIssues: InterpolationIssue[] = [];
    const inner = expand(word, wordBase, lookup, innerIssues, variables, depth + 1);
    const missing = v === undefined || (colon === ':' && v === '');
    const used = op === '-' ? missing : op === '+' ? !missing : false;
    issues.push(...innerIssues.filter((x) => used || x.kind === 'invalid' || (op === '?' && missing)));
    if (op === '-') out += missing ? inner : v!;
    else if (op === '+') out += missing ? '' : inner;
    else if (missing) {
      const why = v === undefined ? 'is not set' : 'is empty';
      issues.push({ kind: 'required', offset: at, length, variable: name, message: `required variable ${name} ${why}${inner.trim() === '' ? '' : `: ${inner}`}`, hint: `set ${name} in the environment or in the .env file beside the stack file` });
    } else out += v;
  }
  return out;
}

/** Whether a text holds anything interpolation would change (a fast path for the common plain value). */
export const hasDollar = (text: string): boolean => text.includes('$');
