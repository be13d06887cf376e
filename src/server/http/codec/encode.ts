// Response messages to JSON exactly as etcd 3.4's gateway prints them (jsonpb with OrigName and
// EmitDefaults off): proto field names in proto order, 64-bit integers as strings, bytes as base64,
// enums by name, and every zero value left out. The quirks of etcd's headers are part of the
// format: inside a txn a range/put/delete header holds only `revision` and a nested txn's header is
// `{}`; cluster responses have no revision; a watch canceled for compaction has no revision;
// MoveLeader answers `{}`. Strings are escaped like Go's encoding/json (HTML-safe: <, >, & as \u003c...).
import type * as api from '../../../kv/api.js';
import { AlarmType } from '../../../kv/api.js';
import { encodeBase64 } from './base64.js';

// eslint-disable-next-line no-control-regex
const STRING_NEEDS_ESCAPE = /[\x00-\x1f"\\<>&\u2028\u2029\ud800-\udfff]/;
const HEX = '0123456789abcdef';

/** A JSON string literal as Go's encoding/json writes it. */
export function goString(s: string): string {
  if (!STRING_NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  let out = '"';
  let start = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let rep: string | null = null;
    if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26) {
      if (c === 10) rep = '\\n';
      else if (c === 13) rep = '\\r';
      else if (c === 9) rep = '\\t';
      else rep = '\\u00' + HEX[c >> 4] + HEX[c & 15];
    } else if (c === 0x22) {
      rep = '\\"';
    } else if (c === 0x5c) {
      rep = '\\\\';
    } else if (c === 0x2028) {
      rep = '\\u2028';
    } else if (c === 0x2029) {
      rep = '\\u2029';
    } else if (c >= 0xd800 && c < 0xdc00) {
      const lo = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (lo >= 0xdc00 && lo < 0xe000) {
        i++;
        continue;
      }
      rep = '\\ufffd';
    } else if (c >= 0xdc00 && c < 0xe000) {
      rep = '\\ufffd';
    }
    if (rep !== null) {
      out += s.slice(start, i) + rep;
      start = i + 1;
    }
  }
  return out + s.slice(start) + '"';
}

type Int = number | bigint | undefined | null;

/** An int64/uint64 as jsonpb prints it: a decimal string. */
export function intString(n: number | bigint): string {
  if (typeof n === 'bigint') return n.toString();
  if (Number.isSafeInteger(n)) return '' + n;
  return BigInt(Math.trunc(n)).toString();
}

function isZero(n: Int): boolean {
  return n === undefined || n === null || n === 0 || n === 0n;
}

/** `,"name":"123"` or nothing for zero. `first` leaves the comma out. */
function intField(out: string, name: string, n: Int): string {
  if (isZero(n)) return out;
  return out + (out.length > 1 ? ',"' : '"') + name + '":"' + intString(n as number | bigint) + '"';
}

function boolField(out: string, name: string, b: boolean | undefined): string {
  if (!b) return out;
  return out + (out.length > 1 ? ',"' : '"') + name + '":true';
}

function bytesField(out: string, name: string, b: Uint8Array | undefined): string {
  if (b === undefined || b === null || b.length === 0) return out;
  return out + (out.length > 1 ? ',"' : '"') + name + '":"' + encodeBase64(b) + '"';
}

function strField(out: string, name: string, s: string | undefined): string {
  if (!s) return out;
  return out + (out.length > 1 ? ',"' : '"') + name + '":' + goString(s);
}

/** A field holding already-encoded JSON. */
function rawField(out: string, name: string, json: string): string {
  return out + (out.length > 1 ? ',"' : '"') + name + '":' + json;
}

function strList(out: string, name: string, list: readonly string[] | undefined): string {
  if (!list || list.length === 0) return out;
  let s = '[';
  for (let i = 0; i < list.length; i++) s += (i ? ',' : '') + goString(list[i] ?? '');
  return rawField(out, name, s + ']');
}

// ---- messages ----------------------------------------------------------------------------------

