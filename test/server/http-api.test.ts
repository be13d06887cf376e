// The curl examples of etcd's gRPC-gateway docs, replayed as HTTP requests (against 127.0.0.1),
// with etcd's response shapes; and the encoding rules: zero values omitted, int64 as strings, etcd's
// header quirks, camelCase accepted in requests.
import t from 'tap';
import { b64, hdr, startHarness, type Harness } from './helpers.js';

let h: Harness;
t.before(async () => {
  h = await startHarness();
});
t.teardown(() => h.close());

/** The fake's header with no revision (cluster responses). */
const hdrNoRev = (): string => `{"cluster_id":"${h.svc.clusterId}","member_id":"${h.svc.memberId}","raft_term":"${h.svc.raftTerm}"}`;

t.test('docs: put and get keys', async (t) => {
  // curl -L http://127.0.0.1:2379/v3/kv/put -X POST -d '{"key": "Zm9v", "value": "YmFy"}'
  const put = await h.post('/v3/kv/put', '{"key": "Zm9v", "value": "YmFy"}');
  t.equal(put.status, 200);
  t.equal(put.body, `{"header":${hdr(h.svc, 2)}}`);
  t.equal(put.headers['content-type'], 'application/json');
  t.equal(put.headers['grpc-metadata-content-type'], 'application/grpc');
  t.equal(put.headers['content-length'], String(put.body.length));
  t.equal(put.headers['access-control-allow-origin'], '*');
  // curl -L http://127.0.0.1:2379/v3/kv/range -X POST -d '{"key": "Zm9v"}'
  const get = await h.post('/v3/kv/range', '{"key": "Zm9v"}');
  t.equal(get.body, `{"header":${hdr(h.svc, 2)},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}`);
  // get all keys prefixed with "foo"
  const prefix = await h.post('/v3/kv/range', '{"key": "Zm9v", "range_end": "Zm9w"}');
  t.equal(prefix.body, get.body);
  // The /v3beta alias.
  const beta = await h.post('/v3beta/kv/range', '{"key": "Zm9v"}');
  t.equal(beta.body, get.body);
});

t.test('docs: transactions (camelCase names, enums by name)', async (t) => {
  // target CREATE
  const create = await h.post(
    '/v3/kv/txn',
    '{"compare":[{"target":"CREATE","key":"Zm9v","createRevision":"2"}],"success":[{"requestPut":{"key":"Zm9v","value":"YmFy"}}]}',
  );
  t.equal(create.body, `{"header":${hdr(h.svc, 3)},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"3"}}}]}`);
  await h.json('/v3/kv/put', { key: 'Zm9v', value: b64('baz') });
  await h.json('/v3/kv/put', { key: 'Zm9v', value: b64('baz') });
  // target VERSION
  const version = await h.post(
    '/v3/kv/txn',
    '{"compare":[{"version":"4","result":"EQUAL","target":"VERSION","key":"Zm9v"}],"success":[{"requestRange":{"key":"Zm9v"}}]}',
  );
  t.equal(
    version.body,
    `{"header":${hdr(h.svc, 5)},"succeeded":true,"responses":[{"response_range":{"header":{"revision":"5"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"5","version":"4","value":"YmF6"}],"count":"1"}}]}`,
  );
});

