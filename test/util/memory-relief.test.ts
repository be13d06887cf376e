// Memory relief: the native binding is built by npm install and found from the sources; on each
// tick that finds the loop idle malloc is trimmed, and the heap relieved when it has also grown
// since the lowest point after the last relief. Without the binding it says why once and does
// nothing.
import t from 'tap';
import { pino } from 'pino';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { getHeapStatistics } from 'node:v8';
import { afterNextMajorGc, loadMemoryBinding, MemoryRelief, processSampler, type MemoryBinding, type MemorySample } from '../../src/util/memory-relief.js';

const MiB = 2 ** 20;

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

/** A binding that counts its calls; trim() gives memory back every other call. */
function fakeBinding(trimSupported = true) {
  const calls = { trims: 0, reliefs: 0 };
  const binding: MemoryBinding = {
    trimSupported,
    trim: () => ++calls.trims % 2 === 1,
    relieveHeap: () => void calls.reliefs++,
  };
  return { binding, calls };
}

/** A relief driven by the test: its ticks and its samples. */
function driven(binding: MemoryBinding | undefined, lines: string[] = []) {
  let tick: (() => void) | undefined;
  let every: number | undefined;
  const samples: MemorySample[] = [];
  /** The wait for a relief's GC, if one is pending: `end()` is the GC ending. */
  const gc: { end?: () => void; canceled: number } = { canceled: 0 };
  const relief = new MemoryRelief({
    log: logInto(lines),
    binding,
    intervalMs: 5,
    every: (fn, ms) => {
      tick = fn;
      every = ms;
      return () => (tick = undefined);
    },
    sample: () => {
      const s = samples.shift();
      if (s === undefined) throw new Error('a tick without a sample');
      return s;
    },
    afterGc: (fn) => {
      gc.end = fn;
      return () => {
        gc.end = undefined;
        gc.canceled++;
      };
    },
  });
  /** One tick that sees this loop utilization and heap. */
  const step = (busy: number, heapUsedMiB: number) => {
    samples.push({ busy, heapUsed: heapUsedMiB * MiB });
    tick!();
  };
  return { relief, step, samples, gc, ticking: () => tick !== undefined, every: () => every };
}

t.test('the binding built at install is found and callable on this Linux', async (t) => {
  const loaded = loadMemoryBinding();
  t.ok('binding' in loaded, 'native/memory/build/Release/memory.node was found and loaded (npm install builds it)');
  if (!('binding' in loaded)) return;
  t.equal(loaded.binding.trimSupported, true, 'glibc: malloc_trim exists');
  t.type(loaded.binding.trim(), 'boolean', 'trim() answers whether memory went back');
  t.equal(loaded.binding.relieveHeap(), undefined, 'relieveHeap() returns at once');
  // The GC it started runs as this test goes on; the process is still whole afterwards.
  t.ok(getHeapStatistics().used_heap_size > 0);
});

