// HashKV: members that applied the same history agree on the hash, whatever their physical
// compaction did, and any difference in the history shows.
import t from 'tap';
import { HistoryHasher } from '../../src/kv/history-hash.js';
import { encodeRecord, encodeTombstone } from '../../src/kv/record-codec.js';
import { revKey } from '../../src/kv/revision.js';
import { b, Driver, rejects } from './helpers.js';

const COMPACTED = 'etcdserver: mvcc: required revision has been compacted';
const FUTURE = 'etcdserver: mvcc: required revision is a future revision';

/** The same requests on every store: puts, a txn with two writes, deletes, a re-created key. */
async function history(d: Driver): Promise<void> {
  await d.put('a', '1'); // 2
  await d.put('b', '1'); // 3
  await d.put('a', '2'); // 4
  await d.txn({ success: [{ request_put: { key: b('c'), value: b('1') } }, { request_delete_range: { key: b('b') } }] }); // 5
  await d.put('b', '2'); // 6
  await d.del('c'); // 7
  await d.put('a', '3', { lease: 0n }); // 8
}

t.test('two stores with the same history agree; a different value, key or revision shows', async (t) => {
  const x = await Driver.open(t);
  const y = await Driver.open(t);
  await history(x);
  await history(y);
  const hx = await x.store.hashKV(0);
  t.same(await y.store.hashKV(0), hx, 'the same hash, revision and compacted revision');
  t.equal(hx.revision, 8);
  t.equal(hx.compactRevision, -1, 'nothing compacted: -1, as etcd');
  t.not(hx.hash, 0);

  const z = await Driver.open(t);
  await history(z);
  await z.put('a', '4');
  t.not((await z.store.hashKV(0)).hash, hx.hash, 'one more revision');
  t.equal((await z.store.hashKV(8)).hash, hx.hash, 'up to revision 8 it is the same history');
  t.not((await z.store.hashKV(7)).hash, hx.hash, 'and revision 7 is another');

  const w = await Driver.open(t);
  await w.put('a', '1');
  await w.put('b', '1');
  await w.put('a', '2');
  await w.txn({ success: [{ request_put: { key: b('c'), value: b('1') } }, { request_delete_range: { key: b('b') } }] });
  await w.put('b', '2');
  await w.del('c');
  await w.put('a', 'X'); // revision 8 with another value
  t.equal((await w.store.hashKV(7)).hash, (await x.store.hashKV(7)).hash);
  t.not((await w.store.hashKV(8)).hash, hx.hash, 'one value differs');
});

t.test('revisions at or below the compacted one and above the current one are refused, as etcd', async (t) => {
  const d = await Driver.open(t);
  await history(d);
  t.equal(await rejects(d.store.hashKV(9)), FUTURE);
  await d.compact(5);
  t.equal(await rejects(d.store.hashKV(5)), COMPACTED, 'at the compacted revision');
  t.equal(await rejects(d.store.hashKV(3)), COMPACTED, 'below it');
  const r = await d.store.hashKV(6);
  t.equal(r.compactRevision, 5);
  t.equal(r.revision, 8, 'the current revision, whatever revision was hashed');
});

t.test('after a compaction the hash does not depend on how far the physical compaction got', async (t) => {
  const full = await Driver.open(t, { compactionBatchSize: 1 });
  const done = await Driver.open(t);
  await history(full);
  await history(done);
  await full.compact(6);
  await done.compact(6);
  // `full` is hashed at once (its compactor removes one record per batch meanwhile), `done` after
  // its records below the compaction are gone.
  const early = await full.store.hashKV(0);
  await done.store.waitCompaction(6);
  t.same(await done.store.hashKV(0), early);
  await full.store.waitCompaction(6);
  t.same(await full.store.hashKV(0), early);

  const restored = await Driver.open(t);
  await restored.store.restore(await full.store.snapshot(), full.index);
  t.same(await restored.store.hashKV(0), early, 'a member restored from a snapshot agrees');

  const plain = await Driver.open(t);
  await history(plain);
  t.not((await plain.store.hashKV(0)).hash, early.hash, 'the compaction changed the hash (as etcd: the removed revisions no longer count)');
});

t.test('the hasher: the records a compaction keeps, and only those, count below it', async (t) => {
  // Revisions 2..7: k put, k put, j put, k delete, j put, j delete; compacted at 5.
  const rec = (main: number, key: string, value?: string): [number, Uint8Array, Uint8Array] => [
    main,
    revKey(main, 0),
    value === undefined ? encodeTombstone(b(key)) : encodeRecord({ key: b(key), create_revision: 2, mod_revision: main, version: 1, value: b(value), lease: 0n }),
  ];
  const all = [rec(2, 'k', '1'), rec(3, 'k', '2'), rec(4, 'j', '1'), rec(5, 'k'), rec(6, 'j', '2'), rec(7, 'j')];
  const hashOf = (records: [number, Uint8Array, Uint8Array][], compactMain: number): number => {
    const h = new HistoryHasher(compactMain);
    for (const r of [...records].reverse()) h.add(...r);
    return h.finish();
  };
  // At 5 compaction keeps j@4 (j's latest at or below 5, a put) and nothing of k (a tombstone).
  const kept = [rec(4, 'j', '1'), rec(6, 'j', '2'), rec(7, 'j')];
  t.equal(hashOf(all, 5), hashOf(kept, 5), 'every record compaction removes is left out');
  t.equal(hashOf(all.filter((r) => r[0] !== 2), 5), hashOf(kept, 5), 'a compaction half done (in revision order) gives the same');
  t.not(hashOf(all.filter((r) => r[0] !== 4), 5), hashOf(kept, 5), 'a kept record missing shows');
  t.not(hashOf(all, -1), hashOf(kept, -1), 'without the compaction every record counts');
});
