// The linearizability checker on crafted histories: what it must accept, and what it must catch
// (stale reads, lost writes, reads of values never written, unknown outcomes both ways).

import t from 'tap';
import { checkHistory } from '../../cluster-tests/checker/check.js';
import { describeOp } from '../../cluster-tests/checker/history.js';
import { checkKey, checkLinearizable, quiescentPieces } from '../../cluster-tests/checker/linearizability.js';
import { step, type LinOp } from '../../cluster-tests/checker/model.js';
import { cas, del, get, hist, linearizableHistory, put } from './histories.js';

const types = (h: ReturnType<typeof hist>) => Object.keys(checkHistory(h).counts).sort();

t.test('sequential and concurrent histories that are linearizable', async (t) => {
  t.same(types(hist([])), [], 'the empty history');
  t.same(types(hist([get(0, 1, null)])), [], 'a read of a key never written sees nothing');
  t.same(types(hist([put(0, 1, 'a'), get(2, 3, 'a'), put(4, 5, 'b'), get(6, 7, 'b')])), [], 'sequential puts and gets');
  // A read concurrent with a put may see the old or the new value.
  t.same(types(hist([put(0, 1, 'a'), put(2, 10, 'b'), get(3, 4, 'a'), get(5, 6, 'b'), get(11, 12, 'b')])), [], 'reads during a put: old, then new');
  // Two concurrent puts: the later reads decide the order.
  t.same(types(hist([put(0, 10, 'a', { client: 1 }), put(0, 10, 'b', { client: 2 }), get(11, 12, 'a')])), [], 'concurrent puts, a wins');
  t.same(types(hist([put(0, 10, 'a', { client: 1 }), put(0, 10, 'b', { client: 2 }), get(11, 12, 'b')])), [], 'concurrent puts, b wins');
  t.same(
    types(hist([put(0, 1, 'a'), cas(2, 3, 'a', 'b', true), cas(4, 5, 'a', 'c', false, { read: 'b' }), get(6, 7, 'b')])),
    [],
    'cas: success when the value matches, failure (reading the current value) when not',
  );
  t.same(types(hist([cas(0, 1, null, 'a', true), cas(2, 3, null, 'b', false, { read: 'a' })])), [], 'cas on absence (version 0)');
  t.same(
    types(hist([put(0, 1, 'a'), del(2, 3, 1), del(4, 5, 0), get(6, 7, null), put(8, 9, 'b'), get(10, 11, 'b')])),
    [],
    'delete of an existing key deletes one, of a missing key none',
  );
  t.same(types(hist([put(0, 1, 'a'), del(2, 3), get(4, 5, null)])), [], 'a delete whose count is not known');
  // Keys are independent: an order across keys is not required.
  t.same(types(hist([put(0, 10, 'a', { key: 'x' }), put(0, 10, 'b', { key: 'y' }), get(11, 12, 'a', { key: 'x' }), get(11, 12, 'b', { key: 'y' })])), []);
});

t.test('a stale read is caught', async (t) => {
  const h = hist([put(0, 1, 'a'), put(2, 3, 'b'), get(4, 5, 'a')]);
  const r = checkHistory(h);
  t.equal(r.counts['not-linearizable'], 1);
  const a = r.anomalies.find((x) => x.type === 'not-linearizable')!;
  t.equal(a.key, 'x');
  t.match(a.message, /no linearization/);
  t.ok(a.excerpt!.some((l) => l.startsWith('> ') && l.includes('get(x)')), 'the stale read is the op marked in the excerpt');
});

t.test('a lost write is caught', async (t) => {
  // An acknowledged put, then a read that does not see it (nothing else wrote).
  t.same(types(hist([put(0, 1, 'a'), get(2, 3, null)])), ['not-linearizable']);
  // An acknowledged cas that a later read does not see.
  t.same(types(hist([put(0, 1, 'a'), cas(2, 3, 'a', 'b', true), get(4, 5, 'a')])), ['not-linearizable']);
  // An acknowledged delete that a later read does not see.
  t.same(types(hist([put(0, 1, 'a'), del(2, 3, 1), get(4, 5, 'a')])), ['not-linearizable']);
});

