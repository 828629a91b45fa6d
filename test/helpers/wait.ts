// Waiting in tests: a sleep, and polling until a condition holds (or a value is there) within a deadline.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `fn` (sync or async) every `everyMs` until it returns something truthy, which it returns; throws after `timeoutMs`.
 * The default deadline is generous (a minute): it costs nothing when the condition comes, and on a loaded 2-core
 * machine a sandboxed node start alone took over 15 s (systemd-run's "the app", at a load of 25).
 */
export async function until<T>(what: string, fn: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
