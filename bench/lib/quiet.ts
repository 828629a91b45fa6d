// Waiting for a quiet moment on a shared machine before a timed sample, and saying how often
// there was none.
import { machineCpu } from './cpu.js';

/** The share of the machine's CPU in use over `ms`. */
export async function busyShare(ms: number): Promise<number> {
  const a = machineCpu();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineCpu();
  return (b.busyMs - a.busyMs) / Math.max(1, b.totalMs - a.totalMs);
}

export interface QuietStats { waits: number; waitedMs: number; gaveUp: number }

/** Waits (at most maxWaitMs) until the machine was less than `threshold` busy for 250 ms; false: it never was. */
export async function waitQuiet(threshold: number, maxWaitMs: number, stats: QuietStats): Promise<boolean> {
  const t0 = Date.now();
  stats.waits++;
  let quiet = true;
  for (;;) {
    if (await busyShare(250) <= threshold) break;
    if (Date.now() - t0 > maxWaitMs) { stats.gaveUp++; quiet = false; break; }
  }
  stats.waitedMs += Date.now() - t0;
  return quiet;
}
