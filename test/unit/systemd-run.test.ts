// render/systemd-run.ts: the golden service units become transient properties (every directive the renderer writes
// is either checked for systemd-run 252 or dropped on purpose), values lose only the unit-file escaping that the bus
// does not have, and the exit record that the unit writes is read back as niso's exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { RenderError } from '../../src/render/render-error.js';
import { environmentFileProperty, withExitRecord, FOREGROUND_DROPPED, parseExitRecord, systemdRunArgv, transientArgv, transientProperties } from '../../src/render/systemd-run.js';

const GOLDEN = join(import.meta.dirname, '../golden/systemd');

test('every golden service unit converts: its [Service] lines minus ExecStart=, Restart= and RestartSec=, in order', () => {
  const cases = readdirSync(GOLDEN, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  assert.ok(cases.length >= 8);
  for (const c of cases) {
    const text = readFileSync(join(GOLDEN, c, 'niso-web.service'), 'utf8');
    const service = text.slice(text.indexOf('[Service]'), text.indexOf('[Install]')).split('\n').filter((l) => /^[A-Z]/.test(l));
    const props = transientProperties(text, [], 'niso-run-web-abc123.service');
    assert.equal(props.length, service.filter((l) => !FOREGROUND_DROPPED.has(l.slice(0, l.indexOf('=')))).length, c);
    assert.ok(!props.some((p) => /^(ExecStart|Restart|RestartSec|StartLimit\w+|OnFailure|BindsTo|Wants|WantedBy)=/.test(p)), `${c}: ${props.join('\n')}`);
    assert.ok(props.includes('Type=exec') && props.some((p) => p.startsWith('User=')), c);
  }
});

test('values: %% is one % again (the bus has no specifiers), quotes and C escapes stay for systemd-run to parse', () => {
  const unit = '[Unit]\nDescription=x %%n\n\n[Service]\n# comment\nEnvironmentFile=/run/x%%y/environment\nBindPaths="/s p%%ace":/state\nCPUQuota=50%\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n';
  assert.deepEqual(transientProperties(unit), ['EnvironmentFile=/run/x%y/environment', 'BindPaths="/s p%ace":/state', 'CPUQuota=50%']);
  assert.deepEqual(environmentFileProperty('/run/niso/systemd-run/niso-exec-web-abc123/environment'), ['EnvironmentFile=/run/niso/systemd-run/niso-exec-web-abc123/environment'][0]);
  assert.throws(() => environmentFileProperty('environment'), RenderError);
  assert.throws(() => transientProperties('[Service]\nExecReload=/bin/true\n'), (e: unknown) => e instanceof RenderError && /ExecReload= was not checked/.test(e.message));
  assert.deepEqual(transientProperties('[Service]\nExecReload=/bin/true\n', ['ExecReload']), []);
});

test('a secret: LoadCredential= names the stored file, and %d becomes the transient unit\'s own credentials dir (the bus expands no specifiers)', () => {
  const unit = '[Service]\nLoadCredential=db:/var/lib/niso/secrets/db/value\nBindReadOnlyPaths=%d/db:/run/secrets/db\nBindPaths="/x%%d":/data\n';
  assert.deepEqual(transientProperties(unit, [], 'niso-exec-web-abc123.service'), [
    'LoadCredential=db:/var/lib/niso/secrets/db/value',
    'BindReadOnlyPaths=/run/credentials/niso-exec-web-abc123.service/db:/run/secrets/db',
    // A literal "%d" in a path (written %%d) stays one.
    'BindPaths="/x%d":/data',
  ]);
  assert.throws(() => transientProperties(unit), (e: unknown) => e instanceof RenderError && /needs its name for %d/.test(e.message));
  assert.throws(() => transientProperties(unit, [], 'x/../y.service'), RenderError);
  // The golden unit with secrets: each one loaded once and bound at its target, in the transient unit's own dir.
  const props = transientProperties(readFileSync(join(GOLDEN, 'secrets', 'niso-web.service'), 'utf8'), [], 'niso-run-web-abc123.service');
  assert.deepEqual(props.filter((p) => p.startsWith('LoadCredential=')), ['tls-key', 'api-token', 'db-password', 'smtp'].map((n) => `LoadCredential=${n}:/var/lib/niso/secrets/${n}/value`));
  assert.ok(props.includes('BindReadOnlyPaths=/run/credentials/niso-run-web-abc123.service/db-password:/run/secrets/db/password'));
});

test('no environment value goes over the bus: Environment= is not a transient property, the golden units have none', () => {
  // `systemctl show -p Environment` and /run/systemd/transient/*.service are readable by every user.
  assert.throws(() => transientProperties('[Service]\nEnvironment="TOKEN=secret"\n'), (e: unknown) => e instanceof RenderError && /Environment= was not checked/.test(e.message));
  for (const c of readdirSync(GOLDEN, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)) {
    const props = transientProperties(readFileSync(join(GOLDEN, c, 'niso-web.service'), 'utf8'), [], 'niso-run-web-abc123.service');
    assert.deepEqual(props.filter((p) => p.startsWith('EnvironmentFile=')), ['EnvironmentFile=/var/lib/niso/services/web/systemd/environment'], c);
  }
});

test('the command: absolute, and $ doubled because the manager expands variables in it', () => {
  assert.deepEqual(transientArgv(['/usr/bin/node', '-e', 'console.log("$HOME %n")']), ['/usr/bin/node', '-e', 'console.log("$$HOME %n")']);
  assert.throws(() => transientArgv(['node']), RenderError);
  const argv = systemdRunArgv({ unit: 'niso-run-web-abc123.service', description: 'niso run web', properties: ['Type=exec'], argv: ['/usr/bin/node'], stdio: 'pipe' });
  assert.deepEqual(argv, ['systemd-run', '--unit=niso-run-web-abc123.service', '--description=niso run web', '--quiet', '--wait', '--collect', '--pipe', '-p', 'Type=exec', '--', '/usr/bin/node']);
  assert.throws(() => systemdRunArgv({ unit: 'x; rm', description: '', properties: [], argv: ['/x'], stdio: 'pty' }), RenderError);
});

test('the exit record: written by a + ExecStopPost= outside the unit\'s root, read back as 0, N or 128+signal', () => {
  assert.deepEqual(withExitRecord(['User=61000', 'WorkingDirectory=/app'], '/bin/sh', '/run/niso/x y/exit'), [
    // The recorder runs outside the root, where /app does not exist: "-" keeps it from failing with 200/CHDIR.
    'User=61000', 'WorkingDirectory=-/app',
    'RootDirectoryStartOnly=yes',
    'ExecStopPost=+"/bin/sh" -c "echo \\"$$SERVICE_RESULT $$EXIT_CODE $$EXIT_STATUS\\" > \\"$$1\\"" sh "/run/niso/x y/exit"',
  ]);
  const sig = constants.signals;
  assert.deepEqual(parseExitRecord('success exited 0\n', sig), { result: 'success', exitCode: 0, signal: null });
  assert.deepEqual(parseExitRecord('exit-code exited 3\n', sig), { result: 'exit-code', exitCode: 3, signal: null });
  // systemd calls an app ended by SIGTERM a success; niso reports the signal, as the embedded backend does.
  assert.deepEqual(parseExitRecord('success killed TERM\n', sig), { result: 'success', exitCode: 143, signal: 'SIGTERM' });
  assert.deepEqual(parseExitRecord('core-dump dumped ABRT\n', sig), { result: 'core-dump', exitCode: 134, signal: 'SIGABRT' });
  assert.equal(parseExitRecord('', sig), null);
  assert.equal(parseExitRecord('resources  \n', sig), null);
});

test('the exit record leaves a NISO_ROOT below the unit\'s own tmpfs mounts and binds for /var/tmp (systemd 252 shows them to the + command too)', async () => {
  const { recorderPath } = await import('../../src/service/systemd/transient.js');
  const props = ['TemporaryFileSystem=/tmp:size=67108864,mode=1777', 'TemporaryFileSystem=/run:ro', 'User=61000'];
  assert.equal(recorderPath(props, '/var/lib/niso/run/niso/systemd-run/u/exit', 'u.service'), '/var/lib/niso/run/niso/systemd-run/u/exit');
  assert.equal(recorderPath(props, '/tmp/t/root/run/niso/systemd-run/u/exit', 'u.service'), '/var/tmp/niso-systemd-run/u.service.exit');
  assert.equal(recorderPath(props, '/run/niso/systemd-run/u/exit', 'u.service'), '/var/tmp/niso-systemd-run/u.service.exit');
  assert.equal(recorderPath(props, '/tmpx/exit', 'u.service'), '/tmpx/exit');
  // A service's shared /tmp is a bind onto /tmp (exec's lines): the same shadow.
  const exec = ['BindPaths=/tmp/t/root/var/lib/niso/services/pg/systemd/tmp:/tmp', 'TemporaryFileSystem=/run:ro', 'BindReadOnlyPaths=/srv/app:/app'];
  assert.equal(recorderPath(exec, '/tmp/t/root/run/niso/systemd-run/u/exit', 'u.service'), '/var/tmp/niso-systemd-run/u.service.exit');
  assert.equal(recorderPath(exec, '/srv/root/run/niso/systemd-run/u/exit', 'u.service'), '/srv/root/run/niso/systemd-run/u/exit');
});
