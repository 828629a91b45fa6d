// `niso inspect NAME[:VERSION] | DIGEST | FILE.niso`: what a package is and holds.
import { parseManifest } from '../../manifest/parse.js';
import type { Manifest } from '../../manifest/schema.js';
import { formatDuration, formatSize, type PortMapping } from '../../manifest/units.js';
import { describePacked, type PackageIndex } from '../../package/format/package-index.js';
import { readPackageHead } from '../../package/read-package.js';
import { readInstalledIndex, resolveOne } from '../../store/query.js';
import type { Context } from '../context.js';
import { printJson } from '../output.js';
import { printable } from '../../errors/render.js';
import { noDirectory, notInstalledHere, packageRef } from '../package-ref.js';
import { renderTable } from '../table.js';
import { releaseLine } from '../../runtime/version.js';
import { whatComesFromTheHost, type HostShare } from '../../package/host-share.js';

interface Inspected {
  name: string; version: string; arch: string; digest: string;
  source: 'store' | 'file'; path: string; installedAt?: string; packageBytes?: number;
  files: number; bytes: number; manifest: Manifest; manifestText: string; entries: PackageIndex['entries'];
  /** The runtime `niso pack` found for the manifest where it packed (absent: none recorded). */
  packedWith?: PackageIndex['runtime'];
  /** What the package brings and what it takes from the host when it runs. */
  fromHost: HostShare;
}

/** A word of a command or a value, quoted when it holds blanks or is empty, so that the words stay apart. */
const word = (a: string) => (a === '' || /\s/.test(a) ? JSON.stringify(a) : a);

export function formatPort(p: PortMapping): string {
  const range = (r: { from: number; to: number }) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`);
  const ip = p.hostIp === null ? '' : p.hostIp.includes(':') ? `[${p.hostIp}]:` : `${p.hostIp}:`;
  return `${ip}${range(p.host)}:${range(p.container)}/${p.protocol}`;
}

async function load(ctx: Context, ref: string): Promise<Inspected> {
  const target = packageRef(ctx.cwd, ref);
  noDirectory(target, 'inspect');
  if (target.kind === 'file') {
    const file = target.path;
    const head = await readPackageHead(file);
    return {
      name: head.index.name, version: head.index.version, arch: head.index.arch, digest: `sha256:${head.digestHex}`,
      source: 'file', path: file, packageBytes: head.packageBytes, files: head.index.totals.files, bytes: head.index.totals.bytes,
      manifest: head.manifest, manifestText: head.manifestText, entries: head.index.entries,
      ...(head.index.runtime ? { packedWith: head.index.runtime } : {}),
      fromHost: await whatComesFromTheHost(head.manifest, { file }),
    };
  }
  const pkg = await resolveOne(ctx.root, target.ref).catch((e: unknown) => { throw notInstalledHere(ctx.cwd, target.ref, e); });
  const { index, manifestText } = await readInstalledIndex(pkg);
  const parsed = parseManifest(manifestText, `${pkg.path}/niso/manifest.toml`);
  return {
    name: pkg.name, version: pkg.version, arch: pkg.arch, digest: pkg.digest, source: 'store', path: pkg.path,
    installedAt: pkg.installedAt, packageBytes: pkg.packageBytes, files: index.totals.files, bytes: index.totals.bytes,
    manifest: parsed.manifest!, manifestText, entries: index.entries,
    ...(index.runtime ? { packedWith: index.runtime } : {}),
    fromHost: await whatComesFromTheHost(parsed.manifest!, { appDir: `${pkg.path}/app` }),
  };
}

export async function run(ctx: Context, ref: string, opts: { files?: boolean; json?: boolean }): Promise<void> {
  const r = await load(ctx, ref);
  if (opts.json) return printJson(ctx, r);
  const m = r.manifest;
  const rows: [string, string][] = [
    ['digest', r.digest],
    ...(m.package.description ? [['description', m.package.description] as [string, string]] : []),
    ...(m.package.license ? [['license', m.package.license] as [string, string]] : []),
    ...(m.package.homepage ? [['homepage', m.package.homepage] as [string, string]] : []),
    ...(m.package.authors.length > 0 ? [['authors', m.package.authors.join(', ')] as [string, string]] : []),
    ['runtime', r.fromHost.summary],
    ...(m.runtime ? [['packed with', r.packedWith ? `${describePacked(r.packedWith)}; a start refuses another release line than ${r.packedWith.name} ${releaseLine(m.runtime.use.name, r.packedWith.version)}` : 'not recorded'] as [string, string]] : []),
    ...r.fromHost.rows,
    ['command', [m.binary.entrypoint, ...m.binary.args].map(word).join(' ')],
    ['workdir', m.binary.workdir],
    ...(Object.keys(m.env).length > 0 ? [['env', Object.entries(m.env).map(([k, v]) => `${k}=${word(v)}`).join(' ')] as [string, string]] : []),
    ['network', `${m.network.mode}${m.network.egress ? '' : ', no egress'}`],
    ['ports', m.network.ports.map(formatPort).join(', ') || '-'],
    ['healthcheck', m.healthcheck ? `${m.healthcheck.http ? `http ${m.healthcheck.http}` : m.healthcheck.tcp !== undefined ? `tcp ${m.healthcheck.tcp}` : `exec ${m.healthcheck.exec!.join(' ')}`} every ${formatDuration(m.healthcheck.interval)}` : '-'],
    ['isolation', m.isolation.preset],
    ['restart', m.restart.policy],
    ['volumes', Object.entries(m.volumes).map(([n, v]) => `${n} → ${v.mount}${v.read_only ? ' (ro)' : ''}`).join(', ') || '-'],
    ['files', `${r.files} (${formatSize(r.bytes)})`],
    r.source === 'store' ? ['installed', `${r.path} (${r.installedAt})`] : ['package', `${r.path} (${formatSize(r.packageBytes ?? 0)})`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  // Every value but the name and version (checked patterns) is the package's own text.
  ctx.stdout.write(`${r.name} ${r.version} (${r.arch})\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${printable(v)}`).join('\n')}\n`);
  if (opts.files) {
    ctx.stdout.write('\n' + renderTable(['mode', 'size', 'sha256', 'path'], r.entries.map((e) =>
      e.type === 'file' ? [e.mode.toString(8), formatSize(e.size), e.sha256.slice(0, 12), e.path]
        : e.type === 'dir' ? ['dir', '-', '-', `${e.path}/`] : ['link', '-', '-', `${e.path} -> ${e.target}`])));
  }
}
