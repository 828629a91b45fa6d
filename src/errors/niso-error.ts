// The one error type niso raises on purpose: a stable code, a place in a file, and a hint.
// Anything else that escapes is an internal error (a bug) and is printed with its stack.

export interface SourcePosition {
  file?: string;
  line?: number;
  column?: number;
}

export interface Diagnostic extends SourcePosition {
  code: string;
  message: string;
  hint?: string;
  /** The field path inside the document, e.g. `network.ports[1]`. */
  field?: string;
}

export interface NisoErrorOptions extends SourcePosition {
  hint?: string;
  field?: string;
  path?: string;
  cause?: unknown;
  /** Further problems found in the same pass (parsers report all of them at once). */
  diagnostics?: Diagnostic[];
  /** Exit status for the CLI; 2 means bad input or usage, 1 a failed operation. */
  exitCode?: 1 | 2 | 3;
}

export class NisoError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly field?: string;
  readonly path?: string;
  readonly diagnostics: Diagnostic[];
  readonly exitCode: 1 | 2 | 3;

  constructor(code: string, message: string, options: NisoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NisoError';
    this.code = code;
    this.hint = options.hint;
    this.file = options.file;
    this.line = options.line;
    this.column = options.column;
    this.field = options.field;
    this.path = options.path;
    this.diagnostics = options.diagnostics ?? [];
    this.exitCode = options.exitCode ?? 1;
  }

  /** All problems this error stands for: its own diagnostics, or itself as one. */
  allDiagnostics(): Diagnostic[] {
    if (this.diagnostics.length > 0) return this.diagnostics;
    return [{ code: this.code, message: this.message, hint: this.hint, file: this.file ?? this.path, line: this.line, column: this.column, field: this.field }];
  }
}

/** Several diagnostics from one document become one error that carries them all. */
export function invalidInput(diagnostics: Diagnostic[], summary: string): NisoError {
  const first = diagnostics[0];
  return new NisoError(first?.code ?? 'NISO1000', summary, { diagnostics, exitCode: 2, file: first?.file });
}

export function isNisoError(e: unknown): e is NisoError {
  return e instanceof NisoError;
}
