// `niso stack up|down|status|ps|ls|logs|restart|exec`: a stack on this host. `up` and `down` are each one switch of
// the host's generation (the stack's services replaced or removed, everything else untouched), so a bad update goes
// back as a whole; the rest read the current generation and are thin over the service verbs.
import { mkdtemp, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { NisoError, invalidInput, type Diagnostic } from '../../errors/niso-error.js';
import { formatDiagnostic, printable } from '../../errors/render.js';
import type { GenerationContent, GenerationService } from '../../generation/types.js';
import { generationServiceOf } from '../../stack/generation.js';
import { formatPlanLine, hostConflicts, stackPlan, stacksOf, withStack } from '../../stack/deploy.js';
import type { ResolvedStack, StackService } from '../../stack/types.js';
import { formatUptime, serviceStatus, type ServiceStatus } from '../../service/view.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { hostOf } from './host-of.js';
import { loadStack, type PackageStatus } from './stack.js';
import type { SwitchFlags } from './switch.js';

export interface UpOptions extends SwitchFlags { file?: string; profile?: string[]; wait?: boolean }

/** The package a stack's service runs, installed now when the stack names a file or an app directory. */
async function pin(ctx: Context, s: StackService, status: PackageStatus, where: (path: (string | number)[]) => Diagnostic): Promise<{ name: string; version: string; digest: string }> {
  if (status.status === 'installed') return { name: status.name, version: status.version, digest: status.digest };
  if (status.status === 'not installed') {
    const ref = s.package.kind === 'store' ? `${s.package.name}${s.package.version ? `:${s.package.version}` : ''}${s.package.digest ? `@${s.package.digest}` : ''}` : '';
    throw invalidInput([{ ...where(['package']), code: 'NISO5330', message: `${s.service}: package ${ref} is not installed`, hint: 'install it first (niso install FILE.niso, niso pull REF), or give the path of a FILE.niso or an app directory' }], `${s.service}'s package is not installed`);
  }
  const [{ packApp }, { ensureDirs, installPackage }, { readInstallLimits }, { layout }, { resolveOne }] = await Promise.all([
    import('../../package/pack.js'), import('../../store/install.js'), import('../../store/host-config.js'), import('../../store/layout.js'), import('../../store/resolve.js'),
  ]);
  let file = status.path;
  let scratch: string | null = null;
  if (status.status === 'directory') {
    await ensureDirs(layout(ctx.root));
    scratch = await mkdtemp(join(layout(ctx.root).tmp, `pack-${process.pid}-`));
    file = (await packApp({ appDir: status.path, cwd: scratch, output: join(scratch, 'app.niso') })).file;
  }
  try {
    // Another build of the same version may run in a generation kept for rollback: it stays.
    const r = await installPackage(ctx.root, file, await readInstallLimits(layout(ctx.root).config, {}), { otherBuilds: 'keep' });
    const pkg = await resolveOne(ctx.root, r.digest);
    return { name: pkg.name, version: pkg.version, digest: pkg.digest };
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

/** Each enabled service of the stack as a generation entry: packages pinned, configs copied, options checked as activate checks them. */
async function entriesOf(ctx: Context, stack: ResolvedStack, packages: Record<string, PackageStatus>, locateService: (service: string, path: (string | number)[]) => { file: string; line: number; column: number }): Promise<GenerationService[]> {
  const [{ selectBackend }, { readLogLimits }, { layout }, { installedManifest }, { resolveOne }, { withTrust }, { allowedWeakenings }, { checkEntrypoint }] = await Promise.all([
    import('../../service/systemd/backend.js'), import('../../store/host-config.js'), import('../../store/layout.js'), import('../../sandbox/prepare.js'),
    import('../../store/resolve.js'), import('./run.js'), import('../../plan/weakenings.js'), import('../../plan/build-plan.js'),
  ]);
  const backend = await selectBackend(ctx.root);
  const logs = await readLogLimits(layout(ctx.root).config, {});
  const out: GenerationService[] = [];
  const noHealth: Diagnostic[] = [];
  const checked = new Map<string, boolean>();
  for (const s of stack.services) {
    const where = (path: (string | number)[]) => ({ code: '', message: '', ...locateService(s.service, path) });
    const pinned = await pin(ctx, s, packages[s.service]!, where);
    const pkg = await resolveOne(ctx.root, pinned.digest);
    const manifest = await installedManifest(pkg);
    checked.set(s.service, s.healthcheck === undefined ? manifest.healthcheck !== undefined : s.healthcheck !== null);
    let options = { ...s.options };
    if (options.entrypoint !== undefined) checkEntrypoint(manifest, options.entrypoint);
    options = await withTrust(ctx, manifest, pkg.name, options);
    allowedWeakenings(manifest, options, pkg);
    (await import('../../secret/grants.js')).checkSecretsExist(ctx.root, manifest, options);
    let configs: { source: string; target: string }[] = [];
    if (s.configs.length > 0) {
      // Copied now, by content, as `--config` does: the generation keeps this file while the user edits theirs.
      const [{ copyConfigs }, { serviceUid }] = await Promise.all([import('../../sandbox/grants-host.js'), import('../../sandbox/uids.js')]);
      const requests = s.configs.map((c) => ({ name: c.name, file: c.file, target: c.target, flag: `configs ${c.name ?? c.target}` }));
      configs = await copyConfigs(join(layout(ctx.root).configs, s.name), requests, manifest, (await serviceUid(ctx.root, s.name)).uid);
    }
    out.push(generationServiceOf({ ...s, options }, { package: pinned, configs, backend, logs }, stack.file));
  }
  // `healthy` on a service whose package (now installed) has no health check could never be met.
  for (const s of stack.services) {
    for (const d of s.dependsOn) {
      if (d.condition === 'healthy' && checked.get(d.service) === false) {
        noHealth.push({ code: 'NISO5308', ...locateService(s.service, ['depends_on', d.service]), message: `${s.service} waits for "${d.service}" to be healthy, but its package has no health check: it would never be`, hint: `give ${d.service} a healthcheck (e.g. healthcheck = { tcp = PORT }), or wait for condition "started"` });
      }
    }
  }
  if (noHealth.length > 0) throw invalidInput(noHealth, `${stack.name} has problems`);
  return out;
}

/** The networks a stack made (`STACK_KEY`), removed once no service is attached to them. */
async function removeNetworks(ctx: Context, names: readonly string[]): Promise<string[]> {
  const [{ removeNetwork, netContext }, { readNetworks, readRecords, netPaths }] = await Promise.all([import('../../net/host/manager.js'), import('../../net/host/state-files.js')]);
  const paths = netPaths(ctx.root);
  const existing = new Set((await readNetworks(paths)).map((n) => n.name));
  const used = new Set((await readRecords(paths)).map((r) => r.attachment.network));
  const removed: string[] = [];
  for (const n of names) {
    if (!existing.has(n) || used.has(n)) continue;
    await removeNetwork(netContext(ctx.root), n);
    removed.push(n);
  }
  return removed;
}

async function currentContent(ctx: Context): Promise<GenerationContent | null> {
  const { readCurrent } = await import('../../generation/store.js');
  return readCurrent(ctx.root)?.content ?? null;
}

export async function up(ctx: Context, opts: UpOptions): Promise<void> {
  const host = hostOf(ctx);
  const { result, packages, warnings } = await loadStack(ctx, opts);
  for (const w of warnings) ctx.stderr.write(`${formatDiagnostic(w, 'warning')}\n`);
  const stack = result.stack;
  const shown = opts.file ?? 'stack.toml';
  // Conflicts with the host's other stacks and services, before anything is installed or stopped.
  const conflicts = hostConflicts(stack, await currentContent(ctx), result);
  if (conflicts.length > 0) throw invalidInput(conflicts, `stack ${stack.name} (${shown}) conflicts with what runs on this host; nothing was changed`);
  const entries = await entriesOf(ctx, stack, packages, (service, path) => result.locateService(service, path));
  const [{ switchGeneration }, sw, { audited }, { describeAction }] = await Promise.all([
    import('../../generation/switch.js'), import('./switch.js'), import('../../audit/host/log.js'), import('../../generation/diff.js'),
  ]);
  const flags = sw.switchOptions(ctx, opts);
  const made = flags.dryRun ? [] : await (await import('../../generation/apply.js')).makeNetworks(ctx.root, stack.networks, 'the stack declares it external');
  const r = await audited(ctx.root, 'stack.up', flags.dryRun ? null : { target: stack.name }, async () => {
    const sr = await switchGeneration(host, { kind: 'content', edit: (cur) => withStack(cur, stack.name, entries) }, flags);
    if (sr.status === 'reverted') throw sw.gateRefused(sr);
    return sr;
  }, sw.switchFields).catch(async (e: unknown) => {
    // What this run made for a stack that did not come up goes again.
    await removeNetworks(ctx, made).catch(() => undefined);
    throw e;
  });
  const lines = stackPlan(r.actions, stack.name, describeAction);
  if (opts.json) {
    if (r.status !== 'dry-run' && opts.wait) await waitStack(ctx, entries.map((e) => e.name));
    return printJson(ctx, { stack: stack.name, status: r.status, dryRun: r.status === 'dry-run', from: r.from, to: r.to, services: lines, networks: made });
  }
  if (r.status === 'dry-run') {
    for (const l of lines) ctx.stdout.write(`would ${formatPlanLine(l)}\n`);
    return;
  }
  if (r.status === 'noop') {
    ctx.stdout.write(`nothing to change: stack ${stack.name} is up as ${relative(ctx.cwd, stack.file) || stack.file} says\n`);
  } else {
    for (const n of made) ctx.stdout.write(`network ${n} created\n`);
    for (const l of lines.filter((x) => x.step !== 'keep')) ctx.stdout.write(`${formatPlanLine(l)}\n`);
    ctx.stdout.write(`stack ${stack.name} is up: generation ${r.to}\n`);
  }
  if (opts.wait) await waitStack(ctx, entries.map((e) => e.name));
}

/** --wait: every service of the stack running, and healthy where it has a check (a completed job counts). */
async function waitStack(ctx: Context, names: readonly string[]): Promise<void> {
  const { waitForCondition } = await import('../../generation/dependencies.js');
  for (const n of names) await waitForCondition(ctx.root, 'stack up --wait', n, 'healthy', { orCompleted: true });
}

/** Which stack a verb means: NAME, the stack of -f FILE (or of ./stack.toml), or the only stack on the host. */
async function stackName(ctx: Context, opts: { file?: string; name?: string }, content: GenerationContent | null): Promise<string> {
  const stacks = stacksOf(content);
  if (opts.name !== undefined) {
    if (!stacks.has(opts.name)) throw new NisoError('NISO5331', `no stack named "${opts.name}" on this host`, { exitCode: 1, hint: stacks.size > 0 ? `stacks here: ${[...stacks.keys()].join(', ')}` : 'bring one up with `niso stack up`' });
    return opts.name;
  }
  const file = resolve(ctx.cwd, opts.file ?? 'stack.toml');
  const byFile = [...stacks].find(([, svcs]) => svcs.some((s) => s.stack?.file === file));
  if (byFile) return byFile[0];
  if (opts.file === undefined && stacks.size === 1) {
    const { existsSync } = await import('node:fs');
    if (!existsSync(file)) return [...stacks.keys()][0]!;
  }
  // The file names a stack that is not (or no longer) up here: its name from the file itself.
  const { readRegularFile } = await import('../../host/read-bounded.js');
  const { parseStack } = await import('../../stack/parse.js');
  let name: string | null = null;
  try {
    const r = readRegularFile(file, 1024 * 1024);
    if (r.ok) {
      const parsed = parseStack(r.bytes, opts.file ?? 'stack.toml');
      const v = parsed.ok ? (parsed.source.doc.value as { stack?: { name?: unknown } }).stack?.name : undefined;
      if (typeof v === 'string') name = v;
    }
  } catch { /* no file: said below */ }
  if (name === null) throw new NisoError('NISO5300', opts.file === undefined ? 'no stack.toml in the current directory' : `${opts.file}: no such stack file`, { exitCode: 2, hint: 'give the file with -f FILE, or the stack\'s name (niso stack ls lists them)' });
  if (!stacks.has(name)) throw new NisoError('NISO5331', `stack "${name}" is not up on this host`, { exitCode: 1, hint: stacks.size > 0 ? `stacks here: ${[...stacks.keys()].join(', ')}` : 'bring it up with `niso stack up`' });
  return name;
}

export interface DownOptions extends SwitchFlags { file?: string; volumes?: boolean; yes?: boolean }

export async function down(ctx: Context, name: string | undefined, opts: DownOptions): Promise<void> {
  if (opts.volumes && !opts.yes && !opts.dryRun) {
    throw new NisoError('NISO5332', '--volumes deletes the stack\'s volumes and their data', { exitCode: 2, hint: 'add --yes to confirm, or leave --volumes out to keep them for the next `stack up`' });
  }
  const host = hostOf(ctx);
  const [{ switchGeneration, recoverIfNeeded }, sw, { audited }, { describeAction }] = await Promise.all([
    import('../../generation/switch.js'), import('./switch.js'), import('../../audit/host/log.js'), import('../../generation/diff.js'),
  ]);
  await recoverIfNeeded(host);
  const content = await currentContent(ctx);
  const stack = await stackName(ctx, { ...opts, ...(name !== undefined ? { name } : {}) }, content);
  const services = stacksOf(content).get(stack) ?? [];
  const networks = [...new Set(services.flatMap((s) => s.stack!.networks.map((n) => n.name)))].filter((n) => n.startsWith(`${stack}_`));
  const volumes = [...new Set(services.flatMap((s) => (s.options.mounts ?? []).flatMap((m) => (m.type === 'volume' && m.source.startsWith(`${stack}_`) ? [m.source] : []))))];
  const flags = { ...sw.switchOptions(ctx, opts), ...(opts.volumes ? { deleteData: services.map((s) => s.name) } : {}) };
  const r = await audited(ctx.root, 'stack.down', flags.dryRun ? null : { target: stack }, async () => {
    const sr = await switchGeneration(host, { kind: 'content', edit: (cur) => withStack(cur, stack, []) }, flags);
    if (sr.status === 'reverted') throw sw.gateRefused(sr);
    return sr;
  }, sw.switchFields);
  const lines = stackPlan(r.actions, stack, describeAction);
  if (r.status === 'dry-run') {
    if (opts.json) return printJson(ctx, { stack, dryRun: true, services: lines, networks, volumes: opts.volumes ? volumes : [] });
    for (const l of lines) ctx.stdout.write(`would ${formatPlanLine(l)}\n`);
    return;
  }
  const removedNetworks = await removeNetworks(ctx, networks);
  const removedVolumes: string[] = [];
  if (opts.volumes && volumes.length > 0) {
    const { removeVolume } = await import('../../volume/store.js');
    for (const v of volumes) if (await removeVolume(ctx.root, v, { force: false }).catch(() => false)) removedVolumes.push(v);
  }
  if (opts.json) return printJson(ctx, { stack, status: r.status, from: r.from, to: r.to, services: lines, networks: removedNetworks, volumes: removedVolumes });
  for (const l of lines) ctx.stdout.write(`${formatPlanLine(l)}\n`);
  for (const n of removedNetworks) ctx.stdout.write(`network ${n} removed\n`);
  for (const v of removedVolumes) ctx.stdout.write(`volume ${v} removed\n`);
  const kept = volumes.filter((v) => !removedVolumes.includes(v));
  if (kept.length > 0 && !opts.volumes) ctx.stdout.write(`volumes kept: ${kept.join(', ')} (niso stack down --volumes --yes deletes them)\n`);
  ctx.stdout.write(`stack ${stack} is down${r.to !== null ? `: generation ${r.to}` : ''}\n`);
}

interface StackRow { service: string; name: string; status: ServiceStatus | null }

async function rowsOf(ctx: Context, opts: { file?: string; name?: string }): Promise<{ stack: string; rows: StackRow[] }> {
  const host = hostOf(ctx);
  const [{ recoverIfNeeded }, { reconcileInterrupted }, { ensureSupervisor }] = await Promise.all([import('../../generation/switch.js'), import('../../service/ops.js'), import('../../service/supervisor.js')]);
  await recoverIfNeeded(host);
  const content = await currentContent(ctx);
  const stack = await stackName(ctx, opts, content);
  const services = stacksOf(content).get(stack) ?? [];
  await reconcileInterrupted(host, services.map((s) => s.name));
  await ensureSupervisor(host, host.entry).catch(() => undefined);
  return { stack, rows: services.map((s) => ({ service: s.stack!.service, name: s.name, status: serviceStatus(ctx.root, s.name) })) };
}

/** The seed's table: two spaces in, each column at least 10 wide and 2 more than its longest cell. */
function seedTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(10, h.length + 2, ...rows.map((r) => printable(r[i]!).length + 2)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === cells.length - 1 ? printable(c) : printable(c).padEnd(widths[i]!))).join('')}`.trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export async function status(ctx: Context, name: string | undefined, opts: { file?: string; json?: boolean }): Promise<void> {
  const { stack, rows } = await rowsOf(ctx, { ...opts, ...(name !== undefined ? { name } : {}) });
  if (opts.json) {
    return printJson(ctx, { stack, services: rows.map((r) => ({ service: r.service, name: r.name, state: r.status?.state ?? null, health: r.status?.health ?? null, uptimeMs: r.status?.uptimeMs ?? null, pid: r.status?.pid ?? null, restarts: r.status?.restarts ?? 0, ports: r.status?.ports ?? [] })) });
  }
  ctx.stdout.write(seedTable(['SERVICE', 'STATUS', 'HEALTH', 'UPTIME'], rows.map((r) => [r.service, r.status?.state ?? 'gone', r.status?.health ?? '-', r.status?.uptimeMs === null || r.status === null ? '-' : formatUptime(r.status.uptimeMs)])));
  for (const r of rows) {
    if (r.status?.message && r.status.state !== 'active') ctx.stdout.write(`${r.service}: ${r.status.message}\n`);
  }
}

export async function ps(ctx: Context, name: string | undefined, opts: { file?: string; json?: boolean }): Promise<void> {
  const { stack, rows } = await rowsOf(ctx, { ...opts, ...(name !== undefined ? { name } : {}) });
  if (opts.json) return printJson(ctx, rows.map((r) => ({ service: r.service, ...r.status, stack })));
  const { printTable } = await import('../table.js');
  printTable(ctx.stdout, ['service', 'name', 'package', 'state', 'health', 'pid', 'uptime', 'restarts', 'ports'], rows.map((r) => {
    const s = r.status;
    return [r.service, r.name, s ? `${s.package.name}@${s.package.version}` : '-', s?.state ?? 'gone', s?.health ?? '-', s?.pid ?? '-', s?.uptimeMs != null ? formatUptime(s.uptimeMs) : '-', s?.restarts ?? 0, s?.ports.join(', ') || '-'];
  }));
}

export async function ls(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const stacks = [...stacksOf(await currentContent(ctx))].sort(([a], [b]) => (a < b ? -1 : 1));
  const rows = stacks.map(([name, svcs]) => {
    const statuses = svcs.map((s) => serviceStatus(ctx.root, s.name));
    const running = statuses.filter((s) => s?.pid != null).length;
    return { name, services: svcs.length, running, file: svcs[0]!.stack!.file, status: running === svcs.length ? 'running' : running === 0 ? 'stopped' : 'partial' };
  });
  if (opts.json) return printJson(ctx, rows);
  if (rows.length === 0) { ctx.stdout.write('no stacks (bring one up with `niso stack up`)\n'); return; }
  const { printTable } = await import('../table.js');
  printTable(ctx.stdout, ['name', 'status', 'services', 'file'], rows.map((r) => [r.name, r.status, `${r.running}/${r.services} running`, r.file]));
}

/** The host names of the stack's services named (all when none), for the thin verbs; an unknown one is an error. */
async function pick(ctx: Context, services: readonly string[], opts: { file?: string }): Promise<{ stack: string; names: Map<string, string> }> {
  const content = await currentContent(ctx);
  const stack = await stackName(ctx, opts, content);
  const all = stacksOf(content).get(stack) ?? [];
  const byService = new Map(all.map((s) => [s.stack!.service, s.name]));
  for (const s of services) {
    if (!byService.has(s)) throw new NisoError('NISO3301', `stack ${stack} has no service "${s}"`, { exitCode: 1, hint: `its services: ${[...byService.keys()].join(', ')}` });
  }
  const chosen = services.length > 0 ? services : [...byService.keys()];
  return { stack, names: new Map(chosen.map((s) => [byService.get(s)!, s])) };
}

export async function logs(ctx: Context, services: string[], opts: { file?: string; follow?: boolean; since?: string; until?: string; tail?: string; timestamps?: boolean; json?: boolean }): Promise<void> {
  const { names } = await pick(ctx, services, opts);
  await (await import('./logs.js')).run(ctx, [...names.keys()], opts, names);
}

export async function restart(ctx: Context, services: string[], opts: { file?: string; json?: boolean }): Promise<void> {
  const { names } = await pick(ctx, services, opts);
  // Dependencies first, as `up` starts them.
  const content = await currentContent(ctx);
  const { startOrder } = await import('../../generation/order.js');
  const ordered = startOrder((content?.services ?? []).filter((s) => names.has(s.name)));
  await (await import('./service.js')).restart(ctx, ordered, opts);
}

export async function exec(ctx: Context, service: string, argv: string[], opts: { file?: string; interactive?: boolean; tty?: boolean; env?: string[] }): Promise<void> {
  const { names } = await pick(ctx, [service], opts);
  await (await import('./exec.js')).run(ctx, [...names.keys()][0]!, argv, opts);
}

