// podman as a peer on these machines (PLATFORM.md §8): a private mount namespace without
// /sys/fs/cgroup/unified (crun refuses the hybrid layout), rlimits no higher than root's hard ones,
// and images built locally from a debootstrapped Debian with the host's node copied in.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bash, q, run, type Ran, type RunOptions } from './proc.js';

/** Root cannot raise hard rlimits here (no CAP_SYS_RESOURCE), and podman's defaults are higher. */
export const PODMAN_ULIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768'];

export interface Podman {
  /** The file the private mount namespace is bound to; `nsenter --mount=FILE podman ...`. */
  nsFile: string;
  version: string;
  /** argv (for spawnSync) that runs `podman ARGS` inside the namespace. */
  argv(args: string[]): [string, string[]];
  run(args: string[], opts?: RunOptions): Ran;
  /** Unbinds the namespace file; podman's mounts inside it go with it. */
  close(): void;
}

/** Why podman cannot be used here, or null when it can. */
export function podmanMissing(): string | null {
  try {
    run('podman', ['--version'], { timeoutMs: 30_000 });
    return null;
  } catch (e) {
    return `podman --version failed: ${(e as Error).message.split('\n')[0]} (install it with apt-get install podman)`;
  }
}

/**
 * Makes a private mount namespace in which the cgroup2 mount at /sys/fs/cgroup/unified (holding
 * only hugetlb here) is gone, so crun sees a plain cgroup v1 host.
 */
export function openPodman(dir: string): Podman {
  mkdirSync(dir, { recursive: true });
  const nsFile = join(dir, `podman-mntns-${process.pid}`);
  writeFileSync(nsFile, '');
  try {
    run('unshare', [`--mount=${nsFile}`, '--propagation', 'private', 'sh', '-c', 'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi']);
  } catch (e) {
    rmSync(nsFile, { force: true });
    throw e;
  }
  const argv = (args: string[]): [string, string[]] => ['nsenter', [`--mount=${nsFile}`, 'podman', ...args]];
  const p: Podman = {
    nsFile,
    version: '',
    argv,
    run: (args, opts) => run(...argv(args), opts),
    close: () => {
      try { run('umount', [nsFile]); } catch { /* already gone */ }
      rmSync(nsFile, { force: true });
    },
  };
  p.version = p.run(['--version']).stdout.trim();
  return p;
}

/** The Debian mirror of the host's apt sources (deb822 or one-line), for debootstrap. */
export function debianMirror(): string {
  const files = ['/etc/apt/sources.list'];
  try { files.push(...readdirSync('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f))); } catch { /* none */ }
  for (const f of files) {
    let text: string;
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    for (const m of text.matchAll(/^URIs:\s*(\S+)/gm)) if (/\/debian\/?$/.test(m[1]!)) return m[1]!;
    for (const m of text.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\b/gm)) if (/\/debian\/?$/.test(m[1]!)) return m[1]!;
  }
  throw new Error('no Debian mirror (a URI ending in /debian) in /etc/apt/sources.list*');
}

export interface BenchImage {
  base: string;
  image: string;
  /** What was built this time, with how long it took; empty when everything was cached. */
  built: string[];
  rootfs: string;
}

function imageLabel(p: Podman, image: string, label: string): string | null {
  try {
    return p.run(['image', 'inspect', '--format', `{{index .Labels "${label}"}}`, image]).stdout.trim();
  } catch { return null; }
}

const KEY_LABEL = 'niso.bench.key';

/**
 * niso-bench-base (debootstrap --variant=minbase bookworm + the host's node, imported with
 * `podman import`) and IMAGE (FROM it, with main.js in /app). Each is rebuilt only when its
 * inputs changed; the rootfs stays in `cache` so a rebuild of the base needs no download.
 */
export function ensureImages(p: Podman, cache: string, image: string, appFiles: Record<string, string>, log: (s: string) => void): BenchImage {
  const base = 'localhost/niso-bench-base:latest';
  const built: string[] = [];
  const nodeBin = process.execPath;
  const nodeHash = createHash('sha256').update(readFileSync(nodeBin)).digest('hex').slice(0, 16);
  const rootfs = join(cache, 'podman-rootfs-bookworm-minbase');
  if (!existsSync(join(rootfs, '.debootstrap-done'))) {
    const mirror = debianMirror();
    const tmp = `${rootfs}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    log(`podman: debootstrap --variant=minbase bookworm ${tmp} ${mirror} (one time, a few minutes)`);
    const t0 = performance.now();
    run('debootstrap', ['--variant=minbase', 'bookworm', tmp, mirror], { timeoutMs: 30 * 60 * 1000 });
    writeFileSync(join(tmp, '.debootstrap-done'), `${mirror}\n`);
    rmSync(rootfs, { recursive: true, force: true });
    renameSync(tmp, rootfs);
    built.push(`debootstrap ${(performance.now() - t0) / 1000 | 0} s`);
  }
  const baseKey = `node-${process.version}-${nodeHash}`;
  if (imageLabel(p, base, KEY_LABEL) !== baseKey) {
    log(`podman: importing ${base} (rootfs + ${nodeBin} ${process.version})`);
    const t0 = performance.now();
    copyFileSync(nodeBin, join(rootfs, 'usr/bin/node'));
    run('chroot', [rootfs, '/usr/bin/node', '-e', '0']); // fails early if a library is missing
    const [cmd, args] = p.argv(['import', '--change', `LABEL ${KEY_LABEL}=${baseKey}`, '-', base]);
    bash(`tar --exclude=./.debootstrap-done --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* -C ${q(rootfs)} -c . | ${[cmd, ...args].map(q).join(' ')}`, { timeoutMs: 10 * 60 * 1000 });
    built.push(`import ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const appKey = createHash('sha256').update(JSON.stringify({ baseKey, appFiles })).digest('hex').slice(0, 16);
  if (imageLabel(p, image, KEY_LABEL) !== appKey) {
    const ctx = join(cache, `podman-ctx-${process.pid}`);
    rmSync(ctx, { recursive: true, force: true });
    mkdirSync(ctx, { recursive: true });
    for (const [name, text] of Object.entries(appFiles)) writeFileSync(join(ctx, name), text);
    const copies = Object.keys(appFiles).map((n) => `COPY ${n} /app/${n}`).join('\n');
    writeFileSync(join(ctx, 'Containerfile'), `FROM ${base}\n${copies}\nWORKDIR /app\nLABEL ${KEY_LABEL}=${appKey}\n`);
    log(`podman: building ${image}`);
    const t0 = performance.now();
    try {
      p.run(['build', '--pull=never', '-q', '-t', image, '-f', join(ctx, 'Containerfile'), ctx]);
    } finally {
      rmSync(ctx, { recursive: true, force: true });
    }
    built.push(`build ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return { base, image, built, rootfs };
}
