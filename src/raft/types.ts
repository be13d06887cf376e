// The data the Raft core exchanges with its runtime: log entries, durable state, snapshots and
// peer messages. Plain objects of numbers and byte arrays, so that the transport and the storage
// can encode them with msgpackr without a schema.

/** Member ids are positive integers below 2^53 (0 means "none"). */
export type NodeId = number;
export const NONE: NodeId = 0;

export enum EntryType {
  Normal = 0,
  /** data is an encoded ConfChange (see confchange.ts). */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Opaque to the core. An empty array is the leader's no-op entry. */
  data: Uint8Array;
}

/** What must be on disk before any message that depends on it leaves the node. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

/** The membership: voters decide; learners only receive the log. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** The application's serialized state machine at meta.index. */
  data: Uint8Array;
  /**
   * Only on a Snap message being sent: the data as consecutive pieces (then `data` is empty), so
   * that a large state is sent without first being copied into one buffer (a 300 MB copy held
   * the leader's thread for over a second). Receivers always get `data`.
   */
  pieces?: readonly Uint8Array[];
}

export enum MessageType {
  // Local messages: never sent over the network.
  Hup = 0, // start an election (pre-vote first when PreVote is on)
  Beat = 1, // leader: send heartbeats now
  Prop = 2, // a proposal; followers forward it to the leader
  CheckQuorum = 3, // leader: step down unless a quorum was heard from recently
  Unreachable = 4, // the runtime could not reach msg.from
  SnapStatus = 5, // the runtime reports how sending a snapshot to msg.from went (reject = failed)
  // Network messages.
  App = 10,
  AppResp = 11,
  Vote = 12,
  VoteResp = 13,
  PreVote = 14,
  PreVoteResp = 15,
  Snap = 16,
  Heartbeat = 17,
  HeartbeatResp = 18,
  TransferLeader = 19,
  TimeoutNow = 20,
  ReadIndex = 21,
  ReadIndexResp = 22,
  /**
   * Back to the member that forwarded a proposal: these entries were not appended and never will be
   * (the leader is transferring leadership or was removed; the member reached is a candidate or knows
   * no leader). The proposer may send them again without risk of applying them twice. Termless.
   */
  PropDropped = 23,
}

export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  /**
   * App: term of the entry before `entries`; Vote/PreVote: term of the candidate's last entry;
   * AppResp reject: term of the follower's entry at rejectHint (0 if none); ReadIndex sent by a
   * follower: the term it was in when it asked (0 from older members: not counted).
   */
  logTerm: number;
  /**
   * App: index of the entry before `entries`; Vote: candidate's last index; AppResp: match/rejected
   * index; ReadIndexResp: the read index; ReadIndex sent by a follower: the latest read stamp its
   * leader sent it in this term (0: none).
   */
  index: number;
  entries: Entry[];
  /**
   * App/Heartbeat: the leader's commit index; ReadIndexResp: the read stamp, the context of the
   * last read queued at the leader when it answered (0: none).
   */
  commit: number;
  snapshot?: Snapshot;
  reject: boolean;
  /** AppResp reject: the follower's guess of where the logs may agree (fast backtracking). */
  rejectHint: number;
  /**
   * Heartbeat/HeartbeatResp/ReadIndex/ReadIndexResp: the read request's id (0 = none).
   * Vote/PreVote: CAMPAIGN_TRANSFER when the election was asked for by a leadership transfer.
   */
  context: number;
}

export const CAMPAIGN_TRANSFER = 1;

export enum Role {
  Follower = 0,
  PreCandidate = 1,
  Candidate = 2,
  Leader = 3,
}

/** A linearizable read: the state machine may serve request `context` once it has applied `index`. */
export interface ReadState {
  index: number;
  context: number;
}

/** Volatile state the runtime may want to observe; included in a Ready when it changed. */
export interface SoftState {
  leader: NodeId;
  role: Role;
}

/**
 * One batch of work for the runtime. Handle it in this order:
 *  1. persist `hardState`, `entries` and `snapshot` (one synced write for all of them);
 *  2. send `messages` (some of them, e.g. vote and append responses, promise what was persisted);
 *  3. install `snapshot` into the state machine, then apply `committedEntries` in order;
 *  4. call `advance(ready)`.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  /** Entries to append to stable storage; an entry with an index already on disk replaces it and all after it. */
  entries: Entry[];
  snapshot?: Snapshot;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
  /** True when hardState or entries must be synced before messages are sent. */
  mustSync: boolean;
}

export function emptyMessage(type: MessageType, to: NodeId, from: NodeId, term: number): Message {
  return { type, to, from, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: 0 };
}

/** Messages that never leave the node. (Prop is not one: followers forward proposals.) */
export function isLocalMessage(type: MessageType): boolean {
  return type < MessageType.App && type !== MessageType.Prop;
}

export function isResponseMessage(type: MessageType): boolean {
  return (
    type === MessageType.AppResp ||
    type === MessageType.VoteResp ||
    type === MessageType.PreVoteResp ||
    type === MessageType.HeartbeatResp ||
    type === MessageType.ReadIndexResp ||
    type === MessageType.Unreachable
  );
}

export enum ConfChangeType {
  AddVoter = 0, // also promotes a learner
  AddLearner = 1,
  RemoveNode = 2,
}

/** One membership change. It takes effect on every node as soon as its entry is in that node's log. */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to the core: the runtime puts the member's peer URL and name here. */
  context: Uint8Array;
}
