// wrk (Debian's package) as the load client of the network bench: one run, its output parsed into
// requests per second, latency percentiles and errors, so that every variant is measured alike.
import { spawnSync } from 'node:child_process';

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  /** Latency percentiles in milliseconds, from `--latency`. */
  p50: number;
  p90: number;
  p99: number;
  /** connect + read + write + timeout socket errors, plus non-2xx/3xx answers. */
  errors: number;
  raw: string;
}

/** "51.00us", "1.05ms", "2.10s" → milliseconds. */
export function wrkTimeMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) throw new Error(`not a wrk time: ${text}`);
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

export function parseWrk(out: string): WrkResult {
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)\\s*$`, 'm').exec(out);
    if (!m) throw new Error(`wrk printed no ${p}% latency (was --latency given?):\n${out}`);
    return wrkTimeMs(m[1]!);
  };
  const total = /^\s*(\d+) requests in ([\d.]+)(ms|s|m),/m.exec(out);
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  if (!total || !rps) throw new Error(`unexpected wrk output:\n${out}`);
  const seconds = wrkTimeMs(`${total[2]}${total[3]}`) / 1000;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errors = (sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return { requests: Number(total[1]), seconds, rps: Number(rps[1]), p50: pct('50'), p90: pct('90'), p99: pct('99'), errors, raw: out };
}

export interface WrkOptions {
  threads: number;
  connections: number;
  seconds: number;
  /** CPU to pin wrk to (taskset -c), or null. */
  cpu: number | null;
}

/** The argv that runs wrk with these options against `url`. */
export function wrkArgv(url: string, o: WrkOptions): [string, string[]] {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--latency', url];
  return o.cpu === null ? ['wrk', args] : ['taskset', ['-c', String(o.cpu), 'wrk', ...args]];
}

export function runWrk(url: string, o: WrkOptions): WrkResult {
  const [cmd, args] = wrkArgv(url, o);
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: (o.seconds + 30) * 1000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}${r.stdout}`);
  return parseWrk(r.stdout);
}

/** wrk's version line, or why it cannot be used. */
export function wrkVersion(): { ok: true; version: string } | { ok: false; why: string } {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (r.error) return { ok: false, why: `wrk is not installed (${r.error.message}); install it with apt-get install wrk` };
  const line = `${r.stdout}${r.stderr}`.split('\n').find((l) => l.startsWith('wrk')) ?? 'wrk (version unknown)';
  return { ok: true, version: line.replace(/\s+Copyright.*$/, '').trim() };
}
