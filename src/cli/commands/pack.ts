// `niso pack [DIR] [--binary PATH] [-o FILE]`
import { join, relative, resolve } from 'node:path';
import { isNisoError, NisoError } from '../../errors/niso-error.js';
import { formatSize } from '../../manifest/units.js';
import { packApp, type PackedRuntime } from '../../package/pack.js';
import type { PackageFileFacts } from '../../registry/host/digest-cache.js';
import type { RuntimeName } from '../../runtime/types.js';
import { describePacked } from '../../package/format/package-index.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { progressBar } from '../progress.js';

export async function run(ctx: Context, dir: string, opts: { binary?: string; debCache?: string; output?: string; json?: boolean; quiet?: boolean; sign?: boolean; signKey?: string }): Promise<void> {
  const epochText = ctx.env.SOURCE_DATE_EPOCH;
  let sourceDateEpoch: number | undefined;
  if (epochText !== undefined && epochText !== '') {
    sourceDateEpoch = Number(epochText);
    if (!Number.isInteger(sourceDateEpoch) || sourceDateEpoch < 0) throw new NisoError('NISO9001', `SOURCE_DATE_EPOCH=${epochText} is not a whole number of seconds`, { exitCode: 2, hint: 'e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)' });
  }
  // The key is found before the work: --sign without one fails at once, not after a long pack.
  const { signingKeyFile } = await import('../../registry/host/sign.js');
  const keyFile = await signingKeyFile(ctx.root, ctx.env, { sign: opts.sign, signKey: opts.signKey === undefined ? undefined : resolve(ctx.cwd, opts.signKey) }, (m) => ctx.stderr.write(`note: ${m}\n`));
  const bar = progressBar(ctx, 'packing', opts.json || opts.quiet);
  const debCache = opts.debCache !== undefined ? resolve(ctx.cwd, opts.debCache) : ctx.env.NISO_DEB_CACHE ? resolve(ctx.cwd, ctx.env.NISO_DEB_CACHE) : join(ctx.root, 'var/cache/niso/debs');
  const { written, ...r } = await packApp({
    appDir: resolve(ctx.cwd, dir), binary: opts.binary, output: opts.output, cwd: ctx.cwd, sourceDateEpoch, debCache,
    onProgress: (d, t) => bar.update(d, t), findRuntime: (runtime) => packedRuntime(ctx, runtime, opts.json || opts.quiet),
  }).finally(() => bar.stop());
  // What the package is, remembered for its identity: a push from this host sends it without reading it again.
  const facts: PackageFileFacts = { name: r.name, version: r.version, arch: r.arch, packageId: r.digest, file: { digest: written.digest, size: r.packageBytes } };
  const { digestCacheDir, rememberPackageFile } = await import('../../registry/host/digest-cache.js');
  await rememberPackageFile(digestCacheDir(ctx.root, ctx.env), r.file, written.stat, facts);
  for (const w of r.warnings) ctx.stderr.write(`warning: ${w}\n`);
  const signature = keyFile ? await signPacked(r.file, keyFile, sourceDateEpoch, facts) : undefined;
  if (opts.json) return printJson(ctx, signature ? { ...r, signature } : r);
  if (opts.quiet) { ctx.stdout.write(`${r.digest}\n`); return; }
  const shown = relative(ctx.cwd, r.file) || r.file;
  const ratio = r.appBytes > 0 ? ` (${Math.round((r.packageBytes / r.appBytes) * 100)}% of the app's ${formatSize(r.appBytes)})` : '';
  if (r.binary) ctx.stdout.write(`binary ${relative(ctx.cwd, r.binary.source) || r.binary.source} → ${r.binary.path} in the package\n`);
  if (r.debian) ctx.stdout.write(`from ${r.debian.packages} Debian packages: ${r.debian.libraries} shared libraries, ${r.debian.fromHost === 0 ? 'none' : r.debian.fromHost} copied from this host (see debian.json in the package)\n`);
  ctx.stdout.write(`packed ${r.name} ${r.version} (${r.arch}): ${r.files} files → ${shown}, ${formatSize(r.packageBytes)}${ratio}\n${r.digest}\n`);
  if (r.runtime) ctx.stdout.write(`packed with ${describePacked(r.runtime)}\n`);
  if (signature) ctx.stdout.write(`signed by ${signature.keyid} → ${relative(ctx.cwd, signature.file) || signature.file} (registry manifest ${signature.manifestDigest})\n`);
}

/** Signs the package into FILE.niso.sig: the statement names the manifest digest a push will have. */
async function signPacked(file: string, keyFile: string, epoch: number | undefined, facts: PackageFileFacts): Promise<{ file: string; keyid: string; manifestDigest: string }> {
  const [{ signPackageFile }, { packageFileName, packageManifest }] = await Promise.all([import('../../registry/host/sign.js'), import('../../registry/manifest.js')]);
  // The facts the pack hashed as it wrote: the file is not read again to sign it.
  const full = { ...facts, fileName: packageFileName(facts) };
  const s = await signPackageFile(file, keyFile, epoch !== undefined ? new Date(epoch * 1000) : new Date(), { facts: full, manifest: packageManifest(full) });
  return { file: s.sigFile, keyid: s.keyid, manifestDigest: s.manifestDigest };
}

/** The runtime this host gives the manifest (its digest pin kept), as the package records it; none (with a note) when the host has none. */
async function packedRuntime(ctx: Context, runtime: { use: { name: RuntimeName; version: string }; digest?: string }, quiet?: boolean): Promise<PackedRuntime | null> {
  const { resolveRuntime } = await import('../../runtime/registry.js');
  try {
    const info = await resolveRuntime(ctx.root, runtime.use, { env: ctx.env, pin: runtime.digest ? { digest: runtime.digest } : {} });
    return { name: info.name, version: info.version, source: info.source, ...(info.digest ? { digest: info.digest } : {}) };
  } catch (e) {
    if (!isNisoError(e)) throw e;
    if (!quiet) ctx.stderr.write(`note: the package records no runtime it was packed with: ${e.message.split('\n')[0]}\n`);
    return null;
  }
}
