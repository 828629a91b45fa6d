// The app's environment as render/bwrap.ts hands it over, never in an argv: bwrap's options on an fd, and for the
// unsandboxed preset a script that the host's sh turns back into exactly the plan's variables, whatever they hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { renderBwrap } from '../../src/render/bwrap.js';
import { RenderError } from '../../src/render/render-error.js';
import { goldenPlan } from '../helpers/golden-plan.js';

const GOLDEN = join(import.meta.dirname, '../golden/plan');
const WEIRD = ['with space', 'quote"d', "single'q", "'", "''", '$HOME ${PATH} $(id) `id`', 'back\\slash', 'new\nline', '\ttab', '', 'ünï ✓', '-x', '%n', ';', '*'];

test('unsandboxed, sh reads the variables from the fd and gets back exactly the plan\'s, whatever they hold', () => {
  const { plan } = goldenPlan(join(GOLDEN, 'unsafe-none'));
  const env = Object.fromEntries(WEIRD.map((v, i) => [`WEIRD_${i}`, v]));
  const cmd = renderBwrap({ ...plan, command: { ...plan.command, env, argv: ['/usr/bin/env', '-0'] } }, { seccomp: false, dieWithParent: false });
  assert.deepEqual(cmd.fds.map((f) => [f.fd, f.kind]), [[3, 'env']]);
  for (const v of WEIRD.filter((x) => x.length > 2)) assert.ok(!cmd.argv.some((a) => a.includes(v)), `${JSON.stringify(v)} is not in the argv`);
  // The part after `env -i -C DIR --`, run as it is, with the fd on a pipe as niso gives it.
  const sh = cmd.argv.slice(cmd.argv.indexOf('/bin/sh'));
  const p = spawnSync('/bin/sh', ['-c', `exec 3<<'EOF_ENV'\n${cmd.fds[0]!.content!}EOF_ENV\nexec "$@"`, 'sh', ...sh], { env: {}, encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const got = Object.fromEntries(p.stdout.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  assert.deepEqual(got, env, 'exactly the plan\'s environment: no PWD of the shell\'s, every value intact');
});

test('a NUL byte is refused, and the refusal does not repeat the value (it may be a secret)', () => {
  const { plan } = goldenPlan(join(GOLDEN, 'server-node'));
  const withNul = { ...plan, command: { ...plan.command, env: { ...plan.command.env, TOKEN: 's3cret\0--bind' } } };
  assert.throws(() => renderBwrap(withNul, { seccomp: true, dieWithParent: true }), (e: unknown) => e instanceof RenderError && /the value of TOKEN contains a NUL byte/.test(e.message) && !e.message.includes('s3cret'));
  const { plan: open } = goldenPlan(join(GOLDEN, 'unsafe-none'));
  assert.throws(() => renderBwrap({ ...open, command: { ...open.command, env: { TOKEN: 's3cret\0x' } } }, { seccomp: false, dieWithParent: false }), (e: unknown) => e instanceof RenderError && !e.message.includes('s3cret'));
});
