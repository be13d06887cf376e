// Pure parts of the client: keys and ranges, the gateway's encoding both ways, the txn builder,
// the retry rule's table, endpoint parsing and the endpoint pool.
import t from 'tap';
import { keyRange, leaseHex, prefixEnd, toBytes, toId, toText } from '../../src/client/bytes.js';
import * as codec from '../../src/client/codec.js';
import { EndpointPool } from '../../src/client/endpoints.js';
import { Compare, EventType, Op, REFUSED_BEFORE_PROPOSAL, TxnBuilder, decide, parseEndpoint } from '../../src/client/index.js';

const s = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('latin1');

t.test('prefix ends and key ranges follow clientv3', async (t) => {
  t.equal(s(prefixEnd(toBytes('foo'))), 'fop');
  t.equal(s(prefixEnd(Uint8Array.from([0x61, 0xff]))), 'b');
  t.same([...prefixEnd(Uint8Array.from([0xff, 0xff]))], [0], 'all 0xff: to the end of the keyspace');
  t.same([...prefixEnd(new Uint8Array(0))], [0]);
  const k = toBytes('el/');
  prefixEnd(k);
  t.equal(s(k), 'el/', 'the prefix itself is not modified (Buffer.slice shares memory)');
  t.same(keyRange('a'), { key: toBytes('a') });
  t.same(keyRange('', { prefix: true }), { key: Uint8Array.from([0]), range_end: Uint8Array.from([0]) }, 'empty prefix: every key');
  t.same(keyRange('a', { fromKey: true }).range_end, Uint8Array.from([0]));
  t.same(keyRange('', { fromKey: true }).key, Uint8Array.from([0]));
  t.equal(s(keyRange('a', { rangeEnd: 'c' }).range_end), 'c');
  t.equal(toText(toBytes('héllo')), 'héllo');
  t.equal(toText(undefined), '');
});

t.test('IDs: bigint, decimal, hex and numbers; lease keys in unpadded hex', async (t) => {
  t.equal(toId(5n), 5n);
  t.equal(toId('7587862121213245000'), 7587862121213245000n);
  t.equal(toId('0x694d7a3c1a2b0c0d'), 0x694d7a3c1a2b0c0dn);
  t.equal(toId(-3), -3n);
  t.equal(toId('-12'), -12n);
  t.throws(() => toId('abc'), TypeError);
  t.throws(() => toId(1.5), TypeError);
  t.equal(leaseHex(0x694d7a3c1a2b0c0dn), '694d7a3c1a2b0c0d');
  t.equal(leaseHex(0xabn), 'ab');
  t.equal(leaseHex(-1n), 'ffffffffffffffff');
});

t.test('requests are encoded as the gateway takes them (zero values left out)', async (t) => {
  t.same(codec.rangeRequest('foo'), { key: 'Zm9v' });
  t.same(
    codec.rangeRequest('foo', {
      prefix: true,
      limit: 2,
      revision: 3,
      sortOrder: 'DESCEND',
      sortTarget: 'MOD',
      serializable: true,
      keysOnly: true,
      countOnly: true,
      minModRevision: 1,
      maxModRevision: 9,
      minCreateRevision: 2,
      maxCreateRevision: 8,
    }),
    {
      key: 'Zm9v',
      range_end: 'Zm9w',
      limit: '2',
      revision: '3',
      sort_order: 'DESCEND',
      sort_target: 'MOD',
      serializable: true,
      keys_only: true,
      count_only: true,
      min_mod_revision: '1',
      max_mod_revision: '9',
      min_create_revision: '2',
      max_create_revision: '8',
    },
  );
  t.same(codec.rangeRequest('a', { sortOrder: 'NONE', sortTarget: 'KEY', limit: 0 }), { key: 'YQ==' });
  t.same(codec.putRequest('foo', 'bar', { lease: 12n, prevKv: true, ignoreValue: true, ignoreLease: true }), {
    key: 'Zm9v',
    value: 'YmFy',
    lease: '12',
    prev_kv: true,
    ignore_value: true,
    ignore_lease: true,
  });
  t.same(codec.putRequest('foo', '', { lease: 0n }), { key: 'Zm9v' });
  t.same(codec.deleteRequest('foo', { prefix: true, prevKv: true }), { key: 'Zm9v', range_end: 'Zm9w', prev_kv: true });
});