export function encodeHeader(h: api.ResponseHeader): string {
  let o = '{';
  o = intField(o, 'cluster_id', h.cluster_id);
  o = intField(o, 'member_id', h.member_id);
  o = intField(o, 'revision', h.revision);
  o = intField(o, 'raft_term', h.raft_term);
  return o + '}';
}

function headerField(out: string, h: api.ResponseHeader | undefined): string {
  return h ? rawField(out, 'header', encodeHeader(h)) : out;
}

/** The header of a response inside a txn: only its revision. */
function innerHeaderField(out: string, h: api.ResponseHeader | undefined): string {
  return rawField(out, 'header', h && !isZero(h.revision) ? '{"revision":"' + intString(h.revision as number) + '"}' : '{}');
}

/** A header without its revision (cluster responses, the compacted-watch cancel). */
function headerNoRevField(out: string, h: api.ResponseHeader | undefined): string {
  if (!h) return out;
  let o = '{';
  o = intField(o, 'cluster_id', h.cluster_id);
  o = intField(o, 'member_id', h.member_id);
  o = intField(o, 'raft_term', h.raft_term);
  return rawField(out, 'header', o + '}');
}

export function encodeKeyValue(kv: api.KeyValue): string {
  let o = '{';
  o = bytesField(o, 'key', kv.key);
  o = intField(o, 'create_revision', kv.create_revision);
  o = intField(o, 'mod_revision', kv.mod_revision);
  o = intField(o, 'version', kv.version);
  o = bytesField(o, 'value', kv.value);
  o = intField(o, 'lease', kv.lease);
  return o + '}';
}

function kvList(out: string, name: string, kvs: readonly api.KeyValue[] | undefined): string {
  if (!kvs || kvs.length === 0) return out;
  let s = '[';
  for (let i = 0; i < kvs.length; i++) s += (i ? ',' : '') + encodeKeyValue(kvs[i] as api.KeyValue);
  return rawField(out, name, s + ']');
}

const EVENT_TYPES = ['PUT', 'DELETE'];

function enumName(names: readonly string[], n: number): string {
  const name = names[n];
  return name !== undefined ? '"' + name + '"' : String(n);
}

export function encodeEvent(ev: api.Event): string {
  let o = '{';
  if (ev.type) o = rawField(o, 'type', enumName(EVENT_TYPES, ev.type));
  if (ev.kv) o = rawField(o, 'kv', encodeKeyValue(ev.kv));
  if (ev.prev_kv) o = rawField(o, 'prev_kv', encodeKeyValue(ev.prev_kv));
  return o + '}';
}

function rangeBody(r: api.RangeResponse, inner: boolean): string {
  let o = inner ? innerHeaderField('{', r.header) : headerField('{', r.header);
  o = kvList(o, 'kvs', r.kvs);
  o = boolField(o, 'more', r.more);
  o = intField(o, 'count', r.count);
  return o + '}';
}

function putBody(r: api.PutResponse, inner: boolean): string {
  let o = inner ? innerHeaderField('{', r.header) : headerField('{', r.header);
  if (r.prev_kv) o = rawField(o, 'prev_kv', encodeKeyValue(r.prev_kv));
  return o + '}';
}

function deleteBody(r: api.DeleteRangeResponse, inner: boolean): string {
  let o = inner ? innerHeaderField('{', r.header) : headerField('{', r.header);
  o = intField(o, 'deleted', r.deleted);
  o = kvList(o, 'prev_kvs', r.prev_kvs);
  return o + '}';
}

/** `nested`: a txn inside a txn, whose header etcd leaves empty. */
function txnBody(r: api.TxnResponse, nested: boolean): string {
  let o = nested ? rawField('{', 'header', '{}') : headerField('{', r.header);
  o = boolField(o, 'succeeded', r.succeeded);
  const ops = r.responses;
  if (ops && ops.length > 0) {
    let s = '[';
    for (let i = 0; i < ops.length; i++) s += (i ? ',' : '') + encodeResponseOp(ops[i] as api.ResponseOp);
    o = rawField(o, 'responses', s + ']');
  }
  return o + '}';
}

