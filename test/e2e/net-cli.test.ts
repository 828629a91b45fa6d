// `niso net` and `niso run --net` through the built CLI: a network made, listed, inspected with its
// rules, refused removal while in use, removed after; services on it find each other by name and
// one on another network reaches neither name nor address; a port range costs no process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir, writeTree } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const skip = process.getuid?.() !== 0 ? 'needs root' : false;

const MANIFEST = (name: string) => `[package]\nname = "${name}"\nversion = "1.0.0"\n\n[runtime]\nuse = "nodejs:20"\n\n[binary]\nentrypoint = "node"\nargs = ["main.js"]\n`;
const MAIN = `
const http = require('http');
const [cmd, arg] = process.argv.slice(2);
if (cmd === 'fetch') {
  const req = http.get(arg, (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => { console.log(b); process.exit(0); }); });
  req.on('error', (e) => { console.log('error ' + e.code); process.exit(3); });
  req.setTimeout(1500, () => { console.log('error timeout'); process.exit(3); });
} else {
  http.createServer((q, s) => s.end('hello from ' + require('os').hostname())).listen(3000, '0.0.0.0', () => console.log('ready'));
  process.on('SIGTERM', () => process.exit(0));
}
`;

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => { const s = createServer().once('error', () => res(false)).listen(port, '127.0.0.1', () => s.close(() => res(true))); });
}

/** `count` consecutive free host ports. */
async function freeRange(count: number): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const from = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (let p = from; p < from + count && ok; p++) ok = await portFree(p);
    if (ok) return from;
  }
  throw new Error(`no ${count} consecutive free ports`);
}

function descendants(pid: number): number[] {
  const out = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' }).stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  const found: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    for (const [c, pp] of out) if (pp === p) { found.push(c!); todo.push(c!); }
  }
  return found;
}

test('niso net create/list/inspect/remove and niso run --net: names on one network, nothing across networks, no process per port', { skip, timeout: 120_000 }, async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  const env = { ...process.env, NISO_ROOT: root };
  const niso = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
  const json = <T>(...args: string[]): T => {
    const r = niso(...args, '--json');
    assert.equal(r.status, 0, `niso ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  for (const n of ['web', 'client']) await writeTree(join(dir, n), { 'manifest.toml': MANIFEST(n), 'main.js': MAIN });

  const backend = json<{ name: string; subnet: string; bridge: string }>('net', 'create', 'backend');
  assert.equal(backend.name, 'backend');
  assert.equal(spawnSync('ip', ['link', 'show', 'dev', backend.bridge]).status, 0, 'its bridge exists');
  const again = niso('net', 'create', 'backend');
  assert.notEqual(again.status, 0);
  assert.match(again.stderr, /NISO4003/);
  const huge = niso('net', 'create', 'huge', '--subnet', '10.0.0.0/8');
  assert.equal(huge.status, 2);
  assert.match(huge.stderr, /NISO4004/);

  const one = await freeRange(1);
  const range = await freeRange(10);
  const runs: { child: ReturnType<typeof spawn>; closed: Promise<number | null> }[] = [];
  const start = (args: string[]) => {
    const child = spawn(process.execPath, [BIN, 'run', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    const ready = new Promise<void>((res, rej) => {
      child.stdout!.on('data', (d) => { out += d; if (out.includes('ready')) res(); });
      child.on('close', () => rej(new Error(`niso run ${args.join(' ')} ended early: ${err}`)));
    });
    const run = { child, closed: new Promise<number | null>((res) => child.on('close', res)) };
    runs.push(run);
    return { ...run, ready };
  };
  try {
    const web = start(['--net', 'backend', '-p', `127.0.0.1:${one}:3000`, '--name', 'web', join(dir, 'web')]);
    const many = start(['--net', 'backend', '-p', `127.0.0.1:${range}-${range + 9}:3000-3009`, '--name', 'many', join(dir, 'web')]);
    await Promise.all([web.ready, many.ready]);
    assert.equal(await (await fetch(`http://127.0.0.1:${one}/`)).text(), 'hello from web');
    assert.equal(await (await fetch(`http://127.0.0.1:${range}/`)).text(), 'hello from many');
    // Ten mapped ports cost what one does: the same process tree, and nothing listening on the host.
    assert.equal(descendants(many.child.pid!).length, descendants(web.child.pid!).length, 'no process per mapped port');
    const listening = spawnSync('ss', ['-Hltn', `( sport >= :${range} and sport <= :${range + 9} ) or sport = :${one}`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(listening, '', 'no process holds a mapped host port');

    const list = json<{ network: { name: string }; attachments: { service: string; address: string }[]; ports: unknown[] }[]>('net', 'list');
    const b = list.find((n) => n.network.name === 'backend')!;
    assert.deepEqual(b.attachments.map((a) => a.service).sort(), ['many', 'web']);
    assert.equal(b.ports.length, 2, 'a range is one mapping');
    const webAddr = b.attachments.find((a) => a.service === 'web')!.address;
    const inspect = json<{ rules: string }>('net', 'inspect', 'backend', '--rules');
    assert.ok(inspect.rules.includes(`127.0.0.1 . ${one} comment "web" : ${webAddr} . 3000`), inspect.rules);
    assert.ok(inspect.rules.includes(`127.0.0.1 . ${range + 9} comment "many"`), 'every port of the range is an element');
    const busy = niso('net', 'remove', 'backend');
    assert.notEqual(busy.status, 0);
    assert.match(busy.stderr, /NISO4010.*"many", "web"/);

    const fetchFrom = (netArgs: string[], url: string) => niso('run', ...netArgs, '--name', 'client', join(dir, 'client'), '--', 'main.js', 'fetch', url);
    const same = fetchFrom(['--net', 'backend'], 'http://web:3000/');
    assert.equal(same.status, 0, same.stderr);
    assert.equal(same.stdout.trim(), 'hello from web');
    const byName = fetchFrom(['--network', 'private'], 'http://web:3000/');
    assert.equal(byName.stdout.trim(), 'error ENOTFOUND', 'another network does not even learn the name');
    const byAddr = fetchFrom(['--network', 'private'], `http://${webAddr}:3000/`);
    assert.match(byAddr.stdout.trim(), /^error (timeout|EHOSTUNREACH|ECONNREFUSED)$/, `nor reaches the address: ${byAddr.stdout}`);
  } finally {
    for (const r of runs) r.child.kill('SIGTERM');
  }
  for (const r of runs) assert.equal(await r.closed, 0);

  const removed = json<{ name: string }>('net', 'remove', 'backend');
  assert.equal(removed.name, 'backend');
  assert.notEqual(spawnSync('ip', ['link', 'show', 'dev', backend.bridge]).status, 0, 'its bridge is gone');
  json('net', 'remove', 'default');
  assert.deepEqual(json('net', 'list'), []);
});
