// Validates a positioned TOML document against a zod schema and turns every zod issue into a
// niso diagnostic with a stable code, the field path, file:line:column and a hint.
// Shared by manifest.toml and (later) stack.toml, so both report problems the same way.
import type { z } from 'zod';
import type { Diagnostic } from '../errors/niso-error.js';
import { suggest } from './suggest.js';
import { formatPath, locate, type PathKey, type TomlDocument } from './toml-positions.js';
import type { NisoIssueParams } from './schema.js';

type AnySchema = z.ZodType;
interface Def { type: string; innerType?: AnySchema; in?: AnySchema; shape?: Record<string, AnySchema>; valueType?: AnySchema; element?: AnySchema; options?: AnySchema[] }
const defOf = (s: AnySchema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Follows wrappers (optional, default, pipe...) down to the schema that describes a value. */
function core(s: AnySchema): AnySchema {
  let cur = s;
  for (let i = 0; i < 20; i++) {
    const d = defOf(cur);
    if ((d.type === 'optional' || d.type === 'default' || d.type === 'prefault' || d.type === 'nullable' || d.type === 'readonly') && d.innerType) cur = d.innerType;
    else if (d.type === 'pipe' && d.in) cur = d.in;
    else break;
  }
  return cur;
}

function schemaAt(root: AnySchema, path: readonly PathKey[]): AnySchema | undefined {
  let cur: AnySchema | undefined = root;
  for (const p of path) {
    if (!cur) return undefined;
    const d = defOf(core(cur));
    if (d.type === 'object') cur = d.shape?.[String(p)];
    else if (d.type === 'record') cur = d.valueType;
    else if (d.type === 'array') cur = d.element;
    else return undefined;
  }
  return cur ? core(cur) : undefined;
}

export function knownKeys(root: AnySchema, path: readonly PathKey[]): string[] {
  const s = schemaAt(root, path);
  if (!s) return [];
  const d = defOf(s);
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

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number' || typeof v === 'bigint') return Number.isInteger(v) || typeof v === 'bigint' ? 'an integer' : 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a date';
  return 'a table';
}

const TYPE_WORDS: Record<string, string> = { string: 'a string', number: 'a number', int: 'an integer', boolean: 'a boolean (true or false)', array: 'a list', object: 'a table', record: 'a table' };

function expectedOf(root: AnySchema, path: readonly PathKey[], fallback: string): string {
  const s = schemaAt(root, path);
  if (!s) return TYPE_WORDS[fallback] ?? fallback;
  const d = defOf(s);
  if (d.type === 'array') {
    const el = d.element ? defOf(core(d.element)).type : '';
    return el === 'string' ? 'a list of strings' : 'a list';
  }
  if (d.type === 'union' && d.options) return d.options.map((o) => TYPE_WORDS[defOf(core(o)).type] ?? defOf(core(o)).type).join(' or ');
  if (d.type === 'enum') return 'one of the allowed words';
  return TYPE_WORDS[d.type] ?? TYPE_WORDS[fallback] ?? fallback;
}

function exampleFor(expected: string, got: unknown): string | undefined {
  if (expected.startsWith('a list') && typeof got === 'string') return `put it in brackets: [${JSON.stringify(got)}]`;
  if (expected === 'a string' && (typeof got === 'number' || typeof got === 'boolean')) return `quote it: "${String(got)}"`;
  if (expected.startsWith('a boolean') && typeof got === 'string') return 'write true or false without quotes';
  if ((expected === 'a number' || expected === 'an integer') && typeof got === 'string' && got.trim() !== '' && !Number.isNaN(Number(got))) return `remove the quotes: ${got}`;
  return undefined;
}

interface ZIssue { code: string; path: PropertyKey[]; message: string; keys?: string[]; expected?: string; values?: unknown[]; minimum?: number | bigint; maximum?: number | bigint; origin?: string; inclusive?: boolean; params?: NisoIssueParams; input?: unknown }

export interface Validated<T> { value?: T; diagnostics: Diagnostic[] }

export function validateDocument<S extends AnySchema>(schema: S, doc: TomlDocument, file: string): Validated<z.output<S>> {
  const result = schema.safeParse(doc.value);
  if (result.success) return { value: result.data as z.output<S>, diagnostics: [] };
  const diagnostics: Diagnostic[] = [];
  for (const raw of result.error.issues as unknown as ZIssue[]) {
    const path = raw.path.filter((p): p is PathKey => typeof p !== 'symbol');
    const field = formatPath(path);
    const at = (p: readonly PathKey[], prefer: 'key' | 'value' = 'value') => ({ file, ...locate(doc, p, prefer) });
    const got = valueAt(doc.value, path);
    switch (raw.code) {
      case 'unrecognized_keys':
        for (const key of raw.keys ?? []) {
          const known = knownKeys(schema, path);
          const best = suggest(key, known);
          const where = path.length === 0 ? 'at the top level' : `in [${field}]`;
          diagnostics.push({
            code: 'NISO1002', ...at([...path, key], 'key'), field: formatPath([...path, key]),
            message: `unknown key "${key}" ${where}`,
            hint: best ? `did you mean "${best}"?` : known.length ? `known keys here: ${known.join(', ')}` : 'remove it',
          });
        }
        break;
      case 'invalid_type': {
        const expected = expectedOf(schema, path, raw.expected ?? 'value');
        if (got === undefined) {
          diagnostics.push({ code: 'NISO1004', ...at(path), field, message: `missing required field ${field}`, hint: `add ${path.length > 1 ? `${String(path[path.length - 1])} = ... under [${formatPath(path.slice(0, -1))}]` : `a [${field}] table`}; see the manifest reference` });
        } else {
          diagnostics.push({ code: 'NISO1003', ...at(path), field, message: `${field} must be ${expected}, not ${describeValue(got)}`, hint: exampleFor(expected, got) ?? `change the value to ${expected}` });
        }
        break;
      }
      case 'invalid_union': {
        const expected = expectedOf(schema, path, 'value');
        diagnostics.push({ code: 'NISO1003', ...at(path), field, message: `${field} must be ${expected}, not ${describeValue(got)}`, hint: exampleFor(expected, got) ?? `change the value to ${expected}` });
        break;
      }
      case 'invalid_value': {
        const allowed = (raw.values ?? []).map(String);
        const best = typeof got === 'string' ? suggest(got, allowed) : undefined;
        diagnostics.push({
          code: 'NISO1005', ...at(path), field,
          message: `${field} is ${JSON.stringify(got)}, expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`,
          hint: best ? `did you mean "${best}"?` : `use one of ${allowed.join(', ')}`,
        });
        break;
      }
      case 'too_small':
      case 'too_big': {
        const small = raw.code === 'too_small';
        const limit = Number(small ? raw.minimum : raw.maximum);
        if (raw.origin === 'array' || raw.origin === 'string') {
          const what = raw.origin === 'array' ? 'entries' : 'characters';
          diagnostics.push({ code: 'NISO1006', ...at(path), field, message: limit === 1 && small ? `${field} must not be empty` : `${field} must have ${small ? 'at least' : 'at most'} ${limit} ${what}`, hint: small ? 'add a value' : 'shorten it' });
        } else {
          const bound = small ? (raw.inclusive === false ? `greater than ${limit}` : `at least ${limit}`) : `at most ${limit}`;
          diagnostics.push({ code: 'NISO1006', ...at(path), field, message: `${field} is ${String(got)}, but must be ${bound}`, hint: `use a number ${bound}` });
        }
        break;
      }
      case 'custom': {
        const p = raw.params;
        diagnostics.push({ code: p?.niso ?? 'NISO1005', ...at(path), field, message: field ? `${field}: ${raw.message}` : raw.message, hint: p?.hint });
        break;
      }
      default:
        diagnostics.push({ code: 'NISO1005', ...at(path), field, message: `${field} ${JSON.stringify(got)} is not valid here`, hint: 'see the manifest reference for the accepted values' });
    }
  }
  diagnostics.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { diagnostics };
}
