// The JSON gateway's encoding, both ways: requests as JSON objects (bytes in base64, 64-bit
// integers as decimal strings, enums by name) and responses decoded into the client's types
// (zero values, which the gateway leaves out, filled in).
import type { Event, KeyValue } from '../kv/api.js';
import { EventType } from '../kv/api.js';
import { b64, keyRange, toBytes, toId, unb64, type Bytes, type RangeSpec } from './bytes.js';
import { ALARM_NAMES } from './types.js';
import type * as t from './types.js';

export type Json = Record<string, unknown>;

export type SortOrderName = 'NONE' | 'ASCEND' | 'DESCEND';
export type SortTargetName = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

export interface GetOptions extends RangeSpec {
  limit?: number;
  /** Read at this revision (0 or absent: the current one). */
  revision?: number;
  sortOrder?: SortOrderName;
  sortTarget?: SortTargetName;
  keysOnly?: boolean;
  countOnly?: boolean;
  /** Answer from the member's own copy (may be stale) instead of a linearizable read. */
  serializable?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface PutOptions {
  lease?: bigint | string | number;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface DeleteOptions extends RangeSpec {
  prevKv?: boolean;
}

const int = (n: number | bigint): string => (typeof n === 'bigint' ? n.toString() : String(Math.trunc(n)));

function set(o: Json, name: string, v: unknown): void {
  if (v === undefined || v === false || v === 0 || v === 0n || v === null) return;
  o[name] = v;
}

export function rangeRequest(key: Bytes, opts: GetOptions = {}): Json {
  const r = keyRange(key, opts);
  const o: Json = { key: b64(r.key) };
  if (r.range_end) o.range_end = b64(r.range_end);
  if (opts.limit !== undefined && opts.limit !== 0) o.limit = int(opts.limit);
  if (opts.revision) o.revision = int(opts.revision);
  if (opts.sortOrder && opts.sortOrder !== 'NONE') o.sort_order = opts.sortOrder;
  if (opts.sortTarget && opts.sortTarget !== 'KEY') o.sort_target = opts.sortTarget;
  set(o, 'serializable', opts.serializable);
  set(o, 'keys_only', opts.keysOnly);
  set(o, 'count_only', opts.countOnly);
  if (opts.minModRevision) o.min_mod_revision = int(opts.minModRevision);
  if (opts.maxModRevision) o.max_mod_revision = int(opts.maxModRevision);
  if (opts.minCreateRevision) o.min_create_revision = int(opts.minCreateRevision);
  if (opts.maxCreateRevision) o.max_create_revision = int(opts.maxCreateRevision);
  return o;
}

export function putRequest(key: Bytes, value: Bytes | undefined, opts: PutOptions = {}): Json {
  const o: Json = { key: b64(toBytes(key)) };
  const v = toBytes(value);
  if (v.length) o.value = b64(v);
  if (opts.lease !== undefined) {
    const id = toId(opts.lease);
    if (id !== 0n) o.lease = id.toString();
  }
  set(o, 'prev_kv', opts.prevKv);
  set(o, 'ignore_value', opts.ignoreValue);
  set(o, 'ignore_lease', opts.ignoreLease);
  return o;
}

export function deleteRequest(key: Bytes, opts: DeleteOptions = {}): Json {
  const r = keyRange(key, opts);
  const o: Json = { key: b64(r.key) };
  if (r.range_end) o.range_end = b64(r.range_end);
  set(o, 'prev_kv', opts.prevKv);
  return o;
}

// ---- decoding -------------------------------------------------------------------------------

function rec(v: unknown): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** An int64 of the gateway (a string, or a number from a lenient server) as a number; 0 when absent. */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v !== '') return Number(v);
  return 0;
}

/** A 64-bit ID as bigint; 0n when absent. */
export function big(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string' && v !== '') return toId(v);
  return 0n;
}

export function decodeHeader(v: unknown): t.ResponseHeader {
  const o = rec(v);
  const h: t.ResponseHeader = {};
  if (o.cluster_id !== undefined) h.cluster_id = big(o.cluster_id);
  if (o.member_id !== undefined) h.member_id = big(o.member_id);
  if (o.revision !== undefined) h.revision = num(o.revision);
  if (o.raft_term !== undefined) h.raft_term = num(o.raft_term);
  return h;
}

export function decodeKv(v: unknown): KeyValue {
  const o = rec(v);
  return {
    key: unb64(o.key),
    create_revision: num(o.create_revision),
    mod_revision: num(o.mod_revision),
    version: num(o.version),
    value: unb64(o.value),
    lease: big(o.lease),
  };
}

export function decodeRange(v: unknown): t.RangeResponse {
  const o = rec(v);
  return { header: decodeHeader(o.header), kvs: arr(o.kvs).map(decodeKv), more: o.more === true, count: num(o.count) };
}

