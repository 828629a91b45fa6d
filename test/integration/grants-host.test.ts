// The host side of grants on real files: host paths resolved through symlinks before they are checked (a link into
// /etc is /etc), paths the service's uid cannot reach, and config files copied by content, private to the service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { isNisoError } from '../../src/errors/niso-error.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { copyConfigs, resolveBinds } from '../../src/sandbox/grants-host.js';
import { tempDir } from '../helpers/tmp.js';

const bind = (source: string) => ({ source, target: '/data', readOnly: false, from: 'command line' as const });
const refusal = (code: string, text: RegExp) => (e: unknown) => isNisoError(e) && e.code === code && text.test(e.message) && (e.hint ?? '') !== '';

test('host paths: symlinks are resolved first, so a link into /etc, to / or to niso\'s own state is refused; a directory of its own is mounted by its real path', () => {
  const dir = tempDir();
  const own = join(dir, 'root/var/lib/niso');
  mkdirSync(join(dir, 'media'), { recursive: true });
  mkdirSync(own, { recursive: true });
  symlinkSync('/etc', join(dir, 'etc-link'));
  symlinkSync('/', join(dir, 'root-link'));
  symlinkSync(join(dir, 'etc-link'), join(dir, 'chain'));
  symlinkSync(own, join(dir, 'state-link'));
  symlinkSync('media', join(dir, 'media-link'));
  for (const [p, hit] of [['etc-link', /\/etc-link \(\/etc\) is \/etc/], ['root-link', /contains \/etc/], ['chain', /\(\/etc\) is \/etc/], ['state-link', /is .*\/var\/lib\/niso/]] as const) {
    assert.throws(() => resolveBinds([bind(join(dir, p))], [own]), refusal('NISO5052', hit), p);
  }
  assert.deepEqual(resolveBinds([bind(join(dir, 'media-link'))], [own]), { [join(dir, 'media-link')]: join(dir, 'media') });
  assert.throws(() => resolveBinds([bind(join(dir, 'missing'))], []), refusal('NISO5055', /does not exist/));
  mkfifoSync(join(dir, 'fifo'));
  assert.throws(() => resolveBinds([bind(join(dir, 'fifo'))], []), refusal('NISO5055', /neither a directory nor a regular file/));
  mkdirSync(join(dir, 'private/inner'), { recursive: true });
  chmodSync(join(dir, 'private'), 0o700);
  assert.throws(() => resolveBinds([bind(join(dir, 'private/inner'))], []), refusal('NISO5055', /other users cannot enter/));
});

/** mkfifo through the host's tool: node has no mkfifo. */
function mkfifoSync(path: string): void {
  assert.equal(spawnSync('mkfifo', [path]).status, 0);
}

test('config files: copied by content, root\'s and the service\'s group\'s alone (0440); a NAME= config goes where the manifest says; FIFOs and unknown names are refused', async () => {
  const dir = tempDir();
  const m = parseManifest('[package]\nname = "web"\nversion = "1.0.0"\n[binary]\nentrypoint = "bin/web"\n[configs.app]\ntarget = "/etc/web/app.toml"\n').manifest!;
  const file = join(dir, 'app.toml');
  writeFileSync(file, 'port = 80\n', { mode: 0o600 });
  const into = join(dir, 'configs/web');
  const [copy] = await copyConfigs(into, [{ name: 'app', file, target: null, flag: '--config app=app.toml' }], m, 60999);
  assert.equal(copy!.target, '/etc/web/app.toml');
  assert.equal(readFileSync(copy!.source, 'utf8'), 'port = 80\n');
  const st = statSync(copy!.source);
  assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, 60999, 0o440]);
  assert.deepEqual([statSync(into).gid, statSync(into).mode & 0o777, statSync(join(dir, 'configs')).mode & 0o777], [60999, 0o750, 0o755], 'only the service\'s group gets in; every service passes through the parent');
  writeFileSync(file, 'port = 81\n');
  const [second] = await copyConfigs(into, [{ name: null, file, target: '/etc/other.toml', flag: '--config app.toml:/etc/other.toml' }], m, 60999);
  assert.notEqual(second!.source, copy!.source, 'another content is another copy: the running service keeps its own');
  assert.equal(readFileSync(copy!.source, 'utf8'), 'port = 80\n');
  mkfifoSync(join(dir, 'fifo'));
  await assert.rejects(copyConfigs(into, [{ name: null, file: join(dir, 'fifo'), target: '/etc/x', flag: '--config fifo:/etc/x' }], m, 60999), refusal('NISO5056', /not a regular file but a FIFO/));
  await assert.rejects(copyConfigs(into, [{ name: 'nope', file, target: null, flag: '--config nope=app.toml' }], m, 60999), refusal('NISO5056', /declares no config "nope"/));
});
