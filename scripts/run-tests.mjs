// Runs every test file with node's own test runner (TypeScript through tsx). Node 20's --test
// does not expand globs, so the files are collected here. Extra args select files by substring.
//
// Files run NISO_TEST_CONCURRENCY at a time, 4 by default: most of the suite waits rather than computes (systemd
// booting in nspawn, restart delays, health intervals, stop timeouts), and node's own default (cores - 1) is one file
// at a time on a 2-core machine. Measured: one at a time 1672 s on a quiet machine (CI: 2299 s); three at a time
// 1161 s quiet (four at a time, with today's suite: 1442 s against 1512 s three at a time), and 3988 s in a run beside other engineers' tests at a load average of 8-16 (sum of the files' own
// times 11895 s; services.test.ts alone 1730 s, the critical path). Three at a time used to fail at remove --volumes
// with NISO3210: the systemd files' machines kept copies of other files' state mounts, fixed in niso
// (host/bounded-dir.ts mounts images below a shared mount). So every test file must hold with others beside it: see
// CONTRIBUTING.md, Tests. The longest files start first, so that none of them starts last; the rest follow in path
// order. `node --test` sorts the files it is given, so the runner is started through its API (run()), which keeps
// the order, with the spec reporter and its summary (ℹ tests, ℹ pass, ℹ fail ...) as the CLI prints them. The slowest
// files' wall and CPU times (scripts/test-timing.mjs) go in just before that summary, so that the run still ends with
// the runner's own summary (and its list of failing tests).
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

/**
 * The longest files, longest first, as measured in a whole run three at a time (CONTRIBUTING.md, Tests): the service
 * suite was the run's critical path as one file (its cases run one after the other), so it runs as three shards
 * (services-1..3.test.ts); the switch and catalog files followed.
 */
const LONGEST_FIRST = [
  'test/e2e/services-systemd.test.ts',
  'test/e2e/stack-lifecycle-systemd.test.ts',
  'test/e2e/switch-systemd.test.ts',
  'test/e2e/services-1.test.ts',
  'test/e2e/switch.test.ts',
  'test/e2e/systemd-network.test.ts',
  'test/e2e/switch-data-systemd.test.ts',
  'test/e2e/stack-systemd.test.ts',
  'test/e2e/services-3.test.ts',
  'test/e2e/stack-lifecycle.test.ts',
  'test/e2e/catalog-systemd.test.ts',
  'test/e2e/systemd-health.test.ts',
  'test/e2e/switch-data.test.ts',
  'test/e2e/stack.test.ts',
  'test/conformance/systemd.test.ts',
  'test/e2e/services-2.test.ts',
  'test/e2e/sandbox-systemd.test.ts',
  'test/e2e/run-service-systemd.test.ts',
  'test/e2e/systemd-run.test.ts',
  'test/e2e/run.test.ts',
  'test/e2e/volumes.test.ts',
  'test/e2e/systemd-services.test.ts',
  'test/e2e/cli.test.ts',
  'test/e2e/catalog-postgres.test.ts',
  'test/e2e/switch-reboot-systemd.test.ts',
  'test/e2e/catalog-mariadb.test.ts',
  'test/conformance/isolation.test.ts',
  'test/e2e/generations.test.ts',
  'test/integration/runtime-pin.test.ts',
];

