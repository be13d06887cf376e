// The output formats on their own: etcdctl 3.4's simple lines, Go's JSON, tablewriter's tables,
// and the Go formatting helpers they rest on. Expected texts were taken from etcdctl 3.4.23.
import { Readable } from 'node:stream';
import t from 'tap';
import type { KeyValue, MemberListResponse, RangeResponse } from '../../src/client/index.js';
import { EventType } from '../../src/client/index.js';
import { KvctlError } from '../../src/kvctl/errors.js';
import { goDuration, goQuote, hex16, hexEscaped, hexId, hexPad16, humanizeBytes, parseGoBool, parseGoDuration, parseGoInt, readGoQuoted } from '../../src/kvctl/format.js';
import type { KvctlIo } from '../../src/kvctl/io.js';
import { encodeJson } from '../../src/kvctl/json.js';
import { newPrinter, type Printer } from '../../src/kvctl/printer.js';
import { renderTable } from '../../src/kvctl/table.js';

const enc = (s: string) => Buffer.from(s);

function kv(key: string, value: string, extra: Partial<KeyValue> = {}): KeyValue {
  return { key: enc(key), value: enc(value), create_revision: 2, mod_revision: 3, version: 2, lease: 0n, ...extra };
}

const header = { cluster_id: 17368989521238926805n, member_id: 17628310501313495538n, revision: 6, raft_term: 2 };

function capture(format: string, opts: { hex?: boolean; valueOnly?: boolean; countOnly?: boolean } = {}): { p: Printer; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const io: KvctlIo = {
    stdout: (d) => (out += typeof d === 'string' ? d : Buffer.from(d).toString()),
    stderr: (d) => (err += d),
    stdin: Readable.from([]),
    env: {},
    interrupt: new AbortController().signal,
  };
  return { p: newPrinter(format, io, { hex: !!opts.hex, valueOnly: opts.valueOnly, countOnly: opts.countOnly }), out: () => out, err: () => err };
}

const range: RangeResponse = { header, kvs: [kv('foo', 'bar'), kv('foo1', 'bar1', { lease: 0x41f2a227ceac2244n })], more: true, count: 4 };

