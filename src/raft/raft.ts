// The Raft consensus core: a deterministic state machine in the style of etcd-io/raft. It does no
// I/O, keeps no clock and draws no randomness of its own: the runtime feeds it ticks, messages and
// proposals, and collects its decisions as Ready batches (see types.ts for the order in which a
// Ready must be handled).
import { confChangeProblem, decodeConfChange, EMPTY_CONF_STATE, encodeConfChange } from './confchange.js';
import { ProposalDroppedError } from './errors.js';
import { RaftLog } from './log.js';
import { Membership } from './membership.js';
import { Progress, ProgressState } from './progress.js';
import { committedIndex, isQuorum, VoteResult, voteResult } from './quorum.js';
import { ReadOnly } from './read-only.js';
import {
  CAMPAIGN_TRANSFER,
  ConfChangeType,
  EntryType,
  MessageType,
  NONE,
  Role,
  emptyMessage,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type ReadState,
  type Snapshot,
  type SnapshotMeta,
  type SoftState,
} from './types.js';

export interface RaftConfig {
  id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns (randomized in [n, 2n)). */
  electionTick: number;
  /** Ticks between a leader's heartbeats. */
  heartbeatTick: number;
  /** A seeded source of [0, 1) numbers; the only randomness the core uses. */
  random: () => number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Upper bound of entry bytes in one append message (at least one entry is always sent). */
  maxSizePerMsg?: number;
  /** Append messages in flight to one follower before the leader waits for acknowledgements. */
  maxInflightMsgs?: number;
  /**
   * Deliberate rule violations, for proving that the simulator catches them. Never set outside
   * tests.
   */
  unsafeBugs?: {
    commitOldTermByCounting?: boolean;
    grantVoteToShorterLog?: boolean;
    skipPreVoteLeaseCheck?: boolean;
    /** A heartbeat round confirms the reads that arrived after it was sent, too. */
    confirmLaterReads?: boolean;
    /** A follower's read request, which vouches for the reads it carries, confirms reads queued before it too. */
    vouchForEarlierReads?: boolean;
    /** A follower's echo of the leader's read stamp confirms the leader's reads queued after the stamp was sent, too. */
    echoConfirmsLaterReads?: boolean;
  };
}

export interface RaftInitialState {
  hardState: HardState;
  snapshot?: Snapshot;
  /** Persisted entries; they may start below the snapshot (a kept tail) but must reach past it to be used. */
  entries: Entry[];
  /** The index the state machine has applied; committed entries after it are delivered again. */
  applied: number;
}

export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  lead: NodeId;
  role: Role;
  lastIndex: number;
  firstIndex: number;
  confState: ConfState;
  leadTransferee: NodeId;
}

/** The entries every member of a new cluster starts with: one AddVoter per initial member, at term 1. */
export function bootstrapEntries(peers: readonly NodeId[], contexts?: ReadonlyMap<NodeId, Uint8Array>): Entry[] {
  return [...peers]
    .sort((a, b) => a - b)
    .map((nodeId, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({ type: ConfChangeType.AddVoter, nodeId, context: contexts?.get(nodeId) ?? new Uint8Array(0) }),
    }));
}

const enum CampaignType {
  PreElection,
  Election,
  Transfer,
}

const DEFAULT_MAX_SIZE_PER_MSG = 1024 * 1024;
const DEFAULT_MAX_INFLIGHT = 256;

export class RaftCore {
  readonly id: NodeId;
  private term: number;
  private vote: NodeId;
  private lead: NodeId = NONE;
  private role: Role = Role.Follower;
  private readonly log: RaftLog;
  private readonly membership: Membership;
  private prs = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();

  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private randomizedElectionTimeout = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** Ticks since this node became leader: the clock of the followers' lastActiveTick. */
  private leaderTicks = 0;
  private readonly random: () => number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxSizePerMsg: number;
  private readonly maxInflight: number;
  private readonly bugs: NonNullable<RaftConfig['unsafeBugs']>;

  private leadTransferee: NodeId = NONE;
  /**
   * Set by forgetLeader and when the election timer fires (either way the leader is gone), cleared
   * once a leader is known again (see resetRandomizedElectionTimeout). Two members that lost the
   * leader at about the same moment can split their votes (each grants the other's pre-vote while
   * it is a pre-candidate itself, then both become candidates of one term and vote for
   * themselves); without this each candidate then waited a whole randomized election timeout
   * more, 1-2 s with the defaults, on top of the timeout that detected the loss. A member whose
   * pre-vote fails (it alone lost the leader: a partition) never becomes a candidate, so it keeps
   * the whole timeout.
   */
  private leaderLost = false;
  private readonly readOnly = new ReadOnly();
  /** Reads that reached a new leader before it committed an entry of its term. */
  private pendingReadIndexMessages: Message[] = [];
  /**
   * Leader: the tick (leaderTicks) at which each voter's read request in our term last arrived, and
   * the context of the last own read whose heartbeat round waits for followers' echoes (0: none).
   */
  private readonly followerReadTicks = new Map<NodeId, number>();
  private deferredReadContext = 0;
  /** Follower: the latest read stamp our leader put on a ReadIndexResp in this term (0: none). */
  private leaderReadStamp = 0;

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private readyOutstanding = false;

