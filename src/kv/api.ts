// The typed internal API of the store: etcd v3's request and response messages (etcdserverpb and
// mvccpb), field for field with the proto's names, so that every front end (the JSON gateway, the
// WebSocket watch, a future gRPC server) is a thin adapter over one set of types.
//
// Conventions: `bytes` are Uint8Array; int64/uint64 values are numbers (revisions, versions,
// counts and TTLs stay far below 2^53) except lease IDs, which clients may choose freely in the
// whole int64 range and are therefore bigint. Optional fields are absent when zero.

export type LeaseId = bigint;

export interface ResponseHeader {
  cluster_id?: number;
  member_id?: number;
  revision?: number;
  raft_term?: number;
}

export interface KeyValue {
  key: Uint8Array;
  create_revision: number;
  mod_revision: number;
  version: number;
  value: Uint8Array;
  lease: LeaseId;
}

export enum EventType {
  PUT = 0,
  DELETE = 1,
}

export interface Event {
  type: EventType;
  kv: KeyValue;
  prev_kv?: KeyValue;
}

export enum SortOrder {
  NONE = 0,
  ASCEND = 1,
  DESCEND = 2,
}

export enum SortTarget {
  KEY = 0,
  VERSION = 1,
  CREATE = 2,
  MOD = 3,
  VALUE = 4,
}

export interface RangeRequest {
  key: Uint8Array;
  range_end?: Uint8Array;
  limit?: number;
  revision?: number;
  sort_order?: SortOrder;
  sort_target?: SortTarget;
  serializable?: boolean;
  keys_only?: boolean;
  count_only?: boolean;
  min_mod_revision?: number;
  max_mod_revision?: number;
  min_create_revision?: number;
  max_create_revision?: number;
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutRequest {
  key: Uint8Array;
  value?: Uint8Array;
  lease?: LeaseId;
  prev_kv?: boolean;
  ignore_value?: boolean;
  ignore_lease?: boolean;
}

export interface PutResponse {
  header: ResponseHeader;
  prev_kv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Uint8Array;
  range_end?: Uint8Array;
  prev_kv?: boolean;
}

export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: number;
  prev_kvs: KeyValue[];
}

export type RequestOp =
  | { request_range: RangeRequest }
  | { request_put: PutRequest }
  | { request_delete_range: DeleteRangeRequest }
  | { request_txn: TxnRequest };

export type ResponseOp =
  | { response_range: RangeResponse }
  | { response_put: PutResponse }
  | { response_delete_range: DeleteRangeResponse }
  | { response_txn: TxnResponse };

export enum CompareResult {
  EQUAL = 0,
  GREATER = 1,
  LESS = 2,
  NOT_EQUAL = 3,
}

export enum CompareTarget {
  VERSION = 0,
  CREATE = 1,
  MOD = 2,
  VALUE = 3,
  LEASE = 4,
}

export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Uint8Array;
  range_end?: Uint8Array;
  /** Exactly one of these, matching `target`. */
  version?: number;
  create_revision?: number;
  mod_revision?: number;
  value?: Uint8Array;
  lease?: LeaseId;
}

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: number;
  physical?: boolean;
}

export interface CompactionResponse {
  header: ResponseHeader;
}

export interface LeaseGrantRequest {
  TTL: number;
  ID?: LeaseId;
}

export interface LeaseGrantResponse {
  header: ResponseHeader;
  ID: LeaseId;
  TTL: number;
  error?: string;
}

export interface LeaseRevokeRequest {
  ID: LeaseId;
}

export interface LeaseRevokeResponse {
  header: ResponseHeader;
}

export interface LeaseKeepAliveRequest {
  ID: LeaseId;
}

export interface LeaseKeepAliveResponse {
  header: ResponseHeader;
  ID: LeaseId;
  /** 0 (absent on the wire) when the lease is unknown. */
  TTL: number;
}

export interface LeaseTimeToLiveRequest {
  ID: LeaseId;
  keys?: boolean;
}

export interface LeaseTimeToLiveResponse {
  header: ResponseHeader;
  ID: LeaseId;
  /** -1 for an unknown or expired lease. */
  TTL: number;
  grantedTTL: number;
  keys: Uint8Array[];
}

export interface LeaseLeasesResponse {
  header: ResponseHeader;
  leases: { ID: LeaseId }[];
}

export enum WatchFilterType {
  NOPUT = 0,
  NODELETE = 1,
}

export interface WatchCreateRequest {
  key: Uint8Array;
  range_end?: Uint8Array;
  start_revision?: number;
  progress_notify?: boolean;
  filters?: WatchFilterType[];
  prev_kv?: boolean;
  watch_id?: number;
  fragment?: boolean;
}

export type WatchRequest =
  | { create_request: WatchCreateRequest }
  | { cancel_request: { watch_id: number } }
  | { progress_request: Record<string, never> };

export interface WatchResponse {
  header: ResponseHeader;
  watch_id: number;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: number;
  cancel_reason?: string;
  fragment?: boolean;
  events: Event[];
}

export interface Member {
  ID: number;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner?: boolean;
}

export interface MemberListResponse {
  header: ResponseHeader;
  members: Member[];
}

export interface MemberAddRequest {
  peerURLs: string[];
  isLearner?: boolean;
}

export interface MemberAddResponse {
  header: ResponseHeader;
  member: Member;
  members: Member[];
}

export interface MemberRemoveResponse {
  header: ResponseHeader;
  members: Member[];
}

export interface StatusResponse {
  header: ResponseHeader;
  version: string;
  dbSize: number;
  leader: number;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  errors?: string[];
  dbSizeInUse: number;
  isLearner?: boolean;
}

/** etcd's AlarmType. */
export enum AlarmType {
  NONE = 0,
  /** The store reached --quota-backend-bytes: writes that add data are refused until disarmed. */
  NOSPACE = 1,
  /** A member's data diverged: every write is refused until disarmed. */
  CORRUPT = 2,
}

/** etcd's AlarmRequest.AlarmAction. */
export enum AlarmAction {
  GET = 0,
  ACTIVATE = 1,
  DEACTIVATE = 2,
}

export interface AlarmMember {
  memberID: number;
  alarm: AlarmType;
}

export interface AlarmRequest {
  action: AlarmAction;
  memberID: number;
  alarm: AlarmType;
}

/** etcd 3.4 answers alarms with no header. */
export interface AlarmResponse {
  alarms: AlarmMember[];
}

export interface HashKVRequest {
  /** The newest revision to hash; 0 (or less) for the current one. */
  revision: number;
}

export interface HashKVResponse {
  header: ResponseHeader;
  /** uint32: a JSON number, not a string. */
  hash: number;
  /** The compacted revision when the hash was taken (-1 when nothing was compacted). */
  compact_revision: number;
}

export interface HashResponse {
  header: ResponseHeader;
  hash: number;
}

/** Limits like etcd's defaults. */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
export const MAX_TXN_OPS = 128;
export const MAX_LEASE_TTL = 9_000_000_000;
