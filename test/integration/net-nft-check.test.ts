// Every golden nft table must be accepted by the kernel: `nft -c -f` checks it (a dry run that
// changes nothing), so a snapshot can never drift into syntax the real nft refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkRuleset, listTables } from '../../src/net/host/nft.js';

const DIR = join(import.meta.dirname, '..', 'golden', 'net');
const skip = process.platform !== 'linux' ? 'Linux only'
  : process.getuid?.() !== 0 ? 'needs root'
    : spawnSync('nft', ['-v']).error !== undefined ? 'nft is not installed' : false;

const cases = readdirSync(DIR).filter((c) => existsSync(join(DIR, c, 'expected.nft'))).sort();

test('there are golden nft cases to check', () => {
  assert.ok(cases.length >= 6, `only ${cases.length} cases`);
});

for (const c of cases) {
  test(`nft -c accepts golden ${c}`, { skip }, async () => {
    const before = await listTables();
    const error = await checkRuleset(readFileSync(join(DIR, c, 'expected.nft'), 'utf8'));
    assert.equal(error, null, error ?? '');
    assert.deepEqual(await listTables(), before, 'a check changes nothing');
  });
}

test('nft -c rejects a broken table (the check is real)', { skip }, async () => {
  const broken = readFileSync(join(DIR, cases[0]!, 'expected.nft'), 'utf8').replace('masquerade', 'masquerad');
  assert.match((await checkRuleset(broken)) ?? '', /syntax error|Error/);
});
