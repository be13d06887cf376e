// The safety properties of Raft, checked incrementally as the simulation runs, so that a check after
// every step costs little more than the step. The checker knows nothing of RaftCore: the simulator
// reports what nodes persist, claim as committed, apply and answer, and the checker records the
// first contradiction. Unit tests drive it directly with crafted histories.
import {
  ConfChangeType,
  MessageType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
} from '../types.js';
import { confChangeOf, entryKey, termOfKey } from './payload.js';

/** What the checker needs to see of a node's in-memory log. */
export interface LogView {
  /** First index still held (entries below were compacted into a snapshot). */
  firstIndex: number;
  lastIndex: number;
  termAt(index: number): number | undefined;
}

/** What the checker needs to see of a node's disk when it sends a message. */
export interface DiskView {
  hardState: HardState;
  /** Highest index whose entry (or snapshot) is on disk. */
  lastIndex: number;
}

type How = 'applied' | 'committed' | 'snapshot';

interface Decision {
  key: string;
  node: NodeId;
  how: How;
}

interface Persisted {
  term: number;
  key: string;
  prevTerm: number;
  node: NodeId;
}

interface PendingRead {
  node: NodeId;
  /** The highest commit index known anywhere when the read was asked for. */
  minIndex: number;
}

export class Checker {
  readonly violations: string[] = [];
  private readonly leaders = new Map<number, NodeId>();
  /** Index -> the entry that was committed or applied there, first report wins. */
  private readonly decided: (Decision | undefined)[] = [];
  private readonly decidedTerm: number[] = [];
  /**
   * Index -> the lowest term any member was in when it reported the index decided: the term in
   * which the entry was committed (commit knowledge flows only from leaders of that term or
   * later, and a member takes a leader's term before its commit index). Leader completeness holds
   * for leaders of later terms only: a leader of an older term can still be elected after a newer
   * one committed (its votes held up by a slow link), and owes nothing committed after its term.
   */
  private readonly decidedInTerm: number[] = [];
  /** Each member's term as last reported with its commit index (decisions are made in it). */
  private readonly termSeen = new Map<NodeId, number>();
  /** Highest index with a decision; decisions below it may have holes only if a node skipped. */
  maxDecided = 0;
  /** Highest commit index any node has computed (in memory, whether or not it got to disk). */
  maxCommit = 0;
  /** Index -> every distinct (term, entry) persisted there by anyone. */
  private readonly persistedAt: (Persisted[] | undefined)[] = [];
  private readonly hardStates = new Map<NodeId, HardState>();
  private readonly appliedIndex = new Map<NodeId, number>();
  private readonly reads = new Map<number, PendingRead>();
  private readonly confChanges = new Map<number, ConfChange>();

  get ok(): boolean {
    return this.violations.length === 0;
  }

  fail(what: string): void {
    this.violations.push(what);
  }

  // ---- Election safety and leader completeness -----------------------------------------------

  /** `id` has just become leader of `term`; `log` is its log at that moment. */
  becameLeader(id: NodeId, term: number, log: LogView): void {
    const other = this.leaders.get(term);
    if (other !== undefined && other !== id) {
      this.fail(`election safety: nodes ${other} and ${id} were both leader of term ${term}`);
      return;
    }
    this.leaders.set(term, id);
    this.holdsDecided(id, `became leader of term ${term}`, log, term);
  }

  /**
   * The log of the leader of `term` must hold every entry committed in an earlier term (those below
   * its first index are in its snapshot, checked when installed).
   */
  holdsDecided(id: NodeId, when: string, log: LogView, term: number): void {
    for (let i = Math.max(1, log.firstIndex); i <= this.maxDecided; i++) {
      const want = this.decidedTerm[i];
      if (want === undefined || !(this.decidedInTerm[i]! < term)) continue;
      const got = log.termAt(i);
      if (got !== want) {
        const d = this.decided[i]!;
        this.fail(
          `leader completeness: node ${id} ${when} ` +
            (got === undefined ? `without index ${i}` : `with an entry of term ${got} at index ${i}`) +
            ` (last index ${log.lastIndex}), but node ${d.node} ${d.how} ${d.key} there: a committed entry is lost`,
        );
        return;
      }
    }
  }

  leaderOf(term: number): NodeId | undefined {
    return this.leaders.get(term);
  }

  // ---- Log matching ------------------------------------------------------------------------------