t.test('docs: leases (grant, put with a lease, timetolive, leases, revoke)', async (t) => {
  const grant = await h.json('/v3/lease/grant', { TTL: 60 });
  const id = grant.ID as string;
  t.match(id, /^\d+$/, 'the ID is an int64 string');
  const grantRaw = await h.post('/v3/lease/grant', { TTL: 60, ID: 1000 });
  t.equal(grantRaw.body, `{"header":${hdr(h.svc)},"ID":"1000","TTL":"60"}`);
  const minTtl = await h.post('/v3/lease/grant', { ID: 1001 });
  t.equal(minTtl.body, `{"header":${hdr(h.svc)},"ID":"1001","TTL":"2"}`, 'a TTL below the minimum is raised');

  const put = await h.post('/v3/kv/put', { key: b64('lk'), value: b64('v'), lease: id });
  t.equal(put.status, 200);
  const get = await h.post('/v3/kv/range', { key: b64('lk') });
  const rev = h.svc.revision;
  t.equal(get.body, `{"header":${hdr(h.svc)},"kvs":[{"key":"bGs=","create_revision":"${rev}","mod_revision":"${rev}","version":"1","value":"dg==","lease":"${id}"}],"count":"1"}`);

  const ttl = await h.post('/v3/lease/timetolive', `{"ID":${id},"keys":true}`);
  t.equal(ttl.body, `{"header":${hdr(h.svc)},"ID":"${id}","TTL":"59","grantedTTL":"60","keys":["bGs="]}`);
  const unknown = await h.post('/v3/kv/lease/timetolive', { ID: 5, keys: true });
  t.equal(unknown.status, 200);
  t.equal(unknown.body, `{"header":${hdr(h.svc)},"ID":"5","TTL":"-1"}`, 'unknown lease: 200, TTL -1, no grantedTTL');

  const leases = await h.json('/v3/lease/leases', {});
  t.same(
    (leases.leases as Array<{ ID: string }>).map((l) => l.ID).sort(),
    [id, '1000', '1001'].sort(),
  );
  const alias = await h.post('/v3/kv/lease/leases', '');
  t.equal(alias.status, 200);

  const revoke = await h.post('/v3/kv/lease/revoke', { ID: id });
  t.equal(revoke.body, `{"header":${hdr(h.svc)}}`);
  const gone = await h.post('/v3/kv/range', { key: b64('lk') });
  t.equal(gone.body, `{"header":${hdr(h.svc)}}`, 'revoking deletes the keys');
  // Lease IDs are int64: negative IDs and IDs above 2^53 keep every digit.
  const big = await h.post('/v3/lease/grant', '{"TTL":60,"ID":9223372036854775807}');
  t.equal(big.body, `{"header":${hdr(h.svc)},"ID":"9223372036854775807","TTL":"60"}`);
  const neg = await h.post('/v3/lease/grant', '{"TTL":60,"ID":"-7"}');
  t.equal(neg.body, `{"header":${hdr(h.svc)},"ID":"-7","TTL":"60"}`);
});

t.test('zero values are omitted', async (t) => {
  const empty = await h.post('/v3/kv/range', { key: b64('nothing-here') });
  t.equal(empty.body, `{"header":${hdr(h.svc)}}`, 'an empty range is only a header');
  await h.json('/v3/kv/put', { key: b64('empty') });
  const kv = await h.post('/v3/kv/range', { key: b64('empty') });
  const rev = h.svc.revision;
  t.equal(kv.body, `{"header":${hdr(h.svc)},"kvs":[{"key":"ZW1wdHk=","create_revision":"${rev}","mod_revision":"${rev}","version":"1"}],"count":"1"}`, 'no value, no lease');
  const failed = await h.post('/v3/kv/txn', { compare: [{ key: b64('empty'), target: 'VERSION', version: 9 }] });
  t.equal(failed.body, `{"header":${hdr(h.svc)}}`, 'a failed txn has no succeeded');
  const emptyTxn = await h.post('/v3/kv/txn', {});
  t.equal(emptyTxn.body, `{"header":${hdr(h.svc)},"succeeded":true}`);
  const delNone = await h.post('/v3/kv/deleterange', { key: b64('nothing-here') });
  t.equal(delNone.body, `{"header":${hdr(h.svc)}}`, 'deleted 0 is omitted');
  const del = await h.post('/v3/kv/deleterange', { key: b64('empty'), prev_kv: true });
  t.equal(del.body, `{"header":${hdr(h.svc)},"deleted":"1","prev_kvs":[{"key":"ZW1wdHk=","create_revision":"${rev}","mod_revision":"${rev}","version":"1"}]}`);
  const countOnly = await h.post('/v3/kv/range', { key: 'AA==', range_end: 'AA==', count_only: true, limit: 1 });
  t.match(countOnly.body, /^\{"header":\{[^}]*\},"count":"\d+"\}$/, 'count_only: no kvs, no more');
});

