// Issue 17's start path on the systemd backend, inside a booted systemd 252 (systemd-nspawn, as the systemd tests boot
// it; PID 1 here is not systemd): how soon the template node app answers its first HTTP 200 after `niso activate -p …
// --wait` and when that command returns, against the floor, `systemctl start` of a plain unit that runs the same app
// with the same node (no sandbox, no network namespace, no mapped port); `systemctl start` of the unit niso wrote (its
// sandbox and network without niso's CLI); and `niso list` / `niso status` with 20 services against `node -e 0` and
// `systemctl list-units`. Every time is taken inside the machine by bench/lib/start-probe.ts, so nsenter's own start
// is not counted. NODE_EXTRA_CA_CERTS is unset for all of it (it costs every node start ~75 ms; see run-start.md).
// Writes bench/results/systemd.md. Knobs: BENCH_RUNS (rounds, 10), BENCH_SERVICES (20), BENCH_BASE (a checkout of an
// earlier niso, built: its activate and unit start are timed in the same rounds, in a machine and NISO_ROOT of their
// own, since niso-recover.service is one per host).
import { chmodSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootMachine, type Machine } from '../test/helpers/nspawn.js';
import { removeTestDir } from '../test/helpers/tmp.js';
import { intEnv } from './lib/env.js';
import { loadNow, machineFacts, machineRows, writeReport } from './lib/machine.js';
import { cleanupOnInterrupt } from './lib/proc.js';
import { fmtMs, fmtRatio, fmtSummary, mdTable, summarize, type Summary } from './lib/stats.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(repo, 'bin/niso');
const PROBE = join(repo, 'bench/lib/start-probe.ts');
const ROUNDS = intEnv('BENCH_RUNS', 10);
const SERVICES = intEnv('BENCH_SERVICES', 20);
const WARMUP = 1;
const FLOOR_PORT = 3900;
const NISO_PORT = 3901;
/** BENCH_READS_ONLY=1: only the read commands (issue 17's row), into a file of their own (systemd-reads.md). */
const READS_ONLY = process.env.BENCH_READS_ONLY === '1';
const RESULT = join(repo, READS_ONLY ? 'bench/results/systemd-reads.md' : 'bench/results/systemd.md');
const log = (s: string) => process.stderr.write(`${s}\n`);

delete process.env.NODE_EXTRA_CA_CERTS;

interface Probe { exitMs: number; code: number | null; firstOkMs: number | null; stderr: string }

const BASE = process.env.BENCH_BASE ? resolve(process.env.BENCH_BASE) : null;

let m: Machine | null = null;
let mb: Machine | null = null;
let dir = '';
let root = '';
let rootBase = '';

async function cleanup(): Promise<void> {
  if (m) { await m.shutdown(); m = null; }
  if (mb) { await mb.shutdown(); mb = null; }
  if (dir) { await removeTestDir(dir); dir = ''; }
}

