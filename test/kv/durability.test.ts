// Exactly-once apply across restarts, snapshots and restore.
import t from 'tap';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Event, RangeResponse } from '../../src/kv/api.js';
import { KvStore } from '../../src/kv/kv-store.js';
import { openDataDir } from '../../src/kv/data-dir.js';
import { decodeNumber, META } from '../../src/kv/record-codec.js';
import { revKey } from '../../src/kv/revision.js';
import type { InternalRequest } from '../../src/kv/request-codec.js';
import { b, Driver, entry, errText, rejects, s, silent, tempDir } from './helpers.js';

const ALL = { key: new Uint8Array([0]), range_end: new Uint8Array([0]) };

t.test('exactly once: entries at or below the applied index are skipped, also after a restart', async (t) => {
  const d = await Driver.open(t);
  const reqs: InternalRequest[] = [
    { put: { key: b('a'), value: b('1') } },
    { put: { key: b('a'), value: b('2') } },
    { delete_range: { key: b('zz') } },
    { lease_grant: { ID: 5n, TTL: 60 } },
    { put: { key: b('b'), value: b('1'), lease: 5n } },
  ];
  const entries = reqs.map((r, i) => entry(i + 1, r));
  const first = await d.store.apply(entries);
  t.equal(first.length, 5);
  t.same(first[0], { header: { revision: 2 } });
  t.equal(d.store.appliedIndex(), 5);
  t.equal(d.store.currentRevision(), 4);
  await d.reopen();
  t.equal(d.store.appliedIndex(), 5);
  const again = await d.store.apply(entries);
  t.same(again, [undefined, undefined, undefined, undefined, undefined], 'already applied: no results, no effects');
  t.equal(d.store.currentRevision(), 4);
  t.equal((await d.get('a')).kvs[0]!.version, 2);
  t.same(d.store.leases(), [5n]);

  // An overlapping batch: 4..7, where 4 and 5 are already applied.
  const more = [
    entries[3]!,
    entries[4]!,
    entry(6, { put: { key: b('c'), value: b('1') } }),
    { index: 7, term: 2, kind: 'noop' as const, data: new Uint8Array(0) },
    { index: 8, term: 2, kind: 'conf' as const, data: new Uint8Array(0) },
  ];
  const res = await d.store.apply(more);
  t.same(res, [undefined, undefined, { header: { revision: 5 } }, undefined, undefined]);
  t.equal(d.store.appliedIndex(), 8, 'noop and conf entries advance the applied index');
  await d.reopen();
  t.equal(d.store.appliedIndex(), 8);
  t.same(await d.kv('\0', { range_end: new Uint8Array([0]) }), ['a=2', 'b=1', 'c=1']);
});

t.test('an undecodable entry answers an error and changes nothing but the applied index', async (t) => {
  const d = await Driver.open(t);
  const [r] = await d.store.apply([{ index: 1, term: 1, kind: 'normal', data: new Uint8Array([0xc1, 0x00]) }]);
  t.type(r, Error);
  t.match((r as Error).message, /undecodable/);
  t.equal(d.store.appliedIndex(), 1);
  t.equal(d.store.currentRevision(), 1);
});

t.test('history reads inside one apply batch see the records not written yet', async (t) => {
  const d = await Driver.open(t);
  const res = await d.applyAll([
    { put: { key: b('x'), value: b('1') } }, // 2
    { put: { key: b('x'), value: b('2') } }, // 3
    { txn: { compare: [], success: [{ request_range: { key: b('x'), revision: 2 } }, { request_put: { key: b('y'), value: b('y') } }], failure: [] } },
  ]);
  const txn = res[2] as { responses: { response_range: RangeResponse }[] };
  t.same(txn.responses[0]!.response_range.kvs.map((kv) => s(kv.value)), ['1']);
  t.same(txn.responses[0]!.response_range.header, { revision: 3 });
});

async function describe(store: KvStore): Promise<unknown> {
  const ranges: unknown[] = [];
  for (let rev = Math.max(1, store.compactedRevision()); rev <= store.currentRevision(); rev++) {
    const r = await store.range({ ...ALL, revision: rev });
    ranges.push(r.kvs.map((kv) => [s(kv.key), s(kv.value), kv.create_revision, kv.mod_revision, kv.version, String(kv.lease)]));
  }
  const events = (await store.events(store.compactedRevision(), store.currentRevision(), 1e9, true)).map((e: Event) => [
    e.type,
    s(e.kv.key),
    e.kv.mod_revision,
    e.prev_kv ? s(e.prev_kv.value) : null,
  ]);
  return {
    applied: store.appliedIndex(),
    revision: store.currentRevision(),
    compacted: store.compactedRevision(),
    keys: store.keyCount(),
    leases: store.leases().map((id) => [String(id), store.leaseTimeToLive({ ID: id, keys: true }).keys.map(s), store.leaseTimeToLive({ ID: id }).grantedTTL]),
    ranges,
    events,
  };
}