t.test('txn: inner headers hold only the revision, a nested txn has header {}', async (t) => {
  await h.json('/v3/kv/put', { key: b64('a'), value: b64('1') });
  const before = h.svc.revision;
  const r = await h.post('/v3/kv/txn', {
    compare: [{ key: b64('a'), target: 'VALUE', result: 'EQUAL', value: b64('1') }],
    success: [{ request_range: { key: b64('a') } }, { request_txn: { success: [{ request_put: { key: b64('z'), value: b64('1'), prev_kv: true } }] } }],
    failure: [],
  });
  t.equal(
    r.body,
    `{"header":${hdr(h.svc)},"succeeded":true,"responses":[{"response_range":{"header":{"revision":"${before}"},"kvs":[{"key":"YQ==","create_revision":"${before}","mod_revision":"${before}","version":"1","value":"MQ=="}],"count":"1"}},{"response_txn":{"header":{},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"${before + 1}"}}}]}}]}`,
  );
  const fail = await h.post('/v3/kv/txn', {
    compare: [{ key: b64('a'), target: 'VALUE', result: 'EQUAL', value: b64('2') }],
    failure: [{ request_delete_range: { key: b64('z'), prev_kv: true } }, { request_range: { key: b64('none') } }],
  });
  const rev = h.svc.revision;
  t.equal(
    fail.body,
    `{"header":${hdr(h.svc)},"responses":[{"response_delete_range":{"header":{"revision":"${rev}"},"deleted":"1","prev_kvs":[{"key":"eg==","create_revision":"${before + 1}","mod_revision":"${before + 1}","version":"1","value":"MQ=="}]}},{"response_range":{"header":{"revision":"${rev}"}}}]}`,
  );
});

t.test('camelCase and proto names, numbers and strings for int64, enums by number', async (t) => {
  await h.json('/v3/kv/put', { key: b64('c1'), value: b64('x') });
  await h.json('/v3/kv/put', { key: b64('c2'), value: b64('y') });
  const camel = await h.json('/v3/kv/range', { key: b64('c1'), rangeEnd: b64('c3'), keysOnly: true, sortOrder: 'DESCEND', limit: '1' });
  t.same(camel.kvs, [{ key: b64('c2'), create_revision: String(h.svc.revision), mod_revision: String(h.svc.revision), version: '1' }]);
  t.equal(camel.more, true);
  t.equal(camel.count, '2');
  const num = await h.json('/v3/kv/range', { key: b64('c1'), range_end: b64('c3'), sort_order: 2, limit: 1 });
  t.same((num.kvs as Array<{ key: string }>)[0]?.key, b64('c2'));
  // Both names: camelCase wins (as jsonpb).
  const both = await h.json('/v3/kv/range', { key: b64('c1'), rangeEnd: b64('c2'), range_end: b64('c3'), count_only: true });
  t.equal(both.count, '1');
  const countOnly = await h.json('/v3/kv/range', { key: b64('c1'), range_end: b64('c3'), countOnly: true });
  t.equal(countOnly.count, '2');
  // Unknown fields are ignored, nulls are "not set", escapes in keys and values are decoded.
  const lenient = await h.json('/v3/kv/range', '{"k\\u0065y":"YzE=","whatever":[1,{"x":null}],"limit":null,"keys_only":null}');
  t.equal(lenient.count, '1');
  // A key given as an array of bytes (Go's encoding/json allows it).
  const arr = await h.json('/v3/kv/range', { key: [99, 49] });
  t.equal(arr.count, '1');
  // A txn with a delete by camelCase name.
  const del = await h.json('/v3/kv/txn', { success: [{ requestDeleteRange: { key: b64('c1'), prevKv: true } }] });
  t.match(del, { succeeded: true, responses: [{ response_delete_range: { deleted: '1' } }] });
});

