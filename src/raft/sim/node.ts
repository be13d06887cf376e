// One simulated member: a RaftCore, its disk, its state machine, and the runtime loop that hands
// each Ready to storage, network and state machine in the order types.ts prescribes. A crash can
// strike at any point of that loop; whatever had not reached the disk is gone.
import { ProposalDroppedError } from '../errors.js';
import { RaftCore, type RaftConfig } from '../raft.js';
import { ConfChangeType, Role, type Entry, type Message, type NodeId, type Ready, type Snapshot } from '../types.js';
import type { Checker, LogView } from './checker.js';
import { Disk } from './disk.js';
import { confChangeOf, decodeAppliedList, encodeAppliedList, entryKey } from './payload.js';
import { describeReady } from './trace.js';

/** Where in the handling of a Ready a crash strikes. */
export const enum CrashPoint {
  BeforePersist = 1,
  AfterPersist = 2,
  AfterSend = 3,
  AfterApply = 4,
}

/** What a node needs from the simulation around it. */
export interface NodeHost {
  readonly checker: Checker;
  readonly stats: { elections: number; readsServed: number };
  send(from: SimNode, m: Message): void;
  /** Whether (and where) a crash interrupts the handling of this Ready. */
  crashPoint(node: SimNode): CrashPoint | undefined;
  /** Whether the state machine survives this crash (a durable one, like kvd's) or restarts from the snapshot. */
  keepStateMachine(node: SimNode): boolean;
  applied(node: SimNode, e: Entry): void;
  becameLeader(node: SimNode): void;
  /** Shuts `node` down for good (it calls back retire()). */
  retire(node: SimNode, why: string): void;
  readonly tracing: boolean;
  trace(line: string): void;
}

export class SimNode {
  core: RaftCore | undefined;
  /** Bumped at every restart, so that late callbacks meant for an old incarnation are ignored. */
  incarnation = 0;
  readonly disk = new Disk();
  /** The state machine: the key of every applied entry, in index order (list[i-1] is index i). */
  sm: string[] = [];
  /** Cached from the last Ready's SoftState. */
  role: Role = Role.Follower;
  lead: NodeId = 0;
  /** Removed from the cluster and shut down for good. */
  retired = false;
  /** Set when this node applied its own removal; it shuts down once the Ready is handled. */
  private retiring = false;
  /** The commit index up to which this incarnation's log was checked against the decided entries. */
  private checkedCommit = 0;

  constructor(
    readonly id: NodeId,
    private readonly host: NodeHost,
  ) {}

  get up(): boolean {
    return this.core !== undefined;
  }

  /** Starts a core from the disk, with the state machine as far as it got. */
  start(config: RaftConfig): void {
    this.host.checker.started(this.id, this.sm.length);
    // A volatile state machine, or a snapshot persisted but not installed before a crash.
    if (this.sm.length < this.disk.snapshotIndex()) this.installSnapshot(this.disk.snapshot!);
    this.core = new RaftCore(config, {
      hardState: { ...this.disk.hardState },
      snapshot: this.disk.snapshot,
      entries: this.disk.entries.slice(),
      applied: this.sm.length,
    });
    this.incarnation++;
    this.role = Role.Follower;
    this.lead = 0;
    this.checkedCommit = this.sm.length;
  }

  /**
   * Stops the core. A durable state machine (`keepStateMachine`, like kvd's) keeps what it
   * applied; a volatile one is rebuilt from the snapshot on disk when the node starts again.
   */
  crash(keepStateMachine: boolean): void {
    this.core = undefined;
    this.retiring = false;
    if (!keepStateMachine) this.sm = [];
  }

  /** Called by the host: shut down for good. */
  retire(): void {
    this.crash(true);
    this.retired = true;
  }

  logView(core: RaftCore): LogView {
    const st = core.status();
    return { firstIndex: st.firstIndex, lastIndex: st.lastIndex, termAt: (i) => core.entryAt(i)?.term };
  }

  /** Runs `f` against the core, then handles every Ready it produced. Proposal refusals are expected. */
  act(f: (core: RaftCore) => void): boolean {
    const core = this.core;
    if (!core) return false;
    try {
      f(core);
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.drain();
      return false;
    }
    this.drain();
    return true;
  }

  /** Handles Readies until the core has nothing more to say (or the node crashed or retired). */
  drain(): void {
    while (this.core && !this.retiring && this.core.hasReady() && this.host.checker.ok) this.handleReady(this.core, this.core.ready());
    // Like etcd, a member that applied its own removal shuts down.
    if (this.retiring) this.host.retire(this, 'applied its own removal');
  }