t.test('format helpers behave as Go', async (t) => {
  t.equal(hex16(0x694d7a3c1a2b0c0dn), '694d7a3c1a2b0c0d');
  t.equal(hex16(0x1234n), '0000000000001234');
  t.equal(hex16(-5n), '-000000000000005');
  t.equal(hexId(0x695ccc7a0283ad2n), '695ccc7a0283ad2');
  t.equal(hexPad16(0x695ccc7a0283ad2n), ' 695ccc7a0283ad2');
  t.equal(hexEscaped(enc('foo')), '\\x66\\x6f\\x6f');
  t.equal(humanizeBytes(24576), '25 kB');
  t.equal(humanizeBytes(20480), '20 kB', 'half to even, as %.0f');
  t.equal(humanizeBytes(5), '5 B');
  t.equal(humanizeBytes(123), '123 B');
  t.equal(humanizeBytes(1500), '1.5 kB');
  t.equal(humanizeBytes(2_500_000), '2.5 MB');
  t.equal(goDuration(1_543_843), '1.543843ms');
  t.equal(goDuration(5_000_704_785), '5.000704785s');
  t.equal(goDuration(850_000), '850µs');
  t.equal(goDuration(999), '999ns');
  t.equal(goDuration(90e9), '1m30s');
  t.equal(goDuration(3.6e12 + 1e9), '1h0m1s');
  t.equal(goDuration(0), '0s');
  t.equal(goDuration(-2e6), '-2ms');
  t.equal(parseGoDuration('5s'), 5000);
  t.equal(parseGoDuration('300ms'), 300);
  t.equal(parseGoDuration('1m30s'), 90000);
  t.equal(parseGoDuration('1.5s'), 1500);
  t.equal(parseGoDuration('0'), 0);
  t.equal(parseGoDuration('-1s'), -1000);
  t.throws(() => parseGoDuration('5'), { message: 'time: missing unit in duration "5"' });
  t.throws(() => parseGoDuration('abc'), { message: 'time: invalid duration "abc"' });
  t.throws(() => parseGoDuration('5x'), { message: 'time: unknown unit "x" in duration "5x"' });
  t.throws(() => parseGoDuration(''), { message: 'time: invalid duration ""' });
  t.equal(parseGoInt('0x10', 0), 16n);
  t.equal(parseGoInt('010', 0), 8n);
  t.equal(parseGoInt('0b11', 0), 3n);
  t.equal(parseGoInt('0o17', 0), 15n);
  t.equal(parseGoInt('-42', 10), -42n);
  t.equal(parseGoInt('ff', 16), 255n);
  t.throws(() => parseGoInt('abc', 10), { message: 'strconv.ParseInt: parsing "abc": invalid syntax' });
  t.throws(() => parseGoInt('ffffffffffffffffff', 16), { message: 'strconv.ParseInt: parsing "ffffffffffffffffff": value out of range' });
  t.throws(() => parseGoInt('-1', 16, 'ParseUint'), { message: 'strconv.ParseUint: parsing "-1": invalid syntax' });
  t.equal(parseGoInt('ffffffffffffffff', 16, 'ParseUint'), 2n ** 64n - 1n);
  t.equal(parseGoBool('true'), true);
  t.equal(parseGoBool('F'), false);
  t.throws(() => parseGoBool('x'), { message: 'strconv.ParseBool: parsing "x": invalid syntax' });
  t.equal(goQuote('a"b\\c\n\t\x01\x7f'), '"a\\"b\\\\c\\n\\t\\x01\\x7f"');
  t.equal(goQuote('\x07\x08\x0c\r\x0b'), '"\\a\\b\\f\\r\\v"');
  t.equal(goQuote('héllo'), '"héllo"');
  t.equal(goQuote(Uint8Array.of(0xff, 0x41)), '"\\xffA"');
  t.equal(goQuote('\u200b'), '"\\u200b"');
  t.equal(readGoQuoted('"a\\x41\\u00e9\\101\\"" rest')?.value.toString(), 'aAéA"');
  t.equal(readGoQuoted('"a\\x41\\u00e9\\101\\"" rest')?.rest, ' rest');
  t.equal(readGoQuoted('`raw\\n`x')?.value.toString(), 'raw\\n');
  t.equal(readGoQuoted('"\\a\\b\\f\\n\\r\\t\\v\\\\"')?.value.length, 8);
  t.equal(readGoQuoted('"\\U0001F600"')?.value.toString(), '😀');
  t.equal(readGoQuoted('"unterminated'), undefined);
  t.equal(readGoQuoted('"bad \\q"'), undefined);
  t.equal(readGoQuoted('"bad \\xZZ"'), undefined);
  t.equal(readGoQuoted('"bad \\u12"'), undefined);
  t.equal(readGoQuoted('"bad \\777"'), undefined);
  t.equal(readGoQuoted('"new\nline"'), undefined);
  t.equal(readGoQuoted('`open'), undefined);
  t.equal(readGoQuoted('x'), undefined);
});

t.test('JSON: bigints as numbers, Go escapes, omitted fields', async (t) => {
  t.equal(encodeJson({ a: 17628310501313495538n, b: undefined, c: [1, 'x<y>&'], d: null, e: true, f: Infinity }), '{"a":17628310501313495538,"c":[1,"x\\u003cy\\u003e\\u0026"],"d":null,"e":true,"f":null}');
  t.equal(encodeJson(undefined), 'null');
});

