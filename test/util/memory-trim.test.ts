// The memory trimmer: the native binding is built by npm install and found from the sources; the
// trimmer calls it on its interval, and without it (or without glibc) it says so once and does
// nothing.
import t from 'tap';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { loadMallocTrim, MemoryTrimmer, type MallocTrim } from '../../src/util/memory-trim.js';

function logInto(lines: string[]) {
  return pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
}

t.test('the binding built at install is found and callable on this Linux', async (t) => {
  const binding = loadMallocTrim();
  t.ok(binding, 'native/malloc-trim/build/Release/malloc_trim.node was found (npm install builds it)');
  t.equal(binding?.supported, true, 'glibc: malloc_trim exists');
  t.type(binding?.trim(), 'boolean', 'trim() answers whether memory went back');
});

t.test('the trimmer calls the binding on its interval and stops', async (t) => {
  let calls = 0;
  const fake: MallocTrim = { supported: true, trim: () => ++calls % 2 === 1 };
  // A driven interval: the test fires it, and sees it cancelled.
  let tick: (() => void) | undefined;
  let every: number | undefined;
  const trimmer = new MemoryTrimmer({
    log: logInto([]),
    binding: fake,
    intervalMs: 5,
    every: (fn, ms) => {
      tick = fn;
      every = ms;
      return () => (tick = undefined);
    },
  });
  t.ok(trimmer.active);
  trimmer.start();
  trimmer.start();
  t.equal(every, 5, 'scheduled once, at the interval asked for');
  for (let i = 0; i < 3; i++) tick!();
  t.equal(calls, 3, 'one trim per tick');
  trimmer.stop();
  t.equal(tick, undefined, 'stop() cancels the interval');
  t.equal(trimmer.trims, 3);
  t.equal(trimmer.released, 2, 'the trims that gave memory back are counted');
});

t.test('without the binding, or without glibc, nothing is trimmed and the log says why', async (t) => {
  const lines: string[] = [];
  const missing = new MemoryTrimmer({ log: logInto(lines), binding: undefined });
  missing.start();
  t.notOk(missing.active);
  t.equal(missing.trimNow(), false);
  const unsupported = new MemoryTrimmer({ log: logInto(lines), binding: { supported: false, trim: () => true } });
  unsupported.start();
  t.equal(unsupported.trimNow(), false);
  t.match(lines[0], /native\/malloc-trim is not built \(npm install builds it\)/);
  t.match(lines[1], /the C library has no malloc_trim/);
  t.equal(missing.trims + unsupported.trims, 0);
});

t.test('loadMallocTrim looks upward from a directory and stops after a few levels', async (t) => {
  t.equal(loadMallocTrim('/'), undefined, 'nothing above the root');
});
