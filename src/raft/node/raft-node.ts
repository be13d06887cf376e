// The node driver: it makes the pure core real. It owns the tick timer, the Ready loop (persist,
// send, apply, advance), the waiting callers of propose() and readIndex(), the member table, and
// periodic snapshots. Everything the core decides passes through runLoop(), one Ready at a time.
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { decodeConfChange } from '../confchange.js';
import { NodeStoppedError, ProposalDroppedError, ProposalTimeoutError, RaftError, ReadIndexTimeoutError, TooManyRequestsError } from '../errors.js';
import { RaftCore, bootstrapEntries, type RaftStatus } from '../raft.js';
import { RaftStorage } from '../storage/index.js';
import { PeerTransport, type PeerStats, type PeerTls } from '../transport/index.js';
import { ConfChangeType, EntryType, MessageType, Role, type Entry, type HardState, type Message, type NodeId, type Ready, type Snapshot } from '../types.js';
import { componentLogger, type Logger } from '../../util/log.js';
import { decodeMemberContext, encodeMemberContext, unwrapSnapshot, wrapSnapshot, wrapSnapshotPieces, type MemberInfo } from './members.js';
import { frameProposal, unframeProposal } from './proposal-frame.js';
import type { AppliedEntry, StateMachine } from './state-machine.js';
import { TickClock, runOwedTicks, type Tickable } from './tick-clock.js';

export interface RaftNodeOptions {
  id: NodeId;
  clusterId: number;
  dataDir: string;
  /** Where this member's peer listener binds (port 0 picks one; see peerAddress()). */
  peerListen: { host: string; port: number };
  /** How other members reach and describe this one. */
  self: { name: string; peerURLs: string[]; clientURLs: string[] };
  /** A new cluster's members, this one included. Ignored once the data directory holds state. */
  initialCluster?: MemberInfo[];
  /**
   * Joining an existing cluster (after a member add): the members to contact, or how to ask for
   * them. Like initialCluster, used only while the data directory holds no state: a member that
   * has state knows its cluster from its log (and its join peers may be gone by then).
   */
  join?: MemberInfo[] | (() => Promise<MemberInfo[]>);
  stateMachine: StateMachine;
  /** Granularity of the core's clock. Default 10 ms. */
  tickMs?: number;
  /** Default 100 ms, as etcd. */
  heartbeatMs?: number;
  /** Default 1000 ms, as etcd. */
  electionMs?: number;
  /** Applied entries between snapshots (etcd's --snapshot-count). Default 10000. */
  snapshotCount?: number;
  /** Entries kept after a snapshot for slow followers. Default 5000. */
  snapshotCatchUpEntries?: number;
  /**
   * The storage's log fsyncs run on the event loop's thread while their wait for the disk averages
   * at most this many ms, otherwise in libuv's pool (storage/sync-placement.ts); 0: always in the
   * pool. Default 1.
   */
  walFsyncInPlaceMaxMs?: number;
  /**
   * Default deadline of propose() and readIndex(). Default etcd's: 5 s plus two election
   * timeouts (7 s at the default election timeout), so that a request can outlast an election.
   */
  requestTimeoutMs?: number;
  /** New proposals are refused while applies lag the commit index by more entries (default 5,000, etcd's). */
  maxApplyGap?: number;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  maxFrameBytes?: number;
  snapshotChunkBytes?: number;
  /** How often the round trip to each peer is measured ('peer-round-trip' events); default 4000 ms, 0: never. */
  peerProbeIntervalMs?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  random?: () => number;
  logger?: Logger;
  /** Plain HTTP requests on the peer port (see PeerTransport). */
  peerHttpHandler?: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
  /** TLS on the peer port (https:// peer URLs). */
  peerTls?: PeerTls;
}

export interface RaftNodeStatus extends RaftStatus {
  pendingProposals: number;
  pendingReads: number;
  snapshotIndex: number;
  fsyncs: number;
  /** Of the write-ahead log's fsyncs, those made on the event loop's thread. */
  fsyncsInPlace: number;
  entriesWritten: number;
  lastSyncMs: number;
  syncMsTotal: number;
  /** Proposals per Ready batch, recent window. */
  recentBatchSizes: number[];
}

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

interface PendingProposal extends Waiter<unknown> {
  seq: number;
  data: Uint8Array;
  /** The log index this member appended it at as the leader (undefined: forwarded to a leader). */
  index?: number;
}

/** The proposal-frame origin reserved for members' attribute updates (no member has id 0). */
const MEMBER_ATTRIBUTES_ORIGIN = 0;
/** A read round not answered within this many heartbeat intervals is retried (etcd: 500 ms). */
const READ_RETRY_HEARTBEATS = 5;
/**
 * Committed entries that may wait for the state machine before the Ready loop itself waits for it.
 * The loop must keep running while one apply takes long (a chunked delete of many keys): it sends
 * the heartbeats and answers that keep the leader in place. New proposals are refused well before
 * this (maxApplyGap), so only entries proposed elsewhere can fill it.
 */
const MAX_APPLY_BACKLOG_ENTRIES = 20_000;
/** A member refuses new proposals while its applies lag its commit index by more (etcd's maxGapBetweenApplyAndCommitIndex). */
const DEFAULT_MAX_APPLY_GAP = 5000;

/** etcd's ReqTimeout: 5 s plus two election timeouts. */
export function defaultRequestTimeoutMs(electionMs: number): number {
  return 5000 + 2 * electionMs;
}

export class RaftNode extends EventEmitter {
  readonly id: NodeId;
  private readonly core: RaftCore;
  private readonly storage: RaftStorage;
  private readonly transport: PeerTransport;
  private readonly sm: StateMachine;
  private readonly log: Logger;
  private readonly opts: Required<Pick<RaftNodeOptions, 'tickMs' | 'heartbeatMs' | 'electionMs' | 'snapshotCount' | 'snapshotCatchUpEntries' | 'requestTimeoutMs' | 'maxApplyGap'>>;

