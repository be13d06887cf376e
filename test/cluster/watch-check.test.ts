// The watch and revision checks, and the resolution of unknown outcomes through the watchers.

import t from 'tap';
import { checkHistory } from '../../cluster-tests/checker/check.js';
import type { History } from '../../cluster-tests/checker/history.js';
import { cas, del, dev, get, hist, pev, put, watcher } from './histories.js';

const types = (h: History) => Object.keys(checkHistory(h).counts).sort();

// A small clean run: base revision 1, four writes (revisions 2..5), two watchers that saw them all.
function clean(): History {
  const ops = [
    put(0, 1, 'a', { rev: 2 }),
    put(2, 3, 'b', { rev: 3, key: 'y' }),
    get(4, 5, 'a', { rev: 3, readModRev: 2 }),
    del(6, 7, 1, { rev: 4 }),
    cas(8, 9, null, 'c', true, { rev: 5 }),
    get(10, 11, 'c', { rev: 5, readModRev: 5 }),
  ];
  const events = [pev(2, 'x', 'a', 1), pev(3, 'y', 'b', 3), dev(4, 'x', 7), pev(5, 'x', 'c', 9)];
  return hist(ops, { watchers: [watcher(1, 1, events.map((e) => ({ ...e }))), watcher(2, 1, events.map((e) => ({ ...e, at: e.at + 0.5 })))], finalRev: 5 });
}

t.test('a clean history passes every check', async (t) => {
  const r = checkHistory(clean());
  t.same(r.counts, {});
  t.equal(r.stats.watchComplete, true);
  t.equal(r.stats.watchEvents, 8);
  t.same(r.stats.byKind.put, { ok: 2, fail: 0, unknown: 0 });
});

t.test('watch order: revisions go back or repeat', async (t) => {
  const h = clean();
  h.watchers[0]!.events.splice(2, 0, pev(2, 'x', 'a', 5));
  const r = checkHistory(h);
  t.same(Object.keys(r.counts), ['watch-order']);
  t.match(r.anomalies[0]!.message, /w1 received revision 2 after revision 3/);
});

t.test('watch gap: a watcher misses an event the others saw', async (t) => {
  const h = clean();
  h.watchers[1]!.events.splice(1, 1);
  const r = checkHistory(h);
  t.same(Object.keys(r.counts), ['watch-gap']);
  t.match(r.anomalies[0]!.message, /w2 missed 1 event\(s\).*: 3/);
});

