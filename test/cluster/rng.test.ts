// The seeded generator behind every random decision of a cluster-tests run.
import t from 'tap';
import { Rng, sleep } from '../../cluster-tests/lib/rng.js';

t.test('a seed gives the same sequence; numbers stay in range', async (t) => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 50 }, () => a.next());
  t.same(xs, Array.from({ length: 50 }, () => b.next()));
  t.ok(xs.every((x) => x >= 0 && x < 1));
  t.notSame(new Rng(43).next(), xs[0]);
  t.ok(new Rng(0).next() >= 0, 'seed 0 works');
  const r = new Rng(7);
  for (let i = 0; i < 200; i++) {
    const n = r.int(3, 5);
    t.ok(n >= 3 && n <= 5 && Number.isInteger(n));
    const f = r.range(1, 2);
    t.ok(f >= 1 && f < 2);
  }
  t.type(r.chance(0.5), 'boolean');
  t.equal(r.chance(0), false);
  t.equal(r.chance(1), true);
});

t.test('pick, weighted, shuffle, fork', async (t) => {
  const r = new Rng(1);
  t.throws(() => r.pick([]), /empty/);
  t.ok(['a', 'b'].includes(r.pick(['a', 'b'])));
  const counts = { a: 0, b: 0 };
  for (let i = 0; i < 1000; i++) counts[r.weighted([[9, 'a'], [1, 'b']] as const)]++;
  t.ok(counts.a > counts.b * 4, `weights respected: ${JSON.stringify(counts)}`);
  t.equal(r.weighted([[0, 'a'], [0, 'b']] as const), 'b', 'zero weights fall back to the last choice');
  const s = r.shuffle([1, 2, 3, 4, 5]);
  t.same([...s].sort(), [1, 2, 3, 4, 5]);
  const f1 = new Rng(9).fork();
  const f2 = new Rng(9).fork();
  t.equal(f1.next(), f2.next(), 'forks of equal generators are equal');
  const start = performance.now();
  await sleep(5);
  t.ok(performance.now() - start >= 4);
});
