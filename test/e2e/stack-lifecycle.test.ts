// A stack's life on one host beyond its first `up`, as a user sees it: `stack down` keeps the volumes (`--volumes`
// deletes them only when confirmed, and only the stack's own; a rollback undoes a down), config files copied in
// read-only whose change is a restart and whose old content a rollback brings back (also after a down), a second
// stack refused before anything changes when it wants a host port or an exclusive volume of the first, and
// `niso boot` after a host restart starting a dependency before its dependent. One NISO_ROOT and one small node
// package for all. Runs unchanged inside a booted systemd (stack-lifecycle-systemd.test.ts), except the boot case:
// `niso boot` is the embedded backend's, while systemd starts its units at boot itself (stack-systemd.test.ts reboots
// a machine for that), so that case is defined only here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/ports.js';
import { removeServicesAndTestDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const onSystemd = process.env.NISO_E2E_BACKEND === 'systemd';
const dir = mkdtempSync(join(tmpdir(), 'niso-stack-lifecycle-'));
chmodSync(dir, 0o755);
const root = join(dir, 'root');

function niso(args: string[], timeout = 300_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NISO_ROOT: root }, timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function ok(args: string[]): string {
  const r = niso(args);
  assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}
after(() => removeServicesAndTestDir(dir, root, niso, { state: true }));

/**
 * One program for every service here, told by its environment what to do, each step logged with the time it
 * happened (the host's clock, which every sandbox shares): a line per start appended to /data/starts when a volume is
 * there, its config files printed, one request to PEER, and a listener on 8080 after LISTEN_AFTER_MS.
 */
const SERVER = `const fs = require('fs');
const say = (m) => console.log(m + ' at ' + Date.now());
say('started');
if (fs.existsSync('/data')) {
  fs.appendFileSync('/data/starts', process.env.NISO_SERVICE + '\\n');
  console.log('starts in /data: ' + fs.readFileSync('/data/starts', 'utf8').trim().split('\\n').length);
}
for (const f of (process.env.CONFIGS || '').split(',').filter(Boolean)) console.log('config ' + f + ': ' + JSON.stringify(fs.readFileSync(f, 'utf8')));
if (process.env.PEER) {
  require('http').get('http://' + process.env.PEER + ':8080/', (r) => { r.resume(); say(process.env.PEER + ' answered ' + r.statusCode); })
    .on('error', (e) => say(process.env.PEER + ' refused: ' + e.code));
}
setTimeout(() => require('http').createServer((q, s) => s.end('up')).listen(8080, () => say('listening')), Number(process.env.LISTEN_AFTER_MS || 0));
`;

before(() => {
  const app = join(dir, 'app');
  mkdirSync(app);
  // A config the package declares ([configs.NAME]) with a default of its own, which a stack may supply by name.
  writeFileSync(join(app, 'manifest.toml'), '[package]\nname = "lc-app"\nversion = "1.0.0"\n\n[runtime]\nuse = "nodejs:20"\n\n[binary]\nentrypoint = "node"\nargs = ["server.js"]\n\n[configs.settings]\ntarget = "/etc/lc/settings.json"\nsource = "settings.json"\n');
  writeFileSync(join(app, 'server.js'), SERVER);
  writeFileSync(join(app, 'settings.json'), '{"greeting": "the package\'s default"}\n');
  ok(['pack', app, '-o', join(dir, 'lc-app.niso'), '-q']);
  ok(['install', join(dir, 'lc-app.niso')]);
});

/** A stack file in its own directory (beside it, the files `extra` names); returns the file's path. */
function stackFile(name: string, body: string, extra: Record<string, string> = {}): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(extra)) writeFileSync(join(d, f), text);
  writeFileSync(join(d, 'stack.toml'), `[stack]\nname = "${name}"\n${body}`);
  return join(d, 'stack.toml');
}

