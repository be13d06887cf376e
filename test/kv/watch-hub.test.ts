import t from 'tap';
import { pino } from 'pino';
import { EventType, WatchFilterType, type Event, type WatchResponse } from '../../src/kv/api.js';
import { WatchHub, type WatchHubCounters, type WatchHubOptions } from '../../src/kv/watch/index.js';
import { Collector, FakeStore, FakeTimers, Gate, dec, enc, hops, revs, rng, type WriteOp } from './watch-fixtures.js';

const HEADER = { cluster_id: 7, member_id: 9, raft_term: 3 };
const logger = pino({ level: 'silent' });

function setup(opts: WatchHubOptions = {}, startRev = 1) {
  const store = new FakeStore(startRev);
  const timers = new FakeTimers();
  const hub = new WatchHub(store, { header: () => HEADER, timers, logger, ...opts });
  store.hub = hub;
  const c = new Collector();
  const s = hub.openSession(c.sink);
  return { store, hub, timers, c, s };
}

const created = (r: WatchResponse | undefined) => r?.created === true;

t.test('created message, header, and live events one revision per message', async (t) => {
  const { store, hub, c, s } = setup({}, 5);
  s.handle({ create_request: { key: enc('foo') } });
  t.same(c.got, [{ header: { ...HEADER, revision: 5 }, watch_id: 0, created: true, events: [] }]);

  store.put('foo', 'a');
  store.put('bar', 'x'); // not watched
  store.txn([{ put: 'foo', value: 'b' }, { put: 'zzz', value: 'q' }]);
  t.equal(c.got.length, 3);
  t.same(c.got[1].header, { ...HEADER, revision: 6 });
  t.same(c.got[1].events.map((e) => [e.type, dec(e.kv.key), dec(e.kv.value)]), [[EventType.PUT, 'foo', 'a']]);
  t.equal(c.got[2].header.revision, 8);
  t.same(revs(c.got[2].events), [8]);
  t.notOk('prev_kv' in c.got[2].events[0], 'prev_kv stripped when not asked for');
  t.same(hub.stats(), { watchers: 1, syncedWatchers: 1, unsyncedWatchers: 0, sessions: 1 });
});

t.test('live txn: a watcher gets all its events of the revision in one message, in order', async (t) => {
  const { store, c, s } = setup();
  s.handle({ create_request: { key: enc('a'), range_end: enc('b') } });
  store.txn([
    { put: 'a1', value: '1' },
    { put: 'b1', value: 'x' },
    { put: 'a2', value: '2' },
    { del: 'nope' },
  ]);
  store.txn([{ put: 'a1', value: '3' }]);
  store.txn([{ del: 'a1' }, { put: 'a3', value: '4' }]);
  const msgs = c.got.slice(1);
  t.same(
    msgs.map((m) => m.events.map((e) => `${e.type === EventType.PUT ? 'put' : 'del'}:${dec(e.kv.key)}@${e.kv.mod_revision}`)),
    [['put:a1@2', 'put:a2@2'], ['put:a1@3'], ['del:a1@4', 'put:a3@4']],
  );
});

t.test('watch ids: assigned from 0 per session, client ids echoed, duplicates refused like etcd', async (t) => {
  const { hub, c, s, store } = setup();
  s.handle({ create_request: { key: enc('a') } });
  s.handle({ create_request: { key: enc('a'), watch_id: 2 } });
  s.handle({ create_request: { key: enc('a') } });
  s.handle({ create_request: { key: enc('a') } }); // skips 2
  s.handle({ create_request: { key: enc('a'), watch_id: 2 } });
  t.same(
    c.got.map((r) => [r.watch_id, !!r.created, !!r.canceled, r.cancel_reason]),
    [
      [0, true, false, undefined],
      [2, true, false, undefined],
      [1, true, false, undefined],
      [3, true, false, undefined],
      [-1, true, true, 'mvcc: duplicate watch ID provided on the WatchStream'],
    ],
  );
  t.equal(c.got[4].header.revision, store.rev, 'refusal carries the current revision');
  const c2 = new Collector();
  const s2 = hub.openSession(c2.sink);
  s2.handle({ create_request: { key: enc('a') } });
  t.equal(c2.got[0].watch_id, 0, 'ids are per session');
  t.equal(hub.stats().watchers, 5);
  t.equal(hub.stats().sessions, 2);
});

t.test('empty range refused with watch_id -1; key >= range_end', async (t) => {
  const { c, s, hub } = setup();
  s.handle({ create_request: { key: enc('b'), range_end: enc('a') } });
  s.handle({ create_request: { key: enc('b'), range_end: enc('b') } });
  for (const r of c.got) {
    t.same(r, { header: { ...HEADER, revision: 1 }, watch_id: -1, created: true, canceled: true, cancel_reason: 'mvcc: watcher range is empty', events: [] });
  }
  t.equal(hub.stats().watchers, 0);
});

