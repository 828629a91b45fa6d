// `niso push`, `niso pull`, `niso tags`, `niso inspect HOST/REPO[:TAG]`, `niso login` and `niso logout`: packages
// through any OCI registry, Docker's verbs and flags where they exist.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { NisoError } from '../../errors/niso-error.js';
import { printable } from '../../errors/render.js';
import { formatSize } from '../../manifest/units.js';
import { layout } from '../../store/layout.js';
import { hostArch } from '../../host/arch.js';
import { readStreamBounded } from '../../host/read-bounded.js';
import { audited } from '../../audit/host/log.js';
import { formatReference, parseReference, type Reference } from '../../registry/reference.js';
import type { Creds } from '../../registry/host/http.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { progressBar } from '../progress.js';

interface CredOpts { creds?: string; passwordStdin?: boolean }

const isRoot = () => (process.geteuid?.() ?? 0) === 0;
const warnTo = (ctx: Context) => (m: string) => { ctx.stderr.write(`niso: warning: ${printable(m)}\n`); };
const rate = (bytes: number, seconds: number) => (seconds > 0 ? `${formatSize(Math.round(bytes / seconds))}/s` : '-');

const MAX_PASSWORD_BYTES = 64 * 1024;

async function readStdinText(ctx: Context, what: string): Promise<string> {
  const stdin = ctx.stdin?.();
  if (!stdin) throw new NisoError('NISO7019', `${what}: there is no stdin to read the password from`, { exitCode: 2 });
  if (stdin.isTTY) throw new NisoError('NISO7019', `${what}: stdin is a terminal; niso does not read a password typed there`, { exitCode: 2, hint: 'pipe it in: printf %s "$TOKEN" | niso … --password-stdin' });
  const bytes = await readStreamBounded(stdin, MAX_PASSWORD_BYTES);
  if (bytes.length > MAX_PASSWORD_BYTES) throw new NisoError('NISO7019', `${what}: more than 64 KiB on stdin is not a password`, { exitCode: 2 });
  // One trailing newline (echo, a file) is not part of the password, as docker login reads it.
  return bytes.toString('utf8').replace(/\r?\n$/, '');
}

async function explicitCreds(ctx: Context, o: CredOpts): Promise<Creds | undefined> {
  if (o.creds === undefined) {
    if (o.passwordStdin) throw new NisoError('NISO7019', '--password-stdin needs --creds USER', { exitCode: 2 });
    return undefined;
  }
  const { parseCreds } = await import('../../registry/host/credentials.js');
  const password = o.passwordStdin ? await readStdinText(ctx, '--password-stdin') : undefined;
  return parseCreds(o.creds, password);
}

async function regEnv(ctx: Context, o: CredOpts) {
  return { root: ctx.root, env: ctx.env, warn: warnTo(ctx), creds: await explicitCreds(ctx, o) };
}

function withTag(text: string): Reference {
  const ref = parseReference(text);
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: 'latest' } : ref;
}

