// Request messages from JSON, with the rules of etcd 3.4's gateway (grpc-gateway v1 + golang/protobuf
// jsonpb + Go's encoding/json) and its error texts:
// - proto names and lowerCamel names are both accepted (lowerCamel wins when both are present);
//   names are case-sensitive; unknown fields are ignored; `null` means "not set";
// - fields are read in the proto's order (so the first bad field in that order is the one reported),
//   oneof members after the regular fields;
// - int64/uint64 take numbers or strings (a string's content is parsed again as JSON, as jsonpb does);
// - bytes are padded standard base64; enums take their name or a number; bools only true/false.
import type * as api from '../../../kv/api.js';
import { Base64Error, EMPTY_BYTES, decodeBase64 } from './base64.js';
import {
  EscapedString,
  JsonIncomplete,
  JsonNumber,
  JsonSyntaxError,
  bytesToUtf8,
  kindOf,
  parseDocument,
  type JsonObject,
  type JsonValue,
} from './json.js';

/** A request that does not decode; the message is Go's. The caller picks the code (3 unary, 2 streams). */
export class DecodeError extends Error {}

function typeError(v: JsonValue, goType: string): DecodeError {
  return new DecodeError(`json: cannot unmarshal ${kindOf(v)} into Go value of type ${goType}`);
}

const MESSAGE_TYPE = 'map[string]json.RawMessage';

/** The fields of a message value (`null` is an empty message). */
export function asObject(v: JsonValue): JsonObject | null {
  if (v === null) return null;
  if (typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonNumber) && !(v instanceof EscapedString)) {
    return v as JsonObject;
  }
  throw typeError(v, MESSAGE_TYPE);
}

/** jsonpb's consumeField: the lowerCamel name wins over the proto name when both are present. */
function pick(o: JsonObject, orig: string, camel: string): JsonValue | undefined {
  const c = o[camel];
  return c !== undefined ? c : o[orig];
}

export function bytesField(v: JsonValue | undefined): Uint8Array | undefined {
  if (v === undefined || v === null) return undefined;
  let s: string;
  if (typeof v === 'string') s = v;
  else if (v instanceof EscapedString) s = v.value;
  else if (Array.isArray(v)) return byteArray(v);
  else throw typeError(v, '[]uint8');
  try {
    return decodeBase64(s);
  } catch (e) {
    if (e instanceof Base64Error) throw new DecodeError(e.message);
    throw e;
  }
}

/** Go's encoding/json also takes a []byte as an array of numbers 0-255. */
function byteArray(a: JsonValue[]): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as JsonValue;
    if (x === null) continue;
    if (!(x instanceof JsonNumber)) throw typeError(x, 'uint8');
    out[i] = Number(integerText(x.raw, 'uint8', 0n, 255n));
  }
  return out;
}

export function boolField(v: JsonValue | undefined): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  throw typeError(v, 'bool');
}

