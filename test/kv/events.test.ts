// The watch source: events() history and the onApplied feed.
import t from 'tap';
import { EventType, type Event } from '../../src/kv/api.js';
import { EMPTY_BYTES } from '../../src/kv/bytes.js';
import { b, coldValues, Driver, entry, rejects, s } from './helpers.js';

const show = (e: Event) =>
  `${e.type === EventType.PUT ? 'PUT' : 'DEL'} ${s(e.kv.key)}=${s(e.kv.value)}@${e.kv.mod_revision}` +
  (e.prev_kv ? ` prev=${s(e.prev_kv.value)}@${e.prev_kv.mod_revision}` : '');

async function sample(d: Driver): Promise<void> {
  await d.put('a', '1'); // 2
  await d.put('b', '1'); // 3
  await d.put('a', '2'); // 4
  await d.txn({ success: [{ request_put: { key: b('c'), value: b('1') } }, { request_put: { key: b('a'), value: b('3') } }, { request_delete_range: { key: b('b') } }] }); // 5
  await d.del('a'); // 6
  await d.put('a', 'new'); // 7
}

t.test('events(): shapes, prev_kv, ranges of revisions', async (t) => {
  const d = await Driver.open(t);
  await sample(d);
  const all = await d.store.events(1, 100, 1000, true);
  t.same(all.map(show), [
    'PUT a=1@2',
    'PUT b=1@3',
    'PUT a=2@4 prev=1@2',
    'PUT c=1@5',
    'PUT a=3@5 prev=2@4',
    'DEL b=@5 prev=1@3',
    'DEL a=@6 prev=3@5',
    'PUT a=new@7',
  ]);
  const del = all[6]!;
  t.same(del.kv, { key: b('a'), create_revision: 0, mod_revision: 6, version: 0, value: EMPTY_BYTES, lease: 0n }, 'a DELETE kv holds only key and mod_revision');
  t.same([all[4]!.kv.create_revision, all[4]!.kv.version], [2, 3], 'PUT kvs are whole');
  const bare = await d.store.events(4, 6, 1000, false);
  t.same(bare.map(show), ['PUT a=2@4', 'PUT c=1@5', 'PUT a=3@5', 'DEL b=@5', 'DEL a=@6'], 'no prev_kv unless asked');
  t.ok(bare.every((e) => !('prev_kv' in e)));
  // Whole revisions: the limit is reached inside revision 5, which still comes complete.
  t.same((await d.store.events(2, 7, 3, false)).map((e) => e.kv.mod_revision), [2, 3, 4]);
  t.same((await d.store.events(4, 7, 2, false)).map((e) => e.kv.mod_revision), [4, 5, 5, 5]);
  t.same((await d.store.events(5, 7, 1, false)).map((e) => e.kv.mod_revision), [5, 5, 5]);
  t.same(await d.store.events(8, 20, 10, false), [], 'after the current revision');
  t.same((await d.store.events(7, 1e9, 10, false)).length, 1, 'to is clipped');
  t.same(await d.store.events(5, 4, 10, false), [], 'from > to');
  // Still the same from LevelDB after a restart.
  await d.reopen();
  t.same((await d.store.events(0, 100, 1000, true)).map(show), all.map(show));
});

t.test('onApplied: once per apply batch, events in order, prev_kv whenever the value is in memory', async (t) => {
  const d = await Driver.open(t);
  const got: { evs: string[]; rev: number }[] = [];
  const off = d.store.onApplied((evs, rev) => got.push({ evs: evs.map(show), rev }));
  await d.grant(3n, 60);
  await d.applyAll([
    { put: { key: b('a'), value: b('1'), lease: 3n } },
    { put: { key: b('a'), value: b('2'), lease: 3n } },
    { put: { key: b('b'), value: b('x'), lease: 3n } },
    { delete_range: { key: b('nothing') } },
    { put: { key: b('a'), value: b('3'), ignore_value: true } }, // valueProvided: an error, no event
  ]);
  await d.revoke(3n);
  await d.store.apply([{ index: ++d.index, term: 1, kind: 'noop', data: new Uint8Array(0) }]);
  off();
  await d.put('z', 'unseen');
  t.same(got, [
    { evs: [], rev: 1 },
    { evs: ['PUT a=1@2', 'PUT a=2@3 prev=1@2', 'PUT b=x@4'], rev: 4 },
    { evs: coldValues() ? ['DEL a=@5', 'DEL b=@5'] : ['DEL a=@5 prev=2@3', 'DEL b=@5 prev=x@4'], rev: 5 },
    { evs: [], rev: 5 },
  ]);
});

t.test('events() stays consistent while batches are applied', async (t) => {
  const d = await Driver.open(t);
  // The feed and the history agree for every batch, read from inside the listener.
  const checks: Promise<void>[] = [];
  d.store.onApplied((evs, rev) => {
    if (evs.length === 0) return;
    const from = evs[0]!.kv.mod_revision;
    checks.push(
      d.store.events(from, rev, 1e9, true).then((hist) => {
        t.same(hist.map(show), evs.map(show), `revisions ${from}..${rev}`);
      }),
    );
  });
  for (let i = 0; i < 5; i++) {
    await d.applyAll(Array.from({ length: 20 }, (_, j) => ({ put: { key: b(`k${j % 4}`), value: b(`${i}.${j}`) } })));
  }
  await Promise.all(checks);
  t.equal(checks.length, 5);
});

t.test('events() below the compacted revision is an error', async (t) => {
  const d = await Driver.open(t);
  await sample(d);
  await d.compact(5);
  t.match(await rejects(d.store.events(4, 7, 10, false)), /compacted/);
  // prev_kv of the first event after the compaction comes from the kept record.
  t.same((await d.store.events(6, 7, 10, true)).map(show), ['DEL a=@6 prev=3@5', 'PUT a=new@7']);
  t.equal(d.store.compactedRevision(), 5);
});

t.test('a store reopened with unwritten entries applies them again from the log', async (t) => {
  const d = await Driver.open(t);
  const e1 = entry(1, { put: { key: b('a'), value: b('1') } });
  await d.store.apply([e1]);
  const seen: string[] = [];
  await d.reopen();
  d.store.onApplied((evs) => seen.push(...evs.map(show)));
  await d.store.apply([e1, entry(2, { put: { key: b('a'), value: b('2') } })]);
  t.same(seen, ['PUT a=2@3 prev=1@2'], 'the replayed entry produces no event');
});
