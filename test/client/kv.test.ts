// The client against a real 3-member kvd cluster: KV operations and the txn builder, compaction,
// watches (history, prefix, filters, prev_kv, progress), leases and keep-alive, members, status,
// health, leadership transfer, snapshot.
import t from 'tap';
import { Client, ClientError, CompactedError, Compare, EventType, Op, type Watcher, type WatchResponse } from '../../src/client/index.js';
import { KvdCluster } from '../server/kvd-harness.js';
import { once, text, until } from './helpers.js';

const c = await KvdCluster.create(3);
t.teardown(() => c.close());
const client = new Client({ endpoints: [c.members[0]!.url] });
t.teardown(() => client.close());

async function take(w: Watcher, n: number): Promise<WatchResponse[]> {
  const out: WatchResponse[] = [];
  let events = 0;
  for await (const r of w) {
    out.push(r);
    events += r.events.length;
    if (events >= n) break;
  }
  return out;
}

t.test('members: a client given one endpoint learns the others', async (t) => {
  await until(() => client.endpoints().length === 3);
  t.same([...client.endpoints()].sort(), c.members.map((m) => m.url).sort());
  const list = await client.memberList();
  t.equal(list.members.length, 3);
  t.ok(list.members.every((m) => typeof m.ID === 'bigint' && m.ID > 0n && m.name.startsWith('m')));
  t.equal(list.header.revision, undefined, 'member list headers have no revision');
});

t.test('get, put and delete with their options', async (t) => {
  const p1 = await client.put('kv/a', '1');
  const rev1 = p1.header.revision!;
  t.ok(rev1 > 1);
  t.equal(typeof p1.header.cluster_id, 'bigint');
  await client.put('kv/b', '22');
  await client.put('kv/c', Uint8Array.from([0, 255]));
  const prev = await client.put('kv/a', '111', { prevKv: true });
  t.equal(text(prev.prev_kv?.value), '1');
  let r = await client.get('kv/', { prefix: true });
  t.same(r.kvs.map((kv) => text(kv.key)), ['kv/a', 'kv/b', 'kv/c']);
  t.equal(r.count, 3);
  t.same([...r.kvs[2]!.value], [0, 255], 'binary values');
  t.equal(r.kvs[0]!.version, 2);
  t.equal(r.kvs[0]!.create_revision, rev1);
  r = await client.get('kv/', { prefix: true, limit: 1, sortOrder: 'DESCEND', sortTarget: 'KEY' });
  t.same(r.kvs.map((kv) => text(kv.key)), ['kv/c']);
  t.equal(r.more, true);
  t.equal(r.count, 3);
  r = await client.get('kv/a', { rangeEnd: 'kv/c', keysOnly: true });
  t.same(r.kvs.map((kv) => [text(kv.key), kv.value.length]), [['kv/a', 0], ['kv/b', 0]]);
  r = await client.get('kv/', { prefix: true, countOnly: true });
  t.same([r.count, r.kvs.length], [3, 0]);
  r = await client.get('kv/a', { revision: rev1 });
  t.equal(text(r.kvs[0]!.value), '1', 'a read at a past revision');
  r = await client.get('kv/b', { fromKey: true, serializable: true });
  t.ok(r.kvs.length >= 2);
  r = await client.get('kv/', { prefix: true, minModRevision: rev1 + 1, sortTarget: 'VALUE' });
  t.same(r.kvs.map((kv) => text(kv.key)), ['kv/c', 'kv/a', 'kv/b'], 'sorted by value (ascending when only the target is given)');
  r = await client.get('kv/', { prefix: true, maxModRevision: rev1 + 1 });
  t.same(r.kvs.map((kv) => text(kv.key)), ['kv/b'], 'mod revision filter');
  r = await client.get('nothing-here');
  t.same([r.kvs, r.count, r.more], [[], 0, false]);

  await t.rejects(client.put('kv/none', '', { ignoreValue: true }), { name: 'ClientError', kind: 'Server', code: 3, message: 'etcdserver: key not found' });
  await t.rejects(client.put('', 'x'), { name: 'ClientError', kind: 'Server', code: 3, message: 'etcdserver: key is not provided', httpStatus: 400 });
  await t.rejects(client.put('kv/x', 'x', { lease: 12345n }), { name: 'ClientError', kind: 'Server', code: 5, message: 'etcdserver: requested lease not found' });

  const d = await client.delete('kv/', { prefix: true, prevKv: true });
  t.equal(d.deleted, 3);
  t.same(d.prev_kvs.map((kv) => text(kv.key)), ['kv/a', 'kv/b', 'kv/c']);
  const none = await client.delete('kv/a');
  t.equal(none.deleted, 0);
});

