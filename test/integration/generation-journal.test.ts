// The switch journal on a real file system: lines appended and read back, a last line cut short by a crash ignored,
// a damaged line before the last refused (NISO6030) with its line number, retirement into history/ bounded; and the
// verbs' edits of a generation (pure) that the switch is given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HISTORY_KEEP, appendJournal, parseJournal, readJournal, retireJournal, type JournalLine } from '../../src/generation/journal.js';
import { withActive, withService, withoutServices } from '../../src/generation/edit.js';
import { contentOf } from '../../src/generation/hash.js';
import type { GenerationService } from '../../src/generation/types.js';
import { tempDir } from '../helpers/tmp.js';

const begin: JournalLine = {
  t: 'begin', id: 'x1', at: '2026-01-01T00:00:00.000Z', kind: 'switch', pid: 1, pidStart: null, from: null,
  to: { n: 1, hash: 'a'.repeat(64) }, created: true, actions: [], running: [],
};

test('appended lines read back in order; a missing journal is null', () => {
  const dir = tempDir();
  const file = join(dir, 'gen', 'journal.jsonl');
  assert.equal(readJournal(file), null);
  appendJournal(file, begin);
  appendJournal(file, { t: 'step', i: 0, phase: 'start' });
  appendJournal(file, { t: 'step', i: 0, phase: 'done' });
  const j = readJournal(file)!;
  assert.equal(j.torn, false);
  assert.deepEqual(j.lines.map((l) => l.t), ['begin', 'step', 'step']);
  assert.deepEqual(j.lines[0], begin);
});

test('a last line cut short (a crash in its write) is ignored: its step never began; one before it is damage (NISO6030, with its line)', () => {
  const dir = tempDir();
  const file = join(dir, 'journal.jsonl');
  appendJournal(file, begin);
  appendFileSync(file, '{"t":"step","i":0,"pha');
  const j = readJournal(file)!;
  assert.equal(j.torn, true);
  assert.deepEqual(j.lines.map((l) => l.t), ['begin']);
  // Only the begin itself, cut short: nothing is known, nothing was done.
  assert.deepEqual(parseJournal('{"t":"beg', 'f'), { lines: [], torn: true });
  writeFileSync(file, `${JSON.stringify(begin)}\nnot json\n{"t":"commit","at":"x"}\n`);
  assert.throws(() => readJournal(file), (e: Error & { code?: string }) => e.code === 'NISO6030' && /line 2 is not a journal line/.test(e.message));
  assert.deepEqual(parseJournal('', 'f'), { lines: [], torn: false });
});

test('a finished journal moves to history/<id>.jsonl; history keeps the newest HISTORY_KEEP', () => {
  const dir = tempDir();
  const file = join(dir, 'journal.jsonl');
  const history = join(dir, 'history');
  for (let i = 0; i < HISTORY_KEEP + 3; i++) {
    appendJournal(file, { ...begin, id: `s${i}` });
    retireJournal(file, history, `s${String(i).padStart(3, '0')}`);
    // Older ones older on disk too (mtime orders them).
    utimesSync(join(history, `s${String(i).padStart(3, '0')}.jsonl`), 1_000_000 + i, 1_000_000 + i);
  }
  assert.equal(existsSync(file), false);
  const kept = readdirSync(history).sort();
  assert.equal(kept.length, HISTORY_KEEP);
  assert.equal(kept[0], 's003.jsonl');
});

const svc = (name: string, active = true, version = '1.0.0'): GenerationService => ({
  name, package: { name: 'app', version, digest: `sha256:${'1'.repeat(64)}` }, options: {}, backend: 'embedded', logs: { maxBytes: 1024, files: 3 }, active,
});

test('the verbs as edits: activate adds or replaces by name, (de)activate flips active (from the installed definition when the generation lacks it), remove drops', () => {
  const cur = contentOf([svc('web'), svc('db')]);
  assert.deepEqual(withService(cur, svc('web', true, '2.0.0')).services.map((s) => `${s.name} ${s.package.version}`), ['db 1.0.0', 'web 2.0.0']);
  assert.deepEqual(withService(null, svc('new')).services.map((s) => s.name), ['new']);
  assert.deepEqual(withActive(cur, ['web'], false, () => null).services.map((s) => [s.name, s.active]), [['db', true], ['web', false]]);
  assert.deepEqual(withActive(cur, ['other'], false, (n) => svc(n)).services.map((s) => [s.name, s.active]), [['db', true], ['other', false], ['web', true]]);
  assert.deepEqual(withActive(cur, ['ghost'], true, () => null).services.map((s) => s.name), ['db', 'web']);
  assert.deepEqual(withoutServices(cur, ['db']).services.map((s) => s.name), ['web']);
});
