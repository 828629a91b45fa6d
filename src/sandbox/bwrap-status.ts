// bubblewrap's --json-status-fd: JSON lines, {"child-pid": N} once the sandbox runs and
// {"exit-code": N} when it ended. Read from a pipe (foreground runs, exec) or a file (services).
import type { Readable } from 'node:stream';

export interface BwrapStatus { childPid?: number; exitCode?: number }

export function parseStatusLine(line: string): BwrapStatus {
  try {
    const m = JSON.parse(line) as { 'child-pid'?: unknown; 'exit-code'?: unknown };
    return {
      ...(typeof m['child-pid'] === 'number' ? { childPid: m['child-pid'] } : {}),
      ...(typeof m['exit-code'] === 'number' ? { exitCode: m['exit-code'] } : {}),
    };
  } catch { return {}; } // a line cut short
}

/** Calls `on` for every status line that arrives on the stream. */
export function followStatus(s: Readable, on: (status: BwrapStatus) => void): void {
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      on(parseStatusLine(line));
    }
  });
}
