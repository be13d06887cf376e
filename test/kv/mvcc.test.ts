// Revisions, versions, generations, put/delete and range, with the numbers etcd 3.4 gives.
import t from 'tap';
import { SortOrder, SortTarget } from '../../src/kv/api.js';
import { b, Driver, errText, rejects, s } from './helpers.js';

const ZERO = new Uint8Array([0]);

t.test('revisions and versions', async (t) => {
  const d = await Driver.open(t);
  t.equal(d.store.currentRevision(), 1, 'an empty store is at revision 1');
  t.same((await d.get('foo')).header, { revision: 1 });
  t.equal((await d.put('foo', 'bar')).header.revision, 2, 'the first write is revision 2');
  await d.put('foo', 'baz');
  let kv = (await d.get('foo')).kvs[0]!;
  t.same([kv.create_revision, kv.mod_revision, kv.version, s(kv.value)], [2, 3, 2, 'baz']);
  t.equal(kv.lease, 0n);

  const dr = await d.del('foo');
  t.same([dr.header.revision, dr.deleted], [4, 1]);
  t.equal((await d.get('foo')).count, 0);
  const miss = await d.del('foo');
  t.same([miss.header.revision, miss.deleted], [4, 0], 'deleting a missing key does not bump the revision');
  t.equal(d.store.currentRevision(), 4);

  await d.put('foo', 'again');
  kv = (await d.get('foo')).kvs[0]!;
  t.same([kv.create_revision, kv.mod_revision, kv.version], [5, 5, 1], 'a recreated key starts a new generation');
  t.equal(d.store.keyCount(), 1);

  // History.
  t.same(await d.kv('foo', { revision: 2 }), ['foo=bar']);
  t.same(await d.kv('foo', { revision: 3 }), ['foo=baz']);
  t.same(await d.kv('foo', { revision: 4 }), [], 'deleted at 4');
  t.same(await d.kv('foo', { revision: 1 }), [], 'not yet created');
  const h = await d.get('foo', { revision: 3 });
  t.equal(h.header.revision, 5, 'the header carries the current revision');
  t.same([h.kvs[0]!.create_revision, h.kvs[0]!.mod_revision, h.kvs[0]!.version], [2, 3, 2]);
  t.same(await d.kv('foo', { revision: 0 }), ['foo=again'], 'revision 0 is current');
  t.same(await d.kv('foo', { revision: -3 }), ['foo=again'], 'a negative revision is current');
  t.equal(await rejects(d.get('foo', { revision: 6 })), 'etcdserver: mvcc: required revision is a future revision');
  t.equal(await rejects(d.get('')), 'etcdserver: key is not provided');
});

t.test('put options', async (t) => {
  const d = await Driver.open(t);
  t.equal(errText(await d.req({ put: { key: new Uint8Array(0), value: b('x') } })), 'etcdserver: key is not provided');
  t.equal(errText(await d.req({ put: { key: b('k'), ignore_value: true } })), 'etcdserver: key not found');
  t.equal(errText(await d.req({ put: { key: b('k'), ignore_lease: true } })), 'etcdserver: key not found');
  t.equal(errText(await d.req({ put: { key: b('k'), value: b('x'), ignore_value: true } })), 'etcdserver: value is provided');
  t.equal(errText(await d.req({ put: { key: b('k'), lease: 3n, ignore_lease: true } })), 'etcdserver: lease is provided');
  t.equal(errText(await d.req({ put: { key: b('k'), lease: 3n } })), 'etcdserver: requested lease not found');
  // A top-level put checks the lease before the key.
  t.equal(errText(await d.req({ put: { key: b('k'), lease: 3n, ignore_value: true } })), 'etcdserver: requested lease not found');
  t.equal(d.store.currentRevision(), 1, 'failed requests change nothing');

  await d.grant(3n, 60);
  await d.put('k', 'v1', { lease: 3n });
  const r = await d.put('k', '', { ignore_value: true, prev_kv: true });
  t.equal(s(r.prev_kv!.value), 'v1');
  let kv = (await d.get('k')).kvs[0]!;
  t.same([s(kv.value), kv.lease, kv.version], ['v1', 0n, 2], 'ignore_value keeps the value; no lease detaches');
  await d.put('k', 'v2', { lease: 3n });
  await d.put('k', 'v3', { ignore_lease: true });
  kv = (await d.get('k')).kvs[0]!;
  t.same([s(kv.value), kv.lease], ['v3', 3n], 'ignore_lease keeps the lease');
  t.equal((await d.put('new', 'x', { prev_kv: true })).prev_kv, undefined, 'no prev_kv for a new key');
  // Same value again still makes a revision.
  const rev = d.store.currentRevision();
  await d.put('k', 'v3', { ignore_lease: true });
  t.equal(d.store.currentRevision(), rev + 1);
});

