// Quoting for unit-file values: systemd splits them into words, unquotes, C-unescapes and expands
// %-specifiers (and, in Exec lines, $VARIABLES), so every plan string must pass through here to arrive intact.
// Each rule below was checked against systemd 252 by starting a unit and comparing what the process got.

import { RenderError } from './render-error.js';

/** A plan string that no unit file can carry; a RenderError, so callers handle both renderers' refusals alike. */
export class SystemdQuoteError extends RenderError {}

const SIMPLE = /^[A-Za-z0-9_@+=,./:-]+$/;

/** C escapes inside a double-quoted word; everything else, UTF-8 included, passes as it is. */
function cEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

function checkText(s: string, what: string): void {
  if (s.includes('\0')) throw new SystemdQuoteError(`${what} contains a NUL byte, which no unit file can carry`);
  // A lone surrogate cannot be written as UTF-8, and systemd refuses invalid UTF-8.
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)) throw new SystemdQuoteError(`${what} is not valid Unicode`);
}

/**
 * One argument of an Exec line: `%` → `%%` (specifiers are expanded first), `$` → `$$` (variables are
 * expanded at start), and anything but plain characters double-quoted with C escapes, which also keeps a
 * lone `;` from being read as a command separator.
 */
export function execWord(s: string): string {
  checkText(s, `the argument ${JSON.stringify(s)}`);
  const body = s.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (SIMPLE.test(s)) return body;
  return `"${cEscape(body)}"`;
}

/**
 * One Environment= assignment, always quoted as a whole. systemd stores the value as it is (no $ expansion)
 * but refuses control characters other than tab and newline, so those are an error here rather than a line
 * systemd would drop with a warning.
 */
export function environmentWord(name: string, value: string): string {
  checkEnvironment(name, value);
  return `"${cEscape(`${name}=${value}`.replace(/%/g, '%%'))}"`;
}

function checkEnvironment(name: string, value: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new SystemdQuoteError(`the environment variable name ${JSON.stringify(name)} is not valid for systemd`);
  checkText(value, `the value of ${name}`);
  // eslint-disable-next-line no-control-regex
  if (/[\x01-\x08\x0b-\x1f\x7f]/.test(value)) throw new SystemdQuoteError(`the value of ${name} contains a control character, which systemd refuses in an environment`);
}

/**
 * The text of an EnvironmentFile= (systemd.exec(5)): one `NAME="value"` line per variable. Inside double quotes
 * systemd's env-file parser takes every character as it is (newlines too) except after a backslash, where \\, \",
 * \` and \$ stand for the character itself; nothing is expanded, neither %-specifiers nor $VARIABLES.
 */
export function environmentFile(env: Readonly<Record<string, string>>): string {
  return Object.entries(env).map(([k, v]) => {
    checkEnvironment(k, v);
    return `${k}="${v.replace(/[\\"`$]/g, (c) => `\\${c}`)}"\n`;
  }).join('');
}

/**
 * One path of BindPaths=/BindReadOnlyPaths=/TemporaryFileSystem=. These are split on blanks and `:` with
 * quotes but without C escapes, so a path with blanks or colons is quoted and `%` doubled; quotes,
 * backslashes and control characters cannot be written at all.
 */
export function pathWord(p: string): string {
  checkText(p, `the path ${JSON.stringify(p)}`);
  if (!p.startsWith('/')) throw new SystemdQuoteError(`${JSON.stringify(p)} is not an absolute path`);
  // eslint-disable-next-line no-control-regex
  if (/["'\\\x01-\x1f\x7f]/.test(p)) throw new SystemdQuoteError(`the path ${JSON.stringify(p)} contains a quote, backslash or control character, which systemd's path lists cannot carry`);
  const body = p.replace(/%/g, '%%');
  return /[\s:]/.test(p) ? `"${body}"` : body;
}

/**
 * A value systemd takes as one string to the end of the line (Description=, and single paths such as
 * RootDirectory=, WorkingDirectory=, NetworkNamespacePath=): no quotes (a quote would be part of the value),
 * only % is special, and blanks at either end would be trimmed.
 */
export function lineValue(s: string, what: string): string {
  checkText(s, what);
  // eslint-disable-next-line no-control-regex
  if (/[\x01-\x1f\x7f]/.test(s)) throw new SystemdQuoteError(`${what} contains a control character`);
  if (s !== s.trim()) throw new SystemdQuoteError(`${what} begins or ends with a blank, which systemd would drop`);
  return s.replace(/%/g, '%%');
}

/** A single absolute path that runs to the end of the line (RootDirectory=, NetworkNamespacePath=). */
export function linePath(p: string, what: string): string {
  if (!p.startsWith('/')) throw new SystemdQuoteError(`${what} ${JSON.stringify(p)} is not an absolute path`);
  return lineValue(p, what);
}

/** A time span as systemd writes one (systemd.time(7)): whole seconds as `5s`, anything else in milliseconds. */
export function span(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}