t.test('key ranges: single key, prefix, from-key, no key', async (t) => {
  const { store, c, s } = setup();
  s.handle({ create_request: { key: enc('k') } }); // 0: exactly "k"
  s.handle({ create_request: { key: enc('k/'), range_end: enc('k0') } }); // 1: prefix "k/"
  s.handle({ create_request: { key: enc('m'), range_end: new Uint8Array([0]) } }); // 2: >= "m"
  s.handle({ create_request: { key: new Uint8Array(0) } }); // 3: no key = the key "\0"
  s.handle({ create_request: { key: new Uint8Array(0), range_end: new Uint8Array([0]) } }); // 4: every key
  s.handle({ create_request: {} as never }); // 5: no key at all
  t.ok(c.got.slice(0, 6).every(created), 'all created');
  t.same(c.got.slice(0, 6).map((r) => r.watch_id), [0, 1, 2, 3, 4, 5]);
  for (const k of ['k', 'k/a', 'k/', 'k0', 'ka', 'l', 'm', 'zz', '\0', 'j']) store.put(k, 'v');
  const keysOf = (id: number) => c.events(id).map((e) => dec(e.kv.key));
  t.same(keysOf(0), ['k']);
  t.same(keysOf(1), ['k/a', 'k/']);
  t.same(keysOf(2), ['m', 'zz']);
  t.same(keysOf(3), ['\0']);
  t.same(keysOf(4), ['k', 'k/a', 'k/', 'k0', 'ka', 'l', 'm', 'zz', '\0', 'j']);
  t.same(keysOf(5), ['\0']);
});

t.test('prev_kv and the DELETE shape', async (t) => {
  const { store, c, s } = setup();
  store.put('x', 'old');
  s.handle({ create_request: { key: enc('x'), prev_kv: true } });
  s.handle({ create_request: { key: enc('x') } });
  store.put('x', 'new');
  store.del('x');
  const [p1, d1] = c.events(0);
  t.equal(dec(p1.prev_kv?.value), 'old');
  t.equal(dec(d1.prev_kv?.value), 'new');
  t.same(d1.kv, { key: enc('x'), create_revision: 0, mod_revision: 4, version: 0, value: new Uint8Array(0), lease: 0n });
  const [p2, d2] = c.events(1);
  t.notOk('prev_kv' in p2);
  t.notOk('prev_kv' in d2);
  t.equal(d2.type, EventType.DELETE);
});

t.test('a DELETE from the store with extra kv fields is trimmed to key + mod_revision', async (t) => {
  const { hub, c, s, store } = setup();
  s.handle({ create_request: { key: enc('x') } });
  const fat = { key: enc('x'), create_revision: 2, mod_revision: 2, version: 4, value: enc('v'), lease: 5n };
  store.rev = 2;
  hub.notify([{ type: EventType.DELETE, kv: fat }], 2);
  t.same(c.events(0)[0].kv, { key: enc('x'), create_revision: 0, mod_revision: 2, version: 0, value: new Uint8Array(0), lease: 0n });
});

t.test('filters NOPUT / NODELETE, and no message when everything is filtered', async (t) => {
  const { store, c, s } = setup();
  s.handle({ create_request: { key: enc('a'), range_end: enc('b'), filters: [WatchFilterType.NOPUT] } });
  s.handle({ create_request: { key: enc('a'), range_end: enc('b'), filters: [WatchFilterType.NODELETE] } });
  s.handle({ create_request: { key: enc('a'), range_end: enc('b'), filters: [WatchFilterType.NOPUT, WatchFilterType.NODELETE] } });
  store.put('a1', '1');
  store.txn([{ del: 'a1' }, { put: 'a2', value: '2' }]);
  t.same(c.events(0).map((e) => e.type), [EventType.DELETE]);
  t.same(c.events(1).map((e) => e.type), [EventType.PUT, EventType.PUT]);
  t.same(c.of(2).length, 1, 'only created');
  t.same(c.of(0).length, 2, 'created + one message (the put-only revision sends nothing)');
  // Replay applies the filters too.
  s.handle({ create_request: { key: enc('a'), range_end: enc('b'), filters: [WatchFilterType.NOPUT], start_revision: 1, watch_id: 10 } });
  await c.until(() => c.events(10).length === 1, 'replay');
  t.same(c.events(10).map((e) => e.type), [EventType.DELETE]);
});

t.test('past start revision: replay then live, exactly once, in order; replay batches whole revisions', async (t) => {
  const { store, hub, c, s } = setup({ maxEventsPerResponse: 3, catchUpBatch: 4 });
  store.put('a', '1'); // 2
  store.txn([{ put: 'a', value: '2' }, { put: 'b', value: '2' }, { put: 'c', value: '2' }, { put: 'd', value: '2' }]); // 3: 4 events
  store.put('b', '3'); // 4
  store.put('c', '4'); // 5
  store.put('d', '5'); // 6
  s.handle({ create_request: { key: new Uint8Array([0]), range_end: new Uint8Array([0]), start_revision: 2 } });
  t.equal(hub.stats().unsyncedWatchers, 1);
  store.put('e', '6'); // 7, while the replay has not run yet
  await c.until(() => c.events(0).length === 9, 'replay');
  await hub.whenCatchUpIdle();
  store.put('f', '7'); // 8, live
  t.same(revs(c.events(0)), [2, 3, 3, 3, 3, 4, 5, 6, 7, 8]);
  const msgs = c.of(0).slice(1);
  for (const m of msgs) {
    const rs = revs(m.events);
    t.ok(m.events.length <= 3 || new Set(rs).size === 1, 'at most 3 events unless one revision');
  }
  // Revisions never split between messages.
  for (let i = 1; i < msgs.length; i++) {
    t.ok(msgs[i].events[0].kv.mod_revision > msgs[i - 1].events.at(-1)!.kv.mod_revision);
  }
  t.same(msgs.at(-1)!.header.revision, 8);
  t.equal(hub.stats().syncedWatchers, 1);
});

