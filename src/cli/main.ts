// The niso command line: the only file that reads process.*. The plain read commands that run most often (`status`,
// `list`, `--version`) run from here; every other command line goes to program.ts, which declares every command
// with commander, and each command's implementation loads only when it runs, so that `niso list` never parses the
// TOML/zod/tar machinery, nor commander (issue 17).
import { NisoError, isNisoError } from '../errors/niso-error.js';
import { diagnosticToJson, formatDiagnostics } from '../errors/render.js';
import { makeContext, type Context } from './context.js';
import { redactCommand } from './redact.js';
import { setInvocation } from '../audit/host/invocation.js';
import { VERSION } from './version.js';
import { UNIT_COMMANDS, isUnitCommand } from './unit-commands.js';

/**
 * The command lines that need no parser: `status`/`ps` with service names and `--json`, `list`/`ls` with `--json`,
 * `--version`/`-V` alone; the supervisor's `__supervise`, a long-lived process; and the commands systemd's units run
 * with one service name (unit-commands.ts). commander and the declarations of ~90 commands cost ~30 ms of CPU at each start, as much
 * as `status` with 20 services spends on its work. Anything else (`--help`, another option, `--`, a mistake) goes
 * through commander, which gives the same results for these and the usual errors for the rest.
 */
function plainReadCommand(argv: string[]): ((ctx: Context) => Promise<void>) | null {
  const [verb, ...rest] = argv;
  const json = rest.includes('--json');
  const names = rest.filter((a) => a !== '--json');
  if (verb === undefined || names.some((a) => a === '' || a.startsWith('-'))) return null;
  if ((verb === '--version' || verb === '-V') && rest.length === 0) return async (ctx) => { ctx.stdout.write(`${VERSION}\n`); };
  if (verb === 'status' || verb === 'ps') return async (ctx) => (await import('./commands/status.js')).status(ctx, names, json ? { json } : {});
  if (verb === '__supervise' && rest.length === 0) return async (ctx) => (await import('./commands/supervise.js')).supervise(ctx);
  if ((verb === 'list' || verb === 'ls') && names.length === 0) return async (ctx) => (await import('./commands/list.js')).run(ctx, json ? { json } : {});
  if (rest.length === 1 && names.length === 1 && isUnitCommand(verb)) return (ctx) => UNIT_COMMANDS[verb](ctx, names[0]!);
  return null;
}


export async function main(argv: string[], ctx: Context): Promise<number> {
  const wantsJson = argv.includes('--json');
  setInvocation({ argv: ['niso', ...argv], env: ctx.env });
  ctx.command ??= redactCommand(argv);
  try {
    const plain = plainReadCommand(argv);
    if (plain) await plain(ctx);
    else await (await import('./program.js')).parse(argv, ctx);
    return ctx.exitCode ?? 0;
  } catch (e) {
    return reportError(ctx, e, wantsJson);
  }
}

function reportError(ctx: Context, e: unknown, json: boolean): number {
  let err: NisoError;
  if (isNisoError(e)) {
    // As another user, "cannot read service.json" (state damaged?) is really "not root".
    err = uid() !== 0 && isDenied(e.cause) ? deniedError(e.cause, uid()) : e;
  } else if (isDenied(e)) {
    err = deniedError(e, uid());
  } else {
    const stack = e instanceof Error ? e.stack ?? e.message : String(e);
    ctx.stderr.write(`internal error NISO9999: ${stack}\n  hint: this is a bug in niso; please report it with the command you ran\n`);
    if (json) ctx.stdout.write(JSON.stringify({ error: { code: 'NISO9999', message: String(e instanceof Error ? e.message : e) } }, null, 2) + '\n');
    return 1;
  }
  const diagnostics = err.allDiagnostics();
  if (json) {
    ctx.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}), diagnostics: diagnostics.map(diagnosticToJson) } }, null, 2) + '\n');
  }
  if (err.diagnostics.length > 0 && err.message) ctx.stderr.write(`${err.message}\n`);
  ctx.stderr.write(formatDiagnostics(diagnostics) + '\n');
  return err.exitCode;
}

const uid = () => (typeof process.geteuid === 'function' ? process.geteuid() : 0);
interface ErrnoError { code: string; path?: string; syscall?: string }
const isDenied = (e: unknown): e is ErrnoError => e instanceof Error && ((e as Partial<ErrnoError>).code === 'EACCES' || (e as Partial<ErrnoError>).code === 'EPERM');

/** EACCES/EPERM is what most commands meet first as another user: niso's state, cgroups and namespaces are root's. */
function deniedError(e: ErrnoError, uid: number): NisoError {
  // The path is the diagnostic's place (`error NISO9004: PATH: ...`); the call says what was refused.
  const call = e.syscall ? ` (${e.syscall})` : '';
  if (uid !== 0) {
    return new NisoError('NISO9004', `niso needs root: permission denied${call}`, { path: e.path, hint: `niso runs as uid ${uid}; run it as root (e.g. sudo niso ...). Only pack, init, explain and inspect of a package file work without root` });
  }
  return new NisoError('NISO9004', `permission denied${call}, even for root`, { path: e.path, hint: 'check how it is mounted (read-only, root_squash), its attributes (lsattr) and security modules (AppArmor, SELinux)' });
}

// Run only as the bundled entry point, not when imported by tests.
const isEntry = typeof process !== 'undefined' && process.argv[1] !== undefined && /(?:niso(?:\.mjs)?|main\.ts)$/.test(process.argv[1]);
if (isEntry) {
  // A reader that goes away (`niso --help | head -1`, `niso logs web | head`) ends niso quietly,
  // as SIGPIPE ends other tools: node ignores SIGPIPE, so the next write fails with EPIPE instead,
  // which nothing would handle. The status is a SIGPIPE death's as a shell reports it.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(128 + 13);
      throw e;
    });
  }
  const ctx = makeContext(process.cwd(), process.env, process.stdout, process.stderr);
  ctx.entry = process.argv[1];
  ctx.stdin = () => process.stdin;
  let finished = false;
  // A command whose work stalls (a promise nobody resolves) must not end as a silent success.
  process.on('beforeExit', () => {
    if (finished) return;
    finished = true;
    process.stderr.write('internal error NISO9999: the command stopped before finishing its work\n  hint: this is a bug in niso; please report it with the command you ran\n');
    process.exitCode = 1;
  });
  main(process.argv.slice(2), ctx).then((code) => { finished = true; process.exitCode = code; }, (e) => { finished = true; process.stderr.write(String(e) + '\n'); process.exitCode = 1; });
}
