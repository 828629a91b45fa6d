// The service verbs of the embedded backend: activate, deactivate, restart and boot (status and the supervisor's
// process are status.ts and supervise.ts, light modules of their own).
import { unhealthyError, VERDICT_SLACK_MS, WAIT_WITHOUT_CHECK_MS, waitGaveUp } from '../../service/health/messages.js';
import { unhealthyWithinMs } from '../../service/health/state.js';
import { NisoError } from '../../errors/niso-error.js';
import { parseDuration } from '../../manifest/units.js';
import { readHealth } from '../../service/health/file.js';
import type { RestartPolicy } from '../../plan/plan.js';
import { resolveOne, shortDigest } from '../../store/resolve.js';
import type { InstalledPackage } from '../../store/installed.js';
import { boot as bootServices, failureDetail, restart as restartService, start, type Deactivated } from '../../service/ops.js';
import type { SwitchFlags } from './switch.js';
import type { GenerationService } from '../../generation/types.js';
import { checkName, readDefinition, readPlan, readState, requireDefinition } from '../../service/store.js';
import { isActive, serviceStatus, type ServiceStatus } from '../../service/view.js';
import type { Context } from '../context.js';
import { hostOf } from './host-of.js';
import { printJson } from '../output.js';
import { noDirectory, notInstalledHere, packageRef } from '../package-ref.js';
import type { RunOptions } from './run.js';
import { join } from 'node:path';
import { audited } from '../../audit/host/log.js';
import { deactivatedFields, packageFields } from '../../audit/fields.js';


export interface ActivateOptions extends RunOptions, SwitchFlags {
  logMaxSize?: string;
  logFiles?: string;
  restart?: string;
  wait?: boolean;
  timeout?: string;
  backend?: string;
}

function parseRestart(text: string): { policy: RestartPolicy; maxRetries: number | null } {
  const m = /^(no|on-failure|always|unless-stopped)(?::(\d+))?$/.exec(text);
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) throw new NisoError('NISO9001', `--restart ${text}: expected no, on-failure[:MAX_RETRIES], always or unless-stopped`, { exitCode: 2 });
  return { policy: m[1] as RestartPolicy, maxRetries: m[2] === undefined ? null : Number(m[2]) };
}

async function packageFor(ctx: Context, ref: string): Promise<InstalledPackage> {
  const target = packageRef(ctx.cwd, ref);
  noDirectory(target, 'activate');
  if (target.kind === 'file') {
    const path = target.path;
    const [{ installPackage }, { readInstallLimits }] = await Promise.all([import('../../store/install.js'), import('../../store/host-config.js')]);
    const { layout } = await import('../../store/layout.js');
    const r = await installPackage(ctx.root, path, await readInstallLimits(layout(ctx.root).config, {}));
    return resolveOne(ctx.root, r.digest);
  }
  return resolveOne(ctx.root, target.ref).catch((e: unknown) => { throw notInstalledHere(ctx.cwd, target.ref, e); });
}

/**
 * `niso activate SERVICE` starts the build the service was defined with, as `docker start` does;
 * when a newer build of that name and version was installed since (`install --replace`), say how
 * to run that one instead.
 */
async function noteNewerBuild(ctx: Context, name: string): Promise<void> {
  const def = readDefinition(ctx.root, name);
  if (!def) return;
  const { name: pkg, version, digest } = def.package;
  const current = await resolveOne(ctx.root, `${pkg}:${version}`).catch(() => null);
  if (current && current.digest !== digest) {
    ctx.stderr.write(`note: ${name} runs the build of ${pkg} ${version} it was defined with (${shortDigest(digest)}); the build installed since is ${shortDigest(current.digest)}: \`niso deactivate ${name} && niso activate ${pkg}:${version} --name ${name}\` runs it\n`);
  }
}