t.test('future start revision: only created, then events from that revision', async (t) => {
  const { store, c, s, hub } = setup({}, 3);
  s.handle({ create_request: { key: enc('a'), start_revision: 6 } });
  t.same(c.got, [{ header: { ...HEADER, revision: 3 }, watch_id: 0, created: true, events: [] }]);
  t.equal(hub.stats().syncedWatchers, 1);
  store.put('a', '1'); // 4
  store.put('a', '2'); // 5
  store.put('a', '3'); // 6
  store.put('a', '4'); // 7
  t.same(revs(c.events(0)), [6, 7]);
});

t.test('start revision equal to current + 1 or equal to current', async (t) => {
  const { store, c, s } = setup();
  store.put('a', '1'); // 2
  s.handle({ create_request: { key: enc('a'), start_revision: 3 } }); // current + 1: live
  s.handle({ create_request: { key: enc('a'), start_revision: 2 } }); // current: replays rev 2
  await c.until(() => c.events(1).length === 1, 'replay of rev 2');
  store.put('a', '2');
  await c.until(() => c.events(1).length === 2, 'live rev 3');
  t.same(revs(c.events(0)), [3]);
  t.same(revs(c.events(1)), [2, 3]);
});

t.test('compacted start revision: created, then canceled with compact_revision and no header revision', async (t) => {
  const { store, c, s, hub } = setup();
  for (let i = 0; i < 5; i++) store.put('a', String(i)); // revs 2..6
  store.compact(4);
  s.handle({ create_request: { key: enc('a'), start_revision: 3, watch_id: 5 } });
  t.same(c.got, [
    { header: { ...HEADER, revision: 6 }, watch_id: 5, created: true, events: [] },
    { header: { ...HEADER }, watch_id: 5, canceled: true, compact_revision: 4, events: [] },
  ]);
  t.notOk('cancel_reason' in c.got[1]);
  t.equal(hub.stats().watchers, 0);
  // As in etcd 3.4 the id stays taken until the client cancels it.
  s.handle({ create_request: { key: enc('a'), start_revision: 4, watch_id: 5 } });
  t.same(c.got[2], { header: { ...HEADER, revision: 6 }, watch_id: -1, created: true, canceled: true, cancel_reason: 'mvcc: duplicate watch ID provided on the WatchStream', events: [] });
  s.handle({ cancel_request: { watch_id: 5 } });
  t.same(c.got[3], { header: { ...HEADER, revision: 6 }, watch_id: 5, canceled: true, events: [] });
  // A start at exactly the compacted revision is fine.
  s.handle({ create_request: { key: enc('a'), start_revision: 4, watch_id: 5 } });
  await c.until(() => c.events(5).length === 3, 'replay from the compacted revision');
  t.same(revs(c.events(5)), [4, 5, 6]);
});

t.test('compaction while a watcher is catching up cancels it with compact_revision', async (t) => {
  const { store, c, s, hub } = setup({ catchUpBatch: 2 });
  for (let i = 0; i < 10; i++) store.put('a', String(i)); // revs 2..11
  const gate = new Gate();
  store.readGate = () => gate.wait();
  s.handle({ create_request: { key: enc('a'), start_revision: 2 } });
  await gate.arrival();
  t.equal(store.readCalls.length, 1);
  gate.release();
  await c.until(() => c.events(0).length === 2, 'first batch');
  await gate.arrival();
  store.compact(8);
  gate.openAll();
  await c.until(() => c.of(0).some((r) => r.canceled), 'compacted cancel');
  const last = c.of(0).at(-1)!;
  t.same(last, { header: { ...HEADER }, watch_id: 0, canceled: true, compact_revision: 8, events: [] });
  t.same(revs(c.events(0)), [2, 3], 'events before the cancel are a gapless prefix');
  await hub.whenCatchUpIdle();
  t.equal(hub.stats().watchers, 0);
});

t.test('a failing history read is retried', async (t) => {
  const { store, c, s, timers, hub } = setup();
  store.put('a', '1');
  store.failNextReads = 1;
  s.handle({ create_request: { key: enc('a'), start_revision: 1 } });
  await hub.whenCatchUpIdle();
  t.equal(c.events(0).length, 0);
  t.equal(timers.timeouts.size, 1, 'a retry is scheduled');
  timers.runTimeouts();
  await c.until(() => c.events(0).length === 1, 'retried replay');
  t.same(revs(c.events(0)), [2]);
});

t.test('cancel: answered with the id, nothing after; unknown ids get no answer', async (t) => {
  const { store, c, s, hub } = setup();
  s.handle({ create_request: { key: enc('a'), watch_id: 4 } });
  store.put('a', '1');
  s.handle({ cancel_request: { watch_id: 4 } });
  store.put('a', '2');
  s.handle({ cancel_request: { watch_id: 4 } });
  s.handle({ cancel_request: { watch_id: 77 } });
  t.same(c.got.map((r) => [r.watch_id, !!r.created, !!r.canceled, r.events.length]), [
    [4, true, false, 0],
    [4, false, false, 1],
    [4, false, true, 0],
  ]);
  t.same(c.got[2].header, { ...HEADER, revision: 2 });
  t.equal(hub.stats().watchers, 0);
  // Canceling a watcher that is catching up.
  const gate = new Gate();
  store.readGate = () => gate.wait();
  s.handle({ create_request: { key: enc('a'), start_revision: 1, watch_id: 8 } });
  s.handle({ cancel_request: { watch_id: 8 } });
  gate.openAll();
  await hub.whenCatchUpIdle();
  t.same(c.of(8).map((r) => [!!r.created, !!r.canceled, r.events.length]), [[true, false, 0], [false, true, 0]]);
  t.equal(hub.stats().watchers, 0);
});