t.test('txn builder: compares, then/else, nested txns', async (t) => {
  await client.put('tx/k', 'v1');
  let r = await client
    .txn()
    .if(Compare.value('tx/k', '=', 'v1'), Compare.version('tx/k', '>', 0))
    .then(Op.put('tx/k', 'v2'), Op.get('tx/k'))
    .else(Op.get('tx/other'))
    .commit();
  t.equal(r.succeeded, true);
  const got = r.responses[1]!;
  t.ok('response_range' in got && text(got.response_range.kvs[0]!.value) === 'v2', 'the txn sees its own write');
  r = await client.txn().if(Compare.value('tx/k', '=', 'v1')).then(Op.delete('tx/k')).else(Op.get('tx/k', { keysOnly: true })).commit();
  t.equal(r.succeeded, false);
  t.ok('response_range' in r.responses[0]!);
  r = await client.txn().if(Compare.value('tx/missing', '!=', 'x')).commit();
  t.equal(r.succeeded, false, 'a VALUE compare on a missing key is false, even NOT_EQUAL');
  r = await client
    .txn()
    .if(Compare.createRevision('tx/new', '=', 0))
    .then(Op.txn([Compare.modRevision('tx/k', '>', 0)], [Op.put('tx/new', 'n')], [Op.delete('tx/k')]))
    .commit();
  const nested = r.responses[0]!;
  t.ok('response_txn' in nested && nested.response_txn.succeeded);
  const k = await client.get('tx/k');
  r = await client.txn().if(Compare.modRevision('tx/k', '=', k.kvs[0]!.mod_revision), Compare.lease('tx/k', '=', 0n)).then(Op.put('tx/k', 'v3', { prevKv: true })).commit();
  t.equal(r.succeeded, true);
  const put = r.responses[0]!;
  t.ok('response_put' in put && text(put.response_put.prev_kv?.value) === 'v2');
  await t.rejects(client.txn().then(Op.put('tx/d', '1'), Op.put('tx/d', '2')).commit(), { code: 3, message: 'etcdserver: duplicate key given in txn request' });
  r = await client.txn().commit();
  t.equal(r.succeeded, true, 'an empty txn succeeds');
});

t.test('compaction: old revisions and watch starts below it are Compacted', async (t) => {
  const first = await client.put('cp/k', 'a');
  await client.put('cp/k', 'b');
  const last = await client.put('cp/k', 'c');
  await client.compact(last.header.revision!, { physical: true });
  await t.rejects(client.get('cp/k', { revision: first.header.revision! }), CompactedError);
  const e = await client.get('cp/k', { revision: first.header.revision! }).catch((e: ClientError) => e);
  t.match(e, { kind: 'Compacted', code: 11, message: 'etcdserver: mvcc: required revision has been compacted' });
  await t.rejects(client.compact(first.header.revision!), { name: 'CompactedError', kind: 'Compacted' });
  const w = client.watch('cp/k', { startRevision: first.header.revision! });
  const err = await (async () => {
    try {
      for await (const _ of w) void _;
    } catch (e) {
      return e;
    }
  })();
  t.ok(err instanceof CompactedError);
  t.equal((err as CompactedError).compactRevision, last.header.revision, 'the compact revision, as the server says it');
  await t.rejects(w.ready().then(() => Promise.reject(new Error('created first'))), { message: 'created first' });
});

t.test('watch: history from a revision, prefix, prev_kv, filters, progress', async (t) => {
  const p = await client.put('w/a', '1');
  await client.put('w/b', '2');
  await client.delete('w/a');
  const hist = client.watch('w/', { prefix: true, startRevision: p.header.revision!, prevKv: true });
  const got = (await take(hist, 3)).flatMap((r) => r.events);
  t.same(
    got.map((e) => [e.type, text(e.kv.key), e.kv.mod_revision - p.header.revision!]),
    [
      [EventType.PUT, 'w/a', 0],
      [EventType.PUT, 'w/b', 1],
      [EventType.DELETE, 'w/a', 2],
    ],
  );
  t.equal(text(got[2]!.prev_kv?.value), '1', 'prev_kv of the delete');

  const noDel = client.watch('w/', { prefix: true, filters: ['NODELETE'] });
  const from = await noDel.ready();
  await client.put('w/c', '3');
  await client.delete('w/c');
  await client.put('w/d', '4');
  const live = (await take(noDel, 2)).flatMap((r) => r.events);
  t.same(live.map((e) => text(e.kv.key)), ['w/c', 'w/d'], 'deletes filtered');
  t.ok(live[0]!.kv.mod_revision > from);

  // A quiet watch asks for progress: its resume point follows the store's revision.
  const quiet = new Client({ endpoints: c.members.map((m) => m.url), watchHeartbeatMs: 100, autoSyncMembers: false });
  t.teardown(() => quiet.close());
  const pw = quiet.watch('w/quiet', { progressNotify: true });
  const start = await pw.ready();
  const other = await client.put('w/elsewhere', 'x');
  for await (const r of pw) {
    if (r.progressNotify && r.header.revision! >= other.header.revision!) break;
  }
  t.ok(pw.nextRevision! > other.header.revision!, 'progress moved the resume point');
  t.ok(start < other.header.revision!);
  pw.cancel();
  for await (const _ of pw) void _;
  t.pass('a canceled watcher ends');
});

