// The audit log on a real directory: appenders in several processes at once keep one chain; what a crash leaves
// (an unfinished line, a head one entry behind) is repaired or accepted, what a hand leaves is recorded for good;
// rotation starts new files that continue the chain and never touches the old ones; modes are root's alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { audit, audited, auditPaths, logFiles, readLog } from '../../src/audit/host/log.js';
import { setInvocation } from '../../src/audit/host/invocation.js';
import { verifyChain } from '../../src/audit/verify.js';
import type { AuditEntry } from '../../src/audit/entry.js';
import { NisoError } from '../../src/errors/niso-error.js';
import { tempDir } from '../helpers/tmp.js';

const REPO = join(import.meta.dirname, '../..');

function entries(root: string): AuditEntry[] {
  return readLog(root).files.flatMap((f) => f.text.split('\n').slice(0, -1).map((l) => JSON.parse(l) as AuditEntry));
}
function verify(root: string) {
  const log = readLog(root);
  return verifyChain(log.files, log.head);
}
const currentFile = (root: string) => join(auditPaths(root).dir, logFiles(auditPaths(root).dir).at(-1)!);

/** Runs `count` audit() calls in a process of its own (node + tsx, as the CLI would call it). */
function appender(root: string, id: number, count: number): Promise<void> {
  const script = `
    import { audit } from ${JSON.stringify(join(REPO, 'src/audit/host/log.ts'))};
    import { setInvocation } from ${JSON.stringify(join(REPO, 'src/audit/host/invocation.ts'))};
    setInvocation({ argv: ['niso', 'writer', '${id}'], env: { SUDO_USER: 'writer${id}' } });
    for (let i = 0; i < ${count}; i++) await audit(${JSON.stringify(root)}, 'volume.create', { target: 'w${id}-' + i });
  `;
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'inherit', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`appender ${id} exited ${code}: ${err}`))));
  });
}

test('appenders in four processes at once: one chain, seq 1-24 without a gap, every entry once, the head at the end', async () => {
  const root = tempDir();
  await Promise.all([1, 2, 3, 4].map((id) => appender(root, id, 6)));
  const es = entries(root);
  assert.deepEqual(es.map((e) => e.seq), Array.from({ length: 24 }, (_, i) => i + 1));
  assert.deepEqual(es.map((e) => e.target).sort(), [1, 2, 3, 4].flatMap((id) => Array.from({ length: 6 }, (_, i) => `w${id}-${i}`)).sort());
  // Each entry carries the process that wrote it.
  for (const e of es) assert.equal(e.actor.sudo_user, `writer${e.target!.slice(1, 2)}`);
  const r = verify(root);
  assert.equal(r.intact, true, JSON.stringify(r.problems));
  assert.deepEqual(r.head, { seq: 24, hash: es[23]!.hash });
});

test('the directory is root\'s 0700, the files 0600; the actor and command line come from the invocation, redacted', async () => {
  const root = tempDir();
  setInvocation({ argv: ['niso', 'activate', 'app', '-e', 'DB_PASSWORD=hunter2'], env: { SUDO_USER: 'ana', SSH_CLIENT: '203.0.113.7 51234 22' } });
  try {
    const e = await audit(root, 'service.activate', { target: 'app' });
    assert.deepEqual(e.cmd, ['niso', 'activate', 'app', '-e', 'DB_PASSWORD=<redacted>']);
    assert.deepEqual({ uid: e.actor.uid, user: e.actor.user, sudo: e.actor.sudo_user, ssh: e.actor.ssh }, { uid: 0, user: 'root', sudo: 'ana', ssh: '203.0.113.7 51234 22' });
    assert.equal(e.host, readFileSync('/etc/machine-id', 'utf8').trim());
  } finally {
    setInvocation({ argv: [], env: {} });
  }
  const p = auditPaths(root);
  assert.equal(statSync(p.dir).mode & 0o7777, 0o700);
  for (const f of [p.head, p.lock, currentFile(root)]) assert.equal(statSync(f).mode & 0o7777, 0o600, f);
  assert.doesNotMatch(readFileSync(currentFile(root), 'utf8'), /hunter2/);
});

test('an unfinished last line is cut off at the next append and recorded as audit.repair; the chain stays intact', async () => {
  const root = tempDir();
  for (const t of ['a', 'b', 'c']) await audit(root, 'volume.create', { target: t });
  const torn = '{"v":1,"seq":4,"ts":"2026-11-';
  appendFileSync(currentFile(root), torn);
  assert.equal(verify(root).intact, true, 'an append cut short is not tampering');
  await audit(root, 'volume.rm', { target: 'a' });
  const es = entries(root);
  assert.deepEqual(es.map((e) => [e.seq, e.event]), [[1, 'volume.create'], [2, 'volume.create'], [3, 'volume.create'], [4, 'audit.repair'], [5, 'volume.rm']]);
  assert.deepEqual(es[3]!.details, { found: 'torn', torn: { file: 'audit-0000000001.jsonl', bytes: torn.length, sha256: createHash('sha256').update(torn).digest('hex') } });
  assert.ok(readFileSync(currentFile(root), 'utf8').endsWith('\n'));
  const r = verify(root);
  assert.equal(r.intact, true, JSON.stringify(r.problems));
  assert.match(r.notes.join('\n'), /seq 4 \(audit\.repair\): an interrupted append left 29 bytes/);
});

