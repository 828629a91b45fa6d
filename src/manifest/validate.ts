// Validates a positioned TOML document against a zod schema and turns every zod issue into a
// niso diagnostic with a stable code, the field path, file:line:column and a hint.
// Shared by manifest.toml and (later) stack.toml, so both report problems the same way.
import { z } from 'zod';
import type { Diagnostic } from '../errors/niso-error.js';
import { suggest } from './suggest.js';
import { formatPath, locate, type PathKey, type TomlDocument } from './toml-positions.js';
import type { NisoIssueParams } from './schema.js';
import { core, defOf, type AnySchema, type Def } from './zod-def.js';

/**
 * Of a union (`x = "none"` or a table of x's keys; a list or a table), the branch that a path segment goes into: a
 * list's for an index, else a table whose keys include it, else any table.
 */
function branchFor(s: AnySchema, p: PathKey): AnySchema {
  const d = defOf(s);
  if (d.type !== 'union' || !d.options) return s;
  const options = d.options.map(core);
  const typed = (t: string) => options.filter((o) => defOf(o).type === t);
  if (typeof p === 'number') return typed('array')[0] ?? s;
  return typed('object').find((o) => defOf(o).shape?.[p] !== undefined) ?? typed('record')[0] ?? typed('object')[0] ?? s;
}

/** The field's full schema (with its default and conversion), as declared in its table. */
function fieldAt(root: AnySchema, path: readonly PathKey[]): AnySchema | undefined {
  let cur: AnySchema | undefined = root;
  for (const p of path) {
    if (!cur) return undefined;
    const d = defOf(branchFor(core(cur), p));
    if (d.type === 'object') cur = d.shape?.[String(p)];
    else if (d.type === 'record') cur = d.valueType;
    else if (d.type === 'array') cur = d.element;
    else return undefined;
  }
  return cur;
}

function schemaAt(root: AnySchema, path: readonly PathKey[]): AnySchema | undefined {
  const s = fieldAt(root, path);
  return s ? core(s) : undefined;
}

/** The field's examples from its `.meta()`, wherever in the chain of wrappers they were attached. */
function examplesAt(root: AnySchema, path: readonly PathKey[]): unknown[] {
  let cur = fieldAt(root, path);
  for (let i = 0; cur && i < 20; i++) {
    const ex = z.globalRegistry.get(cur)?.examples;
    if (Array.isArray(ex) && ex.length > 0) return ex;
    const d = defOf(cur);
    cur = d.innerType ?? d.in;
  }
  return [];
}

export function knownKeys(root: AnySchema, path: readonly PathKey[]): string[] {
  const s = schemaAt(root, path);
  if (!s) return [];
  let d = defOf(s);
  // A union of a table with something else (a word, a list): the table's keys.
  if (d.type === 'union' && d.options) d = d.options.map((o) => defOf(core(o))).find((o) => o.type === 'object') ?? d;
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}

function valueAt(root: unknown, path: readonly PathKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** A TOML float as written (`1.0`, `1e3`, `inf`); hex, octal and binary integers hold no dot or exponent. */
const isFloatLiteral = (raw: string) => /[.eE]|inf|nan/.test(raw.replace(/^[+-]?0[xob].*/, ''));

/** `raw` is the value as written: TOML's `1.0` reads as the number 1 but is not an integer. */
export function describeValue(v: unknown, raw?: string): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number' || typeof v === 'bigint') {
    const float = raw !== undefined ? isFloatLiteral(raw) : !Number.isInteger(v);
    return typeof v === 'bigint' || !float ? 'an integer' : `a decimal number (${raw ?? String(v)})`;
  }
  if (typeof v === 'boolean') return 'a boolean';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a date';
  return 'a table';
}

const TYPE_WORDS: Record<string, string> = { string: 'a string', number: 'a number', int: 'a whole number', boolean: 'a boolean (true or false)', array: 'a list', object: 'a table', record: 'a table' };