t.test('responses with zero values left out decode to full messages', async (t) => {
  const r = codec.decodeRange({ header: { cluster_id: '18446744073709551615', member_id: '2', revision: '7', raft_term: '3' } });
  t.same(r, { header: { cluster_id: 18446744073709551615n, member_id: 2n, revision: 7, raft_term: 3 }, kvs: [], more: false, count: 0 });
  const full = codec.decodeRange({
    header: { revision: '9' },
    kvs: [{ key: 'Zm9v', create_revision: '2', mod_revision: '9', version: '3', value: 'YmFy', lease: '-5' }, { key: 'YQ==' }],
    more: true,
    count: '2',
  });
  t.equal(full.count, 2);
  t.equal(full.more, true);
  t.equal(s(full.kvs[0]!.value), 'bar');
  t.equal(full.kvs[0]!.lease, -5n);
  t.same(full.kvs[1], { key: toBytes('a'), create_revision: 0, mod_revision: 0, version: 0, value: new Uint8Array(0), lease: 0n });
  t.same(codec.decodePut({ header: {}, prev_kv: { key: 'YQ==' } }).prev_kv?.key, toBytes('a'));
  t.same(codec.decodePut({ header: {} }), { header: {} });
  t.same(codec.decodeDelete({ header: {} }), { header: {}, deleted: 0, prev_kvs: [] });
  const txn = codec.decodeTxn({
    header: { revision: '4' },
    succeeded: true,
    responses: [
      { response_range: { header: { revision: '4' } } },
      { response_put: { header: { revision: '4' } } },
      { response_delete_range: { header: { revision: '4' }, deleted: '1' } },
      { response_txn: { header: {} } },
    ],
  });
  t.same(
    txn.responses.map((r) => Object.keys(r)[0]),
    ['response_range', 'response_put', 'response_delete_range', 'response_txn'],
  );
  t.equal(codec.decodeTxn({ header: {} }).succeeded, false, 'a failed txn has no succeeded');
  const ev = codec.decodeEvent({ type: 'DELETE', kv: { key: 'YQ==', mod_revision: '5' }, prev_kv: { key: 'YQ==', value: 'YmFy' } });
  t.equal(ev.type, EventType.DELETE);
  t.equal(ev.kv.mod_revision, 5);
  t.equal(s(ev.prev_kv?.value), 'bar');
  t.equal(codec.decodeEvent({ kv: {} }).type, EventType.PUT, 'a PUT event has no type');
  t.same(codec.decodeLeaseGrant({ header: {}, ID: '7', TTL: '60', error: 'x' }), { header: {}, ID: 7n, TTL: 60, error: 'x' });
  t.same(codec.decodeLeaseKeepAlive({ header: {}, ID: '7' }), { header: {}, ID: 7n, TTL: 0 }, 'unknown lease: no TTL');
  t.same(codec.decodeLeaseTimeToLive({ header: {}, ID: '7', TTL: '-1' }), { header: {}, ID: 7n, TTL: -1, grantedTTL: 0, keys: [] });
  t.same(codec.decodeLeaseLeases({ header: {}, leases: [{ ID: '1' }, { ID: '2' }] }).leases, [{ ID: 1n }, { ID: 2n }]);
  const members = codec.decodeMembers({ header: {}, members: [{ ID: '17628310501313495538', name: 'a', peerURLs: ['http://x:2380'] }, { isLearner: true }] });
  t.same(members.members[0], { ID: 17628310501313495538n, name: 'a', peerURLs: ['http://x:2380'], clientURLs: [], isLearner: false });
  t.equal(members.members[1]!.isLearner, true);
  t.equal(codec.decodeMemberAdd({ member: { ID: '3' } }).member.ID, 3n);
  const st = codec.decodeStatus({ header: {}, version: '3.4.23', dbSize: '20480', leader: '9', raftIndex: '18', raftTerm: '2', raftAppliedIndex: '18', dbSizeInUse: '16384' });
  t.same(st, { header: {}, version: '3.4.23', dbSize: 20480, leader: 9n, raftIndex: 18, raftTerm: 2, raftAppliedIndex: 18, errors: [], dbSizeInUse: 16384, isLearner: false });
  t.equal(codec.num(3), 3);
  t.equal(codec.big(3), 3n);
  t.equal(codec.big(4n), 4n);
  t.same(codec.decodeRange(null), { header: {}, kvs: [], more: false, count: 0 }, 'not an object: empty');
  t.same(codec.decodeStatus([]).version, '');
});