t.test('a read of a value never written is caught', async (t) => {
  const r = checkHistory(hist([put(0, 1, 'a'), get(2, 3, 'zzz')]));
  t.same(Object.keys(r.counts).sort(), ['not-linearizable', 'read-of-unwritten-value']);
  t.match(r.anomalies.find((a) => a.type === 'read-of-unwritten-value')!.message, /never written/);
  // A value written to another key does not count for this one.
  const r2 = checkHistory(hist([put(0, 1, 'a', { key: 'y' }), get(2, 3, 'a', { key: 'x' })]));
  t.match(r2.anomalies.find((a) => a.type === 'read-of-unwritten-value')!.message, /written to y/);
});

t.test('a read of a value before its write was invoked is caught', async (t) => {
  t.same(types(hist([get(0, 1, 'a'), put(2, 3, 'a')])), ['not-linearizable']);
});

t.test('wrong results of cas and delete are caught', async (t) => {
  t.same(types(hist([put(0, 1, 'a'), put(0, 1, 'b', { key: 'y' }), cas(2, 3, 'b', 'c', true)])), ['not-linearizable', 'read-of-unwritten-value'], 'a cas that succeeds although the value differs');
  t.same(types(hist([put(0, 1, 'a'), put(2, 3, 'b'), put(4, 5, 'd'), cas(6, 7, 'b', 'c', true)])), ['not-linearizable'], 'a cas that succeeds on an overwritten value');
  t.same(types(hist([put(0, 1, 'a'), cas(2, 3, 'a', 'c', false, { read: 'a' })])), ['not-linearizable'], 'a cas that fails although the value matches');
  t.same(types(hist([put(0, 1, 'a'), put(2, 3, 'b'), cas(4, 5, 'z', 'c', false, { read: 'a' })])), ['not-linearizable'], 'a failed cas that reads a stale value');
  t.same(types(hist([del(0, 1, 1)])), ['not-linearizable'], 'a delete that deletes a key that does not exist');
  t.same(types(hist([put(0, 1, 'a'), del(2, 3, 0)])), ['not-linearizable'], 'a delete that finds nothing where a key exists');
});

t.test('unknown outcomes: a write that may or may not have happened', async (t) => {
  // It happened: a later read sees it.
  t.same(types(hist([put(0, 1, 'a'), put(2, undefined, 'b'), get(5, 6, 'b')])), [], 'an unknown put that a read saw');
  // It did not happen (or not yet): later reads see the old value.
  t.same(types(hist([put(0, 1, 'a'), put(2, undefined, 'b'), get(5, 6, 'a'), get(7, 8, 'a')])), [], 'an unknown put nobody saw');
  // It happened late: first the old value, then the new one.
  t.same(types(hist([put(0, 1, 'a'), put(2, undefined, 'b'), get(5, 6, 'a'), get(7, 8, 'b')])), [], 'an unknown put that took effect late');
  // Once seen, it cannot be undone.
  t.same(types(hist([put(0, 1, 'a'), put(2, undefined, 'b'), get(5, 6, 'b'), get(7, 8, 'a')])), ['not-linearizable'], 'an unknown put seen, then unseen');
  // It cannot take effect before it was invoked.
  t.same(types(hist([put(0, 1, 'a'), get(2, 3, 'b'), put(4, undefined, 'b')])), ['not-linearizable'], 'an unknown put seen before its invocation');
  // Unknown cas: either branch, or not at all.
  t.same(types(hist([put(0, 1, 'a'), cas(2, undefined, 'a', 'b'), get(5, 6, 'b')])), [], 'an unknown cas that succeeded');
  t.same(types(hist([put(0, 1, 'a'), cas(2, undefined, 'a', 'b'), get(5, 6, 'a')])), [], 'an unknown cas that did not');
  t.same(types(hist([put(0, 1, 'a'), cas(2, undefined, 'z', 'b'), get(5, 6, 'b')])), ['not-linearizable'], 'an unknown cas whose compare could not hold, seen to succeed');
  // Unknown delete.
  t.same(types(hist([put(0, 1, 'a'), del(2, undefined), get(5, 6, null)])), [], 'an unknown delete that happened');
  t.same(types(hist([put(0, 1, 'a'), del(2, undefined), get(5, 6, 'a')])), [], 'an unknown delete that did not');
  t.same(types(hist([put(0, 1, 'a'), del(2, undefined), get(5, 6, null), get(7, 8, 'a')])), ['not-linearizable'], 'an unknown delete seen, then unseen');
  // Two unknown writes and reads that need both, in one order.
  t.same(types(hist([put(0, undefined, 'a', { client: 1 }), put(0, undefined, 'b', { client: 2 }), get(5, 6, 'b'), get(7, 8, 'a')])), [], 'two unknown puts, b then a');
  t.same(
    types(hist([put(0, undefined, 'a', { client: 1 }), put(0, undefined, 'b', { client: 2 }), get(5, 6, 'b'), get(7, 8, 'a'), get(9, 10, 'b')])),
    ['not-linearizable'],
    'two unknown puts cannot explain b, a, b',
  );
  // Failed operations are left out.
  t.same(types(hist([put(0, 1, 'a'), put(2, 3, 'b', { status: 'fail' }), get(4, 5, 'a'), get(6, 7, 'zz', { status: 'fail' })])), []);
  // Unknown reads say nothing.
  t.same(types(hist([put(0, 1, 'a'), get(2, 3, 'q', { status: 'unknown', ret: undefined })])), []);
});

