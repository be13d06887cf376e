// Bad input over real HTTP: each case gets etcd 3.4.23's exact status and body (observed on etcd
// through its gateway), and the member keeps serving after each.
import http from 'node:http';
import t, { type Test } from 'tap';
import { b64, hdr, startHarness, type Harness } from './helpers.js';

/** etcd's error body (Go escapes <, > and & in JSON strings). */
const err = (m: string, code: number): string =>
  JSON.stringify({ error: m, message: m, code }).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

let h: Harness;
t.before(async () => {
  h = await startHarness();
  await h.json('/v3/kv/put', { key: b64('foo'), value: b64('bar') });
});
t.teardown(() => h.close());

/** After every bad request the member must still answer a good one. */
async function stillServing(t: Test): Promise<void> {
  const r = await h.post('/v3/kv/range', { key: b64('foo') });
  t.equal(r.status, 200, 'still serving');
}

const decodeCases: Array<[string, string, string, string?]> = [
  ['malformed JSON', '/v3/kv/range', '{bad', "invalid character 'b' looking for beginning of object key string"],
  ['key as a number', '/v3/kv/range', '{"key":1}', 'json: cannot unmarshal number into Go value of type []uint8'],
  ['bad base64', '/v3/kv/range', '{"key":"!!!!"}', 'illegal base64 data at input byte 0'],
  ['unpadded base64', '/v3/kv/range', '{"key":"Zm8"}', 'illegal base64 data at input byte 0'],
  ['unpadded base64 after a quantum', '/v3/kv/put', '{"key":"Zm9vZm8"}', 'illegal base64 data at input byte 4'],
  ['garbage after padding', '/v3/kv/put', '{"key":"Zg==Zg=="}', 'illegal base64 data at input byte 4'],
  ['wrong bool', '/v3/kv/range', '{"key":"Zm9v","keys_only":"true"}', 'json: cannot unmarshal string into Go value of type bool'],
  ['number for bool', '/v3/kv/range', '{"key":"Zm9v","keys_only":1}', 'json: cannot unmarshal number into Go value of type bool'],
  ['"limit":"abc"', '/v3/kv/range', '{"key":"Zm9v","limit":"abc"}', "invalid character 'a' looking for beginning of value"],
  ['1.5 for int64', '/v3/kv/range', '{"key":"Zm9v","limit":1.5}', 'json: cannot unmarshal number 1.5 into Go value of type int64'],
  ['"1.5" for int64', '/v3/kv/range', '{"key":"Zm9v","limit":"1.5"}', 'json: cannot unmarshal number 1.5 into Go value of type int64'],
  ['1e2 for int64', '/v3/kv/range', '{"key":"Zm9v","limit":1e2}', 'json: cannot unmarshal number 1e2 into Go value of type int64'],
  ['int64 overflow', '/v3/kv/range', '{"key":"Zm9v","limit":"99999999999999999999"}', 'json: cannot unmarshal number 99999999999999999999 into Go value of type int64'],
  ['bool for int64', '/v3/kv/range', '{"key":"Zm9v","limit":true}', 'json: cannot unmarshal bool into Go value of type int64'],
  ['object for int64', '/v3/kv/range', '{"key":"Zm9v","limit":{}}', 'json: cannot unmarshal object into Go value of type int64'],
  ['BOGUS enum', '/v3/kv/range', '{"key":"Zm9v","sort_order":"BOGUS"}', 'unknown value "BOGUS" for enum etcdserverpb.RangeRequest_SortOrder'],
  ['enum number as string', '/v3/kv/range', '{"key":"Zm9v","sort_order":"2"}', 'unknown value "2" for enum etcdserverpb.RangeRequest_SortOrder'],
  ['bool for enum', '/v3/kv/range', '{"key":"Zm9v","sort_order":true}', 'json: cannot unmarshal bool into Go value of type etcdserverpb.RangeRequest_SortOrder'],
  ['HTML in an enum name', '/v3/kv/range', '{"key":"Zm9v","sort_order":"<b>"}', 'unknown value "<b>" for enum etcdserverpb.RangeRequest_SortOrder'],
  ['BOGUS compare target', '/v3/kv/txn', '{"compare":[{"key":"YQ==","target":"BOGUS"}]}', 'unknown value "BOGUS" for enum etcdserverpb.Compare_CompareTarget'],
  ['BOGUS compare result', '/v3/kv/txn', '{"compare":[{"key":"YQ==","result":"BOGUS"}]}', 'unknown value "BOGUS" for enum etcdserverpb.Compare_CompareResult'],
  ['object for a list', '/v3/kv/txn', '{"compare":{}}', 'json: cannot unmarshal object into Go value of type []json.RawMessage'],
  ['number in a message list', '/v3/kv/txn', '{"compare":[5]}', 'json: cannot unmarshal number into Go value of type map[string]json.RawMessage'],
  ['bad int64 in a compare', '/v3/kv/txn', '{"compare":[{"key":"YQ==","target":"MOD","mod_revision":"x"}]}', "invalid character 'x' looking for beginning of value"],
  ['[] body', '/v3/kv/range', '[]', 'json: cannot unmarshal array into Go value of type map[string]json.RawMessage'],
  ['string body', '/v3/kv/range', '"abc"', 'json: cannot unmarshal string into Go value of type map[string]json.RawMessage'],
  ['number body', '/v3/kv/range', '5', 'json: cannot unmarshal number into Go value of type map[string]json.RawMessage'],
  ['true body', '/v3/kv/range', 'true', 'json: cannot unmarshal bool into Go value of type map[string]json.RawMessage'],
  ['truncated body', '/v3/kv/range', '{"key":"Zm9v"', 'unexpected EOF'],
  ['trailing comma', '/v3/kv/range', '{"key":"Zm9v",}', "invalid character '}' looking for beginning of object key string"],
  ['< in body', '/v3/kv/range', '<', "invalid character '<' looking for beginning of value"],
  ['[] body on status', '/v3/maintenance/status', '[]', 'json: cannot unmarshal array into Go value of type map[string]json.RawMessage'],
  ['bad body on member list', '/v3/cluster/member/list', '{bad', "invalid character 'b' looking for beginning of object key string"],
  ['bad body on snapshot', '/v3/maintenance/snapshot', '{bad', "invalid character 'b' looking for beginning of object key string"],
  ['negative uint64', '/v3/cluster/member/remove', '{"ID":-1}', 'json: cannot unmarshal number -1 into Go value of type uint64'],
  ['number for a string', '/v3/cluster/member/add', '{"peerURLs":[5]}', 'json: cannot unmarshal number into Go value of type string'],
  ['bad lease ID', '/v3/lease/grant', '{"TTL":60,"ID":"x"}', "invalid character 'x' looking for beginning of value"],
  ['bad enum in a watch filter? (unary path)', '/v3/kv/deleterange', '{"key":5}', 'json: cannot unmarshal number into Go value of type []uint8'],
];