async function build(d: Driver): Promise<void> {
  await d.grant(1n, 60);
  await d.grant(-2n, 120);
  for (let i = 0; i < 30; i++) await d.put(`k${i % 7}`, `v${i}`, i % 3 === 0 ? { lease: 1n } : {});
  await d.del('k3');
  await d.compact(12);
  await d.put('k3', 'back', { lease: -2n });
  await d.txn({ success: [{ request_put: { key: b('t1'), value: b('x') } }, { request_delete_range: { key: b('k5') } }] });
  await d.del('k6');
}

t.test('snapshot and restore give an equivalent store', async (t) => {
  const src = await Driver.open(t);
  await build(src);
  await src.store.waitCompaction(12);
  const snap = await src.store.snapshot();
  const want = await describe(src.store);

  const dst = await Driver.open(t);
  await dst.put('unrelated', 'old'); // replaced by the restore
  await dst.grant(99n, 10);
  const restored: number[] = [];
  dst.store.onRestored((rev) => restored.push(rev));
  await dst.store.restore(snap, src.store.appliedIndex());
  dst.index = dst.store.appliedIndex();
  t.same(await describe(dst.store), want, 'same data, history, leases, counters');
  t.same(restored, [src.store.currentRevision()]);
  // Both go on the same way.
  for (const d of [src, dst]) {
    t.equal(errText(await d.compact(12)), 'etcdserver: mvcc: required revision has been compacted');
    await d.put('k0', 'next');
    await d.revoke(1n);
  }
  t.same(await describe(dst.store), await describe(src.store));

  // The restored state is durable, in a new database directory; the old one is gone.
  await dst.reopen();
  t.same(await describe(dst.store), await describe(src.store));
  t.same((await readdir(dst.dir)).filter((n) => n.startsWith('db-')), ['db-1']);
});

t.test('a snapshot is the state when it was asked for: applies made while it is read are not in it', async (t) => {
  const src = await Driver.open(t);
  await build(src);
  const want = await describe(src.store);
  const wantIndex = src.store.appliedIndex();
  const reading = src.store.snapshot();
  // Queued right after: they run while the snapshot's records are read.
  const later = src.applyAll(Array.from({ length: 2000 }, (_, i) => ({ put: { key: b(`late${i}`), value: b('x') } })));
  const [snap] = await Promise.all([reading, later]);
  t.equal((await src.get('late1999')).kvs.length, 1, 'the later writes were applied');
  const dst = await Driver.open(t);
  await dst.store.restore(snap, wantIndex);
  t.same(await describe(dst.store), want, 'the snapshot holds none of them');
  t.equal(dst.store.appliedIndex(), wantIndex);
});

t.test('a snapshot taken with records awaiting physical compaction restores the same', async (t) => {
  const src = await Driver.open(t, { compactionBatchSize: 1 });
  await build(src);
  const snap = await src.store.snapshot(); // the background job has barely started
  const dst = await Driver.open(t);
  await dst.store.restore(snap, src.store.appliedIndex());
  t.same(await describe(dst.store), await describe(src.store));
  await dst.store.waitCompaction(12);
  await src.store.waitCompaction(12);
  t.equal(dst.store.dbSize(), src.store.dbSize(), 'the same size estimate once both compactions are done');
});

t.test('a bad snapshot is refused and the old state stays', async (t) => {
  const d = await Driver.open(t);
  await d.put('keep', 'me');
  t.match(await rejects(d.store.restore(new Uint8Array([1, 2, 3]), 10)), /not a kv snapshot/);
  const snap = await d.store.snapshot();
  t.match(await rejects(d.store.restore(snap.subarray(0, snap.length - 3), 10)), /truncated/);
  t.same(await d.kv('keep'), ['keep=me']);
  t.equal(d.store.appliedIndex(), 1);
  t.same((await readdir(d.dir)).filter((n) => n.startsWith('db-')), ['db-0'], 'the half-written database was removed');
});

t.test('an interrupted restore leaves the old state; its leftovers are removed at open', async (t) => {
  const dir = await tempDir(t);
  let store = await KvStore.open(dir, { logger: silent });
  await store.apply([entry(1, { put: { key: b('a'), value: b('1') } })]);
  await store.close();
  await mkdir(join(dir, 'db-1'));
  await writeFile(join(dir, 'db-1', 'junk'), 'half a restore');
  store = await KvStore.open(dir, { logger: silent });
  t.teardown(() => store.close());
  t.same((await readdir(dir)).sort(), ['CURRENT', 'db-0']);
  t.equal((await store.range({ key: b('a') })).count, 1);
});

