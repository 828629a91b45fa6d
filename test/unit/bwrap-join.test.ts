// renderBwrapJoin, the `niso exec` rendering, as data: the whole command for the server preset's
// golden plan, and the promises that must hold whatever the plan (no capabilities, the service's
// uid, the app's own filesystem, nothing secret on the command line).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan } from '../../src/plan/plan.js';
import { renderBwrapJoin, type JoinHostFacts } from '../../src/render/bwrap.js';
import { RenderError } from '../../src/render/render-error.js';

const GOLDEN = join(import.meta.dirname, '../golden/plan');
const planOf = (name: string) => JSON.parse(readFileSync(join(GOLDEN, name, 'plan.json'), 'utf8')) as Plan;

const HOST: JoinHostFacts = {
  namespaces: { pid: '/proc/77/fd/20', mnt: '/proc/77/fd/21', net: '/proc/77/fd/22', ipc: '/proc/77/fd/23', uts: '/proc/77/fd/24', cgroup: '/proc/77/fd/25' },
  bwrap: {
    binary: '/usr/bin/bwrap',
    loader: '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
    libraries: ['/usr/lib/x86_64-linux-gnu/libselinux.so.1', '/usr/lib/x86_64-linux-gnu/libc.so.6'],
  },
};

const options = (content: string | null) => content!.split('\0').slice(0, -1);

test('the server preset: root enters the app\'s namespaces, bwrap copies its mount tree and becomes the service', () => {
  const cmd = renderBwrapJoin(planOf('server-node'), { argv: ['node', '-e', 'console.log(1)'], env: { EXTRA: 'x', NODE_ENV: 'debug' }, seccomp: true, host: HOST });
  assert.deepEqual(cmd.argv, [
    'setpriv', '--no-new-privs', '--clear-groups', '--inh-caps=-all', '--pdeathsig', 'KILL', '--',
    'nsenter', '--pid=/proc/77/fd/20', '--mount=/proc/77/fd/21', '--net=/proc/77/fd/22', '--ipc=/proc/77/fd/23', '--uts=/proc/77/fd/24', '--cgroup=/proc/77/fd/25', '--wd=/', '--',
    'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', '--inhibit-cache', '--preload', 'usr/lib/x86_64-linux-gnu/libselinux.so.1 usr/lib/x86_64-linux-gnu/libc.so.6', 'usr/bin/bwrap',
    '--args', '4', '--', 'node', '-e', 'console.log(1)',
  ]);
  assert.deepEqual(cmd.fds.map((f) => [f.fd, f.kind]), [[3, 'userns'], [4, 'args'], [5, 'seccomp'], [6, 'status']]);
  assert.deepEqual(options(cmd.fds[1]!.content), [
    '--userns', '3', '--uid', '60123', '--gid', '60123', '--assert-userns-disabled', '--cap-drop', 'ALL', '--new-session', '--die-with-parent',
    '--seccomp', '5', '--json-status-fd', '6', '--block-fd', '3', '--dev-bind', '/', '/', '--remount-ro', '/', '--chdir', '/app', '--clearenv',
    '--setenv', 'PATH', '/usr/bin:/app/bin:/usr/local/bin:/bin', '--setenv', 'HOME', '/state', '--setenv', 'LANG', 'C.UTF-8',
    '--setenv', 'NISO_SERVICE', 'web', '--setenv', 'NISO_PACKAGE', 'web@1.0.0', '--setenv', 'NISO_STATE_DIR', '/state',
    '--setenv', 'SSL_CERT_FILE', '/etc/ssl/certs/ca-certificates.crt', '--setenv', 'NODE_ENV', 'debug', '--setenv', 'EXTRA', 'x',
  ]);
});

test('every sandboxed preset: no capabilities, the plan\'s uid, the app\'s own filesystem, values only through --args', () => {
  for (const name of ['server-node', 'strict-limits', 'private-ports', 'cli-overrides', 'binary-host-network', 'service-health']) {
    const plan = planOf(name);
    const cmd = renderBwrapJoin(plan, { argv: ['x'], env: { SECRET: 'hunter2' }, seccomp: true, host: HOST });
    const o = options(cmd.fds.find((f) => f.kind === 'args')!.content);
    const after = (flag: string) => o[o.indexOf(flag) + 1];
    assert.equal(after('--cap-drop'), 'ALL', name);
    assert.equal(after('--uid'), String(plan.user.uid), name);
    assert.equal(after('--gid'), String(plan.user.gid), name);
    assert.equal(o.includes('--new-session'), true, `${name}: never the caller's terminal session`);
    assert.equal(o.includes('--seccomp'), plan.seccomp !== null, name);
    assert.equal(o.includes('--assert-userns-disabled'), !plan.allowUserNamespaces, name);
    // Only the app's tree: no host path is bound, nothing is unshared or rebuilt.
    const mounts = o.filter((a) => /^--((ro-|dev-)?bind(-try|-fd|-data)?|ro-bind-fd|tmpfs|proc|dev|mqueue|dir|file|symlink|unshare-.+)$/.test(a));
    assert.deepEqual(mounts, ['--dev-bind'], name);
    assert.deepEqual(o.slice(o.indexOf('--dev-bind') + 1, o.indexOf('--dev-bind') + 3), ['/', '/'], name);
    assert.equal(after('--chdir'), plan.command.cwd, name);
    assert.ok(!cmd.argv.some((a) => a.includes('hunter2')), `${name}: the environment stays out of process listings`);
    assert.equal(cmd.argv[1] === '--no-new-privs', plan.noNewPrivileges, name);
    // The userns fd is closed by bwrap before the command starts.
    assert.equal(after('--block-fd'), after('--userns'), name);
  }
});

test('a static bwrap starts without a loader', () => {
  const cmd = renderBwrapJoin(planOf('server-node'), { argv: ['node'], seccomp: false, host: { ...HOST, bwrap: { binary: '/opt/bwrap/bwrap', loader: null, libraries: [] } } });
  assert.deepEqual(cmd.argv.slice(cmd.argv.indexOf('--wd=/') + 2), ['opt/bwrap/bwrap', '--args', '4', '--', 'node']);
  assert.deepEqual(cmd.fds.map((f) => f.kind), ['userns', 'args', 'status']);
});

test('refusals: no sandbox to join, capabilities, no command, bwrap files ld.so cannot take', () => {
  assert.throws(() => renderBwrapJoin(planOf('unsafe-none'), { argv: ['x'], seccomp: false, host: HOST }), RenderError);
  const caps = { ...planOf('server-node'), capabilities: ['CAP_NET_BIND_SERVICE'] };
  assert.throws(() => renderBwrapJoin(caps, { argv: ['x'], seccomp: true, host: HOST }), /capabilities \(CAP_NET_BIND_SERVICE\)/);
  assert.throws(() => renderBwrapJoin(planOf('server-node'), { argv: [], seccomp: true, host: HOST }), /no command/);
  for (const bad of ['/usr/lib/my libs/libc.so.6', '/usr/lib/a:b/libc.so.6', 'lib/libc.so.6']) {
    assert.throws(() => renderBwrapJoin(planOf('server-node'), { argv: ['x'], seccomp: true, host: { ...HOST, bwrap: { ...HOST.bwrap, libraries: [bad] } } }), /absolute paths without blanks or colons/);
  }
});