interface Ps { service: string; name: string; state: string; pid: number | null; health: string | null }
const ps = (file: string) => JSON.parse(ok(['stack', 'ps', '--file', file, '--json'])) as Ps[];
const pids = (file: string) => Object.fromEntries(ps(file).map((s) => [s.service, s.pid]));
/** What a command prints inside the service's sandbox (node: the sandbox has no shell). */
const inside = (file: string, service: string, js: string) => ok(['stack', 'exec', '--file', file, service, '--', 'node', '-e', js]);
const volumes = () => (JSON.parse(ok(['volume', 'ls', '--json'])) as { name: string; kind: string }[]).filter((v) => v.kind === 'named').map((v) => v.name).sort();
const generations = () => (JSON.parse(ok(['generation', 'list', '--json'])) as { number: number }[]).map((g) => g.number);
/** Up, with a short settle window: none of these apps is judged by how long it stays up. */
const up = (file: string) => niso(['stack', 'up', '--file', file, '--settle', '1s']);
function upOk(file: string): string {
  const r = up(file);
  assert.equal(r.code, 0, `stack up ${file} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

test('stack down keeps the volumes for the next up and a rollback brings the stack back; --volumes needs --yes, and then deletes this stack\'s volumes and no other\'s', { timeout: 300_000 }, async () => {
  const body = '[[service]]\nname = "web"\npackage = "lc-app:1.0.0"\nvolumes = { data = "/data" }\n';
  const keep = stackFile('keep', body);
  const other = stackFile('other', body);
  upOk(keep);
  upOk(other);
  const starts = (file: string) => inside(file, 'web', 'process.stdout.write(require("fs").readFileSync("/data/starts", "utf8"))');
  assert.equal(starts(keep), 'keep.web\n');

  // Down: the service and network go, the volume and what the service wrote stay.
  const down = ok(['stack', 'down', '--file', keep]);
  assert.match(down, /^stop {4}web \(lc-app 1\.0\.0\)\nnetwork keep_default removed\nvolumes kept: keep_data \(niso stack down --volumes --yes deletes them\)\nstack keep is down: generation \d+\n$/);
  assert.deepEqual(volumes(), ['keep_data', 'other_data']);
  // The next up finds the data: the app counts its starts in the volume.
  upOk(keep);
  assert.equal(starts(keep), 'keep.web\nkeep.web\n');
  assert.match(ok(['stack', 'logs', '--file', keep]), /^web \| starts in \/data: 2$/m);
  // A down is one switch of the host's generation: a rollback brings the stack back, its network made again.
  ok(['stack', 'down', '--file', keep]);
  const back = niso(['rollback', '--settle', '1s']);
  assert.equal(back.code, 0, `rollback after stack down:\n${back.stderr}${back.stdout}`);
  assert.match(back.stdout, /^generation \d+ is current \(was \d+\): add keep\.web\n/);
  assert.deepEqual(ps(keep).map((x) => [x.service, x.state]), [['web', 'active']]);
  assert.equal(starts(keep), 'keep.web\nkeep.web\nkeep.web\n');

  // --volumes without --yes: refused before anything stops (nothing asks on a terminal: stdin is not one here).
  const gens = generations();
  const running = pids(keep);
  const refused = niso(['stack', 'down', '--file', keep, '--volumes']);
  assert.equal(refused.code, 2, `${refused.stderr}${refused.stdout}`);
  assert.match(refused.stderr, /^error NISO5332: --volumes deletes the stack's volumes and their data\n {2}hint: add --yes to confirm, or leave --volumes out to keep them for the next `stack up`\n$/);
  assert.equal(refused.stdout, '');
  assert.deepEqual(pids(keep), running, 'the stack still runs, untouched');
  assert.deepEqual(generations(), gens, 'no switch was made');
  assert.deepEqual(volumes(), ['keep_data', 'other_data']);

  // Confirmed: this stack's volume is deleted, the other stack's volume and service stay as they were.
  const otherPids = pids(other);
  const gone = ok(['stack', 'down', '--file', keep, '--volumes', '--yes']);
  assert.match(gone, /^stop {4}web \(lc-app 1\.0\.0\)\nnetwork keep_default removed\nvolume keep_data removed\nstack keep is down: generation \d+\n$/);
  assert.deepEqual(volumes(), ['other_data']);
  assert.deepEqual(pids(other), otherPids);
  assert.equal(starts(other), 'other.web\n');
  // A new up starts from an empty volume.
  upOk(keep);
  assert.equal(starts(keep), 'keep.web\n');
  ok(['stack', 'down', '--file', keep, '--volumes', '--yes']);
  ok(['stack', 'down', '--file', other, '--volumes', '--yes']);
  assert.deepEqual(volumes(), []);
});

test('config files: copied in read-only (0440, the service\'s group), a changed file restarts the service with the new content, an unchanged up restarts nothing, a rollback brings the old content back, also across a down', { timeout: 300_000 }, async () => {
  // Both forms: a config the package declares, by name, and a file put at a path of the sandbox.
  const file = stackFile('conf', '[[service]]\nname = "web"\npackage = "lc-app:1.0.0"\nconfigs = { settings = "./settings.json", "/etc/lc/extra.conf" = "./extra.conf" }\n[service.environment]\nCONFIGS = "/etc/lc/settings.json,/etc/lc/extra.conf"\n', {
    'settings.json': '{"greeting": "hello"}\n', 'extra.conf': 'level = 1\n',
  });
  upOk(file);
  const seen = (js: string) => JSON.parse(inside(file, 'web', js)) as unknown;
  const look = `const fs = require("fs"); const out = {};
for (const f of ["/etc/lc/settings.json", "/etc/lc/extra.conf"]) {
  const st = fs.statSync(f);
  let write = "written";
  try { fs.writeFileSync(f, "changed"); } catch (e) { write = e.code; }
  out[f] = { content: fs.readFileSync(f, "utf8"), mode: (st.mode & 0o777).toString(8), group: st.gid === process.getgid(), write };
}
console.log(JSON.stringify(out));`;
  assert.deepEqual(seen(look), {
    '/etc/lc/settings.json': { content: '{"greeting": "hello"}\n', mode: '440', group: true, write: 'EROFS' },
    '/etc/lc/extra.conf': { content: 'level = 1\n', mode: '440', group: true, write: 'EROFS' },
  });
  const pid1 = pids(file).web;

  // Unchanged: nothing restarts.
  assert.match(ok(['stack', 'up', '--file', file]), /^nothing to change: stack conf is up as .*stack\.toml says\n$/);
  assert.equal(pids(file).web, pid1);

  // A new content of one file is a change of the service: restarted, and it reads the new content at its start.
  writeFileSync(join(dir, 'conf', 'settings.json'), '{"greeting": "bonjour"}\n');
  assert.deepEqual(ok(['stack', 'up', '--file', file, '--dry-run']).trim().split('\n'), ['would restart web (options.configs)']);
  const changed = upOk(file);
  assert.match(changed, /^restart web \(options\.configs\)\nstack conf is up: generation (\d+)\n$/);
  const changedGen = Number(/generation (\d+)/.exec(changed)![1]);
  const pid2 = pids(file).web;
  assert.ok(pid2 !== null && pid2 !== pid1, `restarted: pid ${pid1} → ${pid2}`);
  assert.equal((seen(look) as Record<string, { content: string }>)['/etc/lc/settings.json']!.content, '{"greeting": "bonjour"}\n');
  assert.match(ok(['stack', 'logs', '--file', file]), /^web \| config \/etc\/lc\/settings\.json: "\{\\"greeting\\": \\"bonjour\\"\}\\n"$/m);
  const gen = (JSON.parse(ok(['generation', 'list', '--json'])) as { number: number; summary: string[] }[]).find((g) => g.number === changedGen)!;
  assert.deepEqual(gen.summary, ['conf.web: options.configs']);

  // The generation before holds the old copy, whatever the file on disk says now: a rollback brings it back.
  const back = niso(['rollback', '--settle', '1s']);
  assert.equal(back.code, 0, `${back.stderr}${back.stdout}`);
  assert.match(back.stdout, /^generation \d+ is current \(was \d+\): replace conf\.web\n/);
  const after1 = seen(look) as Record<string, { content: string }>;
  assert.equal(after1['/etc/lc/settings.json']!.content, '{"greeting": "hello"}\n');
  assert.equal(after1['/etc/lc/extra.conf']!.content, 'level = 1\n');
  assert.notEqual(pids(file).web, pid2);
  // The file on disk still says bonjour: the next up is a change again.
  assert.deepEqual(ok(['stack', 'up', '--file', file, '--dry-run']).trim().split('\n'), ['would restart web (options.configs)']);
  // Across a down, which removes the service and its files: a rollback brings it back with the copies its generation names.
  ok(['stack', 'down', '--file', file]);
  const again = niso(['rollback', '--settle', '1s']);
  assert.equal(again.code, 0, `rollback after stack down:\n${again.stderr}${again.stdout}`);
  assert.deepEqual(seen(look), {
    '/etc/lc/settings.json': { content: '{"greeting": "hello"}\n', mode: '440', group: true, write: 'EROFS' },
    '/etc/lc/extra.conf': { content: 'level = 1\n', mode: '440', group: true, write: 'EROFS' },
  });
  ok(['stack', 'down', '--file', file]);
});

test('a second stack that wants a host port or an exclusive volume of the first is refused before anything changes, naming both stacks; the first runs on untouched', { timeout: 300_000 }, async () => {
  const port = await freePort();
  const alpha = stackFile('alpha', `[[service]]\nname = "web"\npackage = "lc-app:1.0.0"\nports = ["127.0.0.1:${port}:8080"]\nvolumes = { data = { mount = "/data", exclusive = true } }\n[volume.data]\nname = "lc-shared"\n`);
  upOk(alpha);
  const running = pids(alpha);
  const gens = generations();
  const installed = ok(['list', '--json']);

  // The same host port (on every address, which includes 127.0.0.1).
  const byPort = stackFile('beta', `[[service]]\nname = "api"\npackage = "lc-app:1.0.0"\nports = ["${port}:8080"]\n`);
  const p = up(byPort);
  assert.equal(p.code, 2, `${p.stderr}${p.stdout}`);
  assert.equal(p.stdout, '');
  assert.match(p.stderr, new RegExp(`error NISO5311: ${esc(byPort)}:6:10: api maps host port ${port}/tcp, which web of stack "alpha" maps already \\(${esc(alpha)}\\)\\n {2}hint: map another host port; each host port forwards to one service on the host`));
  assert.match(p.stderr, new RegExp(`^stack beta \\(${esc(byPort)}\\) conflicts with what runs on this host; nothing was changed\\n`));

  // The volume alpha mounts exclusively, asked for by its host name.
  const byVolume = stackFile('gamma', '[[service]]\nname = "backup"\npackage = "lc-app:1.0.0"\nvolumes = ["data:/data:ro"]\n[volume.data]\nname = "lc-shared"\n');
  const v = up(byVolume);
  assert.equal(v.code, 2, `${v.stderr}${v.stdout}`);
  assert.match(v.stderr, new RegExp(`error NISO5322: ${esc(byVolume)}:6:11: backup mounts volume "lc-shared", which web of stack "alpha" mounts too, and stack "alpha" mounts it exclusively \\(${esc(alpha)}\\)\\n {2}hint: give each stack a volume of its own \\(the default, STACK_KEY\\), or drop exclusive = true`));
  assert.match(v.stderr, new RegExp(`^stack gamma \\(${esc(byVolume)}\\) conflicts with what runs on this host; nothing was changed\\n`));

  // Nothing changed: no generation, no stack, no network, nothing installed; alpha's service is the same process.
  assert.deepEqual(generations(), gens);
  assert.deepEqual((JSON.parse(ok(['stack', 'ls', '--json'])) as { name: string }[]).map((s) => s.name).filter((n) => n === 'beta' || n === 'gamma'), []);
  assert.deepEqual((JSON.parse(ok(['net', 'ls', '--json'])) as { network: { name: string } }[]).map((n) => n.network.name).filter((n) => n.startsWith('beta_') || n.startsWith('gamma_')), []);
  assert.equal(ok(['list', '--json']), installed);
  assert.deepEqual(pids(alpha), running);
  // Another port and a volume of its own: the second stack comes up beside the first.
  writeFileSync(byPort, readFileSync(byPort, 'utf8').replace(`"${port}:8080"`, `"127.0.0.1:${await freePort()}:8080"`));
  upOk(byPort);
  assert.deepEqual(pids(alpha), running);
  ok(['stack', 'down', '--file', byPort]);
  ok(['stack', 'down', '--file', alpha, '--volumes', '--yes']);
});

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// `niso boot` is the embedded backend's: on systemd the units start at boot by themselves (stack-systemd.test.ts).
if (!onSystemd) {
  test('niso boot after a host restart (embedded backend): the dependency starts first, the dependent only once it is healthy', { timeout: 300_000 }, async () => {
    // db listens only after 3 s: a dependent started any earlier would find nothing there.
    const file = stackFile('lcboot', `[[service]]\nname = "app"\npackage = "lc-app:1.0.0"\ndepends_on = { db = "healthy" }\n[service.environment]\nPEER = "db"\n[[service]]\nname = "db"\npackage = "lc-app:1.0.0"\nhealthcheck = { tcp = 8080, interval = "1s", timeout = "1s", retries = 3, start_period = "60s" }\n[service.environment]\nLISTEN_AFTER_MS = "3000"\n`);
    upOk(file);
    const first = ok(['stack', 'logs', '--file', file]);
    assert.match(first, /^app \| db answered 200 at \d+$/m);
    const before1 = pids(file);

    await hostRestart();
    const boot = niso(['boot', '--json']);
    assert.equal(boot.code, 0, `${boot.stderr}${boot.stdout}`);
    // In the order it started them (another file's stack of this root would be listed too).
    assert.deepEqual((JSON.parse(boot.stdout) as { started: string[] }).started.filter((n) => n.startsWith('lcboot.')), ['lcboot.db', 'lcboot.app']);
    // What the services say of this boot (the lines after their first run's).
    const logs = ok(['stack', 'logs', '--file', file]).split('\n');
    const at = (service: string, what: string) => logs.filter((l) => l.startsWith(`${service.padEnd(3)} | ${what} at `)).map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
    assert.equal(at('db', 'started').length, 2, logs.join('\n'));
    assert.equal(at('app', 'started').length, 2, logs.join('\n'));
    const dbListening = at('db', 'listening')[1]!;
    const appStarted = at('app', 'started')[1]!;
    assert.ok(at('db', 'started')[1]! < dbListening && dbListening <= appStarted, `db started ${at('db', 'started')[1]}, listening ${dbListening}; app started ${appStarted}`);
    assert.equal(logs.filter((l) => /^app \| db answered 200 at/.test(l)).length, 2, `app reached db at its second start:\n${logs.join('\n')}`);
    assert.ok(!logs.some((l) => l.includes('refused')), logs.join('\n'));
    const st = JSON.parse(ok(['stack', 'status', '--file', file, '--json'])) as { services: { service: string; state: string; health: string | null; pid: number | null }[] };
    assert.deepEqual(st.services.map((s) => [s.service, s.state]), [['app', 'active'], ['db', 'active']]);
    assert.equal(st.services[1]!.health, 'healthy');
    for (const s of st.services) assert.notEqual(s.pid, before1[s.service]);
    // Each service's run before the restart is told as such.
    for (const n of ['lcboot.app', 'lcboot.db']) {
      const s = JSON.parse(ok(['status', n, '--json'])) as { lastExit: { reason: string; message: string } | null; restarts: number };
      assert.equal(s.lastExit?.reason, 'vanished', `${n}: ${JSON.stringify(s.lastExit)}`);
    }
    ok(['stack', 'down', '--file', file]);
  });
}

/**
 * What a host restart does to the embedded backend's world, for this root alone: every process of its services and
 * its supervisor gone at once (SIGKILL: no niso command in between, which would start a supervisor that sees the
 * ends), its state images unmounted, its network namespaces (and their veths) and nft table gone, and its /run
 * emptied. The bridges stay: deleting one would free its name and subnet for another test's root running beside.
 */
async function hostRestart(): Promise<void> {
  const [{ rootId }, { netContext }, { unmountBelow }] = await Promise.all([
    import('../../src/service/store.js'), import('../../src/net/host/manager.js'), import('../../src/host/bounded-dir.js'),
  ]);
  try { process.kill((JSON.parse(readFileSync(join(root, 'run/niso/supervisor.json'), 'utf8')) as { pid: number }).pid, 'SIGKILL'); } catch { /* none */ }
  const base = '/sys/fs/cgroup/pids/niso';
  const cgroups = readdirSync(base).filter((n) => n.startsWith(`svc.${rootId(root)}.`)).map((n) => join(base, n, 'cgroup.procs'));
  assert.ok(cgroups.length > 0, `no cgroup of this root below ${base}`);
  const procs = () => cgroups.flatMap((f) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number) : []));
  await until('every process of the services to be gone', () => {
    for (const p of procs()) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    return procs().length === 0;
  }, 30_000, 100);
  await unmountBelow(root);
  for (const f of existsSync(join(root, 'run/niso/net')) ? readdirSync(join(root, 'run/niso/net')).filter((x) => x.endsWith('.json')) : []) {
    const netns = (JSON.parse(readFileSync(join(root, 'run/niso/net', f), 'utf8')) as { attachment: { netns: string } }).attachment.netns;
    assert.equal(spawnSync('ip', ['netns', 'delete', netns]).status, 0, `ip netns delete ${netns}`);
  }
  const table = netContext(root).table;
  for (const line of spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' }).stdout.split('\n')) {
    const m = /^table (\S+) (\S+)$/.exec(line.trim());
    if (m && m[2] === table) assert.equal(spawnSync('nft', ['delete', 'table', m[1]!, m[2]!]).status, 0);
  }
  rmSync(join(root, 'run'), { recursive: true, force: true });
}
