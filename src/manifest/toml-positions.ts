// Reads a TOML document with positions: the plain value plus where each key and value stands,
// so that validation problems can be reported as file:line:column.
import { parseTOML, getStaticTOMLValue, type AST } from 'toml-eslint-parser';
import type { Diagnostic } from '../errors/niso-error.js';

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
}

const pathId = (path: readonly PathKey[]) => JSON.stringify(path);
const pos = (n: { loc: { start: { line: number; column: number } } }): Pos => ({ line: n.loc.start.line, column: n.loc.start.column + 1 });
const keyName = (k: AST.TOMLBare | AST.TOMLQuoted): string => (k.type === 'TOMLBare' ? k.name : k.value);

export type TomlResult = { ok: true; doc: TomlDocument } | { ok: false; diagnostic: Diagnostic };

export function readToml(text: string, file: string): TomlResult {
  let ast: AST.TOMLProgram;
  try {
    ast = parseTOML(text);
  } catch (e) {
    const err = e as { message: string; lineNumber?: number; column?: number };
    const dup = /multiple times/i.test(err.message) ? duplicateKeyAt(text, err.lineNumber, err.column) : undefined;
    return {
      ok: false,
      diagnostic: {
        code: 'NISO1001', file, line: err.lineNumber, column: err.column === undefined ? undefined : err.column + 1,
        message: `TOML syntax error: ${dup ?? err.message}`,
        hint: dup ? 'each key and table may appear only once; remove or merge the second one' : 'check quotes, brackets and that each key is defined once',
      },
    };
  }
  const index = new Map<string, NodePos>();
  const note = (path: PathKey[], what: 'key' | 'value', p: Pos) => {
    const id = pathId(path);
    const cur = index.get(id) ?? {};
    if (cur[what] === undefined) cur[what] = p;
    index.set(id, cur);
  };
  const visitValue = (path: PathKey[], node: AST.TOMLContentNode) => {
    note(path, 'value', pos(node));
    if (node.type === 'TOMLValue') index.get(pathId(path))!.raw ??= text.slice(node.range[0], node.range[1]);
    if (node.type === 'TOMLArray') node.elements.forEach((el, i) => visitValue([...path, i], el));
    else if (node.type === 'TOMLInlineTable') node.body.forEach((kv) => visitKeyValue(path, kv));
  };
  const visitKeyValue = (base: PathKey[], kv: AST.TOMLKeyValue) => {
    const keys = kv.key.keys.map(keyName);
    keys.forEach((_, i) => note([...base, ...keys.slice(0, i + 1)], 'key', pos(kv.key.keys[i]!)));
    visitValue([...base, ...keys], kv.value);
  };
  const top = ast.body[0];
  if (top) {
    for (const item of top.body) {
      if (item.type === 'TOMLKeyValue') visitKeyValue([], item);
      else {
        const path = item.resolvedKey as PathKey[];
        note(path, 'key', pos(item));
        note(path, 'value', pos(item));
        item.body.forEach((kv) => visitKeyValue(path, kv));
      }
    }
  }
  return {
    ok: true,
    doc: {
      value: getStaticTOMLValue(ast) as Record<string, unknown>,
      positionOf: (path) => index.get(pathId(path)),
    },
  };
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
