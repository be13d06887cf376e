import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseEnvironmentFile, readEnvironmentFile } from '../../../src/fleet/runner/environment-file.js';
import { tempDir } from './helpers.js';

t.test('KEY=VALUE lines, comments, blanks, whitespace', async (t) => {
  const text = [
    '# a comment',
    '; another',
    '',
    'A=1',
    '  B = two words  ',
    'C=',
    'D=x=y',
    '\tE=tab\t',
  ].join('\n');
  const { vars, warnings } = parseEnvironmentFile(text, '/etc/x.env');
  t.same(vars, { A: '1', B: 'two words', C: '', D: 'x=y', E: 'tab' });
  t.same(warnings, []);
});

t.test('quotes and escapes', async (t) => {
  const text = [
    `Q1="  spaced  "`,
    `Q2='single $HOME \\n'`,
    `Q3="esc \\" \\\\ \\$ \\\` \\n"`,
    `Q4=a"b c"'d e'f`,
    `Q5="multi`,
    `line"`,
    `Q6=joined\\`,
    `next`,
    `Q7="cont\\`,
    `inued"`,
    `Q8=back\\ slash`,
    `Q9="open`,
  ].join('\n');
  const { vars } = parseEnvironmentFile(text, 'f');
  t.equal(vars.Q1, '  spaced  ');
  t.equal(vars.Q2, 'single $HOME \\n');
  t.equal(vars.Q3, 'esc " \\ $ ` \\n');
  t.equal(vars.Q4, 'ab cd ef');
  t.equal(vars.Q5, 'multi\nline');
  t.equal(vars.Q6, 'joinednext');
  t.equal(vars.Q7, 'continued');
  t.equal(vars.Q8, 'back slash');
  t.equal(vars.Q9, 'open', 'an unterminated quote takes the rest');
});

t.test('invalid lines are skipped with a warning naming file and line', async (t) => {
  const { vars, warnings } = parseEnvironmentFile('GOOD=1\njust words\n1BAD=x\nbad-name=y\nLAST=2\ntrailing', '/e');
  t.same(vars, { GOOD: '1', LAST: '2' });
  t.same(warnings, [
    '/e:2: ignoring line without "=": just words',
    '/e:3: ignoring assignment to invalid variable name "1BAD"',
    '/e:4: ignoring assignment to invalid variable name "bad-name"',
    '/e:6: ignoring line without "=": trailing',
  ]);
});

t.test('a trailing backslash at end of file', async (t) => {
  t.same(parseEnvironmentFile('A=x\\', 'f').vars, { A: 'x' });
});

t.test('reads a file; errors are the fs errors', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'env');
  writeFileSync(path, 'X=1\n');
  t.same(readEnvironmentFile(path).vars, { X: '1' });
  t.throws(() => readEnvironmentFile(join(dir, 'missing')), { code: 'ENOENT' });
});