/** The slowest files' wall times (each file's own process, start to exit), longest first, and the whole run's. */
function timingsText(path, totalS, concurrency) {
  let rows;
  try { rows = readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)); } catch { return ''; }
  rows.sort((a, b) => b.ms - a.ms);
  const sum = rows.reduce((n, r) => n + r.ms, 0) / 1000;
  const cpu = rows.reduce((n, r) => n + (r.cpuMs ?? 0), 0) / 1000;
  const lines = [`\nfiles by wall time (${rows.length} files, ${sum.toFixed(0)} s in all, ${totalS.toFixed(0)} s end to end at ${concurrency} at a time; CPU ${cpu.toFixed(0)} s, the files' processes and what they waited for):`];
  for (const r of rows.slice(0, Number(process.env.NISO_TEST_SLOWEST ?? 20))) {
    const c = r.cpuMs === undefined ? '' : `  CPU ${(r.cpuMs / 1000).toFixed(1)} s`;
    lines.push(`${(r.ms / 1000).toFixed(1).padStart(8)} s  ${r.file}${c}${r.code === 0 ? '' : `  (exit ${r.code})`}`);
  }
  const byCpu = rows.filter((r) => r.cpuMs !== undefined).sort((a, b) => b.cpuMs - a.cpuMs).slice(0, 10);
  if (byCpu.length) lines.push(`files by CPU time: ${byCpu.map((r) => `${r.file.replace(/^test\//, '')} ${(r.cpuMs / 1000).toFixed(0)} s`).join(', ')}`);
  return `${lines.join('\n')}\n\n`;
}

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const INNER = '--niso-inner-runner';

if (process.argv[2] !== INNER) {
  const filters = process.argv.slice(2);
  const all = collect('test');
  const files = [...LONGEST_FIRST.filter((f) => all.includes(f)), ...all.filter((f) => !LONGEST_FIRST.includes(f))]
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  if (files.length === 0) {
    console.error('no test files matched');
    process.exit(1);
  }
  const concurrency = Number(process.env.NISO_TEST_CONCURRENCY ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    console.error(`NISO_TEST_CONCURRENCY must be a whole number of files, at least 1: ${process.env.NISO_TEST_CONCURRENCY}`);
    process.exit(2);
  }
  // The runner's children inherit its --import flags: tsx, and the hook that records each file's wall time.
  const timingsDir = mkdtempSync(join(tmpdir(), 'niso-test-timings-'));
  const timings = join(timingsDir, 'files.jsonl');
  // Node reads NODE_EXTRA_CA_CERTS at every start (~45 ms of CPU here, more under load), and the suite starts thousands
  // of node processes. Only the files that reach the npm registry through these machines' TLS proxy need it: the
  // bundle is handed on as NISO_TEST_NPM_CA, and those files give it back to their own children (test/helpers/npm-ca.ts).
  const { NODE_EXTRA_CA_CERTS: npmCa, ...inherited } = process.env;
  const env = { ...inherited, NODE_NO_WARNINGS: '1', NISO_TEST_TIMINGS: timings, ...(npmCa ? { NISO_TEST_NPM_CA: npmCa } : {}) };
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', resolve('scripts/test-timing.mjs'), import.meta.filename, INNER, String(concurrency), ...files], { stdio: 'inherit', env });
  rmSync(timingsDir, { recursive: true, force: true });
  process.exit(r.status ?? 1);
} else {
  const { run } = await import('node:test');
  const { spec } = await import('node:test/reporters');
  const { Transform } = await import('node:stream');
  const { cgroupParents } = await import(resolve('src/sandbox/cgroup.ts'));
  const t0 = performance.now();
  // niso keeps its services' cgroups below a parent "niso" of its own, which it makes and never removes (a host that
  // ran niso once keeps it, as it keeps a systemd slice). The run leaves the host as it found it: a parent the tests
  // made goes once they are done, if it is empty. rmdir refuses one with a cgroup left below it, so a leak still shows.
  const madeByTests = cgroupParents().filter((p) => !existsSync(p));
  const [concurrency, ...files] = process.argv.slice(3);
  const stream = run({ files: files.map((f) => resolve(f)), concurrency: Number(concurrency) });
  stream.on('test:fail', () => { process.exitCode = 1; });
  // The run's summary starts with its first top-level diagnostic, "tests N": every file has exited by then. The
  // timings go in as output of the run itself, which the spec reporter prints as it is, in order; the cgroup parents
  // the tests made go at that moment too.
  let timed = false;
  const withTimings = new Transform({
    objectMode: true,
    transform(event, _enc, done) {
      if (!timed && event.type === 'test:diagnostic' && event.data.nesting === 0 && /^tests \d+$/.test(event.data.message)) {
        timed = true;
        for (const p of madeByTests) { try { rmdirSync(p); } catch { /* not made, or not empty */ } }
        const text = timingsText(process.env.NISO_TEST_TIMINGS, (performance.now() - t0) / 1000, concurrency);
        if (text) this.push({ type: 'test:stdout', data: { message: text, nesting: 0 } });
      }
      done(null, event);
    },
  });
  stream.pipe(withTimings).compose(new spec()).pipe(process.stdout);
}
