// `niso key generate` and `niso trust add|list|remove`: the keys that sign packages here, and the policy
// (/etc/niso/policy.toml) that says whose signatures a pull of each registry scope needs.
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { printable } from '../../errors/render.js';
import { readRegularFile } from '../../host/read-bounded.js';
import { audited } from '../../audit/host/log.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';

export async function keyGenerate(ctx: Context, opts: { file?: string; comment?: string; json?: boolean }): Promise<void> {
  const [{ generateKey }, { defaultKeyFile }] = await Promise.all([import('../../registry/host/sign.js'), import('../../registry/host/config.js')]);
  const file = opts.file !== undefined ? resolve(ctx.cwd, opts.file) : defaultKeyFile(ctx.root);
  const r = await generateKey(file, opts.comment ?? `niso@${hostname()}`);
  if (opts.json) return printJson(ctx, r);
  ctx.stdout.write(`wrote ${r.keyFile} (private, 0600) and ${r.publicFile}\n${r.keyid}\n`);
  ctx.stdout.write(`${opts.file === undefined ? '`niso pack` signs with it from now on' : `sign with it: niso pack --sign-key ${opts.file} (or NISO_SIGNING_KEY=${opts.file})`}; on the hosts that pull: niso trust add REGISTRY/REPOSITORY ${r.publicFile}\n`);
}

/** A public key file's first key line (comments and blank lines skipped). */
function readKeyLine(file: string): string {
  let r;
  try { r = readRegularFile(file, 64 * 1024); } catch (e) {
    throw new NisoError('NISO7020', `${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { path: file, exitCode: 2, hint: 'give the .pub file of `niso key generate`' });
  }
  if (!r.ok) throw new NisoError('NISO7020', `${file} is ${r.what}, not a key file`, { path: file, exitCode: 2 });
  const line = r.bytes.toString('utf8').split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#'));
  if (!line) throw new NisoError('NISO7020', `${file} holds no key`, { path: file, exitCode: 2 });
  return line;
}

export async function trustAdd(ctx: Context, scope: string, keyFile: string | undefined, opts: { insecureAcceptUnsigned?: boolean; reject?: boolean; anyName?: boolean; json?: boolean }): Promise<void> {
  const [{ readPolicy, writePolicy }, { emptyPolicy, isScope }, { parsePublicKeyLine }] = await Promise.all([import('../../registry/host/config.js'), import('../../registry/policy.js'), import('../../registry/signature.js')]);
  const modes = [keyFile !== undefined, opts.insecureAcceptUnsigned === true, opts.reject === true].filter(Boolean).length;
  if (modes !== 1) throw new NisoError('NISO9001', 'niso trust add SCOPE takes one of: a KEY.pub file, --insecure-accept-unsigned, --reject', { exitCode: 2, hint: 'e.g. niso trust add registry.example.com/team release.pub' });
  const scopeName = scope.replace(/\/+$/, '');
  if (!isScope(scopeName)) throw new NisoError('NISO7030', `"${printable(scope)}" is not a scope`, { exitCode: 2, hint: 'a scope is HOST[:PORT] (a whole registry), HOST[:PORT]/REPOSITORY (a repository or a namespace of them), or file: (local .niso files)' });
  let key: { line: string; keyid: string } | null = null;
  if (keyFile !== undefined) {
    const path = resolve(ctx.cwd, keyFile);
    const line = readKeyLine(path);
    const k = parsePublicKeyLine(line, path);
    key = { line: line.split(/\s+/).slice(0, 3).join(' '), keyid: k.keyid };
  }
  const require = key ? 'signed' as const : opts.reject ? 'reject' as const : 'insecure-accept-unsigned' as const;
  const change = async () => {
    const p = await readPolicy(ctx.root) ?? emptyPolicy();
    let s = p.scope.find((x) => x.match === scopeName);
    if (!s) { s = { match: scopeName, require, keys: [], identity: 'repository-name' }; p.scope.push(s); }
    s.require = require;
    if (opts.anyName) s.identity = 'any';
    if (key) {
      const have = s.keys.map((l) => parsePublicKeyLine(l, scopeName).keyid);
      if (!have.includes(key.keyid)) s.keys.push(key.line);
    }
    await writePolicy(ctx.root, p);
    return { scope: scopeName, require, keyid: key?.keyid ?? null, identity: s.identity };
  };
  const r = await audited(ctx.root, 'trust.add', { target: scopeName }, change, (x) => ({ details: { require: x.require, keyid: x.keyid, identity: x.identity } }));
  if (opts.json) return printJson(ctx, r);
  ctx.stdout.write(r.require === 'signed' ? `${r.scope}: signatures by ${r.keyid} are trusted\n` : r.require === 'reject' ? `${r.scope}: rejected\n` : `${r.scope}: unsigned packages are accepted (insecure)\n`);
}

export async function trustList(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const [{ readPolicy, policyFile }, { parsePublicKeyLine }] = await Promise.all([import('../../registry/host/config.js'), import('../../registry/signature.js')]);
  const p = await readPolicy(ctx.root);
  const file = policyFile(ctx.root);
  const scopes = (p?.scope ?? []).map((s) => ({ match: s.match, require: s.require, identity: s.identity, keys: s.keys.map((l) => { const k = parsePublicKeyLine(l, s.match); return { keyid: k.keyid, comment: k.comment }; }) }));
  if (opts.json) return printJson(ctx, { file, exists: p !== null, default: p?.default ?? null, scopes });
  if (!p) { ctx.stdout.write(`no trust policy (${file}): pulls are not verified; \`niso trust add SCOPE KEY.pub\` makes one\n`); return; }
  ctx.stdout.write(`${file}: default ${p.default}\n`);
  const { printTable } = await import('../table.js');
  printTable(ctx.stdout, ['scope', 'require', 'keys'], scopes.map((s) => [s.match, s.require + (s.identity === 'any' ? ' (any name)' : ''), s.keys.map((k) => `${k.keyid}${k.comment ? ` ${k.comment}` : ''}`).join(', ') || '-']));
}

