// Compose's interpolation grammar and .env rules as niso implements them (src/stack/interpolate.ts, dotenv.ts), case by
// case: what each form gives for a set, an empty and an unset variable, and what is refused where.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interpolate, MAX_NESTING } from '../../src/stack/interpolate.js';
import { parseDotenv } from '../../src/stack/dotenv.js';

const vars: Record<string, string> = { SET: 'value', EMPTY: '', lower_case: 'lc', _U: 'u', A1: 'a1' };
const lookup = (n: string) => (Object.hasOwn(vars, n) ? vars[n] : undefined);
const value = (t: string) => {
  const r = interpolate(t, lookup);
  assert.deepEqual(r.issues.filter((i) => i.kind !== 'unset'), [], `${t}: ${r.issues.map((i) => i.message).join('; ')}`);
  return r.value;
};
const issues = (t: string) => interpolate(t, lookup).issues.map((i) => ({ kind: i.kind, offset: i.offset, length: i.length }));

test('interpolation: every form with a set, an empty and an unset variable', () => {
  const table: [string, string, string, string][] = [
    // form,            set,      empty,   unset
    ['$X', 'value', '', ''],
    ['${X}', 'value', '', ''],
    ['${X:-d}', 'value', 'd', 'd'],
    ['${X-d}', 'value', '', 'd'],
    ['${X:+a}', 'a', '', ''],
    ['${X+a}', 'a', 'a', ''],
  ];
  for (const [form, set, empty, unset] of table) {
    assert.equal(value(form.replace('X', 'SET')), set, `${form} set`);
    assert.equal(value(form.replace('X', 'EMPTY')), empty, `${form} empty`);
    assert.equal(value(form.replace('X', 'UNSET')), unset, `${form} unset`);
  }
  assert.equal(value('${SET:?m}'), 'value');
  assert.equal(value('${EMPTY?m}'), '', '? alone accepts an empty value');
  assert.deepEqual(issues('${EMPTY:?m}').map((i) => i.kind), ['required']);
  assert.deepEqual(issues('${UNSET?m}').map((i) => i.kind), ['required']);
  assert.match(interpolate('${UNSET:?set it in .env}', lookup).issues[0]!.message, /required variable UNSET is not set: set it in \.env/);
  assert.match(interpolate('${EMPTY:?}', lookup).issues[0]!.message, /^required variable EMPTY is empty$/);
});

test('interpolation: $$, names, neighbours and nesting', () => {
  assert.equal(value('$$'), '$');
  assert.equal(value('$$SET'), '$SET', '$$ escapes, it does not start a name');
  assert.equal(value('$$$SET'), '$value');
  assert.equal(value('a${SET}b$SET.c'), 'avaluebvalue.c', 'a name ends at the first character that is not one of it');
  assert.equal(value('$lower_case $_U $A1'), 'lc u a1', 'names are case-sensitive and may start with _');
  assert.equal(value('${UNSET:-${EMPTY:-${SET}}}'), 'value');
  assert.equal(value('${UNSET:-postgres://db:5432/x?y=1}'), 'postgres://db:5432/x?y=1', 'a default may hold ":", "-", "?" and "/"');
  assert.equal(value('${UNSET:-a}}'), 'a}', 'the first "}" closes, as in Compose');
  assert.equal(value('${UNSET-}'), '', 'an empty default');
  assert.equal(value('no dollar at all'), 'no dollar at all');
  assert.equal(value('${SET:+${UNSET:-x}}'), 'x');
});

test('interpolation: a value of a variable is not interpolated again', () => {
  const r = interpolate('${V}', (n) => (n === 'V' ? '${SECRET} and $$' : undefined));
  assert.equal(r.value, '${SECRET} and $$');
  assert.deepEqual(r.issues, []);
});

test('interpolation: what is refused, at its offset', () => {
  assert.deepEqual(issues('a $1'), [{ kind: 'invalid', offset: 2, length: 2 }], 'a digit starts no name');
  assert.deepEqual(issues('cost 5$'), [{ kind: 'invalid', offset: 6, length: 1 }], 'a "$" at the end');
  assert.deepEqual(issues('$ x'), [{ kind: 'invalid', offset: 0, length: 2 }]);
  assert.deepEqual(issues('${}'), [{ kind: 'invalid', offset: 0, length: 3 }]);
  assert.deepEqual(issues('x${1A}'), [{ kind: 'invalid', offset: 1, length: 5 }]);
  assert.deepEqual(issues('${SET:=d}'), [{ kind: 'invalid', offset: 0, length: 9 }], 'the shell\'s := is not Compose\'s');
  assert.deepEqual(issues('${SET:}'), [{ kind: 'invalid', offset: 0, length: 7 }]);
  assert.deepEqual(issues('${ SET}'), [{ kind: 'invalid', offset: 0, length: 7 }]);
  assert.deepEqual(issues('ab${SET'), [{ kind: 'invalid', offset: 2, length: 5 }], 'unclosed');
  assert.deepEqual(issues('${SET:-$}'), [{ kind: 'invalid', offset: 7, length: 1 }], 'a bad default is refused even when unused');
  assert.deepEqual(issues('${UNSET:-${}}'), [{ kind: 'invalid', offset: 9, length: 3 }], 'offsets inside a word are offsets in the text');
});