  constructor(config: RaftConfig, state: RaftInitialState) {
    if (!(config.id > 0)) throw new Error('raft: node id must be a positive number');
    if (config.heartbeatTick <= 0 || config.electionTick <= config.heartbeatTick) {
      throw new Error('raft: electionTick must be greater than heartbeatTick, and both positive');
    }
    this.id = config.id;
    this.electionTimeout = config.electionTick;
    this.heartbeatTimeout = config.heartbeatTick;
    this.random = config.random;
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxSizePerMsg = config.maxSizePerMsg ?? DEFAULT_MAX_SIZE_PER_MSG;
    this.maxInflight = config.maxInflightMsgs ?? DEFAULT_MAX_INFLIGHT;
    this.bugs = config.unsafeBugs ?? {};
    this.readOnly.confirmLaterReads = this.bugs.confirmLaterReads === true;

    const hs = state.hardState;
    this.term = hs.term;
    this.vote = hs.vote;
    this.log = new RaftLog(state.snapshot, state.entries, hs.commit, state.applied);
    const snap = state.snapshot;
    this.membership = new Membership(snap?.meta.confState ?? EMPTY_CONF_STATE, snap?.meta.index ?? 0);
    const fromLog: Entry[] = [];
    for (let i = Math.max(this.log.firstIndex(), (snap?.meta.index ?? 0) + 1); i <= this.log.lastIndex(); i++) {
      fromLog.push(this.log.entryAt(i)!);
    }
    this.membership.onAppend(fromLog);
    // Every append, ours or a leader's, goes through the log: the membership follows it there.
    this.log.onAppend = (ents) => this.onLogAppended(ents);
    this.prevHardState = { term: this.term, vote: this.vote, commit: this.log.committed };
    this.prevSoftState = { leader: NONE, role: Role.Follower };
    this.becomeFollower(this.term, NONE);
  }

  // ---- Inputs ---------------------------------------------------------------------------------

  tick(): void {
    if (this.role === Role.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  step(m: Message): void {
    if (m.term === 0 && !isTermless(m.type)) return; // only local and forwarded requests lack a term
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context === CAMPAIGN_TRANSFER;
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        // A node that hears from a live leader ignores elections: this is what keeps a member
        // that was partitioned away (or removed) from deposing a healthy leader.
        if (!force && inLease && !this.bugs.skipPreVoteLeaseCheck) return;
      }
      if (m.type === MessageType.PreVote) {
        // Pre-votes never change our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The higher term is the one we asked for; we will take it when we campaign for real.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term && m.term !== 0) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader: tell it our term so that it steps down. Without this, a node that
        // campaigned while partitioned could never rejoin (its term is ahead of the leader's, and
        // with pre-vote on nobody adopts its term).
        this.send({ ...emptyMessage(MessageType.AppResp, m.from, this.id, this.term) });
      } else if (m.type === MessageType.PreVote) {
        this.send({ ...emptyMessage(MessageType.PreVoteResp, m.from, this.id, this.term), reject: true });
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.preVote ? CampaignType.PreElection : CampaignType.Election);
        return;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return;
      case MessageType.PropDropped:
        return; // the runtime's business: RaftNode resends its own proposals
      default:
        if (this.role === Role.Leader) this.stepLeader(m);
        else if (this.role === Role.Follower) this.stepFollower(m);
        else this.stepCandidate(m);
    }
  }

  propose(data: Uint8Array[]): void {
    if (data.length === 0) return;
    const entries = data.map((d) => ({ term: 0, index: 0, type: EntryType.Normal, data: d }));
    this.stepProposal(entries);
  }

  proposeConfChange(cc: ConfChange): void {
    this.stepProposal([{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }]);
  }

  readIndex(context: number): void {
    const m = { ...emptyMessage(MessageType.ReadIndex, NONE, this.id, 0), context };
    if (this.role === Role.Leader) {
      this.stepLeader(m);
    } else if (this.role === Role.Follower && this.lead !== NONE) {
      // The term we are in now, after the reads of this round arrived, goes with the request: the
      // leader may count it as our answer to a heartbeat of that term (leaderReadIndex). So does
      // the latest read stamp it sent us, for its own reads queued before it (leaderReadEcho).
      this.send({ ...m, to: this.lead, logTerm: this.term, index: this.leaderReadStamp });
    } else {
      throw new ProposalDroppedError('no leader to serve a linearizable read');
    }
  }