export async function trustRemove(ctx: Context, scope: string, keyid: string | undefined, opts: { json?: boolean }): Promise<void> {
  const [{ readPolicy, writePolicy, policyFile }, { parsePublicKeyLine }] = await Promise.all([import('../../registry/host/config.js'), import('../../registry/signature.js')]);
  const scopeName = scope.replace(/\/+$/, '');
  const change = async () => {
    const p = await readPolicy(ctx.root);
    const i = p ? p.scope.findIndex((s) => s.match === scopeName) : -1;
    if (!p || i < 0) throw new NisoError('NISO7041', `the trust policy has no scope ${printable(scopeName)}`, { path: policyFile(ctx.root), exitCode: 2, hint: '`niso trust list` shows the scopes' });
    const s = p.scope[i]!;
    let removedScope = false;
    if (keyid === undefined) { p.scope.splice(i, 1); removedScope = true; }
    else {
      const before = s.keys.length;
      s.keys = s.keys.filter((l) => parsePublicKeyLine(l, s.match).keyid !== keyid);
      if (s.keys.length === before) throw new NisoError('NISO7041', `scope ${printable(scopeName)} trusts no key ${printable(keyid)}`, { path: policyFile(ctx.root), exitCode: 2, hint: '`niso trust list` shows the key ids' });
      // A scope that requires signatures but trusts nobody would refuse everything: it goes, and the default decides.
      if (s.keys.length === 0 && s.require === 'signed') { p.scope.splice(i, 1); removedScope = true; }
    }
    await writePolicy(ctx.root, p);
    return { scope: scopeName, keyid: keyid ?? null, removedScope };
  };
  const r = await audited(ctx.root, 'trust.remove', { target: scopeName }, change, (x) => ({ details: { keyid: x.keyid, removed_scope: x.removedScope } }));
  if (opts.json) return printJson(ctx, r);
  ctx.stdout.write(r.removedScope ? `removed scope ${r.scope}${r.keyid ? ` (its last key ${r.keyid})` : ''}\n` : `${r.scope}: no longer trusts ${r.keyid}\n`);
}
