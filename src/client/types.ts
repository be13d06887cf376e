// The messages the client returns: etcd v3's, as in src/kv/api.ts (KeyValue with Uint8Array key
// and value, revisions as numbers, lease IDs as bigint), except that member and cluster IDs are
// bigint here: etcd's are full uint64 (kvd's stay below 2^53, but the client talks to etcd too).
// Fields that etcd leaves out when zero are present with their zero value, except in the header,
// which keeps only what the server sent (a header inside a txn has only `revision`).
import type { Event, KeyValue } from '../kv/api.js';

export type { Event, KeyValue, LeaseId } from '../kv/api.js';
export { CompareResult, CompareTarget, EventType, MAX_TXN_OPS, SortOrder, SortTarget, WatchFilterType } from '../kv/api.js';

export interface ResponseHeader {
  cluster_id?: bigint;
  member_id?: bigint;
  revision?: number;
  raft_term?: number;
}

export interface RangeResponse {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutResponse {
  header: ResponseHeader;
  prev_kv?: KeyValue;
}

export interface DeleteRangeResponse {
  header: ResponseHeader;
  deleted: number;
  prev_kvs: KeyValue[];
}

export type ResponseOp =
  | { response_range: RangeResponse }
  | { response_put: PutResponse }
  | { response_delete_range: DeleteRangeResponse }
  | { response_txn: TxnResponse };

export interface TxnResponse {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionResponse {
  header: ResponseHeader;
}

export interface LeaseGrantResponse {
  header: ResponseHeader;
  ID: bigint;
  TTL: number;
  error?: string;
}

export interface LeaseRevokeResponse {
  header: ResponseHeader;
}

export interface LeaseKeepAliveResponse {
  header: ResponseHeader;
  ID: bigint;
  /** 0 when the lease does not exist (any more). */
  TTL: number;
}

export interface LeaseTimeToLiveResponse {
  header: ResponseHeader;
  ID: bigint;
  /** Remaining seconds; -1 for an unknown or expired lease. */
  TTL: number;
  grantedTTL: number;
  keys: Uint8Array[];
}

export interface LeaseLeasesResponse {
  header: ResponseHeader;
  leases: { ID: bigint }[];
}

export interface Member {
  ID: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface MemberListResponse {
  header: ResponseHeader;
  members: Member[];
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

export interface MemberPromoteResponse {
  header: ResponseHeader;
  members: Member[];
}

export interface StatusResponse {
  header: ResponseHeader;
  version: string;
  dbSize: number;
  leader: bigint;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  errors: string[];
  dbSizeInUse: number;
  isLearner: boolean;
}

/** etcd's AlarmType by number: 0 NONE, 1 NOSPACE, 2 CORRUPT. */
export const ALARM_NAMES = ['NONE', 'NOSPACE', 'CORRUPT'] as const;

export interface AlarmMember {
  memberID: bigint;
  /** 0 NONE, 1 NOSPACE, 2 CORRUPT (ALARM_NAMES). */
  alarm: number;
}

/** etcd 3.4 answers alarms with no header. */
export interface AlarmResponse {
  alarms: AlarmMember[];
}

/** One member's hash of its key-value history (`endpoint hashkv`), with the endpoint that gave it. */
export interface EndpointHashKV {
  endpoint: string;
  header: ResponseHeader;
  hash: number;
  /** -1 when nothing was compacted. */
  compact_revision: number;
}

/** A status answer with the endpoint that gave it (for `endpoint status`). */
export interface EndpointStatus extends StatusResponse {
  endpoint: string;
}

/** What `GET /health` said, for `endpoint health`. */
export interface EndpointHealth {
  endpoint: string;
  health: boolean;
  /** Milliseconds the check took. */
  took: number;
  /** Why it is unhealthy (an HTTP status, a connection error). */
  error?: string;
}

export interface MoveLeaderResponse {
  header: ResponseHeader;
}

/** One message of a watch: the events of one or more revisions (or a progress notification). */
export interface WatchResponse {
  header: ResponseHeader;
  events: Event[];
  /** A progress notification (no events): every event up to header.revision was delivered. */
  progressNotify: boolean;
}