t.test('progress_request: answered with watch_id -1 when all synced, deferred while catching up', async (t) => {
  const { store, c, s, hub } = setup();
  s.handle({ progress_request: {} });
  t.same(c.got, [{ header: { ...HEADER, revision: 1 }, watch_id: -1, events: [] }], 'no watchers: answered');
  s.handle({ create_request: { key: enc('a') } });
  store.put('a', '1');
  s.handle({ progress_request: {} });
  t.same(c.got.at(-1), { header: { ...HEADER, revision: 2 }, watch_id: -1, events: [] });

  const gate = new Gate();
  store.readGate = () => gate.wait();
  s.handle({ create_request: { key: enc('a'), start_revision: 1, watch_id: 9 } });
  const before = c.got.length;
  s.handle({ progress_request: {} });
  s.handle({ progress_request: {} });
  store.put('a', '2');
  t.equal(c.got.length, before + 1, 'only the live event of watcher 0; the progress answer waits');
  gate.openAll();
  await c.until(() => c.got.some((r, i) => i >= before && r.watch_id === -1), 'deferred progress');
  const tail = c.got.slice(before);
  const pi = tail.findIndex((r) => r.watch_id === -1);
  t.same(revs(tail.slice(0, pi).filter((r) => r.watch_id === 9).flatMap((r) => r.events)), [2, 3], 'replay before the answer');
  t.equal(tail[pi].header.revision, 3);
  t.equal(tail.filter((r) => r.watch_id === -1).length, 1, 'two requests while deferred, one answer');
  await hub.whenCatchUpIdle();
});

t.test('progress_notify with injected timers', async (t) => {
  const { store, c, s, timers } = setup({ progressIntervalMs: 1000 });
  s.handle({ create_request: { key: enc('a'), progress_notify: true } }); // 0
  s.handle({ create_request: { key: enc('b') } }); // 1: no progress
  s.handle({ create_request: { key: enc('c'), progress_notify: true, start_revision: 50 } }); // 2: future
  t.equal(timers.intervals.size, 1, 'one ticker per stream');
  const n = c.got.length;
  timers.tickIntervals();
  t.same(c.got.slice(n), [{ header: { ...HEADER, revision: 1 }, watch_id: 0, events: [] }]);
  store.put('a', '1');
  const m = c.got.length;
  timers.tickIntervals();
  t.equal(c.got.length, m, 'an event since the last tick elides the next progress');
  timers.tickIntervals();
  t.same(c.got.slice(m), [{ header: { ...HEADER, revision: 2 }, watch_id: 0, events: [] }]);
  s.close();
  t.equal(timers.intervals.size, 0, 'ticker stopped with the stream');
});

t.test('progress_notify skips a watcher that is catching up', async (t) => {
  const { store, c, s, timers, hub } = setup({ progressIntervalMs: 1000 });
  store.put('a', '1');
  const gate = new Gate();
  store.readGate = () => gate.wait();
  s.handle({ create_request: { key: enc('a'), progress_notify: true, start_revision: 1 } });
  const n = c.got.length;
  timers.tickIntervals();
  t.equal(c.got.length, n);
  gate.openAll();
  await hub.whenCatchUpIdle();
  timers.tickIntervals(); // the replay sent an event: elided
  timers.tickIntervals();
  t.same(c.got.at(-1), { header: { ...HEADER, revision: 2 }, watch_id: 0, events: [] });
});

t.test('a slow sink delays neither notify() nor a fast watcher; the slow one catches up exactly', async (t) => {
  const { store, hub, c: fast, s: fastSession } = setup({ maxQueuedResponses: 4, catchUpBatch: 50 });
  const slow = new Collector();
  const gate = new Gate();
  slow.delay = () => gate.wait();
  const slowSession = hub.openSession(slow.sink);
  fastSession.handle({ create_request: { key: enc('k'), range_end: enc('l') } });
  slowSession.handle({ create_request: { key: enc('k'), range_end: enc('l') } });
  t.equal(slow.got.length, 1, 'created delivered; the sink now holds the stream');

  const N = 2000;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) store.put(`k${i % 10}`, String(i));
  const ms = performance.now() - t0;
  t.equal(fast.events(0).length, N, 'the fast watcher got every event synchronously');
  t.equal(slow.got.length, 1, 'the slow sink still has only its first response');
  t.equal(hub.stats().unsyncedWatchers, 1, 'the slow watcher left the synced group');
  t.ok(ms < 2000, `notify loop took ${ms.toFixed(1)} ms`);

  gate.openAll();
  await slow.until(() => slow.events(0).length === N, 'slow catch-up');
  await hub.whenCatchUpIdle();
  t.same(revs(slow.events(0)), Array.from({ length: N }, (_, i) => i + 2));
  t.equal(hub.stats().unsyncedWatchers, 0);
  store.put('k1', 'live');
  t.equal(slow.events(0).length, N + 1, 'live again');
});

t.test('a sink that throws or rejects closes its stream only', async (t) => {
  const { store, hub, c, s } = setup();
  s.handle({ create_request: { key: enc('a') } });
  const bad = hub.openSession(() => {
    throw new Error('socket gone');
  });
  let reason: unknown;
  bad.onClosed((r) => (reason = r));
  bad.handle({ create_request: { key: enc('a') } });
  t.match(reason, { message: 'socket gone' });
  const rej = hub.openSession(() => Promise.reject(new Error('nope')));
  rej.handle({ create_request: { key: enc('a') } });
  await new Promise<void>((r) => rej.onClosed(() => r()));
  store.put('a', '1');
  t.equal(c.events(0).length, 1);
  t.same(hub.stats(), { watchers: 1, syncedWatchers: 1, unsyncedWatchers: 0, sessions: 1 });
});