function expectedOf(root: AnySchema, path: readonly PathKey[], fallback: string): string {
  if (fallback === 'int') return TYPE_WORDS.int!;
  const s = schemaAt(root, path);
  if (!s) return TYPE_WORDS[fallback] ?? fallback;
  const d = defOf(s);
  if (d.type === 'array') {
    const el = d.element ? defOf(core(d.element)).type : '';
    return el === 'string' ? 'a list of strings' : 'a list';
  }
  if (d.type === 'union' && d.options) {
    // A union inside a union ("a string or a table" as one branch) is said in the same words, each once.
    const words = (o: AnySchema): string[] => { const od = defOf(core(o)); return od.type === 'union' && od.options ? od.options.flatMap(words) : [od.type === 'array' ? 'a list' : TYPE_WORDS[od.type] ?? od.type]; };
    return [...new Set(d.options.flatMap(words))].join(' or ');
  }
  if (d.type === 'enum') return 'one of the allowed words';
  return TYPE_WORDS[d.type] ?? TYPE_WORDS[fallback] ?? fallback;
}

/** Whether the field takes only whole numbers (an int check, or a number branch documented as integer). */
function expectsInteger(root: AnySchema, path: readonly PathKey[]): boolean {
  const s = schemaAt(root, path);
  if (!s) return false;
  const isInt = (n: AnySchema): boolean => {
    const c = core(n);
    const d = defOf(c) as Def & { checks?: { _zod: { def: { format?: string } } }[] };
    return d.type === 'number' && (z.globalRegistry.get(c)?.type === 'integer' || (d.checks ?? []).some((k) => /int/.test(k._zod.def.format ?? '')));
  };
  const d = defOf(s);
  if (d.type === 'union' && d.options) return d.options.some(isInt) && !d.options.some((o) => defOf(core(o)).type === 'number' && !isInt(o));
  return isInt(s);
}

const quote = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));

/** A hint that turns the wrong value into a right one, checked against the field's own schema. */
function exampleFor(root: AnySchema, path: readonly PathKey[], expected: string, got: unknown, raw: string | undefined): string | undefined {
  const examples = examplesAt(root, path);
  if (expected.startsWith('a list') && typeof got === 'string') return `put it in brackets: [${JSON.stringify(got)}]`;
  if (expected === 'a table' && path.length > 0 && (typeof got !== 'object' || Array.isArray(got))) {
    return `write it as a table: a [${formatPath(path)}] line with its keys below it`;
  }
  if (expected === 'a string' && (typeof got === 'number' || typeof got === 'boolean')) {
    const field = fieldAt(root, path);
    const text = raw ?? String(got);
    const first = examples.find((e) => typeof e === 'string') as string | undefined;
    // Quoting alone may not be enough ("10" is no duration, "1.0" no version); offer what parses.
    const unit = first && /^\d/.test(first) ? /[a-zA-Z]+$/.exec(first)?.[0] : undefined;
    const candidates = [[text, `quote it: "${text}"`], ...(unit ? [[text + unit, `quote it and add a unit: "${text}${unit}"`]] : [])] as const;
    for (const [c, hint] of candidates) if (!field || field.safeParse(c).success) return hint;
    if (first !== undefined) return `write a string such as ${quote(first)}`;
  }
  if (expected.startsWith('a boolean') && typeof got === 'string') return 'write true or false without quotes';
  if ((expected === 'a number' || expected === 'a whole number') && typeof got === 'string' && got.trim() !== '' && !Number.isNaN(Number(got))) return `remove the quotes: ${got}`;
  if (expected === 'a whole number' && typeof got === 'number') return `use a whole number, e.g. ${Math.round(got)}`;
  return undefined;
}

/** Enums longer than this are named in the message only by their closest member. */
const LONG_ENUM = 8;

interface ZIssue { code: string; path: PropertyKey[]; errors?: ZIssue[][]; message: string; keys?: string[]; expected?: string; values?: unknown[]; minimum?: number | bigint; maximum?: number | bigint; origin?: string; inclusive?: boolean; params?: NisoIssueParams; input?: unknown }

/**
 * A union (e.g. `tcp = 3000` or `tcp = "ADDRESS:PORT"`) fails as a whole; when the value has the
 * type of exactly one branch, that branch's own problems are the ones worth reporting.
 */
function flattenUnions(issues: ZIssue[]): ZIssue[] {
  // A branch is of the wrong type when the value's type fails it at its root, also through a union nested in it.
  const wrongType = (branch: ZIssue[]): boolean => branch.some((b) => b.path.length === 0 && (b.code === 'invalid_type' || (b.code === 'invalid_union' && (b.errors ?? []).every(wrongType))));
  return issues.flatMap((i) => {
    if (i.code !== 'invalid_union' || !i.errors) return [i];
    const typed = i.errors.filter((branch) => !wrongType(branch));
    if (typed.length !== 1) return [i];
    return flattenUnions(typed[0]!.map((b) => ({ ...b, path: [...i.path, ...b.path] })));
  });
}

