// systemd's word splitting and the command line expansion.
import t from 'tap';
import { isEnvName, splitExecCommand, splitWords } from '../../../src/fleet/unit/index.js';

t.test('words: blanks separate, quotes group and go, C escapes decode', async (t) => {
  t.same(splitWords('  a  b\tc  '), ['a', 'b', 'c']);
  t.same(splitWords(''), []);
  t.same(splitWords('"a b" c'), ['a b', 'c']);
  t.same(splitWords("'a \"b\"' c"), ['a "b"', 'c']);
  t.same(splitWords('x"a b"y z'), ['xa by', 'z'], 'quotes anywhere in a word');
  t.same(splitWords('"" b'), ['', 'b'], 'an empty quoted word is a word');
  t.same(splitWords('a\\sb'), ['a b']);
  t.same(splitWords('\\a\\b\\f\\n\\r\\t\\v\\\\\\"\\\''), ['\x07\b\f\n\r\t\v\\"\'']);
  t.same(splitWords('"in \\"quotes\\" \\x41"'), ['in "quotes" A']);
  t.same(splitWords('\\x41\\u00e9\\U0001F600\\101'), ['Aé\u{1F600}A']);
  t.same(splitWords('a\\\\ b'), ['a\\', 'b']);
  t.same(splitWords('a\\ b', { cunescape: false }), ['a b'], 'without unescaping a backslash takes the next character');
  t.same(splitWords('"a b', { relax: true }), ['a b'], 'relaxed: an unclosed quote ends the text');
  t.same(splitWords('a\\', { relax: true }), ['a\\']);
});

t.test('bad words', async (t) => {
  t.throws(() => splitWords('"a b'), { message: 'a " quote is not closed' });
  t.throws(() => splitWords("it's"), { message: "a ' quote is not closed" });
  t.throws(() => splitWords('a\\'), { message: 'the line ends with a lone backslash' });
  t.throws(() => splitWords('\\q'), { message: 'unknown escape \\q (write \\\\ for a backslash)' });
  t.throws(() => splitWords('a\\ b'), { message: 'unknown escape \\  (write \\\\ for a backslash)' });
  t.throws(() => splitWords('\\x4'), { message: '\\x takes 2 hex digits' });
  t.throws(() => splitWords('\\xzz'), { message: '\\x takes 2 hex digits' });
  t.throws(() => splitWords('\\x00'), { message: '\\x00 is a NUL character' });
  t.throws(() => splitWords('\\u12'), { message: '\\u takes 4 hex digits' });
  t.throws(() => splitWords('\\UFFFFFFFF'), { message: '\\UFFFFFFFF is not a Unicode character' });
  t.throws(() => splitWords('\\12'), { message: 'an octal escape has 3 digits, as in \\101' });
  t.throws(() => splitWords('\\000'), { message: '\\000 is a NUL character' });
});

t.test('command lines: $VAR as a word splits, ${VAR} in a word does not, $$ is $', async (t) => {
  const env = { A: 'one two', B: 'b', E: '', Q: '"x y" z' };
  t.same(splitExecCommand('/bin/echo $A', env), ['/bin/echo', 'one', 'two']);
  t.same(splitExecCommand('/bin/echo ${A}', env), ['/bin/echo', 'one two']);
  t.same(splitExecCommand('/bin/echo "$A"', env), ['/bin/echo', 'one', 'two'], 'quotes are gone before expansion, as in systemd');
  t.same(splitExecCommand('/bin/echo x${B}y ${MISSING}z', env), ['/bin/echo', 'xby', 'z']);
  t.same(splitExecCommand('/bin/echo $MISSING $E end', env), ['/bin/echo', 'end'], 'an unset or empty $VAR is no word');
  t.same(splitExecCommand('/bin/echo $Q', env), ['/bin/echo', 'x y', 'z'], 'the value is unquoted when split');
  t.same(splitExecCommand('/bin/echo $$A $$ a$b $(date) ${not valid} $A/b', env), ['/bin/echo', '$A', '$', 'a$b', '$(date)', '${not', 'valid}', '$A/b']);
  t.same(splitExecCommand('/bin/echo $hasOwnProperty ${constructor}', env), ['/bin/echo', ''], 'only own variables');
  t.throws(() => splitExecCommand('/bin/echo "x', env), { message: 'a " quote is not closed' });
  t.ok(isEnvName('_A1'));
  t.notOk(isEnvName('1A'));
  t.notOk(isEnvName(''));
  t.notOk(isEnvName('A-B'));
});