for (const [name, path, body, message] of decodeCases) {
  t.test(`decode error: ${name}`, async (t) => {
    const r = await h.post(path, body);
    t.equal(r.status, 400);
    t.equal(r.headers['content-type'], 'application/json');
    t.equal(r.headers['content-length'], String(Buffer.byteLength(r.body)));
    t.equal(r.headers['grpc-metadata-content-type'], undefined);
    t.equal(r.headers['access-control-allow-origin'], '*');
    t.equal(r.body, err(message as string, 3));
    await stillServing(t);
  });
}

t.test('HTML-unsafe characters are escaped as Go does', async (t) => {
  const r = await h.post('/v3/kv/range', '<');
  t.equal(r.body, '{"error":"invalid character \'\\u003c\' looking for beginning of value","message":"invalid character \'\\u003c\' looking for beginning of value","code":3}');
});

t.test('null, empty and blank bodies are an empty request (so "key is not provided")', async (t) => {
  for (const body of ['null', '', ' \n ', '{"key":null}', '{"Key":"Zm9v"}']) {
    const r = await h.post('/v3/kv/range', body);
    t.equal(r.status, 400, JSON.stringify(body));
    t.equal(r.body, err('etcdserver: key is not provided', 3));
    // A service error comes chunked with gRPC's trailer, as etcd's gateway sends it.
    t.equal(r.headers['transfer-encoding'], 'chunked');
    t.equal(r.headers.trailer, 'Grpc-Trailer-Content-Type');
    t.equal(r.trailers['grpc-trailer-content-type'], 'application/grpc');
  }
  await stillServing(t);
});