t.test('the binding is looked for upward, and a file that is not a loadable module is reported, not thrown', async (t) => {
  const missing = loadMemoryBinding('/');
  t.same(missing, { why: 'native/memory/build/Release/memory.node is not built (npm install builds it)' });
  const dir = mkdtempSync(join(tmpdir(), 'memory-relief-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'native', 'memory', 'build', 'Release'), { recursive: true });
  writeFileSync(join(dir, 'native', 'memory', 'build', 'Release', 'memory.node'), 'not a shared object');
  mkdirSync(join(dir, 'dist', 'src', 'util'), { recursive: true });
  const stale = loadMemoryBinding(join(dir, 'dist', 'src', 'util'));
  t.ok('why' in stale && /memory\.node could not be loaded \(.+\); npm install rebuilds it/.test(stale.why), 'why' in stale ? stale.why : 'loaded');
});

t.test('every idle tick trims, a busy one does not; the count says how many gave memory back', async (t) => {
  const { binding, calls } = fakeBinding();
  const d = driven(binding);
  d.samples.push({ busy: 0, heapUsed: 100 * MiB }); // the sample taken at start
  d.relief.start();
  d.relief.start();
  t.equal(d.every(), 5, 'scheduled once, at the interval asked for');
  for (let i = 0; i < 3; i++) d.step(0.01, 100);
  t.equal(calls.trims, 3, 'one trim per idle tick');
  t.equal(d.relief.released, 2);
  for (const busy of [0.05, 0.5, 1]) d.step(busy, 100);
  t.equal(calls.trims, 3, 'no trim while the loop is busy (5% and over): it would stall the load to give back pages the load takes again');
  d.step(0.049, 100);
  t.equal(calls.trims, 4, 'idle again: trimmed');
  // Busy and the heap growing (a load that fills the store, a large delete): still no trim (one
  // held a member's loop 290 ms during a 200,000-key delete); the next idle tick trims.
  for (const heap of [150, 250, 400, 600]) d.step(0.9, heap);
  t.equal(calls.trims, 4, 'none while busy, however much it grew');
  d.step(0.01, 600);
  t.equal(calls.trims, 5, 'the first idle tick after it trims');
  d.relief.stop();
  t.notOk(d.ticking(), 'stop() cancels the interval');
  t.equal(d.relief.ticks, 12);
});

t.test('the heap is relieved once the loop is idle after it grew, and not again until it grows again', async (t) => {
  const { binding, calls } = fakeBinding();
  const d = driven(binding);
  d.samples.push({ busy: 0, heapUsed: 50 * MiB });
  d.relief.start();
  // Each tick: the loop's utilization, the heap in use (MiB), the reliefs so far, and why.
  const ticks: [number, number, number, string][] = [
    [0.01, 60, 0, 'idle, but 10 MiB of growth is below the 32 MiB threshold'],
    [0.9, 300, 0, 'a busy loop is never interrupted...'],
    [0.6, 450, 0, '...however large the heap'],
    [0.03, 460, 1, 'the first idle tick after the burst relieves the heap'],
    [0.01, 455, 1, 'the GC may still be running at the next tick: its heap becomes the new low point'],
    [0.01, 220, 1, 'after the GC the live heap (larger than before the burst) is the low point...'],
    [0.01, 230, 1, '...so there is no relief on every tick'],
    [0.01, 251, 1, '31 MiB of growth while idle: not yet'],
    [0.02, 253, 2, '33 MiB above the low point while idle: relieved again'],
  ];
  for (const [busy, heap, reliefs, why] of ticks) {
    d.step(busy, heap);
    t.equal(calls.reliefs, reliefs, why);
  }
  t.equal(d.relief.reliefs, 2);
  t.equal(calls.trims, ticks.filter(([busy]) => busy < 0.05).length, 'a trim on every idle tick, none on the busy ones');
});

t.test("a relief's GC is followed by a trim as soon as it ends; stop() cancels the wait", async (t) => {
  const { binding, calls } = fakeBinding();
  const d = driven(binding);
  d.samples.push({ busy: 0, heapUsed: 0 });
  d.relief.start();
  d.step(0, 40);
  t.equal(calls.reliefs, 1);
  t.equal(calls.trims, 1, 'the tick trimmed');
  t.ok(d.gc.end, 'the GC the relief started is waited for');
  d.gc.end!();
  t.equal(calls.trims, 2, 'and memory trimmed again once it ended');
  d.step(0, 50);
  d.step(0, 90);
  t.equal(calls.reliefs, 2);
  d.relief.stop();
  t.equal(d.gc.canceled, 1, 'stopping cancels the wait for the second GC');
  t.equal(calls.trims, 4, 'one per tick, one after the first GC');
});

t.test('afterNextMajorGc fires once, after the mark-compact that relieveHeap starts, unless canceled', async (t) => {
  const loaded = loadMemoryBinding();
  if (!('binding' in loaded)) return t.fail(loaded.why);
  let canceledCalls = 0;
  const cancel = afterNextMajorGc(() => canceledCalls++);
  cancel();
  let calls = 0;
  // V8 runs the GC's steps as tasks of the event loop, which a PerformanceObserver does not keep
  // alive: a deadline does (and fails the test if the GC never ends).
  let deadline: NodeJS.Timeout | undefined;
  const ended = new Promise<void>((resolve, reject) => {
    deadline = setTimeout(() => reject(new Error('no major GC within 20 s of relieveHeap()')), 20_000);
    afterNextMajorGc(() => {
      calls++;
      resolve();
    });
  });
  let garbage: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i }));
  garbage = undefined;
  loaded.binding.relieveHeap();
  await ended.finally(() => clearTimeout(deadline));
  t.equal(calls, 1, 'called when the major GC ended');
  t.equal(canceledCalls, 0, 'a canceled wait is not called');
  t.equal(garbage, undefined);
});

t.test('without glibc the heap is still relieved but nothing is trimmed, and the log says so', async (t) => {
  const lines: string[] = [];
  const { binding, calls } = fakeBinding(false);
  const d = driven(binding, lines);
  d.samples.push({ busy: 0, heapUsed: 0 });
  d.relief.start();
  d.step(0, 64);
  t.equal(calls.trims, 0);
  t.equal(calls.reliefs, 1);
  t.match(lines[0], /the C library has no malloc_trim/);
});

t.test('without the binding nothing happens, and the log says why', async (t) => {
  const lines: string[] = [];
  const d = driven(undefined, lines);
  d.relief.start();
  t.notOk(d.relief.active);
  t.notOk(d.ticking(), 'no interval is scheduled');
  d.relief.tick();
  t.equal(d.relief.ticks, 0);
  t.match(lines[0], /native\/memory\/build\/Release\/memory\.node is not loaded; freed memory goes back to the system only when V8 and glibc decide/);
});

t.test('the process sampler measures the loop between calls and the V8 heap', async (t) => {
  const sample = processSampler();
  const spinUntil = performance.now() + 30;
  while (performance.now() < spinUntil);
  const s = sample();
  t.ok(s.busy > 0.5, `a loop that spun the whole time is busy (${s.busy.toFixed(2)})`);
  t.ok(s.busy <= 1);
  t.ok(s.heapUsed > MiB, 'the heap in use is reported in bytes');
});
