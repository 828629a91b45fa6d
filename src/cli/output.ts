// Rendering results for people (aligned tables) and for programs (--json), the same data for both.
import type { Context } from './context.js';

export function printJson(ctx: Context, data: unknown): void {
  ctx.stdout.write(JSON.stringify(data, null, 2) + '\n');
}

/** A borderless table like `docker ps`: upper-case headers, columns separated by spaces. */
export function relativeTime(from: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  const ago = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  if (s < 60) return ago(s, 'second');
  if (s < 3600) return ago(Math.round(s / 60), 'minute');
  if (s < 86400) return ago(Math.round(s / 3600), 'hour');
  return ago(Math.round(s / 86400), 'day');
}
