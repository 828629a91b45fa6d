// The plan of a golden case directory (manifest.toml, and optionally options.json, network.json,
// facts.json), built against fixed host facts, so that the bwrap and systemd goldens render the
// very same plans.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest } from '../../src/manifest/parse.js';
import { buildPlan, type HostFacts, type PlanOptions, type RuntimeFacts } from '../../src/plan/build-plan.js';
import type { Plan } from '../../src/plan/plan.js';

export const GOLDEN_HOST: HostFacts = {
  runtime: {
    name: 'nodejs', version: '20.20.2', binary: '/usr/bin/node', commands: { node: '/usr/bin/node' }, env: {},
    mounts: [
      { source: '/usr/bin/node', target: '/usr/bin/node' },
      { source: '/usr/lib/x86_64-linux-gnu/libc.so.6', target: '/lib/x86_64-linux-gnu/libc.so.6' },
      { source: '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', target: '/lib64/ld-linux-x86-64.so.2' },
    ],
  },
  binaryMounts: [],
  hostFiles: { localtime: '/usr/share/zoneinfo/Etc/UTC', caCertificates: '/etc/ssl/certs/ca-certificates.crt', resolvConf: '/etc/resolv.conf', zoneinfo: '/usr/share/zoneinfo', locale: '/usr/lib/locale/C.utf8' },
  uid: 60123,
  gid: 60123,
  stateDir: '/var/lib/niso/state/web',
  stateImage: '/var/lib/niso/state/.images/web.img',
  stateDefaultBytes: 10 * 1024 ** 3,
};
export const GOLDEN_PKG = { name: 'web', version: '1.0.0', digest: 'sha256:' + 'ab'.repeat(32), path: '/var/lib/niso/store/abab-web-1.0.0' };

/** The plan of a case, and the manifest's runtime name (null for a binary). */
export function goldenPlan(dir: string): { plan: Plan; runtime: string | null } {
  const read = <T>(f: string): T | undefined => (existsSync(join(dir, f)) ? JSON.parse(readFileSync(join(dir, f), 'utf8')) as T : undefined);
  const m = parseManifest(readFileSync(join(dir, 'manifest.toml'), 'utf8'));
  assert.ok(m.manifest, JSON.stringify(m.diagnostics));
  const options = read<PlanOptions>('options.json') ?? {};
  // facts.json: another runtime, the host's default state bound (null: "unlimited"), a run's own state (its dir), the
  // host's secrets (digests and sizes), what the host made of the case's grants (volumes made, host paths resolved), and
  // the host programs it found for [isolation] tools.
  const facts = read<{ runtime?: RuntimeFacts; stateDefaultBytes?: number | null; temporaryState?: string; secrets?: HostFacts['secrets']; volumes?: HostFacts['volumes']; bindSources?: HostFacts['bindSources']; tools?: HostFacts['tools'] }>('facts.json') ?? {};
  const host: HostFacts = {
    ...GOLDEN_HOST,
    ...(facts.secrets !== undefined ? { secrets: facts.secrets } : {}),
    ...(facts.stateDefaultBytes !== undefined ? { stateDefaultBytes: facts.stateDefaultBytes } : {}),
    ...(facts.temporaryState !== undefined ? { stateDir: facts.temporaryState, stateTemporary: true } : {}),
    ...(facts.volumes ? { volumes: facts.volumes } : {}),
    ...(facts.bindSources ? { bindSources: facts.bindSources } : {}),
    ...(facts.tools ? { tools: facts.tools } : {}),
  };
  const base: HostFacts = m.manifest.runtime
    ? { ...host, runtime: facts.runtime ?? host.runtime }
    : { ...host, runtime: null, binaryMounts: [{ source: '/usr/lib/x86_64-linux-gnu/libc.so.6', target: '/lib/x86_64-linux-gnu/libc.so.6' }] };
  // network.json: the private network niso prepared for the case (netns and /etc/hosts).
  const network = read<HostFacts['network']>('network.json');
  const plan = buildPlan({ service: 'web', manifest: m.manifest, package: GOLDEN_PKG, options, host: network ? { ...base, network } : base });
  return { plan, runtime: m.manifest.runtime?.use.name ?? null };
}