t.test('revision gap: a revision no watcher saw, with the acknowledged write that made it', async (t) => {
  const h = clean();
  for (const w of h.watchers) w.events.splice(1, 1);
  const r = checkHistory(h);
  t.same(Object.keys(r.counts).sort(), ['revision-gap']);
  t.match(r.anomalies[0]!.message, /revision 3 was seen by no watcher \(1 acknowledged write/);
  t.equal(r.stats.watchComplete, false);
  // Several in a row are one anomaly.
  const h2 = clean();
  for (const w of h2.watchers) w.events.splice(1, 2);
  t.match(checkHistory(h2).anomalies.find((a) => a.type === 'revision-gap')!.message, /revisions 3\.\.4 were/);
});

t.test('watch incomplete: a watcher short of the final revision', async (t) => {
  const h = clean();
  h.watchers[1]!.events.pop();
  const r = checkHistory(h);
  t.same(Object.keys(r.counts), ['watch-incomplete']);
  t.match(r.anomalies[0]!.message, /w2 reached revision 4, not the final revision 5/);
});

t.test('watch divergence: two watchers disagree on a revision', async (t) => {
  const h = clean();
  h.watchers[1]!.events[0] = pev(2, 'x', 'b', 1.5);
  t.ok(types(h).includes('watch-divergence'));
});

t.test('events that match no write', async (t) => {
  const phantom = clean();
  for (const w of phantom.watchers) w.events[0]!.value = 'zzz';
  t.match(checkHistory(phantom).anomalies.find((a) => a.type === 'watch-mismatch')!.message, /no operation wrote this value/);

  const wrongKey = clean();
  for (const w of wrongKey.watchers) w.events[0]!.key = 'y';
  t.match(checkHistory(wrongKey).anomalies.find((a) => a.type === 'watch-mismatch')!.message, /written to x/);

  const early = clean();
  early.ops[0]!.invoke = 1.6;
  early.ops[0]!.ret = 1.8;
  t.match(checkHistory(early).anomalies.find((a) => a.type === 'watch-mismatch')!.message, /before #\d+ that writes it was invoked/);

  const rev = clean();
  rev.ops[0]!.rev = 9;
  t.ok(checkHistory(rev).anomalies.some((a) => a.type === 'watch-mismatch' && /acknowledged at revision 9/.test(a.message)));

  const failedCas = hist([cas(0, 1, 'q', 'a', false, { read: null, rev: 1 })], { watchers: [watcher(1, 1, [pev(2, 'x', 'a', 2)])], finalRev: 2 });
  t.match(checkHistory(failedCas).anomalies.find((a) => a.type === 'watch-mismatch')!.message, /a cas that failed/);

  const failedPut = hist([put(0, 1, 'a', { status: 'fail' })], { watchers: [watcher(1, 1, [pev(2, 'x', 'a', 2)])], finalRev: 2 });
  t.match(checkHistory(failedPut).anomalies.find((a) => a.type === 'watch-mismatch')!.message, /failed/);

  const noDelete = hist([put(0, 1, 'a', { rev: 2 })], { watchers: [watcher(1, 1, [pev(2, 'x', 'a', 1), dev(3, 'x', 3)])], finalRev: 3 });
  t.match(checkHistory(noDelete).anomalies.find((a) => a.type === 'watch-mismatch')!.message, /revision 3: no delete of the history could have made it/);

  // Each unknown delete makes one event at most: two events, one unknown delete.
  const oneForTwo = hist([put(0, 1, 'a', { rev: 2 }), del(2, undefined), put(5, 6, 'b', { rev: 4 })], {
    watchers: [watcher(1, 1, [pev(2, 'x', 'a', 1), dev(3, 'x', 3), pev(4, 'x', 'b', 6), dev(5, 'x', 8)])],
    finalRev: 5,
  });
  const m1 = checkHistory(oneForTwo).anomalies.find((a) => a.type === 'watch-mismatch')!;
  t.match(m1.message, /revision 5: no delete of the history could have made it/);
  t.ok(m1.excerpt!.some((l) => /made the delete event at revision 3/.test(l)), 'the unknown delete is shown with the event it made');

  // Three events, two unknown deletes that could each have made any of them.
  const twoForThree = hist([put(0, 1, 'a', { rev: 2 }), del(1, undefined, undefined, { client: 2 }), del(1, undefined, undefined, { client: 3 }), put(5, 6, 'b', { rev: 4 }), put(9, 10, 'c', { rev: 6 })], {
    watchers: [watcher(1, 1, [pev(2, 'x', 'a', 1), dev(3, 'x', 3), pev(4, 'x', 'b', 6), dev(5, 'x', 8), pev(6, 'x', 'c', 10), dev(7, 'x', 12)])],
    finalRev: 7,
  });
  t.match(checkHistory(twoForThree).anomalies.find((a) => a.type === 'watch-mismatch')!.message, /3 delete events but only 2 unknown deletes/);

  const deleteKey = hist([put(0, 1, 'a', { rev: 2 }), put(0, 1, 'b', { rev: 3, key: 'y' }), del(2, 3, 1, { rev: 4, key: 'y' })], {
    watchers: [watcher(1, 1, [pev(2, 'x', 'a', 1), pev(3, 'y', 'b', 1), dev(4, 'x', 3)])],
    finalRev: 4,
  });
  t.ok(checkHistory(deleteKey).anomalies.some((a) => a.type === 'watch-mismatch' && /delete acknowledged at that revision was of y/.test(a.message)));

  const otherEvent = clean();
  otherEvent.ops[3]!.rev = 5; // the delete claims the cas's revision
  t.ok(checkHistory(otherEvent).anomalies.some((a) => a.type === 'watch-mismatch' && /saw another event there/.test(a.message)));
});

t.test('duplicate apply: one value at two revisions', async (t) => {
  const h = hist([put(0, 1, 'a', { rev: 2 }), put(2, undefined, 'b')], { watchers: [watcher(1, 1, [pev(2, 'x', 'a', 1), pev(3, 'x', 'b', 3), pev(4, 'x', 'b', 4)])], finalRev: 4 });
  const r = checkHistory(h);
  t.ok(r.counts['duplicate-apply']);
  t.match(r.anomalies.find((a) => a.type === 'duplicate-apply')!.message, /"b" was written at revisions 3 and 4/);
});

t.test('reads: mod_revision of the value read', async (t) => {
  const h = clean();
  h.ops[2]!.readModRev = 3;
  const r = checkHistory(h);
  t.same(Object.keys(r.counts), ['read-revision-mismatch']);
  t.match(r.anomalies[0]!.message, /mod_revision 3; it was written at revision 2/);
});

t.test('revisions against real time, across keys (a stale read on another key)', async (t) => {
  // y is written at revision 3 and acknowledged; a later read of x reports revision 2: it was served
  // from a store that had not seen revision 3 yet.
  const h = hist([put(0, 1, 'a', { rev: 2 }), put(2, 3, 'b', { rev: 3, key: 'y' }), get(4, 5, 'a', { rev: 2, readModRev: 2 })]);
  const r = checkHistory(h);
  t.same(Object.keys(r.counts), ['stale-revision'], 'linearizable per key, but not in revision order');
  t.match(r.anomalies[0]!.message, /saw revision 2, but #\d+ had already returned revision 3/);
  // A write after an acknowledged write must get a higher revision.
  t.same(types(hist([put(0, 1, 'a', { rev: 3 }), put(2, 3, 'b', { rev: 3, key: 'y' })])), ['stale-revision']);
  // Concurrent operations may come in any revision order.
  t.same(types(hist([put(0, 5, 'a', { rev: 3 }), get(1, 2, null, { rev: 2, key: 'y' })])), []);
});

t.test('unknown outcomes resolved by complete watches', async (t) => {
  // b committed (its event is there): it must take effect before the event was received, so a read
  // of the old value after that is not linearizable.
  const seen = hist([put(0, 1, 'a', { rev: 2 }), put(2, undefined, 'b'), get(6, 7, 'a', { rev: 3, readModRev: 2 })], {
    watchers: [watcher(1, 1, [pev(2, 'x', 'a', 1), pev(3, 'x', 'b', 5)])],
    finalRev: 3,
  });
  const r = checkHistory(seen);
  t.equal(r.stats.unknownCommitted, 1);
  t.ok(r.counts['not-linearizable'], 'the read of the old value after the commit is caught');
  t.ok(r.anomalies.find((a) => a.type === 'not-linearizable')!.excerpt!.some((l) => /committed at revision 3/.test(l)));

  // b never committed (no event): the same read is fine, even much later.
  const notSeen = hist([put(0, 1, 'a', { rev: 2 }), put(2, undefined, 'b'), get(60, 61, 'a', { rev: 2, readModRev: 2 })], {
    watchers: [watcher(1, 1, [pev(2, 'x', 'a', 1)])],
    finalRev: 2,
  });
  const r2 = checkHistory(notSeen);
  t.same(r2.counts, {});
  t.equal(r2.stats.unknownNotCommitted, 1);

  // A read of an uncommitted value is caught (the watch says it never happened).
  const ghost = hist([put(0, 1, 'a', { rev: 2 }), put(2, undefined, 'b'), get(60, 61, 'b', { rev: 2 })], {
    watchers: [watcher(1, 1, [pev(2, 'x', 'a', 1)])],
    finalRev: 2,
  });
  t.ok(checkHistory(ghost).counts['not-linearizable']);

  // Unknown deletes: one that made an event, one that made none.
  const dels = hist(
    [put(0, 1, 'a', { rev: 2 }), del(2, undefined), put(10, 11, 'b', { rev: 4 }), del(12, undefined, undefined, { key: 'y' }), get(13, 14, 'b', { rev: 4, readModRev: 4 })],
    { watchers: [watcher(1, 1, [pev(2, 'x', 'a', 1), dev(3, 'x', 4), pev(4, 'x', 'b', 11)])], finalRev: 4 },
  );
  const r3 = checkHistory(dels);
  t.same(r3.counts, {});
  t.equal(r3.stats.unknownCommitted, 1);
  t.equal(r3.stats.unknownNotCommitted, 1);

  // Two unknown deletes and one event: which one is not known; both stay unknown.
  const two = hist([put(0, 1, 'a', { rev: 2 }), del(2, undefined, undefined, { client: 1 }), del(2, undefined, undefined, { client: 2 }), get(10, 11, null, { rev: 3 })], {
    watchers: [watcher(1, 1, [pev(2, 'x', 'a', 1), dev(3, 'x', 4)])],
    finalRev: 3,
  });
  const r4 = checkHistory(two);
  t.same(r4.counts, {});
  t.equal(r4.stats.unknownUnresolved, 2);
});

t.test('unknown outcomes without complete watches', async (t) => {
  // Observed by a read: it happened, no later than that read returned.
  const h = hist([put(0, 1, 'a'), put(2, undefined, 'b'), get(5, 6, 'b'), get(7, 8, 'a')]);
  const r = checkHistory(h);
  t.equal(r.stats.unknownCommitted, 1);
  t.ok(r.counts['not-linearizable']);
  // Not observed: unresolved, may happen any time.
  const r2 = checkHistory(hist([put(0, 1, 'a'), put(2, undefined, 'b'), del(3, undefined), get(5, 6, 'a')]));
  t.equal(r2.stats.unknownUnresolved, 2);
  t.same(r2.counts, {});
});

t.test('anomalies of one type beyond the limit are counted, not listed', async (t) => {
  const ops = [];
  for (let i = 0; i < 8; i++) ops.push(get(i * 2, i * 2 + 1, `never${i}`, { key: `k${i}` }));
  const r = checkHistory(hist(ops), { maxPerType: 3 });
  t.equal(r.counts['read-of-unwritten-value'], 8);
  t.equal(r.anomalies.filter((a) => a.type === 'read-of-unwritten-value').length, 3);
});

t.test('a write answered with the result of another entry (the bug the everything scenario found)', async (t) => {
  // From the history of \`everything --seed 41 --heartbeat 20 --election 200\`: a member restarted;
  // a delete sent to it was answered "deleted=0 at revision 1673" (the revision of an old entry),
  // while the cluster was past revision 1928, and the delete itself took effect later (revision
  // 1966), which no other operation explains.
  const ops = [
    put(100, 110, 'a', { rev: 1673 }),
    del(120, 130, 1, { rev: 1928 }),
    del(140, 400, 0, { rev: 1673, member: 'm2', client: 2 }),
    put(150, 160, 'b', { rev: 1964 }),
    cas(300, 320, 'b', 'c', false, { read: null, rev: 1966 }),
  ];
  const events = [pev(1673, 'x', 'a', 105), dev(1928, 'x', 125), pev(1964, 'x', 'b', 155), dev(1966, 'x', 290)];
  const h = hist(ops, { baseRev: 1672, watchers: [watcher(1, 1672, events)], finalRev: 1966 });
  const r = checkHistory(h);
  t.ok(r.counts['stale-revision'], 'a write acknowledged at a revision older than one already returned');
  t.ok(r.counts['watch-mismatch'], 'a delete event that no operation explains');
  t.ok(r.counts['not-linearizable'], 'and the key is not linearizable');
  t.ok(r.counts['revision-gap'], 'revisions between the crafted ones are missing (as they would be in a cut history)');
});