export function decodePut(v: unknown): t.PutResponse {
  const o = rec(v);
  const r: t.PutResponse = { header: decodeHeader(o.header) };
  if (o.prev_kv !== undefined) r.prev_kv = decodeKv(o.prev_kv);
  return r;
}

export function decodeDelete(v: unknown): t.DeleteRangeResponse {
  const o = rec(v);
  return { header: decodeHeader(o.header), deleted: num(o.deleted), prev_kvs: arr(o.prev_kvs).map(decodeKv) };
}

function decodeResponseOp(v: unknown): t.ResponseOp {
  const o = rec(v);
  if (o.response_range !== undefined) return { response_range: decodeRange(o.response_range) };
  if (o.response_put !== undefined) return { response_put: decodePut(o.response_put) };
  if (o.response_delete_range !== undefined) return { response_delete_range: decodeDelete(o.response_delete_range) };
  return { response_txn: decodeTxn(o.response_txn) };
}

export function decodeTxn(v: unknown): t.TxnResponse {
  const o = rec(v);
  return { header: decodeHeader(o.header), succeeded: o.succeeded === true, responses: arr(o.responses).map(decodeResponseOp) };
}

export function decodeHeaderOnly(v: unknown): { header: t.ResponseHeader } {
  return { header: decodeHeader(rec(v).header) };
}

export function decodeEvent(v: unknown): Event {
  const o = rec(v);
  const e: Event = { type: o.type === 'DELETE' || o.type === 1 ? EventType.DELETE : EventType.PUT, kv: decodeKv(o.kv) };
  if (o.prev_kv !== undefined) e.prev_kv = decodeKv(o.prev_kv);
  return e;
}

export function decodeLeaseGrant(v: unknown): t.LeaseGrantResponse {
  const o = rec(v);
  const r: t.LeaseGrantResponse = { header: decodeHeader(o.header), ID: big(o.ID), TTL: num(o.TTL) };
  if (typeof o.error === 'string' && o.error) r.error = o.error;
  return r;
}

export function decodeLeaseKeepAlive(v: unknown): t.LeaseKeepAliveResponse {
  const o = rec(v);
  return { header: decodeHeader(o.header), ID: big(o.ID), TTL: num(o.TTL) };
}

export function decodeLeaseTimeToLive(v: unknown): t.LeaseTimeToLiveResponse {
  const o = rec(v);
  return {
    header: decodeHeader(o.header),
    ID: big(o.ID),
    TTL: num(o.TTL),
    grantedTTL: num(o.grantedTTL),
    keys: arr(o.keys).map(unb64),
  };
}

export function decodeLeaseLeases(v: unknown): t.LeaseLeasesResponse {
  const o = rec(v);
  return { header: decodeHeader(o.header), leases: arr(o.leases).map((l) => ({ ID: big(rec(l).ID) })) };
}

export function decodeMember(v: unknown): t.Member {
  const o = rec(v);
  return {
    ID: big(o.ID),
    name: typeof o.name === 'string' ? o.name : '',
    peerURLs: arr(o.peerURLs).map(String),
    clientURLs: arr(o.clientURLs).map(String),
    isLearner: o.isLearner === true,
  };
}

export function decodeMembers(v: unknown): t.MemberListResponse {
  const o = rec(v);
  return { header: decodeHeader(o.header), members: arr(o.members).map(decodeMember) };
}

export function decodeMemberAdd(v: unknown): t.MemberAddResponse {
  const o = rec(v);
  return { header: decodeHeader(o.header), member: decodeMember(o.member), members: arr(o.members).map(decodeMember) };
}

export function decodeAlarms(v: unknown): t.AlarmResponse {
  return {
    alarms: arr(rec(v).alarms).map((x) => {
      const o = rec(x);
      const named = typeof o.alarm === 'string' ? (ALARM_NAMES as readonly string[]).indexOf(o.alarm) : -1;
      return { memberID: big(o.memberID), alarm: named >= 0 ? named : num(o.alarm) };
    }),
  };
}

export function decodeHashKV(v: unknown): Omit<t.EndpointHashKV, 'endpoint'> {
  const o = rec(v);
  return { header: decodeHeader(o.header), hash: num(o.hash), compact_revision: num(o.compact_revision) };
}

export function decodeStatus(v: unknown): t.StatusResponse {
  const o = rec(v);
  return {
    header: decodeHeader(o.header),
    version: typeof o.version === 'string' ? o.version : '',
    dbSize: num(o.dbSize),
    leader: big(o.leader),
    raftIndex: num(o.raftIndex),
    raftTerm: num(o.raftTerm),
    raftAppliedIndex: num(o.raftAppliedIndex),
    errors: arr(o.errors).map(String),
    dbSizeInUse: num(o.dbSizeInUse),
    isLearner: o.isLearner === true,
  };
}
