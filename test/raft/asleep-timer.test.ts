import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsleepTimer } from '../../src/raft/storage/asleep-timer.js';

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const spinMs = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

t.test('time asleep counts a blocked thread, not one running or waiting for a core', { skip: process.platform !== 'linux' && 'schedstat is Linux only' }, async (t) => {
  const timer = new AsleepTimer();
  t.teardown(() => timer.close());
  t.ok(timer.precise, 'reads /proc/thread-self/schedstat');
  const asleep = timer.time(() => sleepMs(40));
  t.ok(asleep >= 30 && asleep < 1000, `a 40 ms sleep: ${asleep.toFixed(1)} ms asleep`);
  // Spinning is running (or, preempted, waiting for a core): never asleep, however long it takes.
  const spinning = timer.time(() => spinMs(40));
  t.ok(spinning < 10, `40 ms of spinning: ${spinning.toFixed(1)} ms asleep`);
});

t.test('without a readable schedstat, the wall time stands in', async (t) => {
  const dir = t.testdir();
  for (const [what, path] of [
    ['a missing file', join(dir, 'missing')],
    ['a file of another shape', join(dir, 'garbage')],
  ] as const) {
    if (what === 'a file of another shape') writeFileSync(path, 'not numbers\n');
    const timer = new AsleepTimer(path);
    t.notOk(timer.precise, what);
    const ms = timer.time(() => spinMs(20));
    t.ok(ms >= 19, `${what}: 20 ms of spinning counts as ${ms.toFixed(1)} ms`);
    timer.close();
    timer.close();
  }
});
