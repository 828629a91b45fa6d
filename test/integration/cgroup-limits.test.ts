// Limits the kernel refuses in a cgroup file are a coded error that leaves no cgroup behind, not
// an internal error: the manifest and the command line bound them, a stored older plan may not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createCgroup } from '../../src/sandbox/cgroup.js';
import { isNisoError } from '../../src/errors/niso-error.js';
import type { Plan } from '../../src/plan/plan.js';

const rows: { name: string; limits: Partial<Plan['limits']>; file: RegExp }[] = [
  { name: 'more pids than PID_MAX_LIMIT', limits: { pids: 5_000_000 }, file: /pids\.max$/ },
  { name: 'a CPU quota under 1 ms per period', limits: { cpus: 0.001 }, file: /cpu\.(max|cfs_quota_us)$/ },
];

for (const r of rows) {
  test(`cgroup limits: ${r.name} is NISO3202, and the cgroup is removed`, () => {
    const plan = { service: 'limit-test', limits: { memoryBytes: null, pids: null, cpus: null, nofile: null, ...r.limits } } as unknown as Plan;
    const runId = `${process.pid}-${r.name.length}`;
    assert.throws(() => createCgroup(plan, runId), (e: unknown) => {
      assert.ok(isNisoError(e), String(e));
      assert.equal(e.code, 'NISO3202');
      assert.match(e.path ?? '', r.file);
      assert.match(e.message, /the kernel refused .* EINVAL/);
      return true;
    });
    // v2 has one directory, v1 one per controller: none of them may stay.
    const left = ['', 'memory', 'pids', 'cpu', 'cpuacct'].map((c) => join('/sys/fs/cgroup', c, 'niso', `limit-test.${runId}`)).filter((d) => existsSync(d));
    assert.deepEqual(left, []);
  });
}