  private readonly membersById = new Map<NodeId, MemberInfo>();
  /**
   * Proposal ids must be unique across restarts of this member: entries its previous process
   * proposed may be applied after a restart, and must not settle this process's requests. Start
   * from the clock (as etcd's idutil does), in microseconds, still exact as a float64.
   */
  private seq = Date.now() * 1000;
  private readonly inFlight = new Map<number, PendingProposal>();
  private queued: PendingProposal[] = [];
  /**
   * Forwarded proposals that the member they reached dropped (a leadership transfer in progress, an
   * election): certainly not in any log, so they are sent again, on the next tick, to whoever leads
   * then. Without this they waited for their deadline, and the client got a timeout. Also this
   * member's own proposals whose entry a newer leader replaced (resendReplaced).
   */
  private resend: PendingProposal[] = [];
  private confWaiters = new Map<string, Waiter<void>>();
  /**
   * ReadIndex contexts must be unique across the cluster: the leader keys pending reads by context
   * and ignores a context it already holds, so two members counting from 0 lost each other's reads
   * when they asked at the same moment (one timed out: `endpoint health --cluster` saw it). Each
   * member counts from its own random 48-bit start (exact as a double for 2^52 more reads).
   */
  private readSeq = randomInt(1, 2 ** 48) * 16;
  private readQueue: Waiter<number>[] = [];
  private readRounds = new Map<number, Waiter<number>[]>();
  /**
   * The read round in flight (0: none) and when it started. Reads that arrive meanwhile wait for
   * it to end and then share the next round, as etcd's linearizable read loop does: one heartbeat
   * round per round trip instead of one per Ready (at 64 clients the rounds' messages were most of
   * a member's peer traffic). A round unanswered for READ_RETRY_HEARTBEATS heartbeats (lost in a
   * leader change) is given up: its readers join the next round.
   */
  private readRoundCtx = 0;
  private readRoundAt = 0;
  private appliedWaiters: { index: number; waiter: Waiter<number> }[] = [];
  /**
   * The last index applied to the state machine. Not the core's `applied`: that moves only at
   * `advance()`, after the read states of the same Ready are handled, and a read whose index was
   * applied in that very Ready would wait for the next write (seen on a single member under load).
   */
  private appliedIndex: number;
  private lastSnapshotIndex: number;
  private recentBatchSizes: number[] = [];

  /**
   * The state machine's applies run beside the Ready loop (one batch at a time, in order): a
   * Ready is persisted and sent while committed entries are applied (`appliedIndex` is what the
   * state machine has really applied; the core's `applied` may be ahead).
   */
  private applyChain: Promise<void> = Promise.resolve();
  private applyBacklog = 0;
  private applyBacklogEntries = 0;
  /** The commit index of the last Ready (for maxApplyGap). */
  private commitIndex = 0;
  /** A commit-only hard state not written yet (see handleReady). */
  private unsavedHardState: HardState | undefined;
  /** The term and vote on disk. */
  private savedTerm: number;
  private savedVote: NodeId;
  private failure: Error | undefined;
  /** A snapshot being read and saved beside the loop (see maybeSnapshot). */
  private snapshotting: Promise<void> | undefined;
  /** Snapshot messages the core sent that name state the state machine holds (see sendHeldSnapshots). */
  private heldSnapshots: Message[] = [];
  /** Whole-state snapshots being read for followers, beside the loop. */
  private readonly sendingSnapshots = new Set<Promise<void>>();

  private tickTimer: NodeJS.Timeout | undefined;
  /** Peer messages read so far: a read voids the election ticks a late timer would catch up. */
  private messagesRead = 0;
  private loopScheduled = false;
  private loopRunning: Promise<void> | undefined;
  private stopped = false;
  private leader = 0;

  private constructor(
    opts: RaftNodeOptions,
    core: RaftCore,
    storage: RaftStorage,
    members: MemberInfo[],
    snapshotIndex: number,
    log: Logger,
  ) {
    super();
    this.id = opts.id;
    this.core = core;
    this.storage = storage;
    this.sm = opts.stateMachine;
    this.log = log;
    const electionMs = opts.electionMs ?? 1000;
    this.opts = {
      tickMs: opts.tickMs ?? 10,
      heartbeatMs: opts.heartbeatMs ?? 100,
      electionMs,
      snapshotCount: opts.snapshotCount ?? 10000,
      snapshotCatchUpEntries: opts.snapshotCatchUpEntries ?? 5000,
      requestTimeoutMs: opts.requestTimeoutMs ?? defaultRequestTimeoutMs(electionMs),
      maxApplyGap: opts.maxApplyGap ?? DEFAULT_MAX_APPLY_GAP,
    };
    this.lastSnapshotIndex = snapshotIndex;
    this.appliedIndex = Math.max(opts.stateMachine.appliedIndex(), core.status().applied);
    // The core starts from the hard state on disk.
    this.savedTerm = core.status().term;
    this.savedVote = core.status().vote;
    for (const m of members) this.membersById.set(m.id, m);
    const peers = new Map<NodeId, string>();
    for (const m of members) if (m.id !== this.id && m.peerURLs[0]) peers.set(m.id, m.peerURLs[0]);
    this.transport = new PeerTransport({
      id: opts.id,
      clusterId: opts.clusterId,
      listen: opts.peerListen,
      peers,
      onMessage: (m) => {
        if (this.stopped) return;
        this.messagesRead++;
        if (m.type === MessageType.PropDropped) {
          this.onProposalsDropped(m.entries);
          return;
        }
        try {
          this.core.step(m);
        } catch (err) {
          this.log.error({ err, type: m.type, from: m.from }, 'raft: message could not be processed');
        }
        this.kick();
      },
      onPeerDown: (peer) => {
        if (peer === this.core.status().lead) {
          this.log.info({ peer }, 'raft: lost the connection to the leader; campaigning soon');
          this.core.forgetLeader();
          this.kick();
        }
      },
      onUnreachable: (peer) => this.core.reportUnreachable(peer),
      onSnapshotStatus: (to, ok) => {
        this.core.reportSnapshot(to, ok);
        this.kick();
      },
      onRoundTrip: (peer, seconds) => this.emit('peer-round-trip', { peer, seconds }),
      probeIntervalMs: opts.peerProbeIntervalMs,
      maxFrameBytes: opts.maxFrameBytes,
      snapshotChunkBytes: opts.snapshotChunkBytes,
      logger: log,
      httpHandler: opts.peerHttpHandler,
      tls: opts.peerTls,
    });
  }