t.test('get, put, del in the simple format', async (t) => {
  const a = capture('simple');
  a.p.get(range);
  a.p.put({ header, prev_kv: kv('foo', 'old') });
  a.p.put({ header });
  a.p.del({ header, deleted: 2, prev_kvs: [kv('a', '1'), kv('b', '')] });
  t.equal(a.out(), 'foo\nbar\nfoo1\nbar1\nOK\nfoo\nold\nOK\n2\na\n1\nb\n\n');
  const keysOnly = capture('simple');
  keysOnly.p.get({ header, kvs: [{ ...kv('k', ''), value: new Uint8Array(0) }], more: false, count: 1 });
  t.equal(keysOnly.out(), 'k\n\n', 'a blank line after each key, as etcdctl --keys-only');
  const vo = capture('simple', { valueOnly: true });
  vo.p.get(range);
  t.equal(vo.out(), 'bar\nbar1\n');
  const hex = capture('simple', { hex: true });
  hex.p.get({ header, kvs: [kv('foo', 'bar')], more: false, count: 1 });
  t.equal(hex.out(), '\\x66\\x6f\\x6f\n\\x62\\x61\\x72\n');
  const count = capture('simple', { countOnly: true });
  count.p.get({ header, kvs: [], more: false, count: 7 });
  t.equal(count.out(), '7\n');
  const bin = capture('simple');
  bin.p.get({ header, kvs: [kv('\xff', 'x')], more: false, count: 1 });
  t.ok(bin.out().endsWith('\nx\n'));
});

t.test('get, put, del, txn as JSON (etcdctl 3.4.23 texts)', async (t) => {
  const a = capture('json');
  a.p.get({ header, kvs: [kv('foo', 'bar')], more: false, count: 1 });
  a.p.get({ header, kvs: [], more: false, count: 0 });
  a.p.get({ ...range, kvs: [range.kvs[0]!] });
  a.p.put({ header, prev_kv: kv('foo', 'bar', { create_revision: 10, mod_revision: 20, version: 3 }) });
  a.p.del({ header: { ...header, revision: 8 }, deleted: 0, prev_kvs: [] });
  a.p.txn({ header: { ...header, revision: 17 }, succeeded: false, responses: [{ response_put: { header: { revision: 17 } } }] });
  const h = '"header":{"cluster_id":17368989521238926805,"member_id":17628310501313495538,"revision":6,"raft_term":2}';
  t.same(a.out().split('\n'), [
    `{${h},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":3,"version":2,"value":"YmFy"}],"count":1}`,
    `{${h}}`,
    `{${h},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":3,"version":2,"value":"YmFy"}],"more":true,"count":4}`,
    `{${h},"prev_kv":{"key":"Zm9v","create_revision":10,"mod_revision":20,"version":3,"value":"YmFy"}}`,
    '{"header":{"cluster_id":17368989521238926805,"member_id":17628310501313495538,"revision":8,"raft_term":2}}',
    '{"header":{"cluster_id":17368989521238926805,"member_id":17628310501313495538,"revision":17,"raft_term":2},"responses":[{"Response":{"ResponsePut":{"header":{"revision":17}}}}]}',
    '',
  ]);
  const b = capture('json');
  b.p.txn({
    header,
    succeeded: true,
    responses: [
      { response_range: { header: { revision: 6 }, kvs: [kv('a', 'b')], more: false, count: 1 } },
      { response_delete_range: { header: { revision: 6 }, deleted: 1, prev_kvs: [] } },
      { response_txn: { header: {}, succeeded: true, responses: [] } },
    ],
  });
  t.match(b.out(), /"succeeded":true,"responses":\[\{"Response":\{"ResponseRange":\{"header":\{"revision":6\},"kvs":\[.*\],"count":1\}\}\},\{"Response":\{"ResponseDeleteRange":\{"header":\{"revision":6\},"deleted":1\}\}\},\{"Response":\{"ResponseTxn":\{"header":\{\},"succeeded":true\}\}\}\]/);
});