t.test('delete range forms', async (t) => {
  const d = await Driver.open(t);
  for (const k of ['a', 'b', 'b1', 'c', 'd']) await d.put(k, k.toUpperCase());
  const r = await d.del('b', 'c', { prev_kv: true });
  t.same([r.deleted, r.header.revision], [2, 7]);
  t.same(r.prev_kvs.map((kv) => `${s(kv.key)}=${s(kv.value)}@${kv.mod_revision}`), ['b=B@3', 'b1=B1@4']);
  t.same((await d.del('a', 'a')).deleted, 0, 'range_end == key deletes nothing');
  t.same((await d.del('c', 'a')).deleted, 0, 'range_end < key deletes nothing');
  t.same((await d.del('c')).prev_kvs, [], 'prev_kvs only when asked');
  t.same(await d.kv('a', { range_end: ZERO }), ['a=A', 'd=D']);
  const all = await d.del('\0', '\0');
  t.same([all.deleted, all.header.revision], [2, 9], 'from-key: every key, one revision');
  t.equal(d.store.keyCount(), 0);
});

t.test('range: forms, limit, more, count, sort, filters', async (t) => {
  const d = await Driver.open(t);
  // The data of the etcd check: r/a=3 (2), r/b=1 (3), r/c=2 (4), then r/a=0 (5).
  await d.put('r/a', '3');
  await d.put('r/b', '1');
  await d.put('r/c', '2');
  await d.put('r/a', '0');
  await d.put('q', 'outside');
  await d.put('s', 'outside');
  const pre = { key: b('r/'), range_end: b('r0') };
  const keys = (r: { kvs: { key: Uint8Array }[] }) => r.kvs.map((kv) => s(kv.key));

  let r = await d.store.range({ ...pre, limit: 2 });
  t.same([keys(r), r.more, r.count], [['r/a', 'r/b'], true, 3]);
  r = await d.store.range({ ...pre, limit: 3 });
  t.same([keys(r), r.more, r.count], [['r/a', 'r/b', 'r/c'], false, 3], 'limit == count: no more');
  r = await d.store.range({ ...pre, limit: 1, sort_order: SortOrder.DESCEND });
  t.same([keys(r), r.more, r.count], [['r/c'], true, 3], 'sort before limit: DESCEND with limit 1 is the last key');
  r = await d.store.range({ ...pre, sort_target: SortTarget.VALUE });
  t.same(keys(r), ['r/a', 'r/b', 'r/c'], 'VALUE without order sorts ascending (0,1,2)');
  r = await d.store.range({ ...pre, sort_target: SortTarget.VALUE, sort_order: SortOrder.DESCEND });
  t.same(keys(r), ['r/c', 'r/b', 'r/a']);
  r = await d.store.range({ ...pre, sort_target: SortTarget.MOD, sort_order: SortOrder.DESCEND, limit: 2 });
  t.same([keys(r), r.more, r.count], [['r/a', 'r/c'], true, 3]);
  r = await d.store.range({ ...pre, sort_target: SortTarget.CREATE, sort_order: SortOrder.DESCEND });
  t.same(keys(r), ['r/c', 'r/b', 'r/a']);
  r = await d.store.range({ ...pre, sort_target: SortTarget.VERSION, sort_order: SortOrder.DESCEND, limit: 1 });
  t.same(keys(r), ['r/a']);
  r = await d.store.range({ ...pre, sort_target: SortTarget.KEY, sort_order: SortOrder.ASCEND });
  t.same(keys(r), ['r/a', 'r/b', 'r/c']);

  r = await d.store.range({ ...pre, min_mod_revision: 4, limit: 1 });
  t.same([keys(r), r.more, r.count], [['r/a'], true, 3], 'count is taken before the filters');
  r = await d.store.range({ ...pre, max_mod_revision: 3 });
  t.same([keys(r), r.count], [['r/b'], 3]);
  r = await d.store.range({ ...pre, min_create_revision: 3, max_create_revision: 3 });
  t.same([keys(r), r.more, r.count], [['r/b'], false, 3]);
  r = await d.store.range({ ...pre, min_create_revision: 3, limit: 1 });
  t.same([keys(r), r.more], [['r/b'], true]);

  r = await d.store.range({ ...pre, count_only: true, limit: 1 });
  t.same([r.kvs, r.more, r.count], [[], false, 3], 'count_only with limit: full count, no more');
  r = await d.store.range({ ...pre, keys_only: true, limit: -1 });
  t.same([keys(r), r.kvs.map((kv) => kv.value.length), r.count], [['r/a', 'r/b', 'r/c'], [0, 0, 0], 3], 'negative limit: no limit');
  t.same([r.kvs[0]!.version, r.kvs[0]!.create_revision], [2, 2], 'keys_only keeps the metadata');
  t.same(await d.kv('r/a'), ['r/a=0'], 'single key');
  t.same(await d.kv('r/c', { range_end: b('r/a') }), [], 'range_end < key is empty, not an error');
  t.same(await d.kv('r/b', { range_end: b('r/b') }), [], 'range_end == key is empty');
  t.same(await d.kv('r/b', { range_end: ZERO }), ['r/b=1', 'r/c=2', 's=outside'], 'from-key');
  t.same((await d.get('\0', { range_end: ZERO, count_only: true })).count, 5, 'every key');
  t.same(await d.kv('r/zz'), [], 'missing key');
});

