// The audit log as a user meets it, through the built CLI: activating and stopping a service, making a volume and a
// secret each leave an entry with who did it (uid, sudo user, ssh client) and the command with its secrets
// redacted; `niso audit` lists them, `niso audit verify` passes, and after each kind of tampering (an edited line, a
// deleted one, a cut-off end, two lines swapped) it exits 1 naming the first bad seq.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_MANIFEST, removeServicesAndTestDir, writeTree } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '../../bin/niso');
const dir = mkdtempSync(join(tmpdir(), 'niso-audit-'));
chmodSync(dir, 0o755);
const root = join(dir, 'root');
const WHO = { SUDO_USER: 'ana', SSH_CLIENT: '203.0.113.7 51234 22' };
const PASSWORD = 'hunter2-audit-e2e';
const SECRET = 's3cr3t-audit-e2e';

function niso(args: string[], opts: { root?: string; env?: Record<string, string>; input?: string } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', input: opts.input ?? '', env: { ...process.env, NISO_ROOT: opts.root ?? root, ...opts.env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function ok(args: string[], opts: Parameters<typeof niso>[1] = {}): string {
  const r = niso(args, opts);
  assert.equal(r.code, 0, `niso ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

after(() => removeServicesAndTestDir(dir, root, (args) => niso(args)));

const auditDir = (r: string) => join(r, 'var/lib/niso/audit');
const logFile = (r: string) => join(auditDir(r), readdirSync(auditDir(r)).find((n) => n.endsWith('.jsonl'))!);

test('a service activated and stopped, a volume and a secret made: entries with the actor and the redacted command', async () => {
  await writeTree(join(dir, 'auditee'), {
    'manifest.toml': NODE_MANIFEST('auditee', '1.0.0', '\n[network]\nmode = "none"\n', ['main.js']),
    'main.js': 'for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => process.exit(0));\nsetInterval(() => {}, 1000);\n',
  });
  ok(['pack', 'auditee', '-o', 'auditee.niso', '-q']);
  ok(['install', 'auditee.niso']);
  ok(['activate', 'auditee', '--name', 'web', '-e', `DB_PASSWORD=${PASSWORD}`], { env: WHO });
  ok(['deactivate', 'web'], { env: WHO });
  ok(['volume', 'create', 'pgdata'], { env: WHO });
  ok(['secret', 'create', 'db', '-'], { env: WHO, input: SECRET });
  assert.equal(niso(['volume', 'create', 'pgdata']).code, 1, 'a refused change is recorded too');

  const entries = JSON.parse(ok(['audit', '--json'])) as { seq: number; event: string; target: string; result: string; code?: string; cmd: string[]; actor: Record<string, unknown>; details?: Record<string, unknown>; prev: string; hash: string }[];
  assert.deepEqual(entries.map((e) => [e.seq, e.event, e.target, e.result]), [
    [1, 'service.activate', 'web', 'ok'],
    [2, 'service.deactivate', 'web', 'ok'],
    [3, 'volume.create', 'pgdata', 'ok'],
    [4, 'secret.create', 'db', 'ok'],
    [5, 'volume.create', 'pgdata', 'failed'],
  ]);
  for (const e of entries.slice(0, 4)) assert.deepEqual(e.actor, { uid: 0, user: 'root', sudo_user: 'ana', ssh: '203.0.113.7 51234 22', login_uid: e.actor.login_uid });
  assert.deepEqual({ sudo: entries[4]!.actor.sudo_user, ssh: entries[4]!.actor.ssh }, { sudo: null, ssh: null });
  assert.deepEqual(entries[0]!.cmd, ['niso', 'activate', 'auditee', '--name', 'web', '-e', 'DB_PASSWORD=<redacted>']);
  assert.equal((entries[0]!.details!.package as { name: string }).name, 'auditee');
  assert.deepEqual(entries[1]!.cmd, ['niso', 'deactivate', 'web']);
  // Each verb's entry carries its switch: the generations it moved between, what it did to each service.
  const gen = (e: unknown) => e as { from?: { gen: number }; to?: { gen: number }; details: { switch: string; actions: string[]; stopped?: Record<string, { before: string }> } };
  assert.deepEqual([gen(entries[0]).to?.gen, gen(entries[0]).details.switch, gen(entries[0]).details.actions], [gen(entries[1]).from?.gen, 'committed', ['add web']]);
  assert.deepEqual([gen(entries[1]).details.actions, gen(entries[1]).details.stopped?.web?.before], [['stop web'], 'active']);
  assert.deepEqual(entries[3]!.cmd, ['niso', 'secret', 'create', '<redacted>', '<redacted>']);
  assert.deepEqual(entries[3]!.details, { digest: `sha256:${createHash('sha256').update(SECRET).digest('hex')}`, size: SECRET.length });
  assert.equal(entries[4]!.code, 'NISO5003');
  assert.equal(entries[1]!.prev, entries[0]!.hash);
  // Neither value is anywhere in the log's files.
  for (const n of readdirSync(auditDir(root))) {
    const text = readFileSync(join(auditDir(root), n), 'utf8');
    assert.ok(!text.includes(PASSWORD) && !text.includes(SECRET), `${n} holds no secret`);
  }

  const table = ok(['audit', '-n', '2']).split('\n');
  assert.match(table[0]!, /^SEQ\s+TIME\s+ACTOR\s+EVENT\s+TARGET\s+RESULT$/);
  assert.match(table[1]!, /^4\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+root \(sudo ana, ssh 203\.0\.113\.7\)\s+secret\.create\s+db\s+ok$/);
  assert.match(table[2]!, /^5\s+.*\s+root\s+volume\.create\s+pgdata\s+failed$/);
  assert.equal(JSON.parse(ok(['audit', '--json', '--since', '1h'])).length, 5);
  assert.equal(JSON.parse(ok(['audit', '--json', '--since', '2099-01-01'])).length, 0);

  assert.match(ok(['audit', 'verify']), /^the audit log is intact: 5 entries \(seq 1-5\) in 1 file; head: seq 5 [0-9a-f]{64}\n$/);
  const report = JSON.parse(ok(['audit', 'verify', '--json']));
  assert.deepEqual({ intact: report.intact, entries: report.entries, head: report.head.seq, problems: report.problems }, { intact: true, entries: 5, head: 5, problems: [] });
});

/** A copy of the log made above, changed by `tamper`, verified: the first bad seq, its kind and code, and the exit code. */
function tampered(name: string, tamper: (file: string, lines: string[]) => void) {
  const r = join(dir, `tamper-${name}`);
  cpSync(auditDir(root), auditDir(r), { recursive: true });
  const file = logFile(r);
  tamper(file, readFileSync(file, 'utf8').split('\n').slice(0, -1));
  const json = niso(['audit', 'verify', '--json'], { root: r });
  const text = niso(['audit', 'verify'], { root: r });
  const report = JSON.parse(json.stdout);
  return { code: json.code, textCode: text.code, stderr: text.stderr, first: report.intact ? null : { seq: report.problems[0].seq, kind: report.problems[0].kind, code: report.problems[0].code } };
}
const write = (file: string, lines: string[]) => writeFileSync(file, lines.map((l) => `${l}\n`).join(''));

test('tampering: edit, delete, truncate and reorder are each named by seq, exit 1', () => {
  const edited = tampered('edit', (f, ls) => { ls[2] = ls[2]!.replace('"target":"pgdata"', '"target":"other"'); write(f, ls); });
  assert.deepEqual(edited.first, { seq: 3, kind: 'edited', code: 'NISO6101' });
  assert.equal(edited.code, 1);
  assert.equal(edited.textCode, 1);
  assert.match(edited.stderr, /^the audit log is not intact: the first bad entry is seq 3\nerror NISO6101: .*audit-0000000001\.jsonl:3: seq 3 was changed after it was written/);

  const deleted = tampered('delete', (f, ls) => write(f, [...ls.slice(0, 1), ...ls.slice(2)]));
  assert.deepEqual(deleted.first, { seq: 2, kind: 'deleted', code: 'NISO6102' });
  assert.equal(deleted.code, 1);
  assert.match(deleted.stderr, /error NISO6102: .*:2: seq 2 is missing/);

  const cut = tampered('truncate', (f) => truncateSync(f, readFileSync(f).length - 100));
  assert.deepEqual(cut.first, { seq: 5, kind: 'truncated', code: 'NISO6104' });
  assert.equal(cut.code, 1);
  const cutLines = tampered('truncate-lines', (f, ls) => write(f, ls.slice(0, 3)));
  assert.deepEqual(cutLines.first, { seq: 4, kind: 'truncated', code: 'NISO6104' });

  const reordered = tampered('reorder', (f, ls) => write(f, [ls[0]!, ls[2]!, ls[1]!, ...ls.slice(3)]));
  assert.deepEqual(reordered.first, { seq: 2, kind: 'reordered', code: 'NISO6103' });
  assert.equal(reordered.code, 1);
  assert.match(reordered.stderr, /error NISO6103: .*:2: seq 2 is out of order/);

  // The untouched log still verifies.
  assert.equal(niso(['audit', 'verify']).code, 0);
});