  transferLeader(to: NodeId): void {
    const m = { ...emptyMessage(MessageType.TransferLeader, this.id, to, 0) };
    if (this.role === Role.Leader) this.stepLeader(m);
    else if (this.lead !== NONE) this.send({ ...m, to: this.lead, term: 0 });
  }

  /**
   * The runtime lost its connection to the leader. Forget it, so that this node grants other
   * members' pre-votes, and campaign after a short random delay instead of a whole election
   * timeout. A healthy leader is safe: members still hearing from it refuse the pre-vote.
   */
  forgetLeader(): void {
    if (this.role !== Role.Follower || this.lead === NONE) return;
    this.lead = NONE;
    this.leaderLost = true;
    this.electionElapsed = 0;
    this.randomizedElectionTimeout = 1 + Math.floor(this.random() * this.quarterElectionTimeout());
  }

  campaign(): void {
    this.step(emptyMessage(MessageType.Hup, this.id, this.id, 0));
  }

  reportUnreachable(id: NodeId): void {
    if (this.role !== Role.Leader) return;
    const pr = this.prs.get(id);
    if (pr && pr.state === ProgressState.Replicate) pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    if (this.role !== Role.Leader) return;
    const pr = this.prs.get(id);
    if (!pr || pr.state !== ProgressState.Snapshot) return;
    if (!ok) pr.pendingSnapshot = 0;
    // Either way, wait for the follower's answer (or the next heartbeat) before sending more.
    pr.becomeProbe();
    pr.probeSent = true;
  }

  // ---- Ready ----------------------------------------------------------------------------------

