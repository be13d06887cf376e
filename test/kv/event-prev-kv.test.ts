// The store builds its events' prev_kv only while a listener of its applies wants it (the watch
// hub: while some watcher asked for prev_kv). Without it the events still say everything else
// right (versions, create revisions, leases), and a watcher that asks for prev_kv later, even in
// the middle of a chunked delete whose events were built without it, still gets every previous
// value (read from history).

import t from 'tap';
import { EventType, type Event } from '../../src/kv/api.js';
import { WatchHub } from '../../src/kv/watch/index.js';
import { Collector } from './watch-fixtures.js';
import { b, Driver, s, silent } from './helpers.js';

const show = (e: Event) =>
  `${e.type === EventType.DELETE ? 'DEL' : 'PUT'} ${s(e.kv.key)} c${e.kv.create_revision} v${e.kv.version}` +
  (e.prev_kv ? ` <${s(e.prev_kv.value)}@${e.prev_kv.mod_revision}` : '');

t.test('events carry prev_kv only while a listener wants it, and are otherwise the same', async (t) => {
  const d = await Driver.open(t);
  let want = false;
  const seen: Event[] = [];
  d.store.onApplied((evs) => seen.push(...evs), () => want);
  await d.put('a', '1'); // rev 2
  await d.put('a', '2'); // rev 3
  await d.del('a'); // rev 4
  want = true;
  await d.put('b', '1'); // rev 5
  await d.put('b', '2'); // rev 6
  await d.del('b'); // rev 7
  t.same(seen.map(show), [
    'PUT a c2 v1',
    'PUT a c2 v2',
    'DEL a c0 v0',
    'PUT b c5 v1',
    'PUT b c5 v2 <1@5',
    'DEL b c0 v0 <2@6',
  ]);
  // A request that asks for the previous value gets it whether or not the events carry it.
  want = false;
  await d.put('c', 'x');
  const r = await d.put('c', 'y', { prev_kv: true });
  t.equal(s(r.prev_kv?.value), 'x', 'put with prev_kv answers the previous value');
  const del = await d.del('c', undefined, { prev_kv: true });
  t.same(del.prev_kvs.map((kv) => s(kv.value)), ['y'], 'delete with prev_kv too');
});

t.test('without prev_kv in the events, a put that moves a key off its lease still detaches it', async (t) => {
  const d = await Driver.open(t);
  d.store.onApplied(() => undefined, () => false);
  await d.grant(7n, 60);
  await d.put('k', '1', { lease: 7n });
  await d.put('k', '2'); // no lease now
  await d.put('k2', '1', { lease: 7n });
  await d.revoke(7n);
  t.same(await d.kv('k'), ['k=2'], 'the revoke left the key that left the lease');
  t.same(await d.kv('k2'), [], 'and deleted the one still on it');
});

t.test('the watch hub wants prev_kv from the creation of such a watcher to its cancel', async (t) => {
  const d = await Driver.open(t);
  const hub = new WatchHub(d.store, { logger: silent });
  t.teardown(() => hub.close());
  const c = new Collector();
  const one = hub.openSession(c.sink);
  one.handle({ create_request: { key: b('a'), watch_id: 1 } });
  t.notOk(hub.wantsPrevKv(), 'a watcher without prev_kv: no');
  one.handle({ create_request: { key: b('a'), prev_kv: true, watch_id: 2 } });
  one.handle({ create_request: { key: b('b'), prev_kv: true, watch_id: 3 } });
  t.ok(hub.wantsPrevKv(), 'two with prev_kv');
  one.handle({ cancel_request: { watch_id: 2 } });
  t.ok(hub.wantsPrevKv(), 'one left');
  one.handle({ cancel_request: { watch_id: 3 } });
  one.handle({ cancel_request: { watch_id: 3 } }); // twice: counted once
  t.notOk(hub.wantsPrevKv(), 'both canceled');
  const two = hub.openSession(c.sink);
  two.handle({ create_request: { key: b('a'), prev_kv: true, watch_id: 1 } });
  two.handle({ create_request: { key: b(''), range_end: b(''), prev_kv: true, watch_id: 2 } }); // refused: empty range
  t.ok(hub.wantsPrevKv());
  two.close();
  t.notOk(hub.wantsPrevKv(), 'a closed stream takes its watchers with it');
});

