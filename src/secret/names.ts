// The rules of secret names, targets and the --secret option, as data: the store, the manifest schema, the command
// line and buildPlan all apply these, so a name or a target is refused the same way wherever it is written. Pure.
import { NisoError } from '../errors/niso-error.js';

/**
 * Lower case only, as service, network and volume names: the name is a file name (the store, /run/secrets/NAME) and a
 * systemd credential name, and one spelling per secret keeps `db` and `DB` from being two secrets that look alike.
 */
export const SECRET_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Where a secret appears unless a target says otherwise (Compose's and Docker's path). */
export const SECRETS_DIR = '/run/secrets';

/**
 * The bound of one secret's bytes: Docker's (500 KiB). A service's secrets together are bound by what systemd 252 loads
 * into one unit as credentials: measured there, 1,048,288 bytes in two credentials loaded and 1 MiB - 1 byte failed
 * (243/CREDENTIALS), so 1023 KiB; two secrets of the largest size fit. The embedded backend keeps the same bounds.
 */
export const MAX_SECRET_BYTES = 500 * 1024;
export const MAX_SECRETS_TOTAL_BYTES = 1023 * 1024;

/**
 * Trees a secret may not be mounted in: niso's own mounts (/app, /state) and the kernel's (/proc, /dev, /sys), where a
 * file bound in would hide what the app needs or land in a host directory; /run/credentials is systemd's.
 */
export const FORBIDDEN_TARGETS: readonly string[] = ['/app', '/state', '/proc', '/dev', '/sys', '/run/credentials'];

/** Untrusted text for a message: quoted (JSON escapes NUL and control characters), cut at 80 characters. */
export function shown(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/** What is wrong with a secret name, or null. */
export function secretNameProblem(name: string): string | null {
  if (SECRET_NAME_RE.test(name)) return null;
  if (name === '') return 'is empty';
  if (name.includes('\0')) return 'contains a NUL character';
  if (name.includes('/')) return 'contains "/"';
  if (name === '.' || name === '..') return 'is a path component, not a name';
  if (name.length > 64) return `is ${name.length} characters long (at most 64)`;
  if (/[A-Z]/.test(name) && SECRET_NAME_RE.test(name.toLowerCase())) return 'has upper-case letters';
  if (!/^[a-z0-9]/.test(name)) return 'does not start with a lower-case letter or a digit';
  return 'has characters other than lower-case letters, digits, ".", "_" and "-"';
}

/** The closest valid name to any text, for hints. */
export function suggestSecretName(text: string): string {
  const s = text.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64).replace(/[^a-z0-9]+$/, '');
  return s === '' ? 'db-password' : s;
}

export function secretNameError(name: string, where = 'secret name'): NisoError | null {
  const problem = secretNameProblem(name);
  if (problem === null) return null;
  return new NisoError('NISO5100', `${where} ${shown(name)} ${problem}`, {
    exitCode: 2, hint: `secret names are 1-64 lower-case letters, digits, ".", "_" and "-", starting with a letter or digit, e.g. "${suggestSecretName(name)}"`,
  });
}

export function assertSecretName(name: string, where?: string): void {
  const e = secretNameError(name, where);
  if (e) throw e;
}

export const defaultTarget = (name: string) => `${SECRETS_DIR}/${name}`;

/** What is wrong with a secret's target inside the sandbox (absolute, normalised, outside niso's trees), or null. */
export function targetProblem(target: string): { why: string; hint: string } | null {
  if (target.includes('\0')) return { why: 'contains a NUL character', hint: 'write a path such as "/run/secrets/db-password"' };
  const segs = target.split('/').slice(1);
  if (!target.startsWith('/') || target === '/' || segs.some((s) => s === '' || s === '.' || s === '..')) {
    return { why: 'is not an absolute, normalised path of a file', hint: `write an absolute path without ".", ".." or "//", e.g. "${SECRETS_DIR}/${segs.filter((s) => s !== '' && s !== '.' && s !== '..').pop() ?? 'db-password'}"` };
  }
  if (target.length > 1024) return { why: `is ${target.length} characters long`, hint: 'use a path of at most 1024 characters' };
  const hit = FORBIDDEN_TARGETS.find((f) => target === f || target.startsWith(`${f}/`));
  if (hit) return { why: target === hit ? `would hide ${hit}` : `is inside ${hit}, which ${hit === '/run/credentials' ? 'systemd' : 'niso'} manages`, hint: `mount secrets below ${SECRETS_DIR}, e.g. "${SECRETS_DIR}/${segs.at(-1)}"` };
  return null;
}

export function targetError(target: string, where: string): NisoError | null {
  const p = targetProblem(target);
  return p ? new NisoError('NISO5105', `${where}: the target ${shown(target)} ${p.why}`, { exitCode: 2, hint: p.hint }) : null;
}

/**
 * `--secret NAME[,target=PATH]`, also in Docker's long form `source=NAME,target=PATH` (src=, and dst=/destination=
 * for target). Docker's uid=, gid= and mode= are refused: the file is always the service user's, mode 0400.
 */
export function parseSecretOption(text: string): { name: string; target?: string } {
  const fail = (why: string, hint: string) => new NisoError('NISO5107', `--secret ${shown(text)}: ${why}`, { exitCode: 2, hint });
  const parts = text.split(',');
  let name: string | undefined;
  let target: string | undefined;
  parts.forEach((part, i) => {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (i !== 0) throw fail(`"${part}" is not KEY=VALUE`, 'write --secret NAME or --secret NAME,target=/run/secrets/FILE');
      name = part;
      return;
    }
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (key === 'source' || key === 'src') {
      if (name !== undefined) throw fail('the secret is named twice', 'name one secret per --secret');
      name = value;
    } else if (key === 'target' || key === 'dst' || key === 'destination') {
      if (target !== undefined) throw fail('the target is given twice', 'give one target per --secret');
      target = value;
    } else if (key === 'uid' || key === 'gid' || key === 'mode') {
      throw fail(`${key}= is not supported`, 'the file is always owned by the service\'s own user, mode 0400; leave it out');
    } else {
      throw fail(`unknown key "${key}"`, 'the keys are source (or the bare NAME) and target');
    }
  });
  if (name === undefined || name === '') throw fail('no secret named', 'write --secret NAME, e.g. --secret db-password');
  const bad = secretNameError(name, `--secret ${shown(text)}: the name`);
  if (bad) throw bad;
  if (target !== undefined) {
    const t = targetError(target, `--secret ${shown(text)}`);
    if (t) throw t;
  }
  return target === undefined ? { name } : { name, target };
}