t.test('the data directory is locked', async (t) => {
  const d = await Driver.open(t);
  t.match(await rejects(KvStore.open(d.dir, { logger: silent })), /in use/);
});

t.test('closed stores refuse work', async (t) => {
  const d = await Driver.open(t);
  await d.store.close();
  t.match(await rejects(d.store.apply([entry(1, { put: { key: b('a') } })])), /closed/);
  t.match(await rejects(d.store.range({ key: b('a') })), /closed/);
});

t.test('write-behind: applied changes are served from memory until written, and close() writes them', async (t) => {
  const d = await Driver.open(t, { writeDelayMs: 60_000 });
  await d.put('x', '1'); // 2
  await d.put('x', '2'); // 3
  await d.del('x'); // 4
  await d.put('y', '1'); // 5
  t.same(await d.kv('x', { revision: 2 }), ['x=1'], 'a past revision from records not written yet');
  t.same(await d.kv('x', { revision: 3 }), ['x=2']);
  const evs = await d.store.events(2, 5, 100, true);
  t.same(
    evs.map((e) => [e.type, s(e.kv.key), e.kv.mod_revision, e.prev_kv ? s(e.prev_kv.value) : null]),
    [
      [0, 'x', 2, null],
      [0, 'x', 3, '1'],
      [1, 'x', 4, '2'],
      [0, 'y', 5, null],
    ],
    'watch history from records not written yet',
  );
  t.same((await d.store.events(3, 5, 1, false)).map((e) => e.kv.mod_revision), [3], 'the limit counts whole revisions');
  await d.reopen();
  t.equal(d.store.appliedIndex(), 4);
  t.same(await d.kv('x', { revision: 3 }), ['x=2']);
  t.same(await d.kv('\0', { range_end: new Uint8Array([0]) }), ['y=1']);
});

t.test('write-behind: many queued operations are written without waiting; history reads span disk and memory', async (t) => {
  const d = await Driver.open(t, { writeDelayMs: 60_000 });
  // Over 5,000 queued operations start the write at once; what comes meanwhile waits behind it.
  await d.applyAll(Array.from({ length: 6000 }, (_, i) => ({ put: { key: b(`k${i}`), value: b('v') } })));
  await d.put('late', '1');
  const evs = await d.store.events(5995, 6002, 100, false);
  t.same(evs.map((e) => s(e.kv.key)), ['k5993', 'k5994', 'k5995', 'k5996', 'k5997', 'k5998', 'k5999', 'late']);
  t.equal((await d.get('k0', { revision: 2 })).kvs.length, 1);
});

for (const force of ['snapshot', 'persist']) {
  t.test(`write-behind: after kill -9 the store has a prefix of the applies (forced to disk by ${force}()) and takes the rest again from the log`, async (t) => {
    const dir = await tempDir(t);
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const fixture = fileURLToPath(new URL('./fixtures/write-behind-crash.mjs', import.meta.url));
    const child = spawn(process.execPath, [fixture, dir, force], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('queued')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`fixture exited with ${code} before applying`)));
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const d = await Driver.open(t, {}, dir);
    t.equal(d.store.appliedIndex(), 2, 'the queued batch is lost, and its applied index with it');
    t.same(await d.kv('\0', { range_end: new Uint8Array([0]) }), ['a=1', 'b=1']);
    // The Raft log delivers everything after the stored applied index again (and here all of it).
    const log = [
      entry(1, { put: { key: b('a'), value: b('1') } }),
      entry(2, { put: { key: b('b'), value: b('1') } }),
      entry(3, { put: { key: b('a'), value: b('2') } }),
      entry(4, { put: { key: b('c'), value: b('1') } }),
    ];
    const res = await d.store.apply(log);
    t.same(res, [undefined, undefined, { header: { revision: 4 } }, { header: { revision: 5 } }], 'exactly once');
    t.same(await d.kv('\0', { range_end: new Uint8Array([0]) }), ['a=2', 'b=1', 'c=1']);
    t.equal((await d.get('a')).kvs[0]!.version, 2);
  });
}


