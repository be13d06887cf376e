import t from 'tap';
import { join } from 'node:path';
import {
  CommandLineError,
  DEFAULT_PATH,
  ExecutableNotFoundError,
  expandWords,
  parseCommandLine,
  resolveExecutable,
  splitCommand,
} from '../../../src/fleet/runner/command-line.js';
import { tempDir, writeExecutable } from './helpers.js';
import { writeFileSync } from 'node:fs';

t.test('words split on whitespace', async (t) => {
  t.same(parseCommandLine('/bin/echo  a\tb \n c'), ['/bin/echo', 'a', 'b', 'c']);
  t.same(parseCommandLine('   /bin/true   '), ['/bin/true']);
});

t.test('quotes', async (t) => {
  t.same(parseCommandLine(`/bin/echo "a b" 'c  d' x"y z"w ""`), ['/bin/echo', 'a b', 'c  d', 'xy zw', '']);
  t.same(parseCommandLine(`/bin/echo "it's" 'say "hi"'`), ['/bin/echo', "it's", 'say "hi"']);
  t.same(parseCommandLine(`"/bin/echo" x`), ['/bin/echo', 'x'], 'the program may be quoted');
});

t.test('escapes, inside and outside quotes', async (t) => {
  t.same(parseCommandLine('/bin/echo a\\nb "c\\td" \\\\ \\" \\\' \\s'), ['/bin/echo', 'a\nb', 'c\td', '\\', '"', "'", ' ']);
  t.same(parseCommandLine('/bin/echo a\\ b'), ['/bin/echo', 'a b'], 'an escaped space joins');
  t.same(parseCommandLine('/bin/echo \\x41\\101\\u00e9\\U0001F600 \\a\\b\\f\\r\\v'), [
    '/bin/echo',
    'AA\u00e9\u{1F600}',
    '\x07\b\f\r\v',
  ]);
  t.same(parseCommandLine("/bin/echo '\\''"), ['/bin/echo', "'"]);
});

t.test('a lone semicolon is refused unless escaped or quoted', async (t) => {
  t.throws(() => parseCommandLine('/bin/echo a ; /bin/echo b'), {
    name: 'CommandLineError',
    message: /multiple commands per line are not supported.*column 13/,
  });
  t.same(parseCommandLine('/bin/echo a \\; b'), ['/bin/echo', 'a', ';', 'b']);
  t.same(parseCommandLine('/bin/echo ";" a;'), ['/bin/echo', ';', 'a;']);
});