export async function push(ctx: Context, args: string[], opts: CredOpts & { sign?: boolean; signKey?: string; json?: boolean }): Promise<void> {
  if (args.length < 2) throw new NisoError('NISO9001', 'niso push needs a package file and a reference: niso push FILE.niso HOST/REPOSITORY[:TAG]', { exitCode: 2 });
  const ref = withTag(args[args.length - 1]!);
  const files = args.slice(0, -1).map((f) => {
    const path = resolve(ctx.cwd, f);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st?.isFile()) {
      throw new NisoError('NISO2009', `${f}: ${st ? 'not a package file' : 'no such file'}`, { path, exitCode: 2, hint: 'niso push takes the .niso files `niso pack` wrote, then the reference: niso push hello-1.0.0-x86_64.niso registry.example.com/hello:1.0.0' });
    }
    return path;
  });
  // Both chunks load in one go: the second's files are read while the first compiles.
  const [{ signingKeyFile }, { pushPackages }] = await Promise.all([import('../../registry/host/sign.js'), import('../../registry/host/push.js')]);
  const signKeyFile = await signingKeyFile(ctx.root, ctx.env, { sign: opts.sign, signKey: opts.signKey === undefined ? undefined : resolve(ctx.cwd, opts.signKey) });
  const bar = progressBar(ctx, 'pushing', opts.json, undefined, { speed: true });
  const e = await regEnv(ctx, opts);
  const work = () => pushPackages({ ...e, files, ref, signKeyFile, now: new Date(), onProgress: (d, t) => bar.update(d, t) }).finally(() => bar.stop());
  const r = isRoot()
    ? await audited(ctx.root, 'package.push', { target: formatReference(ref) }, work, (x) => ({ details: { digest: x.digest, uploaded_bytes: x.uploadedBytes, packages: x.packages.map((p) => ({ name: p.name, version: p.version, arch: p.arch, package_id: p.packageId, manifest: p.manifestDigest, signed_by: p.signature?.keyid ?? null })) } }))
    : await work();
  if (opts.json) return printJson(ctx, r);
  for (const p of r.packages) {
    const sent = p.uploaded ? `${formatSize(p.size)} sent` : `${formatSize(p.size)} already there`;
    ctx.stdout.write(`pushed ${p.name} ${p.version} (${p.arch}): ${sent}\n  manifest ${p.manifestDigest}\n`);
    if (p.signature) ctx.stdout.write(`  signed by ${p.signature.keyid} (${p.signature.from === 'file' ? 'the .sig beside the file' : 'signed now'}; ${p.signature.via === 'api' ? 'a referrer' : `a referrer, in the fallback tag of a registry without the referrers API`})\n`);
    else ctx.stdout.write('  unsigned (no .sig beside the package and no signing key: `niso key generate`)\n');
  }
  ctx.stdout.write(`${r.reference} → ${r.digest}${r.packages.length > 1 ? ` (an index of ${r.packages.length} architectures)` : ''}\n`);
  if (r.uploadedBytes > 0) ctx.stdout.write(`${formatSize(r.uploadedBytes)} in ${r.seconds.toFixed(1)} s (${rate(r.uploadedBytes, r.seconds)})\n`);
}

function verificationText(v: { status: string; scope: string | null; keyid?: string; signatures?: number }): string {
  switch (v.status) {
    case 'verified': return `verified: signed by ${v.keyid} (trust policy scope ${v.scope})`;
    case 'not-required': return `not verified: the trust policy accepts unsigned packages for ${v.scope ?? 'repositories no scope names (default)'}`;
    case 'skipped': return 'NOT VERIFIED: --insecure-skip-verify';
    default: return 'not verified: this host has no trust policy (/etc/niso/policy.toml); `niso trust add HOST/REPOSITORY KEY.pub` makes pulls check signatures';
  }
}

export async function pull(ctx: Context, refText: string, opts: CredOpts & { output?: string; insecureSkipVerify?: boolean; maxSize?: string; maxFiles?: string; json?: boolean }): Promise<void> {
  const ref = withTag(refText);
  const [{ readInstallLimits }, { readPolicy }, { pullPackage }] = await Promise.all([import('../../store/host-config.js'), import('../../registry/host/config.js'), import('../../registry/host/pull.js')]);
  const limits = await readInstallLimits(layout(ctx.root).config, opts);
  const policy = await readPolicy(ctx.root);
  const skip = opts.insecureSkipVerify === true;
  if (skip) ctx.stderr.write(`niso: WARNING: --insecure-skip-verify: the signatures of ${formatReference(ref)} are not checked; whoever controls the registry (or the way to it) decides what is installed\n`);
  const bar = progressBar(ctx, 'pulling', opts.json, undefined, { speed: true });
  const output = opts.output === undefined ? undefined : resolve(ctx.cwd, opts.output);
  const e = await regEnv(ctx, opts);
  const work = () => pullPackage({ ...e, ref, arch: hostArch(), policy, insecureSkipVerify: skip, limits, output, onProgress: (d, t) => bar.update(d, t) }).finally(() => bar.stop());
  const r = isRoot()
    ? await audited(ctx.root, 'package.pull', { target: formatReference(ref), ...(skip ? { details: { skip_verify: true } } : {}) }, work, (x) => ({ details: {
      manifest: x.manifestDigest, package: { name: x.name, version: x.version, arch: x.arch, digest: x.packageId }, verification: x.verification.status,
      ...(x.verification.keyid ? { signed_by: x.verification.keyid } : {}), ...(skip ? { skip_verify: true } : {}), ...(x.output ? { output: x.output } : { installed: true }),
    } }))
    : await work();
  if (opts.json) return printJson(ctx, r);
  const how = `${formatSize(r.size)} in ${r.seconds.toFixed(1)} s (${rate(r.size, r.seconds)})`;
  if (r.verification.status === 'verified') ctx.stdout.write(`${verificationText(r.verification)}\n`);
  else ctx.stderr.write(`niso: ${verificationText(r.verification)}\n`);
  if (r.output) {
    ctx.stdout.write(`pulled ${r.name} ${r.version} (${r.arch}) from ${r.reference} into ${r.output}: ${how}\n${r.packageId}\n`);
  } else if (r.install?.alreadyInstalled) {
    ctx.stdout.write(`${r.name} ${r.version} is already installed (${r.packageId}), as ${r.reference} names it: nothing downloaded\n`);
  } else {
    ctx.stdout.write(`pulled ${r.name} ${r.version} (${r.arch}) from ${r.reference}: ${how}\ninstalled: ${r.install?.files ?? 0} files, ${formatSize(r.install?.bytes ?? 0)}\n${r.packageId}\n`);
  }
}

