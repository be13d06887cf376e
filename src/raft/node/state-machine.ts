// What the node driver needs from the replicated state machine above it (src/kv's store, or the
// small list machine the tests use).

export type AppliedKind = 'normal' | 'noop' | 'conf';

export interface AppliedEntry {
  index: number;
  term: number;
  kind: AppliedKind;
  /** The proposal's payload (empty for no-ops and membership changes). */
  data: Uint8Array;
}

export interface StateMachine {
  /**
   * The index of the last applied entry. At start it must be the last one whose effects are
   * durable in the state machine: entries after it are delivered again (storing the applied index
   * with the data makes apply exactly-once), and entries at or below it may be too (skip them).
   */
  appliedIndex(): number;
  /** Applies committed entries in order; returns one result per entry (given to the proposer). */
  apply(entries: AppliedEntry[]): Promise<unknown[]> | unknown[];
  /**
   * Serializes the state at the last applied index, as of the call: the node may hand over more
   * entries while the snapshot is being read, and they must not show in it (capture the state, or
   * a database snapshot, before the first await; read it afterwards).
   */
  snapshot(): Promise<Uint8Array> | Uint8Array;
  /**
   * Optional: the same as snapshot(), as consecutive pieces, for a large state (the node sends
   * them to a follower as they are, with no copy into one buffer).
   */
  snapshotPieces?(): Promise<Uint8Array[]>;
  /**
   * Optional, for a state machine that keeps its state on disk itself (the kv store in LevelDB):
   * resolves once everything applied so far is durable (synced). With it, the node's periodic
   * snapshots hold no application state, only the index it is durable at, and the log before them
   * is dropped once this resolved; snapshot() is then called only when a follower needs the whole
   * state. Without it, every periodic snapshot serializes the state (fine for small ones).
   */
  persist?(): Promise<void>;
  /**
   * Replaces the whole state with a snapshot taken at `index`. The state is then durable at
   * `index` (a state machine with persist() must not lose it in a crash).
   */
  restore(data: Uint8Array, index: number): Promise<void> | void;
}
