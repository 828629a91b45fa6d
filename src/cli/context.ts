// What a command may touch: the caller's cwd, environment, output streams and niso's state root.
// Only cli/main.ts builds one from process.*, so commands are testable with any streams and root.
import { resolve } from 'node:path';

export interface Output {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Context {
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  stdout: Output;
  stderr: Output;
  /** NISO_ROOT: every path of niso's state lives below it (default "/"). */
  root: string;
  /** niso's own executable (bin/niso), for starting the supervisor; default process.argv[1]. */
  entry?: string;
  /**
   * What the user types, for the few questions niso asks (`volume prune`); absent: nobody to ask. A function: opening
   * stdin makes node set O_NONBLOCK on it, which apps sharing it (`niso run`) must never inherit. Also the data of
   * `niso secret create NAME -`.
   */
  stdin?: () => NodeJS.ReadableStream & { isTTY?: boolean };
  /** The command line as a generation records it (values that may be secrets redacted). */
  command?: string[];
  /** Set by commands whose exit status is not simply success, e.g. `niso run` passes on the app's. */
  exitCode?: number;
}

export function makeContext(cwd: string, env: Record<string, string | undefined>, stdout: Output, stderr: Output): Context {
  return { cwd, env, stdout, stderr, root: resolve(cwd, env.NISO_ROOT && env.NISO_ROOT !== '' ? env.NISO_ROOT : '/') };
}