const isSafeIntBound = (i: ZIssue) => (i.code === 'too_big' && Number(i.maximum) === Number.MAX_SAFE_INTEGER) || (i.code === 'too_small' && Number(i.minimum) === Number.MIN_SAFE_INTEGER);

/**
 * What the schema cannot see in plain values: a TOML float (`64.0`) where only whole numbers make
 * sense reads as the integer 64, and a NUL (`"\u0000"`) is valid TOML that no program can take in an
 * argument, an environment variable or a path.
 */
function beyondSchema(schema: AnySchema, doc: TomlDocument, file: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const path of doc.floats) {
    const v = valueAt(doc.value, path);
    if (typeof v !== 'number' || !Number.isInteger(v) || !expectsInteger(schema, path)) continue;
    const field = formatPath(path);
    out.push({ code: 'NISO1003', file, ...locate(doc, path), field, message: `${field} must be a whole number, not a decimal number (${doc.positionOf(path)?.raw ?? v})`, hint: `write ${v}` });
  }
  const nul = (path: PathKey[], at: 'key' | 'value') => {
    const field = formatPath(path);
    out.push({ code: 'NISO1408', file, ...locate(doc, path, at), field, message: `${at === 'key' ? 'the key' : ''} ${field} contains a NUL character (\\u0000)`.trim(), hint: 'remove it: no program can take a NUL in an argument, an environment variable or a path' });
  };
  const walk = (v: unknown, path: PathKey[]) => {
    if (typeof v === 'string') { if (v.includes('\0')) nul(path, 'value'); }
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
      for (const [k, x] of Object.entries(v)) {
        if (k.includes('\0')) nul([...path, k], 'key');
        walk(x, [...path, k]);
      }
    }
  };
  walk(doc.value, []);
  return out;
}

export interface Validated<T> { value?: T; diagnostics: Diagnostic[] }

