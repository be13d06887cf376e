// A delete_range over more live keys than one chunk is applied a chunk per turn of the event loop:
// other work runs between chunks, reads of other keys are answered at the revision before the
// delete, reads of the deleted keys wait for all of it, and no reader or watcher sees half of it.

import t, { type Test } from 'tap';
import { EventType } from '../../src/kv/api.js';
import type { DeleteRangeResponse, LeaseRevokeResponse } from '../../src/kv/api.js';
import type { InternalRequest } from '../../src/kv/request-codec.js';
import { WatchHub } from '../../src/kv/watch/index.js';
import { Collector } from './watch-fixtures.js';
import { b, Driver, errText, s, silent } from './helpers.js';

const CHUNK = 10;
const KEYS = 95; // ten chunks, the last one short
const key = (i: number) => `d/${String(i).padStart(3, '0')}`;

/** A store with KEYS keys under d/ (revisions 2 .. 96), one key outside at revision 97. */
async function loaded(t: Test) {
  const d = await Driver.open(t, { deleteChunkKeys: CHUNK });
  await d.applyAll(Array.from({ length: KEYS }, (_, i) => ({ put: { key: b(key(i)), value: b(`v${i}`) } })));
  await d.put('other', 'o');
  return d;
}

/** Applies `req` and counts the turns of the event loop until it is applied. */
function applyCounting<T>(d: Driver, req: InternalRequest) {
  let turns = 0;
  let applied = false;
  const spin = () =>
    setImmediate(() => {
      if (applied) return;
      turns++;
      spin();
    });
  spin();
  const done = d.req<T>(req).then((r) => {
    applied = true;
    return r;
  });
  return { done, turns: () => turns, applied: () => applied };
}

/** Starts the delete of every d/ key, counting the turns of the event loop until it is applied. */
function deleteAll(d: Driver) {
  return applyCounting<DeleteRangeResponse>(d, { delete_range: { key: b('d/'), range_end: b('d0') } });
}

t.test('the event loop turns between chunks; the answer counts every key once', async (t) => {
  const d = await loaded(t);
  const del = deleteAll(d);
  const r = (await del.done) as DeleteRangeResponse;
  t.equal(r.deleted, KEYS);
  t.equal(r.header.revision, 98, 'one revision for the whole delete');
  t.ok(del.turns() >= Math.floor(KEYS / CHUNK) - 1, `the loop turned ${del.turns()} times while it ran`);
  t.same(await d.kv('d/', { range_end: b('d0') }), []);
  t.equal(d.store.currentRevision(), 98);
  t.equal(d.store.keyCount(), 1);
});

t.test('a read of other keys is answered meanwhile, at the revision before the delete', async (t) => {
  const d = await loaded(t);
  const del = deleteAll(d);
  // Let the first chunks go, then read.
  await new Promise<void>((resolve) => setImmediate(() => setImmediate(() => resolve())));
  t.notOk(del.applied(), 'the delete is still in progress');
  const other = await d.get('other');
  t.notOk(del.applied(), 'answered before the delete ended');
  t.equal(other.header.revision, 97, 'at the revision before the delete');
  t.equal(s(other.kvs[0]!.value), 'o');
  await del.done;
});

t.test('a read touching the deleted keys waits for the whole delete', async (t) => {
  const d = await loaded(t);
  const del = deleteAll(d);
  await new Promise<void>((resolve) => setImmediate(() => setImmediate(() => resolve())));
  t.notOk(del.applied(), 'the delete is still in progress');
  const [one, all, history] = await Promise.all([
    d.get(key(90)),
    d.get('\0', { range_end: b('\0'), count_only: true }),
    d.get(key(3), { revision: 50 }),
  ]);
  // Had it not waited, the key (in the last chunk) would still be there, at revision 97.
  t.same([one.kvs.length, one.header.revision], [0, 98], 'a key of the last chunk: gone');
  t.same([all.count, all.header.revision], [1, 98], 'everything: only the other key');
  t.same(
    history.kvs.map((kv) => s(kv.value)),
    ['v3'],
    'history at an older revision still reads',
  );
  await del.done;
});

t.test('a txn of ranges served without the log waits for the whole delete', async (t) => {
  const d = await loaded(t);
  const del = deleteAll(d);
  await new Promise<void>((resolve) => setImmediate(() => setImmediate(() => resolve())));
  t.notOk(del.applied(), 'the delete is still in progress');
  const r = await d.store.readTxn({
    compare: [],
    success: [{ request_range: { key: b('\0'), range_end: b('\0'), count_only: true } }, { request_range: { key: b(key(0)) } }],
    failure: [],
  });
  t.ok(del.applied(), 'answered after the delete');
  t.same(
    r.responses.map((x) => ('response_range' in x ? x.response_range.count : -1)),
    [1, 0],
    'it sees all of the delete (only the other key left), the first chunk as the last',
  );
  t.equal(r.header.revision, 98);
  await del.done;
});

