// Benchmark knobs from the environment (BENCH_RUNS and friends), checked.

export function intEnv(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${v} must be a whole number >= 1`);
  return n;
}

/** BENCH_QUIET: the CPU share below which the machine counts as quiet before a timed sample (0 < share <= 1). */
export function quietShareEnv(fallback = 0.35): number {
  const v = process.env.BENCH_QUIET;
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!(n > 0 && n <= 1)) throw new Error(`BENCH_QUIET=${v} must be a share of the CPU, more than 0 and at most 1`);
  return n;
}

/** BENCH_DIR: where a bench keeps its NISO_ROOT and files (default /var/tmp: a disk, not tmpfs). */
export const benchDirEnv = (): string => process.env.BENCH_DIR || '/var/tmp';
