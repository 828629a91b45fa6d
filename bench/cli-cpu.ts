// niso's own CPU per CLI command on the systemd backend (issue 17: "CLI ~500 ms on systemd activate"): inside a booted
// systemd 252 (systemd-nspawn, as the systemd tests boot it), each round runs activate -p … --wait, status, restart,
// deactivate and remove --volumes of the template node app, and every niso process records its own CPU time at exit
// (bench/lib/cpu-at-exit.mjs: process.cpuUsage(), children not counted), the internal commands that the units run too
// (__after-exit, __health-check, __net-down). Each build runs through an entry file of the bench's that imports the
// hook and then the build's dist/niso.mjs: the units run niso by the entry it was started with, and NODE_OPTIONS in the
// manager's environment would reach the apps too (a systemd service's app is not started by bwrap --clearenv). With
// BENCH_BASE (a built checkout of an earlier niso) the same rounds run that build in a machine of its own, the two
// interleaved in a rotating order, so that both meet the same load. `node -e 0` with the same preload is the floor.
// BENCH_EMBEDDED=1: the same rounds on this host with the embedded backend (no machine), into cli-cpu-embedded.md.
// Writes bench/results/cli-cpu.md. Knobs: BENCH_RUNS (rounds, 6), BENCH_BASE, BENCH_PROFILE_DIR (also writes V8 CPU
// profiles of this build's commands there: node bench/lib/cpuprofile-summary.mjs DIR reads them).
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootMachine, exec, type Machine } from '../test/helpers/nspawn.js';
import { freePort } from '../test/helpers/ports.js';
import { removeServicesAndTestDir, removeTestDir } from '../test/helpers/tmp.js';
import { intEnv } from './lib/env.js';
import { loadNow, machineFacts, machineRows, writeReport } from './lib/machine.js';
import { cleanupOnInterrupt } from './lib/proc.js';
import { fmtMs, fmtRatio, fmtSummary, mdTable, summarize } from './lib/stats.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HOOK = join(repo, 'bench/lib/cpu-at-exit.mjs');
const ROUNDS = intEnv('BENCH_RUNS', 6);
const BASE = process.env.BENCH_BASE ? resolve(process.env.BENCH_BASE) : null;
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR ? resolve(process.env.BENCH_PROFILE_DIR) : null;
const EMBEDDED = process.env.BENCH_EMBEDDED === '1';
const RESULT = join(repo, EMBEDDED ? 'bench/results/cli-cpu-embedded.md' : 'bench/results/cli-cpu.md');
let PORT = 3902;
const log = (s: string) => process.stderr.write(`${s}\n`);

delete process.env.NODE_EXTRA_CA_CERTS;

interface Build { key: 'new' | 'base'; label: string; bin: string; root: string; cpuFile: string; m: Machine | null; entry: string }

let dir = '';
const builds: Build[] = [];

async function cleanup(): Promise<void> {
  for (const b of builds) if (b.m) { await b.m.shutdown(); b.m = null; }
  // The embedded rounds end with the services removed; what a failed round left goes with its root.
  if (EMBEDDED) for (const b of builds) await removeServicesAndTestDir(dirname(b.root), b.root, (a) => spawnSync(process.execPath, [b.bin, ...a], { env: { ...process.env, NISO_ROOT: b.root } }), { state: true }).catch(() => undefined);
  if (dir) { await removeTestDir(dir); dir = ''; }
}

/** niso on the host (init, pack, install) with one build, into its root. */
function hostNiso(args: string[], bin: string, root: string): void {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root } });
  if (r.status !== 0) throw new Error(`niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
}

/** One niso command in the build's machine, its CPU recorded by the preload; `profile`: V8 profile into that dir too. */
async function nisoIn(b: Build, args: string[], profile?: string): Promise<void> {
  const prof = profile && PROFILE_DIR && b.key === 'new' ? ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, profile)}`] : [];
  const run = (cmd: string, a: string[], o: { timeoutMs: number }) => (b.m ? b.m.run(cmd, a, o) : exec(cmd, a, o));
  const r = await run('env', ['-u', 'TERM', `NISO_ROOT=${b.root}`, `NISO_BENCH_CPU=${b.cpuFile}`, process.execPath, ...prof, b.entry, ...args], { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`niso ${args.join(' ')} (${b.key}) exited ${r.code}:\n${r.stderr}${r.stdout}`);
}

