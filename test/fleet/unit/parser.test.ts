// The systemd syntax: what is kept, what is joined, what is a comment, and every refusal with its
// file:line message.
import t from 'tap';
import { MAX_UNIT_FILE_BYTES, parseUnitFile, parseUnitFileBytes } from '../../../src/fleet/unit/index.js';
import { lines, throwsUnitError } from './helpers.js';

const entries = (text: string, name = 'hello.service') =>
  parseUnitFile(name, text).sections.map((s) => [s.name, s.line, s.entries.map((e) => [e.key, e.value, e.line])]);

t.test('sections, keys and values in file order; repeated keys and sections kept apart', async (t) => {
  const text = lines(
    '[Unit]',
    'Description=Hello',
    '',
    '[Service]',
    'ExecStartPre=/bin/true',
    'ExecStartPre=/bin/echo one',
    'ExecStart=/bin/sleep 1',
    'ExecStartPre=/bin/echo two',
    '[Service]',
    'Restart=always',
  );
  const unit = parseUnitFile('hello.service', text);
  t.equal(unit.name, 'hello.service');
  t.equal(unit.text, text, 'the text is kept as given');
  t.same(entries(text), [
    ['Unit', 1, [['Description', 'Hello', 2]]],
    [
      'Service',
      4,
      [
        ['ExecStartPre', '/bin/true', 5],
        ['ExecStartPre', '/bin/echo one', 6],
        ['ExecStart', '/bin/sleep 1', 7],
        ['ExecStartPre', '/bin/echo two', 8],
      ],
    ],
    ['Service', 9, [['Restart', 'always', 10]]],
  ]);
});

t.test('blanks around "=" and around the line are trimmed, blanks inside the value kept', async (t) => {
  t.same(entries('  [Service]  \n\tExecStart  =  /bin/echo   a  b \t\n Key\t=\tv\n'), [
    [
      'Service',
      1,
      [
        ['ExecStart', '/bin/echo   a  b', 2],
        ['Key', 'v', 3],
      ],
    ],
  ]);
  t.same(entries('[S]\nA=\nB = \nC==x\nD=a=b\n'), [
    [
      'S',
      1,
      [
        ['A', '', 2],
        ['B', '', 3],
        ['C', '=x', 4],
        ['D', 'a=b', 5],
      ],
    ],
  ]);
  // Only systemd's blanks (space, tab, CR, LF): a form feed or a no-break space is part of the value.
  t.same(entries('[S]\nA=\fx\u00a0\n'), [['S', 1, [['A', '\fx\u00a0', 2]]]]);
});

t.test('comments are whole lines; "#" and ";" inside values and quotes are kept verbatim', async (t) => {
  const text = lines(
    '# a comment',
    '; another',
    '   # indented comment',
    '[Service]',
    'ExecStart=/bin/sh -c "echo a; echo b # not a comment"',
    "Environment='X=1' Y=\"2 3\" ; still the value",
    'Description=50% off # keep',
    '\t;comment after a tab',
  );
  t.same(entries(text), [
    [
      'Service',
      4,
      [
        ['ExecStart', '/bin/sh -c "echo a; echo b # not a comment"', 5],
        ['Environment', "'X=1' Y=\"2 3\" ; still the value", 6],
        ['Description', '50% off # keep', 7],
      ],
    ],
  ]);
});