t.test('watchers get the delete whole, after its last chunk', async (t) => {
  const d = await loaded(t);
  const hub = new WatchHub(d.store, { logger: silent });
  d.store.onApplied((evs, rev) => hub.notify(evs, rev));
  const c = new Collector();
  const session = hub.openSession(c.sink);
  session.handle({ create_request: { key: b('d/'), range_end: b('d0'), watch_id: 1 } });
  const del = deleteAll(d);
  // A watcher created mid-delete from the current revision must not see half of it either.
  await new Promise<void>((resolve) => setImmediate(() => setImmediate(() => resolve())));
  session.handle({ create_request: { key: b('d/'), range_end: b('d0'), start_revision: 90, watch_id: 2 } });
  await del.done;
  await c.until(() => c.events(1).length >= KEYS && c.events(2).length >= 7 + KEYS, 'every event');
  t.same(
    c.events(2).slice(0, 7).map((e) => `${e.type === EventType.PUT ? 'PUT' : 'DEL'}@${e.kv.mod_revision}`),
    [90, 91, 92, 93, 94, 95, 96].map((r) => `PUT@${r}`),
    'the watcher started mid-delete replays up to the revision before it, no further',
  );
  for (const id of [1, 2]) {
    const dels = c.events(id).filter((e) => e.type === EventType.DELETE);
    t.equal(dels.length, KEYS, `watcher ${id}: every delete`);
    t.ok(
      dels.every((e) => e.kv.mod_revision === 98),
      `watcher ${id}: all at revision 98`,
    );
  }
  t.equal(c.events(1).length, KEYS, 'watcher 1: nothing else');
  t.equal(c.events(2).length, 7 + KEYS, 'watcher 2: nothing else');
  hub.close();
});

t.test('a delete of one chunk or less is applied at once; a restart finds the chunked delete whole', async (t) => {
  const d = await loaded(t);
  const small = await d.del(key(0), key(CHUNK));
  t.equal(small.deleted, CHUNK);
  const rest = await d.del('d/', 'd0');
  t.equal(rest.deleted, KEYS - CHUNK);
  await d.reopen();
  t.same(await d.kv('d/', { range_end: b('d0') }), [], 'nothing under d/ after the restart');
  t.same(await d.kv('other'), ['other=o']);
  t.equal(d.store.currentRevision(), 99);
});

t.test('a lease revoke with many keys deletes them in chunks; reads wait only when they touch one', async (t) => {
  const d = await Driver.open(t, { deleteChunkKeys: CHUNK });
  await d.grant(5n, 600); // rev stays 1
  // Even keys on the lease, odd ones not: the lease's keys are scattered through d/.
  await d.applyAll(Array.from({ length: 2 * KEYS }, (_, i) => ({ put: { key: b(key(i)), value: b(`v${i}`), lease: i % 2 === 0 ? 5n : undefined } })));
  const before = d.store.currentRevision(); // 2 * KEYS + 1
  const revoke = applyCounting<LeaseRevokeResponse>(d, { lease_revoke: { ID: 5n } });
  await new Promise<void>((resolve) => setImmediate(() => setImmediate(() => resolve())));
  t.notOk(revoke.applied(), 'the revoke is still in progress');
  // An odd key between two of the lease's keys, and a range of odd keys only ([d/001, d/002)).
  const [odd, oddRange] = await Promise.all([d.get(key(91)), d.get(key(1), { range_end: b(key(2)) })]);
  t.notOk(revoke.applied(), 'reads of keys not on the lease are answered meanwhile');
  t.same([s(odd.kvs[0]!.value), odd.header.revision], ['v91', before], 'at the revision before the revoke');
  t.equal(oddRange.kvs.length, 1);
  // A key of the last chunk, and a range holding lease keys: they wait for the whole revoke (had
  // they not, the key would still be there, at the revision before).
  const [even, all] = await Promise.all([d.get(key(2 * KEYS - 2)), d.get('d/', { range_end: b('d0'), count_only: true })]);
  t.same([even.kvs.length, even.header.revision], [0, before + 1], 'a key of the last chunk: gone');
  t.same([all.count, all.header.revision], [KEYS, before + 1], 'only the keys that were not on the lease');
  const r = (await revoke.done) as LeaseRevokeResponse;
  t.equal(r.header.revision, before + 1, 'the revoke answers its one revision');
  t.ok(revoke.turns() >= Math.floor(KEYS / CHUNK) - 1, `the loop turned ${revoke.turns()} times while it ran`);
  await d.reopen();
  t.equal((await d.get('d/', { range_end: b('d0'), count_only: true })).count, KEYS, 'whole after a restart');
  t.equal(errText(await d.revoke(5n)), 'etcdserver: requested lease not found', 'and the lease is gone');
});

t.test("a lease's keys are listed whole: not while a delete of some of them is half applied", async (t) => {
  const d = await Driver.open(t, { deleteChunkKeys: CHUNK });
  await d.grant(6n, 600);
  await d.applyAll(Array.from({ length: KEYS }, (_, i) => ({ put: { key: b(key(i)), value: b('v'), lease: 6n } })));
  await d.put('e/kept', 'v', { lease: 6n });
  let applied = false;
  const done = d.req({ delete_range: { key: b('d/'), range_end: b('d0') } }).then(() => (applied = true));
  await new Promise<void>((resolve) => setImmediate(() => setImmediate(() => resolve())));
  const half = d.store.leaseTimeToLive({ ID: 6n, keys: true }).keys.length;
  t.ok(half > 1 && half < KEYS + 1, `mid-delete the lessor holds part of them (${half})`);
  const ttl = await d.store.leaseTimeToLiveSettled({ ID: 6n });
  t.same([ttl.grantedTTL, applied], [600, false], 'without keys the answer does not wait');
  const listed = await d.store.leaseTimeToLiveSettled({ ID: 6n, keys: true });
  t.same(listed.keys.map(s), ['e/kept'], 'with keys it waits for the whole delete');
  await done;
});