t.test('syntax errors name the problem and the column', async (t) => {
  const cases: [string, RegExp][] = [
    ['/bin/echo "abc', /unterminated double quote \(column 11/],
    ["/bin/echo 'abc", /unterminated single quote \(column 11/],
    ['/bin/echo abc\\', /trailing backslash/],
    ['/bin/echo \\q', /invalid escape "\\q"/],
    ['/bin/echo \\$HOME', /invalid escape "\\\$" \(write \$\$ for a literal \$\)/],
    ['/bin/echo \\xZZ', /expected 2 hex digits/],
    ['/bin/echo \\u12', /expected 4 hex digits/],
    ['/bin/echo \\19', /expected 3 octal digits/],
    ['/bin/echo \\000', /NUL characters are not allowed/],
    ['/bin/echo \\UFFFFFFFF', /invalid code point/],
    ['/bin/echo \\uD800', /invalid code point/],
    ['', /empty command line/],
    ['   ', /empty command line/],
    ['"" a', /empty executable name/],
    ['bin/echo x', /"bin\/echo" is neither absolute nor a bare name/],
    ['  ./run.sh', /column 3/],
  ];
  for (const [line, message] of cases) {
    t.throws(() => parseCommandLine(line), { message }, line);
  }
  const err = t.throws(() => parseCommandLine('/bin/x "a')) as CommandLineError;
  t.equal(err.column, 8);
  t.equal(err.commandLine, '/bin/x "a');
  t.ok(err instanceof CommandLineError);
});

t.test('variables: $VAR alone splits, ${VAR} inline, $$ is a dollar', async (t) => {
  const env = { ARGS: '  -a   -b\tc ', NAME: 'two words', EMPTY: '' };
  t.same(expandWords(['/bin/x', '$ARGS'], env), ['/bin/x', '-a', '-b', 'c']);
  t.same(expandWords(['/bin/x', '${NAME}'], env), ['/bin/x', 'two words']);
  t.same(expandWords(['/bin/x', 'pre-${NAME}-post'], env), ['/bin/x', 'pre-two words-post']);
  t.same(expandWords(['/bin/x', '$UNSET', '${UNSET}', '$EMPTY'], env), ['/bin/x', '']);
  t.same(expandWords(['/bin/x', '$$NAME', 'a$$b', '$1', '$FOO-x', 'x$NAME'], env), ['/bin/x', '$NAME', 'a$b', '$1', '$FOO-x', 'x$NAME']);
  t.same(expandWords(['/bin/x', '${NAME'], env), ['/bin/x', '${NAME'], 'an unclosed brace stays');
  t.same(expandWords(['/bin/$NAME'], env), ['/bin/$NAME'], 'the program is never substituted');
  // As in systemd, quotes are removed before substitution: "$ARGS" still splits.
  t.same(splitCommand('/bin/echo "$ARGS" \'${NAME}\'', env), ['/bin/echo', '-a', '-b', 'c', 'two words']);
});

t.test('a bare program name is looked up in the unit PATH', async (t) => {
  const dir = tempDir(t);
  const bin = join(dir, 'bin');
  const other = join(dir, 'other');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(bin);
  mkdirSync(other);
  writeFileSync(join(bin, 'tool'), 'not executable');
  writeExecutable(join(other, 'tool'), '#!/bin/sh\n');
  mkdirSync(join(bin, 'adir'));
  t.equal(resolveExecutable('tool', `relative:${bin}:${other}`), join(other, 'tool'), 'skips non-executables and relative dirs');
  t.equal(splitCommand('tool a', { PATH: `${bin}:${other}` })[0], join(other, 'tool'));
  t.equal(resolveExecutable('/abs/path', ''), '/abs/path', 'absolute paths are taken as they are');
  t.equal(resolveExecutable('sh', undefined), resolveExecutable('sh', DEFAULT_PATH), 'no PATH: systemd default');
  const err = t.throws(() => splitCommand('adir', { PATH: bin })) as ExecutableNotFoundError;
  t.ok(err instanceof ExecutableNotFoundError);
  t.equal(err.executable, 'adir');
  t.equal(err.code, 'ENOENT');
  t.match(err.message, /Failed to locate executable adir: No such file or directory/);
});

t.test('a $VAR value is split as systemd splits it, and only own variables count', async (t) => {
  const env = { Q: '"x y" z' };
  t.same(splitCommand('/bin/echo $Q', env), ['/bin/echo', 'x y', 'z'], 'quotes in the value group words');
  t.same(splitCommand('/bin/echo $constructor ${hasOwnProperty}x', env), ['/bin/echo', 'x'], 'no prototype property is a variable');
});

/** An Exec line split and substituted as the runner does, without locating the program. */
const splitExec = (text: string, env: Record<string, string>) => expandWords(parseCommandLine(text), env);

t.test('command lines: $VAR as a word splits, ${VAR} in a word does not, $$ is $', async (t) => {
  const env = { A: 'one two', B: 'b', E: '', Q: '"x y" z' };
  t.same(splitExec('/bin/echo $A', env), ['/bin/echo', 'one', 'two']);
  t.same(splitExec('/bin/echo ${A}', env), ['/bin/echo', 'one two']);
  t.same(splitExec('/bin/echo "$A"', env), ['/bin/echo', 'one', 'two'], 'quotes are gone before expansion, as in systemd');
  t.same(splitExec('/bin/echo x${B}y ${MISSING}z', env), ['/bin/echo', 'xby', 'z']);
  t.same(splitExec('/bin/echo $MISSING $E end', env), ['/bin/echo', 'end'], 'an unset or empty $VAR is no word');
  t.same(splitExec('/bin/echo $Q', env), ['/bin/echo', 'x y', 'z'], 'the value is unquoted when split');
  t.same(splitExec('/bin/echo $$A $$ a$b $(date) ${not valid} $A/b', env), ['/bin/echo', '$A', '$', 'a$b', '$(date)', '${not', 'valid}', '$A/b']);
  t.same(splitExec('/bin/echo $hasOwnProperty ${constructor}', env), ['/bin/echo', ''], 'only own variables');
  t.throws(() => splitExec('/bin/echo "x', env), CommandLineError);
});
