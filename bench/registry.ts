// Times `niso push` and `niso pull --output` of a package against `skopeo copy` moving the very same artifact (the
// same manifest, config and .niso blob, from and to an OCI layout) to and from Debian's docker-registry on 127.0.0.1,
// and against `podman push` / `podman pull` of the equivalent container image (one layer holding the same payload),
// which is what a Docker user moving the app would run.
// Each round packs a package of new random bytes (untimed) that both tools push to repositories of their own, so every
// byte goes over the wire: skopeo's blob cache would otherwise mount a blob it saw in an earlier round instead of
// sending it. Side by side in one run, interleaved round by round, ratios on medians. Writes bench/results/registry.md. Not part of `npm test`.
// Knobs: BENCH_PACKAGE_MB (size of the package's random payload, 50), BENCH_RUNS (rounds, 5), BENCH_DIR (/var/tmp),
// BENCH_QUIET (0.35), BENCH_BASE (a checkout of an earlier niso with its dist/ built: its push and pull run in the same
// rounds, interleaved, against the same registry, for an A/B in one run).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDirEnv, intEnv, quietShareEnv } from './lib/env.js';
import { loadNow, machineFacts, machineRows, writeReport } from './lib/machine.js';
import { niso, nisoEnv, prepareBenchWork, removeBenchWork, resolveNiso, type NisoCli } from './lib/niso.js';
import { cleanupOnInterrupt, firstLine, freePort, run } from './lib/proc.js';
import { openPodman, podmanMissing, type Podman } from './lib/podman.js';
import { waitQuiet, type QuietStats } from './lib/quiet.js';
import { fmtBytes, fmtMs, fmtRatio, fmtSummary, mdTable, summarize, type Summary } from './lib/stats.js';
import { describePackageFile } from '../src/registry/host/sign.js';
import { EMPTY_BLOB, EMPTY_DIGEST } from '../src/registry/media.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE_MB = intEnv('BENCH_PACKAGE_MB', 50);
const ROUNDS = intEnv('BENCH_RUNS', 5);
const WARMUP = 1;
const QUIET = quietShareEnv();
const BASE = benchDirEnv();
const RESULT = join(repo, 'bench/results/registry.md');
const BASE_BUILD = process.env.BENCH_BASE ? resolve(process.env.BENCH_BASE) : null;
const log = (s: string) => process.stderr.write(`${s}\n`);

/** An OCI image layout holding exactly what niso pushes: skopeo then moves the same bytes. */
async function ociLayout(dir: string, file: string): Promise<string> {
  const d = await describePackageFile(file);
  const blobs = join(dir, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(blobs, EMPTY_DIGEST.slice(7)), EMPTY_BLOB);
  writeFileSync(join(blobs, d.facts.file.digest.slice(7)), readFileSync(file));
  writeFileSync(join(blobs, d.manifest.digest.slice(7)), d.manifest.bytes);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...d.manifest.descriptor, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }));
  return d.manifest.digest;
}

/**
 * The container image a podman user would push for the same app: one uncompressed layer holding the same payload, in
 * an OCI layout that skopeo copies into podman's own storage (untimed); podman compresses the layer as it pushes.
 */
function imageLayout(dir: string, payloadDir: string): void {
  const blobs = join(dir, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  const layerTar = join(dir, 'layer.tar');
  run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', payloadDir, '-cf', layerTar, 'payload.bin']);
  const layer = readFileSync(layerTar);
  rmSync(layerTar);
  const put = (bytes: Buffer) => { const d = createHash('sha256').update(bytes).digest('hex'); writeFileSync(join(blobs, d), bytes); return { digest: `sha256:${d}`, size: bytes.length }; };
  const l = put(layer);
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/payload.bin'] }, rootfs: { type: 'layers', diff_ids: [l.digest] } })));
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l }],
  })));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }));
}