t.test('compaction, status, members, transfer-leadership shapes', async (t) => {
  const c = await h.post('/v3/kv/compaction', { revision: 3 });
  t.equal(c.body, `{"header":${hdr(h.svc)}}`);
  const again = await h.post('/v3/kv/compaction', { revision: 3 });
  t.equal(again.status, 400);
  const old = await h.post('/v3/kv/range', { key: b64('foo'), revision: 2 });
  t.equal(old.body, '{"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11}');

  const status = await h.post('/v3/maintenance/status', '');
  t.equal(
    status.body,
    `{"header":${hdr(h.svc)},"version":"3.4.23","dbSize":"20480","leader":"${h.svc.memberId}","raftIndex":"18","raftTerm":"2","raftAppliedIndex":"18","dbSizeInUse":"16384"}`,
  );
  const list = await h.post('/v3/cluster/member/list', '');
  t.equal(list.body, `{"header":${hdrNoRev()},"members":[{"ID":"${h.svc.memberId}","name":"default","peerURLs":["http://127.0.0.1:2380"],"clientURLs":["http://127.0.0.1:2379"]}]}`);
  const add = await h.post('/v3/cluster/member/add', { peerURLs: ['http://127.0.0.1:23997'], isLearner: true });
  const learner = `{"ID":"1001","peerURLs":["http://127.0.0.1:23997"],"isLearner":true}`;
  t.equal(
    add.body,
    `{"header":${hdrNoRev()},"member":${learner},"members":[{"ID":"${h.svc.memberId}","name":"default","peerURLs":["http://127.0.0.1:2380"],"clientURLs":["http://127.0.0.1:2379"]},${learner}]}`,
  );
  const dup = await h.post('/v3/cluster/member/add', { peerURLs: ['http://127.0.0.1:23997'] });
  t.equal(dup.status, 412);
  const promote = await h.post('/v3/cluster/member/promote', { ID: '1001' });
  t.match(promote.body, /"members":\[.*\{"ID":"1001","peerURLs":\["http:\/\/127\.0\.0\.1:23997"\]\}\]\}$/);
  const remove = await h.post('/v3/cluster/member/remove', { ID: 1001 });
  t.equal(remove.body, `{"header":${hdrNoRev()},"members":[{"ID":"${h.svc.memberId}","name":"default","peerURLs":["http://127.0.0.1:2380"],"clientURLs":["http://127.0.0.1:2379"]}]}`);
  const move = await h.post('/v3/maintenance/transfer-leadership', { targetID: String(h.svc.memberId) });
  t.equal(move.status, 200);
  t.equal(move.body, '{}', 'etcd 3.4 answers MoveLeader with no header');
});

