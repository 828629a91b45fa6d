// `niso run` on a private network: a port mapped in the kernel (no proxy process), services
// finding each other by name, and nothing left behind after the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tempDir, writeTree } from '../helpers/tmp.js';
import { freePort } from '../helpers/ports.js';

const BIN = join(import.meta.dirname, '../../bin/niso');

const MANIFEST = (name: string) => `[package]\nname = "${name}"\nversion = "1.0.0"\n\n[runtime]\nuse = "nodejs:20"\n\n[binary]\nentrypoint = "node"\nargs = ["main.js"]\n`;
const MAIN = `
const http = require('http');
const [cmd, arg] = process.argv.slice(2);
if (cmd === 'fetch') {
  http.get(arg, (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => { console.log(b); process.exit(0); }); }).on('error', (e) => { console.log('error ' + e.code); process.exit(3); });
} else {
  http.createServer((q, s) => s.end('hello from ' + require('os').hostname() + ' you=' + q.socket.remoteAddress)).listen(3000, '0.0.0.0', () => console.log('ready'));
  process.on('SIGTERM', () => process.exit(0));
}
`;


function start(args: string[], root: string) {
  const child = spawn(process.execPath, [BIN, 'run', ...args], { env: { ...process.env, NISO_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const ready = new Promise<void>((res, rej) => {
    child.stdout.on('data', (d) => { out += d; if (out.includes('ready')) res(); });
    child.on('close', () => rej(new Error(`niso run ended early: ${err}`)));
  });
  const closed = new Promise<number | null>((res) => child.on('close', res));
  return { child, ready, closed, stderr: () => err };
}

test('a mapped port reaches the app from the host, services reach each other by name, and the run leaves nothing', async () => {
  const dir = tempDir();
  const root = join(dir, 'root');
  // Names of this run's own: the namespaces left behind are looked for by name on the whole host, where other test
  // files' services live too.
  const id = randomBytes(3).toString('hex');
  const [web, client] = [`web-${id}`, `client-${id}`];
  for (const n of [web, client]) await writeTree(join(dir, n), { 'manifest.toml': MANIFEST(n), 'main.js': MAIN });
  const port = await freePort();
  const server = start(['-p', `127.0.0.1:${port}:3000`, join(dir, web)], root);
  try {
    await server.ready;
    const res = await fetch(`http://127.0.0.1:${port}/`);
    const body = await res.text();
    assert.match(body, new RegExp(`^hello from ${web} you=\\d+\\.\\d+\\.\\d+\\.\\d+$`));
    // No process listens on the host port: the mapping is a kernel rule.
    const listeners = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(listeners, '', 'no proxy process holds the host port');
    // A second service on the same network finds the first by its name.
    const fetched = spawnSync(process.execPath, [BIN, 'run', '--network', 'private', join(dir, client), '--', 'main.js', 'fetch', `http://${web}:3000/`], { env: { ...process.env, NISO_ROOT: root }, encoding: 'utf8' });
    assert.equal(fetched.status, 0, fetched.stderr + fetched.stdout);
    assert.match(fetched.stdout, new RegExp(`^hello from ${web} you=`));
  } finally {
    server.child.kill('SIGTERM');
  }
  assert.equal(await server.closed, 0, server.stderr());
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.ok(!netns.includes(`-${web}-`) && !netns.includes(`-${client}-`), `no namespace of the runs is left: ${netns}`);
  const list = JSON.parse(spawnSync(process.execPath, [BIN, 'net', 'list', '--json'], { env: { ...process.env, NISO_ROOT: root }, encoding: 'utf8' }).stdout) as { network: { name: string }; attachments: unknown[]; ports: unknown[] }[];
  assert.deepEqual(list.map((n) => [n.network.name, n.attachments.length, n.ports.length]), [['default', 0, 0]], 'the default network stays, empty');
  // Remove the test's network so that its bridge and rules do not outlive the test.
  const rm = spawnSync(process.execPath, [BIN, 'net', 'remove', 'default'], { env: { ...process.env, NISO_ROOT: root }, encoding: 'utf8' });
  assert.equal(rm.status, 0, rm.stderr);
});
