// The payload a member proposes through Raft for each write request: one InternalRequest,
// msgpackr-encoded as positional arrays (compact in the log, no field names, no JSON).
//
//   put            [1, key, value, lease, flags(prev_kv 1 | ignore_value 2 | ignore_lease 4)]
//   delete_range   [2, key, range_end, prev_kv]
//   txn            [3, compare[], success op[], failure op[]]
//   compaction     [4, revision, physical]
//   lease_grant    [5, TTL, ID]
//   lease_revoke   [6, ID]
//   alarm          [7, action, memberID, alarm]   (activate or deactivate only: a get is read locally)
//   range (op)     [0, key, range_end, limit, revision, sort_order, sort_target,
//                   flags(serializable 1 | keys_only 2 | count_only 4), min_mod, max_mod, min_create, max_create]
//   compare        [result, target, key, range_end, operand (the field that matches target)]
//
// A txn op is the put/delete_range/txn/range array. Absent bytes are null. Lease IDs are written
// as msgpack int64 and decode as bigint, exactly, in the whole int64 range. Decoded byte fields are
// fresh copies: an entry's payload is often a view into a larger buffer (a transport message, the
// Raft log) that must not be kept alive, or changed under us, by the values the store retains.
// They are copied with Buffer.from, into Node's shared pool for small ones: a 256-byte value in
// an ArrayBuffer of its own (new Uint8Array(v)) costs a malloc and GC bookkeeping per field.
//
// Decoding normalizes zero values away, like the proto: `prev_kv: false`, `limit: 0`, `lease: 0n`
// and empty range_end come back absent.
import type {
  AlarmRequest,
  CompactionRequest,
  Compare,
  DeleteRangeRequest,
  LeaseGrantRequest,
  LeaseId,
  LeaseRevokeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from './api.js';
import { CompareTarget } from './api.js';
import { packr } from './record-codec.js';

export type InternalRequest =
  | { put: PutRequest }
  | { delete_range: DeleteRangeRequest }
  | { txn: TxnRequest }
  | { compaction: CompactionRequest }
  /** `ID` is always set by the proposer (the member picks a free random ID for ID 0). */
  | { lease_grant: LeaseGrantRequest }
  | { lease_revoke: LeaseRevokeRequest }
  | { alarm: AlarmRequest };

export class RequestDecodeError extends Error {
  constructor(detail: string) {
    super(`kv: undecodable request: ${detail}`);
    this.name = 'RequestDecodeError';
  }
}

const T_RANGE = 0;
const T_PUT = 1;
const T_DELETE = 2;
const T_TXN = 3;
const T_COMPACT = 4;
const T_GRANT = 5;
const T_REVOKE = 6;
const T_ALARM = 7;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Lease IDs as int64: a bigint in range (numbers are accepted from careless callers if exact). */
function leaseOut(id: LeaseId | number | undefined): bigint | 0 {
  if (id === undefined) return 0;
  const b = typeof id === 'bigint' ? id : Number.isSafeInteger(id) ? BigInt(id) : undefined;
  if (b === undefined || b < INT64_MIN || b > INT64_MAX) throw new RangeError(`lease ID ${String(id)} is not an int64`);
  return b === 0n ? 0 : b;
}

function bytesOut(b: Uint8Array | undefined): Uint8Array | null {
  return b === undefined || b.length === 0 ? null : b;
}

function num(n: number | undefined): number {
  return n ?? 0;
}

function encodeRange(r: RangeRequest): unknown[] {
  const flags = (r.serializable ? 1 : 0) | (r.keys_only ? 2 : 0) | (r.count_only ? 4 : 0);
  return [
    T_RANGE,
    r.key,
    bytesOut(r.range_end),
    num(r.limit),
    num(r.revision),
    num(r.sort_order),
    num(r.sort_target),
    flags,
    num(r.min_mod_revision),
    num(r.max_mod_revision),
    num(r.min_create_revision),
    num(r.max_create_revision),
  ];
}

function encodePut(p: PutRequest): unknown[] {
  const flags = (p.prev_kv ? 1 : 0) | (p.ignore_value ? 2 : 0) | (p.ignore_lease ? 4 : 0);
  return [T_PUT, p.key, bytesOut(p.value), leaseOut(p.lease), flags];
}

function encodeDelete(d: DeleteRangeRequest): unknown[] {
  return [T_DELETE, d.key, bytesOut(d.range_end), d.prev_kv ? 1 : 0];
}

function encodeCompare(c: Compare): unknown[] {
  let operand: unknown;
  switch (c.target) {
    case CompareTarget.VERSION:
      operand = num(c.version);
      break;
    case CompareTarget.CREATE:
      operand = num(c.create_revision);
      break;
    case CompareTarget.MOD:
      operand = num(c.mod_revision);
      break;
    case CompareTarget.VALUE:
      operand = c.value ?? null;
      break;
    case CompareTarget.LEASE:
      operand = leaseOut(c.lease);
      break;
    default:
      operand = null;
  }
  return [c.result, c.target, c.key, bytesOut(c.range_end), operand];
}

function encodeOp(op: RequestOp): unknown[] {
  if ('request_range' in op) return encodeRange(op.request_range);
  if ('request_put' in op) return encodePut(op.request_put);
  if ('request_delete_range' in op) return encodeDelete(op.request_delete_range);
  if ('request_txn' in op) return encodeTxn(op.request_txn);
  throw new TypeError('unknown request op');
}

function encodeTxn(t: TxnRequest): unknown[] {
  return [T_TXN, (t.compare ?? []).map(encodeCompare), (t.success ?? []).map(encodeOp), (t.failure ?? []).map(encodeOp)];
}

function toArray(r: InternalRequest): unknown[] {
  if ('put' in r) return encodePut(r.put);
  if ('delete_range' in r) return encodeDelete(r.delete_range);
  if ('txn' in r) return encodeTxn(r.txn);
  if ('compaction' in r) return [T_COMPACT, num(r.compaction.revision), r.compaction.physical ? 1 : 0];
  if ('lease_grant' in r) return [T_GRANT, num(r.lease_grant.TTL), leaseOut(r.lease_grant.ID)];
  if ('lease_revoke' in r) return [T_REVOKE, leaseOut(r.lease_revoke.ID)];
  if ('alarm' in r) return [T_ALARM, r.alarm.action, r.alarm.memberID, r.alarm.alarm];
  throw new TypeError('unknown internal request');
}

export function encodeRequest(r: InternalRequest): Uint8Array {
  return packr.pack(toArray(r));
}

// ---- decoding -------------------------------------------------------------------------------

function fail(detail: string): never {
  throw new RequestDecodeError(detail);
}

function arr(v: unknown, what: string, len?: number): unknown[] {
  if (!Array.isArray(v) || (len !== undefined && v.length !== len)) fail(`${what}: expected an array of ${len ?? 'n'}`);
  return v;
}

function bytesIn(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(`${what}: expected bytes`);
  return Buffer.from(v);
}

function optBytesIn(v: unknown, what: string): Uint8Array | undefined {
  if (v === null || v === undefined) return undefined;
  const b = bytesIn(v, what);
  return b.length === 0 ? undefined : b;
}

function intIn(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(`${what}: expected an integer`);
  return v;
}

function leaseIn(v: unknown, what: string): LeaseId {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  fail(`${what}: expected a lease ID`);
}

function setIf<T extends object, K extends keyof T>(o: T, k: K, v: T[K] | undefined, zero: unknown): void {
  if (v !== undefined && v !== zero) o[k] = v;
}

function decodeRange(a: unknown[]): RangeRequest {
  if (a.length !== 12) fail('range: expected 12 fields');
  const r: RangeRequest = { key: bytesIn(a[1], 'range key') };
  setIf(r, 'range_end', optBytesIn(a[2], 'range_end'), undefined);
  setIf(r, 'limit', intIn(a[3], 'limit'), 0);
  setIf(r, 'revision', intIn(a[4], 'revision'), 0);
  setIf(r, 'sort_order', intIn(a[5], 'sort_order'), 0);
  setIf(r, 'sort_target', intIn(a[6], 'sort_target'), 0);
  const flags = intIn(a[7], 'range flags');
  if (flags & 1) r.serializable = true;
  if (flags & 2) r.keys_only = true;
  if (flags & 4) r.count_only = true;
  setIf(r, 'min_mod_revision', intIn(a[8], 'min_mod_revision'), 0);
  setIf(r, 'max_mod_revision', intIn(a[9], 'max_mod_revision'), 0);
  setIf(r, 'min_create_revision', intIn(a[10], 'min_create_revision'), 0);
  setIf(r, 'max_create_revision', intIn(a[11], 'max_create_revision'), 0);
  return r;
}

function decodePut(a: unknown[]): PutRequest {
  if (a.length !== 5) fail('put: expected 5 fields');
  const p: PutRequest = { key: bytesIn(a[1], 'put key') };
  setIf(p, 'value', optBytesIn(a[2], 'value'), undefined);
  setIf(p, 'lease', leaseIn(a[3], 'put lease'), 0n);
  const flags = intIn(a[4], 'put flags');
  if (flags & 1) p.prev_kv = true;
  if (flags & 2) p.ignore_value = true;
  if (flags & 4) p.ignore_lease = true;
  return p;
}

function decodeDelete(a: unknown[]): DeleteRangeRequest {
  if (a.length !== 4) fail('delete_range: expected 4 fields');
  const d: DeleteRangeRequest = { key: bytesIn(a[1], 'delete key') };
  setIf(d, 'range_end', optBytesIn(a[2], 'range_end'), undefined);
  if (a[3]) d.prev_kv = true;
  return d;
}

function decodeCompare(v: unknown): Compare {
  const a = arr(v, 'compare', 5);
  const c: Compare = {
    result: intIn(a[0], 'compare result'),
    target: intIn(a[1], 'compare target'),
    key: bytesIn(a[2], 'compare key'),
  };
  setIf(c, 'range_end', optBytesIn(a[3], 'compare range_end'), undefined);
  switch (c.target) {
    case CompareTarget.VERSION:
      c.version = intIn(a[4], 'compare version');
      break;
    case CompareTarget.CREATE:
      c.create_revision = intIn(a[4], 'compare create_revision');
      break;
    case CompareTarget.MOD:
      c.mod_revision = intIn(a[4], 'compare mod_revision');
      break;
    case CompareTarget.VALUE:
      c.value = a[4] === null ? new Uint8Array(0) : bytesIn(a[4], 'compare value');
      break;
    case CompareTarget.LEASE:
      c.lease = leaseIn(a[4], 'compare lease');
      break;
    default:
      fail(`compare: unknown target ${String(c.target)}`);
  }
  return c;
}

function decodeOp(v: unknown, depth: number): RequestOp {
  const a = arr(v, 'op');
  switch (a[0]) {
    case T_RANGE:
      return { request_range: decodeRange(a) };
    case T_PUT:
      return { request_put: decodePut(a) };
    case T_DELETE:
      return { request_delete_range: decodeDelete(a) };
    case T_TXN:
      return { request_txn: decodeTxn(a, depth + 1) };
    default:
      fail(`op: unknown tag ${String(a[0])}`);
  }
}

function decodeTxn(a: unknown[], depth: number): TxnRequest {
  // Nesting is bounded only by the request size; a sane limit keeps a hostile payload from
  // blowing the stack.
  if (depth > 64) fail('txn nested too deeply');
  if (a.length !== 4) fail('txn: expected 4 fields');
  return {
    compare: arr(a[1], 'compares').map(decodeCompare),
    success: arr(a[2], 'success').map((o) => decodeOp(o, depth)),
    failure: arr(a[3], 'failure').map((o) => decodeOp(o, depth)),
  };
}

export function decodeRequest(b: Uint8Array): InternalRequest {
  let v: unknown;
  try {
    v = packr.unpack(b);
  } catch (err) {
    fail((err as Error).message);
  }
  const a = arr(v, 'request');
  switch (a[0]) {
    case T_PUT:
      return { put: decodePut(a) };
    case T_DELETE:
      return { delete_range: decodeDelete(a) };
    case T_TXN:
      return { txn: decodeTxn(a, 0) };
    case T_COMPACT: {
      if (a.length !== 3) fail('compaction: expected 3 fields');
      const c: CompactionRequest = { revision: intIn(a[1], 'compaction revision') };
      if (a[2]) c.physical = true;
      return { compaction: c };
    }
    case T_GRANT: {
      if (a.length !== 3) fail('lease_grant: expected 3 fields');
      return { lease_grant: { TTL: intIn(a[1], 'TTL'), ID: leaseIn(a[2], 'lease ID') } };
    }
    case T_REVOKE:
      if (a.length !== 2) fail('lease_revoke: expected 2 fields');
      return { lease_revoke: { ID: leaseIn(a[1], 'lease ID') } };
    case T_ALARM:
      if (a.length !== 4) fail('alarm: expected 4 fields');
      return { alarm: { action: intIn(a[1], 'alarm action'), memberID: intIn(a[2], 'member ID'), alarm: intIn(a[3], 'alarm') } };
    default:
      return fail(`unknown request tag ${String(a[0])}`);
  }
}
