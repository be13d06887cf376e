import t from 'tap';
import { IntervalIndex } from '../../src/kv/watch/interval-index.js';
import { keyBytes, keyString, rangeContains, watchRange, EmptyWatchRangeError } from '../../src/kv/watch/key-range.js';
import { chunkByRevision, normalizeEvent, withoutPrevKv } from '../../src/kv/watch/events.js';
import { EventType, type Event } from '../../src/kv/api.js';
import { rng } from './watch-fixtures.js';

t.test('keyString keeps bytewise order, for short and long keys', async (t) => {
  const rand = rng(7);
  const keys: Uint8Array[] = [];
  for (let i = 0; i < 400; i++) {
    const len = Math.floor(rand() * (i % 2 ? 8 : 200));
    keys.push(Uint8Array.from({ length: len }, () => Math.floor(rand() * 256)));
  }
  const cmpBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  let bad = 0;
  for (let i = 0; i + 1 < keys.length; i++) {
    const a = keys[i];
    const b = keys[i + 1];
    const sa = keyString(a);
    const sb = keyString(b);
    if (Math.sign(cmpBytes(a, b)) !== (sa < sb ? -1 : sa > sb ? 1 : 0)) bad++;
    if (Buffer.compare(Buffer.from(keyBytes(sa)), Buffer.from(a)) !== 0) bad++;
  }
  t.equal(bad, 0, 'order and round trip of 400 random keys');
  t.equal(keyString(new Uint8Array(0)), '');
});

t.test('watchRange: etcd forms', async (t) => {
  t.same(watchRange(undefined, undefined), { kind: 'key', start: '\0' });
  t.same(watchRange(new Uint8Array(0), new Uint8Array([0])), { kind: 'from', start: '\0' });
  t.same(watchRange(Buffer.from('a'), Buffer.from('b')), { kind: 'range', start: 'a', end: 'b' });
  t.same(watchRange(Buffer.from('a'), new Uint8Array(0)), { kind: 'key', start: 'a' });
  t.throws(() => watchRange(Buffer.from('b'), Buffer.from('a')), EmptyWatchRangeError);
  t.throws(() => watchRange(Buffer.from('b'), Buffer.from('b')), EmptyWatchRangeError);
  // An empty key with a range end: from "\0" up to it.
  const r = watchRange(undefined, Buffer.from('b'));
  t.ok(rangeContains(r, 'a') && rangeContains(r, '\0') && !rangeContains(r, 'b'));
});

t.test('IntervalIndex agrees with a brute-force scan under random adds and removes', async (t) => {
  const rand = rng(42);
  const alphabet = 'abcdef';
  const word = () => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
  const idx = new IntervalIndex<number>();
  const live = new Map<number, { start: string; end: string | null }>();
  let nextItem = 0;
  let checks = 0;
  for (let step = 0; step < 4000; step++) {
    const r = rand();
    if (r < 0.45 || live.size === 0) {
      const a = word();
      const b = word();
      const start = a < b ? a : b;
      const end = rand() < 0.15 ? null : a < b ? b : a + '\0';
      // Share intervals sometimes (several items on one node).
      const reuse = rand() < 0.3 && live.size > 0 ? [...live.values()][Math.floor(rand() * live.size)] : { start, end };
      const item = nextItem++;
      live.set(item, reuse);
      idx.add(reuse.start, reuse.end, item);
    } else if (r < 0.8) {
      const items = [...live.keys()];
      const item = items[Math.floor(rand() * items.length)];
      const iv = live.get(item)!;
      live.delete(item);
      if (!idx.remove(iv.start, iv.end, item)) t.fail(`step ${step}: remove failed`);
    } else {
      const k = word();
      const got: number[] = [];
      idx.forEachContaining(k, (items) => got.push(...items));
      const want = [...live.entries()].filter(([, iv]) => k >= iv.start && (iv.end === null || k < iv.end)).map(([i]) => i);
      got.sort((x, y) => x - y);
      want.sort((x, y) => x - y);
      if (JSON.stringify(got) !== JSON.stringify(want)) t.fail(`step ${step}: key ${k}: got ${got} want ${want}`);
      checks++;
    }
    if (idx.size !== live.size) t.fail(`step ${step}: size ${idx.size} != ${live.size}`);
  }
  t.ok(checks > 500, `${checks} stabbing queries checked`);
  t.notOk(idx.remove('zz', null, 12345), 'removing an unknown item');
});

t.test('chunkByRevision keeps revisions whole', async (t) => {
  const ev = (rev: number): Event => ({
    type: EventType.PUT,
    kv: { key: Buffer.from('k'), create_revision: 1, mod_revision: rev, version: 1, value: Buffer.from('v'), lease: 0n },
  });
  const evs = [1, 1, 2, 3, 3, 3, 3, 4, 5].map(ev);
  const chunks = chunkByRevision(evs, 3).map((c) => c.map((e) => e.kv.mod_revision));
  t.same(chunks, [[1, 1, 2], [3, 3, 3, 3], [4, 5]]);
  t.same(chunkByRevision(evs, 100).length, 1);
  t.same(chunkByRevision([ev(1), ev(2), ev(3)], 1).length, 3);
  const withPrev = { ...ev(2), prev_kv: ev(1).kv };
  t.notOk('prev_kv' in withoutPrevKv(withPrev));
  const plain = ev(3);
  t.equal(withoutPrevKv(plain), plain);
  const del: Event = { type: EventType.DELETE, kv: { ...ev(4).kv }, prev_kv: ev(3).kv };
  const n = normalizeEvent(del);
  t.same(n.kv, { key: Buffer.from('k'), create_revision: 0, mod_revision: 4, version: 0, value: new Uint8Array(0), lease: 0n });
  t.equal(n.prev_kv, del.prev_kv);
  t.equal(normalizeEvent(n), n);
});