  private handleReady(core: RaftCore, rd: Ready): void {
    const checker = this.host.checker;
    if (this.host.tracing) this.host.trace(`n${this.id} ready ${describeReady(rd)}`);
    // What the core decided is checked when it decides it, whether or not it reaches the disk.
    if (rd.softState) {
      this.role = rd.softState.role;
      this.lead = rd.softState.leader;
      if (rd.softState.role === Role.Leader) {
        checker.becameLeader(this.id, core.status().term, this.logView(core));
        this.host.becameLeader(this);
      }
    }
    if (rd.hardState && rd.hardState.commit > this.checkedCommit) {
      const from = Math.max(this.checkedCommit, core.status().firstIndex - 1);
      checker.commitKnown(this.id, from, rd.hardState.commit, (i) => core.entryAt(i), rd.hardState.term);
      this.checkedCommit = rd.hardState.commit;
    }
    for (const rs of rd.readStates) checker.readState(this.id, rs);
    this.host.stats.readsServed += rd.readStates.length;
    if (!checker.ok) return;

    const crash = this.host.crashPoint(this);
    if (crash === CrashPoint.BeforePersist) return this.crashMidReady(crash);
    this.persist(rd);
    if (!checker.ok) return;
    if (crash === CrashPoint.AfterPersist) return this.crashMidReady(crash);

    const disk = { hardState: this.disk.hardState, lastIndex: this.disk.lastIndex() };
    for (const m of rd.messages) {
      checker.messageSent(this.id, m, disk);
      this.host.send(this, m);
    }
    if (crash === CrashPoint.AfterSend) return this.crashMidReady(crash);

    if (rd.snapshot) this.installSnapshot(rd.snapshot);
    for (const e of rd.committedEntries) {
      if (!checker.ok) return;
      this.sm.push(entryKey(e));
      checker.applied(this.id, e);
      this.host.applied(this, e);
      const cc = confChangeOf(e);
      if (cc && cc.type === ConfChangeType.RemoveNode && cc.nodeId === this.id) this.retiring = true;
    }
    if (crash === CrashPoint.AfterApply) return this.crashMidReady(crash);
    core.advance(rd);
  }

  private crashMidReady(point: CrashPoint): void {
    if (this.host.tracing) this.host.trace(`n${this.id} CRASH while handling a Ready (point ${point})`);
    this.crash(this.host.keepStateMachine(this));
  }

  private persist(rd: Ready): void {
    const checker = this.host.checker;
    if (rd.snapshot) {
      if (rd.snapshot.meta.index <= this.disk.snapshotIndex()) {
        checker.fail(`storage: node ${this.id} was handed snapshot ${rd.snapshot.meta.index}, not newer than its snapshot ${this.disk.snapshotIndex()}`);
        return;
      }
      checker.snapshotConf(this.id, rd.snapshot);
      this.disk.installSnapshot(rd.snapshot);
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      const prevTerm = this.disk.termAt(first - 1) ?? -1;
      for (const e of rd.entries) Object.freeze(e); // the disk's copy must not change behind its back
      const problem = this.disk.append(rd.entries);
      if (problem) {
        checker.fail(`storage: node ${this.id} was handed entries from ${first} that ${problem}`);
        return;
      }
      checker.persisted(this.id, prevTerm, rd.entries);
    }
    if (rd.hardState) this.disk.hardState = { ...rd.hardState };
    if (rd.hardState || rd.entries.length > 0 || rd.snapshot) {
      checker.hardStatePersisted(this.id, this.disk.hardState, this.disk.lastIndex(), this.disk.lastTerm());
    }
  }

  private installSnapshot(snap: Snapshot): void {
    let keys: string[];
    try {
      keys = decodeAppliedList(snap.data);
    } catch (err) {
      this.host.checker.fail(`snapshot: node ${this.id} got undecodable snapshot data at ${snap.meta.index}: ${String(err)}`);
      return;
    }
    this.host.checker.restored(this.id, snap, keys);
    this.sm = keys;
  }

  /**
   * Snapshots the state machine and compacts the log, keeping `keepEntries` entries for slow
   * followers. On disk either the same tail is kept or (`dropTail`) only entries after the snapshot.
   */
  compact(keepEntries: number, dropTail: boolean): void {
    const core = this.core;
    if (!core) return;
    const applied = this.sm.length;
    const snap = core.compact(encodeAppliedList(this.sm), keepEntries);
    const checker = this.host.checker;
    if (snap.meta.index !== applied) {
      checker.fail(`compact: node ${this.id} got a snapshot at ${snap.meta.index} but its state machine applied ${applied}`);
      return;
    }
    const want = checker.decidedKey(applied);
    if (applied > 0 && want !== undefined && parseInt(want, 10) !== snap.meta.term) {
      checker.fail(`compact: node ${this.id} made a snapshot of term ${snap.meta.term} at ${applied}, where ${want} was decided`);
      return;
    }
    checker.snapshotConf(this.id, snap);
    this.disk.compact(snap, dropTail ? applied + 1 : applied - keepEntries);
    if (this.host.tracing) this.host.trace(`n${this.id} compacted at ${applied} keeping ${dropTail ? 0 : keepEntries} on disk`);
  }

  /** The disk's view, for the checker. */
  describe(): string {
    const st = this.core?.status();
    const state = st
      ? `${Role[st.role]} term ${st.term} lead ${st.lead} commit ${st.commit} log ${st.firstIndex}..${st.lastIndex} voters [${st.confState.voters}] learners [${st.confState.learners}]`
      : this.retired
        ? 'retired'
        : 'down';
    return `n${this.id}: ${state}, applied ${this.sm.length}, disk term ${this.disk.hardState.term} commit ${this.disk.hardState.commit} last ${this.disk.lastIndex()}`;
  }
}