test('a head one entry behind (a crash between the line and the head) is accepted and moved on without a repair', async () => {
  const root = tempDir();
  await audit(root, 'volume.create', { target: 'a' });
  const p = auditPaths(root);
  const before = readFileSync(p.head);
  await audit(root, 'volume.create', { target: 'b' });
  writeFileSync(p.head, before);
  assert.equal(verify(root).intact, true);
  await audit(root, 'volume.create', { target: 'c' });
  assert.deepEqual(entries(root).map((e) => e.event), ['volume.create', 'volume.create', 'volume.create']);
  assert.equal(JSON.parse(readFileSync(p.head, 'utf8')).seq, 3);
});

test('a log cut behind its head: the next append records what it found and goes on; verify keeps naming the lost seq', async () => {
  const root = tempDir();
  for (const t of ['a', 'b', 'c', 'd']) await audit(root, 'volume.create', { target: t });
  const f = currentFile(root);
  const lines = readFileSync(f, 'utf8').split('\n');
  writeFileSync(f, `${lines.slice(0, 2).join('\n')}\n`);
  await audit(root, 'secret.create', { target: 's' });
  const es = entries(root);
  assert.deepEqual(es.map((e) => [e.seq, e.event]), [[1, 'volume.create'], [2, 'volume.create'], [3, 'audit.repair'], [4, 'secret.create']]);
  assert.equal((es[2]!.details as { found: string }).found, 'head-mismatch');
  const r = verify(root);
  assert.equal(r.intact, false);
  assert.deepEqual({ seq: r.problems[0]!.seq, kind: r.problems[0]!.kind, code: r.problems[0]!.code }, { seq: 3, kind: 'truncated', code: 'NISO6104' });
  // And the next append finds a consistent head: no second repair.
  await audit(root, 'secret.rm', { target: 's' });
  assert.equal(entries(root).filter((e) => e.event === 'audit.repair').length, 1);
});

test('rotation ([audit] max_file_size): new files named by their first seq continue the chain; old files are never written again', async () => {
  const root = tempDir();
  mkdirSync(join(root, 'etc/niso'), { recursive: true });
  writeFileSync(join(root, 'etc/niso/config.toml'), '[audit]\nmax_file_size = 1200\n');
  for (let i = 0; i < 4; i++) await audit(root, 'volume.create', { target: `v${i}` });
  const dir = auditPaths(root).dir;
  const early = logFiles(dir);
  assert.ok(early.length >= 2, `rotated: ${early.join(', ')}`);
  const snapshot = early.slice(0, -1).map((n) => readFileSync(join(dir, n)));
  for (let i = 4; i < 10; i++) await audit(root, 'volume.create', { target: `v${i}` });
  early.slice(0, -1).forEach((n, i) => assert.deepEqual(readFileSync(join(dir, n)), snapshot[i], `${n} unchanged`));
  const files = readLog(root).files;
  let prevLast: AuditEntry | null = null;
  for (const f of files) {
    const es = f.text.split('\n').slice(0, -1).map((l) => JSON.parse(l) as AuditEntry);
    assert.equal(f.name, `audit-${String(es[0]!.seq).padStart(10, '0')}.jsonl`);
    assert.ok(Buffer.byteLength(f.text) <= 1200 || es.length === 1, `${f.name} within its bound`);
    if (prevLast) assert.equal(es[0]!.prev, prevLast.hash, `${f.name} chains to the last entry of the file before`);
    prevLast = es.at(-1)!;
  }
  assert.equal(prevLast!.seq, 10);
  assert.equal(verify(root).intact, true);
});

test('audited(): a change is recorded with what it returned, a failure with its code and the error passed on, a dry run not at all', async () => {
  const root = tempDir();
  assert.equal(await audited(root, 'volume.create', { target: 'a' }, async () => 42, (n) => ({ details: { n } })), 42);
  assert.deepEqual(await audited(root, 'volume.rm', { target: 'gone' }, async () => [], () => null), []);
  assert.equal(await audited(root, 'volume.prune', null, async () => 'dry'), 'dry');
  const err = await audited(root, 'secret.create', { target: 'db' }, async () => { throw new NisoError('NISO5102', 'secret db already exists'); }).catch((e: unknown) => e);
  assert.ok(err instanceof NisoError && err.code === 'NISO5102');
  const es = entries(root);
  assert.deepEqual(es.map((e) => [e.event, e.target, e.result, e.code ?? null, e.reason ?? null, e.details ?? null]), [
    ['volume.create', 'a', 'ok', null, null, { n: 42 }],
    ['secret.create', 'db', 'failed', 'NISO5102', 'secret db already exists', null],
  ]);
});