/** The records of one build's file: command name → CPU ms of each process. */
function records(b: Build): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (!existsSync(b.cpuFile)) return out;
  for (const line of readFileSync(b.cpuFile, 'utf8').split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line) as { argv: string[]; cpuMs: number };
    // argv: [script, verb, ...] for niso; ['-e'?] for the floor (node -e 0 has no script).
    const isNiso = /\/niso(\.mjs)?$/.test(r.argv[0] ?? '');
    const key = isNiso ? (r.argv[1] ?? '?') : 'node -e 0';
    (out.get(key) ?? out.set(key, []).get(key)!).push(r.cpuMs);
  }
  return out;
}

async function main(): Promise<void> {
  const facts = machineFacts(repo);
  const uninstall = cleanupOnInterrupt(cleanup, log);
  dir = mkdtempSync('/var/tmp/niso-bench-cli-cpu-');
  chmodSync(dir, 0o755);
  hostNiso(['init', '--template', 'node', '--name', 'app', 'app'], join(repo, 'bin/niso'), join(dir, 'root'));
  hostNiso(['pack', 'app', '-o', 'app.niso', '-q'], join(repo, 'bin/niso'), join(dir, 'root'));
  builds.push({ key: 'new', label: `this build (${facts.git})`, bin: join(repo, 'bin/niso'), root: join(dir, 'root'), cpuFile: join(dir, 'cpu-new.jsonl'), m: null, entry: join(dir, 'new/niso.mjs') });
  if (BASE) builds.push({ key: 'base', label: `base (${spawnSync('git', ['-C', BASE, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || BASE})`, bin: join(BASE, 'bin/niso'), root: join(dir, 'root-base'), cpuFile: join(dir, 'cpu-base.jsonl'), m: null, entry: join(dir, 'base/niso.mjs') });
  for (const b of builds) {
    // Named niso.mjs: main.ts runs only as an entry of that name.
    mkdirSync(dirname(b.entry));
    writeFileSync(b.entry, `import ${JSON.stringify(HOOK)};\nimport ${JSON.stringify(join(dirname(dirname(b.bin)), 'dist/niso.mjs'))};\n`);
  }
  if (PROFILE_DIR) { mkdirSync(PROFILE_DIR, { recursive: true }); chmodSync(PROFILE_DIR, 0o777); }
  if (EMBEDDED) PORT = await freePort();
  for (const b of builds) {
    hostNiso(['install', 'app.niso'], b.bin, b.root);
    if (EMBEDDED) continue;
    b.m = await bootMachine({ binds: [dir, ...(PROFILE_DIR ? [PROFILE_DIR] : [])], bindsRo: [repo, ...(BASE ? [BASE] : []), '/etc/ssl'], privateNetwork: true, limits: true });
    // Where the units' niso commands (started by the entry above) record.
    await b.m.ok('systemctl', ['set-environment', `NISO_BENCH_CPU=${b.cpuFile}`]);
    log(`${b.key}: machine ${b.m.name} booted in ${b.m.bootMs.toFixed(0)} ms`);
  }
  const loadStart = loadNow();
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < builds.length; i++) {
      const b = builds[(i + round) % builds.length]!;
      const p = (verb: string) => `${verb}-${round}`;
      const floor = await (b.m ? b.m.run.bind(b.m) : exec)('env', [`NISO_BENCH_CPU=${b.cpuFile}`, process.execPath, `--import=${HOOK}`, '-e', '0']);
      if (floor.code !== 0) throw new Error(`node -e 0: ${floor.stderr}`);
      await nisoIn(b, ['activate', 'app', '--name', 'svc', '-p', `127.0.0.1:${PORT}:3000`, '--wait'], p('activate'));
      await nisoIn(b, ['status', 'svc'], p('status'));
      await nisoIn(b, ['restart', 'svc'], p('restart'));
      await nisoIn(b, ['deactivate', 'svc'], p('deactivate'));
      await nisoIn(b, ['remove', 'svc', '--volumes'], p('remove'));
    }
    log(`round ${round + 1}/${ROUNDS}; load ${loadNow()}`);
  }
  // The exit units of the last stop run after deactivate returned: wait until they have written.
  await new Promise((r) => setTimeout(r, 3000));
  const loadEnd = loadNow();
  const recs = new Map(builds.map((b) => [b.key, records(b)]));
  const keyOrder = ['node -e 0', 'status', 'activate', 'restart', 'deactivate', 'remove', '__after-exit', '__health-check', '__net-down', '__net-up'];
  const seen = new Set<string>();
  for (const r of recs.values()) for (const k of r.keys()) seen.add(k);
  const keys = [...keyOrder.filter((k) => seen.has(k)), ...[...seen].filter((k) => !keyOrder.includes(k)).sort()];
  const aims: Record<string, number> = { deactivate: 300, remove: 300, activate: 400, '__after-exit': 150, '__health-check': 150, '__net-down': 150, '__net-up': 150 };
  const rows = keys.map((k) => {
    const n = recs.get('new')!.get(k);
    const bse = recs.get('base')?.get(k);
    const sn = n && n.length > 0 ? summarize(n) : null;
    const sb = bse && bse.length > 0 ? summarize(bse) : null;
    const floor = recs.get('new')!.get('node -e 0');
    const aim = aims[k];
    return [
      k === 'node -e 0' ? '`node -e 0` (the floor)' : `\`niso ${k}\``,
      sn ? fmtSummary(sn) : '—',
      ...(BASE ? [sb ? fmtSummary(sb) : '—', sn && sb ? `${fmtMs(sb.median - sn.median)} less (base/this ${fmtRatio(sb.median, sn.median)})` : ''] : []),
      sn && floor && k !== 'node -e 0' ? fmtRatio(sn.median, summarize(floor).median) : '',
      aim === undefined ? '' : `≤ ${aim} ms: ${sn && sn.median <= aim ? 'met' : '**not met**'}`,
    ];
  });
  await cleanup();
  uninstall();
  writeReport(RESULT, [
    `# niso's own CPU per command on the ${EMBEDDED ? 'embedded' : 'systemd'} backend`,
    '',
    `Made by \`${EMBEDDED ? 'BENCH_EMBEDDED=1 ' : ''}npm run bench:cli-cpu\` (bench/cli-cpu.ts) on ${facts.date}. ${EMBEDDED ? 'On this host, the embedded backend (its supervisor, a node process, records at its exit)' : 'Inside a systemd 252 booted with systemd-nspawn (its own network namespace)'}, ${ROUNDS} rounds of \`activate app --name svc -p 127.0.0.1:${PORT}:3000 --wait\`, \`status svc\`, \`restart svc\`, \`deactivate svc\`, \`remove svc --volumes\` of the template node app${BASE ? `, this build and the base each in ${EMBEDDED ? 'a NISO_ROOT' : 'a machine'} of its own, interleaved in a rotating order` : ''}. Each cell is the CPU time of the niso process itself (process.cpuUsage() at exit through bench/lib/cpu-at-exit.mjs: user + system of node, its children such as systemctl not counted), **median** (min–max, n); the internal commands are the ones the units ran meanwhile (their n differs). NODE_EXTRA_CA_CERTS unset.`,
    '',
    mdTable(['fact', 'value'], [...machineRows(facts), ['load average (1/5/15 min): start of timing; end', `${loadStart}; ${loadEnd}`]]),
    '',
    mdTable(['command', builds[0]!.label, ...(BASE ? [builds[1]!.label, 'this build against the base'] : []), 'against `node -e 0`', 'aim (issue 17)'], rows),
    '',
  ].join('\n'));
}

main().catch(async (e) => {
  log(e instanceof Error ? e.stack ?? e.message : String(e));
  await cleanup().catch(() => undefined);
  process.exit(1);
});