t.test('txn and watch in the simple format', async (t) => {
  const a = capture('simple');
  a.p.txn({
    header,
    succeeded: true,
    responses: [
      { response_delete_range: { header, deleted: 1, prev_kvs: [] } },
      { response_put: { header } },
      { response_range: { header, kvs: [kv('k', 'v')], more: false, count: 1 } },
      { response_txn: { header, succeeded: false, responses: [] } },
    ],
  });
  t.equal(a.out(), 'SUCCESS\n\n1\n\nOK\n\nk\nv\n\nFAILURE\n');
  const w = capture('simple');
  w.p.watch({
    header,
    events: [
      { type: EventType.PUT, kv: kv('wk', 'v2'), prev_kv: kv('wk', 'v1') },
      { type: EventType.DELETE, kv: { ...kv('wk', ''), value: new Uint8Array(0) } },
    ],
    compactRevision: 0,
    canceled: false,
    created: false,
  });
  t.equal(w.out(), 'PUT\nwk\nv1\nwk\nv2\nDELETE\nwk\n\n');
  const j = capture('json');
  j.p.watch({
    header: { ...header, revision: 25 },
    events: [{ type: EventType.DELETE, kv: { key: enc('wk'), value: new Uint8Array(0), create_revision: 0, mod_revision: 25, version: 0, lease: 0n } }],
    compactRevision: 0,
    canceled: false,
    created: false,
  });
  t.equal(
    j.out(),
    '{"Header":{"cluster_id":17368989521238926805,"member_id":17628310501313495538,"revision":25,"raft_term":2},"Events":[{"type":1,"kv":{"key":"d2s=","mod_revision":25}}],"CompactRevision":0,"Canceled":false,"Created":false}\n',
  );
});

t.test('leases in the simple and JSON formats', async (t) => {
  const s = capture('simple');
  s.p.grant({ header, ID: 0x41f2a227ceac2242n, TTL: 100 });
  s.p.revoke(0x1234n, { header });
  s.p.keepAlive({ header, ID: 0x1234n, TTL: 60 });
  s.p.timeToLive({ header, ID: 0x41f2a227ceac2244n, TTL: 59, grantedTTL: 60, keys: [] }, false);
  s.p.timeToLive({ header, ID: 0x41f2a227ceac2244n, TTL: 59, grantedTTL: 60, keys: [enc('zoo2'), enc('zoo1')] }, true);
  s.p.timeToLive({ header, ID: 0x41f2a227ceac2244n, TTL: -1, grantedTTL: 0, keys: [] }, true);
  s.p.leases({ header, leases: [{ ID: 0x41f2a227ceac2244n }, { ID: 0x1n }] });
  t.equal(
    s.out(),
    [
      'lease 41f2a227ceac2242 granted with TTL(100s)',
      'lease 0000000000001234 revoked',
      'lease 0000000000001234 keepalived with TTL(60)',
      'lease 41f2a227ceac2244 granted with TTL(60s), remaining(59s)',
      'lease 41f2a227ceac2244 granted with TTL(60s), remaining(59s), attached keys([zoo2 zoo1])',
      'lease 41f2a227ceac2244 already expired',
      'found 2 leases',
      '41f2a227ceac2244',
      '0000000000000001',
      '',
    ].join('\n'),
  );
  const j = capture('json');
  const h = { ...header, revision: 21 };
  j.p.grant({ header: h, ID: 4752038848684106311n, TTL: 60 });
  j.p.timeToLive({ header: h, ID: 4752038848684106308n, TTL: 59, grantedTTL: 60, keys: [enc('lk')] }, true);
  j.p.timeToLive({ header: h, ID: 4752038848684106308n, TTL: -1, grantedTTL: 0, keys: [] }, false);
  j.p.leases({ header: h, leases: [{ ID: 4752038848684106308n }] });
  j.p.leases({ header: h, leases: [] });
  j.p.keepAlive({ header: h, ID: 4752038848684106308n, TTL: 60 });
  j.p.revoke(1n, { header: h });
  const hf = '"cluster_id":17368989521238926805,"member_id":17628310501313495538,"revision":21,"raft_term":2';
  t.same(j.out().split('\n'), [
    `{${hf},"ID":4752038848684106311,"TTL":60,"Error":""}`,
    `{${hf},"id":4752038848684106308,"ttl":59,"granted-ttl":60,"keys":["bGs="]}`,
    `{${hf},"id":4752038848684106308,"ttl":-1,"granted-ttl":0,"keys":null}`,
    `{${hf},"leases":[{"id":4752038848684106308}]}`,
    `{${hf},"leases":[]}`,
    `{${hf},"ID":4752038848684106308,"TTL":60}`,
    `{"header":{${hf}}}`,
    '',
  ]);
});