t.test('session.close() and hub.close() cancel everything', async (t) => {
  const { store, hub, c, s, timers } = setup({ progressIntervalMs: 1000 });
  s.handle({ create_request: { key: enc('a'), progress_notify: true } });
  const c2 = new Collector();
  const s2 = hub.openSession(c2.sink);
  s2.handle({ create_request: { key: enc('a') } });
  const gate = new Gate();
  store.readGate = () => gate.wait();
  store.put('a', '1');
  s2.handle({ create_request: { key: enc('a'), start_revision: 1 } });
  t.equal(hub.stats().watchers, 3);
  s2.close();
  t.same(hub.stats(), { watchers: 1, syncedWatchers: 1, unsyncedWatchers: 0, sessions: 1 });
  const closed: unknown[] = [];
  s.onClosed((r) => closed.push(r));
  const n = c.got.length;
  hub.close();
  t.same(closed, ['hub closed']);
  t.same(hub.stats(), { watchers: 0, syncedWatchers: 0, unsyncedWatchers: 0, sessions: 0 });
  t.equal(timers.intervals.size, 0);
  store.put('a', '2');
  s.handle({ create_request: { key: enc('a') } });
  s.handle({ progress_request: {} });
  gate.openAll();
  await hub.whenCatchUpIdle();
  t.equal(c.got.length, n, 'nothing after close');
  t.equal(c2.got.length, 3, 'nothing after session close');
  const late = hub.openSession(new Collector().sink);
  t.ok(late.closed, 'a session opened after close is closed');
});

t.test('requests that are not create, cancel or progress are ignored', async (t) => {
  const { c, s } = setup();
  s.handle({} as never);
  s.handle({ create_request: undefined } as never);
  t.equal(c.got.length, 0);
});

t.test('many watchers: notify only touches the concerned ones', async (t) => {
  const { store, hub } = setup();
  const sinks: Collector[] = [];
  for (let i = 0; i < 2000; i++) {
    const c = new Collector();
    sinks.push(c);
    const s = hub.openSession(c.sink);
    s.handle({ create_request: { key: enc(`key-${i}`) } });
    if (i % 10 === 0) s.handle({ create_request: { key: enc(`key-${i}`), range_end: enc(`key-${i}~`) } });
  }
  store.put('key-10', 'v');
  store.put('key-100', 'v');
  const got = sinks.map((c) => c.got.filter((r) => !r.created).length);
  const nonzero = got.flatMap((n, i) => (n > 0 ? [[i, n]] : []));
  // key-10 is watched exactly by session 10 (and its range "key-10".."key-10~" also holds key-100),
  // key-100 by session 100 (exact and range).
  t.same(nonzero, [
    [10, 3],
    [100, 2],
  ]);
});

t.test('property: watchers started in the past while writes continue get every event exactly once, in order', async (t) => {
  const SEEDS = Number(process.env.WATCH_PROPERTY_SEEDS ?? 150);
  const FIRST = Number(process.env.WATCH_PROPERTY_FIRST ?? 1);
  const total = { slowed: 0, rejoined: 0, compactedCancels: 0, historyReads: 0, historyEvents: 0 };
  progressAnswers = 0;
  for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
    const c = await runScenario(t, seed);
    for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += c[k];
  }
  // The scenarios did exercise the paths in question.
  t.ok(progressAnswers > 0, `progress answers checked: ${progressAnswers}`);
  t.ok(total.slowed > 0 && total.rejoined > total.slowed, `slowed ${total.slowed}, rejoined ${total.rejoined}`);
  t.ok(total.historyReads > 100, `history reads ${total.historyReads} (${total.historyEvents} events)`);
  t.ok(total.compactedCancels > 0, `compacted cancels ${total.compactedCancels}`);
});

interface Spec {
  session: number;
  id: number;
  from: number; // first revision expected
  keyLo: string;
  kind: 'key' | 'prefix' | 'from' | 'range';
  hi: string;
  noPut: boolean;
  noDelete: boolean;
  prevKv: boolean;
  /** The test sent a cancel_request for it. */
  canceledByClient: boolean;
}

let progressAnswers = 0;

type Reporter = { fail(msg: string): void; pass(msg: string): void };