function encodeResponseOp(op: api.ResponseOp): string {
  if ('response_range' in op) return '{"response_range":' + rangeBody(op.response_range, true) + '}';
  if ('response_put' in op) return '{"response_put":' + putBody(op.response_put, true) + '}';
  if ('response_delete_range' in op) return '{"response_delete_range":' + deleteBody(op.response_delete_range, true) + '}';
  if ('response_txn' in op) return '{"response_txn":' + txnBody(op.response_txn, true) + '}';
  return '{}';
}

export const encodeRangeResponse = (r: api.RangeResponse): string => rangeBody(r, false);
export const encodePutResponse = (r: api.PutResponse): string => putBody(r, false);
export const encodeDeleteRangeResponse = (r: api.DeleteRangeResponse): string => deleteBody(r, false);
export const encodeTxnResponse = (r: api.TxnResponse): string => txnBody(r, false);

/** Responses that are only a header (compaction, lease revoke). */
export function encodeHeaderOnly(r: { header: api.ResponseHeader }): string {
  return headerField('{', r.header) + '}';
}

export function encodeLeaseGrantResponse(r: api.LeaseGrantResponse): string {
  let o = headerField('{', r.header);
  o = intField(o, 'ID', r.ID);
  o = intField(o, 'TTL', r.TTL);
  o = strField(o, 'error', r.error);
  return o + '}';
}

export function encodeLeaseKeepAliveResponse(r: api.LeaseKeepAliveResponse): string {
  let o = headerField('{', r.header);
  o = intField(o, 'ID', r.ID);
  o = intField(o, 'TTL', r.TTL);
  return o + '}';
}

export function encodeLeaseTimeToLiveResponse(r: api.LeaseTimeToLiveResponse): string {
  let o = headerField('{', r.header);
  o = intField(o, 'ID', r.ID);
  o = intField(o, 'TTL', r.TTL);
  o = intField(o, 'grantedTTL', r.grantedTTL);
  if (r.keys && r.keys.length > 0) {
    let s = '[';
    for (let i = 0; i < r.keys.length; i++) s += (i ? ',' : '') + '"' + encodeBase64(r.keys[i] as Uint8Array) + '"';
    o = rawField(o, 'keys', s + ']');
  }
  return o + '}';
}

export function encodeLeaseLeasesResponse(r: api.LeaseLeasesResponse): string {
  let o = headerField('{', r.header);
  if (r.leases && r.leases.length > 0) {
    let s = '[';
    for (let i = 0; i < r.leases.length; i++) s += (i ? ',' : '') + intField('{', 'ID', r.leases[i]?.ID) + '}';
    o = rawField(o, 'leases', s + ']');
  }
  return o + '}';
}

export function encodeWatchResponse(r: api.WatchResponse): string {
  // A watch canceled because its start revision was compacted: etcd's header has no revision.
  const compactedCancel = r.canceled === true && !isZero(r.compact_revision);
  let o = compactedCancel ? headerNoRevField('{', r.header) : headerField('{', r.header);
  o = intField(o, 'watch_id', r.watch_id);
  o = boolField(o, 'created', r.created);
  o = boolField(o, 'canceled', r.canceled);
  o = intField(o, 'compact_revision', r.compact_revision);
  o = strField(o, 'cancel_reason', r.cancel_reason);
  o = boolField(o, 'fragment', r.fragment);
  const evs = r.events;
  if (evs && evs.length > 0) {
    let s = '[';
    for (let i = 0; i < evs.length; i++) s += (i ? ',' : '') + encodeEvent(evs[i] as api.Event);
    o = rawField(o, 'events', s + ']');
  }
  return o + '}';
}

export function encodeMember(m: api.Member): string {
  let o = '{';
  o = intField(o, 'ID', m.ID);
  o = strField(o, 'name', m.name);
  o = strList(o, 'peerURLs', m.peerURLs);
  o = strList(o, 'clientURLs', m.clientURLs);
  o = boolField(o, 'isLearner', m.isLearner);
  return o + '}';
}

