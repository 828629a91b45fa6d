// Every golden nft table must be accepted by the kernel: `nft -c -f` checks it (a dry run that
// changes nothing), so a snapshot can never drift into syntax the real nft refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkRuleset, readTable } from '../../src/net/host/nft.js';

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
    const text = readFileSync(join(DIR, c, 'expected.nft'), 'utf8');
    // The tables the ruleset names, as the kernel holds them (other test files add and remove tables of their own
    // meanwhile, so the host's whole list is not this check's to compare).
    const named = [...text.matchAll(/^table ip (\w+) \{/gm)].map((m) => m[1]!);
    assert.ok(named.length > 0 && named.length === [...text.matchAll(/^table /gm)].length, 'the ruleset names its tables, all of family ip');
    const live = () => Promise.all(named.map((t) => readTable(t)));
    const before = await live();
    const error = await checkRuleset(text);
    assert.equal(error, null, error ?? '');
    assert.deepEqual(await live(), before, 'a check changes nothing');
  });
}

test('nft -c rejects a broken table (the check is real)', { skip }, async () => {
  const broken = readFileSync(join(DIR, cases[0]!, 'expected.nft'), 'utf8').replace('masquerade', 'masquerad');
  assert.match((await checkRuleset(broken)) ?? '', /syntax error|Error/);
});
