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
// A top-level delete_range and a lease revoke are chunked; for a revoke, whose keys are scattered,
// a read waits when its interval holds one of the lease's keys. A txn's deletes still run in one
// go: a txn may read and write other keys after its delete, so what a reader would have to wait
// for is not known until the txn has run.
import { intervalContains, intervalsOverlap, keyInterval, type KeyInterval, type KeyStr } from './bytes.js';
import type { MvccState } from './state.js';

/** Live keys deleted per turn of the event loop (about 25 ms of work on the benchmark machine). */
export const DEFAULT_DELETE_CHUNK_KEYS = 2000;

/** What a delete in progress covers: whether a read of the interval touches a key it deletes. */
export type DeleteCover = (read: KeyInterval) => boolean;

/** A delete_range's cover: its interval. */
export function intervalCover(iv: KeyInterval): DeleteCover {
  return (read) => intervalsOverlap(iv, read);
}

/** A lease revoke's cover: its keys, sorted (byte order: one char per byte). */
export function keysCover(sorted: readonly KeyStr[]): DeleteCover {
  return (read) => {
    // The first key at or after the read's start; the read touches the set if that one is in it.
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! < read.start) lo = mid + 1;
      else hi = mid;
    }
    return lo < sorted.length && intervalContains(read, sorted[lo]!);
  };
}

export class ChunkedDeletes {
  private current: { covers: DeleteCover; done: Promise<void> } | undefined;

  /** `chunkKeys`: a delete of more live keys than this is applied in chunks of this many. */
  constructor(readonly chunkKeys = DEFAULT_DELETE_CHUNK_KEYS) {}

  /**
   * What a read of (key, rangeEnd) must wait for first: the delete in progress over it, if any.
   * Nothing is built when no delete is in progress (every read asks).
   */
  overlapping(key: Uint8Array, rangeEnd: Uint8Array | undefined): Promise<void> | undefined {
    const c = this.current;
    return c && c.covers(keyInterval(key, rangeEnd)) ? c.done : undefined;
  }

  /** The end of the delete in progress, if one is. */
  inProgress(): Promise<void> | undefined {
    return this.current?.done;
  }

  /**
   * Calls `step` (which deletes the next chunk and says whether more are left) until it is done,
   * yielding between calls with the store revision put back to `revBefore`.
   */
  async run(covers: DeleteCover, st: MvccState, revBefore: number, step: () => boolean): Promise<void> {
    let finished!: () => void;
    this.current = { covers, done: new Promise<void>((resolve) => (finished = resolve)) };
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