t.test('the txn builder and its compares', async (t) => {
  let sent: { request: unknown; writes: boolean } | undefined;
  const run = async (request: Record<string, unknown>, writes: boolean) => {
    sent = { request, writes };
    return { header: {}, succeeded: true, responses: [] };
  };
  await new TxnBuilder(run)
    .if(
      Compare.value('k', '=', 'v'),
      Compare.version('k', '>', 1),
      Compare.createRevision('k', '<', 5),
      Compare.modRevision('k', '!=', 6),
      Compare.lease('k', '==', 7n, { prefix: true }),
    )
    .then(Op.put('k', 'v2'), Op.txn([Compare.version('z', '=', 0)], [Op.get('z')], [Op.delete('z')]))
    .else(Op.get('k', { keysOnly: true }))
    .commit();
  t.same(sent!.request, {
    compare: [
      { result: 'EQUAL', target: 'VALUE', key: 'aw==', value: 'dg==' },
      { result: 'GREATER', target: 'VERSION', key: 'aw==', version: '1' },
      { result: 'LESS', target: 'CREATE', key: 'aw==', create_revision: '5' },
      { result: 'NOT_EQUAL', target: 'MOD', key: 'aw==', mod_revision: '6' },
      { result: 'EQUAL', target: 'LEASE', key: 'aw==', range_end: 'bA==', lease: '7' },
    ],
    success: [
      { request_put: { key: 'aw==', value: 'djI=' } },
      {
        request_txn: {
          compare: [{ result: 'EQUAL', target: 'VERSION', key: 'eg==', version: '0' }],
          success: [{ request_range: { key: 'eg==' } }],
          failure: [{ request_delete_range: { key: 'eg==' } }],
        },
      },
    ],
    failure: [{ request_range: { key: 'aw==', keys_only: true } }],
  });
  t.equal(sent!.writes, true);
  await new TxnBuilder(run).if(Compare.version('a', '=', 0)).then(Op.get('a')).else(Op.txn([], [Op.get('b')])).commit();
  t.equal(sent!.writes, false, 'reads only (nested too): a read');
  await new TxnBuilder(run).else(Op.txn([], [Op.delete('b')])).commit();
  t.equal(sent!.writes, true, 'a nested delete is a write');
  t.same(new TxnBuilder(run).request(), {}, 'an empty txn');
  t.throws(() => new TxnBuilder(run).then().if(), /if\(\) after/);
  t.throws(() => new TxnBuilder(run).else().then(), /then\(\) after else/);
  t.throws(() => new TxnBuilder(run).else().else(), /twice/);
  t.throws(() => Compare.version('a', '~' as '=', 1), /bad compare operator/);
  // `await builder` in plain JS commits instead of hanging.
  const thenable = new TxnBuilder(run).if(Compare.version('q', '=', 0)).then(Op.put('q', '1')) as unknown as PromiseLike<unknown>;
  const r = await thenable;
  t.same(r, { header: {}, succeeded: true, responses: [] });
});

t.test('the retry rule', async (t) => {
  const refused = { kind: 'transport', sent: false, timeout: false } as const;
  const dropped = { kind: 'transport', sent: true, timeout: false } as const;
  const srv = (code: number, message: string, httpStatus = 503, json = true) => ({ kind: 'server', code, message, httpStatus, json }) as const;
  t.equal(decide(refused, false), 'retry', 'a write that never left is retried');
  t.equal(decide(dropped, false), 'unknown', 'a write that may have arrived is not');
  t.equal(decide(dropped, true), 'retry', 'a read (or idempotent write) is');
  t.equal(decide({ kind: 'transport', sent: true, timeout: true }, false), 'unknown');
  t.equal(decide(srv(14, 'etcdserver: no leader'), false), 'retry', 'no leader: never proposed');
  for (const m of REFUSED_BEFORE_PROPOSAL) t.equal(decide(srv(14, m), false), 'retry', m);
  t.equal(decide(srv(9, 'etcdserver: unhealthy cluster', 412), false), 'retry', "kvd's unhealthy cluster is code 9");
  t.equal(decide(srv(14, 'etcdserver: request timed out'), false), 'unknown');
  t.equal(decide(srv(14, 'etcdserver: leader changed'), false), 'unknown');
  t.equal(decide(srv(14, 'etcdserver: request timed out'), true), 'retry');
  t.equal(decide(srv(4, 'context deadline exceeded', 504), true), 'retry');
  t.equal(decide(srv(3, 'etcdserver: key is not provided', 400), true), 'fail');
  t.equal(decide(srv(11, 'etcdserver: mvcc: required revision has been compacted', 400), true), 'fail');
  t.equal(decide(srv(2, '502 Bad Gateway', 502, false), true), 'retry', 'a proxy error: reads retry');
  t.equal(decide(srv(2, '502 Bad Gateway', 502, false), false), 'unknown', 'writes: unknown');
  t.equal(decide(srv(12, '501 Not Implemented', 501, false), true), 'fail');
  t.equal(decide(srv(12, '404 Not Found', 404, false), true), 'fail');
});