const members: MemberListResponse = {
  header: { cluster_id: 18198848259383767581n, member_id: 4743905705587477183n, raft_term: 2 },
  members: [
    { ID: 474510493515004626n, name: '', peerURLs: ['http://127.0.0.1:24914'], clientURLs: [], isLearner: true },
    { ID: 4743905705587477183n, name: 'f1', peerURLs: ['http://127.0.0.1:24911'], clientURLs: ['http://127.0.0.1:24901'], isLearner: false },
  ],
};

t.test('members in every format', async (t) => {
  const s = capture('simple');
  s.p.memberList(members);
  s.p.memberAdd({ header: { cluster_id: 0xfc8f4c11fdce321dn }, member: members.members[0]!, members: members.members });
  s.p.memberRemove(0x695ccc7a0283ad2n, { header: { cluster_id: 0xfc8f4c11fdce321dn }, members: [] });
  s.p.memberPromote(0x82abf5567abe8982n, { header: { cluster_id: 0xfc8f4c11fdce321dn }, members: [] });
  s.p.memberUpdate(0x82abf5567abe8982n, { header: { cluster_id: 0xfc8f4c11fdce321dn }, members: [] });
  t.equal(
    s.out(),
    [
      '695ccc7a0283ad2, unstarted, , http://127.0.0.1:24914, , true',
      '41d5bd1add7d8abf, started, f1, http://127.0.0.1:24911, http://127.0.0.1:24901, false',
      'Member  695ccc7a0283ad2 added to cluster fc8f4c11fdce321d',
      'Member  695ccc7a0283ad2 removed from cluster fc8f4c11fdce321d',
      'Member 82abf5567abe8982 promoted in cluster fc8f4c11fdce321d',
      'Member 82abf5567abe8982 updated in cluster fc8f4c11fdce321d',
      '',
    ].join('\n'),
  );
  const tb = capture('table');
  tb.p.memberList(members);
  t.equal(
    tb.out(),
    [
      '+------------------+-----------+------+------------------------+------------------------+------------+',
      '|        ID        |  STATUS   | NAME |       PEER ADDRS       |      CLIENT ADDRS      | IS LEARNER |',
      '+------------------+-----------+------+------------------------+------------------------+------------+',
      '|  695ccc7a0283ad2 | unstarted |      | http://127.0.0.1:24914 |                        |       true |',
      '| 41d5bd1add7d8abf |   started |   f1 | http://127.0.0.1:24911 | http://127.0.0.1:24901 |      false |',
      '+------------------+-----------+------+------------------------+------------------------+------------+',
      '',
    ].join('\n'),
  );
  const j = capture('json');
  j.p.memberList(members);
  j.p.memberAdd({ header: members.header, member: members.members[0]!, members: members.members });
  j.p.memberRemove(1n, members);
  j.p.memberPromote(1n, members);
  j.p.memberUpdate(1n, members);
  const lines = j.out().trim().split('\n');
  t.equal(
    lines[0],
    '{"header":{"cluster_id":18198848259383767581,"member_id":4743905705587477183,"raft_term":2},"members":[{"ID":474510493515004626,"peerURLs":["http://127.0.0.1:24914"],"isLearner":true},{"ID":4743905705587477183,"name":"f1","peerURLs":["http://127.0.0.1:24911"],"clientURLs":["http://127.0.0.1:24901"]}]}',
  );
  t.match(lines[1], /^\{"header":\{.*\},"member":\{"ID":474510493515004626,"peerURLs":\["http:\/\/127.0.0.1:24914"\],"isLearner":true\},"members":\[/);
  t.equal(lines.length, 5);
});

t.test('endpoint status, hashkv and health, snapshot status, move-leader', async (t) => {
  const st = {
    ep: '127.0.0.1:24791',
    endpoint: 'http://127.0.0.1:24791',
    header: { cluster_id: 17368989521238926805n, member_id: 17628310501313495538n, revision: 2, raft_term: 2 },
    version: '3.4.23',
    dbSize: 24576,
    leader: 17628310501313495538n,
    raftIndex: 5,
    raftTerm: 2,
    raftAppliedIndex: 5,
    errors: [] as string[],
    dbSizeInUse: 16384,
    isLearner: false,
  };
  const s = capture('simple');
  s.p.endpointStatus([st, { ...st, ep: 'x:1', leader: 1n, errors: ['NOSPACE', 'CORRUPT'] }]);
  t.equal(s.out(), '127.0.0.1:24791, f4a457008d1441f2, 3.4.23, 25 kB, true, false, 2, 5, 5, \nx:1, f4a457008d1441f2, 3.4.23, 25 kB, false, false, 2, 5, 5, NOSPACE, CORRUPT\n');
  const j = capture('json');
  j.p.endpointStatus([st]);
  t.equal(
    j.out(),
    '[{"Endpoint":"127.0.0.1:24791","Status":{"header":{"cluster_id":17368989521238926805,"member_id":17628310501313495538,"revision":2,"raft_term":2},"version":"3.4.23","dbSize":24576,"leader":17628310501313495538,"raftIndex":5,"raftTerm":2,"raftAppliedIndex":5,"dbSizeInUse":16384}}]\n',
  );
  const tb = capture('table');
  tb.p.endpointStatus([st]);
  t.equal(
    tb.out(),
    [
      '+-----------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+',
      '|    ENDPOINT     |        ID        | VERSION | DB SIZE | IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS |',
      '+-----------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+',
      '| 127.0.0.1:24791 | f4a457008d1441f2 |  3.4.23 |   25 kB |      true |      false |         2 |          5 |                  5 |        |',
      '+-----------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+',
      '',
    ].join('\n'),
  );
  const health = [
    { ep: '127.0.0.1:24791', endpoint: 'http://127.0.0.1:24791', health: true, took: 1.543843 },
    { ep: '127.0.0.1:1', endpoint: 'http://127.0.0.1:1', health: false, took: 5000.704785, error: 'context deadline exceeded' },
  ];
  const hs = capture('simple');
  hs.p.endpointHealth(health);
  t.equal(hs.out(), '', 'the simple health report goes to stderr');
  t.equal(
    hs.err(),
    '127.0.0.1:24791 is healthy: successfully committed proposal: took = 1.543843ms\n127.0.0.1:1 is unhealthy: failed to commit proposal: context deadline exceeded\n',
  );
  const hj = capture('json');
  hj.p.endpointHealth(health);
  t.equal(hj.out(), '[{"endpoint":"127.0.0.1:24791","health":true,"took":"1.543843ms"},{"endpoint":"127.0.0.1:1","health":false,"took":"5.000704785s","error":"context deadline exceeded"}]\n');
  const ht = capture('table');
  ht.p.endpointHealth(health.slice(0, 1));
  t.equal(
    ht.out(),
    '+-----------------+--------+------------+-------+\n|    ENDPOINT     | HEALTH |    TOOK    | ERROR |\n+-----------------+--------+------------+-------+\n| 127.0.0.1:24791 |   true | 1.543843ms |       |\n+-----------------+--------+------------+-------+\n',
  );
  const hk = [
    { ep: '127.0.0.1:24791', endpoint: 'http://127.0.0.1:24791', header: st.header, hash: 1084519789, compact_revision: -1 },
    { ep: 'x:1', endpoint: 'http://x:1', header: st.header, hash: 0, compact_revision: 4 },
  ];
  const ks = capture('simple');
  ks.p.endpointHashKV(hk);
  t.equal(ks.out(), '127.0.0.1:24791, 1084519789\nx:1, 0\n');
  const kj = capture('json');
  kj.p.endpointHashKV(hk);
  t.equal(
    kj.out(),
    '[{"Endpoint":"127.0.0.1:24791","HashKV":{"header":{"cluster_id":17368989521238926805,"member_id":17628310501313495538,"revision":2,"raft_term":2},"hash":1084519789,"compact_revision":-1}},' +
      '{"Endpoint":"x:1","HashKV":{"header":{"cluster_id":17368989521238926805,"member_id":17628310501313495538,"revision":2,"raft_term":2},"compact_revision":4}}]\n',
    'as etcdctl 3.4.23 prints it; a zero hash is left out like any zero',
  );
  const kt = capture('table');
  kt.p.endpointHashKV(hk.slice(0, 1));
  t.equal(kt.out(), '+-----------------+------------+\n|    ENDPOINT     |    HASH    |\n+-----------------+------------+\n| 127.0.0.1:24791 | 1084519789 |\n+-----------------+------------+\n');
  const ke = capture('table');
  ke.p.endpointHashKV([]);
  t.equal(ke.out(), '+----------+------+\n| ENDPOINT | HASH |\n+----------+------+\n+----------+------+\n', 'no answer: the empty table, as etcdctl');
  const snap = { hash: 0x166a731b, revision: 44, totalKey: 54, totalSize: 24576 };
  const ss = capture('simple');
  ss.p.snapshotStatus(snap);
  t.equal(ss.out(), '166a731b, 44, 54, 25 kB\n');
  const sj = capture('json');
  sj.p.snapshotStatus(snap);
  t.equal(sj.out(), '{"hash":376075035,"revision":44,"totalKey":54,"totalSize":24576}\n');
  const stb = capture('table');
  stb.p.snapshotStatus(snap);
  t.equal(
    stb.out(),
    '+----------+----------+------------+------------+\n|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |\n+----------+----------+------------+------------+\n| 166a731b |       44 |         54 |      25 kB |\n+----------+----------+------------+------------+\n',
  );
  const ml = capture('simple');
  ml.p.moveLeader(0xbff1c7ea893df89en, 0x41d5bd1add7d8abfn, {});
  t.equal(ml.out(), 'Leadership transferred from bff1c7ea893df89e to 41d5bd1add7d8abf\n');
  const mj = capture('json');
  mj.p.moveLeader(1n, 2n, {});
  mj.p.moveLeader(1n, 2n, { revision: 3 });
  t.equal(mj.out(), '{}\n{"header":{"revision":3}}\n');
});

t.test('the table format refuses what etcdctl does not draw; unknown formats', async (t) => {
  const tb = capture('table');
  for (const call of [
    () => tb.p.get(range),
    () => tb.p.put({ header }),
    () => tb.p.txn({ header, succeeded: true, responses: [] }),
    () => tb.p.grant({ header, ID: 1n, TTL: 1 }),
    () => tb.p.memberAdd({ header, member: members.members[0]!, members: [] }),
  ]) {
    t.throws(call, { message: 'table not supported as output format', exitCode: 4 });
  }
  t.throws(() => capture('bogus'), new KvctlError(4, 'unsupported output format'));
  t.throws(() => capture('fields'), { message: 'fields is not supported as output format by kvctl (use simple, json or table)', exitCode: 4 });
});

t.test('tables centre headers (odd space on the right) and right-align cells', async (t) => {
  t.equal(renderTable(['a', 'long header'], [['xyz', '1']]), '+-----+-------------+\n|  A  | LONG HEADER |\n+-----+-------------+\n| xyz |           1 |\n+-----+-------------+\n');
  t.equal(renderTable(['ab'], []), '+----+\n| AB |\n+----+\n+----+\n');
});