t.test('the rest of the body after the first value is ignored', async (t) => {
  for (const body of ['{"key":"Zm9v"} x', '{"key":"Zm9v"}{}', '{"key":"Zm9v"}]']) {
    const r = await h.post('/v3/kv/range', body);
    t.equal(r.status, 200, body);
    t.match(JSON.parse(r.body), { count: '1' });
  }
});

t.test('service errors keep their code and status', async (t) => {
  const cases: Array<[string, object, number, string, number]> = [
    ['/v3/kv/put', { key: b64('k'), lease: 1001 }, 404, 'etcdserver: requested lease not found', 5],
    ['/v3/lease/revoke', { ID: 1001 }, 404, 'etcdserver: requested lease not found', 5],
    ['/v3/kv/range', { key: b64('foo'), revision: 999 }, 400, 'etcdserver: mvcc: required revision is a future revision', 11],
    ['/v3/kv/compaction', { revision: 999 }, 400, 'etcdserver: mvcc: required revision is a future revision', 11],
    ['/v3/lease/grant', { TTL: 9_000_000_001 }, 400, 'etcdserver: too large lease TTL', 11],
    ['/v3/cluster/member/remove', { ID: 1 }, 404, 'etcdserver: member not found', 5],
    ['/v3/maintenance/transfer-leadership', { targetID: 1 }, 412, 'etcdserver: bad leader transferee', 9],
    ['/v3/kv/put', { key: b64('k'), value: b64('v'), ignore_value: true }, 400, 'etcdserver: value is provided', 3],
  ];
  for (const [path, body, status, message, code] of cases) {
    const r = await h.post(path, body);
    t.equal(r.status, status, path);
    t.equal(r.body, err(message, code), path);
  }
  await h.json('/v3/lease/grant', { TTL: 60, ID: 77 });
  const again = await h.post('/v3/lease/grant', { TTL: 60, ID: 77 });
  t.equal(again.status, 412);
  t.equal(again.body, err('etcdserver: lease already exists', 9));
  await stillServing(t);
});

t.test('a txn of 200 ops: 400/3 "too many operations"', async (t) => {
  const success = Array.from({ length: 200 }, (_, i) => ({ request_put: { key: b64(`k${i}`) } }));
  const r = await h.post('/v3/kv/txn', { success });
  t.equal(r.status, 400);
  t.equal(r.body, err('etcdserver: too many operations in txn request', 3));
  const compares = await h.post('/v3/kv/txn', { compare: Array.from({ length: 200 }, () => ({ key: 'YQ==' })) });
  t.equal(compares.body, err('etcdserver: too many operations in txn request', 3));
  await stillServing(t);
});

t.test('a txn op with no request: "key not found" (etcd checks it before the service could)', async (t) => {
  for (const body of ['{"success":[{}]}', '{"success":[{"request_put":null}]}', '{"failure":[{"request_txn":{"success":[{}]}}]}']) {
    const r = await h.post('/v3/kv/txn', body);
    t.equal(r.status, 400, body);
    t.equal(r.body, err('etcdserver: key not found', 3), body);
  }
  // ...but the count is checked first, and an empty key before a later empty op.
  const many = await h.post('/v3/kv/txn', { success: [{}, ...Array.from({ length: 129 }, (_, i) => ({ request_put: { key: b64(`k${i}`) } }))] });
  t.equal(many.body, err('etcdserver: too many operations in txn request', 3));
  const emptyKey = await h.post('/v3/kv/txn', { success: [{ request_range: {} }, {}] });
  t.equal(emptyKey.body, err('etcdserver: key is not provided', 3));
});

