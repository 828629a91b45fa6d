// `niso secret create|list|inspect|remove`: secrets that services read as files, like `docker secret`. What these
// commands print is metadata only (size, sha256, labels, grants); a secret's bytes leave the store only into a sandbox.
import { resolve } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { printable } from '../../errors/render.js';
import { formatSize } from '../../manifest/units.js';
import { readRegularFile, readStreamBounded, type Bounded } from '../../host/read-bounded.js';
import { assertSecretName, MAX_SECRET_BYTES } from '../../secret/names.js';
import { secretUsers, type SecretUser } from '../../secret/grants.js';
import { createSecret, listSecretNames, listSecrets, notFound, removeSecrets, requireSecret, secretExists, type SecretMeta } from '../../secret/store.js';
import type { Context } from '../context.js';
import { printJson, relativeTime } from '../output.js';
import { printTable } from '../table.js';
import { audited } from '../../audit/host/log.js';
import { removedSecretsFields, secretFields } from '../../audit/fields.js';

const valueError = (message: string, hint: string) => new NisoError('NISO5103', message, { exitCode: 2, hint });

/** KEY=VALUE labels, as `docker secret create --label`. */
function parseLabels(labels: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels) {
    const i = l.indexOf('=');
    const key = i < 0 ? l : l.slice(0, i);
    // eslint-disable-next-line no-control-regex
    if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/.test(key) || /[\x00-\x1f\x7f]/.test(l) || l.length > 4096) {
      throw new NisoError('NISO9001', `--label ${JSON.stringify(l.slice(0, 80))}: not KEY=VALUE with a key of letters, digits, ".", "_", "/" and "-"`, { exitCode: 2, hint: 'e.g. --label owner=ops' });
    }
    out[key] = i < 0 ? '' : l.slice(i + 1);
  }
  return out;
}

async function readValue(ctx: Context, file: string | undefined): Promise<{ bytes: Buffer; from: string }> {
  if (file === '-' || file === undefined) {
    // Opened only here: a FILE never touches niso's stdin.
    const stdin = ctx.stdin?.();
    if (stdin === undefined) throw valueError('there is no stdin to read the value from', 'give the value in a FILE');
    if (stdin.isTTY) {
      throw valueError(`${file === undefined ? 'no FILE given, and ' : ''}stdin is a terminal: niso does not read a secret typed there (it would be echoed, and kept in the shell's history)`, 'pipe it in (printf %s "$VALUE" | niso secret create NAME -) or give a FILE');
    }
    return { bytes: await readStreamBounded(stdin, MAX_SECRET_BYTES), from: 'stdin' };
  }
  const path = resolve(ctx.cwd, file);
  let read: Bounded;
  try { read = readRegularFile(path, MAX_SECRET_BYTES); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw valueError(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'ENOTDIR' ? 'a part of the path is not a directory' : (e as Error).message}`, 'give the path of a regular file that holds the value, or - to read stdin');
  }
  if (!read.ok) throw valueError(`${file}: not a regular file but ${read.what}`, 'give the path of a regular file that holds the value, or pipe the value into `niso secret create NAME -`');
  return { bytes: read.bytes, from: file };
}

export async function create(ctx: Context, name: string, file: string | undefined, opts: { label?: string[]; json?: boolean }): Promise<void> {
  assertSecretName(name);
  const labels = parseLabels(opts.label ?? []);
  const { bytes, from } = await readValue(ctx, file);
  if (bytes.length === 0) throw valueError(`the value of secret ${name} (from ${from}) is empty`, 'a secret needs at least one byte; printf %s "$VALUE" | niso secret create NAME - reads it from stdin');
  if (bytes.length > MAX_SECRET_BYTES) throw valueError(`the value of secret ${name} (from ${from}) is larger than ${MAX_SECRET_BYTES / 1024} KiB`, 'a secret is a password, a key or a token; keep larger files in a volume');
  const meta = await audited(ctx.root, 'secret.create', { target: name }, () => createSecret(ctx.root, name, bytes, labels), secretFields);
  bytes.fill(0);
  if (opts.json) return printJson(ctx, view(meta, []));
  ctx.stdout.write(`created secret ${meta.name} (${meta.size} bytes, ${meta.digest.slice(0, 19)}…)\n`);
}

/** What the commands show of a secret: its metadata and the services granted it. */
function view(meta: SecretMeta, users: readonly SecretUser[]) {
  return { name: meta.name, createdAt: meta.createdAt, size: meta.size, digest: meta.digest, labels: meta.labels, services: users };
}

export async function list(ctx: Context, opts: { quiet?: boolean; json?: boolean }): Promise<void> {
  const { secrets, damaged } = listSecrets(ctx.root);
  for (const n of damaged) ctx.stderr.write(`warning: the metadata of secret ${n} is damaged (NISO5106): \`niso secret rm -f ${n}\` and create it again\n`);
  if (opts.quiet && !opts.json) { for (const n of listSecretNames(ctx.root)) ctx.stdout.write(`${n}\n`); return; }
  const users = await secretUsers(ctx.root);
  if (opts.json) return printJson(ctx, secrets.map((s) => view(s, users.get(s.name) ?? [])));
  if (secrets.length === 0) { ctx.stdout.write('no secrets (create one with `niso secret create NAME FILE`)\n'); return; }
  const now = new Date();
  printTable(ctx.stdout, ['name', 'size', 'digest', 'created', 'services'],
    secrets.map((s) => [s.name, formatSize(s.size), s.digest.slice(7, 19), relativeTime(new Date(s.createdAt), now), [...new Set((users.get(s.name) ?? []).map((u) => u.service))].join(', ') || '-']));
}