export function stringField(v: JsonValue | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return bytesToUtf8(v);
  if (v instanceof EscapedString) return bytesToUtf8(v.value);
  throw typeError(v, 'string');
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const UINT64_MAX = 18446744073709551615n;
const INT32_MAX = 2147483647n;
const INT32_MIN = -2147483648n;
const INTEGER = /^-?[0-9]+$/;
const SIMPLE_INT = /^-?(?:0|[1-9][0-9]{0,17})$/;

/** strconv.ParseInt/ParseUint on a JSON number's text, as encoding/json stores numbers into integers. */
function integerText(raw: string, goType: string, min: bigint, max: bigint): bigint {
  if (INTEGER.test(raw) && !(min === 0n && raw.charCodeAt(0) === 45)) {
    const b = BigInt(raw);
    if (b >= min && b <= max) return b;
  }
  throw new DecodeError(`json: cannot unmarshal number ${raw} into Go value of type ${goType}`);
}

/**
 * An int64/uint64 field: a JSON number, or a string whose content jsonpb hands to json.Unmarshal
 * again (so `"abc"` is "invalid character 'a' looking for beginning of value").
 */
function integerField(v: JsonValue | undefined, goType: string, min: bigint, max: bigint): bigint | undefined {
  if (v === undefined || v === null) return undefined;
  if (v instanceof JsonNumber) return integerText(v.raw, goType, min, max);
  if (typeof v === 'string' || v instanceof EscapedString) {
    const inner = typeof v === 'string' ? v : v.raw;
    // Fast path: plain decimal text.
    if (SIMPLE_INT.test(inner)) return integerText(inner, goType, min, max);
    let doc: JsonValue;
    try {
      doc = parseDocument(inner);
    } catch (e) {
      if (e instanceof JsonSyntaxError || e instanceof JsonIncomplete) throw new DecodeError(e.message);
      throw e;
    }
    if (doc === null) return undefined;
    if (doc instanceof JsonNumber) return integerText(doc.raw, goType, min, max);
    throw typeError(doc, goType);
  }
  throw typeError(v, goType);
}

export function int64Field(v: JsonValue | undefined): number | undefined {
  const b = integerField(v, 'int64', INT64_MIN, INT64_MAX);
  return b === undefined ? undefined : Number(b);
}

export function int64BigField(v: JsonValue | undefined): bigint | undefined {
  return integerField(v, 'int64', INT64_MIN, INT64_MAX);
}

export function uint64Field(v: JsonValue | undefined): number | undefined {
  const b = integerField(v, 'uint64', 0n, UINT64_MAX);
  return b === undefined ? undefined : Number(b);
}

/** %q of Go: the text quoted with Go's escapes (bytes in, one char per byte). */
export function goQuote(bytes: string): string {
  let out = '"';
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const c = bytes.charCodeAt(i);
    if (c < 0x80) {
      switch (c) {
        case 0x22:
          out += '\\"';
          continue;
        case 0x5c:
          out += '\\\\';
          continue;
        case 7:
          out += '\\a';
          continue;
        case 8:
          out += '\\b';
          continue;
        case 12:
          out += '\\f';
          continue;
        case 10:
          out += '\\n';
          continue;
        case 13:
          out += '\\r';
          continue;
        case 9:
          out += '\\t';
          continue;
        case 11:
          out += '\\v';
          continue;
      }
      if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
      else out += String.fromCharCode(c);
      continue;
    }
    // A UTF-8 sequence: printable runes stay, invalid bytes become \xNN.
    let len = 0;
    let cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    }
    let ok = len > 0 && i + len <= n;
    for (let k = 1; ok && k < len; k++) {
      const cc = bytes.charCodeAt(i + k);
      if ((cc & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (cc & 0x3f);
    }
    if (ok && ((len === 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (len === 4 && (cp < 0x10000 || cp > 0x10ffff)))) ok = false;
    if (!ok) {
      out += `\\x${c.toString(16).padStart(2, '0')}`;
      continue;
    }
    if (cp < 0xa0 || cp === 0xad) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += String.fromCodePoint(cp);
    i += len - 1;
  }
  return out + '"';
}

export interface EnumType {
  readonly goType: string;
  readonly values: ReadonlyMap<string, number>;
}

function enumType(goType: string, e: Record<string, string | number>): EnumType {
  const values = new Map<string, number>();
  for (const [k, v] of Object.entries(e)) if (typeof v === 'number') values.set(k, v);
  return { goType, values };
}

export const SORT_ORDER = enumType('etcdserverpb.RangeRequest_SortOrder', { NONE: 0, ASCEND: 1, DESCEND: 2 });
export const SORT_TARGET = enumType('etcdserverpb.RangeRequest_SortTarget', { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 });
export const COMPARE_RESULT = enumType('etcdserverpb.Compare_CompareResult', { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 });
export const COMPARE_TARGET = enumType('etcdserverpb.Compare_CompareTarget', { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 });
export const ALARM_ACTION = enumType('etcdserverpb.AlarmRequest_AlarmAction', { GET: 0, ACTIVATE: 1, DEACTIVATE: 2 });
export const ALARM_TYPE = enumType('etcdserverpb.AlarmType', { NONE: 0, NOSPACE: 1, CORRUPT: 2 });
export const FILTER_TYPE = enumType('etcdserverpb.WatchCreateRequest_FilterType', { NOPUT: 0, NODELETE: 1 });

export function enumField(v: JsonValue | undefined, t: EnumType): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || v instanceof EscapedString) {
    // jsonpb looks the name up between the quotes, without unescaping.
    const raw = typeof v === 'string' ? v : v.raw;
    const n = t.values.get(raw);
    if (n === undefined) throw new DecodeError(`unknown value ${goQuote(raw)} for enum ${t.goType}`);
    return n;
  }
  if (v instanceof JsonNumber) return Number(integerText(v.raw, t.goType, INT32_MIN, INT32_MAX));
  throw typeError(v, t.goType);
}