t.test('range at a past revision', async (t) => {
  const d = await Driver.open(t);
  for (let i = 0; i < 10; i++) await d.put(`k${i}`, `v${i}`); // revisions 2..11
  for (let i = 0; i < 10; i += 2) await d.put(`k${i}`, `w${i}`); // 12..16
  await d.del('k1'); // 17
  const pre = { key: b('k'), range_end: b('l') };
  let r = await d.store.range({ ...pre, revision: 6 });
  t.same(r.kvs.map((kv) => `${s(kv.key)}=${s(kv.value)}`), ['k0=v0', 'k1=v1', 'k2=v2', 'k3=v3', 'k4=v4']);
  t.same([r.count, r.header.revision], [5, 17]);
  r = await d.store.range({ ...pre, revision: 16, limit: 3, sort_order: SortOrder.DESCEND, sort_target: SortTarget.MOD });
  t.same(r.kvs.map((kv) => `${s(kv.key)}=${s(kv.value)}@${kv.mod_revision}/${kv.version}`), ['k8=w8@16/2', 'k6=w6@15/2', 'k4=w4@14/2']);
  t.same([r.count, r.more], [10, true]);
  r = await d.store.range({ ...pre, revision: 16, sort_target: SortTarget.VALUE, sort_order: SortOrder.DESCEND, limit: 2 });
  t.same(r.kvs.map((kv) => s(kv.value)), ['w8', 'w6']);
  r = await d.store.range({ ...pre, revision: 16, min_mod_revision: 12, keys_only: true });
  t.same(r.kvs.map((kv) => `${s(kv.key)}=${s(kv.value)}`), ['k0=', 'k2=', 'k4=', 'k6=', 'k8=']);
  r = await d.store.range({ ...pre, revision: 17, count_only: true });
  t.same([r.count, r.kvs], [9, []]);
  t.same(await d.kv('k1', { revision: 16 }), ['k1=v1']);
  t.same(await d.kv('k1', { revision: 17 }), []);
  // The same answers after a restart (history from LevelDB, index rebuilt).
  await d.reopen();
  r = await d.store.range({ ...pre, revision: 6 });
  t.same(r.kvs.map((kv) => `${s(kv.key)}=${s(kv.value)}`), ['k0=v0', 'k1=v1', 'k2=v2', 'k3=v3', 'k4=v4']);
  t.same(await d.kv('k', { range_end: b('l'), limit: 2 }), ['k0=w0', 'k2=w2']);
  const kv = (await d.get('k8')).kvs[0]!;
  t.same([kv.create_revision, kv.mod_revision, kv.version], [10, 16, 2]);
  t.equal(d.store.keyCount(), 9);
});

t.test('binary keys order bytewise', async (t) => {
  const d = await Driver.open(t);
  const keys = [[0x01], [0x7f], [0x80], [0x80, 0x00], [0x9f], [0xff], [0xff, 0xff]].map((k) => new Uint8Array(k));
  for (const k of [...keys].reverse()) await d.ok({ put: { key: k, value: k } });
  const r = await d.store.range({ key: new Uint8Array([0x00]), range_end: ZERO });
  t.same(r.kvs.map((kv) => [...kv.key]), keys.map((k) => [...k]));
  const mid = await d.store.range({ key: new Uint8Array([0x80]), range_end: new Uint8Array([0xff]) });
  t.same(mid.kvs.map((kv) => [...kv.key]), [[0x80], [0x80, 0x00], [0x9f]]);
});

t.test('past revisions: key order both ways, limits, filters', async (t) => {
  const d = await Driver.open(t);
  for (const k of ['a', 'b', 'c', 'd']) await d.put(k, '1'); // 2..5
  await d.del('b'); // 6
  await d.put('e', '1'); // 7
  const at = (extra: object) => d.store.range({ key: b('a'), range_end: ZERO, revision: 6, ...extra });
  let r = await at({ sort_order: SortOrder.DESCEND, limit: 2 });
  t.same([r.kvs.map((kv) => s(kv.key)), r.count, r.more], [['d', 'c'], 3, true]);
  r = await at({ sort_order: SortOrder.ASCEND, limit: 3 });
  t.same([r.kvs.map((kv) => s(kv.key)), r.more], [['a', 'c', 'd'], false]);
  r = await at({ max_create_revision: 3 });
  t.same([r.kvs.map((kv) => s(kv.key)), r.count], [['a'], 3]);
  r = await at({ count_only: true });
  t.same([r.count, r.kvs], [3, []]);
  r = await at({ keys_only: true, limit: 1 });
  t.same([r.kvs[0]!.value.length, s(r.kvs[0]!.key), r.more], [0, 'a', true]);
});
