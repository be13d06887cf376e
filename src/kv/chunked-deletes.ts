// A delete_range over many live keys is applied a chunk at a time, with a turn of the event loop
// between chunks. Applied in one go, deleting 200,000 keys held each member's thread for seconds
// (all three at once, since every member applies it): no read was answered and no Raft heartbeat
// or lease keep-alive handled until it ended. etcd applies in a goroutine of its own and goes on
// serving reads meanwhile; this is how a single-threaded member does the same.
//
// What readers may see between chunks: the store revision stays at the one before the delete
// until its last chunk, and every key outside the interval is the same at both revisions, so a
// read elsewhere is a true read at that revision. Reads that touch the interval wait for the end
// (KvStore.range), history and watch read up to the store revision only, and the delete's events
// reach watchers together after the last chunk. Writes wait as always: applies run one at a time.
//
// Only a top-level delete_range is chunked. A txn's deletes and a lease revoke's still run in one
// go: a txn may read and write other keys after its delete, so the keys a reader would have to
// wait for are not one interval, and a revoke's keys are scattered.
import { intervalsOverlap, keyInterval, type KeyInterval } from './bytes.js';
import type { MvccState } from './state.js';

/** Live keys deleted per turn of the event loop (about 25 ms of work on the benchmark machine). */
export const DEFAULT_DELETE_CHUNK_KEYS = 2000;

export class ChunkedDeletes {
  private current: { iv: KeyInterval; done: Promise<void> } | undefined;

  /** `chunkKeys`: a delete of more live keys than this is applied in chunks of this many. */
  constructor(readonly chunkKeys = DEFAULT_DELETE_CHUNK_KEYS) {}

  /**
   * What a read of (key, rangeEnd) must wait for first: the delete in progress over it, if any.
   * Nothing is built when no delete is in progress (every read asks).
   */
  overlapping(key: Uint8Array, rangeEnd: Uint8Array | undefined): Promise<void> | undefined {
    const c = this.current;
    return c && intervalsOverlap(c.iv, keyInterval(key, rangeEnd)) ? c.done : undefined;
  }

  /**
   * Calls `step` (which deletes the next chunk and says whether more are left) until it is done,
   * yielding between calls with the store revision put back to `revBefore`.
   */
  async run(iv: KeyInterval, st: MvccState, revBefore: number, step: () => boolean): Promise<void> {
    let finished!: () => void;
    this.current = { iv, done: new Promise<void>((resolve) => (finished = resolve)) };
    try {
      while (step()) {
        st.revision = revBefore;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.current = undefined;
      finished();
    }
  }
}