t.test('sizes: a 2 MiB put is "request is too large", a ~3 MiB body is gRPC\'s 429', async (t) => {
  // Largest value etcd 3.4 takes for a 4-byte key: 1572836 bytes (measured); one more is too large.
  const key = b64('big\n');
  const ok = await h.post('/v3/kv/put', { key, value: Buffer.alloc(1572836, 120).toString('base64') });
  t.equal(ok.status, 200);
  const over = await h.post('/v3/kv/put', { key, value: Buffer.alloc(1572837, 120).toString('base64') });
  t.equal(over.status, 400);
  t.equal(over.body, err('etcdserver: request is too large', 3));
  const withPrev = await h.post('/v3/kv/put', { key, value: Buffer.alloc(1572835, 120).toString('base64'), prev_kv: true });
  t.equal(withPrev.status, 400, 'prev_kv adds 2 bytes');

  const twoMiB = await h.post('/v3/kv/put', { key, value: Buffer.alloc(1536 * 1024 + 1000, 120).toString('base64') });
  t.equal(twoMiB.status, 400);
  t.equal(twoMiB.body, err('etcdserver: request is too large', 3));

  // etcd checks the request before its size: an empty key is "key is not provided" even when huge.
  const noKey = await h.post('/v3/kv/put', { value: Buffer.alloc(1536 * 1024 + 1000, 120).toString('base64') });
  t.equal(noKey.body, err('etcdserver: key is not provided', 3));

  const three = await h.post('/v3/kv/put', { key, value: Buffer.alloc(2 * 1024 * 1024, 120).toString('base64') });
  t.equal(three.status, 429);
  t.equal(three.body, err('grpc: received message larger than max (2097163 vs. 2097152)', 8));

  // A read-only txn does not go through Raft: no 1.5 MiB limit.
  const bigKey = Buffer.alloc(1600 * 1024, 97).toString('base64');
  const ro = await h.post('/v3/kv/txn', { success: [{ request_range: { key: bigKey } }] });
  t.equal(ro.status, 200);
  const rw = await h.post('/v3/kv/txn', { success: [{ request_put: { key: bigKey } }] });
  t.equal(rw.body, err('etcdserver: request is too large', 3));
  await stillServing(t);
});

