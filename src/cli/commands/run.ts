// `niso run NAME[:VERSION] | FILE.niso | DIR [-- ARGS...]`: like `docker run --rm`, in the foreground.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isatty } from 'node:tty';
import { NisoError } from '../../errors/niso-error.js';
import { parsePortMapping, parseSize } from '../../manifest/units.js';
import type { PlanOptions } from '../../plan/build-plan.js';
import type { Plan, PresetName } from '../../plan/plan.js';
import { shellQuote } from '../../render/bwrap.js';
import { buildSeccompFilter, DEFAULT_DENY } from '../../render/seccomp.js';
import { isAlive } from '../../host/liveness.js';
import { renderCommand, runSandbox } from '../../sandbox/run-sandbox.js';
import { installedManifest, preparePlan } from '../../sandbox/prepare.js';

export { preparePlan };
import { layout } from '../../store/layout.js';
import { resolveOne } from '../../store/resolve.js';
import type { InstalledPackage } from '../../store/installed.js';
import { hostArch } from '../../host/arch.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

export interface RunOptions {
  name?: string;
  env?: string[];
  envFile?: string[];
  preset?: string;
  memory?: string;
  cpus?: string;
  pids?: string;
  network?: string;
  publish?: string[];
  net?: string[];
  /** embedded (bubblewrap) or systemd (a transient unit); default: systemd where it is PID 1. */
  backend?: string;
  dryRun?: boolean;
  json?: boolean;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseEnv(ctx: Context, opts: Pick<RunOptions, 'env' | 'envFile'>): Record<string, string> {
  const env: Record<string, string> = {};
  const add = (line: string, where: string) => {
    const i = line.indexOf('=');
    const key = i < 0 ? line : line.slice(0, i);
    if (!ENV_NAME.test(key)) throw new NisoError('NISO9001', `${where}: "${key}" is not a valid environment variable name`, { exitCode: 2, hint: 'write NAME=value' });
    // `--env NAME` alone takes the value from niso's own environment, as docker run does.
    const value = i < 0 ? ctx.env[key] : line.slice(i + 1);
    if (value !== undefined) env[key] = value;
  };
  for (const f of opts.envFile ?? []) {
    const path = resolve(ctx.cwd, f);
    let text: string;
    try { text = readFileSync(path, 'utf8'); } catch (e) { throw new NisoError('NISO9001', `--env-file ${f}: ${(e as Error).message}`, { exitCode: 2 }); }
    text.split('\n').forEach((raw, n) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      add(line, `${f}:${n + 1}`);
    });
  }
  for (const e of opts.env ?? []) add(e, `--env ${e}`);
  return env;
}

export function parseOptions(ctx: Context, opts: RunOptions, args: string[]): PlanOptions {
  const o: PlanOptions = { env: parseEnv(ctx, opts), args };
  if (opts.preset !== undefined) {
    if (!['server', 'strict', 'unsafe-none'].includes(opts.preset)) throw new NisoError('NISO9001', `--preset ${opts.preset}: expected server, strict or unsafe-none`, { exitCode: 2 });
    o.preset = opts.preset as PresetName;
  }
  if (opts.memory !== undefined) {
    const r = parseSize(opts.memory);
    if (!r.ok) throw new NisoError('NISO9001', `--memory ${opts.memory}: ${r.message}`, { exitCode: 2, hint: r.hint });
    o.memoryBytes = r.value;
  }
  if (opts.cpus !== undefined) {
    const n = Number(opts.cpus);
    if (!(n > 0 && n <= 1024)) throw new NisoError('NISO9001', `--cpus ${opts.cpus}: expected a number of cores such as 0.5 or 2`, { exitCode: 2 });
    o.cpus = n;
  }
  if (opts.pids !== undefined) {
    const n = Number(opts.pids);
    if (!Number.isInteger(n) || n < 1) throw new NisoError('NISO9001', `--pids ${opts.pids}: expected a whole number`, { exitCode: 2 });
    o.pids = n;
  }
  if (opts.network !== undefined) {
    if (opts.network !== 'none' && opts.network !== 'host' && opts.network !== 'private') throw new NisoError('NISO9001', `--network ${opts.network}: expected private, none or host`, { exitCode: 2 });
    o.network = opts.network;
  }
  if (opts.publish && opts.publish.length > 0) {
    o.ports = opts.publish.map((p) => {
      const r = parsePortMapping(p);
      if (!r.ok) throw new NisoError('NISO9001', `-p ${p}: ${r.message}`, { exitCode: 2, hint: r.hint });
      return r.value;
    });
  }
  if (opts.net && opts.net.length > 0) o.networks = opts.net;
  return o;
}

