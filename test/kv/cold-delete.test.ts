// Deleting keys whose values are not in memory: the store does not read the values no one asked
// for (a delete_range over a large cold store used to load every one of them before the apply),
// and a watcher that wants prev_kv still gets them, read from history.

import t, { type Test } from 'tap';
import { EventType, type Event } from '../../src/kv/api.js';
import { WatchHub } from '../../src/kv/watch/index.js';
import { Collector } from './watch-fixtures.js';
import { b, Driver, s, silent } from './helpers.js';

const KEYS = 50; // k/000 .. k/049 at revisions 2 .. 51
const key = (i: number) => `k/${String(i).padStart(3, '0')}`;

/** A store with no value in memory, KEYS keys in it, and a count of the records it reads. */
async function coldStore(t: Test) {
  const d = await Driver.open(t, { valueCacheBytes: 0 });
  await d.applyAll(Array.from({ length: KEYS }, (_, i) => ({ put: { key: b(key(i)), value: b(`v${i}`) } })));
  // Every record the store reads goes through its fetch (the writes not yet in LevelDB, or LevelDB).
  const store = d.store as unknown as { fetch: (revs: unknown[]) => Promise<unknown[]> };
  const reads = { records: 0 };
  const fetch = store.fetch;
  store.fetch = (revs) => {
    reads.records += revs.length;
    return fetch(revs);
  };
  return { d, reads };
}

const show = (e: Event) => `${e.type === EventType.DELETE ? 'DEL' : 'PUT'} ${s(e.kv.key)}${e.prev_kv ? `<${s(e.prev_kv.value)}@${e.prev_kv.mod_revision}` : ''}`;

t.test('a delete_range without prev_kv reads no value; with prev_kv it reads each once', async (t) => {
  const { d, reads } = await coldStore(t);
  const r1 = (await d.req({ delete_range: { key: b('k/'), range_end: b('k/025') } })) as { deleted: number; prev_kvs: unknown[] };
  t.same([r1.deleted, r1.prev_kvs.length, reads.records], [25, 0, 0], 'no record read');
  const r2 = (await d.req({ delete_range: { key: b('k/025'), range_end: b('k0'), prev_kv: true } })) as { deleted: number; prev_kvs: { value: Uint8Array }[] };
  t.same([r2.deleted, reads.records], [25, 25], 'prev_kv asked: each value read once');
  t.same(r2.prev_kvs.map((kv) => s(kv.value)), Array.from({ length: 25 }, (_, i) => `v${i + 25}`));
});

t.test('a txn deleting cold keys and a lease revoke read no value either', async (t) => {
  const { d, reads } = await coldStore(t);
  await d.grant(9n, 60);
  await d.applyAll([
    { put: { key: b('l/a'), value: b('la'), lease: 9n } },
    { put: { key: b('l/b'), value: b('lb'), lease: 9n } },
  ]);
  await d.txn({ success: [{ request_delete_range: { key: b('k/'), range_end: b('k0') } }] });
  await d.revoke(9n);
  t.equal(reads.records, 0);
  t.same([await d.kv('k/', { range_end: b('k0') }), await d.kv('l/', { range_end: b('l0') })], [[], []], 'everything is gone');
});

t.test('watchers: prev_kv from history for those who asked, live events for the others', async (t) => {
  const { d } = await coldStore(t);
  const hub = new WatchHub(d.store, { logger: silent });
  d.store.onApplied((evs, rev) => hub.notify(evs, rev));
  const c = new Collector();
  const session = hub.openSession(c.sink);
  session.handle({ create_request: { key: b('k/'), range_end: b('k0'), watch_id: 1 } });
  session.handle({ create_request: { key: b('k/'), range_end: b('k0'), prev_kv: true, watch_id: 2 } });
  session.handle({ create_request: { key: b('k/001'), prev_kv: true, watch_id: 3 } });
  t.teardown(() => hub.close());

  await d.req({ delete_range: { key: b('k/000'), range_end: b('k/003') } }); // rev 52: 3 deletes
  await d.put('k/001', 'again'); // rev 53: a create, no prev_kv
  await d.del('k/001'); // rev 54: with a cache of 0 its value left memory after rev 53's apply
  await d.put('k/010', 'new'); // rev 55: prev_kv is v10 (a put loads it)
  const want1 = ['DEL k/000', 'DEL k/001', 'DEL k/002', 'PUT k/001', 'DEL k/001', 'PUT k/010'];
  const want2 = ['DEL k/000<v0@2', 'DEL k/001<v1@3', 'DEL k/002<v2@4', 'PUT k/001', 'DEL k/001<again@53', 'PUT k/010<v10@12'];
  await c.until(() => c.events(1).length === 6 && c.events(2).length === 6 && c.events(3).length === 3, 'every event');
  t.same(c.events(1).map(show), want1, 'without prev_kv: the events as applied');
  t.same(c.events(2).map(show), want2, 'with prev_kv: each previous value, in order, none twice');
  t.same(c.events(3).map(show), ['DEL k/001<v1@3', 'PUT k/001', 'DEL k/001<again@53']);
  const revisions = c.of(2).flatMap((r) => r.events.map((e) => e.kv.mod_revision));
  t.same(revisions, [52, 52, 52, 53, 54, 55], 'revisions in order');
  const n = hub.counters();
  t.ok(n.prevFromHistory >= 1, `watchers sent to history: ${n.prevFromHistory}`);
  t.equal(n.slowed, 0, 'none of it counted as a slow client');
});