function repeatedField(v: JsonValue | undefined): JsonValue[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v;
  throw typeError(v, '[]json.RawMessage');
}

// ---- messages ----------------------------------------------------------------------------------

export function decodeEmpty(v: JsonValue): void {
  asObject(v);
}

export function decodeRangeRequest(v: JsonValue): api.RangeRequest {
  const o = asObject(v);
  const r: api.RangeRequest = { key: EMPTY_BYTES };
  if (o === null) return r;
  let b: Uint8Array | undefined;
  let n: number | undefined;
  let f: boolean | undefined;
  if ((b = bytesField(o.key)) !== undefined) r.key = b;
  if ((b = bytesField(pick(o, 'range_end', 'rangeEnd'))) !== undefined) r.range_end = b;
  if ((n = int64Field(o.limit)) !== undefined) r.limit = n;
  if ((n = int64Field(o.revision)) !== undefined) r.revision = n;
  if ((n = enumField(pick(o, 'sort_order', 'sortOrder'), SORT_ORDER)) !== undefined) r.sort_order = n;
  if ((n = enumField(pick(o, 'sort_target', 'sortTarget'), SORT_TARGET)) !== undefined) r.sort_target = n;
  if ((f = boolField(o.serializable)) !== undefined) r.serializable = f;
  if ((f = boolField(pick(o, 'keys_only', 'keysOnly'))) !== undefined) r.keys_only = f;
  if ((f = boolField(pick(o, 'count_only', 'countOnly'))) !== undefined) r.count_only = f;
  if ((n = int64Field(pick(o, 'min_mod_revision', 'minModRevision'))) !== undefined) r.min_mod_revision = n;
  if ((n = int64Field(pick(o, 'max_mod_revision', 'maxModRevision'))) !== undefined) r.max_mod_revision = n;
  if ((n = int64Field(pick(o, 'min_create_revision', 'minCreateRevision'))) !== undefined) r.min_create_revision = n;
  if ((n = int64Field(pick(o, 'max_create_revision', 'maxCreateRevision'))) !== undefined) r.max_create_revision = n;
  return r;
}

export function decodePutRequest(v: JsonValue): api.PutRequest {
  const o = asObject(v);
  const r: api.PutRequest = { key: EMPTY_BYTES };
  if (o === null) return r;
  let b: Uint8Array | undefined;
  let f: boolean | undefined;
  if ((b = bytesField(o.key)) !== undefined) r.key = b;
  if ((b = bytesField(o.value)) !== undefined) r.value = b;
  const lease = int64BigField(o.lease);
  if (lease !== undefined) r.lease = lease;
  if ((f = boolField(pick(o, 'prev_kv', 'prevKv'))) !== undefined) r.prev_kv = f;
  if ((f = boolField(pick(o, 'ignore_value', 'ignoreValue'))) !== undefined) r.ignore_value = f;
  if ((f = boolField(pick(o, 'ignore_lease', 'ignoreLease'))) !== undefined) r.ignore_lease = f;
  return r;
}

export function decodeDeleteRangeRequest(v: JsonValue): api.DeleteRangeRequest {
  const o = asObject(v);
  const r: api.DeleteRangeRequest = { key: EMPTY_BYTES };
  if (o === null) return r;
  let b: Uint8Array | undefined;
  let f: boolean | undefined;
  if ((b = bytesField(o.key)) !== undefined) r.key = b;
  if ((b = bytesField(pick(o, 'range_end', 'rangeEnd'))) !== undefined) r.range_end = b;
  if ((f = boolField(pick(o, 'prev_kv', 'prevKv'))) !== undefined) r.prev_kv = f;
  return r;
}

