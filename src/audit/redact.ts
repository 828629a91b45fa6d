// The command line as the audit log keeps it: what was asked, without the values that must not be kept anywhere.
// niso's own ways in keep secrets off the command line (`--env NAME` reads the value from the environment, `secret
// create` reads a file or stdin), but a user may still type `-e DB_PASSWORD=…` or an app argument `--token=…`.
export const REDACTED = '<redacted>';

/** Option and variable names whose values are secrets. */
const SECRET_NAME = /pass(?:word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|credential|creds?\b|auth|cookie|session/i;
/** Options named like secrets that take no value (`--password-stdin`): the next word is not theirs. */
const SECRET_FLAGS = new Set(['--password-stdin']);
/** niso's own options whose value is a name of the secret store, never a value. */
const NAME_OPTIONS = new Set(['--secret']);
/** `secret create NAME FILE` and the like: everything after it goes (the entry's target names the secret). */
const SECRET_VERBS = new Set(['create', 'set']);

/** `NAME=VALUE` with the value gone. */
const withoutValue = (assignment: string) => {
  const i = assignment.indexOf('=');
  return i < 0 ? assignment : `${assignment.slice(0, i + 1)}${REDACTED}`;
};

/** user:password@ in a URL. */
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^/@\s]*@/i;

/** A value that is not an option, a secret-looking assignment or URL credential, or neither. */
function scrubWord(word: string): string {
  const eq = word.indexOf('=');
  if (eq > 0 && SECRET_NAME.test(word.slice(0, eq))) return withoutValue(word);
  return word.replace(URL_PASSWORD, `$1:${REDACTED}@`);
}

/**
 * The argv with: the values of `-e`/`--env` (the names stay), everything after `secret create|set`, the values of
 * options named like secrets (`--password X`, `--api-key=X`, also in the app's arguments), `NAME=VALUE` words whose
 * NAME looks like a secret, and passwords in URLs. `--env-file` keeps its path: its contents are never read here.
 */
export function redactArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  let afterDashes = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === 'secret' && SECRET_VERBS.has(argv[i + 1] ?? '') && !afterDashes) {
      out.push(a, argv[i + 1]!, ...argv.slice(i + 2).map(() => REDACTED));
      break;
    }
    if (a === '--' && !afterDashes) { afterDashes = true; out.push(a); continue; }
    if (!afterDashes && (a === '--env' || a === '-e')) {
      out.push(a);
      if (i + 1 < argv.length) out.push(withoutValue(argv[++i]!));
      continue;
    }
    if (!afterDashes && a.startsWith('--env=')) { out.push(`--env=${withoutValue(a.slice('--env='.length))}`); continue; }
    // Short options run together (`-ie X`, `-eNAME=V`): what follows an `e` is its value.
    if (!afterDashes && /^-[A-Za-z]+/.test(a) && !a.startsWith('--') && a.includes('e')) {
      const at = a.indexOf('e');
      const rest = a.slice(at + 1);
      if (rest === '') {
        out.push(a);
        if (i + 1 < argv.length) out.push(withoutValue(argv[++i]!));
      } else {
        out.push(`${a.slice(0, at + 1)}${withoutValue(rest)}`);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a : a.slice(0, eq);
      const secretLike = SECRET_NAME.test(name.replace(/^-+/, '')) && !(NAME_OPTIONS.has(name) && !afterDashes);
      if (secretLike) {
        if (eq >= 0) { out.push(`${name}=${REDACTED}`); continue; }
        out.push(a);
        // `--password VALUE`: the next word is taken as its value unless it is an option itself.
        if (!SECRET_FLAGS.has(name) && i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) { out.push(REDACTED); i++; }
        continue;
      }
      out.push(eq < 0 ? a : `${name}=${scrubWord(a.slice(eq + 1))}`);
      continue;
    }
    out.push(scrubWord(a));
  }
  return out;
}
