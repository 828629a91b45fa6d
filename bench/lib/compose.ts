// podman-compose as the peer of `niso stack up` (bench/stack.ts): installed from Debian when missing, podman kept in
// its own storage, config and CNI directory under the bench's work dir (so nothing of it outlives the bench), and a
// FROM scratch image of the host's node built locally, since no container registry is reachable from here.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openPodman, type Podman } from './podman.js';
import { run, type Ran } from './proc.js';

/** Where podman 4.3's CNI backend looks for the plugin that gives a network its DNS (service names → addresses). */
const DNSNAME_PLUGIN = '/usr/lib/cni/dnsname';

export interface ComposeTools {
  /** `podman-compose version`'s own number, e.g. 1.0.3. */
  composeVersion: string;
  /** The Debian package versions, for the report. */
  packages: string;
  /** What this run installed with apt-get (empty when everything was there). */
  installed: string[];
}

function aptInstall(pkg: string, why: string, log: (s: string) => void): void {
  log(`podman-compose peer: ${why}; installing it: apt-get install -y ${pkg}`);
  run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '--no-install-recommends', pkg], { timeoutMs: 20 * 60 * 1000 });
}

/**
 * podman-compose (Debian's 1.0.3) and the dnsname CNI plugin, installed with apt-get when missing: without the plugin,
 * podman 4.3's CNI networks have no DNS (`dns_enabled: false`) and a container cannot reach another by service name,
 * which every compose file relies on.
 */
export function ensureComposeTools(log: (s: string) => void): ComposeTools {
  const installed: string[] = [];
  if (spawnSync('podman-compose', ['--help'], { stdio: 'ignore' }).error) {
    aptInstall('podman-compose', 'podman-compose is not installed', log);
    installed.push('podman-compose');
  }
  if (!existsSync(DNSNAME_PLUGIN)) {
    aptInstall('golang-github-containernetworking-plugin-dnsname', `${DNSNAME_PLUGIN} is missing (CNI networks would have no DNS)`, log);
    installed.push('golang-github-containernetworking-plugin-dnsname');
  }
  const out = run('podman-compose', ['version'], { timeoutMs: 60_000 }).stdout;
  const composeVersion = /podman-compose?r? version\s+(\S+)/.exec(out)?.[1] ?? 'unknown';
  const packages = run('dpkg-query', ['-W', '-f', '${Package} ${Version}, ', 'podman', 'podman-compose', 'golang-github-containernetworking-plugin-dnsname', 'containernetworking-plugins', 'crun', 'conmon']).stdout.replace(/, $/, '');
  return { composeVersion, packages, installed };
}

export interface ComposePeer {
  pod: Podman;
  /** The environment that points podman (and podman-compose's podman) at the bench's own storage and config. */
  env: NodeJS.ProcessEnv;
  podman(args: string[], timeoutMs?: number): Ran;
  /** argv (for spawn) of `podman-compose ARGS` inside podman's mount namespace. */
  composeArgv(args: string[]): [string, string[]];
  /** argv of `podman ARGS` inside the namespace, for spawn. */
  podmanArgv(args: string[]): [string, string[]];
  close(): void;
}

/**
 * A podman of the bench's own under DIR: storage (graphroot, runroot), engine tmp dir and CNI config dir there, in the
 * private mount namespace that crun needs on this host (bench/lib/podman.ts).
 */
export function openComposePeer(dir: string): ComposePeer {
  mkdirSync(join(dir, 'cni'), { recursive: true });
  writeFileSync(join(dir, 'storage.conf'), `[storage]\ndriver = "overlay"\ngraphroot = "${join(dir, 'root')}"\nrunroot = "${join(dir, 'run')}"\n`);
  writeFileSync(join(dir, 'containers.conf'), `[engine]\ntmp_dir = "${join(dir, 'tmp')}"\n\n[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${join(dir, 'cni')}"\n`);
  // PYTHONUNBUFFERED: podman-compose's output arrives as it prints it, so the bench can time its steps.
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'), CONTAINERS_CONF: join(dir, 'containers.conf'), PYTHONUNBUFFERED: '1' };
  delete env.NODE_EXTRA_CA_CERTS;
  const pod = openPodman(dir);
  const ns = `--mount=${pod.nsFile}`;
  return {
    pod,
    env,
    podman: (args, timeoutMs) => run('nsenter', [ns, 'podman', ...args], { env, timeoutMs }),
    composeArgv: (args) => ['nsenter', [ns, 'podman-compose', ...args]],
    podmanArgv: (args) => ['nsenter', [ns, 'podman', ...args]],
    close: () => pod.close(),
  };
}