function decodeCompare(v: JsonValue): api.Compare {
  const o = asObject(v);
  const c: api.Compare = { result: 0, target: 0, key: EMPTY_BYTES };
  if (o === null) return c;
  let n: number | undefined;
  let b: Uint8Array | undefined;
  if ((n = enumField(o.result, COMPARE_RESULT)) !== undefined) c.result = n;
  if ((n = enumField(o.target, COMPARE_TARGET)) !== undefined) c.target = n;
  if ((b = bytesField(o.key)) !== undefined) c.key = b;
  if ((b = bytesField(pick(o, 'range_end', 'rangeEnd'))) !== undefined) c.range_end = b;
  // The target_union oneof.
  if ((n = int64Field(o.version)) !== undefined) c.version = n;
  if ((n = int64Field(pick(o, 'create_revision', 'createRevision'))) !== undefined) c.create_revision = n;
  if ((n = int64Field(pick(o, 'mod_revision', 'modRevision'))) !== undefined) c.mod_revision = n;
  if ((b = bytesField(o.value)) !== undefined) c.value = b;
  const lease = int64BigField(o.lease);
  if (lease !== undefined) c.lease = lease;
  return c;
}

/** Marks a RequestOp without any request set (etcd answers "key not found" for it). */
export const EMPTY_OP = Object.freeze({}) as unknown as api.RequestOp;

function decodeRequestOp(v: JsonValue): api.RequestOp {
  const o = asObject(v);
  if (o === null) return EMPTY_OP;
  let op: api.RequestOp = EMPTY_OP;
  let f: JsonValue | undefined;
  if ((f = pick(o, 'request_range', 'requestRange')) !== undefined && f !== null) op = { request_range: decodeRangeRequest(f) };
  if ((f = pick(o, 'request_put', 'requestPut')) !== undefined && f !== null) op = { request_put: decodePutRequest(f) };
  if ((f = pick(o, 'request_delete_range', 'requestDeleteRange')) !== undefined && f !== null) op = { request_delete_range: decodeDeleteRangeRequest(f) };
  if ((f = pick(o, 'request_txn', 'requestTxn')) !== undefined && f !== null) op = { request_txn: decodeTxnRequest(f) };
  return op;
}

export function decodeTxnRequest(v: JsonValue): api.TxnRequest {
  const o = asObject(v);
  const r: api.TxnRequest = { compare: [], success: [], failure: [] };
  if (o === null) return r;
  let a: JsonValue[] | undefined;
  if ((a = repeatedField(o.compare)) !== undefined) r.compare = a.map(decodeCompare);
  if ((a = repeatedField(o.success)) !== undefined) r.success = a.map(decodeRequestOp);
  if ((a = repeatedField(o.failure)) !== undefined) r.failure = a.map(decodeRequestOp);
  return r;
}

export function decodeCompactionRequest(v: JsonValue): api.CompactionRequest {
  const o = asObject(v);
  const r: api.CompactionRequest = { revision: 0 };
  if (o === null) return r;
  let n: number | undefined;
  let f: boolean | undefined;
  if ((n = int64Field(o.revision)) !== undefined) r.revision = n;
  if ((f = boolField(o.physical)) !== undefined) r.physical = f;
  return r;
}

export function decodeHashKVRequest(v: JsonValue): api.HashKVRequest {
  const o = asObject(v);
  const r: api.HashKVRequest = { revision: 0 };
  if (o === null) return r;
  let n: number | undefined;
  if ((n = int64Field(o.revision)) !== undefined) r.revision = n;
  return r;
}

export function decodeLeaseGrantRequest(v: JsonValue): api.LeaseGrantRequest {
  const o = asObject(v);
  const r: api.LeaseGrantRequest = { TTL: 0 };
  if (o === null) return r;
  const ttl = int64Field(o.TTL);
  if (ttl !== undefined) r.TTL = ttl;
  const id = int64BigField(o.ID);
  if (id !== undefined) r.ID = id;
  return r;
}

/** LeaseRevokeRequest and LeaseKeepAliveRequest: just the ID. */
export function decodeLeaseIdRequest(v: JsonValue): { ID: bigint } {
  const o = asObject(v);
  const id = o === null ? undefined : int64BigField(o.ID);
  return { ID: id ?? 0n };
}

export function decodeLeaseTimeToLiveRequest(v: JsonValue): api.LeaseTimeToLiveRequest {
  const o = asObject(v);
  const r: api.LeaseTimeToLiveRequest = { ID: 0n };
  if (o === null) return r;
  const id = int64BigField(o.ID);
  if (id !== undefined) r.ID = id;
  const keys = boolField(o.keys);
  if (keys !== undefined) r.keys = keys;
  return r;
}

