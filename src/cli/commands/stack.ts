// `niso stack config [-f FILE] [--profile P] [--json]`: the stack as niso resolves it, like `docker compose config`.
// The host's part only: read the stack file, the .env beside it and the env_files its services name (bounded, regular
// files), look the packages up in the store; the rest is src/stack/, pure. The other stack verbs come with the
// generations engine.
import { statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { NisoError, invalidInput, type Diagnostic } from '../../errors/niso-error.js';
import { formatDiagnostic } from '../../errors/render.js';
import { readRegularFile } from '../../host/read-bounded.js';
import { shortDigest } from '../../store/resolve.js';
import { listInstalled, type InstalledPackage } from '../../store/installed.js';
import { parseDotenv, type Dotenv } from '../../stack/dotenv.js';
import { PROFILE_RE } from '../../stack/names.js';
import { matchInstalled } from '../../stack/package-ref.js';
import { parseStack } from '../../stack/parse.js';
import { renderStackToml } from '../../stack/render.js';
import { envFilesOf, resolveStack, type ResolveResult } from '../../stack/resolve.js';
import type { ResolvedStack, StackService } from '../../stack/types.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

/** A stack file, a .env or an env_file: a few kilobytes; the TOML reader's own bound is 1 MiB. */
const MAX_BYTES = 1024 * 1024;

export interface ConfigOptions { file?: string; profile?: string[]; json?: boolean }

/** What a service's package reference means on this host. */
export type PackageStatus =
  | { status: 'installed'; name: string; version: string; digest: string }
  | { status: 'not installed' }
  | { status: 'file' | 'directory'; path: string };

type Read = { ok: true; text: string } | { ok: false; missing: true } | { ok: false; missing: false; why: string };

function readText(path: string): Read {
  let r;
  try {
    r = readRegularFile(path, MAX_BYTES);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, missing: true };
    if (code === 'EACCES') return { ok: false, missing: false, why: 'permission denied' };
    throw e;
  }
  if (!r.ok) return { ok: false, missing: false, why: `it is ${r.what}, not a regular file` };
  if (r.bytes.length > MAX_BYTES) return { ok: false, missing: false, why: 'it is larger than 1 MiB' };
  return { ok: true, text: r.bytes.toString('utf8') };
}

