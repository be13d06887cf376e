// The leader's view of one follower's log: how far it matches, what to send next, and how much
// may be in flight. States as in etcd-io/raft: Probe (one message at a time until we know where
// the logs agree), Replicate (pipelined, bounded by Inflights), Snapshot (waiting for a snapshot
// to be installed).

export enum ProgressState {
  Probe = 0,
  Replicate = 1,
  Snapshot = 2,
}

/** A bounded window of in-flight append messages, each remembered by its last entry index. */
export class Inflights {
  private readonly lastIndexes: number[] = [];

  constructor(readonly capacity: number) {}

  get count(): number {
    return this.lastIndexes.length;
  }

  full(): boolean {
    return this.lastIndexes.length >= this.capacity;
  }

  add(lastIndex: number): void {
    this.lastIndexes.push(lastIndex);
  }

  /** Frees every in-flight message whose entries are all at or below `index`. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && this.lastIndexes[n]! <= index) n++;
    if (n > 0) this.lastIndexes.splice(0, n);
  }

  freeFirstOne(): void {
    this.lastIndexes.shift();
  }

  reset(): void {
    this.lastIndexes.length = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state = ProgressState.Probe;
  /** Probe: an append was sent and no answer came yet; wait for a heartbeat response before retrying. */
  probeSent = false;
  /** Snapshot: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** The leader's tick count when this follower was last heard from. */
  lastActiveTick = 0;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflight: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** An acknowledgement up to `n` arrived. Returns whether match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Replicate state: entries up to `n` were just sent. */
  optimisticUpdate(n: number): void {
    this.next = n + 1;
  }

  /**
   * The follower rejected an append whose previous index was `rejected`; `matchHint` is the
   * highest index at which the logs may still agree. Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      default:
        return true;
    }
  }
}
