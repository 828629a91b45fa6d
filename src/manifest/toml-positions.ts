// Reads a TOML document with positions: the plain value plus where each key and value stands,
// so that validation problems can be reported as file:line:column.
import { parseTOML, getStaticTOMLValue, type AST } from 'toml-eslint-parser';
import type { Diagnostic } from '../errors/niso-error.js';
import { TOML_LIMITS, checkTomlLimits, invalidUtf8At, tooLarge } from './toml-limits.js';

export interface Pos { line: number; column: number }
export interface NodePos {
  key?: Pos;
  value?: Pos;
  /** The value as written in the file (e.g. `1.0`, which reads as the number 1), for messages and hints. */
  raw?: string;
}
export type PathKey = string | number;

export interface TomlDocument {
  value: Record<string, unknown>;
  positionOf(path: readonly PathKey[]): NodePos | undefined;
  /** Values written as TOML floats (`64.0`, `1e3`), which read as the same numbers as integers. */
  floats: readonly (readonly PathKey[])[];
}

/**
 * Positions by path, one trie node per path segment: a key of n parts costs n steps, where one
 * map keyed by the whole path serialised cost n² (100,000 parts took gigabytes).
 */
interface IndexNode { pos: NodePos; children?: Map<PathKey, IndexNode> }

const pos = (n: { loc: { start: { line: number; column: number } } }): Pos => ({ line: n.loc.start.line, column: n.loc.start.column + 1 });
const keyName = (k: AST.TOMLBare | AST.TOMLQuoted): string => (k.type === 'TOMLBare' ? k.name : k.value);

export type TomlResult = { ok: true; doc: TomlDocument } | { ok: false; diagnostics: Diagnostic[] };

/** Reads TOML from text or from the file's bytes; bytes must be UTF-8, and both must be within TOML_LIMITS. */
export function readToml(input: string | Uint8Array, file: string): TomlResult {
  const decoded = typeof input === 'string' ? { text: input } : decodeUtf8(input, file);
  if ('diagnostic' in decoded) return { ok: false, diagnostics: [decoded.diagnostic] };
  const { text } = decoded;
  const limits = checkTomlLimits(text, file);
  if (limits.length > 0) return { ok: false, diagnostics: limits };
  let ast: AST.TOMLProgram;
  try {
    ast = parseTOML(text);
  } catch (e) {
    const err = e as { message: string; lineNumber?: number; column?: number };
    const dup = /multiple times/i.test(err.message) ? duplicateKeyAt(text, err.lineNumber, err.column) : undefined;
    return {
      ok: false,
      diagnostics: [{
        code: 'NISO1001', file, line: err.lineNumber, column: err.column === undefined ? undefined : err.column + 1,
        message: `TOML syntax error: ${dup ?? err.message}`,
        hint: dup ? 'each key and table may appear only once; remove or merge the second one' : 'check quotes, brackets and that each key is defined once',
      }],
    };
  }
  const root: IndexNode = { pos: {} };
  const floats: PathKey[][] = [];
  const child = (n: IndexNode, k: PathKey): IndexNode => {
    const children = (n.children ??= new Map());
    let c = children.get(k);
    if (!c) children.set(k, (c = { pos: {} }));
    return c;
  };
  const note = (n: IndexNode, what: 'key' | 'value', p: Pos) => { n.pos[what] ??= p; };
  const visitValue = (n: IndexNode, path: PathKey[], node: AST.TOMLContentNode) => {
    note(n, 'value', pos(node));
    if (node.type === 'TOMLValue') {
      n.pos.raw ??= text.slice(node.range[0], node.range[1]);
      if (node.kind === 'float') floats.push(path);
    }
    if (node.type === 'TOMLArray') node.elements.forEach((el, i) => visitValue(child(n, i), [...path, i], el));
    else if (node.type === 'TOMLInlineTable') node.body.forEach((kv) => visitKeyValue(n, path, kv));
  };
  const visitKeyValue = (base: IndexNode, basePath: PathKey[], kv: AST.TOMLKeyValue) => {
    let n = base;
    for (const k of kv.key.keys) {
      n = child(n, keyName(k));
      note(n, 'key', pos(k));
    }
    visitValue(n, [...basePath, ...kv.key.keys.map(keyName)], kv.value);
  };
  const top = ast.body[0];
  if (top) {
    for (const item of top.body) {
      if (item.type === 'TOMLKeyValue') visitKeyValue(root, [], item);
      else {
        const path = item.resolvedKey as PathKey[];
        // `[[name]]`: the list itself is where the first of its headers stands (an unknown `[[servics]]` points there).
        if (item.kind === 'array') note(path.slice(0, -1).reduce(child, root), 'key', pos(item));
        const n = path.reduce(child, root);
        note(n, 'key', pos(item));
        note(n, 'value', pos(item));
        item.body.forEach((kv) => visitKeyValue(n, path, kv));
      }
    }
  }
  return {
    ok: true,
    doc: {
      value: getStaticTOMLValue(ast) as Record<string, unknown>,
      positionOf: (path) => {
        let n: IndexNode | undefined = root;
        for (const k of path) if (!(n = n.children?.get(k))) return undefined;
        return n.pos.key || n.pos.value ? n.pos : undefined;
      },
      floats,
    },
  };
}

/** Text from bytes; invalid UTF-8 is refused with its place, never replaced with U+FFFD behind the user's back. */
function decodeUtf8(bytes: Uint8Array, file: string): { text: string } | { diagnostic: Diagnostic } {
  if (bytes.length > TOML_LIMITS.bytes) return { diagnostic: tooLarge(file) };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    const at = invalidUtf8At(bytes);
    const before = bytes.subarray(0, at);
    const lineStart = before.lastIndexOf(0x0a) + 1;
    const line = before.reduce((n, b) => n + (b === 0x0a ? 1 : 0), 1);
    const column = new TextDecoder().decode(bytes.subarray(lineStart, at)).length + 1;
    const byte = `0x${bytes[at]!.toString(16).padStart(2, '0')}`;
    return { diagnostic: { code: 'NISO1407', file, line, column, message: `the file is not valid UTF-8: byte ${byte} does not start a character here`, hint: 'save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`), or write the character as a \\uXXXX escape in a string' } };
  }
}

/** The parser says only "Defining a key multiple times"; name the key from the source it points at. */
function duplicateKeyAt(text: string, line?: number, column?: number): string | undefined {
  if (line === undefined || column === undefined) return undefined;
  const src = text.split(/\r?\n/)[line - 1] ?? '';
  const m = /^\s*([A-Za-z0-9_-]+|"[^"]*"|'[^']*')/.exec(src.slice(column));
  if (!m) return undefined;
  const name = m[1]!.replace(/^["']|["']$/g, '');
  return /^\s*\[/.test(src) ? `table [${src.trim().replace(/^\[+|\]+.*$/g, '').trim()}] is defined more than once` : `key "${name}" is defined more than once`;
}

/** The best place to point at for a path: the node itself, else the nearest ancestor that exists. */
export function locate(doc: TomlDocument, path: readonly PathKey[], prefer: 'key' | 'value' = 'value'): Pos {
  for (let n = path.length; n > 0; n--) {
    const p = doc.positionOf(path.slice(0, n));
    const hit = n === path.length ? (p?.[prefer] ?? p?.key ?? p?.value) : (p?.key ?? p?.value);
    if (hit) return hit;
  }
  return { line: 1, column: 1 };
}

/** `network.ports[1]`, `env."MY VAR"` */
export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else {
      const part = /^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p);
      out += out === '' ? part : `.${part}`;
    }
  }
  return out;
}
