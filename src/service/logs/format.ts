// How `niso logs` prints a record, docker-like: `web | ` prefixes when several services are
// shown, `--timestamps` in RFC 3339 with milliseconds, `~` before a time that is approximate.
import type { LogRecord } from './reader.js';

/** The prefix of each service's lines: `name | ` padded to the longest name, or null for a single service. */
export function logPrefixes(services: readonly string[]): Map<string, string | null> {
  const width = Math.max(0, ...services.map((s) => s.length));
  return new Map(services.map((s) => [s, services.length > 1 ? `${s.padEnd(width)} | ` : null]));
}

/** One output line, without its newline. `prefix` comes from logPrefixes. */
export function formatLogRecord(rec: LogRecord, opts: { prefix: string | null; timestamps: boolean }): string {
  const time = opts.timestamps ? `${rec.approximate ? '~' : ''}${rec.time.toISOString()} ` : '';
  return `${opts.prefix ?? ''}${time}${rec.text}`;
}
