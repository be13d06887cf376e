// The value cache: the budget holds after evict(), a key read since the hand last passed gets a
// second turn, deleted keys leave the ring, holds defer evictions; and a store with a small budget
// keeps to it while every read, reopen and txn still sees every value.
import t from 'tap';
import { KeyIndex } from '../../src/kv/key-index.js';
import { ValueCache, valueCost } from '../../src/kv/value-cache.js';
import type { PutResponse, RangeResponse, TxnResponse } from '../../src/kv/api.js';
import { CompareResult, CompareTarget } from '../../src/kv/api.js';
import { b, Driver, s } from './helpers.js';

function liveKey(name: string, rev: number): KeyIndex {
  const ki = new KeyIndex(name);
  ki.put(rev, 0, 0n);
  return ki;
}

t.test('evicts the oldest values down to the budget; a read value gets a second turn', async (t) => {
  const v = 'x'.repeat(100);
  const cache = new ValueCache(3 * valueCost(v));
  const kis = ['a', 'b', 'c', 'd', 'e'].map((n, i) => liveKey(n, i + 2));
  for (const ki of kis) cache.set(ki, v);
  t.equal(cache.bytes, 5 * valueCost(v), 'set counts every value');
  kis[0]!.live(); // a is read: marked
  t.ok(cache.holdsAll(), 'nothing evicted yet: every value is in memory');
  cache.evict();
  t.same([cache.evictions, cache.holdsAll()], [2, false], 'two evicted: applies must look for missing values from now on');
  t.equal(cache.bytes, 3 * valueCost(v), 'within the budget after evict()');
  t.same(
    kis.map((ki) => ki.hasValue()),
    [true, false, false, true, true],
    'b and c (oldest, not read) went; a (read) stayed',
  );
  t.equal(kis[0]!.cache, 1, "a's mark was used up");
  cache.set(kis[1]!, v); // b read back from disk
  cache.evict();
  t.same(
    kis.map((ki) => ki.hasValue()),
    [true, true, false, false, true],
    'next turn: d, now the oldest unmarked, goes',
  );
});

t.test('a key written again gets a second turn, as a read one does', async (t) => {
  const v = 'y'.repeat(50);
  const cache = new ValueCache(2 * valueCost(v));
  const kis = ['a', 'b', 'c', 'd'].map((n, i) => liveKey(n, i + 2));
  for (const ki of kis) cache.set(ki, v);
  t.equal(kis[0]!.cache, 1, 'a first value enters the ring unmarked');
  cache.set(kis[0]!, v); // a is put again
  t.equal(kis[0]!.cache, 2, 'a second value marks the key');
  t.equal(cache.ringLength, 4, 'still one ring slot per key');
  cache.evict();
  t.same(
    kis.map((ki) => ki.hasValue()),
    [true, false, false, true],
    'b and c (oldest, untouched) went; a (written again) stayed',
  );
  const unbounded = new ValueCache(Infinity);
  const k = liveKey('k', 9);
  unbounded.set(k, v);
  unbounded.set(k, v);
  t.same([k.cache, unbounded.ringLength], [0, 0], 'an unbounded cache keeps no ring and no marks');
});

t.test('replacing and dropping values keeps the count exact; dropped keys leave the ring', async (t) => {
  const cache = new ValueCache(0);
  const ki = liveKey('k', 2);
  cache.hold();
  cache.set(ki, 'abc');
  cache.set(ki, 'abcdef');
  t.equal(cache.bytes, valueCost('abcdef'), 'a new value replaces the old one in the count');
  t.equal(cache.ringLength, 1, 'one ring slot per key');
  cache.evict();
  t.ok(ki.hasValue(), 'held: nothing is evicted');
  ki.tombstone(3, 0);
  cache.drop(ki);
  t.equal(cache.bytes, 0, 'a dropped value leaves the count');
  cache.release();
  cache.evict();
  t.equal(cache.ringLength, 1, 'within budget: the hand did not move');
  const other = liveKey('o', 4);
  cache.set(other, 'v');
  cache.evict();
  t.same([cache.ringLength, cache.bytes, other.hasValue(), ki.cache], [0, 0, false, 0], "the hand passed both: the deleted key's slot is gone");
});

t.test('an unbounded cache keeps no ring', async (t) => {
  const cache = new ValueCache(Infinity);
  const ki = liveKey('k', 2);
  cache.set(ki, 'v');
  cache.evict();
  t.same([cache.ringLength, ki.cache, ki.hasValue()], [0, 0, true]);
});

