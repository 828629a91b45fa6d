// What the built CLI loads to show services and packages (issue 17: `niso status` and `niso list` should cost little
// more than node's own start): neither commander nor the declarations of every command, nor cli-table3 for --json,
// nor the start path (supervisor, launch, network, sandbox, switch engine), nor zod or a TOML parser. The start
// path loads only when status has something to set right: here, a supervisor that was killed is started again.
// Asserts the modules loaded, as bench/lib/list-modules.mjs lists them; no timing.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeServicesAndTestDir, writeTree } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';
import { processStartTimeSync } from '../../src/host/liveness.js';

const REPO = join(import.meta.dirname, '../..');
const BIN = join(REPO, 'bin/niso');
const HOOK = join(REPO, 'bench/lib/list-modules.mjs');

// Not tempDir(): its own after hook would delete the root before the services are stopped (the after hook below);
// sandboxes of this file outlived it that way.
const dir = mkdtempSync(join(tmpdir(), 'niso-read-modules-'));
chmodSync(dir, 0o755);
const root = join(dir, 'root');
const env: NodeJS.ProcessEnv = { ...process.env, NISO_ROOT: root };
delete env.NODE_EXTRA_CA_CERTS;
let seq = 0;

function niso(args: string[], list?: string) {
  const r = spawnSync(process.execPath, [...(list ? ['--import', HOOK] : []), BIN, ...args], { env: { ...env, ...(list ? { NISO_BENCH_MODULES: list } : {}) }, encoding: 'utf8' });
  assert.equal(r.status, 0, `niso ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** The sources bundled into the files `niso ARGS` loaded (esbuild names each above its code), and what it printed. */
function loaded(args: string[]): { sources: string[]; stdout: string } {
  const list = join(dir, `modules-${seq++}.jsonl`);
  const r = niso(args, list);
  const lines = readFileSync(list, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { url: string; pid: number });
  // Only the CLI's own modules: a supervisor it started shares the file.
  const files = lines.filter((l) => l.pid === lines[0]!.pid).map((l) => fileURLToPath(l.url));
  assert.ok(files.some((f) => f.endsWith('dist/niso.mjs')), 'the built CLI ran (npm run build)');
  const sources = files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/^\/\/ (node_modules\/\S+|src\/\S+)$/gm)].map((m) => m[1]!));
  return { sources, stdout: r.stdout };
}

const supervisorPid = () => { try { return (JSON.parse(readFileSync(join(root, 'run/niso/supervisor.json'), 'utf8')) as { pid: number }).pid; } catch { return null; } };
// A zombie (this host's PID 1 reaps nothing) has exited.
const alive = (pid: number | null) => pid !== null && processStartTimeSync(pid) !== null;

after(() => removeServicesAndTestDir(dir, root, (a) => spawnSync(process.execPath, [BIN, ...a], { env, encoding: 'utf8' })));

const HEAVY = /^node_modules\/(commander|zod|toml-eslint-parser|smol-toml)\/|^src\/(net|plan|sandbox\/(spawn|prepare|run-sandbox)|service\/(supervisor|launch|ops|net|hooks|systemd\/net)\.|generation\/switch\.|cli\/program\.)/;

test('niso status and niso list load only what they show; the start path only to bring a killed supervisor back', async () => {
  await writeTree(join(dir, 'app'), {
    'manifest.toml': '[package]\nname = "idle"\nversion = "1.0.0"\narch = "any"\n\n[binary]\nentrypoint = "run.sh"\n\n[isolation]\ntools = ["sh", "sleep"]\n',
    'run.sh': { content: '#!/bin/sh\nexec sleep 1000000\n', mode: 0o755 },
  });
  niso(['pack', join(dir, 'app'), '-o', join(dir, 'idle.niso'), '--no-sign', '-q']);
  niso(['install', join(dir, 'idle.niso')]);
  for (const n of ['rm-a', 'rm-b']) niso(['activate', 'idle', '--name', n, '--network', 'none', '--no-gate']);
  const first = supervisorPid();
  assert.ok(alive(first), 'activate started the supervisor');

  for (const args of [['status'], ['ps', '--json'], ['status', 'rm-a', '--json'], ['list'], ['ls', '--json']]) {
    const { sources, stdout } = loaded(args);
    assert.ok(sources.includes('src/service/view.ts'), `${args.join(' ')}: the status view is listed`);
    assert.deepEqual(sources.filter((s) => HEAVY.test(s)), [], `${args.join(' ')}: nothing of the parser or the start path`);
    // The table library only for a table.
    if (args.includes('--json')) assert.deepEqual(sources.filter((s) => s.startsWith('node_modules/cli-table3/')), [], `${args.join(' ')}: no table`);
    assert.match(stdout, /rm-a/, `${args.join(' ')}: it shows the service`);
  }
  // What it prints is what commander's path printed: the table, and JSON of the named service.
  assert.match(loaded(['status']).stdout, /^NAME +PACKAGE +STATE +HEALTH +PID +UPTIME +RESTARTS +PORTS +BACKEND\nrm-a +idle@1\.0\.0 +active +- +\d+ /);
  assert.equal((JSON.parse(loaded(['status', 'rm-b', '--json']).stdout) as { name: string; state: string }).state, 'active');
  assert.deepEqual((JSON.parse(loaded(['list', '--json']).stdout) as { name: string; services: string[] }[]).map((p) => [p.name, p.services]), [['idle', ['rm-a', 'rm-b']]]);

  // A killed supervisor: looking brings it back, and only then is its code loaded.
  process.kill(first!, 'SIGKILL');
  await until('the supervisor to die', () => !alive(first));
  const { sources } = loaded(['status']);
  assert.ok(sources.includes('src/service/supervisor.ts'), 'status loaded the supervisor to start it again');
  const second = supervisorPid();
  assert.ok(second !== first && alive(second), 'status started a new supervisor');

  // Other command lines still go through the full parser, with its errors.
  const bad = spawnSync(process.execPath, [BIN, 'status', '--bogus'], { env, encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /NISO9001: unknown option '--bogus'/);
  assert.match(niso(['status', '--help']).stdout, /^Usage: niso status/m);

  // The commands systemd's units run at every end of a service and every probe skip commander too, and load neither the
  // network code nor the sandbox's (here on embedded services, which they leave alone: what they load to find that out).
  for (const args of [['__after-exit', 'rm-a'], ['__health-check', 'rm-a'], ['__wait-dependencies', 'rm-a']]) {
    const { sources } = loaded(args);
    assert.ok(sources.includes('src/service/store.ts'), `${args.join(' ')}: it read the service's definition`);
    assert.deepEqual(sources.filter((s) => HEAVY.test(s) || /^src\/render\/(bwrap|seccomp)/.test(s)), [], `${args.join(' ')}: no parser, no start path`);
  }
});
