// The Raft log as the core sees it: every entry since the last compaction, in memory, with a
// marker of how much of it is on disk (`stableIndex`) and how much the application has been
// handed (`applying`) and has applied (`applied`).
import type { Entry, Snapshot } from './types.js';

/** Bytes an entry costs in a message, for flow control. */
export function entrySize(e: Entry): number {
  return e.data.length + 24;
}

export class RaftLog {
  /** Entries after `prevIndex`, contiguous. */
  private entries: Entry[];
  /** Index and term of the entry just before entries[0] (a compaction point or a snapshot). */
  private prevIndex: number;
  private prevTerm: number;
  /** The newest snapshot (persisted, or received and pending in `pendingSnapshot`). */
  snapshot: Snapshot | undefined;
  /** A snapshot received from the leader that the runtime has not yet persisted and installed. */
  pendingSnapshot: Snapshot | undefined;
  pendingSnapshotHandedOut = false;
  stableIndex: number;
  committed: number;
  applying: number;
  applied: number;
  /** Told of every append (after it happened), so that the membership can follow the log. */
  onAppend: ((ents: Entry[]) => void) | undefined;

  constructor(snapshot: Snapshot | undefined, entries: Entry[], commit: number, applied: number) {
    this.snapshot = snapshot;
    this.pendingSnapshot = undefined;
    const snapIndex = snapshot?.meta.index ?? 0;
    const snapTerm = snapshot?.meta.term ?? 0;
    let ents = entries;
    const first = ents.length ? ents[0]!.index : 0;
    const last = ents.length ? ents[ents.length - 1]!.index : 0;
    this.prevIndex = snapIndex;
    this.prevTerm = snapTerm;
    if (last <= snapIndex) {
      ents = []; // nothing beyond the snapshot; a stale tail on disk is superseded by it
    } else if (first === 1 && snapIndex > 0) {
      this.prevIndex = 0; // a tail kept from the very start
      this.prevTerm = 0;
    } else if (first <= snapIndex) {
      // A tail kept below the snapshot for slow followers: its first entry marks the boundary.
      this.prevIndex = first;
      this.prevTerm = ents[0]!.term;
      ents = ents.slice(1);
    } else if (first !== snapIndex + 1) {
      throw new Error(`raft: log starts at ${first} but the snapshot ends at ${snapIndex}: entries are missing`);
    }
    for (let i = 1; i < ents.length; i++) {
      if (ents[i]!.index !== ents[i - 1]!.index + 1) throw new Error(`raft: log has a gap after index ${ents[i - 1]!.index}`);
    }
    this.entries = ents;
    this.stableIndex = this.lastIndex();
    this.committed = Math.min(Math.max(commit, snapIndex), this.lastIndex());
    this.applied = Math.min(Math.max(applied, snapIndex), this.committed);
    this.applying = this.applied;
  }

  firstIndex(): number {
    return this.prevIndex + 1;
  }

  lastIndex(): number {
    return this.prevIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** The term of the entry at `i`, or undefined when it was compacted away or does not exist yet. */
  term(i: number): number | undefined {
    if (i === this.prevIndex) return this.prevTerm;
    if (i < this.prevIndex || i > this.lastIndex()) return undefined;
    return this.entries[i - this.prevIndex - 1]!.term;
  }

  entryAt(i: number): Entry | undefined {
    if (i <= this.prevIndex || i > this.lastIndex()) return undefined;
    return this.entries[i - this.prevIndex - 1];
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** Raft's election restriction (§5.4.1): is a log ending at (index, term) at least as up to date as ours? */
  isUpToDate(index: number, term: number): boolean {
    const lastTerm = this.lastTerm();
    return term > lastTerm || (term === lastTerm && index >= this.lastIndex());
  }

  /**
   * Appends what a leader sent after (prevIndex, prevTerm). Returns the index of the last new
   * entry, or -1 when our log does not contain (prevIndex, prevTerm).
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, ents: Entry[]): number {
    if (!this.matchTerm(prevIndex, prevTerm)) return -1;
    const lastNew = prevIndex + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        throw new Error(`raft: entry ${conflict} conflicts with a committed entry (committed ${this.committed})`);
      }
      this.append(ents.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** The index of the first entry of `ents` that is new or differs from ours, or 0 if none. */
  private findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (e.index <= this.prevIndex) continue; // already compacted, hence committed and equal
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term` (etcd's findConflictByTerm): where a
   * rejected append should be retried so that a whole term of divergent entries is skipped at once.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > this.prevIndex; i--) {
      if (this.term(i)! <= term) return i;
    }
    return i;
  }

  /** Appends entries starting at ents[0].index, replacing anything from there on. */
  append(ents: Entry[]): void {
    if (ents.length === 0) return;
    const from = ents[0]!.index;
    if (from <= this.committed) throw new Error(`raft: append at ${from} would overwrite committed ${this.committed}`);
    if (from > this.lastIndex() + 1) throw new Error(`raft: append at ${from} leaves a gap after ${this.lastIndex()}`);
    this.entries.length = from - this.prevIndex - 1;
    for (const e of ents) this.entries.push(e);
    if (this.stableIndex >= from) this.stableIndex = from - 1;
    this.onAppend?.(ents);
  }

  /** Entries in [lo, hi), at most `maxBytes` of them (but always at least one), or undefined if compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo <= this.prevIndex) return undefined;
    hi = Math.min(hi, this.lastIndex() + 1);
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.entries[i - this.prevIndex - 1]!;
      size += entrySize(e);
      if (out.length > 0 && size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  commitTo(index: number): void {
    if (index > this.committed) this.committed = Math.min(index, this.lastIndex());
  }

  unstableEntries(): Entry[] {
    return this.entries.slice(this.stableIndex - this.prevIndex);
  }

  stableTo(index: number, term: number): void {
    if (index > this.stableIndex && this.term(index) === term) this.stableIndex = index;
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > this.applying && !this.pendingSnapshot;
  }

  nextCommittedEntries(): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    return this.entries.slice(this.applying - this.prevIndex, this.committed - this.prevIndex);
  }

  /** Replaces the whole log by a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    this.entries = [];
    this.prevIndex = snapshot.meta.index;
    this.prevTerm = snapshot.meta.term;
    this.snapshot = snapshot;
    this.pendingSnapshot = snapshot;
    this.pendingSnapshotHandedOut = false;
    this.stableIndex = snapshot.meta.index;
    this.committed = snapshot.meta.index;
  }

  /** Takes a snapshot made by the application and drops entries at or below `compactTo`. */
  compact(snapshot: Snapshot, compactTo: number): void {
    this.snapshot = snapshot;
    compactTo = Math.min(compactTo, this.applied, this.stableIndex);
    if (compactTo <= this.prevIndex) return;
    const term = this.term(compactTo)!;
    this.entries = this.entries.slice(compactTo - this.prevIndex);
    this.prevIndex = compactTo;
    this.prevTerm = term;
  }
}