t.test('the ring is trimmed as the hand moves on (long runs stay in bounded memory)', async (t) => {
  const cache = new ValueCache(10 * valueCost('v'));
  for (let i = 0; i < 20_000; i++) {
    cache.set(liveKey(`k${i}`, i + 2), 'v');
    cache.evict();
  }
  t.equal(cache.bytes, 10 * valueCost('v'));
  t.ok(cache.ringLength < 3000, `ring slots: ${cache.ringLength}`);
});

t.test('a store over its budget: every value readable, the budget kept, after a reopen too', async (t) => {
  const budget = 20 * valueCost('v'.repeat(200));
  const d = await Driver.open(t, { valueCacheBytes: budget });
  const value = (i: number) => `${i}:`.padEnd(200, 'v');
  const keys = 300;
  for (let i = 0; i < keys; i += 50) {
    await d.applyAll(Array.from({ length: 50 }, (_, j) => ({ put: { key: b(`key/${String(i + j).padStart(4, '0')}`), value: b(value(i + j)) } })));
  }
  let stats = d.store.valueCacheStats();
  t.ok(stats.bytes <= budget, `after the writes: ${stats.bytes} <= ${budget} bytes in memory`);
  t.equal(stats.liveKeys, keys);
  const all = await d.store.range({ key: b('key/'), range_end: b('key0') });
  t.equal(all.kvs.length, keys, 'a range over every key');
  t.ok(
    all.kvs.every((kv, i) => s(kv.value) === value(i)),
    'each with its own value, read from LevelDB where not in memory',
  );
  stats = d.store.valueCacheStats();
  t.ok(stats.bytes <= budget, `after the range: ${stats.bytes} bytes`);

  // prev_kv of a key whose value is on disk only, and a compare on it.
  const first = b('key/0000');
  const put = (await d.req<PutResponse>({ put: { key: first, value: b('new'), prev_kv: true } })) as PutResponse;
  t.equal(s(put.prev_kv?.value), value(0), 'prev_kv of a put comes back from disk');
  const txn = (await d.req<TxnResponse>({
    txn: {
      compare: [{ key: b('key/0001'), target: CompareTarget.VALUE, result: CompareResult.EQUAL, value: b(value(1)) }],
      success: [{ request_range: { key: b('key/0002') } }],
      failure: [],
    },
  })) as TxnResponse;
  t.equal(txn.succeeded, true, 'a compare on a value held only on disk');
  const r0 = txn.responses[0]!;
  t.equal('response_range' in r0 ? s((r0.response_range as RangeResponse).kvs[0]!.value) : undefined, value(2), "a txn's range of such a value");

  await d.reopen();
  stats = d.store.valueCacheStats();
  t.ok(stats.bytes <= budget, `after a reopen: ${stats.bytes} bytes`);
  t.equal(stats.liveKeys, keys);
  const again = await d.store.range({ key: b('key/'), range_end: b('key0'), limit: 3 });
  t.same(
    again.kvs.map((kv) => s(kv.value)),
    ['new', value(1), value(2)],
    'reads after the reopen',
  );
  t.equal(again.count, keys);
});

t.test('a cold read whose record a compaction removes meanwhile reads again, at the newer revision', async (t) => {
  const d = await Driver.open(t, { valueCacheBytes: 0 });
  await d.applyAll([{ put: { key: b('k'), value: b('old') } }, { put: { key: b('other'), value: b('x') } }]);
  await d.store.persist(); // the records are in LevelDB: the read below fetches from there
  const db = (d.store as unknown as { db: { getMany: (keys: Uint8Array[]) => Promise<unknown[]> } }).db;
  const getMany = db.getMany.bind(db);
  let newRev = 0;
  let raced = false;
  db.getMany = async (keys) => {
    if (!raced) {
      raced = true; // once: the put below reads k's old value through here too (its prev_kv)
      // Between the read's index walk and its fetch: k is written again, and a compaction at
      // that revision removes k's old record from LevelDB.
      const put = (await d.req<PutResponse>({ put: { key: b('k'), value: b('new') } })) as PutResponse;
      newRev = put.header.revision ?? 0;
      await d.compact(newRev);
      await d.store.persist();
      await d.store.waitCompaction(newRev);
    }
    return getMany(keys);
  };
  const r = await d.store.range({ key: b('k') });
  t.ok(raced && newRev > 0, 'the race happened');
  t.equal(s(r.kvs[0]?.value), 'new', 'the read was done again and found the new value');
  t.equal(r.header.revision, newRev, 'and says the revision it read at');
});
