// Golden cases for buildPlan and the bwrap rendering: test/golden/plan/<case>/ holds
// manifest.toml (+ options.json), and the expected plan.json and bwrap.txt (one argument per
// line). UPDATE_GOLDEN=1 rewrites the expected files. The security promises of each preset are
// asserted explicitly below, so regenerating snapshots cannot quietly weaken them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest } from '../../src/manifest/parse.js';
import { buildPlan, type HostFacts, type PlanOptions } from '../../src/plan/build-plan.js';
import type { Plan } from '../../src/plan/plan.js';
import { renderBwrap } from '../../src/render/bwrap.js';
import { isNisoError } from '../../src/errors/niso-error.js';

const DIR = join(import.meta.dirname, 'plan');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const HOST: HostFacts = {
  runtime: {
    name: 'nodejs', version: '20.20.2', binary: '/usr/bin/node', commands: { node: '/usr/bin/node' }, env: {},
    mounts: [
      { source: '/usr/bin/node', target: '/usr/bin/node' },
      { source: '/usr/lib/x86_64-linux-gnu/libc.so.6', target: '/lib/x86_64-linux-gnu/libc.so.6' },
      { source: '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', target: '/lib64/ld-linux-x86-64.so.2' },
    ],
  },
  binaryMounts: [],
  hostFiles: { localtime: '/usr/share/zoneinfo/Etc/UTC', caCertificates: '/etc/ssl/certs/ca-certificates.crt', resolvConf: '/etc/resolv.conf' },
  uid: 60123,
  gid: 60123,
  stateDir: '/var/lib/niso/state/web',
};
const PKG = { name: 'web', version: '1.0.0', digest: 'sha256:' + 'ab'.repeat(32), path: '/var/lib/niso/store/abab-web-1.0.0' };

function planFor(dir: string): Plan {
  const m = parseManifest(readFileSync(join(dir, 'manifest.toml'), 'utf8'));
  assert.ok(m.manifest, JSON.stringify(m.diagnostics));
  const options: PlanOptions = existsSync(join(dir, 'options.json')) ? JSON.parse(readFileSync(join(dir, 'options.json'), 'utf8')) : {};
  const base = m.manifest.runtime ? HOST : { ...HOST, runtime: null, binaryMounts: [{ source: '/usr/lib/x86_64-linux-gnu/libc.so.6', target: '/lib/x86_64-linux-gnu/libc.so.6' }] };
  // network.json: the private network niso prepared for the case (netns and /etc/hosts).
  const host = existsSync(join(dir, 'network.json')) ? { ...base, network: JSON.parse(readFileSync(join(dir, 'network.json'), 'utf8')) } : base;
  return buildPlan({ service: 'web', manifest: m.manifest, package: PKG, options, host });
}

/** The promises every sandboxed preset makes, whatever the snapshot says. */
function assertSandboxed(plan: Plan): void {
  assert.ok(plan.user.uid >= 60100 && plan.user.uid !== 0, 'runs as its own uid');
  assert.ok(plan.namespaces.user && plan.namespaces.mount && plan.namespaces.pid && plan.namespaces.ipc && plan.namespaces.uts, 'own namespaces');
  assert.equal(plan.noNewPrivileges, true);
  assert.ok(plan.seccomp !== null, 'a syscall filter');
  assert.equal(plan.allowUserNamespaces, false, 'no nested user namespaces');
  const writable = plan.mounts.filter((m) => (m.type === 'bind' && !m.readOnly) || m.type === 'tmpfs').map((m) => m.target).sort();
  assert.deepEqual(writable, ['/state', '/tmp'], 'only /tmp and the state dir are writable');
  assert.ok(plan.mounts.some((m) => m.type === 'bind' && m.target === '/app' && m.readOnly), '/app is read-only');
  assert.ok(!plan.mounts.some((m) => m.type === 'bind' && (m.source === '/' || m.source === '/usr' || m.source === '/etc' || m.source === '/home' || m.source === '/root')), 'no host tree is mounted whole');
  const envKeys = Object.keys(plan.command.env);
  assert.ok(!envKeys.includes('NODE_EXTRA_CA_CERTS') && !envKeys.includes('SSH_AUTH_SOCK'), 'the environment is clean');
}

for (const name of readdirSync(DIR).sort()) {
  const dir = join(DIR, name);
  if (name.startsWith('error-')) {
    test(`plan ${name}`, () => {
      const expected = readFileSync(join(dir, 'expected-error.txt'), 'utf8').trim();
      assert.throws(() => planFor(dir), (e: unknown) => isNisoError(e) && `${e.code}: ${e.message}` === expected);
    });
    continue;
  }
  test(`plan ${name}`, () => {
    const plan = planFor(dir);
    const argv = renderBwrap(plan, { seccomp: true, dieWithParent: true }).argv.join('\n') + '\n';
    const planJson = JSON.stringify(plan, null, 2) + '\n';
    if (UPDATE) {
      writeFileSync(join(dir, 'plan.json'), planJson);
      writeFileSync(join(dir, 'bwrap.txt'), argv);
    }
    assert.equal(planJson, readFileSync(join(dir, 'plan.json'), 'utf8'));
    assert.equal(argv, readFileSync(join(dir, 'bwrap.txt'), 'utf8'));
    if (plan.preset !== 'unsafe-none') {
      assertSandboxed(plan);
      assert.ok(argv.includes('--disable-userns') && argv.includes('--cap-drop\nALL') && argv.includes('--clearenv'));
      assert.ok(argv.replace(/^nsenter\n--net=[^\n]+\n--\n/, '').startsWith(`setpriv\n--reuid=${plan.user.uid}\n--regid=${plan.user.gid}\n--clear-groups\n--inh-caps=-all\n--bounding-set=-all\n--no-new-privs\n--\nbwrap`), 'drops to the service uid, with no capabilities, before bwrap');
      assert.ok(argv.includes('--remount-ro\n/\n'), 'the root of the sandbox is read-only');
    }
    if (plan.network.mode === 'private') {
      assert.ok(argv.startsWith(`nsenter\n--net=${plan.network.netns}\n--\nsetpriv`), 'joins the prepared netns before dropping privileges');
      assert.ok(!argv.includes('--unshare-net'), 'no second network namespace');
    }
    if (plan.preset === 'strict') {
      assert.equal(plan.network.mode, 'none');
      assert.ok(plan.limits.memoryBytes !== null && plan.limits.pids !== null, 'strict has default limits');
    }
  });
}
