// Preloaded into niso's node processes by bench/cli-cpu.ts (`node --import THIS`, or NODE_OPTIONS in a booted
// systemd's manager environment, so that the units' own `niso __after-exit` etc. carry it too): appends one JSON line
// with the process's argv and its own CPU time (process.cpuUsage(): this process, not its children) to
// $NISO_BENCH_CPU when it exits. Nothing happens without that variable.
import { appendFileSync } from 'node:fs';

const out = process.env.NISO_BENCH_CPU;
if (out) {
  process.on('exit', () => {
    const u = process.cpuUsage();
    try {
      appendFileSync(out, JSON.stringify({ argv: process.argv.slice(1), cpuMs: (u.user + u.system) / 1000, pid: process.pid }) + '\n');
    } catch { /* the bench's file is gone: nothing to record into */ }
  });
}