  hasReady(): boolean {
    if (this.readyOutstanding) return false;
    const ss = this.softState();
    const hs = this.hardState();
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.log.stableIndex < this.log.lastIndex() ||
      (this.log.pendingSnapshot !== undefined && !this.log.pendingSnapshotHandedOut) ||
      this.log.hasNextCommittedEntries() ||
      ss.leader !== this.prevSoftState.leader ||
      ss.role !== this.prevSoftState.role ||
      !sameHardState(hs, this.prevHardState)
    );
  }

  ready(): Ready {
    if (this.readyOutstanding) throw new Error('raft: ready() called again before advance()');
    this.readyOutstanding = true;
    const entries = this.log.unstableEntries();
    const rd: Ready = {
      entries,
      committedEntries: this.log.nextCommittedEntries(),
      messages: this.msgs,
      readStates: this.readStates,
      mustSync: entries.length > 0,
    };
    const ss = this.softState();
    if (ss.leader !== this.prevSoftState.leader || ss.role !== this.prevSoftState.role) {
      rd.softState = ss;
      this.prevSoftState = ss;
    }
    const hs = this.hardState();
    if (!sameHardState(hs, this.prevHardState)) {
      rd.hardState = hs;
      if (hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote) rd.mustSync = true;
      this.prevHardState = hs;
    }
    if (this.log.pendingSnapshot && !this.log.pendingSnapshotHandedOut) {
      rd.snapshot = this.log.pendingSnapshot;
      this.log.pendingSnapshotHandedOut = true;
      rd.mustSync = true;
    }
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted) this.log.applying = lastCommitted.index;
    this.msgs = [];
    this.readStates = [];
    return rd;
  }

  advance(rd: Ready): void {
    this.readyOutstanding = false;
    if (rd.snapshot && this.log.pendingSnapshot === rd.snapshot) {
      this.log.pendingSnapshot = undefined;
      this.log.pendingSnapshotHandedOut = false;
      this.log.applied = Math.max(this.log.applied, rd.snapshot.meta.index);
      this.log.applying = Math.max(this.log.applying, rd.snapshot.meta.index);
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) this.log.stableTo(last.index, last.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied) this.log.applied = Math.max(this.log.applied, lastApplied.index);
    if (this.role === Role.Leader) {
      // The leader counts its own copy only once it is on disk.
      const self = this.prs.get(this.id);
      if (self) self.maybeUpdate(this.log.stableIndex);
      if (this.maybeCommit()) this.afterCommit();
    }
  }

  /**
   * The application took a snapshot of its state at `index` (default: the applied index; an
   * earlier one when the snapshot was read while more entries were applied). Entries up to
   * `index - keepEntries` are dropped from the log (kept entries let slow followers catch up
   * without a snapshot). Returns the snapshot, for the runtime to persist.
   */
  compact(data: Uint8Array, keepEntries: number, index = this.log.applied): Snapshot {
    if (index > this.log.applied) throw new Error(`raft: cannot snapshot at ${index}: only ${this.log.applied} is applied`);
    const newest = this.log.snapshot?.meta.index ?? 0;
    if (index <= newest) throw new Error(`raft: cannot snapshot at ${index}: the log has a snapshot at ${newest}`);
    const term = this.log.term(index);
    if (term === undefined) throw new Error(`raft: cannot snapshot at ${index}: the entry was compacted`);
    const snapshot: Snapshot = { meta: { index, term, confState: this.membership.at(index) }, data };
    const compactTo = Math.max(0, index - Math.max(0, keepEntries));
    this.log.compact(snapshot, compactTo);
    this.membership.compact(this.log.firstIndex() - 1);
    return snapshot;
  }

  /**
   * The metadata of a snapshot at applied index `index`, without compacting anything: for a
   * runtime whose state machine keeps its state itself and serializes it only when a follower
   * needs it (at its applied index then, which is at or past the log's snapshot).
   */
  snapshotMeta(index: number): SnapshotMeta {
    if (index > this.log.applied) throw new Error(`raft: cannot snapshot at ${index}: only ${this.log.applied} is applied`);
    const term = this.log.term(index);
    if (term === undefined) throw new Error(`raft: cannot snapshot at ${index}: the entry was compacted`);
    return { index, term, confState: this.membership.at(index) };
  }

  status(): RaftStatus {
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lead: this.lead,
      role: this.role,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      confState: this.membership.current(),
      leadTransferee: this.leadTransferee,
    };
  }

  entryAt(index: number): Entry | undefined {
    return this.log.entryAt(index);
  }

  /** The leader's view of each member's replication (undefined on other roles). */
  progress(): Map<NodeId, { match: number; next: number; state: ProgressState }> | undefined {
    if (this.role !== Role.Leader) return undefined;
    const out = new Map<NodeId, { match: number; next: number; state: ProgressState }>();
    for (const [id, pr] of this.prs) out.set(id, { match: pr.match, next: pr.next, state: pr.state });
    return out;
  }

  // ---- Roles ----------------------------------------------------------------------------------

  private softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NONE;
    this.votes = new Map();
    this.readOnly.reset();
    this.pendingReadIndexMessages = [];
    this.followerReadTicks.clear();
    this.deferredReadContext = 0;
    this.leaderReadStamp = 0;
    this.rebuildProgress(true);
  }

  private rebuildProgress(resetAll: boolean): void {
    const cs = this.membership.current();
    const next = new Map<NodeId, Progress>();
    for (const id of [...cs.voters, ...cs.learners]) {
      const isLearner = cs.learners.includes(id);
      let pr = resetAll ? undefined : this.prs.get(id);
      if (!pr) {
        pr = new Progress(this.log.lastIndex() + 1, this.maxInflight, isLearner);
        pr.lastActiveTick = this.leaderTicks;
        if (id === this.id) {
          pr.match = this.log.stableIndex;
          pr.next = this.log.lastIndex() + 1;
        }
      }
      pr.isLearner = isLearner;
      next.set(id, pr);
    }
    this.prs = next;
  }

  private quarterElectionTimeout(): number {
    return Math.max(1, Math.floor(this.electionTimeout / 4));
  }

  /**
   * [n, 2n) ticks; [n/4, n/2) while the leader is known to be lost (leaderLost) and pre-vote is on,
   * so that a split vote after the leader was lost is retried well within one election timeout. Not
   * shorter: a candidate must have time to persist its vote and hear the answers before it starts
   * over in a higher term. Not without pre-vote: there a member with a stale log, which cannot
   * win, would campaign this often and, bumping everyone's term, keep resetting their timers.
   */
  private resetRandomizedElectionTimeout(): void {
    const q = this.quarterElectionTimeout();
    this.randomizedElectionTimeout =
      this.leaderLost && this.preVote
        ? q + Math.floor(this.random() * q)
        : this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
  }

  /** A follower heard from `lead`: back to the whole election timeout if it was cut short. */
  private heardFromLeader(lead: NodeId): void {
    this.electionElapsed = 0;
    this.lead = lead;
    if (this.leaderLost) {
      this.leaderLost = false;
      this.resetRandomizedElectionTimeout();
    }
  }

  private becomeFollower(term: number, lead: NodeId): void {
    if (lead !== NONE) this.leaderLost = false;
    this.reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  private becomePreCandidate(): void {
    // Pre-candidacy changes neither the term nor the vote: that is the point of it.
    this.role = Role.PreCandidate;
    this.votes = new Map();
    this.lead = NONE;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  private becomeLeader(): void {
    this.leaderTicks = 0;
    this.leaderLost = false;
    this.reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    const self = this.prs.get(this.id);
    if (self) self.becomeReplicate();
    // An entry of our own term: committing it commits everything before it (§5.4.2), and it lets
    // reads and membership changes proceed.
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
  }

  private promotable(): boolean {
    return this.membership.current().voters.includes(this.id) && !this.log.pendingSnapshot;
  }

  private hup(t: CampaignType): void {
    if (this.role === Role.Leader) return;
    if (!this.promotable()) return;
    this.campaignAs(t);
  }

  private campaignAs(t: CampaignType): void {
    let term: number;
    let type: MessageType;
    if (t === CampaignType.PreElection) {
      this.becomePreCandidate();
      type = MessageType.PreVote;
      term = this.term + 1; // the term we would campaign in
    } else {
      this.becomeCandidate();
      type = MessageType.Vote;
      term = this.term;
    }
    this.votes.set(this.id, true);
    const res = voteResult(this.membership.current().voters, this.votes);
    if (res === VoteResult.Won) {
      if (t === CampaignType.PreElection) this.campaignAs(CampaignType.Election);
      else this.becomeLeader();
      return;
    }
    for (const id of this.membership.current().voters) {
      if (id === this.id) continue;
      this.send({
        ...emptyMessage(type, id, this.id, term),
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: t === CampaignType.Transfer ? CAMPAIGN_TRANSFER : 0,
      });
    }
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    const upToDate = this.bugs.grantVoteToShorterLog || this.log.isUpToDate(m.index, m.logTerm);
    const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
    if (canVote && upToDate) {
      // Answer with the term of the request: for a pre-vote ours may be lower, and a candidate
      // ignores answers from older terms.
      this.send(emptyMessage(respType, m.from, this.id, m.term));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ ...emptyMessage(respType, m.from, this.id, this.term), reject: true });
    }
  }

  // ---- Timers ---------------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.leaderLost = true;
      this.step(emptyMessage(MessageType.Hup, this.id, this.id, 0));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    this.leaderTicks++;
    // Checked on every tick, so that a leader cut off from a majority steps down exactly one
    // election timeout after it last heard from one (not up to two, as with periodic rounds).
    if (this.checkQuorum) this.stepLeader(emptyMessage(MessageType.CheckQuorum, this.id, this.id, 0));
    if (this.role !== Role.Leader) return;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE; // the transfer timed out
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(0);
    }
    // Own reads that waited for followers' echoes and are still pending get their heartbeat round
    // now (the last one deferred is queued after the others, so it is pending if any is).
    if (this.deferredReadContext !== 0) {
      const pending = this.readOnly.has(this.deferredReadContext);
      this.deferredReadContext = 0;
      const last = this.readOnly.lastPendingContext();
      if (pending && last !== undefined) this.bcastHeartbeat(last);
    }
  }

  // ---- Leader ---------------------------------------------------------------------------------

  private stepProposal(entries: Entry[]): void {
    if (this.role === Role.Leader) {
      this.leaderPropose(entries, this.id);
    } else if (this.role === Role.Follower && this.lead !== NONE) {
      this.send({ ...emptyMessage(MessageType.Prop, this.lead, this.id, 0), entries });
    } else {
      throw new ProposalDroppedError('no leader');
    }
  }

  private leaderPropose(entries: Entry[], from: NodeId): void {
    if (!this.prs.has(this.id)) {
      if (from === this.id) throw new ProposalDroppedError('this member was removed from the cluster');
      this.refuseForwarded(entries, from);
      return;
    }
    if (this.leadTransferee !== NONE) {
      if (from === this.id) throw new ProposalDroppedError(`leadership is being transferred to ${this.leadTransferee}`);
      this.refuseForwarded(entries, from);
      return;
    }
    const accepted: Entry[] = [];
    for (const e of entries) {
      if (e.type === EntryType.ConfChange) {
        const problem = this.confChangeProblem(e);
        if (problem !== undefined) {
          if (from === this.id) throw new ProposalDroppedError(problem);
          continue;
        }
      }
      accepted.push({ term: 0, index: 0, type: e.type, data: e.data });
    }
    if (accepted.length === 0) return;
    this.appendEntries(accepted);
    this.bcastAppend();
  }

  /**
   * One membership change at a time: the previous one must be committed, and this leader must
   * have committed an entry of its own term (the fix to single-server changes from the Raft
   * mailing list, 2015), so that configurations of different leaders never overlap badly.
   */
  private confChangeProblem(e: Entry): string | undefined {
    if (this.membership.lastChangeIndex() > this.log.committed) return 'a membership change is already in progress';
    if (this.log.term(this.log.committed) !== this.term) return 'the new leader has not committed an entry of its term yet';
    const cc = decodeConfChangeSafe(e.data);
    if (cc === undefined) return 'malformed membership change';
    return confChangeProblem(this.membership.current(), cc);
  }

  /**
   * A forwarded proposal that this member drops: say so to the member that proposed it, so that it
   * can send it again (to the next leader) at once instead of waiting for its deadline. Dropping is
   * final (the entries are neither appended nor forwarded further), which is what makes resending safe.
   */
  private refuseForwarded(entries: Entry[], from: NodeId): void {
    if (from === this.id || from === NONE) return;
    const normal = entries.filter((e) => e.type === EntryType.Normal);
    if (normal.length) this.send({ ...emptyMessage(MessageType.PropDropped, from, this.id, 0), entries: normal });
  }

  private appendEntries(entries: Entry[]): void {
    let index = this.log.lastIndex();
    const withIndex = entries.map((e) => ({ ...e, term: this.term, index: ++index }));
    this.appendToLog(withIndex);
  }

  private appendToLog(entries: Entry[]): void {
    this.log.append(entries);
  }

  private onLogAppended(entries: Entry[]): void {
    if (this.membership.onAppend(entries)) this.onConfigChanged();
  }

  private onConfigChanged(): void {
    this.rebuildProgress(false);
    if (this.role !== Role.Leader) return;
    if (this.leadTransferee !== NONE && !this.prs.has(this.leadTransferee)) this.leadTransferee = NONE;
    if (this.maybeCommit()) this.afterCommit();
  }

  private maybeCommit(): boolean {
    const cs = this.membership.current();
    const idx = committedIndex(cs.voters, (id) => this.prs.get(id)?.match ?? 0);
    if (idx <= this.log.committed) return false;
    // Figure 8: only an entry of the current term is committed by counting replicas.
    if (this.log.term(idx) !== this.term && !this.bugs.commitOldTermByCounting) return false;
    this.log.commitTo(idx);
    return true;
  }

  private afterCommit(): void {
    if (this.log.term(this.log.committed) === this.term && this.pendingReadIndexMessages.length > 0) {
      const pending = this.pendingReadIndexMessages;
      this.pendingReadIndexMessages = [];
      for (const m of pending) this.stepLeader(m);
    }
    if (!this.membership.current().voters.includes(this.id) && this.membership.lastChangeIndex() <= this.log.committed) {
      this.stepDownAfterRemoval();
      return;
    }
    this.bcastAppend();
  }

  /**
   * The change that removed this leader is committed: hand over to the most caught-up voter at
   * once (rather than leaving the cluster leaderless for an election timeout), then step down.
   */
  private stepDownAfterRemoval(): void {
    this.bcastAppend();
    let best: NodeId = NONE;
    let bestMatch = -1;
    for (const id of this.membership.current().voters) {
      const pr = this.prs.get(id);
      if (pr && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best !== NONE && bestMatch === this.log.lastIndex()) this.send(emptyMessage(MessageType.TimeoutNow, best, this.id, this.term));
    this.becomeFollower(this.term, NONE);
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private bcastHeartbeat(context: number): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendHeartbeat(id, context);
  }

  private sendHeartbeat(to: NodeId, context: number): void {
    const pr = this.prs.get(to)!;
    // Never tell a follower to commit past what it is known to hold.
    const commit = Math.min(pr.match, this.log.committed);
    this.send({ ...emptyMessage(MessageType.Heartbeat, to, this.id, this.term), commit, context });
  }

  /** Sends the next append (or a snapshot) to `to`; returns whether a message went out. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = prevTerm === undefined ? undefined : this.log.slice(pr.next, this.log.lastIndex() + 1, this.maxSizePerMsg);
    if (prevTerm === undefined || ents === undefined) return this.sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({
      ...emptyMessage(MessageType.App, to, this.id, this.term),
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    });
    if (ents.length > 0 && pr.state === ProgressState.Replicate) {
      const last = ents[ents.length - 1]!.index;
      pr.optimisticUpdate(last);
      pr.inflights.add(last);
    } else if (pr.state === ProgressState.Probe) {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    const snap = this.log.snapshot;
    if (!this.recentlyActive(pr) || !snap) return false;
    this.send({ ...emptyMessage(MessageType.Snap, to, this.id, this.term), snapshot: snap });
    pr.becomeSnapshot(snap.meta.index);
    return true;
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(emptyMessage(MessageType.TimeoutNow, to, this.id, this.term));
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat(0);
        return;
      case MessageType.CheckQuorum:
        if (!this.quorumActive()) this.becomeFollower(this.term, NONE);
        return;
      case MessageType.Prop:
        this.leaderPropose(m.entries, m.from);
        return;
      case MessageType.ReadIndex:
        this.leaderReadIndex(m);
        return;
      case MessageType.TransferLeader:
        this.leaderTransfer(m.from);
        return;
    }

    const pr = this.prs.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp:
        pr.lastActiveTick = this.leaderTicks;
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp:
        pr.lastActiveTick = this.leaderTicks;
        pr.probeSent = false;
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        if (m.context !== 0) this.handleReadAck(m);
        return;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    if (m.reject) {
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm);
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index)) {
      if (pr.state === ProgressState.Probe) pr.becomeReplicate();
      else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.Replicate) pr.inflights.freeLE(m.index);
      if (this.maybeCommit()) {
        this.afterCommit();
        if (this.role !== Role.Leader) return;
      } else if (wasPaused) {
        this.sendAppend(m.from, true);
      }
      while (this.prs.has(m.from) && this.sendAppend(m.from, false)) {
        /* keep the pipeline full */
      }
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    }
  }

  private leaderReadIndex(m: Message): void {
    const voters = this.membership.current().voters;
    if (voters.length === 1 && voters[0] === this.id) {
      this.answerRead(m.from, this.log.committed, m.context);
      return;
    }
    if (m.from !== this.id && m.logTerm === this.term) {
      if (voters.includes(m.from)) this.followerReadTicks.set(m.from, this.leaderTicks);
      if (m.index !== 0) this.leaderReadEcho(m.from, m.index);
    }
    // Until an entry of this term is committed, our commit index may be behind the true one.
    if (this.log.term(this.log.committed) !== this.term) {
      this.pendingReadIndexMessages.push(m);
      return;
    }
    if (this.vouchedRead(m, voters)) return;
    this.readOnly.add(this.log.committed, m.context, m.from);
    const acks = this.readOnly.recvAck(this.id, m.context);
    if (acks && isQuorum(voters, acks)) {
      for (const r of this.readOnly.advance(m.context)) this.answerRead(r.from, r.index, r.context);
      return;
    }
    // Our own read, while enough followers read too that they and we are a quorum (each one's
    // request came this tick or the last): their next requests will echo a stamp sent after this
    // read was queued, which confirms it as heartbeat answers would (leaderReadEcho), with no frames
    // of its own. What is still pending at the next tick gets its heartbeat round then.
    if (m.from === this.id && this.followersReading(voters)) {
      this.deferredReadContext = m.context;
      return;
    }
    this.bcastHeartbeat(m.context);
  }

  /** Whether we and the voters whose read requests arrived this tick or the last are a quorum. */
  private followersReading(voters: readonly NodeId[]): boolean {
    const reading = new Set<NodeId>([this.id]);
    for (const [id, tick] of this.followerReadTicks) if (this.leaderTicks - tick <= 1) reading.add(id);
    return reading.size > 1 && isQuorum(voters, reading);
  }

  /**
   * A follower's read request sent in our term echoes `stamp`: the last read queued here when we
   * sent it an answer (the stamp of that ReadIndexResp). The follower sent the request after that
   * answer arrived, so after every read queued up to the stamp began, and it was still in our term:
   * exactly what its answer to a heartbeat sent after those reads would tell. It counts as that
   * answer (handleReadAck).
   */
  private leaderReadEcho(from: NodeId, stamp: number): void {
    const context = this.bugs.echoConfirmsLaterReads ? this.readOnly.lastPendingContext() : stamp;
    if (context !== undefined) this.handleReadAck({ from, context });
  }

  /**
   * A voter that asks for a read index in our term vouches that, when it asked, it had not voted
   * in a later one; and it asked after the reads it carries arrived. Any leader newer than us that
   * could have committed a write before those reads began needed a quorum of votes in its term,
   * which every quorum holding us and that voter denies (we are still in our term, the voter was
   * in it after the reads began). So if we and the voter make a quorum (any two of three voters)
   * the read is answered at our commit index without a heartbeat round: one round trip less for a
   * follower's reads and four frames less per round. Only these reads: a read queued before the
   * request arrived may have begun after the voter asked, and needs answers sent after it began
   * (the heartbeat round). Answered (true), or left to the heartbeat round (false).
   */
  private vouchedRead(m: Message, voters: readonly NodeId[]): boolean {
    // A learner is no voter: the pair is then no quorum.
    if (m.from === this.id || m.logTerm !== this.term || !isQuorum(voters, new Set([this.id, m.from]))) return false;
    if (this.bugs.vouchForEarlierReads) {
      this.readOnly.add(this.log.committed, m.context, m.from);
      this.readOnly.recvAck(this.id, m.context);
      this.readOnly.recvAck(m.from, m.context);
      for (const r of this.readOnly.advance(m.context)) this.answerRead(r.from, r.index, r.context);
      return true;
    }
    this.answerRead(m.from, this.log.committed, m.context);
    return true;
  }

  private handleReadAck(m: Pick<Message, 'from' | 'context'>): void {
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (!acks) return;
    if (!isQuorum(this.membership.current().voters, acks)) return;
    for (const r of this.readOnly.advance(m.context)) this.answerRead(r.from, r.index, r.context);
  }

  private answerRead(to: NodeId, index: number, context: number): void {
    if (to === this.id || to === NONE) this.readStates.push({ index, context });
    else {
      // The stamp: every read queued so far began before this answer was sent (leaderReadEcho).
      const commit = this.readOnly.lastPendingContext() ?? 0;
      this.send({ ...emptyMessage(MessageType.ReadIndexResp, to, this.id, this.term), index, context, commit });
    }
  }

  private leaderTransfer(target: NodeId): void {
    const pr = this.prs.get(target);
    if (!pr || pr.isLearner || target === this.id) return;
    if (this.leadTransferee === target) return;
    this.leadTransferee = target;
    // The transfer must finish within an election timeout, or it is abandoned (tickHeartbeat).
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.sendAppend(target, true);
  }

  private recentlyActive(pr: Progress): boolean {
    return this.leaderTicks - pr.lastActiveTick < this.electionTimeout;
  }

  private quorumActive(): boolean {
    const active = new Set<NodeId>();
    for (const [id, pr] of this.prs) if (id === this.id || this.recentlyActive(pr)) active.add(id);
    return isQuorum(this.membership.current().voters, active);
  }

  // ---- Candidate and follower -----------------------------------------------------------------

  private stepCandidate(m: Message): void {
    const myResp = this.role === Role.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        this.refuseForwarded(m.entries, m.from);
        return;
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myResp: {
        this.votes.set(m.from, !m.reject);
        const res = voteResult(this.membership.current().voters, this.votes);
        if (res === VoteResult.Won) {
          if (this.role === Role.PreCandidate) this.campaignAs(CampaignType.Election);
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === VoteResult.Lost) {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead !== NONE) this.send({ ...m, to: this.lead, term: 0 });
        else this.refuseForwarded(m.entries, m.from);
        return;
      case MessageType.App:
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead !== NONE) this.send({ ...m, to: this.lead, term: 0 });
        return;
      case MessageType.TimeoutNow:
        // The leader chose us: campaign at once, skipping the pre-vote and the others' lease.
        if (this.promotable()) this.campaignAs(CampaignType.Transfer);
        return;
      case MessageType.ReadIndex:
        if (this.lead !== NONE) this.send({ ...m, to: this.lead, term: 0 });
        return;
      case MessageType.ReadIndexResp:
        if (m.from === this.lead && m.commit > 0) this.leaderReadStamp = m.commit;
        this.readStates.push({ index: m.index, context: m.context });
        return;
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ ...emptyMessage(MessageType.AppResp, m.from, this.id, this.term), index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew >= 0) {
      this.send({ ...emptyMessage(MessageType.AppResp, m.from, this.id, this.term), index: lastNew });
      return;
    }
    // Reject, with a hint that lets the leader skip a whole divergent term at once.
    const hintIndex = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      ...emptyMessage(MessageType.AppResp, m.from, this.id, this.term),
      index: m.index,
      reject: true,
      rejectHint: hintIndex,
      logTerm: this.log.term(hintIndex) ?? 0,
    });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.send({ ...emptyMessage(MessageType.HeartbeatResp, m.from, this.id, this.term), context: m.context });
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (snap && this.restore(snap)) {
      this.send({ ...emptyMessage(MessageType.AppResp, m.from, this.id, this.term), index: this.log.lastIndex() });
    } else {
      this.send({ ...emptyMessage(MessageType.AppResp, m.from, this.id, this.term), index: this.log.committed });
    }
  }

  private restore(snap: Snapshot): boolean {
    if (snap.meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(snap.meta.index, snap.meta.term)) {
      // We already have the entries the snapshot covers: just learn that they are committed.
      this.log.commitTo(snap.meta.index);
      return false;
    }
    this.log.restore(snap);
    this.membership.reset(snap.meta.confState, snap.meta.index);
    this.rebuildProgress(false);
    return true;
  }

  private send(m: Message): void {
    if (m.type === MessageType.Prop || m.type === MessageType.ReadIndex || m.type === MessageType.TransferLeader) {
      if (m.to === this.id) return;
    }
    if (m.from === NONE) m.from = this.id;
    // Forwarded requests travel without a term; everything else carries ours unless set.
    if (m.term === 0 && m.type !== MessageType.Prop && m.type !== MessageType.ReadIndex && m.type !== MessageType.TransferLeader && m.type !== MessageType.PropDropped) {
      m.term = this.term;
    }
    this.msgs.push(m);
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function decodeConfChangeSafe(data: Uint8Array): ConfChange | undefined {
  try {
    return decodeConfChange(data);
  } catch {
    return undefined;
  }
}

/** Messages that legitimately carry no term: local inputs and requests forwarded to the leader. */
function isTermless(type: MessageType): boolean {
  return type < MessageType.App || type === MessageType.ReadIndex || type === MessageType.TransferLeader || type === MessageType.PropDropped;
}