t.test('backslash continuation: the backslash becomes a space, the next line is appended as is', async (t) => {
  const text = lines(
    '[Service]',
    'ExecStart=/usr/bin/docker run \\',
    '  --rm \\',
    '# a comment inside the continuation is skipped',
    '  ; so is this one',
    '  busybox',
    'After=x',
  );
  t.same(entries(text), [
    [
      'Service',
      1,
      [
        ['ExecStart', '/usr/bin/docker run    --rm    busybox', 2],
        ['After', 'x', 7],
      ],
    ],
  ]);
  t.same(entries('[S]\nA=x\\\ny\n'), [['S', 1, [['A', 'x y', 2]]]], 'no blanks: joined with exactly one space');
  t.same(entries('[S]\nA=ends in two \\\\\nB=y\n'), [['S', 1, [['A', 'ends in two \\\\', 2], ['B', 'y', 3]]]], 'an escaped backslash does not continue');
  t.same(entries('[S]\nA=three \\\\\\\ny\n'), [['S', 1, [['A', 'three \\\\ y', 2]]]], 'an odd run does');
  t.same(entries('[S]\nA=x \\ \nB=y\n'), [['S', 1, [['A', 'x \\', 2], ['B', 'y', 3]]]], 'a blank after the backslash ends the line');
  t.same(entries('[S]\nA=x \\\n\nB=y\n'), [['S', 1, [['A', 'x', 2], ['B', 'y', 4]]]], 'an empty line ends the continuation');
  t.same(entries('[S]\nA=x \\\ny \\'), [['S', 1, [['A', 'x  y', 2]]]], 'a continuation at the end of the file is accepted');
  t.same(entries('[S]\nA=x \\\n'), [['S', 1, [['A', 'x', 2]]]], '... also before the final newline');
  t.same(entries('[S]\nA=x \\\n# only comments follow\n'), [['S', 1, [['A', 'x', 2]]]]);
  t.same(entries('[S]\nA=1 \\\n B=2\n'), [['S', 1, [['A', '1   B=2', 2]]]], 'a key on the next line is part of the value');
  throwsUnitError(t, () => parseUnitFile('a.service', '[S\\\n]\n'), 'a.service', 1, 'invalid section name "S ": blanks around the name');
});

t.test('CRLF and CR line endings, and a byte order mark, are read like LF', async (t) => {
  const lf = '[Unit]\nDescription=a\n[Service]\nExecStart=/bin/x \\\n  y\n';
  const want = entries(lf);
  t.same(entries(lf.replace(/\n/g, '\r\n')), want, 'CRLF');
  t.same(entries(lf.replace(/\n/g, '\r')), want, 'CR');
  t.same(entries('\uFEFF' + lf), want, 'BOM');
  t.same(entries('\uFEFF# comment\r\n' + lf.replace(/\n/g, '\r\n')).length, 2, 'BOM before a comment');
  const unit = parseUnitFile('hello.service', '\uFEFF' + lf);
  t.equal(unit.text, '\uFEFF' + lf, 'the text keeps its BOM (the hash is of what was given)');
  t.same(entries('\uFEFF[Unit]\n'), [['Unit', 1, []]]);
  t.same(entries(''), [], 'an empty file has no sections');
  t.same(entries('\n\n# x\n'), []);
});

t.test('errors: file:line and what is wrong', async (t) => {
  const f = 'hello.service';
  throwsUnitError(t, () => parseUnitFile(f, 'Description=x\n'), f, 1, '"Description=x" is outside any section: a unit file starts with a section header such as [Unit]');
  throwsUnitError(t, () => parseUnitFile(f, '# c\n\n  junk\n'), f, 3, '"junk" is outside any section: a unit file starts with a section header such as [Unit]');
  throwsUnitError(t, () => parseUnitFile(f, '[Unit]\nDescription=x\nExecStart /bin/x\n'), f, 3, 'missing "=" in "ExecStart /bin/x": a line is Key=Value, a [Section] header or a # comment');
  throwsUnitError(t, () => parseUnitFile(f, '[Unit]\n  = value\n'), f, 2, 'missing key name before "=" in "= value"');
  throwsUnitError(t, () => parseUnitFile(f, '[Unit]\n[Service\nA=b\n'), f, 2, 'section header "[Service" does not end with "]"');
  throwsUnitError(t, () => parseUnitFile(f, '[Service] # comment\n'), f, 1, 'section header "[Service] # comment" does not end with "]"');
  throwsUnitError(t, () => parseUnitFile(f, '[\n'), f, 1, 'section header "[" does not end with "]"');
  throwsUnitError(t, () => parseUnitFile(f, '[]\n'), f, 1, 'invalid section name "": it is empty');
  throwsUnitError(t, () => parseUnitFile(f, '[ Service ]\n'), f, 1, 'invalid section name " Service ": blanks around the name');
  throwsUnitError(t, () => parseUnitFile(f, '[Ser"vice]\n'), f, 1, 'invalid section name "Ser\\"vice": the character "\\"" is not allowed');
  throwsUnitError(t, () => parseUnitFile(f, '[[Service]]\n'), f, 1, 'invalid section name "[Service]": the character "[" is not allowed');
  throwsUnitError(t, () => parseUnitFile(f, '[Ser\tvice]\n'), f, 1, 'invalid section name "Ser\\tvice": the character "\\t" is not allowed');
  throwsUnitError(t, () => parseUnitFile(f, '[S]\nA=1\r\nB=2\r\nC=a\0b\n'), f, 4, 'contains a NUL character: not a text file');
  throwsUnitError(t, () => parseUnitFile(f, '[S]\rA=\uFFFD\n'), f, 2, 'not UTF-8 text (U+FFFD, the mark of a lossy decoding)');
  throwsUnitError(t, () => parseUnitFile(f, '[S]\nA=\uD800x\n'), f, 2, 'not UTF-8 text (a lone UTF-16 surrogate)');
  throwsUnitError(t, () => parseUnitFile(f, '[S]\nA=\uDC00\n'), f, 2, 'not UTF-8 text (a lone UTF-16 surrogate)');
  t.same(entries('[S]\nA=\u{1F600}\n'), [['S', 1, [['A', '\u{1F600}', 2]]]], 'a surrogate pair is fine');
  throwsUnitError(t, () => parseUnitFile('hello', '[Unit]\n'), 'hello', 0, 'invalid unit name: a unit name ends in its type, as in hello.service');
  const long = 'x'.repeat(61);
  throwsUnitError(t, () => parseUnitFile(f, `[Unit]\n${long}\n`), f, 2, `missing "=" in "${'x'.repeat(57)}...": a line is Key=Value, a [Section] header or a # comment`);
  throwsUnitError(t, () => parseUnitFile(f, '[S]\nfoo \\\n# c\nbar\n'), f, 2, 'missing "=" in "foo  bar": a line is Key=Value, a [Section] header or a # comment');
});