async function runScenario(t: Reporter, seed: number): Promise<WatchHubCounters> {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const store = new FakeStore(1);
  const timers = new FakeTimers();
  const hub = new WatchHub(store, {
    timers,
    logger,
    maxQueuedResponses: int(1, 4),
    catchUpBatch: int(1, 25),
    maxEventsPerResponse: int(1, 8),
    maxWatchersPerSync: int(1, 6),
  });
  store.hub = hub;
  store.readGate = () => hops(int(0, 3));
  const KEYS = ['a', 'a/1', 'a/2', 'a/3', 'b', 'b/1', 'b/2', 'c', 'd/x', 'd/y'];
  const randomOps = (): WriteOp[] => {
    const n = rand() < 0.3 ? int(2, 4) : 1;
    const used = new Set<string>();
    const ops: WriteOp[] = [];
    for (let i = 0; i < n; i++) {
      const k = pick(KEYS);
      if (used.has(k)) continue;
      used.add(k);
      ops.push(rand() < 0.25 ? { del: k } : { put: k, value: `${seed}-${store.rev}-${i}` });
    }
    return ops;
  };
  // Some history first.
  for (let i = int(5, 60); i > 0; i--) store.txn(randomOps());
  const compactAt = rand() < 0.25 ? int(store.rev + 5, store.rev + 80) : -1;

  const sessions = Array.from({ length: int(1, 3) }, () => {
    const c = new Collector();
    const slowness = rand();
    if (slowness < 0.6) c.delay = () => hops(int(0, slowness < 0.3 ? 4 : 1));
    return { c, s: hub.openSession(c.sink), nextId: 0 };
  });
  const specs: Spec[] = [];
  const createRandom = () => {
    const si = int(0, sessions.length - 1);
    const sess = sessions[si];
    const kind = pick(['key', 'prefix', 'from', 'range'] as const);
    const keyLo = pick(['a', 'a/', 'b', 'b/', 'c', 'd/', '']);
    const hi = kind === 'range' ? pick(['b', 'c', 'd/y', 'z']) : '';
    if (kind === 'range' && hi <= keyLo) return;
    const startChoice = rand();
    const start = startChoice < 0.15 ? 0 : startChoice < 0.25 ? store.rev + int(1, 3) : int(Math.max(1, store.compacted), store.rev);
    const spec: Spec = {
      session: si,
      id: sess.nextId++,
      from: start === 0 ? store.rev + 1 : start,
      keyLo,
      kind,
      hi,
      noPut: rand() < 0.15,
      noDelete: rand() < 0.15,
      prevKv: rand() < 0.5,
      canceledByClient: false,
    };
    specs.push(spec);
    const key = enc(keyLo);
    const range_end =
      kind === 'key' ? undefined : kind === 'from' ? new Uint8Array([0]) : kind === 'range' ? enc(hi) : prefixEnd(key);
    const filters = [...(spec.noPut ? [WatchFilterType.NOPUT] : []), ...(spec.noDelete ? [WatchFilterType.NODELETE] : [])];
    sess.s.handle({ create_request: { key, range_end, start_revision: start, filters, prev_kv: spec.prevKv } });
  };

  const writes = int(50, 200);
  for (let i = 0; i < writes; i++) {
    if (rand() < 0.08 || (i === 0 && specs.length === 0)) createRandom();
    if (rand() < 0.03) pick(sessions).s.handle({ progress_request: {} });
    if (rand() < 0.02 && specs.length > 0) {
      const victim = pick(specs);
      if (!victim.canceledByClient) {
        victim.canceledByClient = true;
        sessions[victim.session].s.handle({ cancel_request: { watch_id: victim.id } });
      }
    }
    store.txn(randomOps());
    if (store.rev >= compactAt && compactAt > 0 && store.compacted === 0) store.compact(int(Math.max(1, store.rev - 30), store.rev));
    if (rand() < 0.35) await hops(int(0, 2));
  }
  createRandom();

  // Expected events per watcher, from the full log.
  const matchKey = (s: Spec, k: string): boolean => {
    const lo = s.keyLo === '' ? '\0' : s.keyLo;
    switch (s.kind) {
      case 'key':
        return k === lo;
      case 'prefix':
        return s.keyLo === '' ? true : k.startsWith(s.keyLo);
      case 'from':
        return k >= lo;
      case 'range':
        return k >= lo && k < s.hi;
    }
  };
  const expected = (s: Spec): Event[] =>
    store.log.filter((e) => {
      if (e.kv.mod_revision < s.from || !matchKey(s, dec(e.kv.key))) return false;
      return e.type === EventType.PUT ? !s.noPut : !s.noDelete;
    });

  const label = `seed ${seed}`;
  for (const spec of specs) {
    const c = sessions[spec.session].c;
    const want = expected(spec);
    await c.until(
      () => c.events(spec.id).length >= want.length || c.of(spec.id).some((r) => r.canceled),
      `${label}: watcher ${spec.session}/${spec.id} (${want.length} events)`,
    );
  }
  // Slow sinks may still be draining; a watcher that got all its events may still be unsynced until
  // its stream drains and the catch-up has covered the (non-matching) revisions since.
  for (let i = 0; i < 1000 && (hub.stats().unsyncedWatchers > 0 || sessions.some((x) => x.s.queued > 0)); i++) {
    await hops(1);
    await hub.whenCatchUpIdle();
  }
  await hops(2);

  let failures = 0;
  for (const spec of specs) {
    const c = sessions[spec.session].c;
    const msgs = c.of(spec.id);
    const want = expected(spec);
    const got = c.events(spec.id);
    const what = `${label}: watcher ${spec.session}/${spec.id} ${JSON.stringify({ ...spec, session: undefined })}`;
    const ok = (cond: boolean, msg: string) => {
      if (!cond) {
        failures++;
        t.fail(`${what}: ${msg}`);
      }
    };
    ok(msgs[0]?.created === true && msgs[0].events.length === 0, 'created first');
    const canceled = msgs.findIndex((r) => r.canceled);
    if (canceled >= 0) {
      const cancels = msgs.slice(canceled);
      ok(cancels.every((r) => r.canceled && r.events.length === 0), 'nothing but cancels after the first cancel');
      const compactCancel = cancels.find((r) => r.compact_revision !== undefined);
      const clientCancel = cancels.find((r) => r.compact_revision === undefined);
      ok(cancels.length === (compactCancel ? 1 : 0) + (clientCancel ? 1 : 0), 'at most one cancel of each kind');
      if (compactCancel) ok(compactCancel.compact_revision === store.compacted && compactCancel.header.revision === undefined, 'compacted cancel');
      if (clientCancel) ok(spec.canceledByClient && clientCancel.header.revision !== undefined, 'client cancel');
      if (spec.canceledByClient) ok(clientCancel !== undefined, 'a cancel_request is answered');
      ok(
        got.length <= want.length && got.every((e, i) => e === want[i] || sameEvent(e, want[i], spec.prevKv)),
        'a gapless prefix before the cancel',
      );
    } else {
      ok(!spec.canceledByClient, 'a cancel_request is answered');
      ok(got.length === want.length, `count ${got.length} != ${want.length}; got revs ${revs(got)} want ${revs(want)}`);
      for (let i = 0; i < Math.min(got.length, want.length); i++) {
        if (!sameEvent(got[i], want[i], spec.prevKv)) {
          ok(false, `event ${i} differs: got rev ${got[i].kv.mod_revision} want ${want[i].kv.mod_revision}`);
          break;
        }
      }
    }
    const bodies = msgs.filter((r) => !r.created && !r.canceled);
    for (let i = 0; i < bodies.length; i++) {
      ok(bodies[i].events.length > 0, 'no empty messages');
      const rs = revs(bodies[i].events);
      ok(rs.every((r, j) => j === 0 || r >= rs[j - 1]), 'ordered within a message');
      ok((bodies[i].header.revision ?? 0) >= rs[rs.length - 1], 'header revision covers the events');
      if (i > 0) ok(rs[0] > revs(bodies[i - 1].events).at(-1)!, 'revisions never split or repeated across messages');
    }
  }
  // A progress answer (watch_id -1) with revision R comes after every event <= R of every watcher of
  // its stream that existed then.
  for (const [si, { c }] of sessions.entries()) {
    c.got.forEach((r, p) => {
      if (r.watch_id !== -1 || r.created) return;
      progressAnswers++;
      const R = r.header.revision!;
      for (const spec of specs) {
        if (spec.session !== si) continue;
        const before = c.got.slice(0, p).filter((x) => x.watch_id === spec.id);
        if (before.length === 0 || before.some((x) => x.canceled)) continue;
        const delivered = before.reduce((n, x) => n + x.events.length, 0);
        const due = expected(spec).filter((e) => e.kv.mod_revision <= R).length;
        if (delivered < due) {
          failures++;
          t.fail(`${label}: progress ${R} at ${p} in session ${si} overtakes watcher ${spec.id}: ${delivered} < ${due}`);
        }
      }
    });
  }
  const st = hub.stats();
  if (st.unsyncedWatchers !== 0) {
    failures++;
    t.fail(`${label}: ${st.unsyncedWatchers} watchers still unsynced`);
  }
  const counters = hub.counters();
  if (failures === 0) {
    t.pass(`${label}: ${specs.length} watchers, ${store.rev} revisions, compacted ${store.compacted}, ${JSON.stringify(counters)}`);
  }
  hub.close();
  return counters;
}

