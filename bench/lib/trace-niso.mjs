// Preloaded into the niso CLI by bench/run-start.ts (`node --import THIS bin/niso run ...`), only for
// its profile runs. It appends JSON lines with CLOCK_MONOTONIC times (ms, the clock of
// process.hrtime) to $NISO_BENCH_TRACE: when niso's own code could start, every child process
// niso spawns and when it exits, every file system call on /sys/fs/cgroup, and the process exit.
// It changes nothing niso does; the wrappers cost microseconds per call. Every line carries the pid,
// so that several niso processes (a CLI and the supervisor it starts) can share one file.
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { openSync, writeSync } from 'node:fs';

const out = process.env.NISO_BENCH_TRACE;
if (out) {
  const require = createRequire(import.meta.url);
  const cp = require('node:child_process');
  const fs = require('node:fs');
  const fd = openSync(out, 'a');
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  const log = (o) => writeSync(fd, `${JSON.stringify({ ...o, pid: process.pid, t: now() })}\n`);
  log({ ev: 'hook', uptimeMs: process.uptime() * 1000 });

  let ids = 0;
  const origSpawn = cp.spawn;
  cp.spawn = function spawn(cmd, args, ...rest) {
    const id = ++ids;
    const argv = Array.isArray(args) ? args : [];
    log({ ev: 'spawn', id, cmd, args: argv.slice(0, 3), bwrap: argv.includes('bwrap') });
    const child = origSpawn.call(this, cmd, args, ...rest);
    log({ ev: 'spawned', id });
    child.once('exit', () => log({ ev: 'exit', id }));
    child.once('close', () => log({ ev: 'close', id }));
    return child;
  };

  // execFile and the sync forms call child_process's own spawn, not the export wrapped above: wrapped too (the
  // systemd backend runs systemctl through them).
  const origExecFile = cp.execFile;
  cp.execFile = function execFile(cmd, args, ...rest) {
    const id = ++ids;
    log({ ev: 'spawn', id, cmd, args: Array.isArray(args) ? args.slice(0, 3) : [] });
    const child = origExecFile.call(this, cmd, args, ...rest);
    log({ ev: 'spawned', id });
    child.once('exit', () => log({ ev: 'exit', id }));
    child.once('close', () => log({ ev: 'close', id }));
    return child;
  };
  for (const name of ['execFileSync', 'spawnSync']) {
    const orig = cp[name];
    cp[name] = function traced(cmd, args, ...rest) {
      const id = ++ids;
      log({ ev: 'spawn', id, cmd, args: Array.isArray(args) ? args.slice(0, 3) : [] });
      try {
        return orig.call(this, cmd, args, ...rest);
      } finally {
        log({ ev: 'spawned', id });
        log({ ev: 'exit', id });
        log({ ev: 'close', id });
      }
    };
  }

  for (const name of ['mkdirSync', 'writeFileSync', 'rmdirSync', 'readdirSync', 'readFileSync', 'existsSync']) {
    const orig = fs[name];
    fs[name] = function traced(p, ...rest) {
      if (typeof p !== 'string' || !p.startsWith('/sys/fs/cgroup')) return orig.call(this, p, ...rest);
      const t0 = now();
      try {
        return orig.call(this, p, ...rest);
      } finally {
        writeSync(fd, `${JSON.stringify({ ev: 'cgroup', op: name, path: p, pid: process.pid, t: t0, ms: now() - t0 })}\n`);
      }
    };
  }
  // niso's bundle imports these as ESM named exports; make those see the wrappers.
  syncBuiltinESMExports();
  process.on('exit', () => log({ ev: 'process-exit' }));
}