function describe(s: ServiceStatus): string {
  // Which build runs: two builds of one version differ only in their digest.
  const parts = [`${s.package.name} ${s.package.version} (${shortDigest(s.package.digest)})`];
  if (s.pid !== null) parts.push(`pid ${s.pid}`);
  parts.push(...s.addresses);
  if (s.ports.length > 0) parts.push(`ports ${s.ports.join(', ')}`);
  return parts.join(', ');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * --wait: until the service is active and healthy, or niso has decided that it is not (unhealthy, failed), or the
 * user's --timeout. Without --timeout it waits for niso's own verdict, which comes within what the health check's
 * settings allow (health/state.ts unhealthyWithinMs); a minute without a check.
 */
async function waitReady(ctx: Context, name: string, timeoutMs: number | null): Promise<ServiceStatus> {
  const health = readPlan(ctx.root, name)?.health ?? null;
  const verdictWithinMs = health ? unhealthyWithinMs(health) + VERDICT_SLACK_MS : null;
  const deadline = Date.now() + (timeoutMs ?? verdictWithinMs ?? WAIT_WITHOUT_CHECK_MS);
  for (;;) {
    const s = serviceStatus(ctx.root, name);
    if (!s) throw new NisoError('NISO3301', `service "${name}" disappeared while waiting`);
    if (s.state === 'active' && (s.health === null || s.health === 'healthy')) return s;
    if (s.state === 'unhealthy' || s.health === 'unhealthy') {
      throw unhealthyError(name, readHealth(ctx.root, name)?.log.at(-1)?.output ?? 'the health check failed');
    }
    // An end the supervisor has not recorded yet shows with its verdict: wait for the record.
    const recorded = readState(ctx.root, name).pid === null;
    if (recorded && (s.state === 'failed' || s.state === 'inactive' || s.state === 'restarting' || s.state === 'crash-loop')) {
      throw new NisoError('NISO3304', `${name} did not come up: ${await failureDetail(ctx.root, name)}`, { hint: `\`niso debug ${name}\` shows more; \`niso logs ${name}\` its output` });
    }
    if (Date.now() > deadline) {
      const last = readHealth(ctx.root, name)?.log.at(-1)?.output;
      throw waitGaveUp(name, { timeoutMs, verdictWithinMs, what: s.health === 'starting' ? 'healthy' : 'active', now: `state ${s.state}${s.health ? `, health ${s.health}` : ''}${last ? `; last probe: ${last}` : ''}` });
    }
    // Often enough that --wait returns within a few ms of the healthy record (a status read costs well under 1 ms).
    await sleep(10);
  }
}

/** --timeout, or null: wait for niso's own verdict. */
function parseTimeout(text: string | undefined): number | null {
  if (text === undefined) return null;
  const r = parseDuration(text);
  if (!r.ok) throw new NisoError('NISO9001', `--timeout ${text}: ${r.message}`, { exitCode: 2, hint: r.hint });
  return r.value;
}

export async function activate(ctx: Context, ref: string, args: string[], opts: ActivateOptions): Promise<void> {
  const host = hostOf(ctx);
  const timeoutMs = parseTimeout(opts.timeout);
  // What only activate needs (options, the manifest, the planner's checks): deactivate and restart share this file.
  const [{ parseConfigFlags, parseOptions, withTrust }, { installedManifest }, { allowedWeakenings }, { checkEntrypoint }] = await Promise.all([
    import('./run.js'), import('../../sandbox/prepare.js'), import('../../plan/weakenings.js'), import('../../plan/build-plan.js'),
  ]);
  let options = parseOptions(ctx, opts, args);
  if (opts.restart !== undefined) options.restart = parseRestart(opts.restart);
  if (options.args && options.args.length === 0) delete options.args;
  const configRequests = parseConfigFlags(ctx, opts.config ?? []);
  const onlyName = Object.keys(options).every((k) => k === 'env' && Object.keys(options.env ?? {}).length === 0) && args.length === 0 && configRequests.length === 0;
  let name: string;
  // `niso activate SERVICE` starts an existing service again, as it was defined.
  const existing = opts.name === undefined && onlyName ? readDefinition(ctx.root, ref) : null;
  const [{ switchGeneration }, { withActive, withService }, { entryOf }, sw] = await Promise.all([
    import('../../generation/switch.js'), import('../../generation/edit.js'), import('../../generation/hash.js'), import('./switch.js'),
  ]);
  const flags = sw.switchOptions(ctx, opts);
  if (existing) {
    name = ref;
    const before = serviceStatus(ctx.root, name);
    await noteNewerBuild(ctx, name);
    if (before && before.pid !== null && !opts.wait && !opts.json && !opts.dryRun) {
      ctx.stdout.write(`${name} is already active: ${describe(before)}\n`);
      return;
    }
    // The generation's entry of the service, active: as it was defined (`docker start`).
    const r = await audited(ctx.root, 'service.activate', opts.dryRun ? null : packageFields(name, existing.package, existing.backend), async () => {
      const sr = await switchGeneration(host, { kind: 'content', edit: (cur) => withActive(cur, [name], true, () => entryOf(existing, true)) }, flags);
      if (sr.status === 'reverted') throw sw.gateRefused(sr);
      // The generation has it active already, but it does not run (its start failed, it was stopped outside a switch).
      if (sr.status === 'noop') await start(host, name);
      return sr;
    }, sw.switchFields);
    if (r.status === 'dry-run' || opts.dryRun) return sw.printDryRun(ctx, r, opts.json === true);
  } else {
    // The backend first: forcing one that cannot run here fails before anything is installed.
    const { selectBackend } = await import('../../service/systemd/backend.js');
    const backend = await selectBackend(ctx.root, opts.backend);
    const pkg = await packageFor(ctx, ref);
    name = opts.name ?? pkg.name;
    // What the manifest asks for below the server preset must be allowed now, by the flags or the host config's
    // [trust]; the trust is copied into the definition, so restarts, boots and `niso activate SERVICE` keep what
    // was confirmed when the service was made (plan/weakenings.ts).
    const manifest = await installedManifest(pkg);
    if (options.entrypoint !== undefined) checkEntrypoint(manifest, options.entrypoint);
    options = await withTrust(ctx, manifest, pkg.name, options);
    allowedWeakenings(manifest, options, pkg);
    (await import('../../secret/grants.js')).checkSecretsExist(ctx.root, manifest, options);
    const [{ readLogLimits }, { layout }] = await Promise.all([import('../../store/host-config.js'), import('../../store/layout.js')]);
    if (configRequests.length > 0) {
      // Copied now, by content: the service keeps this file while the user edits theirs, until the next activation.
      const [{ copyConfigs }, { serviceUid }] = await Promise.all([import('../../sandbox/grants-host.js'), import('../../sandbox/uids.js')]);
      options.configs = await copyConfigs(join(layout(ctx.root).configs, name), configRequests, manifest, (await serviceUid(ctx.root, name)).uid);
    }
    const logs = await readLogLimits(layout(ctx.root).config, opts);
    if (backend === 'systemd' && (opts.logMaxSize !== undefined || opts.logFiles !== undefined)) {
      ctx.stderr.write(`niso: --log-max-size and --log-files do not apply on the systemd backend: journald keeps ${name}'s output within its own limits (SystemMaxUse= in journald.conf)\n`);
    }
    // A new service that takes over the /state (and own volumes) an earlier one of its name kept says so.
    const { inheritedNote } = await import('../../volume/state.js');
    const note = await inheritedNote(ctx.root, name);
    if (note) ctx.stderr.write(`${note}\n`);
    checkName(name);
    const entry: GenerationService = { name, package: { name: pkg.name, version: pkg.version, digest: pkg.digest }, options, backend, logs, active: true };
    // A service of that name is replaced by this definition (an upgrade: stopped, defined anew, started, gated).
    const r = await audited(ctx.root, 'service.activate', opts.dryRun ? null : packageFields(name, pkg, backend), async () => {
      const sr = await switchGeneration(host, { kind: 'content', edit: (cur) => withService(cur, entry) }, flags);
      if (sr.status === 'reverted') throw sw.gateRefused(sr);
      // Defined exactly so already, and not running: started as it is.
      if (sr.status === 'noop' && !(serviceStatus(ctx.root, name)?.pid)) await start(host, name);
      return sr;
    }, sw.switchFields);
    if (r.status === 'dry-run' || opts.dryRun) return sw.printDryRun(ctx, r, opts.json === true);
    // What the plan says the user should know (a volume made on first use, a setting not in effect), as `niso run` does.
    for (const n of readPlan(ctx.root, name)?.notes ?? []) ctx.stderr.write(`note: ${n}\n`);
  }
  // On systemd no supervisor records the start's outcome: --wait probes and watches the unit itself.
  const onSystemd = opts.wait === true && readDefinition(ctx.root, name)?.backend === 'systemd';
  if (onSystemd) await (await import('./systemd-health.js')).waitSystemd(ctx, name, timeoutMs);
  const s = opts.wait && !onSystemd ? await waitReady(ctx, name, timeoutMs) : serviceStatus(ctx.root, name)!;
  if (opts.json) return printJson(ctx, s);
  ctx.stdout.write(`${name} ${s.state === 'active' ? 'is active' : `is ${s.state}`}: ${describe(s)}\n`);
}

export async function deactivate(ctx: Context, names: string[], opts: SwitchFlags): Promise<void> {
  const host = hostOf(ctx);
  for (const n of names) requireDefinition(ctx.root, n);
  const [{ switchGeneration }, { withActive }, { entryOf }, sw, { deactivate: stopService }] = await Promise.all([
    import('../../generation/switch.js'), import('../../generation/edit.js'), import('../../generation/hash.js'), import('./switch.js'), import('../../service/ops.js'),
  ]);
  const before = new Map(names.map((n) => [n, serviceStatus(ctx.root, n)!]));
  const switched = await audited(ctx.root, 'service.deactivate', opts.dryRun ? null : { target: names.join(', ') }, async () => {
    const r = await switchGeneration(host, { kind: 'content', edit: (cur) => withActive(cur, names, false, (n) => { const d = readDefinition(ctx.root, n); return d && entryOf(d, false); }) }, sw.switchOptions(ctx, opts));
    const results: ({ name: string } & Deactivated)[] = [];
    if (r.status === 'dry-run') return { r, results };
    for (const n of names) {
      const stopped = r.results.get(n)?.stopped;
      if (stopped) { results.push({ name: n, ...stopped }); continue; }
      // Inactive in the generation already: what still runs of it (a run outside a switch) is stopped all the same.
      const s = serviceStatus(ctx.root, n);
      if (s && isActive(s)) { results.push({ name: n, ...await stopService(host, n) }); continue; }
      const b = before.get(n)!;
      results.push({ name: n, exit: null, before: { state: b.state, message: b.message } });
    }
    return { r, results };
  }, (x) => sw.withSwitch(deactivatedFields(x.results), x.r));
  if (switched.r.status === 'dry-run' || opts.dryRun) return sw.printDryRun(ctx, switched.r, opts.json === true);
  const results = switched.results;
  if (opts.json) return printJson(ctx, results);
  for (const r of results) {
    const how = r.exit === null ? notRunning(r.before) : r.exit.signal ? `stopped (${r.exit.signal === 'SIGKILL' ? 'killed after the stop timeout' : `ended by ${r.exit.signal}`})` : `stopped (exit code ${r.exit.exitCode ?? 'unknown'})`;
    ctx.stdout.write(`${r.name} ${how}\n`);
  }
}

/** What deactivate did to a service that did not run: a failed one stays failed in its history, a pending restart is cancelled. */
function notRunning(before: Deactivated['before']): string {
  const why = before.message ? ` (${before.message})` : '';
  if (before.state === 'failed') return `had already failed${why}; it is inactive now`;
  if (before.state === 'restarting' || before.state === 'crash-loop') return `was waiting to be restarted${why}; it will not be`;
  return 'was not running';
}

export async function restart(ctx: Context, names: string[], opts: { json?: boolean }): Promise<void> {
  const host = hostOf(ctx);
  // Not a switch (the same definitions), but it changes what runs: an interrupted switch is settled first.
  await (await import('../../generation/switch.js')).recoverIfNeeded(host);
  for (const n of names) requireDefinition(ctx.root, n);
  for (const n of names) await audited(ctx.root, 'service.restart', { target: n }, () => restartService(host, n));
  const statuses = names.map((n) => serviceStatus(ctx.root, n)!);
  if (opts.json) return printJson(ctx, statuses);
  for (const s of statuses) ctx.stdout.write(`${s.name} restarted: ${describe(s)}\n`);
}

export async function boot(ctx: Context, opts: { json?: boolean }): Promise<void> {
  // A switch the reboot interrupted is settled before anything starts: the host boots into exactly one generation.
  await (await import('../../generation/switch.js')).recoverIfNeeded(hostOf(ctx));
  const r = await bootServices(hostOf(ctx));
  if (opts.json) return printJson(ctx, r);
  ctx.stdout.write(r.started.length > 0 ? `started ${r.started.join(', ')}\n` : 'nothing to start\n');
  for (const f of r.failed) ctx.stderr.write(`niso: ${f.name} did not start: ${f.message}\n`);
  if (r.failed.length > 0) ctx.exitCode = 1;
}