  /** A rotated peer certificate (kvd watches its files): see PeerTransport.setTls. */
  setPeerTls(tls: PeerTls): void {
    this.transport.setTls(tls);
  }

  /** Opens the data directory, recovers the log and the state machine, and builds the node (not yet started). */
  static async create(opts: RaftNodeOptions): Promise<RaftNode> {
    const log = opts.logger ?? componentLogger('raft', { member: opts.id });
    const tickMs = opts.tickMs ?? 10;
    const heartbeatTick = Math.max(1, Math.round((opts.heartbeatMs ?? 100) / tickMs));
    const electionTick = Math.max(heartbeatTick + 1, Math.round((opts.electionMs ?? 1000) / tickMs));
    const storage = await RaftStorage.open(opts.dataDir, { logger: log, syncPlacement: { inlineMaxMs: opts.walFsyncInPlaceMaxMs } });
    try {
      let state = await storage.load();
      const fresh = state.hardState.term === 0 && state.entries.length === 0 && !state.snapshot;
      const join = !fresh ? undefined : typeof opts.join === 'function' ? await opts.join() : opts.join;
      if (fresh && opts.initialCluster && !opts.join) {
        const contexts = new Map(opts.initialCluster.map((m) => [m.id, encodeMemberContext(m)]));
        const boot = bootstrapEntries(
          opts.initialCluster.map((m) => m.id),
          contexts,
        );
        await storage.append({ entries: boot });
        state = await storage.load();
      }
      // The member table: the snapshot's, then every membership change in the log after it.
      const members = new Map<NodeId, MemberInfo>();
      let snapshotIndex = 0;
      if (state.snapshot) {
        const { members: fromSnap, app } = unwrapSnapshot(state.snapshot.data);
        for (const m of fromSnap) members.set(m.id, m);
        snapshotIndex = state.snapshot.meta.index;
        if (opts.stateMachine.appliedIndex() < snapshotIndex) {
          // A snapshot without application state vouches for a state machine durable at its
          // index (persist() resolved before it was saved): one behind it lost its data.
          if (app.length === 0) {
            throw new RaftError(
              'StateBehindSnapshot',
              `raft: the state machine is at index ${opts.stateMachine.appliedIndex()} but the log was compacted up to its snapshot at ${snapshotIndex}, which holds no state: the state machine's data was lost or replaced (restore a backup, or remove this member and add it again)`,
            );
          }
          await opts.stateMachine.restore(app, snapshotIndex);
        }
      }
      for (const e of state.entries) if (e.index > snapshotIndex) applyMemberEntry(members, e);
      for (const m of join ?? []) if (!members.has(m.id)) members.set(m.id, m);
      const core = new RaftCore(
        {
          id: opts.id,
          electionTick,
          heartbeatTick,
          random: opts.random ?? Math.random,
          preVote: opts.preVote ?? true,
          checkQuorum: opts.checkQuorum ?? true,
          maxSizePerMsg: opts.maxSizePerMsg,
          maxInflightMsgs: opts.maxInflightMsgs,
        },
        { hardState: state.hardState, snapshot: state.snapshot, entries: state.entries, applied: opts.stateMachine.appliedIndex() },
      );
      return new RaftNode(opts, core, storage, [...members.values()], snapshotIndex, log);
    } catch (err) {
      await storage.close().catch(() => undefined);
      throw err;
    }
  }

  async start(): Promise<void> {
    await this.transport.start();
    // Ticks follow the clock, not the timer's callbacks (see tick-clock.ts).
    const clock = new TickClock(this.opts.tickMs, Math.max(1, Math.ceil(this.opts.electionMs / this.opts.tickMs)), performance.now());
    const target: Tickable = {
      tick: () => {
        if (!this.stopped) this.core.tick();
      },
      leading: () => this.core.status().role === Role.Leader,
      messagesRead: () => this.messagesRead,
    };
    this.tickTimer = setInterval(() => {
      runOwedTicks(clock.due(performance.now()), target, setImmediate, () => this.kick());
      if (this.resend.length) {
        this.queued = [...this.resend, ...this.queued];
        this.resend = [];
      }
      this.kick();
    }, this.opts.tickMs);
    this.kick();
  }

  peerAddress(): { host: string; port: number } {
    return this.transport.address();
  }

  /** Replicates `payload` and resolves with the state machine's result once it is applied here. */
  propose(payload: Uint8Array, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    return this.proposeFramed(this.id, payload, opts);
  }