/** The stack, resolved as `niso stack up` will resolve it (also for the verbs to come). */
export async function loadStack(ctx: Context, opts: ConfigOptions): Promise<{ result: ResolveResult & { stack: ResolvedStack }; packages: Record<string, PackageStatus>; warnings: Diagnostic[] }> {
  const shown = opts.file ?? 'stack.toml';
  const path = resolve(ctx.cwd, shown);
  for (const p of opts.profile ?? []) {
    if (!PROFILE_RE.test(p)) throw new NisoError('NISO5320', `--profile ${JSON.stringify(p)}: not a profile name`, { exitCode: 2, hint: 'use letters, digits, ".", "_" and "-", starting with a letter or digit' });
  }
  let bytes: Buffer;
  try {
    const r = readRegularFile(path, MAX_BYTES);
    if (!r.ok) throw new NisoError('NISO5300', `${shown} is ${r.what}, not a regular file`, { path, exitCode: 2, hint: 'give the stack file with -f FILE' });
    bytes = r.bytes;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new NisoError('NISO5300', opts.file === undefined ? 'no stack.toml in the current directory' : `${shown}: no such file`, { path, exitCode: 2, hint: opts.file === undefined ? 'run it where stack.toml is, or give the file with -f FILE' : 'check the path' });
    throw e;
  }
  const parsed = parseStack(bytes, shown);
  if (!parsed.ok) throw invalidInput(parsed.diagnostics, `${shown} is not a valid stack file`);

  // The .env beside the stack file: the defaults of interpolation, below the environment niso runs in.
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const envShown = join(dirname(shown), '.env');
  let dotenv: Dotenv | null = null;
  const envRead = readText(join(dirname(path), '.env'));
  if (envRead.ok) dotenv = parseDotenv(envRead.text, { lookup: (n) => ctx.env[n], prefer: 'lookup' });
  else if (!envRead.missing) throw new NisoError('NISO5301', `${envShown}: ${envRead.why}`, { path: join(dirname(path), '.env'), exitCode: 2, hint: 'make it a regular file of NAME=value lines, or remove it' });
  for (const p of dotenv?.problems ?? []) (p.warning ? warnings : errors).push({ code: p.warning ? 'NISO5315' : 'NISO5316', file: envShown, line: p.line, column: p.column, message: p.message, hint: p.hint });
  const vars = dotenv?.vars ?? {};

  const envFiles: Record<string, string | null> = {};
  for (const f of envFilesOf(parsed.source, ctx.env, vars, path)) {
    const r = readText(f);
    if (r.ok) envFiles[f] = r.text;
    else if (r.missing) envFiles[f] = null;
    else throw new NisoError('NISO5317', `env_file ${relative(ctx.cwd, f) || f}: ${r.why}`, { path: f, exitCode: 2, hint: 'make it a regular file of NAME=value lines' });
  }
  const resolveWith = (hasHealthcheck?: (service: string) => boolean | undefined) => resolveStack(parsed.source, ctx.env, vars, { path, profiles: opts.profile ?? [], envFiles, ...(hasHealthcheck ? { hasHealthcheck } : {}) });
  let result = resolveWith();
  const fail = (r: ResolveResult, more: Diagnostic[] = []) => {
    for (const w of [...warnings, ...r.warnings]) ctx.stderr.write(`${formatDiagnostic(w, 'warning')}\n`);
    return invalidInput([...errors, ...r.diagnostics, ...more], `${shown} has problems`);
  };
  if (!result.stack || errors.length > 0) throw fail(result);

  // What each package reference means here, and whether the installed ones have a health check (`healthy` needs one).
  const installed = await listInstalled(ctx.root);
  const { installedManifest } = await import('../../sandbox/prepare.js');
  const packages: Record<string, PackageStatus> = {};
  const health = new Map<string, boolean>();
  const pathProblems: Diagnostic[] = [];
  for (const s of result.stack.services) {
    const status = packageStatus(s, installed);
    if (status === null) {
      pathProblems.push({ code: 'NISO5321', ...result.locateService(s.service, ['package']), field: `${s.service}.package`, message: `${s.service}: package ${s.package.kind === 'path' ? s.package.path : ''} (${s.packagePath}) does not exist`, hint: 'give the path of a FILE.niso or an app directory, relative to the stack file' });
      continue;
    }
    packages[s.service] = status;
    if (status.status === 'installed') {
      const pkg = installed.find((p) => p.digest === status.digest)!;
      health.set(s.service, (await installedManifest(pkg)).healthcheck !== undefined);
    }
  }
  if (pathProblems.length > 0) throw fail(result, pathProblems);
  if (health.size > 0) {
    result = resolveWith((service) => health.get(service));
    if (!result.stack) throw fail(result);
  }
  return { result: result as ResolveResult & { stack: ResolvedStack }, packages, warnings: [...warnings, ...result.warnings] };
}

function packageStatus(s: StackService, installed: InstalledPackage[]): PackageStatus | null {
  if (s.package.kind === 'path') {
    const st = statSync(s.packagePath!, { throwIfNoEntry: false });
    if (st?.isFile()) return { status: 'file', path: s.packagePath! };
    if (st?.isDirectory()) return { status: 'directory', path: s.packagePath! };
    return null;
  }
  const hit = matchInstalled(s.package, installed);
  return hit ? { status: 'installed', name: hit.name, version: hit.version, digest: hit.digest } : { status: 'not installed' };
}

function note(p: PackageStatus): string {
  switch (p.status) {
    case 'installed': return `installed: ${p.name} ${p.version} (${shortDigest(p.digest)})`;
    case 'not installed': return 'not installed';
    case 'file': return `a package file, installed by \`niso stack up\`: ${p.path}`;
    case 'directory': return `an app directory, packed and installed by \`niso stack up\`: ${p.path}`;
  }
}

export async function config(ctx: Context, opts: ConfigOptions): Promise<void> {
  const { result, packages, warnings } = await loadStack(ctx, opts);
  for (const w of warnings) ctx.stderr.write(`${formatDiagnostic(w, 'warning')}\n`);
  const stack = result.stack;
  if (opts.json) {
    printJson(ctx, { stack, packages, variables: result.variables, warnings: warnings.map((w) => ({ code: w.code, message: w.message, ...(w.file ? { file: w.file, line: w.line, column: w.column } : {}), ...(w.hint ? { hint: w.hint } : {}) })) });
    return;
  }
  const notes = Object.fromEntries(stack.services.map((s) => [s.service, note(packages[s.service]!)]));
  const hostNames = `# niso services on this host: ${stack.services.map((s) => `${s.service} → ${s.name}`).join(', ')}`;
  const text = renderStackToml(stack, notes);
  const nl = text.indexOf('\n');
  ctx.stdout.write(`${text.slice(0, nl + 1)}${hostNames}\n${text.slice(nl + 1)}`);
}