/** niso on the host (init, pack, install), in the work dir. */
function hostNiso(args: string[], bin = BIN, r0 = root): void {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: r0 } });
  if (r.status !== 0) throw new Error(`niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
}

/** niso in the machine, untimed (`base`: the earlier build, in its own machine and root). */
async function nisoIn(args: string[], base = false): Promise<string> {
  const r = await (base ? mb! : m!).run('env', ['-u', 'TERM', `NISO_ROOT=${base ? rootBase : root}`, process.execPath, base ? join(BASE!, 'bin/niso') : BIN, ...args], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`niso ${args.join(' ')} (in the machine) failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** One timed command in the machine (start-probe.ts), with the first 200 on `port` when given. */
async function probe(port: number | null, cmd: string[], machine = m!): Promise<Probe> {
  const r = await machine.run('sh', ['-c', `cd ${repo} && exec "$0" --import tsx "$@"`, process.execPath, PROBE, port === null ? '-' : String(port), '--', ...cmd], { timeoutMs: 120_000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  let p: Probe;
  try { p = JSON.parse(line) as Probe; } catch { throw new Error(`the probe said no result (exit ${r.code}):\n${r.stderr}${r.stdout}`); }
  if (p.code !== 0) throw new Error(`${cmd.join(' ')} exited ${p.code} in the machine:\n${p.stderr}`);
  if (port !== null && p.firstOkMs === null) throw new Error(`${cmd.join(' ')}: no HTTP 200 on port ${port}:\n${p.stderr}`);
  return p;
}

const niso = (args: string[], base = false) => ['env', '-u', 'TERM', `NISO_ROOT=${base ? rootBase : root}`, process.execPath, base ? join(BASE!, 'bin/niso') : BIN, ...args];

interface Samples { [row: string]: number[] }

async function main(): Promise<void> {
  const facts = machineFacts(repo);
  const uninstall = cleanupOnInterrupt(cleanup, log);
  dir = mkdtempSync('/var/tmp/niso-bench-systemd-');
  chmodSync(dir, 0o755);
  root = join(dir, 'root');
  hostNiso(['init', '--template', 'node', '--name', 'app', 'app']);
  hostNiso(['pack', 'app', '-o', 'app.niso', '-q']);
  hostNiso(['install', 'app.niso']);
  m = await bootMachine({ binds: [dir], bindsRo: [repo, '/etc/ssl'], privateNetwork: true, limits: true });
  log(`machine ${m.name} booted in ${m.bootMs.toFixed(0)} ms`);
  if (BASE) {
    rootBase = join(dir, 'root-base');
    hostNiso(['install', 'app.niso'], join(BASE, 'bin/niso'), rootBase);
    mb = await bootMachine({ binds: [dir], bindsRo: [repo, BASE, '/etc/ssl'], privateNetwork: true, limits: true });
    log(`machine ${mb.name} (the earlier build, ${BASE}) booted in ${mb.bootMs.toFixed(0)} ms`);
  }
  await m.installUnits([{
    name: 'bench-floor.service',
    text: `[Unit]\nDescription=bench floor: the template app with the host's node, no sandbox\n[Service]\nEnvironment=PORT=${FLOOR_PORT}\nExecStart=${process.execPath} ${join(dir, 'app/server.js')}\n`,
  }]);
  const t: Samples = {};
  const add = (row: string, ms: number) => { (t[row] ??= []).push(ms); };
  const sysd = (...a: string[]) => ['systemctl', ...a];

  for (let round = 0; round < (READS_ONLY ? 0 : WARMUP + ROUNDS); round++) {
    const keep = round >= WARMUP;
    // The order rotates, so that no variant always follows the same one.
    const variants: (() => Promise<void>)[] = [
      async () => {
        const p = await probe(FLOOR_PORT, sysd('start', 'bench-floor.service'));
        if (keep) { add('floor first 200', p.firstOkMs!); add('floor systemctl returns', p.exitMs); }
        await m!.ok('systemctl', ['stop', 'bench-floor.service']);
      },
      async () => {
        const p = await probe(NISO_PORT, niso(['activate', 'app', '--name', 'svc', '-p', `127.0.0.1:${NISO_PORT}:3000`, '--wait']));
        if (keep) { add('activate first 200', p.firstOkMs!); add('activate returns', p.exitMs); }
        await nisoIn(['deactivate', 'svc']);
        // niso's own unit, started by systemd alone: the sandbox and the network unit, without niso's CLI.
        const u = await probe(NISO_PORT, sysd('start', 'niso-svc.service'));
        if (keep) { add('unit first 200', u.firstOkMs!); add('unit systemctl returns', u.exitMs); }
        await nisoIn(['deactivate', 'svc']);
        await nisoIn(['remove', 'svc']);
      },
    ];
    if (BASE) {
      variants.push(async () => {
        const p = await probe(NISO_PORT, niso(['activate', 'app', '--name', 'svc', '-p', `127.0.0.1:${NISO_PORT}:3000`, '--wait'], true), mb!);
        if (keep) { add('base activate first 200', p.firstOkMs!); add('base activate returns', p.exitMs); }
        await nisoIn(['deactivate', 'svc'], true);
        const u = await probe(NISO_PORT, sysd('start', 'niso-svc.service'), mb!);
        if (keep) { add('base unit first 200', u.firstOkMs!); add('base unit systemctl returns', u.exitMs); }
        await nisoIn(['deactivate', 'svc'], true);
        await nisoIn(['remove', 'svc'], true);
      });
    }
    for (let i = 0; i < variants.length; i++) await variants[(i + round) % variants.length]!();
    log(`round ${round + 1}/${WARMUP + ROUNDS}${keep ? '' : ' (warm-up)'} done; load ${loadNow()}`);
  }

  // The read commands with SERVICES services defined and running (no network of their own: the count is what matters).
  for (let i = 1; i <= SERVICES; i++) await nisoIn(['activate', 'app', '--name', `s${i}`, '--network', 'none']);
  log(`${SERVICES} services active; load ${loadNow()}`);
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    const keep = round >= WARMUP;
    const reads: [string, string[]][] = [
      ['node -e 0', [process.execPath, '-e', '0']],
      ['niso list', niso(['list'])],
      ['niso list --json', niso(['list', '--json'])],
      ['niso status s1', niso(['status', 's1'])],
      ...(READS_ONLY ? [['niso status', niso(['status'])], ['niso --version', niso(['--version'])]] as [string, string[]][] : []),
      ['systemctl list-units', sysd('list-units', '--no-pager', 'niso-*')],
    ];
    for (let i = 0; i < reads.length; i++) {
      const [row, cmd] = reads[(i + round) % reads.length]!;
      const p = await probe(null, cmd);
      if (keep) add(row, p.exitMs);
    }
  }
  const loadEnd = loadNow();
  for (let i = 1; i <= SERVICES; i++) await nisoIn(['deactivate', `s${i}`]);
  const bootMs = m.bootMs;
  const baseCommit = BASE ? spawnSync('git', ['-C', BASE, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || BASE : null;
  await cleanup();
  uninstall();

  const s = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, summarize(v)])) as Record<string, Summary>;
  const med = (k: string) => s[k]!.median;
  /** This build's median against the earlier build's, in words that stay right either way. */
  const versus = (base: number, now: number) => (now <= base ? `this build ${fmtMs(base - now)} sooner (base/this ${fmtRatio(base, now)})` : `this build ${fmtMs(now - base)} later (this/base ${fmtRatio(now, base)})`);
  const reads = (keys: readonly string[]) => keys.map((k) => [`\`${k}\`${k === 'niso --version' ? '' : ` with ${SERVICES} services`}`, fmtSummary(s[k]!), `\`node -e 0\`: ${fmtSummary(s['node -e 0']!)}; \`systemctl list-units\`: ${fmtMs(med('systemctl list-units'))}`, fmtRatio(med(k), med('node -e 0')), k === 'niso --version' ? '' : `≤ 1.5× \`node -e 0\`: ${med(k) <= 1.5 * med('node -e 0') ? 'met' : '**not met**'}`]);
  if (READS_ONLY) {
    writeReport(RESULT, [
      '# The read commands on the systemd backend',
      '',
      `Made by \`BENCH_READS_ONLY=1 npm run bench:systemd\` (bench/systemd.ts) on ${facts.date}. Inside a systemd 252 booted with systemd-nspawn, ${SERVICES} services of the template node app active (\`--network none\`); every time is measured inside the machine from the command's spawn to its exit (bench/lib/start-probe.ts). ${ROUNDS} rounds after ${WARMUP} warm-up, in a rotating order; cells are the **median** (min–max, n). NODE_EXTRA_CA_CERTS unset.`,
      '',
      mdTable(['fact', 'value'], [...machineRows(facts), ['machine boot', fmtMs(bootMs)], ['load average (1/5/15 min): start; end of timing', `${facts.loadStart}; ${loadEnd}`]]),
      '',
      mdTable(['what', 'niso', 'floor / peer', 'ratio', 'aim (issue 17)'], reads(['niso --version', 'niso list', 'niso list --json', 'niso status s1', 'niso status'])),
      '',
    ].join('\n'));
    return;
  }
  const rows = [
    ['first HTTP 200 after `niso activate -p 127.0.0.1:P:3000 --wait` (a new service: defined, unit written, network unit, sandbox)', fmtSummary(s['activate first 200']!), `\`systemctl start\` of a plain unit running the same app: ${fmtSummary(s['floor first 200']!)}`, `${fmtRatio(med('activate first 200'), med('floor first 200'))}; +${fmtMs(med('activate first 200') - med('floor first 200'))}`, `≤ floor + 60 ms: ${med('activate first 200') - med('floor first 200') <= 60 ? 'met' : '**not met**'}`],
    ['`niso activate --wait` returns', fmtSummary(s['activate returns']!), `its first 200: ${fmtMs(med('activate first 200'))}`, `+${fmtMs(med('activate returns') - med('activate first 200'))}`, `≤ first 200 + 20 ms: ${med('activate returns') - med('activate first 200') <= 20 ? 'met' : '**not met**'}`],
    ['first HTTP 200 after `systemctl start niso-svc.service` (niso\'s unit: network unit, sandbox; no niso CLI)', fmtSummary(s['unit first 200']!), `the plain unit: ${fmtSummary(s['floor first 200']!)}`, `${fmtRatio(med('unit first 200'), med('floor first 200'))}; +${fmtMs(med('unit first 200') - med('floor first 200'))}`, ''],
    ...(BASE ? [
      [`the earlier build (${baseCommit}), same rounds: first HTTP 200 after \`niso activate … --wait\``, fmtSummary(s['base activate first 200']!), `this build: ${fmtMs(med('activate first 200'))}`, versus(med('base activate first 200'), med('activate first 200')), ''],
      [`the earlier build (${baseCommit}): first HTTP 200 after \`systemctl start niso-svc.service\``, fmtSummary(s['base unit first 200']!), `this build: ${fmtMs(med('unit first 200'))}`, versus(med('base unit first 200'), med('unit first 200')), ''],
      [`the earlier build (${baseCommit}): \`niso activate --wait\` returns`, fmtSummary(s['base activate returns']!), `this build: ${fmtMs(med('activate returns'))}`, '', ''],
    ] : []),
    ['`systemctl start` returns: niso\'s unit / the plain unit', `${fmtSummary(s['unit systemctl returns']!)}`, fmtSummary(s['floor systemctl returns']!), fmtRatio(med('unit systemctl returns'), med('floor systemctl returns')), ''],
    ...reads(['niso list', 'niso list --json', 'niso status s1']),
  ];
  const report = [
    '# The start path on the systemd backend',
    '',
    `Made by \`npm run bench:systemd\` (bench/systemd.ts) on ${facts.date}. Inside a systemd 252 booted with systemd-nspawn (its own network namespace), as the systemd backend's tests boot it; the template node app (\`niso init --template node\`). Every time is measured inside the machine from the command's spawn (bench/lib/start-probe.ts: its exit, and the first HTTP 200 on 127.0.0.1 polled every millisecond). ${ROUNDS} rounds after ${WARMUP} warm-up, the variants in a rotating order; cells are the **median** (min–max, n). NODE_EXTRA_CA_CERTS unset.`,
    '',
    mdTable(['fact', 'value'], [
      ...machineRows(facts),
      ['machine boot', fmtMs(bootMs)],
      ['load average (1/5/15 min): start; end of timing', `${facts.loadStart}; ${loadEnd}`],
    ]),
    '',
    mdTable(['what', 'niso', 'floor / peer', 'ratio', 'aim (issue 17)'], rows),
    '',
  ].join('\n');
  writeReport(RESULT, report);
}

main().catch(async (e) => {
  log(e instanceof Error ? e.stack ?? e.message : String(e));
  await cleanup().catch(() => undefined);
  process.exit(1);
});
