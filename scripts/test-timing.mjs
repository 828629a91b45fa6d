// Loaded by scripts/run-tests.mjs into every test file's process (node's runner gives its children the runner's
// --import flags): appends the file's wall time, from the process's start to its exit, to the file that
// NISO_TEST_TIMINGS names, for the table of the slowest files the runner prints at the end. node 20's spec reporter
// prints each test's duration but not a file's.
import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';

const out = process.env.NISO_TEST_TIMINGS;
const file = process.argv[1];
if (out && file?.endsWith('.test.ts')) {
  process.on('exit', (code) => {
    // A file run again inside a systemd machine inherits the variable but not the host's directory: no row then.
    try { appendFileSync(out, `${JSON.stringify({ file: relative(process.cwd(), file), ms: Math.round(performance.now()), code })}\n`); } catch { /* not there */ }
  });
}