function decodeWatchCreateRequest(v: JsonValue): api.WatchCreateRequest {
  const o = asObject(v);
  const r: api.WatchCreateRequest = { key: EMPTY_BYTES };
  if (o === null) return r;
  let b: Uint8Array | undefined;
  let n: number | undefined;
  let f: boolean | undefined;
  if ((b = bytesField(o.key)) !== undefined) r.key = b;
  if ((b = bytesField(pick(o, 'range_end', 'rangeEnd'))) !== undefined) r.range_end = b;
  if ((n = int64Field(pick(o, 'start_revision', 'startRevision'))) !== undefined) r.start_revision = n;
  if ((f = boolField(pick(o, 'progress_notify', 'progressNotify'))) !== undefined) r.progress_notify = f;
  const filters = repeatedField(o.filters);
  if (filters !== undefined) r.filters = filters.map((x) => enumField(x, FILTER_TYPE) ?? 0);
  if ((f = boolField(pick(o, 'prev_kv', 'prevKv'))) !== undefined) r.prev_kv = f;
  if ((n = int64Field(pick(o, 'watch_id', 'watchId'))) !== undefined) r.watch_id = n;
  if ((f = boolField(o.fragment)) !== undefined) r.fragment = f;
  return r;
}

/** A WatchRequest; null when none of its oneof is set (etcd ignores such a request). */
export function decodeWatchRequest(v: JsonValue): api.WatchRequest | null {
  const o = asObject(v);
  if (o === null) return null;
  let req: api.WatchRequest | null = null;
  let f: JsonValue | undefined;
  if ((f = pick(o, 'create_request', 'createRequest')) !== undefined && f !== null) req = { create_request: decodeWatchCreateRequest(f) };
  if ((f = pick(o, 'cancel_request', 'cancelRequest')) !== undefined && f !== null) {
    const c = asObject(f);
    const id = c === null ? undefined : int64Field(pick(c, 'watch_id', 'watchId'));
    req = { cancel_request: { watch_id: id ?? 0 } };
  }
  if ((f = pick(o, 'progress_request', 'progressRequest')) !== undefined && f !== null) {
    asObject(f);
    req = { progress_request: {} };
  }
  return req;
}

function stringList(v: JsonValue | undefined): string[] | undefined {
  const a = repeatedField(v);
  return a?.map((x) => stringField(x) ?? '');
}

export function decodeMemberAddRequest(v: JsonValue): api.MemberAddRequest {
  const o = asObject(v);
  const r: api.MemberAddRequest = { peerURLs: [] };
  if (o === null) return r;
  const urls = stringList(o.peerURLs);
  if (urls !== undefined) r.peerURLs = urls;
  const learner = boolField(o.isLearner);
  if (learner !== undefined) r.isLearner = learner;
  return r;
}

/** MemberRemoveRequest and MemberPromoteRequest. */
export function decodeAlarmRequest(v: JsonValue): api.AlarmRequest {
  const o = asObject(v);
  const r: api.AlarmRequest = { action: 0, memberID: 0, alarm: 0 };
  if (o === null) return r;
  r.action = enumField(o.action, ALARM_ACTION) ?? 0;
  r.memberID = uint64Field(o.memberID) ?? 0;
  r.alarm = enumField(o.alarm, ALARM_TYPE) ?? 0;
  return r;
}

export function decodeMemberIdRequest(v: JsonValue): { ID: number } {
  const o = asObject(v);
  const id = o === null ? undefined : uint64Field(o.ID);
  return { ID: id ?? 0 };
}

export function decodeMemberUpdateRequest(v: JsonValue): { ID: number; peerURLs: string[] } {
  const o = asObject(v);
  const r = { ID: 0, peerURLs: [] as string[] };
  if (o === null) return r;
  const id = uint64Field(o.ID);
  if (id !== undefined) r.ID = id;
  const urls = stringList(o.peerURLs);
  if (urls !== undefined) r.peerURLs = urls;
  return r;
}

export function decodeMoveLeaderRequest(v: JsonValue): { targetID: number } {
  const o = asObject(v);
  const id = o === null ? undefined : uint64Field(o.targetID);
  return { targetID: id ?? 0 };
}
