// Runs inside a booted machine (bench/systemd.ts starts it through nsenter): one command, timed on the machine's own
// clock from its spawn to its exit and, with a port, to the first HTTP 200 on 127.0.0.1:PORT; so neither nsenter nor
// the host's process spawn adds to the timings. Prints one JSON line. Usage: start-probe PORT|- -- CMD [ARG...]
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { pollFirstOk } from './http-poll.js';

const [port, sep, cmd, ...args] = process.argv.slice(2);
if (sep !== '--' || !cmd || !port) {
  process.stderr.write('usage: start-probe PORT|- -- CMD [ARG...]\n');
  process.exit(2);
}
const t0 = performance.now();
const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
const poll = port === '-' ? null : pollFirstOk(Number(port), { timeoutMs: 30_000 });
const exited = new Promise<{ ms: number; code: number | null }>((done) => {
  child.on('error', (e) => { stderr += e.message; done({ ms: performance.now() - t0, code: null }); });
  child.on('close', (code) => done({ ms: performance.now() - t0, code }));
});
const ex = await exited;
// A command that failed starts nothing that will answer.
if (ex.code !== 0) poll?.cancel(`the command exited ${ex.code}`);
const firstOkMs = poll ? await poll.done.then((f) => f.atMs - t0, () => null) : null;
process.stdout.write(`${JSON.stringify({ exitMs: ex.ms, code: ex.code, firstOkMs, stderr: stderr.slice(-2000) })}\n`);