function sameEvent(got: Event, want: Event, prevKv: boolean): boolean {
  if (got.type !== want.type || got.kv !== want.kv && !sameKv(got.kv, want.kv)) return false;
  if (prevKv) return got.prev_kv === want.prev_kv;
  return got.prev_kv === undefined;
}

function sameKv(a: Event['kv'], b: Event['kv']): boolean {
  return dec(a.key) === dec(b.key) && a.mod_revision === b.mod_revision && dec(a.value) === dec(b.value);
}

function prefixEnd(key: Uint8Array): Uint8Array {
  if (key.length === 0) return new Uint8Array([0]);
  const end = Uint8Array.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.slice(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

t.test('fragment: a watcher that asks for it gets a large message in fragments; others get it whole', async (t) => {
  const { store, c, s } = setup({ maxResponseBytes: 1000 });
  s.handle({ create_request: { key: enc('f'), range_end: enc('g'), fragment: true } });
  s.handle({ create_request: { key: enc('f'), range_end: enc('g') } });
  const big = 'x'.repeat(400);
  store.txn([0, 1, 2, 3, 4].map((i) => ({ put: `f${i}`, value: big })));
  const frags = c.of(0).slice(1);
  t.same(frags.map((r) => [r.events.length, !!r.fragment]), [
    [2, true],
    [2, true],
    [1, false],
  ]);
  t.ok(frags.every((r) => r.header.revision === 2));
  t.same(c.of(1).slice(1).map((r) => r.events.length), [5]);
  store.put('f1', 'small');
  t.notOk(c.of(0).at(-1)!.fragment, 'a small message is not fragmented');
});

t.test('replay messages are cut by size between revisions', async (t) => {
  const { store, c, s } = setup({ maxResponseBytes: 1000 });
  const v = 'y'.repeat(300);
  for (let i = 0; i < 6; i++) store.put(`k${i}`, v); // revs 2..7, ~340 bytes each
  s.handle({ create_request: { key: enc('k'), range_end: enc('l'), start_revision: 2 } });
  await c.until(() => c.events(0).length === 6, 'replay');
  t.same(c.of(0).slice(1).map((r) => revs(r.events)), [[2, 3], [4, 5], [6, 7]]);
});

t.test('notify for an old revision is ignored', async (t) => {
  const { store, hub, c, s } = setup();
  s.handle({ create_request: { key: enc('a') } });
  store.put('a', '1');
  hub.notify(store.log.slice(-1), 2);
  hub.notify([], 1);
  t.equal(c.events(0).length, 1);
  t.equal(hub.revision, 2);
});

t.test('a source that is behind the hub is read again later', async (t) => {
  const { store, hub, c, s, timers } = setup();
  store.put('a', '1'); // 2
  // The store notifies revision 3 but does not show it yet (its history lags).
  store.rev = 3;
  const kv = { key: enc('a'), create_revision: 2, mod_revision: 3, version: 2, value: enc('2'), lease: 0n };
  hub.notify([{ type: EventType.PUT, kv }], 3);
  store.rev = 2;
  s.handle({ create_request: { key: enc('a'), start_revision: 2 } });
  await c.until(() => c.events(0).length === 1, 'rev 2');
  await hub.whenCatchUpIdle();
  t.equal(hub.stats().unsyncedWatchers, 1, 'waits for the source to show rev 3');
  t.equal(timers.timeouts.size, 1, 'retry scheduled');
  store.log.push({ type: EventType.PUT, kv });
  store.rev = 3;
  timers.runTimeouts();
  await c.until(() => c.events(0).length === 2, 'rev 3');
  await hub.whenCatchUpIdle();
  t.same(revs(c.events(0)), [2, 3]);
  t.equal(hub.stats().syncedWatchers, 1);
});

t.test('a sink that cancels from inside its callback', async (t) => {
  const { store, hub } = setup();
  const c = new Collector();
  let session!: ReturnType<typeof hub.openSession>;
  c.delay = (r) => {
    if (r.created && r.watch_id === 0) session.handle({ cancel_request: { watch_id: 0 } });
    if (r.events.length > 0 && r.watch_id === 1) session.handle({ cancel_request: { watch_id: 1 } });
  };
  session = hub.openSession(c.sink);
  session.handle({ create_request: { key: enc('a') } }); // canceled on `created`
  session.handle({ create_request: { key: enc('a') } }); // canceled on its first event
  store.put('a', '1');
  store.put('a', '2');
  t.same(c.got.map((r) => [r.watch_id, !!r.created, !!r.canceled, revs(r.events)]), [
    [0, true, false, []],
    [0, false, true, []],
    [1, true, false, []],
    [1, false, false, [2]],
    [1, false, true, []],
  ]);
  t.equal(hub.stats().watchers, 0);
});

t.test('a negative start revision replays all history, or is compacted once anything was', async (t) => {
  const { store, c, s } = setup();
  store.put('a', '1');
  store.put('a', '2');
  s.handle({ create_request: { key: enc('a'), start_revision: -5 } });
  await c.until(() => c.events(0).length === 2, 'replay');
  t.same(revs(c.events(0)), [2, 3]);
  store.compact(2);
  s.handle({ create_request: { key: enc('a'), start_revision: -5 } });
  t.same(c.of(1).map((r) => [!!r.created, !!r.canceled, r.compact_revision]), [
    [true, false, undefined],
    [false, true, 2],
  ]);
});

t.test('restored(): after a snapshot jump, synced watchers catch up from history or are compacted', async (t) => {
  const { store, hub, c, s } = setup();
  s.handle({ create_request: { key: enc('a'), range_end: enc('b') } }); // 0
  s.handle({ create_request: { key: enc('x') } }); // 1
  s.handle({ create_request: { key: enc('a9'), start_revision: 100 } }); // 2: future
  store.put('a1', '1'); // 2, live
  // A snapshot brings revisions 3..5 without notify().
  store.hub = undefined;
  store.put('a2', '2');
  store.put('x', '3');
  store.put('a3', '4');
  store.hub = hub;
  hub.restored(5);
  t.equal(hub.revision, 5);
  store.put('a4', '5'); // 6 (may arrive before the catch-up ran)
  await c.until(() => c.events(0).length === 4 && c.events(1).length === 1, 'catch-up after restore');
  await hub.whenCatchUpIdle();
  t.same(revs(c.events(0)), [2, 3, 5, 6]);
  t.same(revs(c.events(1)), [4]);
  t.equal(hub.stats().syncedWatchers, 3, 'all synced again, the future watcher too');

  // A snapshot whose compaction took the revisions a watcher still needs.
  store.hub = undefined;
  store.put('a5', '6'); // 7
  store.put('a6', '7'); // 8
  store.compact(8);
  store.hub = hub;
  hub.restored(8);
  await c.until(() => c.of(0).some((r) => r.canceled) && c.of(1).some((r) => r.canceled), 'compacted cancels');
  t.same(c.of(0).at(-1), { header: { ...HEADER }, watch_id: 0, canceled: true, compact_revision: 8, events: [] });
  t.same(revs(c.events(0)), [2, 3, 5, 6], 'nothing from the lost revisions');
  await hub.whenCatchUpIdle();
  t.same(hub.stats(), { watchers: 1, syncedWatchers: 1, unsyncedWatchers: 0, sessions: 1 }, 'the future watcher stays');
});

t.test('notify with a batch of several revisions: one message per revision', async (t) => {
  const { store, hub, c, s } = setup();
  s.handle({ create_request: { key: enc('a'), range_end: enc('b'), prev_kv: true } });
  s.handle({ create_request: { key: enc('a2') } });
  store.hub = undefined;
  const from = store.log.length;
  store.put('a1', '1'); // 2
  store.txn([{ put: 'a1', value: '2' }, { put: 'a2', value: '2' }]); // 3
  store.put('zz', '3'); // 4
  store.put('a2', '4'); // 5
  store.hub = hub;
  hub.notify(store.log.slice(from), 6); // the batch ended at 6 (a revision without events for us)
  t.same(c.of(0).slice(1).map((r) => [r.header.revision, revs(r.events)]), [
    [2, [2]],
    [3, [3, 3]],
    [5, [5]],
  ]);
  t.same(c.of(1).slice(1).map((r) => [r.header.revision, revs(r.events)]), [
    [3, [3]],
    [5, [5]],
  ]);
  t.equal(dec(c.events(0)[1].prev_kv?.value), '1');
  t.equal(hub.revision, 6);
});
