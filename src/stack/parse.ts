// stack.toml bytes → a positioned TOML document, within the same bounds as a manifest (toml-limits.ts) but worded for
// a stack file. Nothing is interpolated or validated yet: that needs the environment, which resolve.ts is given.
import type { Diagnostic } from '../errors/niso-error.js';
import { TOML_LIMITS, tooLarge } from '../manifest/toml-limits.js';
import { readToml, type TomlDocument } from '../manifest/toml-positions.js';

export interface StackSource {
  /** The file as diagnostics name it (what the user typed, or "stack.toml"). */
  file: string;
  doc: TomlDocument;
}

export type StackParse = { ok: true; source: StackSource } | { ok: false; diagnostics: Diagnostic[] };

const LIMIT_HINT = 'a stack file lists a handful of services; remove what a generator or a copy-paste left behind, or split it into several stacks';

export function parseStack(input: string | Uint8Array, file = 'stack.toml'): StackParse {
  // Bytes are bounded by the reader; text is measured here (a string under the bound in characters may be over it in bytes).
  const tooBig = typeof input === 'string' && input.length > TOML_LIMITS.bytes / 4 && new TextEncoder().encode(input).length > TOML_LIMITS.bytes;
  const r = tooBig ? { ok: false as const, diagnostics: [tooLarge(file)] } : readToml(input, file);
  if (r.ok) return { ok: true, source: { file, doc: r.doc } };
  // The reader's bounds and UTF-8 check speak of a manifest; a stack file has codes of its own.
  return {
    ok: false,
    diagnostics: r.diagnostics.map((d) => {
      if (d.code === 'NISO1406') return { ...d, code: 'NISO5323', message: d.message.replace('the most a manifest may have', 'the most a stack file may have'), hint: LIMIT_HINT };
      if (d.code === 'NISO1407') return { ...d, code: 'NISO5324' };
      return d;
    }),
  };
}
