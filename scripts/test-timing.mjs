// Loaded by scripts/run-tests.mjs into every test file's process (node's runner gives its children the runner's
// --import flags): appends the file's wall time, from the process's start to its exit, to the file that
// NISO_TEST_TIMINGS names, for the table of the slowest files the runner prints at the end. node 20's spec reporter
// prints each test's duration but not a file's. With it goes the CPU time of the file's process and of every child it
// waited for (and theirs: a systemd machine's processes reach it through nspawn), since the suite is bound by the
// machine's two cores rather than by its longest file; a supervisor that detached is not counted.
import { appendFileSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

const out = process.env.NISO_TEST_TIMINGS;
const file = process.argv[1];
if (out && file?.endsWith('.test.ts')) {
  process.on('exit', (code) => {
    // A file run again inside a systemd machine inherits the variable but not the host's directory: no row then.
    try { appendFileSync(out, `${JSON.stringify({ file: relative(process.cwd(), file), ms: Math.round(performance.now()), cpuMs: cpuMs(), code })}\n`); } catch { /* not there */ }
  });
}

/** utime + stime + cutime + cstime of this process from /proc/self/stat, in ms (clock ticks of 10 ms). */
function cpuMs() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10;
  } catch { return undefined; }
}