async function main(): Promise<void> {
  const work = join(BASE, `niso-bench-registry-${process.pid}`);
  const cli: NisoCli = prepareBenchWork(repo, work, log);
  if (BASE_BUILD && !existsSync(join(BASE_BUILD, 'dist/niso.mjs'))) throw new Error(`BENCH_BASE=${BASE_BUILD} has no dist/niso.mjs: run npm run build there`);
  const baseCli: NisoCli | null = BASE_BUILD ? resolveNiso(BASE_BUILD, join(work, 'niso-base')) : null;
  const baseLabel = BASE_BUILD ? (spawnSync('git', ['-C', BASE_BUILD, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || BASE_BUILD) : '';
  const env = nisoEnv({ NISO_ROOT: join(work, 'root'), HOME: join(work, 'home'), NISO_SIGNING_KEY: '' });
  mkdirSync(join(work, 'home'), { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  mkdirSync(join(work, 'registry'));
  writeFileSync(join(work, 'registry.yml'), `version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: ${join(work, 'registry')}}}\nhttp: {addr: ${host}}\n`);
  const registry = spawn('docker-registry', ['serve', join(work, 'registry.yml')], { stdio: 'ignore' });
  let podClose: (() => void) | null = null;
  const off = cleanupOnInterrupt(async () => { registry.kill('SIGKILL'); if (podClose) podClose(); await removeBenchWork(work); }, log);
  try {
    for (let i = 0; ; i++) {
      try { const r = await fetch(`http://${host}/v2/`); if (r.ok) break; } catch { /* starting */ }
      if (i > 200) throw new Error('docker-registry did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'manifest.toml'), '[package]\nname = "bench"\nversion = "1.0.0"\narch = "any"\n\n[binary]\nentrypoint = "run.sh"\n');
    writeFileSync(join(app, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
    const file = join(work, 'bench.niso');
    /** A package of new random bytes (zstd cannot shrink them, so it is as large as asked), and its OCI layout. */
    const podWhy = podmanMissing();
    // podman's own storage for the bench, so the host's images stay as they are.
    const storage = ['--root', join(work, 'podman', 'root'), '--runroot', join(work, 'podman', 'run'), '--storage-driver', 'overlay'];
    const pod: Podman | null = podWhy === null ? openPodman(join(work, 'podman')) : null;
    podClose = pod ? () => { try { pod.run([...storage, 'rmi', '-a', '-f']); } catch { /* gone */ } pod.close(); } : null;
    if (podWhy !== null) log(`podman is left out: ${podWhy}`);
    const podman = (args: string[]) => pod!.run([...storage, ...args]);
    let n = 0;
    const fresh = async (): Promise<string> => {
      const fd = openSync(join(app, 'payload.bin'), 'w');
      for (let i = 0; i < PACKAGE_MB; i++) writeSync(fd, randomBytes(1024 * 1024));
      closeSync(fd);
      rmSync(file, { force: true });
      niso(cli, ['pack', app, '-o', file, '--no-sign'], { env });
      rmSync(join(work, 'layout'), { recursive: true, force: true });
      if (pod) {
        rmSync(join(work, 'image'), { recursive: true, force: true });
        imageLayout(join(work, 'image'), app);
        // Into podman's storage untimed (as `podman build` would have left it), through skopeo in podman's namespace.
        run('nsenter', [`--mount=${pod.nsFile}`, 'skopeo', 'copy', '-q', `oci:${join(work, 'image')}:bench`, `containers-storage:[overlay@${join(work, 'podman', 'root')}+${join(work, 'podman', 'run')}]localhost/bench:${n}`]);
      }
      return ociLayout(join(work, 'layout'), file);
    };
    let digest = await fresh();
    const size = statSync(file).size;

    const facts = machineFacts(repo);
    const quiet: QuietStats = { waits: 0, waitedMs: 0, gaveUp: 0 };
    const loadBefore = loadNow();
    const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
    const steps: Record<string, () => number> = {
      'niso push': () => niso(cli, ['push', file, `${host}/n${n}/bench:1.0.0`], { env }).ms,
      ...(baseCli ? {
        'niso push (base)': () => niso(baseCli, ['push', file, `${host}/b${n}/bench:1.0.0`], { env }).ms,
        'niso pull --output (base)': () => { rmSync(join(work, 'pulled-base.niso'), { force: true }); return niso(baseCli, ['pull', `${host}/b${n}/bench:1.0.0`, '--output', join(work, 'pulled-base.niso')], { env }).ms; },
      } : {}),
      'skopeo copy oci: → docker://': () => run('skopeo', ['copy', '-q', ...tls, `oci:${join(work, 'layout')}:bench`, `docker://${host}/s${n}/bench:1.0.0`]).ms,
      'niso pull --output': () => { rmSync(join(work, 'pulled.niso'), { force: true }); return niso(cli, ['pull', `${host}/n${n}/bench:1.0.0`, '--output', join(work, 'pulled.niso')], { env }).ms; },
      'skopeo copy docker:// → oci:': () => { rmSync(join(work, 'out'), { recursive: true, force: true }); return run('skopeo', ['copy', '-q', ...tls, `docker://${host}/s${n}/bench:1.0.0`, `oci:${join(work, 'out')}:bench`]).ms; },
      ...(pod ? {
        'podman push': () => podman(['push', '-q', '--tls-verify=false', `localhost/bench:${n}`, `docker://${host}/p${n}/bench:1.0.0`]).ms,
        // Pulled into an empty store: the image pushed from it is removed first (untimed).
        'podman pull': () => { podman(['rmi', '-a', '-f']); return podman(['pull', '-q', '--tls-verify=false', `${host}/p${n}/bench:1.0.0`]).ms; },
      } : {}),
    };
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(steps).map((k) => [k, []]));
    for (let i = 0; i < WARMUP + ROUNDS; i++, n++) {
      if (i > 0) digest = await fresh();
      // Push before pull in every round (a pull needs the push of its round); which tool goes first alternates.
      const pushes = ['niso push', ...(baseCli ? ['niso push (base)'] : []), 'skopeo copy oci: → docker://', ...(pod ? ['podman push'] : [])];
      const pulls = ['niso pull --output', ...(baseCli ? ['niso pull --output (base)'] : []), 'skopeo copy docker:// → oci:', ...(pod ? ['podman pull'] : [])];
      const turn = (xs: string[]) => [...xs.slice(i % xs.length), ...xs.slice(0, i % xs.length)];
      const order = [...turn(pushes), ...turn(pulls)];
      for (const name of order) {
        run('sync', []);
        await waitQuiet(QUIET, 20_000, quiet);
        const ms = steps[name]!();
        log(`round ${i}: ${name} ${fmtMs(ms)}`);
        if (i >= WARMUP) samples[name]!.push(ms);
      }
    }
    const same = readFileSync(join(work, 'pulled.niso')).equals(readFileSync(file)) && (!baseCli || readFileSync(join(work, 'pulled-base.niso')).equals(readFileSync(file)));
    const loadAfter = loadNow();
    const s: Record<string, Summary> = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
    const rate = (x: Summary) => `${(size / 1024 / 1024 / (x.median / 1000)).toFixed(0)} MiB/s`;
    const out: string[] = [];
    out.push('# niso push / pull benchmark', '');
    out.push(`Made by \`tsx bench/registry.ts\` on ${facts.date}. A ${fmtBytes(size)} package (random bytes: incompressible) moved to and from Debian's docker-registry on 127.0.0.1 (plain HTTP, its own storage under ${BASE}), by niso and by \`skopeo copy\` of the same artifact (niso's manifest, the empty config and the .niso blob; the last round's manifest was ${digest}) from and to an OCI layout. Each round packs new random bytes and uses new repositories, so every byte is sent (skopeo's blob cache cannot mount a blob it saw before). Cells are the **median** (min–max, n runs) after ${WARMUP} warm-up round, interleaved; niso's times include its CLI's start (node), hashing the package for its manifest (push), and checking the package's digest and index (pull).`, '');
    out.push(mdTable(['fact', 'value'], [
      ...machineRows(facts),
      ['skopeo / docker-registry', `${firstLine('skopeo', ['--version'])} / ${firstLine('docker-registry', ['--version'])}`],
      ['niso ran as', cli.describe],
      ...(baseCli ? [['base build (BENCH_BASE)', `${baseLabel === BASE_BUILD ? BASE_BUILD : `${baseLabel} (${BASE_BUILD})`}, its bundle copied aside the same way, run in the same rounds against the same registry`]] : []),
      ['load average (1/5/15 min): at start; before timing; after', `${facts.loadStart}; ${loadBefore}; ${loadAfter}`],
      ['quiet waits', `${quiet.waits} waits for ≤ ${QUIET * 100}% busy, ${fmtMs(quiet.waitedMs)} in total, ${quiet.gaveUp} gave up`],
      ['pulled package = pushed package', same ? 'yes' : 'NO'],
      ['podman', pod ? pod.version : `left out: ${podWhy}`],
    ]), '');
    const row = (dir: string, nisoK: string, skopeoK: string, podK: string) => {
      const [a, b] = [s[nisoK]!, s[skopeoK]!];
      const p = s[podK];
      return [dir, fmtSummary(a), rate(a), fmtSummary(b), rate(b), fmtRatio(a.median, b.median),
        ...(p ? [fmtSummary(p), rate(p), fmtRatio(p.median, a.median)] : ['—', '—', '—'])];
    };
    out.push(mdTable(['direction', 'niso', 'niso rate', 'skopeo copy', 'skopeo rate', 'niso/skopeo', 'podman', 'podman rate', 'podman/niso'], [
      row('push', 'niso push', 'skopeo copy oci: → docker://', 'podman push'),
      row('pull', 'niso pull --output', 'skopeo copy docker:// → oci:', 'podman pull'),
    ]), '');
    if (baseCli) {
      const ab = (dir: string, now: string, was: string, sk: string) => {
        const [a, b] = [s[now]!, s[was]!];
        return [dir, fmtSummary(b), fmtSummary(a), fmtRatio(b.median, a.median), fmtRatio(b.median, s[sk]!.median), fmtRatio(a.median, s[sk]!.median)];
      };
      out.push(`This build against the base build ${baseLabel}, interleaved in the same rounds:`, '');
      out.push(mdTable(['direction', `base (${baseLabel})`, 'this build', 'base/this', 'base/skopeo', 'this/skopeo'], [
        ab('push', 'niso push', 'niso push (base)', 'skopeo copy oci: → docker://'),
        ab('pull', 'niso pull --output', 'niso pull --output (base)', 'skopeo copy docker:// → oci:'),
      ]), '');
    }
    out.push(pod
      ? 'podman moves a container image of the same payload (one layer: a tar of the same random bytes). It gzips the layer as it pushes (its default; random bytes do not shrink) and unpacks it into its overlay storage as it pulls: what a Docker user moving this app through a registry would wait for. niso and skopeo move the package as it is.'
      : `podman: left out (${podWhy}).`, '');
    writeReport(RESULT, out.join('\n') + '\n');
  } finally {
    off();
    if (podClose) podClose();
    registry.kill('SIGTERM');
    await removeBenchWork(work);
  }
}

await main();