t.test('size limit: 1 MiB of UTF-8', async (t) => {
  const head = '[Service]\nX=';
  const fits = head + 'a'.repeat(MAX_UNIT_FILE_BYTES - head.length);
  t.equal(parseUnitFile('big.service', fits).sections[0]!.entries[0]!.value.length, MAX_UNIT_FILE_BYTES - head.length);
  throwsUnitError(t, () => parseUnitFile('big.service', fits + 'a'), 'big.service', 0, `the file is ${MAX_UNIT_FILE_BYTES + 1} bytes, over the limit of 1048576 (1 MiB)`);
  // Counted in bytes, not characters: 'é' is two bytes.
  const wide = head + 'é'.repeat((MAX_UNIT_FILE_BYTES - head.length) / 2 + 1);
  throwsUnitError(t, () => parseUnitFile('big.service', wide), 'big.service', 0, /^the file is 10485\d\d bytes, over the limit/);
  throwsUnitError(t, () => parseUnitFileBytes('big.service', new Uint8Array(MAX_UNIT_FILE_BYTES + 1)), 'big.service', 0, `the file is ${MAX_UNIT_FILE_BYTES + 1} bytes, over the limit of 1048576 (1 MiB)`);
});

t.test('parseUnitFileBytes: UTF-8 checked with the line of the bad byte', async (t) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const ok = parseUnitFileBytes('hello.service', Uint8Array.from([0xef, 0xbb, 0xbf, ...enc('[Unit]\nDescription=héllo\n')]));
  t.equal(ok.text, '\uFEFF[Unit]\nDescription=héllo\n', 'the BOM is kept in the text');
  t.same(ok.sections[0]!.entries[0], { key: 'Description', value: 'héllo', line: 2 });
  const bad = Uint8Array.from([...enc('[Unit]\r\nA=1\r\nB=\xff'.slice(0, -1)), 0xff, ...enc('\nC=1\n')]);
  throwsUnitError(t, () => parseUnitFileBytes('hello.service', bad), 'hello.service', 3, 'not UTF-8 text (invalid byte sequence)');
  const cr = Uint8Array.from([...enc('[Unit]\rA=1\r'), 0xc3, 0x28]);
  throwsUnitError(t, () => parseUnitFileBytes('hello.service', cr), 'hello.service', 3, 'not UTF-8 text (invalid byte sequence)');
  throwsUnitError(t, () => parseUnitFileBytes('hello.service', enc('[Unit]\nA=\0\n')), 'hello.service', 2, 'contains a NUL character: not a text file');
  throwsUnitError(t, () => parseUnitFileBytes('bad name.service', enc('[Unit]\n')), 'bad name.service', 0, 'invalid unit name: the character " " is not allowed (letters, digits and :_.\\@- are)');
});
