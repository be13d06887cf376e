import t from 'tap';
import { CompareResult, CompareTarget, SortOrder, SortTarget, type TxnRequest } from '../../src/kv/api.js';
import { decodeRequest, encodeRequest, RequestDecodeError, type InternalRequest } from '../../src/kv/request-codec.js';
import { packr } from '../../src/kv/record-codec.js';
import { b } from './helpers.js';

const rt = (r: InternalRequest): InternalRequest => decodeRequest(encodeRequest(r));

t.test('put round-trips, zero values come back absent', async (t) => {
  t.same(rt({ put: { key: b('k'), value: b('v'), lease: 5n, prev_kv: true, ignore_value: false } }), {
    put: { key: b('k'), value: b('v'), lease: 5n, prev_kv: true },
  });
  t.same(rt({ put: { key: b('k'), value: new Uint8Array(0), lease: 0n, prev_kv: false } }), { put: { key: b('k') } });
  t.same(rt({ put: { key: b('k'), ignore_value: true, ignore_lease: true } }), {
    put: { key: b('k'), ignore_value: true, ignore_lease: true },
  });
});

t.test('lease IDs round-trip exactly as bigint in the whole int64 range', async (t) => {
  for (const id of [1n, -1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 0x694d7a3c1a2b0c0dn, -12345678901234567n]) {
    const g = rt({ lease_grant: { ID: id, TTL: 60 } });
    t.same(g, { lease_grant: { ID: id, TTL: 60 } }, `grant ${id}`);
    t.equal(typeof (g as { lease_grant: { ID: unknown } }).lease_grant.ID, 'bigint');
    t.same(rt({ lease_revoke: { ID: id } }), { lease_revoke: { ID: id } });
    const p = rt({ put: { key: b('k'), lease: id } }) as { put: { lease: bigint } };
    t.equal(p.put.lease, id);
  }
  // A TTL above 2^32 (too large, but it must arrive intact to be rejected).
  t.same(rt({ lease_grant: { ID: 1n, TTL: 9_000_000_001 } }), { lease_grant: { ID: 1n, TTL: 9_000_000_001 } });
  t.throws(() => encodeRequest({ lease_revoke: { ID: 2n ** 63n } }), RangeError);
  // A careless number is accepted when exact.
  t.same(rt({ lease_revoke: { ID: 7 as unknown as bigint } }), { lease_revoke: { ID: 7n } });
});

t.test('alarm: action, a 53-bit member ID, the alarm type', async (t) => {
  t.same(rt({ alarm: { action: 1, memberID: 2 ** 53 - 1, alarm: 2 } }), { alarm: { action: 1, memberID: 2 ** 53 - 1, alarm: 2 } });
  t.throws(() => decodeRequest(packr.pack([7, 1, 2])), /alarm: expected 4 fields/);
  t.throws(() => decodeRequest(packr.pack([7, 1, 2 ** 60, 1])), /member ID: expected an integer/);
});

t.test('delete_range, compaction', async (t) => {
  t.same(rt({ delete_range: { key: b('a'), range_end: b('b'), prev_kv: true } }), {
    delete_range: { key: b('a'), range_end: b('b'), prev_kv: true },
  });
  t.same(rt({ delete_range: { key: b('a'), range_end: new Uint8Array([0]) } }), {
    delete_range: { key: b('a'), range_end: new Uint8Array([0]) },
  });
  t.same(rt({ compaction: { revision: 42, physical: true } }), { compaction: { revision: 42, physical: true } });
  t.same(rt({ compaction: { revision: 2 ** 40 } }), { compaction: { revision: 2 ** 40 } });
});

t.test('txn with every op, every compare target, nesting', async (t) => {
  const txn: TxnRequest = {
    compare: [
      { result: CompareResult.EQUAL, target: CompareTarget.VERSION, key: b('a'), version: 3 },
      { result: CompareResult.GREATER, target: CompareTarget.CREATE, key: b('a'), range_end: b('b'), create_revision: 2 },
      { result: CompareResult.LESS, target: CompareTarget.MOD, key: b('a'), mod_revision: 9 },
      { result: CompareResult.NOT_EQUAL, target: CompareTarget.VALUE, key: b('a'), value: b('x') },
      { result: CompareResult.EQUAL, target: CompareTarget.LEASE, key: b('a'), lease: -(2n ** 62n) },
    ],
    success: [
      {
        request_range: {
          key: b('a'),
          range_end: b('z'),
          limit: 10,
          revision: 4,
          sort_order: SortOrder.DESCEND,
          sort_target: SortTarget.MOD,
          serializable: true,
          keys_only: true,
          count_only: true,
          min_mod_revision: 1,
          max_mod_revision: 2,
          min_create_revision: 3,
          max_create_revision: 4,
        },
      },
      { request_put: { key: b('p'), value: b('v'), lease: 9n, prev_kv: true } },
      { request_delete_range: { key: b('d'), prev_kv: true } },
      {
        request_txn: {
          compare: [],
          success: [{ request_put: { key: b('n'), value: b('1') } }],
          failure: [{ request_txn: { compare: [], success: [], failure: [] } }],
        },
      },
    ],
    failure: [{ request_range: { key: b('f'), limit: -1 } }],
  };
  t.same(rt({ txn }), { txn });
  t.same(rt({ txn: { compare: [], success: [], failure: [] } }), { txn: { compare: [], success: [], failure: [] } });
});

t.test('decoded bytes are copies: changing the input later changes nothing', async (t) => {
  const data = encodeRequest({ put: { key: b('key'), value: b('value') } });
  const buf = new Uint8Array(data.length + 8);
  buf.set(data, 4);
  const view = buf.subarray(4, 4 + data.length);
  const r = decodeRequest(view) as { put: { key: Uint8Array; value: Uint8Array } };
  buf.fill(0x7a);
  t.same(r.put.key, b('key'));
  t.same(r.put.value, b('value'));
  t.not(r.put.key.buffer, buf.buffer);
  t.ok(r.put.key instanceof Uint8Array && r.put.key.byteLength === 3, 'bytes of their own length (a pooled copy, not a view of the entry)');
});

t.test('malformed payloads are RequestDecodeErrors', async (t) => {
  const bad = [
    new Uint8Array([0xc1]),
    packr.pack('hello'),
    packr.pack([99]),
    packr.pack([1, 'not bytes', null, 0, 0]),
    packr.pack([1, b('k'), null, 'lease', 0]),
    packr.pack([2, b('k')]),
    packr.pack([3, [[0, 9, b('k'), null, 0]], [], []]),
    packr.pack([3, [], [[42]], []]),
    packr.pack([4, 'x', 0]),
  ];
  for (const data of bad) t.throws(() => decodeRequest(data), RequestDecodeError);
  let deep: unknown = [3, [], [], []];
  for (let i = 0; i < 100; i++) deep = [3, [], [deep], []];
  t.throws(() => decodeRequest(packr.pack(deep)), RequestDecodeError, 'absurd nesting');
});