t.test('a body too big to buffer is refused while it is read', async (t) => {
  const small = await startHarness({ maxRequestBytes: 1000, maxBodyBytes: 2000 });
  t.teardown(() => small.close());
  const r = await small.post('/v3/kv/put', '{"key":"' + 'A'.repeat(100_000) + '"}');
  t.equal(r.status, 429);
  t.match(r.body, /^\{"error":"grpc: received message larger than max \(\d+ vs\. 2000\)"/);
  t.equal(r.headers.connection, 'close');
  const after = await small.post('/v3/kv/put', { key: b64('a'), value: b64('b') });
  t.equal(after.status, 200);
  const announced = await small.request('POST', '/v3/kv/range', Buffer.alloc(200_000, 32), { 'content-length': '200000' });
  t.equal(announced.status, 429, 'refused from its Content-Length');
  const decoded = await small.post('/v3/kv/range', { key: Buffer.alloc(3000).toString('base64') });
  t.equal(decoded.status, 429);
  t.equal(decoded.body, err('grpc: received message larger than max (3003 vs. 2000)', 8));
  const tooBig = await small.post('/v3/kv/put', { key: b64('a'), value: Buffer.alloc(1000).toString('base64') });
  t.equal(tooBig.body, err('etcdserver: request is too large', 3));
});

t.test('paths and methods', async (t) => {
  const cases: Array<[string, string, number, string, string]> = [
    ['POST', '/v3/kv/nope', 404, 'Not Found\n', 'text/plain; charset=utf-8'],
    ['POST', '/v3beta/kv/nope', 404, 'Not Found\n', 'text/plain; charset=utf-8'],
    ['POST', '/v3/kv/range/', 404, 'Not Found\n', 'text/plain; charset=utf-8'],
    ['POST', '/v3/kv/Range', 404, 'Not Found\n', 'text/plain; charset=utf-8'],
    ['POST', '/v3/auth/status', 404, 'Not Found\n', 'text/plain; charset=utf-8'],
    ['GET', '/v3/', 404, 'Not Found\n', 'text/plain; charset=utf-8'],
    ['POST', '/v3alpha/kv/range', 404, '404 page not found\n', 'text/plain; charset=utf-8'],
    ['GET', '/nothing', 404, '404 page not found\n', 'text/plain; charset=utf-8'],
    ['GET', '/v3beta', 404, '404 page not found\n', 'text/plain; charset=utf-8'],
    ['GET', '/v3/kv/range', 405, 'Method Not Allowed\n', 'text/plain; charset=utf-8'],
    ['PUT', '/v3/kv/range', 405, 'Method Not Allowed\n', 'text/plain; charset=utf-8'],
    ['GET', '/v3/watch', 405, 'Method Not Allowed\n', 'text/plain; charset=utf-8'],
    ['GET', '/v3/maintenance/snapshot', 405, 'Method Not Allowed\n', 'text/plain; charset=utf-8'],
    ['POST', '/health', 405, 'Method Not Allowed\n', 'text/plain; charset=utf-8'],
    ['POST', '/version', 405, 'Method Not Allowed\n', 'text/plain; charset=utf-8'],
  ];
  for (const [method, path, status, body, type] of cases) {
    const r = await h.request(method, path, method === 'GET' ? undefined : '{}');
    t.equal(r.status, status, `${method} ${path}`);
    t.equal(r.body, body, `${method} ${path}`);
    t.equal(r.headers['content-type'], type);
    t.equal(r.headers['x-content-type-options'], 'nosniff');
  }
  const post = await h.request('POST', '/health');
  t.equal(post.headers.allow, 'GET');
  const head = await h.request('HEAD', '/v3/kv/range');
  t.equal(head.status, 405);
  const opts = await h.request('OPTIONS', '/v3/kv/range');
  t.equal(opts.status, 200);
  t.equal(opts.headers['content-length'], '0');
  t.equal(opts.headers['access-control-allow-methods'], 'POST, GET, OPTIONS, PUT, DELETE');
  await stillServing(t);
});

t.test("Go's redirects: /v3 and unclean paths", async (t) => {
  const v3 = await h.request('POST', '/v3', '{}');
  t.equal(v3.status, 301);
  t.equal(v3.headers.location, '/v3/');
  t.equal(v3.body, '');
  const get = await h.request('GET', '/v3');
  t.equal(get.body, '<a href="/v3/">Moved Permanently</a>.\n\n');
  t.equal(get.headers['content-type'], 'text/html; charset=utf-8');
  const dbl = await h.request('POST', '//v3/kv/range?a=b', '{}');
  t.equal(dbl.status, 301);
  t.equal(dbl.headers.location, '/v3/kv/range?a=b');
  const dots = await h.request('GET', '/v3/kv/../kv/range');
  t.equal(dots.headers.location, '/v3/kv/range');
  const enc = await h.post('/v3/kv/%72ange', { key: b64('foo') });
  t.equal(enc.status, 200, 'percent-encoded paths are decoded as Go does');
  const query = await h.post('/v3/kv/range?x=1', { key: b64('foo') });
  t.equal(query.status, 200);
  const bad = await h.request('POST', '/v3/kv/%zz', '{}');
  t.equal(bad.status, 400);
  const absolute = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: h.port, method: 'POST', path: `http://127.0.0.1:${h.port}/v3/kv/range`, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(JSON.stringify({ key: b64('foo') }));
  });
  t.equal(absolute, 200, 'absolute-form request targets are routed by their path');
});