/** The files `ldd` says a binary loads, as the paths the loader asks for (linux-vdso has none). */
function sharedLibraries(binary: string): string[] {
  const out = run('ldd', [binary]).stdout;
  const paths: string[] = [];
  for (const line of out.split('\n')) {
    const m = /(?:=>\s*|^\s*)(\/\S+)\s+\(0x/.exec(line);
    if (m) paths.push(m[1]!);
  }
  if (paths.length === 0) throw new Error(`ldd ${binary} listed no libraries:\n${out}`);
  return paths;
}

/**
 * A FROM scratch image: the host's node, the libraries ldd lists for it, /bin/sh (dash, which podman-compose 1.0.3
 * wraps every health check in), and `files` (path in the image → text). Nothing is pulled.
 */
export function buildScratchNodeImage(peer: ComposePeer, ctx: string, tag: string, files: Record<string, string>): void {
  rmSync(ctx, { recursive: true, force: true });
  const rootfs = join(ctx, 'rootfs');
  const put = (from: string, to: string) => {
    mkdirSync(join(rootfs, dirname(to)), { recursive: true });
    copyFileSync(realpathSync(from), join(rootfs, to));
  };
  put(process.execPath, '/usr/bin/node');
  put('/bin/sh', '/bin/sh');
  for (const lib of new Set([...sharedLibraries(process.execPath), ...sharedLibraries(realpathSync('/bin/sh'))])) put(lib, lib);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(ctx, 'files', dirname(path)), { recursive: true });
    writeFileSync(join(ctx, 'files', path), text);
  }
  writeFileSync(join(ctx, 'Containerfile'), 'FROM scratch\nCOPY rootfs/ /\nCOPY files/ /\nWORKDIR /app\n');
  peer.podman(['build', '--pull=never', '-q', '-t', tag, '-f', join(ctx, 'Containerfile'), ctx], 10 * 60 * 1000);
  rmSync(ctx, { recursive: true, force: true });
  // Fails here, not in the first timed round, when a library is missing.
  peer.podman(['run', '--rm', '--network', 'none', '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768', tag, 'node', '-e', '0']);
}

/**
 * Runs a command to its end without blocking the event loop (the bench polls HTTP meanwhile); `lines` gets each line of
 * its output with the performance.now() it arrived at.
 */
export function spawnToEnd(cmd: string, args: string[], env: NodeJS.ProcessEnv, lines?: { t: number; line: string }[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const take = (b: Buffer) => {
      const t = performance.now();
      out += b.toString();
      if (lines) for (const line of b.toString().split('\n')) if (line.trim()) lines.push({ t, line });
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** The nft chains (as "family table chain") and tables ("family table") the host has now. */
export interface NatSnapshot { tables: Set<string>; chains: Set<string> }

interface NftItem { table?: { family: string; name: string }; chain?: { family: string; table: string; name: string }; rule?: { family: string; table: string; chain: string } }

function nftItems(args: string[]): NftItem[] {
  try {
    return (JSON.parse(run('nft', ['-j', ...args]).stdout) as { nftables: NftItem[] }).nftables;
  } catch { return []; }
}

export function snapshotNat(): NatSnapshot {
  const tables = new Set<string>();
  const chains = new Set<string>();
  for (const t of nftItems(['list', 'tables'])) if (t.table) tables.add(`${t.table.family} ${t.table.name}`);
  for (const fam of ['ip', 'ip6']) {
    if (!tables.has(`${fam} nat`)) continue;
    for (const c of nftItems(['list', 'table', fam, 'nat'])) if (c.chain) chains.add(`${fam} nat ${c.chain.name}`);
  }
  return { tables, chains };
}

/**
 * CNI's portmap plugin leaves its chains (CNI-HOSTPORT-DNAT/-MASQ/-SETMARK and the jumps to them) and an empty `ip6 nat`
 * table behind when the last published container goes. Removes those this run added, and only while no port mapping
 * of anyone else's is in them; says what it removed or left.
 */
export function removeNewPortmapChains(before: NatSnapshot): string {
  const now = snapshotNat();
  const added = (c: string) => now.chains.has(`ip nat ${c}`) && !before.chains.has(`ip nat ${c}`);
  const cni = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'];
  const done: string[] = [];
  if (cni.some(added)) {
    const dnatRules = nftItems(['list', 'chain', 'ip', 'nat', 'CNI-HOSTPORT-DNAT']).filter((x) => x.rule).length;
    if (dnatRules > 0) return `CNI's portmap chains left in ip nat: CNI-HOSTPORT-DNAT holds ${dnatRules} mapping(s) of another user`;
    const ipt = (args: string[]) => { try { run('iptables', ['-w', '-t', 'nat', ...args]); } catch { /* not there */ } };
    ipt(['-D', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT']);
    ipt(['-D', 'OUTPUT', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT']);
    ipt(['-D', 'POSTROUTING', '-m', 'comment', '--comment', 'CNI portfwd requiring masquerade', '-j', 'CNI-HOSTPORT-MASQ']);
    for (const c of cni) if (added(c)) { ipt(['-F', c]); ipt(['-X', c]); }
    done.push(...cni.filter(added).map((c) => `ip nat ${c}`));
    // The base chains iptables-nft made for those jumps, when they are new and now empty.
    for (const base of ['PREROUTING', 'OUTPUT', 'POSTROUTING']) {
      if (!added(base)) continue;
      if (nftItems(['list', 'chain', 'ip', 'nat', base]).some((x) => x.rule)) continue;
      try { run('nft', ['delete', 'chain', 'ip', 'nat', base]); done.push(`ip nat ${base}`); } catch { /* in use */ }
    }
  }
  for (const fam of ['ip', 'ip6']) {
    const t = `${fam} nat`;
    if (!now.tables.has(t) || before.tables.has(t)) continue;
    if (nftItems(['list', 'table', fam, 'nat']).some((x) => x.chain)) continue;
    try { run('nft', ['delete', 'table', fam, 'nat']); done.push(`table ${t}`); } catch { /* in use */ }
  }
  return done.length > 0 ? `removed what CNI's portmap plugin added: ${done.join(', ')}` : 'CNI\'s portmap plugin added no nft chain or table';
}