  /**
   * `id` wrote `entries` (contiguous) to disk after an entry of term `prevTerm`. If each (index,
   * term) names one entry and one predecessor term everywhere, then by induction two logs that
   * share an (index, term) are identical up to it: that is the log matching property.
   */
  persisted(id: NodeId, prevTerm: number, entries: readonly Entry[]): void {
    let prev = prevTerm;
    for (const e of entries) {
      const key = entryKey(e);
      let at = this.persistedAt[e.index];
      if (!at) this.persistedAt[e.index] = at = [];
      const same = at.find((p) => p.term === e.term);
      if (!same) {
        at.push({ term: e.term, key, prevTerm: prev, node: id });
      } else if (same.key !== key) {
        this.fail(`log matching: node ${id} persisted ${key} at index ${e.index} but node ${same.node} persisted ${same.key} there in the same term`);
        return;
      } else if (same.prevTerm !== prev) {
        this.fail(
          `log matching: entry ${key} at index ${e.index} follows an entry of term ${prev} on node ${id} ` +
            `but one of term ${same.prevTerm} on node ${same.node}`,
        );
        return;
      }
      if (e.term < prev) {
        this.fail(`log matching: node ${id} persisted ${key} at index ${e.index} after an entry of higher term ${prev}`);
        return;
      }
      prev = e.term;
    }
  }

  // ---- Durable state -----------------------------------------------------------------------------

  /** `id` wrote `hs` together with its log, whose last entry (after the write) is (lastIndex, lastTerm). */
  hardStatePersisted(id: NodeId, hs: HardState, lastIndex: number, lastTerm: number): void {
    const prev = this.hardStates.get(id);
    if (prev) {
      if (hs.term < prev.term) this.fail(`durability: node ${id} persisted term ${hs.term} after term ${prev.term}`);
      else if (hs.term === prev.term && prev.vote !== 0 && hs.vote !== prev.vote) {
        this.fail(`election safety: node ${id} voted for ${prev.vote} and then ${hs.vote} in term ${hs.term}`);
      }
      if (hs.commit < prev.commit) this.fail(`durability: node ${id} persisted commit ${hs.commit} after commit ${prev.commit}`);
    }
    if (hs.commit > lastIndex) this.fail(`durability: node ${id} persisted commit ${hs.commit} but its log on disk ends at ${lastIndex}`);
    if (lastTerm > hs.term) this.fail(`durability: node ${id} persisted an entry of term ${lastTerm} in term ${hs.term}`);
    this.hardStates.set(id, { ...hs });
  }

