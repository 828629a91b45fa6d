// What the systemd end-to-end files share: a world-readable temp dir under /var/tmp (the services' own users read
// their packages from it), packages made on the host with `niso init --template node`, a systemd 252 booted in
// nspawn with that dir and this repo bound in, and the niso CLI run INSIDE the machine, where systemd is PID 1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTestDir } from './tmp.js';
import { bootMachine, type Exec, type Machine, type MachineOptions } from './nspawn.js';
import { parseTap, type TapResult } from './tap.js';

export const REPO = join(import.meta.dirname, '../..');
export const BIN = join(REPO, 'bin/niso');


export { sleep } from './wait.js';

export class SystemdE2E {
  dir = '';
  root = '';
  m: Machine | null = null;
  /** Figures the tests measured, printed when the machine goes. */
  readonly figures: Record<string, string> = {};

  constructor(private readonly prefix: string) {}

  /** The temp dir and its NISO_ROOT (call first, in before()). */
  makeDir(): void {
    this.dir = mkdtempSync(`/var/tmp/niso-${this.prefix}-e2e-`);
    chmodSync(this.dir, 0o755);
    this.root = join(this.dir, 'root');
  }

  /** The machine, with the temp dir bound writable and the repo and /etc/ssl read-only besides `opts`. */
  async boot(opts: MachineOptions = {}): Promise<Machine> {
    this.m = await bootMachine({ ...opts, binds: [this.dir, ...(opts.binds ?? [])], bindsRo: [REPO, '/etc/ssl', ...(opts.bindsRo ?? [])] });
    this.figures.bootMs ??= this.m.bootMs.toFixed(0);
    return this.m;
  }

  /** The machine shut down (its figures printed), then the temp dir removed (call in after()). */
  async cleanup(): Promise<void> {
    if (this.m) {
      const r = await this.m.shutdown();
      console.log(`# machine ${this.m.name}: shut down ${r.clean ? 'cleanly' : 'by SIGKILL'} in ${r.ms.toFixed(0)} ms; ${JSON.stringify(this.figures)}`);
      this.m = null;
    }
    if (this.dir) await removeTestDir(this.dir);
  }

  /** niso on the host (pack, install), in the temp dir. */
  readonly hostNiso = (args: string[]): string => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: this.dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: this.root } });
    assert.equal(r.status, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  /** A node package from `niso init --template node`: its manifest edited, files added, packed and installed. */
  nodePackage(name: string, opts: { manifest?: (text: string) => string; files?: Record<string, string> } = {}): void {
    this.hostNiso(['init', '--template', 'node', '--name', name, name]);
    const path = join(this.dir, name, 'manifest.toml');
    if (opts.manifest) writeFileSync(path, opts.manifest(readFileSync(path, 'utf8')));
    for (const [file, text] of Object.entries(opts.files ?? {})) writeFileSync(join(this.dir, name, file), text);
    this.hostNiso(['pack', name, '-o', `${name}.niso`, '-q']);
    this.hostNiso(['install', `${name}.niso`]);
  }

  /** The niso CLI inside the machine (stdin is /dev/null unless `input` is given; no TERM). */
  readonly niso = (args: string[], input?: string): Promise<Exec> =>
    this.m!.run('env', ['-u', 'TERM', `NISO_ROOT=${this.root}`, process.execPath, BIN, ...args], { timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) });

  readonly nisoOk = async (args: string[]): Promise<string> => {
    const r = await this.niso(args);
    assert.equal(r.code, 0, `niso ${args.join(' ')} (in the machine) failed:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  /** niso processes in the machine, other than the one asking (ps sees the machine's pid namespace). */
  readonly nisoProcesses = async (): Promise<string[]> =>
    (await this.m!.ok('ps', ['-eo', 'pid=,args='])).split('\n').filter((l) => l.includes(BIN));
}

export interface InsideRun { results: TapResult[]; failed: TapResult[]; skipped: TapResult[]; code: number | null; stdout: string; stderr: string }

/**
 * Runs a test file of the host's suite INSIDE the machine with NISO_E2E_BACKEND=systemd, where systemd is PID 1, and
 * judges nothing itself: the caller asserts on the TAP results. Each failure's own message is printed, short, since
 * an assertion shows only the start of a long diff.
 */
export async function suiteInside(m: Machine, file: string, what: string, timeoutMs: number, env: Record<string, string> = {}): Promise<InsideRun> {
  const t0 = performance.now();
  // The suite's temp dirs (its NISO_ROOTs) go below the machine's scratch dir, so that when it is cut short the
  // machine's shutdown finds and gives back their uid claims in the host's registry (see nspawn.ts, shutdown).
  const vars = [`TMPDIR=${m.scratch}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  const r = await m.run('sh', ['-c', `mkdir -p ${m.scratch} && cd ${REPO} && exec env -u NODE_TEST_CONTEXT NISO_E2E_BACKEND=systemd NODE_NO_WARNINGS=1 "$@" "$0" --import tsx --test --test-reporter=tap ${file}`, process.execPath, ...vars], { timeoutMs });
  const results = parseTap(r.stdout);
  const failed = results.filter((x) => !x.ok);
  const skipped = results.filter((x) => x.skip !== null);
  for (const x of failed) console.log(`# FAIL ${x.name}\n${x.detail.split('\n').filter((l) => !/^(duration_ms|location|failureType|code|name|operator|stack|Test\.|TestContext|process\.|async|expected|actual|generatedMessage)/.test(l)).slice(0, 12).map((l) => `#   ${l}`).join('\n')}`);
  console.log(`# systemd ${what}: ${results.length - failed.length} passed, ${failed.length} failed, ${skipped.length} skipped, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { results, failed, skipped, code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A host suite run unchanged against the systemd backend, as one test of the calling file: a machine booted for it
 * (the repository and the host's certificates read-only, cgroup limits, a private network), the suite run inside, and
 * every case of it passed, none skipped, exactly `cases` of them. Inside the machine the calling file is skipped.
 */
export function suiteOnSystemd(file: string, what: string, cases: number): void {
  const inside = process.env.NISO_E2E_BACKEND === 'systemd';
  let m: Machine | null = null;
  before(async () => {
    if (inside) return;
    m = await bootMachine({ bindsRo: [REPO, '/etc/ssl'], limits: true, privateNetwork: true });
  });
  after(async () => {
    if (m) await m.shutdown();
  });
  test(`the ${what} suite (${file.split('/').pop()}) holds against the systemd backend (in a booted systemd 252)`, { skip: inside && 'already inside the machine', timeout: 1_500_000 }, async () => {
    const { results, failed, skipped, code, stdout, stderr } = await suiteInside(m!, file, what, 1_440_000);
    assert.deepEqual(failed.map((x) => `${x.name}\n${x.detail}`), [], `failing cases on systemd:\n${stderr.slice(-3000)}`);
    assert.equal(code, 0, `the suite exited ${code}:\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
    assert.equal(results.length, cases, `${results.length} cases ran`);
    assert.deepEqual(skipped, []);
  });
}
