// The JSON codec alone: Go's JSON errors, base64 positions, jsonpb's field rules, the encoder.
import t from 'tap';
import * as api from '../../src/kv/api.js';
import { JsonStreamDecoder, parseUnaryBody } from '../../src/server/http/body.js';
import { decodeBase64, encodeBase64 } from '../../src/server/http/codec/base64.js';
import * as dec from '../../src/server/http/codec/decode.js';
import * as enc from '../../src/server/http/codec/encode.js';
import { JsonNumber, bytesToUtf8, parseDocument, parseValue, quoteChar } from '../../src/server/http/codec/json.js';
import { putSize, raftEntrySize, txnSize, varintSize } from '../../src/server/http/codec/proto-size.js';

const decodeErr = (body: string, fn: (v: never) => unknown = dec.decodeRangeRequest as never): string => {
  try {
    fn(parseUnaryBody(body) as never);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

t.test("Go's syntax errors", async (t) => {
  const cases: Array<[string, string]> = [
    ['{"key" "Zm9v"}', `invalid character '"' after object key`],
    ['{"key":"Zm9v" "x"}', `invalid character '"' after object key:value pair`],
    ['{"key":"\\x"}', "invalid character 'x' in string escape code"],
    ['{"key":"\\u00zz"}', "invalid character 'z' in \\u hexadecimal character escape"],
    ['{"key":"a\tb"}', "invalid character '\\t' in string literal"],
    ['{"key":"Zm9v",\x01}', "invalid character '\\x01' looking for beginning of object key string"],
    ['{"key":"Zm9v",\xc3\xa9}', "invalid character 'Ã' looking for beginning of object key string"],
    ['{"key":"Zm9v",\x80}', "invalid character '\\u0080' looking for beginning of object key string"],
    ['{"a":-}', "invalid character '}' in numeric literal"],
    ['{"a":1.}', "invalid character '}' after decimal point in numeric literal"],
    ['{"a":1e}', "invalid character '}' in exponent of numeric literal"],
    ['{"a":1e+}', "invalid character '}' in exponent of numeric literal"],
    ['{"a":tru}', "invalid character '}' in literal true (expecting 'e')"],
    ['{"a":fx}', "invalid character 'x' in literal false (expecting 'a')"],
    ['{"a":nul}', "invalid character '}' in literal null (expecting 'l')"],
    ['{"a":[1 2]}', "invalid character '2' after array element"],
    ['{"a":[1,}', "invalid character '}' looking for beginning of value"],
    ['{"a":01}', "invalid character '1' after object key:value pair"],
    ["{'a':1}", "invalid character '\\'' looking for beginning of object key string"],
    ['{"a":"\\ud800"', 'unexpected EOF'],
    ['{"a":"b', 'unexpected EOF'],
    ['{"a":"\\', 'unexpected EOF'],
    ['{"a":"\\u00', 'unexpected EOF'],
    ['[', 'unexpected EOF'],
    ['{"a":-', 'unexpected EOF'],
    ['{"a":1.', 'unexpected EOF'],
    ['{"a":1e', 'unexpected EOF'],
    ['{"a":1e-', 'unexpected EOF'],
    ['{"a":t', 'unexpected EOF'],
    ['{"a"', 'unexpected EOF'],
    ['{"a":1', 'unexpected EOF'],
    ['{"a":[1', 'unexpected EOF'],
    ['{"a":1,', 'unexpected EOF'],
    ['{', 'unexpected EOF'],
  ];
  for (const [body, message] of cases) t.equal(decodeErr(body), message, JSON.stringify(body));
  t.equal(decodeErr('['.repeat(10001)), "invalid character '[' exceeded max depth");
  t.equal(decodeErr('{"a":' + '['.repeat(9999) + ']'.repeat(9999) + ',"key":"Zm9v"}'), 'no error');
  t.equal(quoteChar(0xa0), "'\\u00a0'");
  t.equal(quoteChar(0xad), "'\\u00ad'");
  t.equal(quoteChar(0x7f), "'\\x7f'");
  t.equal(quoteChar(0x22), `'"'`);
  for (const [c, s] of [
    [7, "'\\a'"],
    [8, "'\\b'"],
    [12, "'\\f'"],
    [10, "'\\n'"],
    [13, "'\\r'"],
    [11, "'\\v'"],
    [0x5c, "'\\\\'"],
  ] as const) {
    t.equal(quoteChar(c), s);
  }
});

t.test('strings: escapes, surrogates, UTF-8 bytes', async (t) => {
  const [v] = parseValue('"a\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\\ud800x\\udc00"', 0);
  t.ok(v instanceof Object);
  const s = (v as { value: string }).value;
  t.equal(bytesToUtf8(s), 'a"\\/\b\f\n\r\té😀\ufffdx\ufffd');
  t.equal((v as { raw: string }).raw.slice(0, 4), 'a\\"\\');
  const [lone] = parseValue('"\\ud800\\u0041"', 0);
  t.equal(bytesToUtf8((lone as { value: string }).value), '\ufffdA', 'a high surrogate before a non-surrogate');
  t.equal(bytesToUtf8('plain'), 'plain');
  // A key with escapes still matches its field.
  t.same(dec.decodeRangeRequest(parseUnaryBody('{"k\\u0065y":"Zm9v"}')).key, Buffer.from('foo'));
});

t.test('documents (int64 given as strings are parsed again, as json.Unmarshal)', async (t) => {
  const err = (s: string): string => {
    try {
      parseDocument(s);
      return 'ok';
    } catch (e) {
      return (e as Error).message;
    }
  };
  t.equal(err(''), 'unexpected end of JSON input');
  t.equal(err('-'), "invalid character ' ' in numeric literal");
  t.equal(err('tru'), "invalid character ' ' in literal true (expecting 'e')");
  t.equal(err('"abc'), 'unexpected end of JSON input');
  t.equal(err('5x'), "invalid character 'x' after top-level value");
  t.equal(err(' 5 '), 'ok');
  t.ok(parseDocument('12') instanceof JsonNumber);
  const int = (lim: string): string => decodeErr(`{"key":"Zm9v","limit":${lim}}`);
  t.equal(int('"-0"'), 'no error');
  t.equal(int('"01"'), "invalid character '1' after top-level value");
  t.equal(int('""'), 'unexpected end of JSON input');
  t.equal(int('"\\u0035"'), "invalid character '\\\\' looking for beginning of value");
  t.equal(int('"null"'), 'no error');
  t.equal(int('"true"'), 'json: cannot unmarshal bool into Go value of type int64');
  t.equal(int('"[]"'), 'json: cannot unmarshal array into Go value of type int64');
  t.equal(int('-9223372036854775808'), 'no error');
  t.equal(int('9223372036854775808'), 'json: cannot unmarshal number 9223372036854775808 into Go value of type int64');
  t.equal(int('[]'), 'json: cannot unmarshal array into Go value of type int64');
  t.equal(decodeErr('{"ID":"-0"}', dec.decodeMemberIdRequest as never), 'json: cannot unmarshal number -0 into Go value of type uint64');
  t.equal(decodeErr('{"ID":"18446744073709551615"}', dec.decodeMemberIdRequest as never), 'no error');
});

t.test('enums and %q', async (t) => {
  const so = (v: string): string => decodeErr(`{"key":"Zm9v","sort_order":${v}}`);
  t.equal(so('"\\u0041SCEND"'), 'unknown value "\\\\u0041SCEND" for enum etcdserverpb.RangeRequest_SortOrder');
  t.equal(so('1.5'), 'json: cannot unmarshal number 1.5 into Go value of type etcdserverpb.RangeRequest_SortOrder');
  t.equal(so('2147483648'), 'json: cannot unmarshal number 2147483648 into Go value of type etcdserverpb.RangeRequest_SortOrder');
  t.equal(so('7'), 'no error', 'an unknown number is passed on');
  t.equal(so('null'), 'no error');
  t.same(dec.decodeRangeRequest(parseUnaryBody('{"key":"Zm9v","sort_target":"MOD"}')).sort_target, api.SortTarget.MOD);
  t.equal(dec.goQuote('a"b\\c\x07\x08\x0c\n\r\t\x0b\x01\x7f'), '"a\\"b\\\\c\\a\\b\\f\\n\\r\\t\\v\\x01\\x7f"');
  t.equal(dec.goQuote('\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80'), '"é€😀"');
  t.equal(dec.goQuote('\xff\xc3\xc2\x80\xe0\x80\x80\xed\xa0\x80\xf4\x90\x80\x80'), '"\\xff\\xc3\\u0080\\xe0\\x80\\x80\\xed\\xa0\\x80\\xf4\\x90\\x80\\x80"');
  t.equal(dec.goQuote('\xc2\xad'), '"\\u00ad"');
});

t.test('base64 as Go decodes it', async (t) => {
  const err = (s: string): string => {
    try {
      return 'ok:' + Buffer.from(decodeBase64(s)).toString('latin1');
    } catch (e) {
      return (e as Error).message;
    }
  };
  t.equal(err('Zm9v'), 'ok:foo');
  t.equal(err(''), 'ok:');
  t.equal(err('Zm8='), 'ok:fo');
  t.equal(err('Zg=='), 'ok:f');
  t.equal(err('Zh=='), 'ok:f', 'non-zero trailing bits are accepted');
  t.equal(err('Zm9v\r\n'), 'ok:foo');
  t.equal(err('Zm\r\n9v'), 'ok:foo');
  t.equal(err('Zg=\n='), 'ok:f');
  t.equal(err('Zg\n=='), 'ok:f');
  t.equal(err('Zm8'), 'illegal base64 data at input byte 0');
  t.equal(err('Z'), 'illegal base64 data at input byte 0');
  t.equal(err('Z==='), 'illegal base64 data at input byte 1');
  t.equal(err('Zm9v='), 'illegal base64 data at input byte 4');
  t.equal(err('Zg=x'), 'illegal base64 data at input byte 2');
  t.equal(err('Zg='), 'illegal base64 data at input byte 3');
  t.equal(err('Zm9v Zm9v'), 'illegal base64 data at input byte 4');
  t.equal(err('Zg==Zg=='), 'illegal base64 data at input byte 4');
  t.equal(err('Zm9=v'), 'illegal base64 data at input byte 4');
  t.equal(err('\xe9'), 'illegal base64 data at input byte 0');
  t.equal(err('===='), 'illegal base64 data at input byte 0');
  t.equal(err('YWJj\nZA=='), 'ok:abcd');
  t.equal(encodeBase64(new Uint8Array([1, 2, 3, 4])), 'AQIDBA==');
  t.equal(encodeBase64(new Uint8Array(0)), '');
  // Arrays of numbers are bytes too (Go's encoding/json).
  t.same(dec.bytesField(parseUnaryBody('[102,null,111]')), new Uint8Array([102, 0, 111]));
  t.equal(decodeErr('{"key":[256]}'), 'json: cannot unmarshal number 256 into Go value of type uint8');
  t.equal(decodeErr('{"key":["a"]}'), 'json: cannot unmarshal string into Go value of type uint8');
});

t.test('field rules: camelCase wins, order of errors, nulls', async (t) => {
  t.equal(decodeErr('{"limit":"x","key":1}'), 'json: cannot unmarshal number into Go value of type []uint8', 'key is checked before limit');
  t.equal(decodeErr('{"range_end":5,"rangeEnd":"AA==","key":"Zm9v"}'), 'no error', 'camelCase wins');
  const w = dec.decodeWatchRequest(parseUnaryBody('{"create_request":{"key":"YQ==","filters":["NOPUT",1,null],"fragment":true,"progress_notify":true,"range_end":"Yg==","start_revision":"3","watch_id":4,"prev_kv":true}}'));
  t.same(w, {
    create_request: {
      key: Buffer.from('a'),
      range_end: Buffer.from('b'),
      start_revision: 3,
      progress_notify: true,
      filters: [0, 1, 0],
      prev_kv: true,
      watch_id: 4,
      fragment: true,
    },
  });
  t.equal(dec.decodeWatchRequest(parseUnaryBody('{"create_request":null}')), null);
  t.same(dec.decodeWatchRequest(parseUnaryBody('{"cancel_request":null,"progress_request":{}}')), { progress_request: {} });
  t.same(dec.decodeWatchRequest(parseUnaryBody('{"cancel_request":{}}')), { cancel_request: { watch_id: 0 } });
  t.same(dec.decodeWatchRequest(parseUnaryBody('{"create_request":{}}')), { create_request: { key: new Uint8Array(0) } });
  t.same(dec.decodeCompactionRequest(parseUnaryBody('{"revision":"5","physical":true}')), { revision: 5, physical: true });
  t.same(dec.decodeCompactionRequest(parseUnaryBody('null')), { revision: 0 });
  t.same(dec.decodeLeaseTimeToLiveRequest(parseUnaryBody('{}')), { ID: 0n });
  t.same(dec.decodeLeaseTimeToLiveRequest(parseUnaryBody('null')), { ID: 0n });
  t.same(dec.decodeLeaseIdRequest(parseUnaryBody('null')), { ID: 0n });
  t.same(dec.decodeLeaseGrantRequest(parseUnaryBody('null')), { TTL: 0 });
  t.same(dec.decodeMemberAddRequest(parseUnaryBody('null')), { peerURLs: [] });
  t.same(dec.decodeMemberAddRequest(parseUnaryBody('{"peerURLs":["http://\\u00e9",null]}')), { peerURLs: ['http://é', ''] });
  t.same(dec.decodeMemberUpdateRequest(parseUnaryBody('null')), { ID: 0, peerURLs: [] });
  t.same(dec.decodeMemberUpdateRequest(parseUnaryBody('{"ID":"3","peerURLs":["u"]}')), { ID: 3, peerURLs: ['u'] });
  t.same(dec.decodeMoveLeaderRequest(parseUnaryBody('{"targetID":"4"}')), { targetID: 4 });
  t.same(dec.decodeMoveLeaderRequest(parseUnaryBody('null')), { targetID: 0 });
  t.same(dec.decodeMemberIdRequest(parseUnaryBody('null')), { ID: 0 });
  t.same(dec.decodeDeleteRangeRequest(parseUnaryBody('null')), { key: new Uint8Array(0) });
  t.same(dec.decodePutRequest(parseUnaryBody('null')), { key: new Uint8Array(0) });
  t.same(dec.decodeTxnRequest(parseUnaryBody('null')), { compare: [], success: [], failure: [] });
  const txn = dec.decodeTxnRequest(
    parseUnaryBody(
      '{"compare":[null,{"result":"LESS","target":"LEASE","key":"YQ==","lease":"-5","range_end":"Yg=="},{"value":"YQ==","version":1,"create_revision":2,"mod_revision":3}],"success":[null,{"request_range":{"key":"YQ==","serializable":true,"min_mod_revision":1,"max_mod_revision":2,"min_create_revision":3,"max_create_revision":4,"count_only":false}}],"failure":[{"request_txn":null}]}',
    ),
  );
  t.same(txn.compare[1], { result: 2, target: 4, key: Buffer.from('a'), range_end: Buffer.from('b'), lease: -5n });
  t.same(txn.compare[2], { result: 0, target: 0, key: new Uint8Array(0), version: 1, create_revision: 2, mod_revision: 3, value: Buffer.from('a') });
  t.equal(txn.success[0], dec.EMPTY_OP);
  t.equal(txn.failure[0], dec.EMPTY_OP);
  t.same(dec.decodePutRequest(parseUnaryBody('{"key":"YQ==","ignoreValue":true,"ignore_lease":true,"prevKv":false}')), {
    key: Buffer.from('a'),
    prev_kv: false,
    ignore_value: true,
    ignore_lease: true,
  });
});

t.test('stream decoder: values across chunks, blanks, the end', async (t) => {
  const d = new JsonStreamDecoder(1000);
  d.push('{"a":1}  {"b"');
  t.same(d.next(false), { a: new JsonNumber('1') });
  t.equal(d.next(false), undefined);
  d.push(':2}\n12');
  t.same(d.next(false), { b: new JsonNumber('2') });
  t.equal(d.next(false), undefined, 'a top-level number may go on');
  t.same(d.next(true), new JsonNumber('12'));
  t.equal(d.next(true), undefined);
  d.push('{"c":');
  t.throws(() => d.next(true), { message: 'unexpected EOF' });
  const small = new JsonStreamDecoder(10);
  t.throws(() => small.push('{"aaaaaaaaaaaaaaaa'), { message: 'request body too large' });
  const bad = new JsonStreamDecoder(100);
  bad.push('}');
  t.throws(() => bad.next(false), { message: "invalid character '}' looking for beginning of value" });
});

t.test('encoder: Go string escaping and int64s', async (t) => {
  t.equal(enc.goString('plain'), '"plain"');
  t.equal(enc.goString('<a&b>"\\\n\r\t\b\f\x01\u2028\u2029é😀'), '"\\u003ca\\u0026b\\u003e\\"\\\\\\n\\r\\t\\u0008\\u000c\\u0001\\u2028\\u2029é😀"');
  t.equal(enc.goString('\ud800x\udc00'), '"\\ufffdx\\ufffd"');
  t.equal(enc.intString(12), '12');
  t.equal(enc.intString(-1n), '-1');
  t.equal(enc.intString(2 ** 64), '18446744073709551616');
  t.equal(enc.intString(12.7), '12');
  t.equal(
    enc.encodeEvent({ type: 7 as api.EventType, kv: { key: Buffer.from('a'), create_revision: 0, mod_revision: 1, version: 0, value: new Uint8Array(0), lease: 0n } }),
    '{"type":7,"kv":{"key":"YQ==","mod_revision":"1"}}',
  );
  t.equal(enc.encodeLeaseGrantResponse({ header: {}, ID: 1n, TTL: 0, error: 'x<' }), '{"header":{},"ID":"1","error":"x\\u003c"}');
  t.equal(enc.encodeStatusResponse({ header: {}, version: '', dbSize: 0, leader: 0, raftIndex: 0, raftTerm: 0, raftAppliedIndex: 0, errors: ['a'], dbSizeInUse: 0, isLearner: true }), '{"header":{},"errors":["a"],"isLearner":true}');
  t.equal(enc.encodeWatchResponse({ header: {}, watch_id: 1, fragment: true, cancel_reason: 'r', events: [] }), '{"header":{},"watch_id":"1","cancel_reason":"r","fragment":true}');
  t.equal(enc.encodeMemberAddResponse({ header: {}, member: undefined as unknown as api.Member, members: [] }), '{"header":{}}');
  t.equal(enc.encodeLeaseLeasesResponse({ header: {}, leases: [{ ID: 0n }] }), '{"header":{},"leases":[{}]}');
  t.equal(enc.encodeStreamError('m', 0, 418), '{"http_code":418,"message":"m"}');
  t.equal(enc.encodeTxnResponse({ header: {}, succeeded: false, responses: [{} as api.ResponseOp] }), '{"header":{},"responses":[{}]}');
  t.equal(enc.encodeRangeResponse({ header: undefined as unknown as api.ResponseHeader, kvs: [], more: false, count: 0 }), '{}');

  t.equal(enc.encodeHashKVResponse({ header: {}, hash: 4294967295, compact_revision: -1 }), '{"header":{},"hash":4294967295,"compact_revision":"-1"}');
  t.equal(enc.encodeHashKVResponse({ header: {}, hash: 0, compact_revision: 0 }), '{"header":{}}', 'zero values left out, as everywhere');
  t.equal(enc.encodeHashResponse({ header: {}, hash: 7 }), '{"header":{},"hash":7}');
});

t.test('protobuf sizes', async (t) => {
  t.equal(varintSize(0), 1);
  t.equal(varintSize(127), 1);
  t.equal(varintSize(128), 2);
  t.equal(varintSize(2 ** 21), 4);
  t.equal(varintSize(-1), 10);
  t.equal(varintSize(-1n), 10);
  t.equal(varintSize(300n), 2);
  // key "big\n" + 2 MiB value: gRPC's N in etcd's error message.
  t.equal(putSize({ key: Buffer.from('big\n'), value: new Uint8Array(2097152) }), 2097163);
  t.equal(putSize({ key: Buffer.from('k'), lease: 5n, prev_kv: true, ignore_value: true, ignore_lease: true }), 3 + 2 + 6);
  t.equal(raftEntrySize(1572846), 1572864, 'the largest put etcd 3.4 takes');
  const txn: api.TxnRequest = {
    compare: [{ result: 0, target: 0, key: Buffer.from('a'), version: 0, create_revision: 1, mod_revision: 1, value: Buffer.from('v'), lease: 1n, range_end: Buffer.from('b') }],
    success: [{ request_range: { key: Buffer.from('a'), limit: 1, revision: 1, sort_order: 1, sort_target: 1, serializable: true, keys_only: true, count_only: true, min_mod_revision: 1, max_mod_revision: 1, min_create_revision: 1, max_create_revision: 1 } }],
    failure: [{ request_delete_range: { key: Buffer.from('a'), range_end: Buffer.from('b'), prev_kv: true } }, { request_txn: { compare: [], success: [], failure: [] } }, {} as api.RequestOp],
  };
  t.equal(txnSize(txn), 67);
});
