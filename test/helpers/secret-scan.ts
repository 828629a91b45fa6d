// Looks for secrets where other local users could read them: every process's command line (/proc/PID/cmdline, what
// `ps` shows) and environment (/proc/PID/environ, readable only to its own uid and root), files such as unit files,
// and `systemctl show`. The scan runs as an unprivileged uid (nobody, 65534) through setpriv, so it sees exactly what
// any other user sees; a control process of that uid proves that the scan finds what is readable.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';

export const NOBODY = 65534;

/** A value no test output or other process holds by chance. */
export const secret = (what: string) => `${what}-${randomBytes(8).toString('hex')}`;

// Run by node as nobody; what to look for arrives on stdin, so that the scanner's own argv holds none of it.
const SCAN = `
const fs = require('fs');
const { execFileSync } = require('child_process');
const q = JSON.parse(fs.readFileSync(0, 'utf8'));
const found = [];
const look = (where, text) => { for (const s of q.secrets) if (text.includes(s)) found.push(where + ': ' + s); };
let environs = 0;
for (const p of fs.readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n))) {
  if (p === String(process.pid)) continue;
  for (const f of ['cmdline', 'environ']) {
    let t; try { t = fs.readFileSync('/proc/' + p + '/' + f, 'latin1'); } catch { continue; }
    if (f === 'environ' && t !== '') environs++;
    look(f + ' of pid ' + p, t);
  }
}
look('ps -eo args', execFileSync('ps', ['-eo', 'args'], { encoding: 'latin1' }));
const walk = (d) => { let es; try { es = fs.readdirSync(d, { withFileTypes: true }); } catch { return; } for (const e of es) { const p = d + '/' + e.name; if (e.isDirectory()) walk(p); else if (e.isFile()) { try { look(p, fs.readFileSync(p, 'latin1')); } catch {} } } };
for (const d of q.dirs) walk(d);
for (const u of q.units) look('systemctl show ' + u, execFileSync('systemctl', ['show', '--', u], { encoding: 'latin1' }));
console.log(JSON.stringify({ uid: process.getuid(), found, environs }));
`;

export interface NobodyScan { uid: number; found: string[]; environs: number }

/**
 * What nobody can read of `secrets`: in any process's cmdline or environ, in `ps -eo args`, in the files below
 * `dirs`, and in `systemctl show UNIT`. Checked against a control: a process of nobody's own with a control
 * secret in its argv and environment must be found in both.
 */
export async function scanAsNobody(secrets: readonly string[], opts: { dirs?: string[]; units?: string[] } = {}): Promise<NobodyScan> {
  const control = { argv: secret('control-argv'), env: secret('control-env') };
  const asNobody = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--'];
  const c = spawn(asNobody[0]!, [...asNobody.slice(1), process.execPath, '-e', 'setTimeout(() => {}, 30000)', control.argv], { stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CONTROL: control.env } });
  try {
    await new Promise((r) => c.once('spawn', r));
    const r = spawnSync(asNobody[0]!, [...asNobody.slice(1), process.execPath, '-e', SCAN], {
      input: JSON.stringify({ secrets: [...secrets, control.argv, control.env], dirs: opts.dirs ?? [], units: opts.units ?? [] }), encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    assert.equal(r.status, 0, `the scan as nobody failed: ${r.stderr}`);
    const scan = JSON.parse(r.stdout) as NobodyScan;
    assert.equal(scan.uid, NOBODY);
    assert.ok(scan.found.some((f) => f.startsWith('cmdline') && f.endsWith(control.argv)), `the scan reads other processes' command lines: ${scan.found.join('; ')}`);
    assert.ok(scan.found.some((f) => f.startsWith('environ') && f.endsWith(control.env)), `the scan reads the environment of nobody's own processes: ${scan.found.join('; ')}`);
    return { ...scan, found: scan.found.filter((f) => !f.endsWith(control.argv) && !f.endsWith(control.env)) };
  } finally {
    c.kill('SIGKILL');
  }
}

/** uid of a process, from /proc (the owner of its directory). */
const uidOf = (pid: string) => statSync(`/proc/${pid}`).uid;

/**
 * As root: the processes whose environment or command line holds one of `secrets`, with their uid. What the app must
 * have, and what niso's own chain may hold only where other users cannot read it (root's or the app's own).
 */
export function holders(secrets: readonly string[]): { pid: number; uid: number; where: 'cmdline' | 'environ'; secret: string; argv0: string }[] {
  const out: { pid: number; uid: number; where: 'cmdline' | 'environ'; secret: string; argv0: string }[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n) && n !== String(process.pid))) {
    for (const where of ['cmdline', 'environ'] as const) {
      let t: string;
      try { t = readFileSync(`/proc/${p}/${where}`, 'latin1'); } catch { continue; }
      for (const s of secrets) {
        if (!t.includes(s)) continue;
        let argv0 = '';
        try { argv0 = readFileSync(`/proc/${p}/cmdline`, 'latin1').split('\0')[0] ?? ''; } catch { /* gone */ }
        try { out.push({ pid: Number(p), uid: uidOf(p), where, secret: s, argv0 }); } catch { /* gone */ }
      }
    }
  }
  return out;
}