t.test('unexpected service failures are 500/2 and logged, the member keeps serving', async (t) => {
  h.svc.failures.set('range', new TypeError('boom'));
  const r = await h.post('/v3/kv/range', { key: b64('foo') });
  t.equal(r.status, 500);
  t.equal(r.body, err('boom', 2));
  // A service that throws synchronously instead of rejecting.
  const orig = h.svc.put.bind(h.svc);
  h.svc.put = () => {
    throw new RangeError('sync boom');
  };
  const p = await h.post('/v3/kv/put', { key: b64('x') });
  t.equal(p.status, 500);
  t.equal(p.body, err('sync boom', 2));
  h.svc.put = orig;
  await stillServing(t);
});

t.test('member update is 501 when the service lacks it', async (t) => {
  const r = await h.post('/v3/cluster/member/update', { ID: 1, peerURLs: ['http://127.0.0.1:1'] });
  t.equal(r.status, 501);
  t.match(JSON.parse(r.body), { code: 12 });
  const svc = h.svc as unknown as { memberUpdate?: (r: { ID: number; peerURLs: string[] }) => Promise<unknown> };
  svc.memberUpdate = async (req) => ({ header: h.svc.header(), members: [{ ID: req.ID, peerURLs: req.peerURLs }] });
  const ok = await h.post('/v3/cluster/member/update', { ID: '9', peerURLs: ['http://127.0.0.1:1'] });
  t.equal(ok.status, 200);
  t.equal(ok.body, `{"header":{"cluster_id":"${h.svc.clusterId}","member_id":"${h.svc.memberId}","raft_term":"2"},"members":[{"ID":"9","peerURLs":["http://127.0.0.1:1"]}]}`);
  delete svc.memberUpdate;
});

t.test('a header from the service is encoded as given', async (t) => {
  const r = await h.post('/v3/kv/range', { key: b64('foo') });
  t.match(r.body, hdr(h.svc));
});

t.test('fuzz: mangled bodies on every endpoint never crash the member or give a 500', async (t) => {
  // A deterministic generator (xorshift) so that a failure replays.
  let seed = 0x2545f491;
  const rnd = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const samples = [
    '{"key":"Zm9v","range_end":"Zm9w","limit":"10","sort_order":"DESCEND","keys_only":true}',
    '{"key":"Zm9v","value":"YmFy","lease":"0","prev_kv":true}',
    '{"compare":[{"target":"VALUE","key":"Zm9v","value":"YmFy"}],"success":[{"request_put":{"key":"Zm9v","value":"YmF6"}}],"failure":[{"request_range":{"key":"Zm9v"}}]}',
    '{"TTL":"60","ID":"123"}',
    '{"peerURLs":["http://127.0.0.1:9"],"isLearner":false}',
  ];
  const paths = ['/v3/kv/range', '/v3/kv/put', '/v3/kv/deleterange', '/v3/kv/txn', '/v3/kv/compaction', '/v3/lease/grant', '/v3/lease/timetolive', '/v3/cluster/member/add', '/v3/maintenance/status'];
  const alphabet = '{}[]:,"\\ -0123456789.eEtrufalsn\x00\xff\u00e9=+/AZaz';
  const statuses = new Map<number, number>();
  for (let i = 0; i < 400; i++) {
    const src = samples[rnd(samples.length)] as string;
    const chars = [...src];
    for (let k = 0, edits = 1 + rnd(4); k < edits; k++) {
      const at = rnd(chars.length + 1);
      const op = rnd(3);
      if (op === 0) chars.splice(at, 1);
      else if (op === 1) chars.splice(at, 0, alphabet[rnd(alphabet.length)] as string);
      else chars[at] = alphabet[rnd(alphabet.length)] as string;
    }
    const path = paths[rnd(paths.length)] as string;
    const r = await h.post(path, Buffer.from(chars.join(''), 'utf8'));
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    if (r.status >= 500 || r.status === 0) t.fail(`${path} ${JSON.stringify(chars.join(''))}: ${r.status} ${r.body}`);
    if (r.status !== 200) t.match(JSON.parse(r.body), { error: String, message: String, code: Number });
  }
  t.ok((statuses.get(400) ?? 0) > 100, `statuses: ${JSON.stringify([...statuses])}`);
  await stillServing(t);
});