  private proposeFramed(origin: number, payload: Uint8Array, opts: { timeoutMs?: number }): Promise<unknown> {
    if (this.stopped) return Promise.reject(new NodeStoppedError());
    if (this.commitIndex - this.appliedIndex > this.opts.maxApplyGap) return Promise.reject(new TooManyRequestsError(this.commitIndex - this.appliedIndex));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const p: PendingProposal = { seq, data: frameProposal(origin, seq, payload), resolve, reject };
      const ms = opts.timeoutMs ?? this.opts.requestTimeoutMs;
      p.timer = setTimeout(() => {
        const waitingForLeader = this.queued.includes(p) || this.resend.includes(p);
        this.inFlight.delete(seq);
        this.queued = this.queued.filter((q) => q !== p);
        this.resend = this.resend.filter((q) => q !== p);
        reject(waitingForLeader && this.leaderId() === 0 ? new ProposalDroppedError(`no leader within ${ms} ms`) : new ProposalTimeoutError(ms));
      }, ms);
      this.queued.push(p);
      this.kick();
    });
  }

  /**
   * Publishes this member's name and client URLs to the whole cluster through the log (as etcd's
   * members publish their attributes when they start), so that every member's table lists them.
   */
  publishAttributes(attrs: { name: string; clientURLs: string[] }, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    const payload = encodeMemberContext({ name: attrs.name, peerURLs: this.membersById.get(this.id)?.peerURLs ?? [], clientURLs: attrs.clientURLs });
    const body = new Uint8Array(8 + payload.length);
    new DataView(body.buffer).setFloat64(0, this.id);
    body.set(payload, 8);
    return this.proposeFramed(MEMBER_ATTRIBUTES_ORIGIN, body, opts);
  }

  /** Adds (as voter or learner) or removes a member; resolves once the change is committed and applied here. */
  proposeConfChange(change: { type: ConfChangeType; nodeId: NodeId; member?: Omit<MemberInfo, 'id'> }): Promise<void> {
    if (this.stopped) return Promise.reject(new NodeStoppedError());
    const key = `${change.type}:${change.nodeId}`;
    return new Promise<void>((resolve, reject) => {
      const context = change.member ? encodeMemberContext(change.member) : new Uint8Array(0);
      try {
        this.core.proposeConfChange({ type: change.type, nodeId: change.nodeId, context });
      } catch (err) {
        reject(err as Error);
        return;
      }
      const w: Waiter<void> = { resolve, reject };
      w.timer = setTimeout(() => {
        this.confWaiters.delete(key);
        reject(new ProposalTimeoutError(this.opts.requestTimeoutMs));
      }, this.opts.requestTimeoutMs);
      this.confWaiters.set(key, w);
      this.kick();
    });
  }

  /**
   * A linearizable read barrier: resolves with an index once this member has applied everything
   * that was committed when the call was made. Concurrent callers share one heartbeat round.
   */
  readIndex(opts: { timeoutMs?: number } = {}): Promise<number> {
    if (this.stopped) return Promise.reject(new NodeStoppedError());
    return new Promise<number>((resolve, reject) => {
      const w: Waiter<number> = { resolve, reject };
      const ms = opts.timeoutMs ?? this.opts.requestTimeoutMs;
      w.timer = setTimeout(() => {
        this.readQueue = this.readQueue.filter((q) => q !== w);
        for (const [ctx, ws] of this.readRounds) {
          const rest = ws.filter((q) => q !== w);
          if (rest.length) this.readRounds.set(ctx, rest);
          else this.readRounds.delete(ctx);
        }
        this.appliedWaiters = this.appliedWaiters.filter((a) => a.waiter !== w);
        reject(new ReadIndexTimeoutError(ms));
      }, ms);
      this.readQueue.push(w);
      this.kick();
    });
  }

  /** Asks the leader to hand leadership to `to`; resolves when `to` leads or rejects after an election timeout. */
  async transferLeadership(to: NodeId): Promise<void> {
    this.core.transferLeader(to);
    this.kick();
    await this.waitFor(() => this.core.status().lead === to, this.opts.electionMs * 2);
  }

  status(): RaftNodeStatus {
    const m = this.storage.metrics;
    return {
      ...this.core.status(),
      applied: this.appliedIndex,
      pendingProposals: this.inFlight.size + this.queued.length + this.resend.length,
      pendingReads: this.readQueue.length + [...this.readRounds.values()].reduce((n, ws) => n + ws.length, 0),
      snapshotIndex: this.lastSnapshotIndex,
      fsyncs: m.fsyncs,
      fsyncsInPlace: m.fsyncsInPlace,
      entriesWritten: m.entriesWritten,
      lastSyncMs: m.lastSyncMs,
      syncMsTotal: m.syncMsTotal,
      recentBatchSizes: [...this.recentBatchSizes],
    };
  }

  members(): MemberInfo[] {
    const cs = this.core.status().confState;
    return [...this.membersById.values()]
      .filter((m) => cs.voters.includes(m.id) || cs.learners.includes(m.id))
      .map((m) => ({ ...m, isLearner: cs.learners.includes(m.id) || undefined }));
  }

  private canForward(): boolean {
    return this.core.status().lead !== 0;
  }

  leaderId(): NodeId {
    return this.core.status().lead;
  }

  /** What the transport sent to each peer, and whether its connection is open. */
  peerStats(): Map<NodeId, PeerStats> {
    return this.transport.stats();
  }

  /** The default deadline of propose() and readIndex() (requestTimeoutMs, or etcd's default). */
  get requestTimeoutMs(): number {
    return this.opts.requestTimeoutMs;
  }

  isLeader(): boolean {
    return this.core.status().role === Role.Leader;
  }

  /** The current term (for response headers). */
  term(): number {
    return this.core.status().term;
  }

  /** Stops the node; a leader first hands leadership to its most caught-up voter. */
  async stop(opts: { transfer?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    if ((opts.transfer ?? true) && this.isLeader()) {
      const target = this.bestTransferTarget();
      if (target !== undefined) {
        try {
          await this.transferLeadership(target);
        } catch (err) {
          this.log.warn({ err, target }, 'raft: leadership transfer before stop did not finish');
        }
      }
    }
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    await this.loopRunning;
    // Neither rejects: their failures are handled where they happen.
    await this.applyChain;
    await this.snapshotting;
    await Promise.all(this.sendingSnapshots);
    const err = new NodeStoppedError();
    for (const p of [...this.queued, ...this.resend, ...this.inFlight.values()]) this.settle(p, err);
    this.queued = [];
    this.resend = [];
    this.inFlight.clear();
    for (const w of this.confWaiters.values()) this.settle(w, err);
    this.confWaiters.clear();
    for (const w of this.readQueue) this.settle(w, err);
    for (const ws of this.readRounds.values()) for (const w of ws) this.settle(w, err);
    for (const a of this.appliedWaiters) this.settle(a.waiter, err);
    this.readQueue = [];
    this.readRounds.clear();
    this.appliedWaiters = [];
    await this.transport.stop();
    if (this.unsavedHardState && !this.failure) {
      await this.storage.append({ hardState: this.unsavedHardState, entries: [], sync: false }).catch((err: unknown) => {
        this.log.warn({ err }, 'raft: could not save the last commit index at stop');
      });
    }
    await this.storage.close();
  }

  // ---- The loop -------------------------------------------------------------------------------

  private kick(): void {
    if (this.loopScheduled || this.stopped || this.failure) return;
    this.loopScheduled = true;
    setImmediate(() => {
      this.loopScheduled = false;
      if (this.loopRunning || this.stopped) return;
      this.loopRunning = this.runLoop()
        .catch((err: unknown) => this.fail(err as Error))
        .finally(() => {
          this.loopRunning = undefined;
          if (this.core.hasReady() || (this.canForward() && (this.queued.length || (this.readQueue.length && this.readRoundCtx === 0)))) this.kick();
        });
    });
  }

  /** The Ready loop or an apply failed: the member stops processing (a restart recovers from disk). */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.log.fatal({ err }, 'raft: the Ready loop failed; stopping this member');
    this.emit('fatal', err);
  }

  private async runLoop(): Promise<void> {
    for (;;) {
      if (this.stopped || this.failure) return;
      this.flushRequests();
      if (!this.core.hasReady()) return;
      const rd = this.core.ready();
      await this.handleReady(rd);
    }
  }

  /**
   * Hands everything callers asked for since the last round to the core in one batch. While no
   * leader is known (an election is under way) requests wait, up to their deadline, rather than
   * fail at once.
   */
  private flushRequests(): void {
    if (!this.canForward()) return;
    if (this.queued.length) {
      const batch = this.queued;
      this.queued = [];
      try {
        const { role, lastIndex } = this.core.status();
        this.core.propose(batch.map((p) => p.data));
        // A leader appends the batch at the end of its log, in order; a follower forwards it.
        for (let i = 0; i < batch.length; i++) {
          const p = batch[i]!;
          p.index = role === Role.Leader ? lastIndex + 1 + i : undefined;
          this.inFlight.set(p.seq, p);
        }
        this.recentBatchSizes.push(batch.length);
        if (this.recentBatchSizes.length > 256) this.recentBatchSizes.shift();
      } catch (err) {
        if (this.core.status().leadTransferee !== 0) {
          // This leader is handing over: the batch was not appended; it goes to the next leader.
          this.resend.push(...batch);
        } else {
          const e = err instanceof RaftError ? err : new ProposalDroppedError(String(err));
          for (const p of batch) this.settle(p, e);
        }
      }
    }
    const inFlight = this.readRoundCtx !== 0 ? this.readRounds.get(this.readRoundCtx) : undefined;
    const stale = inFlight !== undefined && performance.now() - this.readRoundAt > this.opts.heartbeatMs * READ_RETRY_HEARTBEATS;
    if ((this.readQueue.length && inFlight === undefined) || stale) {
      let round = this.readQueue;
      this.readQueue = [];
      if (stale) {
        // Later than the lost round's index, so still linearizable for its readers.
        this.readRounds.delete(this.readRoundCtx);
        round = [...inFlight, ...round];
      }
      const ctx = ++this.readSeq;
      this.readRoundCtx = 0;
      try {
        this.core.readIndex(ctx);
        this.readRounds.set(ctx, round);
        this.readRoundCtx = ctx;
        this.readRoundAt = performance.now();
      } catch (err) {
        for (const w of round) this.settle(w, err as Error);
      }
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    // Membership entries name the members to reach: known to the transport before anything is sent.
    for (const e of rd.entries) if (e.type === EntryType.ConfChange) this.learnMember(e);
    // Committed entries already on this member's disk are applied while this Ready is written, as
    // etcd does. Those in this Ready's own entries (a follower may learn of an entry and its commit
    // in one message) wait for the write: the state machine, whose writes reach its disk unsynced
    // and in any order relative to ours, must never hold an entry that a restart would not find in
    // the Raft log. A snapshot is installed only once it is on disk (below).
    const firstUnstable = rd.entries.length ? rd.entries[0]!.index : Infinity;
    const split = rd.snapshot ? 0 : rd.committedEntries.findIndex((e) => e.index >= firstUnstable);
    const early = split < 0 ? rd.committedEntries : rd.committedEntries.slice(0, split);
    const later = split < 0 ? [] : rd.committedEntries.slice(split);
    // A leader's appends and heartbeats go out before its own write (Raft thesis 10.2.1; etcd does
    // the same): the followers persist in parallel with the leader, and the core counts the
    // leader's own copy towards a commit only at advance(), once it is on disk. Not when this
    // Ready changes the term or the vote: a message of a term must never leave before that term
    // (and the vote in it) is on disk. Everything else waits for the write (votes and append
    // responses promise what is persisted).
    let after = rd.messages;
    const termVoteSaved = !rd.hardState || (rd.hardState.term === this.savedTerm && rd.hardState.vote === this.savedVote);
    if (rd.messages.length && termVoteSaved && this.core.status().role === Role.Leader) {
      const before: Message[] = [];
      after = [];
      for (const m of rd.messages) (m.type === MessageType.App || m.type === MessageType.Heartbeat ? before : after).push(m);
      // A Ready that carries no entry, only news of a commit, leaves after the apply this turn
      // does: the clients' answers go first. Its sends came before each answer (two sends at 1
      // client: 30-180 µs on this machine); a follower needs the news only to apply, and gets it
      // later by that apply's time.
      const commitNews = rd.entries.length === 0 && early.length > 0 && before.every((m) => m.entries.length === 0);
      if (before.length) this.transport.send(before, !commitNews);
    }
    // 1. Persist: one synced write for the hard state, the entries and a received snapshot. A hard
    // state that only moves the commit index needs no write of its own (etcd does not fsync it
    // either): it rides along with the next write. A restart with an older commit index learns it
    // again from the leader, and the state machine skips the entries it applied already.
    if (rd.hardState) this.commitIndex = rd.hardState.commit;
    let persisted: Promise<void> | undefined;
    let hardState: HardState | undefined;
    const t0 = performance.now();
    let writtenAt = t0;
    if (rd.entries.length || rd.snapshot || rd.mustSync) {
      hardState = rd.hardState ?? this.unsavedHardState;
      this.unsavedHardState = undefined;
      persisted = this.storage.append({ hardState, entries: rd.entries, snapshot: rd.snapshot });
      // The write's own time, for the fsync metric (etcd's times the sync alone): taken when it
      // completes, not after the apply awaited below. Also keeps a failure meanwhile from counting
      // as an unhandled rejection (it is awaited below).
      persisted.then(
        () => (writtenAt = performance.now()),
        () => undefined,
      );
    } else if (rd.hardState) {
      this.unsavedHardState = rd.hardState;
    }
    // Queued after the write was issued (the storage starts it in the next microtask), so that
    // the apply's work on this thread overlaps the write instead of delaying it.
    if (early.length) await this.queueApply(undefined, early);
    if (persisted) {
      await persisted;
      if (hardState) {
        this.savedTerm = hardState.term;
        this.savedVote = hardState.vote;
      }
      this.emit('persisted', { ms: writtenAt - t0, entries: rd.entries.length });
    }
    // The received snapshot is this member's newest from now on (its own next one must be newer).
    if (rd.snapshot) this.lastSnapshotIndex = Math.max(this.lastSnapshotIndex, rd.snapshot.meta.index);
    // 2. Send what depends on it, first: an append response is on the commit's critical path.
    if (after.length) this.transport.send(this.holdSnapshotMessages(after));
    // 3. A received snapshot, then the entries committed after it; or the entries that waited for the write.
    if (rd.snapshot || later.length) await this.queueApply(rd.snapshot, later);
    if (this.failure) return;
    for (const rs of rd.readStates) this.onReadState(rs.context, rs.index);
    if (rd.softState && (rd.softState.role === Role.PreCandidate || rd.softState.role === Role.Candidate)) {
      // Two members campaigning in one term is a split vote: the new leader's term is then two past the old one.
      this.log.debug({ role: Role[rd.softState.role], term: this.core.status().term }, 'raft: campaigning');
    }
    if (rd.softState && rd.softState.leader !== this.leader) {
      const prev = this.leader;
      this.leader = rd.softState.leader;
      this.log.info({ leader: this.leader, term: this.core.status().term }, 'raft: leader changed');
      this.emit('leader-change', { leader: this.leader, previous: prev, term: this.core.status().term });
      if (this.leader === 0) this.dropForwardedOnLeaderLoss();
      // The round in flight may have been lost with the old leader: do not wait for it.
      this.readRoundAt = -Infinity;
    }
    // 4. Advance.
    this.core.advance(rd);
    await this.sendHeldSnapshots();
    await this.maybeSnapshot();
  }

  /**
   * With a state machine that keeps its state itself (persist()), the log's snapshots hold none:
   * the core's snapshot messages are kept back here and sent by sendHeldSnapshots with the whole
   * state, read when a follower needs it (as etcd sends its database file).
   */
  private holdSnapshotMessages(msgs: Message[]): Message[] {
    if (!this.sm.persist) return msgs;
    let out: Message[] | undefined;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      if (m.type !== MessageType.Snap) {
        out?.push(m);
        continue;
      }
      out ??= msgs.slice(0, i);
      this.heldSnapshots.push(m);
    }
    return out ?? msgs;
  }

  /**
   * Sends each held snapshot message with the state machine's whole state at its applied index,
   * which is at or past the core's snapshot (a follower that restores it answers with that index,
   * and the leader goes on from there). Captured with no apply in flight, like maybeSnapshot;
   * read and sent beside the loop. A failure is reported to the core, which tries again later.
   */
  private async sendHeldSnapshots(): Promise<void> {
    if (this.heldSnapshots.length === 0) return;
    await this.applyChain;
    const held = this.heldSnapshots;
    this.heldSnapshots = [];
    for (const m of held) {
      if (this.failure || this.stopped) {
        this.core.reportSnapshot(m.to, false);
        continue;
      }
      const index = this.appliedIndex;
      const meta = this.core.snapshotMeta(index);
      const members = this.members();
      const sm = this.sm;
      const reading = (async () => (sm.snapshotPieces ? sm.snapshotPieces() : [await sm.snapshot()]))();
      const sending = reading
        .then((app) => {
          if (this.stopped) throw new NodeStoppedError();
          const pieces = wrapSnapshotPieces(members, app);
          const bytes = pieces.reduce((n, p) => n + p.length, 0);
          this.log.info({ to: m.to, index, bytes }, 'raft: sending a snapshot of the state');
          this.transport.send([{ ...m, snapshot: { meta, data: NO_STATE, pieces } }]);
        })
        .catch((err: unknown) => {
          this.log.warn({ err, to: m.to, index }, 'raft: a snapshot for a follower could not be read; it will be tried again');
          this.core.reportSnapshot(m.to, false);
          this.kick();
        })
        .finally(() => this.sendingSnapshots.delete(sending));
      this.sendingSnapshots.add(sending);
    }
  }

  /**
   * Queues an apply behind the ones in flight (in order, one at a time). Waits only when
   * MAX_APPLY_BACKLOG_ENTRIES entries are already waiting, which bounds what the loop can run
   * ahead of the state machine without stopping it for one slow apply.
   */
  private async queueApply(snap: Snapshot | undefined, committed: Entry[]): Promise<void> {
    if (this.applyBacklogEntries >= MAX_APPLY_BACKLOG_ENTRIES) await this.applyChain;
    if (this.failure) return;
    const entries = committed.length;
    this.applyBacklog++;
    this.applyBacklogEntries += entries;
    this.applyChain = this.applyChain
      .then(async () => {
        if (this.failure) return;
        if (snap) await this.installSnapshot(snap);
        if (committed.length) await this.applyEntries(committed);
      })
      .catch((err: unknown) => this.fail(err as Error))
      .finally(() => {
        this.applyBacklog--;
        this.applyBacklogEntries -= entries;
      });
  }

  private async installSnapshot(snap: Snapshot): Promise<void> {
    const { members, app } = unwrapSnapshot(snap.data);
    // Snapshots without state are the log's own (the state machine holds it); one must never come from a leader.
    if (app.length === 0) throw new RaftError('EmptySnapshot', `raft: the snapshot received at index ${snap.meta.index} holds no state`);
    await this.sm.restore(app, snap.meta.index);
    this.membersById.clear();
    for (const m of members) this.membersById.set(m.id, m);
    this.syncTransportPeers();
    this.lastSnapshotIndex = snap.meta.index;
    this.log.info({ index: snap.meta.index, bytes: snap.data.length }, 'raft: installed a snapshot from the leader');
    this.onApplied(snap.meta.index);
  }

  private async applyEntries(entries: Entry[]): Promise<void> {
    const batch: AppliedEntry[] = [];
    const framed: ({ origin: number; seq: number } | undefined)[] = [];
    for (const e of entries) {
      if (e.type === EntryType.ConfChange) {
        batch.push({ index: e.index, term: e.term, kind: 'conf', data: new Uint8Array(0) });
        framed.push(undefined);
        this.applyConfEntry(e);
        continue;
      }
      const p = unframeProposal(e.data);
      if (p && p.header.origin === MEMBER_ATTRIBUTES_ORIGIN) {
        // A member published its name and client URLs: the node's own business, a no-op to the state machine.
        const publisher = this.applyMemberAttributes(p.payload);
        batch.push({ index: e.index, term: e.term, kind: 'noop', data: new Uint8Array(0) });
        framed.push({ origin: publisher, seq: p.header.seq });
        continue;
      }
      batch.push({ index: e.index, term: e.term, kind: p ? 'normal' : 'noop', data: p ? p.payload : new Uint8Array(0) });
      framed.push(p?.header);
    }
    const results = await this.sm.apply(batch);
    for (let i = 0; i < batch.length; i++) {
      const h = framed[i];
      if (!h || h.origin !== this.id) continue;
      const p = this.inFlight.get(h.seq);
      if (!p) continue;
      this.inFlight.delete(h.seq);
      this.settle(p, undefined, results[i]);
    }
    this.resendReplaced(entries[0]!.index, entries[entries.length - 1]!.index);
    this.onApplied(entries[entries.length - 1]!.index);
  }

  /**
   * Proposals this member appended as the leader at an index in [first, last], just applied with
   * another entry there: a newer leader's log replaced them (this member proposed in a term it had
   * already lost, say after a pause). Raft never moves an entry to another index and this member
   * appended each of them once, so they can never be applied: like proposals a leader dropped,
   * they are sent again on the next tick, to whoever leads then, within their deadline. Only
   * indexes applied entry by entry count: below a snapshot installed from the leader, whether an
   * entry of ours was in it is unknown, and those wait for their deadline.
   */
  private resendReplaced(first: number, last: number): void {
    for (const [seq, p] of this.inFlight) {
      if (p.index === undefined || p.index < first || p.index > last) continue;
      this.inFlight.delete(seq);
      this.log.debug({ index: p.index }, 'raft: a proposal of ours was replaced by a newer leader\'s entry; sending it again');
      this.resend.push(p);
    }
  }

  /** Records a member's published attributes; returns the publishing member's id. */
  private applyMemberAttributes(body: Uint8Array): number {
    if (body.length < 8) return 0;
    const id = new DataView(body.buffer, body.byteOffset, 8).getFloat64(0);
    applyAttributes(this.membersById, id, body.subarray(8));
    return id;
  }

  private applyConfEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    if (cc.type === ConfChangeType.RemoveNode) {
      if (cc.nodeId === this.id) {
        this.log.warn('raft: this member was removed from the cluster');
        this.emit('removed');
      }
    } else {
      this.learnMember(e);
    }
    this.syncTransportPeers();
    const w = this.confWaiters.get(`${cc.type}:${cc.nodeId}`);
    if (w) {
      this.confWaiters.delete(`${cc.type}:${cc.nodeId}`);
      this.settle(w, undefined, undefined);
    }
  }

  /** Records the name and URLs a membership entry carries, so that the transport can reach the member. */
  private learnMember(e: Entry): void {
    applyMemberEntry(this.membersById, e);
    this.syncTransportPeers();
  }

  private syncTransportPeers(): void {
    const cs = this.core.status().confState;
    const wanted = new Set([...cs.voters, ...cs.learners]);
    for (const m of this.membersById.values()) {
      if (m.id === this.id || !m.peerURLs[0]) continue;
      if (wanted.has(m.id)) this.transport.addPeer(m.id, m.peerURLs[0]);
    }
    for (const id of this.transport.stats().keys()) if (!wanted.has(id)) this.transport.removePeer(id);
  }

  private onReadState(ctx: number, index: number): void {
    const waiters = this.readRounds.get(ctx);
    if (!waiters) return;
    this.readRounds.delete(ctx);
    if (ctx === this.readRoundCtx) {
      this.readRoundCtx = 0;
      if (this.readQueue.length) this.kick();
    }
    // While an apply is under way the store may already show part of a batch whose proposers are
    // not answered yet: the read then waits for the end of that batch, so that a read that sees a
    // write is never answered before the write itself (as when applies ran inside the loop).
    const now = this.appliedIndex >= index && this.applyBacklog === 0;
    for (const w of waiters) {
      if (now) this.settle(w, undefined, index);
      else this.appliedWaiters.push({ index, waiter: w });
    }
  }

  private onApplied(index: number): void {
    if (index > this.appliedIndex) this.appliedIndex = index;
    if (this.appliedWaiters.length) {
      const ready = this.appliedWaiters.filter((a) => a.index <= index);
      this.appliedWaiters = this.appliedWaiters.filter((a) => a.index > index);
      for (const a of ready) this.settle(a.waiter, undefined, a.index);
    }
    this.emit('applied', index);
  }

  /**
   * The member our proposals were forwarded to dropped them (MessageType.PropDropped): they are in
   * no log, and will be sent again on the next tick. Entries that are not ours, or no longer
   * waited for (timed out), are ignored.
   */
  private onProposalsDropped(entries: Entry[]): void {
    for (const e of entries) {
      const p = unframeProposal(e.data);
      if (!p || (p.header.origin !== this.id && p.header.origin !== MEMBER_ATTRIBUTES_ORIGIN)) continue;
      const pending = this.inFlight.get(p.header.seq);
      if (!pending) continue;
      this.inFlight.delete(p.header.seq);
      this.resend.push(pending);
    }
  }

  /**
   * Reads forwarded to a leader that is gone will never be answered; fail them now so that
   * callers retry instead of waiting for their deadline.
   */
  private dropForwardedOnLeaderLoss(): void {
    for (const ws of this.readRounds.values()) for (const w of ws) this.settle(w, new ProposalDroppedError('leader lost during a read'));
    this.readRounds.clear();
  }

  /**
   * Every snapshotCount applied entries the log is compacted behind a snapshot. With a state
   * machine that keeps its state itself (persist()), the snapshot holds none: the state machine
   * syncs what it applied, and the snapshot names that index (etcd's design: its Raft snapshot
   * holds the membership, the database is durable on its own). Serializing a large store here
   * every snapshotCount entries cost seconds of CPU and heap on the main thread, and members lost
   * their leader meanwhile (a million keys: 265 MB per snapshot). Otherwise the state machine
   * captures its state at once (it is called with no apply in flight and before the next is
   * queued), and the reading, the compaction and the saving run beside the loop, which goes on
   * committing and applying.
   */
  private async maybeSnapshot(): Promise<void> {
    if (this.snapshotting || this.core.status().applied - this.lastSnapshotIndex < this.opts.snapshotCount) return;
    // The state machine must have applied everything the core counts as applied.
    await this.applyChain;
    const index = this.appliedIndex;
    if (this.failure || this.stopped || this.snapshotting || index - this.lastSnapshotIndex < this.opts.snapshotCount) return;
    const members = this.members();
    // Called now (an async function runs up to its first await at once), before this Ready's loop
    // turn queues another apply; a throw becomes a rejection.
    const sm = this.sm;
    const reading = sm.persist
      ? (async () => {
          await sm.persist!();
          return NO_STATE;
        })()
      : (async () => sm.snapshot())();
    this.snapshotting = this.finishSnapshot(reading, index, members)
      .catch((err: unknown) => this.log.warn({ err, index }, 'raft: a snapshot could not be taken; the next one will be tried later'))
      .finally(() => {
        this.snapshotting = undefined;
      });
  }

  private async finishSnapshot(reading: Promise<Uint8Array>, index: number, members: MemberInfo[]): Promise<void> {
    const app = await reading;
    // A snapshot received from the leader meanwhile is newer: this one is of no use.
    if (this.failure || this.stopped || index <= this.lastSnapshotIndex) return;
    const data = wrapSnapshot(members, app);
    const keep = this.opts.snapshotCatchUpEntries;
    const snap = this.core.compact(data, keep, index);
    await this.storage.saveSnapshot(snap, Math.max(1, snap.meta.index - keep + 1));
    this.lastSnapshotIndex = Math.max(this.lastSnapshotIndex, snap.meta.index);
    this.log.info({ index: snap.meta.index, bytes: data.length }, app.length ? 'raft: took a snapshot' : 'raft: took a snapshot (the state machine holds the state)');
    this.emit('snapshot', snap.meta.index);
  }

  private bestTransferTarget(): NodeId | undefined {
    const progress = this.core.progress();
    const voters = this.core.status().confState.voters;
    let best: NodeId | undefined;
    let bestMatch = -1;
    for (const [id, p] of progress ?? []) {
      if (id === this.id || !voters.includes(id)) continue;
      if (p.match > bestMatch) {
        best = id;
        bestMatch = p.match;
      }
    }
    return best;
  }

  private waitFor(cond: () => boolean, ms: number): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onChange = () => {
        if (!cond()) return;
        clearTimeout(timer);
        this.off('leader-change', onChange);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('leader-change', onChange);
        reject(new RaftError('Timeout', `raft: condition not met within ${ms} ms`));
      }, ms);
      this.on('leader-change', onChange);
    });
  }

  private settle<T>(w: Waiter<T>, err: Error | undefined, value?: T): void {
    if (w.timer) clearTimeout(w.timer);
    if (err) w.reject(err);
    else w.resolve(value as T);
  }
}

