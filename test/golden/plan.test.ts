// Golden cases for buildPlan and the bwrap rendering: test/golden/plan/<case>/ holds
// manifest.toml (+ options.json), and the expected plan.json and bwrap.txt (one argument per
// line). UPDATE_GOLDEN=1 rewrites the expected files. The security promises of each preset are
// asserted explicitly below, so regenerating snapshots cannot quietly weaken them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan } from '../../src/plan/plan.js';
import { renderBwrap } from '../../src/render/bwrap.js';
import { isNisoError } from '../../src/errors/niso-error.js';
import { goldenPlan } from '../helpers/golden-plan.js';

const DIR = join(import.meta.dirname, 'plan');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function planFor(dir: string): Plan {
  return goldenPlan(dir).plan;
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
  const state = plan.mounts.find((m) => m.type === 'bind' && m.target === '/state');
  assert.equal(plan.prepare[0]?.path, state?.type === 'bind' ? state.source : null, 'the state dir prepared is the one mounted');
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
    // /state is bounded whenever the host has a bound (here: always but in the "unlimited" case), at the plan's size.
    const bound = plan.prepare[0]!.bound;
    if (plan.limits.stateBytes === null) assert.equal(bound, null);
    else assert.deepEqual(bound, { image: '/var/lib/niso/state/.images/web.img', sizeBytes: plan.limits.stateBytes });
    if (!name.includes('unbounded')) assert.ok(plan.limits.stateBytes !== null && plan.limits.stateBytes > 0, '/state has a bound');
    if (plan.preset === 'strict') {
      assert.equal(plan.network.mode, 'none');
      assert.ok(plan.limits.memoryBytes !== null && plan.limits.pids !== null, 'strict has default limits');
    }
  });
}
