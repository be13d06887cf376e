// HeapGrowth: a conservative heap growing factor while the heap's low point stays large, V8's own
// choice otherwise. Ticks are driven; the heap sizes and the flag setter are injected.

import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { HeapGrowth } from '../../src/util/heap-growth.js';

const MiB = 2 ** 20;

function driven(sizesMiB: number[], thresholds: { conservativeAboveBytes?: number; dynamicBelowBytes?: number } = { conservativeAboveBytes: 128 * MiB, dynamicBelowBytes: 96 * MiB }) {
  const flags: string[] = [];
  let i = 0;
  const g = new HeapGrowth({
    window: 3,
    ...thresholds,
    heapUsed: () => (sizesMiB[Math.min(i++, sizesMiB.length - 1)] as number) * MiB,
    setFlags: (f) => flags.push(f),
    every: () => () => undefined,
  });
  g.start();
  const run = (n: number) => {
    for (let k = 0; k < n; k++) g.tick();
  };
  return { g, flags, run };
}

t.test('a small heap is left to V8, however high it peaks between GCs', async (t) => {
  const { g, flags, run } = driven([40, 300, 60, 400, 50, 350, 45]);
  run(7);
  t.same(flags, [], 'the low point never passed 128 MiB');
  t.equal(g.conservative, false);
});

t.test('a heap whose low point stays above the threshold grows conservatively', async (t) => {
  const { g, flags, run } = driven([100, 200, 210, 250, 230, 260]);
  run(3);
  t.same(flags, [], 'the window still holds 100 MiB');
  run(1);
  t.same(flags, ['--heap-growing-percent=30'], 'low point 200 MiB: conservative');
  run(2);
  t.same(flags, ['--heap-growing-percent=30'], 'set once, not on every tick');
  t.equal(g.conservative, true);
});

t.test('no decision before the window is full', async (t) => {
  const { flags, run } = driven([500, 500, 500]);
  run(2);
  t.same(flags, []);
  run(1);
  t.same(flags, ['--heap-growing-percent=30']);
});

t.test('between the thresholds nothing changes; below the lower one V8 chooses again', async (t) => {
  const { g, flags, run } = driven([300, 300, 300, 110, 110, 110, 100, 90, 90, 90]);
  run(3);
  t.same(flags, ['--heap-growing-percent=30']);
  run(4);
  t.same(flags, ['--heap-growing-percent=30'], '100-110 MiB: still conservative (hysteresis)');
  run(1);
  t.same(flags, ['--heap-growing-percent=30', '--heap-growing-percent=0'], 'below 96 MiB: dynamic again');
  t.equal(g.conservative, false);
});

t.test('stop gives the choice back to V8', async (t) => {
  const { g, flags, run } = driven([300]);
  run(3);
  g.stop();
  t.same(flags, ['--heap-growing-percent=30', '--heap-growing-percent=0']);
  g.stop();
  t.equal(flags.length, 2, 'a second stop does nothing');
});

t.test('the default thresholds: conservative above 64 MiB, V8 again below 48 MiB', async (t) => {
  const { flags, run } = driven([70, 70, 70, 50, 50, 50, 40], {});
  run(6);
  t.same(flags, ['--heap-growing-percent=30']);
  run(1);
  t.same(flags, ['--heap-growing-percent=30', '--heap-growing-percent=0']);
});

t.test('V8 takes the flag at run time', async (t) => {
  t.doesNotThrow(() => setFlagsFromString('--heap-growing-percent=30'));
  t.doesNotThrow(() => setFlagsFromString('--heap-growing-percent=0'));
  const g = new HeapGrowth({ intervalMs: 60_000 });
  g.start();
  g.start();
  g.tick();
  t.equal(g.conservative, false, 'this test process is far below the threshold');
  g.stop();
});
