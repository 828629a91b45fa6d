// The conformance suite's machinery: builds the probes and their packages, runs them with the built niso CLI, gathers host facts, and judges results against expectations.ts.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Plan } from '../../src/plan/plan.js';
import { HOST_REGISTRY } from '../../src/sandbox/uids.js';
import type { Expect } from './expectations.js';

export const REPO = join(import.meta.dirname, '../..');
/** The CLI under test; NISO_CONFORMANCE_BIN points the suite at another build (or, later, another backend's). */
export const BIN = process.env.NISO_CONFORMANCE_BIN ?? join(REPO, 'bin/niso');
export const FIXTURES = join(REPO, 'test/fixtures/conformance');

export interface CheckResult { ok: boolean; errno?: string; value?: unknown }
export type Checks = Record<string, CheckResult>;

export interface Exec { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/** Runs a command without blocking the event loop (the test's own listeners must keep answering). */
export function exec(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 }); });
  });
}

/** Why the suite cannot run here, or false. */
export function skipReason(): string | false {
  if (process.platform !== 'linux') return 'Linux only';
  if (process.getuid?.() !== 0) return 'needs root (sandboxes run as per-service uids)';
  for (const tool of ['bwrap', 'setpriv', 'gcc']) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) return `${tool} is not installed`;
  }
  if (!existsSync(BIN)) return `${BIN} is missing: run npm run build`;
  return false;
}

