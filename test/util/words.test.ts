// systemd's word splitting.
import t from 'tap';
import { isEnvName, splitWords } from '../../src/util/words.js';

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

t.test('environment variable names', async (t) => {
  t.ok(isEnvName('_A1'));
  t.notOk(isEnvName('1A'));
  t.notOk(isEnvName(''));
  t.notOk(isEnvName('A-B'));
});