t.test('the model', async (t) => {
  const base: LinOp = { id: 1, kind: 'get', key: 'x', call: 0, ret: 1, outcome: 'ok' };
  t.same(step('a', { ...base, read: 'a' }), ['a']);
  t.same(step('a', { ...base, read: 'b' }), []);
  t.same(step('a', { ...base, outcome: 'unknown' }), ['a']);
  t.same(step('a', { ...base, kind: 'put', value: 'b' }), ['b']);
  t.same(step('a', { ...base, kind: 'put', value: 'b', outcome: 'unknown' }), ['b', 'a']);
  t.same(step('b', { ...base, kind: 'put', value: 'b', outcome: 'unknown' }), ['b']);
  t.same(step(null, { ...base, kind: 'delete', outcome: 'unknown' }), [null]);
  t.same(step('a', { ...base, kind: 'delete', outcome: 'unknown' }), [null, 'a']);
  t.same(step('a', { ...base, kind: 'cas', expect: 'a', value: 'b', outcome: 'unknown' }), ['b', 'a']);
  t.same(step('z', { ...base, kind: 'cas', expect: 'a', value: 'b', outcome: 'unknown' }), ['z']);
  t.same(step(null, { ...base, kind: 'cas', expect: null, value: 'b', succeeded: true }), ['b']);
  t.same(step('a', { ...base, kind: 'cas', expect: 'q', value: 'b', succeeded: false }), ['a'], 'a failed cas without a read value');
});

t.test('quiescent pieces', async (t) => {
  const mk = (id: number, call: number, ret: number): LinOp => ({ id, kind: 'get', key: 'x', call, ret, outcome: 'ok', read: null });
  const pieces = quiescentPieces([mk(1, 0, 2), mk(2, 1, 3), mk(3, 4, 5), mk(4, 6, Infinity), mk(5, 7, 8)]);
  t.same(pieces.map((p) => p.map((o) => o.id)), [[1, 2], [3], [4, 5]]);
  t.same(quiescentPieces([]), []);
});

t.test('the search carries every possible state from one piece to the next', async (t) => {
  // Two concurrent puts end the first piece in either state; the reads later decide.
  const ops = [put(0, 5, 'a', { client: 1 }), put(0, 5, 'b', { client: 2 }), get(10, 11, 'a'), get(12, 13, 'a')];
  t.same(types(hist(ops)), []);
  const bad = [put(0, 5, 'a', { client: 1 }), put(0, 5, 'b', { client: 2 }), get(10, 11, 'a'), get(12, 13, 'b')];
  t.same(types(hist(bad)), ['not-linearizable']);
});

t.test('a search that is too large gives up as inconclusive', async (t) => {
  // Many concurrent puts, and a concurrent read that none of them explains.
  const ops = [put(0, 1, 'a')];
  for (let i = 0; i < 14; i++) ops.push(put(2, 40, `u${i}`, { client: i + 2 }));
  ops.push(get(3, 41, 'a2', { client: 99 }), put(0, 1, 'a2', { key: 'y' }));
  const r = checkHistory(hist(ops), { maxConfigurations: 500 });
  t.equal(r.counts.inconclusive, 1);
  const k = checkKey('x', [], {});
  t.ok(k.ok, 'an empty key is linearizable');
});

