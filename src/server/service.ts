// The one typed API every front end serves (the JSON gateway, the WebSocket watch, later gRPC).
// Implemented by the member (etcd-server.ts): writes go through Raft, linearizable reads through
// ReadIndex, and errors are EtcdErrors (src/util/errors.ts) that the front end maps to status codes.
import type * as api from '../kv/api.js';

/** One watch stream: a /v3/watch request or a WebSocket connection. */
export interface WatchSession {
  /** Handles one create, cancel or progress request; answers arrive through the session's sink. */
  handle(req: api.WatchRequest): void;
  /** The client went away: cancel every watch of this stream. */
  close(): void;
}

/** Receives the stream's responses in order; a returned promise tells the producer to wait (backpressure). */
export type WatchSink = (resp: api.WatchResponse) => void | Promise<void>;

export interface KvService {
  range(req: api.RangeRequest): Promise<api.RangeResponse>;
  put(req: api.PutRequest): Promise<api.PutResponse>;
  deleteRange(req: api.DeleteRangeRequest): Promise<api.DeleteRangeResponse>;
  txn(req: api.TxnRequest): Promise<api.TxnResponse>;
  compact(req: api.CompactionRequest): Promise<api.CompactionResponse>;

  leaseGrant(req: api.LeaseGrantRequest): Promise<api.LeaseGrantResponse>;
  leaseRevoke(req: api.LeaseRevokeRequest): Promise<api.LeaseRevokeResponse>;
  leaseKeepAlive(req: api.LeaseKeepAliveRequest): Promise<api.LeaseKeepAliveResponse>;
  leaseTimeToLive(req: api.LeaseTimeToLiveRequest): Promise<api.LeaseTimeToLiveResponse>;
  leaseLeases(): Promise<api.LeaseLeasesResponse>;

  openWatch(sink: WatchSink): WatchSession;

  memberList(): Promise<api.MemberListResponse>;
  memberAdd(req: api.MemberAddRequest): Promise<api.MemberAddResponse>;
  memberRemove(req: { ID: number }): Promise<api.MemberRemoveResponse>;
  memberPromote(req: { ID: number }): Promise<api.MemberListResponse>;

  status(): Promise<api.StatusResponse>;
  transferLeadership(req: { targetID: number }): Promise<{ header: api.ResponseHeader }>;
  /** etcd's Alarm: GET lists the alarms raised; ACTIVATE and DEACTIVATE go through the log. */
  alarm(req: api.AlarmRequest): Promise<api.AlarmResponse>;
  /** etcd's HashKV: this member's hash of the key-value history up to a revision (history-hash.ts). */
  hashKV(req: api.HashKVRequest): Promise<api.HashKVResponse>;
  /** etcd's Hash: kvd's is the HashKV of the current revision (it has no one database file to hash). */
  hash(): Promise<api.HashResponse>;
  /** etcd's Defragment: this member's database files rewritten, to give deleted space back (etcd answers `{}`). */
  defragment(): Promise<void>;
  /** A consistent copy of the state machine, as etcd's maintenance/snapshot streams it (for backups). */
  snapshot(): AsyncIterable<Uint8Array>;

  /** etcd's /health: healthy when this member has a leader and can serve a linearizable read. */
  health(): Promise<{ health: boolean; reason?: string }>;
  version(): { etcdserver: string; etcdcluster: string };
  /** Prometheus text exposition of every metric. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** A unary request was answered (method as `kv/put`, its gRPC code, the time it took). */
  observeRequest?(method: string, code: number, seconds: number): void;
}