/** The package to run, installing a FILE.niso or packing a DIR first. `temporary` ones are removed after. */
async function locate(ctx: Context, ref: string): Promise<{ pkg: InstalledPackage; temporary: boolean }> {
  const path = resolve(ctx.cwd, ref);
  const st = existsSync(path) ? statSync(path) : null;
  if (st?.isDirectory() || st?.isFile()) {
    let file = path;
    let scratch: string | null = null;
    // Packing and installing need the manifest parser and the package reader: loaded only here,
    // so that running an installed package starts without them.
    const [{ packApp }, { ensureDirs, installPackage }, { readInstallLimits }] = await Promise.all([
      import('../../package/pack.js'), import('../../store/install.js'), import('../../store/host-config.js'),
    ]);
    if (st.isDirectory()) {
      await ensureDirs(layout(ctx.root));
      scratch = await mkdtemp(join(layout(ctx.root).tmp, `pack-${process.pid}-`));
      file = (await packApp({ appDir: path, cwd: scratch, output: join(scratch, 'app.niso') })).file;
    }
    try {
      const limits = await readInstallLimits(layout(ctx.root).config, {});
      const r = await installPackage(ctx.root, file, limits);
      if (!r.alreadyInstalled) {
        // Recorded so that a later run removes it if this one is killed before it can.
        await writeFile(join(layout(ctx.root).tmp, `run-${process.pid}-${r.digest.slice(7, 19)}.json`), JSON.stringify({ digest: r.digest }));
      }
      return { pkg: await resolveOne(ctx.root, r.digest), temporary: !r.alreadyInstalled };
    } finally {
      if (scratch) await rm(scratch, { recursive: true, force: true });
    }
  }
  return { pkg: await resolveOne(ctx.root, ref), temporary: false };
}

/** Removes packages that runs of app directories installed and could not remove (niso was killed). */
async function sweepTemporaryInstalls(ctx: Context): Promise<void> {
  const dir = layout(ctx.root).tmp;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^run-(\d+)-[0-9a-f]+\.json$/.exec(name);
    if (!m) continue;
    if (isAlive(Number(m[1]))) continue;
    try {
      const { digest } = JSON.parse(await readFile(join(dir, name), 'utf8')) as { digest: string };
      const pkg = await resolveOne(ctx.root, digest).catch(() => null);
      if (pkg) {
        const { removePackages } = await import('../../store/remove.js');
        await removePackages(ctx.root, [pkg]);
      }
    } finally {
      await rm(join(dir, name), { force: true });
    }
  }
}

/** The run as a transient systemd unit with a service unit's sandbox (service/systemd/run.ts). */
async function runAsUnit(ctx: Context, plan: Plan, runtime: string | null, opts: RunOptions): Promise<void> {
  const sd = await import('../../service/systemd/run.js');
  const terminal = isatty(0);
  if (opts.dryRun || opts.json) {
    const command = sd.runCommandLine(sd.planRunUnit(ctx.root, plan, runtime), terminal ? 'pty' : 'pipe');
    if (opts.json) { printJson(ctx, { plan, backend: 'systemd', command }); return; }
    ctx.stdout.write(`# ${plan.package.name} ${plan.package.version} as service ${plan.service} (uid ${plan.user.uid}), preset ${plan.preset}, network ${plan.network.mode}, as a transient systemd unit\n`);
    ctx.stdout.write('# the unit\'s root skeleton, /etc files and user are made when it runs, and removed after it\n');
    ctx.stdout.write(`${shellQuote(command)}\n`);
    return;
  }
  const r = await sd.runOnSystemd(ctx.root, plan, runtime, { terminal, ...(ctx.env.TERM ? { term: ctx.env.TERM } : {}) });
  if (r.signal) ctx.stderr.write(`niso: ${plan.service} ended by ${r.signal}\n`);
  ctx.exitCode = r.exitCode;
}