/** Whether static linking works (libc6-dev ships libc.a). */
export function libcA(): boolean {
  const r = spawnSync('gcc', ['-print-file-name=libc.a'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim().startsWith('/') && existsSync(r.stdout.trim());
}

/**
 * Compiles the C probe, cached in the system temp dir by source and compiler: `static` when
 * libc.a exists (null otherwise) and `dynamic` always.
 */
export function buildProbe(): { static: string | null; dynamic: string } {
  const source = join(FIXTURES, 'probe.c');
  const gcc = spawnSync('gcc', ['--version'], { encoding: 'utf8' }).stdout;
  const key = createHash('sha256').update(readFileSync(source)).update(gcc).digest('hex').slice(0, 16);
  // A copy of the probe is made setuid root later, so the cache must be ours alone: a directory
  // someone else could have prepared in the shared temp dir is not used.
  const ours = (p: string) => {
    const st = lstatSync(p);
    return st.uid === process.getuid?.() && (st.mode & 0o022) === 0 && !st.isSymbolicLink();
  };
  let dir = join(tmpdir(), `niso-conformance-probe-${key}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (!ours(dir)) dir = mkdtempSync(join(tmpdir(), 'niso-conformance-probe-'));
  const build = (name: string, flags: string[]): string => {
    const out = join(dir, name);
    if (existsSync(out) && ours(out)) return out;
    const tmp = `${out}.${process.pid}`;
    const r = spawnSync('gcc', ['-O2', ...flags, '-o', tmp, source], { encoding: 'utf8' });
    assert.equal(r.status, 0, `gcc ${flags.join(' ')} failed:\n${r.stderr}`);
    renameSync(tmp, out);
    return out;
  };
  return { static: libcA() ? build('probe-static', ['-static']) : null, dynamic: build('probe-dynamic', []) };
}

export function niso(root: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Exec> {
  return exec(process.execPath, [BIN, ...args], { env: { NISO_ROOT: root, ...opts.env }, timeoutMs: opts.timeoutMs });
}

export function manifest(name: string, body: string): string {
  return `[package]\nname = "${name}"\nversion = "1.0.0"\n\n${body}`;
}

/**
 * Packs and installs a runtime-less package of a C probe binary, with two altered copies beside it
 * that the test then makes setuid root and gives file capabilities, as if they had slipped in.
 * Returns the store path.
 */
export async function installCProbe(root: string, work: string, name: string, binary: string): Promise<string> {
  const app = join(work, name);
  mkdirSync(join(app, 'bin'), { recursive: true });
  writeFileSync(join(app, 'manifest.toml'), manifest(name, '[binary]\nentrypoint = "bin/probe"\nargs = ["check"]\n'));
  const probe = readFileSync(binary);
  // Trailing bytes make the copies distinct files in the content pool, so the probe itself stays plain.
  writeFileSync(join(app, 'bin/probe-suid'), Buffer.concat([probe, Buffer.from('\0niso-conformance setuid copy\n')]), { mode: 0o755 });
  writeFileSync(join(app, 'bin/probe-fcaps'), Buffer.concat([probe, Buffer.from('\0niso-conformance fcaps copy\n')]), { mode: 0o755 });
  // `niso pack --binary` adds it as bin/<its name>.
  const named = join(work, `${name}-build`, 'probe');
  mkdirSync(join(work, `${name}-build`), { recursive: true });
  copyFileSync(binary, named);
  const path = await installApp(root, work, app, named);
  const suid = join(path, 'app/bin/probe-suid');
  chownSync(suid, 0, 0);
  chmodSync(suid, 0o4755);
  const caps = spawnSync('setcap', ['cap_sys_admin,cap_dac_override,cap_net_bind_service,cap_sys_ptrace+ep', join(path, 'app/bin/probe-fcaps')], { encoding: 'utf8' });
  if (caps.status !== 0) fileCapsMissing = caps.error ? 'setcap is not installed' : caps.stderr.trim();
  return path;
}

/** Set when the file-capabilities copy could not be made; its row is then skipped. */
export let fileCapsMissing: string | false = false;

/** Packs and installs the C probe asking for host programs (`[isolation] tools`); returns the store path. */
export async function installToolsProbe(root: string, work: string, name: string, binary: string, tools: readonly string[]): Promise<string> {
  const app = join(work, name);
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'manifest.toml'), manifest(name, `[binary]\nentrypoint = "bin/probe"\nargs = ["check"]\n\n[isolation]\ntools = ${JSON.stringify(tools)}\n`));
  const named = join(work, `${name}-build`, 'probe');
  mkdirSync(join(work, `${name}-build`), { recursive: true });
  copyFileSync(binary, named);
  return installApp(root, work, app, named);
}

export async function installNodeProbe(root: string, work: string, name: string): Promise<string> {
  const app = join(work, name);
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'manifest.toml'), manifest(name, '[runtime]\nuse = "nodejs:20"\n\n[binary]\nentrypoint = "node"\nargs = ["probe.js"]\n'));
  copyFileSync(join(FIXTURES, 'probe.js'), join(app, 'probe.js'));
  writeFileSync(join(app, 'package.json'), '{"type": "module"}\n');
  return installApp(root, work, app);
}

async function installApp(root: string, work: string, app: string, binary?: string): Promise<string> {
  const file = join(work, `${app.split('/').pop()}.niso`);
  const pack = await niso(root, ['pack', app, '-o', file, '--json', ...(binary ? ['--binary', binary] : [])]);
  assert.equal(pack.code, 0, pack.stderr);
  const inst = await niso(root, ['install', file, '--json']);
  assert.equal(inst.code, 0, inst.stderr);
  return (JSON.parse(inst.stdout) as { path: string }).path;
}

/**
 * Gives services fixed uids from the top of niso's range (skipping host accounts and uids another root claimed),
 * claimed in the host's registry as niso claims them (a whole file hard-linked to the uid's name, which fails when
 * taken) and written into niso's uid table before the first run, so that "no process of this uid is left" cannot be
 * confused by other test files' sandboxes, which get uids from the bottom of the range, nor by another file reserving
 * at the same time.
 */
export function reserveUids(root: string, services: string[]): void {
  const taken = new Set<number>();
  for (const f of ['/etc/passwd', '/etc/group']) {
    for (const line of readFileSync(f, 'utf8').split('\n')) taken.add(Number(line.split(':')[2]));
  }
  mkdirSync(HOST_REGISTRY.dir, { recursive: true, mode: 0o700 });
  const table: Record<string, number> = {};
  let id = HOST_REGISTRY.range.last - (process.pid % 400);
  for (const s of services) {
    const tmp = join(HOST_REGISTRY.dir, `.claim-${process.pid}-${s}`);
    writeFileSync(tmp, `${JSON.stringify({ root: resolve(root), service: s, since: new Date().toISOString() })}\n`, { mode: 0o644 });
    try {
      for (;;) {
        if (id < HOST_REGISTRY.range.first) throw new Error('no free uid left in niso\'s range to reserve');
        if (!taken.has(id)) {
          try { linkSync(tmp, join(HOST_REGISTRY.dir, String(id))); break; } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
        }
        id--;
      }
    } finally { unlinkSync(tmp); }
    table[s] = id--;
  }
  mkdirSync(join(root, 'var/lib/niso'), { recursive: true, mode: 0o755 });
  writeFileSync(join(root, 'var/lib/niso/users.json'), `${JSON.stringify({ services: table }, null, 2)}\n`);
}

/** The plan that `niso run` would carry out with these options. */
export async function planFor(root: string, runArgs: string[]): Promise<Plan> {
  const r = await niso(root, ['run', '--json', ...runArgs]);
  assert.equal(r.code, 0, `niso run --json ${runArgs.join(' ')}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { plan: Plan }).plan;
}

export function parseProbe(r: Exec, what: string): Checks {
  const start = r.stdout.indexOf('{');
  assert.ok(start >= 0, `${what} printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  const parsed = JSON.parse(r.stdout.slice(start)) as { checks?: Checks };
  assert.ok(parsed.checks, `${what}: no checks in ${r.stdout}`);
  // The host's interfaces as a probe on the host network sees them, without niso's own (above).
  const ifs = parsed.checks.net_interfaces as { value?: unknown } | undefined;
  if (ifs && Array.isArray(ifs.value)) ifs.value = (ifs.value as string[]).filter((n) => !NISO_INTERFACE.test(n));
  return parsed.checks;
}

/**
 * Live processes on the host whose real uid is `uid`. Zombies are dead and do not count: bwrap's
 * outer process exits without reaping the sandbox's init, which the host's pid 1 then reaps,
 * slowly on hosts whose pid 1 is not a real init.
 */
export function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      const m = /^Uid:\s+(\d+)/m.exec(status);
      if (m && Number(m[1]) === uid && !/^State:\s+Z/m.test(status)) pids.push(Number(name));
    } catch { /* exited */ }
  }
  return pids;
}

/** Cgroup directories of a service's runs, in v1 hierarchies and in v2. */
export function cgroupsOf(service: string): string[] {
  const base = '/sys/fs/cgroup';
  const roots = [join(base, 'niso')];
  try { for (const c of readdirSync(base)) roots.push(join(base, c, 'niso')); } catch { /* no cgroupfs */ }
  const left: string[] = [];
  for (const r of roots) {
    let names: string[];
    try { names = readdirSync(r); } catch { continue; }
    for (const n of names) if (n.startsWith(`${service}.`)) left.push(join(r, n));
  }
  return left;
}

/** Waits briefly for something that the kernel finishes asynchronously (reaping, cgroup removal). */
export async function settle<T>(read: () => T, done: (v: T) => boolean, ms = 2000): Promise<T> {
  const until = Date.now() + ms;
  let v = read();
  while (!done(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 25));
    v = read();
  }
  return v;
}

/** Interface names of the host's network namespace. */
/** niso's own bridges and veths come and go with the private networks of other runs. */
export const NISO_INTERFACE = /^(niso\d+|vn[0-9a-f]{8})$/;

export function hostInterfaces(): string[] {
  return readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter((n) => n && !NISO_INTERFACE.test(n));
}

export function nsInodes(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const ns of ['user', 'mnt', 'pid', 'ipc', 'uts', 'net', 'cgroup']) out[ns] = statSync(`/proc/self/ns/${ns}`).ino;
  return out;
}

export interface RefContext { plan: Plan; host: Record<string, unknown> }

/** "$plan.a.b" → the plan's value; "$envKeys" → the plan's variable names; "$host.x"; "$mounted:/path" → whether the plan mounts it. */
export function resolveRef(v: unknown, ctx: RefContext): unknown {
  if (Array.isArray(v)) return v.map((x) => resolveRef(x, ctx));
  if (typeof v !== 'string' || !v.startsWith('$')) return v;
  if (v === '$envKeys') return Object.keys(ctx.plan.command.env);
  if (v.startsWith('$mounted:')) return ctx.plan.mounts.some((m) => m.target === v.slice('$mounted:'.length));
  const [head, ...path] = v.slice(1).split('.');
  let cur: unknown = head === 'plan' ? ctx.plan : head === 'host' ? ctx.host : undefined;
  assert.ok(cur !== undefined, `unknown reference ${v}`);
  for (const k of path) cur = (cur as Record<string, unknown> | undefined)?.[k];
  assert.ok(cur !== undefined, `reference ${v} has no value`);
  return cur;
}

const REFUSED = ['EPERM', 'EACCES', 'ENOSYS'];

/** Paths allowed by the plan's mounts: targets, anything below them, and directories leading to them. */
function withinMounts(paths: string[], plan: Plan): string[] {
  const targets = plan.mounts.filter((m) => m.type === 'bind' || m.type === 'file').map((m) => m.target);
  return paths.filter((p) => {
    const isDir = p.endsWith('/');
    const path = isDir ? p.slice(0, -1) : p;
    if (targets.some((t) => path === t || path.startsWith(`${t}/`))) return false;
    if (isDir && targets.some((t) => t.startsWith(`${path}/`))) return false;
    return true;
  });
}

/** Asserts that a result meets an expectation; the message says what was seen. */
export function judge(expect: Exclude<Expect, null>, r: CheckResult | undefined, ctx: RefContext): void {
  assert.ok(r, 'the probe did not report this check');
  const seen = JSON.stringify(r);
  if (expect === 'ok') return assert.equal(r.ok, true, `expected success, got ${seen}`);
  if (expect === 'fails') return assert.equal(r.ok, false, `expected a failure, got ${seen}`);
  if (expect === 'hidden') return assert.ok(!r.ok && r.errno === 'ENOENT', `expected ENOENT (not visible), got ${seen}`);
  if (expect === 'refused') return assert.ok(!r.ok && REFUSED.includes(r.errno ?? ''), `expected a refusal (${REFUSED.join('/')}), got ${seen}`);
  if (expect === 'withinMounts') {
    assert.ok(r.ok && Array.isArray(r.value), `expected a list of paths, got ${seen}`);
    return assert.deepEqual(withinMounts(r.value as string[], ctx.plan), [], 'visible paths that no mount of the plan explains');
  }
  if ('withinMountsOr' in expect) {
    assert.ok(r.ok && Array.isArray(r.value), `expected a list of paths, got ${seen}`);
    return assert.deepEqual(withinMounts(r.value as string[], ctx.plan).filter((p) => !expect.withinMountsOr.includes(p)), [], 'visible paths that no mount of the plan (or the listed extras) explains');
  }
  if ('errno' in expect) return assert.ok(!r.ok && expect.errno.includes(r.errno ?? ''), `expected a failure with ${expect.errno.join('/')}, got ${seen}`);
  assert.equal(r.ok, true, `expected a value, got ${seen}`);
  const value = r.value;
  if ('equals' in expect) return assert.deepEqual(value, resolveRef(expect.equals, ctx));
  if ('sameMembers' in expect) {
    const want = (resolveRef(expect.sameMembers, ctx) as unknown[]).map(String).sort();
    const got = (value as unknown[]).map(String).filter((x) => want.includes(x) || !(expect.optional ?? []).includes(x)).sort();
    return assert.deepEqual(got, want);
  }
  if ('subsetOf' in expect) {
    const allowed = resolveRef(expect.subsetOf, ctx) as unknown[];
    return assert.deepEqual((value as unknown[]).filter((x) => !allowed.includes(x)), [], 'entries outside the allowed set');
  }
  if ('includes' in expect) {
    const want = resolveRef(expect.includes, ctx) as unknown[];
    return assert.deepEqual(want.filter((x) => !(value as unknown[]).includes(x)), [], 'missing entries');
  }
  if ('excludes' in expect) {
    const banned = resolveRef(expect.excludes, ctx) as unknown[];
    return assert.deepEqual((value as unknown[]).filter((x) => banned.includes(x)), [], 'forbidden entries');
  }
  if ('atMost' in expect) return assert.ok((value as number) <= (resolveRef(expect.atMost, ctx) as number), `${seen} is above ${JSON.stringify(expect.atMost)}`);
  if ('eachAtMost' in expect) {
    const max = resolveRef(expect.eachAtMost, ctx) as number;
    return assert.ok((value as number[]).every((n) => n >= 0 && n <= max), `${seen}: every value must be at most ${max}`);
  }
  if ('fields' in expect) {
    for (const [k, e] of Object.entries(expect.fields)) {
      if (e !== null) judge(e, { ok: true, value: (value as Record<string, unknown>)[k] }, ctx);
    }
    return;
  }
  assert.fail(`unknown expectation ${JSON.stringify(expect)}`);
}