/** Records, for every LevelDB write of the store, whether it was synced. */
function syncedWrites(d: Driver): boolean[] {
  const db = d.store['db'];
  const writes: boolean[] = [];
  const batch = db.batch.bind(db);
  db.batch = (() => {
    // writeOps (src/raft/storage/level-batch.ts) writes through the batch's _write.
    const chained = batch();
    const impl = chained as unknown as { _write(o: { sync: boolean }): Promise<void> };
    const write = impl._write.bind(chained);
    impl._write = (o: { sync: boolean }) => {
      writes.push(o.sync === true);
      return write(o);
    };
    return chained;
  }) as unknown as typeof db.batch;
  return writes;
}

t.test('the store syncs every write of applied changes unless told not to', async (t) => {
  const synced = await Driver.open(t, { writeDelayMs: 0 });
  const w1 = syncedWrites(synced);
  await synced.applyAll([{ put: { key: b('a'), value: b('1') } }]);
  await synced.reopen(); // close() waits for the queued write
  t.same(w1, [true], 'synced by default (a power cut cannot leave a hole)');
  const unsynced = await Driver.open(t, { writeDelayMs: 0, syncWrites: false });
  const w2 = syncedWrites(unsynced);
  await unsynced.applyAll([{ put: { key: b('a'), value: b('1') } }]);
  await unsynced.reopen();
  t.same(w2, [false], 'syncWrites: false');
});

t.test('persist(): what was applied before the call is written with one synced write, shared by the calls meanwhile', async (t) => {
  // A minute's write delay: without persist() nothing would reach LevelDB during the test; and
  // unsynced writes otherwise, to see persist() ask for the sync.
  const d = await Driver.open(t, { writeDelayMs: 60_000, syncWrites: false });
  const db = d.store['db'];
  const writes = syncedWrites(d);
  const applied = async () => decodeNumber('applied', await db.get(META.applied)) ?? 0;
  await d.applyAll([{ put: { key: b('a'), value: b('1') } }, { put: { key: b('b'), value: b('1') } }]);
  t.equal(await applied(), 0, 'nothing written yet');
  await Promise.all([d.store.persist(), d.store.persist()]);
  t.same(writes, [true], 'two calls, one synced write');
  t.equal(await applied(), 2);
  await d.store.persist();
  t.same(writes, [true, true], 'with nothing queued, a synced write of the applied index');
  t.equal(await applied(), 2);
  await d.applyAll([{ put: { key: b('a'), value: b('2') } }]);
  const p = d.store.persist();
  await d.applyAll([{ put: { key: b('c'), value: b('1') } }]);
  await p;
  t.ok(writes.length >= 3 && writes[2], 'the queued batch went synced');
  t.ok((await applied()) >= 3, 'covering what was applied before the call');
  await d.reopen();
  t.same(await d.kv('\0', { range_end: new Uint8Array([0]) }), ['a=2', 'b=1', 'c=1'], 'and everything after a reopen');
});

t.test('persist() of a failed store rejects', async (t) => {
  const d = await Driver.open(t, { writeDelayMs: 60_000 });
  await d.applyAll([{ put: { key: b('a'), value: b('1') } }]);
  const db = d.store['db'];
  db.batch = (() => ({
    put() {},
    del() {},
    write: () => Promise.reject(new Error('disk full')),
  })) as unknown as typeof db.batch;
  await t.rejects(d.store.persist(), /kv store failed: disk full/);
  await t.rejects(d.store.persist(), /kv store failed: disk full/, 'and refuses later calls');
});

t.test('a store with a hole in its revisions refuses to open; a compacted one with records gone below the compaction opens', async (t) => {
  const build = async () => {
    const d = await Driver.open(t);
    // Revisions 2 to 6.
    for (const k of ['a', 'b', 'c', 'a', 'd']) await d.req({ put: { key: b(k), value: b('v') } });
    await d.store.close();
    return d.dir;
  };
  const damage = async (dir: string, ...mains: number[]) => {
    const { db } = await openDataDir(dir);
    for (const m of mains) await db.del(revKey(m, 0));
    await db.close();
  };
  const middle = await build();
  await damage(middle, 3);
  await t.rejects(KvStore.open(middle, { logger: silent }), { name: 'KvCorruptError', message: /revision 3 is missing \(compacted up to none\): the store lost writes/ });
  const tail = await build();
  await damage(tail, 5, 6);
  await t.rejects(KvStore.open(tail, { logger: silent }), { message: /revisions 5 to 6 are missing/ });
  // Below the compacted revision records may be gone (a physical compaction removes them): fine.
  const d = await Driver.open(t);
  for (const k of ['a', 'b', 'a', 'c']) await d.req({ put: { key: b(k), value: b('v') } });
  await d.compact(4);
  await d.store.waitCompaction(4);
  await d.reopen();
  t.equal(d.store.currentRevision(), 5, 'the compacted store opens');
});
