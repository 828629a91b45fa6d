// A progress bar on stderr for long operations, shown only on a terminal and only when the
// work is big enough to be worth watching; silent for pipes, CI logs and --json.
import type { SingleBar } from 'cli-progress';
import type { Context } from './context.js';
import { formatSize } from '../manifest/units.js';

export interface Progress { update(done: number, total: number): void; stop(): void }

const MIN_BYTES = 32 * 1024 * 1024;

/** `speed`: also the transfer rate over the last seconds (push and pull, where the network sets the pace). */
export function progressBar(ctx: Context, label: string, quiet = false, minBytes = MIN_BYTES, opts: { speed?: boolean } = {}): Progress {
  const stderr = ctx.stderr as NodeJS.WriteStream;
  if (quiet || !stderr.isTTY || ctx.env.CI) return { update() {}, stop() {} };
  let bar: SingleBar | undefined;
  // cli-progress (~24 KB with its presets) loads only for a terminal: a push, pull, pack or install in a script, in CI
  // or with --json never evaluates it. Until it is in (a few ms), updates draw nothing.
  let Bar: typeof SingleBar | null = null;
  // A CommonJS package: its module.exports is the default export (bundled, the only one).
  import('cli-progress').then((m) => { Bar = m.default.SingleBar; }, () => undefined);
  // (time, bytes) samples of the last few seconds: a rate over the whole transfer would hide a stall.
  const samples: [number, number][] = [];
  const rate = (done: number) => {
    const now = Date.now();
    samples.push([now, done]);
    while (samples.length > 2 && now - samples[0]![0] > 3000) samples.shift();
    const [t0, d0] = samples[0]!;
    return now - t0 < 200 ? '' : `${formatSize(Math.round(Math.max(0, ((done - d0) * 1000) / (now - t0))))}/s`;
  };
  return {
    update(done, total) {
      if (!bar) {
        if (total < minBytes || !Bar) return;
        const format = `${label} [{bar}] {percentage}% {doneSize}/{totalSize}${opts.speed ? ' {speed}' : ''}`;
        bar = new Bar({ stream: stderr, format, hideCursor: true, clearOnComplete: true, barsize: 30 });
        bar.start(total, 0, { doneSize: '0 B', totalSize: formatSize(total), speed: '' });
      }
      bar.update(Math.min(done, total), { doneSize: formatSize(done), totalSize: formatSize(total), ...(opts.speed ? { speed: rate(done) } : {}) });
    },
    stop() { bar?.stop(); },
  };
}
