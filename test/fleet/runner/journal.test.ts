import t from 'tap';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  assertUnitName,
  DEFAULT_JOURNAL_CAP_BYTES,
  formatJournalEntry,
  Journal,
  type JournalEntry,
} from '../../../src/fleet/runner/journal.js';
import { tempDir } from './helpers.js';

t.test('captures a real process: each line with its stream and pid, the last partial line at exit', async (t) => {
  const journal = new Journal('hello.service');
  const child = spawn('/bin/sh', ['-c', 'echo out1; echo err1 >&2; printf "out2\\nno-newline"'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await Promise.all([
    journal.capture(child.stdout, 'stdout', child.pid!),
    journal.capture(child.stderr, 'stderr', child.pid!),
  ]);
  const lines = journal.tail();
  const out = lines.filter((e) => e.stream === 'stdout').map((e) => e.text);
  const err = lines.filter((e) => e.stream === 'stderr').map((e) => e.text);
  t.same(out, ['out1', 'out2', 'no-newline']);
  t.same(err, ['err1']);
  t.ok(lines.every((e) => e.pid === child.pid), 'every line carries the pid');
  t.ok(lines.every((e) => typeof e.ts === 'number' && e.ts > 0));
});

t.test('lines split across chunks and multibyte characters split across chunks are joined', async (t) => {
  const journal = new Journal('x.service', { now: () => 42 });
  const src = new PassThrough();
  const done = journal.capture(src, 'stdout', 7);
  const bytes = Buffer.from('héllo wörld\nsecond');
  src.write(bytes.subarray(0, 2)); // cuts the é in half
  src.write(bytes.subarray(2, 9));
  src.write(bytes.subarray(9));
  t.same(journal.tail().map((e) => e.text), ['héllo wörld'], 'the partial line waits');
  src.end('\n');
  await done;
  t.same(journal.tail(), [
    { ts: 42, stream: 'stdout', pid: 7, text: 'héllo wörld' },
    { ts: 42, stream: 'stdout', pid: 7, text: 'second' },
  ]);
});

t.test('an over-long line without newline is cut into pieces', async (t) => {
  const journal = new Journal('x.service', { maxLineLength: 4 });
  const src = new PassThrough();
  const done = journal.capture(src, 'stderr', 1);
  src.end('abcdefghij\nxy');
  await done;
  t.same(journal.tail().map((e) => e.text), ['abcdefghij', 'xy'], 'complete lines are kept whole');
  const j2 = new Journal('y.service', { maxLineLength: 4 });
  const s2 = new PassThrough();
  const d2 = j2.capture(s2, 'stdout', 1);
  s2.write('abcdefghij');
  t.same(j2.tail().map((e) => e.text), ['abcd', 'efgh'], 'a long partial line is flushed in pieces');
  s2.end();
  await d2;
  t.same(j2.tail().map((e) => e.text), ['abcd', 'efgh', 'ij']);
});

t.test('runner lines, tail(n), format', async (t) => {
  const journal = new Journal('hello.service', { now: () => Date.UTC(2024, 4, 30, 10, 0, 0) });
  t.equal(journal.size, 0);
  journal.note('Starting hello.service...');
  journal.append('stdout', 99, 'hi');
  t.equal(journal.size, 2);
  const [first, second] = journal.tail();
  t.equal(first!.stream, 'runner');
  t.equal(first!.pid, process.pid);
  t.same(journal.tail(1), [second]);
  t.same(journal.tail(0), []);
  t.same(journal.tail(10).length, 2);
  t.equal(formatJournalEntry('hello.service', second!), '2024-05-30T10:00:00.000Z hello.service[99]: hi');
  t.equal(formatJournalEntry('hello.service', first!), `2024-05-30T10:00:00.000Z fleetd[${process.pid}]: Starting hello.service...`);
});

t.test('the cap drops the oldest lines', async (t) => {
  const journal = new Journal('cap.service', { capBytes: 1000, now: () => 1 });
  t.equal(new Journal('d.service').storedBytes, 0);
  t.equal(DEFAULT_JOURNAL_CAP_BYTES, 1024 * 1024);
  for (let i = 0; i < 5000; i++) journal.append('stdout', 1, `line ${i}`);
  t.ok(journal.storedBytes <= 1000, `kept ${journal.storedBytes} bytes`);
  const kept = journal.tail();
  t.equal(kept.at(-1)!.text, 'line 4999', 'the newest line is kept');
  t.ok(kept.length > 10 && kept.length < 30, `${kept.length} lines kept`);
  const numbers = kept.map((e) => Number(e.text.split(' ')[1]));
  t.same(numbers, numbers.map((_, i) => 4999 - (numbers.length - 1) + i), 'a contiguous newest run');
  const huge = new Journal('huge.service', { capBytes: 10 });
  huge.append('stdout', 1, 'x'.repeat(100));
  huge.append('stdout', 1, 'y'.repeat(100));
  t.same(huge.tail().map((e) => e.text[0]), ['y'], 'a single line over the cap is still kept');
});

t.test('persisted: a new Journal on the same directory finds the lines', async (t) => {
  const dir = tempDir(t);
  const a = new Journal('web@1.service', { stateDir: dir });
  a.note('Starting web@1.service...');
  a.append('stdout', 12, 'weird "text"\twith \\ and \u2603');
  t.equal(a.path, join(dir, 'journal', 'web@1.service.log'));
  const b = new Journal('web@1.service', { stateDir: dir });
  t.same(b.tail(), a.tail());
  b.append('stderr', 13, 'after restart');
  const c = new Journal('web@1.service', { stateDir: dir });
  t.same(c.tail().map((e) => e.text), ['Starting web@1.service...', 'weird "text"\twith \\ and \u2603', 'after restart']);
});

t.test('the file stays bounded: rewritten down to the cap', async (t) => {
  const dir = tempDir(t);
  const cap = 4096;
  const journal = new Journal('big.service', { stateDir: dir, capBytes: cap });
  let maxFile = 0;
  for (let i = 0; i < 2000; i++) {
    journal.append('stdout', 1, `line number ${i} ${'x'.repeat(i % 50)}`);
    maxFile = Math.max(maxFile, statSync(journal.path!).size);
  }
  t.ok(maxFile <= cap * 1.5 + 200, `file peaked at ${maxFile} bytes for a cap of ${cap}`);
  const reread = new Journal('big.service', { stateDir: dir, capBytes: cap });
  t.same(reread.tail(), journal.tail(), 'what is on disk is what was kept');
  t.notOk(existsSync(journal.path + '.tmp'));
});

t.test('a smaller cap on restart shrinks the file; damaged lines are skipped', async (t) => {
  const dir = tempDir(t);
  const a = new Journal('s.service', { stateDir: dir });
  for (let i = 0; i < 100; i++) a.append('stdout', 1, `line ${i}`);
  appendFileSync(a.path!, '{"ts":1,"stream":"stdout","pid":1,"te'); // a write cut by a crash
  appendFileSync(a.path!, '\n[1]\n{"ts":1,"stream":"bogus","pid":1,"text":"x"}\n{"ts":"1","stream":"stdout","pid":1,"text":"x"}\nnot json\n');
  const b = new Journal('s.service', { stateDir: dir, capBytes: 500 });
  t.equal(b.tail().at(-1)!.text, 'line 99');
  t.ok(b.storedBytes <= 500);
  t.equal(statSync(b.path!).size, b.storedBytes, 'the file now holds exactly what is kept');
});

t.test('a write error keeps the journal working in memory', async (t) => {
  const dir = tempDir(t);
  const journal = new Journal('w.service', { stateDir: dir });
  // Replace the file by a directory: appends now fail with EISDIR.
  const { rmSync } = await import('node:fs');
  rmSync(journal.path!, { force: true });
  mkdirSync(journal.path!);
  journal.append('stdout', 1, 'still here');
  t.match(journal.writeError, { code: 'EISDIR' });
  t.same(journal.tail().map((e) => e.text), ['still here']);
  // The directory as a journal file cannot be read at load: that is an error the agent must see.
  t.throws(() => new Journal('w.service', { stateDir: dir }), { code: 'EISDIR' });
});

t.test('follow yields new lines, in order, until aborted', async (t) => {
  const journal = new Journal('f.service');
  journal.append('stdout', 1, 'old');
  const ac = new AbortController();
  const it = journal.follow(ac.signal);
  journal.append('stdout', 1, 'one');
  journal.append('stdout', 1, 'two');
  const got: string[] = [];
  const reader = (async () => {
    for await (const e of it) {
      got.push(e.text);
      if (e.text === 'three') ac.abort();
    }
  })();
  await new Promise<void>((r) => setImmediate(r));
  journal.append('stdout', 1, 'three');
  journal.append('stdout', 1, 'after abort');
  await reader;
  t.same(got, ['one', 'two', 'three']);
  t.same(await it.next(), { value: undefined, done: true }, 'ended for good');
});

t.test('follow: an aborted signal ends at once; return() and close() end it', async (t) => {
  const journal = new Journal('f.service');
  const ac = new AbortController();
  ac.abort();
  t.same(await journal.follow(ac.signal).next(), { value: undefined, done: true });
  const it = journal.follow();
  const waiting = it.next();
  await it.return!();
  t.same(await waiting, { value: undefined, done: true }, 'a pending next() ends');
  const it2 = journal.follow();
  const pending = it2.next();
  journal.close();
  t.same(await pending, { value: undefined, done: true });
  t.same(await it2.next(), { value: undefined, done: true });
});

t.test('follow: a follower far behind loses its oldest pending lines, not the newest', async (t) => {
  const journal = new Journal('f.service', { capBytes: 300 });
  const it = journal.follow();
  for (let i = 0; i < 100; i++) journal.append('stdout', 1, `l${i}`);
  const got: JournalEntry[] = [];
  const reader = (async () => {
    for await (const e of it) {
      got.push(e);
      if (e.text === 'l99') break;
    }
  })();
  await reader;
  t.equal(got.at(-1)!.text, 'l99');
  t.ok(got.length < 100 && got.length > 2, `${got.length} lines delivered`);
});

t.test('unit names become file names: anything else is refused', async (t) => {
  for (const bad of ['../x', 'a/b', '', '.', '..', 'a b', 'x'.repeat(256)]) {
    t.throws(() => assertUnitName(bad), { message: /invalid unit name/ }, JSON.stringify(bad).slice(0, 20));
  }
  for (const good of ['hello.service', 'web@1.service', 'a-b_c:d\\x2d.service']) assertUnitName(good);
  t.throws(() => new Journal('x.service', { capBytes: 0 }), { message: /journal cap must be positive/ });
});

t.test('the file is one JSON object per line', async (t) => {
  const dir = tempDir(t);
  const journal = new Journal('j.service', { stateDir: dir, now: () => 5 });
  journal.append('stdout', 3, 'a');
  t.equal(readFileSync(journal.path!, 'utf8'), '{"ts":5,"stream":"stdout","pid":3,"text":"a"}\n');
  writeFileSync(journal.path!, '');
  t.same(new Journal('j.service', { stateDir: dir }).tail(), []);
});
