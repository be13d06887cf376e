import t from 'tap';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { Level } from 'level';
import { b, Driver, errText, rejects, s } from './helpers.js';

const COMPACTED = 'etcdserver: mvcc: required revision has been compacted';
const FUTURE = 'etcdserver: mvcc: required revision is a future revision';

/** Record keys ('r' + revision) in the store's LevelDB, as [main, sub] (store closed). */
async function records(dir: string): Promise<number[][]> {
  const name = (await readFile(join(dir, 'CURRENT'), 'utf8')).trim();
  const db = new Level<Uint8Array, Uint8Array>(join(dir, name), { keyEncoding: 'view', valueEncoding: 'view' });
  const out: number[][] = [];
  for await (const k of db.keys({ gte: Uint8Array.of(0x72), lt: Uint8Array.of(0x73) })) {
    const v = new DataView(k.buffer, k.byteOffset, k.byteLength);
    out.push([v.getUint32(5), v.getUint32(9)]);
  }
  await db.close();
  return out;
}

t.test('compaction errors and reads, as etcd', async (t) => {
  const d = await Driver.open(t);
  t.same(await d.compact(0), { header: { revision: 1 } }, 'a fresh store compacts at 0 once (etcd: compactMainRev starts at -1)');
  t.equal(errText(await d.compact(0)), COMPACTED, 'then 0 is compacted');
  t.equal(errText(await d.compact(2)), FUTURE);
  for (let i = 0; i < 5; i++) await d.put('k', `v${i}`); // 2..6
  await d.put('gone', 'x'); // 7
  await d.del('gone'); // 8
  await d.put('other', 'o'); // 9
  t.same(await d.compact(5), { header: { revision: 9 } }, 'the header holds the current revision');
  t.equal(d.store.compactedRevision(), 5);
  t.equal(d.store.currentRevision(), 9, 'compaction does not bump the revision');
  t.equal(errText(await d.compact(5)), COMPACTED, 'at the compacted revision');
  t.equal(errText(await d.compact(4)), COMPACTED, 'below it');
  t.equal(errText(await d.compact(0)), COMPACTED, 'at 0');
  t.equal(errText(await d.compact(10)), FUTURE, 'above the current revision');
  t.equal(await rejects(d.get('k', { revision: 4 })), COMPACTED, 'below the compacted revision');
  t.same(await d.kv('k', { revision: 5 }), ['k=v3'], 'exactly at the compacted revision works');
  const at5 = (await d.get('k', { revision: 5 })).kvs[0]!;
  t.same([at5.create_revision, at5.version], [2, 4], 'create and version survive compaction');
  t.same(await d.kv('k', { revision: 6 }), ['k=v4']);
  t.same(await d.kv('gone', { revision: 7 }), ['gone=x'], 'history above the compacted revision stays');
  t.equal(await rejects(d.store.events(4, 9, 100, false)), COMPACTED);
  t.same((await d.store.events(5, 9, 100, false)).map((e) => e.kv.mod_revision), [5, 6, 7, 8, 9]);

  await d.put('k', 'v5'); // 10
  const kv = (await d.get('k')).kvs[0]!;
  t.same([kv.create_revision, kv.version], [2, 6]);
  // A deleted key whose tombstone is at or below the compaction disappears from the index.
  t.same(await d.compact(9), { header: { revision: 10 } });
  t.same(await d.kv('gone', { revision: 9 }), []);
  t.equal(await rejects(d.get('gone', { revision: 7 })), COMPACTED);
  await d.store.waitCompaction(9);
  await d.reopen();
  t.equal(d.store.compactedRevision(), 9, 'the compacted revision is durable');
  t.equal(errText(await d.compact(9)), COMPACTED);
  t.same(await d.kv('k', { revision: 9 }), ['k=v4']);
  t.same((await d.get('k')).kvs.map((x) => [x.create_revision, x.version]), [[2, 6]], 'versions go on after a rebuild');
  await d.put('k', 'v6');
  t.equal((await d.get('k')).kvs[0]!.version, 7);
});

t.test('physical compaction removes exactly the unneeded records', async (t) => {
  const d = await Driver.open(t, { compactionBatchSize: 2 });
  await d.put('a', '1'); // 2
  await d.put('a', '2'); // 3
  await d.put('b', '1'); // 4
  await d.del('b'); // 5 (tombstone)
  await d.put('c', '1'); // 6
  await d.put('a', '3'); // 7
  await d.put('b', '2'); // 8 (new generation)
  const sizeBefore = d.store.dbSize();
  await d.compact(6);
  await d.store.waitCompaction(6);
  t.ok(d.store.dbSize() < sizeBefore, 'dbSize shrinks');
  await d.store.close();
  // Kept: a@3 (latest at or below 6), c@6, and everything above 6. Gone: a@2, b@4, b's tombstone @5.
  t.same(await records(d.dir), [[3, 0], [6, 0], [7, 0], [8, 0]]);
  d.store = await (await import('../../src/kv/kv-store.js')).KvStore.open(d.dir, d.opts);
  t.same(await d.kv('a', { revision: 6 }), ['a=2']);
  t.same(await d.kv('\0', { range_end: new Uint8Array([0]) }), ['a=3', 'b=2', 'c=1']);
  t.same(await d.kv('\0', { range_end: new Uint8Array([0]), revision: 6 }), ['a=2', 'c=1']);
});

t.test('an interrupted physical compaction finishes after a restart', async (t) => {
  const d = await Driver.open(t, { compactionBatchSize: 1 });
  for (let i = 0; i < 50; i++) await d.put(`k${i % 5}`, `v${i}`); // 2..51
  await d.compact(40);
  // Close at once: the background job (one record per batch, a macrotask between batches) stops
  // after its current batch, long before it is through the 39 records at or below 40.
  await d.store.close();
  t.ok((await records(d.dir)).length > 16, 'records left to remove');
  await d.reopen();
  await d.store.waitCompaction(40);
  await d.store.close();
  const recs = await records(d.dir);
  t.same(recs.filter(([m]) => m! <= 40).map(([m]) => m), [36, 37, 38, 39, 40], 'the latest revision of each key at or below 40');
  t.equal(recs.length, 5 + 11);
  d.store = await (await import('../../src/kv/kv-store.js')).KvStore.open(d.dir, d.opts);
  t.same(await d.kv('k', { range_end: b('l'), revision: 40 }), ['k0=v35', 'k1=v36', 'k2=v37', 'k3=v38', 'k4=v34']);
});

t.test('reads below a new compaction fail at once, even mid-batch', async (t) => {
  const d = await Driver.open(t);
  for (let i = 0; i < 10; i++) await d.put('x', `${i}`);
  const res = await d.applyAll([{ compaction: { revision: 8 } }, { put: { key: b('x'), value: b('after') } }]);
  t.same(res[0], { header: { revision: 11 } });
  t.equal(await rejects(d.get('x', { revision: 7 })), COMPACTED);
  t.same(await d.kv('x', { revision: 8 }), ['x=6']);
  t.equal(s((await d.get('x')).kvs[0]!.value), 'after');
});