export async function inspect(ctx: Context, names: string[], opts: { json?: boolean }): Promise<void> {
  for (const n of names) assertSecretName(n);
  const metas = names.map((n) => requireSecret(ctx.root, n));
  const users = await secretUsers(ctx.root);
  const views = metas.map((m) => view(m, users.get(m.name) ?? []));
  if (opts.json) return printJson(ctx, views);
  for (const v of views) {
    const rows: [string, string][] = [
      ['name', v.name], ['created', v.createdAt], ['size', `${v.size} bytes`], ['digest', v.digest],
      ['labels', Object.entries(v.labels).map(([k, x]) => `${k}=${x}`).join(', ') || '-'],
      ['services', v.services.map((u) => `${u.service} at ${u.target} (${u.from})`).join(', ') || '-'],
    ];
    // A target may come from a package's manifest, which can put control characters in it: printable, as tables are.
    ctx.stdout.write(rows.map(([k, x]) => `${k.padEnd(9)} ${printable(x)}`).join('\n') + '\n');
    if (views.length > 1) ctx.stdout.write('\n');
  }
}

export async function remove(ctx: Context, names: string[], opts: { force?: boolean; json?: boolean }): Promise<void> {
  for (const n of names) assertSecretName(n);
  const unique = [...new Set(names)];
  for (const n of unique) if (!secretExists(ctx.root, n)) throw notFound(n, listSecretNames(ctx.root));
  const users = await secretUsers(ctx.root);
  const inUse = unique.filter((n) => (users.get(n) ?? []).length > 0);
  const servicesOf = (n: string) => [...new Set((users.get(n) ?? []).map((u) => u.service))];
  if (inUse.length > 0 && !opts.force) {
    const all = [...new Set(inUse.flatMap(servicesOf))];
    throw new NisoError('NISO5104', `${inUse.map((n) => `secret ${n} is granted to ${servicesOf(n).join(', ')}`).join('; ')}`, {
      exitCode: 1, hint: `remove the services first (niso deactivate ${all.join(' ')} && niso remove ${all.join(' ')}), or pass -f: they then fail at their next start until the secret exists again`,
    });
  }
  const removed = await audited(ctx.root, 'secret.rm', { target: unique.join(', ') }, () => removeSecrets(ctx.root, unique), removedSecretsFields);
  if (opts.json) return printJson(ctx, removed.map((m) => ('digest' in m ? view(m, users.get(m.name) ?? []) : { name: m.name, services: users.get(m.name) ?? [] })));
  for (const m of removed) {
    ctx.stdout.write(`removed secret ${m.name}\n`);
    const svc = servicesOf(m.name);
    if (svc.length > 0) ctx.stderr.write(`warning: ${svc.join(', ')} ${svc.length === 1 ? 'is' : 'are'} granted ${m.name}: ${svc.length === 1 ? 'its' : 'their'} next start fails until it is created again (a running one keeps the copy it has)\n`);
  }
}