export async function tags(ctx: Context, refText: string, opts: CredOpts & { json?: boolean }): Promise<void> {
  const ref = parseReference(refText);
  const { connect } = await import('../../registry/host/connect.js');
  const list = await connect(ref, await regEnv(ctx, opts)).listTags();
  // Referrers fallback tags (sha256-<hex>) are bookkeeping of registries without the referrers API, not versions.
  const shown = list.filter((t) => !/^sha256-[0-9a-f]{64}$/.test(t));
  if (opts.json) return printJson(ctx, { repository: `${ref.registry}/${ref.repository}`, tags: shown });
  for (const t of shown) ctx.stdout.write(`${printable(t)}\n`);
}

/** `niso inspect HOST/REPO[:TAG]`: what a tag holds and who signed it, without downloading the package. */
export async function inspectRemote(ctx: Context, refText: string, opts: CredOpts & { json?: boolean }): Promise<void> {
  const ref = withTag(refText);
  const [{ connect }, { resolveRemote, verifyRemote }, { readPolicy }, { MT, ANNOTATION }] = await Promise.all([
    import('../../registry/host/connect.js'), import('../../registry/host/pull.js'), import('../../registry/host/config.js'), import('../../registry/media.js'),
  ]);
  const client = connect(ref, await regEnv(ctx, opts));
  const r = await resolveRemote(client, ref, hostArch());
  const sigs = await client.referrers(r.manifestDigest, MT.signature);
  let verification: { status: string; scope: string | null; keyid?: string; error?: { code: string; message: string } };
  try {
    verification = await verifyRemote(client, ref, r, await readPolicy(ctx.root), false);
  } catch (e) {
    if (!(e instanceof NisoError)) throw e;
    verification = { status: 'refused', scope: null, error: { code: e.code, message: e.message } };
  }
  const out = {
    reference: r.reference, manifestDigest: r.manifestDigest, index: r.index,
    name: r.artifact.name, version: r.artifact.version, arch: r.artifact.arch, packageId: r.artifact.packageId,
    file: { name: r.artifact.fileName, digest: r.artifact.layer.digest, size: r.artifact.layer.size },
    signatures: sigs.descriptors.map((d) => ({ digest: d.digest, keyid: d.annotations?.[ANNOTATION.keyid] ?? null })), signaturesVia: sigs.via,
    verification,
  };
  if (opts.json) return printJson(ctx, out);
  const rows: [string, string][] = [
    ['manifest', out.manifestDigest],
    ...(out.index ? [['index', `${out.index.digest} (${out.index.arches.join(', ')})`] as [string, string]] : []),
    ['package id', out.packageId ?? '-'],
    ['file', `${out.file.name ?? '-'} (${formatSize(out.file.size)}, ${out.file.digest})`],
    ['signatures', out.signatures.length === 0 ? 'none' : out.signatures.map((s) => s.keyid ?? s.digest).join(', ')],
    ['trust', verification.error ? `refused: ${verification.error.code} ${verification.error.message}` : verificationText(verification)],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  ctx.stdout.write(`${printable(out.name ?? '?')} ${printable(out.version ?? '?')} (${printable(out.arch ?? '?')}) at ${out.reference}\n${rows.map(([k, v]) => `  ${k.padEnd(w)}  ${printable(v)}`).join('\n')}\n`);
}

/** The registry of `niso login HOST`: a host (and port), Docker Hub's names included. */
function registryOf(text: string): string {
  const ref = parseReference(`${text.replace(/^https?:\/\//, '').replace(/\/+$/, '')}/niso`);
  return ref.registry;
}

export async function login(ctx: Context, registryText: string, opts: { username?: string; password?: string; passwordStdin?: boolean; json?: boolean }): Promise<void> {
  const registry = registryOf(registryText);
  if (!opts.username) throw new NisoError('NISO7019', 'niso login needs -u USER', { exitCode: 2, hint: 'printf %s "$TOKEN" | niso login -u USER --password-stdin HOST' });
  if (opts.password !== undefined && opts.passwordStdin) throw new NisoError('NISO7019', '--password and --password-stdin exclude each other', { exitCode: 2 });
  const password = opts.passwordStdin ? await readStdinText(ctx, '--password-stdin') : opts.password;
  if (!password) throw new NisoError('NISO7019', 'niso login needs a password: --password-stdin (or -p, which other users can see in the process list)', { exitCode: 2, hint: 'printf %s "$TOKEN" | niso login -u USER --password-stdin HOST' });
  if (opts.password !== undefined) ctx.stderr.write('niso: warning: a password given with -p is visible to other users in the process list; use --password-stdin\n');
  const [{ RegistryHttp }, { plainHttpAllowed }, { nisoAuthFile, readAuthFile }, { withLogin }, { writeFileAtomic }, { tlsFilesFor }] = await Promise.all([
    import('../../registry/host/http.js'), import('../../registry/host/config.js'), import('../../registry/host/credentials.js'), import('../../registry/credentials.js'), import('../../host/fs-atomic.js'),
    import('../../registry/host/tls-files.js'),
  ]);
  const ref = parseReference(`${registry}/niso`);
  const http = new RegistryHttp({
    registry, apiHost: ref.apiHost, plainHttp: plainHttpAllowed(ctx.root, registry), warn: warnTo(ctx),
    tlsFor: (host) => tlsFilesFor(ctx.root, host), credentials: async () => ({ username: opts.username!, password }),
  });
  const origin = await http.origin();
  if (origin.startsWith('http:') && !(await import('../../registry/reference.js')).isLoopback(registry)) {
    throw new NisoError('NISO7006', `${registry} speaks plain HTTP, and niso sends credentials over plain HTTP only to loopback hosts`, { hint: 'serve the registry over HTTPS' });
  }
  const res = await http.send({ method: 'GET', url: '/v2/', scope: '', idempotent: true });
  if (res.status !== 200) throw await http.fail(res, `logging in to ${registry}`);
  await res.body?.cancel().catch(() => undefined);
  const file = nisoAuthFile(ctx);
  const doc = readAuthFile(file) ?? {};
  await writeFileAtomic(file, JSON.stringify(withLogin(doc, registry, opts.username, password), null, 2) + '\n', 0o600);
  if (opts.json) return printJson(ctx, { registry, username: opts.username, file });
  ctx.stdout.write(`logged in to ${registry} as ${printable(opts.username)} (credentials in ${file})\n`);
}

export async function logout(ctx: Context, registryText: string, opts: { json?: boolean }): Promise<void> {
  const registry = registryOf(registryText);
  const [{ nisoAuthFile, readAuthFile }, { withoutLogin }, { writeFileAtomic }] = await Promise.all([import('../../registry/host/credentials.js'), import('../../registry/credentials.js'), import('../../host/fs-atomic.js')]);
  const file = nisoAuthFile(ctx);
  const doc = readAuthFile(file);
  const r = doc ? withoutLogin(doc, registry) : { file: {}, removed: false };
  if (r.removed) await writeFileAtomic(file, JSON.stringify(r.file, null, 2) + '\n', 0o600);
  if (opts.json) return printJson(ctx, { registry, removed: r.removed, file });
  ctx.stdout.write(r.removed ? `logged out of ${registry} (removed from ${file})\n` : `not logged in to ${registry} (nothing in ${file})\n`);
}