/** The application part of a snapshot whose state the state machine holds (see members.ts). */
const NO_STATE = new Uint8Array(0);

function applyMemberEntry(members: Map<NodeId, MemberInfo>, e: Entry): void {
  if (e.type !== EntryType.ConfChange) {
    // Replay published attributes too: entries the state machine already applied are not redelivered.
    const p = unframeProposal(e.data);
    if (!p || p.header.origin !== MEMBER_ATTRIBUTES_ORIGIN || p.payload.length < 8) return;
    applyAttributes(members, new DataView(p.payload.buffer, p.payload.byteOffset, 8).getFloat64(0), p.payload.subarray(8));
    return;
  }
  const cc = decodeConfChange(e.data);
  if (cc.type === ConfChangeType.RemoveNode) return; // kept in the table; membership itself is the core's
  if (cc.context.length === 0 && members.has(cc.nodeId)) return;
  members.set(cc.nodeId, decodeMemberContext(cc.nodeId, cc.context));
}

/** A member's published name and client URLs; its peer URLs stay those its membership entry gave. */
function applyAttributes(members: Map<NodeId, MemberInfo>, id: NodeId, context: Uint8Array): void {
  const info = decodeMemberContext(id, context);
  const known = members.get(id);
  members.set(id, { ...info, peerURLs: known?.peerURLs.length ? known.peerURLs : info.peerURLs });
}
