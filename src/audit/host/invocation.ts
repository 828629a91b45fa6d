// Who runs this niso process and with which command line, for the audit log: cli/main.ts (the only reader of
// process.*) tells it once, and every audit() of the process uses it, however deep the change is made.

export interface Invocation {
  /** What the user typed, starting with "niso"; redacted before it is recorded. */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
}

let current: Invocation | null = null;

export function setInvocation(inv: Invocation): void {
  current = inv;
}

/** The process's invocation; a library caller that set none is recorded with an empty command line. */
export function invocation(): Invocation {
  return current ?? { argv: [], env: {} };
}