test('interpolation: an unset plain reference is a warning; an unused default does not warn', () => {
  const r = interpolate('[${NOPE}] ${SET:-${ALSO_NOPE}} ${UNSET:-${THIRD}}', lookup);
  assert.equal(r.value, '[] value ');
  assert.deepEqual(r.issues.map((i) => [i.kind, i.variable]), [['unset', 'NOPE'], ['unset', 'THIRD']]);
  assert.deepEqual(r.variables, ['NOPE', 'SET', 'ALSO_NOPE', 'UNSET', 'THIRD'], 'every variable read, in order');
});

test('interpolation: nesting is bounded, and hostile text costs linear time without recursion per level', () => {
  const deep = (n: number) => '${A:-'.repeat(n) + 'x' + '}'.repeat(n);
  assert.equal(interpolate(deep(MAX_NESTING), () => undefined).value, 'x');
  const r = interpolate(deep(20_000), () => undefined);
  assert.deepEqual(r.issues.map((i) => i.kind), ['invalid']);
  assert.match(r.issues[0]!.message, /nested more than 16 deep/);
  const many = '$SET'.repeat(50_000);
  assert.equal(interpolate(many, lookup).value.length, 'value'.length * 50_000);
  assert.equal(interpolate('$'.repeat(100_001), lookup).issues.length, 1, '50,000 "$$" and one lone "$"');
});

const env = (text: string, lookupVars: Record<string, string> = {}, prefer: 'lookup' | 'file' = 'lookup') => parseDotenv(text, { lookup: (n) => lookupVars[n], prefer });

test('.env: values unquoted, quoted and exported, comments and blanks', () => {
  const d = env([
    '# comment',
    '',
    'A=plain value   ',
    'B = spaced around',
    'export C=exported',
    'D="double\\nline \\"q\\" \\\\ \\$HOME \\t tab"',
    "E='single $HOME \\n kept'",
    'F=a#b',
    'G=a #comment',
    'H="quoted # not a comment"  # a comment',
    'I=',
    'J=""',
    'exportK=not the prefix',
    '   L=indented',
    'M="multi',
    'line"',
    "N='multi",
    "single'",
    'A=last one wins',
  ].join('\n'));
  assert.deepEqual(d.problems, []);
  assert.deepEqual(d.vars, {
    A: 'last one wins', B: 'spaced around', C: 'exported', D: 'double\nline "q" \\ $HOME \t tab', E: 'single $HOME \\n kept', F: 'a#b', G: 'a',
    H: 'quoted # not a comment', I: '', J: '', exportK: 'not the prefix', L: 'indented', M: 'multi\nline', N: 'multi\nsingle',
  });
  assert.deepEqual(d.entries.map((e) => [e.name, e.line]).slice(0, 3), [['A', 3], ['B', 4], ['C', 5]]);
});

test('.env: CRLF, a BOM, and NAME alone taking the environment\'s value', () => {
  const d = env('\ufeffA=1\r\nB="two"\r\nFROM_ENV\r\nNOT_IN_ENV\r\n', { FROM_ENV: 'outside' });
  assert.deepEqual(d.problems, []);
  assert.deepEqual(d.vars, { A: '1', B: 'two', FROM_ENV: 'outside' });
});

test('.env: interpolation sees the lines above and the environment, in the order asked for', () => {
  const text = 'HOST=db\nURL=postgres://${HOST}:${PORT:-5432}\nSINGLE=\'${HOST}\'\nESCAPED="\\${HOST} $$HOST"\n';
  assert.deepEqual(env(text).vars, { HOST: 'db', URL: 'postgres://db:5432', SINGLE: '${HOST}', ESCAPED: '${HOST} $HOST' });
  // The project's .env: the environment wins over the file's own lines (Compose's precedence).
  assert.equal(env(text, { HOST: 'env-host' }, 'lookup').vars.URL, 'postgres://env-host:5432');
  // A service's env_file: its own lines come first.
  assert.equal(env(text, { HOST: 'env-host' }, 'file').vars.URL, 'postgres://db:5432');
  const later = env('A=${B}\nB=2\n');
  assert.equal(later.vars.A, '', 'a line below is not seen yet');
  assert.deepEqual(later.problems.map((p) => [p.line, p.column, p.warning]), [[1, 3, true]]);
});

test('.env: problems name their line and column, and the good lines still count', () => {
  const d = env(['OK=1', 'not a line', '1X=2', 'KEY: yaml', 'Q="unclosed', 'R=after'].join('\n'));
  assert.deepEqual(d.problems.map((p) => [p.line, p.column]), [[2, 5], [3, 1], [4, 4], [5, 3]]);
  assert.equal(d.vars.OK, '1');
  assert.equal(d.vars.R, undefined, 'an unclosed quote takes the rest of the file, as Compose reads it');
  const trailing = env('A="x" y\nB=${C\nD=ok');
  assert.deepEqual(trailing.problems.map((p) => [p.line, p.column, p.message]), [[1, 7, 'unexpected text after the quoted value of A'], [2, 3, '"${" has no closing "}"']]);
  assert.equal(trailing.vars.D, 'ok');
  assert.match(env('A="a\\u0000b"\nN="x\0y"').problems.map((p) => p.message).join(), /NUL/);
});

test('.env: a value interpolated inside double quotes points at its own column', () => {
  const d = env('A="abc ${B:?needed}"');
  assert.deepEqual(d.problems.map((p) => [p.line, p.column]), [[1, 8]]);
});
