// check perf's verdict, as etcdctl words it (the load itself runs in commands.test.ts).
import t from 'tap';
import { perfReport } from '../../src/kvctl/cmd/check.js';

t.test('every figure within its bound: PASS', async (t) => {
  const r = perfReport({ latenciesS: [0.002, 0.004, 0.003], errors: new Map(), elapsedS: 0.02 }, 100);
  t.same(r, { ok: true, lines: ['PASS: Throughput is 151 writes/s', 'PASS: Slowest request took 0.004000s', 'PASS: Stddev is 0.000816s', 'PASS'] });
});

t.test('each failing figure is named, and the verdict is FAIL', async (t) => {
  const slow = perfReport({ latenciesS: [0.01, 0.6], errors: new Map(), elapsedS: 1 }, 150);
  t.same(slow.lines, ['FAIL: Throughput too low: 3 writes/s', 'Slowest request took too long: 0.600000s', 'Stddev too high: 0.295000s', 'FAIL']);
  t.equal(slow.ok, false);
  const errors = perfReport({ latenciesS: [0.001, 0.001], errors: new Map([['etcdserver: request timed out', 3]]), elapsedS: 0.01 }, 150);
  t.same(errors.lines.slice(0, 2), ['FAIL: too many errors', 'FAIL: ERROR(etcdserver: request timed out) -> 3']);
  t.equal(errors.lines.at(-1), 'FAIL');
  t.same(perfReport({ latenciesS: [], errors: new Map(), elapsedS: 1 }, 150).lines[0], 'FAIL: Throughput too low: 1 writes/s', 'no answer at all');
  t.equal(perfReport({ latenciesS: Array(90).fill(0.001), errors: new Map(), elapsedS: 1 }, 100).ok, false, 'exactly 90% of the rate fails, as etcdctl');
});