export async function run(ctx: Context, ref: string, args: string[], opts: RunOptions): Promise<void> {
  const options = parseOptions(ctx, opts, args);
  await sweepTemporaryInstalls(ctx);
  const { pkg, temporary } = await locate(ctx, ref);
  let detach: (() => Promise<void>) | null = null;
  try {
    const manifest = await installedManifest(pkg);
    const service = opts.name ?? pkg.name;
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(service)) throw new NisoError('NISO9001', `--name ${service}: not a valid service name`, { exitCode: 2, hint: 'use lower-case letters, digits, ".", "_" and "-"' });
    const { selectBackend } = await import('../../service/systemd/backend.js');
    const backend = await selectBackend(ctx.root, opts.backend);
    // The plan is made with a placeholder network first: whether the app gets a private network
    // (the manifest's default) is the plan's decision, and a dry run never creates one.
    let plan = await preparePlan(ctx, pkg, manifest, service, options, { netns: '/run/netns/(prepared at start)', hosts: '' });
    if (plan.network.mode === 'private' && !opts.dryRun && !opts.json) {
      const net = await import('../../net/host/manager.js');
      const netCtx = net.netContext(ctx.root);
      const endpoint = await net.attachService(netCtx, { service, networks: plan.network.networks, ports: plan.network.ports, egress: plan.network.egress, ownerPid: process.pid });
      detach = () => net.detachService(netCtx, service).then(() => undefined);
      const netnsPath = endpoint.netns.startsWith('/') ? endpoint.netns : `/run/netns/${endpoint.netns}`;
      plan = await preparePlan(ctx, pkg, manifest, service, options, { netns: netnsPath, hosts: await net.hostsFor(netCtx, service) });
      for (const a of endpoint.attachments) ctx.stderr.write(`niso: ${service} is ${a.address} on network ${a.network}\n`);
    }
    for (const n of plan.notes) ctx.stderr.write(`note: ${n}\n`);
    if (backend === 'systemd') {
      await runAsUnit(ctx, plan, manifest.runtime ? manifest.runtime.use.name : null, opts);
      return;
    }
    const seccomp = plan.seccomp ? buildSeccompFilter({ arch: hostArch() as 'x86_64' | 'aarch64', deny: DEFAULT_DENY, allow: plan.seccomp.allow }).program : null;
    if (opts.dryRun || opts.json) {
      // renderCommand, as a real run: a plan bubblewrap cannot carry (capabilities) is NISO3201, not a crash.
      const cmd = renderCommand(plan, seccomp, true);
      if (opts.json) { printJson(ctx, { plan, command: cmd.argv, fds: cmd.fds }); return; }
      ctx.stdout.write(`# ${plan.package.name} ${plan.package.version} as service ${plan.service} (uid ${plan.user.uid}), preset ${plan.preset}, network ${plan.network.mode}\n`);
      for (const o of plan.overrides) ctx.stdout.write(`# override ${o.property}: ${JSON.stringify(o.preset)} -> ${JSON.stringify(o.value)} (${o.from})\n`);
      for (const f of cmd.fds) ctx.stdout.write(`# fd ${f.fd}: ${f.kind === 'seccomp' ? `seccomp filter (${seccomp?.length ?? 0} bytes)` : f.kind === 'status' ? 'bwrap status (read by niso)' : `contents of ${plan.mounts.find((m) => m.type === 'file' && m.content === f.content)?.target ?? 'a file'}`}\n`);
      ctx.stdout.write(`${shellQuote(cmd.argv)}\n`);
      return;
    }
    const r = await runSandbox(plan, seccomp);
    if (r.signal) ctx.stderr.write(`niso: ${plan.service} ended by ${r.signal}\n`);
    ctx.exitCode = r.exitCode;
  } finally {
    if (detach) await detach().catch((e: unknown) => { ctx.stderr.write(`niso: could not remove the network of this run: ${String(e)}\n`); });
    if (temporary) {
      const { removePackages } = await import('../../store/remove.js');
      await removePackages(ctx.root, [pkg]).catch(() => undefined);
      await rm(join(layout(ctx.root).tmp, `run-${process.pid}-${pkg.digest.slice(7, 19)}.json`), { force: true });
    }
  }
}