  /** What a node promises in a message must already be on its disk (persist before send). */
  messageSent(id: NodeId, m: Message, disk: DiskView): void {
    if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
      // Only a leader sends these, so they reveal leaders even of terms too short to show in a Ready.
      const other = this.leaders.get(m.term);
      if (other === undefined) this.leaders.set(m.term, id);
      else if (other !== id) this.fail(`election safety: nodes ${other} and ${id} both acted as leader of term ${m.term} (${MessageType[m.type]} to ${m.to})`);
      return;
    }
    if (m.reject) return;
    const hs = disk.hardState;
    if (m.type === MessageType.VoteResp && !(hs.term > m.term || (hs.term === m.term && hs.vote === m.to))) {
      this.fail(`durability: node ${id} granted its vote in term ${m.term} to node ${m.to} before persisting it (disk: term ${hs.term} vote ${hs.vote})`);
    } else if (m.type === MessageType.AppResp && hs.term <= m.term && disk.lastIndex < m.index) {
      this.fail(`durability: node ${id} acknowledged index ${m.index} to node ${m.to} but its disk ends at ${disk.lastIndex}`);
    }
  }

  // ---- Commitment and state machine safety ------------------------------------------------------------

  /** Records that the entry `key` is committed or applied at `index`; it must be the only one ever. */
  decide(id: NodeId, index: number, key: string, how: How, entry?: Entry): void {
    const inTerm = this.termSeen.get(id) ?? 0;
    if (!(this.decidedInTerm[index]! <= inTerm)) this.decidedInTerm[index] = inTerm;
    const d = this.decided[index];
    if (d) {
      if (d.key !== key) {
        this.fail(`state machine safety: node ${id} ${how} ${key} at index ${index} but node ${d.node} ${d.how} ${d.key} there`);
      }
      return;
    }
    this.decided[index] = { key, node: id, how };
    this.decidedTerm[index] = termOfKey(key);
    if (index > this.maxDecided) this.maxDecided = index;
    const cc = entry && confChangeOf(entry);
    if (cc) this.confChanges.set(index, cc);
  }

  decidedKey(index: number): string | undefined {
    return this.decided[index]?.key;
  }

  /**
   * `id` now has commit index `commit` (it had checked up to `from`); `entryAt` reads its log. A node's
   * log up to its commit index is committed, so each of those entries is decided.
   */
  commitKnown(id: NodeId, from: number, commit: number, entryAt: (i: number) => Entry | undefined, term = 0): void {
    if (commit > this.maxCommit) this.maxCommit = commit;
    this.termSeen.set(id, term);
    for (let i = from + 1; i <= commit; i++) {
      const e = entryAt(i);
      if (!e) {
        this.fail(`commit: node ${id} has commit index ${commit} but no entry at index ${i}`);
        return;
      }
      if (e.index !== i) {
        this.fail(`commit: node ${id} holds entry with index ${e.index} at position ${i}`);
        return;
      }
      this.decide(id, i, entryKey(e), 'committed', e);
      if (!this.ok) return;
    }
  }

  /** `id` starts (or restarts) with its state machine at `applied`. */
  started(id: NodeId, applied: number): void {
    this.appliedIndex.set(id, applied);
  }

  applied(id: NodeId, e: Entry): void {
    const last = this.appliedIndex.get(id) ?? 0;
    if (e.index !== last + 1) {
      this.fail(
        e.index <= last
          ? `applied index went backwards: node ${id} applied index ${e.index} after ${last}`
          : `apply: node ${id} applied index ${e.index} after ${last}, skipping entries`,
      );
      return;
    }
    this.appliedIndex.set(id, e.index);
    this.decide(id, e.index, entryKey(e), 'applied', e);
  }

  /** `id` replaced its state machine with a snapshot holding `keys` (one per index from 1). */
  restored(id: NodeId, snap: Snapshot, keys: readonly string[]): void {
    const last = this.appliedIndex.get(id) ?? 0;
    const index = snap.meta.index;
    if (index < last) {
      this.fail(`applied index went backwards: node ${id} installed a snapshot at ${index} after applying ${last}`);
      return;
    }
    if (keys.length !== index) {
      this.fail(`snapshot: node ${id} installed a snapshot at index ${index} holding ${keys.length} entries`);
      return;
    }
    if (index > 0 && termOfKey(keys[index - 1]!) !== snap.meta.term) {
      this.fail(`snapshot: node ${id} installed a snapshot of term ${snap.meta.term} whose entry at ${index} is ${keys[index - 1]}`);
      return;
    }
    this.appliedIndex.set(id, index);
    for (let i = 1; i <= index; i++) {
      this.decide(id, i, keys[i - 1]!, 'snapshot');
      if (!this.ok) return;
    }
    this.snapshotConf(id, snap);
  }

  /** A snapshot's membership must be the one the committed log gives at its index. */
  snapshotConf(id: NodeId, snap: Snapshot): void {
    const index = snap.meta.index;
    for (let i = 1; i <= index; i++) if (!this.decided[i]) return; // cannot tell; a hole is reported elsewhere
    const want = this.confAt(index);
    const got = snap.meta.confState;
    if (!sameMembers(want.voters, got.voters) || !sameMembers(want.learners, got.learners)) {
      this.fail(
        `snapshot: node ${id} has a snapshot at ${index} with voters [${got.voters}] learners [${got.learners}] ` +
          `but the log gives voters [${want.voters}] learners [${want.learners}]`,
      );
    }
  }

  /** The membership once the committed log up to `index` is applied. */
  confAt(index: number): ConfState {
    const changes = [...this.confChanges.entries()].filter(([i]) => i <= index).sort((a, b) => a[0] - b[0]);
    let voters: NodeId[] = [];
    let learners: NodeId[] = [];
    for (const [, cc] of changes) {
      voters = voters.filter((v) => v !== cc.nodeId);
      learners = learners.filter((v) => v !== cc.nodeId);
      if (cc.type === ConfChangeType.AddVoter) voters.push(cc.nodeId);
      else if (cc.type === ConfChangeType.AddLearner) learners.push(cc.nodeId);
    }
    return { voters: voters.sort((a, b) => a - b), learners: learners.sort((a, b) => a - b) };
  }

  // ---- Linearizable reads ------------------------------------------------------------------------------

  readRequested(id: NodeId, context: number): void {
    this.reads.set(context, { node: id, minIndex: this.maxCommit });
  }

  readState(id: NodeId, rs: ReadState): void {
    const r = this.reads.get(rs.context);
    if (!r) {
      this.fail(`read index: node ${id} got a read state for unknown request ${rs.context}`);
    } else if (r.node !== id) {
      this.fail(`read index: node ${id} got the read state of request ${rs.context}, which node ${r.node} asked for`);
    } else if (rs.index < r.minIndex) {
      this.fail(
        `read index: request ${rs.context} on node ${id} may be served at index ${rs.index}, ` +
          `but index ${r.minIndex} was already committed when it was asked: a stale read`,
      );
    }
  }
}

function sameMembers(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  return sa.every((v, i) => v === sb[i]);
}
