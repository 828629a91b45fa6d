// A progress bar on stderr for long operations, shown only on a terminal and only when the
// work is big enough to be worth watching; silent for pipes, CI logs and --json.
import { SingleBar } from 'cli-progress';
import type { Context } from './context.js';
import { formatSize } from '../manifest/units.js';

export interface Progress { update(done: number, total: number): void; stop(): void }

const MIN_BYTES = 32 * 1024 * 1024;

export function progressBar(ctx: Context, label: string, quiet = false, minBytes = MIN_BYTES): Progress {
  const stderr = ctx.stderr as NodeJS.WriteStream;
  if (quiet || !stderr.isTTY || ctx.env.CI) return { update() {}, stop() {} };
  let bar: SingleBar | undefined;
  return {
    update(done, total) {
      if (!bar) {
        if (total < minBytes) return;
        bar = new SingleBar({ stream: stderr, format: `${label} [{bar}] {percentage}% {doneSize}/{totalSize}`, hideCursor: true, clearOnComplete: true, barsize: 30 });
        bar.start(total, 0, { doneSize: '0 B', totalSize: formatSize(total) });
      }
      bar.update(Math.min(done, total), { doneSize: formatSize(done), totalSize: formatSize(total) });
    },
    stop() { bar?.stop(); },
  };
}
