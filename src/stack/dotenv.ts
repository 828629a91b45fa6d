// A `.env` file as Compose reads it (the one beside stack.toml gives interpolation defaults; a service's env_file gives
// its environment), parsed from text given as data, with a line and column for every problem. The rules:
//   NAME=value          unquoted: trimmed; a "#" after a blank starts a comment; ${VAR} interpolated
//   NAME="v\n $X"       double quotes: \n \r \t \" \\ \$ are escapes, ${VAR} interpolated, may span lines
//   NAME='literal'      single quotes: taken as written, may span lines
//   export NAME=value   the shell's prefix is allowed
//   NAME                alone: the value of NAME in the environment, or nothing when it is not set
//   # comment, blank lines
// A later line for the same NAME replaces the earlier one. Interpolation inside the file sees the lines above it.
import { interpolate, type InterpolationIssue, type Lookup } from './interpolate.js';

export interface DotenvProblem {
  line: number;
  column: number;
  message: string;
  hint: string;
  /** A warning (an unset variable read as "") rather than an error. */
  warning?: boolean;
}

export interface DotenvEntry { name: string; value: string; line: number }

export interface Dotenv {
  /** name → value, the last line of each name winning. */
  vars: Record<string, string>;
  entries: DotenvEntry[];
  problems: DotenvProblem[];
}

export interface DotenvOptions {
  /** Variables an interpolation or a bare NAME line may read besides the file's own lines. */
  lookup?: Lookup;
  /**
   * Which wins when a variable is both above in the file and in `lookup`. `lookup` for the project's .env (the
   * environment overrides it, as in Compose), `file` for a service's env_file (its own lines come first).
   */
  prefer?: 'lookup' | 'file';
}

const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const BLANK = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v';

export function parseDotenv(input: string, options: DotenvOptions = {}): Dotenv {
  const text = input.startsWith('\ufeff') ? input.slice(1) : input;
  const vars: Record<string, string> = Object.create(null) as Record<string, string>;
  const entries: DotenvEntry[] = [];
  const problems: DotenvProblem[] = [];
  const outer = options.lookup ?? (() => undefined);
  const lookup: Lookup = options.prefer === 'file'
    ? (n) => (Object.hasOwn(vars, n) ? vars[n] : outer(n))
    : (n) => outer(n) ?? (Object.hasOwn(vars, n) ? vars[n] : undefined);

  // Line starts, so that an offset anywhere (a multi-line value) gives its line and column.
  const lineStarts = [0];
  for (let k = 0; k < text.length; k++) if (text[k] === '\n') lineStarts.push(k + 1);
  const where = (offset: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid; else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo]! + 1 };
  };
  const problem = (offset: number, message: string, hint: string, warning = false) => problems.push({ ...where(offset), message, hint, ...(warning ? { warning } : {}) });
  const restOfLine = (from: number) => { const e = text.indexOf('\n', from); return e < 0 ? text.length : e; };
  /** Interpolates a value whose first character stands at `at` (`map` turns an offset in the value into one in the text). */
  const expandAt = (value: string, map: (o: number) => number): string => {
    const r = interpolate(value, lookup);
    for (const x of r.issues) report(x, map(x.offset));
    return r.value;
  };
  const report = (x: InterpolationIssue, offset: number) => problem(offset, x.message, x.hint, x.kind === 'unset');

  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n' || BLANK(c)) { i++; continue; }
    if (c === '#') { i = restOfLine(i); continue; }
    const lineStart = i;
    if (text.startsWith('export', i) && BLANK(text[i + 6])) {
      i += 6;
      while (BLANK(text[i])) i++;
    }
    NAME.lastIndex = i;
    const m = NAME.exec(text);
    if (!m) {
      const end = restOfLine(i);
      problem(i, `${JSON.stringify(text.slice(i, Math.min(end, i + 40)).trimEnd())} is not NAME=value`, 'write NAME=value, with a NAME of letters, digits and "_" not starting with a digit; "#" starts a comment');
      i = end;
      continue;
    }
    const name = m[0];
    i += name.length;
    while (BLANK(text[i])) i++;
    if (i >= text.length || text[i] === '\n' || text[i] === '#') {
      // A bare NAME takes its value from the environment, as Compose and `docker run --env NAME` do.
      const v = outer(name);
      if (v !== undefined) { vars[name] = v; entries.push({ name, value: v, line: where(lineStart).line }); }
      i = restOfLine(i);
      continue;
    }
    if (text[i] !== '=') {
      const shown = text[i] === ':' ? '":" (YAML style)' : JSON.stringify(text[i]);
      problem(i, `${JSON.stringify(name)} is followed by ${shown}, not "="`, `write ${name}=value`);
      i = restOfLine(i);
      continue;
    }
    i++;
    while (BLANK(text[i])) i++;
    let value: string;
    const q = text[i];
    if (q === '"' || q === "'") {
      const open = i;
      let j = i + 1;
      let raw = '';
      // Offsets of the raw characters in the text, so that an interpolation problem points at its own place.
      const at: number[] = [];
      for (; j < text.length && text[j] !== q; j++) {
        if (q === '"' && text[j] === '\\' && j + 1 < text.length) {
          const e = text[j + 1]!;
          const mapped = ({ n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', $: '$$' } as Record<string, string>)[e];
          if (mapped !== undefined) {
            for (const ch of mapped) { raw += ch; at.push(j); }
            j++;
            continue;
          }
        }
        raw += text[j];
        at.push(j);
      }
      if (j >= text.length) {
        problem(open, `the value of ${name} opens a ${q === '"' ? 'double' : 'single'} quote that is never closed`, `close it with ${q}`);
        i = j;
        continue;
      }
      value = q === "'" ? raw : expandAt(raw, (o) => at[o] ?? j);
      i = j + 1;
      while (BLANK(text[i])) i++;
      if (i < text.length && text[i] !== '\n' && text[i] !== '#') {
        problem(i, `unexpected text after the quoted value of ${name}`, 'put the whole value inside the quotes, or start a comment with "#"');
        i = restOfLine(i);
        continue;
      }
      i = restOfLine(i);
    } else {
      const end = restOfLine(i);
      let stop = end;
      for (let k = i; k < end; k++) if (text[k] === '#' && (k === i ? false : BLANK(text[k - 1]))) { stop = k; break; }
      let rawEnd = stop;
      while (rawEnd > i && BLANK(text[rawEnd - 1])) rawEnd--;
      const start = i;
      value = expandAt(text.slice(i, rawEnd), (o) => start + o);
      i = end;
    }
    if (value.includes('\0')) {
      problem(lineStart, `the value of ${name} contains a NUL character`, 'remove it: no program can take a NUL in an environment variable');
      continue;
    }
    vars[name] = value;
    entries.push({ name, value, line: where(lineStart).line });
  }
  return { vars: { ...vars }, entries, problems };
}
