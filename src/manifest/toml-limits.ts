// Bounds a TOML text before it is parsed, so that hostile input fails fast with a position.
// toml-eslint-parser spreads each string's code points into one call (a string of ~130 KB
// overflows the stack), recurses once per nesting level and costs ~25 µs per value; a cheap
// scan of the raw text finds what would blow up and says where.
import type { Diagnostic } from '../errors/niso-error.js';

export const TOML_LIMITS = Object.freeze({
  /** The whole file; the same cap applies when packing and when reading a package's manifest. */
  bytes: 1024 * 1024,
  /** One string, number or key, in characters. */
  token: 64 * 1024,
  /** Parts of one dotted key or table name (`a.b.c` has 3). */
  keyParts: 16,
  /** Arrays and inline tables inside each other. */
  nesting: 16,
  /** Keys and values in the whole file. */
  entries: 10_000,
});

const HINT = 'a manifest describes one app and needs none of this; remove what a generator or a copy-paste left behind';

/** A file over TOML_LIMITS.bytes (a reader may stop at the first byte too many). */
export function tooLarge(file: string): Diagnostic {
  return { code: 'NISO1406', file, line: 1, column: 1, message: `the file is larger than ${TOML_LIMITS.bytes.toLocaleString('en')} bytes (1 MiB), the most a manifest may have`, hint: HINT };
}

/** The first problem of each kind, positioned; empty when the text is within every limit. */
export function checkTomlLimits(text: string, file: string): Diagnostic[] {
  const found = new Map<string, Diagnostic>();
  let line = 1;
  let lineStart = 0;
  const report = (kind: string, at: number, atLine: number, atLineStart: number, message: string) => {
    if (!found.has(kind)) found.set(kind, { code: 'NISO1406', file, line: atLine, column: at - atLineStart + 1, message, hint: HINT });
  };
  const containers: string[] = [];
  // Whether the next token is a key (start of a line at the top level, after `{` or a `,` in an
  // inline table) or a value; `header` while inside `[table]` / `[[table]]`.
  let key = true;
  let header = false;
  let parts = 1;
  let entries = 0;
  const count = (at: number) => {
    if (++entries > TOML_LIMITS.entries) report('entries', at, line, lineStart, `more than ${TOML_LIMITS.entries.toLocaleString('en')} keys and values`);
  };
  const token = (start: number, startLine: number, startLineStart: number, end: number, what: string) => {
    if (end - start > TOML_LIMITS.token) report('token', start, startLine, startLineStart, `${what} of ${(end - start).toLocaleString('en')} characters is longer than ${TOML_LIMITS.token.toLocaleString('en')}`);
  };
  const n = text.length;
  let i = 0;
  while (i < n && found.size < 4) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      lineStart = ++i;
      if (containers.length === 0) { key = true; header = false; parts = 1; }
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
    if (c === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = i;
      const startLine = line;
      const startLineStart = lineStart;
      const multi = text.startsWith(c.repeat(3), i);
      const close = multi ? c.repeat(3) : c;
      i += close.length;
      while (i < n && !text.startsWith(close, i)) {
        // An escaped quote does not close the string; an escaped line break still counts as a line.
        if (text[i] === '\\' && c === '"' && text[i + 1] !== '\n') i++;
        else if (text[i] === '\n') {
          if (!multi) break; // unterminated: the parser says so
          line++;
          lineStart = i + 1;
        }
        i++;
      }
      i = Math.min(n, i + close.length);
      token(start, startLine, startLineStart, i, key || header ? 'a key' : 'a string');
      if (!key && !header) count(start);
      continue;
    }
    if (c === '[' && key && containers.length === 0) {
      header = true;
      key = false;
      parts = 1;
      i += text.startsWith('[[', i) ? 2 : 1;
      count(i);
      continue;
    }
    if (c === ']' && header) { header = false; i++; continue; }
    if (c === '[' || c === '{') {
      containers.push(c);
      if (containers.length > TOML_LIMITS.nesting) report('nesting', i, line, lineStart, `arrays and inline tables are nested more than ${TOML_LIMITS.nesting} deep`);
      key = c === '{';
      parts = 1;
      i++;
      continue;
    }
    if (c === ']' || c === '}') { containers.pop(); key = false; i++; continue; }
    if (c === ',') { key = containers.at(-1) === '{'; parts = 1; i++; continue; }
    if (c === '=' && key) { key = false; count(i); i++; continue; }
    if (c === '.' && (key || header)) {
      if (++parts > TOML_LIMITS.keyParts) report('parts', i, line, lineStart, `a dotted key or table name has more than ${TOML_LIMITS.keyParts} parts`);
      i++;
      continue;
    }
    // A bare key, number, boolean or date: up to the next character that ends one. Numbers and
    // dates hold dots and colons, keys do not.
    const start = i;
    const stop = key || header ? /[\s.=\]"'#,{}[]/ : /[\s,\]}#[{"'=]/;
    while (i < n && !stop.test(text[i]!)) i++;
    if (i === start) { i++; continue; }
    token(start, line, lineStart, i, key || header ? 'a key' : 'a value');
    if (!key && !header) count(start);
  }
  return [...found.values()].sort((a, b) => a.line! - b.line! || a.column! - b.column!);
}

/** The position of the first byte that is not part of valid UTF-8, or -1. */
export function invalidUtf8At(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let i = 0; i < n;) {
    const b = bytes[i]!;
    if (b < 0x80) { i++; continue; }
    const len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len === 0 || i + len > n) return i;
    const b1 = bytes[i + 1]!;
    // Overlong forms, UTF-16 surrogates and code points above U+10FFFF, as the decoder refuses them.
    const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
    if (b1 < lo || b1 > hi) return i;
    for (let k = 2; k < len; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    i += len;
  }
  return -1;
}
