// The secret store (src/secret/store.ts) on real files: root's alone whatever it finds, a name never taken twice even
// by two creates at once, a half-made secret never listed and its leftovers swept once its maker is dead, damaged
// metadata a coded error, and a starter that refuses bytes that no longer match the digest its plan recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNisoError } from '../../src/errors/niso-error.js';
import type { Plan } from '../../src/plan/plan.js';
import { createSecret, digestOf, listSecretNames, readSecretMeta, removeSecrets, secretFacts, secretValues } from '../../src/secret/store.js';
import { tempDir } from '../helpers/tmp.js';

const codeOf = async (p: Promise<unknown> | (() => unknown)): Promise<string> => {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { assert.ok(isNisoError(e), String(e)); return e.code; }
  assert.fail('it was refused');
};

/** A pid that is certainly dead: a child that has exited. */
const deadPid = () => spawnSync('true').pid!;

test('a secret is a 0700 dir of 0600 files in a 0700 store, root\'s; a store found open is closed again', async () => {
  const root = tempDir();
  const store = join(root, 'var/lib/niso/secrets');
  mkdirSync(store, { recursive: true, mode: 0o755 });
  chmodSync(store, 0o755);
  const meta = await createSecret(root, 'db', Buffer.from('pw'), { team: 'ops' });
  assert.deepEqual({ ...meta, createdAt: '' }, { version: 1, name: 'db', createdAt: '', size: 2, digest: digestOf(Buffer.from('pw')), labels: { team: 'ops' } });
  const mode = (p: string) => `${statSync(p).uid} ${(statSync(p).mode & 0o777).toString(8)}`;
  assert.equal(mode(store), '0 700');
  assert.equal(mode(join(store, 'db')), '0 700');
  assert.equal(mode(join(store, 'db/value')), '0 600');
  assert.equal(mode(join(store, 'db/meta.json')), '0 600');
  assert.deepEqual(readSecretMeta(root, 'db'), meta);
  assert.deepEqual(secretFacts(root, ['db', 'db', 'nope']), { db: { digest: meta.digest, size: 2 } });
});

test('two creates of one name at once: one wins, the other is NISO5102, and the value is the winner\'s', async () => {
  const root = tempDir();
  const results = await Promise.allSettled([createSecret(root, 'db', Buffer.from('first')), createSecret(root, 'db', Buffer.from('second'))]);
  const won = results.filter((r) => r.status === 'fulfilled');
  assert.equal(won.length, 1);
  const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.ok(isNisoError(lost.reason) && lost.reason.code === 'NISO5102');
  assert.equal(readSecretMeta(root, 'db')!.digest, (won[0] as PromiseFulfilledResult<{ digest: string }>).value.digest);
  assert.equal(await codeOf(createSecret(root, 'empty', Buffer.alloc(0))), 'NISO5103');
  assert.equal(await codeOf(createSecret(root, 'big', Buffer.alloc(500 * 1024 + 1))), 'NISO5103');
  assert.equal(await codeOf(createSecret(root, '../db', Buffer.from('x'))), 'NISO5100');
});

test('what a killed create or remove left is never a secret, and is swept once its maker is dead', async () => {
  const root = tempDir();
  await createSecret(root, 'a', Buffer.from('x'));
  const store = join(root, 'var/lib/niso/secrets');
  const dead = deadPid();
  for (const n of [`.tmp-${dead}-aaaa`, `.trash-${dead}-bbbb`, `.tmp-${process.pid}-cccc`]) {
    mkdirSync(join(store, n));
    writeFileSync(join(store, n, 'meta.json'), '{}');
  }
  assert.deepEqual(listSecretNames(root), ['a'], 'a half-made secret is not listed');
  await createSecret(root, 'b', Buffer.from('y'));
  assert.deepEqual(readdirSync(store).filter((n) => n.startsWith('.') && n !== '.lock'), [`.tmp-${process.pid}-cccc`], 'a live maker\'s work is left alone');
  await removeSecrets(root, ['a', 'b']);
  assert.deepEqual(listSecretNames(root), []);
  assert.equal(await codeOf(removeSecrets(root, ['a'])), 'NISO5101');
});

test('damaged metadata is NISO5106, and a starter refuses bytes that changed or went since the plan', async () => {
  const root = tempDir();
  const meta = await createSecret(root, 'db', Buffer.from('pw'));
  const store = join(root, 'var/lib/niso/secrets');
  const plan = { service: 'web', mounts: [{ type: 'secret', name: 'db', target: '/run/secrets/db', digest: meta.digest }] } as unknown as Plan;
  assert.deepEqual(secretValues(root, plan), new Map([['db', Buffer.from('pw')]]));
  writeFileSync(join(store, 'db/value'), 'changed');
  assert.equal(await codeOf(() => secretValues(root, plan)), 'NISO5106');
  writeFileSync(join(store, 'db/meta.json'), '{"version": 1, "name": "other"');
  assert.equal(await codeOf(() => readSecretMeta(root, 'db')), 'NISO5106');
  // A damaged secret can still be removed (`niso secret rm -f`), to be made anew.
  assert.deepEqual(await removeSecrets(root, ['db']), [{ name: 'db' }]);
  assert.ok(!existsSync(join(store, 'db')));
  assert.equal(await codeOf(() => secretValues(root, plan)), 'NISO5101');
});
