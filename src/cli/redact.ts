// The command line as a generation's metadata records it: what could be a secret (an --env value, the app's own
// arguments) is never written down.

/** Values of options that may hold secrets are never recorded: `--env NAME=<hidden>`. */
export function redactCommand(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { out.push(a, ...argv.slice(i + 1).map(() => '<arg>')); break; }
    const eq = /^(--env|-e)=(.*)$/.exec(a);
    if (eq) { out.push(`${eq[1]}=${hide(eq[2]!)}`); continue; }
    out.push(a);
    if ((a === '-e' || a === '--env') && i + 1 < argv.length) out.push(hide(argv[++i]!));
  }
  return ['niso', ...out];
}

const hide = (kv: string) => `${kv.split('=')[0]}=<hidden>`;