export function validateDocument<S extends AnySchema>(schema: S, doc: TomlDocument, file: string): Validated<z.output<S>> {
  const result = schema.safeParse(doc.value);
  const beyond = beyondSchema(schema, doc, file);
  if (result.success) return beyond.length > 0 ? { diagnostics: beyond } : { value: result.data as z.output<S>, diagnostics: [] };
  const diagnostics: Diagnostic[] = [];
  /** Misspelt keys whose suggestion names a missing required field: the field is not reported twice. */
  const suggested = new Set<string>();
  const issues = flattenUnions(result.error.issues as unknown as ZIssue[]);
  // zod's int() adds the safe-integer bounds: beside the field's own bound they say the same twice.
  const boundAt = new Set(issues.filter((i) => (i.code === 'too_big' || i.code === 'too_small') && !isSafeIntBound(i)).map((i) => JSON.stringify(i.path)));
  for (const raw of issues) {
    if (isSafeIntBound(raw) && boundAt.has(JSON.stringify(raw.path))) continue;
    const path = raw.path.filter((p): p is PathKey => typeof p !== 'symbol');
    const field = formatPath(path);
    const at = (p: readonly PathKey[], prefer: 'key' | 'value' = 'value') => ({ file, ...locate(doc, p, prefer) });
    const got = valueAt(doc.value, path);
    const rawText = doc.positionOf(path)?.raw;
    switch (raw.code) {
      case 'unrecognized_keys': {
        // Once per table, not per key: a table of many unknown keys must not cost their square.
        const known = knownKeys(schema, path);
        const present = new Set(Object.keys((valueAt(doc.value, path) ?? {}) as object));
        const candidates = known.filter((k) => !present.has(k));
        for (const key of raw.keys ?? []) {
          // Suggest a key that is not already there: `port` next to an existing `ports` is no typo of it.
          const best = suggest(key, candidates);
          const where = path.length === 0 ? 'at the top level' : `in [${field}]`;
          if (best) suggested.add(formatPath([...path, best]));
          diagnostics.push({
            code: 'NISO1002', ...at([...path, key], 'key'), field: formatPath([...path, key]),
            message: `unknown key "${key}" ${where}`,
            hint: best ? `did you mean "${best}"?` : known.length ? `known keys here: ${known.join(', ')}` : 'remove it',
          });
        }
        break;
      }
      case 'invalid_type': {
        const expected = expectedOf(schema, path, raw.expected ?? 'value');
        if (got === undefined) {
          const name = String(path[path.length - 1]);
          const example = examplesAt(schema, path)[0];
          const value = example === undefined ? '...' : quote(example);
          diagnostics.push({
            code: 'NISO1004', ...at(path), field, message: `missing required field ${field}`,
            hint: path.length > 1 ? `add ${name} = ${value} under [${formatPath(path.slice(0, -1))}]` : `add a [${field}] table; see the manifest reference`,
          });
        } else {
          diagnostics.push({ code: 'NISO1003', ...at(path), field, message: `${field} must be ${expected}, not ${describeValue(got, rawText)}`, hint: exampleFor(schema, path, expected, got, rawText) ?? `change the value to ${expected}` });
        }
        break;
      }
      case 'invalid_union': {
        const expected = expectedOf(schema, path, 'value');
        if (got === undefined) {
          // A required field that takes several forms is as missing as any other.
          const name = String(path[path.length - 1]);
          const example = examplesAt(schema, path)[0];
          diagnostics.push({ code: 'NISO1004', ...at(path), field, message: `missing required field ${field}`, hint: path.length > 1 ? `add ${name} = ${example === undefined ? '...' : quote(example)} under [${formatPath(path.slice(0, -1))}]` : `add a [${field}] table` });
          break;
        }
        diagnostics.push({ code: 'NISO1003', ...at(path), field, message: `${field} must be ${expected}, not ${describeValue(got, rawText)}`, hint: exampleFor(schema, path, expected, got, rawText) ?? `change the value to ${expected}` });
        break;
      }
      case 'invalid_value': {
        const allowed = (raw.values ?? []).map(String);
        const best = typeof got === 'string' ? suggest(got, allowed) : undefined;
        const long = allowed.length > LONG_ENUM;
        diagnostics.push({
          code: 'NISO1005', ...at(path), field,
          message: long ? `${field} is ${quote(got)}, which is not one of the ${allowed.length} accepted values` : `${field} is ${quote(got)}, expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`,
          hint: best ? `did you mean "${best}"?` : long ? 'see the manifest reference for the accepted values' : `use one of ${allowed.join(', ')}`,
        });
        break;
      }
      case 'too_small':
      case 'too_big': {
        const small = raw.code === 'too_small';
        const limit = Number(small ? raw.minimum : raw.maximum);
        if (raw.origin === 'array' || raw.origin === 'string') {
          const what = raw.origin === 'array' ? 'entries' : 'characters';
          diagnostics.push({ code: 'NISO1006', ...at(path), field, message: limit === 1 && small ? `${field} must not be empty` : `${field} must have ${small ? 'at least' : 'at most'} ${limit} ${what}`, hint: small ? (raw.origin === 'array' ? 'add an entry, or remove the key' : 'add a value') : 'shorten it' });
        } else {
          const bound = small ? (raw.inclusive === false ? `greater than ${limit}` : `at least ${limit}`) : `at most ${limit}`;
          diagnostics.push({ code: 'NISO1006', ...at(path), field, message: `${field} is ${rawText ?? String(got)}, but must be ${bound}`, hint: `use a number ${bound}` });
        }
        break;
      }
      case 'custom': {
        const p = raw.params;
        diagnostics.push({ code: p?.niso ?? 'NISO1005', ...at(path, p?.at ?? 'value'), field, message: field ? `${field}: ${raw.message}` : raw.message, hint: p?.hint ?? 'see the manifest reference' });
        break;
      }
      default:
        diagnostics.push({ code: 'NISO1005', ...at(path), field, message: `${field} ${quote(got)} is not valid here`, hint: 'see the manifest reference for the accepted values' });
    }
  }
  // A NUL explains whatever else the schema says about its field; a float is worth saying only alone.
  const nul = new Set(beyond.filter((d) => d.code === 'NISO1408').map((d) => d.field));
  const reported = new Set(diagnostics.map((d) => d.field));
  const kept = [
    ...diagnostics.filter((d) => !nul.has(d.field) && !(d.code === 'NISO1004' && d.field !== undefined && suggested.has(d.field))),
    ...beyond.filter((d) => d.code === 'NISO1408' || !reported.has(d.field)),
  ];
  kept.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { diagnostics: kept };
}
