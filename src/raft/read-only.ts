// ReadIndex bookkeeping on the leader (Raft thesis §6.4): a read may be served at the commit index
// recorded when it arrived, once a quorum has answered a heartbeat sent after it arrived.
import type { NodeId } from './types.js';

export interface PendingRead {
  index: number;
  context: number;
  /** Who asked: the leader itself, or the follower to answer with ReadIndexResp. */
  from: NodeId;
  acks: Set<NodeId>;
}

export class ReadOnly {
  private readonly pending = new Map<number, PendingRead>();
  private queue: number[] = [];
  /** A deliberate bug for the simulator's tests (RaftConfig.unsafeBugs): advance() confirms every queued read. */
  confirmLaterReads = false;

  add(index: number, context: number, from: NodeId): void {
    if (this.pending.has(context)) return;
    this.pending.set(context, { index, context, from, acks: new Set() });
    this.queue.push(context);
  }

  /** Records `from`'s answer to the heartbeat for `context`; returns the acks so far, if the read is pending. */
  recvAck(from: NodeId, context: number): Set<NodeId> | undefined {
    const read = this.pending.get(context);
    if (!read) return undefined;
    read.acks.add(from);
    return read.acks;
  }

  /**
   * A quorum confirmed leadership after `context` arrived; that confirms every read queued before
   * it too. Returns them in arrival order and forgets them.
   */
  advance(context: number): PendingRead[] {
    let at = this.queue.indexOf(context);
    if (at < 0) return [];
    if (this.confirmLaterReads) at = this.queue.length - 1;
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: PendingRead[] = [];
    for (const ctx of done) {
      out.push(this.pending.get(ctx)!);
      this.pending.delete(ctx);
    }
    return out;
  }

  has(context: number): boolean {
    return this.pending.has(context);
  }

  lastPendingContext(): number | undefined {
    return this.queue[this.queue.length - 1];
  }

  get size(): number {
    return this.queue.length;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}