t.test('alarm: etcd 3.4 shapes (no header; memberID a string, the alarm by name)', async (t) => {
  t.equal((await h.post('/v3/maintenance/alarm', { action: 'GET' })).body, '{}', 'no alarm: an empty answer');
  const on = await h.post('/v3/maintenance/alarm', { action: 'ACTIVATE', memberID: '12', alarm: 'NOSPACE' });
  t.equal(on.body, '{"alarms":[{"memberID":"12","alarm":"NOSPACE"}]}');
  t.equal((await h.post('/v3/maintenance/alarm', { action: 1, memberID: 5, alarm: 0 })).body, '{"alarms":[{"memberID":"5"}]}', 'numbers for enums; NONE left out');
  t.equal((await h.post('/v3/maintenance/alarm', '')).body, '{"alarms":[{"memberID":"12","alarm":"NOSPACE"},{"memberID":"5"}]}', 'an empty body is a GET');
  const bad = await h.post('/v3/maintenance/alarm', { action: 'BOGUS' });
  t.same([bad.status, bad.body], [400, '{"error":"unknown value \\"BOGUS\\" for enum etcdserverpb.AlarmRequest_AlarmAction","message":"unknown value \\"BOGUS\\" for enum etcdserverpb.AlarmRequest_AlarmAction","code":3}']);
  const badType = await h.post('/v3/maintenance/alarm', { action: 'ACTIVATE', alarm: 'FULL' });
  t.equal(badType.status, 400);
  t.equal(h.svc.alarms.length, 2, 'bad requests change nothing');
  t.equal((await h.post('/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID: '12', alarm: 'NOSPACE' })).body, '{"alarms":[{"memberID":"12","alarm":"NOSPACE"}]}');
  t.equal((await h.post('/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID: '12', alarm: 'NOSPACE' })).body, '{}', 'nothing to clear');
});

t.test('hash, hashkv, defragment', async (t) => {
  const rev = h.svc.revision;
  const hash = await h.post('/v3/maintenance/hash', { revision: '2' });
  t.equal(hash.body, `{"header":${hdr(h.svc)},"hash":${3_000_000_000 + rev}}`, 'Hash ignores fields it does not have; a uint32 is a JSON number');
  const kv = await h.post('/v3/maintenance/hashkv', { revision: String(rev) });
  const compacted = h.svc.compactRev || -1;
  t.equal(kv.body, `{"header":${hdr(h.svc)},"hash":${3_000_000_000 + rev},"compact_revision":"${compacted}"}`, 'compact_revision is an int64: a string');
  const current = await h.post('/v3/maintenance/hashkv', '');
  t.equal(current.status, 200);
  t.same(h.svc.hashedAt.slice(-2), [rev, 0], 'the revision asked is passed on, 0 when absent');
  const future = await h.post('/v3/maintenance/hashkv', { revision: rev + 1 });
  t.equal(future.status, 400);
  t.equal(future.body, '{"error":"etcdserver: mvcc: required revision is a future revision","message":"etcdserver: mvcc: required revision is a future revision","code":11}');
  const bad = await h.post('/v3/maintenance/hashkv', '{"revision":"x"}');
  t.equal(bad.status, 400);
  t.match(bad.body, /"code":3\}$/);
  const defrag = await h.post('/v3/maintenance/defragment', '');
  t.equal(defrag.body, '{}', 'etcd 3.4 answers Defragment with no header');
  t.equal(h.svc.defragments, 1);
  const arr = await h.post('/v3/maintenance/defragment', '[]');
  t.equal(arr.status, 400, 'a body that is not an object is refused');
  t.equal(h.svc.defragments, 1, 'and changes nothing');
});

t.test('/health, /version, /metrics', async (t) => {
  const health = await h.request('GET', '/health');
  t.equal(health.status, 200);
  t.equal(health.body, '{"health":"true"}');
  t.equal(health.headers['content-type'], 'text/plain; charset=utf-8');
  const q = await h.request('GET', '/health?serializable=true');
  t.equal(q.status, 200);
  h.svc.healthy = false;
  const sick = await h.request('GET', '/health');
  t.equal(sick.status, 503);
  t.equal(sick.body, '{"health":"false"}\n');
  h.svc.healthy = true;
  h.svc.failures.set('health', new Error('no leader'));
  const failing = await h.request('GET', '/health');
  t.equal(failing.status, 503);

  const version = await h.request('GET', '/version');
  t.equal(version.body, '{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}');
  t.equal(version.headers['content-type'], 'application/json');
  h.svc.failures.set('version', new Error('broken'));
  const badVersion = await h.request('GET', '/version');
  t.equal(badVersion.status, 500);

  const metrics = await h.request('GET', '/metrics');
  t.equal(metrics.status, 200);
  t.equal(metrics.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  t.match(metrics.body, /etcd_server_has_leader 1/);
  h.svc.failures.set('metrics', new Error('broken'));
  const badMetrics = await h.request('GET', '/metrics');
  t.equal(badMetrics.status, 500);
});

t.test('keep-alive connections carry many requests', async (t) => {
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => h.post('/v3/kv/put', { key: b64(`ka${i}`), value: b64('v') })));
  t.ok(results.every((r) => r.status === 200));
  const sockets = Object.values(h.agent.freeSockets).reduce((n, l) => n + (l?.length ?? 0), 0);
  t.ok(sockets > 0 && sockets <= 8, `reused ${sockets} sockets`);
});
