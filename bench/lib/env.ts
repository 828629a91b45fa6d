// Benchmark knobs from the environment (BENCH_RUNS and friends), checked.

export function intEnv(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${v} must be a whole number >= 1`);
  return n;
}
