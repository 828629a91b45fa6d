// `niso init` end to end through its command function: files on disk, refusal to overwrite,
// --force, --json, and the node and python starter apps really serving their health check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/commands/init.js';
import type { Context } from '../../src/cli/context.js';
import { NisoError } from '../../src/errors/niso-error.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { formatDiagnostics } from '../../src/errors/render.js';
import { TEMPLATE_NAMES } from '../../src/manifest/templates.js';
import { freePort } from '../helpers/ports.js';

interface FakeContext extends Context { out(): string; err(): string }

function fakeContext(cwd: string): FakeContext {
  let out = '';
  let err = '';
  return {
    cwd, env: process.env, root: cwd,
    stdout: { write: (s: string) => { out += s; return true; } },
    stderr: { write: (s: string) => { err += s; return true; } },
    out: () => out, err: () => err,
  };
}

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'niso-init-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<NisoError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof NisoError, `expected a NisoError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

test('init writes the node template and prints the next steps', async (t) => {
  const cwd = await tempDir(t);
  const ctx = fakeContext(cwd);
  await run(ctx, 'my-app', { template: 'node' });
  const dir = join(cwd, 'my-app');
  assert.deepEqual((await readdir(dir)).sort(), ['.nisoignore', 'manifest.toml', 'package.json', 'server.js']);
  const { manifest, diagnostics } = parseManifest(await readFile(join(dir, 'manifest.toml'), 'utf8'));
  assert.equal(formatDiagnostics(diagnostics), '');
  assert.equal(manifest?.package.name, 'my-app');
  const hostMajor = process.versions.node.split('.')[0];
  assert.deepEqual(manifest?.runtime?.use, { name: 'nodejs', version: hostMajor }, 'the runtime follows the host node');
  assert.equal(JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')).name, 'my-app');
  assert.match(ctx.out(), /Created node app "my-app" in my-app:/);
  assert.match(ctx.out(), /cd my-app\n/);
  assert.match(ctx.out(), /niso pack/);
  assert.equal(ctx.err(), '');
  assert.deepEqual((await readdir(dir)).filter((f) => f.includes('niso-tmp')), [], 'no temporary files left');
});

test('init --json reports the directory, template and files', async (t) => {
  const cwd = await tempDir(t);
  const ctx = fakeContext(cwd);
  await run(ctx, '.', { template: 'python', name: 'svc', json: true });
  const out = JSON.parse(ctx.out());
  assert.deepEqual(out, { dir: cwd, template: 'python', name: 'svc', files: ['manifest.toml', 'app.py', '.nisoignore'] });
});

test('init names the package after the directory, sanitised', async (t) => {
  const cwd = await tempDir(t);
  await run(fakeContext(cwd), 'My Cool_App!', { template: 'binary' });
  const text = await readFile(join(cwd, 'My Cool_App!', 'manifest.toml'), 'utf8');
  assert.equal(parseManifest(text).manifest?.package.name, 'my-cool_app');
  await rejectsWith(run(fakeContext(cwd), 'other', { template: 'binary', name: 'Bad Name' }), 'NISO1101');
  await rejectsWith(run(fakeContext(cwd), 'other', { template: 'nodejs' }), 'NISO1502');
});

test('init refuses to overwrite without --force and writes nothing', async (t) => {
  const cwd = await tempDir(t);
  await writeFile(join(cwd, 'manifest.toml'), 'original\n');
  await writeFile(join(cwd, 'package.json'), '{"original":true}\n');
  const err = await rejectsWith(run(fakeContext(cwd), '.', { template: 'node' }), 'NISO1501');
  assert.equal(err.exitCode, 2);
  assert.equal(err.hint, 'pass --force to overwrite');
  assert.equal(err.path, cwd);
  assert.match(err.message, /manifest\.toml, package\.json already exist/);
  assert.equal(await readFile(join(cwd, 'manifest.toml'), 'utf8'), 'original\n');
  assert.deepEqual((await readdir(cwd)).sort(), ['manifest.toml', 'package.json'], 'no other file was written');
});

test('init --force overwrites and says so', async (t) => {
  const cwd = await tempDir(t);
  await writeFile(join(cwd, 'manifest.toml'), 'original\n');
  const ctx = fakeContext(cwd);
  await run(ctx, '.', { template: 'go', name: 'gosvc', force: true });
  const text = await readFile(join(cwd, 'manifest.toml'), 'utf8');
  assert.equal(parseManifest(text).manifest?.package.name, 'gosvc');
  assert.match(ctx.out(), /manifest\.toml {2}\(overwritten\)/);
  assert.doesNotMatch(ctx.out(), /\n {2}cd /, 'no cd into the current directory');
});

test('init refuses a target that is a file', async (t) => {
  const cwd = await tempDir(t);
  await writeFile(join(cwd, 'afile'), 'x');
  await rejectsWith(run(fakeContext(cwd), 'afile', { template: 'node' }), 'NISO1501');
});

test('every template writes a manifest that parses', async (t) => {
  const cwd = await tempDir(t);
  for (const template of TEMPLATE_NAMES) {
    await mkdir(join(cwd, template));
    await run(fakeContext(cwd), template, { template });
    const { diagnostics, manifest } = parseManifest(await readFile(join(cwd, template, 'manifest.toml'), 'utf8'));
    assert.equal(formatDiagnostics(diagnostics), '', template);
    assert.equal(manifest?.package.name, template);
  }
  assert.ok((await readdir(join(cwd, 'rust', 'src'))).includes('main.rs'));
});


/** Starts the app, waits for GET /health to answer, returns the health and root responses. */
async function serve(t: { after(fn: () => void): void }, cmd: string, args: string[], cwd: string): Promise<{ health: Response; healthBody: string; root: string }> {
  const port = await freePort();
  const child: ChildProcess = spawn(cmd, args, { cwd, env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (c: Buffer) => { log += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { log += c.toString(); });
  t.after(() => { child.kill('SIGKILL'); });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      const healthBody = await health.text();
      const root = await (await fetch(`http://127.0.0.1:${port}/`)).text();
      const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, `the app exits cleanly on SIGTERM\n${log}`);
      return { health, healthBody, root };
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      if (child.exitCode !== null || Date.now() > deadline) assert.fail(`${cmd} did not serve /health: ${String(e)}\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

test('the node template serves /health', async (t) => {
  const cwd = await tempDir(t);
  await run(fakeContext(cwd), 'web', { template: 'node' });
  const r = await serve(t, process.execPath, ['server.js'], join(cwd, 'web'));
  assert.equal(r.health.status, 200);
  assert.match(r.health.headers.get('content-type') ?? '', /application\/json/);
  assert.deepEqual(JSON.parse(r.healthBody), { status: 'ok' });
  assert.equal(r.root, 'hello from web\n');
});

test('the python template serves /health', async (t) => {
  const cwd = await tempDir(t);
  await run(fakeContext(cwd), 'pyweb', { template: 'python' });
  const text = await readFile(join(cwd, 'pyweb', 'manifest.toml'), 'utf8');
  assert.match(text, /use = "python:\d+\.\d+"/);
  const r = await serve(t, 'python3', ['-u', 'app.py'], join(cwd, 'pyweb'));
  assert.equal(r.health.status, 200);
  assert.deepEqual(JSON.parse(r.healthBody), { status: 'ok' });
  assert.equal(r.root, 'hello from pyweb\n');
});