t.test('wired as kvd wires it: live prev_kv while a watcher wants it, none after, history for a late one', async (t) => {
  const d = await Driver.open(t, { deleteChunkKeys: 2 });
  const hub = new WatchHub(d.store, { logger: silent });
  t.teardown(() => hub.close());
  const seen: Event[] = [];
  d.store.onApplied(
    (evs, rev) => {
      seen.push(...evs);
      hub.notify(evs, rev);
    },
    () => hub.wantsPrevKv(),
  );
  const keys = ['k/0', 'k/1', 'k/2', 'k/3', 'k/4', 'k/5'];
  await d.applyAll(keys.map((k) => ({ put: { key: b(k), value: b(`v${k}`) } }))); // revs 2..7

  const c = new Collector();
  const session = hub.openSession(c.sink);
  session.handle({ create_request: { key: b('k/'), range_end: b('k0'), prev_kv: true, watch_id: 1 } });
  await d.put('k/0', 'w'); // rev 8
  await c.until(() => c.events(1).length === 1, 'the put');
  t.equal(show(c.events(1)[0]!), 'PUT k/0 c2 v2 <vk/0@2', 'the watcher gets prev_kv');
  t.equal(hub.counters().prevFromHistory, 0, 'from the event itself, not from history');
  session.handle({ cancel_request: { watch_id: 1 } });
  seen.length = 0;
  await d.put('k/0', 'x'); // rev 9
  t.notOk(seen[0]?.prev_kv, 'no watcher wants it: the event goes without');

  // A delete of six keys in chunks of two: its events are built without prev_kv; a watcher that
  // asks for prev_kv between two chunks must still get every previous value.
  const late = new Collector();
  const done = d.req({ delete_range: { key: b('k/'), range_end: b('k0') } });
  await new Promise<void>((resolve) => setImmediate(resolve));
  hub.openSession(late.sink).handle({ create_request: { key: b('k/'), range_end: b('k0'), prev_kv: true, watch_id: 5 } });
  await done;
  await late.until(() => late.events(5).length === 6, 'the six deletes');
  t.same(late.events(5).map(show), [
    'DEL k/0 c0 v0 <x@9',
    'DEL k/1 c0 v0 <vk/1@3',
    'DEL k/2 c0 v0 <vk/2@4',
    'DEL k/3 c0 v0 <vk/3@5',
    'DEL k/4 c0 v0 <vk/4@6',
    'DEL k/5 c0 v0 <vk/5@7',
  ]);
  t.ok(hub.counters().prevFromHistory >= 1, 'read from history');
});

t.test('a store larger than its cache reads a put key\'s previous value only when something uses it', async (t) => {
  const d = await Driver.open(t, { valueCacheBytes: 0 });
  let want = false;
  const seen: Event[] = [];
  d.store.onApplied((evs) => seen.push(...evs), () => want);
  await d.applyAll(['a', 'b', 'c', 'd'].map((k) => ({ put: { key: b(k), value: b(`${k}0`) } }))); // revs 2..5
  const store = d.store as unknown as { fetch: (revs: unknown[]) => Promise<unknown[]> };
  let reads = 0;
  const fetch = store.fetch.bind(d.store);
  store.fetch = (revs) => {
    reads += revs.length;
    return fetch(revs);
  };
  seen.length = 0;
  await d.put('a', 'a1');
  t.equal(reads, 0, 'no event wants prev_kv, the put does not ask: nothing read');
  t.equal(show(seen[0]!), 'PUT a c2 v2', 'version and create revision from the key index');
  const r = await d.put('b', 'b1', { prev_kv: true });
  t.same([reads, s(r.prev_kv?.value)], [1, 'b0'], 'prev_kv asked: read once');
  await d.put('c', '', { ignore_value: true });
  t.equal(reads, 2, 'ignore_value: read once');
  t.same(await d.kv('c'), ['c=c0'], 'the value kept');
  const before = reads;
  want = true;
  await d.put('d', 'd1');
  t.equal(reads - before, 1, 'a watcher wants prev_kv: read once');
  t.equal(show(seen[seen.length - 1]!), 'PUT d c5 v2 <d0@5', 'and it is in the event');
});