t.test('leases: grant, attach, time-to-live, list, keep-alive, revoke', async (t) => {
  const g = await client.leaseGrant(30);
  t.equal(typeof g.ID, 'bigint');
  t.equal(g.TTL, 30);
  await client.put('ls/k', 'v', { lease: g.ID });
  const ttl = await client.leaseTimeToLive(g.ID, { keys: true });
  t.equal(ttl.grantedTTL, 30);
  t.ok(ttl.TTL > 0 && ttl.TTL <= 30);
  t.same(ttl.keys.map(text), ['ls/k']);
  t.ok((await client.leaseLeases()).leases.some((l) => l.ID === g.ID));
  t.equal((await client.leaseKeepAliveOnce(g.ID)).TTL, 30);
  const mine = await client.leaseGrant(10, 0x1234n);
  t.equal(mine.ID, 0x1234n, 'a chosen ID');
  await t.rejects(client.leaseGrant(10, 0x1234n), { code: 9, message: 'etcdserver: lease already exists' });

  const ka = client.keepAlive(g.ID);
  const [renewed] = await once<[number]>(ka, 'renewed');
  t.equal(renewed, 30);
  const lost = once<[ClientError]>(ka, 'lost');
  await client.leaseRevoke(g.ID);
  t.equal((await client.get('ls/k')).count, 0, "revoking deletes the lease's keys");
  const short = client.keepAlive(mine.ID);
  await once(short, 'renewed');
  short.close();
  // The loop renews at TTL/3 = 10 s; force the next renewal to notice the revocation now.
  (ka as unknown as { renew(): Promise<void> }).renew();
  const [reason] = await lost;
  t.match(reason, { name: 'ClientError', kind: 'Server', code: 5, message: 'etcdserver: requested lease not found' });
  t.equal((await client.leaseKeepAliveOnce(g.ID)).TTL, 0, 'keepalive of an unknown lease: TTL 0');
  t.equal((await client.leaseTimeToLive(g.ID)).TTL, -1);
  await t.rejects(client.leaseRevoke(g.ID), { name: 'ClientError', kind: 'Server', code: 5, message: 'etcdserver: requested lease not found' });
  await client.leaseRevoke(mine.ID);
});

t.test('a lease kept alive outlives its TTL; a short one is renewed at TTL/3', async (t) => {
  const g = await client.leaseGrant(2);
  await client.put('ls/alive', 'v', { lease: g.ID });
  const ka = client.keepAlive(g.ID, { ttl: g.TTL });
  let renewals = 0;
  ka.on('renewed', () => renewals++);
  await until(() => renewals >= 5, 10000);
  t.equal((await client.get('ls/alive')).count, 1, 'still there after more than its TTL');
  ka.close();
  await client.leaseRevoke(g.ID);
});

t.test('status and health of every member; move leader', async (t) => {
  const all = await Promise.all(c.members.map((m) => client.status(m.url)));
  t.same(new Set(all.map((s) => s.leader)).size, 1, 'one leader');
  t.ok(all.every((s) => s.version === '3.4.0' && s.raftIndex > 0 && s.dbSize > 0 && s.header.member_id! > 0n));
  t.same(
    all.map((s) => s.endpoint),
    c.members.map((m) => m.url),
  );
  const anyStatus = await client.status();
  t.ok(c.members.some((m) => m.url === anyStatus.endpoint));
  for (const m of c.members) t.match(await client.health(m.url), { endpoint: m.url, health: true });
  const leaderId = all[0]!.leader;
  const follower = all.find((s) => s.header.member_id !== leaderId)!;
  await client.moveLeader(follower.header.member_id!);
  const now = await c.leader();
  t.equal(now.url, follower.endpoint, 'leadership moved');
  await t.rejects(client.moveLeader(424242n), { code: 9, message: 'etcdserver: bad leader transferee' });
});

t.test('snapshot streams the store', async (t) => {
  let bytes = 0;
  let pieces = 0;
  for await (const p of client.snapshot()) {
    bytes += p.length;
    pieces++;
  }
  t.ok(bytes > 0 && pieces >= 1);
});
