// Cleanup on Ctrl-C and stop signals. Node's default for SIGINT, SIGTERM and SIGHUP is to exit
// on the spot, which leaves work dirs behind; a handler cleans up, then the process ends by the
// same signal, so its exit status still says what happened (130 for Ctrl-C, 143 for SIGTERM).
import { constants } from 'node:os';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function die(signal: NodeJS.Signals): never {
  // With no listener left, node restores the default action and kill(2) ends us here.
  process.kill(process.pid, signal);
  process.exit(128 + (constants.signals[signal] ?? 0));
}

/**
 * Until the returned release() is called, a stop signal calls `handler`, which cleans up
 * synchronously and returns true to end the process now, or false to let the work finish:
 * release() then ends the process by that signal.
 */
export function onInterrupt(handler: (signal: NodeJS.Signals) => boolean): () => void {
  let deferred: NodeJS.Signals | null = null;
  const off = () => { for (const s of SIGNALS) process.off(s, on); };
  function on(signal: NodeJS.Signals): void {
    if (!handler(signal)) { deferred ??= signal; return; }
    off();
    die(signal);
  }
  for (const s of SIGNALS) process.on(s, on);
  return () => {
    off();
    if (deferred) die(deferred);
  };
}