function memberList(out: string, members: readonly api.Member[] | undefined): string {
  if (!members || members.length === 0) return out;
  let s = '[';
  for (let i = 0; i < members.length; i++) s += (i ? ',' : '') + encodeMember(members[i] as api.Member);
  return rawField(out, 'members', s + ']');
}

/** MemberList, MemberRemove, MemberUpdate, MemberPromote: header (no revision) and members. */
export function encodeMembersResponse(r: { header: api.ResponseHeader; members: api.Member[] }): string {
  return memberList(headerNoRevField('{', r.header), r.members) + '}';
}

export function encodeMemberAddResponse(r: api.MemberAddResponse): string {
  let o = headerNoRevField('{', r.header);
  if (r.member) o = rawField(o, 'member', encodeMember(r.member));
  return memberList(o, r.members) + '}';
}

export function encodeStatusResponse(r: api.StatusResponse): string {
  let o = headerField('{', r.header);
  o = strField(o, 'version', r.version);
  o = intField(o, 'dbSize', r.dbSize);
  o = intField(o, 'leader', r.leader);
  o = intField(o, 'raftIndex', r.raftIndex);
  o = intField(o, 'raftTerm', r.raftTerm);
  o = intField(o, 'raftAppliedIndex', r.raftAppliedIndex);
  o = strList(o, 'errors', r.errors);
  o = intField(o, 'dbSizeInUse', r.dbSizeInUse);
  o = boolField(o, 'isLearner', r.isLearner);
  return o + '}';
}

/** A uint32 field: a JSON number (jsonpb writes only 64-bit integers as strings). */
function uint32Field(out: string, name: string, n: number): string {
  if (n === 0) return out;
  return out + (out.length > 1 ? ',"' : '"') + name + '":' + n;
}

/** Alarms as etcd 3.4 answers them: no header; memberID an int64 string, the alarm by name. */
export function encodeAlarmResponse(r: api.AlarmResponse): string {
  if (r.alarms.length === 0) return '{}';
  const one = (a: api.AlarmMember): string => {
    let o = intField('{', 'memberID', a.memberID);
    if (a.alarm !== 0) o += (o.length > 1 ? ',' : '') + '"alarm":' + goString(AlarmType[a.alarm] ?? String(a.alarm));
    return o + '}';
  };
  return '{"alarms":[' + r.alarms.map(one).join(',') + ']}';
}

export function encodeHashKVResponse(r: api.HashKVResponse): string {
  let o = headerField('{', r.header);
  o = uint32Field(o, 'hash', r.hash);
  o = intField(o, 'compact_revision', r.compact_revision);
  return o + '}';
}

export function encodeHashResponse(r: api.HashResponse): string {
  return uint32Field(headerField('{', r.header), 'hash', r.hash) + '}';
}

/** One message of maintenance/snapshot (etcd 3.4 sends no header in it). */
export function encodeSnapshotChunk(remaining: number, blob: Uint8Array): string {
  let o = '{';
  o = intField(o, 'remaining_bytes', remaining);
  o = bytesField(o, 'blob', blob);
  return o + '}';
}

/** The body of a unary error: {"error": M, "message": M, "code": C}. */
export function encodeError(message: string, code: number): string {
  const m = goString(message);
  return '{"error":' + m + ',"message":' + m + ',"code":' + code + '}';
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** A stream's error message (grpc-gateway v1's StreamError), as the `error` of a stream chunk. */
export function encodeStreamError(message: string, code: number, httpStatus: number): string {
  let o = '{';
  if (code) o += '"grpc_code":' + code;
  o += (o.length > 1 ? ',' : '') + '"http_code":' + httpStatus;
  o = strField(o, 'message', message);
  o = strField(o, 'http_status', STATUS_TEXT[httpStatus] ?? '');
  return o + '}';
}