t.test('random linearizable histories pass; a corrupted read is caught', async (t) => {
  for (let seed = 1; seed <= 30; seed++) {
    const h = linearizableHistory(seed, 400, 6, 2, 0.05);
    const r = checkHistory(h);
    if (Object.keys(r.counts).length > 0) {
      t.fail(`seed ${seed}: ${JSON.stringify(r.counts)}\n${r.anomalies.map((a) => `${a.message}\n${(a.excerpt ?? []).join('\n')}`).join('\n')}`);
      break;
    }
    // The same history without its watch (unknowns stay unknown) is linearizable too.
    const noWatch = checkHistory({ ...h, watchers: [], finalRev: undefined });
    t.notOk(noWatch.counts['not-linearizable'], `seed ${seed}: linearizable without the watch`);

    // A stale read: a get returns a value overwritten by a put that completed before the get began.
    const gets = h.ops.filter((o) => o.kind === 'get' && o.status === 'ok');
    let corrupted = false;
    for (const g of gets) {
      const older = h.ops.find(
        (w1) =>
          w1.kind === 'put' && w1.status === 'ok' && w1.key === g.key && w1.value !== g.read &&
          h.ops.some((w2) => w2 !== w1 && w2.kind !== 'get' && w2.status === 'ok' && w2.key === g.key && (w2.kind !== 'cas' || w2.succeeded) && (w2.kind !== 'delete' || w2.deleted) && w1.ret! < w2.invoke && w2.ret! < g.invoke),
      );
      if (!older) continue;
      const copy = structuredClone(h);
      const g2 = copy.ops.find((o) => o.id === g.id)!;
      g2.read = older.value!;
      delete g2.readModRev;
      t.ok(checkHistory({ ...copy, watchers: [], finalRev: undefined }).counts['not-linearizable'], `seed ${seed}: stale read #${g.id} caught`);
      corrupted = true;
      break;
    }
    t.ok(corrupted || gets.length === 0, `seed ${seed}: a stale read could be made`);
  }
});

t.test('a long history is checked quickly (pieces keep the search small)', async (t) => {
  const h = linearizableHistory(99, 20000, 8, 4, 0.02);
  const start = performance.now();
  const r = checkHistory(h);
  t.same(r.counts, {});
  t.ok(performance.now() - start < 10000, `checked in ${(performance.now() - start).toFixed(0)} ms`);
  const keys = checkLinearizable(
    h.ops.filter((o) => o.status === 'ok').map((o) => ({ id: o.id, kind: o.kind, key: o.key, call: o.invoke, ret: o.ret!, outcome: 'ok' as const, value: o.value, expect: o.expect, read: o.read, deleted: o.deleted, succeeded: o.succeeded })),
  );
  t.equal(keys.length, 4);
});

t.test('describeOp renders every kind and outcome', async (t) => {
  t.match(describeOp(put(0, 1, 'a', { rev: 2, member: 'm1' })), /put\(x, "a"\) -> ok rev=2 \(m1\)/);
  t.match(describeOp(get(0, 1, null)), /get\(x\) -> nil/);
  t.match(describeOp(get(0, 1, 'a', { readModRev: 3 })), /-> "a" @3/);
  t.match(describeOp(del(0, 1, 1)), /delete\(x\) -> deleted=1/);
  t.match(describeOp(cas(0, 1, null, 'b', true)), /cas\(x, nil -> "b"\) -> succeeded/);
  t.match(describeOp(cas(0, 1, 'a', 'b', false, { read: 'c' })), /failed, found "c"/);
  t.match(describeOp(put(0, undefined, 'a', { error: 'timeout' })), /∞.*unknown \(timeout\)/);
  t.match(describeOp(put(0, 1, 'a', { status: 'fail', error: 'ECONNREFUSED' })), /fail \(ECONNREFUSED\)/);
  t.match(describeOp(put(0, 1, 'a', { status: 'fail' })), /-> fail$/);
  t.match(describeOp(put(0, undefined, 'a')), /-> unknown$/);
  t.match(describeOp(cas(0, 1, 'a', 'b', false)), /found \?/);
});

t.test('a value written twice is a bug of the workload, not of the server', async (t) => {
  t.throws(() => checkHistory(hist([put(0, 1, 'a'), put(2, 3, 'a')])), /written by/);
});
