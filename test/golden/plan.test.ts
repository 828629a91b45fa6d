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
  // Granted volumes and host paths are writable unless read-only; nothing else of the host is.
  const writable = plan.mounts.filter((m) => ((m.type === 'bind' && !m.readOnly) || m.type === 'tmpfs') && !(m.type === 'bind' && (m.purpose === 'volume' || m.purpose === 'bind'))).map((m) => m.target).sort();
  assert.deepEqual(writable, ['/state', '/tmp'], 'only /tmp, the state dir and granted volumes are writable');
  assert.ok(plan.mounts.every((m) => m.type !== 'bind' || m.purpose !== 'config' || m.readOnly), 'config files are read-only');
  assert.ok(plan.mounts.every((m) => m.type !== 'bind' || m.purpose !== 'tool' || (m.readOnly && /^\/(bin|usr\/bin)\/[^/]+$|^\/(lib|lib64|usr\/lib)(32|64)?\//.test(m.target))), 'host tools are read-only, at /bin/NAME, /usr/bin/NAME or a library directory');
  assert.ok(plan.mounts.some((m) => m.type === 'bind' && m.target === '/app' && m.readOnly), '/app is read-only');
  assert.ok(!plan.mounts.some((m) => m.type === 'bind' && (m.source === '/' || m.source === '/usr' || m.source === '/etc' || m.source === '/home' || m.source === '/root')), 'no host tree is mounted whole');
  const state = plan.mounts.find((m) => m.target === '/state');
  if (state?.type === 'tmpfs') {
    // A run's own /state: made in the sandbox, the service user's alone, bounded like a service's, nothing on the host.
    assert.deepEqual(state.owner, { uid: plan.user.uid, gid: plan.user.gid, mode: 0o700 });
    assert.equal(state.sizeBytes, plan.limits.stateBytes ?? 10 * 1024 ** 3);
    assert.deepEqual(plan.prepare, [], 'nothing to prepare on the host');
  } else {
    assert.equal(plan.prepare[0]?.path, state?.type === 'bind' ? state.source : null, 'the state dir prepared is the one mounted');
  }
  const envKeys = Object.keys(plan.command.env);
  assert.ok(!envKeys.includes('NODE_EXTRA_CA_CERTS') && !envKeys.includes('SSH_AUTH_SOCK'), 'the environment is clean');
}

for (const name of readdirSync(DIR).sort()) {
  const dir = join(DIR, name);
  if (name.startsWith('error-')) {
    test(`plan ${name}`, () => {
      let text = '';
      try { planFor(dir); } catch (e) {
        assert.ok(isNisoError(e), String(e));
        // The error, and each problem it lists (the weakenings a package asks for) with its hint.
        text = [`${e.code}: ${e.message}`, ...e.diagnostics.map((d) => `  ${d.code} ${d.field}: ${d.message}\n    hint: ${d.hint}`)].join('\n') + '\n';
      }
      assert.ok(text !== '', 'the plan is refused');
      if (UPDATE) writeFileSync(join(dir, 'expected-error.txt'), text);
      assert.equal(text, readFileSync(join(dir, 'expected-error.txt'), 'utf8'));
    });
    continue;
  }
  test(`plan ${name}`, () => {
    const plan = planFor(dir);
    const cmd = renderBwrap(plan, { seccomp: true, dieWithParent: true });
    const argv = cmd.argv.join('\n') + '\n';
    const envFds = cmd.fds.filter((f) => f.kind === 'env');
    assert.equal(envFds.length, 1, 'the environment goes through one fd');
    const envText = envFds[0]!.content!;
    // The fd's content after the argv: bwrap's NUL-separated options one per line, or the shell script as it is.
    const rendered = `${argv}# fd ${envFds[0]!.fd}: the environment\n${envText.replace(/\0/g, '\n')}`;
    const planJson = JSON.stringify(plan, null, 2) + '\n';
    if (UPDATE) {
      writeFileSync(join(dir, 'plan.json'), planJson);
      writeFileSync(join(dir, 'bwrap.txt'), rendered);
    }
    assert.equal(planJson, readFileSync(join(dir, 'plan.json'), 'utf8'));
    assert.equal(rendered, readFileSync(join(dir, 'bwrap.txt'), 'utf8'));
    // Every local user can read a process's argv: no value of the environment may be in it.
    for (const [k, v] of Object.entries(plan.command.env)) {
      assert.ok(!cmd.argv.some((a) => a.includes(`${k}=`)), `${k} is not assigned in the argv`);
      if (v.length >= 8 && !plan.mounts.some((m) => m.type === 'bind' && (m.target === v || m.source === v))) assert.ok(!cmd.argv.some((a) => a.includes(v)), `the value of ${k} is not in the argv`);
    }
    assert.ok(!cmd.argv.includes('--setenv') && !cmd.argv.includes('--clearenv'));
    // A secret is an fd that niso fills from its store when it starts: the rendering has its name, never its bytes,
    // and bwrap makes the file 0400 (owned by the sandbox user, which setpriv made the service's uid).
    for (const m of plan.mounts) {
      if (m.type !== 'secret') continue;
      const fd = cmd.fds.find((f) => f.kind === 'secret' && f.secret === m.name && cmd.argv.join(' ').includes(`--perms 0400 --ro-bind-data ${f.fd} ${m.target}`));
      assert.ok(fd, `secret ${m.name} is bound from an fd at ${m.target}, mode 0400`);
      assert.equal(fd.content, null, 'the renderer has no bytes to put there');
      assert.match(m.digest, /^sha256:[0-9a-f]{64}$/);
    }
    if (plan.preset !== 'unsafe-none') {
      assertSandboxed(plan);
      assert.ok(argv.includes('--disable-userns') && argv.includes('--cap-drop\nALL') && envText.startsWith('--clearenv\0'));
      // Supplementary groups: exactly the granted volumes', never root's.
      const groups = (plan.user.groups ?? []).length > 0 ? `--groups=${plan.user.groups!.join(',')}` : '--clear-groups';
      assert.ok(argv.replace(/^nsenter\n--net=[^\n]+\n--\n/, '').startsWith(`setpriv\n--reuid=${plan.user.uid}\n--regid=${plan.user.gid}\n${groups}\n--inh-caps=-all\n--bounding-set=-all\n--no-new-privs\n--\nbwrap`), 'drops to the service uid, with no capabilities, before bwrap');
      const volumes = plan.mounts.filter((m) => m.type === 'bind' && m.purpose === 'volume').length;
      assert.equal((plan.user.groups ?? []).length > 0, volumes > 0, 'the volumes\' groups, none without a volume');
      assert.ok(argv.includes('--remount-ro\n/\n'), 'the root of the sandbox is read-only');
    }
    if (plan.network.mode === 'private') {
      assert.ok(argv.startsWith(`nsenter\n--net=${plan.network.netns}\n--\nsetpriv`), 'joins the prepared netns before dropping privileges');
      assert.ok(!argv.includes('--unshare-net'), 'no second network namespace');
    }
    // /state is bounded whenever the host has a bound (here: always but in the "unlimited" case), at the plan's size.
    // A run's own state has no image: a tmpfs in the sandbox (checked above), or, unsandboxed, a plain dir.
    const bound = plan.prepare[0]?.bound ?? null;
    const temporary = plan.mounts.some((m) => m.type === 'tmpfs' && m.target === '/state') || plan.prepare[0]?.path.includes('/tmp/run-');
    if (plan.limits.stateBytes === null || temporary) assert.equal(bound, null);
    else assert.deepEqual(bound, { image: '/var/lib/niso/state/.images/web.img', sizeBytes: plan.limits.stateBytes });
    if (!name.includes('unbounded')) assert.ok(plan.limits.stateBytes !== null && plan.limits.stateBytes > 0, '/state has a bound');
    if (plan.preset === 'strict') {
      assert.equal(plan.network.mode, 'none');
      assert.ok(plan.limits.memoryBytes !== null && plan.limits.pids !== null, 'strict has default limits');
    }
  });
}