t.test('endpoints: parsing, pinning, failover order, member sync', async (t) => {
  t.same(parseEndpoint('127.0.0.1:2379'), { url: 'http://127.0.0.1:2379', host: '127.0.0.1', port: 2379, tls: false });
  t.same(parseEndpoint(' http://localhost '), { url: 'http://localhost:2379', host: 'localhost', port: 2379, tls: false });
  t.same(parseEndpoint('http://[::1]:23'), { url: 'http://[::1]:23', host: '::1', port: 23, tls: false });
  t.same(parseEndpoint('https://a:1'), { url: 'https://a:1', host: 'a', port: 1, tls: true });
  t.same(parseEndpoint('a:1', true), { url: 'https://a:1', host: 'a', port: 1, tls: true }, 'no scheme, TLS settings given: https');
  t.same(parseEndpoint('http://a:1', true).tls, false, 'an explicit http:// stays');
  t.throws(() => parseEndpoint('ftp://a:1'), /only http:\/\/ and https:\/\//);
  t.throws(() => parseEndpoint('http://a b'), /bad endpoint/);
  t.throws(() => new EndpointPool([]), /no endpoints/);
  let now = 1000;
  const p = new EndpointPool(['a:1', 'http://a:1', 'b:2', 'c:3'], () => now);
  t.same(p.urls(), ['http://a:1', 'http://b:2', 'http://c:3'], 'duplicates dropped');
  t.equal(p.current().url, 'http://a:1');
  p.failed(p.current());
  t.equal(p.current().url, 'http://b:2');
  p.failed(p.all()[2]!); // c fails too (not pinned: the pin stays)
  t.equal(p.current().url, 'http://b:2');
  p.failed(p.current());
  t.equal(p.current().url, 'http://c:3', 'all failed recently: simply the next one');
  now += 5000;
  p.succeeded(p.current());
  p.failed(p.current());
  t.equal(p.current().url, 'http://a:1', 'old failures are forgotten');
  t.equal(p.update(['http://b:2', 'http://d:4', 'http://d:4', 'https://e:5', 'bad url']), true);
  t.same(p.urls(), ['http://a:1', 'http://b:2', 'http://c:3', 'http://d:4'], 'learned: only URLs of the schemes it was given');
  t.equal(p.update(['http://d:4']), false, 'no change');
  t.equal(p.find('d:4')?.url, 'http://d:4');
  p.failed(p.current()); // a -> b
  p.failed(p.current()); // b -> d: c failed recently
  t.equal(p.current().url, 'http://d:4', 'recently failed endpoints are skipped');
  p.update([]);
  t.equal(p.current().url, 'http://a:1', 'the pinned endpoint left: back to the first');
  t.equal(p.size(), 3);
});

t.test('endpoints over TLS: https:// by default once TLS settings are given; learned https:// URLs', async (t) => {
  const p = new EndpointPool(['a:1', 'http://b:2'], Date.now, true);
  t.same(p.urls(), ['https://a:1', 'http://b:2']);
  p.update(['https://c:3', 'http://d:4', 'ws://e:5']);
  t.same(p.urls(), ['https://a:1', 'http://b:2', 'https://c:3', 'http://d:4'], 'both schemes given: both learned');
  t.equal(p.find('c:3')?.url, 'https://c:3');
  const tlsOnly = new EndpointPool(['https://a:1']);
  tlsOnly.update(['http://a:2', 'https://b:2']);
  t.same(tlsOnly.urls(), ['https://a:1', 'https://b:2'], 'an https:// client does not learn http:// URLs');
});

t.test('endpoints: after failures everywhere, one that answered comes before one that did not answer', async (t) => {
  let now = 1000;
  const p = new EndpointPool(['a:1', 'b:2', 'c:3'], () => now);
  // a hangs (stopped); b and c answer "no leader" while they elect one.
  p.failed(p.current()); // a timed out -> b
  t.equal(p.current().url, 'http://b:2');
  p.failed(p.current(), true); // b: no leader -> c
  t.equal(p.current().url, 'http://c:3');
  p.failed(p.current(), true); // c: no leader -> every endpoint failed recently
  t.equal(p.current().url, 'http://b:2', 'b answered, a did not: b, not the next in the list');
  p.failed(p.current(), true);
  t.equal(p.current().url, 'http://c:3');
  now += 2500;
  p.failed(p.current(), true);
  t.equal(p.current().url, 'http://a:1', 'a forgotten after a while: tried again');
  p.failed(p.current());
  t.equal(p.current().url, 'http://b:2', 'b and c answered long ago: healthy again');
  now += 100;
  // Only unresponsive endpoints failed recently: the next one, as before.
  const q = new EndpointPool(['a:1', 'b:2'], () => now);
  q.failed(q.current());
  q.failed(q.current());
  t.equal(q.current().url, 'http://a:1');
});
