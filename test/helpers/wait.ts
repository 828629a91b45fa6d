// Waiting in tests: a sleep, and polling until a condition holds (or a value is there) within a deadline.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `fn` (sync or async) until it returns something truthy, which it returns; throws after `timeoutMs`. The first
 * wait is `everyMs`, each next one half as long again, up to `maxEveryMs` (at least `everyMs`): a condition that comes
 * soon is seen soon, and a long wait does not keep a core busy. Polled back to back, a condition that runs the niso CLI
 * (a node start, ~0.2-0.4 s of CPU) kept one of the machine's two cores busy for as long as it waited, beside the other
 * test files.
 * The default deadline is generous (a minute): it costs nothing when the condition comes, and on a loaded 2-core
 * machine a sandboxed node start alone took over 15 s (systemd-run's "the app", at a load of 25).
 */
export async function until<T>(what: string, fn: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 60_000, everyMs = 50, maxEveryMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let wait = everyMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(Math.min(wait, Math.max(0, deadline - Date.now())));
    wait = Math.min(wait * 1.5, Math.max(everyMs, maxEveryMs));
  }
}
